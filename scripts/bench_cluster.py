#!/usr/bin/env python3
"""Benchmark ``knwalk cluster``: help start-up against gcloud's, and ``create --dry-run``.

Each command runs in a fresh process, ``--runs`` times (after one warm-up run that
fills the OS file cache and writes ``.pyc`` files), and the wall time of each run
is measured from spawn to exit. Reported: median, min and max in milliseconds.

    python scripts/bench_cluster.py                # 15 runs each (gcloud: 5)
    python scripts/bench_cluster.py --runs 30 --gcloud-runs 10 --json

Commands measured, in the same run so the machine state is shared:

* ``knwalk --help`` and ``knwalk cluster --help`` (google.cloud must not load);
* ``gcloud container clusters create --help`` (skipped when gcloud is not on PATH);
* ``knwalk cluster create --dry-run --project bench-project`` — builds the
  CreateClusterRequest with google-cloud-container and prints it; sends nothing.

Nothing here touches the network: gcloud runs with a throw-away configuration
directory and update checks, prompts and usage reporting disabled; knwalk runs
with no credentials and an explicit project.
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
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Timing:
    name: str
    command: str
    runs: int
    median_ms: float
    min_ms: float
    max_ms: float


def knwalk_command() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "knwalk"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "kn_walk"]


def measure(name: str, argv: list[str], env: dict[str, str], runs: int) -> Timing:
    def once() -> float:
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-500:]!r}")
        return elapsed

    once()  # warm-up
    samples = [once() for _ in range(runs)]
    return Timing(
        name,
        " ".join(argv),
        runs,
        round(statistics.median(samples), 1),
        round(min(samples), 1),
        round(max(samples), 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per knwalk command")
    parser.add_argument("--gcloud-runs", type=int, default=5, help="runs of the gcloud command")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        env = dict(os.environ)
        for var in ("GOOGLE_APPLICATION_CREDENTIALS", "KNWALK_GKE_ENDPOINT"):
            env.pop(var, None)
        env.update(
            CLOUDSDK_CONFIG=str(Path(tmp) / "gcloud"),
            CLOUDSDK_CORE_DISABLE_PROMPTS="1",
            CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
            CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="true",
            KUBECONFIG=str(Path(tmp) / "kubeconfig"),
            NO_COLOR="1",
            COLUMNS="100",
        )
        knwalk = knwalk_command()
        results = [
            measure("knwalk --help", [*knwalk, "--help"], env, args.runs),
            measure("knwalk cluster --help", [*knwalk, "cluster", "--help"], env, args.runs),
        ]
        gcloud = shutil.which("gcloud")
        if gcloud:
            results.append(
                measure(
                    "gcloud container clusters create --help",
                    [gcloud, "container", "clusters", "create", "--help"],
                    env,
                    args.gcloud_runs,
                )
            )
        dry_run = [*knwalk, "cluster", "create", "--dry-run", "--project", "bench-project"]
        results.append(measure("knwalk cluster create --dry-run", dry_run, env, args.runs))

    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return
    width = max(len(r.name) for r in results)
    print(f"{'command':<{width}}  runs  median ms  min ms  max ms")
    for r in results:
        print(
            f"{r.name:<{width}}  {r.runs:>4}  {r.median_ms:>9.1f}  {r.min_ms:>6.1f}  {r.max_ms:>6.1f}"
        )
    by_name = {r.name: r for r in results}
    ours = by_name["knwalk cluster --help"]
    theirs = by_name.get("gcloud container clusters create --help")
    if theirs is not None:
        print(
            f"\nknwalk cluster --help is {theirs.median_ms / ours.median_ms:.1f}x faster than "
            "gcloud container clusters create --help (median)."
        )
    if not gcloud:
        print("\ngcloud is not on PATH: its help was not measured.")


if __name__ == "__main__":
    main()
