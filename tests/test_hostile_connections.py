"""Connection-level abuse of the sandbox's two listeners (issue 17).

What kube-apiserver (Go ``net/http``) and Envoy survive, the sandbox must too:
request heads that never end, idle connections, as many connections as there
are file descriptors, bare-LF line endings, and malformed heads and bodies the
gateway must refuse before they reach a revision process.

Real processes and sockets throughout, loopback only: a private sandbox
started with short timeouts (``KNWALK_SANDBOX_HEADER_TIMEOUT`` /
``KNWALK_SANDBOX_IDLE_TIMEOUT``) and a lowered soft open-file limit; one with a
small connection cap (``KNWALK_SANDBOX_MAX_CONNECTIONS``); and, for what the
gateway forwards, a gateway on an event loop in this process in front of a raw
socket server that records every byte it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kn_walk.sandbox import control
from kn_walk.sandbox.apiserver.conns import (
    ENV_HEADER_TIMEOUT,
    ENV_IDLE_TIMEOUT,
    ENV_MAX_CONNECTIONS,
    ENV_REQUEST_TIMEOUT,
    LOG_INTERVAL,
    Limits,
)
from kn_walk.sandbox.dataplane.gateway import Backend, Gateway
from kn_walk.sandbox.node.workloads import Endpoint
from tests.conftest import Sandbox, start_sandbox
from tests.loop_helpers import LoopThread
from tests.test_reliability_support import sizes
from tests.test_sandbox_gateway import StaticWorkloads

HEADER_TIMEOUT = 1.0
IDLE_TIMEOUT = 4.0
REQUEST_TIMEOUT = 2.0
#: how long a test waits for what must happen within a timeout above (CI is slow)
PATIENCE = 15.0
HOST = "echo.example.com"


# ------------------------------------------------------------------------ clients


def connect(port: int, *, tls: bool = False) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    if not tls:
        return sock
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock)


def read_until_closed(sock: socket.socket, timeout: float = PATIENCE) -> tuple[bytes, bool]:
    """What arrives until the server closes the connection (True) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def read_responses(sock: socket.socket, count: int = 1) -> list[bytes]:
    """The heads of the next ``count`` responses (each with a Content-Length body)."""
    sock.settimeout(PATIENCE)
    data = b""
    heads: list[bytes] = []
    while len(heads) < count:
        end = data.find(b"\r\n\r\n")
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", data[:end]) if end >= 0 else None
        if match is not None and len(data) >= end + 4 + int(match.group(1)):
            heads.append(data[:end])
            data = data[end + 4 + int(match.group(1)) :]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    assert data == b"", f"more than {count} responses: {data!r}"
    return heads


def read_response(sock: socket.socket) -> bytes:
    return read_responses(sock)[0]


def readable(socks: list[socket.socket], seconds: float) -> list[socket.socket]:
    """Those of ``socks`` with something to read (or their end) within ``seconds``."""
    poll = select.poll()  # not select(): descriptors above 1024 in the full-size runs
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poll.register(fd, select.POLLIN)
    return [by_fd[fd] for fd, _ in poll.poll(seconds * 1000)]


def stays_open(sock: socket.socket, seconds: float) -> bool:
    """Nothing arrives (not even the end of the stream) for ``seconds``."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    return not readable([sock], seconds)


def request(path: str = "/", host: str = "nowhere.example.com") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def api_version(sb: Sandbox) -> int:
    with httpx.Client(
        base_url=sb.api,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=ssl.create_default_context(cafile=sb.ca),
        timeout=5,
    ) as http:
        return http.get("/version").status_code


def gateway_status(port: int) -> int:
    return httpx.get(
        f"http://127.0.0.1:{port}/", headers={"Host": "nowhere.example.com"}, timeout=5
    ).status_code


def answers(sb: Sandbox, timeout: float = PATIENCE) -> bool:
    """Both listeners answer (the API 200 to /version, the gateway 404 to an unknown host)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if api_version(sb) == 200 and gateway_status(sb.info.gateway_port) == 404:
                return True
        time.sleep(0.1)  # the backoff between attempts, not a synchronisation
    return False


def log_lines(sb: Sandbox, start: int = 0) -> list[str]:
    with open(sb.state_dir / "sandbox.log", "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace").splitlines()


