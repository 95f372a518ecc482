#!/usr/bin/env python3
"""Benchmark knwalk's load engine against wrk through the same sandbox route, in one run.

Starts its own sandbox (127.0.0.1, a temporary state dir), deploys the
walkthrough's Service with knwalk's core, then for each round and each
connection count runs, back to back and in alternating order, ``wrk`` and
:func:`kn_walk.load.run` (closed loop, ``--duration`` seconds each) against the
gateway with the Service's Host header. Both go through the same gateway and
Revision process on the same cores; the figure that matters is the ratio of the
engine's requests/s to wrk's in the same round (target: at least 0.3).

It then runs the engine open loop at ``--open-rate`` requests/s and reports the
rate achieved and the latencies measured from each request's due time.

    python scripts/bench_load.py                      # 5 rounds of 5 s, 10 connections
    python scripts/bench_load.py --rounds 3 --connections 10,50 --json

Needs ``wrk`` (Debian package ``wrk``). Bounded: every run lasts ``--duration`` s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import parse_wrk, summary
from load_gateway import deploy

from kn_walk import load

TARGET_RATIO = 0.3
EXPECTED = "Hello Go Sample v1!\n"


def run_wrk(gateway: str, host: str, connections: int, duration: float, threads: int) -> float:
    cmd = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "-H",
        f"Host: {host}",
        f"{gateway}/",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr or proc.stdout}")
    result = parse_wrk(proc.stdout)
    if result.errors:
        raise RuntimeError(f"wrk saw {result.errors} errors:\n{proc.stdout}")
    return result.requests_per_second


def run_engine(gateway: str, host: str, connections: int, duration: float) -> load.LoadResult:
    spec = load.LoadSpec(gateway, host, duration=duration, concurrency=connections)
    result = load.run(spec)
    if result.failed or set(result.bodies) != {EXPECTED}:
        raise RuntimeError(f"the engine saw failures {result.failures} or {result.bodies}")
    return result


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from kn_walk.sandbox import control

    connections = [int(c) for c in args.connections.split(",")]
    out: dict[str, Any] = {
        "load_average_before": os.getloadavg()[0],
        "rounds": args.rounds,
        "duration_s": args.duration,
        "cores": os.cpu_count(),
        "closed_loop": {},
    }
    with tempfile.TemporaryDirectory(prefix="knwalk-bench-load-") as tmp:
        state, kubeconfig = Path(tmp) / "state", Path(tmp) / "kubeconfig"
        # a stable window longer than the run: the Revision must not scale to zero meanwhile
        info, _ = control.start(state, stable_window=3600)
        try:
            control.write_kubeconfig(info, kubeconfig)
            host, _ = deploy(state, kubeconfig)
            warm = load.run(load.LoadSpec(info.gateway, host, count=2000))
            assert set(warm.bodies) == {EXPECTED}, warm.bodies
            for c in connections:
                wrk_rps: list[float] = []
                engine_rps: list[float] = []
                ratios: list[float] = []
                p99: list[float] = []
                for i in range(args.rounds):
                    order = ("wrk", "engine") if i % 2 == 0 else ("engine", "wrk")
                    got: dict[str, float] = {}
                    for who in order:
                        if who == "wrk":
                            got[who] = run_wrk(info.gateway, host, c, args.duration, args.threads)
                        else:
                            r = run_engine(info.gateway, host, c, args.duration)
                            got[who] = r.requests_per_second
                            stats = r.latency()
                            assert stats is not None
                            p99.append(stats.p99 * 1000)
                    wrk_rps.append(got["wrk"])
                    engine_rps.append(got["engine"])
                    ratios.append(got["engine"] / got["wrk"])
                    print(
                        f"{c} connections, round {i + 1}: wrk {got['wrk']:,.0f} req/s, "
                        f"engine {got['engine']:,.0f} req/s, ratio {ratios[-1]:.2f}",
                        flush=True,
                    )
                out["closed_loop"][str(c)] = {
                    "wrk_rps": summary(wrk_rps),
                    "engine_rps": summary(engine_rps),
                    "ratio": summary(ratios),
                    "engine_p99_ms": summary(p99),
                    "target_ratio": TARGET_RATIO,
                    "met": statistics.median(ratios) >= TARGET_RATIO,
                }
            achieved: list[float] = []
            open_p50: list[float] = []
            open_p99: list[float] = []
            for i in range(args.rounds):
                spec = load.LoadSpec(
                    info.gateway,
                    host,
                    duration=args.duration,
                    rate=args.open_rate,
                    concurrency=args.open_connections,
                )
                r = load.run(spec)
                stats = r.latency()
                assert stats is not None and not r.failed, r.failures
                achieved.append(r.count / r.elapsed)
                open_p50.append(stats.p50 * 1000)
                open_p99.append(stats.p99 * 1000)
                print(
                    f"open loop at {args.open_rate:g}/s, round {i + 1}: {r.count} requests, "
                    f"{achieved[-1]:,.0f} req/s, p50 {open_p50[-1]:.2f} ms, "
                    f"p99 {open_p99[-1]:.2f} ms (from the due time)",
                    flush=True,
                )
            out["open_loop"] = {
                "rate": args.open_rate,
                "connections": args.open_connections,
                "achieved_rps": summary(achieved),
                "p50_ms": summary(open_p50),
                "p99_ms": summary(open_p99),
            }
        finally:
            control.stop(state)
    out["load_average_after"] = os.getloadavg()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per measurement (5)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument(
        "--connections", default="10", help="connection counts, comma-separated (10)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--open-rate", type=float, default=2000.0, help="open loop rate (2000)")
    parser.add_argument("--open-connections", type=int, default=50, help="open loop cap (50)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    result = bench(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print()
    print(f"load average {result['load_average_before']:.2f} → {result['load_average_after']:.2f}")
    for c, figures in result["closed_loop"].items():
        for key in ("wrk_rps", "engine_rps", "ratio", "engine_p99_ms"):
            v = figures[key]
            print(
                f"{c:>4} conns {key:14} median {v['median']:10.2f}  min {v['min']:10.2f}  "
                f"max {v['max']:10.2f}  stdev {v['stdev']:8.2f}"
            )
        print(f"{c:>4} conns ratio ≥ {TARGET_RATIO}: {'yes' if figures['met'] else 'NO'}")
    o = result["open_loop"]
    for key in ("achieved_rps", "p50_ms", "p99_ms"):
        v = o[key]
        print(
            f"open {o['rate']:g}/s {key:12} median {v['median']:10.2f}  min {v['min']:10.2f}  "
            f"max {v['max']:10.2f}  stdev {v['stdev']:8.2f}"
        )
    met = all(f["met"] for f in result["closed_loop"].values())
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
