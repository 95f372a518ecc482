"""``knwalk tour``: the whole walkthrough, on a fresh sandbox and on a context.

The fresh-HOME tests run ``knwalk`` as a real process that starts its own sandbox
(never the session one). The others run the tour in-process against the session
sandbox through ``--context knwalk-sandbox`` in a namespace of their own.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kn_walk import tour as core
from kn_walk.sandbox import control
from tests.conftest import Sandbox
from tests.test_cli_support import Cluster, Result, knwalk, plain_kubernetes
from tests.test_cli_truthful import HANG_GUARD, child, one_error, silent_api  # noqa: F401

V1 = "Hello Go Sample v1!\n"
V2 = "Hello Go Sample v2!\n"
REV1, REV2 = "helloworld-go-00001", "helloworld-go-00002"


# --------------------------------------------------------------------------- helpers


def fresh_env(home: Path) -> dict[str, str]:
    """A new user's environment: an empty HOME, no KUBECONFIG, no XDG overrides."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KUBECONFIG", "XDG_", "KNWALK_")) and k != "HOME"
    }
    env.update(HOME=str(home), NO_COLOR="1", COLUMNS="80")
    return env


def run_process(args: list[str], env: dict[str, str], stdin: str = "") -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "kn_walk", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def json_steps(out: str) -> list[dict[str, Any]]:
    lines = [line for line in out.splitlines() if line.strip()]
    steps = [json.loads(line) for line in lines]
    assert all(isinstance(s, dict) for s in steps)
    return steps


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[Path]:
    """An empty HOME; whatever sandbox a test starts in it is stopped afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    yield home
    control.stop(home / ".local" / "state" / "knwalk" / "sandbox")


def on_context(cluster: Cluster, *args: str, **kw: Any) -> Result:
    """``knwalk tour --context knwalk-sandbox --kubeconfig K -n NS ARGS`` in-process."""
    where = ("--context", control.CONTEXT, "--kubeconfig", str(cluster.kubeconfig))
    return knwalk("tour", *where, "-n", cluster.namespace, *args, **kw)


def check_every_step(steps: list[dict[str, Any]]) -> None:
    """The results of a whole tour: v1, v2, the split, both bodies, the clean-up."""
    assert [s["step"] for s in steps] == list(range(9)), [s.get("step") for s in steps]
    assert [s["name"] for s in steps[1:]] == [i.name for i in core.STEPS]
    for s in steps:
        assert set(s) == {"step", "name", "title", "command", "kubectl", "seconds", "result"}
    r = {s["step"]: s["result"] for s in steps}

    # 1: the Service, its Configuration, Revision 00001, the Route at 100% latestRevision
    assert r[1]["action"] == "created"
    assert r[1]["revision"] == REV1
    doc = r[1]["status"]
    assert doc["ready"] == "True"
    assert [(x["name"], x["target"], x["ready"]) for x in doc["revisions"]] == [
        (REV1, "Go Sample v1", "True")
    ]
    assert doc["traffic"] == [
        {
            "tag": None,
            "revisionName": REV1,
            "latestRevision": True,
            "percent": 100,
            "url": None,
        }
    ]
    # 2: the gateway with the Host header answers v1
    assert r[2]["body"] == V1
    assert r[2]["status"] == 200
    assert r[2]["host"].startswith("helloworld-go.")
    # 3: a new Revision, the old one still there, the Route moved
    assert (r[3]["revision"], r[3]["previous"], r[3]["newRevision"]) == (REV2, REV1, True)
    revisions = {x["name"]: x for x in r[3]["status"]["revisions"]}
    assert set(revisions) == {REV1, REV2}
    assert (revisions[REV1]["percent"], revisions[REV2]["percent"]) == (0, 100)
    # 4: v2 answers
    assert r[4]["body"] == V2
    # 5: the split block and the tag URLs
    assert r[5]["spec"] == [
        {"tag": "current", "revisionName": REV2, "percent": 50},
        {"tag": "candidate", "revisionName": REV1, "percent": 50},
        {"tag": "latest", "latestRevision": True, "percent": 0},
    ]
    assert sorted(r[5]["tags"]) == ["candidate", "current", "latest"]
    assert all(url.startswith(f"http://{tag}-helloworld-go.") for tag, url in r[5]["tags"].items())
    # 6: 200 requests, both bodies seen, the tags reach their own revisions
    requests = r[6]["requests"]
    assert (requests["count"], requests["ok"], requests["failed"]) == (200, 200, 0)
    assert r[6]["seen"] == sorted([V1, V2])
    counts = {x["body"]: x["count"] for x in requests["responses"]}
    assert counts[V1] > 0 and counts[V2] > 0 and counts[V1] + counts[V2] == 200
    assert {x["body"]: x["expectedPercent"] for x in requests["responses"]} == {V1: 50, V2: 50}
    assert requests["verdict"]["test"] == "chi-square"
    assert {t["tag"]: t["body"] for t in r[6]["tags"]} == {
        "current": V2,
        "candidate": V1,
        "latest": V2,
    }
    # 7: the four objects with what each is for
    assert set(r[7]["roles"]) == {"Service", "Configuration", "Revision", "Route"}
    assert len(r[7]["status"]["revisions"]) == 2
    # 8: cleaned up: nothing the Service owned is left
    assert r[8]["kept"] is False
    assert r[8]["deleted"] == "helloworld-go"
    assert r[8]["owned"] == {"configurations": 1, "revisions": 2, "routes": 1}
    assert r[8]["remaining"] == {"configurations": 0, "revisions": 0, "routes": 0}


# --------------------------------------------------------------------------- on the sandbox


def test_fresh_home_tour_json_checks_every_step(fresh_home: Path) -> None:
    """`knwalk tour --yes -o json` as a new user runs it: starts the sandbox, all 8 steps."""
    result = run_process(["tour", "--yes", "-o", "json"], fresh_env(fresh_home))
    assert result.code == 0, (result.out, result.err)
    steps = json_steps(result.out)
    prepare = steps[0]["result"]
    assert prepare["cluster"] == "sandbox"
    assert prepare["context"] == control.CONTEXT
    assert prepare["namespace"] == "default"
    assert prepare["cleaned"] is False
    assert prepare["sandbox"]["started"] is True
    assert prepare["sandbox"]["kubeconfig"] == str(fresh_home / ".kube" / "config")
    check_every_step(steps)
    # started here, the sandbox became the current context, as `knwalk sandbox up` does
    config = yaml.safe_load((fresh_home / ".kube" / "config").read_text())
    assert config["current-context"] == control.CONTEXT
    # and the commands shown need no --context: kubectl's current context is the sandbox
    assert steps[1]["command"] == "knwalk deploy --target 'Go Sample v1'"
    assert steps[7]["kubectl"] == [
        "kubectl get ksvc,configuration,revision,route",
        "kubectl get pods -l serving.knative.dev/service=helloworld-go",
    ]
    # the sandbox keeps running (the tour says so); the Service is gone from it
    state = fresh_home / ".local" / "state" / "knwalk" / "sandbox"
    info = control.running(state)
    assert info is not None
    assert control.object_counts(info)["services.serving.knative.dev"] == 0


def test_sandbox_tour_never_touches_the_current_context(fresh_home: Path, cluster: Cluster) -> None:
    """A user whose current context is another cluster: the tour runs on the sandbox only.

    The "other cluster" is the session sandbox, in a namespace of its own: had the tour
    used the current context, the Service would have appeared there.
    """
    kubeconfig = fresh_home / ".kube" / "config"
    kubeconfig.parent.mkdir()
    session = yaml.safe_load(cluster.kubeconfig.read_text())
    for section in ("clusters", "users", "contexts"):
        for entry in session[section]:
            entry["name"] = "prod"
    session["contexts"][0]["context"].update(cluster="prod", user="prod")
    session["contexts"][0]["context"]["namespace"] = cluster.namespace
    session["current-context"] = "prod"
    kubeconfig.write_text(yaml.safe_dump(session))
    env = fresh_env(fresh_home)

    first = run_process(["tour", "--yes", "-o", "json", "--keep"], env)
    assert first.code == 0, first.err
    steps = json_steps(first.out)
    assert steps[0]["result"]["sandbox"]["started"] is True
    assert steps[8]["result"]["kept"] is True
    # started here: added to the kubeconfig and made current (as `sandbox up`), prod kept
    config = yaml.safe_load(kubeconfig.read_text())
    assert config["current-context"] == control.CONTEXT
    assert "prod" in [c["name"] for c in config["contexts"]]

    # the user goes back to prod; a second tour reuses the sandbox and leaves the file alone
    config["current-context"] = "prod"
    kubeconfig.write_text(yaml.safe_dump(config))
    before = kubeconfig.read_bytes()
    second = run_process(["tour", "--yes", "-o", "json"], env)
    assert second.code == 0, second.err
    steps = json_steps(second.out)
    assert steps[0]["result"]["sandbox"]["started"] is False
    assert steps[0]["result"]["cleaned"] is True  # the first tour's kept app, after --yes
    check_every_step(steps)
    assert kubeconfig.read_bytes() == before
    # the commands shown name the sandbox's context, since prod is the current one
    assert steps[1]["command"] == "knwalk deploy --target 'Go Sample v1' --context knwalk-sandbox"
    assert steps[7]["kubectl"] == [
        "kubectl --context knwalk-sandbox get ksvc,configuration,revision,route",
        "kubectl --context knwalk-sandbox get pods -l \\\n  serving.knative.dev/service=helloworld-go",
    ]
    # and prod never saw a thing
    assert cluster.names("services") == []
    assert cluster.names("revisions") == []


# --------------------------------------------------------------------------- on a context


def test_text_tour_on_a_context_reads_at_80_columns(cluster: Cluster) -> None:
    result = on_context(cluster, "--yes")
    assert result.code == 0, result.err
    out = result.out
    assert "\x1b" not in out
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    for info in core.STEPS:
        assert f"Step {info.number} of 8: {info.title}" in out
        assert f"✓ Step {info.number} done in " in out
    # concept, knwalk command, kubectl equivalent, live result
    flat = " ".join(out.split())  # prose wraps at 80 columns
    assert "A Revision is an immutable snapshot of code and configuration" in flat
    assert "$ knwalk split 50/50 --kubeconfig" in out
    assert "kubectl --kubeconfig" in out and f"-n {cluster.namespace}" in out
    assert "Body     Hello Go Sample v1!" in out
    assert "Body     Hello Go Sample v2!" in out
    assert "Verdict: consistent with the configured split" in out
    # step 7's picture: Service over Configuration (over Revisions) and Route (over traffic)
    picture = out.split("Step 7 of 8")[1].split("Step 8 of 8")[0]
    assert "Service helloworld-go" in picture
    assert "├── Configuration helloworld-go" in picture
    assert f"│   ├── Revision {REV2}  TARGET=Go Sample v2" in picture
    assert re.search(r"│   │   pods: [01] running, 1 wanted\n", picture)  # actual/desired
    assert "(scale to zero)" in flat
    assert "└── Route helloworld-go" in picture
    assert f"    ├── 50% → {REV2} (tag current)" in picture
    assert "Deleted Service helloworld-go; 1 Configuration, 2 Revisions and 1 Route" in flat
    assert "Tour complete: 8 steps in " in out
    assert cluster.names("services") == []


def test_a_context_is_named_and_needs_a_yes(cluster: Cluster) -> None:
    result = on_context(cluster)
    result.assert_error(2)
    assert "running the tour on a cluster other than the sandbox needs confirmation" in (
        result.error
    )
    assert "pass --yes" in result.error
    assert f"Running on context {control.CONTEXT}." in result.out
    assert cluster.names("services") == []


def test_a_context_without_knative_is_refused(tmp_path: Path) -> None:
    with plain_kubernetes(tmp_path) as path:
        result = knwalk("tour", "--context", "plain", "--kubeconfig", str(path), "--yes")
    result.assert_error(1)
    assert "context 'plain' has no Knative Serving" in result.error
    assert "knwalk install --context plain" in result.error


def test_an_existing_app_is_deleted_only_after_asking(cluster: Cluster) -> None:
    cluster.deploy("--target", "left over")
    rv = cluster.rv()
    refused = on_context(cluster)  # stdin is not a terminal: it cannot ask
    refused.assert_error(2)
    assert cluster.rv() == rv

    result = on_context(cluster, "--yes", "-o", "json", "--keep")
    assert result.code == 0, result.err
    steps = json_steps(result.out)
    assert steps[0]["result"]["cleaned"] is True
    assert steps[1]["result"]["revision"] == REV1  # a clean start: numbering starts over
    assert steps[8]["result"] == {
        "kept": True,
        "deleted": None,
        "owned": {"configurations": 1, "revisions": 2, "routes": 1},
        "remaining": {"configurations": 1, "revisions": 2, "routes": 1},
    }
    assert steps[8]["command"] == ""
    assert cluster.names("revisions") == [REV1, REV2]


def test_from_resumes_only_after_the_earlier_steps(cluster: Cluster) -> None:
    result = on_context(cluster, "--yes", "--from", "3")
    result.assert_error(1)
    assert "--from 3 resumes the tour, but Knative Service 'helloworld-go'" in result.error
    assert "start from step 1" in result.error


def test_step_by_step_stops_on_q_and_resumes_with_from(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n\nq\n"))
    result = on_context(cluster, "--yes", "--step-by-step")
    assert result.code == 0, result.err
    assert "Enter: run step 1 (Deploy helloworld-go (v1))   q: stop" in result.err
    assert "Enter: run step 3" in result.err
    assert "✓ Step 2 done" in result.out
    assert "Step 3 of 8: Roll out v2: a new Revision" in result.out  # shown, then q
    assert "✓ Step 3 done" not in result.out
    assert result.lines[-2] == "Stopped before step 3. Resume with:"
    assert result.lines[-1].startswith("knwalk tour --context knwalk-sandbox --kubeconfig")
    assert result.lines[-1].endswith("--yes --step-by-step --from 3")
    assert cluster.names("revisions") == [REV1]

    rest = on_context(cluster, "--yes", "-o", "json", "--from", "3")
    assert rest.code == 0, rest.err
    steps = json_steps(rest.out)
    assert [s["step"] for s in steps] == [0, 3, 4, 5, 6, 7, 8]
    assert steps[0]["result"]["cleaned"] is False
    assert steps[2]["result"]["body"] == V2
    assert steps[-1]["result"]["remaining"] == {"configurations": 0, "revisions": 0, "routes": 0}


def test_step_by_step_with_json_keeps_stdout_for_the_steps(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\nq\n"))
    result = on_context(cluster, "--yes", "--step-by-step", "-o", "json")
    assert result.code == 0, result.err
    assert [s["step"] for s in json_steps(result.out)] == [0, 1]
    assert "Stopped before step 2. Resume with:" in result.err
    assert result.err.rstrip().endswith("-o json --yes --step-by-step --from 2")


def test_step_by_step_on_a_terminal(cluster: Cluster) -> None:
    """Under a pseudo-terminal: one key, no Enter needed for q."""
    env = dict(os.environ, NO_COLOR="1", COLUMNS="80")
    argv = [
        sys.executable,
        "-m",
        "kn_walk",
        "tour",
        "--context",
        control.CONTEXT,
        "--kubeconfig",
        str(cluster.kubeconfig),
        "-n",
        cluster.namespace,
        "--yes",
        "--step-by-step",
    ]
    pid, fd = pty.fork()
    if pid == 0:  # the child: knwalk on the terminal's slave side
        os.execve(argv[0], argv, env)
    seen = b""

    def read_until(text: bytes, timeout: float = 60.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} in {seen.decode(errors='replace')}"
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"knwalk ended before {text!r}: {seen.decode(errors='replace')}"
                seen += chunk

    try:
        read_until(b"Enter: run step 1")
        os.write(fd, b"\r")
        read_until(b"Enter: run step 2")
        assert b"Step 1 done" in seen
        os.write(fd, b"q")
        read_until(b"--yes --step-by-step --from 2")
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # never leave it waiting for a key
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Stopped before step 2" in seen
    assert cluster.names("revisions") == [REV1]


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Any]:
    import ssl

    import httpx

    with httpx.Client(
        base_url=sandbox.api,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        verify=ssl.create_default_context(cafile=sandbox.ca),
        timeout=10,
    ) as client:
        yield client
        client.delete("/knwalk.dev/faults")


def test_a_failed_step_says_what_why_and_how_to_resume(cluster: Cluster, faults: Any) -> None:
    path = f"/apis/serving.knative.dev/v1/namespaces/{cluster.namespace}/services/helloworld-go"
    assert faults.put("/knwalk.dev/faults", json=[{"method": "PATCH", "path": path, "status": 403}])
    result = on_context(cluster, "--yes", "-o", "json")
    result.assert_error(1)
    steps = json_steps(result.out)
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    failure = steps[-1]
    assert failure["name"] == "deploy-v2"
    assert failure["error"]["message"].startswith(
        "step 3 of 8 (Roll out v2: a new Revision) failed: "
    )
    assert failure["resume"].endswith("--from 3")
    assert "step 3 of 8 (Roll out v2: a new Revision) failed" in result.error
    assert "lacks permission" in result.error
    assert "then resume with `knwalk tour --context knwalk-sandbox" in result.error
    assert "-o json --yes --from 3`" in result.error

    faults.delete("/knwalk.dev/faults")
    resumed = on_context(cluster, "--yes", "-o", "json", "--from", "3")
    assert resumed.code == 0, resumed.err
    steps = json_steps(resumed.out)
    assert steps[1]["result"]["revision"] == REV2
    assert steps[-1]["result"]["deleted"] == "helloworld-go"


def test_the_wait_timeout_bounds_the_connection_to_a_silent_api(
    silent_api: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """An API server that accepts and never answers: the tour ends at --wait-timeout, as
    every other command does, not after the client library's own timeouts."""
    args = ["tour", "--context", "silent", "--kubeconfig", str(silent_api), "--yes"]
    proc = child(*args, "--wait-timeout", "3", timeout=3 + HANG_GUARD)
    line = one_error(proc, 1)
    assert "did not answer discover serving.knative.dev/v1 within the 3s of --wait-timeout" in (
        line
    ), line


