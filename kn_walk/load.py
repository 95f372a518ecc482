"""Load through the ingress gateway, and what the answers say: rates, latencies, errors, split.

``knwalk curl --count/--duration`` runs on this, and so can anything judging a
Revision by its traffic: a :class:`LoadSpec` in, a :class:`LoadResult` out,
progress through a callback::

    result = load.run(LoadSpec(gw.url, host, count=1000, concurrency=10))
    result.error_rate, result.latency().p99, result.latency_by_answer()
    rows, verdict = result.compare(expected)     # probe.compare: the chi-square verdict

Two ways to send:

- **closed loop** (``count`` or ``duration``, ``concurrency`` C; as wrk and
  ``hey -c``): C connections, each sending its next request when the answer to
  the previous one is in. Latency runs from sending to the answer's last byte.
  How fast it goes depends on the server: a stall slows the sender down, so the
  requests that would have been sent meanwhile are never measured.
- **open loop** (``rate`` R with ``duration`` or ``count``; as vegeta,
  ``hey -q``/``-z`` and wrk2): request *i* is due at ``start + i/R`` whatever
  happened before it. Up to C connections are opened as needed; a request due
  while all of them are busy waits for one. Its latency runs from its *intended*
  send time (when it was due), not from when a connection took it, so a stall
  shows as the queueing delay it causes to every request due meanwhile
  (free of coordinated omission).

Requests go through :mod:`kn_walk.http1` (keep-alive HTTP/1.1, the request's
bytes built once) with the given Host header; https gateways are verified with
httpx's own default context (:func:`ssl_context`) unless the caller passes
another: verification is never turned off.

What is counted, per request (:meth:`LoadResult.records`): when it was due and
sent, its latency, its status (none for a failure without an answer), which
answer it got — a successful answer is classified by its body, as
:func:`kn_walk.probe.compare` attributes bodies to Revisions; the first
:data:`~kn_walk.http1.KEEP` bytes count and at most :data:`MAX_ANSWERS` distinct
bodies are told apart, the rest are :data:`OTHER` — and its failure kind:
``HTTP <status>`` for 1xx/4xx/5xx, or ``connect error``, ``tls error``,
``timeout``, ``read error``, ``protocol error``. The error rate is failures
over requests sent. Latency statistics take every request that got an answer
(any status); :func:`percentile` is the nearest-rank one (always a measured
value).

``knwalk curl -o json`` (:func:`document`): :func:`kn_walk.probe.summary_document`'s
keys, then::

    "mode": "closed" | "open", "rate": float | null, "durationSeconds": float | null,
    "stopped": bool, "errorRate": float, "statusCodes": {"200": int, ...},
    "latency": {"unit": "ms", "from": "send" | "intended send",
                "overall": stats | null,
                "byAnswer": [{"body": str, "revisions": [str], **stats}],
                "histogram": [{"fromMs": float, "toMs": float, "count": int}]}
    stats = {"count": int, "min": float, "mean": float, "p50": float, "p90": float,
             "p99": float, "max": float}

Importing this module costs only the standard library; httpx comes with the first
https run or :func:`compare`.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import re
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from kn_walk import http1
from kn_walk.errors import UsageError

if TYPE_CHECKING:
    import ssl

    from kn_walk.probe import Row, Summary, Verdict

#: the most requests one run sends (and records: 29 bytes each)
MAX_REQUESTS = 5_000_000
#: the most connections (closed loop: requests in flight)
MAX_CONCURRENCY = 1000
#: the highest open-loop rate, requests per second
MAX_RATE = 1_000_000.0
#: the longest run, seconds
MAX_DURATION = 24 * 3600.0
#: distinct successful bodies told apart; later ones are counted as :data:`OTHER`
MAX_ANSWERS = 100
OTHER = f"(bodies past the first {MAX_ANSWERS})"
#: seconds between progress callbacks
PROGRESS_INTERVAL = 0.25
USER_AGENT = "knwalk"
#: failure kinds of requests that got no answer, by index in the records (0: none)
KINDS = ("", "connect error", "tls error", "timeout", "read error", "protocol error")
CONNECT_ERROR = KINDS.index("connect error")
TLS_ERROR = KINDS.index("tls error")
PERCENTILES = (50, 90, 99)


# --------------------------------------------------------------------------- input


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")
_RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?:/(s|m|h|\d*\.?\d*(?:ms|s|m|h)))?")


def parse_duration(text: str, option: str = "--duration") -> float:
    """``30s``, ``500ms``, ``2m``, ``1m30s``, ``1h`` (Go's form), or plain seconds: ``2.5``."""
    raw = text.strip()
    seconds: float | None = None
    if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", raw):
        seconds = float(raw)
    elif raw and re.fullmatch(rf"(?:{_DURATION_PART.pattern})+", raw):
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        seconds = sum(float(n) * scale[u] for n, u in _DURATION_PART.findall(raw))
    if seconds is None or not 0.001 <= seconds <= MAX_DURATION:
        raise UsageError(
            f"{option} {text!r} is not a duration between 1ms and {MAX_DURATION / 3600:g}h",
            f"write it as 30s, 500ms, 2m or 1m30s (for example {option} 10s)",
        )
    return seconds


def parse_rate(text: str, option: str = "--rate") -> float:
    """``50/s``, ``3000/m``, ``50`` (per second), or vegeta's ``100/2s``: requests per second."""
    m = _RATE.fullmatch(text.strip())
    rate: float | None = None
    if m:
        per = m.group(2) or "s"
        span = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(per)
        if span is None:
            try:
                span = parse_duration(per if per[0].isdigit() else "1" + per, option)
            except UsageError:
                span = None
        if span:
            rate = float(m.group(1)) / span
    if rate is None or not 0 < rate <= MAX_RATE:
        raise UsageError(
            f"{option} {text!r} is not a rate above 0 and at most {MAX_RATE:,.0f}/s",
            f"write requests per second or minute, for example {option} 50/s or {option} 600/m",
        )
    return rate


@dataclass(frozen=True)
class LoadSpec:
    """What to send: ``count`` requests or for ``duration`` seconds (one of the two);
    open loop at ``rate`` requests/s when given, else closed loop; ``concurrency`` is
    the most connections (requests in flight). ``timeout``: seconds for a connection,
    and again for an answer. ``ssl_context``: for https (default :func:`ssl_context`).
    """

    gateway: str
    host: str
    path: str = "/"
    count: int | None = None
    duration: float | None = None
    concurrency: int = 10
    rate: float | None = None
    timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.gateway)
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise UsageError(f"gateway {self.gateway!r} has a bad port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"gateway {self.gateway!r} is not an http(s) URL")
        if not self.host or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in self.host):
            raise UsageError(f"Host header {self.host!r} is empty or holds a space or control")
        from kn_walk.probe import check_path

        check_path(self.path)
        if (self.count is None) == (self.duration is None):
            raise UsageError(
                "give either a request count or a duration",
                "--count N sends N requests, --duration 30s sends for 30 seconds",
            )
        if self.count is not None and not 1 <= self.count <= MAX_REQUESTS:
            raise UsageError(f"--count {self.count} is not between 1 and {MAX_REQUESTS:,}")
        if self.duration is not None and not 0 < self.duration <= MAX_DURATION:
            raise UsageError(f"--duration {self.duration:g}s is not above 0 and at most 24h")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"--concurrency {self.concurrency} is not between 1 and 1000")
        if not 0 < self.timeout <= 3600:
            raise UsageError(f"--timeout {self.timeout:g} is not above 0 and at most 3600 seconds")
        if self.rate is not None:
            if not 0 < self.rate <= MAX_RATE:
                raise UsageError(
                    f"--rate {self.rate:g}/s is not above 0 and at most {MAX_RATE:,.0f}/s"
                )
            planned = self.planned or 0
            if planned > MAX_REQUESTS:
                raise UsageError(
                    f"--rate {self.rate:g}/s for {self.duration:g}s is {planned:,} "
                    f"requests, more than the {MAX_REQUESTS:,} one run sends",
                    "lower --rate or --duration",
                )

    @property
    def mode(self) -> str:
        return "closed" if self.rate is None else "open"

    @property
    def planned(self) -> int | None:
        """Requests to send, when known in advance (a count, or a rate for a duration)."""
        if self.count is not None:
            return self.count
        if self.rate is not None and self.duration is not None:
            # request i is due at i/rate: those due before the duration ends
            return max(1, math.ceil(round(self.rate * self.duration, 9)))
        return None


