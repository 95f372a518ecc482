"""Start, find, stop and reset the sandbox process from the CLI side.

One state dir, one server: the server holds an exclusive ``flock`` on
``sandbox.lock`` in its state dir for its whole life, taken before it writes
anything else there. Whoever holds the lock owns the dir; ``up`` decides by the
lock, never by whether the API answers, and a server that holds it without
answering is "running, not answering" (busy, out of file descriptors, stopped
with SIGSTOP) — never a reason to start a second one. ``up`` takes the lock
itself and hands it to the server it starts (an inherited descriptor), so no
other ``up`` can slip in between.

Light imports only (no aiohttp): this runs in the ``knwalk`` process.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import http.client
import json
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kn_walk import kubeconfig
from kn_walk.errors import KnwalkError, UsageError

CONTEXT = "knwalk-sandbox"
STATE_FILE = "sandbox.json"
TOKEN_FILE = "token"
STDERR_FILE = "sandbox.stderr"
CA_FILE = "ca.crt"
LOCK_FILE = "sandbox.lock"
DB_FILE = "state.db"
LOG_FILE = "sandbox.log"
#: the private kubeconfig ``knwalk tour`` keeps in the state dir and connects through
TOUR_KUBECONFIG = "kubeconfig"
#: the ports the last server of the state dir listened on: the next one takes them again
PORTS_FILE = "ports.json"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
#: after SIGKILL, how long the lock may stay held before stop gives up
KILL_TIMEOUT = 5.0
#: one /version request: longer than this, and the sandbox is "not answering"
PROBE_TIMEOUT = 2.0
#: how long ``up`` keeps asking a sandbox that does not answer before saying so
ANSWER_PATIENCE = 4.0
#: the server's exit status when another server holds the state dir
EXIT_LOCKED = 3

#: every entry a sandbox (and the tour) keeps in its state dir; reset deletes only these,
#: and a directory holding anything else is not taken as a state dir
STATE_ENTRIES = frozenset(
    {
        STATE_FILE,
        TOKEN_FILE,
        STDERR_FILE,
        CA_FILE,
        LOCK_FILE,
        "server.crt",
        "server.key",
        DB_FILE,
        f"{DB_FILE}-wal",
        f"{DB_FILE}-shm",
        f"{DB_FILE}-journal",
        LOG_FILE,
        "workloads",
        TOUR_KUBECONFIG,
        PORTS_FILE,
    }
)


def known_entry(name: str) -> bool:
    """Whether a sandbox (or the tour) writes ``name`` in its state dir: one of
    :data:`STATE_ENTRIES`, or a temporary file ``.{entry}.*.tmp`` left while one is written."""
    if name in STATE_ENTRIES:
        return True
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    return any(name[1:].startswith(entry + ".") for entry in STATE_ENTRIES)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(base) / "knwalk" / "sandbox"


def check_state_dir(state_dir: Path) -> None:
    """Refuse (UsageError) a ``--state-dir`` that is not a directory, or that holds anything a
    sandbox does not write: ``--state-dir ~`` must never become a state dir, nor be deleted."""
    try:
        names = [entry.name for entry in os.scandir(state_dir)]
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise UsageError(
            f"--state-dir {state_dir} is not a directory",
            "give a new or empty directory, or the state dir of a sandbox",
        ) from None
    foreign = sorted(name for name in names if not known_entry(name))
    if foreign:
        held = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise UsageError(
            f"--state-dir {state_dir} does not look like a sandbox state dir (it holds {held}); "
            "knwalk leaves it alone",
            "give a new or empty directory, or the state dir of a sandbox "
            "(knwalk sandbox status shows the default one)",
        )


# --------------------------------------------------------------------------- the lock


def try_lock(state_dir: Path) -> int | None:
    """Take the state dir's lock without waiting: the descriptor holding it (keep it open as
    long as you own the dir), or None when another process holds it."""
    path = state_dir / LOCK_FILE
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # reset unlinks the lock file while it holds it: a lock on that file locks nothing
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)
    raise KnwalkError(f"{path} keeps being replaced", "is another knwalk resetting this state dir?")


def write_holder(fd: int, pid: int) -> None:
    """Record in the lock file (held through ``fd``) which process holds it."""
    data = f"{pid}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def lock_holder(state_dir: Path) -> tuple[bool, int | None]:
    """Whether a process holds the state dir's lock, and its pid once it has written it."""
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            data = os.pread(fd, 32, 0)
        else:
            return False, None  # nobody holds it (closing the descriptor lets go of ours)
    finally:
        os.close(fd)
    text = data.decode(errors="replace").strip()
    return True, int(text) if text.isdigit() and int(text) > 1 else None


