#!/usr/bin/env python3
"""Benchmark of issue 7: the whole ``knwalk tour`` on the sandbox (target: < 10 s).

    .venv/bin/python scripts/bench_tour.py [--rounds 10] [--json] [--markdown]

Measures the wall time of whole ``knwalk tour --yes -o json`` processes, as a user
runs them, in two settings:

* **cold** — a new user: an empty HOME each round, so the tour starts the sandbox
  (state dir, certificates, token, seeded objects) before its 8 steps; the sandbox
  is stopped after the round;
* **warm** — the sandbox already running (started once, before the rounds): a
  re-run of the tour.

After one warm-up round (not counted), each setting runs ``--rounds`` times. For
each it prints the median (compared with the target), min–max, p90 and stdev of
the wall time, and the median of each step's own ``seconds`` from the JSON lines.
The 1-minute load average before and after is recorded too: a wide spread with a
good minimum means a busy machine. Every round checks its steps' results, so a
fast but broken tour cannot pass. Nothing touches ``~/.kube``: each round has its
own HOME under a temporary directory.
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
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KNWALK = [sys.executable, "-m", "kn_walk"]
if (Path(sys.executable).parent / "knwalk").exists():
    KNWALK = [str(Path(sys.executable).parent / "knwalk")]
TARGET_S = 10.0
STEPS = 8


def env_for(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KUBECONFIG", "XDG_", "KNWALK_")) and k != "HOME"
    }
    env.update(HOME=str(home), NO_COLOR="1", COLUMNS="80")
    return env


def state_dir(home: Path) -> Path:
    return home / ".local" / "state" / "knwalk" / "sandbox"


def tour(home: Path) -> tuple[float, list[dict[str, Any]]]:
    """One ``knwalk tour --yes -o json`` process: (wall seconds, its JSON lines), checked."""
    start = time.perf_counter()
    proc = subprocess.run(
        [*KNWALK, "tour", "--yes", "-o", "json"],
        env=env_for(home),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"knwalk tour failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    steps = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    check(steps)
    return wall, steps


def check(steps: list[dict[str, Any]]) -> None:
    """The same outcome the tests check, briefly: a fast tour must also be a correct one."""
    numbers = [s["step"] for s in steps]
    if numbers != list(range(STEPS + 1)):
        raise SystemExit(f"unexpected steps {numbers}")
    r = {s["step"]: s["result"] for s in steps}
    bodies = set(r[6]["seen"])
    ok = (
        r[2]["body"] == "Hello Go Sample v1!\n"
        and r[4]["body"] == "Hello Go Sample v2!\n"
        and bodies == {"Hello Go Sample v1!\n", "Hello Go Sample v2!\n"}
        and r[6]["requests"]["failed"] == 0
        and not any(r[8]["remaining"].values())
    )
    if not ok:
        raise SystemExit(f"the tour's results are wrong: {json.dumps(r)[:2000]}")


def stop(home: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from kn_walk.sandbox import control

    control.stop(state_dir(home))


def summary(walls: list[float], per_step: list[list[float]]) -> dict[str, Any]:
    ordered = sorted(walls)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "n": len(walls),
        "median_s": statistics.median(walls),
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "p90_s": p90,
        "stdev_s": statistics.stdev(walls) if len(walls) > 1 else 0.0,
        "target_s": TARGET_S,
        "met": statistics.median(walls) < TARGET_S,
        "step_median_s": [statistics.median(col) for col in zip(*per_step, strict=True)],
    }


def run_cold(tmp: Path, rounds: int) -> dict[str, Any]:
    walls: list[float] = []
    per_step: list[list[float]] = []
    for i in range(rounds + 1):
        home = tmp / f"cold-{i}"
        home.mkdir()
        try:
            wall, steps = tour(home)
        finally:
            stop(home)
        if i:  # round 0 warms the caches (imports, page cache)
            walls.append(wall)
            per_step.append([s["seconds"] for s in steps[1:]])
    return summary(walls, per_step)


def run_warm(tmp: Path, rounds: int) -> dict[str, Any]:
    home = tmp / "warm"
    home.mkdir()
    walls: list[float] = []
    per_step: list[list[float]] = []
    try:
        for i in range(rounds + 1):
            wall, steps = tour(home)
            if i:
                walls.append(wall)
                per_step.append([s["seconds"] for s in steps[1:]])
    finally:
        stop(home)
    return summary(walls, per_step)


def _fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    opts = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="knwalk-bench-tour-"))
    load_before = os.getloadavg()[0]
    try:
        results = {
            "cold": run_cold(tmp, opts.rounds),
            "warm": run_warm(tmp, opts.rounds),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average"] = {"before": load_before, "after": os.getloadavg()[0]}
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"knwalk tour --yes -o json, wall time of the whole process, {opts.rounds} rounds")
    print(f"load average {load_before:.1f} before, {results['load_average']['after']:.1f} after")
    for name, label in (("cold", "fresh HOME, starts the sandbox"), ("warm", "sandbox running")):
        r = results[name]
        print(
            f"  {name} ({label}): median {_fmt(r['median_s'])}  "
            f"min–max {_fmt(r['min_s'])}–{_fmt(r['max_s'])}  p90 {_fmt(r['p90_s'])}  "
            f"stdev {_fmt(r['stdev_s'])}  target < {TARGET_S:.0f} s: "
            f"{'met' if r['met'] else 'NOT met'}"
        )
        steps = "  ".join(f"{i}:{s * 1000:.0f}" for i, s in enumerate(r["step_median_s"], 1))
        print(f"    per-step medians (ms)  {steps}")
    if opts.markdown:
        print()
        print("| Measurement | n | Median | Min–max | p90 | Stdev | Target | Met? |")
        print("|---|---:|---:|---:|---:|---:|---:|:-:|")
        for name, label in (
            ("cold", "`knwalk tour`, fresh HOME (starts the sandbox)"),
            ("warm", "`knwalk tour`, sandbox running"),
        ):
            r = results[name]
            print(
                f"| {label} | {r['n']} | {_fmt(r['median_s'])} | {_fmt(r['min_s'])}–"
                f"{_fmt(r['max_s'])} | {_fmt(r['p90_s'])} | {_fmt(r['stdev_s'])} | "
                f"< {TARGET_S:.0f} s | {'yes' if r['met'] else 'no'} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
