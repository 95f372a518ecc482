"""HTTP/2 over cleartext (h2c) on the gateway ports, as Envoy's listener serves it.

Envoy's HTTP connection manager with ``codec_type: AUTO`` (Istio's gateways)
speaks HTTP/2 to a client whose first bytes are the HTTP/2 connection preface:
prior knowledge (RFC 9113 section 3.3). :class:`gateway._Downstream` hands such
a connection here. It never upgrades an HTTP/1.1 connection (``Upgrade: h2c``
is ignored, envoyproxy/envoy#7161, see :func:`gateway.parse_request`).

The framing, HPACK, stream states, flow control and the checks RFC 9113 makes
of header fields are the ``h2`` library's; a connection that breaks them gets
``GOAWAY`` and is closed. Each request stream becomes one
:class:`~kn_walk.sandbox.dataplane.gateway.Exchange`: its pseudo-header fields and fields
are written as an HTTP/1.1 head and go through :func:`gateway.parse_request`,
the host table, the traffic split and the activator exactly as an HTTP/1.1
request does, and it is proxied to the Revision over HTTP/1.1 (a body without
``content-length`` is sent chunked), as Envoy does towards an HTTP/1.1 cluster.
Answers of the gateway's own (``404`` for an unknown host, ``503``, ``504``) are
HTTP/2 responses on the stream. A response the process sends is relayed on the
stream; one that fails after it started resets the stream (``INTERNAL_ERROR``),
not the connection.

Bounds: at most :data:`MAX_STREAMS` streams open at once; reading from the
client pauses while the responses it does not read pile up (``pause_writing``),
and a stream's request body is taken (its flow-control window given back) only
as fast as the process takes it; Envoy's defence against rapid resets
(CVE-2023-44487): a client that resets at least half of its streams within a
second of opening them is disconnected (``ENHANCE_YOUR_CALM``) once that is
half of :data:`PREMATURE_RESET_STREAMS` streams. The connection's header
deadline runs until its first request; with no stream open, its idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from kn_walk.sandbox.apiserver.conns import Slot
from kn_walk.sandbox.dataplane.gateway import (
    MAX_HEAD,
    SERVER,
    BadMessage,
    Exchange,
    Gateway,
    parse_request,
    upstream_head,
)

log = logging.getLogger(__name__)

#: streams a connection may have open at once (``SETTINGS_MAX_CONCURRENT_STREAMS``)
MAX_STREAMS = 100
#: Envoy's ``premature_reset_total_stream_count`` and ``premature_reset_min_stream_lifetime``
PREMATURE_RESET_STREAMS = 500
PREMATURE_RESET_LIFETIME = 1.0
#: seconds a connection that said GOAWAY keeps reading (and dropping) what the client still
#: sends before it closes: closing with unread bytes would reset the connection, and the
#: client could lose the GOAWAY and the last responses (Envoy's ``delayed_close_timeout``)
DELAYED_CLOSE = 1.0


def _http1_head(headers: list[tuple[bytes, bytes]], ended: bool) -> tuple[bytes, bool]:
    """A request's HTTP/2 header list as an HTTP/1.1 head, and whether its body is chunked
    (it has one: the HEADERS frame did not end the stream, and no ``content-length``).

    ``:authority`` becomes ``host`` (h2 refuses a ``host`` that differs from it);
    ``:scheme`` is not forwarded, as the HTTP/1.1 side does not forward one either.
    """
    method = path = authority = b""
    lines: list[bytes] = []
    has_length = False
    for name, value in headers:
        if name[:1] == b":":
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            continue
        has_length = has_length or name == b"content-length"
        lines.append(name + b": " + value)
    if method == b"CONNECT":
        path = authority
    if authority:
        lines.insert(0, b"host: " + authority)
    chunked = not ended and not has_length
    if chunked:
        lines.append(b"transfer-encoding: chunked")
    return b"\r\n".join([method + b" " + path + b" HTTP/1.1", *lines]), chunked


class Http2Stream:
    """One request stream: the client side of its exchange (:class:`gateway.Client`)."""

    def __init__(self, conn: Http2Downstream, stream_id: int) -> None:
        self.conn = conn
        self.gateway = conn.gateway
        self.id = stream_id
        self.opened = time.monotonic()
        self.exchange: Exchange | None = None
        #: the request body as the exchange reads it (chunked when ``chunked``)
        self.buf = bytearray()
        self.chunked = False
        self.paused = 0
        #: request bytes taken from the client but not yet given back to its window
        self.unacked = 0
        #: response bytes waiting for the client's flow-control window
        self.out = bytearray()
        self.request_ended = False
        self.ending = False  # the response is complete once ``out`` is sent
        self.ended = False  # END_STREAM (or a reset) sent: nothing more to send
        self.reset = False  # reset by either side

    # ------------------------------------------------------------ the request

    def start(self, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        """Check, route and send the request whose headers opened the stream."""
        self.request_ended = ended
        head, self.chunked = _http1_head(headers, ended)
        try:
            req = parse_request(head)
        except BadMessage as exc:
            self.respond(exc.status, str(exc).encode(), False)
            return
        gateway = self.gateway
        backend, status, body = gateway.pick(req.host)
        if backend is None:
            self.respond(status, body, False)
            return
        conn = self.conn
        ex = Exchange(
            self, req, backend, upstream_head(req, conn.client_ip, conn.forwarded_for, backend)
        )
        self.exchange = ex
        gateway.exchange_started(ex)
        gateway.dispatch(ex)

    def take(self, data: bytes, flow: int) -> bool:
        """Request body from a DATA frame; False if no exchange wants it (it is dropped)."""
        ex = self.exchange
        if ex is None or ex.finished or ex.request_done:
            return False
        if self.chunked:
            if data:  # an empty chunk would end the body
                self.buf += b"%x\r\n%b\r\n" % (len(data), data)
        else:
            self.buf += data
        self.unacked += flow
        self.pump(ex)
        if not self.paused:
            self.ack()
        return True

    def request_end(self) -> None:
        """The client ended the stream: the end of a chunked body."""
        self.request_ended = True
        ex = self.exchange
        if ex is not None and not ex.finished and not ex.request_done and self.chunked:
            self.buf += b"0\r\n\r\n"
            self.pump(ex)

    @staticmethod
    def pump(ex: Exchange) -> None:
        try:
            ex.pump_request_body()
        except BadMessage as exc:
            ex.fail(exc.status, str(exc).encode())

    def ack(self) -> None:
        """Give the bytes taken back to the client's flow-control windows."""
        if self.unacked:
            self.conn.ack(self.id, self.unacked)
            self.unacked = 0

    def reset_by_client(self) -> None:
        premature = not self.ended and time.monotonic() - self.opened < PREMATURE_RESET_LIFETIME
        self.reset = self.ended = True
        self.out.clear()
        ex = self.exchange
        self.exchange = None
        if ex is not None:
            ex.abort()
        self.conn.stream_closed(self, premature)

    def connection_lost(self) -> None:
        self.reset = self.ended = True
        ex = self.exchange
        self.exchange = None
        if ex is not None:
            ex.abort()

    # ------------------------------------------------------------ gateway.Client

    @property
    def write_paused(self) -> bool:
        return bool(self.out) or self.conn.write_paused

    def pause(self, reason: int) -> None:
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        if not self.paused:
            self.ack()
            self.conn.flush()

    def head(self, ex: Exchange, code: int, status: bytes, fields: bytes, unframed: bool) -> bytes:
        """Send the response's HEADERS frame (an interim one for 1xx); the framing of the
        body is HTTP/2's own, whatever the process's was."""
        if ex.finished or self.ended:
            return b""
        headers = [(b":status", b"%d" % code)]
        for line in fields.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        try:
            self.conn.h2.send_headers(self.id, headers)
        except ProtocolError as exc:  # a field HTTP/2 cannot carry, or the stream is gone
            raise BadMessage(502, f"response head not sendable over HTTP/2: {exc}") from None
        self.conn.flush()
        return b""

    def write(self, data: bytes) -> None:
        if not self.ended:
            self.out += data
            self.send()

    def respond(self, status: int, body: bytes, keep_alive: bool) -> None:
        """An answer of the gateway's own, as Envoy's local replies on HTTP/2."""
        if self.ended:
            return
        headers = [
            (b":status", b"%d" % status),
            (b"date", self.gateway.dates.get()),
            (b"server", SERVER),
            (b"content-length", b"%d" % len(body)),
        ]
        if body:
            headers.append((b"content-type", b"text/plain"))
        try:
            self.conn.h2.send_headers(self.id, headers)
        except ProtocolError:
            self.abort()
            return
        self.out += body
        self.ending = True
        self.send()

    def exchange_done(self, ex: Exchange, keep_alive: bool) -> None:
        if self.exchange is ex:
            self.exchange = None
        self.ending = True
        self.send()

    def abort(self) -> None:
        """The response cannot be completed: reset the stream, not the connection."""
        self.exchange = None
        if not self.ended:
            self.reset = self.ended = True
            self.out.clear()
            self.conn.reset(self.id, ErrorCodes.INTERNAL_ERROR)
            self.conn.stream_closed(self, False)

    # ------------------------------------------------------------ sending

    def send(self) -> None:
        """Send what the client's flow-control window allows; end the stream once the
        response is complete (and reset what is left of an unread request body)."""
        if self.ended:
            return
        h2 = self.conn.h2
        out = self.out
        try:
            while out:
                size = min(h2.local_flow_control_window(self.id), h2.max_outbound_frame_size)
                if size <= 0:
                    break
                h2.send_data(self.id, bytes(out[:size]))
                del out[:size]
            if not out and self.ending:
                self.ended = True
                h2.end_stream(self.id)
                if not self.request_ended:  # RFC 9113 section 8.1: the rest is not needed
                    h2.reset_stream(self.id, ErrorCodes.NO_ERROR)
        except ProtocolError:  # the stream or the connection closed meanwhile
            self.ended = self.reset = True
            out.clear()
        self.conn.flush()
        if self.ended:
            self.conn.stream_closed(self, False)
        elif not out and not self.conn.write_paused:
            ex = self.exchange
            if ex is not None and ex.up is not None:
                ex.up.resume_reading()