# --------------------------------------------------------------------------- ports

#: the listeners whose ports a state dir remembers, as named in PORTS_FILE
LISTENERS = ("api", "gateway", "local-gateway")


def read_ports(state_dir: Path) -> dict[str, int]:
    """The port each listener of the state dir's last server had (PORTS_FILE); a listener
    with no port remembered, or a file that cannot be read, gives none."""
    try:
        data = json.loads((state_dir / PORTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        name: port
        for name in LISTENERS
        if type(port := data.get(name)) is int and 0 < port <= 65535
    }


@dataclass(frozen=True)
class PortMove:
    """A listener that could not have its remembered port again: someone else has it."""

    listener: str  # one of LISTENERS
    was: int
    port: int

    def message(self) -> str:
        """What ``up`` says of it: where the listener is now, and what to do about it."""
        if self.listener == "gateway":
            return (
                f"port {self.was} was taken; the gateway now listens on {self.port}: "
                "re-export INGRESS_PORT"
            )
        if self.listener == "local-gateway":
            return (
                f"port {self.was} was taken; the cluster-local gateway "
                f"(istio-system/knative-local-gateway) now listens on {self.port}"
            )
        return (
            f"port {self.was} was taken; the API now listens on {self.port}: "
            f"the {CONTEXT} context points there"
        )


def _moves(data: object) -> tuple[PortMove, ...]:
    moves = []
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, dict) and entry.get("listener") in LISTENERS:
            moves.append(PortMove(str(entry["listener"]), int(entry["was"]), int(entry["port"])))
    return tuple(moves)


# --------------------------------------------------------------------------- finding it


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    api: str
    gateway: str
    api_port: int
    gateway_port: int
    state_dir: Path
    domain: str
    #: the listeners that found their remembered port taken when this server started
    moved: tuple[PortMove, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "api": self.api,
            "gateway": self.gateway,
            "context": CONTEXT,
            "state_dir": str(self.state_dir),
            "domain": self.domain,
        }


#: stopped: nothing holds the state dir; starting: a process holds it but serves no API
#: yet (or no longer: it is stopping); running: it answers; not answering: it served, and
#: now does not answer within PROBE_TIMEOUT
State = Literal["stopped", "starting", "running", "not answering"]


@dataclass(frozen=True)
class Found:
    """What holds a state dir."""

    state: State
    pid: int | None = None
    info: SandboxInfo | None = None


def read_token(state_dir: Path) -> str:
    return (state_dir / TOKEN_FILE).read_text().strip()


def ca_file(state_dir: Path) -> Path:
    return state_dir / CA_FILE


