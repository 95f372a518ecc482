"""``knwalk rollout`` on the sandbox: gated canaries that promote, roll back, stop and resume.

Every test drives the real CLI against the real sandbox (its gateway, its webhook, its
Revision processes). Bad candidates are made bad honestly: an image the sandbox cannot
run, or the gateway's fault injection for one Revision (``sandbox.knwalk.dev/fault``,
:mod:`kn_walk.sandbox.knative.revision_faults`). Steps are short (a few dozen requests); the
ones a test interrupts are long (a minute) and end early by what the test does: Ctrl-C,
``rollout abort``, ``knwalk split``, or the sandbox going down. Nothing sleeps: the tests
wait for lines the rollout prints, or watch the Service, with deadlines.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kn_walk import rollout as core
from kn_walk.sandbox import control
from kn_walk.sandbox.knative import revision_faults
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import wait_for
from tests.test_cli_support import Cluster, default_sigint, knwalk

V1, V2, V3 = "helloworld-go-00001", "helloworld-go-00002", "helloworld-go-00003"
BODY = {V1: "Hello Go Sample v1!\n", V2: "Hello Go Sample v2!\n"}
#: short steps: a few requests each, latency not judged unless the test says so
SHORT = ("--step-requests", "40", "--max-p99", "off", "--yes")
#: a step that lasts until the test ends it
LONG = ("--step-duration", "60s", "--max-p99", "off", "--yes")


# --------------------------------------------------------------------------- helpers


def manifest(tmp_path: Path, target: str, fault: str | None = None) -> Path:
    """The sample's Service manifest with TARGET=``target`` and, on its template, ``fault``."""
    annotations = (
        f'    metadata:\n      annotations:\n        {revision_faults.ANNOTATION}: "{fault}"\n'
        if fault
        else ""
    )
    text = (
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: helloworld-go\n"
        f"spec:\n  template:\n{annotations}    spec:\n      containers:\n"
        "        - image: gcr.io/knative-samples/helloworld-go\n"
        f'          env:\n            - name: TARGET\n              value: "{target}"\n'
    )
    path = tmp_path / f"svc-{abs(hash((target, fault)))}.yaml"
    path.write_text(text)
    return path


def sub(cluster: Cluster, command: str, *args: str) -> Any:
    """``knwalk rollout COMMAND`` in-process, in the test's namespace."""
    where = ("--kubeconfig", str(cluster.kubeconfig), "-n", cluster.namespace)
    return knwalk("rollout", command, *where, *args)


def state_of(cluster: Cluster) -> dict[str, Any]:
    raw = cluster.ksvc()["metadata"]["annotations"][core.ANNOTATION]
    doc: dict[str, Any] = json.loads(raw)
    return doc


def served(cluster: Cluster) -> list[tuple[str | None, str, int]]:
    """(tag, revision, percent) of the Route's status.traffic."""
    route = cluster.get("routes", "helloworld-go")
    assert route is not None
    return [(t.get("tag"), t["revisionName"], t["percent"]) for t in route["status"]["traffic"]]


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def at_step_one(cluster: Cluster) -> None:
    """Wait until the Route serves step 1's split (the candidate at 10%)."""

    def split(obj: dict[str, Any]) -> bool:
        traffic = (obj.get("status") or {}).get("traffic") or []
        return any(t.get("tag") == "candidate" and t.get("percent") == 10 for t in traffic)

    wait_for(cluster.api_client, "services", cluster.namespace, "helloworld-go", split, 60)


