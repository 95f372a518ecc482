"""HTTP/1.1 framing (kn_walk/http1frame.py), and one verdict per body from its three readers.

The module is checked on its own against the grammar (hypothesis: chunk-size lines
against a regular expression of RFC 9112's rule, bodies read the same however their
bytes are split). Then each body of :data:`CASES` goes, for real, through the
sandbox's gateway (as a request body to an upstream, and as a Revision's response),
the helloworld sample (a request body, then a pipelined request) and the load
engine's client (a response): each accepts it with the same data, or refuses it.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kn_walk import http1
from kn_walk.http1frame import (
    MAX_BODY_LENGTH,
    MAX_LINE,
    MAX_TRAILERS,
    ChunkedDecoder,
    FramingError,
    chunk_size,
    last_coding_chunked,
    parse_content_length,
)
from kn_walk.sandbox.node.workloads import Endpoint
from tests.test_sandbox_gateway import Echo
from tests.test_sandbox_helloworld import start as start_hello

# --------------------------------------------------------------------------- the grammar

#: RFC 9112's ``chunk-size [ chunk-ext ]`` as read here: hex digits, BWS, then ``;`` and
#: extensions without control characters (but HTAB)
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?")


def _reference_size(line: bytes) -> int | None:
    match = _SIZE_LINE.fullmatch(line)
    if match is None:
        return None
    value = int(match.group(1), 16)
    return value if value <= MAX_BODY_LENGTH else None


def _size_or_none(line: bytes) -> int | None:
    try:
        return chunk_size(line)
    except FramingError:
        return None


_SIZE_PIECES = [
    b"0", b"5", b"a", b"F", b"ffffffff", b"g", b"x", b" ", b"\t", b";", b"=", b'"', b"+",
    b"-", b"_", b"\r", b"\n", b"\x00", b"\x7f", b"\x0b", b"\xff",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(_SIZE_PIECES), max_size=12).map(b"".join),
        st.binary(max_size=24),
    )
)
def test_a_chunk_size_line_is_read_as_the_grammar_says(line: bytes) -> None:
    assert _size_or_none(line) == _reference_size(line)


@pytest.mark.parametrize(
    ("line", "size"),
    [
        (b"ffffffffffffffff", MAX_BODY_LENGTH),  # 2^64 - 1: Envoy's largest
        (b"0000FFFFFFFFFFFFFFFF", MAX_BODY_LENGTH),  # leading zeros do not count
        (b"10000000000000000", None),  # 2^64: Envoy's CHUNK_LENGTH_OVERFLOW
        (b"0x5", None),  # what int(text, 16) would take: a prefix, a sign, an underscore,
        (b"+5", None),  # whitespace before
        (b"1_0", None),
        (b" 5", None),
        (b"5 \t", 5),  # BWS after the size
        (b'5 ; a=b ; c="d;e"', 5),
        (b"5;\ta", 5),
        (b"5;a\rb", None),  # a bare CR in an extension
        (b"", None),
        (b";a", None),
    ],
)
def test_chunk_sizes(line: bytes, size: int | None) -> None:
    assert _size_or_none(line) == size


def test_content_length_and_the_chunked_coding() -> None:
    assert parse_content_length(b"0") == 0
    assert parse_content_length(b"00012") == 12
    assert parse_content_length(b"18446744073709551615") == MAX_BODY_LENGTH
    for bad in (b"18446744073709551616", b"", b"+1", b"1 ", b"0x1", b"1_0", b"\xd9\xa1"):
        assert parse_content_length(bad) is None, bad
    assert last_coding_chunked(b"chunked")
    assert last_coding_chunked(b"gzip, Chunked ")
    assert not last_coding_chunked(b"chunked, gzip")
    assert not last_coding_chunked(b"notchunked")  # the sample once took any "...chunked"


def _feed(pieces: list[bytes]) -> tuple[str, bytes, bytes]:
    """(verdict, data, what is left after the body) for a body arriving in ``pieces``;
    the verdict is ``done``, ``more`` (incomplete) or ``refused``."""
    decoder = ChunkedDecoder()
    buf = bytearray()
    out: list[bytes] = []
    done = False
    try:
        for piece in pieces:
            buf += piece
            done = decoder.feed(buf, out)
    except FramingError:
        return "refused", b"", b""
    return ("done" if done else "more"), b"".join(out), bytes(buf)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A well-formed chunked body with leading zeros, upper case, extensions, trailers;
    and its data."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
    ext = st.sampled_from([b"", b";a", b";a=b", b' \t; n="quoted ; value"', b";x=\xff"])
    parts = []
    for data in chunks:
        size = b"%x" % len(data)
        if draw(st.booleans()):
            size = size.upper()
        parts.append(b"0" * draw(st.integers(0, 3)) + size + draw(ext) + b"\r\n" + data + b"\r\n")
    parts.append(b"0" * draw(st.integers(1, 3)) + draw(ext) + b"\r\n")
    trailers = draw(st.lists(st.sampled_from([b"X-A: 1", b"x-b:", b"Sum:\tv w"]), max_size=3))
    parts += [t + b"\r\n" for t in trailers]
    parts.append(b"\r\n")
    return b"".join(parts), b"".join(chunks)


@settings(max_examples=300, deadline=None)
@given(_bodies(), st.binary(max_size=10), st.lists(st.integers(0, 10_000), max_size=8))
def test_a_body_reads_the_same_however_its_bytes_arrive(
    body: tuple[bytes, bytes], after: bytes, cuts: list[int]
) -> None:
    encoded, data = body
    assert _feed(_split(encoded + after, cuts)) == ("done", data, after)


_STREAM_PIECES = [
    b"5", b"0", b"3", b"10000000000000000", b"\r\n", b"\n", b"\r", b"hello", b"abc", b";e",
    b" ", b"X: y", b"bad", b"\x00",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_STREAM_PIECES), max_size=14).map(b"".join),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_any_bytes_get_one_verdict_however_they_arrive(stream: bytes, cuts: list[int]) -> None:
    assert _feed(_split(stream, cuts)) == _feed([stream])


def test_the_limits_of_a_size_line_and_of_the_trailers() -> None:
    ext = b";" + b"x" * (MAX_LINE - 2)
    assert _feed([b"1" + ext + b"\r\nA\r\n0\r\n\r\n"]) == ("done", b"A", b"")
    assert _feed([b"1" + ext + b"x\r\nA\r\n0\r\n\r\n"])[0] == "refused"
    assert _feed([b"1" + ext + b"\r"])[0] == "more"  # its CRLF may follow
    assert _feed([b"1" + ext + b"xx"])[0] == "refused"  # too long before its end arrives
    field = b"X: " + b"v" * (MAX_TRAILERS - 7)  # with its CRLF and the last CRLF: the limit
    assert _feed([b"0\r\n" + field + b"\r\n\r\n"]) == ("done", b"", b"")
    assert _feed([b"0\r\n" + field + b"v\r\n\r\n"])[0] == "refused"


# --------------------------------------------------------------------------- one verdict

#: (name, chunked body, its data when it is well formed, else None)
CASES: list[tuple[str, bytes, bytes | None]] = [
    ("plain", b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    ("extensions", b'5 ;a=b;c="d e"\r\nhello\r\n0;last\r\n\r\n', b"hello"),
    ("upper case", b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    ("17 digits with leading zeros", b"00000000000000005\r\nhello\r\n00\r\n\r\n", b"hello"),
    ("trailers", b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: two words\r\n\r\n", b"abc"),
    ("BWS after the size", b"3 \t\r\nabc\r\n0\r\n\r\n", b"abc"),
    ("the longest size line", b"1;" + b"x" * (MAX_LINE - 2) + b"\r\nA\r\n0\r\n\r\n", b"A"),
    ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n", None),
    ("plus sign", b"+5\r\nhello\r\n0\r\n\r\n", None),
    ("underscore", b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n", None),
    ("space before the size", b" 5\r\nhello\r\n0\r\n\r\n", None),
    ("no size", b"\r\nhello\r\n0\r\n\r\n", None),
    ("not hex", b"g\r\nhello\r\n0\r\n\r\n", None),
    ("size over 2^64 - 1", b"10000000000000000\r\nhello\r\n0\r\n\r\n", None),
    ("bare LF after the size", b"5\nhello\r\n0\r\n\r\n", None),
    ("bare LF after the data", b"5\r\nhello\n0\r\n\r\n", None),
    ("data longer than its size", b"3\r\nhello\r\n0\r\n\r\n", None),
    ("NUL in an extension", b"5;a\x00\r\nhello\r\n0\r\n\r\n", None),
    ("bare CR in an extension", b"5;a\rb\r\nhello\r\n0\r\n\r\n", None),
    ("trailer without a colon", b"0\r\nnot a field\r\n\r\n", None),
    ("size line too long", b"1;" + b"x" * (MAX_LINE - 1) + b"\r\nA\r\n0\r\n\r\n", None),
]

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
DEADLINE = 10.0


def _read_until_close(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes; an error if it does not within the deadline."""
    sock.settimeout(DEADLINE)
    out = b""
    while data := sock.recv(65536):
        out += data
    return out


