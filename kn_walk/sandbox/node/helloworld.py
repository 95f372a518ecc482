"""The helloworld-go sample as a local process: the sandbox's "pod".

``python -m kn_walk.sandbox.node.helloworld`` listens on ``127.0.0.1:$PORT`` (8080 when
unset) and answers every request, whatever its method or path (the sample
registers ``http.HandleFunc("/", handler)``), with ``Hello $TARGET!\\n``
(``Hello World!\\n`` when ``TARGET`` is unset or empty). The response carries
the headers Go's net/http writes for it: ``Date``, ``Content-Length`` and the
sniffed ``Content-Type: text/plain; charset=utf-8``. Its log line names
``$KN_WALK_SHOWN_PORT`` when the sandbox sets it: the container port the Pod shows
(8080, or the Service's ``containerPort``), not the free port it really listens on.

It is a small HTTP/1.1 server on a plain ``selectors`` loop (keep-alive,
pipelining, request bodies read and discarded whether sized or chunked, framed
as :mod:`kn_walk.http1frame` reads them for the gateway and the load engine). It
imports no asyncio: it is listening about 20 ms after exec and needs about
10 MB of memory, half of what the same server on asyncio needs, which counts
when a sandbox runs many Revisions.
Unlike the sample it does not log each request: a benchmark would fill the log.

It exits with status 0 on SIGTERM or SIGINT, and on its own when the process
named by ``KN_WALK_PARENT_PID`` (the sandbox) goes away, so a ``kill -9`` of
the sandbox leaves nothing running (``PR_SET_PDEATHSIG`` on Linux, a once a
second ``getppid`` check everywhere).
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import sys
import time

from kn_walk.http1frame import (
    ChunkedDecoder,
    FramingError,
    last_coding_chunked,
    parse_content_length,
)
from kn_walk.knative_rules.sample import reply

#: a request head larger than this is refused (Go's DefaultMaxHeaderBytes is 1 MiB)
MAX_HEAD = 1 << 20
#: the container port the Pod shows, set by the sandbox: the one the log line names
SHOWN_PORT_ENV = "KN_WALK_SHOWN_PORT"
#: how often the parent check runs when PR_SET_PDEATHSIG is unavailable or as a backstop
PARENT_CHECK_INTERVAL = 1.0

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(now: float) -> bytes:
    """IMF-fixdate, as in ``Date: Mon, 02 Jan 2006 15:04:05 GMT``."""
    t = time.gmtime(now)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    ).encode()


class _DateCache:
    """The ``Date`` header value, recomputed at most once a second."""

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def get(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self.second:
            self.second = second
            self.value = http_date(now)
        return self.value


def greeting(target: str | None) -> bytes:
    return reply(target).encode()


class _BadRequest(Exception):
    pass


def _header(lowered_head: bytes, head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower-case, with its colon), or None.

    ``lowered_head`` is ``head.lower()``; both start with the request line, so
    every header line is preceded by CRLF. With repeated headers the first wins.
    """
    i = lowered_head.find(b"\r\n" + name)
    if i < 0:
        return None
    start = i + 2 + len(name)
    end = head.find(b"\r\n", start)
    if end < 0:
        end = len(head)
    return head[start:end].strip()


