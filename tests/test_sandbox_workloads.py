"""Revision processes: start, readiness, env, crash restarts, scale to zero, cleanup.

Real helloworld processes on real ports; the Workloads run on an event loop in a
background thread, as in the sandbox, and the tests wait on reported statuses
and process exits with deadlines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kn_walk.sandbox.node.workloads import (
    NotReady,
    RevisionWorkload,
    RuntimeStatus,
    Workloads,
    _proc_start_time,
    runnable,
    write_pid_file,
)
from tests.loop_helpers import LoopThread, StatusLog, ready, revision, wait_pid_gone

ROOT = str(Path(__file__).resolve().parent.parent)


def scaled_to_zero(status: RuntimeStatus) -> bool:
    return status.ready is True and status.reason == "NoTraffic" and status.actual_replicas == 0


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Plane:
    def __init__(self, tmp: Path, **kwargs: float) -> None:
        self.log = StatusLog()
        self.loop = LoopThread()
        self.workloads = Workloads(str(tmp / "state"), self.log, **kwargs)
        self.loop.run(self.workloads.start())

    def sync(self, revisions: list[RevisionWorkload], routed: list[str]) -> None:
        self.loop.call(self.workloads.sync, revisions, [("default", n) for n in routed])

    def pid(self, name: str) -> int:
        return self.loop.call(self.workloads.pids)[("default", name)]

    def get(self, name: str) -> str:
        host, port = self.loop.run(self.workloads.endpoint("default", name, 20))
        return httpx.get(f"http://{host}:{port}/", timeout=10).text

    def close(self) -> None:
        self.loop.run(self.workloads.stop())
        self.loop.close()


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    p = Plane(tmp_path, restart_backoff=0.2)
    yield p
    p.close()


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("gcr.io/knative-samples/helloworld-go", True),
        ("ghcr.io/knative/helloworld-go", True),
        ("ghcr.io/knative/helloworld-go:latest", True),
        ("docker.io/me/helloworld-go:v2", True),
        ("localhost:5000/x/helloworld-go", True),
        ("gcr.io/knative-samples/helloworld-go@sha256:" + "a" * 64, True),
        ("helloworld-go", False),
        ("gcr.io/knative-samples/helloworld-python", False),
        ("nginx", False),
        ("ghcr.io/knative/helloworld-go-evil", False),
        ("gcr.io/knative-samples/helloworld-go:bad tag", False),
    ],
)
def test_runnable_images(image: str, ok: bool) -> None:
    assert runnable(image) is ok


def test_revision_runs_with_its_env_and_becomes_ready(plane: Plane) -> None:
    plane.sync([revision("helloworld-go-00001", "Go Sample v1")], ["helloworld-go-00001"])
    plane.log.wait("helloworld-go-00001", lambda s: s.ready is None and s.reason == "Deploying")
    plane.log.wait("helloworld-go-00001", ready)
    assert plane.get("helloworld-go-00001") == "Hello Go Sample v1!\n"
    environ = Path(f"/proc/{plane.pid('helloworld-go-00001')}/environ").read_bytes()
    env = dict(item.split("=", 1) for item in environ.decode().split("\0") if "=" in item)
    assert env["TARGET"] == "Go Sample v1"
    assert env["K_REVISION"] == "helloworld-go-00001"
    assert env["K_CONFIGURATION"] == "helloworld-go"
    assert env["K_SERVICE"] == "helloworld-go"
    _, port = plane.loop.run(plane.workloads.endpoint("default", "helloworld-go-00001", 5))
    assert env["PORT"] == str(port)


def test_unsupported_image_is_not_ready_and_says_what_runs(plane: Plane) -> None:
    plane.sync([revision("web-00001", "x", image="nginx:1.25")], ["web-00001"])
    status = plane.log.wait("web-00001", lambda s: s.ready is False)
    assert status.reason == "ImageNotSupported"
    assert "nginx:1.25" in status.message
    assert "gcr.io/knative-samples/helloworld-go" in status.message
    with pytest.raises(NotReady) as err:
        plane.loop.run(plane.workloads.endpoint("default", "web-00001", 5))
    assert err.value.reason == "ImageNotSupported"
    assert plane.loop.call(plane.workloads.pids) == {}


def test_crashed_process_is_restarted(plane: Plane) -> None:
    plane.sync([revision("helloworld-go-00001", "Go Sample v1")], ["helloworld-go-00001"])
    plane.log.wait("helloworld-go-00001", ready)
    old = plane.pid("helloworld-go-00001")
    mark = plane.log.mark()
    os.kill(old, signal.SIGKILL)
    crash = plane.log.wait("helloworld-go-00001", lambda s: s.ready is False, since=mark)
    assert crash.reason == "CrashLoopBackOff"
    assert "exit code 137" in crash.message
    plane.log.wait("helloworld-go-00001", ready, since=mark)
    new = plane.pid("helloworld-go-00001")
    assert new != old
    assert plane.get("helloworld-go-00001") == "Hello Go Sample v1!\n"


def test_scale_to_zero_and_back(tmp_path: Path) -> None:
    p = Plane(tmp_path, stable_window=0.3, scale_to_zero_grace=0.2)
    try:
        p.sync([revision("helloworld-go-00001", "Go Sample v1")], ["helloworld-go-00001"])
        p.log.wait("helloworld-go-00001", ready)
        pid = p.pid("helloworld-go-00001")
        mark = p.log.mark()
        status = p.log.wait("helloworld-go-00001", scaled_to_zero, since=mark)
        assert status.desired_replicas == 0
        assert status.message == "The target is not receiving traffic."
        assert wait_pid_gone(pid)
        # the activator brings it back for the next request
        mark = p.log.mark()
        assert p.get("helloworld-go-00001") == "Hello Go Sample v1!\n"
        queued = p.log.wait("helloworld-go-00001", lambda s: s.reason == "Queued", since=mark)
        assert queued.ready is True  # a Revision scaled to zero stays Ready, as in Knative
        p.log.wait("helloworld-go-00001", ready, since=mark)
        assert p.pid("helloworld-go-00001") != pid
    finally:
        p.close()


def test_unrouted_revision_starts_then_is_not_kept_running(tmp_path: Path) -> None:
    p = Plane(tmp_path, stable_window=3600, scale_to_zero_grace=0.2)
    try:
        v1 = revision("helloworld-go-00001", "Go Sample v1")
        v2 = revision("helloworld-go-00002", "Go Sample v2")
        p.sync([v1, v2], ["helloworld-go-00001"])
        # a new revision starts (initial scale 1) so it can become Ready before it is routed
        p.log.wait("helloworld-go-00002", ready)
        pid2 = p.pid("helloworld-go-00002")
        p.log.wait("helloworld-go-00002", scaled_to_zero)
        assert wait_pid_gone(pid2)
        # the routed one keeps running; once unrouted it goes too
        p.log.wait("helloworld-go-00001", ready)
        pid1 = p.pid("helloworld-go-00001")
        assert alive(pid1)
        mark = p.log.mark()
        p.sync([v1, v2], ["helloworld-go-00002"])
        p.log.wait("helloworld-go-00001", scaled_to_zero, since=mark)
        assert wait_pid_gone(pid1)
    finally:
        p.close()


def test_removed_revision_is_stopped(plane: Plane) -> None:
    v1 = revision("helloworld-go-00001", "Go Sample v1")
    plane.sync([v1], ["helloworld-go-00001"])
    plane.log.wait("helloworld-go-00001", ready)
    pid = plane.pid("helloworld-go-00001")
    plane.sync([], [])
    assert wait_pid_gone(pid)
    assert plane.loop.call(plane.workloads.pids) == {}


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    p = Plane(tmp_path)
    revs = [revision(f"helloworld-go-0000{i}", f"v{i}") for i in (1, 2, 3)]
    p.sync(revs, [r.name for r in revs])
    for r in revs:
        p.log.wait(r.name, ready)
    pids = list(p.loop.call(p.workloads.pids).values())
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    p.close()
    assert not any(alive(pid) for pid in pids)


def test_orphans_of_a_killed_sandbox_are_cleaned_up(tmp_path: Path) -> None:
    """A helloworld left by a previous sandbox is stopped; an unrelated pid is left alone."""
    state = tmp_path / "state"
    env = {"PYTHONPATH": ROOT, "PORT": "0"}  # no KN_WALK_PARENT_PID: it would live on
    orphan = subprocess.Popen([sys.executable, "-m", "kn_walk.sandbox.node.helloworld"], env=env)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        write_pid_file(
            state,
            [
                {"pid": orphan.pid, "start_time": _proc_start_time(orphan.pid)},
                {"pid": bystander.pid, "start_time": _proc_start_time(bystander.pid)},
            ],
        )
        p = Plane(tmp_path)  # start() cleans up
        try:
            assert orphan.wait(15) is not None
            assert bystander.poll() is None
        finally:
            p.close()
    finally:
        for proc in (orphan, bystander):
            proc.kill()
            proc.wait()


SANDBOX_SCRIPT = """
import asyncio, sys
from kn_walk.sandbox.node.workloads import RevisionWorkload, Workloads

