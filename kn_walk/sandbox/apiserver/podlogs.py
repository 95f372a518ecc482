"""``GET /api/v1/namespaces/{ns}/pods/{name}/log``: what ``kubectl logs`` reads.

kube-apiserver decodes and validates ``PodLogOptions`` and picks the container;
the kubelet then streams the container's log. In the sandbox the kubelet's part
is a file: the output of a Revision's process (:meth:`RevisionPods.log_file`),
from where the Pod's current run (or, with ``previous``, the run before) begins.
Errors are Status objects with kube-apiserver's messages (options, container)
and the kubelet's (relayed as 400s). ``follow`` polls the file until the client
goes away, the Pod is deleted or the sandbox stops. The time of each line is
recorded as it appears (:class:`LogClock`), so ``timestamps`` stamps lines as the
kubelet does (``2026-12-07T09:42:39.123456789Z line``) and ``sinceTime`` /
``sinceSeconds`` keep the lines written since.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple

from aiohttp import web

from kn_walk.goformat import go_quote
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.decoding import go_int, query_flag
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import (
    Resources,
    rkey,
)
from kn_walk.sandbox.registry.store import Obj, Watcher

#: how often a ``follow`` stream looks for new output in the log file
LOG_POLL_INTERVAL = 0.1
_LOG_CHUNK = 64 * 1024
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_IMAGE_WAITING = {
    "ErrImagePull": "image can't be pulled",
    "ImagePullBackOff": "trying and failing to pull image",
}


@dataclass
class _LogOptions:
    """``PodLogOptions`` from the query, as kube-apiserver decodes them."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since_seconds: int | None = None
    since_time: datetime | None = None


def _query_bool(request: web.Request, name: str) -> bool:
    return bool(query_flag(request.query, name))


