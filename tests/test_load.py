"""The load engine (kn_walk/load.py, kn_walk/http1.py): statistics on known data and by
property, closed and open loops through the sandbox's real gateway, latency from the intended
send time under a stalled Revision, failures counted as errors, and HTTP/1.1 framing against
local servers that answer with exact bytes.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kn_walk import http1, load
from kn_walk.errors import UsageError
from kn_walk.load import LoadProgress, LoadSpec
from tests.conftest import Sandbox
from tests.test_cli_support import Cluster

V1_BODY, V2_BODY = "Hello Go Sample v1!\n", "Hello Go Sample v2!\n"


# --------------------------------------------------------------------------- statistics


def test_percentiles_of_known_data() -> None:
    hundred = [float(v) for v in range(1, 101)]
    assert [load.percentile(hundred, q) for q in (0, 1, 50, 90, 99, 99.5, 100)] == [
        1, 1, 50, 90, 99, 100, 100,
    ]  # fmt: skip
    assert load.percentile([3.0], 50) == 3.0
    assert load.percentile([1.0, 2.0], 50) == 1.0  # nearest rank: a measured value
    assert load.percentile([1.0, 2.0], 51) == 2.0
    ten = [float(v) for v in range(10)]
    assert load.percentile(ten, 90) == 8.0 and load.percentile(ten, 91) == 9.0
    with pytest.raises(ValueError):
        load.percentile([], 50)
    with pytest.raises(ValueError):
        load.percentile([1.0], 101)


def test_latency_stats_of_known_data() -> None:
    values = [i / 1000 for i in range(100, 0, -1)]  # 1..100 ms, unsorted
    stats = load.LatencyStats.of(values)
    assert stats is not None
    assert stats.as_dict() == {
        "count": 100, "min": 1.0, "mean": 50.5, "p50": 50.0, "p90": 90.0, "p99": 99.0,
        "max": 100.0,
    }  # fmt: skip
    assert load.LatencyStats.of([]) is None


def test_histogram_of_known_data() -> None:
    assert load.histogram([], 4) == []
    assert load.histogram([2.0, 2.0], 4) == [load.Bucket(2.0, 2.0, 2)]
    linear = load.histogram([0.0, 1.0, 2.0, 3.0, 4.0], 4)
    assert [(b.low, b.high, b.count) for b in linear] == [
        (0.0, 1.0, 1), (1.0, 2.0, 1), (2.0, 3.0, 1), (3.0, 4.0, 2),
    ]  # fmt: skip
    log = load.histogram([1.0, 10.0, 100.0, 1000.0], 3)
    assert [b.count for b in log] == [1, 1, 2]
    assert [b.low for b in log] == pytest.approx([1.0, 10.0, 100.0])


finite = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=200), st.floats(min_value=0, max_value=100))
def test_percentile_is_the_nearest_rank(values: list[float], q: float) -> None:
    ordered = sorted(values)
    p = load.percentile(ordered, q)
    assert p in values
    n = len(values)
    at_or_below = sum(v <= p for v in values)
    below = sum(v < p for v in values)
    share = Fraction(round(q * n / 100, 9))  # the engine rounds the rank the same way
    assert at_or_below >= share  # at least q% at or below it ...
    assert below < max(share, 1)  # ... and it is the smallest value for which that holds
    assert load.percentile(ordered, 100) == max(values)
    assert load.percentile(ordered, 0) == min(values)


@given(
    st.lists(finite, min_size=1, max_size=200),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_is_monotonic(values: list[float], q1: float, q2: float) -> None:
    ordered = sorted(values)
    lo, hi = sorted((q1, q2))
    assert load.percentile(ordered, lo) <= load.percentile(ordered, hi)


@given(st.lists(finite, min_size=1, max_size=300), st.integers(min_value=1, max_value=12))
def test_histogram_partitions_the_values(values: list[float], buckets: int) -> None:
    hist = load.histogram(values, buckets)
    assert 1 <= len(hist) <= buckets
    assert sum(b.count for b in hist) == len(values)
    assert hist[0].low == min(values) and hist[-1].high == max(values)
    for a, b in itertools.pairwise(hist):
        assert a.high == b.low and a.low < a.high
    for i, b in enumerate(hist):  # each count is exactly the values in its range
        last = i == len(hist) - 1
        inside = sum(b.low <= v < b.high or (last and v == b.high) for v in values)
        assert inside == b.count


# --------------------------------------------------------------------------- input


def test_durations_and_rates() -> None:
    assert [load.parse_duration(t) for t in ("30s", "500ms", "2m", "1m30s", "1h", "2.5")] == [
        30, 0.5, 120, 90, 3600, 2.5,
    ]  # fmt: skip
    assert [load.parse_rate(t) for t in ("50/s", "50", "600/m", "3600/h", "100/2s")] == [
        50, 50, 10, 1, 50,
    ]  # fmt: skip
    for bad in ("", "0s", "0.5ms", "-1s", "10x", "s", "25h", "1e3"):
        with pytest.raises(UsageError, match="--duration"):
            load.parse_duration(bad)
    for bad in ("", "0/s", "fast", "5/y", "2000000/s", "-3"):
        with pytest.raises(UsageError, match="--rate"):
            load.parse_rate(bad)
    # 0 is refused, so the message must not offer it as an end of the range
    with pytest.raises(UsageError, match=r"'0/s' is not a rate above 0 and at most"):
        load.parse_rate("0/s")


def test_spec_refuses_what_it_cannot_send() -> None:
    gw = "http://127.0.0.1:1"
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "either a request count or a duration"),
        ({"count": 1, "duration": 1.0}, "either a request count or a duration"),
        ({"count": 0}, "--count 0"),
        ({"count": 1, "concurrency": 0}, "--concurrency 0"),
        ({"duration": 10.0, "rate": 1e6}, "more than the 5,000,000"),
        ({"count": 1, "path": "x"}, "must start with '/'"),
        ({"count": 1, "host": "a b"}, "Host header"),
        ({"count": 1, "gateway": "ftp://x"}, "not an http(s) URL"),
    ]
    for kwargs, text in cases:
        args = {"gateway": gw, "host": "h.example.com", **kwargs}
        with pytest.raises(UsageError, match=text.replace("(", r"\(").replace(")", r"\)")):
            LoadSpec(**args)
    assert LoadSpec(gw, "h", duration=1.0, rate=2.5).planned == 3  # due at 0, 0.4, 0.8 s
    assert LoadSpec(gw, "h", duration=1.0, rate=10).planned == 10
    assert LoadSpec(gw, "h", duration=1.0).planned is None


def test_importing_the_engine_costs_no_cli_or_http_library() -> None:
    import subprocess
    import sys

    code = "import sys, kn_walk.load; print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'typer', 'httpx', 'aiohttp', 'kubernetes')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the sandbox's gateway


def _host(cluster: Cluster) -> str:
    return f"helloworld-go.{cluster.namespace}.example.com"


@pytest.fixture
def app(sandbox: Sandbox, cluster: Cluster) -> tuple[str, str]:
    """The walkthrough's v1 deployed: (gateway URL, Host)."""
    cluster.deploy()
    return sandbox.info.gateway, _host(cluster)


