"""The gateway's protocols as Istio's Envoy gateway serves them (issue 13, "The gateway").

* HTTP/2 over cleartext with prior knowledge (Envoy's codec ``AUTO``): curl
  ``--http2-prior-knowledge``, httpx with ``http2=True`` and a raw ``h2`` client
  get the sample over HTTP/2, many streams on one connection, split, tagged,
  checked and answered as HTTP/1.1 requests are; ``Upgrade: h2c`` is ignored,
  as Envoy ignores it (envoyproxy/envoy#7161).
* HTTP/1.0 (and any version but 1.1): ``426 Upgrade Required``, as Envoy with
  ``accept_http_10`` off (its default and Istio's).
* ``NAME.NS.svc.cluster.local``, ``NAME.NS.svc`` and ``NAME.NS`` are served by
  the cluster-local gateway (``istio-system/knative-local-gateway``), not by
  ``istio-ingressgateway``; a cluster-local Route only there.

Real processes throughout: the helloworld sample behind the gateway, an aiohttp
app where what the process receives matters, a whole sandbox for the gateways'
Services.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    InformationalResponseReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)

from kn_walk import ingress, knative
from kn_walk.kube import connect
from kn_walk.sandbox import control
from tests.conftest import Sandbox
from tests.test_sandbox_gateway import CURL, MAIN, V1, V2, Echo, Walk, pattern, raw, split_response

SAMPLE = {b"Hello Go Sample v1!\n": V1, b"Hello Go Sample v2!\n": V2}


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Walk]:
    w = Walk(tmp_path)
    yield w
    w.close()


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Echo]:
    e = Echo(tmp_path)
    yield e
    e.close()


# ----------------------------------------------------------------- an HTTP/2 client


@dataclass
class Answer:
    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""
    ended: bool = False
    reset: ErrorCodes | int | None = None


class H2:
    """A blocking HTTP/2 client on ``h2``: prior knowledge, many streams on one connection.

    ``strict=False`` sends header fields as given, unchecked, to see what the gateway does
    with fields HTTP/2 forbids.
    """

    def __init__(self, port: int, *, strict: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.conn = H2Connection(
            H2Configuration(
                client_side=True,
                header_encoding=None,
                validate_outbound_headers=strict,
                normalize_outbound_headers=strict,
            )
        )
        self.conn.initiate_connection()
        self.answers: dict[int, Answer] = {}
        self.goaway: ErrorCodes | int | None = None
        self.closed = False
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(
        self,
        host: str,
        path: str = "/",
        *,
        method: str = "GET",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
        end: bool = True,
    ) -> int:
        stream = self.conn.get_next_available_stream_id()
        fields = [
            (b":method", method.encode()),
            (b":scheme", b"http"),
            (b":authority", host.encode()),
            (b":path", path.encode()),
            *(headers or []),
        ]
        self.conn.send_headers(stream, fields, end_stream=body is None and end)
        if body is not None:
            self.conn.send_data(stream, body, end_stream=end)
        self.answers[stream] = Answer()
        self.flush()
        return stream

    def reset(self, stream: int) -> None:
        self.conn.reset_stream(stream, ErrorCodes.CANCEL)
        self.flush()

    def read(self) -> None:
        """One read from the socket, and what it says."""
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            answer = self.answers.get(getattr(event, "stream_id", 0) or 0)
            if isinstance(event, ResponseReceived) and answer is not None:
                answer.headers = dict(event.headers)
                answer.status = int(answer.headers[b":status"])
            elif isinstance(event, InformationalResponseReceived):
                pass
            elif isinstance(event, DataReceived) and answer is not None:
                answer.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded) and answer is not None:
                answer.ended = True
            elif isinstance(event, StreamReset) and answer is not None:
                answer.reset = event.error_code
            elif isinstance(event, ConnectionTerminated):
                self.goaway = event.error_code
        self.flush()

    def wait(self, *streams: int, timeout: float = 20) -> list[Answer]:
        deadline = time.monotonic() + timeout
        while not all(self.answers[s].ended or self.answers[s].reset for s in streams):
            assert time.monotonic() < deadline, "no answer in time"
            assert not self.closed, "the gateway closed the connection"
            self.read()
        return [self.answers[s] for s in streams]

    def wait_closed(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed:
            assert time.monotonic() < deadline, "the connection stayed open"
            self.read()

    def close(self) -> None:
        self.sock.close()


def wait_active(gw: Echo, count: int, timeout: float = 20) -> None:
    """Until ``count`` exchanges are in flight at the gateway."""
    deadline = time.monotonic() + timeout
    while gw.loop.call(lambda: len(gw.gateway.active)) != count:
        assert time.monotonic() < deadline, f"never {count} exchanges in flight"
        time.sleep(0.01)


def curl(port: int, host: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CURL, "-s", "--max-time", "20", "-H", f"Host: {host}", *args, f"http://127.0.0.1:{port}/"],
        capture_output=True,
        check=False,
    )


# ------------------------------------------------------------------------ h2c


def test_curl_gets_the_sample_over_h2c_with_prior_knowledge(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    out = curl(walk.port, MAIN, "--http2-prior-knowledge", "-w", "%{http_version} %{http_code}")
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"Hello Go Sample v1!\n2 200"


def test_httpx_with_http2_gets_the_sample(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    with httpx.Client(http1=False, http2=True, headers={"Host": MAIN}) as client:
        responses = [client.get(f"http://127.0.0.1:{walk.port}/") for _ in range(3)]
    assert [r.http_version for r in responses] == ["HTTP/2"] * 3
    assert [r.text for r in responses] == ["Hello Go Sample v1!\n"] * 3


def test_streams_of_one_connection_are_split_like_requests(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 50), (V2, 50)]})
    client = H2(walk.port)
    try:
        answers = client.wait(*[client.request(MAIN) for _ in range(40)])
    finally:
        client.close()
    assert {a.status for a in answers} == {200}
    seen = Counter(SAMPLE[a.body] for a in answers)
    # each of 40 streams goes to v1 or v2 with p = 1/2: one side empty has p = 2^-39
    assert set(seen) == {V1, V2}, seen


def test_tag_hosts_unknown_hosts_and_header_checks_as_on_http1(walk: Walk) -> None:
    tag = f"v1-{MAIN}"
    walk.routes({MAIN: [(V1, 50), (V2, 50)], tag: [(V1, 100)]})
    client = H2(walk.port)
    try:
        tagged = client.wait(*[client.request(tag) for _ in range(10)])
        assert {a.body for a in tagged} == {b"Hello Go Sample v1!\n"}
        (unknown,) = client.wait(client.request("nothing.default.example.com"))
        assert (unknown.status, unknown.body) == (404, b"")  # Envoy's: no body
        assert unknown.headers[b"server"] == b"knwalk-sandbox"
        # a control character in a value: 400 from the same checks as HTTP/1.1, on the
        # stream; the connection serves on
        (bad,) = client.wait(client.request(MAIN, headers=[(b"x-bad", b"a\x01b")]))
        assert bad.status == 400
        (bad_path,) = client.wait(client.request(MAIN, "/a b"))
        assert bad_path.status == 400
        (ok,) = client.wait(client.request(MAIN.upper() + ":80"))
        assert ok.status == 200 and ok.body in SAMPLE
    finally:
        client.close()


def test_h2_framing_errors_end_the_connection_with_goaway(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    for fields in (
        [(b"Upper-Case", b"x")],  # HTTP/2 field names are lower case
        [(b"connection", b"close")],  # connection-specific fields are malformed
        [(b"x-split", b"a\r\nx-smuggled: b")],  # CR/LF in a value
        [(b"host", b"other.example.com")],  # Host and :authority differ
    ):
        client = H2(walk.port, strict=False)
        try:
            client.request(MAIN, headers=fields)
            client.wait_closed()
            assert client.goaway == ErrorCodes.PROTOCOL_ERROR, fields
            assert not client.answers[1].ended
        finally:
            client.close()


def test_streams_of_one_connection_are_in_flight_together(gw: Echo) -> None:
    client = H2(gw.port)
    try:
        streams = [client.request("echo.example.com", "/hold") for _ in range(5)]
        wait_active(gw, 5)  # all five in flight at once: one HTTP/1.1 connection has one
        gw.loop.call(gw.releases[0].set)
        answers = client.wait(*streams)
    finally:
        client.close()
    assert [(a.status, a.body) for a in answers] == [(200, b"a")] * 5


def test_requests_reach_the_process_as_http1_with_bodies_and_forwarded_fields(gw: Echo) -> None:
    body = pattern(200_000)  # more than the 64 KiB windows: flow control both ways
    client = H2(gw.port)
    try:
        chunked = client.request(
            "echo.example.com:8080",
            "/echo?q=1",
            method="POST",
            headers=[
                (b"cookie", b"a=1"),
                (b"cookie", b"b=2"),
                (b"x-forwarded-for", b"203.0.113.9"),
            ],
            end=False,
        )
        deadline = time.monotonic() + 20
        for i in range(0, len(body), 16384):  # DATA frames as the windows allow
            while client.conn.local_flow_control_window(chunked) < 16384:
                assert time.monotonic() < deadline and not client.closed, "no window"
                client.read()
            client.conn.send_data(chunked, body[i : i + 16384])
            client.flush()
        client.conn.end_stream(chunked)
        client.flush()
        sized = client.request(
            "echo.example.com",
            "/echo",
            method="PUT",
            headers=[(b"content-length", b"5")],
            body=b"hello",
        )
        big = client.request("echo.example.com", f"/stream?size={len(body)}")
        first, second, third = client.wait(chunked, sized, big)
    finally:
        client.close()
    seen = json.loads(first.body)
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert (seen["method"], seen["path"], seen["length"]) == ("POST", "/echo?q=1", len(body))
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()
    assert headers["host"] == "echo.example.com:8080"  # from :authority
    assert headers["transfer-encoding"] == "chunked"  # no content-length: chunked upstream
    assert headers["cookie"] == "a=1; b=2"  # RFC 9113 section 8.2.3
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["forwarded"] == 'for=127.0.0.1;host="echo.example.com:8080";proto=http'
    seen = json.loads(second.body)
    assert (seen["method"], seen["length"]) == ("PUT", 5)
    assert {k.lower(): v for k, v in seen["headers"]}["content-length"] == "5"
    assert (third.status, third.body) == (200, body)
    assert b"transfer-encoding" not in third.headers  # HTTP/2 frames it itself


def test_hop_by_hop_response_fields_do_not_reach_an_http2_client(gw: Echo) -> None:
    client = H2(gw.port)
    try:
        (answer,) = client.wait(client.request("echo.example.com", "/hop"))
        (empty,) = client.wait(client.request("echo.example.com", "/nocontent"))
    finally:
        client.close()
    assert (answer.status, answer.body) == (200, b"hop")
    assert answer.headers[b"x-public"] == b"yes"
    for name in (b"keep-alive", b"proxy-authenticate", b"upgrade", b"x-private", b"connection"):
        assert name not in answer.headers
    assert (empty.status, empty.body) == (204, b"")


def test_a_reset_stream_ends_its_exchange_and_not_the_connection(gw: Echo) -> None:
    client = H2(gw.port)
    try:
        held = client.request("echo.example.com", "/hold")
        wait_active(gw, 1)
        client.reset(held)
        wait_active(gw, 0)  # the reset stream's exchange ended
        (after,) = client.wait(client.request("b.example.com", "/echo"))
        assert after.status == 200 and json.loads(after.body)["method"] == "GET"
    finally:
        client.close()


def test_a_response_that_breaks_off_resets_only_its_stream(gw: Echo) -> None:
    client = H2(gw.port)
    try:
        (broken,) = client.wait(client.request("echo.example.com", "/reset"))
        (after,) = client.wait(client.request("echo.example.com", "/echo"))
    finally:
        client.close()
    assert broken.status == 502 or broken.reset == ErrorCodes.INTERNAL_ERROR
    assert after.status == 200


def test_rapid_resets_close_the_connection_as_envoy_does(gw: Echo) -> None:
    """CVE-2023-44487: streams opened and reset at once cost the gateway an exchange each;
    Envoy disconnects a client once half of 500 streams were reset within a second."""
    client = H2(gw.port)
    try:
        for _ in range(10):  # 500 streams, 50 open at a time, each reset at once
            streams = [client.request("echo.example.com", "/hold") for _ in range(50)]
            for stream in streams:
                client.conn.reset_stream(stream, ErrorCodes.CANCEL)
            client.flush()
        client.wait_closed()
    finally:
        client.close()
    assert client.goaway == ErrorCodes.ENHANCE_YOUR_CALM


def test_a_connection_that_sends_only_the_preface_is_closed_at_the_header_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNWALK_SANDBOX_HEADER_TIMEOUT", "0.5")
    echo = Echo(tmp_path)
    try:
        client = H2(echo.port)
        try:
            started = time.monotonic()
            client.wait_closed()
            assert time.monotonic() - started < 10  # the header timeout, not the idle hour
            assert client.goaway == ErrorCodes.NO_ERROR
        finally:
            client.close()
    finally:
        echo.close()


def test_a_stopping_gateway_finishes_streams_in_flight_then_says_goaway(gw: Echo) -> None:
    client = H2(gw.port)
    try:
        held = client.request("echo.example.com", "/hold")
        wait_active(gw, 1)
        stopping = asyncio.run_coroutine_threadsafe(gw.gateway.stop(), gw.loop.loop)
        gw.loop.call(gw.releases[0].set)
        (answer,) = client.wait(held)
        client.wait_closed()
        stopping.result(20)
    finally:
        client.close()
    assert (answer.status, answer.body) == (200, b"a")
    assert client.goaway == ErrorCodes.NO_ERROR


def test_upgrade_h2c_is_ignored_and_served_over_http1_as_by_envoy(walk: Walk, gw: Echo) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    out = curl(walk.port, MAIN, "--http2", "-w", "%{http_version} %{http_code}")
    assert out.stdout == b"Hello Go Sample v1!\n1.1 200"
    answer = raw(
        gw.port,
        b"GET /echo HTTP/1.1\r\nHost: echo.example.com\r\nConnection: Upgrade\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nX-Keep: yes\r\n"
        b"Connection: close\r\n\r\n",
    )
    status, _, body = split_response(answer)
    assert status == "HTTP/1.1 200 OK"
    names = {k.lower() for k, _ in json.loads(body)["headers"]}
    assert "x-keep" in names
    assert not names & {"upgrade", "connection", "http2-settings"}  # Envoy removes all three


# ------------------------------------------------------------------------ HTTP/1.0


def test_http10_is_answered_426_upgrade_required_as_by_envoy(walk: Walk) -> None:
    walk.routes({MAIN: [(V1, 100)]})
    out = curl(walk.port, MAIN, "--http1.0", "-i")
    status, fields, body = split_response(out.stdout)
    assert status == "HTTP/1.1 426 Upgrade Required"
    assert body == b"Upgrade Required"  # Envoy's local reply: the reason phrase
    assert fields["content-type"] == "text/plain" and fields["connection"] == "close"
    for version, code in (
        (b"HTTP/1.0", 426),
        (b"HTTP/1.2", 426),
        (b"HTTP/2.0", 426),
        (b"HTTP/0.9", 426),
        (b"HTTP/1.10", 400),
        (b"HTTP/one", 400),
    ):
        answer = raw(walk.port, b"GET / " + version + b"\r\nHost: " + MAIN.encode() + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 %d " % code), (version, answer[:80])
        assert b"Hello" not in answer


# ---------------------------------------------------------------- the local gateway


def _get(port: int, host: str) -> tuple[int, bytes]:
    response = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=20)
    return response.status_code, response.content


def _local_gateway_port(sandbox: Sandbox) -> int:
    svc = json.loads(
        subprocess.run(
            ["kubectl", "get", "svc", "-n", "istio-system", "knative-local-gateway", "-o", "json"],
            env=sandbox.env(),
            capture_output=True,
            check=True,
        ).stdout
    )
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["metadata"]["labels"]["networking.knative.dev/ingress-provider"] == "istio"
    (port,) = [p for p in svc["spec"]["ports"] if p["name"] == "http2"]
    assert port["port"] == port["targetPort"]
    return int(port["port"])


def test_cluster_local_hosts_are_served_by_the_local_gateway_only(
    sandbox: Sandbox, namespace: str
) -> None:
    with connect(sandbox.kubeconfig, control.CONTEXT, namespace) as kube:
        svc = knative.deploy(kube, "local", knative.DeployOptions(), timeout=60).service
    external = svc.url.split("://", 1)[1]
    assert external == f"local.{namespace}.example.com"
    local = _local_gateway_port(sandbox)
    assert local != sandbox.info.gateway_port
    cluster_hosts = [f"local.{namespace}.svc.cluster.local", f"local.{namespace}.svc"]
    cluster_hosts.append(f"local.{namespace}")
    gateway = sandbox.info.gateway_port
    assert _get(gateway, external) == (200, b"Hello Go Sample v1!\n")
    for host in cluster_hosts:
        assert _get(gateway, host) == (404, b""), host
        assert _get(local, host) == (200, b"Hello Go Sample v1!\n"), host
    assert _get(local, external) == (404, b"")
    # the local gateway speaks h2c too
    out = curl(local, cluster_hosts[0], "--http2-prior-knowledge", "-w", " %{http_version}")
    assert out.stdout == b"Hello Go Sample v1!\n 2"
    # and its port is remembered across restarts with the others
    ports = json.loads((sandbox.state_dir / control.PORTS_FILE).read_text())
    assert ports["local-gateway"] == local


def test_a_cluster_local_service_is_served_on_the_local_gateway_only(
    sandbox: Sandbox, namespace: str
) -> None:
    manifest = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": "private",
            "namespace": namespace,
            "labels": {"networking.knative.dev/visibility": "cluster-local"},
        },
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": "gcr.io/knative-samples/helloworld-go",
                            "env": [{"name": "TARGET", "value": "Private"}],
                        }
                    ]
                }
            },
            "traffic": [
                {"latestRevision": True, "percent": 100},
                {"revisionName": "private-00001", "tag": "first"},
            ],
        },
    }
    env = sandbox.env()
    subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=json.dumps(manifest).encode(),
        env=env,
        capture_output=True,
        check=True,
    )
    subprocess.run(
        [
            "kubectl",
            "wait",
            "-n",
            namespace,
            "ksvc/private",
            "--for=condition=Ready",
            "--timeout=60s",
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    url = subprocess.run(
        ["kubectl", "get", "-n", namespace, "ksvc/private", "-o", "jsonpath={.status.url}"],
        env=env,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert url == f"http://private.{namespace}.svc.cluster.local"
    local = _local_gateway_port(sandbox)
    gateway = sandbox.info.gateway_port
    hello = (200, b"Hello Private!\n")
    for host in (f"private.{namespace}.svc.cluster.local", f"private.{namespace}"):
        assert _get(local, host) == hello
        assert _get(gateway, host) == (404, b"")
    assert _get(gateway, f"private.{namespace}.example.com") == (404, b"")
    # a tag of a cluster-local Route is cluster-local too
    assert _get(local, f"first-private.{namespace}.svc.cluster.local") == hello
    assert _get(gateway, f"first-private.{namespace}.example.com") == (404, b"")


def test_knwalk_finds_the_external_gateway_not_the_local_one(sandbox: Sandbox) -> None:
    with connect(sandbox.kubeconfig, control.CONTEXT, "default") as kube:
        found = ingress.discover(kube)
    assert found.source == "istio-system/istio-ingressgateway"
    assert found.url == f"http://127.0.0.1:{sandbox.info.gateway_port}"