async def main():
    ready = asyncio.Event()
    w = Workloads(sys.argv[1], lambda ns, n, s: s.ready and ready.set())
    await w.start()
    image = "ghcr.io/knative/helloworld-go"
    rev = RevisionWorkload("default", "hw-00001", "u", image, (), None, 30)
    w.sync([rev], [("default", "hw-00001")])
    await ready.wait()
    print(w.pids()[("default", "hw-00001")], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_kill_9_of_the_sandbox_leaves_no_process(tmp_path: Path) -> None:
    sandbox = subprocess.Popen(
        [sys.executable, "-c", SANDBOX_SCRIPT, str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": ROOT},
        text=True,
    )
    assert sandbox.stdout is not None
    child = int(sandbox.stdout.readline())
    try:
        assert alive(child)
        sandbox.kill()
        sandbox.wait(10)
        assert wait_pid_gone(child), "the revision process outlived the sandbox"
        # and the next sandbox starts cleanly over the old pid file
        p = Plane(tmp_path)
        p.close()
    finally:
        sandbox.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    ("module", "ours"),
    [
        ("kn_walk.sandbox.node.helloworld", True),
        ("kn_walk.sandbox.helloworld", True),  # run by a sandbox from before the sub-packages
        ("kn_walk.sandbox.helloworld_not", False),
        ("other", False),
    ],
)
def test_revision_processes_are_known_by_their_module(module: str, ours: bool) -> None:
    """A state dir's recorded processes are adopted or stopped only when their command line
    runs the sample's module: this version's, or the one a sandbox before it ran."""
    from kn_walk.sandbox.node import workloads

    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", module]) as proc:
        try:
            cmdline = Path(f"/proc/{proc.pid}/cmdline")
            deadline = time.monotonic() + 10
            while b"time.sleep(30)" not in cmdline.read_bytes():  # until it has exec'd
                assert time.monotonic() < deadline
                time.sleep(0.01)
            start = workloads._proc_start_time(proc.pid)
            assert workloads._is_our_child(proc.pid, start) is ours
        finally:
            proc.kill()
