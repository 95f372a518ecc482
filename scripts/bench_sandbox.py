#!/usr/bin/env python3
"""Benchmark the sandbox control plane against issue 2's targets.

Measures, each over several rounds:

* ``knwalk sandbox up`` wall time until the API answers, on a fresh state dir
  (target: median < 1.0 s) and on an existing one (restart); ``down`` as well;
* Service create → Ready, observed through a watch: from sending the POST to
  reading the watch event whose object has Ready=True,
  ``status.observedGeneration == metadata.generation`` and, as its latest ready
  Revision, the one of that generation (target: median < 300 ms); the same for
  an update of the template (v2) → Ready. One warm-up round is not counted;
* with 100 Services × 3 Revisions in the sandbox (created, then each template
  updated twice, all Ready, then the sandbox idle): ``kubectl get revisions -A``
  (target: median < 500 ms), ``kubectl get ksvc -A``, the same with a cold
  discovery cache, ``kubectl get namespaces`` (kubectl's own floor), how long
  the setup took, and create/update → Ready in that crowded namespace.

    .venv/bin/python scripts/bench_sandbox.py                 # 10 rounds, 100 Services
    .venv/bin/python scripts/bench_sandbox.py --quick         # 3 rounds, 20 Services
    .venv/bin/python scripts/bench_sandbox.py --markdown      # also print a Markdown table
    .venv/bin/python scripts/bench_sandbox.py --only ready    # one measurement

Everything runs in a temporary directory (state dirs, kubeconfig, kubectl's
cache); ``~/.kube`` is never touched. Sandboxes listen on 127.0.0.1 only and
are stopped at the end. ``kubectl`` timings use ``hyperfine`` when it is
installed, else a plain loop of subprocesses. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import shlex
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kn_walk.sandbox import control

Obj = dict[str, Any]

GROUP_VERSION = "serving.knative.dev/v1"
IMAGE = "gcr.io/knative-samples/helloworld-go"
NAMESPACE = "default"
KSVC_PATH = f"/apis/{GROUP_VERSION}/namespaces/{NAMESPACE}/services"
WAIT_TIMEOUT = 60.0
CROWDED_ROUNDS = 5  # each takes seconds at 100 Services: cap the rounds


# --------------------------------------------------------------------- statistics
@dataclass
class Row:
    """One measured quantity: its samples in milliseconds and its target, if any."""

    name: str
    samples_ms: list[float]
    target_ms: float | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p90(self) -> float:
        if len(self.samples_ms) < 2:
            return self.samples_ms[0]
        return statistics.quantiles(self.samples_ms, n=10, method="inclusive")[8]

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.samples_ms) if len(self.samples_ms) > 1 else 0.0

    @property
    def met(self) -> bool | None:
        return None if self.target_ms is None else self.median < self.target_ms

    def as_dict(self) -> Obj:
        return {
            "name": self.name,
            "n": len(self.samples_ms),
            "median_ms": self.median,
            "min_ms": min(self.samples_ms),
            "max_ms": max(self.samples_ms),
            "p90_ms": self.p90,
            "stdev_ms": self.stdev,
            "target_ms": self.target_ms,
            "met": self.met,
            "note": self.note,
            "samples_ms": self.samples_ms,
        }


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    date: str = field(default_factory=lambda: dt.date.today().isoformat())
    machine: str = field(default_factory=lambda: f"{os.cpu_count()} cores")
    kubectl_timer: str = ""
    commit: str = field(default_factory=lambda: _commit())
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])
    load_after: float = 0.0

    def header(self) -> str:
        return (
            f"{self.date}, {self.commit}, {self.machine}, 1-min load average {self.load_before:.1f} before "
            f"and {self.load_after:.1f} after, kubectl timed with {self.kubectl_timer}"
        )

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {_line(row)}", flush=True)


def _commit() -> str:
    """The sandbox code measured: the commit, marked dirty if kn_walk/ has local changes."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "commit unknown"
    dirty = git("status", "--porcelain", "--", "kn_walk")
    return f"commit {head}{' + local changes in kn_walk/' if dirty else ''}"


