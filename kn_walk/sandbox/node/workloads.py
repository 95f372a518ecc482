"""One real local process per Revision: the sandbox's "pods".

The control plane hands :meth:`Workloads.sync` the full desired state (every
Revision and which of them a Route references); this module runs the
helloworld sample (:mod:`kn_walk.sandbox.node.helloworld`) for each runnable
Revision that needs it and reports what happens through ``on_status``.

Lifecycle, following Knative Serving's defaults:

* A new runnable Revision starts at once (Knative's initial scale of 1), routed
  or not, so that it can become Ready before a Route points at it.
* It is Ready when its TCP readiness probe passes (Knative's default probe).
* A process that exits on its own is restarted after an exponential backoff;
  meanwhile the Revision reports ``ready=False`` with reason
  ``CrashLoopBackOff`` and the exit code, and requests fail fast (503).
* Scale to zero: a routed Revision with no request for ``stable_window +
  scale_to_zero_grace`` seconds, or an unrouted one for ``scale_to_zero_grace``,
  has its process stopped (never while config-autoscaler's ``enable-scale-to-zero``
  is false, which brings those at zero back to one). As in Knative it stays Ready: the status is
  ``ready=True`` with reason ``NoTraffic`` and 0 replicas, which the control
  plane shows as ``Ready=True`` and ``Active=False NoTraffic``. A request
  through the gateway (:meth:`Workloads.endpoint`, the activator) starts it
  again; meanwhile it reports ``ready=True`` with reason ``Queued`` (Knative's
  ``Active=Unknown Queued``), then ``ready=True`` with an empty reason.
* A Revision at zero when the sandbox stopped (or was killed) stays at zero when
  it starts again, until a request comes, as Knative keeps a Revision at zero
  across restarts of its controllers. ``workloads.json`` records those
  Revisions (by uid); any other Revision starts, as it was running.
* A Revision whose process was ready when the sandbox stopped (or was killed)
  keeps its status when it starts again: a restart of the sandbox is a restart of
  the control plane, which leaves running Pods alone. Its process dies with the
  sandbox, though, so it starts again as a container restarts in its Pod: the
  status says ``ready=True`` with reason ``Restarting`` (the Revision shows it
  as it was) until the new process is ready. ``workloads.json`` records those
  Revisions too, with where their last run's output began in their log
  (:meth:`Workloads.previous_run`, for the Pod's ``--previous`` log).

Processes are children of the sandbox in their own session, with
``KN_WALK_PARENT_PID`` set so they exit when the sandbox dies, even by
``kill -9``. A process runs on this machine, not in a container, so its
environment is built from nothing: ``TARGET`` is the only variable of the
Service's it gets (:data:`APPLIED_ENV`), with Knative's ``PORT`` and ``K_*`` and
a fixed ``PATH``. Env that no container runtime could exec (a NUL byte, a string
over Linux's 128 KiB) fails the Revision as the runtime fails the container
(:func:`start_error`). Their pids are also recorded in ``workloads.json`` under
``state_dir`` so that the next :meth:`Workloads.start` can remove any left over.
Each Revision's output goes to ``logs/{namespace}/{name}.log`` under
``state_dir``.

All methods are called from the sandbox's event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kn_walk
from kn_walk.kubeconfig import private_dirs
from kn_walk.sandbox.node.helloworld import SHOWN_PORT_ENV

log = logging.getLogger(__name__)

#: images the sandbox can run, as said in messages
RUNNABLE_IMAGES = (
    "gcr.io/knative-samples/helloworld-go",
    "ghcr.io/knative/helloworld-go",
    "any */helloworld-go[:tag|@digest]",
)
#: the module each Revision process runs
HELLOWORLD_MODULE = "kn_walk.sandbox.node.helloworld"
#: what a sandbox from before the layer sub-packages ran: its processes are ours too
#: (a newer sandbox on the same state dir adopts or stops them)
FORMER_HELLOWORLD_MODULES = ("kn_walk.sandbox.helloworld",)
#: Knative's user port: a container's PORT when its spec names no containerPort
DEFAULT_USER_PORT = 8080
#: the pid file under state_dir
PID_FILE = "workloads.json"
#: seconds between SIGTERM and SIGKILL when stopping a process
TERMINATION_GRACE = 5.0
#: readiness probe: first and longest interval between TCP connect attempts, and its growth
PROBE_INTERVAL_MIN = 0.005
PROBE_INTERVAL_MAX = 0.1
PROBE_INTERVAL_GROWTH = 1.25
#: Knative's default revision-timeout-seconds
DEFAULT_TIMEOUT = 300.0
#: a process ready for this long resets its restart backoff
BACKOFF_RESET_AFTER = 30.0

#: the container env a Revision process gets: only what the helloworld sample reads. The
#: process runs on this machine, not in a container, so the rest of a Service's env (anyone
#: who may write a Service sets it) is never applied: LD_PRELOAD would reach the dynamic
#: loader, PYTHONHOME the interpreter. Knative's own PORT and K_* are set by the sandbox.
APPLIED_ENV = ("TARGET",)
#: PATH of a Revision process: fixed, neither the Service's nor the sandbox's own
PROCESS_PATH = "/usr/bin:/bin"
#: Linux's limit on one environment string, "NAME=VALUE" and its NUL (MAX_ARG_STRLEN)
MAX_ENV_STRING = 32 * 4096
#: Linux's limit on a process's arguments and environment together: a quarter of the
#: stack limit, 2 MiB with the usual 8 MiB (strings, their NULs and pointers)
MAX_ENV_TOTAL = 2 * 1024 * 1024
#: a container that cannot start: Knative reports the runtime's exit code 128 (StartError)
START_ERROR_REASON = "ExitCode128"
#: what a Pod's annotation says of the env that is set but not applied
ENV_NOT_APPLIED_NOTE = (
    "set in the spec but not applied: the sandbox runs the sample as a process on this "
    "machine and gives it only TARGET (and Knative's PORT, K_SERVICE, K_CONFIGURATION, "
    "K_REVISION)"
)

NO_TRAFFIC_MESSAGE = "The target is not receiving traffic."
#: the reason of a ready Revision whose process starts again after the sandbox restarted
RESTARTING = "Restarting"
RESTARTING_MESSAGE = "The sandbox restarted: the container is restarting."
QUEUED_MESSAGE = "Requests to the target are being buffered as resources are provisioned."

_IMAGE = re.compile(
    r"^(?:[^/@]+/)+helloworld-go"  # any registry/path ending in /helloworld-go
    r"(?::[\w][\w.-]{0,127})?"  # :tag
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"  # @digest
)
_REVISION_SUFFIX = re.compile(r"-\d{5}$")


def runnable(image: str) -> bool:
    """Whether the sandbox can run ``image``: the helloworld-go sample, from anywhere."""
    return bool(_IMAGE.match(image.strip()))


def unsupported_message(image: str) -> str:
    return (
        f'The sandbox cannot run image "{image}": it runs only the helloworld-go sample '
        f"({', '.join(RUNNABLE_IMAGES)}). Use a real cluster for other images."
    )


_SURROGATES = re.compile(r"[\ud800-\udfff]")


def go_string(value: str) -> str:
    """``value`` as Go's JSON decoder (so a cluster) reads it: a lone surrogate, which JSON
    allows as ``\\ud800`` but UTF-8 cannot hold, becomes U+FFFD."""
    return _SURROGATES.sub("\ufffd", value)


def env_not_applied(env: object) -> list[str]:
    """The names in a container's ``env`` that the sandbox does not give its process."""
    names = {
        str(e["name"])
        for e in (env if isinstance(env, list) else [])
        if isinstance(e, dict)
        and e.get("name")
        and (e.get("name") not in APPLIED_ENV or "valueFrom" in e)
    }
    return sorted(names)


