#!/usr/bin/env python3
"""Benchmarks of issues 4 and 12: knwalk's CLI against kubectl, wrk and curl, in one run.

    .venv/bin/python scripts/bench_cli.py [--runs 15] [--count 1000] [--json] [--startup-only]

Starts a private sandbox (temporary state dir and kubeconfig), deploys
helloworld-go v1 and v2 and splits 50/50, then measures wall time of whole
processes (median, quartiles and range of ``--runs``, after one warm-up run; each
knwalk command alternates with its kubectl reference, and the ratio is taken per pair):

* ``knwalk --help`` vs ``kubectl version --client`` (target: ratio <= 2);
* ``knwalk status helloworld-go`` vs ``kubectl get ksvc,configuration,revision,route``;
* ``knwalk curl --count N`` requests/s (its own measurement, and N over the
  whole process's wall time) vs ``wrk`` (same connections, 3 s) and ``curl``
  (N URLs in one process, keep-alive; and 100 separate ``curl`` processes);
* start-up cost (issue 12, section 6): each of ``status``, ``deploy`` (the
  template it already runs: a read, no write), ``split 50/50`` (the split in
  place: a no-op), ``curl`` (one request) and ``delete`` (of a throwaway Service
  the script creates through the API before each round, untimed) paired, round
  by round and in alternating order, with ``python -c "import kubernetes"``, the
  floor every command of the one client pays; per command the difference and
  the ratio within each pair (target: difference <= 150 ms), and
  ``kubectl get ksvc,configuration,revision,route`` for reference.

Every process runs with Python's bytecode cache on (in a temporary
``PYTHONPYCACHEPREFIX``, whatever ``PYTHONDONTWRITEBYTECODE`` says), as an
installed package does: ``pip`` compiles at install time, and an editable tree
without cached bytecode would time the compiler (~15 ms for kn_walk/knative.py).

Prints a table (or JSON with ``--json``); docs/benchmarks.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KNWALK = [sys.executable, "-m", "kn_walk"]
if (Path(sys.executable).parent / "knwalk").exists():
    KNWALK = [str(Path(sys.executable).parent / "knwalk")]


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    quart = max(1, len(ordered) // 4)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": ordered[quart - 1],
        "q3": ordered[-quart],
        "stdev": statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
    }


def _once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def _once_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``cmd``. CPU time leaves
    out the waits (for the API server, and for a core on a busy machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = _once(cmd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Median, quartiles, min, max and stdev of ``cmd``'s wall seconds over ``runs`` runs
    (after a warm-up run)."""
    _once(cmd, env)
    return _stats([_once(cmd, env) for _ in range(runs)])


def paired(
    cmd: list[str], reference: list[str], env: dict[str, str], runs: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Both commands run alternately (so both see the same machine noise): the stats of
    each, and of the ratio cmd/reference within each pair."""
    _once(cmd, env), _once(reference, env)
    a, b = [], []
    for _ in range(runs):
        a.append(_once(cmd, env))
        b.append(_once(reference, env))
    return _stats(a), _stats(b), _stats([x / y for x, y in zip(a, b, strict=True)])


#: the paired start-up measurements: label -> the knwalk arguments
STARTUP = {
    "status": ["status", "helloworld-go"],
    "deploy": ["deploy", "--target", "Go Sample v2"],
    "split": ["split", "50/50"],
    "curl": ["curl"],
    "delete": ["delete", "{throwaway}", "--yes"],
}
#: the floor: what every command of the one client (kn_walk/kube.py) imports
KUBERNETES_IMPORT = [sys.executable, "-c", "import kubernetes"]
#: issue 12, section 6: a command may cost the kubernetes import plus this (seconds)
STARTUP_BUDGET = 0.150


def startup(
    env: dict[str, str], runs: int, throwaway: Any
) -> dict[str, dict[str, dict[str, float]]]:
    """Each :data:`STARTUP` command paired with :data:`KUBERNETES_IMPORT`, round by round
    (the order flips every round, so neither always runs first); ``throwaway(i)`` creates
    round ``i``'s Service for ``delete`` and returns its name (not timed). Per command: the
    stats of each side, of the difference and of the ratio within each pair."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label, args in STARTUP.items():
        cmd: list[tuple[float, float]] = []
        ref: list[tuple[float, float]] = []
        for i in range(-1, runs):  # round -1 is the warm-up (bytecode written, caches filled)
            argv = [*KNWALK, *(a.format(throwaway=throwaway(i)) if "{" in a else a for a in args)]
            if i % 2:
                took, floor = _once_cpu(argv, env), _once_cpu(KUBERNETES_IMPORT, env)
            else:
                floor, took = _once_cpu(KUBERNETES_IMPORT, env), _once_cpu(argv, env)
            if i >= 0:
                cmd.append(took)
                ref.append(floor)
        pairs = list(zip(cmd, ref, strict=True))
        out[label] = {
            "command": _stats([a[0] for a in cmd]),
            "kubernetes_import": _stats([b[0] for b in ref]),
            "difference": _stats([a[0] - b[0] for a, b in pairs]),
            "ratio": _stats([a[0] / b[0] for a, b in pairs]),
            "cpu_difference": _stats([a[1] - b[1] for a, b in pairs]),
        }
    return out


def hyperfine(cmds: list[list[str]], env: dict[str, str], runs: int) -> list[dict[str, float]]:
    """``hyperfine -N`` (no shell, output to /dev/null) stats of each command, or [] when
    hyperfine is not installed: the least noisy process timing this machine has."""
    if not shutil.which("hyperfine"):
        return []
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            ["hyperfine", "-N", "-w", "5", "-r", str(runs), "--export-json", out.name]
            + [" ".join(cmd) for cmd in cmds],
            env=env,
            capture_output=True,
            check=True,
        )
        doc = json.loads(Path(out.name).read_text())
    return [_stats(r["times"]) for r in doc["results"]]


