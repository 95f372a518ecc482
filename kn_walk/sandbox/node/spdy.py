"""SPDY/3.1 framing, the part a kubelet's port-forward server speaks.

``kubectl port-forward`` multiplexes its connections over one SPDY/3.1 session
(moby/spdystream on both ends), carried either by the upgraded HTTP connection
itself (``Upgrade: SPDY/3.1``) or, since kubectl 1.31, inside WebSocket binary
messages (subprotocol ``SPDY/3.1+portforward.k8s.io``). Either way the session
is a byte stream of frames:

* a control frame: ``1 | version (15 bits) | type (16) | flags (8) | length (24)``,
  then ``length`` bytes;
* a data frame: ``0 | stream id (31) | flags (8) | length (24)``, then the data.

Name/value header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are zlib streams, one
per direction for the whole session, primed with the SPDY/3 dictionary and
flushed with a sync flush after each block. Header names are lower case and
several values of one name are joined by NUL.

spdystream keeps no flow-control windows (it neither sends nor honours
WINDOW_UPDATE), so neither does this module: :class:`FrameReader` parses what
arrives, in any fragmentation, and the ``encode_*`` functions build whole frames.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

#: FLAG_FIN: the sender's last frame on the stream (data frames and SYN frames)
FLAG_FIN = 0x01

#: RST_STREAM status codes
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5
INTERNAL_ERROR = 6

#: GOAWAY status codes
GOAWAY_OK = 0
GOAWAY_PROTOCOL_ERROR = 1

#: the most a frame's 24-bit length can say
MAX_FRAME_LENGTH = (1 << 24) - 1
#: the most a header block may inflate to (kubectl's are a few dozen bytes)
MAX_HEADER_BLOCK = 64 * 1024
#: the longest frame a :class:`FrameReader` takes by default (kubectl writes at most
#: 32 KiB at a time, Go's io.Copy buffer); a longer one is a ProtocolError
MAX_READ_FRAME = 1024 * 1024

_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
#: the SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1):
#: each word with its 32-bit length before it, then the tail as it is
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()

Headers = dict[str, list[str]]


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1: the session cannot go on."""


@dataclass
class DataFrame:
    stream_id: int
    flags: int
    data: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class ControlFrame:
    """A control frame, decoded as far as its type needs: ``stream_id`` for the stream
    frames, ``headers`` for those with a header block, ``value`` for the status of
    RST_STREAM and GOAWAY, the id of PING and the delta of WINDOW_UPDATE."""

    type: int
    flags: int
    stream_id: int = 0
    headers: Headers = field(default_factory=dict)
    value: int = 0
    #: GOAWAY's last good stream id; SYN_STREAM's associated stream id
    other_id: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


Frame = DataFrame | ControlFrame


