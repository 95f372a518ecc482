"""Revision processes appear as Pods: ``kubectl get pods`` shows the data plane.

Against real sandboxes with the real kubectl: a Pod per running Revision with
Knative's labels and the Revision as owner, CrashLoopBackOff and restarts after
the process is killed, the Pod gone after scale to zero and back on the next
request, gone with the Service, kept (its container restarted) across a restart
of the sandbox, and an unsupported image shown as a waiting reason. Then
kubectl's STATUS/READY/RESTARTS rules on crafted Pods, through the sandbox's
Table printer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kn_walk.sandbox import control
from kn_walk.sandbox.machinery import tables
from kn_walk.sandbox.machinery.resourcetypes import Registry
from kn_walk.sandbox.node import pods
from kn_walk.sandbox.node.workloads import RuntimeStatus
from tests.conftest import Sandbox, start_sandbox

KUBECTL = "/usr/bin/kubectl"
IMAGE = "gcr.io/knative-samples/helloworld-go"

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="needs /usr/bin/kubectl")


def kubectl(sb: Sandbox, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [KUBECTL, "--kubeconfig", str(sb.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def apply_service(sb: Sandbox, ns: str, name: str, image: str = IMAGE, target: str = "v1") -> None:
    manifest = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"image": image, "env": [{"name": "TARGET", "value": target}]}]
                }
            }
        },
    }
    proc = subprocess.run(
        [KUBECTL, "--kubeconfig", str(sb.kubeconfig), "apply", "-f", "-"],
        input=json.dumps(manifest),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def new_namespace(sb: Sandbox) -> str:
    ns = f"pods-{uuid.uuid4().hex[:8]}"
    kubectl(sb, "create", "namespace", ns)
    return ns


def pods_of(sb: Sandbox, ns: str, service: str) -> list[dict[str, Any]]:
    out = kubectl(
        sb, "get", "pods", "-n", ns, "-l", f"serving.knative.dev/service={service}", "-o", "json"
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def wait_pods(
    sb: Sandbox,
    ns: str,
    service: str,
    ok: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 20.0,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    items = pods_of(sb, ns, service)
    while not ok(items):
        assert time.monotonic() < deadline, f"pods never matched: {json.dumps(items)[:2000]}"
        time.sleep(0.05)
        items = pods_of(sb, ns, service)
    return items


def container(pod: dict[str, Any]) -> dict[str, Any]:
    """The user container's status (not queue-proxy's)."""
    statuses: list[dict[str, Any]] = (pod.get("status") or {}).get("containerStatuses") or []
    return next((c for c in statuses if c.get("name") != "queue-proxy"), {})


def running(items: list[dict[str, Any]]) -> bool:
    return len(items) == 1 and container(items[0]).get("ready") is True


def get_table(sb: Sandbox, ns: str, *extra: str) -> list[list[str]]:
    out = kubectl(sb, "get", "pods", "-n", ns, *extra).stdout
    return [line.split() for line in out.splitlines()]


# --------------------------------------------------------------------------- sandbox


def test_a_running_revision_is_a_pod_with_knatives_labels(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "hello")
    (pod,) = wait_pods(sandbox, ns, "hello", running)
    meta = pod["metadata"]
    labels = meta["labels"]
    assert labels["serving.knative.dev/revision"] == "hello-00001"
    assert labels["serving.knative.dev/configuration"] == "hello"
    assert labels["serving.knative.dev/configurationGeneration"] == "1"
    assert labels["app"] == "hello-00001"
    assert re.fullmatch(r"hello-00001-deployment-[b-z2-9]{1,10}-[b-z2-9]{5}", meta["name"])
    assert labels["pod-template-hash"] == meta["name"].split("-")[-2]
    revision = json.loads(
        kubectl(sandbox, "get", "revision", "hello-00001", "-n", ns, "-o", "json").stdout
    )
    # owned by the ReplicaSet of the Revision's Deployment, which the Revision owns
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["name"]) == (
        "ReplicaSet",
        f"hello-00001-deployment-{labels['pod-template-hash']}",
    )
    rs = json.loads(kubectl(sandbox, "get", "rs", owner["name"], "-n", ns, "-o", "json").stdout)
    assert rs["metadata"]["uid"] == owner["uid"]
    (deployment_ref,) = rs["metadata"]["ownerReferences"]
    assert (deployment_ref["kind"], deployment_ref["name"]) == (
        "Deployment",
        "hello-00001-deployment",
    )
    deployment = json.loads(
        kubectl(sandbox, "get", "deploy", "hello-00001-deployment", "-n", ns, "-o", "json").stdout
    )
    (revision_ref,) = deployment["metadata"]["ownerReferences"]
    assert (revision_ref["kind"], revision_ref["uid"]) == ("Revision", revision["metadata"]["uid"])
    assert labels["serving.knative.dev/revisionUID"] == revision["metadata"]["uid"]
    spec, queue = pod["spec"]["containers"]
    assert (spec["name"], spec["image"]) == ("user-container", IMAGE)
    assert {"name": "TARGET", "value": "v1"} in spec["env"]
    # queue-proxy is in the Pod as Knative injects it; no process runs it, and it says so
    assert queue["name"] == "queue-proxy"
    assert "queue-proxy" in meta["annotations"]["sandbox.knwalk.dev/queue-proxy"]
    status = pod["status"]
    assert status["phase"] == "Running" and status["podIP"] == "127.0.0.1"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert "running" in container(pod)["state"]
    pid = int(meta["annotations"]["sandbox.knwalk.dev/pid"])
    os.kill(pid, 0)  # the annotation names the live process
    header, row = get_table(sandbox, ns)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row[:4] == [meta["name"], "2/2", "Running", "0"]
    wide = get_table(sandbox, ns, "-o", "wide")
    assert wide[0][5:7] == ["IP", "NODE"] and wide[1][5:7] == ["127.0.0.1", "knwalk-sandbox"]


def test_a_killed_process_shows_crash_loop_then_a_restart(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "crashy")
    (pod,) = wait_pods(sandbox, ns, "crashy", running)
    name = pod["metadata"]["name"]
    os.kill(int(pod["metadata"]["annotations"]["sandbox.knwalk.dev/pid"]), signal.SIGKILL)
    (crashed,) = wait_pods(
        sandbox,
        ns,
        "crashy",
        lambda items: bool(items) and container(items[0]).get("restartCount") == 1,
    )
    assert crashed["metadata"]["name"] == name  # the same Pod; its container restarts
    (again,) = wait_pods(sandbox, ns, "crashy", running)
    c = container(again)
    assert again["metadata"]["name"] == name and c["restartCount"] == 1
    assert c["lastState"]["terminated"]["exitCode"] == 137
    assert (
        again["metadata"]["annotations"]["sandbox.knwalk.dev/pid"]
        != pod["metadata"]["annotations"]["sandbox.knwalk.dev/pid"]
    )
    row = get_table(sandbox, ns)[1]
    assert row[1:3] == ["2/2", "Running"] and row[3] == "1" and row[4].startswith("(")
    waiting = container(crashed)["state"].get("waiting")
    if waiting is not None:  # caught during the backoff (it lasts about a second)
        assert waiting["reason"] == "CrashLoopBackOff" and "exit code 137" in waiting["message"]


def test_a_pod_deleted_by_hand_is_replaced(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "again")
    (pod,) = wait_pods(sandbox, ns, "again", running)
    kubectl(sandbox, "delete", "pod", pod["metadata"]["name"], "-n", ns, "--wait=false")
    (new,) = wait_pods(
        sandbox,
        ns,
        "again",
        lambda items: running(items) and items[0]["metadata"]["name"] != pod["metadata"]["name"],
    )
    pid = "sandbox.knwalk.dev/pid"
    assert new["metadata"]["annotations"][pid] == pod["metadata"]["annotations"][pid]
    assert container(new)["restartCount"] == 0


def test_deleting_the_service_deletes_its_pods(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "gone")
    wait_pods(sandbox, ns, "gone", running)
    kubectl(sandbox, "delete", "ksvc", "gone", "-n", ns)
    wait_pods(sandbox, ns, "gone", lambda items: not items)


def test_an_image_the_sandbox_cannot_run_waits_with_the_reason(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "nginx", image="nginx:1.27")
    (pod,) = wait_pods(sandbox, ns, "nginx", lambda items: len(items) == 1)
    waiting = container(pod)["state"]["waiting"]
    assert waiting["reason"] == "ImageNotSupported" and "helloworld-go" in waiting["message"]
    assert pod["status"]["phase"] == "Pending"
    assert get_table(sandbox, ns)[1][1:3] == ["0/2", "ImageNotSupported"]


def revision_replicas(sb: Sandbox, service: str) -> tuple[int, int]:
    """(actual, desired) replicas of the newest revision, as ``knwalk status -o json`` says."""
    proc = subprocess.run(
        [sys.executable, "-m", "kn_walk", "status", service, "-o", "json"],
        capture_output=True,
        text=True,
        env=dict(os.environ, KUBECONFIG=str(sb.kubeconfig)),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    newest = json.loads(proc.stdout)["revisions"][0]
    return newest["actualReplicas"], newest["desiredReplicas"]


def test_scale_to_zero_removes_the_pod_and_a_request_brings_a_new_one(tmp_path: Path) -> None:
    # the window leaves time to see the Pod: it comes a moment after the Revision is ready,
    # once the Revision's Deployment and ReplicaSet are made
    sb = start_sandbox(tmp_path, stable_window=2, scale_to_zero_grace=0.5)
    try:
        apply_service(sb, "default", "sleepy")
        (first,) = wait_pods(sb, "default", "sleepy", running)
        assert revision_replicas(sb, "sleepy") in ((1, 1), (0, 1))
        wait_pods(sb, "default", "sleepy", lambda items: not items)
        assert revision_replicas(sb, "sleepy") == (0, 0)  # knwalk status shows 0/0
        killing = reasons(wait_events(sb, "default", lambda i: "Killing" in reasons(i)))["Killing"]
        assert killing["involvedObject"]["name"] == first["metadata"]["name"]
        assert killing["message"] == "Stopping container user-container"
        host = "sleepy.default.example.com"
        response = httpx.get(sb.info.gateway + "/", headers={"Host": host}, timeout=10)
        assert response.text == "Hello v1!\n"
        (second,) = wait_pods(sb, "default", "sleepy", lambda items: len(items) == 1)
        assert second["metadata"]["name"] != first["metadata"]["name"]
        assert container(second)["restartCount"] == 0
        # the Revision's log file holds both runs; the new Pod's log only its own
        log_file = Path(second["metadata"]["annotations"]["sandbox.knwalk.dev/log"])
        assert log_file.read_text().count("starting server...") == 2
        logs = kubectl(sb, "logs", second["metadata"]["name"]).stdout
        assert logs.count("starting server...") == 1 and logs.endswith(log_file.read_text()[-20:])
    finally:
        control.stop(sb.state_dir)


def test_a_restarted_sandbox_restarts_the_containers_of_its_pods(tmp_path: Path) -> None:
    """The process died with the sandbox; its Pod stays, as on a node that restarted
    (more in tests/test_sandbox_restart.py)."""
    sb = start_sandbox(tmp_path)
    try:
        apply_service(sb, "default", "phoenix")
        (old,) = wait_pods(sb, "default", "phoenix", running)
        control.stop(sb.state_dir)
        info, started = control.start(sb.state_dir)
        assert started
        control.write_kubeconfig(info, sb.kubeconfig)
        (new,) = wait_pods(sb, "default", "phoenix", running)
        assert new["metadata"]["name"] == old["metadata"]["name"]
        assert container(new)["restartCount"] == 1
    finally:
        control.stop(sb.state_dir)


# --------------------------------------------------------------------------- pure parts


def test_names_follow_kubernetes_alphabet() -> None:
    names = {pods.random_suffix() for _ in range(20)}
    assert len(names) > 1
    for name in names:
        assert re.fullmatch(r"[b-z2-9]{5}", name)
        assert not set(name) & set("aeiou01")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Container failed with exit code 137 (SIGKILL); restarting in 1s (restart 1)", 137),
        ("Container failed with exit code 3: boom; restarting in 2s (restart 2)", 3),
        ("the sandbox failed", 1),
    ],
)
def test_exit_codes_are_read_from_the_crash_message(message: str, code: int) -> None:
    assert pods._exit_code(message) == code


def _pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n"},
        "status": status,
    }


NOW = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pod", "ready", "status", "restarts"),
    [
        (_pod(phase="Pending"), "0/2", "Pending", "0"),
        (
            _pod(
                phase="Running",
                containerStatuses=[
                    {"ready": True, "state": {"running": {}}, "restartCount": 0},
                    {
                        "ready": False,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "restartCount": 4,
                        "lastState": {"terminated": {"finishedAt": "2026-01-01T00:09:30Z"}},
                    },
                ],
            ),
            "1/2",
            "CrashLoopBackOff",
            "4 (30s ago)",
        ),
        (
            _pod(
                phase="Running",
                containerStatuses=[
                    {"ready": False, "state": {"terminated": {"exitCode": 2}}, "restartCount": 0}
                ],
            ),
            "0/2",
            "ExitCode:2",
            "0",
        ),
        (
            _pod(
                phase="Running",
                containerStatuses=[
                    {"ready": False, "state": {"terminated": {"signal": 9}}, "restartCount": 0}
                ],
            ),
            "0/2",
            "Signal:9",
            "0",
        ),
        (
            _pod(
                phase="Running",
                conditions=[{"type": "Ready", "status": "True"}],
                containerStatuses=[
                    {"ready": False, "state": {"terminated": {"reason": "Completed"}}},
                    {"ready": True, "state": {"running": {}}},
                ],
            ),
            "1/2",
            "Running",
            "0",
        ),
        (_pod(phase="Failed", reason="Evicted"), "0/2", "Evicted", "0"),
    ],
)
def test_pod_rows_follow_kubectls_rules(
    pod: dict[str, Any], ready: str, status: str, restarts: str
) -> None:
    rt = Registry.default().get("", "v1", "pods")
    assert rt is not None
    table = tables.to_table(rt, [pod], resource_version="1", now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
        "IP",
        "Node",
        "Nominated Node",
        "Readiness Gates",
    ]
    cells = table["rows"][0]["cells"]
    assert cells[:5] == ["p", ready, status, restarts, "10m"]
    assert cells[5:] == ["<none>", "n", "<none>", "<none>"]


def test_a_deleted_pod_is_terminating() -> None:
    rt = Registry.default().get("", "v1", "pods")
    assert rt is not None
    pod = _pod(phase="Running")
    pod["metadata"]["deletionTimestamp"] = (NOW - timedelta(seconds=5)).isoformat()
    cells = tables.to_table(rt, [pod], resource_version="1", now=NOW)["rows"][0]["cells"]
    assert cells[2] == "Terminating"


def test_pod_status_from_each_runtime_state() -> None:
    mirror = pods.RevisionPods.__new__(pods.RevisionPods)
    base = {"spec": {"containers": [{"image": IMAGE}]}, "status": {}}
    starting = mirror._status(base, RuntimeStatus(None, "Deploying", "", 0, 1), 0, "")
    assert starting["phase"] == "Pending"
    assert starting["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    ready = mirror._status(base, RuntimeStatus(True, "", "", 1, 1), 0, "")
    assert ready["phase"] == "Running" and ready["containerStatuses"][0]["ready"] is True
    crash = mirror._status(
        {**base, "status": ready},
        RuntimeStatus(False, "CrashLoopBackOff", "Container failed with exit code 3", 0, 1),
        1,
        "2026-01-01T00:00:00Z",
    )
    c = crash["containerStatuses"][0]
    assert crash["phase"] == "Running" and c["restartCount"] == 1
    assert c["lastState"]["terminated"] == {
        "exitCode": 3,
        "reason": "Error",
        "finishedAt": "2026-01-01T00:00:00Z",
    }
    assert crash["startTime"] == ready["startTime"]
    back = mirror._status({**base, "status": crash}, RuntimeStatus(True, "", "", 1, 1), 1, "")
    assert back["containerStatuses"][0]["lastState"] == c["lastState"]  # kept after the restart
    conditions = {x["type"]: x for x in crash["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert (
        conditions["PodScheduled"]["lastTransitionTime"]
        == {x["type"]: x for x in ready["conditions"]}["PodScheduled"]["lastTransitionTime"]
    )


# --------------------------------------------------------------------------- Deployments


def deployment_pods(sb: Sandbox, ns: str, app: str) -> list[dict[str, Any]]:
    out = kubectl(sb, "get", "pods", "-n", ns, "-l", f"app={app}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def wait_deployment_pods(
    sb: Sandbox, ns: str, app: str, ok: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    items = deployment_pods(sb, ns, app)
    while not ok(items):
        assert time.monotonic() < deadline, json.dumps(items)[:2000]
        time.sleep(0.05)
        items = deployment_pods(sb, ns, app)
    return items


def test_a_deployment_gets_its_replicas_as_pods(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    kubectl(sandbox, "create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=2")
    deployment = json.loads(kubectl(sandbox, "get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    items = wait_deployment_pods(sandbox, ns, "web", lambda i: len(i) == 2)
    hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in items}
    assert len(hashes) == 1
    (rs,) = json.loads(kubectl(sandbox, "get", "rs", "-n", ns, "-o", "json").stdout)["items"]
    assert rs["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
    for pod in items:
        meta = pod["metadata"]
        assert re.fullmatch(r"web-[4-9bcdf]{1,10}-[b-z2-9]{5}", meta["name"])
        assert meta["name"].startswith(rs["metadata"]["name"] + "-")
        assert meta["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert "no container images" in meta["annotations"]["sandbox.knwalk.dev/simulated"]
        assert pod["spec"]["containers"][0]["image"] == "nginx:1.27"
        assert pod["status"]["phase"] == "Running" and container(pod)["ready"] is True
    rows = get_table(sandbox, ns)[1:]
    assert [r[1:4] for r in rows] == [["1/1", "Running", "0"]] * 2

    kubectl(sandbox, "patch", "deployment", "web", "-n", ns, "-p", '{"spec":{"replicas":3}}')
    grown = wait_deployment_pods(sandbox, ns, "web", lambda i: len(i) == 3)
    assert {p["metadata"]["name"] for p in items} <= {p["metadata"]["name"] for p in grown}

    kubectl(sandbox, "set", "image", "deployment/web", "-n", ns, "nginx=nginx:1.28")
    replaced = wait_deployment_pods(
        sandbox,
        ns,
        "web",
        lambda i: (
            len(i) == 3 and all(p["spec"]["containers"][0]["image"] == "nginx:1.28" for p in i)
        ),
    )
    new_hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in replaced}
    assert len(new_hashes) == 1 and new_hashes.isdisjoint(
        {p["metadata"]["labels"]["pod-template-hash"] for p in items}
    )

    victim = replaced[0]["metadata"]["name"]
    kubectl(sandbox, "delete", "pod", victim, "-n", ns, "--wait=false")
    refilled = wait_deployment_pods(
        sandbox,
        ns,
        "web",
        lambda i: len(i) == 3 and victim not in {p["metadata"]["name"] for p in i},
    )
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in refilled} == new_hashes

    kubectl(sandbox, "patch", "deployment", "web", "-n", ns, "-p", '{"spec":{"replicas":0}}')
    wait_deployment_pods(sandbox, ns, "web", lambda i: not i)
    kubectl(sandbox, "patch", "deployment", "web", "-n", ns, "-p", '{"spec":{"replicas":1}}')
    wait_deployment_pods(sandbox, ns, "web", lambda i: len(i) == 1)
    kubectl(sandbox, "delete", "deployment", "web", "-n", ns)
    wait_deployment_pods(sandbox, ns, "web", lambda i: not i)


def test_template_hashes_follow_the_template() -> None:
    from kn_walk.sandbox.node import deployments

    a = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"image": "x"}]}}
    b = {"spec": {"containers": [{"image": "x"}]}, "metadata": {"labels": {"app": "a"}}}
    c = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"image": "y"}]}}
    assert deployments.template_hash(a) == deployments.template_hash(b)  # key order is not content
    assert deployments.template_hash(a) != deployments.template_hash(c)
    # ComputeHash's form: the decimal FNV-32a value, each digit mapped onto the alphabet
    assert re.fullmatch(r"[4-9bcdf]{1,10}", deployments.template_hash(a))


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        (None, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        ({"requests": {"cpu": "1"}, "limits": {"cpu": "2", "memory": "1Gi"}}, "Burstable"),
    ],
)
def test_a_new_pod_is_pending_with_its_qos_class(
    sandbox: Sandbox, resources: dict[str, Any] | None, qos: str
) -> None:
    ns = new_namespace(sandbox)
    c: dict[str, Any] = {"name": "main", "image": "nginx:1.27"}
    if resources:
        c["resources"] = resources
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "solo"},
        "spec": {"containers": [c]},
    }
    proc = subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "create",
            "-n",
            ns,
            "-f",
            "-",
            "-o",
            "json",
        ],
        input=json.dumps(pod),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == {"phase": "Pending", "qosClass": qos}
    # the sandbox then answers for it as a kubelet would; the QoS class stays
    kubectl(
        sandbox,
        "wait",
        "-n",
        ns,
        "pod/solo",
        "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImageNotSupported",
    )
    solo = json.loads(kubectl(sandbox, "get", "pod", "solo", "-n", ns, "-o", "json").stdout)
    assert solo["status"]["phase"] == "Pending" and solo["status"]["qosClass"] == qos
    assert get_table(sandbox, ns)[1][1:4] == ["0/1", "ImageNotSupported", "0"]


# --------------------------------------------------------------------------- Events


def events_of(sb: Sandbox, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        kubectl(sb, "get", "events", "-n", ns, "-o", "json").stdout
    )["items"]
    return items


def wait_events(
    sb: Sandbox, ns: str, ok: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    items = events_of(sb, ns)
    while not ok(items):
        assert time.monotonic() < deadline, json.dumps(items)[:3000]
        time.sleep(0.05)
        items = events_of(sb, ns)
    return items


def reasons(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Pods' Events by reason (Knative's reconcilers record "Created" too)."""
    return {e["reason"]: e for e in items if e["involvedObject"]["kind"] == "Pod"}


