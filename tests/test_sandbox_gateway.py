"""The gateway: Host routing, weighted split, tags, activator, proxy semantics.

Real sockets throughout: the walkthrough tests run real helloworld processes
behind the gateway and use curl and httpx as clients; the proxy-semantics tests
put an aiohttp application (or a raw socket server) behind it, so that what
the revision process receives can be inspected.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from kn_walk.sandbox.dataplane.gateway import Backend, Gateway, header_fields, normalize_host
from kn_walk.sandbox.node.workloads import (
    Endpoint,
    NotReady,
    Workloads,
)
from tests.loop_helpers import LoopThread, StatusLog, ready, revision, wait_pid_gone

CURL = "/usr/bin/curl"
NAME = web.AppKey("name", str)
RELEASE = web.AppKey("release", asyncio.Event)
MAIN = "helloworld-go.default.example.com"


# ----------------------------------------------------------------------------- harness


def curl(port: int, host: str, *args: str) -> bytes:
    return subprocess.run(
        [CURL, "-s", "--max-time", "20", "-H", f"Host: {host}", *args, f"http://127.0.0.1:{port}/"],
        capture_output=True,
        check=True,
    ).stdout


def raw(port: int, data: bytes) -> bytes:
    """Send ``data`` to the gateway and read until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def split_response(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return lines[0], fields, body


# ------------------------------------------------------------------ the walkthrough


V1 = "helloworld-go-00001"
V2 = "helloworld-go-00002"


class Walk:
    """Workloads and gateway as the sandbox wires them, with v1 and v2 of the sample."""

    def __init__(self, tmp: Path) -> None:
        self.log = StatusLog()
        self.loop = LoopThread()
        self.workloads = Workloads(
            str(tmp / "state"),
            self.log,
            stable_window=3600,
            scale_to_zero_grace=3600,
            restart_backoff=0.2,
        )
        self.gateway = Gateway(self.workloads)
        self.loop.run(self.workloads.start())
        self.port = self.loop.run(self.gateway.start())
        self.revisions = [
            revision(V1, "Go Sample v1", container_port=None),
            revision(V2, "Go Sample v2", container_port=None),
        ]
        self.loop.call(self.workloads.sync, self.revisions, [("default", V1), ("default", V2)])
        self.log.wait(V1, ready)
        self.log.wait(V2, ready)

    def routes(self, table: dict[str, list[tuple[str, int]]]) -> None:
        backends = {h: [Backend("default", r, p) for r, p in bs] for h, bs in table.items()}
        self.loop.call(self.gateway.set_routes, backends)

    def pid(self, name: str) -> int:
        return self.loop.call(self.workloads.pids)[("default", name)]

    def close(self) -> None:
        self.loop.run(self.gateway.stop())
        self.loop.run(self.workloads.stop())
        self.loop.close()


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Walk]:
    w = Walk(tmp_path)
    yield w
    w.close()


def test_curl_and_httpx_get_v1_then_v2(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    assert curl(walk.port, MAIN) == b"Hello Go Sample v1!\n"
    response = httpx.get(f"http://127.0.0.1:{walk.port}/", headers={"Host": MAIN})
    assert response.status_code == 200
    assert response.text == "Hello Go Sample v1!\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    # the update: the route moves to v2
    walk.routes({MAIN: [(V2, 100)]})
    assert curl(walk.port, MAIN) == b"Hello Go Sample v2!\n"


def test_split_50_50_over_400_requests(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 50), (V2, 50)]})
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{walk.port}", headers={"Host": MAIN}) as c:
        for _ in range(400):
            counts[c.get("/").text] += 1
    assert set(counts) == {"Hello Go Sample v1!\n", "Hello Go Sample v2!\n"}
    assert all(160 <= n <= 240 for n in counts.values()), counts