def test_closed_loop_sends_exactly_count(app: tuple[str, str]) -> None:
    gateway, host = app
    result = load.run(LoadSpec(gateway, host, count=237, concurrency=7))
    assert result.count == 237 == result.ok
    assert result.bodies == {V1_BODY: 237}
    assert result.status_counts() == {200: 237} and result.error_rate == 0.0
    records = list(result.records())
    assert all(r.intended == r.sent and r.latency > 0 and r.failure == "" for r in records)
    assert all(r.answer == V1_BODY and r.status == 200 for r in records)
    stats = result.latency()
    assert stats is not None and stats.count == 237 and stats.max <= result.elapsed
    assert result.latency_by_answer()[V1_BODY] == stats
    assert sum(b.count for b in result.histogram()) == 237
    # more connections than requests: still exactly count
    assert load.run(LoadSpec(gateway, host, count=3, concurrency=50)).count == 3


def test_closed_loop_for_a_duration_sends_nothing_after_it(app: tuple[str, str]) -> None:
    gateway, host = app
    result = load.run(LoadSpec(gateway, host, duration=0.4, concurrency=3))
    assert result.count > 0 and result.failed == 0
    assert max(result.sent_at) < 0.4 <= result.elapsed
    assert not result.stopped and not result.truncated


def test_open_loop_keeps_the_schedule(app: tuple[str, str]) -> None:
    gateway, host = app
    seen: list[LoadProgress] = []
    result = load.run(LoadSpec(gateway, host, duration=1.0, rate=150, concurrency=4), seen.append)
    assert result.count == 150 and result.failed == 0
    due = sorted(result.intended_at)
    assert due == pytest.approx([i / 150 for i in range(150)], abs=1e-9)
    for r in result.records():
        assert r.sent >= r.intended  # never sent before it is due ...
        assert r.latency >= r.sent - r.intended  # ... and the wait is part of the latency
    assert result.elapsed >= due[-1]
    assert seen and seen[-1].done == 150 and seen[-1].planned == 150
    assert all(a.done <= b.done for a, b in itertools.pairwise(seen))


