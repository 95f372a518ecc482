"""``pods/portforward``, ``pods/exec`` and ``pods/attach``: what a kubelet serves behind
kube-apiserver, for the two kinds of Pods the sandbox really runs.

**Port forwarding.** ``kubectl port-forward`` (client-go's ``tools/portforward``)
asks for an upgrade of ``POST .../pods/NAME/portforward`` to SPDY/3.1
(``Upgrade: SPDY/3.1``, ``X-Stream-Protocol-Version: portforward.k8s.io``) or,
since 1.31, of ``GET`` to a WebSocket whose subprotocol
``SPDY/3.1+portforward.k8s.io`` carries the same SPDY session in binary
messages (kube-apiserver's ``streamtunnel.go`` relays it to the kubelet's SPDY
server). The session is the kubelet's (``cri/streaming/portforward/httpstream.go``):
for each local connection the client opens an ``error`` and a ``data`` stream
(headers ``streamtype``, ``port``, ``requestid``); once both have arrived the
server connects to the port inside the Pod and copies bytes both ways until one
side ends, then gives the other half a second's grace (containerd's 0.5 s),
closes the error stream (after writing what went wrong, if anything) and the
data stream.

Where "inside the Pod" is: a Revision's Pod mirrors the Revision's process,
which listens on its own port of 127.0.0.1, so the container port the Pod
declares (``user-port``, 8080 unless the Revision names one) leads there; the
``istio-system`` Pod behind the ``istio-ingressgateway`` Service (seeded by
:func:`ensure_gateway_pod`) is the sandbox's gateway, whose container port is the
gateway's real port. Any other port, or a Pod the sandbox does not run, fails
as a connection to a port where nothing listens does. A forwarded connection to a
Revision counts as a request in flight, so the Revision is not scaled to zero
under it.

**exec and attach** cannot be served: the sandbox's "containers" are processes
on this machine, with nothing to enter. After kube-apiserver's own checks (the
Pod, the container) the answer is a 400 Status saying so, which kubectl prints
before it would upgrade the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiohttp import WSMsgType, web

from kn_walk import __version__
from kn_walk.sandbox.apiserver.api import PodConnect
from kn_walk.sandbox.apiserver.podlogs import pod_container
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.podtemplate import L_POD_TEMPLATE_HASH, template_hash
from kn_walk.sandbox.node import spdy
from kn_walk.sandbox.node.pods import (
    A_MANAGED,
    A_PID,
    A_SIMULATED,
    L_REVISION,
    loopback_addresses,
    pod_conditions,
)
from kn_walk.sandbox.node.workloads import Workloads
from kn_walk.sandbox.registry.events import NODE_NAME
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, now_rfc3339, rkey
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
#: the WebSocket subprotocol prefix of a tunnelled SPDY session (k8s.io/apimachinery's
#: ``WebsocketsSPDYTunnelingPrefix``) and the suffix kube-apiserver requires
TUNNEL_PREFIX = "SPDY/3.1+"
KUBERNETES_SUFFIX = ".k8s.io"
HEADER_PROTOCOL = "X-Stream-Protocol-Version"
HEADER_ACCEPTED = "X-Accepted-Stream-Protocol-Versions"
#: stream headers (k8s.io/api/core/v1 ``StreamType``, ``PortHeader``, ``PortForwardRequestIDHeader``)
STREAM_TYPE = "streamtype"
STREAM_PORT = "port"
STREAM_REQUEST = "requestid"
#: how long the kubelet waits for the second stream of a pair (``streamCreationTimeout``)
STREAM_PAIR_TIMEOUT = 30.0
#: after one direction of a forwarded connection ends, how long the other may go on
#: (containerd's portForward, after socat)
LINGER = 0.5
#: bytes read from a forwarded port per data frame (Go's io.Copy buffer)
CHUNK = 32 * 1024
#: data frames from the client a session holds for ports slow to take them, all its
#: forwarded connections together (each at most spdy.MAX_READ_FRAME); then it reads no
#: more from the client until one is taken
INBOX = 32
#: stream pairs one session may have open at once; more are refused (REFUSED_STREAM)
MAX_PAIRS = 512

#: marks the Pod that stands for the sandbox's ingress gateway (see ensure_gateway_pod)
A_GATEWAY = "sandbox.knwalk.dev/gateway"
GATEWAY_NAMESPACE = "istio-system"
GATEWAY_NAME = "istio-ingressgateway"
GATEWAY_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
GATEWAY_CONTAINER = "istio-proxy"
GATEWAY_IMAGE = f"knwalk-sandbox/ingressgateway:{__version__}"
#: the container port of Istio's ingress gateway that its Service's http2 port targets
ISTIO_HTTP2_PORT = 8080
#: Knative's queue-proxy container, and the name of the ports it serves requests on
#: (8012, or 8013 for h2c), which it proxies to the user container's
QUEUE_PROXY = "queue-proxy"
QUEUE_SERVING_PORTS = ("queue-port",)


class ForwardError(Exception):
    """Why a connection to a port in a Pod could not be made (the error stream's text)."""


# ----------------------------------------------------------------------- targets


@dataclass
class Target:
    """A real address that a container port stands for, held until ``release``."""

    host: str
    port: int
    release: Callable[[], None] = field(default=lambda: None)


def declared_ports(pod: Obj, skip: Callable[[Obj, Obj], bool] = lambda c, p: False) -> list[int]:
    """The TCP container ports the Pod declares, but those ``skip(container, port)``."""
    ports: list[int] = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in (c.get("ports") if isinstance(c, dict) else None) or []:
            tcp = isinstance(p, dict) and (p.get("protocol") or "TCP") == "TCP"
            if tcp and isinstance(p.get("containerPort"), int) and not skip(c, p):
                ports.append(p["containerPort"])
    return ports


def _not_serving(container: Obj, port: Obj) -> bool:
    """A queue-proxy port other than the one it serves requests on (metrics, admin,
    https): nothing in the sandbox stands for those."""
    return container.get("name") == QUEUE_PROXY and port.get("name") not in QUEUE_SERVING_PORTS


def _refused(port: int, why: str) -> ForwardError:
    return ForwardError(
        f"failed to connect to localhost:{port} inside the pod: connection refused ({why})"
    )


def is_gateway_pod(pod: Obj) -> bool:
    """A Pod behind ``istio-system/istio-ingressgateway`` that stands for the sandbox's
    gateway: the one :func:`ensure_gateway_pod` seeds, or a simulated replica of the
    release's ``istio-ingressgateway`` Deployment."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return (
        meta.get("namespace") == GATEWAY_NAMESPACE
        and all(labels.get(k) == v for k, v in GATEWAY_LABELS.items())
        and (A_GATEWAY in annotations or A_SIMULATED in annotations)
    )


class LocalPorts:
    """Which local address a port of a sandbox Pod is, as the Pod's network namespace
    would say: the Revision's process for a Revision's Pod; for a gateway Pod the
    gateway, on its own port (the Service's targetPort) and on Istio's http2 container
    port, 8080."""

    def __init__(self, workloads: Workloads | None, gateway_port: int = 0) -> None:
        self.workloads = workloads
        self.gateway_port = gateway_port

    def target(self, pod: Obj, port: int) -> Target:
        meta = pod.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        declared = declared_ports(pod)
        if is_gateway_pod(pod) and self.gateway_port:
            served = sorted({self.gateway_port, *(p for p in declared if p == ISTIO_HTTP2_PORT)})
            if port in served:
                return Target("127.0.0.1", self.gateway_port)
            return self._nothing_on(port, served)
        revision = (meta.get("labels") or {}).get(L_REVISION)
        if A_MANAGED not in annotations or not revision or self.workloads is None:
            raise _refused(port, "the sandbox does not run this Pod's containers")
        # the user container's ports, and the queue-proxy's, which proxies to them
        served = declared_ports(pod, _not_serving)
        if port not in served:
            return self._nothing_on(port, served)
        ns = str(meta.get("namespace") or "")
        ep = self.workloads.acquire(ns, str(revision))
        if ep is None:
            raise _refused(port, f"the process of Revision {revision} is not ready")
        workloads = self.workloads
        return Target(ep.host, ep.port, lambda: workloads.release(ns, str(revision)))

    @staticmethod
    def _nothing_on(port: int, served: list[int]) -> NoReturn:
        listed = ", ".join(str(p) for p in served) or "none"
        raise _refused(
            port, f"nothing listens on port {port}; in the sandbox this Pod answers on: {listed}"
        )


# ----------------------------------------------------------------------- session


@dataclass(eq=False)
class _Stream:
    id: int
    kind: str
    port: int
    #: the forwarded connection (request id) the stream belongs to
    request: str = ""
    #: the client sent its last frame (FIN), or reset the stream
    remote_done: bool = False
    reset: bool = False
    #: this side sent its FIN
    closed: bool = False


@dataclass(eq=False)
class _Pair:
    request: str
    data: _Stream | None = None
    error: _Stream | None = None
    inbox: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    reset: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    #: the forwarded connection has ended: what the client still sends is dropped
    done: bool = False


Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter, Target]]]


class Session:
    """The kubelet's port-forward server on one SPDY session; ``send`` carries frames."""

    def __init__(
        self, send: Callable[[bytes], Awaitable[None]], dial: Dial, pod_desc: str, uid: str
    ) -> None:
        self._send = send
        self._dial = dial
        self._pod = pod_desc
        self._uid = uid
        self._reader = spdy.FrameReader()
        self._writer = spdy.FrameWriter()
        self._lock = asyncio.Lock()
        self._last_id = 0
        self._streams: dict[int, _Stream] = {}
        self._pairs: dict[str, _Pair] = {}
        self._gone_away = False
        #: data frames held in the pairs' inboxes (at most INBOX)
        self._held = asyncio.Semaphore(INBOX)
        self.closed = False

    async def _out(self, make: Callable[[], bytes]) -> None:
        """Send one frame; frames leave in the order they were made (header blocks
        share one zlib stream)."""
        async with self._lock:
            if self.closed:
                return
            await self._send(make())

    async def feed(self, data: bytes) -> None:
        """Bytes from the client; ProtocolError ends the session (after a GOAWAY)."""
        try:
            frames = self._reader.feed(data)
        except spdy.ProtocolError:
            await self._out(lambda: spdy.goaway(self._last_id, spdy.GOAWAY_PROTOCOL_ERROR))
            raise
        for frame in frames:
            if isinstance(frame, spdy.DataFrame):
                await self._data(frame)
            elif frame.type == spdy.SYN_STREAM:
                await self._syn_stream(frame)
            elif frame.type == spdy.RST_STREAM:
                self._rst(frame.stream_id)
            elif frame.type == spdy.PING and frame.value & 1:  # the client's: answered
                await self._out(functools.partial(spdy.ping, frame.value))
            elif frame.type == spdy.GOAWAY:
                self._gone_away = True
            # SETTINGS, WINDOW_UPDATE, HEADERS, replies to pings: nothing to do

    async def close(self) -> None:
        """The connection is gone: stop every forwarded connection."""
        self.closed = True
        tasks = []
        for pair in list(self._pairs.values()):
            if pair.timer is not None:
                pair.timer.cancel()
            if pair.task is not None:
                pair.task.cancel()
                tasks.append(pair.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._pairs.clear()
        self._streams.clear()

    # ------------------------------------------------------------------ frames

    async def _syn_stream(self, frame: spdy.ControlFrame) -> None:
        sid = frame.stream_id
        if self._gone_away or self.closed:
            return
        if sid % 2 == 0 or sid <= self._last_id:  # spdystream's validateStreamId
            await self._out(lambda: spdy.rst_stream(sid, spdy.PROTOCOL_ERROR))
            return
        self._last_id = sid
        problem = _stream_problem(frame.headers)
        if problem is None and len(self._pairs) >= MAX_PAIRS:
            problem = "too many forwarded connections at once"
            status = spdy.REFUSED_STREAM
        else:
            status = spdy.CANCEL  # a rejected stream is reset, as spdystream's Reset does
        if problem is not None:
            log.debug("port-forward to %s: stream %d rejected: %s", self._pod, sid, problem)
            await self._out(lambda: spdy.rst_stream(sid, status))
            return
        headers = frame.headers
        kind = headers[STREAM_TYPE][0]
        request = (headers.get(STREAM_REQUEST) or [""])[0]
        if not request:  # a client older than request ids: the kubelet's best guess
            request = str(sid if kind == "error" else sid - 2)
        port = int(headers[STREAM_PORT][0])
        stream = _Stream(sid, kind, port, request, remote_done=frame.fin)
        self._streams[sid] = stream
        await self._out(lambda: self._writer.syn_reply(sid))
        pair = self._pairs.get(request)
        if pair is None:
            pair = self._pairs[request] = _Pair(request)
            loop = asyncio.get_running_loop()
            pair.timer = loop.call_later(STREAM_PAIR_TIMEOUT, self._pair_timed_out, pair)
        if getattr(pair, kind) is not None:
            await self._print_error(
                pair,
                f"error processing stream for request {request}: {kind} stream already assigned",
            )
            return
        setattr(pair, kind, stream)
        if pair.data is not None and pair.error is not None and pair.task is None:
            if pair.timer is not None:
                pair.timer.cancel()
                pair.timer = None
            pair.task = asyncio.create_task(self._forward(pair))

    async def _data(self, frame: spdy.DataFrame) -> None:
        stream = self._streams.get(frame.stream_id)
        if stream is None or stream.remote_done:
            return  # a stream that is gone or finished: spdystream drops such frames
        if frame.fin:
            stream.remote_done = True
        if stream.kind != "data":
            return  # nothing is read from an error stream
        pair = self._pair_of(stream)
        if pair is None or pair.done:
            return
        if frame.data:
            await self._held.acquire()
            if pair.done:  # it ended while this waited
                self._held.release()
                return
            pair.inbox.put_nowait(frame.data)
        if frame.fin:
            pair.inbox.put_nowait(None)

    def _rst(self, sid: int) -> None:
        stream = self._streams.pop(sid, None)
        if stream is None:
            return
        stream.reset = stream.remote_done = stream.closed = True
        pair = self._pair_of(stream)
        if pair is not None and stream.kind == "data":
            pair.reset.set()

    def _pair_of(self, stream: _Stream) -> _Pair | None:
        pair = self._pairs.get(stream.request)
        return pair if pair is not None and stream in (pair.data, pair.error) else None

    def _pair_timed_out(self, pair: _Pair) -> None:
        pair.timer = None
        if pair.task is None and self._pairs.get(pair.request) is pair:
            message = f"(conn={self._pod}, request={pair.request}) timed out waiting for streams"
            pair.task = asyncio.create_task(self._abandon(pair, message))

    async def _abandon(self, pair: _Pair, message: str) -> None:
        try:
            await self._print_error(pair, message)
            await self._finish(pair)
        finally:
            self._forget(pair)

    async def _print_error(self, pair: _Pair, message: str) -> None:
        err = pair.error
        if err is not None and not err.closed:
            payload = message.encode()
            await self._out(lambda: spdy.data(err.id, payload))

    async def _finish(self, pair: _Pair) -> None:
        """Close the error stream, then the data stream, as the kubelet's defers do."""
        for stream in (pair.error, pair.data):
            if stream is not None and not stream.closed:
                stream.closed = True
                await self._out(_fin(stream.id))

    def _forget(self, pair: _Pair) -> None:
        pair.done = True
        while not pair.inbox.empty():
            if pair.inbox.get_nowait() is not None:
                self._held.release()
        if self._pairs.get(pair.request) is pair:
            del self._pairs[pair.request]
        for stream in (pair.data, pair.error):
            if stream is not None and stream.remote_done and stream.closed:
                self._streams.pop(stream.id, None)

    # -------------------------------------------------------------- forwarding

    async def _forward(self, pair: _Pair) -> None:
        assert pair.data is not None
        port = pair.data.port
        problem = ""
        try:
            try:
                reader, writer, target = await self._dial(port)
            except ForwardError as exc:
                problem = str(exc)
            except Exception as exc:  # a bug here must not leave the client waiting
                log.warning("port-forward to %s: %s: %s", self._pod, type(exc).__name__, exc)
                problem = f"the sandbox failed: {exc}"
            else:
                try:
                    problem = await self._copy(pair, reader, writer)
                finally:
                    target.release()
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
            if problem:
                message = (
                    f"error forwarding port {port} to pod {self._pod}, uid {self._uid}: {problem}"
                )
                log.info("port-forward: %s", message)
                await self._print_error(pair, message)
            await self._finish(pair)
        except (ConnectionError, RuntimeError) as exc:  # the client went away meanwhile
            log.debug("port-forward to %s: %s", self._pod, exc)
        finally:
            self._forget(pair)

    async def _copy(
        self, pair: _Pair, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str:
        data = pair.data
        assert data is not None

        async def upstream() -> None:
            while (chunk := await pair.inbox.get()) is not None:
                self._held.release()
                writer.write(chunk)
                await writer.drain()

        async def downstream() -> None:
            while chunk := await reader.read(CHUNK):
                if data.closed:
                    return
                await self._out(functools.partial(spdy.data, data.id, chunk))

        copies = {asyncio.create_task(upstream()), asyncio.create_task(downstream())}
        reset = asyncio.create_task(pair.reset.wait())
        try:
            done, pending = await asyncio.wait(
                copies | {reset}, return_when=asyncio.FIRST_COMPLETED
            )
            if reset not in done:
                more, _ = await asyncio.wait(pending - {reset}, timeout=LINGER)
                done |= more
        finally:
            for task in (*copies, reset):
                task.cancel()
            await asyncio.gather(*copies, reset, return_exceptions=True)
        for task in copies & done:
            exc = task.exception() if not task.cancelled() else None
            if isinstance(exc, OSError):
                return str(exc) or type(exc).__name__
            if exc is not None:
                raise exc
        return ""


def _fin(sid: int) -> Callable[[], bytes]:
    return lambda: spdy.data(sid, b"", fin=True)


def _stream_problem(headers: spdy.Headers) -> str | None:
    """Why the kubelet rejects a stream (``httpStreamReceived``), or None."""
    port = (headers.get(STREAM_PORT) or [""])[0]
    if not port:
        return f'"{STREAM_PORT}" header is required'
    if not port.isdigit() or int(port) > 65535:
        return f'unable to parse "{port}" as a port'
    if int(port) < 1:
        return f'port "{port}" must be > 0'
    kind = (headers.get(STREAM_TYPE) or [""])[0]
    if not kind:
        return f'"{STREAM_TYPE}" header is required'
    if kind not in ("error", "data"):
        return f'invalid stream type "{kind}"'
    return None


# -------------------------------------------------------------------------- HTTP


def _plain_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Go's ``http.Error``: what the kubelet's upgrade code answers before an upgrade."""
    return web.Response(
        status=status,
        text=message + "\n",
        headers={"X-Content-Type-Options": "nosniff", **(headers or {})},
        content_type="text/plain",
        charset="utf-8",
    )


def _negotiate(offered: list[str]) -> web.Response | None:
    """The kubelet's ``httpstream.Handshake``: an error answer, or None when agreed."""
    if not offered:
        return _plain_error(400, f"unable to upgrade: {HEADER_PROTOCOL} is required")
    if PROTOCOL not in offered:
        return _plain_error(
            403,
            "unable to upgrade: unable to negotiate protocol: client supports "
            f"[{' '.join(offered)}], server accepts [{PROTOCOL}]",
            {HEADER_ACCEPTED: PROTOCOL},
        )
    return None


def _header_values(request: web.Request, name: str) -> list[str]:
    return [
        v.strip() for line in request.headers.getall(name, []) for v in line.split(",") if v.strip()
    ]


async def port_forward(
    request: web.Request, pod: Obj, ports: LocalPorts | None, closing: asyncio.Event
) -> web.StreamResponse:
    """``GET`` (WebSocket tunnel) or ``POST`` (SPDY) ``.../pods/NAME/portforward``."""
    if request.method not in ("GET", "POST"):
        raise E.method_not_allowed()
    meta = pod["metadata"]
    name = str(meta.get("name"))
    if not (pod.get("spec") or {}).get("nodeName"):
        raise E.bad_request(f"pod {name} does not have a host assigned")
    local = ports or LocalPorts(None)

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Target]:
        target = local.target(pod, port)
        try:
            reader, writer = await asyncio.open_connection(target.host, target.port)
        except OSError as exc:
            target.release()
            raise _refused(port, exc.strerror or str(exc)) from exc
        return reader, writer, target

    desc = f"{name}_{meta.get('namespace')}"
    uid = str(meta.get("uid") or "")
    upgrade = request.headers.get("Upgrade", "").lower()
    if "websocket" in upgrade:
        tunnelled = [
            p[len(TUNNEL_PREFIX) :]
            for p in _header_values(request, "Sec-WebSocket-Protocol")
            if p.startswith(TUNNEL_PREFIX) and p.endswith(KUBERNETES_SUFFIX)
        ]
        if not tunnelled:
            return _plain_error(400, "unable to upgrade: no tunneling spdy protocols provided")
        refusal = _negotiate(tunnelled)
        if refusal is not None:
            return refusal
        return await _websocket(request, lambda send: Session(send, dial, desc, uid), closing)
    refusal = _negotiate(_header_values(request, HEADER_PROTOCOL))
    if refusal is not None:
        return refusal
    connection = request.headers.get("Connection", "").lower()
    if "upgrade" not in connection or "spdy/3.1" not in upgrade:
        return _plain_error(400, "unable to upgrade: missing upgrade headers in request")
    return await _spdy(request, lambda send: Session(send, dial, desc, uid), closing)


async def _websocket(
    request: web.Request,
    session: Callable[[Callable[[bytes], Awaitable[None]]], Session],
    closing: asyncio.Event,
) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(TUNNEL_PREFIX + PROTOCOL,), compress=False)
    await ws.prepare(request)
    s = session(ws.send_bytes)
    stop = asyncio.create_task(closing.wait())
    try:
        while True:
            receive = asyncio.create_task(ws.receive())
            await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
                break
            msg = receive.result()
            if msg.type == WSMsgType.BINARY:
                await s.feed(msg.data)
            elif msg.type != WSMsgType.TEXT:
                break  # closed, closing or failed
            else:
                raise spdy.ProtocolError("a text message in a SPDY tunnel")
    except (spdy.ProtocolError, ConnectionError) as exc:
        log.debug("port-forward tunnel: %s", exc)
    finally:
        stop.cancel()
        await s.close()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws


class _Feed:
    """What aiohttp's connection hands the bytes after the upgrade to (its ``set_parser``
    protocol): the SPDY session's input."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(None)


async def _spdy(
    request: web.Request,
    session: Callable[[Callable[[bytes], Awaitable[None]]], Session],
    closing: asyncio.Event,
) -> web.StreamResponse:
    resp = web.StreamResponse(
        status=101,
        headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", HEADER_PROTOCOL: PROTOCOL},
    )
    await resp.prepare(request)
    feed = _Feed()
    request.protocol.set_parser(feed)  # type: ignore[arg-type]
    s = session(resp.write)
    stop = asyncio.create_task(closing.wait())
    try:
        while True:
            get = asyncio.create_task(feed.queue.get())
            await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
                break
            chunk = get.result()
            if chunk is None:
                break
            await s.feed(chunk)
    except (spdy.ProtocolError, ConnectionError) as exc:
        log.debug("port-forward session: %s", exc)
    finally:
        stop.cancel()
        await s.close()
        resp.force_close()
        if request.transport is not None:
            request.transport.close()
    return resp


# --------------------------------------------------------------- exec and attach


def pod_connect(ports: LocalPorts) -> PodConnect:
    """The kubelet's side of ``pods/portforward``, ``pods/exec`` and ``pods/attach`` for
    the API (:attr:`kn_walk.sandbox.apiserver.api.ApiState.pod_connect`), reaching the
    Pods' ports through ``ports``."""

    async def connect(
        request: web.Request, pod: Obj, sub: str, closing: asyncio.Event
    ) -> web.StreamResponse:
        if sub == "portforward":
            return await port_forward(request, pod, ports, closing)
        raise refuse_exec(pod, sub, request.query)

    return connect


def refuse_exec(pod: Obj, sub: str, query: Any) -> E.StatusError:
    """kube-apiserver's checks for ``pods/exec`` and ``pods/attach`` (the Pod has a node,
    the container is the Pod's), then the sandbox's answer: it cannot enter it."""
    meta = pod["metadata"]
    name = str(meta.get("name"))
    container = pod_container(pod, name, str(query.get("container") or ""))
    if not (pod.get("spec") or {}).get("nodeName"):
        return E.bad_request(f"pod {name} does not have a host assigned")
    verb = "exec into" if sub == "exec" else "attach to"
    cannot = f"the sandbox cannot {verb} its processes"
    annotations = meta.get("annotations") or {}
    revision = (meta.get("labels") or {}).get(L_REVISION)
    if A_MANAGED in annotations and revision:
        pid = annotations.get(A_PID)
        what = f"process {pid}" if pid else "a process"
        why = (
            f"{cannot}: it runs Revision {revision} as {what} on this machine, not in a "
            f"container (its output: kubectl logs -n {meta.get('namespace')} {name})"
        )
    elif is_gateway_pod(pod):
        why = f"{cannot}: its gateway runs inside the sandbox's own process, not in a container"
    else:
        why = "the sandbox does not run this Pod's containers: it runs only Knative Revisions"
    return E.bad_request(f'unable to {verb} container "{container}" in pod "{name}": {why}')


# ------------------------------------------------------------------- gateway Pod


def gateway_pod(gateway_port: int) -> Obj:
    """The Pod behind ``istio-system/istio-ingressgateway``: the sandbox's gateway, whose
    one container port is the gateway's port (``kubectl port-forward svc/...`` resolves
    the Service's targetPort to it)."""
    ports = [{"name": "http2", "containerPort": gateway_port, "protocol": "TCP"}]
    template = template_hash({"gateway": GATEWAY_NAME, "ports": ports, "image": GATEWAY_IMAGE})
    suffix = template_hash({"pod-of": template})[-5:]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{GATEWAY_NAME}-{template}-{suffix}",
            "namespace": GATEWAY_NAMESPACE,
            "labels": {**GATEWAY_LABELS, L_POD_TEMPLATE_HASH: template},
            "annotations": {
                A_GATEWAY: f"the sandbox's ingress gateway, on 127.0.0.1:{gateway_port}",
            },
        },
        "spec": {
            "containers": [
                {
                    "name": GATEWAY_CONTAINER,
                    "image": GATEWAY_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": ports,
                }
            ],
            "nodeName": NODE_NAME,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "dnsPolicy": "ClusterFirst",
        },
    }