def start_error(env: Sequence[tuple[str, str]]) -> str | None:
    """Why a container runtime could not start a container with ``env``, or None.

    The whole env counts, applied or not: on a cluster every variable reaches execve.
    runc refuses a NUL byte (its message); Linux refuses a string over 128 KiB, or more
    than :data:`MAX_ENV_TOTAL` in all, with E2BIG.
    """
    total = 0
    for name, value in env:
        if "\0" in name or "\0" in value:
            return f"invalid environment variable {json.dumps(name)}: contains nul byte (\\x00)"
        size = len(go_string(f"{name}={value}").encode()) + 1
        if size > MAX_ENV_STRING:
            return (
                f"exec: argument list too long: environment variable {json.dumps(name)} "
                f"is {size} bytes, Linux allows {MAX_ENV_STRING} per variable"
            )
        total += size + 8  # the string and its pointer
    if total > MAX_ENV_TOTAL:
        return (
            f"exec: argument list too long: the environment is {total} bytes, "
            f"Linux allows {MAX_ENV_TOTAL} with an 8 MiB stack"
        )
    return None


@dataclass(frozen=True)
class RevisionWorkload:
    """What the control plane knows about one Revision."""

    namespace: str
    name: str
    uid: str
    image: str
    #: container env (name, value); valueFrom entries are skipped by the caller
    env: tuple[tuple[str, str], ...]
    #: spec.containers[0].ports[0].containerPort if set. Informational: every process
    #: gets its own free port on 127.0.0.1 in PORT, as there is no network namespace;
    #: its log line names this one (or DEFAULT_USER_PORT), as the Pod shows.
    container_port: int | None
    #: spec.timeoutSeconds: the gateway's request timeout
    timeout_seconds: int
    #: labels serving.knative.dev/configuration and /service, for K_CONFIGURATION and
    #: K_SERVICE; when empty, the configuration is the name without its -00001 suffix
    configuration: str = ""
    service: str = ""