def test_tag_hosts_always_reach_their_revision(walk: Walk) -> None:
    walk.routes(
        {
            MAIN: [(V1, 50), (V2, 50)],
            "current-helloworld-go.default.example.com": [(V1, 100)],
            "candidate-helloworld-go.default.example.com": [(V2, 100)],
            "helloworld-go.default.svc.cluster.local": [(V1, 50), (V2, 50)],
        }
    )
    with httpx.Client(base_url=f"http://127.0.0.1:{walk.port}") as c:
        for _ in range(50):
            current = c.get("/", headers={"Host": "current-helloworld-go.default.example.com"})
            assert current.text == "Hello Go Sample v1!\n"
            candidate = c.get("/", headers={"Host": "candidate-helloworld-go.default.example.com"})
            assert candidate.text == "Hello Go Sample v2!\n"
        local = c.get("/", headers={"Host": "helloworld-go.default.svc.cluster.local"})
        assert local.status_code == 200
    assert (
        curl(walk.port, "candidate-helloworld-go.default.example.com") == b"Hello Go Sample v2!\n"
    )


def test_host_matching_ignores_case_and_port(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    assert curl(walk.port, "HelloWorld-Go.Default.Example.COM:80") == b"Hello Go Sample v1!\n"
    assert curl(walk.port, MAIN + ".") == b"Hello Go Sample v1!\n"
    assert normalize_host(b"[::1]:8080") == "[::1]"
    # an absolute-form target names the host too
    out = raw(
        walk.port, f"GET http://{MAIN}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert out.endswith(b"\r\n\r\nHello Go Sample v1!\n")


def test_unknown_host_is_404_with_an_empty_body(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    out = curl(walk.port, "nope.default.example.com", "-i")
    status, fields, body = split_response(out)
    assert status == "HTTP/1.1 404 Not Found"
    assert fields["content-length"] == "0"
    assert "date" in fields and "server" in fields
    assert body == b""
    # the Host only selects from the table: nothing else is ever reached
    out = raw(
        walk.port, b"GET http://127.0.0.1:22/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 404 ")
    assert httpx.get(f"http://127.0.0.1:{walk.port}/").status_code == 404


def test_zero_percent_is_never_chosen_and_all_zero_is_503(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100), (V2, 0)], "zero.default.example.com": [(V2, 0)]})
    with httpx.Client(base_url=f"http://127.0.0.1:{walk.port}") as c:
        for _ in range(100):
            assert c.get("/", headers={"Host": MAIN}).text == "Hello Go Sample v1!\n"
        assert c.get("/", headers={"Host": "zero.default.example.com"}).status_code == 503


def test_unsupported_image_is_503(walk: Walk) -> None:
    bad = revision("web-00001", "x", image="nginx", container_port=None)
    walk.loop.call(
        walk.workloads.sync, [*walk.revisions, bad], [("default", V1), ("default", bad.name)]
    )
    walk.routes({"web.default.example.com": [(bad.name, 100)]})
    response = httpx.get(
        f"http://127.0.0.1:{walk.port}/", headers={"Host": "web.default.example.com"}
    )
    assert response.status_code == 503
    assert "ImageNotSupported" in response.text
    assert "helloworld-go" in response.text