class Running:
    """``knwalk rollout ARGS`` as a child process; its stdout read line by line."""

    def __init__(self, kubeconfig: Path, namespace: str, *args: str) -> None:
        env = dict(os.environ, NO_COLOR="1", COLUMNS="80", PYTHONUNBUFFERED="1")
        env.pop("KUBECONFIG", None)
        where = ("--kubeconfig", str(kubeconfig), "-n", namespace)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kn_walk", "rollout", *where, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=default_sigint,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self.threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.err.append(self.proc.stderr.read())

    def wait_line(self, prefix: str, timeout: float = 60.0) -> str:
        """The first line from now on that starts with ``prefix``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no line {prefix!r} in {timeout}s: {''.join(self.out)}"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"exited before {prefix!r}: {''.join(self.out)}{self.err}"
            if line.startswith(prefix):
                return line

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        code = self.proc.wait(timeout)
        for t in self.threads:
            t.join(10)
        return code, "".join(self.out), " ".join("".join(self.err).split())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def v1(cluster: Cluster) -> Cluster:
    """helloworld-go deployed once: Revision 00001 serves 100%."""
    cluster.deploy()
    return cluster


# --------------------------------------------------------------------------- outcomes


def test_a_clean_rollout_ends_on_the_new_revision_with_the_walkthroughs_tags(v1: Cluster) -> None:
    result = v1.run("rollout", "--target", "Go Sample v2", *SHORT, "-o", "json")
    assert result.code == 0, result.err
    lines = json_lines(result.out)
    steps, end = lines[:-1], lines[-1]
    assert [(s["step"], s["percent"], s["passed"]) for s in steps] == [
        (1, 10, True),
        (2, 25, True),
        (3, 50, True),
        (4, 100, True),
    ]
    for s in steps:
        assert s["requests"]["candidate"]["count"] == 40
        assert s["requests"]["candidate"]["host"].startswith("candidate-helloworld-go.")
        assert s["requests"]["service"]["failed"] == 0
        assert s["traffic"]["candidate"] == {"revision": V2, "percent": s["percent"]}
        assert "the Route moves the weights" in s["knative"]
        assert s["split"]["checked"] is True
        # every answer came from one of the two Revisions, by its body
        assert {r["body"] for r in s["split"]["responses"] if r["count"]} <= set(BODY.values())
    assert end["error"] is None
    assert (end["rollout"]["phase"], end["rollout"]["step"]) == ("promoted", 4)
    # 100% follows the new Revision; current / candidate / latest as `knwalk split` names them
    spec = v1.ksvc()["spec"]["traffic"]
    assert [
        (t.get("tag"), t.get("revisionName"), t["percent"], t["latestRevision"]) for t in spec
    ] == [
        ("current", V2, 0, False),
        ("candidate", V1, 0, False),
        ("latest", None, 100, True),
    ]
    assert sorted(served(v1)) == [("candidate", V1, 0), ("current", V2, 0), ("latest", V2, 100)]
    state = state_of(v1)
    assert state["phase"] == "promoted" and len(state["results"]) == 4
    answer = v1.run("curl")
    assert (answer.code, answer.out) == (0, BODY[V2])


def test_an_erroring_candidate_is_rolled_back_in_one_write(v1: Cluster, tmp_path: Path) -> None:
    """The gateway answers 503 to half the candidate's requests: step 1 breaches 1%."""
    bad = manifest(tmp_path, "Go Sample v2", "abort=503 percent=50")
    result = v1.run("rollout", "-f", str(bad), *SHORT)
    result.assert_error(1)
    assert "rolled back at step 1 of 4 (10% to helloworld-go-00002)" in result.error
    assert "error rate" in result.error and "> 1% on the candidate" in result.error
    assert "HTTP 503" in result.error
    assert "--tag candidate" in result.error  # the candidate is kept to look at
    assert "Step 1 of 4: 10% to the candidate" in result.out
    assert "✗ error rate" in result.out
    assert sorted(served(v1)) == [("candidate", V2, 0), ("current", V1, 100)]
    state = state_of(v1)
    assert (state["phase"], state["reason"], state["step"]) == ("rolled-back", "GateFailed", 0)
    [step] = state["results"]
    assert step["passed"] is False and step["candidate"]["errorRate"] > 0.01
    assert [g["gate"] for g in step["gates"] if not g["passed"]] == ["errorRate"]
    # the candidate still answers on its tag URL, with its fault
    tagged = v1.run("curl", "--tag", "candidate", "--count", "20", "-o", "json")
    assert json.loads(tagged.out)["failures"]["HTTP 503"] > 0
    # knwalk status says the fault is on
    status = v1.run("status")
    assert f"FAULT {V2}: ({revision_faults.ANNOTATION}: abort=503 percent=50)" in status.out


def test_a_slow_candidate_is_rolled_back_on_its_p99(v1: Cluster, tmp_path: Path) -> None:
    """Every request to the candidate is held 300ms at the gateway; the gate is 100ms."""
    slow = manifest(tmp_path, "Go Sample v2", "delay=300ms")
    args = ("--step-requests", "20", "--max-p99", "100ms", "--yes", "-o", "json")
    result = v1.run("rollout", "-f", str(slow), *args)
    assert result.code == 1, result.err
    assert "p99" in result.error and "> 100ms on the candidate" in result.error
    [step, end] = json_lines(result.out)
    gates = {g["gate"]: g for g in step["gates"]}
    assert gates["p99"]["passed"] is False and gates["p99"]["value"] >= 300
    assert gates["errorRate"]["passed"] is True
    assert end["rollout"]["phase"] == "rolled-back"
    assert end["error"]["message"].startswith("rollout of service 'helloworld-go' rolled back")
    assert sorted(served(v1)) == [("candidate", V2, 0), ("current", V1, 100)]


def test_a_slow_candidate_is_rolled_back_on_its_p50_alone(v1: Cluster, tmp_path: Path) -> None:
    """--max-p99 off, --max-p50 100ms: the p50 gate judges on its own."""
    slow = manifest(tmp_path, "Go Sample v2", "delay=300ms")
    args = ("--step-requests", "20", "--max-p99", "off", "--max-p50", "100ms", "--yes")
    result = v1.run("rollout", "-f", str(slow), *args, "-o", "json")
    assert result.code == 1, result.err
    assert "p50" in result.error and "> 100ms on the candidate" in result.error
    [step, end] = json_lines(result.out)
    gates = {g["gate"]: g for g in step["gates"]}
    assert set(gates) == {"errorRate", "p50"}
    assert gates["p50"]["passed"] is False and gates["p50"]["value"] >= 300
    assert end["rollout"]["gates"] == {"maxErrorRate": 0.01, "maxP99Ms": None, "maxP50Ms": 100.0}
    assert sorted(served(v1)) == [("candidate", V2, 0), ("current", V1, 100)]