def _revision_pid(sandbox: Sandbox, namespace: str, revision: str) -> int:
    record = json.loads((sandbox.state_dir / "workloads" / "workloads.json").read_text())
    pids = [c["pid"] for c in record["children"] if c["revision"] == f"{namespace}/{revision}"]
    assert len(pids) == 1, record
    return int(pids[0])


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_stalled_revision_shows_as_queueing_delay_in_the_open_loop(
    sandbox: Sandbox, cluster: Cluster, app: tuple[str, str]
) -> None:
    """The Revision's process is stopped (SIGSTOP) for a while mid-run: every request due
    during the stall cannot be answered before it ends, so measured from its due time its
    latency is at least the rest of the stall, however long it waited for one of the two
    connections. A client timing from when a connection took the request would report most
    of them as fast."""
    gateway, host = app
    pid = _revision_pid(sandbox, cluster.namespace, "helloworld-go-00001")
    marks: dict[str, float] = {}

    def stall(p: LoadProgress) -> None:
        # progress comes every 0.25 s from the run's loop: stop at the first, resume at the
        # third, and note both moments on the loop's clock (the records are relative to it)
        if "stop" not in marks:
            os.kill(pid, signal.SIGSTOP)
            marks["stop"] = p.elapsed
        elif "cont" not in marks and p.elapsed - marks["stop"] >= 0.4:
            os.kill(pid, signal.SIGCONT)
            marks["cont"] = p.elapsed

    try:
        result = load.run(
            LoadSpec(gateway, host, duration=1.5, rate=100, concurrency=2, timeout=10), stall
        )
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "cont" in marks, marks
    assert result.failed == 0 and result.count == 150
    stopped, resumed = marks["stop"], marks["cont"]
    during = [r for r in result.records() if stopped <= r.intended < resumed]
    assert len(during) >= 30
    for r in during:
        assert r.intended + r.latency >= resumed - 0.001, (r, stopped, resumed)
    # most of them waited in the client for a connection: timed from when they were taken,
    # they would look fast, and the stall would be hidden
    waited = [r for r in during if r.queued > (resumed - r.intended) / 2]
    assert len(waited) >= len(during) - 4
    stats = result.latency()
    assert stats is not None and stats.max >= (resumed - stopped) - 2 / 100
    assert stats.p90 >= 0.1  # a fifth of the run was due during a stall of at least 0.4 s


def test_the_split_is_judged_per_revision(sandbox: Sandbox, split_app: Cluster) -> None:
    from kn_walk import knative
    from kn_walk.kube import connect

    with connect(split_app.kubeconfig, namespace=split_app.namespace) as kube:
        snap = knative.snapshot(kube, "helloworld-go")
    expected = [(e.body, e.percent, e.revisions) for e in knative.expected_responses(snap)]
    result = load.run(LoadSpec(sandbox.info.gateway, _host(split_app), count=400))
    rows, verdict = result.compare(expected)
    assert verdict is not None and verdict.consistent
    assert {r.body: r.revisions for r in rows} == {
        V1_BODY: ("helloworld-go-00001",),
        V2_BODY: ("helloworld-go-00002",),
    }
    by_answer = result.latency_by_answer()
    assert set(by_answer) == {V1_BODY, V2_BODY}
    assert sum(s.count for s in by_answer.values()) == 400
    doc = load.document(result, rows, verdict)
    assert [a["revisions"] for a in doc["latency"]["byAnswer"]] == [list(r.revisions) for r in rows]


def test_an_unrouted_host_is_an_http_error(app: tuple[str, str]) -> None:
    gateway, _ = app
    result = load.run(LoadSpec(gateway, "nobody.nowhere.example.com", count=12, concurrency=3))
    assert result.failures == {"HTTP 404": 12}
    assert result.error_rate == 1.0 and result.status_counts() == {404: 12}
    assert result.bodies == {} and result.latency() is not None  # answered, so timed


