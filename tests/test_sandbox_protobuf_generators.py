"""kubectl's other typed generators and ``kubectl autoscale`` send protobuf too (issue 13).

``kubectl create job|cronjob|role|clusterrole|rolebinding|clusterrolebinding|
poddisruptionbudget|ingress`` and ``kubectl autoscale`` post their objects as
``application/vnd.kubernetes.protobuf``, as kube-apiserver accepts for every built-in kind;
the sandbox answered 415 for them. Each generator's protobuf bytes must decode to exactly
the JSON kubectl prints for ``--dry-run=client -o json`` (which checks the field numbers
and Go's omitempty rules of each message), and the real command must create the object.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from kn_walk.sandbox.apiserver.protobuf import MAGIC, decode
from tests.conftest import Sandbox
from tests.test_sandbox_protobuf import _drop_nulls, _request_body, get, kubectl, needs_kubectl, ok

GENERATORS = {
    "job": ["create", "job", "NAME", "--image=busybox", "--", "echo", "hi"],
    "cronjob": [
        "create",
        "cronjob",
        "NAME",
        "--image=busybox",
        "--schedule=*/5 * * * *",
        "--restart=OnFailure",
        "--",
        "date",
    ],
    "role": [
        "create",
        "role",
        "NAME",
        "--verb=get,list",
        "--resource=pods,deployments.apps",
        "--resource-name=a",
    ],
    "clusterrole": ["create", "clusterrole", "NAME", "--verb=get", "--non-resource-url=/healthz"],
    "aggregated-clusterrole": ["create", "clusterrole", "NAME", "--aggregation-rule=team=a"],
    "rolebinding": [
        "create",
        "rolebinding",
        "NAME",
        "--role=reader",
        "--user=ann",
        "--group=devs",
        "--serviceaccount=other:robot",
    ],
    "clusterrolebinding": [
        "create",
        "clusterrolebinding",
        "NAME",
        "--clusterrole=view",
        "--user=u",
    ],
    "pdb": [
        "create",
        "poddisruptionbudget",
        "NAME",
        "--selector=app=web",
        "--max-unavailable=50%",
    ],
    "pdb-min": ["create", "poddisruptionbudget", "NAME", "--selector=app=web", "--min-available=2"],
    "ingress": [
        "create",
        "ingress",
        "NAME",
        "--class=istio",
        "--rule=foo.example.com/api*=api:8080,tls=cert",
        "--rule=/=web:http",
        "--default-backend=fallback:80",
        "--annotation=a=b",
    ],
}


_NOT_CONTENT = ("apiVersion", "kind", "metadata", "status")


def _protobuf_body(stderr: str) -> bytes:
    """The protobuf body kubectl posted, from its -v=10 log (it may GET first)."""
    while '"Request Body"' in stderr:
        body = _request_body(stderr)
        if body.startswith(MAGIC):
            return body
        stderr = stderr[stderr.index('"Request Body"') + 1 :]
    raise AssertionError("kubectl sent no protobuf body")


@pytest.fixture
def ns(sandbox: Sandbox, tmp_path: Path) -> str:
    name = "pbg-" + uuid.uuid4().hex[:8]
    ok(sandbox, tmp_path, "create", "namespace", name)
    return name


@needs_kubectl
@pytest.mark.parametrize("generator", GENERATORS)
def test_kubectl_generator_protobuf_decodes_to_kubectl_json(
    sandbox: Sandbox, tmp_path: Path, ns: str, generator: str
) -> None:
    name = "gen-" + uuid.uuid4().hex[:6]
    args = [name if a == "NAME" else a for a in GENERATORS[generator]]
    scope = ["-n", ns]  # before the arguments: a command's own arguments follow "--"
    expected = json.loads(ok(sandbox, tmp_path, *scope, "--dry-run=client", "-o", "json", *args))
    p = kubectl(sandbox, tmp_path, *scope, "--dry-run=server", "-v=10", *args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith("created (server dry run)\n")
    assert decode(_protobuf_body(p.stderr)) == _drop_nulls(expected)
    # and for real
    created = ok(sandbox, tmp_path, *scope, *args)
    assert created.endswith(f"/{name} created\n"), created
    kind = expected["kind"].lower()
    stored = get(sandbox, tmp_path, kind, name, *scope)
    assert stored["metadata"]["name"] == name
    if "namespace" in expected["metadata"]:
        assert stored["metadata"]["namespace"] == ns
    # the sandbox defaults none of these kinds: what is stored is what kubectl sent
    content = {k: v for k, v in _drop_nulls(expected).items() if k not in _NOT_CONTENT}
    assert {k: v for k, v in stored.items() if k not in _NOT_CONTENT} == content


@needs_kubectl
def test_kubectl_autoscale(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    ok(sandbox, tmp_path, "create", "deployment", "web", "--image=nginx", "-n", ns)
    args = ["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=70", "-n", ns]
    expected = json.loads(ok(sandbox, tmp_path, *args, "--dry-run=client", "-o", "json"))
    p = kubectl(sandbox, tmp_path, *args, "--dry-run=server", "-v=10")
    assert p.returncode == 0, p.stderr
    assert decode(_protobuf_body(p.stderr)) == _drop_nulls(expected)
    assert ok(sandbox, tmp_path, *args) == "horizontalpodautoscaler.autoscaling/web autoscaled\n"
    hpa = get(sandbox, tmp_path, "hpa", "web", "-n", ns)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    (metric,) = hpa["spec"]["metrics"]
    assert metric == {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }
