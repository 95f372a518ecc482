"""GKE faults: a create is never sent again without checking first.

Through the real ClusterManagerClient (REST) against tests/fake_gke.py, and, for
answers lost on the way, through a small proxy in front of it that forwards a
create and then drops the connection instead of returning GKE's answer.
Retries of 429/503 on the other calls are in tests/test_gke_api.py.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from kn_walk import gke
from kn_walk.errors import KnwalkError
from tests.fake_gke import FakeGke

P, Z = "demo-project", "us-central1-a"


@pytest.fixture
def fake() -> Iterator[FakeGke]:
    with FakeGke() as server:
        yield server


def client(url: str, **kwargs: Any) -> gke.Gke:
    endpoint = gke.resolve_endpoint(url, {})
    kwargs.setdefault("retry_initial", 0.001)
    kwargs.setdefault("retry_maximum", 0.004)
    return gke.Gke(gke.make_client(endpoint), endpoint=endpoint, **kwargs)


def spec() -> gke.ClusterSpec:
    return gke.build_spec(gke.ClusterOptions(), project=P, location=Z, regional=False)


def order(fake: FakeGke) -> list[str]:
    """The requests the fake saw, as "POST clusters" / "GET operations" ..."""
    return [f"{r.method} {r.path.rsplit('/', 1)[-1]}" for r in fake.calls()]


def test_a_503_create_that_gke_accepted_is_followed_not_repeated(fake: FakeGke) -> None:
    fake.fail("POST", "/clusters$", 503, after=True)  # accepted, yet the client sees 503
    seen: list[Exception] = []
    g = client(fake.url, on_retry=seen.append)
    op = g.create(spec())
    assert g.adopted is not None and op.name == g.adopted.name
    assert order(fake) == ["POST clusters", "GET operations"]  # checked; never sent again
    assert [getattr(e, "code", None) for e in seen] == [503]
    assert (P, Z, "knwalk") in fake.clusters


def test_a_503_create_that_gke_refused_is_sent_again_after_checking(fake: FakeGke) -> None:
    fake.fail("POST", "/clusters$", 503, times=2)
    g = client(fake.url)
    op = g.create(spec())
    assert g.adopted is None and op.name
    assert order(fake) == [
        "POST clusters",
        "GET operations",
        "POST clusters",
        "GET operations",
        "POST clusters",
    ]
    assert len([c for c in fake.clusters if c[2] == "knwalk"]) == 1


def test_a_429_create_was_not_processed_and_is_retried_at_once(fake: FakeGke) -> None:
    fake.fail("POST", "/clusters$", 429, times=2)
    g = client(fake.url)
    g.create(spec())
    assert order(fake) == ["POST clusters"] * 3  # no check needed: 429 means not processed


def test_a_create_that_stays_unavailable_ends_with_a_clear_error(fake: FakeGke) -> None:
    fake.fail("POST", "/clusters$", 503, times=10_000, message="The service is unavailable.")
    g = client(fake.url, retry_deadline=0.05)
    with pytest.raises(gke.GkeApiError) as info:
        g.create(spec())
    assert info.value.code == 503
    assert "The service is unavailable." in info.value.message
    assert "gave up after" in info.value.message and "knwalk cluster list" in info.value.hint
    # every resend came after a check
    calls = order(fake)
    assert all(
        calls[i + 1] == "GET operations" for i, c in enumerate(calls) if c == "POST clusters"
    )


class LosingProxy:
    """Forwards HTTP/1.1 requests to ``target``; the first POST's answer is lost (dropped)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.dropped = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            reader = conn.makefile("rb")
            while True:
                line = reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := reader.readline()) not in (b"\r\n", b"\n", b""):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip()] = v.strip()
                body = reader.read(int(headers.get("Content-Length", "0") or 0))
                upstream = http.client.HTTPConnection(*self.target, timeout=10)
                headers.pop("Connection", None)
                upstream.request(method, path, body=body, headers=headers)
                resp = upstream.getresponse()
                data = resp.read()
                upstream.close()
                if method == "POST" and self.dropped == 0:
                    self.dropped += 1
                    conn.shutdown(socket.SHUT_RDWR)  # GKE did it; the answer never arrives
                    return
                head = f"HTTP/1.1 {resp.status} {resp.reason}\r\n"
                head += "".join(
                    f"{k}: {v}\r\n"
                    for k, v in resp.getheaders()
                    if k.lower() not in ("connection", "transfer-encoding", "content-length")
                )
                head += f"Content-Length: {len(data)}\r\n\r\n"
                conn.sendall(head.encode() + data)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_a_create_whose_answer_was_lost_is_followed_not_repeated(fake: FakeGke) -> None:
    proxy = LosingProxy(fake.url)
    try:
        g = client(proxy.url)
        op = g.create(spec())
    finally:
        proxy.close()
    assert proxy.dropped == 1
    assert g.adopted is not None and op.name == g.adopted.name
    assert order(fake) == ["POST clusters", "GET operations"]
    assert len(fake.clusters) == 1


def test_unreachable_gke_is_a_one_line_error(fake: FakeGke) -> None:
    url = fake.url
    fake.stop()
    g = client(url, retry_deadline=0.01)
    with pytest.raises(KnwalkError) as info:
        g.create(spec())
    assert info.value.message.startswith(f"cannot reach the GKE API at {url}")