def knwalk(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([*KNWALK, *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"knwalk {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def wrk_rate(url: str, host: str, connections: int, seconds: int) -> float | None:
    if not shutil.which("wrk"):
        return None
    proc = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Host: {host}", url],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([0-9.]+)", proc.stdout)
    return float(match.group(1)) if match else None


def curl_rates(url: str, host: str, count: int) -> dict[str, float] | None:
    if not shutil.which("curl"):
        return None
    args = ["curl", "-s", "-o", "/dev/null", "-H", f"Host: {host}"]
    start = time.perf_counter()
    subprocess.run([*args, *([url] * count)], check=True, stdout=subprocess.DEVNULL)
    one_process = count / (time.perf_counter() - start)
    loops = 100
    start = time.perf_counter()
    for _ in range(loops):
        subprocess.run([*args, url], check=True, stdout=subprocess.DEVNULL)
    per_process = loops / (time.perf_counter() - start)
    return {"one_process_keepalive": one_process, "process_per_request": per_process}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--startup-only", action="store_true", help="only the start-up pairs (issue 12)"
    )
    opts = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from kn_walk.sandbox import control

    tmp = Path(tempfile.mkdtemp(prefix="knwalk-bench-"))
    state, kubeconfig = tmp / "state", tmp / "kubeconfig"
    info, _ = control.start(state)
    try:
        control.write_kubeconfig(info, kubeconfig)
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), NO_COLOR="1", HOME=str(tmp))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        knwalk(env, "deploy")
        knwalk(env, "deploy", "--target", "Go Sample v2")
        knwalk(env, "split", "50/50")
        host = "helloworld-go.default.example.com"
        url = info.gateway + "/"
        results: dict[str, Any] = {"runs": opts.runs, "load_before": os.getloadavg()[0]}
        results["startup"] = startup(env, opts.runs, _throwaway(kubeconfig))
        results["startup_kubectl"] = timed(
            ["kubectl", "get", "ksvc,configuration,revision,route"], env, opts.runs
        )
        if opts.startup_only:
            results["load_after"] = os.getloadavg()[0]
            return _report(opts, results)

        results["help"], results["kubectl_version"], results["help_ratio"] = paired(
            [*KNWALK, "--help"], ["kubectl", "version", "--client"], env, opts.runs
        )
        results["status"], results["kubectl_get"], results["status_ratio"] = paired(
            [*KNWALK, "status", "helloworld-go"],
            ["kubectl", "get", "ksvc,configuration,revision,route"],
            env,
            opts.runs,
        )

        clean = {k: v for k, v in env.items() if k != "KUBECONFIG"}
        results["hyperfine"] = hyperfine(
            [[*KNWALK, "--help"], ["kubectl", "version", "--client"]], clean, opts.runs
        )

        cmd = [*KNWALK, "curl", "--count", str(opts.count), "--concurrency", str(opts.concurrency)]
        start = time.perf_counter()
        out = knwalk(env, *cmd[len(KNWALK) :], "-o", "json")
        wall = time.perf_counter() - start
        doc = json.loads(out)
        results["curl"] = {
            "count": opts.count,
            "concurrency": opts.concurrency,
            "failed": doc["failed"],
            "requests_per_second": doc["requestsPerSecond"],
            "requests_per_second_wall": opts.count / wall,
        }
        results["wrk_requests_per_second"] = wrk_rate(url, host, opts.concurrency, 3)
        results["curl_loop"] = curl_rates(url, host, opts.count)
        results["load_after"] = os.getloadavg()[0]
    finally:
        control.stop(state)
        shutil.rmtree(tmp, ignore_errors=True)
    return _report(opts, results)


