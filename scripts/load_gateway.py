#!/usr/bin/env python3
"""Load test of the sandbox gateway: ``wrk`` for a while, errors counted, memory watched.

Starts its own sandbox (127.0.0.1, a temporary state dir), deploys the
walkthrough's Service with ``knwalk``'s own core, then runs ``wrk`` against the
gateway with the Service's Host header while sampling the resident memory
(RSS) of the sandbox process — and of the revision process — every
``--sample`` seconds. Passes when wrk saw no error at all (socket errors,
timeouts, non-2xx answers) and the sandbox's RSS in the last window (default:
the last 10 s) is less than 10% above that of the first window.

    python scripts/load_gateway.py                 # 60 s, 50 connections, windows of 10 s
    python scripts/load_gateway.py --duration 5 --window 1 --json

Needs ``wrk`` (Debian package ``wrk``). Bounded: wrk runs ``--duration`` seconds.
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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EXPECTED = "Hello Go Sample v1!\n"


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class GatewayReport:
    duration: float
    connections: int
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, sandbox, revision)
    window: float = 10.0

    def _mean(self, which: int, first: bool) -> float:
        if not self.samples:
            return 0.0
        t0, t1 = self.samples[0][0], self.samples[-1][0]
        chosen = [
            s[which]
            for s in self.samples
            if (s[0] <= t0 + self.window if first else s[0] >= t1 - self.window)
        ]
        return statistics.mean(chosen) if chosen else 0.0

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values()) + self.non_2xx

    @property
    def rss_growth(self) -> float:
        first = self._mean(1, True)
        return (self._mean(1, False) - first) / first if first else 0.0

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.errors == 0 and self.rss_growth < 0.10

    def summary(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration,
            "connections": self.connections,
            "requests": self.requests,
            "requests_per_second": round(self.rps, 1),
            "latency_p50_ms": round(self.p50_ms, 2),
            "latency_p99_ms": round(self.p99_ms, 2),
            "socket_errors": self.socket_errors,
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "window_s": self.window,
            "sandbox_rss_first_window_mib": round(self._mean(1, True) / 1024, 1),
            "sandbox_rss_last_window_mib": round(self._mean(1, False) / 1024, 1),
            "sandbox_rss_growth_percent": round(self.rss_growth * 100, 2),
            "revision_rss_first_window_mib": round(self._mean(2, True) / 1024, 1),
            "revision_rss_last_window_mib": round(self._mean(2, False) / 1024, 1),
            "samples": len(self.samples),
            "ok": self.ok,
        }


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0


def parse_wrk(output: str, report: GatewayReport) -> None:
    m = re.search(r"(\d+) requests in", output)
    report.requests = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    report.rps = float(m.group(1)) if m else 0.0
    m = re.search(r"\s50%\s+(\S+)", output)
    report.p50_ms = _ms(m.group(1)) if m else 0.0
    m = re.search(r"\s99%\s+(\S+)", output)
    report.p99_ms = _ms(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        report.socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True)
        )
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    report.non_2xx = int(m.group(1)) if m else 0


def run(
    gateway: str,
    host: str,
    sandbox_pid: int,
    revision_pid: int,
    *,
    duration: float = 60.0,
    connections: int = 50,
    threads: int = 2,
    window: float = 10.0,
    sample: float = 0.5,
) -> GatewayReport:
    """wrk against ``gateway`` with ``Host: host`` for ``duration`` s, sampling RSS meanwhile."""
    report = GatewayReport(duration, connections, window=window)
    done = threading.Event()
    start = time.monotonic()

    def sampler() -> None:
        while not done.is_set():
            report.samples.append(
                (time.monotonic() - start, rss_kib(sandbox_pid), rss_kib(revision_pid))
            )
            done.wait(sample)  # a sampling period, not a synchronisation

    t = threading.Thread(target=sampler, daemon=True)
    t.start()
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    wrk = subprocess.run(
        [*command, "--latency", "-H", f"Host: {host}", "--timeout", "5s", f"{gateway}/"],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    done.set()
    t.join(5)
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed: {wrk.stderr or wrk.stdout}")
    parse_wrk(wrk.stdout, report)
    return report


def deploy(state: Path, kubeconfig: Path) -> tuple[str, int]:
    """Deploy the walkthrough's Service; its Host and its revision's pid."""
    from kn_walk import knative
    from kn_walk.kube import connect

    with connect(kubeconfig, "knwalk-sandbox", "default") as kube:
        result = knative.deploy(kube, "helloworld-go", knative.DeployOptions(), timeout=60)
    host = result.service.url.split("://", 1)[1]
    data = json.loads((state / "workloads" / "workloads.json").read_text())
    pids = [c["pid"] for c in data["children"]]
    return host, pids[0] if pids else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of wrk (60)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--window", type=float, default=10.0, help="RSS windows, seconds (10)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    from kn_walk.sandbox import control

    with tempfile.TemporaryDirectory(prefix="knwalk-load-gw-") as tmp:
        state, kubeconfig = Path(tmp) / "state", Path(tmp) / "kubeconfig"
        # a stable window longer than the run: the revision must not scale to zero meanwhile
        info, _ = control.start(state, stable_window=args.duration + 600)
        try:
            control.write_kubeconfig(info, kubeconfig)
            host, revision = deploy(state, kubeconfig)
            import httpx

            answer = httpx.get(info.gateway, headers={"Host": host}, trust_env=False).text
            assert answer == EXPECTED, answer
            report = run(
                info.gateway,
                host,
                info.pid,
                revision,
                duration=args.duration,
                connections=args.connections,
                threads=args.threads,
                window=args.window,
            )
        finally:
            control.stop(state)
    summary = report.summary()
    summary["load_average"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['requests']} requests in {args.duration:g} s "
            f"({summary['requests_per_second']}/s, {args.connections} connections), "
            f"errors: {summary['errors']} {summary['socket_errors'] or ''}"
        )
        print(f"  latency p50 {summary['latency_p50_ms']} ms, p99 {summary['latency_p99_ms']} ms")
        print(
            f"  sandbox RSS {summary['sandbox_rss_first_window_mib']} MiB (first {args.window:g} s) "
            f"→ {summary['sandbox_rss_last_window_mib']} MiB (last {args.window:g} s): "
            f"{summary['sandbox_rss_growth_percent']:+.2f}%"
        )
        print(
            f"  revision RSS {summary['revision_rss_first_window_mib']} MiB "
            f"→ {summary['revision_rss_last_window_mib']} MiB"
        )
        print("OK" if summary["ok"] else "FAILED")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
