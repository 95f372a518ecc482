"""The sandbox's ingress gateway: route by Host header, split by weight, proxy.

``Host: {name}.{ns}.{domain}`` picks one of the Route's traffic targets at random
by percent, a tag host its revision, and so on: the control plane computes the
table (:meth:`Gateway.set_routes`), the gateway only looks hosts up in it
(lower-cased, without port or trailing dot) and proxies to the chosen Revision's
process on 127.0.0.1 — never anywhere else.

It is a small HTTP/1.1 reverse proxy on raw asyncio protocols (aiohttp's server
and client together are several times slower): keep-alive and pipelining from
clients; to each revision process, keep-alive connections on which requests
without a body are pipelined, so that the heads that arrive in one turn of the
event loop leave in one write (this halves the system calls per request, which
is most of a proxy's cost here); bodies streamed both ways with flow control
(``Content-Length``, chunked, or until close; read by :mod:`kn_walk.http1frame`,
as the helloworld sample and the load engine's client read them); hop-by-hop headers removed
(RFC 9110 section 7.6.1); ``X-Forwarded-For``, ``X-Forwarded-Proto`` and
``Forwarded`` (RFC 7239) set. A request that was pipelined behind one whose
connection failed is sent again on a fresh connection if it is idempotent and
got no response byte, else answered 502.

Clients speak HTTP/1.1 or, as to Envoy's listener with ``codec_type: AUTO``,
HTTP/2 over cleartext with prior knowledge: a connection whose first bytes are
the HTTP/2 preface is handed to :mod:`kn_walk.sandbox.dataplane.h2c`, whose streams go
through the same checks, routes and proxying as HTTP/1.1 requests (to the
Revision over HTTP/1.1). ``Upgrade: h2c`` is not honoured, as Envoy does not
(envoyproxy/envoy#7161): the upgrade headers and ``HTTP2-Settings`` are
removed and the request is served over HTTP/1.1.

Answers of its own, shaped like Istio's Envoy gateway:

* unknown host: ``404`` with an empty body;
* an HTTP/1.0 request (or any version but 1.1): ``426 Upgrade Required`` and
  close, Envoy's answer while ``accept_http_10`` is off, its default and
  Istio's;
* a Route whose percents sum to 0, a Revision that cannot be made ready
  (unsupported image, crash loop): ``503``;
* the Revision's ``timeoutSeconds`` passing before the response starts:
  ``504 upstream request timeout`` (after it starts, both connections are reset);
* the process refusing the connection: ``503``; closing it or answering garbage
  before a response: ``502``;
* a request Envoy's parser refuses, before any of it reaches a process:
  ``400`` and close (a NUL, a bare CR or another control character in the
  head, a method or field name that is not a token, a Content-Length or chunk
  size that is not a number up to 2^64 - 1); a line may end in a bare LF, as
  Envoy (and Go) accept;
* a request head not complete within the header timeout of its first byte
  (or of the connection's start): ``408 request header timeout`` and close, as
  Envoy's ``request_headers_timeout``. A connection that sent nothing, or that
  stays idle between requests past the idle timeout, is closed without an
  answer. Connections are accepted through :class:`conns.Listener` (a cap,
  resource exhaustion logged once per interval).

A Revision scaled to zero is started by :meth:`Workloads.activate` and the
request is held until it is ready (Knative's activator).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import re
import socket
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from kn_walk.http1frame import (
    ChunkedDecoder,
    FramingError,
    chunk,
    last_coding_chunked,
    parse_content_length,
)
from kn_walk.sandbox.apiserver.conns import Limits, Listener, Slot, gateway_limits
from kn_walk.sandbox.knative import revision_faults
from kn_walk.sandbox.node.workloads import Endpoint, NotReady, Workloads

log = logging.getLogger(__name__)

#: the largest request or response head accepted
MAX_HEAD = 64 * 1024
#: bytes buffered from a peer before reading from it pauses
HIGH_WATER = 256 * 1024
#: idle keep-alive connections kept per revision process
MAX_IDLE_PER_UPSTREAM = 32
#: requests in flight on one pipelined connection to a revision process
MAX_PIPELINE = 32
#: how often request deadlines are checked (seconds)
TIMEOUT_TICK = 0.1
#: distinct Host values whose route lookups are cached
HOST_CACHE_SIZE = 4096
#: seconds to connect to a revision process
CONNECT_TIMEOUT = 5.0
#: seconds :meth:`Gateway.stop` lets in-flight requests finish
DRAIN_TIMEOUT = 5.0
#: the Server header of the gateway's own answers
SERVER = b"knwalk-sandbox"
#: what a connection speaking HTTP/2 starts with: Envoy's codec ``AUTO`` looks for these bytes
H2_PREFACE_PREFIX = b"PRI * HTTP/2"
#: why a client's reading is paused (:meth:`Client.pause`): much pipelined input while a
#: request is in flight; the process taking the request body slower than the client sends it
PAUSE_PIPELINE = 1
PAUSE_UPSTREAM = 2

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
#: cheap pre-check: a head that does not match has no hop-by-hop field
_HOP_RE = re.compile(
    rb"\r\n(?:(?:connection|keep-alive|te|trailer|transfer-encoding|upgrade)[ \t]*:|proxy-)",
    re.IGNORECASE,
)
_CONTENT_LENGTH_RE = re.compile(rb"\r\ncontent-length:([^\r]*)", re.IGNORECASE)
#: a token (RFC 9110 section 5.6.2): methods and field names
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN_RE = re.compile(rb"[" + _TCHAR + rb"]+")
#: control characters a request head must not hold (HTAB, CR and LF are checked apart)
_CTL_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: a field line that does not start with ``token:`` (in a head whose lines end in CRLF)
_BAD_FIELD_RE = re.compile(rb"\r\n(?![" + _TCHAR + rb"]+:)")
#: a syntactically valid HTTP version (Envoy's parser refuses others with 400)
_VERSION_RE = re.compile(rb"HTTP/[0-9]\.[0-9]")
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
_REASONS = {
    400: b"Bad Request",
    404: b"Not Found",
    408: b"Request Timeout",
    426: b"Upgrade Required",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


@dataclass(frozen=True)
class Backend:
    namespace: str
    revision: str
    percent: int
    #: header fields Envoy sets on the request sent on (the Ingress split's
    #: ``appendHeaders``, as net-istio's ``headers.request.set``): (lower-case name, line)
    headers: tuple[tuple[bytes, bytes], ...] = ()
    #: the Host the request is sent on with (a path's ``rewriteHost``), else its own
    host: bytes = b""


#: a field value Envoy would take: visible characters, spaces and tabs, no CR, LF or NUL
_FIELD_VALUE_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


def header_fields(headers: Mapping[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    """``Backend.headers`` for an Ingress's ``appendHeaders``, sorted by name; a name that
    is not an HTTP token or a value with a line break in it is left out (Envoy refuses
    such a route configuration; a line break would smuggle fields into the request)."""
    out = []
    for name, value in sorted(headers.items()):
        raw_name, raw_value = str(name).encode("latin-1", "replace"), str(value).encode()
        if _TOKEN_RE.fullmatch(raw_name) and _FIELD_VALUE_RE.fullmatch(raw_value):
            out.append((raw_name.lower(), raw_name + b": " + raw_value.strip(b" \t")))
    return tuple(out)


class _Route:
    """The backends of one host, ready for a weighted random pick."""

    __slots__ = ("backends", "cumulative", "total")

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends = tuple(b for b in backends if b.percent > 0)
        self.cumulative: list[int] = []
        total = 0
        for b in self.backends:
            total += b.percent
            self.cumulative.append(total)
        self.total = total

    def pick(self) -> Backend | None:
        backends = self.backends
        if len(backends) == 1:
            return backends[0]
        if not backends:
            return None
        index = bisect.bisect_right(self.cumulative, random.random() * self.total)
        return backends[min(index, len(backends) - 1)]


def normalize_host(value: bytes | str) -> str:
    """A Host header's name as the route table keys it: lower case, no port, no final dot."""
    host = value.decode("latin-1") if isinstance(value, bytes) else value
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal
        end = host.find("]")
        host = host[: end + 1] if end > 0 else host
    else:
        name, sep, port = host.rpartition(":")
        if sep and (port.isdigit() or not port):
            host = name
    return host.rstrip(".")


