"""Start, find, stop and reset the sandbox process from the CLI side.

Light imports only (no aiohttp): this runs in the ``knwalk`` process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
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
from typing import Any

from kn_walk import kubeconfig
from kn_walk.errors import KnwalkError, UsageError

CONTEXT = "knwalk-sandbox"
STATE_FILE = "sandbox.json"
TOKEN_FILE = "token"
STDERR_FILE = "sandbox.stderr"
CA_FILE = "ca.crt"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(base) / "knwalk" / "sandbox"


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    api: str
    gateway: str
    api_port: int
    gateway_port: int
    state_dir: Path
    domain: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "api": self.api,
            "gateway": self.gateway,
            "context": CONTEXT,
            "state_dir": str(self.state_dir),
            "domain": self.domain,
        }


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
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def read_token(state_dir: Path) -> str:
    return (state_dir / TOKEN_FILE).read_text().strip()


def ca_file(state_dir: Path) -> Path:
    return state_dir / CA_FILE


def api_get(api: str, token: str, path: str, ca: Path, timeout: float = 2.0) -> Any:
    """GET a JSON document from the sandbox API (stdlib only: keeps the CLI light)."""
    req = urllib.request.Request(
        api + path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    ctx = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
        return json.loads(resp.read())


def running(state_dir: Path) -> SandboxInfo | None:
    """The running sandbox of this state dir, if its process is alive and its API answers."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
        info = SandboxInfo(
            pid=int(data["pid"]),
            api=str(data["api"]),
            gateway=str(data["gateway"]),
            api_port=int(data["api_port"]),
            gateway_port=int(data["gateway_port"]),
            state_dir=state_dir,
            domain=str(data.get("domain", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_alive(info.pid):
        return None
    try:
        api_get(info.api, read_token(state_dir), "/version", ca_file(state_dir))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return info


def _check_port(value: int | None, name: str) -> None:
    if value is not None and not 0 <= value <= 65535:
        raise UsageError(
            f"{name} must be a port number from 0 to 65535, got {value}",
            f"omit {name} to pick a free port",
        )


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
    """Start the sandbox in the background; returns (info, started). Already running → (info, False)."""
    _check_port(api_port, "--api-port")
    _check_port(gateway_port, "--gateway-port")
    if domain is not None and domain and not _valid_domain(domain):
        raise UsageError(f"--domain {domain!r} is not a DNS domain", "use a name like example.com")
    existing = running(state_dir)
    if existing:
        return existing, False
    kubeconfig.private_dirs(state_dir)
    os.chmod(state_dir, 0o700)
    with contextlib.suppress(FileNotFoundError):
        (state_dir / STATE_FILE).unlink()
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
        if not faults.is_file():
            raise UsageError(
                f"--faults {faults}: no such file", "give a JSON or YAML list of fault rules"
            )
        cmd += ["--faults", str(faults.absolute())]
    err_path = state_dir / STDERR_FILE
    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as err:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise KnwalkError(
                "the sandbox exited while starting" + (": " + " ".join(tail) if tail else ""),
                f"see {state_dir / 'sandbox.log'}; a port may be in use (try another --api-port)",
            )
        info = running(state_dir)
        if info and info.pid == proc.pid:
            return info, True
        time.sleep(0.02)
    proc.terminate()
    raise KnwalkError(
        f"the sandbox did not answer within {START_TIMEOUT:.0f}s",
        f"see {state_dir / 'sandbox.log'}",
    )


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


def stop(state_dir: Path, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the sandbox of this state dir; returns its pid, or None if it was not running."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_alive(pid) or not _is_sandbox(pid):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / STATE_FILE).unlink()
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.02)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        (state_dir / STATE_FILE).unlink()
    return pid


def _is_sandbox(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"kn_walk.sandbox.server" in f.read()
    except OSError:
        return True


#: what a sandbox keeps in its state dir (and nothing else: reset deletes only such a dir)
STATE_ENTRIES = frozenset(
    {
        STATE_FILE,
        TOKEN_FILE,
        STDERR_FILE,
        CA_FILE,
        "server.crt",
        "server.key",
        "state.db",
        "state.db-wal",
        "state.db-shm",
        "state.db-journal",
        "sandbox.log",
        "workloads",
    }
)


def _foreign_entries(state_dir: Path) -> list[str]:
    """What in ``state_dir`` a sandbox did not put there (its temporary files aside)."""
    return sorted(
        p.name
        for p in state_dir.iterdir()
        if p.name not in STATE_ENTRIES and not p.name.startswith(f".{STATE_FILE}.")
    )


def reset(state_dir: Path, kubeconfig_path: Path | None) -> None:
    """Stop the sandbox, delete its state, and remove the kubeconfig entries that pointed at it.

    Refuses (UsageError) a directory holding anything a sandbox does not write:
    ``--state-dir ~`` must never delete a home directory.
    """
    if state_dir.is_dir():
        foreign = _foreign_entries(state_dir)
        if foreign:
            held = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise UsageError(
                f"{state_dir} does not look like a sandbox state dir (it holds {held}); "
                "refusing to delete it",
                "give the --state-dir of a sandbox (knwalk sandbox status shows it), "
                "or delete the directory yourself",
            )
    elif state_dir.exists():
        raise UsageError(f"{state_dir} is not a directory", "give the --state-dir of a sandbox")
    stop(state_dir)
    if state_dir.exists():
        shutil.rmtree(state_dir)
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
