#!/usr/bin/env python3
"""Benchmark the sandbox data plane: gateway throughput, added latency, cold start.

Starts one helloworld revision (kn_walk.sandbox.node.workloads) behind the gateway
(kn_walk.sandbox.dataplane.gateway) in this process, then alternates ``wrk`` runs against
the revision process directly and through the gateway (Host header routing),
and finally measures cold starts: the revision is scaled to zero, then the
time from sending a request to the gateway to its first response byte.

    python scripts/bench_gateway.py                 # 3 rounds of 10 s at 50 connections
    python scripts/bench_gateway.py --rounds 5 --cold 30 --json

Needs ``wrk`` (Debian package ``wrk``). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kn_walk.sandbox.dataplane.gateway import Backend, Gateway
from kn_walk.sandbox.node.workloads import RevisionWorkload, RuntimeStatus, Workloads

HOST = "helloworld-go.default.example.com"
EXPECTED = b"Hello Go Sample v1!\n"


@dataclass
class WrkResult:
    requests_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"unexpected latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        errors += sum(int(g) for g in m.groups())
    return WrkResult(rps, p50, p99, errors)


async def run_wrk(url: str, host: str | None, args: argparse.Namespace) -> WrkResult:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
    ]
    if host:
        cmd += ["-H", f"Host: {host}"]
    cmd.append(url)
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {text}")
    return parse_wrk(text)


async def first_byte(port: int) -> tuple[float, bytes]:
    """Seconds from sending a request through the gateway to the first byte, and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    start = time.perf_counter()
    writer.write(request)
    first = await reader.read(1)
    elapsed = time.perf_counter() - start
    rest = await reader.read()
    writer.close()
    response = first + rest
    return elapsed, response.partition(b"\r\n\r\n")[2]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


async def bench(args: argparse.Namespace) -> dict[str, object]:
    statuses: dict[tuple[str, str], RuntimeStatus] = {}
    changed = asyncio.Event()

    def on_status(ns: str, name: str, status: RuntimeStatus) -> None:
        statuses[(ns, name)] = status
        changed.set()

    async def wait_status(reason: str, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = ("default", "helloworld-go-00001")
        while key not in statuses or statuses[key].reason != reason:
            changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no status {reason!r}: {statuses}")
            await asyncio.wait_for(changed.wait(), remaining)

    with tempfile.TemporaryDirectory(prefix="knwalk-bench-") as state_dir:
        workloads = Workloads(state_dir, on_status, stable_window=3600, scale_to_zero_grace=3600)
        await workloads.start()
        gateway = Gateway(workloads)
        try:
            gw_port = await gateway.start()
            rev = RevisionWorkload(
                namespace="default",
                name="helloworld-go-00001",
                uid="bench",
                image="gcr.io/knative-samples/helloworld-go",
                env=(("TARGET", "Go Sample v1"),),
                container_port=8080,
                timeout_seconds=300,
                configuration="helloworld-go",
                service="helloworld-go",
            )
            workloads.sync([rev], [("default", rev.name)])
            gateway.set_routes({HOST: [Backend("default", rev.name, 100)]})
            host, port = await workloads.endpoint("default", rev.name, 30)
            elapsed, body = await first_byte(gw_port)
            assert body == EXPECTED, body

            direct: list[WrkResult] = []
            proxied: list[WrkResult] = []
            for i in range(args.rounds):
                # the revision may have been restarted: ask for its port each round
                host, port = await workloads.endpoint("default", rev.name, 30)
                d = await run_wrk(f"http://{host}:{port}/", None, args)
                g = await run_wrk(f"http://127.0.0.1:{gw_port}/", HOST, args)
                direct.append(d)
                proxied.append(g)
                print(
                    f"round {i + 1}: direct {d.requests_per_second:,.0f} req/s "
                    f"(p50 {d.latency_p50_ms:.2f} ms), gateway {g.requests_per_second:,.0f} req/s "
                    f"(p50 {g.latency_p50_ms:.2f} ms), ratio "
                    f"{g.requests_per_second / d.requests_per_second:.2f}"
                    + (f", errors {d.errors}/{g.errors}" if d.errors or g.errors else ""),
                    flush=True,
                )

            cold: list[float] = []
            for _ in range(args.cold):
                workloads.set_windows(0, 0)
                await wait_status("NoTraffic")
                workloads.set_windows(3600, 3600)
                elapsed, body = await first_byte(gw_port)
                assert body == EXPECTED, body
                cold.append(elapsed * 1000)
            warm: list[float] = []
            for _ in range(args.cold):
                elapsed, body = await first_byte(gw_port)
                assert body == EXPECTED, body
                warm.append(elapsed * 1000)
        finally:
            await gateway.stop()
            await workloads.stop()

    ratios = [
        g.requests_per_second / d.requests_per_second for d, g in zip(direct, proxied, strict=True)
    ]
    return {
        "load_average_1m_at_end": os.getloadavg()[0],
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "direct_rps": summary([d.requests_per_second for d in direct]),
        "gateway_rps": summary([g.requests_per_second for g in proxied]),
        "ratio": summary(ratios),
        "direct_p50_ms": summary([d.latency_p50_ms for d in direct]),
        "gateway_p50_ms": summary([g.latency_p50_ms for g in proxied]),
        "added_p50_ms": summary(
            [g.latency_p50_ms - d.latency_p50_ms for d, g in zip(direct, proxied, strict=True)]
        ),
        "gateway_p99_ms": summary([g.latency_p99_ms for g in proxied]),
        "errors": sum(d.errors + g.errors for d, g in zip(direct, proxied, strict=True)),
        "cold_start_first_byte_ms": summary(cold),
        "warm_first_byte_new_connection_ms": summary(warm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per target (3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--cold", type=int, default=20, help="cold starts to measure (20)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print()
    for key, value in result.items():
        if isinstance(value, dict):
            print(
                f"{key:36} median {value['median']:10.2f}  min {value['min']:10.2f}  "
                f"max {value['max']:10.2f}  stdev {value['stdev']:8.2f}"
            )
        else:
            print(f"{key:36} {value}")


if __name__ == "__main__":
    main()