class HelloConnection:
    """One client connection: parse requests, answer each with the greeting."""

    __slots__ = ("buf", "chunked", "closing", "events", "out", "server", "skip", "sock")

    def __init__(self, server: HelloServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.buf = bytearray()
        self.out = bytearray()  # response bytes the socket did not take yet
        # body being discarded: remaining sized bytes, or a chunked-body state
        self.skip = 0
        self.chunked: ChunkedDecoder | None = None
        self.closing = False  # close once ``out`` is sent
        self.events = selectors.EVENT_READ  # what the selector watches for

    def data_received(self, data: bytes) -> bytes:
        """Take bytes from the client; returns the response bytes to send."""
        if self.closing:
            return b""
        self.buf += data
        out: list[bytes] = []
        try:
            self._process(out)
        except (_BadRequest, FramingError):
            self.closing = True
            out.append(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Connection: close\r\n\r\n400 Bad Request"
            )
        return b"".join(out) if len(out) != 1 else out[0]

    def _process(self, out: list[bytes]) -> None:
        buf = self.buf
        while buf:
            if self.skip:
                n = min(self.skip, len(buf))
                del buf[:n]
                self.skip -= n
                continue
            if self.chunked is not None:
                if not self.chunked.feed(buf):
                    break
                self.chunked = None
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise _BadRequest
                # tolerate stray CRLFs between requests (RFC 9112 section 2.2)
                while buf[:2] == b"\r\n":
                    del buf[:2]
                break
            head = bytes(buf[:end])
            del buf[: end + 4]
            head = head.lstrip(b"\r\n")
            if not self._request(head, out):
                self.closing = True
                break

    def _request(self, head: bytes, out: list[bytes]) -> bool:
        """Answer one request whose head is ``head``; True to keep the connection."""
        line_end = head.find(b"\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        parts = request_line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise _BadRequest
        method, _target, version = parts
        http11 = version != b"HTTP/1.0"
        lowered = head.lower()
        connection = _header(lowered, head, b"connection:")
        tokens = connection.lower() if connection is not None else b""
        keep_alive = (b"close" not in tokens) if http11 else (b"keep-alive" in tokens)
        transfer_encoding = _header(lowered, head, b"transfer-encoding:")
        content_length = _header(lowered, head, b"content-length:")
        has_body = False
        if transfer_encoding is not None:
            if not http11 or not last_coding_chunked(transfer_encoding):
                raise _BadRequest
            if content_length is not None:
                raise _BadRequest
            self.chunked = ChunkedDecoder()
            has_body = True
        elif content_length is not None:
            length = parse_content_length(content_length)
            if length is None:
                raise _BadRequest
            self.skip = length
            has_body = self.skip > 0
        if has_body:
            expect = _header(lowered, head, b"expect:")
            if expect is not None and expect.lower() == b"100-continue":
                # the handler never reads the body: as Go does, answer without
                # asking for it, and close since the body was never sent
                keep_alive = False
        server = self.server
        out.append(b"HTTP/1.1 200 OK\r\nDate: " if http11 else b"HTTP/1.0 200 OK\r\nDate: ")
        out.append(server.dates.get())
        is_head = method == b"HEAD"
        if keep_alive and http11:
            out.append(server.head_tail if is_head else server.tail)
        else:
            out.append(server.fields)
            if keep_alive:  # HTTP/1.0 asking for keep-alive
                out.append(b"Connection: keep-alive\r\n\r\n")
            elif http11:
                out.append(b"Connection: close\r\n\r\n")
            else:  # HTTP/1.0 closes by default and Go says nothing about it
                out.append(b"\r\n")
            if not is_head:
                out.append(server.body)
        return keep_alive


class HelloServer:
    def __init__(self, target: str | None) -> None:
        body = greeting(target)
        #: the header fields after Date, each ending in CRLF
        self.fields = (
            b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
        )
        self.body = body
        self.tail = self.fields + b"\r\n" + body
        self.head_tail = self.fields + b"\r\n"
        self.dates = _DateCache()


def _log(message: str) -> None:
    """Go's ``log.Print``: a local timestamp, the message, to stderr."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    sys.stderr.write(f"{stamp} {message}\n")
    sys.stderr.flush()


def _set_parent_death_signal() -> None:
    """Have the kernel send SIGTERM when the parent dies (Linux)."""
    if sys.platform != "linux":
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


#: how many response bytes may wait for a slow client before reading from it pauses
OUT_HIGH_WATER = 1 << 20


def serve(
    port: int, target: str | None, host: str = "127.0.0.1", shown_port: int | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, or until the parent named in the env is gone.

    ``shown_port`` is the port the log line names (the Pod's container port), when the
    process listens on another one (``port``: the sandbox gives each process its own)."""
    import ipaddress

    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"a sandbox revision listens on loopback only, not on {host!r}")
    parent_text = os.environ.get("KN_WALK_PARENT_PID", "")
    parent = int(parent_text) if parent_text.isdigit() else None
    state = HelloServer(target)
    sel = selectors.DefaultSelector()
    # signals wake the selector through a socket pair
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    sel.register(wake_r, selectors.EVENT_READ, wake_r)
    _log(f"helloworld: listening on port {shown_port or port}")
    conns: dict[int, HelloConnection] = {}

    def close(conn: HelloConnection) -> None:
        conns.pop(conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(conn.sock)
        conn.sock.close()

    def update(conn: HelloConnection) -> None:
        """Watch for what the connection needs: input unless too much output waits."""
        events = 0
        if not conn.closing and len(conn.out) < OUT_HIGH_WATER:
            events |= selectors.EVENT_READ
        if conn.out:
            events |= selectors.EVENT_WRITE
        if events and events != conn.events:
            conn.events = events
            sel.modify(conn.sock, events, conn)

    def flush(conn: HelloConnection) -> None:
        out = conn.out
        try:
            sent = conn.sock.send(out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            close(conn)
            return
        del out[:sent]
        if not out and conn.closing:
            close(conn)
        else:
            update(conn)

    def send(conn: HelloConnection, data: bytes) -> None:
        if conn.out:
            conn.out += data
            return
        try:
            sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            close(conn)
            return
        if sent < len(data):
            conn.out += data[sent:]
            update(conn)
        elif conn.closing:
            close(conn)

    next_parent_check = time.monotonic() + PARENT_CHECK_INTERVAL
    try:
        while not stopping:
            for key, mask in sel.select(PARENT_CHECK_INTERVAL):
                conn = key.data
                if conn is None:  # the listener: accept what is waiting
                    while True:
                        try:
                            sock, _ = listener.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError as exc:  # e.g. EMFILE: try again later
                            if exc.errno in (errno.EMFILE, errno.ENFILE):
                                break
                            raise
                        sock.setblocking(False)
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        new = HelloConnection(state, sock)
                        conns[sock.fileno()] = new
                        sel.register(sock, selectors.EVENT_READ, new)
                elif conn is wake_r:
                    with contextlib.suppress(OSError):
                        wake_r.recv(4096)
                else:
                    assert isinstance(conn, HelloConnection)
                    if mask & selectors.EVENT_WRITE and conn.out:
                        flush(conn)
                        if conn.sock.fileno() < 0:
                            continue
                    if mask & selectors.EVENT_READ:
                        try:
                            data = conn.sock.recv(65536)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            close(conn)
                            continue
                        reply = conn.data_received(data)
                        if reply:
                            send(conn, reply)
                        elif conn.closing and not conn.out:
                            close(conn)
            if parent is not None and time.monotonic() >= next_parent_check:
                next_parent_check = time.monotonic() + PARENT_CHECK_INTERVAL
                if os.getppid() != parent:
                    _log("helloworld: parent is gone, exiting")
                    break
    finally:
        for conn in list(conns.values()):
            close(conn)
        sel.close()
        listener.close()
        signal.set_wakeup_fd(-1)
        wake_r.close()
        wake_w.close()


def _exit_now(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    # until the serving loop takes them over, SIGTERM and SIGINT end the process cleanly
    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    _log("helloworld: starting server...")
    parent_text = os.environ.get("KN_WALK_PARENT_PID", "")
    if parent_text.isdigit():
        _set_parent_death_signal()
        if os.getppid() != int(parent_text):  # it died before we asked
            _log("helloworld: parent is gone, exiting")
            raise SystemExit(0)
    port_text = os.environ.get("PORT") or "8080"
    try:
        port = int(port_text)
    except ValueError:
        _log(f'helloworld: invalid PORT "{port_text}"')
        raise SystemExit(1) from None
    # the port the Pod shows (its containerPort): what the sample's log line says
    shown_text = os.environ.get(SHOWN_PORT_ENV, "")
    shown_port = int(shown_text) if shown_text.isdigit() else None
    try:
        serve(port, os.environ.get("TARGET"), shown_port=shown_port)
    except OSError as exc:  # e.g. the port is taken
        _log(f"helloworld: listen tcp 127.0.0.1:{port}: {exc.strerror or exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