def api_get(api: str, token: str, path: str, ca: Path, timeout: float = PROBE_TIMEOUT) -> Any:
    """GET a JSON document from the sandbox API (stdlib only: keeps the CLI light)."""
    req = urllib.request.Request(
        api + path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    ctx = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
        return json.loads(resp.read())


def _read_info(state_dir: Path) -> SandboxInfo | None:
    """What ``sandbox.json`` says (written by the server once it answers)."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
        return SandboxInfo(
            pid=int(data["pid"]),
            api=str(data["api"]),
            gateway=str(data["gateway"]),
            api_port=int(data["api_port"]),
            gateway_port=int(data["gateway_port"]),
            state_dir=state_dir,
            domain=str(data.get("domain", "")),
            moved=_moves(data.get("moved")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find(state_dir: Path, timeout: float = PROBE_TIMEOUT) -> Found:
    """Who holds ``state_dir``, and whether its API answers within ``timeout``."""
    held, pid = lock_holder(state_dir)
    info = _read_info(state_dir)
    if not held:
        if _legacy_info(state_dir) is None:
            return Found("stopped")
        assert info is not None
        pid = info.pid  # a server from before the lock: found as before, by sandbox.json
    if pid is None or info is None or info.pid != pid:
        return Found("starting", pid)
    try:
        api_get(info.api, read_token(state_dir), "/version", ca_file(state_dir), timeout)
    except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException):
        return Found("not answering", pid, info)
    return Found("running", pid, info)


def running(state_dir: Path) -> SandboxInfo | None:
    """The running sandbox of this state dir, if it answers."""
    found = find(state_dir)
    return found.info if found.state == "running" else None


def not_answering(state_dir: Path, pid: int | None) -> KnwalkError:
    return KnwalkError(
        f"the sandbox of {state_dir} is running, not answering (pid {pid})",
        "it may be busy or stopped (SIGSTOP); "
        f"knwalk sandbox down --state-dir {shlex.quote(str(state_dir))} stops it",
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still "exists": look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


#: whether process ``pid`` is alive (a zombie is not), for others to ask too
pid_alive = _pid_alive


def _cmdline(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def _is_sandbox(pid: int) -> bool:
    args = _cmdline(pid)
    return args is None or b"kn_walk.sandbox.server" in args


def _legacy_info(state_dir: Path) -> SandboxInfo | None:
    """The server ``sandbox.json`` names, if it runs on ``state_dir`` without holding the
    lock: one started by a knwalk from before the lock, still running after an upgrade.
    (Only meaningful when nothing holds the lock.)"""
    info = _read_info(state_dir)
    if info is None or not _pid_alive(info.pid):
        return None
    args = _cmdline(info.pid)
    if args is None or b"kn_walk.sandbox.server" not in args:
        return None
    with contextlib.suppress(ValueError, IndexError):
        given = Path(os.fsdecode(args[args.index(b"--state-dir") + 1]))
        if given.absolute() == state_dir.absolute():
            return info
    return None


# --------------------------------------------------------------------------- up


def _check_port(value: int | None, name: str) -> None:
    if value is not None and not 0 <= value <= 65535:
        raise UsageError(
            f"{name} must be a port number from 0 to 65535, got {value}",
            f"omit {name} to pick a free port",
        )


def _check_faults(path: Path) -> Path:
    """Read and check the rules now: a bad file is a usage error, not a failed start."""
    from kn_walk.sandbox.apiserver.faults import load_rules

    try:
        load_rules(path)
    except ValueError as exc:
        raise UsageError(
            f"--faults {path}: {exc}",
            "give a JSON or YAML list of fault rules (see kn_walk/sandbox/apiserver/faults.py)",
        ) from None
    return path.absolute()


def start(
    state_dir: Path,
    *,
    api_port: int | None = None,
    gateway_port: int | None = None,
    domain: str | None = None,
    stable_window: float | None = None,
    scale_to_zero_grace: float | None = None,
    faults: Path | None = None,
) -> tuple[SandboxInfo, bool]:
    """Start the sandbox in the background; returns (info, started). Already running → (info, False).

    Many ``start`` calls at once on one state dir start one server; each returns it.
    """
    _check_port(api_port, "--api-port")
    _check_port(gateway_port, "--gateway-port")
    if domain is not None and domain and not _valid_domain(domain):
        raise UsageError(f"--domain {domain!r} is not a DNS domain", "use a name like example.com")
    if faults is not None:
        faults = _check_faults(faults)
    check_state_dir(state_dir)
    cmd = [sys.executable, "-m", "kn_walk.sandbox.server", "--state-dir", str(state_dir)]
    if api_port:
        cmd += ["--api-port", str(api_port)]
    if gateway_port:
        cmd += ["--gateway-port", str(gateway_port)]
    if domain is not None:
        cmd += ["--domain", domain]
    if stable_window is not None:
        cmd += ["--stable-window", str(stable_window)]
    if scale_to_zero_grace is not None:
        cmd += ["--scale-to-zero-grace", str(scale_to_zero_grace)]
    if faults is not None:
        cmd += ["--faults", str(faults)]
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        kubeconfig.private_dirs(state_dir)  # again after a reset that raced us removed it
        os.chmod(state_dir, 0o700)
        fd = try_lock(state_dir)
        if fd is not None and _legacy_info(state_dir) is not None:
            os.close(fd)  # it serves without the lock: found below, not started again
            fd = None
        if fd is not None:
            try:
                proc = _spawn(state_dir, fd, cmd)
            finally:
                os.close(fd)  # the server holds the lock now, through its copy
            return _wait_started(state_dir, proc, deadline), True
        info = _wait_for_holder(state_dir, deadline)
        if info is not None:
            return info, False
        if time.monotonic() >= deadline:  # holders that keep coming and going
            raise KnwalkError(
                f"could not start the sandbox of {state_dir}: other processes kept taking it",
                "try again in a moment",
            )
        # the holder exited without serving: take its place


def _spawn(state_dir: Path, lock_fd: int, cmd: list[str]) -> subprocess.Popen[bytes]:
    """Start the server with the lock held through ``lock_fd`` (the caller's, inherited)."""
    os.ftruncate(lock_fd, 0)  # no pid yet: "starting"
    with contextlib.suppress(FileNotFoundError):
        (state_dir / STATE_FILE).unlink()
    err_path = state_dir / STDERR_FILE
    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as err:
        proc = subprocess.Popen(
            [*cmd, "--lock-fd", str(lock_fd)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            close_fds=True,
            pass_fds=(lock_fd,),
        )
    write_holder(lock_fd, proc.pid)
    return proc


def _wait_started(state_dir: Path, proc: subprocess.Popen[bytes], deadline: float) -> SandboxInfo:
    err_path = state_dir / STDERR_FILE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise KnwalkError(
                "the sandbox exited while starting" + (": " + " ".join(tail) if tail else ""),
                f"see {state_dir / LOG_FILE}; a port may be in use (try another --api-port)",
            )
        found = find(state_dir)
        if found.state == "running" and found.info and found.info.pid == proc.pid:
            return found.info
        time.sleep(0.02)
    proc.terminate()
    raise KnwalkError(
        f"the sandbox did not answer within {START_TIMEOUT:.0f}s", f"see {state_dir / LOG_FILE}"
    )


def _wait_for_holder(state_dir: Path, deadline: float) -> SandboxInfo | None:
    """Another process holds the state dir: its info once it answers; None if it lets go.

    A server that has served and now does not answer is reported after ANSWER_PATIENCE;
    one that is starting gets until ``deadline``.
    """
    silent_since: float | None = None
    while True:
        now = time.monotonic()
        found = find(state_dir)
        if found.state == "stopped":
            return None
        if found.state == "running":
            return found.info
        if found.state == "not answering":
            silent_since = now if silent_since is None else silent_since
            if time.monotonic() - silent_since >= ANSWER_PATIENCE:
                raise not_answering(state_dir, found.pid)
        else:
            silent_since = None
        if time.monotonic() >= deadline:
            raise KnwalkError(
                f"another process (pid {found.pid}) is starting the sandbox of {state_dir}, "
                f"and it did not answer within {START_TIMEOUT:.0f}s",
                f"see {state_dir / LOG_FILE}; knwalk sandbox down stops it",
            )
        time.sleep(0.05)


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return (
        len(domain) <= 253
        and all(
            0 < len(lb) <= 63
            and lb[0].isalnum()
            and lb[-1].isalnum()
            and all(c.isalnum() or c == "-" for c in lb)
            for lb in labels
        )
        and domain == domain.lower()
    )


def write_kubeconfig(info: SandboxInfo, path: Path) -> None:
    """Merge the knwalk-sandbox cluster/user/context into ``path`` and make it current."""
    kubeconfig.merge_entry(
        path,
        name_cluster=CONTEXT,
        cluster={
            "server": info.api,
            "certificate-authority-data": base64.b64encode(
                ca_file(info.state_dir).read_bytes()
            ).decode(),
        },
        name_user=CONTEXT,
        user={"token": read_token(info.state_dir)},
        name_context=CONTEXT,
        context={"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"},
        make_current=True,
    )


# --------------------------------------------------------------------------- down, reset


def _holder_pid(state_dir: Path) -> int | None:
    """The pid of what holds the state dir (None: nothing). One that has just taken the lock
    writes its pid at once; it is waited for, briefly."""
    deadline = time.monotonic() + KILL_TIMEOUT
    while True:
        held, pid = lock_holder(state_dir)
        if not held:
            legacy = _legacy_info(state_dir)
            return legacy.pid if legacy is not None else None
        if pid is not None:
            return pid
        if time.monotonic() >= deadline:
            raise KnwalkError(
                f"a process holds {state_dir / LOCK_FILE} but does not say which",
                "try again in a moment",
            )
        time.sleep(0.02)


def _released(state_dir: Path, pid: int, timeout: float) -> bool:
    """Wait until ``pid`` no longer holds the state dir (it exited); False on timeout."""
    deadline = time.monotonic() + timeout
    while _holder_pid(state_dir) == pid:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def stop(state_dir: Path, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the sandbox of this state dir, answering or not; returns its pid, or None if it
    was not running. SIGTERM (and SIGCONT, for a stopped one), SIGKILL after ``timeout``."""
    pid = _holder_pid(state_dir)
    if pid is None:
        return None
    if not _is_sandbox(pid):
        raise KnwalkError(
            f"pid {pid} holds {state_dir / LOCK_FILE} but is not a sandbox; not stopping it",
            f"look at process {pid} yourself",
        )
    _signal(pid, signal.SIGTERM)
    _signal(pid, signal.SIGCONT)  # a stopped process handles SIGTERM once continued
    if not _released(state_dir, pid, timeout):
        _signal(pid, signal.SIGKILL)
        if not _released(state_dir, pid, KILL_TIMEOUT):
            raise KnwalkError(
                f"the sandbox (pid {pid}) did not exit, even after SIGKILL",
                f"look at process {pid} yourself",
            )
    fd = try_lock(state_dir)
    if fd is not None:  # a server killed before it could clean up left its sandbox.json
        with contextlib.suppress(FileNotFoundError):
            (state_dir / STATE_FILE).unlink()
        os.close(fd)
    return pid


def reset(state_dir: Path, kubeconfig_path: Path | None) -> None:
    """Stop the sandbox, delete its state, and remove the kubeconfig entries that pointed at it.

    Refuses (UsageError) a directory holding anything a sandbox does not write:
    ``--state-dir ~`` must never delete a home directory.
    """
    check_state_dir(state_dir)
    if state_dir.exists():
        stop(state_dir)
        fd = try_lock(state_dir)
        if fd is None:
            raise KnwalkError(
                f"a sandbox started on {state_dir} while it was being reset",
                "run knwalk sandbox reset again",
            )
        try:
            for entry in os.scandir(state_dir):
                if entry.name == LOCK_FILE or not known_entry(entry.name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            os.unlink(state_dir / LOCK_FILE)  # last, still held: waiters see it replaced
            try:
                state_dir.rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                raise KnwalkError(
                    f"{state_dir} held other files by the time its sandbox state was deleted; "
                    "they are kept",
                    "look at what is left there",
                ) from None
        finally:
            os.close(fd)
    if kubeconfig_path is not None and kubeconfig_path.exists():
        kubeconfig.remove_entries(kubeconfig_path, cluster=CONTEXT, user=CONTEXT, context=CONTEXT)


COUNTED = (
    ("namespaces", "/api/v1/namespaces"),
    ("services.serving.knative.dev", "/apis/serving.knative.dev/v1/services"),
    ("configurations.serving.knative.dev", "/apis/serving.knative.dev/v1/configurations"),
    ("revisions.serving.knative.dev", "/apis/serving.knative.dev/v1/revisions"),
    ("routes.serving.knative.dev", "/apis/serving.knative.dev/v1/routes"),
    ("configmaps", "/api/v1/configmaps"),
)


def object_counts(info: SandboxInfo) -> dict[str, int]:
    token = read_token(info.state_dir)
    return {
        name: len(api_get(info.api, token, path, ca_file(info.state_dir)).get("items") or [])
        for name, path in COUNTED
    }
