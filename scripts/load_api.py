#!/usr/bin/env python3
"""Load test of the sandbox API: N concurrent clients doing create/patch/get/list/watch.

Every client owns a label (``load-client=<i>``) and a namespace (or, with
``--shared-namespace``, all share one), and until the time or its operation
budget runs out, repeats: create a ConfigMap, merge-patch it, get it
back (checking the patch is there), and every 5th round (the first included) list its own objects
(checking the list is exactly what it created: nothing lost, nothing twice,
nothing foreign). Beside it a watch on its label counts ADDED events per name.
At the end a final list of the namespace is compared with everything that was
acknowledged, and every watch must have seen each of its objects ADDED exactly
once, with resourceVersions only increasing.

    python scripts/load_api.py                       # 50 clients, 60 s, own sandbox
    python scripts/load_api.py --clients 10 --duration 5 --json
    python scripts/load_api.py --shared-namespace    # every list scans everyone's objects

Bounded in time (``--duration``) and count (``--max-ops`` per client); starts
its own sandbox on 127.0.0.1 in a temporary directory unless ``--kubeconfig``
names one (loopback only: a non-loopback server is refused).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import ssl
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

OPS = ("create", "patch", "get", "list", "watch")


@dataclass
class Report:
    clients: int
    duration: float
    ops: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    watch_problems: list[str] = field(default_factory=list)
    created: int = 0
    namespaces: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    @property
    def ok(self) -> bool:
        return not (
            self.server_errors
            or self.errors
            or self.lost
            or self.phantom
            or self.duplicated
            or self.watch_problems
        )

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            if not values:
                return 0.0
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

        every = [v for vs in self.latencies.values() for v in vs]
        return {
            "clients": self.clients,
            "namespaces": self.namespaces,
            "duration_s": round(self.duration, 1),
            "operations": self.ops,
            "ops_per_second": round(self.ops / self.duration, 1) if self.duration else 0,
            "objects_created": self.created,
            "status_codes": dict(sorted(self.statuses.items())),
            "server_errors_5xx": self.server_errors,
            "client_errors": self.errors[:10],
            "lost": self.lost[:10],
            "phantom": self.phantom[:10],
            "duplicated": self.duplicated[:10],
            "watch_problems": self.watch_problems[:10],
            "latency_ms": {
                op: {
                    "count": len(vs),
                    "p50": pct(vs, 0.50),
                    "p99": pct(vs, 0.99),
                    "max": round(max(vs) * 1000, 2) if vs else 0.0,
                }
                for op, vs in sorted(self.latencies.items())
            },
            "all_p50_ms": pct(every, 0.50),
            "all_p99_ms": pct(every, 0.99),
            "ok": self.ok,
        }


class Client:
    def __init__(
        self, i: int, session: aiohttp.ClientSession, api: str, ns: str, report: Report
    ) -> None:
        self.i = i
        self.s = session
        self.base = f"{api}/api/v1/namespaces/{ns}/configmaps"
        self.report = report
        self.mine: dict[str, str] = {}  # name -> acknowledged data.v
        self.added: Counter[str] = Counter()
        self.last_rv = 0

    async def _call(
        self, op: str, method: str, url: str, **kw: Any
    ) -> tuple[int, dict[str, Any] | None]:
        start = time.monotonic()
        try:
            async with self.s.request(method, url, **kw) as r:
                body = await r.json(content_type=None)
                status = r.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.report.errors.append(f"client {self.i} {op}: {type(exc).__name__}: {exc}")
            return 0, None
        self.report.latencies[op].append(time.monotonic() - start)
        self.report.statuses[status] += 1
        self.report.ops += 1
        return status, body

    async def run(self, deadline: float, max_ops: int) -> None:
        label = {"load-client": str(self.i)}
        n = 0
        while time.monotonic() < deadline and n < max_ops:
            name = f"c{self.i}-{n}"
            status, body = await self._call(
                "create",
                "POST",
                self.base,
                json={"metadata": {"name": name, "labels": label}, "data": {"v": "0"}},
            )
            if status != 201:
                self.report.errors.append(f"create {name}: {status} {body}")
                return
            self.mine[name] = "0"
            self.report.created += 1
            status, body = await self._call(
                "patch",
                "PATCH",
                f"{self.base}/{name}",
                data=json.dumps({"data": {"v": str(n)}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            if status != 200:
                self.report.errors.append(f"patch {name}: {status} {body}")
                return
            self.mine[name] = str(n)
            status, body = await self._call("get", "GET", f"{self.base}/{name}")
            if status != 200 or (body or {}).get("data", {}).get("v") != str(n):
                self.report.errors.append(f"get {name}: {status} {body}")
                return
            if n % 5 == 0:  # the first round too, so a slow machine still lists
                status, body = await self._call(
                    "list", "GET", self.base, params={"labelSelector": f"load-client={self.i}"}
                )
                names = [o["metadata"]["name"] for o in (body or {}).get("items", [])]
                if status != 200 or sorted(names) != sorted(self.mine):
                    missing = set(self.mine) - set(names)
                    extra = [x for x, c in Counter(names).items() if c > 1 or x not in self.mine]
                    self.report.errors.append(
                        f"list of client {self.i}: {status}, missing {sorted(missing)[:3]}, "
                        f"extra or twice {extra[:3]}"
                    )
                    return
            n += 1

    async def watch(self, stop: asyncio.Event, rv: str) -> None:
        """Count ADDED events of this client's objects; rvs must only increase."""
        params = {
            "watch": "true",
            "labelSelector": f"load-client={self.i}",
            "resourceVersion": rv,
            "timeoutSeconds": "600",
        }
        start = time.monotonic()
        try:
            async with self.s.get(self.base, params=params, timeout=None) as r:
                self.report.statuses[r.status] += 1
                self.report.ops += 1
                self.report.latencies["watch"].append(time.monotonic() - start)
                stopping = asyncio.ensure_future(stop.wait())
                while True:
                    reading = asyncio.ensure_future(r.content.readline())
                    done, _ = await asyncio.wait(
                        {reading, stopping}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if reading not in done:
                        reading.cancel()
                        break
                    line = reading.result()
                    if not line:
                        break
                    ev = json.loads(line)
                    rv_now = int(ev["object"]["metadata"]["resourceVersion"])
                    if rv_now <= self.last_rv:
                        self.report.watch_problems.append(
                            f"client {self.i}: resourceVersion went from {self.last_rv} to {rv_now}"
                        )
                    self.last_rv = rv_now
                    if ev["type"] == "ADDED":
                        self.added[ev["object"]["metadata"]["name"]] += 1
                    if stop.is_set() and set(self.added) >= set(self.mine):
                        break
                stopping.cancel()
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            self.report.watch_problems.append(f"client {self.i} watch: {exc!r}")


async def load(
    api: str,
    token: str,
    ca: str,
    *,
    clients: int = 50,
    duration: float = 60.0,
    max_ops: int = 100_000,
    shared_namespace: bool = False,
) -> Report:
    host = urlsplit(api).hostname or ""
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load {api}: loopback addresses only")
    report = Report(clients, duration)
    ctx = ssl.create_default_context(cafile=ca)
    headers = {"Authorization": f"Bearer {token}"}
    run = "load-" + uuid.uuid4().hex[:6]
    spaces = [run] if shared_namespace else [f"{run}-{i}" for i in range(clients)]
    report.namespaces = len(spaces)
    conn = aiohttp.TCPConnector(ssl=ctx, limit=clients * 2 + 10)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, connector=conn, timeout=timeout) as s:
        for ns in spaces:
            async with s.post(f"{api}/api/v1/namespaces", json={"metadata": {"name": ns}}) as r:
                assert r.status == 201, await r.text()
        async with s.get(f"{api}/api/v1/configmaps") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        cs = [Client(i, s, api, spaces[i % len(spaces)], report) for i in range(clients)]
        stop = asyncio.Event()
        watches = [asyncio.ensure_future(c.watch(stop, rv)) for c in cs]
        start = time.monotonic()
        await asyncio.gather(*(c.run(start + duration, max_ops) for c in cs))
        report.duration = time.monotonic() - start
        stop.set()
        # the watches catch up with what was acknowledged (bounded)
        _, pending = await asyncio.wait(watches, timeout=30)
        for w in pending:
            w.cancel()
        for c in cs:
            if not set(c.mine) <= set(c.added):
                missing = sorted(set(c.mine) - set(c.added))
                report.watch_problems.append(f"client {c.i}: no ADDED event for {missing[:3]}")
            twice = [n for n, k in c.added.items() if k > 1]
            if twice:
                report.watch_problems.append(f"client {c.i}: ADDED twice {twice[:3]}")
        # nothing lost, nothing twice, nothing that was never acknowledged
        items = []
        for ns in spaces:
            async with s.get(f"{api}/api/v1/namespaces/{ns}/configmaps") as r:
                items += (await r.json())["items"]
        names = Counter(o["metadata"]["name"] for o in items)
        acked = {n: v for c in cs for n, v in c.mine.items()}
        report.duplicated = [n for n, k in names.items() if k > 1]
        report.lost = sorted(set(acked) - set(names))
        report.phantom = sorted(set(names) - set(acked))
        for o in items:
            name = o["metadata"]["name"]
            if name in acked and o.get("data", {}).get("v") != acked[name]:
                report.lost.append(f"{name}: patch v={acked[name]} lost")
        for ns in spaces:
            async with s.delete(f"{api}/api/v1/namespaces/{ns}") as r:
                await r.read()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (60)")
    parser.add_argument("--max-ops", type=int, default=100_000, help="rounds per client")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--shared-namespace",
        action="store_true",
        help="all clients in one namespace (each list then scans every client's objects)",
    )
    args = parser.parse_args()
    from kn_walk.sandbox import control

    with tempfile.TemporaryDirectory(prefix="knwalk-load-") as tmp:
        state = Path(tmp) / "state"
        info, _ = control.start(state)
        try:
            report = asyncio.run(
                load(
                    info.api,
                    control.read_token(state),
                    str(control.ca_file(state)),
                    clients=args.clients,
                    duration=args.duration,
                    max_ops=args.max_ops,
                    shared_namespace=args.shared_namespace,
                )
            )
        finally:
            control.stop(state)
    summary = report.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        where = "one namespace" if args.shared_namespace else "a namespace each"
        print(f"{summary['clients']} clients ({where}), {summary['duration_s']} s: ", end="")
        print(f"{summary['operations']} operations ({summary['ops_per_second']}/s), ", end="")
        print(f"{summary['objects_created']} objects, 5xx: {summary['server_errors_5xx']}")
        for op, lat in summary["latency_ms"].items():
            print(
                f"  {op:7} n={lat['count']:6}  p50 {lat['p50']:7.2f} ms  p99 {lat['p99']:7.2f} ms"
            )
        print(f"  all      p50 {summary['all_p50_ms']} ms  p99 {summary['all_p99_ms']} ms")
        for key in ("client_errors", "lost", "phantom", "duplicated", "watch_problems"):
            if summary[key]:
                print(f"  {key}: {summary[key]}")
        print("OK" if summary["ok"] else "FAILED")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
