"""``kubectl port-forward`` to a Revision's Pod and to ``svc/istio-ingressgateway``, and
``kubectl exec``/``attach`` refused with kube-apiserver's kind of error.

kubectl 1.31+ tunnels a SPDY/3.1 session through a WebSocket (subprotocol
``SPDY/3.1+portforward.k8s.io``) and falls back to a plain SPDY upgrade; both are
driven here with the real kubectl, and the session's edges (rejected streams, pings,
garbage) with a client that speaks the frames itself over a real connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import queue
import re
import ssl
import struct
import subprocess
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kn_walk.sandbox.machinery.resourcetypes import Registry
from kn_walk.sandbox.node import spdy
from kn_walk.sandbox.node.portforward import (
    A_GATEWAY,
    GATEWAY_LABELS,
    ForwardError,
    LocalPorts,
    declared_ports,
    ensure_gateway_pod,
)
from kn_walk.sandbox.registry.resources import Resources, WriteOptions
from kn_walk.sandbox.registry.store import Store
from tests.conftest import Sandbox
from tests.kube_helpers import service_manifest
from tests.test_kubectl import KUBECTL, Kubectl

DOMAIN = "example.com"
TUNNEL = "SPDY/3.1+portforward.k8s.io"
needs_kubectl = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")


# ------------------------------------------------------------------------ framing


def test_dictionary_is_spdy3s() -> None:
    # the SPDY/3 dictionary is 1423 bytes; zlib names a preset dictionary by its Adler-32
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"utf-,*,enq=0.")


def test_frames_parse_in_any_fragmentation() -> None:
    client = spdy.FrameWriter()
    headers = {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}
    wire = (
        client.syn_stream(1, headers)
        + client.syn_stream(3, {**headers, "streamtype": ["data"]}, fin=True)
        + spdy.data(3, b"GET / HTTP/1.1\r\n\r\n")
        + spdy.data(3, b"", fin=True)
        + spdy.ping(7)
        + spdy.rst_stream(3, spdy.CANCEL)
        + spdy.goaway(3)
        + spdy.control(spdy.SETTINGS, 0, struct.pack(">I", 0))
    )
    whole = spdy.FrameReader().feed(wire)
    reader = spdy.FrameReader()
    pieces = [f for i in range(len(wire)) for f in reader.feed(wire[i : i + 1])]
    assert pieces == whole
    syn1, syn3, data, fin, ping, rst, goaway, settings = whole
    assert isinstance(syn1, spdy.ControlFrame) and syn1.type == spdy.SYN_STREAM
    assert (syn1.stream_id, syn1.headers, syn1.fin) == (1, headers, False)
    assert isinstance(syn3, spdy.ControlFrame) and syn3.fin
    assert syn3.headers["streamtype"] == ["data"]
    assert data == spdy.DataFrame(3, 0, b"GET / HTTP/1.1\r\n\r\n")
    assert isinstance(fin, spdy.DataFrame) and fin.fin and fin.data == b""
    assert isinstance(ping, spdy.ControlFrame) and (ping.type, ping.value) == (spdy.PING, 7)
    assert isinstance(rst, spdy.ControlFrame)
    assert (rst.type, rst.stream_id, rst.value) == (spdy.RST_STREAM, 3, spdy.CANCEL)
    assert isinstance(goaway, spdy.ControlFrame) and (goaway.type, goaway.other_id) == (
        spdy.GOAWAY,
        3,
    )
    assert isinstance(settings, spdy.ControlFrame) and settings.type == spdy.SETTINGS


def test_header_blocks_share_one_zlib_stream_per_direction() -> None:
    # the second block is compressed against the first: it reads only in order
    server = spdy.FrameWriter()
    first, second = server.syn_reply(1), server.syn_reply(3, {"x-multi": ["a", "b"]})
    reader = spdy.FrameReader()
    frames = reader.feed(first + second)
    assert [(f.stream_id, f.headers) for f in frames if isinstance(f, spdy.ControlFrame)] == [
        (1, {}),
        (3, {"x-multi": ["a", "b"]}),
    ]
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(second)


@pytest.mark.parametrize(
    "wire",
    [
        spdy.control(spdy.PING, 0, b"\x00\x00\x00\x01")[:2].replace(b"\x80\x03", b"\x80\x02")
        + spdy.control(spdy.PING, 0, b"\x00\x00\x00\x01")[2:],  # SPDY/2
        spdy.data(1, b"x").replace(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00", 1),  # stream 0
        spdy.control(spdy.RST_STREAM, 0, b"\x00\x00\x00\x01"),  # short RST_STREAM
        spdy.control(spdy.SYN_STREAM, 0, b"\x00\x00\x00\x01"),  # no header block
        spdy.control(spdy.SYN_STREAM, 0, struct.pack(">IIBB", 1, 0, 0, 0) + b"not zlib"),
    ],
)
def test_malformed_frames_are_protocol_errors(wire: bytes) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(wire)


def test_frames_longer_than_the_reader_takes_are_refused_from_their_header() -> None:
    reader = spdy.FrameReader(max_frame=1024)
    assert reader.feed(spdy.data(1, b"x" * 1024)) == [spdy.DataFrame(1, 0, b"x" * 1024)]
    with pytest.raises(spdy.ProtocolError, match="1025 bytes"):
        reader.feed(spdy.data(1, b"x" * 1025)[:8])  # refused before the payload arrives


def test_header_block_bombs_and_lies_are_refused() -> None:
    deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
    huge = spdy.header_block({"a": ["x" * (spdy.MAX_HEADER_BLOCK + 1)]})
    block = deflate.compress(huge) + deflate.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(spdy.ProtocolError, match="over"):
        spdy.FrameReader().feed(
            spdy.control(spdy.SYN_STREAM, 0, struct.pack(">IIBB", 1, 0, 0, 0) + block)
        )
    with pytest.raises(spdy.ProtocolError, match="claims"):
        spdy.parse_header_block(struct.pack(">I", 1_000_000))
    with pytest.raises(spdy.ProtocolError, match="truncated"):
        spdy.parse_header_block(struct.pack(">II", 1, 50) + b"port")


# ------------------------------------------------------------------- the gateway Pod


def test_gateway_pod_stands_in_until_a_release_deployment_does(tmp_path: Path) -> None:
    res = Resources(Store(str(tmp_path / "state.db")), Registry.default())
    ns_rt = res.registry.get("", "v1", "namespaces")
    pods = res.registry.get("", "v1", "pods")
    deployments = res.registry.get("apps", "v1", "deployments")
    assert ns_rt is not None and pods is not None and deployments is not None
    opts = WriteOptions(manager="test")
    res.create(ns_rt, "", {"metadata": {"name": "istio-system"}}, opts)

    pod = ensure_gateway_pod(res, 31234, "test")
    assert pod is not None
    assert pod["metadata"]["labels"].items() >= GATEWAY_LABELS.items()
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 31234
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    again = ensure_gateway_pod(res, 31234, "test")
    assert again is not None
    assert again["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]

    ports = LocalPorts(None, 31234)
    target = ports.target(pod, 31234)
    assert (target.host, target.port) == ("127.0.0.1", 31234)
    with pytest.raises(ForwardError, match="nothing listens on port 8443"):
        ports.target(pod, 8443)

    moved = ensure_gateway_pod(res, 31235, "test")
    assert moved is not None and moved["metadata"]["name"] != pod["metadata"]["name"]
    assert res.find(pods, "istio-system", pod["metadata"]["name"]) is None

    res.create(
        deployments,
        "istio-system",
        {
            "metadata": {"name": "istio-ingressgateway"},
            "spec": {
                "selector": {"matchLabels": dict(GATEWAY_LABELS)},
                "template": {
                    "metadata": {"labels": dict(GATEWAY_LABELS)},
                    "spec": {"containers": [{"name": "istio-proxy", "image": "istio/proxyv2"}]},
                },
            },
        },
        opts,
    )
    assert ensure_gateway_pod(res, 31235, "test") is None
    left = res.store.list_objects("/pods", "istio-system")
    assert not [p for p in left if A_GATEWAY in (p["metadata"].get("annotations") or {})]


# ------------------------------------------------------------------------ kubectl


@dataclass
class App:
    kubectl: Kubectl
    pod: str

    @property
    def namespace(self) -> str:
        return self.kubectl.namespace


@pytest.fixture(scope="module")
def app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> App:
    """The walkthrough's Service, ready, in a namespace of its own, and its Pod."""
    tmp = tmp_path_factory.mktemp("portforward")
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(tmp / "cache")
    ns = "pf-" + uuid.uuid4().hex[:8]
    kubectl = Kubectl(env, ns, tmp)
    kubectl.ok("create", "namespace", ns, namespaced=False)
    kubectl.apply("v1.yaml", service_manifest("Go Sample v1"))
    kubectl.ok("wait", "--for=condition=Ready", "ksvc/helloworld-go", "--timeout=60s")
    pods = kubectl.names("pods")
    assert len(pods) == 1, pods
    return App(kubectl, pods[0].removeprefix("pod/"))