def ssl_context() -> ssl.SSLContext:
    """The context https gateways are verified with: httpx's default (certifi's CAs), as
    :func:`kn_walk.probe.request` uses, so one request and many trust the same servers."""
    import httpx

    return httpx.create_ssl_context(trust_env=False)


def request_bytes(spec: LoadSpec) -> bytes:
    """The GET every request sends: the path as httpx would send it, the Host header."""
    import httpx

    target = httpx.URL(spec.gateway.rstrip("/") + spec.path).raw_path.decode("ascii")
    return (
        f"GET {target} HTTP/1.1\r\nHost: {spec.host}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\n\r\n"
    ).encode("ascii")


# --------------------------------------------------------------------------- statistics


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q``% of ``ordered`` at or below it."""
    if not ordered:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    rank = math.ceil(round(q * len(ordered) / 100, 9))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class LatencyStats:
    """Latency of ``count`` requests, in seconds."""

    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencyStats | None:
        if not values:
            return None
        ordered = sorted(values)
        p50, p90, p99 = (percentile(ordered, q) for q in PERCENTILES)
        return cls(
            len(ordered), ordered[0], math.fsum(ordered) / len(ordered), p50, p90, p99, ordered[-1]
        )

    def as_dict(self) -> dict[str, Any]:
        """Milliseconds, rounded to the microsecond."""

        def ms(v: float) -> float:
            return round(v * 1000, 3)

        return {
            "count": self.count,
            "min": ms(self.min),
            "mean": ms(self.mean),
            "p50": ms(self.p50),
            "p90": ms(self.p90),
            "p99": ms(self.p99),
            "max": ms(self.max),
        }


@dataclass(frozen=True)
class Bucket:
    """Values ``low <= v < high`` (the last bucket also holds ``v == high``)."""

    low: float
    high: float
    count: int


def histogram(values: Sequence[float], buckets: int = 8) -> list[Bucket]:
    """At most ``buckets`` contiguous buckets from the smallest value to the largest: equal
    ratios (log scale) when all values are positive, equal widths otherwise."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    if not values:
        return []
    lo, hi = min(values), max(values)
    if lo == hi:
        return [Bucket(lo, hi, len(values))]
    if lo > 0:
        ratio = math.log(hi / lo)
        edges = [lo * math.exp(ratio * i / buckets) for i in range(buckets + 1)]
    else:
        edges = [lo + (hi - lo) * i / buckets for i in range(buckets + 1)]
    edges[0], edges[-1] = lo, hi
    strict = [lo]
    for e in edges[1:-1]:
        if strict[-1] < e < hi:
            strict.append(e)
    strict.append(hi)
    counts = [0] * (len(strict) - 1)
    last = len(counts) - 1
    for v in values:
        counts[min(bisect.bisect_right(strict, v) - 1, last)] += 1
    return [Bucket(strict[i], strict[i + 1], c) for i, c in enumerate(counts)]


