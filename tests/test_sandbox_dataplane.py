"""The whole sandbox answering HTTP like a Knative cluster: real processes, real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config

from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import GROUP, VERSION, ksvc, ready, wait_for

CURL = "/usr/bin/curl"


def _gateway(api_client: Any) -> str:
    svc = client.CoreV1Api(api_client).read_namespaced_service(
        "istio-ingressgateway", "istio-system"
    )
    ip = svc.status.load_balancer.ingress[0].ip
    port = next(p.port for p in svc.spec.ports if p.name == "http2")
    return f"http://{ip}:{port}"


def _curl(gateway: str, host: str) -> str:
    out = subprocess.run(
        [CURL, "-s", "-H", f"Host: {host}", gateway], capture_output=True, check=True, timeout=30
    )
    return out.stdout.decode()


def _deploy(api_client: Any, ns: str, name: str, target: str) -> dict[str, Any]:
    api = client.CustomObjectsApi(api_client)
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, ns, "services", ksvc(name, target))
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        body = {"spec": ksvc(name, target)["spec"]}
        api.patch_namespaced_custom_object(GROUP, VERSION, ns, "services", name, body)
    return wait_for(
        api_client,
        "services",
        ns,
        name,
        lambda o: (
            ready(o)
            and o["status"]["latestReadyRevisionName"]
            == o["status"].get("latestCreatedRevisionName")
            and all(
                t.get("revisionName") == o["status"]["latestReadyRevisionName"]
                for t in o["status"].get("traffic", [])
            )
        ),
    )


def _children(sandbox_pid: int) -> set[int]:
    """The revision processes a sandbox started (its direct children)."""
    out = subprocess.run(
        # -ww: whole command lines (without a terminal, ps cuts them at 80 columns)
        ["ps", "-ww", "-eo", "pid=,ppid=,args="],
        capture_output=True,
        text=True,
        check=True,
    )
    found = set()
    for line in out.stdout.splitlines():
        pid, ppid, *args = line.split()
        if int(ppid) == sandbox_pid and "kn_walk.sandbox.node.helloworld" in " ".join(args):
            found.add(int(pid))
    return found


@pytest.mark.skipif(not os.path.exists(CURL), reason="needs curl")
def test_walkthrough_over_http(api_client: Any, namespace: str) -> None:
    gw = _gateway(api_client)
    host = f"helloworld-go.{namespace}.example.com"
    _deploy(api_client, namespace, "helloworld-go", "Go Sample v1")
    assert _curl(gw, host) == "Hello Go Sample v1!\n"
    # case and port in Host are ignored; the in-cluster name is the cluster-local gateway's
    # (tests/test_sandbox_gateway_protocols.py): an empty 404 here
    assert _curl(gw, host.upper() + ":80") == "Hello Go Sample v1!\n"
    assert _curl(gw, f"helloworld-go.{namespace}.svc.cluster.local") == ""

    _deploy(api_client, namespace, "helloworld-go", "Go Sample v2")
    assert _curl(gw, host) == "Hello Go Sample v2!\n"

    block = [
        {"tag": "current", "revisionName": "helloworld-go-00002", "percent": 50},
        {"tag": "candidate", "revisionName": "helloworld-go-00001", "percent": 50},
        {"tag": "latest", "latestRevision": True, "percent": 0},
    ]
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", "helloworld-go", {"spec": {"traffic": block}}
    )
    wait_for(
        api_client,
        "services",
        namespace,
        "helloworld-go",
        lambda o: ready(o) and len(o["status"].get("traffic", [])) == 3,
    )
    with httpx.Client(base_url=gw, timeout=10) as h:
        seen = Counter(h.get("/", headers={"Host": host}).text for _ in range(400))
        assert set(seen) == {"Hello Go Sample v1!\n", "Hello Go Sample v2!\n"}
        for body, n in seen.items():
            assert 160 <= n <= 240, (body, seen)  # 40%..60% of 400
        for _ in range(20):
            assert h.get("/", headers={"Host": f"current-{host}"}).text == "Hello Go Sample v2!\n"
            assert h.get("/", headers={"Host": f"candidate-{host}"}).text == "Hello Go Sample v1!\n"
        assert h.get("/", headers={"Host": f"latest-{host}"}).text == "Hello Go Sample v2!\n"
        unknown = h.get("/", headers={"Host": f"nope.{namespace}.example.com"})
        assert unknown.status_code == 404
        r = h.get("/", headers={"Host": host})
        assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_unrunnable_image_is_not_ready(api_client: Any, namespace: str) -> None:
    api = client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("other", image="nginx:1.27")
    )

    def failed(o: dict[str, Any]) -> bool:
        return any(
            c["type"] == "Ready" and c["status"] == "False"
            for c in (o.get("status") or {}).get("conditions", [])
        )

    rev = wait_for(api_client, "revisions", namespace, "other-00001", failed)
    ready_cond = next(c for c in rev["status"]["conditions"] if c["type"] == "Ready")
    assert "helloworld-go" in ready_cond["message"]
    svc = wait_for(api_client, "services", namespace, "other", failed)
    cond = next(c for c in svc["status"]["conditions"] if c["type"] == "ConfigurationsReady")
    assert cond["reason"] == "RevisionFailed"


def test_scale_to_zero_crash_restart_and_no_leftovers(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path, stable_window=0.6, scale_to_zero_grace=0.3)
    try:
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        gw = _gateway(api)
        host = "app.default.example.com"
        _deploy(api, "default", "app", "zero")
        with httpx.Client(base_url=gw, timeout=10) as h:
            assert h.get("/", headers={"Host": host}).text == "Hello zero!\n"
            # no traffic: the revision scales to zero, staying Ready with no replicas
            rev = wait_for(
                api,
                "revisions",
                "default",
                "app-00001",
                lambda r: (r.get("status") or {}).get("actualReplicas") == 0,
                timeout=15,
            )
            assert any(
                c["type"] == "Ready" and c["status"] == "True" for c in rev["status"]["conditions"]
            )
            assert not _children(sb.info.pid)
            # the first request wakes it and is served
            assert h.get("/", headers={"Host": host}).text == "Hello zero!\n"
            wait_for(
                api,
                "revisions",
                "default",
                "app-00001",
                lambda r: (r.get("status") or {}).get("actualReplicas") == 1,
            )
            # a crashed process is restarted
            (victim,) = _children(sb.info.pid)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 15
            body = ""
            while time.monotonic() < deadline:
                r = h.get("/", headers={"Host": host})
                if r.status_code == 200:
                    body = r.text
                    break
            assert body == "Hello zero!\n"
            after = _children(sb.info.pid)
            assert after and victim not in after
        sandbox_pid = sb.info.pid
        control.stop(sb.state_dir)
        for pid in [*after, sandbox_pid]:
            assert not _alive(pid), pid
    finally:
        control.stop(sb.state_dir)


def test_kill_9_leaves_nothing_after_next_up(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path)
    try:
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        _deploy(api, "default", "k9", "k9")
        children = _children(sb.info.pid)
        assert children
        os.kill(sb.info.pid, signal.SIGKILL)
        info, started = control.start(sb.state_dir)
        assert started
        control.write_kubeconfig(info, sb.kubeconfig)
        for pid in children:
            assert not _alive(pid), pid
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        wait_for(api, "services", "default", "k9", ready)
        with httpx.Client(base_url=_gateway(api), timeout=10) as h:
            assert h.get("/", headers={"Host": "k9.default.example.com"}).text == "Hello k9!\n"
    finally:
        control.stop(sb.state_dir)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie; waits briefly for an exit in progress."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().split(") ", 1)[1][:1]
        except (FileNotFoundError, IndexError):
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def test_sandbox_fixture_gateway_port_matches(sandbox: Sandbox, api_client: Any) -> None:
    assert _gateway(api_client) == sandbox.info.gateway