def test_a_template_changed_during_the_rollout_is_not_promoted_with_it(v1: Cluster) -> None:
    """`knwalk deploy` of another template while the rollout runs: its Revision
    (00003) was never judged, so promotion pins the candidate at 100% instead of
    `latestRevision: true`, which would hand 00003 all the traffic once it became
    Ready (here it never does: an image the sandbox cannot run, as a slow image pull
    on a cluster that has not finished yet)."""
    steps = ("--steps", "10,100", "--step-duration", "4s", "--max-p99", "off", "--yes")
    run = Running(v1.kubeconfig, v1.namespace, "--target", "Go Sample v2", *steps)
    try:
        at_step_one(v1)
        other = v1.run("deploy", "--image", "docker.io/library/nginx")
        assert "helloworld-go-00003" in other.out + other.error
        code, out, err = run.finish()
    finally:
        run.kill()
    assert code == 0, (out, err)
    assert f"promoted {V2} after 2 steps (pinned: {V3} is newer, so not @latest)" in out
    spec = v1.ksvc()["spec"]["traffic"]
    assert [(t.get("tag"), t.get("revisionName"), t["percent"]) for t in spec] == [
        ("current", V2, 100),
        ("candidate", V1, 0),
    ]
    assert not any(t.get("latestRevision") for t in spec)


def test_a_terminal_shows_a_progress_bar_per_step(v1: Cluster) -> None:
    """On a terminal each step draws a rich progress bar with the requests sent and the
    share failed, to the service and to the candidate, as they go."""
    import re

    from tests.test_cli_cluster import run_in_terminal

    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    env.pop("KUBECONFIG", None)
    env.pop("NO_COLOR", None)
    where = ["--kubeconfig", str(v1.kubeconfig), "-n", v1.namespace]
    load = ["--steps", "50,100", "--step-duration", "1s", "--rate", "100/s", "--max-p99", "off"]
    args = ["rollout", *where, "--target", "Go Sample v2", *load, "--yes"]
    code, out = run_in_terminal(args, env, [])
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert code == 0, plain
    for n in (1, 2):
        bar = rf"step {n} [━╸╺ ]+ service \d+, 0\.0% failed; candidate \d+, 0\.0% failed"
        assert re.search(bar, plain), plain
    assert "promoted helloworld-go-00002 after 2 steps" in plain


def test_a_split_the_gateway_does_not_honour_is_said_at_each_step(v1: Cluster) -> None:
    """A gateway (a local HTTP server standing in for one) that sends every request for the
    Service's host to the current Revision and only the tag host to the candidate: the
    candidate passes its gates, but each step says the observed split is not the one
    configured, with the chi-square verdict, in text and in -o json."""
    from tests.test_cli_curl import FakeGateway

    bodies = {"current": BODY[V1], "candidate": BODY[V2]}

    def answer(n: int, host: str, path: str) -> tuple[int, str]:
        return 200, bodies["candidate" if host.startswith("candidate-") else "current"]

    args = ("--steps", "10,100", "--step-requests", "200", "--max-p99", "off", "--yes")
    with FakeGateway(answer) as gw:
        text = v1.run("rollout", "--target", "Go Sample v2", "--gateway", gw.url, *args)
        assert text.code == 0, text.err
        assert "Split: NOT consistent with 90/10 (chi-square p = " in text.out
        assert "Split: NOT consistent with 0/100 (chi-square p = " in text.out
        assert v1.run("split", "@latest").code == 0
        bodies.update(current=BODY[V2], candidate="Hello Go Sample v3!\n")
        doc = v1.run(
            "rollout", "--target", "Go Sample v3", "--gateway", gw.url, *args, "-o", "json"
        )
    assert doc.code == 0, doc.err
    steps = json_lines(doc.out)[:-1]
    for s in steps:
        assert s["split"]["checked"] is True
        assert s["split"]["verdict"]["consistent"] is False
        assert s["split"]["verdict"]["pValue"] < s["split"]["verdict"]["alpha"]
    assert [r["split"]["consistent"] for r in state_of(v1)["results"]] == [False, False]


def test_a_gateway_that_routes_nothing_judges_nothing(v1: Cluster) -> None:
    """A gateway that does not route the Service at all (the wrong one, given or found):
    not one answer, to the Service's host nor to the tag's, succeeds, though 90% should
    reach the current Revision. The candidate is not blamed: the step is void and the
    rollout stops, resumable."""
    from tests.test_cli_curl import FakeGateway

    with FakeGateway(lambda n, host, path: (404, "")) as gw:
        result = v1.run("rollout", "--target", "Go Sample v2", "--gateway", gw.url, *SHORT)
    result.assert_error(1)
    assert "stopped at step 1 of 4" in result.error and "rolled back" not in result.error
    assert f"the gateway {gw.url} answered none of the 80 requests" in result.error
    assert "HTTP 404: 80" in result.error and "does it route service 'helloworld-go'" in (
        result.error
    )
    state = state_of(v1)
    assert (state["phase"], state["reason"], state["results"]) == ("paused", "StepVoid", [])


def candidate_pod(cluster: Cluster, revision: str) -> dict[str, Any]:
    """The Pod of ``revision``'s process (one per Revision on the sandbox), as a dict."""
    from kubernetes import client

    pods = client.CoreV1Api(cluster.api_client).list_namespaced_pod(
        cluster.namespace, label_selector=f"serving.knative.dev/revision={revision}"
    )
    [pod] = pods.items
    doc: dict[str, Any] = cluster.api_client.sanitize_for_serialization(pod)
    return doc