def test_the_wait_timeout_bounds_each_step(cluster: Cluster, faults: Any) -> None:
    """The sandbox's fault switch holds step 1's create for two minutes: the step fails at
    --wait-timeout, saying so (the create, then the read that looks for a lost
    acknowledgement, run out of it), and the resume hint follows."""
    path = f"/apis/serving.knative.dev/v1/namespaces/{cluster.namespace}/services"
    assert faults.put("/knwalk.dev/faults", json=[{"method": "POST", "path": path, "delay": 120}])
    started = time.monotonic()
    result = on_context(cluster, "--yes", "--wait-timeout", "5")
    result.assert_error(1)
    assert "step 1 of 8 (" in result.error
    assert "the 5s of --wait-timeout" in result.error
    assert "then resume with `knwalk tour --context knwalk-sandbox" in result.error
    assert time.monotonic() - started < 5 + HANG_GUARD  # not the two minutes of the delay


def test_a_step_past_its_state_says_start_over(cluster: Cluster) -> None:
    cluster.deploy()
    cluster.deploy("--target", "Go Sample v2")
    result = on_context(cluster, "--yes", "--from", "2")
    result.assert_error(1)
    assert (
        "step 2 of 8 (Call it through the ingress gateway) failed: expected "
        "'Hello Go Sample v1!', the Service answered 'Hello Go Sample v2!'"
    ) in result.error
    assert "start over with `knwalk tour --context knwalk-sandbox" in result.error
    assert "--from" not in result.error.split("start over with")[1]