def log_size(sb: Sandbox) -> int:
    return (sb.state_dir / "sandbox.log").stat().st_size


def open_file_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit in /proc")


@contextlib.contextmanager
def own_open_file_limit(soft: int) -> Iterator[None]:
    """Run with this process's soft open-file limit at ``soft`` (children inherit it)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


# ----------------------------------------------------------------------- sandboxes

#: the soft open-file limit the private sandbox is started with (below the hard one)
STARTED_SOFT_LIMIT = 512


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A private sandbox with 1 s header, 4 s idle and 2 s request timeouts, started with a
    low soft limit."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = STARTED_SOFT_LIMIT if hard > STARTED_SOFT_LIMIT else hard
    with pytest.MonkeyPatch.context() as mp, own_open_file_limit(soft):
        mp.setenv(ENV_HEADER_TIMEOUT, str(HEADER_TIMEOUT))
        mp.setenv(ENV_IDLE_TIMEOUT, str(IDLE_TIMEOUT))
        mp.setenv(ENV_REQUEST_TIMEOUT, str(REQUEST_TIMEOUT))
        sandbox = start_sandbox(tmp_path_factory.mktemp("hostile-conns"))
    yield sandbox
    control.stop(sandbox.state_dir)


# ------------------------------------------------------------ 1. heads that never end


@pytest.mark.parametrize("trickle", [False, True], ids=["stalled", "trickled"])
def test_gateway_answers_408_to_a_request_head_that_never_ends(sb: Sandbox, trickle: bool) -> None:
    """Envoy's request_headers_timeout: 408 and close, however slowly the head keeps coming."""
    with connect(sb.info.gateway_port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: nowhere.example.com\r\n")
        if trickle:  # a byte every 0.3 s must not push the deadline back
            for _ in range(int(PATIENCE / 0.3)):
                if not stays_open(s, 0.3):
                    break
                with contextlib.suppress(OSError):
                    s.sendall(b"X")
        data, closed = read_until_closed(s)
    assert closed, "the connection was never closed"
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data
    assert data.endswith(b"\r\n\r\nrequest header timeout")


@pytest.mark.parametrize("trickle", [False, True], ids=["stalled", "trickled"])
def test_api_closes_a_connection_whose_request_head_never_ends(sb: Sandbox, trickle: bool) -> None:
    """Go's ReadHeaderTimeout: the connection is closed, without an answer."""
    with connect(sb.info.api_port, tls=True) as s:
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n")
        if trickle:
            for _ in range(int(PATIENCE / 0.3)):
                if not stays_open(s, 0.3):
                    break
                with contextlib.suppress(OSError):
                    s.sendall(b"X")
        data, closed = read_until_closed(s)
    assert closed, "the connection was never closed"
    assert data == b""


@pytest.mark.parametrize("listener", ["gateway", "api"])
def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    sb: Sandbox, listener: str
) -> None:
    """No byte (on the API: not even a TLS ClientHello) within the header timeout: closed."""
    port = sb.info.gateway_port if listener == "gateway" else sb.info.api_port
    with connect(port) as s:
        data, closed = read_until_closed(s)
    assert closed and data == b""


@pytest.mark.parametrize("listener", ["gateway", "api"])
def test_the_header_timeout_starts_again_for_each_request_after_an_idle_time(
    sb: Sandbox, listener: str
) -> None:
    """An idle keep-alive connection outlives the header timeout; the next head gets its own."""
    api = listener == "api"
    port = sb.info.api_port if api else sb.info.gateway_port
    with connect(port, tls=api) as s:
        s.sendall(request("/version"))
        assert read_response(s).split(b" ")[1] == (b"401" if api else b"404")
        assert stays_open(s, 2 * HEADER_TIMEOUT), "an idle connection fell to the header timeout"
        s.sendall(request("/version"))
        assert read_response(s).split(b" ")[1] == (b"401" if api else b"404")
        s.sendall(b"GET /version HTTP/1.1\r\n")
        data, closed = read_until_closed(s)
    assert closed
    assert data == b"" if api else data.startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("listener", ["gateway", "api"])