class Readers:
    """The three readers, each ready to take a body: a gateway (in front of an aiohttp
    echo app and of a raw server answering with a case's body), a helloworld process,
    and the load engine's client (to the raw server)."""

    def __init__(self, tmp: Path) -> None:
        self.echo = Echo(tmp)
        self.hello, self.hello_port = start_hello({})
        self.raw_port = self.echo.loop.run(self._start_raw())
        self.echo.workloads.endpoints["raw"] = Endpoint("127.0.0.1", self.raw_port, 30)
        self.echo.routes({"echo.example.com": "a", "raw.example.com": "raw"})

    async def _start_raw(self) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    index = int(head.split(b" ", 2)[1].rsplit(b"/", 1)[-1])
                    writer.write(HEAD + CASES[index][1])
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.echo.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def close(self) -> None:
        self.hello.terminate()
        try:
            self.hello.wait(10)
        except subprocess.TimeoutExpired:
            self.hello.kill()
            self.hello.wait()
        self.echo.close()

    # each returns the data it read, or None when it refused the body

    def gateway_request(self, body: bytes) -> bytes | None:
        """A POST through the gateway to the echo app, which says what it received."""
        head = (
            b"POST /echo HTTP/1.1\r\nHost: echo.example.com\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", self.echo.port), timeout=DEADLINE) as s:
            s.sendall(head + body)
            answer = _read_until_close(s)
        status = answer[9:12]
        if status == b"400":
            return None
        assert status == b"200", answer[:200]
        return answer  # the echo app's JSON: length and sha256 of what it got

    def gateway_response(self, index: int) -> bytes | None:
        """The raw server's answer through the gateway, read by httpx."""
        url = f"http://127.0.0.1:{self.echo.port}/case/{index}"
        try:
            response = httpx.get(url, headers={"Host": "raw.example.com"}, timeout=DEADLINE)
        except httpx.RemoteProtocolError:  # the gateway cut a response it had begun
            return None
        if response.status_code == 502:
            return None
        assert response.status_code == 200, response
        return response.content

    def sample(self, body: bytes) -> bytes | None:
        """A POST to helloworld with the body, then a GET on the same connection: two
        answers when the body was read to its end, a 400 after the first when not."""
        first = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        then = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.hello_port), timeout=DEADLINE) as s:
            s.sendall(first + body + then)
            answer = _read_until_close(s)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
        if statuses == [b"200", b"400"]:
            return None
        assert statuses == [b"200", b"200"], answer
        return b"read"

    def client(self, index: int) -> bytes | None:
        """The load engine's connection asking the raw server for the case's body."""

        async def ask() -> http1.Answer:
            conn = await http1.connect(
                "127.0.0.1", self.raw_port, ssl_context=None, server_hostname=None, timeout=5
            )
            try:
                loop = asyncio.get_running_loop()
                request = b"GET /case/%d HTTP/1.1\r\nHost: x\r\n\r\n" % index
                return await asyncio.wait_for(conn.send(request, loop.time()), DEADLINE)
            finally:
                conn.close()

        try:
            answer = self.echo.loop.run(ask())
        except http1.Failure as exc:
            assert exc.kind == "protocol error", exc
            return None
        assert answer.status == 200
        return answer.body


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readers]:
    r = Readers(tmp_path_factory.mktemp("readers"))
    yield r
    r.close()


@pytest.mark.parametrize(
    ("index", "body", "data"), [pytest.param(i, b, d, id=n) for i, (n, b, d) in enumerate(CASES)]
)
def test_the_gateway_the_sample_and_the_client_give_one_verdict(
    readers: Readers, index: int, body: bytes, data: bytes | None
) -> None:
    got = {
        "gateway (request)": readers.gateway_request(body),
        "gateway (response)": readers.gateway_response(index),
        "sample": readers.sample(body),
        "client": readers.client(index),
    }
    verdicts = {reader: value is not None for reader, value in got.items()}
    assert verdicts == dict.fromkeys(got, data is not None), got
    if data is not None:
        assert f'"length": {len(data)}'.encode() in (got["gateway (request)"] or b"")
        assert got["gateway (response)"] == data
        assert got["client"] == data[: http1.KEEP]
