"""The host is not the container: a Service's env never reaches the host process as-is.

A Revision process is a process on the user's machine, so the container env of a
Service (anyone who can write a Service) must not steer it: loader and
interpreter variables (``LD_PRELOAD``, ``PYTHONHOME``, ...) are never applied,
and env a container runtime could not exec (a NUL byte, a value over Linux's
128 KiB per string) fails the Revision as a cluster's runtime fails the
container, never as an internal error of the sandbox. Real sandbox, real
processes, real HTTP through the gateway.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from tests.conftest import Sandbox
from tests.kube_helpers import GROUP, IMAGE, VERSION, ready, wait_for

HOSTILE_ENV = {"LD_PRELOAD": "/nonexistent.so", "PYTHONHOME": "/nonexistent", "FOO": "bar"}


def _ksvc(name: str, env: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{"image": IMAGE, "env": env}]}}},
    }


def _create(api_client: Any, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            GROUP, VERSION, ns, "services", body
        )
    )


def _gateway(api_client: Any) -> str:
    svc = client.CoreV1Api(api_client).read_namespaced_service(
        "istio-ingressgateway", "istio-system"
    )
    ip = svc.status.load_balancer.ingress[0].ip
    port = next(p.port for p in svc.spec.ports if p.name == "http2")
    return f"http://{ip}:{port}"


def _pid(sandbox: Sandbox, ns: str, revision: str) -> int:
    """The Revision's process, from the sandbox's pid file (``workloads/workloads.json``)."""
    record = json.loads((sandbox.state_dir / "workloads" / "workloads.json").read_text())
    pids = [c["pid"] for c in record["children"] if c["revision"] == f"{ns}/{revision}"]
    assert len(pids) == 1, record
    return int(pids[0])


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == ctype), {})


def _failed(obj: dict[str, Any]) -> bool:
    return _condition(obj, "Ready").get("status") == "False"


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_loader_and_interpreter_env_never_reach_the_process(
    sandbox: Sandbox, api_client: Any, namespace: str
) -> None:
    env = [{"name": "TARGET", "value": "Isolated"}]
    env += [{"name": k, "value": v} for k, v in HOSTILE_ENV.items()]
    _create(api_client, namespace, _ksvc("isolated", env))
    svc = wait_for(api_client, "services", namespace, "isolated", ready, timeout=30)
    revision = svc["status"]["latestReadyRevisionName"]

    reply = httpx.get(
        _gateway(api_client), headers={"Host": f"isolated.{namespace}.example.com"}, timeout=30
    )
    assert (reply.status_code, reply.text) == (200, "Hello Isolated!\n")

    seen = _environ(_pid(sandbox, namespace, revision))
    assert not HOSTILE_ENV.keys() & seen.keys(), seen
    assert seen["TARGET"] == "Isolated"
    assert seen["K_REVISION"] == revision
    assert seen["K_CONFIGURATION"] == seen["K_SERVICE"] == "isolated"
    assert seen["PORT"].isdigit()
    assert seen["PATH"] == "/usr/bin:/bin"
    # nothing else of the user's spec, and nothing of the sandbox's own environment
    assert not {k for k in seen if k.startswith(("LD_", "PYTHONSTARTUP", "PYTHONHOME"))}

    # the Pod shows the env as the user set it, and says what was not applied
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector=f"serving.knative.dev/revision={revision}"
    )
    assert len(pods.items) == 1
    pod = pods.items[0]
    pod_env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert {k: pod_env[k] for k in HOSTILE_ENV} == HOSTILE_ENV
    note = pod.metadata.annotations["sandbox.knwalk.dev/env-not-applied"]
    assert note.startswith("FOO, LD_PRELOAD, PYTHONHOME:"), note
    assert "TARGET" not in note.split(":", 1)[0]


def test_a_service_with_only_target_has_no_not_applied_note(
    api_client: Any, namespace: str
) -> None:
    _create(api_client, namespace, _ksvc("plain", [{"name": "TARGET", "value": "x"}]))
    svc = wait_for(api_client, "services", namespace, "plain", ready, timeout=30)
    revision = svc["status"]["latestReadyRevisionName"]
    # the Revision's Pod comes with its ReplicaSet, a moment after the Revision is Ready
    deadline = time.monotonic() + 30
    while True:
        pods = client.CoreV1Api(api_client).list_namespaced_pod(
            namespace, label_selector=f"serving.knative.dev/revision={revision}"
        )
        if pods.items or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert pods.items
    assert "sandbox.knwalk.dev/env-not-applied" not in (pods.items[0].metadata.annotations or {})


#: env a container runtime cannot exec: what the Revision says (as runc and Linux say it)
UNRUNNABLE = [
    pytest.param("FOO", "a\0b", 'invalid environment variable "FOO": contains nul byte', id="nul"),
    pytest.param(
        "TARGET",
        "x\0y",
        'invalid environment variable "TARGET": contains nul byte',
        id="nul-target",
    ),
    pytest.param("TARGET", "x" * (200 * 1024), "argument list too long", id="target-over-128KiB"),
    pytest.param("BIG", "y" * (128 * 1024), "argument list too long", id="other-over-128KiB"),
]


@pytest.mark.parametrize(("name", "value", "message"), UNRUNNABLE)
def test_env_a_runtime_cannot_exec_fails_the_revision_not_the_sandbox(
    api_client: Any, namespace: str, name: str, value: str, message: str
) -> None:
    env = [{"name": "TARGET", "value": "t"}] if name != "TARGET" else []
    env.append({"name": name, "value": value})
    # the API write succeeds, as on a cluster: Kubernetes accepts any string in env
    created = _create(api_client, namespace, _ksvc("bad-env", env))
    assert created["metadata"]["generation"] == 1
    rev = wait_for(api_client, "revisions", namespace, "bad-env-00001", _failed, timeout=30)
    healthy = _condition(rev, "ContainerHealthy")
    assert healthy.get("status") == "False", rev["status"]
    assert healthy["reason"] == "ExitCode128"
    assert healthy["message"].startswith("Container failed with: ")
    assert message in healthy["message"]
    assert _condition(rev, "Ready")["reason"] == "ExitCode128"
    svc = wait_for(api_client, "services", namespace, "bad-env", _failed, timeout=30)
    assert message in _condition(svc, "Ready")["message"]


def test_a_target_just_under_the_limit_is_served_whole(api_client: Any, namespace: str) -> None:
    target = "z" * (100 * 1024)
    _create(api_client, namespace, _ksvc("big", [{"name": "TARGET", "value": target}]))
    wait_for(api_client, "services", namespace, "big", ready, timeout=30)
    reply = httpx.get(
        _gateway(api_client), headers={"Host": f"big.{namespace}.example.com"}, timeout=30
    )
    assert (reply.status_code, reply.text) == (200, f"Hello {target}!\n")


def test_a_lone_surrogate_in_target_is_served_as_a_replacement_character(
    api_client: Any, namespace: str
) -> None:
    """JSON allows "\\ud800"; Go's decoder (so a cluster) reads it as U+FFFD."""
    _create(api_client, namespace, _ksvc("odd", [{"name": "TARGET", "value": "a\ud800b"}]))
    wait_for(api_client, "services", namespace, "odd", ready, timeout=30)
    reply = httpx.get(
        _gateway(api_client), headers={"Host": f"odd.{namespace}.example.com"}, timeout=30
    )
    assert (reply.status_code, reply.text) == (200, "Hello a\ufffdb!\n")