def test_connection_failures_are_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = load.run(LoadSpec(f"http://127.0.0.1:{port}", "h", count=5, concurrency=2))
    assert result.failures == {"connect error": 5}
    assert result.error_rate == 1.0 and result.ok == 0
    assert result.status_counts() == {} and result.latency() is None
    assert [r.status for r in result.records()] == [None] * 5


def test_stop_sends_nothing_more(app: tuple[str, str]) -> None:
    gateway, host = app
    stop = threading.Event()
    result = load.run(LoadSpec(gateway, host, duration=30, rate=50), lambda p: stop.set(), stop)
    assert result.stopped and 0 < result.count < 1500 and result.failed == 0
    assert result.elapsed < 30


# --------------------------------------------------------------------------- knwalk curl


def test_curl_json_has_latency_status_codes_and_the_verdict(split_app: Cluster) -> None:
    result = split_app.run("curl", "--duration", "0.5s", "--rate", "200/s", "-o", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    n = doc["count"]
    assert n == 100 and doc["ok"] == n
    assert (doc["mode"], doc["rate"], doc["durationSeconds"]) == ("open", 200, 0.5)
    assert doc["statusCodes"] == {"200": n} and doc["errorRate"] == 0
    lat = doc["latency"]
    assert (lat["unit"], lat["from"]) == ("ms", "intended send")
    overall = lat["overall"]
    assert overall["count"] == n
    assert overall["min"] <= overall["p50"] <= overall["p90"] <= overall["p99"] <= overall["max"]
    assert {a["body"]: a["revisions"] for a in lat["byAnswer"]} == {
        V1_BODY: ["helloworld-go-00001"],
        V2_BODY: ["helloworld-go-00002"],
    }
    assert sum(a["count"] for a in lat["byAnswer"]) == n
    assert sum(b["count"] for b in lat["histogram"]) == n
    assert lat["histogram"][0]["fromMs"] == overall["min"]
    assert lat["histogram"][-1]["toMs"] == overall["max"]
    assert doc["verdict"]["test"] == "chi-square"


def test_curl_text_shows_percentiles_histogram_and_status(split_app: Cluster) -> None:
    result = split_app.run("curl", "--count", "200", "--concurrency", "4")
    assert result.code == 0, result.err
    heads = [line.split() for line in result.lines]
    assert ["LATENCY", "(ms)", "COUNT", "P50", "P90", "P99", "MAX"] in heads
    assert ["HISTOGRAM", "(ms)", "COUNT"] in heads
    assert ["STATUS", "COUNT"] in heads and ["200", "200"] in heads
    rows = {h[0] for h in heads if h}
    assert {"helloworld-go-00001", "helloworld-go-00002"} <= rows
    assert "Verdict: consistent" in result.out
    assert max(len(line.rstrip()) for line in result.lines) <= 80


def test_curl_load_options_are_checked(split_app: Cluster) -> None:
    cases = [
        (["--count", "5", "--duration", "1s"], "give only one"),
        (["--rate", "5/s"], "--rate needs --duration or --count"),
        (["--rate", "fast", "--count", "5"], "--rate 'fast'"),
        (["--duration", "forever"], "--duration 'forever'"),
        (["--duration", "10s", "--rate", "900000/s"], "more than the 5,000,000"),
    ]
    for args, text in cases:
        result = split_app.run("curl", *args)
        result.assert_error(2)
        assert text in result.error, (args, result.err)


# --------------------------------------------------------------------------- HTTP/1.1 framing


Reply = Callable[[int], bytes | None]


class RawServer:
    """A loopback server answering the n-th request with ``reply(n)`` bytes, as is (None:
    close without answering); ``close_after(n)`` closes the connection after that answer."""

    def __init__(
        self,
        reply: Reply,
        *,
        close_after: Callable[[int], bool] = lambda n: False,
        tls: Path | None = None,
    ) -> None:
        self.reply = reply
        self.close_after = close_after
        self.count = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.context: ssl.SSLContext | None = None
        if tls is not None:
            from kn_walk.sandbox.certs import ensure_certificates

            _, crt, key = ensure_certificates(tls)
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.context.load_cert_chain(crt, key)
            self.url = self.url.replace("http://", "https://")
        self.threads: list[threading.Thread] = []
        self.done = threading.Event()

    def __enter__(self) -> RawServer:
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.sock.close()

    def _accept(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            buf = b""
            with conn:
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    with self.lock:
                        n = self.count
                        self.count += 1
                    answer = self.reply(n)
                    if answer is None:
                        return
                    conn.sendall(answer)
                    if self.close_after(n):
                        return
        except (OSError, ssl.SSLError):
            return


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def make(reply: Reply, **kw: Any) -> RawServer:
        server = RawServer(reply, **kw).__enter__()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.__exit__()


def _run(server: RawServer, count: int, concurrency: int = 1, **kw: Any) -> load.LoadResult:
    return load.run(
        LoadSpec(server.url, "h.example.com", count=count, concurrency=concurrency, **kw)
    )


def test_the_open_loop_sends_every_planned_request_even_behind_schedule(
    raw: Callable[..., RawServer],
) -> None:
    """Requests due while every connection is busy wait in line; when the schedule is done,
    they are still sent (only a stop drops them): 20 due in 0.1 s on one connection to a
    server answering in 20 ms take 0.4 s, and all 20 are counted."""

    def slow(n: int) -> bytes:
        time.sleep(0.02)
        return _ok(b"slow")

    server = raw(slow)
    result = _run(server, 20, rate=200)
    assert (result.count, result.failed, server.count) == (20, 0, 20)
    assert not result.stopped


def test_framings_a_server_may_choose(raw: Callable[..., RawServer]) -> None:
    answers = [
        _ok(b"sized\n"),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nchu\r\n4\r\nnked\r\n0\r\nTrailer: x\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + _ok(b"after hints"),
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
        _ok(b"two", b"Content-Length: 3\r\n"),
        b"HTTP/1.0 200 OK\r\n\r\nto the end",  # no length: the body runs to the close
    ]
    server = raw(lambda n: answers[n], close_after=lambda n: n == len(answers) - 1)
    result = _run(server, len(answers))
    assert result.failures == {}
    assert [r.answer for r in result.records()] == [
        "sized\n", "chunked", "after hints", "", "", "two", "to the end",
    ]  # fmt: skip
    assert result.status_counts() == {200: 5, 204: 1, 304: 1}
    assert server.connections == 1  # one connection, kept alive for them all


def test_malformed_answers_are_protocol_errors(raw: Callable[..., RawServer]) -> None:
    bad = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * (http1.MAX_HEAD + 10) + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # then the server closes
    ]
    server = raw(lambda n: bad[n], close_after=lambda n: True)
    result = _run(server, len(bad))
    assert result.failures == {"protocol error": len(bad)}


def test_a_closed_keep_alive_connection_is_retried_once(raw: Callable[..., RawServer]) -> None:
    """The server closes every connection after one answer without saying so: the next
    request on it gets no byte back and goes again on a new connection; no error."""
    server = raw(lambda n: _ok(b"x"), close_after=lambda n: True)
    result = _run(server, 6)
    assert result.failures == {} and result.count == 6
    assert server.connections == 6


def test_a_server_that_never_answers_times_out(raw: Callable[..., RawServer]) -> None:
    hold = threading.Event()

    def never(n: int) -> bytes | None:
        hold.wait(5)
        return None

    server = raw(never)
    try:
        result = _run(server, 3, concurrency=3, timeout=0.3)
    finally:
        hold.set()
    assert result.failures == {"timeout": 3}
    assert all(r.latency >= 0.3 for r in result.records())


def test_large_bodies_are_read_whole_and_classified_by_their_start(
    raw: Callable[..., RawServer],
) -> None:
    big = b"A" * http1.KEEP + b"B" * 100_000
    server = raw(lambda n: _ok(big + b"%d" % n))
    result = _run(server, 4)
    assert result.failures == {} and server.connections == 1
    assert result.bodies == {"A" * http1.KEEP: 4}


def test_distinct_bodies_past_the_limit_are_one_class(raw: Callable[..., RawServer]) -> None:
    server = raw(lambda n: _ok(b"body %d" % n))
    result = _run(server, load.MAX_ANSWERS + 20, concurrency=4)
    bodies = result.bodies
    assert len(bodies) == load.MAX_ANSWERS + 1 and bodies[load.OTHER] == 20


def test_https_is_verified(raw: Callable[..., RawServer], tmp_path: Path) -> None:
    server = raw(lambda n: _ok(b"secret"), tls=tmp_path)
    untrusted = _run(server, 2)  # the default context does not know the test CA
    assert untrusted.failures == {"tls error": 2}
    trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    ok = _run(server, 2, ssl_context=trusted)
    assert ok.failures == {} and ok.bodies == {"secret": 2}
    assert math.isclose(ok.error_rate, 0.0)
