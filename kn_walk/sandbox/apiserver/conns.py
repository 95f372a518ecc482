"""Accepting connections on the sandbox's two listeners without being knocked over by them.

The API (aiohttp, HTTPS) and the gateway (``gateway.py``, HTTP) both accept
through a :class:`Listener` instead of ``loop.create_server``, for what their
real counterparts do and asyncio's server does not:

* **a cap on open connections** (:attr:`Limits.max_connections`), well below the
  open-file limit, so that the process always keeps descriptors for its
  store, logs, revision processes and upstream connections. A connection over
  the cap is accepted and closed at once, before any TLS handshake, as Envoy's
  listener connection limit and global downstream connection limit do (there
  is no HTTP answer: nothing has been read yet, and on the API nothing could be
  written without a handshake). Accepting and closing keeps the backlog moving,
  so clients see a closed connection instead of hanging in the SYN queue.
* **resource exhaustion logged once per interval**, not per ``accept()``: when
  ``accept()`` fails with EMFILE/ENFILE/ENOBUFS/ENOMEM the listener stops
  accepting for a moment (5 ms, doubling up to 1 s, as Go's ``net/http``
  does) and a :class:`RateLimitedLog` writes one line per
  :data:`LOG_INTERVAL` saying how often it happened. (asyncio's own accept
  loop logged a traceback per failed ``accept()``: megabytes a second.)
* the TLS handshake bounded by the header timeout, as Go bounds it by
  ``ReadHeaderTimeout``.

Header and idle timeouts live with each protocol: the gateway's in
``gateway.py`` (Envoy's ``request_headers_timeout``: ``408``), the API's in
:class:`ApiProtocol` (Go's ``ReadHeaderTimeout``: the connection is closed).

:func:`raise_open_file_limit` lifts the soft ``RLIMIT_NOFILE`` to the hard
limit at sandbox start, as Go's runtime does for every Go program (1.19+).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: kube-apiserver's ``ReadHeaderTimeout`` and ``IdleTimeout`` (secure_serving.go)
API_HEADER_TIMEOUT = 32.0
API_IDLE_TIMEOUT = 90.0
#: kube-apiserver's ``--request-timeout`` (1m0s): the most a request that is not long-running
#: (not a watch, a log follow or a port-forward) may take, reading its body included
API_REQUEST_TIMEOUT = 60.0
#: Envoy's recommended ``request_headers_timeout`` for an edge proxy, and its default
#: connection ``idle_timeout`` (one hour)
GATEWAY_HEADER_TIMEOUT = 10.0
GATEWAY_IDLE_TIMEOUT = 3600.0
#: descriptors kept out of the connection caps: store, logs, pipes, revision processes
RESERVED_FDS = 256
#: no listener holds more connections than this, however high the open-file limit
MAX_CONNECTIONS_CEILING = 4096
#: the fewest connections a listener allows, however low the open-file limit
MIN_CONNECTIONS = 16
#: seconds between two log lines about one recurring condition
LOG_INTERVAL = 10.0
#: ``accept()`` calls per readiness event (asyncio's default backlog loop)
ACCEPT_BATCH = 128
#: pause after an ``accept()`` that ran out of resources: first, and longest
ACCEPT_RETRY_MIN = 0.005
ACCEPT_RETRY_MAX = 1.0

#: test and tuning knobs, read when a listener is set up; they apply to both listeners
ENV_HEADER_TIMEOUT = "KNWALK_SANDBOX_HEADER_TIMEOUT"
ENV_IDLE_TIMEOUT = "KNWALK_SANDBOX_IDLE_TIMEOUT"
ENV_MAX_CONNECTIONS = "KNWALK_SANDBOX_MAX_CONNECTIONS"
ENV_REQUEST_TIMEOUT = "KNWALK_SANDBOX_REQUEST_TIMEOUT"

_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


# ----------------------------------------------------------------------------- limits


def raise_open_file_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or (soft != resource.RLIM_INFINITY and soft < hard):
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError) as exc:  # e.g. a hard limit the kernel caps lower
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
    return int(soft)


def default_max_connections() -> int:
    """Connections one listener may hold: a quarter of the descriptors left after the reserve.

    A quarter, because there are two listeners and each gateway connection may
    need a second descriptor for its upstream connection.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS_CEILING
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS_CEILING, (int(soft) - RESERVED_FDS) // 4))


def _env_number(name: str, default: float, *, integer: bool = False) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = 0
    if not value > 0 or value == float("inf"):
        log.warning("ignoring %s=%r: not a positive number", name, text)
        return default
    return value