def test_crashed_process_is_restarted_and_serves_again(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    assert curl(walk.port, MAIN) == b"Hello Go Sample v1!\n"
    pid = walk.pid(V1)
    mark = walk.log.mark()
    os.kill(pid, signal.SIGKILL)
    assert walk.log.wait(V1, lambda s: s.ready is False, since=mark).reason == "CrashLoopBackOff"
    walk.log.wait(V1, ready, since=mark)
    assert walk.pid(V1) != pid
    assert curl(walk.port, MAIN) == b"Hello Go Sample v1!\n"


def test_scale_to_zero_and_back_serves_the_first_request(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    pid = walk.pid(V1)
    mark = walk.log.mark()
    walk.loop.call(walk.workloads.set_windows, 0.2, 0.1)
    walk.log.wait(V1, lambda s: s.reason == "NoTraffic" and s.ready is True, since=mark)
    assert wait_pid_gone(pid)
    walk.loop.call(walk.workloads.set_windows, 3600, 3600)
    # the first request through the gateway wakes it up and is answered
    assert curl(walk.port, MAIN) == b"Hello Go Sample v1!\n"
    assert walk.pid(V1) != pid


def test_client_pipelining_and_keep_alive(walk: Walk) -> None:
    # HTTP/1.0 is answered 426, as by Envoy: tests/test_sandbox_gateway_protocols.py
    walk.routes({MAIN: [(V1, 100)]})
    request = f"GET / HTTP/1.1\r\nHost: {MAIN}\r\n\r\n".encode()
    last = f"GET / HTTP/1.1\r\nHost: {MAIN}\r\nConnection: close\r\n\r\n".encode()
    out = raw(walk.port, request * 5 + last)
    assert out.count(b"Hello Go Sample v1!\n") == 6
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 6


def test_many_concurrent_clients(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 50), (V2, 50)]})

    async def client(n: int) -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", walk.port)
        bodies = []
        for _ in range(n):
            writer.write(f"GET / HTTP/1.1\r\nHost: {MAIN}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            bodies.append(await reader.readexactly(length))
        writer.close()
        return bodies

    async def many() -> list[list[bytes]]:
        return await asyncio.gather(*(client(20) for _ in range(60)))

    results = walk.loop.run(many())
    bodies = Counter(b for r in results for b in r)
    assert sum(bodies.values()) == 1200
    assert set(bodies) == {b"Hello Go Sample v1!\n", b"Hello Go Sample v2!\n"}


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    w = Walk(tmp_path)
    w.routes({MAIN: [(V1, 100)]})
    assert curl(w.port, MAIN) == b"Hello Go Sample v1!\n"
    pids = list(w.loop.call(w.workloads.pids).values())
    assert len(pids) == 2
    w.close()
    assert all(wait_pid_gone(pid, 0) for pid in pids)


# ------------------------------------------------------------- proxy semantics


class StaticWorkloads(Workloads):
    """Revisions served by test servers instead of helloworld processes."""

    def __init__(self, state_dir: str) -> None:
        super().__init__(state_dir, lambda ns, name, status: None)
        self.endpoints: dict[str, Endpoint] = {}

    def acquire(self, namespace: str, name: str) -> Endpoint | None:
        return self.endpoints.get(name)

    def release(self, namespace: str, name: str) -> None:
        pass

    def request_timeout(self, namespace: str, name: str) -> float:
        ep = self.endpoints.get(name)
        return ep.timeout if ep is not None else 30.0

    async def activate(self, namespace: str, name: str, timeout: float) -> Endpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise NotReady("RevisionMissing", name)
        return ep


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path_qs,
            "headers": [[k, v] for k, v in request.raw_headers_decoded()],
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    )


def _raw_headers_decoded(self: web.Request) -> list[tuple[str, str]]:
    return [(k.decode(), v.decode()) for k, v in self.raw_headers]


web.Request.raw_headers_decoded = _raw_headers_decoded  # type: ignore[attr-defined]