def test_idle_connections_are_closed_after_the_idle_timeout(sb: Sandbox, listener: str) -> None:
    """Envoy's idle_timeout (1 h) and Go's IdleTimeout (90 s), here set to 4 s."""
    api = listener == "api"
    with connect(sb.info.api_port if api else sb.info.gateway_port, tls=api) as s:
        s.sendall(request("/version"))
        read_response(s)
        started = time.monotonic()
        data, closed = read_until_closed(s)
    assert closed and data == b""
    assert time.monotonic() - started >= IDLE_TIMEOUT - 0.5  # the idle, not the header, timeout


# -------------------------------------------------------- 2. running out of descriptors


def test_the_open_file_limit_is_raised_to_the_hard_limit_at_start(sb: Sandbox) -> None:
    soft, hard = open_file_limits(sb.info.pid)
    assert soft == hard


@pytest.mark.parametrize(("cap", "connections"), sizes((20, 50), (400, 1500)))
def test_connections_over_the_cap_are_closed_at_once_and_the_sandbox_keeps_answering(
    tmp_path: Path, cap: int, connections: int
) -> None:
    """Idle connections beyond the cap are closed at once; once they go, both listeners answer."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with pytest.MonkeyPatch.context() as mp, own_open_file_limit(hard):
        mp.setenv(ENV_MAX_CONNECTIONS, str(cap))
        mp.setenv(ENV_HEADER_TIMEOUT, "120")  # the held connections stay for the whole test
        sb = start_sandbox(tmp_path)
        started = time.monotonic()
        held: list[socket.socket] = []
        try:
            for port in (sb.info.api_port, sb.info.gateway_port):
                conns = [connect(port) for _ in range(connections)]
                held += conns
                # the server closes the ones over the cap: those see the end of the stream
                closed = 0
                deadline = time.monotonic() + PATIENCE
                while closed < connections - cap and time.monotonic() < deadline:
                    for c in readable(conns, 1.0):
                        assert c.recv(1) == b""
                        conns.remove(c)
                        c.close()
                        closed += 1
                assert closed >= connections - cap, f"{port}: only {closed} refused"
                assert len(conns) <= cap
            # while the cap is taken, a new connection is refused cleanly, not left hanging
            with connect(sb.info.gateway_port) as extra:
                with contextlib.suppress(OSError):
                    extra.sendall(request())
                assert read_until_closed(extra) == (b"", True)
        finally:
            for c in held:
                c.close()
        assert answers(sb), "the sandbox stopped answering"
        lines = log_lines(sb)
        control.stop(sb.state_dir)
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line]
    reports = [line for line in lines if "the limit: closing new connections" in line]
    intervals = int((time.monotonic() - started) / LOG_INTERVAL) + 1
    assert 2 <= len(reports) <= 2 * intervals, reports  # once per interval and listener


@pytest.mark.parametrize("connections", sizes(60, 2000))
def test_running_out_of_descriptors_is_logged_once_per_interval_not_per_accept(
    sb: Sandbox, connections: int
) -> None:
    """With the soft limit just above what the sandbox has open, accept() fails with EMFILE.

    asyncio's own accept loop logged a traceback per failed accept (megabytes a
    second); the listeners log one line per interval, retry with backoff, and
    serve again once descriptors are free.
    """
    pid = sb.info.pid
    assert answers(sb)
    start = log_size(sb)
    started = time.monotonic()
    soft, hard = open_file_limits(pid)
    in_use = len(os.listdir(f"/proc/{pid}/fd"))
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 4, hard))
    except PermissionError:
        pytest.skip("cannot lower the sandbox's open-file limit here")
    held: list[socket.socket] = []
    with own_open_file_limit(resource.getrlimit(resource.RLIMIT_NOFILE)[1]):
        try:
            for port in (sb.info.api_port, sb.info.gateway_port):
                for _ in range(connections):
                    try:
                        held.append(socket.create_connection(("127.0.0.1", port), timeout=1))
                    except OSError:  # the backlog is full: pressure enough
                        break
            deadline = time.monotonic() + PATIENCE
            while time.monotonic() < deadline:
                reported = " ".join(log_lines(sb, start))
                if "API: cannot accept" in reported and "gateway: cannot accept" in reported:
                    break
                time.sleep(0.1)  # polling the log file, with a deadline
        finally:
            for c in held:
                c.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert answers(sb), "the sandbox did not serve again once descriptors were free"
    lines = log_lines(sb, start)
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line], lines[:20]
    reports = [line for line in lines if "cannot accept connections" in line]
    intervals = int((time.monotonic() - started) / LOG_INTERVAL) + 1
    assert 2 <= len(reports) <= 2 * intervals, reports
    assert log_size(sb) - start < 2 * intervals * 1024  # a line or two per interval


# --------------------------------------------------------------------- 3. bare LF


def test_api_answers_a_bare_lf_request_with_400(sb: Sandbox) -> None:
    """aiohttp's parser (llhttp) refuses bare LF with 400 and closes.

    Go's net/http would serve the request (it accepts a bare LF as a line end);
    the sandbox keeps aiohttp's answer, which RFC 9112 section 2.2 also allows:
    an answer, never silence.
    """
    start = log_size(sb)
    for _ in range(20):
        with connect(sb.info.api_port, tls=True) as s:
            s.sendall(b"GET /version HTTP/1.1\nHost: x\n\n")
            data, closed = read_until_closed(s)
        assert data.startswith(b"HTTP/1.0 400 Bad Request\r\n") or data.startswith(
            b"HTTP/1.1 400 Bad Request\r\n"
        ), data
        assert closed
    # one line for them all, not aiohttp's traceback for each (a loop of them grew the log
    # by megabytes)
    logged = log_lines(sb, start)
    assert not any("Traceback" in line for line in logged), logged[:20]
    said = [line for line in logged if "malformed request" in line]
    # (none when another test of the module said it less than an interval ago)
    assert len(said) <= 1, logged
    assert all("answered 400" in line and "BadStatusLine" in line for line in said), said


def test_api_ends_a_request_whose_body_never_arrives_at_the_request_timeout(
    sb: Sandbox,
) -> None:
    """A head that promises a body, then a trickle: kube-apiserver's timeout filter answers
    504 at its --request-timeout and the connection goes; the API keeps answering others."""
    head = (
        "POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {sb.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with connect(sb.info.api_port, tls=True) as s:
        start = time.monotonic()
        s.sendall(head.encode() + b'{"kind":')
        data, closed = read_until_closed(s, timeout=REQUEST_TIMEOUT + PATIENCE)
        elapsed = time.monotonic() - start
    assert data.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n"), data
    body = data.split(b"\r\n\r\n", 1)[1]
    assert body.rstrip(b"\n").endswith(
        b'"message":"Timeout: request did not complete within requested timeout - context '
        b'deadline exceeded","reason":"Timeout","details":{},"code":504}'
    ), body
    assert closed
    assert elapsed >= REQUEST_TIMEOUT - 0.5, elapsed
    # nothing was created, and the API answers
    assert api_version(sb) == 200


# ------------------------------------------------------- the gateway's request checks


class Recorder:
    """A revision process stand-in: records every byte; answers each GET head with 200."""

    def __init__(self, loop: LoopThread) -> None:
        self.loop = loop
        self.received = bytearray()
        self.connections = 0
        self.got_data = threading.Event()
        self.lost = threading.Event()
        recorder = self

        class Protocol(asyncio.Protocol):
            def __init__(self) -> None:
                self.buf = b""
                self.transport: asyncio.Transport | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                self.transport = transport
                recorder.connections += 1

            def connection_lost(self, exc: Exception | None) -> None:
                recorder.lost.set()

            def data_received(self, data: bytes) -> None:
                recorder.received += data
                recorder.got_data.set()
                self.buf += data
                while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                    head, self.buf = self.buf[:end], self.buf[end + 4 :]
                    if head.startswith(b"GET ") and self.transport is not None:
                        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        async def start() -> asyncio.Server:
            return await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", 0)

        self.server = loop.run(start())
        self.port = int(self.server.sockets[0].getsockname()[1])

    def data(self) -> bytes:
        return self.loop.call(lambda: bytes(self.received))


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.loop = LoopThread()
        self.recorder = Recorder(self.loop)
        workloads = StaticWorkloads(str(tmp / "state"))
        workloads.endpoints["rec"] = Endpoint("127.0.0.1", self.recorder.port, 30.0)
        self.gateway = Gateway(workloads, limits=Limits(64, 10.0, 60.0))
        self.port = self.loop.run(self.gateway.start())
        self.loop.call(self.gateway.set_routes, {HOST: [Backend("default", "rec", 100)]})

    def close(self) -> None:
        async def stop() -> None:
            await self.gateway.stop()
            self.recorder.server.close()

        self.loop.run(stop())
        self.loop.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


def test_gateway_serves_bare_lf_requests_as_envoy_does(harness: Harness) -> None:
    """Envoy's parser (Balsa) ends a line at LF with or without CR; so does the gateway.

    The revision process gets the heads with CRLF line ends only.
    """
    with connect(harness.port) as s:
        s.sendall(
            b"GET /a HTTP/1.1\nHost: " + HOST.encode() + b"\n\n"
            b"GET /b HTTP/1.1\r\nHost: " + HOST.encode() + b"\nX-Mixed: 1\r\n\n"
        )
        heads = read_responses(s, 2)
    assert [h.split(b"\r\n")[0] for h in heads] == [b"HTTP/1.1 200 OK"] * 2
    data = harness.recorder.data()
    assert data.startswith(b"GET /a HTTP/1.1\r\n")
    assert b"GET /b HTTP/1.1\r\n" in data and b"\r\nX-Mixed: 1\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


BAD_REQUESTS = {
    "nul-in-method": b"G\x00T / HTTP/1.1\r\nHost: {host}\r\n\r\n",
    "nul-in-target": b"GET /a\x00b HTTP/1.1\r\nHost: {host}\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\x00b\r\n\r\n",
    "bare-cr-in-value": b"GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\rb\r\n\r\n",
    "ctl-in-name": b"GET / HTTP/1.1\r\nHost: {host}\r\nX\x01A: b\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost: {host}\r\nX-A : b\r\n\r\n",
    "content-length-2^64": b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 18446744073709551616\r\n\r\n",
    "content-length-huge": b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: "
    + b"9" * 5000
    + b"\r\n\r\n",
    "content-length-hex": b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0x10\r\n\r\n",
    "content-length-signed": b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: +5\r\n\r\n",
    "chunk-size-2^64": b"POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"10000000000000000\r\nab\r\n0\r\n\r\n",
    "chunk-size-huge": b"POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"f" * 1000
    + b"\r\nab\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_gateway_refuses_malformed_requests_before_they_reach_the_revision(
    harness: Harness, name: str
) -> None:
    """Envoy answers 400 and closes; the revision process never sees a byte of them."""
    with connect(harness.port) as s:
        s.sendall(BAD_REQUESTS[name].replace(b"{host}", HOST.encode()))
        data, closed = read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert b"\r\nconnection: close\r\n" in data and closed
    assert harness.recorder.data() == b""


def test_the_largest_content_length_and_chunk_size_are_accepted(harness: Harness) -> None:
    """2^64 - 1 is still a length Envoy takes: the head is forwarded."""
    for head in (
        b"POST /cl HTTP/1.1\r\nHost: {host}\r\nContent-Length: 18446744073709551615\r\n\r\n",
        b"POST /te HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ffffffffffffffff\r\nab",
    ):
        harness.recorder.got_data.clear()
        with connect(harness.port) as s:
            s.sendall(head.replace(b"{host}", HOST.encode()))
            assert harness.recorder.got_data.wait(PATIENCE)
    data = harness.recorder.data()
    assert (
        b"POST /cl HTTP/1.1\r\n" in data and b"\r\nContent-Length: 18446744073709551615\r\n" in data
    )
    assert b"POST /te HTTP/1.1\r\n" in data


def test_a_bad_chunk_after_the_head_was_forwarded_is_a_400_and_cuts_the_upstream(
    harness: Harness,
) -> None:
    """The head and a first chunk already went to the process; the next chunk size is bad."""
    with connect(harness.port) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"
        )
        assert harness.recorder.got_data.wait(PATIENCE)
        deadline = time.monotonic() + PATIENCE
        while b"ab" not in harness.recorder.data() and time.monotonic() < deadline:
            harness.recorder.got_data.clear()
            harness.recorder.got_data.wait(1.0)
        s.sendall(b"zz\r\n")
        data, closed = read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert closed
    assert harness.recorder.lost.wait(PATIENCE), "the connection to the process was kept"
    assert b"zz" not in harness.recorder.data()