@dataclass
class Forward:
    proc: subprocess.Popen[str]
    port: int
    stderr: list[str] = field(default_factory=list)


@contextlib.contextmanager
def port_forward(
    kubectl: Kubectl, *args: str, env: dict[str, str] | None = None
) -> Iterator[Forward]:
    """``kubectl port-forward ARGS`` until it says where it listens; stopped on exit."""
    proc = subprocess.Popen(
        kubectl.argv(("port-forward", *args)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**kubectl.env, **(env or {})},
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []

    def pump(stream: Any, into: Any) -> None:
        for line in stream:
            into(line)
        if into is lines.put:
            lines.put(None)

    threading.Thread(target=pump, args=(proc.stdout, lines.put), daemon=True).start()
    threading.Thread(target=pump, args=(proc.stderr, errors.append), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        port = 0
        while not port:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"kubectl port-forward ended: {''.join(errors)}"
            found = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> \d+", line)
            port = int(found.group(1)) if found else 0
        yield Forward(proc, port, errors)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)


def get(port: int, host: str | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/", headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@needs_kubectl
@pytest.mark.parametrize(
    ("websockets", "port"),
    [("true", 8080), ("false", 8080), ("true", 8012)],
    ids=["websocket", "spdy", "queue-proxy-port"],
)
def test_port_forward_to_a_revision_pod(app: App, websockets: str, port: int) -> None:
    if port not in declared_ports(json.loads(app.kubectl.ok("get", "pod", app.pod, "-o", "json"))):
        pytest.skip(f"the Pod declares no port {port}")
    env = {"KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets}
    with port_forward(app.kubectl, f"pod/{app.pod}", f"0:{port}", env=env) as fwd:
        assert get(fwd.port) == (200, "Hello Go Sample v1!\n")
        assert get(fwd.port) == (200, "Hello Go Sample v1!\n")  # a second connection
    assert not [line for line in fwd.stderr if "error" in line.lower()], fwd.stderr


@needs_kubectl
def test_port_forward_to_the_ingress_gateway_service(app: App) -> None:
    svc_port = app.kubectl.ok(
        "get",
        "svc",
        "istio-ingressgateway",
        "-n",
        "istio-system",
        "-o",
        "jsonpath={.spec.ports[0].port}",
        namespaced=False,
    )
    host = f"helloworld-go.{app.namespace}.{DOMAIN}"
    with port_forward(
        app.kubectl, "-n", "istio-system", "svc/istio-ingressgateway", f"0:{svc_port}"
    ) as fwd:
        assert get(fwd.port, host) == (200, "Hello Go Sample v1!\n")
        status, _ = get(fwd.port, f"nothing.{app.namespace}.{DOMAIN}")
        assert status == 404


@needs_kubectl
def test_port_forward_to_a_port_nothing_listens_on(app: App) -> None:
    with port_forward(app.kubectl, f"pod/{app.pod}", "0:9999") as fwd:
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            get(fwd.port)
        # as with a kubelet: the error stream's text, then kubectl gives up on the Pod
        assert fwd.proc.wait(timeout=20) == 1
    text = "".join(fwd.stderr)
    assert f"error forwarding port 9999 to pod {app.pod}_{app.namespace}, uid " in text, text
    assert "nothing listens on port 9999; in the sandbox this Pod answers on: 8080" in text, text
    assert "error: lost connection to pod" in text


@needs_kubectl
@pytest.mark.parametrize(
    ("verb", "args"),
    [("exec", ("--", "ls")), ("attach", ())],
)
def test_exec_and_attach_say_the_sandbox_cannot_enter(
    app: App, verb: str, args: tuple[str, ...]
) -> None:
    result = app.kubectl.run(verb, app.pod, *args)
    assert result.returncode == 1
    into = "exec into" if verb == "exec" else "attach to"
    assert (
        f'Error from server (BadRequest): unable to {into} container "user-container" in pod '
        f'"{app.pod}": the sandbox cannot {into} its processes: it runs Revision '
        "helloworld-go-00001 as process "
    ) in result.stderr, result.stderr
    assert f"kubectl logs -n {app.namespace} {app.pod}" in result.stderr
    assert "Traceback" not in result.stderr


@needs_kubectl
def test_exec_checks_the_container_first(app: App) -> None:
    err = app.kubectl.fail("exec", app.pod, "-c", "nope", "--", "ls")
    assert err == f"Error from server (BadRequest): container nope is not valid for pod {app.pod}\n"
    err = app.kubectl.fail("exec", "no-such-pod", "--", "ls")
    assert err == 'Error from server (NotFound): pods "no-such-pod" not found\n'


@needs_kubectl
def test_discovery_lists_the_pod_connect_subresources(app: App) -> None:
    doc = json.loads(app.kubectl.ok("get", "--raw", "/api/v1", namespaced=False))
    subs = {r["name"]: r for r in doc["resources"] if r["name"].startswith("pods/")}
    assert subs["pods/portforward"]["kind"] == "PodPortForwardOptions"
    assert subs["pods/exec"]["kind"] == "PodExecOptions"
    assert subs["pods/attach"]["kind"] == "PodAttachOptions"
    assert {tuple(subs[n]["verbs"]) for n in ("pods/portforward", "pods/exec", "pods/attach")} == {
        ("create", "get")
    }


# ------------------------------------------------------------ the session, frame by frame


class Tunnel:
    """A SPDY session over the WebSocket tunnel, spoken frame by frame (kubectl's part)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.writer = spdy.FrameWriter()
        self.reader = spdy.FrameReader()
        self.frames: list[spdy.Frame] = []

    async def send(self, frame: bytes) -> None:
        await self.ws.send_bytes(frame)

    async def next(self, timeout: float = 15.0) -> spdy.Frame | None:
        """The next frame, or None once the server closed the tunnel."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.frames:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, "no frame in time"
            msg = await self.ws.receive(timeout=remaining)
            if msg.type != aiohttp.WSMsgType.BINARY:
                return None
            self.frames.extend(self.reader.feed(msg.data))
        return self.frames.pop(0)


@contextlib.asynccontextmanager
async def tunnel(sandbox: Sandbox, namespace: str, pod: str) -> Any:
    ctx = ssl.create_default_context(cafile=sandbox.ca)
    url = f"{sandbox.api}/api/v1/namespaces/{namespace}/pods/{pod}/portforward"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url,
            protocols=[TUNNEL],
            headers={"Authorization": f"Bearer {sandbox.token}"},
            ssl=ctx,
        ) as ws,
    ):
        assert ws.protocol == TUNNEL
        yield Tunnel(ws)


def pair_headers(kind: str, port: int = 8080, request: str = "0") -> spdy.Headers:
    return {"streamtype": [kind], "port": [str(port)], "requestid": [request]}


async def open_pair(
    t: Tunnel, port: int, send: bytes = b""
) -> tuple[list[spdy.ControlFrame], dict[int, bytes]]:
    """kubectl's part for one local connection: the error (1) and data (3) streams for
    ``port``, ``send`` on the data stream; then what the server replied and what each
    stream carried, once it has finished both."""
    await t.send(t.writer.syn_stream(1, pair_headers("error", port), fin=True))
    await t.send(t.writer.syn_stream(3, pair_headers("data", port)))
    if send:
        await t.send(spdy.data(3, send))
    replies: list[spdy.ControlFrame] = []
    carried = {1: b"", 3: b""}
    unfinished = {1, 3}
    while unfinished:
        frame = await t.next()
        assert frame is not None, "the tunnel closed"
        if isinstance(frame, spdy.DataFrame):
            carried[frame.stream_id] += frame.data
            if frame.fin:
                unfinished.discard(frame.stream_id)
        else:
            replies.append(frame)
    return replies, carried


def test_a_forwarded_request_frame_by_frame(sandbox: Sandbox, app: App) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    async def run() -> tuple[list[spdy.ControlFrame], dict[int, bytes]]:
        async with tunnel(sandbox, app.namespace, app.pod) as t:
            return await open_pair(t, 8080, request)

    replies, carried = asyncio.run(run())
    assert [(f.type, f.stream_id) for f in replies] == [(spdy.SYN_REPLY, 1), (spdy.SYN_REPLY, 3)]
    assert carried[3].startswith(b"HTTP/1.1 200 OK\r\n")
    assert carried[3].endswith(b"\r\n\r\nHello Go Sample v1!\n")
    assert carried[1] == b""


def test_bad_streams_are_reset_and_pings_answered(sandbox: Sandbox, app: App) -> None:
    async def run() -> list[tuple[int, int, int]]:
        got: list[tuple[int, int, int]] = []
        async with tunnel(sandbox, app.namespace, app.pod) as t:
            await t.send(t.writer.syn_stream(1, {"streamtype": ["data"]}))  # no port
            await t.send(t.writer.syn_stream(3, pair_headers("bogus")))
            await t.send(t.writer.syn_stream(5, pair_headers("error", port=0)))
            await t.send(t.writer.syn_stream(4, pair_headers("error")))  # even: the server's
            await t.send(spdy.ping(41))
            await t.send(spdy.control(spdy.WINDOW_UPDATE, 0, struct.pack(">II", 1, 100)))
            for _ in range(5):
                frame = await t.next()
                assert isinstance(frame, spdy.ControlFrame)
                got.append((frame.type, frame.stream_id, frame.value))
        return got

    assert asyncio.run(run()) == [
        (spdy.RST_STREAM, 1, spdy.CANCEL),
        (spdy.RST_STREAM, 3, spdy.CANCEL),
        (spdy.RST_STREAM, 5, spdy.CANCEL),
        (spdy.RST_STREAM, 4, spdy.PROTOCOL_ERROR),
        (spdy.PING, 0, 41),
    ]


def test_garbage_ends_the_session_not_the_sandbox(sandbox: Sandbox, app: App) -> None:
    async def run() -> list[Any]:
        async with tunnel(sandbox, app.namespace, app.pod) as t:
            await t.send(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")  # SPDY/2 PING
            return [await t.next(), await t.next()]

    goaway, closed = asyncio.run(run())
    assert isinstance(goaway, spdy.ControlFrame)
    assert (goaway.type, goaway.value) == (spdy.GOAWAY, spdy.GOAWAY_PROTOCOL_ERROR)
    assert closed is None
    assert get_status(sandbox, "/version")[0] == 200


def test_a_pod_the_sandbox_does_not_run(sandbox: Sandbox, app: App) -> None:
    app.kubectl.ok("run", "other", "--image=nginx", "--restart=Never")

    async def run() -> dict[int, bytes]:
        async with tunnel(sandbox, app.namespace, "other") as t:
            return (await open_pair(t, 80))[1]

    carried = asyncio.run(run())
    text = carried[1].decode()
    assert text.startswith(f"error forwarding port 80 to pod other_{app.namespace}, uid ")
    assert text.endswith("(the sandbox does not run this Pod's containers)")
    assert carried[3] == b""


def get_status(sandbox: Sandbox, path: str, **headers: str) -> tuple[int, str]:
    async def run() -> tuple[int, str]:
        ctx = ssl.create_default_context(cafile=sandbox.ca)
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{sandbox.api}{path}",
                headers={"Authorization": f"Bearer {sandbox.token}", **headers},
                ssl=ctx,
            ) as resp,
        ):
            return resp.status, await resp.text()

    return asyncio.run(run())


def test_upgrade_refusals_are_the_kubelets(sandbox: Sandbox, app: App) -> None:
    path = f"/api/v1/namespaces/{app.namespace}/pods/{app.pod}/portforward"
    assert get_status(sandbox, path) == (
        400,
        "unable to upgrade: X-Stream-Protocol-Version is required\n",
    )
    assert get_status(sandbox, path, **{"X-Stream-Protocol-Version": "v4.channel.k8s.io"}) == (
        403,
        "unable to upgrade: unable to negotiate protocol: client supports "
        "[v4.channel.k8s.io], server accepts [portforward.k8s.io]\n",
    )
    assert get_status(sandbox, path, **{"X-Stream-Protocol-Version": "portforward.k8s.io"}) == (
        400,
        "unable to upgrade: missing upgrade headers in request\n",
    )
    status, body = get_status(sandbox, f"/api/v1/namespaces/{app.namespace}/pods/nope/portforward")
    assert status == 404 and '"message":"pods \\"nope\\" not found"' in body