@dataclass(frozen=True)
class RuntimeStatus:
    ready: bool | None  # None = not yet known (Unknown condition)
    reason: str
    message: str
    actual_replicas: int
    desired_replicas: int


@dataclass(frozen=True)
class PreviousRun:
    """The run of a Revision's process that the previous sandbox had ready."""

    #: where its output began in the Revision's log file
    log_start: int
    #: when that sandbox stopped (Unix time), None if it was killed
    stopped: float | None


@dataclass(frozen=True)
class Endpoint:
    """Where a ready Revision's process answers, and the gateway's timeout for it."""

    host: str
    port: int
    timeout: float


class NotReady(Exception):
    """The activator cannot get a ready process for a Revision."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _is_our_child(pid: int, start_time: int | None) -> bool:
    """Whether ``pid`` is still the helloworld process that was recorded."""
    if pid <= 1:
        return False
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        if start_time is not None and _proc_start_time(pid) != start_time:
            return False  # the pid was reused
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        args = cmdline.split(b"\0")
        return any(m.encode() in args for m in (HELLOWORLD_MODULE, *FORMER_HELLOWORLD_MODULES))
    if sys.platform == "linux":
        return False
    try:  # no /proc: trust the record if the pid exists
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _exit_description(code: int) -> tuple[int, str]:
    """Kubernetes-style exit code (128+signal for a signal) and a description."""
    if code < 0:
        signum = -code
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return 128 + signum, f"exit code {128 + signum} ({name})"
    return code, f"exit code {code}"


def _refusal(spec: RevisionWorkload) -> RuntimeStatus | None:
    """The status of a Revision that can never run, or None."""
    if not runnable(spec.image):
        return RuntimeStatus(False, "ImageNotSupported", unsupported_message(spec.image), 0, 0)
    error = start_error(spec.env)
    if error is not None:
        return RuntimeStatus(False, START_ERROR_REASON, f"Container failed with: {error}", 0, 1)
    return None


class _Revision:
    """The sandbox's state of one Revision."""

    def __init__(self, spec: RevisionWorkload) -> None:
        self.spec = spec
        self.key = (spec.namespace, spec.name)
        #: why it can never run (the image, or env no runtime could exec), or None
        self.refusal = _refusal(spec)
        self.runnable = self.refusal is None
        self.routed = False
        #: desired scale: 1 while it should run, 0 when scaled to zero
        self.want_running = False
        self.removed = False
        self.proc: asyncio.subprocess.Process | None = None
        self.endpoint: Endpoint | None = None
        self.ever_ready = False
        self.ready_since = 0.0
        self.inflight = 0
        self.last_active = time.monotonic()
        self.unrouted_since = time.monotonic()
        #: consecutive crashes, and when the next start may happen while crashing
        self.crashes = 0
        self.crashing = False
        self.crash_message = ""
        self.supervisor: asyncio.Task[None] | None = None
        #: its process was ready under the previous sandbox and starts again: the status
        #: stays ready (RESTARTING) until the new one is
        self.restarting = False
        #: where the current process's output began in the log file
        self.log_start = 0
        self.changed = asyncio.Event()
        self.status: RuntimeStatus | None = None

    def notify(self) -> None:
        """Wake whoever waits for a change of this Revision's state."""
        event = self.changed
        self.changed = asyncio.Event()
        event.set()