def _fmt(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def _met(row: Row) -> str:
    return "—" if row.met is None else "yes" if row.met else "**no**"


def _line(row: Row) -> str:
    n = len(row.samples_ms)
    target = f"< {_fmt(row.target_ms)}" if row.target_ms is not None else ""
    met = {None: "", True: "met", False: "MISSED"}[row.met]
    spread = (
        f"min {_fmt(min(row.samples_ms)):>8}  max {_fmt(max(row.samples_ms)):>8}  "
        f"p90 {_fmt(row.p90):>8}  stdev {_fmt(row.stdev):>8}"
        if n > 1
        else " " * 57
    )
    return f"{row.name:56} n={n:<3} median {_fmt(row.median):>8}  {spread}  {target} {met}"


def plain_table(report: Report) -> str:
    return "\n".join(_line(row) for row in report.rows)


def markdown_table(report: Report) -> str:
    lines = [
        "| Measurement | Date | n | Median | Min–max | p90 | Stdev | Target | Met? |",
        "|---|---|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for row in report.rows:
        n = len(row.samples_ms)
        name = row.name + (f" ({row.note})" if row.note else "")
        spread = f"{_fmt(min(row.samples_ms))}–{_fmt(max(row.samples_ms))}" if n > 1 else "—"
        p90 = _fmt(row.p90) if n > 1 else "—"
        stdev = _fmt(row.stdev) if n > 1 else "—"
        target = f"< {_fmt(row.target_ms)}" if row.target_ms is not None else "—"
        lines.append(
            f"| {name} | {report.date} | {n} | {_fmt(row.median)} | {spread} | {p90} | "
            f"{stdev} | {target} | {_met(row)} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------- HTTPS client
class Api:
    """A minimal Kubernetes REST client over one keep-alive HTTPS connection."""

    def __init__(self, base: str, token: str, ca: Path) -> None:
        url = urlsplit(base)
        assert url.hostname == "127.0.0.1", base  # loopback only
        self.host = url.hostname
        self.port = url.port or 443
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.tls = ssl.create_default_context(cafile=str(ca))
        self.conn = self.connect()

    def connect(self, timeout: float = WAIT_TIMEOUT) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.tls, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
        result: Obj = json.loads(payload)
        return result

    def watch(self, path: str, resource_version: str) -> Watch:
        return Watch(self, path, resource_version)

    def close(self) -> None:
        self.conn.close()


class Watch:
    """A watch stream (one JSON event a line) read on its own connection."""

    def __init__(self, api: Api, path: str, resource_version: str) -> None:
        self.conn = api.connect()
        query = f"?watch=true&resourceVersion={resource_version}&allowWatchBookmarks=true"
        self.conn.request("GET", path + query, headers=api.headers)
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"watch {path}: {self.resp.status} {self.resp.read()[:300]!r}")

    def events(self, deadline: float) -> Iterator[Obj]:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("watch: deadline passed")
            assert self.conn.sock is not None
            self.conn.sock.settimeout(remaining)
            line = self.resp.readline()
            if not line:
                raise RuntimeError("watch: stream ended")
            event: Obj = json.loads(line)
            if event.get("type") == "ERROR":
                raise RuntimeError(f"watch: {event.get('object')}")
            yield event

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------- Knative objects
def ksvc(name: str, target: str) -> Obj:
    """The walkthrough's Service manifest."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"image": IMAGE, "env": [{"name": "TARGET", "value": target}]}]
                }
            }
        },
    }


def template_patch(target: str) -> Obj:
    """A merge patch that changes the template, hence a new Revision."""
    return {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"image": IMAGE, "env": [{"name": "TARGET", "value": target}]}]
                }
            }
        }
    }


def ready_generation(obj: Obj) -> int | None:
    """The generation this Service is Ready at (observedGeneration == generation), else None."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    generation = meta.get("generation")
    if not isinstance(generation, int) or status.get("observedGeneration") != generation:
        return None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return generation
    return None


def wait_ready(watch: Watch, pending: dict[str, int], timeout: float = WAIT_TIMEOUT) -> int:
    """Read ``watch`` until every name in ``pending`` is Ready at its generation (or later).

    Ready means: condition Ready=True, ``status.observedGeneration == metadata.generation``,
    and ``status.latestReadyRevisionName`` is the Revision of that generation (Knative names
    them ``<name>-%05d``). Returns how many names first showed Ready=True at the generation
    while the latest ready Revision was still an older one (a premature Ready: a client that
    checks only the condition and observedGeneration would have stopped there).
    """
    deadline = time.monotonic() + timeout
    left = dict(pending)
    premature: set[str] = set()
    try:
        for event in watch.events(deadline):
            if event["type"] not in ("ADDED", "MODIFIED"):
                continue
            obj = event["object"]
            name = obj["metadata"]["name"]
            want = left.get(name)
            gen = ready_generation(obj)
            if want is None or gen is None or gen < want:
                continue
            if obj["status"].get("latestReadyRevisionName") != f"{name}-{gen:05d}":
                premature.add(name)
                continue
            del left[name]
            if not left:
                return len(premature)
    except TimeoutError as exc:
        shown = ", ".join(sorted(left)[:5])
        raise TimeoutError(f"not Ready after {timeout:.0f}s: {len(left)} left ({shown})") from exc
    raise AssertionError("unreachable")


# --------------------------------------------------------------------- sandboxes
class Sandboxes:
    """Every sandbox this run starts lives under one temp dir; ``close`` stops them all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_dirs: list[Path] = []

    def new_dir(self, label: str) -> Path:
        path = self.root / f"{label}-{len(self.state_dirs):03d}"
        self.state_dirs.append(path)
        return path

    def start(
        self, label: str, stable_window: float | None = None
    ) -> tuple[control.SandboxInfo, Path]:
        """A fresh sandbox and a kubeconfig that points at it."""
        state_dir = self.new_dir(label)
        info, started = control.start(
            state_dir, stable_window=stable_window, scale_to_zero_grace=stable_window
        )
        assert started, state_dir
        kubeconfig = state_dir.with_suffix(".kubeconfig")
        control.write_kubeconfig(info, kubeconfig)
        return info, kubeconfig

    def close(self) -> None:
        for state_dir in self.state_dirs:
            with contextlib.suppress(Exception):
                control.stop(state_dir)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the sandbox process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid: int, timeout: float = 600.0, window: float = 1.0, busy: float = 0.05) -> float:
    """Wait until the sandbox uses less than ``busy`` of a core over ``window`` seconds;
    the seconds waited. The reconcilers keep working after the watched objects are Ready
    (routing labels, the data plane), and timing kubectl or the next create against that
    backlog would measure the backlog. This samples CPU time, there is no event to wait on.
    """
    start = time.monotonic()
    before = server_cpu(pid)
    while True:
        time.sleep(window)
        now = server_cpu(pid)
        if now - before < busy * window:
            return time.monotonic() - start - window
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"the sandbox (pid {pid}) stayed busy for {timeout:.0f}s")
        before = now


def api_for(info: control.SandboxInfo) -> Api:
    return Api(info.api, control.read_token(info.state_dir), control.ca_file(info.state_dir))


def knwalk_binary() -> str:
    beside = Path(sys.executable).parent / "knwalk"
    found = str(beside) if beside.exists() else shutil.which("knwalk")
    if not found:
        sys.exit("knwalk is not installed: pip install -e . in the venv")
    return found


def timed_run(cmd: list[str]) -> float:
    """Run ``cmd``; its wall time in milliseconds. Fails loudly if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")
    return elapsed


# --------------------------------------------------------------------- benchmarks
def bench_up(sandboxes: Sandboxes, rounds: int, report: Report) -> None:
    """`knwalk sandbox up` on a fresh state dir, then again on the same one after `down`."""
    print(f"sandbox up/down: {rounds} rounds", flush=True)
    knwalk = knwalk_binary()
    fresh: list[float] = []
    restart: list[float] = []
    down: list[float] = []
    for _ in range(rounds):
        state_dir = sandboxes.new_dir("up")
        kubeconfig = state_dir.with_suffix(".kubeconfig")
        up = [
            knwalk,
            "sandbox",
            "up",
            "--state-dir",
            str(state_dir),
            "--kubeconfig",
            str(kubeconfig),
        ]
        stop = [knwalk, "sandbox", "down", "--state-dir", str(state_dir)]
        fresh.append(timed_run(up))
        if control.running(state_dir) is None:
            raise RuntimeError(f"`sandbox up` returned but {state_dir} does not answer")
        down.append(timed_run(stop))
        restart.append(timed_run(up))
        if control.running(state_dir) is None:
            raise RuntimeError(f"`sandbox up` (restart) returned but {state_dir} does not answer")
        control.stop(state_dir)
    report.add(Row("`knwalk sandbox up`, fresh state dir", fresh, 1000.0))
    report.add(Row("`knwalk sandbox up`, existing state dir (restart)", restart))
    report.add(Row("`knwalk sandbox down`", down))


def measure_ready(
    api: Api,
    watch: Watch,
    prefix: str,
    rounds: int,
    report: Report,
    label: str = "",
    before_round: Callable[[], object] | None = None,
) -> None:
    """Create a Service and wait for Ready, then update it (v2) and wait again; ``rounds``
    times after one warm-up round (it warms the connection and the server's code paths)."""
    create: list[float] = []
    update: list[float] = []
    premature = [0, 0]
    for i in range(rounds + 1):
        name = f"{prefix}-{i:03d}"
        if before_round:
            before_round()
        start = time.perf_counter()
        created = api.request("POST", KSVC_PATH, ksvc(name, "Go Sample v1"))
        early_create = wait_ready(watch, {name: created["metadata"]["generation"]})
        created_ms = (time.perf_counter() - start) * 1000

        if before_round:
            before_round()
        start = time.perf_counter()
        updated = api.request(
            "PATCH",
            f"{KSVC_PATH}/{name}",
            template_patch("Go Sample v2"),
            "application/merge-patch+json",
        )
        early_update = wait_ready(watch, {name: updated["metadata"]["generation"]})
        updated_ms = (time.perf_counter() - start) * 1000
        if i > 0:
            create.append(created_ms)
            update.append(updated_ms)
            premature[0] += early_create
            premature[1] += early_update
    target = None if label else 300.0
    report.add(
        Row(f"ksvc create → Ready (watched){label}", create, target, _premature(premature[0]))
    )
    report.add(
        Row(f"ksvc update (v2) → Ready (watched){label}", update, None, _premature(premature[1]))
    )


def _premature(count: int) -> str:
    return f"{count} premature Ready=True on the old revision" if count else ""


def bench_ready(sandboxes: Sandboxes, rounds: int, report: Report) -> None:
    """Service create → Ready and update (v2) → Ready in a fresh sandbox."""
    print(f"ksvc create/update → Ready: {rounds} rounds (+1 warm-up)", flush=True)
    info, _ = sandboxes.start("ready")
    api = api_for(info)
    rv = api.request("GET", KSVC_PATH)["metadata"]["resourceVersion"]
    watch = api.watch(KSVC_PATH, rv)
    try:
        measure_ready(api, watch, "latency", rounds, report)
    finally:
        watch.close()
        api.close()
        control.stop(info.state_dir)


def bench_scale(
    sandboxes: Sandboxes, rounds: int, services: int, revisions: int, report: Report
) -> None:
    """N Services × M Revisions, then `kubectl get revisions -A` and `kubectl get ksvc -A`."""
    print(f"{services} Services × {revisions} Revisions: setup", flush=True)
    # No scale to zero while we measure: 100 Revision processes stopping at once would put
    # a burst of status writes in the middle of the kubectl timings.
    info, kubeconfig = sandboxes.start("scale", stable_window=3600.0)
    api = api_for(info)
    names = [f"svc-{i:03d}" for i in range(services)]
    rv = api.request("GET", KSVC_PATH)["metadata"]["resourceVersion"]
    watch = api.watch(KSVC_PATH, rv)
    phases: list[tuple[str, float]] = []
    premature = 0
    try:
        total_start = time.perf_counter()
        start = total_start
        pending = {
            n: api.request("POST", KSVC_PATH, ksvc(n, "v1"))["metadata"]["generation"]
            for n in names
        }
        premature += wait_ready(watch, pending, timeout=WAIT_TIMEOUT + 3 * services)
        phases.append((f"create {services} ksvc, all Ready", time.perf_counter() - start))
        for rev in range(2, revisions + 1):
            start = time.perf_counter()
            pending = {
                n: api.request(
                    "PATCH",
                    f"{KSVC_PATH}/{n}",
                    template_patch(f"v{rev}"),
                    "application/merge-patch+json",
                )["metadata"]["generation"]
                for n in names
            }
            premature += wait_ready(watch, pending, timeout=WAIT_TIMEOUT + 3 * services)
            phases.append(
                (f"update {services} ksvc (revision {rev}), all Ready", time.perf_counter() - start)
            )
        total = time.perf_counter() - total_start
        settle = wait_quiet(info.pid)
        count = len(api.request("GET", f"/apis/{GROUP_VERSION}/revisions")["items"])
        if count != services * revisions:
            raise RuntimeError(f"expected {services * revisions} revisions, found {count}")
    finally:
        watch.close()
        api.close()
    for label, seconds in phases:
        report.add(Row(f"setup: {label}", [seconds * 1000]))
    report.add(
        Row(
            f"setup: {services} Services × {revisions} Revisions, total",
            [total * 1000],
            note=f"{services * revisions / total:.0f} revisions/s"
            + (f"; {_premature(premature)}" if premature else ""),
        )
    )
    report.add(Row("setup: then busy until the sandbox is idle", [settle * 1000]))

    cache = info.state_dir.with_suffix(".kube-cache")
    kubectl = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache)]
    revs = [*kubectl, "get", "revisions", "-A"]
    ksvcs = [*kubectl, "get", "ksvc", "-A"]
    check_lines(revs, services * revisions)
    check_lines(ksvcs, services)
    print(f"kubectl: {rounds} runs each ({report.kubectl_timer})", flush=True)
    try:
        label = f"{services}×{revisions}"
        report.add(Row(f"`kubectl get revisions -A` ({label})", time_command(revs, rounds), 500.0))
        report.add(Row(f"`kubectl get ksvc -A` ({label})", time_command(ksvcs, rounds)))
        report.add(
            Row(
                "`kubectl get revisions -A`, cold discovery cache",
                time_command(revs, rounds, prepare=["rm", "-rf", str(cache)]),
            )
        )
        report.add(
            Row(
                "`kubectl get namespaces` (kubectl floor)",
                time_command([*kubectl, "get", "namespaces"], rounds),
            )
        )
        crowded = min(rounds, CROWDED_ROUNDS)
        print(f"ksvc create/update → Ready beside {label}: {crowded} rounds (+1 warm-up)")
        api = api_for(info)
        rv = api.request("GET", KSVC_PATH)["metadata"]["resourceVersion"]
        watch = api.watch(KSVC_PATH, rv)
        try:
            measure_ready(
                api,
                watch,
                "crowded",
                crowded,
                report,
                f" beside {label}",
                before_round=lambda: wait_quiet(info.pid),
            )
        finally:
            watch.close()
            api.close()
    finally:
        control.stop(info.state_dir)


