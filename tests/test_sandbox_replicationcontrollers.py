"""ReplicationControllers are served as kube-apiserver serves them (issue 13).

The kubernetes Python client's own e2e suite creates them (``test_replication_controller_apis``
and the multi-resource YAML tests). core/v1 ``replicationcontrollers`` with ``status`` and
``scale``, SetDefaults_ReplicationController (the selector and labels from the template's,
one replica), the selector check of ValidateReplicationControllerSpec, kube's printer
columns, and the replication controller: Pods owned by the RC, replaced when deleted,
scaled, counted in the status, with its Events; the garbage collector takes them with it.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.conftest import Sandbox
from tests.kube_helpers import wait_until

KUBECTL = "/usr/bin/kubectl"
needs_kubectl = pytest.mark.skipif(
    not os.path.exists(KUBECTL), reason=f"{KUBECTL} is not installed"
)


def _kubectl(sandbox: Sandbox, tmp_path: Path, *args: str) -> str:
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(tmp_path / "kube-cache")
    p = subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert p.returncode == 0, f"kubectl {' '.join(args)}:\n{p.stderr}"
    return p.stdout


def _rc(name: str, replicas: int | None = 2, **template_labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": template_labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "k8s.gcr.io/pause:2.0"}]},
        }
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": spec,
    }


def _pods_of(core: client.CoreV1Api, namespace: str, uid: str) -> list[Any]:
    return [
        p
        for p in core.list_namespaced_pod(namespace).items
        if p.metadata.deletion_timestamp is None
        and any(r.uid == uid and r.controller for r in p.metadata.owner_references or [])
    ]


def test_defaults_and_the_selector_check(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    made = core.create_namespaced_replication_controller(namespace, _rc("web", replicas=None))
    # SetDefaults_ReplicationController: selector and labels from the template, one replica
    assert made.spec.selector == {"app": "web"}
    assert made.metadata.labels == {"app": "web"}
    assert made.spec.replicas == 1

    bad = _rc("odd")
    bad["spec"]["selector"] = {"app": "other"}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_replication_controller(namespace, bad)
    assert err.value.status == 422
    body = json.loads(err.value.body)
    assert body["message"] == (
        'ReplicationController "odd" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"odd"}: `selector` does not match template `labels`'
    )
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"

    empty = _rc("bare")
    empty["spec"]["template"]["metadata"]["labels"] = {}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_replication_controller(namespace, empty)
    assert err.value.status == 422
    assert "spec.selector: Required value" in json.loads(err.value.body)["message"]


def test_the_replication_controller_keeps_its_pods(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    rc = core.create_namespaced_replication_controller(namespace, _rc("front"))
    uid = rc.metadata.uid
    pods = wait_until("two pods", lambda: _pods_of(core, namespace, uid), lambda p: len(p) == 2)
    for pod in pods:
        assert pod.metadata.name.startswith("front-")
        (ref,) = pod.metadata.owner_references
        assert (ref.kind, ref.name, ref.block_owner_deletion) == (
            "ReplicationController",
            "front",
            True,
        )
        assert pod.metadata.labels == {"app": "front"}
    status = wait_until(
        "status counts",
        lambda: core.read_namespaced_replication_controller_status("front", namespace).status,
        lambda s: (s.replicas, s.ready_replicas, s.available_replicas) == (2, 2, 2),
    )
    assert status.observed_generation == 1

    # a Pod deleted by hand is replaced
    core.delete_namespaced_pod(pods[0].metadata.name, namespace)
    again = wait_until(
        "a replacement",
        lambda: _pods_of(core, namespace, uid),
        lambda p: len(p) == 2 and pods[0].metadata.name not in {x.metadata.name for x in p},
    )
    assert len(again) == 2

    # the scale subresource
    scale = core.read_namespaced_replication_controller_scale("front", namespace)
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=front")
    core.patch_namespaced_replication_controller_scale(
        "front", namespace, {"spec": {"replicas": 3}}
    )
    wait_until("three pods", lambda: _pods_of(core, namespace, uid), lambda p: len(p) == 3)

    events = core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=ReplicationController"
    ).items
    created = [e for e in events if e.reason == "SuccessfulCreate"]
    assert created and all(e.source.component == "replication-controller" for e in created)

    # the garbage collector takes the Pods with it
    core.delete_namespaced_replication_controller(
        "front", namespace, propagation_policy="Background"
    )
    wait_until("pods gone", lambda: _pods_of(core, namespace, uid), lambda p: not p)


@needs_kubectl
def test_kubectl_get_scale_and_describe(
    sandbox: Sandbox, api_client: Any, namespace: str, tmp_path: Path
) -> None:
    name = "rc-" + uuid.uuid4().hex[:6]
    manifest = tmp_path / "rc.yaml"
    manifest.write_text(json.dumps(_rc(name)))
    _kubectl(sandbox, tmp_path, "-n", namespace, "apply", "-f", str(manifest))
    core = client.CoreV1Api(api_client)
    wait_until(
        "ready",
        lambda: core.read_namespaced_replication_controller(name, namespace).status,
        lambda s: s.ready_replicas == 2,
    )
    table = _kubectl(sandbox, tmp_path, "-n", namespace, "get", "rc", "-o", "wide").splitlines()
    assert table[0].split() == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    row = table[1].split()
    assert row[:4] == [name, "2", "2", "2"]
    assert row[5:] == ["c", "k8s.gcr.io/pause:2.0", f"app={name}"]
    _kubectl(sandbox, tmp_path, "-n", namespace, "scale", f"rc/{name}", "--replicas=1")
    wait_until(
        "scaled down",
        lambda: core.read_namespaced_replication_controller(name, namespace).status,
        lambda s: s.replicas == 1,
    )
    described = _kubectl(sandbox, tmp_path, "-n", namespace, "describe", "rc", name)
    assert "replication-controller" in described and "SuccessfulDelete" in described
    explained = _kubectl(sandbox, tmp_path, "explain", "rc.spec.selector")
    assert "map[string]string" in explained


@needs_kubectl
def test_kubectl_logs_of_a_simulated_replica_are_empty_and_follow_ends_with_the_pod(
    sandbox: Sandbox, api_client: Any, namespace: str, tmp_path: Path
) -> None:
    """Its Pods show Running: the kubelet would answer an empty log, not "waiting to start"."""
    core = client.CoreV1Api(api_client)
    rc = core.create_namespaced_replication_controller(namespace, _rc("quiet", replicas=1))
    (pod,) = wait_until(
        "a pod", lambda: _pods_of(core, namespace, rc.metadata.uid), lambda p: len(p) == 1
    )
    assert _kubectl(sandbox, tmp_path, "-n", namespace, "logs", "rc/quiet") == ""
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(tmp_path / "kube-cache")
    with subprocess.Popen(
        [KUBECTL, "-n", namespace, "logs", "-f", pod.metadata.name, "-v=6"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as follow:
        assert follow.stderr is not None
        # kubectl logs the answer's status line once the stream is open
        seen = b""
        deadline = time.monotonic() + 20
        while not (b"follow=true" in seen and b"200 OK" in seen):
            left = deadline - time.monotonic()
            assert left > 0, f"kubectl logs -f never connected: {seen!r}"
            ready, _, _ = select.select([follow.stderr], [], [], left)
            chunk = os.read(follow.stderr.fileno(), 65536) if ready else b""
            assert chunk or not ready, f"kubectl logs -f ended: {seen!r}"
            seen += chunk
        core.delete_namespaced_pod(pod.metadata.name, namespace)
        out, err = follow.communicate(timeout=30)
    assert (follow.returncode, out) == (0, b""), seen + err