@dataclass(frozen=True)
class Limits:
    """What one listener allows: open connections, seconds for a request head, idle seconds."""

    max_connections: int
    header_timeout: float
    idle_timeout: float

    @classmethod
    def from_env(cls, header_timeout: float, idle_timeout: float) -> Limits:
        """The given defaults, the cap from the open-file limit; the environment overrides."""
        return cls(
            max_connections=int(
                _env_number(ENV_MAX_CONNECTIONS, default_max_connections(), integer=True)
            ),
            header_timeout=_env_number(ENV_HEADER_TIMEOUT, header_timeout),
            idle_timeout=_env_number(ENV_IDLE_TIMEOUT, idle_timeout),
        )


def api_limits() -> Limits:
    return Limits.from_env(API_HEADER_TIMEOUT, API_IDLE_TIMEOUT)


def api_request_timeout() -> float:
    """Seconds the API gives a request body to arrive (:data:`API_REQUEST_TIMEOUT`)."""
    return _env_number(ENV_REQUEST_TIMEOUT, API_REQUEST_TIMEOUT)


def gateway_limits() -> Limits:
    return Limits.from_env(GATEWAY_HEADER_TIMEOUT, GATEWAY_IDLE_TIMEOUT)


class RateLimitedLog:
    """At most one warning per ``interval`` for each recurring condition, with a count."""

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL) -> None:
        self.logger = logger
        self.interval = interval
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now < self._next.get(key, 0.0):
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._next[key] = now + self.interval
        repeats = self._suppressed.pop(key, 0)
        if repeats:
            message += f" ({repeats} more times since the last report)"
        self.logger.warning("%s", message)


class MalformedRequests(logging.Filter):
    """One line per interval for the malformed requests aiohttp answers 400, not a traceback each.

    aiohttp logs every request its parser refuses (bare LF line ends, a bad
    header) at ERROR with a 15-line traceback: a client sending them in a loop
    grew ``sandbox.log`` by megabytes. Installed on ``aiohttp.server``; other
    records pass.
    """

    def __init__(self) -> None:
        super().__init__()
        self.limited = RateLimitedLog(log)

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        self.limited.warning(
            "malformed",
            f"API: a malformed request was answered {exc.code} and closed ({type(exc).__name__})",
        )
        return False


def quiet_malformed_requests() -> None:
    """Install :class:`MalformedRequests` on aiohttp's server logger (once)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server_log.filters):
        server_log.addFilter(MalformedRequests())


# --------------------------------------------------------------------------- listener


class Slot:
    """One accepted connection's place under the cap; released exactly once."""

    __slots__ = ("listener",)

    def __init__(self, listener: Listener) -> None:
        self.listener: Listener | None = listener

    def release(self) -> None:
        listener = self.listener
        if listener is not None:
            self.listener = None
            listener.active -= 1


class Listener:
    """Accepts on a listening socket, holding at most ``max_connections`` open at once.

    ``factory(slot)`` makes the protocol of each connection; the protocol calls
    ``slot.release()`` from ``connection_lost`` (a connection whose TLS
    handshake fails never reaches the protocol, and is released here).
    """

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[Slot], asyncio.BaseProtocol],
        *,
        name: str,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float | None = None,
    ) -> None:
        self.sock = sock
        self.factory = factory
        self.name = name
        self.max_connections = max_connections
        self.ssl_context = ssl_context
        self.handshake_timeout = handshake_timeout if ssl_context is not None else None
        self.active = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.reports = RateLimitedLog(log)
        self._retry = ACCEPT_RETRY_MIN
        self._retry_handle: asyncio.TimerHandle | None = None
        self._reading = False
        self._closed = False
        self._starting: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        self._resume()

    def close(self) -> None:
        """Stop accepting and close the listening socket; open connections are left alone."""
        if self._closed:
            return
        self._closed = True
        self._pause()
        if self._retry_handle is not None:
            self._retry_handle.cancel()
            self._retry_handle = None
        for task in list(self._starting):
            task.cancel()
        self.sock.close()

    # ----------------------------------------------------------- accepting

    def _resume(self) -> None:
        self._retry_handle = None
        if not self._closed and not self._reading and self.loop is not None:
            self.loop.add_reader(self.sock.fileno(), self._accept)
            self._reading = True

    def _pause(self) -> None:
        if self._reading and self.loop is not None:
            self.loop.remove_reader(self.sock.fileno())
            self._reading = False

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the client gave up while in the backlog
                continue
            except OSError as exc:
                self._accept_failed(exc)
                return
            self._retry = ACCEPT_RETRY_MIN
            if self.active >= self.max_connections:
                conn.close()
                self.reports.warning(
                    "limit",
                    f"{self.name}: {self.active} connections open, the limit: "
                    "closing new connections at once",
                )
                continue
            self.active += 1
            slot = Slot(self)
            assert self.loop is not None
            task = self.loop.create_task(self._serve(conn, slot))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    def _accept_failed(self, exc: OSError) -> None:
        if exc.errno in _EXHAUSTED:
            self.reports.warning(
                "exhausted",
                f"{self.name}: cannot accept connections: {exc.strerror or exc} "
                f"({self.active} open on this listener); retrying in {self._retry:g}s",
            )
        else:
            self.reports.warning("error", f"{self.name}: accept() failed: {exc}")
        self._pause()
        assert self.loop is not None
        self._retry_handle = self.loop.call_later(self._retry, self._resume)
        self._retry = min(self._retry * 2, ACCEPT_RETRY_MAX)

    async def _serve(self, conn: socket.socket, slot: Slot) -> None:
        """Make the transport (after the TLS handshake, if any) and the protocol."""
        assert self.loop is not None
        try:
            await self.loop.connect_accepted_socket(
                lambda: self.factory(slot),
                conn,
                ssl=self.ssl_context,
                ssl_handshake_timeout=self.handshake_timeout,
            )
        except (OSError, asyncio.CancelledError) as exc:  # SSLError, TimeoutError included
            # failed or timed-out handshake, or shutdown: the protocol never saw it
            slot.release()
            with contextlib.suppress(OSError):
                conn.close()
            if isinstance(exc, asyncio.CancelledError):
                raise