def test_a_candidate_process_that_dies_under_traffic_is_rolled_back(v1: Cluster) -> None:
    """The candidate's process is killed (SIGKILL) while step 1 sends to it: the requests
    in flight and those sent while it restarts fail at the gateway (502/503), and the
    rollout rolls back on the error rate. Steps of 400 requests at 50/s, about 8 s."""
    run = Running(
        v1.kubeconfig,
        v1.namespace,
        "--target",
        "Go Sample v2",
        "--step-requests",
        "400",
        "--rate",
        "50/s",
        "--max-p99",
        "off",
        "--yes",
    )
    try:
        at_step_one(v1)
        pod = candidate_pod(v1, V2)
        os.kill(int(pod["metadata"]["annotations"]["sandbox.knwalk.dev/pid"]), signal.SIGKILL)
        code, out, err = run.finish()
    finally:
        run.kill()
    assert code == 1, (out, err)
    assert "rolled back at step 1 of 4 (10% to helloworld-go-00002)" in err
    assert "error rate" in err and "> 1% on the candidate" in err
    assert "HTTP 50" in err  # 502 (connection lost) or 503 (refused while it restarts)
    assert "Traceback" not in err
    assert sorted(served(v1)) == [("candidate", V2, 0), ("current", V1, 100)]
    state = state_of(v1)
    assert (state["phase"], state["reason"]) == ("rolled-back", "GateFailed")
    # the process came back (a container restart, as kubelet's): the candidate is kept to
    # look at, and answers on its tag URL again
    deadline = time.monotonic() + 30
    while not any(
        c["name"] == "user-container" and c["restartCount"] >= 1 and c["ready"]
        for c in candidate_pod(v1, V2)["status"]["containerStatuses"]
    ):
        assert time.monotonic() < deadline, "the candidate's container never restarted"
        time.sleep(0.05)
    tagged = v1.run("curl", "--tag", "candidate")
    assert (tagged.code, tagged.out) == (0, BODY[V2])


def test_a_candidate_that_never_becomes_ready_moves_no_traffic(v1: Cluster) -> None:
    result = v1.run("rollout", "--image", "docker.io/library/nginx", *SHORT)
    result.assert_error(1)
    assert "stopped before moving any traffic" in result.error
    assert f"the candidate Revision {V2} never became Ready" in result.error
    assert "ImageNotSupported" in result.error  # the Revision's own reason
    assert "100% still goes to helloworld-go-00001" in result.error
    assert "Step 1" not in result.out
    assert served(v1) == [("current", V1, 100)]
    state = state_of(v1)
    assert (state["phase"], state["reason"], state["candidate"]) == (
        "failed",
        "CandidateNotReady",
        V2,
    )
    # not in progress: a fixed template rolls out
    fixed = v1.run("rollout", "--image", "gcr.io/knative-samples/helloworld-go", *SHORT)
    assert fixed.code == 0, fixed.err
    assert state_of(v1)["candidate"] == V3


# --------------------------------------------------------------------------- stopping


def test_ctrl_c_at_a_step_stops_safely_then_resume_finishes(v1: Cluster) -> None:
    run = Running(v1.kubeconfig, v1.namespace, "--target", "Go Sample v2", *LONG)
    try:
        run.wait_line("Step 1 of 4: 10% to the candidate")
        run.proc.send_signal(signal.SIGINT)
        code, out, err = run.finish()
    finally:
        run.kill()
    assert code == 130, (out, err)
    assert err.startswith("Error: rollout of service 'helloworld-go' stopped at step 1 of 4")
    assert "the split was left as it is" in err
    assert "knwalk rollout resume helloworld-go" in err
    assert "knwalk rollout abort helloworld-go" in err
    assert "Traceback" not in err
    state = state_of(v1)
    assert (state["phase"], state["reason"], state["step"]) == ("paused", "Interrupted", 0)
    assert sorted(served(v1)) == [("candidate", V2, 10), ("current", V1, 90)]
    # from any shell: the status says where it stopped; a second rollout is refused
    status = sub(v1, "status")
    assert "paused (Interrupted)" in status.out and "knwalk rollout resume" in status.out
    second = v1.run("rollout", "--target", "Go Sample v3", *SHORT)
    second.assert_error(1)
    assert "a rollout of service 'helloworld-go' is in progress" in second.error
    # resume runs step 1 again, and the rest; shorter steps this time
    resumed = sub(v1, "resume", "--yes", "--step-requests", "30", "-o", "json")
    assert resumed.code == 0, resumed.err
    steps = json_lines(resumed.out)[:-1]
    assert [(s["step"], s["requests"]["candidate"]["count"]) for s in steps] == [
        (1, 30),
        (2, 30),
        (3, 30),
        (4, 30),
    ]
    state = state_of(v1)
    assert (state["phase"], state["load"]["stepRequests"]) == ("promoted", 30)
    assert state["gates"]["maxP99Ms"] is None  # the rest of the settings as they started


