"""``kill -9`` of the sandbox during a stream of writes, then ``up`` again: nothing acknowledged is lost.

Writers create ConfigMaps (with a checksum of their payload), patch them and
create Knative Services while the sandbox is killed with SIGKILL once enough
writes were acknowledged. After ``up``:

* every acknowledged create is there, with its exact content; every
  acknowledged patch is there (or the one in flight when the kill came, which
  may or may not have been committed); nothing that was never sent exists;
* no object is partial: every payload matches its checksum, every Service the
  controller had seen gets its Configuration, Revision and Route;
* resourceVersions keep increasing across the restart;
* the old revision processes are gone and the ready Revision serves again from
  a new process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kn_walk import knative
from kn_walk.kube import connect
from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.loop_helpers import wait_pid_gone
from tests.test_reliability_support import sizes

NS = "default"
CM = f"/api/v1/namespaces/{NS}/configmaps"
KSVC = f"/apis/serving.knative.dev/v1/namespaces/{NS}/services"


def _http(sb: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.api,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=ssl.create_default_context(cafile=sb.ca),
        timeout=10,
    )


def _payload(name: str, size: int) -> tuple[str, str]:
    text = (name * (size // len(name) + 1))[:size]
    return text, hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Ledger:
    """What the writers sent and what the server acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, int] = field(default_factory=dict)  # configmap -> last acknowledged v
    unsure: dict[str, int] = field(default_factory=dict)  # configmap -> v in flight at the kill
    ksvc_acked: set[str] = field(default_factory=set)
    ksvc_unsure: set[str] = field(default_factory=set)
    max_rv: int = 0
    count: int = 0
    enough: threading.Event = field(default_factory=threading.Event)
    target: int = 0

    def ack(self, rv: str) -> None:
        with self.lock:
            self.count += 1
            self.max_rv = max(self.max_rv, int(rv))
            if self.count >= self.target:
                self.enough.set()


def _writer(sb: Sandbox, ledger: Ledger, wid: int, cycle: int, stop: threading.Event) -> None:
    """Create, patch, and now and then create a Service, until the connection fails."""
    with _http(sb) as h:
        i = 0
        while not stop.is_set() and i < 100_000:
            name = f"w{cycle}-{wid}-{i}"
            payload, digest = _payload(name, 2000 + 37 * (i % 50))
            body = {
                "metadata": {"name": name},
                "data": {"payload": payload, "sha": digest, "v": "0"},
            }
            with ledger.lock:
                ledger.unsure[name] = 0
            try:
                r = h.post(CM, json=body)
                assert r.status_code == 201, r.text
                with ledger.lock:
                    ledger.acked[name] = 0
                    del ledger.unsure[name]
                ledger.ack(r.json()["metadata"]["resourceVersion"])
                for v in (1, 2):
                    with ledger.lock:
                        ledger.unsure[name] = v
                    r = h.patch(
                        f"{CM}/{name}",
                        content=json.dumps({"data": {"v": str(v)}}),
                        headers={"Content-Type": "application/merge-patch+json"},
                    )
                    assert r.status_code == 200, r.text
                    with ledger.lock:
                        ledger.acked[name] = v
                        del ledger.unsure[name]
                    ledger.ack(r.json()["metadata"]["resourceVersion"])
                if wid == 0 and i % 5 == 0:
                    svc = f"s{cycle}-{i}"
                    with ledger.lock:
                        ledger.ksvc_unsure.add(svc)
                    manifest = knative.service_manifest(
                        svc, NS, knative.DeployOptions(image="registry.example.com/d:1")
                    )
                    r = h.post(KSVC, json=manifest)
                    assert r.status_code == 201, r.text
                    with ledger.lock:
                        ledger.ksvc_acked.add(svc)
                        ledger.ksvc_unsure.discard(svc)
                    ledger.ack(r.json()["metadata"]["resourceVersion"])
            except httpx.HTTPError:
                return  # the sandbox is gone: what was in flight stays "unsure"
            i += 1


def _revision_pids(state_dir: Path) -> dict[str, int]:
    data = json.loads((state_dir / "workloads" / "workloads.json").read_text())
    return {c["revision"]: c["pid"] for c in data["children"]}


def _hello(sb: Sandbox, host: str) -> httpx.Response:
    return httpx.get(sb.info.gateway, headers={"Host": host}, timeout=30, trust_env=False)