def _gateway_status(old: Obj) -> Obj:
    now = now_rfc3339()
    running = ((old.get("containerStatuses") or [{}])[0].get("state") or {}).get("running") or {}
    return {
        "phase": "Running",
        "conditions": pod_conditions(True, GATEWAY_CONTAINER, old, now),
        **loopback_addresses(),
        "startTime": old.get("startTime") or now,
        "containerStatuses": [
            {
                "name": GATEWAY_CONTAINER,
                "image": GATEWAY_IMAGE,
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": running.get("startedAt") or now}},
            }
        ],
        "qosClass": old.get("qosClass", "BestEffort"),
    }


def ensure_gateway_pod(res: Resources, gateway_port: int, manager: str) -> Obj | None:
    """Without the release's ``istio-ingressgateway`` Deployment (whose simulated
    replicas then stand for the gateway), a Pod for the gateway: created, or kept when
    it is for this port (one for another port or sandbox version is replaced, as a new
    template's Pod replaces the old), its status Running and Ready. Returns it, or None
    when the Deployment's Pods stand for the gateway."""
    rt = res.registry.get("", "v1", "pods")
    deployments = res.registry.get("apps", "v1", "deployments")
    assert rt is not None and deployments is not None
    # the release's Deployment, when there is one, has the gateway's Pods
    released = res.find(deployments, GATEWAY_NAMESPACE, GATEWAY_NAME) is not None
    desired = gateway_pod(gateway_port)
    name = desired["metadata"]["name"]
    opts = WriteOptions(manager=manager, field_validation="Ignore")
    for obj in res.store.list_objects(rkey(rt), GATEWAY_NAMESPACE):
        meta = obj["metadata"]
        stale = released or meta["name"] != name
        if A_GATEWAY in (meta.get("annotations") or {}) and stale:
            with contextlib.suppress(E.StatusError):
                res.delete(rt, GATEWAY_NAMESPACE, meta["name"])
    if released:
        return None
    current = res.find(rt, GATEWAY_NAMESPACE, name)
    if current is None:
        current = res.create(rt, GATEWAY_NAMESPACE, copy.deepcopy(desired), opts)
    status = _gateway_status(current.get("status") or {})
    if current.get("status") == status:
        return current
    new = copy.deepcopy(current)
    new["status"] = status
    return res.update(
        rt,
        GATEWAY_NAMESPACE,
        name,
        new,
        WriteOptions(manager=manager, field_validation="Ignore", subresource="status"),
    )
