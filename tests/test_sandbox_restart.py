"""A restart of the sandbox is a restart of the control plane (issue 13, "Sandbox restarts").

`knwalk sandbox down` then `up` rewrites no Knative object whose state did not change: a
Ready Service, its Configuration, Route and Revision keep their resourceVersions and
condition times, watched with the kubernetes client from before the restart. The Revision's
process died with the sandbox and starts again as a container restarts in its Pod (the same
Pod, restartCount one more, the run before in lastState and `kubectl logs --previous`).
The API and gateway keep their ports across `up`s, and `up` says when one was taken. The
sample logs the port its Pod shows, not the one it really listens on. A client that goes
away (kubectl logs -f, a watch, a gateway request) costs no traceback in sandbox.log.
Real processes throughout: the sandbox server, kubectl, the kubernetes client, HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import GROUP, VERSION
from tests.test_cli_support import knwalk
from tests.test_sandbox_pods import (
    IMAGE,
    KUBECTL,
    apply_service,
    container,
    kubectl,
    new_namespace,
    pods_of,
    running,
    wait_pods,
)

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="needs /usr/bin/kubectl")

#: the Knative kinds a restart must leave alone, by plural
KNATIVE = ("services", "configurations", "routes", "revisions")


def _custom(sb: Sandbox) -> Any:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(sb.kubeconfig), context=control.CONTEXT)
    return client.CustomObjectsApi(api)


def _objects(sb: Sandbox, ns: str, names: Callable[[str], bool]) -> dict[tuple[str, str], Any]:
    """(plural, name) -> (resourceVersion, conditions) of the Knative objects ``names`` takes."""
    found = {}
    for plural in KNATIVE:
        out = kubectl(sb, "get", f"{plural}.{GROUP}", "-n", ns, "-o", "json").stdout
        for obj in json.loads(out)["items"]:
            if names(obj["metadata"]["name"]):
                found[(plural, obj["metadata"]["name"])] = (
                    obj["metadata"]["resourceVersion"],
                    obj["status"]["conditions"],
                )
    return found


def _is_ready(obj: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def _events_since(sb: Sandbox, ns: str, plural: str, rv: str, until: str) -> list[tuple[str, str]]:
    """(type, name) of every event of ``plural`` in ``ns`` after ``rv``, watched with the
    kubernetes client, up to the one that shows ``until`` Ready (a later write's)."""
    from kubernetes import watch

    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    stream = w.stream(
        _custom(sb).list_namespaced_custom_object,
        GROUP,
        VERSION,
        ns,
        plural,
        resource_version=rv,
        timeout_seconds=30,
    )
    for event in stream:
        obj = event["object"]
        seen.append((event["type"], obj["metadata"]["name"]))
        if obj["metadata"]["name"] == until and _is_ready(obj):
            w.stop()
            return seen
    raise AssertionError(f"{plural}: {until} never became Ready in the watch; saw {seen}")


def _restart(sb: Sandbox, how: str) -> control.SandboxInfo:
    if how == "down":
        control.stop(sb.state_dir)
    else:  # kill -9: nothing is written on the way out
        os.kill(sb.info.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while control.find(sb.state_dir).state != "stopped":
            assert time.monotonic() < deadline, "the killed sandbox still holds its state dir"
            time.sleep(0.02)
    info, started = control.start(sb.state_dir)
    assert started
    control.write_kubeconfig(info, sb.kubeconfig)
    return info


@pytest.mark.parametrize("how", ["down", "kill -9"])
def test_a_restart_rewrites_no_knative_object_and_restarts_the_container(
    tmp_path: Path, how: str
) -> None:
    sb = start_sandbox(tmp_path)
    try:
        apply_service(sb, "default", "hello")
        (pod,) = wait_pods(sb, "default", "hello", running)
        kubectl(sb, "wait", "ksvc/hello", "--for=condition=Ready", "--timeout=30s")
        before = _objects(sb, "default", lambda name: name.startswith("hello"))
        assert len(before) == 4
        # where the watches below begin: every event after this, across the restart
        listed = _custom(sb).list_namespaced_custom_object(GROUP, VERSION, "default", "services")
        rv0 = listed["metadata"]["resourceVersion"]
        assert rv0

        info = _restart(sb, how)
        (again,) = wait_pods(sb, "default", "hello", running)  # the process runs again
        # a Service made after the restart is Ready only once the controllers are long done
        # with what the restart brought: its events close each watch below
        apply_service(sb, "default", "fresh")
        kubectl(sb, "wait", "ksvc/fresh", "--for=condition=Ready", "--timeout=30s")
        for plural in KNATIVE:
            until = "fresh-00001" if plural == "revisions" else "fresh"
            events = _events_since(sb, "default", plural, rv0, until)
            assert [e for e in events if e[1].startswith("hello")] == [], (plural, events)
        assert _objects(sb, "default", lambda name: name.startswith("hello")) == before

        # in the same Pod: its container restarted
        assert container(again)["restartCount"] == 1
        assert again["metadata"]["name"] == pod["metadata"]["name"]
        assert again["metadata"]["uid"] == pod["metadata"]["uid"]
        pids = (pod, again)
        old_pid, new_pid = (p["metadata"]["annotations"]["sandbox.knwalk.dev/pid"] for p in pids)
        assert new_pid != old_pid
        c = container(again)
        terminated = c["lastState"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
        assert terminated["startedAt"] == container(pod)["state"]["running"]["startedAt"]
        assert ("finishedAt" in terminated) is (how == "down")  # a killed sandbox did not say
        events = kubectl(
            sb,
            "get",
            "events",
            "--field-selector",
            f"involvedObject.name={pod['metadata']['name']}",
        ).stdout
        assert "SandboxChanged" in events
        # each run's output: this one, and with --previous the one before the restart
        current = kubectl(sb, "logs", again["metadata"]["name"]).stdout
        previous = kubectl(sb, "logs", "--previous", again["metadata"]["name"]).stdout
        for run in (current, previous):
            assert run.count("helloworld: starting server...") == 1, run

        reply = httpx.get(info.gateway, headers={"Host": "hello.default.example.com"}, timeout=30)
        assert (reply.status_code, reply.text) == (200, "Hello v1!\n")
    finally:
        control.stop(sb.state_dir)


def test_a_revision_that_crashed_before_the_restart_gets_a_new_pod(tmp_path: Path) -> None:
    """Only a ready process is restarted in its Pod: one that was not (crash-looping) is
    started as a new Pod, as before."""
    sb = start_sandbox(tmp_path)
    try:
        apply_service(sb, "default", "hello")
        (pod,) = wait_pods(sb, "default", "hello", running)
        os.kill(int(pod["metadata"]["annotations"]["sandbox.knwalk.dev/pid"]), signal.SIGKILL)
        wait_pods(
            sb,
            "default",
            "hello",
            lambda items: (
                bool(items)
                and (container(items[0]).get("state") or {}).get("waiting", {}).get("reason")
                == "CrashLoopBackOff"
            ),
        )
        _restart(sb, "down")
        (new,) = wait_pods(sb, "default", "hello", running)
        assert new["metadata"]["name"] != pod["metadata"]["name"]
        assert container(new)["restartCount"] == 0
    finally:
        control.stop(sb.state_dir)


# --------------------------------------------------------------------------- ports


def _up(state: Path, kubeconfig: Path) -> tuple[Sandbox, str]:
    """``knwalk sandbox up`` (after ``down`` if it runs): the sandbox, and what up said."""
    control.stop(state)
    result = knwalk("sandbox", "up", "--state-dir", str(state), "--kubeconfig", str(kubeconfig))
    assert result.code == 0, result.err
    info = control.running(state)
    assert info is not None
    return Sandbox(info, kubeconfig, state), " ".join(result.out.split())  # any width


@pytest.fixture
def occupied() -> Iterator[Callable[[int], None]]:
    """Listen on a port of 127.0.0.1 for the test's length (someone else's server)."""
    socks: list[socket.socket] = []

    def occupy(port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        socks.append(sock)

    yield occupy
    for sock in socks:
        sock.close()


def test_up_takes_its_ports_again_and_says_when_one_was_taken(
    tmp_path: Path, occupied: Callable[[int], None]
) -> None:
    state, kubeconfig = tmp_path / "state", tmp_path / "kubeconfig"
    try:
        first, _ = _up(state, kubeconfig)
        second, out = _up(state, kubeconfig)
        ports = (first.info.api_port, first.info.gateway_port)
        assert (second.info.api_port, second.info.gateway_port) == ports
        assert "was taken" not in out
        assert (state / control.PORTS_FILE).stat().st_mode & 0o777 == 0o600

        control.stop(state)
        for port in ports:
            occupied(port)
        third, out = _up(state, kubeconfig)
        now = third.info.api_port, third.info.gateway_port
        assert now[0] != ports[0] and now[1] != ports[1]
        assert (
            f"port {ports[1]} was taken; the gateway now listens on {now[1]}: "
            "re-export INGRESS_PORT"
        ) in out
        assert (
            f"port {ports[0]} was taken; the API now listens on {now[0]}: "
            f"the {control.CONTEXT} context points there"
        ) in out
        # kubectl finds both where they are now: the context, and the gateway's Service
        http2 = 'jsonpath={.spec.ports[?(@.name=="http2")].port}'
        gateway = kubectl(
            third, "get", "svc/istio-ingressgateway", "-n", "istio-system", "-o", http2
        )
        assert gateway.stdout == str(now[1])

        # the new ports are remembered: the next up has them again, and says nothing
        fourth, out = _up(state, kubeconfig)
        assert (fourth.info.api_port, fourth.info.gateway_port) == now
        assert "was taken" not in out
    finally:
        control.stop(state)


# --------------------------------------------------------------------------- the sample's log


def _log_line(sb: Sandbox, ns: str, service: str) -> str:
    """The sample's "listening on port" line, from kubectl logs, once it is there."""
    deadline = time.monotonic() + 20
    while True:
        (pod,) = wait_pods(sb, ns, service, running)
        out = kubectl(sb, "logs", "-n", ns, pod["metadata"]["name"]).stdout
        lines = [line for line in out.splitlines() if "listening on port" in line]
        if lines:
            return lines[0]
        assert time.monotonic() < deadline, out
        time.sleep(0.05)


def test_the_sample_logs_the_port_its_pod_shows(sandbox: Sandbox) -> None:
    ns = new_namespace(sandbox)
    apply_service(sandbox, ns, "plain")
    assert _log_line(sandbox, ns, "plain").endswith("helloworld: listening on port 8080")
    ported = {"image": IMAGE, "ports": [{"containerPort": 9090}]}
    _custom(sandbox).create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "services",
        {
            "metadata": {"name": "ported"},
            "spec": {"template": {"spec": {"containers": [ported]}}},
        },
    )
    assert _log_line(sandbox, ns, "ported").endswith("helloworld: listening on port 9090")
    (pod,) = pods_of(sandbox, ns, "ported")
    spec = pod["spec"]["containers"][0]
    assert spec["ports"][0]["containerPort"] == 9090
    # the Pod shows the user's env and Knative's PORT, nothing of how the sandbox runs it
    assert {e["name"] for e in spec["env"]} == {
        "PORT",
        "K_REVISION",
        "K_CONFIGURATION",
        "K_SERVICE",
    }
    assert {"name": "PORT", "value": "9090"} in spec["env"]


# --------------------------------------------------------------------------- clients that leave


def test_clients_that_go_away_cost_no_traceback(tmp_path: Path) -> None:
    """kubectl logs -f and a watch killed while output keeps coming, gateway clients that
    reset mid-request: sandbox.log says nothing of them, least of all a traceback."""
    from kubernetes import client, config

    sb = start_sandbox(tmp_path)
    try:
        apply_service(sb, "default", "hello")
        (pod,) = wait_pods(sb, "default", "hello", running)
        name = pod["metadata"]["name"]
        log_file = Path(pod["metadata"]["annotations"]["sandbox.knwalk.dev/log"])
        follow = subprocess.Popen(
            [KUBECTL, "--kubeconfig", str(sb.kubeconfig), "logs", "-f", "--timestamps", name],
            stdout=subprocess.PIPE,
            text=True,
        )
        watching = subprocess.Popen(
            [KUBECTL, "--kubeconfig", str(sb.kubeconfig), "get", "configmaps", "-w"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout is not None and watching.stdout is not None
        assert "starting server" in follow.stdout.readline()  # both stream now
        kubectl(sb, "create", "configmap", "first")
        assert "first" in "".join(watching.stdout.readline() for _ in range(2))
        for proc in (follow, watching):
            proc.kill()
            proc.wait()
        # more to send to the clients that left
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(sb.kubeconfig)))
        with log_file.open("a") as out:
            for i in range(20):
                out.write(f"line {i}\n")
                out.flush()
                api.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        linger = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # on, 0 s: close sends a reset
        requests = (
            b"GET / HTTP/1.1\r\nHost: hello.default.example.com\r\n\r\n" * 50,
            b"POST / HTTP/1.1\r\nHost: hello.default.example.com\r\nContent-Length: 9999\r\n\r\nab",
        )
        for payload in requests:
            sock = socket.create_connection(("127.0.0.1", sb.info.gateway_port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            sock.sendall(payload)
            sock.close()
        # the gateway still answers; everything before this request has been handled
        reply = httpx.get(sb.info.gateway, headers={"Host": "hello.default.example.com"})
        assert reply.text == "Hello v1!\n"
        kubectl(sb, "get", "configmap", "c19")
    finally:
        control.stop(sb.state_dir)
    text = (sb.state_dir / control.LOG_FILE).read_text()
    assert "Traceback" not in text, text
    assert " WARNING " not in text and " ERROR " not in text, text