def test_a_given_gateway_replaces_the_lookup(cluster: Cluster, sandbox: Sandbox) -> None:
    """--gateway (a port-forward, when the gateway has no external IP) is used as given."""
    gateway = sandbox.info.gateway
    result = on_context(cluster, "--yes", "-o", "json", "--gateway", gateway)
    assert result.code == 0, result.err
    steps = json_steps(result.out)
    check_every_step(steps)
    curl = steps[2]
    assert (curl["result"]["gateway"], curl["result"]["gatewaySource"]) == (gateway, "--gateway")
    assert f"--gateway {gateway}" in curl["command"]
    assert not any(c.startswith("INGRESS_") for s in steps for c in s["kubectl"])
    assert curl["kubectl"][-1].endswith(f"{gateway}/")


def test_usage_errors() -> None:
    for args, text in (
        (["--context", "x", "--sandbox"], "--context and --sandbox"),
        (["-o", "yaml"], "-o/--output 'yaml'"),
        (["--from", "9"], "--from"),
        (["--context", "x", "--state-dir", "/tmp/x"], "--state-dir is for the sandbox"),
        (["--gateway", "ftp://x"], "--gateway 'ftp://x' is not an http(s) URL"),
        (["--chapter", "nope"], "--chapter 'nope' is not a chapter of the tour"),
        (["--chapter", "canary", "--from", "5"], "the canary chapter has 4 steps"),
    ):
        result = knwalk("tour", *args)
        result.assert_error(2)
        assert text in result.error, (args, result.error)