def test_abort_sends_everything_back_and_the_running_rollout_stops(v1: Cluster) -> None:
    run = Running(v1.kubeconfig, v1.namespace, "--target", "Go Sample v2", *LONG)
    try:
        at_step_one(v1)
        # from another shell, while it runs: where it is, and no `resume` (it would be refused)
        status = sub(v1, "status")
        assert status.code == 0, status.err
        assert f"running (pid {run.proc.pid} on {socket.gethostname()})" in status.out
        assert "at step 1 of 4 (10% to the candidate)" in status.out
        assert "knwalk rollout resume" not in status.out
        assert "knwalk rollout abort helloworld-go" in status.out
        # nor a second rollout, nor a resume, while it runs
        second = v1.run("rollout", "--target", "Go Sample v3", *SHORT)
        second.assert_error(1)
        assert f"a rollout of service 'helloworld-go' is running by pid {run.proc.pid}" in (
            second.error
        )
        resumed = sub(v1, "resume", "--yes")
        resumed.assert_error(1)
        assert f"the rollout of service 'helloworld-go' is running, by pid {run.proc.pid}" in (
            resumed.error
        )
        aborted = sub(v1, "abort", "--yes")
        code, out, err = run.finish()
    finally:
        run.kill()
    assert aborted.code == 0, aborted.err
    assert "aborted at step 1 of 4" in aborted.out and "all traffic back on" in aborted.out
    assert code == 1, (out, err)
    assert "was taken over meanwhile: it is now aborted" in err
    assert sorted(served(v1)) == [("candidate", V2, 0), ("current", V1, 100)]
    assert state_of(v1)["phase"] == "aborted"
    again = sub(v1, "abort", "--yes")
    again.assert_error(1)
    assert "no rollout of service 'helloworld-go' is in progress" in again.error


def test_a_concurrent_split_stops_the_rollout_and_is_kept(v1: Cluster) -> None:
    run = Running(v1.kubeconfig, v1.namespace, "--target", "Go Sample v2", *LONG)
    try:
        at_step_one(v1)
        split = v1.run("split", "50/50")
        assert split.code == 0, split.err
        code, out, err = run.finish()
    finally:
        run.kill()
    assert code == 1, (out, err)
    assert "was changed by someone else during the rollout" in err
    assert "left it as it is" in err
    # the user's split stands: the walkthrough's 50/50 block, not overwritten
    spec = v1.ksvc()["spec"]["traffic"]
    assert [(t.get("tag"), t.get("revisionName"), t["percent"]) for t in spec] == [
        ("current", V2, 50),
        ("candidate", V1, 50),
        ("latest", None, 0),
    ]
    state = state_of(v1)
    assert (state["phase"], state["reason"]) == ("paused", "TrafficChanged")
    resumed = sub(v1, "resume", "--yes")
    resumed.assert_error(1)
    assert "was changed since the rollout stopped" in resumed.error


def test_the_service_deleted_mid_step_ends_the_rollout_without_a_resume_hint(
    v1: Cluster,
) -> None:
    """`knwalk delete` during a step: the rollout's state went with the Service, so the
    rollout ends saying so, and does not offer `resume` or `abort`, which would fail."""
    run = Running(v1.kubeconfig, v1.namespace, "--target", "Go Sample v2", *LONG, "-o", "json")
    try:
        at_step_one(v1)
        deleted = v1.run("delete", "--yes")
        assert deleted.code == 0, deleted.err
        code, out, err = run.finish()
    finally:
        run.kill()
    assert code == 1, (out, err)
    assert err.startswith("Error: rollout of service 'helloworld-go' ended at step 1 of 4")
    assert "service 'helloworld-go' was deleted" in err
    assert "knwalk rollout resume" not in err and "knwalk rollout abort" not in err
    assert "deploy it again" in err and "Traceback" not in err
    [end] = json_lines(out)
    assert (end["rollout"]["phase"], end["rollout"]["reason"]) == ("aborted", "ServiceDeleted")


