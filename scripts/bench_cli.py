#!/usr/bin/env python3
"""Benchmarks of issue 4: knwalk's CLI against kubectl, wrk and curl, in one run.

    .venv/bin/python scripts/bench_cli.py [--runs 15] [--count 1000] [--json]

Starts a private sandbox (temporary state dir and kubeconfig), deploys
helloworld-go v1 and v2 and splits 50/50, then measures wall time of whole
processes (median and min of ``--runs``, after one warm-up run):

* ``knwalk --help`` vs ``kubectl version --client`` (target: ratio <= 2);
* ``knwalk status helloworld-go`` vs ``kubectl get ksvc,configuration,revision,route``;
* ``knwalk curl --count N`` requests/s (its own measurement, and N over the
  whole process's wall time) vs ``wrk`` (same connections, 3 s) and ``curl``
  (N URLs in one process, keep-alive; and 100 separate ``curl`` processes).

Prints a table (or JSON with ``--json``); docs/benchmarks.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def timed(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Median and min wall seconds of ``cmd`` over ``runs`` runs (after a warm-up)."""
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return {"median": statistics.median(samples), "min": min(samples)}


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
    opts = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from kn_walk.sandbox import control

    tmp = Path(tempfile.mkdtemp(prefix="knwalk-bench-"))
    state, kubeconfig = tmp / "state", tmp / "kubeconfig"
    info, _ = control.start(state)
    try:
        control.write_kubeconfig(info, kubeconfig)
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), NO_COLOR="1", HOME=str(tmp))
        knwalk(env, "deploy")
        knwalk(env, "deploy", "--target", "Go Sample v2")
        knwalk(env, "split", "50/50")
        host = "helloworld-go.default.example.com"
        url = info.gateway + "/"
        results: dict[str, Any] = {"runs": opts.runs}

        results["help"] = timed([*KNWALK, "--help"], env, opts.runs)
        results["kubectl_version"] = timed(["kubectl", "version", "--client"], env, opts.runs)
        results["status"] = timed([*KNWALK, "status", "helloworld-go"], env, opts.runs)
        results["kubectl_get"] = timed(
            ["kubectl", "get", "ksvc,configuration,revision,route"], env, opts.runs
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
    finally:
        control.stop(state)
        shutil.rmtree(tmp, ignore_errors=True)

    ratio_help = results["help"]["median"] / results["kubectl_version"]["median"]
    ratio_status = results["status"]["median"] / results["kubectl_get"]["median"]
    results["ratios"] = {
        "help_vs_kubectl_version": ratio_help,
        "status_vs_kubectl_get": ratio_status,
    }
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    ms = lambda r: f"{r['median'] * 1000:7.1f} ms (min {r['min'] * 1000:.1f})"  # noqa: E731
    print(f"wall time, median of {opts.runs} runs")
    print(f"  knwalk --help                              {ms(results['help'])}")
    print(f"  kubectl version --client                   {ms(results['kubectl_version'])}")
    print(f"    ratio {ratio_help:.2f}x (target <= 2x)")
    print(f"  knwalk status helloworld-go                {ms(results['status'])}")
    print(f"  kubectl get ksvc,configuration,revision,route {ms(results['kubectl_get'])}")
    print(f"    ratio {ratio_status:.2f}x")
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