def test_tour_help_is_light_and_fits_80_columns() -> None:
    probe = (
        "import sys; sys.argv = ['knwalk', 'tour', '--help']\n"
        "from kn_walk.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'httpx', "
        "'aiohttp') or m.startswith('google.cloud')]\n"
        "sys.stderr.write('HEAVY=' + repr(sorted(heavy)))\n"
    )
    env = dict(os.environ, NO_COLOR="1", COLUMNS="80")
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert "Usage: knwalk tour" in proc.stdout
    assert "--step-by-step" in proc.stdout and "--from" in proc.stdout
    assert proc.stderr.endswith("HEAVY=[]"), proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80


# --------------------------------------------------------------------------- the canary chapter

REV3 = "helloworld-go-00003"


def test_canary_chapter_rolls_back_a_bad_candidate_then_promotes_a_good_one(
    cluster: Cluster,
) -> None:
    result = on_context(cluster, "--chapter", "canary", "--yes", "-o", "json")
    assert result.code == 0, result.err
    steps = json_steps(result.out)
    assert [s["step"] for s in steps] == [0, 1, 2, 3, 4]
    assert [s["name"] for s in steps[1:]] == [i.name for i in core.CANARY_STEPS]
    r = {s["step"]: s["result"] for s in steps}
    assert r[1]["revision"] == REV1
    # 2: the bad candidate (503 for half its requests) fails its first step: rolled back
    bad = r[2]["rollout"]
    assert (bad["phase"], bad["reason"]) == ("rolled-back", "GateFailed")
    assert (bad["current"], bad["candidate"], bad["step"]) == (REV1, REV2, 0)
    [first] = r[2]["steps"]
    assert first["passed"] is False and first["percent"] == 10
    assert first["requests"]["candidate"]["failures"]["HTTP 503"] > 0
    assert [g["gate"] for g in first["gates"] if not g["passed"]] == ["errorRate"]
    assert "rolled back at step 1 of 3" in r[2]["error"]["message"]
    assert bad["traffic"] == [
        {"tag": "current", "revisionName": REV1, "percent": 100},
        {"tag": "candidate", "revisionName": REV2, "percent": 0},
    ]
    assert "sandbox.knwalk.dev/fault: abort=503 percent=50" in steps[2]["command"]
    assert steps[2]["command"].startswith("knwalk rollout -f - --steps 10,50,100")
    # 3: the good one passes every step and ends on @latest
    good = r[3]["rollout"]
    assert (good["phase"], good["current"], good["candidate"]) == ("promoted", REV1, REV3)
    assert [(s["percent"], s["passed"]) for s in r[3]["steps"]] == [
        (10, True),
        (50, True),
        (100, True),
    ]
    assert all(s["split"]["checked"] for s in r[3]["steps"])
    assert r[3]["error"] is None
    assert good["traffic"][-1] == {"tag": "latest", "latestRevision": True, "percent": 100}
    # the kubectl equivalents: the pinned template, each split, the rollback / promotion
    kubectl = "\n".join(steps[2]["kubectl"])
    assert "sandbox.knwalk.dev/fault: abort=503 percent=50" in kubectl
    assert "Host: candidate-helloworld-go." in kubectl
    # 4: everything the Service made is gone
    assert r[4]["owned"] == {"configurations": 1, "revisions": 3, "routes": 1}
    assert r[4]["remaining"] == {"configurations": 0, "revisions": 0, "routes": 0}
    assert cluster.names("services") == []