# ------------------------------------------------------------------------ the API's


class ApiProtocol(asyncio.Protocol):
    """An aiohttp connection with Go's ``ReadHeaderTimeout`` in front of it.

    aiohttp's server has no header timeout: its only timer is
    ``keepalive_timeout``, which the sandbox sets to kube-apiserver's
    ``IdleTimeout`` (90 s) and which closes a connection that has not
    completed a request by then. This adds kube-apiserver's
    ``ReadHeaderTimeout`` (32 s): from the connection's start, and from the
    first byte after the connection was idle, a request head must be complete
    within ``header_timeout`` or the connection is closed, without an answer,
    as Go closes it. A head is complete when aiohttp's parser has produced a
    message for it (``RequestHandler._request_count``); the connection is idle
    when aiohttp waits for the next message (``_waiter`` pending,
    ``_messages`` empty). Should a later aiohttp lose those attributes, the
    header timeout is off (``header_timeout`` 0, see :func:`api_protocol_factory`)
    and the idle timeout alone bounds a slow head.
    """

    __slots__ = ("count", "inner", "slot", "timeout", "timer", "transport")

    def __init__(self, inner: Any, slot: Slot, header_timeout: float) -> None:
        self.inner = inner
        self.slot = slot
        self.timeout = header_timeout
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.inner.connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._disarm()
        try:
            self.inner.connection_lost(exc)
        finally:
            self.slot.release()

    def data_received(self, data: bytes) -> None:
        inner = self.inner
        if self.timer is None and self.timeout and self._idle():
            self._arm()  # the first byte of the next request
        inner.data_received(data)
        if self.timer is not None and inner._request_count != self.count:
            self._disarm()  # the head is complete

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def _idle(self) -> bool:
        inner = self.inner
        waiter = inner._waiter
        return waiter is not None and not waiter.done() and not inner._messages

    def _arm(self) -> None:
        if not self.timeout or self.transport is None:
            return
        self.count = self.inner._request_count
        self.timer = asyncio.get_running_loop().call_later(self.timeout, self._expired)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self) -> None:
        self.timer = None
        if self.transport is not None and self.inner._request_count == self.count:
            log.debug("API: closing a connection whose request head took over %gs", self.timeout)
            self.transport.close()


def api_protocol_factory(
    server: Callable[[], Any], limits: Limits
) -> Callable[[Slot], ApiProtocol]:
    """The :class:`Listener` factory for aiohttp's ``runner.server``."""
    from aiohttp.web_protocol import RequestHandler

    quiet_malformed_requests()

    timeout = limits.header_timeout
    if not all(hasattr(RequestHandler, a) for a in ("_request_count", "_waiter", "_messages")):
        log.warning("this aiohttp has no request counter: the API has no header timeout")
        timeout = 0.0

    def factory(slot: Slot) -> ApiProtocol:
        return ApiProtocol(server(), slot, timeout)

    return factory