class Workloads:
    """Runs, probes, restarts and scales the Revision processes."""

    def __init__(
        self,
        state_dir: str,
        on_status: Callable[[str, str, RuntimeStatus], None],
        *,
        stable_window: float = 60.0,
        scale_to_zero_grace: float = 30.0,
        restart_backoff: float = 1.0,
        restart_backoff_max: float = 60.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.on_status = on_status
        self.stable_window = stable_window
        self.scale_to_zero_grace = scale_to_zero_grace
        #: config-autoscaler's enable-scale-to-zero (:meth:`set_scale_to_zero`)
        self.scale_to_zero = True
        self.restart_backoff = restart_backoff
        self.restart_backoff_max = restart_backoff_max
        self._revs: dict[tuple[str, str], _Revision] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._wake_reaper = asyncio.Event()
        self._stopping = False
        self._retired: set[asyncio.Task[None]] = set()
        #: (namespace, name, uid) of the Revisions the previous sandbox left at zero, until
        #: the first sync has seen them
        self._at_zero_before: set[tuple[str, str, str]] = set()
        #: the Revisions at zero when stop() began: what its own pid file writes record
        self._at_zero_on_stop: list[dict[str, str]] | None = None
        #: (namespace, name, uid) -> the run the previous sandbox had ready, for each such
        #: Revision; _ready_before holds those the first sync has not seen yet
        self._previous_runs: dict[tuple[str, str, str], PreviousRun] = {}
        self._ready_before: set[tuple[str, str, str]] = set()
        #: the Revisions with a ready process when stop() began
        self._ready_on_stop: list[dict[str, object]] | None = None
        self._pythonpath = str(Path(kn_walk.__file__).resolve().parent.parent)

    # ----------------------------------------------------------------- public API

    async def start(self) -> None:
        """Remove processes a previous sandbox left behind, then start the idle reaper."""
        private_dirs(self.state_dir)
        self._at_zero_before = _recorded_at_zero(self.state_dir)
        self._previous_runs = _recorded_ready(self.state_dir)
        self._ready_before = set(self._previous_runs)
        await self._clean_orphans()
        self._write_pid_file()
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def stop(self) -> None:
        """Stop every process; nothing is left running."""
        self._at_zero_on_stop = self._at_zero()  # not those it stops: they were running
        self._ready_on_stop = self._ready()
        self._stopping = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        revs = list(self._revs.values())
        self._revs.clear()
        for rev in revs:
            rev.removed = True
            rev.want_running = False
            rev.notify()
        tasks = [rev.supervisor for rev in revs if rev.supervisor is not None]
        tasks.extend(self._retired)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._write_pid_file(stopped=time.time())

    def sync(
        self, revisions: Sequence[RevisionWorkload], routed: Collection[tuple[str, str]]
    ) -> None:
        """Make the processes match the desired state and report each Revision's status."""
        routed_set = set(routed)
        now = time.monotonic()
        seen: set[tuple[str, str]] = set()
        for spec in revisions:
            key = (spec.namespace, spec.name)
            seen.add(key)
            rev = self._revs.get(key)
            if rev is not None and rev.spec != spec:
                self._remove(rev)  # a new Revision under an old name: start over
                rev = None
            is_routed = key in routed_set
            if rev is None:
                rev = _Revision(spec)
                rev.routed = is_routed
                self._revs[key] = rev
                if rev.refusal is not None:
                    self._report(rev, rev.refusal)
                    continue
                if not self._kept_at_zero(rev):
                    self._restarts(rev)
                    self._scale_up(rev)
                continue
            if rev.routed and not is_routed:
                rev.unrouted_since = now
            rev.routed = is_routed
        for key in [k for k in self._revs if k not in seen]:
            self._remove(self._revs[key])
        self._at_zero_before.clear()  # the first sync saw every Revision there is
        self._ready_before.clear()
        self._wake_reaper.set()

    async def endpoint(self, namespace: str, name: str, timeout: float) -> tuple[str, int]:
        """The activator: a ready process for the Revision, started if scaled to zero."""
        ep = await self.activate(namespace, name, timeout)
        return ep.host, ep.port

    async def activate(self, namespace: str, name: str, timeout: float) -> Endpoint:
        """Like :meth:`endpoint`, returning the :class:`Endpoint` with its timeout."""
        rev = self._revs.get((namespace, name))
        if rev is None:
            raise NotReady("RevisionMissing", f'revision "{namespace}/{name}" is not known')
        if rev.refusal is not None:
            raise NotReady(rev.refusal.reason, rev.refusal.message)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        rev.last_active = time.monotonic()
        while True:
            if rev.endpoint is not None and rev.want_running:
                return rev.endpoint
            if rev.removed or self._stopping:
                raise NotReady("RevisionMissing", f'revision "{namespace}/{name}" was removed')
            if rev.crashing:
                raise NotReady("CrashLoopBackOff", rev.crash_message)
            if not rev.want_running:
                self._scale_up(rev)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NotReady(
                    "Timeout", f'revision "{namespace}/{name}" did not become ready in {timeout:g}s'
                )
            changed = rev.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def acquire(self, namespace: str, name: str) -> Endpoint | None:
        """The gateway's fast path: the ready endpoint, counted as one request in flight."""
        rev = self._revs.get((namespace, name))
        if rev is None or rev.endpoint is None or not rev.want_running:
            return None
        rev.inflight += 1
        rev.last_active = time.monotonic()
        return rev.endpoint

    def release(self, namespace: str, name: str) -> None:
        """A request counted by :meth:`acquire` has finished."""
        rev = self._revs.get((namespace, name))
        if rev is not None:
            rev.inflight = max(0, rev.inflight - 1)
            rev.last_active = time.monotonic()

    def request_timeout(self, namespace: str, name: str) -> float:
        """The Revision's timeoutSeconds (Knative's default, 300, if it is unknown)."""
        rev = self._revs.get((namespace, name))
        return float(rev.spec.timeout_seconds) if rev is not None else DEFAULT_TIMEOUT

    def touch(self, namespace: str, name: str) -> None:
        """A request went to the Revision: restart its scale-to-zero clock."""
        rev = self._revs.get((namespace, name))
        if rev is not None:
            rev.last_active = time.monotonic()

    def set_windows(self, stable_window: float, scale_to_zero_grace: float) -> None:
        self.stable_window = stable_window
        self.scale_to_zero_grace = scale_to_zero_grace
        self._wake_reaper.set()

    def set_scale_to_zero(self, enabled: bool) -> None:
        """config-autoscaler's ``enable-scale-to-zero``. Off, no Revision scales to zero and
        those at zero come back to one, as the KPA then never wants fewer than one Pod."""
        if enabled == self.scale_to_zero:
            return
        self.scale_to_zero = enabled
        if not enabled:
            for rev in list(self._revs.values()):
                if not rev.want_running:
                    self._scale_up(rev)
        self._wake_reaper.set()

    def status(self, namespace: str, name: str) -> RuntimeStatus | None:
        """The last status reported for the Revision."""
        rev = self._revs.get((namespace, name))
        return rev.status if rev is not None else None

    def restored(self, namespace: str, name: str, uid: str) -> RuntimeStatus | None:
        """The status a Revision the previous sandbox left at zero, or with a ready process,
        will report when the first sync sees it; None for any other (or after that sync).
        The control plane reads it for Revisions it reconciles before that sync."""
        entry = (namespace, name, uid)
        if not uid:
            return None
        if entry in self._at_zero_before:
            return RuntimeStatus(True, "NoTraffic", NO_TRAFFIC_MESSAGE, 0, 0)
        if entry in self._ready_before:
            return RuntimeStatus(True, RESTARTING, RESTARTING_MESSAGE, 1, 1)
        return None

    def previous_run(self, namespace: str, name: str, uid: str) -> PreviousRun | None:
        """The run of the Revision's process the previous sandbox had ready, if it had one:
        this sandbox's process for it is a restart of that one."""
        return self._previous_runs.get((namespace, name, uid)) if uid else None

    def pids(self) -> dict[tuple[str, str], int]:
        """The pid of each running process, by (namespace, name)."""
        return {
            key: rev.proc.pid
            for key, rev in self._revs.items()
            if rev.proc is not None and rev.proc.returncode is None
        }

    def log_path(self, namespace: str, name: str) -> Path:
        """Where the Revision's process writes its output."""
        return self.state_dir / "logs" / namespace / f"{name}.log"

    # ------------------------------------------------------------ status reports

    def _report(self, rev: _Revision, status: RuntimeStatus) -> None:
        if rev.removed or status == rev.status:
            return
        rev.status = status
        self._emit(rev, status)

    def _emit(self, rev: _Revision, status: RuntimeStatus) -> None:
        try:
            self.on_status(rev.spec.namespace, rev.spec.name, status)
        except Exception:
            log.exception("on_status failed for %s/%s", rev.spec.namespace, rev.spec.name)

    # ------------------------------------------------------------------- scaling

    def _scale_up(self, rev: _Revision) -> None:
        if rev.removed or self._stopping or not rev.runnable:
            return
        rev.want_running = True
        rev.last_active = time.monotonic()
        if rev.endpoint is not None:  # scaled down a moment ago, but still running
            self._report(rev, RuntimeStatus(True, "", "", 1, 1))
        elif rev.restarting:
            self._report(rev, RuntimeStatus(True, RESTARTING, RESTARTING_MESSAGE, 1, 1))
        elif rev.ever_ready:
            self._report(rev, RuntimeStatus(True, "Queued", QUEUED_MESSAGE, 0, 1))
        else:
            self._report(rev, RuntimeStatus(None, "Deploying", "", 0, 1))
        if rev.supervisor is None or rev.supervisor.done():
            rev.supervisor = asyncio.get_running_loop().create_task(self._supervise(rev))
        rev.notify()

    def _kept_at_zero(self, rev: _Revision) -> bool:
        """A new Revision the previous sandbox left at zero stays there (Ready, NoTraffic)
        until a request comes; False for any other, which starts."""
        entry = (rev.spec.namespace, rev.spec.name, rev.spec.uid)
        if not rev.spec.uid or entry not in self._at_zero_before:
            return False
        self._at_zero_before.discard(entry)
        if not self.scale_to_zero:
            return False  # the KPA brings it back to one
        rev.ever_ready = True  # it served before: activation reports Queued, not Deploying
        self._report(rev, RuntimeStatus(True, "NoTraffic", NO_TRAFFIC_MESSAGE, 0, 0))
        return True

    def _restarts(self, rev: _Revision) -> None:
        """A new Revision whose process the previous sandbox had ready starts again as a
        container restarts: its status stays ready (RESTARTING) until the process is."""
        entry = (rev.spec.namespace, rev.spec.name, rev.spec.uid)
        if rev.spec.uid and entry in self._ready_before:
            self._ready_before.discard(entry)
            rev.ever_ready = True
            rev.restarting = True
            rev.log_start = self._previous_runs[entry].log_start  # until its process starts

    def _ready(self) -> list[dict[str, object]]:
        """The Revisions with a ready process (or one restarting, see _restarts), for the
        next sandbox to restart; and those the previous one had that the first sync has not
        seen yet."""
        if self._ready_on_stop is not None:
            return self._ready_on_stop
        found = {
            (rev.spec.namespace, rev.spec.name, rev.spec.uid): rev.log_start
            for rev in self._revs.values()
            if (rev.endpoint is not None or rev.restarting)
            and rev.want_running
            and not rev.removed
            and rev.spec.uid
        }
        for entry in self._ready_before:
            found.setdefault(entry, self._previous_runs[entry].log_start)
        return [
            {"revision": f"{ns}/{name}", "uid": uid, "log": found[(ns, name, uid)]}
            for ns, name, uid in sorted(found)
        ]

    def _at_zero(self) -> list[dict[str, str]]:
        """The Revisions at zero, with no process, for the next sandbox to keep there; and
        those the previous one left at zero that the first sync has not seen yet."""
        if self._at_zero_on_stop is not None:
            return self._at_zero_on_stop
        found = {
            (rev.spec.namespace, rev.spec.name, rev.spec.uid)
            for rev in self._revs.values()
            if rev.runnable
            and rev.ever_ready
            and not rev.want_running
            and not rev.removed
            and rev.proc is None
            and rev.spec.uid
        }
        return [
            {"revision": f"{ns}/{name}", "uid": uid}
            for ns, name, uid in sorted(found | self._at_zero_before)
        ]

    def _scale_down(self, rev: _Revision) -> None:
        rev.want_running = False
        rev.notify()
        self._wake_reaper.set()

    def _remove(self, rev: _Revision) -> None:
        rev.removed = True
        rev.want_running = False
        self._revs.pop(rev.key, None)
        rev.notify()
        task = rev.supervisor
        if task is not None and not task.done():
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)

    def _idle_deadline(self, rev: _Revision) -> float:
        if rev.routed:
            return rev.last_active + self.stable_window + self.scale_to_zero_grace
        return max(rev.last_active, rev.unrouted_since) + self.scale_to_zero_grace

    async def _reap(self) -> None:
        """Scale to zero the Revisions that have been idle long enough."""
        while True:
            now = time.monotonic()
            next_deadline = float("inf")
            for rev in list(self._revs.values()):
                if not rev.want_running or rev.endpoint is None or not self.scale_to_zero:
                    continue
                if rev.inflight:  # look again later: release() does not wake the reaper
                    next_deadline = min(next_deadline, now + self.scale_to_zero_grace)
                    continue
                deadline = self._idle_deadline(rev)
                if deadline <= now:
                    self._scale_down(rev)
                else:
                    next_deadline = min(next_deadline, deadline)
            self._wake_reaper.clear()
            # a process becoming ready also wakes the reaper (via _wake_reaper)
            timeout = None if next_deadline == float("inf") else max(0.0, next_deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_reaper.wait(), timeout)

    # ------------------------------------------------------------- supervision

    async def _supervise(self, rev: _Revision) -> None:
        """Run the Revision's process while it is wanted: start, probe, restart, stop."""
        try:
            while self._wanted(rev):
                proc, port = await self._spawn(rev)
                exited: asyncio.Future[int] = asyncio.ensure_future(proc.wait())
                deliberate = False
                try:
                    if await self._wait_ready(rev, port, exited):
                        self._became_ready(rev, port)
                        while not exited.done() and self._wanted(rev):
                            await _exit_or_change(exited, rev.changed, None)
                finally:
                    rev.endpoint = None
                    rev.restarting = False
                    if not exited.done():
                        deliberate = True
                        await self._terminate(proc, exited)
                    code = await exited
                    rev.proc = None
                    self._write_pid_file()
                    rev.notify()
                if not deliberate:
                    await self._crashed(rev, code)
                    continue
                rev.crashes = 0
                rev.crashing = False
                if not rev.want_running and not rev.removed:
                    if rev.ever_ready:
                        self._report(
                            rev, RuntimeStatus(True, "NoTraffic", NO_TRAFFIC_MESSAGE, 0, 0)
                        )
                    else:  # stopped before it was ever ready
                        self._report(rev, RuntimeStatus(None, "Deploying", "", 0, 0))
        except Exception:
            log.exception("supervising %s/%s failed", *rev.key)
            rev.want_running = False
            rev.notify()
            self._report(rev, RuntimeStatus(False, "InternalError", "the sandbox failed", 0, 0))

    def _wanted(self, rev: _Revision) -> bool:
        return rev.want_running and not rev.removed and not self._stopping

    async def _spawn(self, rev: _Revision) -> tuple[asyncio.subprocess.Process, int]:
        spec = rev.spec
        port = _free_port()
        configuration = spec.configuration or _REVISION_SUFFIX.sub("", spec.name)
        # built from nothing: of the Service's env only what the sample reads (APPLIED_ENV),
        # nothing of the sandbox's own environment
        env = {name: go_string(value) for name, value in spec.env if name in APPLIED_ENV}
        env.update(
            {
                "PATH": PROCESS_PATH,
                "PORT": str(port),
                "K_REVISION": spec.name,
                "K_CONFIGURATION": configuration,
                "PYTHONPATH": self._pythonpath,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUTF8": "1",
                "KN_WALK_PARENT_PID": str(os.getpid()),
                # the port the Pod shows (the process listens on PORT): for its log line
                SHOWN_PORT_ENV: str(spec.container_port or DEFAULT_USER_PORT),
            }
        )
        if spec.service:
            env["K_SERVICE"] = spec.service
        elif not spec.configuration:
            env["K_SERVICE"] = configuration
        log_path = self.log_path(*rev.key)
        private_dirs(log_path.parent)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        rev.log_start = os.fstat(fd).st_size
        with os.fdopen(fd, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-S",
                "-m",
                HELLOWORLD_MODULE,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                cwd=str(self.state_dir),
            )
        rev.proc = proc
        self._write_pid_file()
        return proc, port

    async def _wait_ready(self, rev: _Revision, port: int, exited: asyncio.Future[int]) -> bool:
        """TCP readiness probe until it passes (True), or the process exits or is unwanted."""
        loop = asyncio.get_running_loop()
        interval = PROBE_INTERVAL_MIN
        while self._wanted(rev) and not exited.done():
            try:
                transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            except OSError:
                pass
            else:
                transport.close()
                return True
            await _exit_or_change(exited, rev.changed, interval)
            interval = min(interval * PROBE_INTERVAL_GROWTH, PROBE_INTERVAL_MAX)
        return False

    def _became_ready(self, rev: _Revision, port: int) -> None:
        now = time.monotonic()
        rev.endpoint = Endpoint("127.0.0.1", port, float(rev.spec.timeout_seconds))
        rev.restarting = False
        rev.ever_ready = True
        rev.crashing = False
        rev.ready_since = now
        rev.last_active = max(rev.last_active, now)
        self._report(rev, RuntimeStatus(True, "", "", 1, 1))
        self._write_pid_file()  # a killed sandbox's successor restarts it (see _restarts)
        rev.notify()
        self._wake_reaper.set()

    async def _crashed(self, rev: _Revision, code: int) -> None:
        """The process exited on its own: report it and wait out the backoff."""
        if rev.ready_since and time.monotonic() - rev.ready_since >= BACKOFF_RESET_AFTER:
            rev.crashes = 0
        rev.ready_since = 0.0
        rev.crashes += 1
        delay = min(self.restart_backoff * 2 ** (rev.crashes - 1), self.restart_backoff_max)
        _, description = _exit_description(code)
        # a process that exited by itself may have said why; one killed by a signal did not
        last = self._last_log_line(rev) if code >= 0 else ""
        detail = f": {last}" if last else ""
        rev.crash_message = (
            f"Container failed with {description}{detail}; "
            f"restarting in {delay:g}s (restart {rev.crashes})"
        )
        rev.crashing = True
        self._report(rev, RuntimeStatus(False, "CrashLoopBackOff", rev.crash_message, 0, 1))
        rev.notify()
        loop = asyncio.get_running_loop()
        until = loop.time() + delay
        while rev.want_running and not rev.removed and not self._stopping:
            remaining = until - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rev.changed.wait(), remaining)

    async def _terminate(
        self, proc: asyncio.subprocess.Process, exited: asyncio.Future[int]
    ) -> None:
        """SIGTERM, then SIGKILL after the grace period."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        done, _ = await asyncio.wait({exited}, timeout=TERMINATION_GRACE)
        if not done:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await exited

    def _last_log_line(self, rev: _Revision) -> str:
        try:
            with self.log_path(*rev.key).open("rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 4096))
                tail = f.read().decode(errors="replace")
        except OSError:
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""

    # ----------------------------------------------------------------- pid file

    def _write_pid_file(self, stopped: float | None = None) -> None:
        children: list[dict[str, object]] = []
        for rev in self._revs.values():
            proc = rev.proc
            if proc is not None and proc.returncode is None:
                children.append(
                    {
                        "pid": proc.pid,
                        "start_time": _proc_start_time(proc.pid),
                        "revision": f"{rev.spec.namespace}/{rev.spec.name}",
                    }
                )
        write_pid_file(self.state_dir, children, self._at_zero(), self._ready(), stopped)

    async def _clean_orphans(self) -> None:
        """Stop the helloworld processes recorded by a sandbox that did not stop them."""
        path = self.state_dir / PID_FILE
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        children = record.get("children", []) if isinstance(record, dict) else []
        orphans: list[int] = []
        for child in children:
            if not isinstance(child, dict):
                continue
            pid = child.get("pid")
            start = child.get("start_time")
            if not isinstance(pid, int) or pid == os.getpid():
                continue
            if _is_our_child(pid, start if isinstance(start, int) else None):
                orphans.append(pid)
        for pid in orphans:
            log.info("stopping orphaned revision process %d", pid)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        results = await asyncio.gather(*(_wait_exit(pid, TERMINATION_GRACE) for pid in orphans))
        for pid, gone in zip(orphans, results, strict=True):
            if not gone:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


async def _exit_or_change(
    exited: asyncio.Future[int], changed: asyncio.Event, timeout: float | None
) -> None:
    """Wait until the process exits, ``changed`` is set, or ``timeout`` passes."""
    waiter: asyncio.Future[Any] = asyncio.ensure_future(changed.wait())
    try:
        waiters: list[asyncio.Future[Any]] = [exited, waiter]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` (not our child) has exited; False on timeout.

    Uses a pidfd where the platform has one, else polls.
    """
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        deadline = loop.time() + timeout
        while _pid_alive(pid):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True
    try:
        readable: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, on_readable)
        try:
            await asyncio.wait_for(readable, timeout)
        except TimeoutError:
            return not _pid_alive(pid)
        finally:
            loop.remove_reader(fd)
        return True
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        pass
    else:
        return stat[stat.rfind(")") + 2 :].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _read_record(state_dir: Path) -> dict[str, Any]:
    """What ``workloads.json`` holds ({} when it cannot be read)."""
    try:
        record = json.loads((state_dir / PID_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _recorded(record: dict[str, Any], kind: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The Revisions a record lists under ``kind`` ("at_zero", "ready"):
    (namespace, name, uid) -> the entry."""
    entries = record.get(kind)
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        revision, uid = entry.get("revision"), entry.get("uid")
        if isinstance(revision, str) and "/" in revision and isinstance(uid, str) and uid:
            namespace, name = revision.split("/", 1)
            found[(namespace, name, uid)] = entry
    return found


def _recorded_at_zero(state_dir: Path) -> set[tuple[str, str, str]]:
    """(namespace, name, uid) of the Revisions ``workloads.json`` records as at zero."""
    return set(_recorded(_read_record(state_dir), "at_zero"))


def _recorded_ready(state_dir: Path) -> dict[tuple[str, str, str], PreviousRun]:
    """The Revisions ``workloads.json`` records with a ready process, and their runs."""
    record = _read_record(state_dir)
    stopped = record.get("stopped")
    when = float(stopped) if isinstance(stopped, int | float) else None
    return {
        key: PreviousRun(at if type(at := entry.get("log")) is int and at >= 0 else 0, when)
        for key, entry in _recorded(record, "ready").items()
    }


def write_pid_file(
    state_dir: Path,
    children: list[dict[str, object]],
    at_zero: Sequence[dict[str, str]] = (),
    ready: Sequence[dict[str, object]] = (),
    stopped: float | None = None,
) -> None:
    """Record the running processes, the Revisions at zero and those with a ready process
    atomically (``workloads.json`` under ``state_dir``); ``stopped``: when the sandbox
    stopped, in its last write."""
    private_dirs(state_dir)
    path = state_dir / PID_FILE
    tmp = path.with_name(f".{PID_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    record: dict[str, object] = {
        "sandbox": os.getpid(),
        "children": children,
        "at_zero": list(at_zero),
        "ready": list(ready),
    }
    if stopped is not None:
        record["stopped"] = stopped
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(record))
    os.replace(tmp, path)