class _Dates:
    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def get(self) -> bytes:
        now = time.time()
        if int(now) != self.second:
            self.second = int(now)
            self.value = formatdate(now, usegmt=True).encode()
        return self.value


class BadMessage(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _decode(decoder: ChunkedDecoder, buf: bytearray, pieces: list[bytes]) -> bool:
    """:meth:`ChunkedDecoder.feed`, its framing errors as a 400 (a request body's; the
    caller of a response body's answers 502 whatever the status)."""
    try:
        return decoder.feed(buf, pieces)
    except FramingError as exc:
        raise BadMessage(400, str(exc)) from None


def _connection_tokens(value: bytes) -> set[bytes]:
    return {t.strip().lower() for t in value.split(b",") if t.strip()}


def _head_end(buf: bytearray) -> tuple[int, int]:
    """The length of the head at the front of ``buf`` and of the head with its blank line.

    ``(-1, -1)`` while the head is incomplete. A line ends at LF, with or without
    a CR before it (RFC 9112 section 2.2 allows a bare LF; Envoy's parser and Go's
    accept one), so the head ends at the first LF LF or LF CR LF.
    """
    crlf = buf.find(b"\n\r\n")
    lf = buf.find(b"\n\n", 0, len(buf) if crlf < 0 else crlf + 1)
    if lf >= 0:
        end, size = lf, lf + 2
    elif crlf >= 0:
        end, size = crlf, crlf + 3
    else:
        return -1, -1
    if end and buf[end - 1] == 13:  # the CR of the last field line's CRLF
        end -= 1
    return end, size


def _crlf_lines(head: bytes) -> bytes:
    """``head`` with every line ending in CRLF, bare LFs included."""
    return b"\r\n".join(line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n"))


# ---------------------------------------------------------------------------- requests


class Request:
    """A request head that passed the checks, with what the gateway forwards of it."""

    __slots__ = (
        "chunked",
        "content_length",
        "fields",
        "host",
        "keep_alive",
        "method",
        "remaining",
        "target",
        "xff",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        host: bytes,
        fields: list[bytes],
        xff: bytes | None,
        content_length: bytes | None,
        remaining: int,
        chunked: bool,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.host = host
        self.fields = fields  # the field lines that are forwarded, without line ends
        self.xff = xff
        self.content_length = content_length
        self.remaining = remaining
        self.chunked = chunked
        self.keep_alive = keep_alive

    @property
    def has_body(self) -> bool:
        return self.chunked or self.remaining > 0


def parse_request(head: bytes) -> Request:
    """Parse and check a request head (without its blank line); BadMessage if Envoy refuses it.

    As Envoy: a line may end in a bare LF; a NUL, a bare CR or another control
    character (but HTAB) anywhere, or a field name that is not a token, is a 400;
    a version that is not ``HTTP/1.1`` is a 426 (``accept_http_10`` off), or a
    400 if it is not a version at all. ``Upgrade: h2c`` is ignored: its headers
    and ``HTTP2-Settings`` go (envoyproxy/envoy#7161). HTTP/2 streams come here
    as HTTP/1.1 heads (:mod:`kn_walk.sandbox.dataplane.h2c`).
    """
    crlf = head.count(b"\r\n")
    if head.count(b"\n") != crlf:
        head = _crlf_lines(head)
        crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or _CTL_RE.search(head) is not None:
        raise BadMessage(400, "invalid character in request head")
    if _BAD_FIELD_RE.search(head) is not None:
        raise BadMessage(400, "malformed header field")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise BadMessage(400, "malformed request line")
    method, target, version = parts
    if _TOKEN_RE.fullmatch(method) is None or not target:
        raise BadMessage(400, "malformed request line")
    if version != b"HTTP/1.1":
        if _VERSION_RE.fullmatch(version) is None:
            raise BadMessage(400, "malformed request line")
        raise BadMessage(426, "Upgrade Required")  # Envoy's body: the reason phrase
    host = b""
    if target[:1] != b"/" and target[:7].lower() == b"http://":
        # absolute form: the URI's authority wins over Host (RFC 9112 section 3.2.2)
        rest = target[7:]
        slash = rest.find(b"/")
        host, target = (rest, b"/") if slash < 0 else (rest[:slash], rest[slash:])
    hop = _HOP_RE.search(head) is not None
    kept: list[bytes] = []
    connection: set[bytes] = set()
    content_length: bytes | None = None
    remaining = 0
    transfer_encoding: bytes | None = None
    xff: bytes | None = None
    host_field: bytes | None = None
    h2c = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")  # checked by _BAD_FIELD_RE
        lname = name.lower()
        if lname == b"host":
            value = value.strip()
            if host_field is not None and value != host_field:
                raise BadMessage(400, "conflicting Host headers")
            host_field = value
            kept.append(line)
        elif lname == b"content-length":
            value = value.strip()
            length = parse_content_length(value)
            if length is None or (content_length is not None and value != content_length):
                raise BadMessage(400, "invalid Content-Length")
            content_length = value
            remaining = length
        elif lname == b"x-forwarded-for":
            value = value.strip()
            xff = value if xff is None else xff + b", " + value
        elif lname == b"x-forwarded-proto":
            continue
        elif hop and (lname in _HOP_BY_HOP or lname.startswith(b"proxy-")):
            if lname == b"connection":
                connection |= _connection_tokens(value)
            elif lname == b"transfer-encoding":
                value = value.strip().lower()
                transfer_encoding = (
                    value if transfer_encoding is None else transfer_encoding + b"," + value
                )
            elif lname == b"upgrade":
                h2c = value.strip().lower() == b"h2c"
        else:
            kept.append(line)
    if h2c and b"upgrade" in connection:
        connection.add(b"http2-settings")  # removed with the upgrade, even if not nominated
    if connection - {b"close", b"keep-alive"}:
        kept = [line for line in kept if line.partition(b":")[0].strip().lower() not in connection]
    chunked = False
    if transfer_encoding is not None:
        if content_length is not None:
            raise BadMessage(400, "Transfer-Encoding with Content-Length")
        if not last_coding_chunked(transfer_encoding):
            raise BadMessage(501, "unsupported Transfer-Encoding")
        chunked = True
    host = host or host_field or b""
    if not host:
        raise BadMessage(400, "missing Host header")
    return Request(
        method,
        target,
        host,
        kept,
        xff,
        content_length,
        remaining,
        chunked,
        b"close" not in connection,
    )


def upstream_head(
    req: Request, client_ip: bytes, forwarded_for: bytes, backend: Backend | None = None
) -> bytes:
    """The head sent to the Revision's process: HTTP/1.1, the forwarded fields (those the
    route sets replaced: ``backend.headers``, and Host when it rewrites it), then
    ``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``Forwarded`` (RFC 7239), the framing."""
    out = [req.method, b" ", req.target, b" HTTP/1.1\r\n"]
    headers = backend.headers if backend is not None else ()
    host = backend.host if backend is not None else b""
    replaced = {name for name, _ in headers}
    if host:
        replaced.add(b"host")
    for line in req.fields:
        if not replaced or line.split(b":", 1)[0].strip().lower() not in replaced:
            out.append(line)
            out.append(b"\r\n")
    if host:
        out.append(b"Host: " + host + b"\r\n")
    for _, line in headers:
        out.append(line)
        out.append(b"\r\n")
    out.append(b"X-Forwarded-For: ")
    out.append(req.xff + b", " + client_ip if req.xff else client_ip)
    out.append(b"\r\nX-Forwarded-Proto: http\r\nForwarded: ")
    out.append(forwarded_for)
    out.append(b';host="')
    out.append(req.host.replace(b'"', b"").replace(b"\\", b""))
    out.append(b'";proto=http\r\n')
    if req.chunked:
        out.append(b"Transfer-Encoding: chunked\r\n")
    elif req.content_length is not None:
        out.append(b"Content-Length: " + req.content_length + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


class Client(Protocol):
    """The client side of an exchange: an HTTP/1.1 connection, or one HTTP/2 stream."""

    @property
    def gateway(self) -> Gateway: ...

    @property
    def buf(self) -> bytearray:
        """Request bytes received and not yet taken: the body, chunked or not as the
        exchange's framing says."""

    @property
    def write_paused(self) -> bool:
        """The client takes no more response bytes for now (the process is not read)."""

    def pause(self, reason: int) -> None:
        """Stop taking request bytes from the client (``PAUSE_*``) until :meth:`resume`."""

    def resume(self, reason: int) -> None: ...

    def head(self, ex: Exchange, code: int, status: bytes, fields: bytes, unframed: bool) -> bytes:
        """Start the response (``fields``: each field line after a CRLF; ``unframed``: a
        body whose end only the process's chunking or close marks); returns bytes to write
        before the body."""

    def write(self, data: bytes) -> None:
        """Response bytes, after :meth:`head`'s."""

    def respond(self, status: int, body: bytes, keep_alive: bool) -> None:
        """An answer of the gateway's own."""

    def exchange_done(self, ex: Exchange, keep_alive: bool) -> None:
        """The response was delivered (or answered by the gateway)."""

    def abort(self) -> None:
        """Reset: the response cannot be completed."""


class Connection(Protocol):
    """A client connection the gateway holds (HTTP/1.1, or HTTP/2 with its streams)."""

    @property
    def deadline(self) -> float:
        """When :meth:`expire` is due (monotonic time; 0: none)."""

    @property
    def closing(self) -> bool:
        """Answered for the last time: the connection closes on its own."""

    def expire(self) -> None: ...

    def drain(self) -> None:
        """The gateway stops: close once what is in flight is done."""

    def abort(self) -> None: ...


# --------------------------------------------------------------------------- exchange


class Exchange:
    """One request and its response, between a client and a revision process."""

    __slots__ = (
        "acquired",
        "activation",
        "backend",
        "body_chunked",
        "body_remaining",
        "client_chunked",
        "deadline",
        "down",
        "finished",
        "got_response",
        "has_body",
        "head",
        "head_sent",
        "keep_alive",
        "method",
        "pending",
        "pending_size",
        "req_decoder",
        "request_done",
        "retried",
        "up",
    )

    def __init__(self, down: Client, req: Request, backend: Backend, head: bytes) -> None:
        self.down = down
        self.method = req.method
        self.head = head  # the request head for the process, ending with CRLF CRLF
        self.backend = backend
        self.keep_alive = req.keep_alive
        self.body_remaining = req.remaining
        self.body_chunked = req.chunked
        self.has_body = req.has_body
        self.request_done = not self.has_body
        self.req_decoder: ChunkedDecoder | None = ChunkedDecoder() if req.chunked else None
        self.pending: list[bytes] = []  # request body read before there is an upstream
        self.pending_size = 0
        self.acquired = False
        self.up: _Upstream | None = None
        self.activation: asyncio.Task[None] | None = None
        self.deadline = 0.0
        self.got_response = False
        self.head_sent = False
        self.client_chunked = False
        self.finished = False
        self.retried = False

    @property
    def replayable(self) -> bool:
        """Safe to send again on another connection (RFC 9110 section 9.2.2)."""
        return not self.has_body and self.method in _IDEMPOTENT

    # ------------------------------------------------------------ request body

    def pump_request_body(self) -> None:
        """Move request body bytes from the client's buffer towards the process."""
        buf = self.down.buf
        if self.request_done or not buf:
            return
        if self.req_decoder is not None:
            pieces: list[bytes] = []
            done = _decode(self.req_decoder, buf, pieces)
            data = b"".join(chunk(p) for p in pieces if p)
            if done:
                data += b"0\r\n\r\n"
                self.request_done = True
        else:
            n = min(self.body_remaining, len(buf))
            data = bytes(buf[:n])
            del buf[:n]
            self.body_remaining -= n
            self.request_done = self.body_remaining == 0
        if not data:
            return
        up = self.up
        if up is not None:
            up.write_body(self, data)
        else:
            self.pending.append(data)
            self.pending_size += len(data)
            if self.pending_size > HIGH_WATER:
                self.down.pause(PAUSE_UPSTREAM)

    # ------------------------------------------------------------ endings

    def _end(self) -> None:
        self.finished = True
        if self.acquired:
            self.acquired = False
            self.down.gateway.workloads.release(self.backend.namespace, self.backend.revision)
        if self.activation is not None:
            self.activation.cancel()
            self.activation = None
        self.down.gateway.exchange_ended(self)

    def finish(self) -> None:
        """The response was delivered completely."""
        if self.finished:
            return
        self._end()
        self.up = None
        self.down.exchange_done(self, self.keep_alive and self.request_done)

    def fail(self, status: int, body: bytes) -> None:
        """End with an answer of the gateway's own, or reset the client if it is too late."""
        if self.finished:
            return
        self._end()
        up = self.up
        self.up = None
        if up is not None:
            up.abandon(self)
        if self.head_sent:
            self.down.abort()
            return
        keep = self.keep_alive and self.request_done
        self.down.respond(status, body, keep)
        self.down.exchange_done(self, keep)

    def abort(self) -> None:
        """The client went away; a response still to come is read and dropped."""
        if self.finished:
            return
        self._end()
        up = self.up
        self.up = None
        if up is not None and self.has_body and not self.request_done:
            up.abandon(self)

    def on_timeout(self) -> None:
        self.fail(504, b"upstream request timeout")

    def upstream_lost(self) -> None:
        """The connection closed before the response was complete."""
        if self.finished:
            return
        self.up = None
        if not self.got_response and self.replayable and not self.retried:
            # e.g. a keep-alive connection the process closed: try once more
            self.retried = True
            if self.acquired:
                self.acquired = False
                self.down.gateway.workloads.release(self.backend.namespace, self.backend.revision)
            self.down.gateway.dispatch(self)
            return
        self.fail(
            502,
            b"upstream connect error or disconnect/reset before headers. "
            b"reset reason: connection termination",
        )


# ------------------------------------------------------------------------- downstream


class _Downstream(asyncio.Protocol):
    """A client connection speaking HTTP/1.1: one request at a time, in order.

    Its first bytes may be the HTTP/2 preface instead: the connection then goes to
    :class:`kn_walk.sandbox.dataplane.h2c.Http2Downstream` (Envoy's codec ``AUTO``).

    While no request is in flight the connection has a deadline, which
    :meth:`Gateway._sweep` enforces: a request head must be complete within the
    header timeout of the connection's start, and of the first byte after an
    idle time (Envoy's ``request_headers_timeout``: ``408`` and close; a
    connection that has sent nothing is closed without an answer); a connection
    idle between requests is closed after the idle timeout (Envoy's
    ``idle_timeout``).
    """

    def __init__(self, gateway: Gateway, slot: Slot) -> None:
        self.gateway = gateway
        self.slot = slot
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.exchange: Exchange | None = None
        self.paused = 0
        self.write_paused = False
        self.closing = False
        self.client_ip = b"127.0.0.1"
        self.forwarded_for = b"for=127.0.0.1"
        #: when the head being waited for must be complete, or the idle time ends; 0: none
        self.deadline = 0.0
        #: the deadline is the idle timeout (no byte of the next request yet)
        self.idle = False
        #: no request yet: the connection may still turn out to speak HTTP/2
        self.fresh = True

    # ----------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.gateway.downstreams.add(self)
        self.deadline = time.monotonic() + self.gateway.limits.header_timeout
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            ip = str(peer[0])
            self.client_ip = ip.encode()
            self.forwarded_for = f'for="[{ip}]"'.encode() if ":" in ip else b"for=" + ip.encode()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closing = True
        self.slot.release()
        self.gateway.downstreams.discard(self)
        ex = self.exchange
        self.exchange = None
        if ex is not None:
            ex.abort()

    def pause_writing(self) -> None:
        self.write_paused = True  # the upstream stops reading at its next response data

    def resume_writing(self) -> None:
        self.write_paused = False
        ex = self.exchange
        if ex is not None and ex.up is not None:
            ex.up.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buf += data
        ex = self.exchange
        if ex is None:
            if self.idle:  # the first byte of the next request: its head has a deadline now
                self.idle = False
                self.deadline = time.monotonic() + self.gateway.limits.header_timeout
            self.next_request()
            return
        if not ex.request_done:
            try:
                ex.pump_request_body()
            except BadMessage as exc:  # 400 if the response has not started, else a reset
                ex.fail(exc.status, str(exc).encode())
                return
        if len(self.buf) > HIGH_WATER:
            self.pause(PAUSE_PIPELINE)

    # ----------------------------------------------------------- flow control

    def pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        if not self.paused and self.transport is not None and not self.closing:
            self.transport.resume_reading()

    # ----------------------------------------------------------- requests

    def next_request(self) -> None:
        """Start the next complete request in the buffer, if none is in flight."""
        buf = self.buf
        while self.exchange is None and buf and not self.closing:
            if self.fresh:
                if buf.startswith(H2_PREFACE_PREFIX):
                    self.to_http2()
                    return
                if H2_PREFACE_PREFIX.startswith(buf):
                    break  # too few bytes to tell
                self.fresh = False
            if buf[0] in b"\r\n":  # empty lines before a request are ignored (RFC 9112 2.2)
                del buf[: len(buf) - len(buf.lstrip(b"\r\n"))]
                continue
            end, size = _head_end(buf)
            if end < 0:
                if len(buf) > MAX_HEAD:
                    self.respond(431, b"", False)
                break
            if end > MAX_HEAD:
                self.respond(431, b"", False)
                return
            head = bytes(buf[:end])
            del buf[:size]
            self.deadline = 0.0
            try:
                self.start_request(head)
            except BadMessage as exc:
                self.respond(exc.status, str(exc).encode(), False)
                return
        if self.exchange is None and not self.closing and not self.deadline:
            # between requests: the next head's deadline, or the idle one until it starts
            self.idle = not buf
            limits = self.gateway.limits
            wait = limits.idle_timeout if self.idle else limits.header_timeout
            self.deadline = time.monotonic() + wait

    def expire(self) -> None:
        """The deadline passed with no request in flight."""
        if self.exchange is not None:
            return
        if self.idle or not self.buf:
            self.closing = True  # idle, or nothing sent: closed without an answer
            if self.transport is not None:
                self.transport.close()
        else:
            self.respond(408, b"request header timeout", False)

    def start_request(self, head: bytes) -> None:
        """Check a request head (:func:`parse_request`), then route and send the request."""
        req = parse_request(head)
        self.fresh = False
        gateway = self.gateway
        backend, status, body = gateway.pick(req.host)
        if backend is None:
            self.fail_early(status, body, req.keep_alive, req.has_body)
            return
        ex = Exchange(
            self, req, backend, upstream_head(req, self.client_ip, self.forwarded_for, backend)
        )
        self.exchange = ex
        gateway.exchange_started(ex)
        if req.has_body:
            try:
                ex.pump_request_body()
            except BadMessage as exc:  # e.g. a bad chunk size: the process never sees it
                ex.fail(exc.status, str(exc).encode())
                return
        gateway.dispatch(ex)

    def to_http2(self) -> None:
        """The client sent the HTTP/2 preface: hand the connection (and its slot under
        the cap, and its header deadline) to an HTTP/2 server connection."""
        from kn_walk.sandbox.dataplane.h2c import Http2Downstream

        transport = self.transport
        assert transport is not None
        self.closing = True
        self.transport = None
        self.gateway.downstreams.discard(self)
        h2 = Http2Downstream(
            self.gateway, self.slot, transport, self.client_ip, self.forwarded_for, self.deadline
        )
        transport.set_protocol(h2)
        data = bytes(self.buf)
        self.buf.clear()
        h2.start(data)

    def fail_early(self, status: int, body: bytes, keep_alive: bool, has_body: bool) -> None:
        """Answer a request that is not proxied; its body, if any, is not read."""
        self.respond(status, body, keep_alive and not has_body)

    def respond(self, status: int, body: bytes, keep_alive: bool) -> None:
        """Write an answer of the gateway's own (lower-case header names, as Envoy's)."""
        transport = self.transport
        if transport is None:
            return
        parts = [
            b"HTTP/1.1 %d %b\r\ndate: %b\r\nserver: %b\r\ncontent-length: %d\r\n"
            % (status, _REASONS.get(status, b"Error"), self.gateway.dates.get(), SERVER, len(body))
        ]
        if body:
            parts.append(b"content-type: text/plain\r\n")
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        parts.append(body)
        transport.write(b"".join(parts))
        if not keep_alive:
            self.closing = True
            transport.close()

    def head(self, ex: Exchange, code: int, status: bytes, fields: bytes, unframed: bool) -> bytes:
        """The HTTP/1.1 response head: a body whose end the process marks by chunking or
        by closing is chunked to the client; ``Connection: close`` when the connection
        ends with this response."""
        if code < 200:
            return status + fields + b"\r\n\r\n"
        extra = b""
        if unframed:
            ex.client_chunked = True
            extra = b"\r\nTransfer-Encoding: chunked"
        if not ex.keep_alive or not ex.request_done:
            ex.keep_alive = False
            extra += b"\r\nConnection: close"
        return status + fields + extra + b"\r\n\r\n"

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None:
            transport.write(data)

    def exchange_done(self, ex: Exchange, keep_alive: bool) -> None:
        if self.exchange is not ex:
            return
        self.exchange = None
        transport = self.transport
        if transport is None:
            return
        if not keep_alive or self.gateway.draining:
            self.closing = True
            transport.close()
            return
        self.resume(PAUSE_PIPELINE | PAUSE_UPSTREAM)
        self.next_request()

    def drain(self) -> None:
        if self.exchange is None and self.transport is not None:
            self.closing = True
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


# --------------------------------------------------------------------------- upstream


class _Upstream(asyncio.Protocol):
    """A connection to a revision process.

    Requests without a body are pipelined (RFC 9112 section 9.3.2): heads queued
    in one loop iteration go out in one write, and the responses come back in
    order. A request with a body has the connection to itself.
    """

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.exclusive = False
        self.queue: deque[Exchange] = deque()
        self.wbuf: list[bytes] = []
        self.wsize = 0
        self.flush_scheduled = False
        self.buf = bytearray()
        self.reading_paused = False
        # the framing of the response being read
        self.head_done = False
        self.remaining = 0
        self.decoder: ChunkedDecoder | None = None
        self.until_close = False

    @property
    def usable(self) -> bool:
        return not self.closed and self.keep_alive

    # ----------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.closed:
            transport.close()
            return
        self.flush()

    def connect_failed(self) -> None:
        self.closed = True
        self.pool.discard(self)
        queue = list(self.queue)
        self.queue.clear()
        for ex in queue:
            ex.fail(
                503,
                b"upstream connect error or disconnect/reset before headers. "
                b"reset reason: connection failure",
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self.pool.discard(self)
        queue = list(self.queue)
        self.queue.clear()
        if queue and self.head_done and self.until_close and not self.buf:
            first = queue.pop(0)  # a body delimited by the close: complete
            if not first.finished:
                if first.client_chunked:
                    first.down.write(b"0\r\n\r\n")
                first.finish()
        for ex in queue:
            ex.upstream_lost()

    def pause_writing(self) -> None:
        if self.exclusive and self.queue:
            self.queue[0].down.pause(PAUSE_UPSTREAM)

    def resume_writing(self) -> None:
        if self.exclusive and self.queue:
            self.queue[0].down.resume(PAUSE_UPSTREAM)

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            if self.transport is not None:
                self.transport.resume_reading()
            self.process()

    # ----------------------------------------------------------- requests

    def enqueue(self, ex: Exchange) -> None:
        self.queue.append(ex)
        ex.up = self
        self.wbuf.append(ex.head)
        if ex.pending:
            self.wbuf.extend(ex.pending)
            self.wsize += ex.pending_size
            ex.pending = []
            ex.pending_size = 0
        if self.transport is not None and not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def write_body(self, ex: Exchange, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.wbuf:
            transport.write(data)
            return
        self.wbuf.append(data)
        self.wsize += len(data)
        if self.wsize > HIGH_WATER:
            ex.down.pause(PAUSE_UPSTREAM)

    def flush(self) -> None:
        self.flush_scheduled = False
        transport = self.transport
        if transport is None or not self.wbuf or self.closed:
            return
        wbuf = self.wbuf
        data = b"".join(wbuf) if len(wbuf) > 1 else wbuf[0]
        wbuf.clear()
        if self.wsize > HIGH_WATER and self.exclusive and self.queue:
            self.queue[0].down.resume(PAUSE_UPSTREAM)
        self.wsize = 0
        transport.write(data)

    def abandon(self, ex: Exchange) -> None:
        """Give up on ``ex``; the connection is closed, the others queued on it retried."""
        with contextlib.suppress(ValueError):
            self.queue.remove(ex)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.keep_alive = False
        self.pool.discard(self)
        if self.transport is not None:
            self.transport.close()  # connection_lost deals with what is queued

    # ----------------------------------------------------------- responses

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.process()

    def process(self) -> None:
        buf = self.buf
        queue = self.queue
        while queue and buf:
            ex = queue[0]
            if ex.down.write_paused and not ex.finished:
                self.pause_reading()
                return
            ex.got_response = True
            try:
                done = self.read_response(ex)
            except BadMessage as exc:
                log.debug("bad response from %s: %s", self.pool.key, exc)
                queue.popleft()
                self.keep_alive = False
                ex.fail(502, b"upstream sent an invalid response")
                self.close()
                return
            if not done:
                return
            queue.popleft()
            self.head_done = False
            self.decoder = None
            if self.exclusive:
                self.exclusive = False
                if not ex.request_done:
                    self.keep_alive = False
            if not ex.finished:
                ex.finish()
        if buf and not queue:  # bytes nobody asked for
            self.close()
        elif not queue:
            if not self.keep_alive:
                self.close()
            else:
                self.pool.idle(self)

    def read_response(self, ex: Exchange) -> bool:
        """Parse (and, unless dropped, forward) the response for ``ex``; True when complete."""
        buf = self.buf
        out: list[bytes] = []
        while not self.head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise BadMessage(502, "response head too large")
                self.write_out(ex, out)
                return False
            head = bytes(buf[:end])
            del buf[: end + 4]
            if self.response_head(ex, head, out):
                self.head_done = True
        done = False
        decoder = self.decoder
        if decoder is not None:
            pieces: list[bytes] = []
            done = _decode(decoder, buf, pieces)
            if ex.client_chunked:
                out.extend(chunk(p) for p in pieces if p)
            else:
                out.extend(pieces)
        elif self.until_close:
            if buf:
                data = bytes(buf)
                buf.clear()
                out.append(chunk(data) if ex.client_chunked else data)
        else:
            n = self.remaining
            if n:
                if n >= len(buf):
                    out.append(bytes(buf))
                    self.remaining -= len(buf)
                    buf.clear()
                else:
                    out.append(bytes(buf[:n]))
                    del buf[:n]
                    self.remaining = 0
            done = self.remaining == 0
        if done and ex.client_chunked:
            out.append(b"0\r\n\r\n")
        self.write_out(ex, out)
        return done

    @staticmethod
    def write_out(ex: Exchange, out: list[bytes]) -> None:
        if out and not ex.finished:
            ex.down.write(b"".join(out) if len(out) > 1 else out[0])

    def response_head(self, ex: Exchange, head: bytes, out: list[bytes]) -> bool:
        """Rewrite a response head into ``out``; False for an interim (1xx) response."""
        status_end = head.find(b"\r\n")
        status_line = head if status_end < 0 else head[:status_end]
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise BadMessage(502, "malformed status line")
        code = int(parts[1])
        if code < 100 or code > 999:
            raise BadMessage(502, "invalid status code")
        fields = b"" if status_end < 0 else head[status_end:]  # each field preceded by CRLF
        connection: set[bytes] = set()
        chunked = False
        if _HOP_RE.search(head) is not None:
            kept: list[bytes] = []
            for line in fields[2:].split(b"\r\n"):
                name, sep, value = line.partition(b":")
                if not sep:
                    raise BadMessage(502, "malformed header field")
                lname = name.strip().lower()
                if lname in _HOP_BY_HOP or lname.startswith(b"proxy-"):
                    if lname == b"connection":
                        connection |= _connection_tokens(value)
                    elif lname == b"transfer-encoding":
                        chunked = last_coding_chunked(value)
                        if not chunked:
                            raise BadMessage(502, "unsupported Transfer-Encoding")
                    continue
                kept.append(line)
            if connection - {b"close", b"keep-alive"}:
                kept = [
                    line
                    for line in kept
                    if line.partition(b":")[0].strip().lower() not in connection
                ]
            fields = b"".join(b"\r\n" + line for line in kept)
        status = b"HTTP/1.1 " + parts[1] + (b" " + parts[2] if len(parts) > 2 else b"")
        if code < 200:
            if code == 101:  # Upgrade is never forwarded, so this is a confused process
                raise BadMessage(502, "unexpected 101 Switching Protocols")
            interim = ex.down.head(ex, code, status, fields, False)
            if interim:
                out.append(interim)
            return False
        if parts[0] == b"HTTP/1.0":
            self.keep_alive = self.keep_alive and b"keep-alive" in connection
        elif b"close" in connection:
            self.keep_alive = False
        content_length: bytes | None = None
        match = _CONTENT_LENGTH_RE.search(fields)
        length = 0
        if match is not None:
            content_length = match.group(1).strip()
            parsed = parse_content_length(content_length)
            if parsed is None:
                raise BadMessage(502, "invalid Content-Length")
            length = parsed
        no_body = ex.method == b"HEAD" or code in (204, 304)
        self.remaining = 0
        if no_body:
            pass
        elif chunked:
            self.decoder = ChunkedDecoder()
            if content_length is not None:  # chunked wins (RFC 9112 section 6.3)
                fields = _CONTENT_LENGTH_RE.sub(b"", fields)
        elif content_length is not None:
            self.remaining = length
        else:
            self.until_close = True
            self.keep_alive = False
        start = ex.down.head(
            ex, code, status, fields, (chunked or self.until_close) and not no_body
        )
        ex.head_sent = True
        if start:
            out.append(start)
        return True


class _Pool:
    """The connections to one revision process."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.gateway = gateway
        self.loop = asyncio.get_running_loop()
        self.key = (host, port)
        self.host = host
        self.port = port
        self.conns: list[_Upstream] = []
        self.current: _Upstream | None = None

    def pick(self, exclusive: bool) -> _Upstream:
        """A connection for a request: any with room in its pipeline, or an idle one."""
        if exclusive:
            for up in self.conns:
                if not up.queue and up.usable:
                    up.exclusive = True
                    return up
            up = self.connect()
            up.exclusive = True
            return up
        current = self.current
        if (
            current is not None
            and current.usable
            and not current.exclusive
            and len(current.queue) < MAX_PIPELINE
        ):
            return current
        best: _Upstream | None = None
        for up in self.conns:
            if (
                up.usable
                and not up.exclusive
                and len(up.queue) < MAX_PIPELINE
                and (best is None or len(up.queue) < len(best.queue))
            ):
                best = up
        if best is None:
            best = self.connect()
        self.current = best
        return best

    def connect(self) -> _Upstream:
        up = _Upstream(self)
        self.conns.append(up)
        task = self.loop.create_task(self._connect(up))
        self.gateway.track(task)
        return up

    async def _connect(self, up: _Upstream) -> None:
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: up, self.host, self.port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError):
            up.connect_failed()

    def idle(self, up: _Upstream) -> None:
        """``up`` has nothing in flight: keep it, unless enough others are idle too."""
        if self.gateway.draining:
            up.close()
            return
        idle = 0
        for other in self.conns:
            if not other.queue:
                idle += 1
                if idle > MAX_IDLE_PER_UPSTREAM:
                    up.close()
                    return

    def discard(self, up: _Upstream) -> None:
        with contextlib.suppress(ValueError):
            self.conns.remove(up)
        if self.current is up:
            self.current = None
        if not self.conns and self.gateway.pools.get(self.key) is self:
            del self.gateway.pools[self.key]

    def close(self) -> None:
        for up in list(self.conns):
            up.close()


# ---------------------------------------------------------------------------- gateway


def _loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


class Gateway:
    """The HTTP server on a gateway port."""

    def __init__(
        self,
        workloads: Workloads,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        limits: Limits | None = None,
        name: str = "gateway",
    ) -> None:
        """``sock``, if given, is a listening socket to serve on instead of binding host:port.

        Loopback only: any other address (or socket) is refused with ValueError.
        ``limits`` default to :func:`conns.gateway_limits` (Envoy's timeouts, a cap
        from the open-file limit, overridden by the environment). ``name`` is the
        listener's in log lines.
        """
        address = sock.getsockname()[0] if sock is not None else host
        if not _loopback(address):
            raise ValueError(f"the sandbox gateway listens on loopback only, not on {address!r}")
        self.workloads = workloads
        self.host = host
        self.port = port
        self.sock = sock
        self.limits = limits or gateway_limits()
        self.name = name
        self.routes: dict[str, _Route] = {}
        self._host_cache: dict[bytes, _Route | None] = {}
        self.pools: dict[tuple[str, int], _Pool] = {}
        self.downstreams: set[Connection] = set()
        self.active: set[Exchange] = set()
        self.dates = _Dates()
        self.draining = False
        self.listener: Listener | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        #: faults injected per Revision (sandbox.knwalk.dev/fault), fed by the data plane
        self.faults = revision_faults.RevisionFaults()

    def set_routes(self, table: Mapping[str, Sequence[Backend]]) -> None:
        """Replace the route table at once: ``host -> backends``; requests in flight go on."""
        routes = {normalize_host(host): _Route(backends) for host, backends in table.items()}
        self.routes = routes
        self._host_cache = {}

    def route(self, host: bytes) -> _Route | None:
        """The route for a Host header value."""
        cache = self._host_cache
        try:
            return cache[host]
        except KeyError:
            pass
        route = self.routes.get(normalize_host(host))
        if len(cache) >= HOST_CACHE_SIZE:
            cache.clear()
        cache[host] = route
        return route

    def pick(self, host: bytes) -> tuple[Backend | None, int, bytes]:
        """The backend for a request to ``host``, or the gateway's own answer: ``404``
        (empty body) for a host no Route has, ``503`` for a Route with no traffic."""
        route = self.route(host)
        if route is None:
            return None, 404, b""
        backend = route.pick()
        if backend is None:
            return None, 503, b"no healthy upstream"
        return backend, 0, b""

    async def start(self) -> int:
        """Listen; returns the port."""
        loop = asyncio.get_running_loop()
        self.draining = False
        sock = self.sock or socket.create_server((self.host, self.port), backlog=1024)
        self.listener = Listener(
            sock,
            lambda slot: _Downstream(self, slot),
            name=self.name,
            max_connections=self.limits.max_connections,
        )
        self.listener.start()
        self.port = self.listener.port
        self.track(loop.create_task(self._sweep()))
        return self.port

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (a few seconds at most), close all."""
        self.draining = True
        if self.listener is not None:
            self.listener.close()
        for down in list(self.downstreams):
            down.drain()
        loop = asyncio.get_running_loop()
        end = loop.time() + DRAIN_TIMEOUT
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT)
        # connections that were answered and are closing (an HTTP/2 one reads on for a
        # moment after its GOAWAY) close on their own, within the same few seconds
        while any(down.closing for down in self.downstreams) and loop.time() < end:
            await asyncio.sleep(TIMEOUT_TICK)
        for down in list(self.downstreams):
            down.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for pool in list(self.pools.values()):
            pool.close()
        self.listener = None

    # ----------------------------------------------------------- bookkeeping

    def track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def exchange_started(self, ex: Exchange) -> None:
        self.active.add(ex)
        self._idle.clear()

    def exchange_ended(self, ex: Exchange) -> None:
        active = self.active
        active.discard(ex)
        if not active:
            self._idle.set()

    async def _sweep(self) -> None:
        """Enforce the revisions' request timeouts and the connections' header and idle ones."""
        while True:
            await asyncio.sleep(TIMEOUT_TICK)
            now = time.monotonic()
            for ex in [ex for ex in self.active if 0 < ex.deadline <= now]:
                ex.on_timeout()
            for down in [d for d in self.downstreams if 0 < d.deadline <= now]:
                down.expire()

    # ----------------------------------------------------------- dispatch

    def dispatch(self, ex: Exchange) -> None:
        """Apply the Revision's fault, if any (:mod:`revision_faults`), else :meth:`forward`."""
        if self.faults and not ex.retried and intercept_fault(self, ex):
            return  # aborted, or held for a delay
        self.forward(ex)

    def forward(self, ex: Exchange) -> None:
        """Send the exchange to a ready process of its backend, activating one if needed."""
        backend = ex.backend
        ep = self.workloads.acquire(backend.namespace, backend.revision)
        if ep is None:
            task = asyncio.get_running_loop().create_task(self._activate(ex))
            ex.activation = task
            self.track(task)
            return
        self._send(ex, ep)

    async def _activate(self, ex: Exchange) -> None:
        backend = ex.backend
        timeout = self.workloads.request_timeout(backend.namespace, backend.revision)
        try:
            await self.workloads.activate(backend.namespace, backend.revision, timeout)
        except NotReady as exc:
            ex.activation = None
            status = 504 if exc.reason == "Timeout" else 503
            message = f'revision "{backend.revision}" is not ready: {exc.reason}'
            if exc.message:
                message += f": {exc.message}"
            ex.fail(status, message.encode() + b"\n")
            return
        ex.activation = None
        if ex.finished:
            return
        ep = self.workloads.acquire(backend.namespace, backend.revision)
        if ep is None:
            ex.fail(503, b"no healthy upstream")
            return
        self._send(ex, ep)

    def _send(self, ex: Exchange, ep: Endpoint) -> None:
        ex.acquired = True
        if not ex.deadline:
            ex.deadline = time.monotonic() + ep.timeout
        key = (ep.host, ep.port)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = _Pool(self, ep.host, ep.port)
        pool.pick(ex.has_body).enqueue(ex)


def intercept_fault(gateway: Gateway, ex: Exchange) -> bool:
    """Apply the fault of the exchange's Revision, if it has one and this request gets it:
    True when the gateway must not send the request on now (aborted, or delayed: it is
    sent on by :meth:`Gateway.forward` after the delay)."""
    backend = ex.backend
    fault = gateway.faults.get((backend.namespace, backend.revision))
    if fault is None or not fault.hits():
        return False
    if fault.abort is not None:
        ex.fail(fault.abort, revision_faults.ABORT_BODY)
        return True
    assert fault.delay is not None
    task = asyncio.get_running_loop().create_task(_forward_after_delay(gateway, ex, fault.delay))
    ex.activation = task  # cancelled with the exchange (the client went away)
    gateway.track(task)
    return True


async def _forward_after_delay(gateway: Gateway, ex: Exchange, delay: float) -> None:
    await asyncio.sleep(delay)
    ex.activation = None
    if not ex.finished:
        gateway.forward(ex)