def test_canary_chapter_reads_at_80_columns(cluster: Cluster) -> None:
    result = on_context(cluster, "--chapter", "canary", "--yes", "--keep")
    assert result.code == 0, result.err
    out = result.out
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    assert "knwalk tour, canary chapter: a gated rollout in 4 steps." in out
    for info in core.CANARY_STEPS:
        assert f"Step {info.number} of 4: {info.title}" in out
    flat = " ".join(out.split())
    assert "Rollout rolled back at step 1 of 3 (10% to helloworld-go-00002)" in flat
    assert "Rollout promoted helloworld-go-00003 after 3 steps." in flat
    assert "FAILED" in out and "passed" in out
    assert "Tour complete: 4 steps in " in out
    # kept: the rollout's record stays on the Service for `knwalk rollout status`
    status = knwalk(
        "rollout", "status", "--kubeconfig", str(cluster.kubeconfig), "-n", cluster.namespace
    )
    assert "promoted" in status.out


def test_canary_chapter_runs_on_the_sandbox_only(tmp_path: Path) -> None:
    """A cluster with Knative but not the sandbox would ignore the fault annotation."""
    from tests.test_graph import fake_api

    with fake_api(tmp_path, []) as path:
        result = knwalk(
            "tour", "--context", "gke", "--kubeconfig", str(path), "--chapter", "canary", "--yes"
        )
    result.assert_error(1)
    assert "the canary chapter makes its candidate fail with the sandbox's fault" in result.error
    assert "not the knwalk sandbox" in result.error


