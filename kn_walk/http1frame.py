"""HTTP/1.1 message framing, once for every HTTP/1.1 speaker in knwalk: pure, asyncio-free.

The sandbox's gateway reads request bodies and the Revisions' responses with it,
the helloworld sample reads (and drops) request bodies with it, and the load
engine's client (:mod:`kn_walk.http1`) reads response bodies with it: a body
framed wrongly gets the same verdict from all three. It imports nothing, not
even :mod:`re`: the sample runs as ``python -S`` and starts in about 20 ms.

Chunked transfer coding (RFC 9112 section 7.1) as read here::

    chunked-body = *chunk last-chunk trailer-section CRLF
    chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    last-chunk   = 1*("0") [ chunk-ext ] CRLF

- a chunk size is hex digits only (leading zeros allowed) of a value up to
  2^64 - 1, where Envoy stops too (``CHUNK_LENGTH_OVERFLOW``); no sign, no
  ``0x``, no ``_``, nothing before it (what Python's ``int(text, 16)`` would
  let through);
- after the size, spaces or tabs (BWS) then the end of the line or ``;`` and
  extensions, which are not interpreted but may hold no control character
  other than HTAB (a bare CR, a NUL);
- every line ends in CRLF, chunk data too: a bare LF is refused (the grammar
  has none, and parsers that differ on it are how requests are smuggled);
- a size line is at most :data:`MAX_LINE` bytes, the trailer section at most
  :data:`MAX_TRAILERS`; trailer fields are ``name: value`` lines (``name`` a
  token, the value without control characters) and are dropped.

``Content-Length`` is decimal digits of a value up to 2^64 - 1, and a body is
chunked when the last coding ``Transfer-Encoding`` names is ``chunked``.
"""

from __future__ import annotations

#: the largest chunk size or Content-Length read, as Envoy's (2^64 - 1)
MAX_BODY_LENGTH = (1 << 64) - 1
#: the longest chunk-size line (size and extensions, without its CRLF)
MAX_LINE = 64 * 1024
#: the most bytes the trailer section (its field lines and their CRLFs) may take
MAX_TRAILERS = 64 * 1024

_HEX = b"0123456789abcdefABCDEF"
#: a token's characters (RFC 9110 section 5.6.2): field names
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: control characters but HTAB: never in an extension or a field value
_CTL = bytes(range(9)) + bytes(range(10, 32)) + b"\x7f"

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class FramingError(ValueError):
    """A message whose framing cannot be read; the text says what is wrong."""


def chunk_size(line: bytes) -> int:
    """The size a chunk-size line (without its CRLF) announces; :class:`FramingError`
    when it is not ``1*HEXDIG [BWS] [";" extensions]`` of a value up to 2^64 - 1."""
    semicolon = line.find(b";")
    digits = line if semicolon < 0 else line[:semicolon]
    digits = digits.rstrip(b" \t")
    if not digits or digits.strip(_HEX):
        raise FramingError("invalid chunk size")
    if len(digits.lstrip(b"0")) > 16:  # more than 2^64 - 1
        raise FramingError("chunk size too large")
    if semicolon >= 0 and _has_ctl(line, semicolon + 1):
        raise FramingError("invalid chunk extension")
    return int(digits, 16)


def _has_ctl(data: bytes, start: int = 0) -> bool:
    part = data[start:] if start else data
    return len(part.translate(None, _CTL)) != len(part)


def _check_trailer(line: bytes) -> None:
    name, colon, value = line.partition(b":")
    if not colon or not name or name.translate(None, _TCHAR) or _has_ctl(value):
        raise FramingError("invalid trailer field")


def parse_content_length(value: bytes) -> int | None:
    """A ``Content-Length`` value (without surrounding whitespace): decimal digits of a
    value up to 2^64 - 1; None when it is not one."""
    if not value.isdigit() or len(value.lstrip(b"0")) > 20:
        return None
    length = int(value)
    return length if length <= MAX_BODY_LENGTH else None


def last_coding_chunked(value: bytes) -> bool:
    """Whether the last coding a ``Transfer-Encoding`` value (its field values joined by
    commas) names is ``chunked``: the body is then chunked (RFC 9112 section 6.3)."""
    return value.rsplit(b",", 1)[-1].strip(b" \t").lower() == b"chunked"


class ChunkedDecoder:
    """Reads one chunked body from the front of a buffer, however its bytes arrive."""

    __slots__ = ("_state", "_trailers", "remaining")

    def __init__(self) -> None:
        self._state = _SIZE
        self.remaining = 0  # data bytes of the current chunk not read yet
        self._trailers = 0  # bytes of the trailer section so far

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, buf: bytearray, out: list[bytes] | None = None) -> bool:
        """Take what it can from the front of ``buf``: chunk data goes to ``out`` (or is
        dropped when ``out`` is None), framing is consumed. True once the body has
        ended (its trailers read); bytes after it stay in ``buf``. Raises
        :class:`FramingError`."""
        state = self._state
        while state != _DONE:
            if state == _DATA:
                n = min(self.remaining, len(buf))
                if not n:
                    break
                if out is not None:
                    out.append(bytes(buf[:n]))
                del buf[:n]
                self.remaining -= n
                if self.remaining:
                    break
                state = _DATA_END
            elif state == _DATA_END:
                if len(buf) < 2:
                    if buf and buf[0] != 13:
                        raise FramingError("chunk data not followed by CRLF")
                    break
                if buf[0] != 13 or buf[1] != 10:
                    raise FramingError("chunk data not followed by CRLF")
                del buf[:2]
                state = _SIZE
            else:
                if state == _SIZE:
                    limit, too_long = MAX_LINE, "chunk size line too long"
                else:  # the trailer section, its last CRLF included, within MAX_TRAILERS
                    limit, too_long = MAX_TRAILERS - self._trailers - 2, "trailer section too long"
                eol = buf.find(b"\n", 0, max(limit, 0) + 2)
                if eol < 0:
                    if len(buf) >= limit + 2:
                        raise FramingError(too_long)
                    break
                if eol == 0 or buf[eol - 1] != 13:
                    raise FramingError("bare LF in chunked framing")
                if eol - 1 > limit:
                    raise FramingError(too_long)
                line = bytes(buf[: eol - 1])
                del buf[: eol + 1]
                if state == _SIZE:
                    self.remaining = chunk_size(line)
                    state = _DATA if self.remaining else _TRAILER
                else:
                    self._trailers += len(line) + 2
                    if not line:  # the empty line that ends the trailer section
                        state = _DONE
                    else:
                        _check_trailer(line)
        self._state = state
        return state == _DONE


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk (not empty: an empty chunk would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)