def test_a_gateway_refusing_connections_ends_the_step_at_once_resumably(v1: Cluster) -> None:
    """The step would send for 60 s, but its answers can judge nothing once the gateway
    refuses a connection: the rollout stops within a moment, at step 1, resumable, and the
    candidate is not judged."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    run = Running(
        v1.kubeconfig, v1.namespace, "--target", "Go Sample v2", "--gateway", closed, *LONG
    )
    try:
        run.wait_line("Step 1 of 4: 10% to the candidate")
        started = time.monotonic()
        code, out, err = run.finish(timeout=30)
        assert code == 1, (out, err)
        assert time.monotonic() - started < 20
        assert "refused" in err and "stopped at step 1 of 4" in err, err
        assert "knwalk rollout resume helloworld-go" in err and "Traceback" not in err
        state = state_of(v1)
        assert state["phase"] in ("running", "paused") and state["results"] == []
    finally:
        run.kill()


def test_a_gateway_certificate_that_fails_verification_judges_nothing(
    v1: Cluster, tmp_path: Path
) -> None:
    """An https gateway whose certificate is not trusted (auto-TLS not issued yet, a
    self-signed one): every request fails before reaching any Revision, so the step
    judges nothing and the rollout stops at once, resumable, instead of rolling back a
    candidate on failures that were not its own."""
    from tests.test_load import RawServer, _ok

    with RawServer(lambda n: _ok(BODY[V2].encode()), tls=tmp_path) as gw:
        started = time.monotonic()
        result = v1.run("rollout", "--target", "Go Sample v2", "--gateway", gw.url, *LONG)
        assert time.monotonic() - started < 30  # the 60 s step ended at the first failures
    result.assert_error(1)
    assert "stopped at step 1 of 4" in result.error
    assert "tls error" in result.error and "judge nothing" in result.error
    assert "knwalk rollout resume helloworld-go" in result.error
    assert "rolled back" not in result.error
    state = state_of(v1)
    assert (state["phase"], state["reason"], state["results"]) == ("paused", "StepVoid", [])
    assert sorted(served(v1)) == [("candidate", V2, 10), ("current", V1, 90)]


@pytest.mark.parametrize("how", ["kill -9", "down"])
def test_the_sandbox_going_away_mid_step_stops_the_rollout_resumably(
    tmp_path: Path, how: str
) -> None:
    sb: Sandbox = start_sandbox(tmp_path)
    run: Running | None = None
    try:
        ns = ("--kubeconfig", str(sb.kubeconfig), "-n", "default")
        deployed = knwalk("deploy", *ns)
        assert deployed.code == 0, deployed.err
        run = Running(sb.kubeconfig, "default", "--target", "Go Sample v2", *LONG)
        run.wait_line("Step 1 of 4: 10% to the candidate")
        if how == "kill -9":
            os.kill(sb.info.pid, signal.SIGKILL)
        else:
            control.stop(sb.state_dir)
        control.start(sb.state_dir)  # up again, on the same ports, from the same state
        code, out, err = run.finish()
        assert code == 1, (out, err)
        assert "stopped at step 1 of 4" in err
        assert "knwalk rollout resume helloworld-go" in err and "Traceback" not in err
        # the state survived: at step 1, nothing judged, the split where it was
        status = knwalk("rollout", "status", *ns, "-o", "json")
        doc = json.loads(status.out)
        state = doc["rollout"]
        assert state["phase"] in ("running", "paused") and state["step"] == 0
        assert state["results"] == [] and state["candidate"] == V2
        assert sorted((t["tag"], t["percent"]) for t in doc["traffic"]) == [
            ("candidate", 10),
            ("current", 90),
        ]
        # resumed on the sandbox that came back: step 1 again, then the rest
        resumed = knwalk("rollout", "resume", *ns, "--yes", "--step-requests", "20")
        assert resumed.code == 0, resumed.err
        assert "promoted helloworld-go-00002 after 4 steps" in resumed.out
    finally:
        if run is not None:
            run.kill()
        control.stop(sb.state_dir)


# --------------------------------------------------------------------------- the sandbox's faults


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("abort=999", "abort=999 is not an HTTP status from 200 to 599"),
        ("abort=503 delay=1s", "give exactly one of abort=STATUS and delay=DURATION"),
        ("percent=50", "give exactly one of abort=STATUS and delay=DURATION"),
        ("delay=1x", "delay=1x is not a duration from 1ms to 10m"),
        ("delay=11m", "delay=11m is not a duration from 1ms to 10m"),
        ("abort=503 percent=0", "percent=0 is not a number above 0 and at most 100"),
        ("abort=503 percent=101", "percent=101 is not a number above 0 and at most 100"),
        ("abort=503 abort=500", "abort is given twice"),
        ("status=503", "'status=503' is not abort=STATUS, delay=DURATION or percent=P"),
        ("abort=", "abort has no value"),
    ],
)
def test_a_bad_fault_is_refused_by_the_webhook_saying_why(
    cluster: Cluster, tmp_path: Path, value: str, why: str
) -> None:
    result = cluster.run("deploy", "-f", str(manifest(tmp_path, "x", value)))
    result.assert_error(1)
    path = f"spec.template.metadata.annotations.{revision_faults.ANNOTATION}"
    assert f"invalid value: {value}: {path}" in result.error
    assert why in result.error
    assert "sandbox fault injection" in result.error
    assert cluster.get("services", "helloworld-go") is None


def test_a_revisions_fault_is_injected_by_the_gateway_only_while_annotated(
    v1: Cluster,
) -> None:
    """kubectl annotate on the Revision itself: the gateway answers for it; the annotation
    removed, it is gone. A bad value on a Revision is refused as on a template."""
    kubectl = ["kubectl", "--kubeconfig", str(v1.kubeconfig), "-n", v1.namespace]

    def annotate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*kubectl, "annotate", "revision", V1, "--overwrite", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def answers(done: Any) -> dict[str, Any]:
        """curl 20 times until ``done(document)`` (the gateway takes in a changed annotation
        right after the API's answer, not with it), within a deadline."""
        deadline = time.monotonic() + 30
        while True:
            doc: dict[str, Any] = json.loads(v1.run("curl", "--count", "20", "-o", "json").out)
            if done(doc) or time.monotonic() > deadline:
                return doc

    refused = annotate(f"{revision_faults.ANNOTATION}=abort=42")
    assert refused.returncode != 0
    assert f"metadata.annotations.{revision_faults.ANNOTATION}" in refused.stderr
    assert "abort=42 is not an HTTP status from 200 to 599" in refused.stderr

    assert annotate(f"{revision_faults.ANNOTATION}=delay=200ms").returncode == 0
    slow = answers(lambda d: d["latency"]["overall"]["min"] >= 200)
    assert slow["latency"]["overall"]["min"] >= 200  # every request held 200ms first
    assert slow["statusCodes"] == {"200": 20}

    assert annotate(f"{revision_faults.ANNOTATION}=abort=418").returncode == 0
    doc = answers(lambda d: d["statusCodes"] == {"418": 20})
    assert doc["statusCodes"] == {"418": 20} and doc["failures"] == {"HTTP 418": 20}
    one = v1.run("curl")
    assert (one.code, one.out) == (1, "fault filter abort")  # Envoy's body
    assert "FAULT helloworld-go-00001" in v1.run("status").out

    assert annotate(f"{revision_faults.ANNOTATION}-").returncode == 0
    fixed = answers(lambda d: d["statusCodes"] == {"200": 20})
    assert fixed["statusCodes"] == {"200": 20}  # after 418s: the fault is gone
    assert "FAULT" not in v1.run("status").out


def test_fault_values_parse_as_istio_states_them() -> None:
    fault = revision_faults.parse("abort=503 percent=12.5")
    assert (fault.abort, fault.delay, fault.percent) == (503, None, 12.5)
    assert fault.describe() == "answers 503 (fault filter abort) to 12.5% of the requests"
    delay = revision_faults.parse("  delay=1m30s ")
    assert (delay.abort, delay.delay, delay.percent) == (None, 90.0, 100.0)
    assert delay.describe(" to X") == "holds every request to X 90s before passing it on"
    assert revision_faults.parse("abort=200").abort == 200  # Istio's range: 200-599
    assert revision_faults.of_revision({"metadata": {"annotations": {"x": "y"}}}) is None
    bad = {"metadata": {"annotations": {revision_faults.ANNOTATION: "abort=1"}}}
    assert revision_faults.of_revision(bad) is None  # never injected, whatever got stored


# --------------------------------------------------------------------------- plans and input


def test_dry_run_prints_every_block_and_changes_nothing(v1: Cluster) -> None:
    rv = v1.rv()
    result = v1.run("rollout", "--target", "Go Sample v2", "--dry-run")
    assert result.code == 0, result.err
    assert "nothing was sent" in result.out
    assert f"Candidate: {V2} (the name Knative gives the new Revision)" in result.out
    for title in ("step 1 of 4: 10%", "step 4 of 4: 100%", "promote", "rollback"):
        assert title in result.out
    assert result.out.count("patch ksvc helloworld-go --type merge -p") == 7
    assert v1.rv() == rv
    plan = json.loads(v1.run("rollout", "--target", "Go Sample v2", "--dry-run", "-o", "json").out)
    assert plan["current"] == V1 and plan["candidate"] == V2
    pin = plan["writes"][0]
    assert pin["traffic"] == [{"tag": "current", "revisionName": V1, "percent": 100}]
    assert pin["patch"]["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "TARGET", "value": "Go Sample v2"}
    ]
    assert plan["writes"][-2]["traffic"][-1] == {
        "tag": "latest",
        "latestRevision": True,
        "percent": 100,
    }


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("--steps", "10,5"), "--steps '10,5' must rise at every step"),
        (("--steps", "0,50"), "every percent must be from 1 to 100"),
        (("--steps", "ten"), "is not a list of whole percents"),
        (("--max-error-rate", "2x"), "--max-error-rate '2x' is not a percent from 0 to 100"),
        (("--max-p99", "fast"), "--max-p99 'fast' is not a duration"),
        (("--step-duration", "1s", "--step-requests", "5"), "both say how long a step lasts"),
        (("--rate", "lots"), "--rate 'lots' is not a rate"),
    ],
)
def test_bad_settings_are_usage_errors(v1: Cluster, args: tuple[str, ...], text: str) -> None:
    rv = v1.rv()
    result = v1.run("rollout", "--target", "Go Sample v2", "--yes", *args)
    result.assert_error(2)
    assert text in result.error
    assert v1.rv() == rv