# --------------------------------------------------------------------------- the equivalents


@pytest.mark.kubectl
def test_the_kubectl_equivalents_do_the_same(cluster: Cluster, tmp_path: Path) -> None:
    """Run the tour, then replay its kubectl and curl commands with bash: same answers."""
    if not (shutil.which("kubectl") and shutil.which("curl") and shutil.which("bash")):
        pytest.skip("needs kubectl, curl and bash")
    result = on_context(cluster, "--yes", "-o", "json")
    assert result.code == 0, result.err
    steps = json_steps(result.out)
    script = ["set -euo pipefail"]
    for s in steps[1:]:
        script.append(f"echo '=== step {s['step']}'")
        script.extend(s["kubectl"])
    env = dict(os.environ, HOME=str(tmp_path))  # kubectl's cache goes there
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out = {
        int(part.split("\n", 1)[0]): part.split("\n", 1)[1]
        for part in proc.stdout.split("=== step ")[1:]
    }
    assert out[2] == V1
    assert out[4] == V2
    assert "helloworld-go-00002" in out[5]
    counts = dict(
        (body, int(n)) for n, body in (line.split(None, 1) for line in out[6].splitlines()[:2])
    )
    assert set(counts) == {V1.strip(), V2.strip()} and sum(counts.values()) == 200
    assert out[6].splitlines()[2:] == [V2.strip(), V1.strip(), V2.strip()]
    lines = out[7].splitlines()
    header = max(
        i
        for i, line in enumerate(lines)
        if line.split()[:4] == ["NAME", "READY", "STATUS", "RESTARTS"]
    )
    pods = [line for line in lines[header + 1 :] if line.strip()]
    assert pods and all(line.startswith("helloworld-go-0000") for line in pods), out[7]
    assert 'service.serving.knative.dev "helloworld-go" deleted' in out[8]
    assert cluster.names("services") == []


# --------------------------------------------------------------------------- units


def test_shell_line_wraps_between_tokens_within_the_width() -> None:
    tokens = ["kubectl", "--kubeconfig", "/a/very/long/path/" + "x" * 40, "get", "ksvc"] * 3
    text = core.shell_line(tokens)
    lines = text.splitlines()
    assert len(lines) > 1
    assert all(len(line) <= core.COMMAND_WIDTH for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert text.replace(" \\\n  ", " ") == " ".join(tokens)
    assert core.shell_line(["a"] * 3) == "a a a"
    # the last token may use the whole width: no continuation for the " \"
    exact = ["x" * 70, "y" * 7]
    assert core.shell_line(exact) == "x" * 70 + " " + "y" * 7


def test_heredoc_is_yaml_between_markers() -> None:
    text = core.heredoc(["kubectl", "apply", "-f", "-"], {"a": {"b": [1, "two"]}})
    assert text.splitlines()[0] == "kubectl apply -f - <<'EOF'"
    assert text.splitlines()[-1] == "EOF"
    assert yaml.safe_load("\n".join(text.splitlines()[1:-1])) == {"a": {"b": [1, "two"]}}