def check_lines(cmd: list[str], expected: int) -> None:
    """Run a `kubectl get` once and check it lists ``expected`` objects (plus the header)."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = len(out.strip().splitlines()) - 1
    if rows != expected:
        raise RuntimeError(f"{shlex.join(cmd)} listed {rows} objects, expected {expected}")


def time_command(cmd: list[str], runs: int, prepare: list[str] | None = None) -> list[float]:
    """Wall times of ``cmd`` in milliseconds: hyperfine if installed, else a subprocess loop."""
    if shutil.which("hyperfine"):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            hf = [
                "hyperfine",
                "--shell=none",
                "--style=none",
                f"--runs={max(runs, 2)}",
                "--export-json",
                out.name,
            ]
            hf += ["--prepare", shlex.join(prepare)] if prepare else ["--warmup=2"]
            subprocess.run([*hf, shlex.join(cmd)], check=True, stdout=subprocess.DEVNULL)
            result = json.loads(Path(out.name).read_text())
        return [t * 1000 for t in result["results"][0]["times"]]
    if prepare is None:
        for _ in range(2):
            timed_run(cmd)
    samples = []
    for _ in range(runs):
        if prepare:
            subprocess.run(prepare, check=True)
        samples.append(timed_run(cmd))
    return samples


# --------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement (10)")
    parser.add_argument(
        "--services", type=int, default=None, help="Services in the scale test (100)"
    )
    parser.add_argument("--revisions", type=int, default=3, help="Revisions per Service (3)")
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds and 20 Services: a smoke run"
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--json", action="store_true", help="also print every sample as JSON")
    parser.add_argument(
        "--only",
        choices=["up", "ready", "scale"],
        action="append",
        help="run only these measurements (repeatable)",
    )
    args = parser.parse_args()
    rounds: int = args.rounds or (3 if args.quick else 10)
    services: int = args.services or (20 if args.quick else 100)
    if rounds < 2 or services < 1 or args.revisions < 1:
        parser.error("--rounds must be at least 2; --services and --revisions at least 1")
    only = set(args.only or ["up", "ready", "scale"])
    if "scale" in only and shutil.which("kubectl") is None:
        sys.exit("kubectl is not installed (needed for the scale measurement)")

    report = Report(kubectl_timer="hyperfine" if shutil.which("hyperfine") else "subprocess loop")
    with tempfile.TemporaryDirectory(prefix="knwalk-bench-") as tmp:
        sandboxes = Sandboxes(Path(tmp))
        try:
            if "up" in only:
                bench_up(sandboxes, rounds, report)
            if "ready" in only:
                bench_ready(sandboxes, rounds, report)
            if "scale" in only:
                bench_scale(sandboxes, rounds, services, args.revisions, report)
        finally:
            sandboxes.close()

    report.load_after = os.getloadavg()[0]
    print(f"\n{report.header()}")
    print(plain_table(report))
    if args.markdown:
        print()
        print(markdown_table(report))
    if args.json:
        print()
        meta = {k: v for k, v in asdict(report).items() if k != "rows"}
        print(json.dumps({**meta, "rows": [r.as_dict() for r in report.rows]}, indent=2))
    missed = [r.name for r in report.rows if r.met is False]
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