class Http2Downstream(asyncio.Protocol):
    """A client connection speaking HTTP/2 (:class:`gateway.Connection`)."""

    def __init__(
        self,
        gateway: Gateway,
        slot: Slot,
        transport: asyncio.Transport,
        client_ip: bytes,
        forwarded_for: bytes,
        deadline: float,
    ) -> None:
        self.gateway = gateway
        self.slot = slot
        self.transport: asyncio.Transport | None = transport
        self.client_ip = client_ip
        self.forwarded_for = forwarded_for
        #: the header deadline until the first request, then the idle one with no stream
        self.deadline = deadline
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.h2.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
                SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEAD,
            },
        )
        self.streams: dict[int, Http2Stream] = {}
        self.write_paused = False
        self.closing = False
        self.draining = False
        self.closed_streams = 0
        self.premature_resets = 0
        gateway.downstreams.add(self)

    def start(self, data: bytes) -> None:
        """Send the server's preface (its SETTINGS), then read what the client sent so far."""
        self.h2.initiate_connection()
        self.flush()
        if data:
            self.data_received(data)

    # ----------------------------------------------------------- asyncio

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closing = True
        self.slot.release()
        self.gateway.downstreams.discard(self)
        streams = list(self.streams.values())
        self.streams.clear()
        for stream in streams:
            stream.connection_lost()

    def pause_writing(self) -> None:
        # the client does not read: read nothing more from it (each frame it sends may
        # call for an answer) and let the processes wait (Http2Stream.write_paused)
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
        for stream in list(self.streams.values()):
            stream.send()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as exc:  # h2 has queued the GOAWAY that says why
            log.debug("%s: HTTP/2 connection error: %s", self.gateway.name, exc)
            self.flush()
            self.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self.request(event.stream_id, event.headers, event.stream_ended is not None)
            elif isinstance(event, DataReceived):
                stream = self.streams.get(event.stream_id)
                flow = event.flow_controlled_length
                if stream is None or not stream.take(event.data, flow):
                    self.ack(event.stream_id, flow)  # nobody reads it: the window comes back
            elif isinstance(event, StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.request_end()
            elif isinstance(event, StreamReset):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.reset_by_client()
            elif isinstance(event, WindowUpdated | RemoteSettingsChanged):
                for stream in list(self.streams.values()):
                    stream.send()
            elif isinstance(event, ConnectionTerminated):
                self.flush()  # after the client's GOAWAY h2 sends nothing more: done
                self.close()
                return
            if self.closing:
                return
        self.flush()

    # ----------------------------------------------------------- streams

    def request(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        if self.draining:  # the gateway stops: the client may send it elsewhere
            self.reset(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        self.deadline = 0.0
        stream = Http2Stream(self, stream_id)
        self.streams[stream_id] = stream
        stream.start(headers, ended)

    def stream_closed(self, stream: Http2Stream, premature: bool) -> None:
        if self.streams.pop(stream.id, None) is None:
            return
        self.closed_streams += 1
        if premature:
            self.premature_resets += 1
            if self.premature_resets * 2 >= max(PREMATURE_RESET_STREAMS, self.closed_streams):
                log.info(
                    "%s: closing an HTTP/2 connection that reset %d of %d streams at once",
                    self.gateway.name,
                    self.premature_resets,
                    self.closed_streams,
                )
                self.goaway(ErrorCodes.ENHANCE_YOUR_CALM)
                return
        if not self.streams:
            if self.draining:
                self.goaway(ErrorCodes.NO_ERROR)
            else:
                self.deadline = time.monotonic() + self.gateway.limits.idle_timeout

    def ack(self, stream_id: int, size: int) -> None:
        if size and not self.closing:
            with contextlib.suppress(ProtocolError):
                self.h2.acknowledge_received_data(size, stream_id)

    def reset(self, stream_id: int, code: ErrorCodes) -> None:
        with contextlib.suppress(ProtocolError):  # already closed
            self.h2.reset_stream(stream_id, code)
        self.flush()

    # ----------------------------------------------------------- connection

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def goaway(self, code: ErrorCodes) -> None:
        """Close, saying why (and which streams were handled) in a GOAWAY frame."""
        if self.closing:
            return
        with contextlib.suppress(ProtocolError):
            self.h2.close_connection(code)
        self.flush()
        self.close()

    def close(self) -> None:
        """Send what is queued and a FIN; close at the client's FIN or after DELAYED_CLOSE."""
        if self.closing:
            return
        self.closing = True
        transport = self.transport
        if transport is None:
            return
        try:
            transport.write_eof()
        except (OSError, NotImplementedError):  # the client is gone already
            transport.close()
            return
        transport.resume_reading()  # what still comes is read and dropped
        self.deadline = time.monotonic() + DELAYED_CLOSE

    def eof_received(self) -> bool:
        return False  # the client is done: close our side too

    # ----------------------------------------------------------- gateway.Connection

    def expire(self) -> None:
        """The header or idle deadline passed with no stream open, or the delayed close's."""
        if self.closing:
            if self.transport is not None:
                self.transport.close()
        elif not self.streams:
            self.goaway(ErrorCodes.NO_ERROR)

    def drain(self) -> None:
        self.draining = True
        if not self.streams:
            self.goaway(ErrorCodes.NO_ERROR)

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()
