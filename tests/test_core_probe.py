"""probe: chi-square statistics (pure) and requests against a local HTTP server."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kn_walk import probe
from kn_walk.errors import KnwalkError

# Critical values of the chi-square distribution (upper tail), from standard tables.
TABLE = [
    (3.841, 1, 0.05),
    (6.635, 1, 0.01),
    (10.828, 1, 0.001),
    (5.991, 2, 0.05),
    (9.210, 2, 0.01),
    (7.815, 3, 0.05),
    (11.070, 5, 0.05),
    (18.307, 10, 0.05),
    (0.455, 1, 0.5),
    (1.386, 2, 0.5),
    (124.342, 100, 0.05),
]


@pytest.mark.parametrize(("x", "dof", "p"), TABLE)
def test_chi2_sf_matches_tables(x: float, dof: int, p: float) -> None:
    assert probe.chi2_sf(x, dof) == pytest.approx(p, rel=2e-3)


def test_chi2_sf_edges() -> None:
    assert probe.chi2_sf(0, 3) == 1.0
    assert probe.chi2_sf(1e6, 1) == 0.0
    assert probe.chi2_sf(0, 0) == 1.0
    assert probe.chi2_sf(1, 0) == 0.0
    # dof 2 has a closed form: exp(-x/2)
    for x in (0.1, 1.0, 4.0, 20.0):
        assert probe.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)


@given(st.floats(min_value=0.0, max_value=200.0), st.integers(min_value=1, max_value=50))
def test_chi2_sf_is_a_probability_and_decreasing(x: float, dof: int) -> None:
    p = probe.chi2_sf(x, dof)
    assert 0.0 <= p <= 1.0
    assert probe.chi2_sf(x + 1.0, dof) <= p + 1e-12


def test_chi_square_even_split_is_consistent() -> None:
    v = probe.chi_square([200, 200], [50, 50])
    assert (v.statistic, v.dof, v.p_value, v.consistent) == (0.0, 1, 1.0, True)


def test_chi_square_skewed_split_is_not() -> None:
    v = probe.chi_square([300, 100], [50, 50])
    assert v.statistic == pytest.approx(100.0)
    assert v.p_value < 1e-10
    assert not v.consistent


def test_chi_square_unexpected_category_is_inconsistent() -> None:
    v = probe.chi_square([10, 1], [100, 0])
    assert v.p_value == 0.0 and not v.consistent


def test_chi_square_single_category() -> None:
    v = probe.chi_square([40, 0], [100, 0])
    assert v.dof == 0 and v.consistent


def test_compare_rows_put_expected_first_then_others_by_count() -> None:
    bodies = Counter({"b\n": 30, "a\n": 60, "x\n": 5, "y\n": 9})
    rows, verdict = probe.compare(bodies, [("a\n", 70, ["r2"]), ("b\n", 30, ["r1"])])
    assert [(r.body, r.count, r.expected_percent) for r in rows] == [
        ("a\n", 60, 70),
        ("b\n", 30, 30),
        ("y\n", 9, None),
        ("x\n", 5, None),
    ]
    assert rows[0].observed_percent == pytest.approx(100 * 60 / 104)
    assert verdict is not None and not verdict.consistent


def test_compare_without_expectations_has_no_verdict() -> None:
    rows, verdict = probe.compare(Counter({"a": 3}), [])
    assert verdict is None and rows[0].count == 3


# --------------------------------------------------------------------------- requests


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers["Host"])
            status = 500 if self.path == "/fail" else 200
            body = f"{self.headers['Host']} {self.path}\n".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", seen
    srv.shutdown()
    srv.server_close()
    thread.join()


def test_request_sends_host_and_returns_the_body(server: tuple[str, list[str]]) -> None:
    url, seen = server
    reply = probe.request(url, "x.example.com", "/p")
    assert (reply.status, reply.body, reply.failure) == (200, "x.example.com /p\n", "")
    assert reply.http_version == "HTTP/1.1"
    assert seen == ["x.example.com"]


def test_run_counts_bodies_and_failures(server: tuple[str, list[str]]) -> None:
    url, seen = server
    summary = probe.run(url, "h.example.com", "/", count=57, concurrency=7)
    assert summary.bodies == Counter({"h.example.com /\n": 57})
    assert summary.ok == 57 and summary.failed == 0 and summary.rate > 0
    assert len(seen) == 57
    failing = probe.run(url, "h.example.com", "/fail", count=5, concurrency=2)
    assert failing.failures == Counter({"HTTP 500": 5})


def test_request_to_nothing_is_a_one_line_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(KnwalkError, match="connect error"):
        probe.request(f"http://127.0.0.1:{port}", "h", "/", timeout=2)
    summary = probe.run(f"http://127.0.0.1:{port}", "h", "/", count=3, concurrency=3, timeout=2)
    assert summary.failures == Counter({"connect error": 3})