def test_refusals_before_anything_is_written(v1: Cluster) -> None:
    nothing = v1.run("rollout", "--yes")
    nothing.assert_error(2)
    assert "nothing to roll out" in nothing.error
    same = v1.run("rollout", "--target", "Go Sample v1", "--yes")
    same.assert_error(1)
    assert "already runs this template" in same.error
    missing = v1.run("rollout", "-s", "nope", "--target", "x", "--yes")
    missing.assert_error(1)
    assert "'nope' not found" in missing.error
    unconfirmed = v1.run("rollout", "--target", "Go Sample v2")
    unconfirmed.assert_error(2)
    assert "needs confirmation" in unconfirmed.error
    misplaced = knwalk("rollout", "--steps", "5,10", "status")
    misplaced.assert_error(2)
    assert "--steps: options of a rollout, not of `knwalk rollout status`" in misplaced.error
    assert state_of_or_none(v1) is None
    v1.deploy("--target", "Go Sample v2")
    assert v1.run("split", "50/50").code == 0
    divided = v1.run("rollout", "--target", "Go Sample v3", "--yes")
    divided.assert_error(1)
    assert "splits its traffic between" in divided.error
    assert "knwalk split @latest" in divided.error
    status = sub(v1, "status")
    assert "No rollout of service 'helloworld-go' is recorded" in status.out


