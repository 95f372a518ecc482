"""A small HTTP/1.1 client connection for load: one GET at a time on a keep-alive connection.

:mod:`kn_walk.load` sends its requests through this, not through httpx: on 2
cores httpx's async client sends about 1k requests/s where wrk sends 30k, and
aiohttp's about 5k (``scripts/bench_load.py``); a plain :class:`asyncio.Protocol`
with the request's bytes built once sends well over half of wrk's rate.
httpx stays the client for single requests (:func:`kn_walk.probe.request`).

What it does, and no more:

- one request in flight per connection (no pipelining); the connection is
  reused while the server keeps it alive;
- response framing as RFC 9112 section 6.3 orders it: no body for 1xx
  (skipped: an interim answer), 204 and 304; ``Transfer-Encoding`` whose last
  coding is ``chunked`` (read by :mod:`kn_walk.http1frame`, as the sandbox's
  gateway reads it; chunk extensions and trailers dropped);
  ``Content-Length`` (several values must agree); otherwise the body runs to
  the connection's end. ``Connection: close`` and HTTP/1.0 without
  ``keep-alive`` end the connection after the answer;
- the first :data:`KEEP` bytes of the body are kept (what the answer is
  classified by), the rest is read and dropped; a response head over
  :data:`MAX_HEAD` bytes, a malformed status line, chunk size or
  ``Content-Length`` is a ``protocol error``;
- TLS is whatever :class:`ssl.SSLContext` the caller passes (verification on:
  see :func:`kn_walk.load.ssl_context`).

Failures are :class:`Failure` with the kinds :mod:`kn_walk.probe` counts:
``connect error``, ``tls error``, ``timeout``, ``read error`` (the connection
broke), ``protocol error`` (an answer that is not HTTP/1.1, or the server closed
the connection before or during it).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import NamedTuple

from kn_walk.http1frame import (
    ChunkedDecoder,
    FramingError,
    last_coding_chunked,
    parse_content_length,
)

#: body bytes kept for classification; the rest of a larger body is read and dropped
KEEP = 4096
#: the most bytes a response head (status line and headers) may take
MAX_HEAD = 64 * 1024

_HEAD, _FIXED, _CHUNKED, _TO_CLOSE, _IDLE = range(5)


class Answer(NamedTuple):
    """One response: its status, the first :data:`KEEP` body bytes, and the body's size."""

    status: int
    body: bytes
    size: int


