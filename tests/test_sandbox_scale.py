"""``deployments/{name}/scale``: ``kubectl scale`` and the client's Scale calls.

The real kubectl and the kubernetes client's AppsV1Api read, replace and patch
a Deployment's autoscaling/v1 Scale; the Deployment's replicas and Pods follow.
Bad counts, stale resourceVersions, other kinds and methods are refused as
kube-apiserver refuses them.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox

KUBECTL = "/usr/bin/kubectl"

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="needs /usr/bin/kubectl")


def kubectl(sb: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(sb.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def deployment(sandbox: Sandbox) -> tuple[str, str]:
    ns = f"scale-{uuid.uuid4().hex[:8]}"
    for args in (
        ("create", "namespace", ns),
        ("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=2"),
    ):
        proc = kubectl(sandbox, *args)
        assert proc.returncode == 0, proc.stderr
    return ns, "web"


def pod_count(sb: Sandbox, ns: str, expected: int) -> None:
    deadline = time.monotonic() + 15
    while True:
        out = kubectl(sb, "get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout
        items = json.loads(out)["items"]
        if len(items) == expected:
            return
        assert time.monotonic() < deadline, f"{len(items)} pods, expected {expected}"
        time.sleep(0.05)


def test_kubectl_scale_changes_the_replicas_and_the_pods(
    sandbox: Sandbox, deployment: tuple[str, str]
) -> None:
    ns, name = deployment
    pod_count(sandbox, ns, 2)
    proc = kubectl(sandbox, "scale", "deployment", name, "-n", ns, "--replicas=4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"deployment.apps/{name} scaled"
    pod_count(sandbox, ns, 4)
    got = kubectl(sandbox, "get", "deploy", name, "-n", ns, "-o", "jsonpath={.spec.replicas}")
    assert got.stdout == "4"
    proc = kubectl(sandbox, "get", "deploy", name, "-n", ns, "--subresource=scale", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    scale = json.loads(proc.stdout)
    assert (scale["apiVersion"], scale["kind"]) == ("autoscaling/v1", "Scale")
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"] == {"replicas": 4, "selector": "app=web"}
    # --current-replicas is a precondition kubectl checks against the Scale it reads
    proc = kubectl(
        sandbox, "scale", "deployment", name, "-n", ns, "--replicas=1", "--current-replicas=3"
    )
    assert proc.returncode == 1 and "Expected replicas to be 3, was 4" in proc.stderr
    assert kubectl(sandbox, "scale", "deployment", name, "-n", ns, "--replicas=0").returncode == 0
    pod_count(sandbox, ns, 0)


def test_the_client_reads_replaces_and_patches_the_scale(
    api_client: Any, deployment: tuple[str, str]
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ns, name = deployment
    apps = client.AppsV1Api(api_client)
    scale = apps.read_namespaced_deployment_scale(name, ns)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
    scale.spec.replicas = 3
    replaced = apps.replace_namespaced_deployment_scale(name, ns, scale)
    assert replaced.spec.replicas == 3
    assert apps.read_namespaced_deployment(name, ns).spec.replicas == 3

    # the old resourceVersion is a precondition: a second replace with it conflicts
    scale.spec.replicas = 5
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment_scale(name, ns, scale)
    assert err.value.status == 409
    assert json.loads(err.value.body)["message"] == (
        f'Operation cannot be fulfilled on deployments.apps "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )

    patched = apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 1}})
    assert patched.spec.replicas == 1

    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": -2}})
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"] == (
        f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: -2: '
        "must be greater than or equal to 0"
    )
    assert apps.read_namespaced_deployment(name, ns).spec.replicas == 1  # nothing changed


def _raw(sb: Sandbox, method: str, path: str, body: Any = None, ctype: str = "") -> Any:
    """(status, JSON body) of one request with the sandbox's token, verified against its CA."""
    headers = {"Authorization": f"Bearer {sb.token}", "Accept": "application/json"}
    if ctype:
        headers["Content-Type"] = ctype
    content = None if body is None else json.dumps(body)
    verify = ssl.create_default_context(cafile=sb.ca)
    with httpx.Client(base_url=sb.api, timeout=10, verify=verify) as http:
        resp = http.request(method, path, content=content, headers=headers)
    return resp.status_code, resp.json()


def test_json_patch_other_kinds_and_methods(sandbox: Sandbox, deployment: tuple[str, str]) -> None:
    ns, name = deployment
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale"
    status, scale = _raw(
        sandbox,
        "PATCH",
        path,
        [{"op": "replace", "path": "/spec/replicas", "value": 6}],
        "application/json-patch+json",
    )
    assert (status, scale["spec"]["replicas"]) == (200, 6)
    status, body = _raw(sandbox, "PATCH", path, {"spec": {"replicas": 1}}, "application/yaml")
    assert status == 415
    status, body = _raw(sandbox, "PUT", path, {"spec": {"replicas": "three"}})
    assert status == 422 and "spec.replicas: Invalid value: three" in body["message"]
    status, body = _raw(sandbox, "DELETE", path)
    assert status == 405
    status, body = _raw(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/x/scale")
    assert status == 404
    status, body = _raw(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/nope/scale")
    assert status == 404 and body["message"] == 'deployments.apps "nope" not found'


def test_discovery_lists_the_scale_subresource(sandbox: Sandbox) -> None:
    status, doc = _raw(sandbox, "GET", "/apis/apps/v1")
    assert status == 200
    (entry,) = [r for r in doc["resources"] if r["name"] == "deployments/scale"]
    assert (entry["group"], entry["version"], entry["kind"]) == ("autoscaling", "v1", "Scale")
    assert sorted(entry["verbs"]) == ["get", "patch", "update"]