def _query_int64(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return go_int(raw)
    except ValueError as exc:
        raise E.bad_request(str(exc)) from None


def _query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw in (None, "", "null"):  # metav1.Time reads both as "not set"
        return None
    assert raw is not None
    try:
        if not _RFC3339.fullmatch(raw):
            raise ValueError(raw)
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise E.bad_request(
            f'parsing time {go_quote(raw)} as "2006-01-02T15:04:05Z07:00": not an RFC 3339 time'
        ) from exc


def _log_options(request: web.Request, name: str) -> _LogOptions:
    """Decode (400 on a malformed value) and validate (422) as kube-apiserver does."""
    opts = _LogOptions(
        container=request.query.get("container", ""),
        follow=_query_bool(request, "follow"),
        previous=_query_bool(request, "previous"),
        timestamps=_query_bool(request, "timestamps"),
        tail_lines=_query_int64(request, "tailLines"),
        limit_bytes=_query_int64(request, "limitBytes"),
        since_seconds=_query_int64(request, "sinceSeconds"),
        since_time=_query_time(request, "sinceTime"),
    )
    # insecureSkipTLSVerifyBackend concerns the apiserver's connection to the kubelet,
    # which the sandbox does not have: accepted and ignored. So is ``stream`` (stdout or
    # stderr only): its feature gate is off by default, and the sandbox's log holds both.
    # (field, cause reason, message) as ValidatePodLogOptions reports them
    errors: list[tuple[str, str, str]] = []
    if opts.tail_lines is not None and opts.tail_lines < 0:
        errors.append(
            (
                "tailLines",
                "FieldValueInvalid",
                f"Invalid value: {opts.tail_lines}: must be greater than or equal to 0",
            )
        )
    if opts.limit_bytes is not None and opts.limit_bytes < 1:
        errors.append(
            (
                "limitBytes",
                "FieldValueInvalid",
                f"Invalid value: {opts.limit_bytes}: must be greater than 0",
            )
        )
    if opts.since_seconds is not None and opts.since_time is not None:
        errors.append(
            (
                "",
                "FieldValueForbidden",
                "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
            )
        )
    elif opts.since_seconds is not None and opts.since_seconds < 1:
        errors.append(
            (
                "sinceSeconds",
                "FieldValueInvalid",
                f"Invalid value: {opts.since_seconds}: must be greater than 0",
            )
        )
    if errors:
        raise E.options_invalid("PodLogOptions", name, errors)
    return opts


def _container_names(pod: Obj, key: str) -> list[str]:
    items = (pod.get("spec") or {}).get(key) or []
    return [str(c["name"]) for c in items if isinstance(c, dict) and c.get("name")]


def pod_container(pod: Obj, name: str, requested: str) -> str:
    """The container of pod ``name`` a request names (or the pod's only one), chosen and
    checked as kube-apiserver's validateContainer does: for logs and port-forward."""
    containers = _container_names(pod, "containers")
    every = (
        _container_names(pod, "initContainers")
        + containers
        + _container_names(pod, "ephemeralContainers")
    )
    if requested:
        if requested not in every:
            raise E.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise E.bad_request(f"a container name must be specified for pod {name}")
    raise E.bad_request(
        f"a container name must be specified for pod {name}, choose one of: [{' '.join(every)}]"
    )


def _container_status(pod: Obj, container: str) -> Obj:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if isinstance(cs, dict) and cs.get("name") == container:
                return cs
    return {}


def _waiting_reason(cs: Obj) -> str:
    waiting = (cs.get("state") or {}).get("waiting")
    return str(waiting.get("reason") or "") if isinstance(waiting, dict) else ""


def _not_started(container: str, pod: str, cs: Obj) -> E.StatusError:
    """The kubelet's answer for a container with no output to show (400, as the apiserver relays it)."""
    reason = _waiting_reason(cs)
    what = f'container "{container}" in pod "{pod}" is waiting to start'
    if not reason:
        return E.bad_request(f"{what} - no logs yet")
    return E.bad_request(f"{what}: {_IMAGE_WAITING.get(reason, reason)}")


def _untimed(timestamps: bool, since: float | None, mtime: float, end: int) -> list[str]:
    """The warnings for a log with no recorded line times (written while the sandbox did
    not watch it): no stamps are made up, and a ``since`` can only go by the file's
    last write."""
    warnings = []
    if timestamps:
        warnings.append("the sandbox recorded no time for these log lines: none are shown")
    if since is not None and mtime >= since and end:
        warnings.append(
            "the sandbox recorded no time for these log lines: "
            "lines written before the time asked for are shown too"
        )
    return warnings


def _tail_start(f: BinaryIO, size: int, lines: int) -> int:
    """The offset where the last ``lines`` lines of the first ``size`` bytes begin."""
    if lines <= 0:
        return size
    end = size
    if size:
        f.seek(size - 1)
        if f.read(1) == b"\n":  # the newline ending the last line starts no line
            end = size - 1
    seen = 0
    pos = end
    while pos > 0:
        step = min(_LOG_CHUNK, pos)
        pos -= step
        f.seek(pos)
        block = f.read(step)
        i = len(block)
        while (i := block.rfind(b"\n", 0, i)) >= 0:
            seen += 1
            if seen == lines:
                return pos + i + 1
    return 0


class LogSource(NamedTuple):
    """Where a Pod's container log is: a file, from an offset on (the file is shared by
    every run of a Revision's process), the byte range of its previous run, and the
    clock that records when its lines were written."""

    path: Path
    start: int = 0
    previous: tuple[int, int] | None = None
    clock: LogClock | None = None


# ------------------------------------------------------------------- line times
# The kubelet stamps each line with the time the container runtime read it from the
# container's output. The Revision process writes straight to its log file, so the
# sandbox's LogClock watches the files of the running processes and records, in a file
# beside each (``<log>.times``), the offset where each line begins and the time it
# first saw it: within CLOCK_INTERVAL of its writing, and exactly what is there when a
# reader asks (the reader has the clock look first).

#: how often the clock looks at the log files it watches
CLOCK_INTERVAL = 0.05
_TIMES_HEADER = struct.Struct("<4sIQ")  # magic, version, inode of the log file they are for
_TIMES_MAGIC = b"knwt"
_TIMES_RECORD = struct.Struct("<QQ")  # offset where a line begins, unix time in ns
#: the most a look reads of one file (the rest waits for the next)
_CLOCK_CHUNK = 4 * 1024 * 1024


def times_path(log: Path) -> Path:
    return log.with_name(log.name + ".times")


def rfc3339_nano(ns: int) -> str:
    """The kubelet's stamp: RFC 3339 with nine fractional digits, in UTC."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    day = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{day}.{fraction:09d}Z"


@dataclass
class _Watched:
    inode: int | None = None  # of the log file the times are for; None: not seen yet
    pos: int = 0  # how far the clock has read the log
    at_line_start: bool = True  # whether a line begins at pos


class LogClock:
    """Records when each line of the watched log files appears (see above)."""

    def __init__(
        self, interval: float = CLOCK_INTERVAL, now: Callable[[], int] = time.time_ns
    ) -> None:
        self.interval = interval
        #: the time, in ns since the epoch
        self.now = now
        self._watched: dict[Path, _Watched] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, path: Path) -> None:
        """Start recording ``path``'s lines: from what is written from now on."""
        if path in self._watched:
            return
        state = _Watched()
        with contextlib.suppress(OSError):
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                state.inode, state.pos = st.st_ino, st.st_size
                if st.st_size:
                    f.seek(st.st_size - 1)
                    state.at_line_start = f.read(1) == b"\n"
            if _read_header(times_path(path)) != st.st_ino:
                _start_times(path, st.st_ino)
        self._watched[path] = state
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no event loop: readers still poll
                self._task = asyncio.get_running_loop().create_task(self._run())

    def unwatch(self, path: Path) -> None:
        """Stop watching ``path``, after recording what it holds now."""
        if path in self._watched:
            self.poll(path)
            del self._watched[path]

    async def _run(self) -> None:
        while self._watched:
            for path in list(self._watched):
                self.poll(path)
            await asyncio.sleep(self.interval)

    def poll(self, path: Path) -> None:
        """Record the lines that appeared in ``path`` since the last look."""
        state = self._watched.get(path)
        if state is None:
            return
        try:
            f = path.open("rb")
        except OSError:
            return  # not written yet
        with f:
            st = os.fstat(f.fileno())
            if st.st_ino != state.inode or st.st_size < state.pos:  # new or truncated
                state.inode, state.pos, state.at_line_start = st.st_ino, 0, True
                _start_times(path, st.st_ino)
            if st.st_size == state.pos:
                return
            f.seek(state.pos)
            data = f.read(min(st.st_size - state.pos, _CLOCK_CHUNK))
        now = self.now()
        starts = [state.pos] if state.at_line_start else []
        i = data.find(b"\n")
        while 0 <= i < len(data) - 1:
            starts.append(state.pos + i + 1)
            i = data.find(b"\n", i + 1)
        state.pos += len(data)
        state.at_line_start = data.endswith(b"\n")
        if starts:
            with contextlib.suppress(OSError):
                fd = os.open(times_path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "ab") as out:
                    out.write(b"".join(_TIMES_RECORD.pack(s, now) for s in starts))


def _read_header(path: Path) -> int | None:
    try:
        with path.open("rb") as f:
            head = f.read(_TIMES_HEADER.size)
    except OSError:
        return None
    if len(head) != _TIMES_HEADER.size:
        return None
    magic, version, inode = _TIMES_HEADER.unpack(head)
    return int(inode) if (magic, version) == (_TIMES_MAGIC, 1) else None


def _start_times(log: Path, inode: int) -> None:
    """A new, empty times file for the log file ``inode`` (0600, as the log)."""
    with contextlib.suppress(OSError):
        fd = os.open(times_path(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_TIMES_HEADER.pack(_TIMES_MAGIC, 1, inode))


class LineTimes:
    """The recorded times of a log file's lines, read as they are appended."""

    def __init__(self, log: Path, inode: int) -> None:
        self.path = times_path(log)
        self.valid = _read_header(self.path) == inode
        self._pos = _TIMES_HEADER.size
        self._times: dict[int, int] = {}
        self.first: int | None = None  # the offset of the first line with a time
        self.refresh()

    def refresh(self) -> None:
        if not self.valid:
            return
        try:
            with self.path.open("rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return
        usable = len(data) - len(data) % _TIMES_RECORD.size
        for offset, ns in _TIMES_RECORD.iter_unpack(data[:usable]):
            self._times[offset] = ns
            if self.first is None:
                self.first = offset
        self._pos += usable

    def at(self, offset: int) -> int | None:
        return self._times.get(offset)

    def __bool__(self) -> bool:
        return bool(self._times)


class _Stamper:
    """Splits log bytes into lines, drops those before ``since`` and stamps the rest, as
    the kubelet prints them; a line with no recorded time is shown as it is."""

    def __init__(self, times: LineTimes, offset: int, since_ns: int | None, stamp: bool) -> None:
        self.times = times
        self.offset = offset  # where the pending bytes begin in the file
        self.since_ns = since_ns
        self.stamp = stamp
        self.pending = b""

    def feed(self, data: bytes, *, final: bool = False) -> bytes:
        buf = self.pending + data
        out: list[bytes] = []
        pos = 0
        while (nl := buf.find(b"\n", pos)) >= 0:
            out.append(self._line(buf[pos : nl + 1], self.offset + pos))
            pos = nl + 1
        self.offset += pos
        self.pending = buf[pos:]
        if final and self.pending:
            out.append(self._line(self.pending, self.offset))
            self.offset += len(self.pending)
            self.pending = b""
        return b"".join(out)

    def _line(self, line: bytes, offset: int) -> bytes:
        ns = self.times.at(offset)
        if ns is None:
            return line
        if self.since_ns is not None and ns < self.since_ns:
            return b""
        return rfc3339_nano(ns).encode() + b" " + line if self.stamp else line


class _LogReader:
    """One log file read from an offset on, following its creation, truncation or replacement."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO | None = None
        self.pos = 0
        self._id: tuple[int, int] | None = None

    def open(self) -> bool:
        try:
            f = self.path.open("rb")
        except OSError:  # not there (yet)
            return False
        st = os.fstat(f.fileno())
        self.file, self._id, self.pos = f, (st.st_dev, st.st_ino), 0
        return True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def read(self, n: int) -> bytes:
        assert self.file is not None
        self.file.seek(self.pos)
        data = self.file.read(n)
        self.pos += len(data)
        return data

    def follow(self, n: int) -> bytes:
        """What was written since the last read, up to ``n`` bytes; b"" when nothing was."""
        if self.file is None:
            return self.read(n) if self.open() else b""
        data = self.read(n)
        if data:
            return data
        try:
            st = os.stat(self.path)
        except OSError:  # removed: a file created there later is a new one
            return b""
        if (st.st_dev, st.st_ino) != self._id:  # replaced: read the new file from its start
            self.close()
            return self.read(n) if self.open() else b""
        if st.st_size < self.pos:  # truncated: what is there now was written since
            self.pos = 0
            return self.read(n)
        return b""


def _ended(request: web.Request, closing: asyncio.Event, gone: Watcher) -> bool:
    """Whether a followed log ends: the sandbox stops, the Pod was deleted (or the store
    closed), or the client went away."""
    transport = request.transport
    return closing.is_set() or not gone.queue.empty() or transport is None or transport.is_closing()


async def pod_log(
    request: web.Request,
    rt: ResourceType,
    namespace: str,
    name: str,
    *,
    resources: Resources,
    log_file: Callable[[str, str], LogSource | None] | None,
    closing: asyncio.Event,
) -> web.StreamResponse:
    """``GET .../pods/{name}/log``: kube-apiserver's checks, then the kubelet's part.

    The sandbox's kubelet is a file: the output of the Revision's process
    (``RevisionPods.log_file``). Errors are Status objects with the messages of
    kube-apiserver (options, container) and of the kubelet (relayed as 400s).
    """
    res = resources
    opts = _log_options(request, name)
    key = rkey(rt)
    gone = res.store.subscribe(
        lambda ev: (
            ev.type == "DELETED"
            and ev.rkey == key
            and ev.namespace == namespace
            and ev.name == name
        )
    )
    reader: _LogReader | None = None
    try:
        pod = res.get(rt, namespace, name)
        container = pod_container(pod, name, opts.container)
        cs = _container_status(pod, container)
        restarted = bool(cs.get("restartCount") or ((cs.get("lastState") or {}).get("terminated")))
        if opts.previous and not restarted:
            raise E.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        source = log_file(namespace, name) if log_file is not None else None
        if source is None and "running" in (cs.get("state") or {}):
            # a container shown running that has written nothing (a ReplicaSet's or
            # ReplicationController's simulated replica): the kubelet's empty log, which
            # a follow waits on until the Pod goes
            resp = web.StreamResponse(status=200)
            resp.content_type = "text/plain"
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            while opts.follow and not opts.previous and not _ended(request, closing, gone):
                await asyncio.sleep(LOG_POLL_INTERVAL)
            return resp
        if source is None:  # a Pod the sandbox does not run (made with kubectl, say)
            raise _not_started(container, name, cs)
        if opts.previous and source.previous is None:
            raise E.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        path = source.path
        warnings: list[str] = []
        since: float | None = None
        if opts.since_seconds is not None:
            since = time.time() - opts.since_seconds
        elif opts.since_time is not None:
            since = opts.since_time.timestamp()
        reader = _LogReader(path)
        end = 0
        stamper: _Stamper | None = None
        if reader.open():
            assert reader.file is not None
            st = os.fstat(reader.file.fileno())
            end = st.st_size
            # this run's output (or, with previous, the run before it): the file holds
            # every run of the Revision's process, one after the other
            start = source.start if source.start <= end else 0
            if opts.previous and source.previous is not None:
                start, end = (min(offset, end) for offset in source.previous)
            if opts.tail_lines is not None:
                start = max(start, _tail_start(reader.file, end, opts.tail_lines))
            reader.pos = start
            if opts.timestamps or since is not None:
                if source.clock is not None:
                    source.clock.poll(path)  # the times of what is there now
                times = LineTimes(path, st.st_ino)
                if times:
                    since_ns = None if since is None else int(since * 1_000_000_000)
                    stamper = _Stamper(times, start, since_ns, opts.timestamps)
                    if start < end and (times.first is None or times.first > start):
                        warnings.append(
                            "the sandbox recorded no time for the log lines written before it "
                            "watched the log: they are shown as they are"
                        )
                else:
                    warnings.extend(_untimed(opts.timestamps, since, st.st_mtime, end))
                    if since is not None and st.st_mtime < since:
                        reader.pos = end  # a file last written before since has no line since
        elif _waiting_reason(cs) not in ("", "ContainerCreating") and not restarted:
            # no output ever, and the process is not about to start (ImageNotSupported)
            raise _not_started(container, name, cs)
        resp = web.StreamResponse(status=200)
        resp.content_type = "text/plain"
        if warnings:
            resp.headers["Warning"] = E.warning_header(warnings)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        left = opts.limit_bytes

        async def send(data: bytes) -> bool:
            """Write ``data`` within limitBytes; False once the limit is reached."""
            nonlocal left
            if left is not None:
                data = data[:left]
                left -= len(data)
            if data:
                await resp.write(data)
            return left is None or left > 0

        def shown(data: bytes, *, final: bool = False) -> bytes:
            """``data`` (read just now) as it is shown: stamped and filtered by time."""
            nonlocal stamper
            if stamper is None:
                return data
            at = reader.pos - len(data)
            if at != stamper.offset + len(stamper.pending):  # the file was replaced
                inode = os.fstat(reader.file.fileno()).st_ino if reader.file else 0
                stamper = _Stamper(LineTimes(path, inode), at, stamper.since_ns, stamper.stamp)
            if source.clock is not None:
                source.clock.poll(path)  # the lines read have their times now
            stamper.times.refresh()
            return stamper.feed(data, final=final)

        try:
            if reader.file is not None:  # what is there now
                while reader.pos < end:
                    data = reader.read(min(_LOG_CHUNK, end - reader.pos))
                    last = not data or reader.pos >= end
                    out = shown(data, final=last and (not opts.follow or opts.previous))
                    if (out and not await send(out)) or not data:
                        return resp
            if not opts.follow or opts.previous:
                return resp
            while True:
                data = reader.follow(_LOG_CHUNK)
                if data:
                    out = shown(data)
                    if out and not await send(out):
                        return resp
                    continue
                if _ended(request, closing, gone):
                    return resp
                await asyncio.sleep(LOG_POLL_INTERVAL)
        except ConnectionError:  # the client went away mid-write: nothing to answer
            return resp
    finally:
        res.store.unsubscribe(gone)
        if reader is not None:
            reader.close()