def test_a_cluster_local_service_is_refused_before_any_traffic_moves(v1: Cluster) -> None:
    """A Service visible only inside the cluster is not served by the ingress gateway:
    every request of a step would be a 404 blamed on the candidate. Refused up front."""
    from tests.kube_helpers import GROUP, VERSION

    label = {"metadata": {"labels": {"networking.knative.dev/visibility": "cluster-local"}}}
    v1.custom.patch_namespaced_custom_object(
        GROUP, VERSION, v1.namespace, "services", "helloworld-go", label
    )
    local = f"http://helloworld-go.{v1.namespace}.svc.cluster.local"
    wait_for(
        v1.api_client,
        "services",
        v1.namespace,
        "helloworld-go",
        lambda o: (o.get("status") or {}).get("url") == local,
        30,
    )
    rv = v1.rv()
    for extra in (("--yes",), ("--dry-run",)):
        result = v1.run("rollout", "--target", "Go Sample v2", "--step-requests", "20", *extra)
        result.assert_error(1)
        assert f"service 'helloworld-go' is only reachable inside the cluster ({local})" in (
            result.error
        )
        assert "kubectl label ksvc helloworld-go networking.knative.dev/visibility-" in (
            result.error
        )
    assert v1.rv() == rv
    assert state_of_or_none(v1) is None


def annotate_state(cluster: Cluster, value: str) -> None:
    """Write ``value`` as the Service's rollout annotation, as ``kubectl annotate`` would."""
    from tests.kube_helpers import GROUP, VERSION

    patch = {"metadata": {"annotations": {core.ANNOTATION: value}}}
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "services", "helloworld-go", patch
    )


def paused_at(cluster: Cluster, **changes: Any) -> str:
    """A paused rollout's state (V1 current, V2 candidate, one of 4 steps passed), as the
    annotation holds it, with ``changes`` made to its JSON."""
    passed = {"step": 1, "percent": 10, "passed": True, "void": None, "gates": []}
    state = core.State(
        "helloworld-go", "0123456789ab", core.PAUSED, V1, V2, 2, core.Settings(), step=1,
        traffic=cluster.ksvc()["spec"]["traffic"], results=[passed], reason=core.INTERRUPTED,
    )  # fmt: skip
    doc = state.as_dict()
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not ...})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"phase": "dancing"}, "phase 'dancing' is not one of running, paused, promoted"),
        ({"steps": [10, 5]}, "steps [10, 5] must rise at every step"),
        ({"steps": [10, 250]}, "steps [10, 250]: every percent must be from 1 to 100"),
        ({"step": 4}, "step 4 but 1 step passed"),
        ({"step": 9, "results": []}, "step 9 of 4 steps"),
        ({"results": [{"step": 1, "percent": 10, "passed": False}]}, "step 1 but 0 steps passed"),
        ({"results": [{"step": 1, "passed": True}]}, "results[0] has no whole step and percent"),
        ({"gates": {"maxErrorRate": 7}}, "maxErrorRate 7 is not a ratio from 0 to 1"),
        ({"gates": {"maxErrorRate": 0.01, "maxP99Ms": -5}}, "maxP99Ms -5 is not above 0"),
        ({"load": {"stepSeconds": 30, "concurrency": -1}}, "--concurrency"),
        ({"current": ...}, "it has no 'current'"),
        ({"results": "x"}, "results is not a list of objects"),
        ({"generation": "x"}, "generation 'x' is not a Service generation"),
        ({"load": {"stepSeconds": "30s"}}, "load.stepSeconds '30s' is not a number"),
        ({"load": {"stepSeconds": 30, "concurrency": 2.5}}, "load.concurrency 2.5 is not a whole"),
        ({"load": {"stepSeconds": 30, "path": 7}}, "load.path 7 is not a string"),
    ],
)
def test_a_hand_edited_state_is_refused_before_anything_moves(
    v1: Cluster, changes: dict[str, Any], problem: str
) -> None:
    """A state that cannot have been written by a rollout (a hand edit, another tool) is
    refused by status, resume and abort, and nothing is written: `resume` of a state that
    says every step passed would otherwise promote a candidate no step judged."""
    annotate_state(v1, paused_at(v1))  # a sound state reads
    assert sub(v1, "status").code == 0
    annotate_state(v1, paused_at(v1, **changes))
    rv = v1.rv()
    for command in (("status",), ("resume", "--yes"), ("abort", "--yes")):
        result = sub(v1, *command)
        result.assert_error(1)
        assert "is not a rollout state knwalk can read" in result.error, command
        assert problem in result.error, (command, result.error)
        assert f"kubectl annotate ksvc helloworld-go {core.ANNOTATION}-" in result.error
    assert v1.rv() == rv
    assert served(v1) == [(None, V1, 100)]


def test_an_annotation_that_is_not_a_json_object_is_refused(v1: Cluster) -> None:
    for value, problem in (("[1, 2]", "it is not a JSON object"), ("{bad", "not JSON:")):
        annotate_state(v1, value)
        result = sub(v1, "status")
        result.assert_error(1)
        assert problem in result.error
        assert "Traceback" not in result.error


def state_of_or_none(cluster: Cluster) -> dict[str, Any] | None:
    annotations = cluster.ksvc()["metadata"].get("annotations") or {}
    raw = annotations.get(core.ANNOTATION)
    return None if raw is None else dict(json.loads(raw))
