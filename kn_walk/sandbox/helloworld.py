"""The helloworld-go sample as a local process: the sandbox's "pod".

``python -m kn_walk.sandbox.helloworld`` listens on ``127.0.0.1:$PORT`` (8080 when
unset) and answers every request, whatever its method or path (the sample
registers ``http.HandleFunc("/", handler)``), with ``Hello $TARGET!\\n``
(``Hello World!\\n`` when ``TARGET`` is unset or empty). The response carries
the headers Go's net/http writes for it: ``Date``, ``Content-Length`` and the
sniffed ``Content-Type: text/plain; charset=utf-8``.

It is a small HTTP/1.1 server on a raw asyncio protocol (keep-alive,
pipelining, request bodies read and discarded whether sized or chunked), so it
starts in a few tens of milliseconds and is not the bottleneck of the gateway.
Unlike the sample it does not log each request: a benchmark would fill the log.

It exits with status 0 on SIGTERM or SIGINT, and on its own when the process
named by ``KN_WALK_PARENT_PID`` (the sandbox) goes away, so a ``kill -9`` of
the sandbox leaves nothing running (``PR_SET_PDEATHSIG`` on Linux, a once a
second ``getppid`` check everywhere).

Only the standard library is imported, and as little of it as possible.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

#: a request head larger than this is refused (Go's DefaultMaxHeaderBytes is 1 MiB)
MAX_HEAD = 1 << 20
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
    return f"Hello {target or 'World'}!\n".encode()


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


class HelloProtocol(asyncio.Protocol):
    """One client connection: parse requests, answer each with the greeting."""

    def __init__(self, server: HelloServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        # body being discarded: remaining sized bytes, or a chunked-body state
        self.skip = 0
        self.chunked: _ChunkSkipper | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        buf = self.buf
        buf += data
        try:
            self._process()
        except _BadRequest:
            self._bad_request()

    def _process(self) -> None:
        buf = self.buf
        out: list[bytes] = []
        transport = self.transport
        assert transport is not None
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
            keep_alive = self._request(head, out)
            if not keep_alive:
                self.closing = True
                break
        if out:
            transport.write(b"".join(out) if len(out) > 1 else out[0])
        if self.closing:
            transport.close()

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
            if not http11 or not transfer_encoding.lower().endswith(b"chunked"):
                raise _BadRequest
            if content_length is not None:
                raise _BadRequest
            self.chunked = _ChunkSkipper()
            has_body = True
        elif content_length is not None:
            if not content_length.isdigit():
                raise _BadRequest
            self.skip = int(content_length)
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

    def _bad_request(self) -> None:
        body = b"400 Bad Request"
        transport = self.transport
        self.closing = True
        if transport is None:
            return
        transport.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Connection: close\r\n\r\n" + body
        )
        transport.close()


class _ChunkSkipper:
    """Consumes a chunked body from the front of a buffer (RFC 9112 section 7.1)."""

    SIZE, DATA, DATA_END, TRAILER = range(4)

    def __init__(self) -> None:
        self.state = self.SIZE
        self.remaining = 0

    def feed(self, buf: bytearray) -> bool:
        """Consume what it can of ``buf``; True once the whole body is consumed."""
        while True:
            if self.state == self.DATA:
                n = min(self.remaining, len(buf))
                del buf[:n]
                self.remaining -= n
                if self.remaining:
                    return False
                self.state = self.DATA_END
            eol = buf.find(b"\r\n")
            if eol < 0:
                if len(buf) > MAX_HEAD:
                    raise _BadRequest
                return False
            line = bytes(buf[:eol])
            del buf[: eol + 2]
            if self.state == self.SIZE:
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise _BadRequest from None
                if size < 0:
                    raise _BadRequest
                if size == 0:
                    self.state = self.TRAILER
                else:
                    self.remaining = size
                    self.state = self.DATA
            elif self.state == self.DATA_END:
                if line:
                    raise _BadRequest
                self.state = self.SIZE
            elif not line:  # TRAILER: an empty line ends the message
                return True


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
        self.connections: set[HelloProtocol] = set()


def _log(message: str) -> None:
    """Go's ``log.Print``: a local timestamp, the message, to stderr."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    sys.stderr.write(f"{stamp} {message}\n")
    sys.stderr.flush()


def _watch_parent(parent: int) -> None:
    """Exit when ``parent`` is no longer our parent (it died; we were re-parented)."""
    if sys.platform == "linux":
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        _log("helloworld: parent is gone, exiting")
        raise SystemExit(0)


async def serve(port: int, target: str | None, host: str = "127.0.0.1") -> None:
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()

    def stop() -> None:
        if not stopped.done():
            stopped.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    server_state = HelloServer(target)
    server = await loop.create_server(
        lambda: HelloProtocol(server_state), host, port, reuse_address=True, backlog=1024
    )
    _log(f"helloworld: listening on port {port}")
    parent_text = os.environ.get("KN_WALK_PARENT_PID", "")
    if parent_text.isdigit():
        parent = int(parent_text)

        def check_parent() -> None:
            if os.getppid() != parent:
                _log("helloworld: parent is gone, exiting")
                stop()
            else:
                loop.call_later(PARENT_CHECK_INTERVAL, check_parent)

        loop.call_later(PARENT_CHECK_INTERVAL, check_parent)
    try:
        await stopped
    finally:
        server.close()
        for conn in list(server_state.connections):
            if conn.transport is not None:
                conn.transport.close()
        await server.wait_closed()


def _exit_now(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    # until the event loop takes them over, SIGTERM and SIGINT end the process cleanly
    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    _log("helloworld: starting server...")
    parent_text = os.environ.get("KN_WALK_PARENT_PID", "")
    if parent_text.isdigit():
        _watch_parent(int(parent_text))
    port_text = os.environ.get("PORT") or "8080"
    try:
        port = int(port_text)
    except ValueError:
        _log(f'helloworld: invalid PORT "{port_text}"')
        raise SystemExit(1) from None
    try:
        asyncio.run(serve(port, os.environ.get("TARGET")))
    except OSError as exc:  # e.g. the port is taken
        _log(f"helloworld: listen tcp 127.0.0.1:{port}: {exc.strerror or exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