def pattern(size: int) -> bytes:
    block = bytes(range(256)) * 256
    return (block * (size // len(block) + 1))[:size]


async def stream(request: web.Request) -> web.StreamResponse:
    size = int(request.query["size"])
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    data = pattern(size)
    for i in range(0, size, 100_000):
        await response.write(data[i : i + 100_000])
    await response.write_eof()
    return response


async def hop(request: web.Request) -> web.Response:
    return web.Response(
        text="hop",
        headers={
            "Keep-Alive": "timeout=5",
            "Proxy-Authenticate": "Basic",
            "Upgrade": "h2c",
            "X-Private": "secret",
            "Connection": "X-Private",
            "X-Public": "yes",
        },
    )


async def hold(request: web.Request) -> web.Response:
    await request.app[RELEASE].wait()
    return web.Response(text=request.app[NAME])


async def no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.abort()
    await request.app[RELEASE].wait()
    return web.Response(text="never")


class Echo:
    """A gateway in front of aiohttp apps "a" and "b" (and raw servers tests add)."""

    def __init__(self, tmp: Path) -> None:
        self.loop = LoopThread()
        self.workloads = StaticWorkloads(str(tmp / "state"))
        self.gateway = Gateway(self.workloads)
        self.port = self.loop.run(self.gateway.start())
        self.runners: list[web.AppRunner] = []
        self.releases: list[asyncio.Event] = []
        self.servers: list[asyncio.Server] = []
        for name in ("a", "b"):
            self.add_app(name)
        self.routes({"echo.example.com": "a", "b.example.com": "b"})

    def add_app(self, name: str, timeout: float = 30.0) -> None:
        async def start() -> int:
            app = web.Application(client_max_size=64 << 20)
            app[NAME] = name
            app[RELEASE] = release = asyncio.Event()
            self.releases.append(release)
            app.router.add_route("*", "/echo", echo)
            app.router.add_get("/stream", stream)
            app.router.add_get("/hop", hop)
            app.router.add_get("/hold", hold)
            app.router.add_get("/nocontent", no_content)
            app.router.add_get("/reset", reset)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.runners.append(runner)
            return int(runner.addresses[0][1])

        port = self.loop.run(start())
        self.workloads.endpoints[name] = Endpoint("127.0.0.1", port, timeout)

    def routes(self, table: dict[str, str]) -> None:
        backends = {h: [Backend("default", rev, 100)] for h, rev in table.items()}
        self.loop.call(self.gateway.set_routes, backends)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        async def stop() -> None:
            for event in self.releases:
                event.set()
            await self.gateway.stop()
            for runner in self.runners:
                await runner.cleanup()
            for server in self.servers:
                server.close()

        self.loop.run(stop())
        self.loop.close()


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Echo]:
    e = Echo(tmp_path)
    yield e
    e.close()


def test_request_headers_forwarded_and_hop_by_hop_removed(gw: Echo) -> None:
    out = raw(
        gw.port,
        b"GET /echo?q=1 HTTP/1.1\r\n"
        b"Host: Echo.Example.com:8080\r\n"
        b"Connection: keep-alive, X-Secret\r\n"
        b"X-Secret: hidden\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"Proxy-Authorization: Basic eA==\r\n"
        b"Proxy-Connection: keep-alive\r\n"
        b"TE: trailers\r\n"
        b"Upgrade: websocket\r\n"
        b"X-Forwarded-For: 203.0.113.7\r\n"
        b"X-Forwarded-Proto: https\r\n"
        b"X-Keep: yes\r\n"
        b"\r\n"
        b"GET /echo HTTP/1.1\r\nHost: echo.example.com\r\nConnection: close\r\n\r\n",
    )
    first = out.split(b"HTTP/1.1 200 OK")[1]
    _, _, body = split_response(b"HTTP/1.1 200 OK" + first)
    seen = json.loads(body)
    headers = {k.lower(): v for k, v in seen["headers"]}
    names = [k.lower() for k, _ in seen["headers"]]
    assert seen["method"] == "GET" and seen["path"] == "/echo?q=1"
    assert headers["host"] == "Echo.Example.com:8080"
    assert headers["x-keep"] == "yes"
    for name in ("x-secret", "keep-alive", "proxy-authorization", "proxy-connection", "te"):
        assert name not in names
    assert "upgrade" not in names
    assert headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert names.count("x-forwarded-proto") == 1
    assert headers["forwarded"] == 'for=127.0.0.1;host="Echo.Example.com:8080";proto=http'


def test_response_hop_by_hop_removed(gw: Echo) -> None:
    response = httpx.get(gw.url("/hop"), headers={"Host": "echo.example.com"})
    assert response.text == "hop"
    assert response.headers["x-public"] == "yes"
    for name in ("keep-alive", "proxy-authenticate", "upgrade", "x-private"):
        assert name not in response.headers


def test_bodies_stream_both_ways(gw: Echo) -> None:
    data = pattern(5_000_000)
    digest = hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=gw.url(""), headers={"Host": "echo.example.com"}) as c:
        seen = c.post("/echo", content=data).json()
        assert (seen["length"], seen["sha256"]) == (len(data), digest)

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(data), 333_333):
                yield data[i : i + 333_333]

        seen = c.put("/echo", content=chunks()).json()
        assert (seen["length"], seen["sha256"]) == (len(data), digest)
        assert any(k.lower() == "transfer-encoding" for k, _ in seen["headers"])
        response = c.get("/stream", params={"size": "3000000"})
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.content == pattern(3_000_000)
        # still one healthy keep-alive connection
        assert c.get("/echo").json()["length"] == 0


def test_head_and_no_content(gw: Echo) -> None:
    with httpx.Client(base_url=gw.url(""), headers={"Host": "echo.example.com"}) as c:
        head = c.head("/stream", params={"size": "10"})
        assert head.status_code == 200 and head.content == b""
        assert c.get("/nocontent").status_code == 204
        assert c.get("/echo").status_code == 200