@pytest.mark.parametrize(("cycles", "writers", "acks"), sizes((1, 3, 150), (4, 8, 1500)))
def test_kill_9_during_writes_loses_nothing_acknowledged(
    tmp_path: Path, cycles: int, writers: int, acks: int
) -> None:
    sb = start_sandbox(tmp_path)
    ledger = Ledger()
    try:
        with connect(sb.kubeconfig, "knwalk-sandbox", NS) as kube:
            ready = knative.deploy(kube, "keep", knative.DeployOptions(), timeout=60)
        host = ready.service.url.split("://", 1)[1]
        assert _hello(sb, host).text == "Hello Go Sample v1!\n"
        for cycle in range(cycles):
            old_pids = _revision_pids(sb.state_dir)
            assert old_pids, "the ready revision runs a process"
            ledger.enough.clear()
            ledger.target = ledger.count + acks
            stop = threading.Event()
            threads = [
                threading.Thread(target=_writer, args=(sb, ledger, w, cycle, stop), daemon=True)
                for w in range(writers)
            ]
            for t in threads:
                t.start()
            assert ledger.enough.wait(120), "the writers stalled"
            os.kill(sb.info.pid, signal.SIGKILL)  # mid-stream: writers are still sending
            for t in threads:
                t.join(30)
                assert not t.is_alive()
            # the revision processes notice their sandbox died, even by kill -9
            for rev, pid in old_pids.items():
                assert wait_pid_gone(pid, 15), f"revision process {pid} ({rev}) outlived kill -9"
            sb = start_sandbox(tmp_path)  # `up` again over the same state
            _check(sb, ledger)
            # the ready revision serves again, from a new process
            assert _hello(sb, host).text == "Hello Go Sample v1!\n"
            new_pids = _revision_pids(sb.state_dir)
            assert new_pids and not set(new_pids.values()) & set(old_pids.values())
        log = (sb.state_dir / "sandbox.log").read_text()
        assert "internal error" not in log and "Traceback" not in log
    finally:
        control.stop(sb.state_dir)