class Failure(Exception):
    """A request that got no (complete) answer; ``kind`` is what :mod:`kn_walk.probe` counts.

    ``unanswered`` is true when not one byte of a response arrived: on a reused
    connection that is the server closing an idle keep-alive connection as the
    request went out, and the request may be sent again on a new one.
    """

    def __init__(self, kind: str, detail: str = "", *, unanswered: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.unanswered = unanswered


class Connection(asyncio.Protocol):
    """One client connection; :meth:`send` one request and await its :class:`Answer`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.answers = 0  # responses completed on this connection
        self.since = 0.0  # loop time the request in flight was sent (0.0: none in flight)
        self.reusable = False
        self._waiter: asyncio.Future[Answer] | None = None
        self._buf = bytearray()
        self._state = _HEAD
        self._received = 0  # bytes of the current response so far
        self._status = 0
        self._body = bytearray()
        self._size = 0
        self._remaining = 0
        self._decoder: ChunkedDecoder | None = None
        self._close_after = False

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.reusable = True

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._state == _IDLE:
            # bytes nobody asked for: the connection is out of step
            self.close()
            return
        self._received += len(data)
        self._buf += data
        try:
            self._parse()
        except Failure as exc:
            self._fail(exc)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.transport = None
        if self._waiter is None or self._waiter.done():
            return
        if self._state == _TO_CLOSE and exc is None:
            self._done()
            return
        unanswered = self._received == 0
        if exc is not None:
            failure = Failure("read error", str(exc) or type(exc).__name__, unanswered=unanswered)
        elif unanswered:
            failure = Failure(
                "protocol error", "server disconnected without sending a response", unanswered=True
            )
        else:
            failure = Failure("protocol error", "server closed the connection mid-response")
        self._waiter.set_exception(failure)

    # ------------------------------------------------------------ requests

    def send(self, request: bytes, now: float) -> asyncio.Future[Answer]:
        """Write ``request`` (whole bytes of one GET) at loop time ``now``; the future
        completes with its answer."""
        if self.transport is None or not self.reusable or self._waiter is not None:
            raise Failure("protocol error", "the connection is not ready for a request")
        self._waiter = self.loop.create_future()
        self.since = now
        self._state = _HEAD
        self._received = 0
        self._body = bytearray()
        self._size = 0
        self._close_after = False
        self.transport.write(request)
        return self._waiter

    def abort(self, failure: Failure) -> None:
        """Fail the request in flight (a timeout) and drop the connection."""
        waiter = self._waiter
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)
        self._waiter = None

    def time_out(self, timeout: float) -> None:
        """No answer within ``timeout`` seconds: fail the request in flight."""
        self.abort(Failure("timeout", f"no answer within {timeout:g}s"))

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def finished(self) -> None:
        """The caller has taken the answer (or the failure): ready for the next request."""
        self._waiter = None
        self.since = 0.0

    # ------------------------------------------------------------ parsing

    def _fail(self, failure: Failure) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(failure)

    def _done(self) -> None:
        waiter = self._waiter
        self._state = _IDLE
        if self._close_after or self._buf:
            self.close()  # asked to close, or bytes past the answer: not reusable
        if waiter is not None and not waiter.done():
            self.answers += 1
            waiter.set_result(Answer(self._status, bytes(self._body), self._size))

    def _take(self, data: bytes | bytearray) -> None:
        self._size += len(data)
        room = KEEP - len(self._body)
        if room > 0:
            self._body += data[:room]

    def _consume(self) -> bool:
        """Take up to ``_remaining`` body bytes from the buffer; True once none remain."""
        n = min(self._remaining, len(self._buf))
        if n:
            self._take(self._buf[:n])
            del self._buf[:n]
            self._remaining -= n
        return not self._remaining

    def _parse(self) -> None:
        while True:
            state = self._state
            if state == _HEAD:
                if not self._head():
                    return
            elif state == _FIXED:
                if self._consume():
                    self._done()
                return
            elif state == _TO_CLOSE:
                self._take(self._buf)
                self._buf.clear()
                return
            elif state == _IDLE:
                return
            else:  # _CHUNKED
                assert self._decoder is not None
                pieces: list[bytes] = []
                try:
                    done = self._decoder.feed(self._buf, pieces)
                except FramingError as exc:
                    raise Failure("protocol error", str(exc)) from None
                for piece in pieces:
                    self._take(piece)
                if done:
                    self._done()
                return

    def _head(self) -> bool:
        """Parse a complete response head if there is one; False when more bytes are needed."""
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD:
            if len(buf) > MAX_HEAD:
                raise Failure("protocol error", "response head larger than the limit")
            return False
        head = bytes(buf[: end + 2])  # each header line ends with CRLF
        del buf[: end + 4]
        line_end = head.find(b"\r\n")
        status_line = head[:line_end]
        version = status_line[:9]
        code = status_line[9:12]
        if (
            version not in (b"HTTP/1.1 ", b"HTTP/1.0 ")
            or not code.isdigit()
            or len(code) != 3
            or status_line[12:13] not in (b"", b" ")
        ):
            raise Failure("protocol error", f"not an HTTP/1.x status line: {status_line[:40]!r}")
        status = int(code)
        if status < 100:
            raise Failure("protocol error", f"status {status} is not an HTTP status")
        if status < 200:
            if status == 101:
                raise Failure("protocol error", "the server switched protocols unasked")
            return True  # an interim answer (103 Early Hints): the real one follows
        fields = head[line_end:].lower()  # starts with CRLF: every name follows one
        lengths = _values(fields, b"\r\ncontent-length:")
        codings = _values(fields, b"\r\ntransfer-encoding:")
        tokens = {t.strip() for v in _values(fields, b"\r\nconnection:") for t in v.split(b",")}
        self._close_after = b"close" in tokens or (
            version == b"HTTP/1.0 " and b"keep-alive" not in tokens
        )
        self._status = status
        if status in (204, 304):
            self._done()
            return False
        if codings:
            if last_coding_chunked(b",".join(codings)):
                self._decoder = ChunkedDecoder()
                self._state = _CHUNKED
                return True
            self._close_after = True
            self._state = _TO_CLOSE
            return True
        if lengths:
            values = {v.strip() for line in lengths for v in line.split(b",")}
            if len(values) != 1:
                raise Failure("protocol error", "conflicting Content-Length values")
            text = values.pop()
            length = parse_content_length(text)
            if length is None:
                raise Failure("protocol error", f"bad Content-Length {text[:20]!r}")
            self._remaining = length
            self._state = _FIXED
            return True
        self._close_after = True
        self._state = _TO_CLOSE
        return True


def _values(fields: bytes, name: bytes) -> list[bytes]:
    """The values of every ``name`` header in ``fields`` (lower-cased header lines, each
    after a CRLF); ``name`` is ``b"\\r\\nname:"``."""
    out: list[bytes] = []
    at = fields.find(name)
    while at >= 0:
        start = at + len(name)
        end = fields.find(b"\r\n", start)
        out.append(fields[start:end].strip())
        at = fields.find(name, end)
    return out


async def connect(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    timeout: float,
) -> Connection:
    """A new connection (TLS when ``ssl_context`` is given); :class:`Failure` when none."""
    loop = asyncio.get_running_loop()
    try:
        _, conn = await asyncio.wait_for(
            loop.create_connection(
                lambda: Connection(loop),
                host,
                port,
                ssl=ssl_context,
                server_hostname=server_hostname if ssl_context is not None else None,
            ),
            timeout,
        )
    except TimeoutError:
        raise Failure("timeout", f"no connection to {host}:{port} within {timeout:g}s") from None
    except ssl.SSLError as exc:
        raise Failure("tls error", exc.reason or str(exc)) from None
    except OSError as exc:
        raise Failure("connect error", exc.strerror or str(exc)) from None
    return conn