def test_upstream_timeout_is_504(gw: Echo) -> None:
    gw.add_app("slow", timeout=0.5)
    gw.routes({"slow.example.com": "slow"})
    response = httpx.get(gw.url("/hold"), headers={"Host": "slow.example.com"}, timeout=20)
    assert response.status_code == 504
    assert response.text == "upstream request timeout"


def test_upstream_reset_is_502_and_refused_is_503(gw: Echo) -> None:
    response = httpx.get(gw.url("/reset"), headers={"Host": "echo.example.com"}, timeout=20)
    assert response.status_code == 502
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    gw.workloads.endpoints["gone"] = Endpoint("127.0.0.1", closed_port, 30)
    gw.routes({"gone.example.com": "gone"})
    response = httpx.get(gw.url("/"), headers={"Host": "gone.example.com"}, timeout=20)
    assert response.status_code == 503


def test_route_swap_keeps_requests_in_flight(gw: Echo) -> None:
    result: dict[str, httpx.Response] = {}

    def slow() -> None:
        result["r"] = httpx.get(gw.url("/hold"), headers={"Host": "echo.example.com"}, timeout=20)

    thread = threading.Thread(target=slow)
    thread.start()
    # wait until the held request is in flight at the gateway
    deadline_ok = gw.loop.run(wait_active(gw.gateway))
    assert deadline_ok
    gw.routes({"echo.example.com": "b"})
    assert httpx.get(gw.url("/echo"), headers={"Host": "echo.example.com"}).status_code == 200
    gw.loop.call(gw.releases[0].set)  # app "a" answers now
    thread.join(20)
    assert result["r"].status_code == 200
    assert result["r"].text == "a"
    gw.loop.call(gw.releases[1].set)
    assert httpx.get(gw.url("/hold"), headers={"Host": "echo.example.com"}).text == "b"


async def wait_active(gateway: Gateway, timeout: float = 10.0) -> bool:
    """Wait until the gateway has a request in flight (checked on each loop turn)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not gateway.active:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0)
    return True


def test_close_delimited_response_is_rechunked(gw: Echo) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        writer.write(b"no length, ")
        await writer.drain()
        writer.write(b"ended by close")
        writer.close()

    async def start() -> int:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        gw.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    port = gw.loop.run(start())
    gw.workloads.endpoints["rawsrv"] = Endpoint("127.0.0.1", port, 30)
    gw.routes({"raw.example.com": "rawsrv"})
    with httpx.Client(base_url=gw.url(""), headers={"Host": "raw.example.com"}) as c:
        response = c.get("/")
        assert response.text == "no length, ended by close"
        assert response.headers["transfer-encoding"] == "chunked"
        assert c.get("/").text == "no length, ended by close"  # the client connection lives on


def test_a_routes_headers_are_set_and_its_host_rewritten(gw: Echo) -> None:
    """What net-istio's VirtualService sets on the request (the split's ``appendHeaders``,
    a DomainMapping's ``rewriteHost``) reaches the Revision's process, replacing what the
    client sent under those names; a value with a line break is never sent."""
    set_on = header_fields(
        {
            "Knative-Serving-Revision": "a",
            "Knative-Serving-Namespace": "default",
            "K-Original-Host": "example.org",
            "X-Injected": "x\r\nEvil: 1",
        }
    )
    backends = {
        "example.org": [Backend("default", "a", 100, set_on, b"a.default.svc.cluster.local")]
    }
    gw.loop.call(gw.gateway.set_routes, backends)
    seen = httpx.get(
        gw.url("/echo"),
        headers={"Host": "example.org", "Knative-Serving-Revision": "forged", "X-Keep": "yes"},
    ).json()
    fields = [(k.lower(), v) for k, v in seen["headers"]]
    headers = dict(fields)
    assert headers["host"] == "a.default.svc.cluster.local"
    assert [v for k, v in fields if k == "host"] == ["a.default.svc.cluster.local"]
    assert [v for k, v in fields if k == "knative-serving-revision"] == ["a"]
    assert headers["knative-serving-namespace"] == "default"
    assert headers["k-original-host"] == "example.org"
    assert headers["x-keep"] == "yes"
    assert "x-injected" not in headers and "evil" not in headers