class FrameReader:
    """Frames out of a byte stream fed in pieces of any size."""

    def __init__(self, max_frame: int = MAX_READ_FRAME) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes, in order; ProtocolError if it is not SPDY/3."""
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf)
            length = second & 0xFFFFFF
            if length > self.max_frame:
                raise ProtocolError(f"a frame of {length} bytes (at most {self.max_frame})")
            if len(self._buf) < 8 + length:
                break
            flags = second >> 24
            payload = bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise ProtocolError(f"SPDY version {version} is not supported (only 3)")
                frames.append(self._control(first & 0xFFFF, flags, payload))
            else:
                stream_id = first & 0x7FFFFFFF
                if stream_id == 0:
                    raise ProtocolError("a data frame on stream 0")
                frames.append(DataFrame(stream_id, flags, payload))
        return frames

    def _control(self, kind: int, flags: int, payload: bytes) -> ControlFrame:
        frame = ControlFrame(kind, flags)
        if kind in (SYN_STREAM, SYN_REPLY, HEADERS):
            head = 10 if kind == SYN_STREAM else 4
            if len(payload) < head:
                raise ProtocolError("a control frame shorter than its fields")
            frame.stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            if kind == SYN_STREAM:
                frame.other_id = struct.unpack_from(">I", payload, 4)[0] & 0x7FFFFFFF
            frame.headers = self._header_block(payload[head:])
            if frame.stream_id == 0:
                raise ProtocolError("a stream frame for stream 0")
        elif kind in (RST_STREAM, GOAWAY, WINDOW_UPDATE):
            if len(payload) != 8:
                raise ProtocolError(f"control frame {kind} must be 8 bytes, not {len(payload)}")
            ident, frame.value = struct.unpack(">II", payload)
            if kind == GOAWAY:
                frame.other_id = ident & 0x7FFFFFFF
            else:
                frame.stream_id = ident & 0x7FFFFFFF
        elif kind == PING:
            if len(payload) != 4:
                raise ProtocolError(f"a PING frame must be 4 bytes, not {len(payload)}")
            frame.value = struct.unpack(">I", payload)[0]
        return frame  # SETTINGS and unknown types: nothing this server needs

    def _header_block(self, compressed: bytes) -> Headers:
        try:
            block = self._inflate.decompress(compressed, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise ProtocolError(f"header block: {exc}") from exc
        if self._inflate.unconsumed_tail:
            raise ProtocolError(f"a header block over {MAX_HEADER_BLOCK} bytes")
        return parse_header_block(block)


def parse_header_block(block: bytes) -> Headers:
    """An uncompressed name/value block: names lower-cased, NUL-joined values split."""

    def take(pos: int) -> tuple[bytes, int]:
        if pos + 4 > len(block):
            raise ProtocolError("a truncated header block")
        (size,) = struct.unpack_from(">I", block, pos)
        end = pos + 4 + size
        if end > len(block):
            raise ProtocolError("a truncated header block")
        return block[pos + 4 : end], end

    if len(block) < 4:
        raise ProtocolError("a truncated header block")
    (count,) = struct.unpack_from(">I", block)
    if count > (len(block) - 4) // 8:
        raise ProtocolError(f"a header block that claims {count} headers")
    headers: Headers = {}
    pos = 4
    for _ in range(count):
        name, pos = take(pos)
        value, pos = take(pos)
        key = name.decode("latin-1").lower()
        headers.setdefault(key, []).extend(value.decode("latin-1").split("\0"))
    return headers


def header_block(headers: Headers) -> bytes:
    """``headers`` as an uncompressed name/value block."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        raw_name = name.lower().encode("latin-1")
        raw_value = "\0".join(values).encode("latin-1")
        out.append(struct.pack(">I", len(raw_name)) + raw_name)
        out.append(struct.pack(">I", len(raw_value)) + raw_value)
    return b"".join(out)


class FrameWriter:
    """Frames for one session's direction; header blocks share its zlib stream, so
    frames must go out in the order they were made."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zdict=DICTIONARY)

    def _compressed(self, headers: Headers) -> bytes:
        return self._deflate.compress(header_block(headers)) + self._deflate.flush(
            zlib.Z_SYNC_FLUSH
        )

    def syn_reply(self, stream_id: int, headers: Headers | None = None, fin: bool = False) -> bytes:
        block = self._compressed(headers or {})
        return control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + block)

    def syn_stream(
        self, stream_id: int, headers: Headers, fin: bool = False, associated: int = 0
    ) -> bytes:
        """A client's SYN_STREAM (tests play kubectl with it)."""
        fields = struct.pack(">IIBB", stream_id, associated, 0, 0)
        return control(SYN_STREAM, FLAG_FIN if fin else 0, fields + self._compressed(headers))


def control(kind: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_LENGTH:
        raise ValueError("a control frame over the SPDY frame limit")
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload


def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
    if len(payload) > MAX_FRAME_LENGTH:
        raise ValueError("a data frame over the SPDY frame limit")
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, flags << 24 | len(payload)) + payload


def rst_stream(stream_id: int, status: int) -> bytes:
    return control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping(ident: int) -> bytes:
    return control(PING, 0, struct.pack(">I", ident))


def goaway(last_good: int, status: int = GOAWAY_OK) -> bytes:
    return control(GOAWAY, 0, struct.pack(">II", last_good, status))
