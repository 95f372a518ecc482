"""The sandbox answers Kubernetes clients as kube-apiserver 1.33 and its controllers do (issue 13).

Against the session sandbox with the real kubectl (v1.32) and the kubernetes Python
client: Deployments roll out to ReplicaSets (``kubectl rollout status``, ``history``,
``undo``, ``get rs``); foreground, background and orphan deletion, finalizers and a
terminating namespace, watched event by event; the Pods the sandbox does not run say
why; ``kubectl logs --timestamps`` and ``--since-time`` use the time each line was
written.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from kn_walk.sandbox.apiserver.api import ApiState, create_app
from kn_walk.sandbox.apiserver.podlogs import LogClock, LogSource
from kn_walk.sandbox.machinery.resourcetypes import Registry
from kn_walk.sandbox.registry.resources import Resources, WriteOptions
from kn_walk.sandbox.registry.store import Store
from tests.conftest import Sandbox
from tests.kube_helpers import IMAGE, service_manifest

KUBECTL = "/usr/bin/kubectl"
needs_kubectl = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="needs /usr/bin/kubectl")
HASH = r"[4-9bcdf]{1,10}"  # ComputeHash: decimal digits mapped onto Kubernetes' alphabet


def kubectl(sb: Sandbox, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(sb.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(sb: Sandbox, *args: str, stdin: str | None = None) -> str:
    proc = kubectl(sb, *args, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def get_json(sb: Sandbox, *args: str) -> Any:
    return json.loads(ok(sb, "get", *args, "-o", "json"))


def new_namespace(sb: Sandbox) -> str:
    ns = "k8s-" + uuid.uuid4().hex[:8]
    ok(sb, "create", "namespace", ns)
    return ns


def until(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """``check()``'s value once it is truthy; fails at the deadline saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Watcher:
    """Events of one list-watch (kubernetes client), collected by a thread."""

    def __init__(self, list_fn: Callable[..., Any], *args: Any) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.seen: list[tuple[str, Any]] = []
        self._watch = watch.Watch()
        rv = list_fn(*args).metadata.resource_version
        self._thread = threading.Thread(target=self._run, args=(list_fn, args, rv), daemon=True)
        self._thread.start()

    def _run(self, list_fn: Callable[..., Any], args: tuple[Any, ...], rv: str) -> None:
        try:
            for ev in self._watch.stream(list_fn, *args, resource_version=rv, timeout_seconds=60):
                self.events.put((ev["type"], ev["raw_object"]))
        except Exception as exc:  # the stream ended under it (stopped, or the sandbox went)
            self.events.put(("ERROR", {"metadata": {"name": repr(exc)}}))

    def until(self, done: Callable[[str, Any], bool], timeout: float = 20.0) -> list[Any]:
        """Every event up to the first for which ``done`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; seen {[(t, o['metadata']['name']) for t, o in self.seen]}"
            try:
                kind, obj = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append((kind, obj))
            if done(kind, obj):
                return self.seen

    def stop(self) -> None:
        self._watch.stop()


def watch_until_deleted(
    list_fn: Callable[..., Any], namespace: str, action: Callable[[], Any], name: str
) -> list[tuple[str, Any]]:
    """The events a watch sees from ``action()`` on until ``name`` is deleted."""
    w = Watcher(list_fn, namespace)
    try:
        action()
        return w.until(lambda t, o: t == "DELETED" and o["metadata"]["name"] == name)
    finally:
        w.stop()


def steps(events: list[tuple[str, Any]]) -> list[tuple[str, str, bool, list[str]]]:
    """(type, name, has a deletionTimestamp, finalizers) of each event."""
    return [
        (
            kind,
            obj["metadata"]["name"],
            bool(obj["metadata"].get("deletionTimestamp")),
            list(obj["metadata"].get("finalizers") or []),
        )
        for kind, obj in events
    ]


# ------------------------------------------------------------------------ Deployments


@needs_kubectl
def test_kubectl_rollout_status_finishes_after_each_update(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    ok(sandbox, "create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=2")
    out = ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    assert out.endswith('deployment "web" successfully rolled out\n')
    for image in ("nginx:1.28", "nginx:1.29"):
        ok(sandbox, "set", "image", "deployment/web", "-n", ns, f"nginx={image}")
        out = ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
        assert out.endswith('deployment "web" successfully rolled out\n')
        d = get_json(sandbox, "deployment", "web", "-n", ns)
        assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    ok(sandbox, "scale", "deployment/web", "-n", ns, "--replicas=3")
    out = ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    assert out.endswith('deployment "web" successfully rolled out\n')
    d = get_json(sandbox, "deployment", "web", "-n", ns)
    status = d["status"]
    assert status["observedGeneration"] == d["metadata"]["generation"] == 4
    assert {
        k: status[k] for k in ("replicas", "updatedReplicas", "readyReplicas")
    } == dict.fromkeys(("replicas", "updatedReplicas", "readyReplicas"), 3)
    assert status["availableReplicas"] == 3 and "unavailableReplicas" not in status
    conditions = {c["type"]: c for c in status["conditions"]}
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    assert (conditions["Available"]["status"], conditions["Available"]["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    progressing = conditions["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert re.fullmatch(
        rf'ReplicaSet "web-{HASH}" has successfully progressed\.', progressing["message"]
    )
    ok(sandbox, "delete", "namespace", ns, "--wait=false")


@needs_kubectl
def test_deployment_revisions_are_replicasets_for_rollout_history_and_undo(
    sandbox: Sandbox,
) -> None:
    ns = new_namespace(sandbox)
    ok(sandbox, "create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=3")
    ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    deployment = get_json(sandbox, "deployment", "web", "-n", ns)
    (first,) = get_json(sandbox, "rs", "-n", ns)["items"]
    meta = first["metadata"]
    hash_ = meta["labels"]["pod-template-hash"]
    assert re.fullmatch(HASH, hash_) and meta["name"] == f"web-{hash_}"
    assert meta["labels"] == {"app": "web", "pod-template-hash": hash_}
    assert meta["annotations"] == {
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",  # 3 + 25% surge, rounded up
        "deployment.kubernetes.io/revision": "1",
    }
    (ref,) = meta["ownerReferences"]
    assert ref == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": deployment["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert first["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": hash_}
    assert first["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == hash_
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = get_json(sandbox, "pods", "-n", ns)["items"]
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["labels"]["pod-template-hash"] == hash_
        assert re.fullmatch(rf"web-{hash_}-[b-z2-9]{{5}}", pod["metadata"]["name"])
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "ReplicaSet",
            f"web-{hash_}",
            meta["uid"],
            True,
        )

    ok(sandbox, "set", "image", "deployment/web", "-n", ns, "nginx=nginx:1.28")
    ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    rows = [line.split() for line in ok(sandbox, "get", "rs", "-n", ns, "-o", "wide").splitlines()]
    assert rows[0] == [
        "NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"
    ]  # fmt: skip
    by_image = {row[6]: row for row in rows[1:]}
    assert by_image["nginx:1.27"][:4] == [f"web-{hash_}", "0", "0", "0"]  # kept, scaled to 0
    second = by_image["nginx:1.28"][0]
    assert by_image["nginx:1.28"][1:4] == ["3", "3", "3"]
    assert by_image["nginx:1.28"][7] == f"app=web,pod-template-hash={second.removeprefix('web-')}"
    history = ok(sandbox, "rollout", "history", "deployment/web", "-n", ns)
    assert history.split("\n", 1)[1].split() == [
        "REVISION",
        "CHANGE-CAUSE",
        "1",
        "<none>",
        "2",
        "<none>",
    ]
    detail = ok(sandbox, "rollout", "history", "deployment/web", "-n", ns, "--revision=1")
    assert "nginx:1.27" in detail and "nginx:1.28" not in detail

    # undo: kubectl patches the Deployment with revision 1's template; its ReplicaSet is
    # scaled back up and takes revision 3 (1 goes to its revision history)
    out = ok(sandbox, "rollout", "undo", "deployment/web", "-n", ns)
    assert out == "deployment.apps/web rolled back\n"
    ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    d = get_json(sandbox, "deployment", "web", "-n", ns)
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    back = get_json(sandbox, "rs", f"web-{hash_}", "-n", ns)
    assert back["spec"]["replicas"] == 3
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert len(get_json(sandbox, "rs", "-n", ns)["items"]) == 2  # no third ReplicaSet
    history = ok(sandbox, "rollout", "history", "deployment/web", "-n", ns)
    assert history.split("\n", 1)[1].split() == [
        "REVISION",
        "CHANGE-CAUSE",
        "2",
        "<none>",
        "3",
        "<none>",
    ]
    pods = get_json(sandbox, "pods", "-n", ns)["items"]
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.27"}
    assert len(pods) == 3

    # the deployment controller's Events
    events = get_json(
        sandbox, "events", "-n", ns, "--field-selector", "involvedObject.kind=Deployment"
    )
    messages = {e["message"] for e in events["items"] if e["reason"] == "ScalingReplicaSet"}
    assert f"Scaled up replica set web-{hash_} from 0 to 3" in messages
    assert f"Scaled down replica set web-{hash_} from 3 to 0" in messages
    assert f"Scaled down replica set {second} from 3 to 0" in messages
    ok(sandbox, "delete", "namespace", ns, "--wait=false")


@needs_kubectl
def test_replicasets_past_the_revision_history_limit_are_deleted(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    ok(sandbox, "create", "deployment", "web", "-n", ns, "--image=nginx:1.0")
    ok(sandbox, "patch", "deployment/web", "-n", ns, "-p", '{"spec":{"revisionHistoryLimit":1}}')
    for minor in (1, 2, 3):
        ok(sandbox, "set", "image", "deployment/web", "-n", ns, f"nginx=nginx:1.{minor}")
        ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")

    def images() -> list[str]:
        items = get_json(sandbox, "rs", "-n", ns)["items"]
        return sorted(i["spec"]["template"]["spec"]["containers"][0]["image"] for i in items)

    until("two ReplicaSets", lambda: images() == ["nginx:1.2", "nginx:1.3"])
    history = ok(sandbox, "rollout", "history", "deployment/web", "-n", ns)
    assert history.split("\n", 1)[1].split() == [
        "REVISION",
        "CHANGE-CAUSE",
        "3",
        "<none>",
        "4",
        "<none>",
    ]
    ok(sandbox, "delete", "namespace", ns, "--wait=false")


def test_pod_template_hashes_have_compute_hashs_form() -> None:
    from kn_walk.sandbox.node import deployments

    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"image": "x"}]}}
    typed = {  # as a typed client sends it back (kubectl rollout undo)
        "metadata": {"labels": {"app": "a"}, "creationTimestamp": None},
        "spec": {"containers": [{"image": "x", "resources": {}}]},
    }
    assert deployments.template_hash(template) == deployments.template_hash(typed)
    assert deployments.same_template(
        {**typed, "metadata": {"labels": {"app": "a", "pod-template-hash": "x"}}}, template
    )
    hashes = {deployments.template_hash(template, n) for n in (None, 0, 1, 2)}
    assert len(hashes) == 4  # the collision count salts the hash
    for h in hashes:
        assert re.fullmatch(HASH, h)


# ----------------------------------------------------------------------- deletion


def _configmap(core: Any, ns: str, name: str, **meta: Any) -> Any:
    return core.create_namespaced_config_map(ns, {"metadata": {"name": name, **meta}})


def _ref(owner: Any, block: bool | None) -> dict[str, Any]:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
    }
    if block is not None:
        ref["blockOwnerDeletion"] = block
    return ref


def test_foreground_deletion_is_watched_owner_marked_dependents_gone_then_owner(
    api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = _configmap(core, namespace, "owner")
    _configmap(core, namespace, "loose", ownerReferences=[_ref(owner, None)])
    _configmap(core, namespace, "blocking", ownerReferences=[_ref(owner, True)])
    mid = _configmap(core, namespace, "mid", ownerReferences=[_ref(owner, True)])
    _configmap(core, namespace, "leaf", ownerReferences=[_ref(mid, True)])
    seen = steps(
        watch_until_deleted(
            core.list_namespaced_config_map,
            namespace,
            lambda: core.delete_namespaced_config_map(
                "owner", namespace, propagation_policy="Foreground"
            ),
            "owner",
        )
    )
    fg = ["foregroundDeletion"]
    assert seen == [
        ("MODIFIED", "owner", True, fg),  # marked first
        ("DELETED", "blocking", False, []),  # then the dependents, blocking ones first
        ("MODIFIED", "mid", True, fg),  # it has dependents and its owner waits: foreground too
        ("DELETED", "leaf", False, []),
        ("DELETED", "mid", True, fg),
        ("DELETED", "loose", False, []),
        ("DELETED", "owner", True, fg),  # last, as it last was
    ]
    assert core.list_namespaced_config_map(namespace).items == []


def test_a_blocking_dependent_with_a_finalizer_holds_a_foreground_deletion(
    api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = _configmap(core, namespace, "owner")
    _configmap(
        core,
        namespace,
        "held",
        ownerReferences=[_ref(owner, True)],
        finalizers=["example.com/hold"],
    )
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Foreground")
    owner = core.read_namespaced_config_map("owner", namespace)
    assert owner.metadata.deletion_timestamp is not None
    assert owner.metadata.finalizers == ["foregroundDeletion"]
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    # no new finalizer on an object being deleted
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map(
            "held", namespace, {"metadata": {"finalizers": ["example.com/hold", "more"]}}
        )
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"] == (
        'ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
        'added if the object is being deleted, found new finalizers []string{"more"}'
    )
    seen = steps(
        watch_until_deleted(
            core.list_namespaced_config_map,
            namespace,
            lambda: core.patch_namespaced_config_map(
                "held", namespace, {"metadata": {"finalizers": None}}
            ),
            "owner",
        )
    )
    assert seen == [
        ("DELETED", "held", True, ["example.com/hold"]),  # the update that empties them deletes
        ("DELETED", "owner", True, ["foregroundDeletion"]),
    ]


def test_releasing_a_finalizer_collects_the_dependents_of_the_deleted_owner(
    api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = _configmap(core, namespace, "owner", finalizers=["example.com/hold"])
    _configmap(core, namespace, "dep", ownerReferences=[_ref(owner, None)])
    core.delete_namespaced_config_map("owner", namespace)  # background
    assert core.read_namespaced_config_map("owner", namespace).metadata.deletion_timestamp
    assert core.read_namespaced_config_map("dep", namespace)  # its owner is still there
    core.patch_namespaced_config_map("owner", namespace, {"metadata": {"finalizers": None}})
    assert core.list_namespaced_config_map(namespace).items == []


def test_orphan_deletion_drops_the_owner_references_then_the_owner(
    api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = _configmap(core, namespace, "owner")
    other = _configmap(core, namespace, "other")
    _configmap(core, namespace, "dep", ownerReferences=[_ref(owner, True), _ref(other, None)])
    events = watch_until_deleted(
        core.list_namespaced_config_map,
        namespace,
        lambda: core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan"),
        "owner",
    )
    assert steps(events) == [
        ("MODIFIED", "owner", True, ["orphan"]),
        ("MODIFIED", "dep", False, []),
        ("DELETED", "owner", True, ["orphan"]),
    ]
    assert [r["name"] for r in events[1][1]["metadata"]["ownerReferences"]] == ["other"]


@needs_kubectl
def test_kubectl_delete_cascade_foreground_waits_for_replicasets_and_pods(
    sandbox: Sandbox, api_client: Any
) -> None:
    ns = new_namespace(sandbox)
    ok(sandbox, "create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=2")
    ok(sandbox, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    watchers = {
        "Deployment": Watcher(apps.list_namespaced_deployment, ns),
        "ReplicaSet": Watcher(apps.list_namespaced_replica_set, ns),
        "Pod": Watcher(core.list_namespaced_pod, ns),
    }
    try:
        out = ok(sandbox, "delete", "deployment", "web", "-n", ns, "--cascade=foreground", "--wait")
        assert out == 'deployment.apps "web" deleted\n'
        # --wait returned: everything is gone
        assert ok(sandbox, "get", "deploy,rs,pods", "-n", ns, "-o", "name") == ""
        for kind, gone in (("Deployment", 1), ("ReplicaSet", 1), ("Pod", 2)):
            w = watchers[kind]
            w.until(lambda t, o, w=w, n=gone: sum(e[0] == "DELETED" for e in w.seen) == n)
    finally:
        for w in watchers.values():
            w.stop()
    # ... and watched going in this order (all watches merged by resourceVersion)
    events = sorted(
        (int(obj["metadata"]["resourceVersion"]), kind, step)
        for kind, w in watchers.items()
        for step, obj in zip(steps(w.seen), (o for _, o in w.seen), strict=True)
    )
    fg = ["foregroundDeletion"]
    assert [(kind, t, deleting, fins) for _, kind, (t, _, deleting, fins) in events] == [
        ("Deployment", "MODIFIED", True, fg),
        ("ReplicaSet", "MODIFIED", True, fg),
        ("Pod", "DELETED", False, []),
        ("Pod", "DELETED", False, []),
        ("ReplicaSet", "DELETED", True, fg),
        ("Deployment", "DELETED", True, fg),
    ]
    ok(sandbox, "delete", "namespace", ns, "--wait=false")


@needs_kubectl
def test_a_terminating_namespace_refuses_new_content_until_its_content_is_gone(
    sandbox: Sandbox, api_client: Any
) -> None:
    ns = new_namespace(sandbox)
    ok(sandbox, "create", "configmap", "held", "-n", ns)
    ok(
        sandbox,
        "patch",
        "configmap",
        "held",
        "-n",
        ns,
        "-p",
        '{"metadata":{"finalizers":["example.com/hold"]}}',
    )
    ok(sandbox, "create", "configmap", "plain", "-n", ns)
    core = client.CoreV1Api(api_client)
    w = Watcher(core.list_namespace)
    try:
        assert (
            ok(sandbox, "delete", "namespace", ns, "--wait=false") == f'namespace "{ns}" deleted\n'
        )
        terminating = get_json(sandbox, "namespace", ns)
        assert terminating["status"]["phase"] == "Terminating"
        assert terminating["spec"]["finalizers"] == ["kubernetes"]
        assert terminating["metadata"]["deletionTimestamp"]
        conditions = {c["type"]: c for c in terminating["status"]["conditions"]}
        assert conditions["NamespaceContentRemaining"] == {
            **conditions["NamespaceContentRemaining"],
            "status": "True",
            "reason": "SomeResourcesRemain",
            "message": "Some resources are remaining: configmaps. has 1 resource instances",
        }
        assert conditions["NamespaceFinalizersRemaining"]["message"] == (
            "Some content in the namespace has finalizers remaining: "
            "example.com/hold in 1 resource instances"
        )
        assert conditions["NamespaceDeletionDiscoveryFailure"]["status"] == "False"
        row = ok(sandbox, "get", "namespace", ns, "--no-headers").split()
        assert row[:2] == [ns, "Terminating"]
        assert ok(sandbox, "get", "configmaps", "-n", ns, "-o", "name") == "configmap/held\n"
        # the NamespaceLifecycle admission plugin
        refused = kubectl(sandbox, "create", "configmap", "late", "-n", ns)
        assert refused.returncode == 1
        assert refused.stderr == (
            'error: failed to create configmap: configmaps "late" is forbidden: unable to create '
            f"new content in namespace {ns} because it is being terminated\n"
        )
        with pytest.raises(client.ApiException) as err:
            _configmap(core, ns, "late")
        body = json.loads(err.value.body)
        assert (err.value.status, body["reason"]) == (403, "Forbidden")
        assert body["details"]["causes"] == [
            {
                "reason": "NamespaceTerminating",
                "message": f"namespace {ns} is being terminated",
                "field": "metadata.namespace",
            }
        ]
        # a label on the namespace does not make it Active again
        ok(sandbox, "label", "namespace", ns, "x=y")
        assert get_json(sandbox, "namespace", ns)["status"]["phase"] == "Terminating"
        ok(
            sandbox,
            "patch",
            "configmap",
            "held",
            "-n",
            ns,
            "--type=json",
            "-p",
            '[{"op":"remove","path":"/metadata/finalizers"}]',
        )
        ok(sandbox, "wait", "--for=delete", f"namespace/{ns}", "--timeout=20s")
        seen = w.until(lambda t, o: t == "DELETED" and o["metadata"]["name"] == ns)
    finally:
        w.stop()
    mine = [(t, o) for t, o in seen if o["metadata"]["name"] == ns]
    phases = [(t, o["status"].get("phase"), o["spec"].get("finalizers")) for t, o in mine]
    assert phases[0] == ("MODIFIED", "Terminating", ["kubernetes"])
    assert phases[-2:] == [("MODIFIED", "Terminating", None), ("DELETED", "Terminating", None)]
    final = {c["type"]: c for c in mine[-1][1]["status"]["conditions"]}
    assert (
        final["NamespaceContentRemaining"]["status"],
        final["NamespaceContentRemaining"]["reason"],
    ) == (
        "False",
        "ContentRemoved",
    )


# --------------------------------------------------------------- Pods it does not run


@needs_kubectl
def test_a_pod_the_sandbox_does_not_run_is_scheduled_and_says_why(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    ok(sandbox, "run", "web", "-n", ns, "--image=nginx")
    ok(sandbox, "run", "hello", "-n", ns, f"--image={IMAGE}")
    waiting = "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}"
    ok(sandbox, "wait", "pod/web", "-n", ns, f"{waiting}=ImageNotSupported", "--timeout=20s")
    ok(sandbox, "wait", "pod/hello", "-n", ns, f"{waiting}=PodNotSupported", "--timeout=20s")
    pod = get_json(sandbox, "pod", "web", "-n", ns)
    assert pod["spec"]["nodeName"] == "knwalk-sandbox"
    status = pod["status"]
    assert status["phase"] == "Pending"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["PodScheduled"]["status"] == "True"
    for kind in ("Ready", "ContainersReady"):
        assert (
            conditions[kind]["status"],
            conditions[kind]["reason"],
            conditions[kind]["message"],
        ) == (
            "False",
            "ContainersNotReady",
            "containers with unready status: [web]",
        )
    (cs,) = status["containerStatuses"]
    assert (cs["ready"], cs["started"], cs["restartCount"]) == (False, False, 0)
    assert "runs only the helloworld-go sample" in cs["state"]["waiting"]["message"]
    hello = get_json(sandbox, "pod", "hello", "-n", ns)["status"]["containerStatuses"][0]
    assert "only for Knative Revisions" in hello["state"]["waiting"]["message"]
    rows = [line.split()[:3] for line in ok(sandbox, "get", "pods", "-n", ns).splitlines()[1:]]
    assert sorted(rows) == [
        ["hello", "0/1", "PodNotSupported"],
        ["web", "0/1", "ImageNotSupported"],
    ]
    events = get_json(sandbox, "events", "-n", ns, "--field-selector", "involvedObject.name=web")
    got = {(e["type"], e["reason"], e["source"]["component"]) for e in events["items"]}
    assert got == {("Normal", "Scheduled", "default-scheduler"), ("Warning", "Failed", "kubelet")}
    (failed,) = [e for e in events["items"] if e["reason"] == "Failed"]
    assert failed["message"] == cs["state"]["waiting"]["message"]
    assert failed["involvedObject"]["fieldPath"] == "spec.containers{web}"
    ok(sandbox, "delete", "namespace", ns, "--wait=false")


# ------------------------------------------------------------------------- logs


@needs_kubectl
def test_kubectl_logs_timestamps_are_the_times_lines_were_written(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    before = time.time()
    ok(sandbox, "apply", "-n", ns, "-f", "-", stdin=service_manifest("Stamps", name="stamps"))
    ok(sandbox, "wait", "ksvc/stamps", "-n", ns, "--for=condition=Ready", "--timeout=30s")
    pod = until(
        "the Revision's Pod",
        lambda: get_json(sandbox, "pods", "-n", ns, "-l", "serving.knative.dev/service=stamps")[
            "items"
        ],
    )[0]["metadata"]["name"]
    plain = until(
        "its log",
        lambda: (out := ok(sandbox, "logs", pod, "-n", ns)) and "listening" in out and out,
    )
    stamped = ok(sandbox, "logs", pod, "-n", ns, "--timestamps")
    after = time.time()
    lines = stamped.splitlines(keepends=True)
    assert [line.split(" ", 1)[1] for line in lines] == plain.splitlines(keepends=True)
    for line in lines:
        stamp = line.split(" ", 1)[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp)
        at = datetime.fromisoformat(stamp[:26] + "+00:00").timestamp()
        assert before - 1 <= at <= after
    assert ok(sandbox, "logs", pod, "-n", ns, "--since=1h") == plain
    assert ok(sandbox, "logs", pod, "-n", ns, "--since-time=2999-01-01T00:00:00Z") == ""
    ok(sandbox, "delete", "namespace", ns, "--wait=false")


# api.py keeps its state under a str key (``app["state"]``), which aiohttp warns about
@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
def test_since_and_timestamps_use_the_recorded_line_times(tmp_path: Path) -> None:
    """The clock records when lines appear; sinceTime/sinceSeconds/timestamps read it."""
    import httpx
    from aiohttp import web

    store = Store(str(tmp_path / "state.db"))
    res = Resources(store, Registry.default())
    ns_type = res.registry.get("", "v1", "namespaces")
    pod_type = res.registry.get("", "v1", "pods")
    assert ns_type is not None and pod_type is not None
    opts = WriteOptions(manager="test")
    res.create(ns_type, "", {"metadata": {"name": "ns"}}, opts)
    spec = {"containers": [{"name": "c", "image": IMAGE}]}
    res.create(pod_type, "ns", {"metadata": {"name": "p"}, "spec": spec}, opts)
    log = tmp_path / "p.log"
    now_ns = time.time_ns()
    fake_now = [now_ns - 100 * 10**9]  # the clock's time: 100 s ago, then 10 s ago
    clock = LogClock(now=lambda: fake_now[0])
    clock.watch(log)
    with log.open("ab") as f:
        f.write(b"one\ntwo\nthr")  # a line being written when the clock looks
    clock.poll(log)
    fake_now[0] = now_ns - 10 * 10**9
    with log.open("ab") as f:
        f.write(b"ee\nfour\n")  # the rest of that line, and one more
    state = ApiState(res, "tok", pod_logs=lambda ns, pod: LogSource(log, 0, None, clock))

    def stamp(ns: int) -> str:
        seconds, frac = divmod(ns, 10**9)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"

    old, new = stamp(now_ns - 100 * 10**9), stamp(now_ns - 10 * 10**9)

    async def main() -> dict[str, bytes]:
        runner = web.AppRunner(create_app(state), handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1/namespaces/ns/pods/p/log"
        out = {}
        async with httpx.AsyncClient(headers={"Authorization": "Bearer tok"}) as h:
            for key, params in {
                "stamped": {"timestamps": "true"},
                "since50s": {"sinceSeconds": "50"},
                "since200s": {"sinceSeconds": "200"},
                "sinceTime": {
                    "sinceTime": stamp(now_ns - 50 * 10**9)[:19] + "Z",
                    "timestamps": "1",
                },
                "tail": {"tailLines": "1", "timestamps": "true"},
                "limit": {"timestamps": "true", "limitBytes": "35"},
            }.items():
                r = await h.get(url, params=params)
                assert r.status_code == 200 and "Warning" not in r.headers, (key, r.headers)
                out[key] = r.content
        await runner.cleanup()
        return out

    try:
        got = asyncio.run(main())
    finally:
        store.close()
    assert got["stamped"] == (
        f"{old} one\n{old} two\n{old} three\n{new} four\n".encode()
    )  # a line's time is when it began
    assert got["since50s"] == b"four\n"
    assert got["since200s"] == b"one\ntwo\nthree\nfour\n"
    assert got["sinceTime"] == f"{new} four\n".encode()
    assert got["tail"] == f"{new} four\n".encode()
    assert got["limit"] == f"{old} one\n".encode()[:35]
    assert oct((tmp_path / "p.log.times").stat().st_mode & 0o777) == "0o600"


# --------------------------------------------------------------------------- object names


_RFC1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_RFC1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_DNS1035_LABEL = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


_LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_QUALIFIED_NAME = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
    "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("kind", "rule"),
    [("Namespace", _RFC1123_LABEL), ("ConfigMap", _RFC1123_SUBDOMAIN), ("Service", _DNS1035_LABEL)],
)
def test_a_name_with_a_trailing_newline_is_refused_as_kube_refuses_it(
    api_client: Any, namespace: str, kind: str, rule: str
) -> None:
    """Go's ``^...$`` does not match before a final newline: ``abc\\n`` is no name. A
    Namespace's default label ``kubernetes.io/metadata.name`` holds its name, so kube
    refuses that label's value too."""
    core = client.CoreV1Api(api_client)
    name = "abc\n"
    body: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    with pytest.raises(client.ApiException) as err:
        if kind == "Namespace":
            core.create_namespace(body)
        elif kind == "ConfigMap":
            core.create_namespaced_config_map(namespace, body)
        else:
            body["spec"] = {"ports": [{"port": 80}]}
            core.create_namespaced_service(namespace, body)
    assert err.value.status == 422
    causes = f'metadata.name: Invalid value: "abc\\n": {rule}'
    if kind == "Namespace":
        causes = f'[{causes}, metadata.labels: Invalid value: "abc\\n": {_LABEL_VALUE}]'
    assert json.loads(err.value.body)["message"] == f'{kind} "abc\\n" is invalid: {causes}'


@pytest.mark.parametrize(
    ("labels", "cause"),
    [
        ({"app": "abc\n"}, f'metadata.labels: Invalid value: "abc\\n": {_LABEL_VALUE}'),
        (
            {"app": "x" * 64},
            f'metadata.labels: Invalid value: "{"x" * 64}": must be no more than 63 characters',
        ),
        ({"bad key": "v"}, f'metadata.labels: Invalid value: "bad key": {_QUALIFIED_NAME}'),
    ],
    ids=["value with a trailing newline", "value too long", "key with a space"],
)
def test_labels_are_checked_as_kube_checks_them(
    api_client: Any, namespace: str, labels: dict[str, str], cause: str
) -> None:
    """ValidateLabels: each key a qualified name, each value a label value (Go's whole-value
    match), each problem one cause."""
    core = client.CoreV1Api(api_client)
    body = {"metadata": {"name": "labelled", "labels": labels}}
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(namespace, body)
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"] == f'ConfigMap "labelled" is invalid: {cause}'