def test_a_revision_pod_has_the_kubelets_events(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "told")
    (pod,) = wait_pods(sandbox, ns, "told", running)
    name = pod["metadata"]["name"]
    got = reasons(wait_events(sandbox, ns, lambda i: {"Scheduled", "Started"} <= set(reasons(i))))
    assert got["Scheduled"]["message"] == f"Successfully assigned {ns}/{name} to knwalk-sandbox"
    assert got["Scheduled"]["source"] == {"component": "default-scheduler"}
    assert got["Created"]["message"] == "Created container: user-container"
    started = got["Started"]
    assert started["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert started["involvedObject"]["fieldPath"] == "spec.containers{user-container}"
    assert started["source"] == {"component": "kubelet", "host": "knwalk-sandbox"}
    assert started["type"] == "Normal" and started["count"] == 1

    os.kill(int(pod["metadata"]["annotations"]["sandbox.knwalk.dev/pid"]), signal.SIGKILL)
    after = wait_events(
        sandbox, ns, lambda i: "BackOff" in reasons(i) and reasons(i)["Started"]["count"] == 2
    )
    backoff = reasons(after)["BackOff"]
    assert backoff["type"] == "Warning"
    assert backoff["message"] == (
        f"Back-off restarting failed container user-container in pod "
        f"{name}_{ns}({pod['metadata']['uid']})"
    )
    assert len([e for e in after if e["reason"] == "Started"]) == 1  # aggregated, count 2
    rows = get_table_of(sandbox, "events", ns)
    assert rows[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any(r[1:4] == ["Warning", "BackOff", f"pod/{name}"] for r in rows[1:])


def get_table_of(sb: Sandbox, resource: str, ns: str) -> list[list[str]]:
    return [line.split() for line in kubectl(sb, "get", resource, "-n", ns).stdout.splitlines()]


def test_event_rows_follow_kubectls_rules() -> None:
    rt = Registry.default().get("", "v1", "events")
    assert rt is not None
    event = {
        "metadata": {"name": "p.1", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "reason": "Started",
        "message": " Started container c \n",
        "source": {"component": "kubelet", "host": "node"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:09:00Z",
        "count": 3,
        "type": "Normal",
    }
    table = tables.to_table(rt, [event], resource_version="1", now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == [
        "Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message",
        "First Seen", "Count", "Name",
    ]  # fmt: skip
    assert [c["priority"] for c in table["columnDefinitions"]] == [0, 0, 0, 0, 1, 1, 0, 1, 1, 1]
    assert table["rows"][0]["cells"] == [
        "60s", "Normal", "Started", "pod/p", "spec.containers{c}",
        "kubelet, node", "Started container c", "10m", 3, "p.1",
    ]  # fmt: skip
    series = {
        **event,
        "lastTimestamp": None,
        "count": 0,
        "series": {"count": 7, "lastObservedTime": "2026-01-01T00:09:30Z"},
    }
    cells = tables.to_table(rt, [series], resource_version="1", now=NOW)["rows"][0]["cells"]
    assert (cells[0], cells[8]) == ("30s", 7)
    single = {**event, "count": 0, "involvedObject": {"kind": "Node"}, "source": {}}
    single["reportingComponent"] = "ctrl"
    cells = tables.to_table(rt, [single], resource_version="1", now=NOW)["rows"][0]["cells"]
    assert (cells[3], cells[5], cells[8]) == ("node", "ctrl", 1)


def test_describe_shows_a_pods_events_and_field_selectors_find_them(
    sandbox: Sandbox, api_client: Any
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "described")
    (pod,) = wait_pods(sandbox, ns, "described", running)
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    wait_events(sandbox, ns, lambda i: "Started" in reasons(i))
    described = kubectl(sandbox, "describe", "pod", name, "-n", ns).stdout
    events = described.split("\nEvents:\n", 1)[1].splitlines()
    assert events[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    rows = [line.split(None, 4) for line in events[2:]]
    assert [r[1] for r in rows] == ["Scheduled", "Created", "Started"]
    assert rows[2][3] == "kubelet" and rows[0][3] == "default-scheduler"

    core = client.CoreV1Api(api_client)
    by_uid = core.list_namespaced_event(ns, field_selector=f"involvedObject.uid={uid}")
    assert {e.reason for e in by_uid.items} == {"Scheduled", "Created", "Started"}
    kubelet = core.list_namespaced_event(
        ns, field_selector=f"source=kubelet,involvedObject.name={name},type=Normal"
    )
    assert {e.reason for e in kubelet.items} == {"Created", "Started"}
    first = core.list_namespaced_event(ns, field_selector="source=kubelet", limit=1)
    assert len(first.items) == 1 and first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_event(
        ns, field_selector="source=kubelet", limit=1, _continue=first.metadata._continue
    )
    assert len(rest.items) == 1 and not rest.metadata._continue
    assert {first.items[0].reason, rest.items[0].reason} == {"Created", "Started"}

    running_pods = core.list_namespaced_pod(ns, field_selector="status.phase=Running")
    assert [p.metadata.name for p in running_pods.items] == [name]
    assert core.list_namespaced_pod(ns, field_selector="status.phase!=Running").items == []
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(ns, field_selector="spec.bogus=1")
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == "field label not supported: spec.bogus"
    proc = kubectl(
        sandbox, "get", "pods", "-n", ns, "--field-selector", "spec.bogus=1", check=False
    )
    assert proc.stderr.strip() == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label '
        'selector "", field selector "spec.bogus=1": field label not supported: spec.bogus'
    )


def test_knatives_reconcilers_record_what_they_create(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "made")
    apply_service(sandbox, ns, "made", target="v2")

    def created(items: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
        return {
            (
                e["involvedObject"]["kind"],
                e["involvedObject"]["name"],
                e["message"],
                e["source"]["component"],
            )
            for e in items
            if e["reason"] == "Created" and e["type"] == "Normal"
        }

    want = {
        ("Service", "made", 'Created Configuration "made"', "service-controller"),
        ("Service", "made", 'Created Route "made"', "service-controller"),
        ("Configuration", "made", 'Created Revision "made-00001"', "configuration-controller"),
        ("Configuration", "made", 'Created Revision "made-00002"', "configuration-controller"),
    }
    wait_events(sandbox, ns, lambda i: want <= created(i))
    described = kubectl(sandbox, "describe", "ksvc", "made", "-n", ns).stdout
    assert 'Created Configuration "made"' in described.split("Events:", 1)[1]