def _check(sb: Sandbox, ledger: Ledger) -> None:
    with _http(sb) as h:
        listed = h.get(CM).json()
        list_rv = int(listed["metadata"]["resourceVersion"])
        found = {o["metadata"]["name"]: o for o in listed["items"]}
        ours = {n: o for n, o in found.items() if n.startswith("w")}
        for name, v in ledger.acked.items():
            assert name in ours, f"acknowledged {name} lost"
            got = int(ours[name]["data"]["v"])
            # an acknowledged patch is there; the next one may have landed before the kill
            assert got == v or (name in ledger.unsure and got == ledger.unsure[name]), name
        for name, obj in ours.items():
            assert name in ledger.acked or name in ledger.unsure, f"{name} was never sent"
            data = obj["data"]
            assert hashlib.sha256(data["payload"].encode()).hexdigest() == data["sha"], name
            assert int(obj["metadata"]["resourceVersion"]) <= list_rv
            assert obj["metadata"]["uid"] and obj["metadata"]["creationTimestamp"]
        assert list_rv >= ledger.max_rv
        # resourceVersions keep increasing after the restart
        r = h.post(CM, json={"metadata": {"name": f"after-{list_rv}"}})
        assert r.status_code == 201
        assert int(r.json()["metadata"]["resourceVersion"]) > ledger.max_rv
        services = {
            o["metadata"]["name"]
            for o in h.get(KSVC).json()["items"]
            if o["metadata"]["name"] != "keep"
        }
        assert ledger.ksvc_acked <= services
        assert services <= ledger.ksvc_acked | ledger.ksvc_unsure
    # every Service is reconciled completely (its children exist), even those whose
    # reconciliation the kill interrupted
    with connect(sb.kubeconfig, "knwalk-sandbox", NS) as kube:
        for name in sorted(services):
            route = kube.wait_for(
                knative.GROUP,
                knative.VERSION,
                "routes",
                name,
                lambda o: o is not None,
                timeout=20,
            )
            assert route is not None
            assert kube.get(knative.GROUP, knative.VERSION, "configurations", name) is not None
            assert kube.get(knative.GROUP, knative.VERSION, "revisions", f"{name}-00001")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Restart:
    """Kills the sandbox with SIGKILL once a watch of ``watched`` is open, starts it again
    on the same port, then sends ``after`` (path, merge patch), in a thread run by ``with``."""

    def __init__(self, sb: Sandbox, port: int, watched: str, after: tuple[str, Any]) -> None:
        from tests.test_reliability_support import Faults, counter

        self.sb, self.port, self.after = sb, port, after
        self.faults = Faults(sb)
        self.faults.set(counter("GET", watched, watch=True))  # tells when the watch is open
        self.done = threading.Event()
        self.problems: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Restart:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(60)
        self.faults.http.close()

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        while self.faults.hits() == [0]:  # condition + deadline: the watch is open
            if time.monotonic() > deadline:
                self.problems.append("the watch never opened")
                return
            threading.Event().wait(0.01)
        os.kill(self.sb.info.pid, signal.SIGKILL)
        info, _ = control.start(self.sb.state_dir, api_port=self.port)
        path, patch = self.after
        with _http(Sandbox(info, self.sb.kubeconfig, self.sb.state_dir)) as h:
            r = h.patch(
                path,
                content=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            if r.status_code != 200:
                self.problems.append(r.text)
        self.done.set()

    def check(self) -> None:
        assert not self.problems and self.done.is_set(), self.problems


def test_a_wait_outlives_a_sandbox_killed_and_started_again(tmp_path: Path) -> None:
    """knwalk is watching when the sandbox dies by kill -9; `up` again on the same port:
    the wait goes on (resumes from its resourceVersion, or re-lists) and sees the change
    made after the restart."""
    port = _free_port()
    sb = start_sandbox(tmp_path, api_port=port)
    after = (f"{KSVC}/w", {"metadata": {"labels": {"x": "after"}}})
    try:
        body = knative.service_manifest(
            "w", NS, knative.DeployOptions(image="registry.example.com/w:1")
        )
        with connect(sb.kubeconfig, "knwalk-sandbox", NS) as kube:
            kube.backoff_base = 0.05
            kube.create(knative.GROUP, knative.VERSION, "services", body)
            with Restart(sb, port, KSVC, after) as restart:
                obj = kube.wait_for(
                    knative.GROUP,
                    knative.VERSION,
                    "services",
                    "w",
                    lambda o: bool(o and (o["metadata"].get("labels") or {}).get("x") == "after"),
                    timeout=30,
                )
        restart.check()
        assert obj is not None
    finally:
        control.stop(sb.state_dir)


@pytest.mark.parametrize("command", ["deploy", "install"])
def test_an_api_server_restart_ends_the_same_way_for_install_and_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """The sandbox is killed with SIGKILL while the command waits on a watch, and started
    again on the same port: `knwalk install` and `knwalk deploy` share one wait, so both
    resume and finish (install used to give up: its own loop listed again at once, met
    the refused connection, and failed)."""
    from tests.test_cli_support import knwalk
    from tests.test_install import FIXTURES, make_bare

    # nobody gives the gateway an address but this test, after the restart
    monkeypatch.setenv("KNWALK_SANDBOX_LOAD_BALANCER", "0")
    port = _free_port()
    sb = start_sandbox(tmp_path / "sb", api_port=port)
    after: tuple[str, Any]
    if command == "install":
        make_bare(sb)
        watched = "/api/v1/namespaces/kourier-system/services"
        args = ["install", "--manifests", str(FIXTURES), "--ingress", "kourier"]
        args += ["--wait-timeout", "60"]
        after = (
            f"{watched}/kourier/status",
            {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
        )
    else:
        # the Route sends everything to a Revision that does not exist yet: the Service is
        # Ready=False (RevisionMissing) until the traffic goes back to @latest, after the
        # restart; --wait-window tolerates that for the whole wait
        manifest = tmp_path / "w.json"
        body = knative.service_manifest("w", NS, knative.DeployOptions())
        body["spec"]["traffic"] = [{"revisionName": "w-00009", "percent": 100}]
        manifest.write_text(json.dumps(body))
        watched = KSVC
        args = ["deploy", "-f", str(manifest), "-n", NS]
        args += ["--wait-timeout", "60", "--wait-window", "60"]
        after = (f"{KSVC}/w", {"spec": {"traffic": [{"latestRevision": True, "percent": 100}]}})
    try:
        env = {"KUBECONFIG": str(sb.kubeconfig), "XDG_CACHE_HOME": str(tmp_path / "cache")}
        with Restart(sb, port, watched, after) as restart:
            result = knwalk(*args, env=env)
        restart.check()
        assert result.code == 0, (result.out, result.err)
    finally:
        control.stop(sb.state_dir)