def _throwaway(kubeconfig: Path) -> Any:
    """``make(i)``: creates Service ``bench-delete-I`` through the API (for ``knwalk delete``
    to delete) and returns its name."""
    from kn_walk import knative
    from kn_walk.kube import connect

    kube = connect(kubeconfig)

    def make(i: int) -> str:
        name = f"bench-delete-{i + 1}"
        body = knative.service_manifest(name, kube.namespace, knative.DeployOptions())
        kube.create(knative.GROUP, knative.VERSION, "services", body)
        return name

    return make


def _ms(r: dict[str, float]) -> str:
    return f"{r['median'] * 1000:.0f} ms ({r['min'] * 1000:.0f}-{r['max'] * 1000:.0f})"


def _print_startup(results: dict[str, Any]) -> None:
    budget = f"{STARTUP_BUDGET * 1000:.0f} ms"
    print(
        f"start-up, {results['runs']} rounds, each command paired with "
        "`python -c 'import kubernetes'`: median (min-max)"
    )
    header = ("command", "knwalk", "import kubernetes", "difference", "ratio", "CPU difference")
    print("  " + "".join(f"{h:<22}" for h in header) + f"difference <= {budget}?")
    for label, r in results["startup"].items():
        q = r["ratio"]
        cells = (
            label,
            _ms(r["command"]),
            _ms(r["kubernetes_import"]),
            _ms(r["difference"]),
            f"{q['median']:.2f}x ({q['min']:.2f}-{q['max']:.2f})",
            _ms(r["cpu_difference"]),
        )
        met = "yes" if r["difference"]["median"] <= STARTUP_BUDGET else "NO"
        print("  " + "".join(f"{c:<22}" for c in cells) + met)
    print(
        "  (wall times; CPU difference: user + system time, without the waits for the API "
        "server or for a core)"
    )
    print(f"  kubectl get ksvc,configuration,revision,route: {_ms(results['startup_kubectl'])}")
    print(f"  load average {results['load_before']:.1f} before, {results['load_after']:.1f} after")


def _report(opts: argparse.Namespace, results: dict[str, Any]) -> int:
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    _print_startup(results)
    if opts.startup_only:
        return 0

    def ms(r: dict[str, float]) -> str:
        return (
            f"{r['median'] * 1000:7.1f} ms (IQR {r['q1'] * 1000:.1f}-{r['q3'] * 1000:.1f}, "
            f"range {r['min'] * 1000:.1f}-{r['max'] * 1000:.1f})"
        )

    def ratio(r: dict[str, float]) -> str:
        return f"{r['median']:.2f}x (IQR {r['q1']:.2f}-{r['q3']:.2f}, range {r['min']:.2f}-{r['max']:.2f})"

    print(f"wall time, median of {opts.runs} runs")
    print(f"  knwalk --help                              {ms(results['help'])}")
    print(f"  kubectl version --client                   {ms(results['kubectl_version'])}")
    print(f"    ratio per pair {ratio(results['help_ratio'])} (target <= 2x)")
    if results["hyperfine"]:
        h_help, h_kubectl = results["hyperfine"]
        print("  with hyperfine -N (no shell, no pipes)")
        print(f"  knwalk --help                              {ms(h_help)}")
        print(f"  kubectl version --client                   {ms(h_kubectl)}")
        print(f"    ratio of medians {h_help['median'] / h_kubectl['median']:.2f}x (target <= 2x)")
    print(f"  knwalk status helloworld-go                {ms(results['status'])}")
    print(f"  kubectl get ksvc,configuration,revision,route {ms(results['kubectl_get'])}")
    print(f"    ratio per pair {ratio(results['status_ratio'])}")
    c = results["curl"]
    print(f"requests/s, {c['count']} requests, concurrency {c['concurrency']}")
    print(f"  knwalk curl --count (own timing)           {c['requests_per_second']:8.0f}")
    print(f"  knwalk curl --count (whole process)        {c['requests_per_second_wall']:8.0f}")
    if results["wrk_requests_per_second"] is not None:
        print(
            f"  wrk -c{c['concurrency']} -d3s                             {results['wrk_requests_per_second']:8.0f}"
        )
    if results["curl_loop"]:
        loop = results["curl_loop"]
        print(
            f"  curl, {c['count']} URLs in one process (keep-alive)  {loop['one_process_keepalive']:8.0f}"
        )
        print(f"  curl, one process per request              {loop['process_per_request']:8.0f}")
    if c["failed"]:
        print(f"  ({c['failed']} knwalk requests failed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
