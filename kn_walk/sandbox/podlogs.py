"""``GET /api/v1/namespaces/{ns}/pods/{name}/log``: what ``kubectl logs`` reads.

kube-apiserver decodes and validates ``PodLogOptions`` and picks the container;
the kubelet then streams the container's log. In the sandbox the kubelet's part
is a file: the output of a Revision's process (:meth:`RevisionPods.log_file`),
from where the Pod's current run (or, with ``previous``, the run before) begins.
Errors are Status objects with kube-apiserver's messages (options, container)
and the kubelet's (relayed as 400s). ``follow`` polls the file until the client
goes away, the Pod is deleted or the sandbox stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple

from aiohttp import web

from kn_walk.sandbox import apierrors as E
from kn_walk.sandbox.registry import ResourceType
from kn_walk.sandbox.resources import (
    Resources,
    rkey,
)
from kn_walk.sandbox.store import Obj

#: how often a ``follow`` stream looks for new output in the log file
LOG_POLL_INTERVAL = 0.1
_LOG_CHUNK = 64 * 1024
_GO_INT = re.compile(r"[+-]?[0-9]+")
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


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _query_bool(request: web.Request, name: str) -> bool:
    """apimachinery's rule: absent, ``0`` and ``false`` (any case) are false, all else true."""
    raw = request.query.get(name)
    return raw is not None and raw != "0" and raw.lower() != "false"


def _query_int64(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not _GO_INT.fullmatch(raw):
        raise E.bad_request(f"strconv.ParseInt: parsing {_go_quote(raw)}: invalid syntax")
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise E.bad_request(f"strconv.ParseInt: parsing {_go_quote(raw)}: value out of range")
    return value


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
            f'parsing time {_go_quote(raw)} as "2006-01-02T15:04:05Z07:00": not an RFC 3339 time'
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
        # field.Error prints "<field>: <message>", an empty field too (": Forbidden: ...")
        texts = [f"{f}: {m}" for f, _, m in errors]
        text = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        causes = [{"reason": r, "message": m, **({"field": f} if f else {})} for f, r, m in errors]
        raise E.StatusError(
            422,
            "Invalid",
            f'PodLogOptions "{name}" is invalid: {text}',
            {"name": name, "kind": "PodLogOptions", "causes": causes},
        )
    return opts


def _container_names(pod: Obj, key: str) -> list[str]:
    items = (pod.get("spec") or {}).get(key) or []
    return [str(c["name"]) for c in items if isinstance(c, dict) and c.get("name")]


def _log_container(pod: Obj, name: str, requested: str) -> str:
    """The container to read, chosen and checked as kube-apiserver's validateContainer does."""
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
    every run of a Revision's process), and the byte range of its previous run."""

    path: Path
    start: int = 0
    previous: tuple[int, int] | None = None


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
        container = _log_container(pod, name, opts.container)
        cs = _container_status(pod, container)
        restarted = bool(cs.get("restartCount") or ((cs.get("lastState") or {}).get("terminated")))
        if opts.previous and not restarted:
            raise E.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        source = log_file(namespace, name) if log_file is not None else None
        if source is None:  # a Pod the sandbox does not run (made with kubectl, say)
            raise _not_started(container, name, cs)
        if opts.previous and source.previous is None:
            raise E.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        path = source.path
        warnings: list[str] = []
        if opts.timestamps:
            # The file holds the process's bytes only, no time for each line (the kubelet
            # has the container runtime's). Stamping lines with a time read now, or the
            # file's mtime, would be made up: the lines are shown as they are.
            warnings.append("the sandbox records no time for each log line: none are shown")
        since: float | None = None
        if opts.since_seconds is not None:
            since = time.time() - opts.since_seconds
        elif opts.since_time is not None:
            since = opts.since_time.timestamp()
        reader = _LogReader(path)
        end = 0
        if reader.open():
            assert reader.file is not None
            st = os.fstat(reader.file.fileno())
            end = st.st_size
            # this run's output (or, with previous, the run before it): the file holds
            # every run of the Revision's process, one after the other
            start = source.start if source.start <= end else 0
            if opts.previous and source.previous is not None:
                start, end = (min(offset, end) for offset in source.previous)
            if since is not None:
                # No per-line times either: a file last written before ``since`` has no
                # line since then; otherwise every line is shown, older ones included.
                if st.st_mtime < since:
                    start = end
                elif end:
                    warnings.append(
                        "the sandbox records no time for each log line: "
                        "lines written before the time asked for are shown too"
                    )
            if opts.tail_lines is not None:
                start = max(start, _tail_start(reader.file, end, opts.tail_lines))
            reader.pos = start
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

        try:
            if reader.file is not None:  # what is there now
                while reader.pos < end:
                    data = reader.read(min(_LOG_CHUNK, end - reader.pos))
                    if not data or not await send(data):
                        return resp
            if not opts.follow or opts.previous:
                return resp
            while True:
                data = reader.follow(_LOG_CHUNK)
                if data:
                    if not await send(data):
                        return resp
                    continue
                transport = request.transport
                if (
                    closing.is_set()  # the sandbox stops
                    or not gone.queue.empty()  # the Pod was deleted (or the store closed)
                    or transport is None
                    or transport.is_closing()  # the client went away
                ):
                    return resp
                await asyncio.sleep(LOG_POLL_INTERVAL)
        except ConnectionError:  # the client went away mid-write: nothing to answer
            return resp
    finally:
        res.store.unsubscribe(gone)
        if reader is not None:
            reader.close()