# --------------------------------------------------------------------------- results


class Request(NamedTuple):
    """One request: seconds from the run's start to when it was due and when the client
    began it (took a connection, or began connecting), its latency (from when it was due
    to the answer's last byte or the failure), status (None: no answer), the body class of
    a successful answer, and its failure (``""``: none)."""

    intended: float
    sent: float
    latency: float
    status: int | None
    answer: str | None
    failure: str

    @property
    def queued(self) -> float:
        """Seconds it waited for a connection after it was due (open loop)."""
        return self.sent - self.intended


class LoadProgress(NamedTuple):
    """What the progress callback gets, every :data:`PROGRESS_INTERVAL` s and at the end."""

    done: int  # requests answered or failed
    failed: int
    planned: int | None  # requests to send, when known
    elapsed: float
    duration: float | None  # seconds the run sends for, when given
    refused: int = 0  # connections the server refused (it is down or restarting)
    untrusted: int = 0  # TLS handshakes that failed verification (the server's certificate)


@dataclass
class LoadResult:
    """What a run did: per-request records (:meth:`records`) and statistics over them.

    The arrays hold one entry per request, in the order the requests finished.
    """

    spec: LoadSpec
    started_at: float  # time.time() at the start
    elapsed: float  # seconds from the start to the last answer
    answers: list[str]  # successful bodies, by index
    intended_at: array[float]  # seconds from the start
    sent_at: array[float]
    latency_s: array[float]
    status_code: array[int]  # 0: no answer
    answer_index: array[int]  # index into answers; -1: not a successful answer
    failure_kind: array[int]  # index into KINDS; 0: an answer came back
    stopped: bool = False  # stop was asked before everything was sent
    truncated: bool = False  # MAX_REQUESTS were sent before the duration ended

    @property
    def count(self) -> int:
        return len(self.status_code)

    def records(self) -> Iterator[Request]:
        for i in range(self.count):
            status, ans, kind = self.status_code[i], self.answer_index[i], self.failure_kind[i]
            yield Request(
                self.intended_at[i],
                self.sent_at[i],
                self.latency_s[i],
                status or None,
                self.answers[ans] if ans >= 0 else None,
                KINDS[kind] if kind else _status_failure(status),
            )

    @cached_property
    def failures(self) -> Counter[str]:
        """Failures by kind: ``HTTP 503``, ``connect error``, ..."""
        out: Counter[str] = Counter()
        for status, kind in zip(self.status_code, self.failure_kind, strict=True):
            if kind:
                out[KINDS[kind]] += 1
            elif not 200 <= status < 400:
                out[f"HTTP {status}"] += 1
        return out

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def ok(self) -> int:
        return self.count - self.failed

    @property
    def error_rate(self) -> float:
        """Failures (no answer, or a status outside 200-399) over requests sent."""
        return self.failed / self.count if self.count else 0.0

    @property
    def requests_per_second(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    @cached_property
    def bodies(self) -> Counter[str]:
        """Successful answers by body (what :func:`kn_walk.probe.compare` reads)."""
        counts = Counter(a for a in self.answer_index if a >= 0)
        return Counter({self.answers[i]: n for i, n in counts.items()})

    def status_counts(self) -> dict[int, int]:
        """Answers by status code (failures without an answer are not in it)."""
        return dict(sorted(Counter(s for s in self.status_code if s).items()))

    def latencies(self) -> list[float]:
        """Seconds, of every request that got an answer (any status)."""
        return [lat for lat, s in zip(self.latency_s, self.status_code, strict=True) if s]

    def latency(self) -> LatencyStats | None:
        """Latency of every request that got an answer; None when none did."""
        return LatencyStats.of(self.latencies())

    def latency_by_answer(self) -> dict[str, LatencyStats]:
        """Latency of the successful answers, by body."""
        groups: dict[int, list[float]] = {}
        for lat, a in zip(self.latency_s, self.answer_index, strict=True):
            if a >= 0:
                groups.setdefault(a, []).append(lat)
        out: dict[str, LatencyStats] = {}
        for i, values in sorted(groups.items()):
            stats = LatencyStats.of(values)
            assert stats is not None
            out[self.answers[i]] = stats
        return out

    def histogram(self, buckets: int = 8) -> list[Bucket]:
        """:func:`histogram` of :meth:`latencies`."""
        return histogram(self.latencies(), buckets)

    def summary(self) -> Summary:
        """The result as :func:`kn_walk.probe.run` returns it (bodies and failures)."""
        from kn_walk.probe import Summary

        return Summary(self.count, self.spec.concurrency, self.elapsed, self.bodies, self.failures)

    def compare(
        self, expected: Sequence[tuple[str, int, Sequence[str]]]
    ) -> tuple[list[Row], Verdict | None]:
        """:func:`kn_walk.probe.compare` of the bodies seen with the split configured:
        ``expected`` holds (body, percent, revisions)."""
        from kn_walk.probe import compare

        return compare(self.bodies, expected)


def _status_failure(status: int) -> str:
    return "" if 200 <= status < 400 else f"HTTP {status}"


def document(result: LoadResult, rows: Sequence[Row], verdict: Verdict | None) -> dict[str, Any]:
    """The ``knwalk curl -o json`` document (see the module docstring)."""
    from kn_walk.probe import summary_document

    spec = result.spec
    doc = summary_document(spec.gateway, spec.host, spec.path, result.summary(), rows, verdict)
    overall = result.latency()
    by_answer = result.latency_by_answer()
    revisions = {r.body: list(r.revisions) for r in rows}
    order = [r.body for r in rows if r.body in by_answer]
    order += [b for b in by_answer if b not in order]
    doc.update(
        {
            "mode": spec.mode,
            "rate": spec.rate,
            "durationSeconds": spec.duration,
            "stopped": result.stopped or result.truncated,
            "errorRate": round(result.error_rate, 6),
            "statusCodes": {str(k): v for k, v in result.status_counts().items()},
            "latency": {
                "unit": "ms",
                "from": "intended send" if spec.mode == "open" else "send",
                "overall": overall.as_dict() if overall else None,
                "byAnswer": [
                    {"body": b, "revisions": revisions.get(b, []), **by_answer[b].as_dict()}
                    for b in order
                ],
                "histogram": [
                    {
                        "fromMs": round(b.low * 1000, 3),
                        "toMs": round(b.high * 1000, 3),
                        "count": b.count,
                    }
                    for b in result.histogram()
                ],
            },
        }
    )
    return doc


# --------------------------------------------------------------------------- the engine

ProgressCallback = Callable[[LoadProgress], None]


def run(
    spec: LoadSpec,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> LoadResult:
    """Send the load ``spec`` describes and return what came back.

    ``progress`` is called from the run's thread every :data:`PROGRESS_INTERVAL` seconds
    and once at the end; setting ``stop`` (from any thread) sends nothing more, waits for
    the requests in flight and returns with ``stopped`` set.
    """
    return asyncio.run(arun(spec, progress, stop))


async def arun(
    spec: LoadSpec,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> LoadResult:
    """:func:`run` inside a running event loop (to send two loads at once, for example)."""
    return await _Engine(spec, progress, stop).run()


class _Engine:
    def __init__(
        self, spec: LoadSpec, progress: ProgressCallback | None, stop: threading.Event | None
    ) -> None:
        parts = urlsplit(spec.gateway)
        https = parts.scheme == "https"
        self.spec = spec
        self.address = parts.hostname or ""
        self.port = parts.port or (443 if https else 80)
        self.tls = (spec.ssl_context or ssl_context()) if https else None
        self.request = request_bytes(spec)
        self.progress = progress
        self.stop = stop
        self.planned = spec.planned
        self.loop = asyncio.get_running_loop()
        self.t0 = 0.0
        self.deadline = math.inf
        self.claimed = 0
        self.failed = 0
        self.refused = 0
        self.untrusted = 0
        self.stopped = False
        self.truncated = False
        self.connections: set[http1.Connection] = set()
        self.answers: list[str] = []
        self._by_bytes: dict[bytes, int] = {}
        self._by_text: dict[str, int] = {}
        self.intended_at: array[float] = array("d")
        self.sent_at: array[float] = array("d")
        self.latency_s: array[float] = array("d")
        self.status_code: array[int] = array("H")
        self.answer_index: array[int] = array("h")
        self.failure_kind: array[int] = array("B")

    async def run(self) -> LoadResult:
        started_at = time.time()
        self.t0 = self.loop.time()
        if self.spec.duration is not None and self.spec.rate is None:
            self.deadline = self.t0 + self.spec.duration
        reporter = asyncio.create_task(self._report()) if self.progress else None
        sweeper = asyncio.create_task(self._sweep())
        try:
            if self.spec.rate is None:
                n = self.spec.concurrency if self.planned is None else self.planned
                await asyncio.gather(
                    *(self._closed_worker() for _ in range(min(self.spec.concurrency, n)))
                )
            else:
                await self._open_loop(self.spec.rate)
        finally:
            sweeper.cancel()
            if reporter is not None:
                reporter.cancel()
            for conn in list(self.connections):
                conn.close()
        elapsed = self.loop.time() - self.t0
        result = LoadResult(
            self.spec,
            started_at,
            elapsed,
            self.answers,
            self.intended_at,
            self.sent_at,
            self.latency_s,
            self.status_code,
            self.answer_index,
            self.failure_kind,
            stopped=self.stopped,
            truncated=self.truncated,
        )
        if self.progress is not None:
            self._tell()
        return result

    # ------------------------------------------------------------ progress

    def _tell(self) -> None:
        assert self.progress is not None
        self.progress(
            LoadProgress(
                len(self.status_code),
                self.failed,
                self.planned,
                self.loop.time() - self.t0,
                self.spec.duration,
                self.refused,
                self.untrusted,
            )
        )

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            self._tell()

    async def _sweep(self) -> None:
        """Time out requests: one sweep over the connections every ``timeout/4`` (at most
        every 5 ms, at least every 100 ms) costs less than a timer per request."""
        timeout = self.spec.timeout
        interval = max(0.005, min(0.1, timeout / 4))
        while True:
            await asyncio.sleep(interval)
            limit = self.loop.time() - timeout
            for conn in list(self.connections):
                if 0.0 < conn.since <= limit:
                    conn.time_out(timeout)

    def _stop_asked(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.stopped = True
        return self.stopped

    # ------------------------------------------------------------ closed loop

    def _claim(self, now: float) -> bool:
        """May a closed-loop worker send one more request at loop time ``now``?"""
        if self._stop_asked():
            return False
        if self.planned is not None:
            if self.claimed >= self.planned:
                return False
        elif now >= self.deadline:
            return False
        elif self.claimed >= MAX_REQUESTS:
            self.truncated = True
            return False
        self.claimed += 1
        return True

    async def _closed_worker(self) -> None:
        conn: http1.Connection | None = None
        now = self.loop.time()
        while self._claim(now):
            conn = await self._one(conn, now, now)
            now = self.loop.time()

    # ------------------------------------------------------------ open loop

    async def _open_loop(self, rate: float) -> None:
        planned = self.planned
        assert planned is not None
        queue: asyncio.Queue[float | None] = asyncio.Queue()
        workers: list[asyncio.Task[None]] = []
        idle = [0]

        async def worker() -> None:
            conn: http1.Connection | None = None
            while True:
                idle[0] += 1
                intended = await queue.get()
                idle[0] -= 1
                if intended is None:
                    return
                conn = await self._one(conn, intended, self.loop.time())

        i = 0
        try:
            while i < planned and not self._stop_asked():
                now = self.loop.time()
                due = self.t0 + i / rate
                if due > now:
                    await asyncio.sleep(min(due - now, PROGRESS_INTERVAL))
                    continue
                while i < planned and due <= now:
                    queue.put_nowait(due)
                    i += 1
                    due = self.t0 + i / rate
                more = min(queue.qsize() - idle[0], self.spec.concurrency - len(workers))
                workers.extend(asyncio.create_task(worker()) for _ in range(max(0, more)))
                await asyncio.sleep(0)
            if self.stopped:  # what is still waiting is not sent
                while not queue.empty():
                    queue.get_nowait()
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    # ------------------------------------------------------------ one request

    async def _one(
        self, conn: http1.Connection | None, intended: float, sent: float
    ) -> http1.Connection | None:
        """Send one request due at ``intended`` on ``conn`` (or a new connection), begun at
        ``sent``, and record it; the connection to use next, if it stays open."""
        retried = False
        while True:
            reused = conn is not None and conn.reusable
            try:
                if not reused:
                    if conn is not None:
                        self.connections.discard(conn)
                    conn = None
                    conn = await http1.connect(
                        self.address,
                        self.port,
                        ssl_context=self.tls,
                        server_hostname=self.address,
                        timeout=self.spec.timeout,
                    )
                    self.connections.add(conn)
                assert conn is not None
                waiter = conn.send(self.request, self.loop.time())
                try:
                    answer = await waiter
                finally:
                    conn.finished()
            except http1.Failure as failure:
                if conn is not None:
                    conn.close()
                    self.connections.discard(conn)
                    conn = None
                if failure.unanswered and reused and not retried:
                    retried = True  # an idle keep-alive connection the server had closed
                    continue
                self._record(intended, sent, 0, -1, KINDS.index(failure.kind))
                return None
            status = answer.status
            ok = 200 <= status < 400
            self._record(intended, sent, status, self._classify(answer.body) if ok else -1, 0)
            if not conn.reusable:
                self.connections.discard(conn)
                return None
            return conn

    def _record(self, intended: float, sent: float, status: int, answer: int, kind: int) -> None:
        now = self.loop.time()
        self.intended_at.append(intended - self.t0)
        self.sent_at.append(sent - self.t0)
        self.latency_s.append(now - intended)
        self.status_code.append(status)
        self.answer_index.append(answer)
        self.failure_kind.append(kind)
        if kind or not 200 <= status < 400:
            self.failed += 1
        if kind == CONNECT_ERROR:
            self.refused += 1
        elif kind == TLS_ERROR:
            self.untrusted += 1

    def _classify(self, body: bytes) -> int:
        """The index of a successful answer's body class."""
        index = self._by_bytes.get(body)
        if index is not None:
            return index
        text = body.decode("utf-8", "replace")
        index = self._by_text.get(text)
        if index is None:
            if len(self.answers) >= MAX_ANSWERS:
                text = OTHER
                index = self._by_text.get(text)
            if index is None:
                index = len(self.answers)
                self.answers.append(text)
                self._by_text[text] = index
        if len(self._by_bytes) < 4 * MAX_ANSWERS:
            self._by_bytes[body] = index
        return index
