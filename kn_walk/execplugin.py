"""Credential plugins (a kubeconfig user's ``exec``), run within the command's deadline.

The kubernetes library runs a credential plugin and waits for it without a
timeout, reading all it prints: a plugin that never exits (waiting for input,
a network that does not answer) hangs every command, whatever its
``--wait-timeout``/``--timeout``. knwalk runs the plugin itself instead, the way
client-go does (``KUBERNETES_EXEC_INFO``, the kubeconfig's ``env`` on top of
knwalk's, a relative command resolved from the kubeconfig's directory), with a
deadline: at it the plugin and what it started are killed and the error names
the plugin and the time it had. What it prints is bounded too. The library
then gets the credential, never the ``exec`` entry.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kn_walk.errors import KnwalkError

#: the bound on a plugin when the command has no timeout of its own
DEFAULT_TIMEOUT = 60.0
#: what a plugin may print (an ExecCredential with a certificate is a few KiB)
MAX_OUTPUT = 1 << 20
#: a credential expiring within this is fetched again (the library's skew, client-go's)
EXPIRY_SKEW = datetime.timedelta(minutes=5)

#: the auth-provider names the kubernetes library serves itself, before a token or exec
_LIBRARY_PROVIDERS = ("gcp", "oidc")


@dataclass(frozen=True)
class Credential:
    """What a plugin's ExecCredential status gave: a token, or a client certificate and key."""

    token: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    expires: datetime.datetime | None = None

    def expired(self) -> bool:
        if self.expires is None:
            return False
        return self.expires - EXPIRY_SKEW <= datetime.datetime.now(datetime.UTC)

    def user_entry(self, user: dict[str, Any]) -> dict[str, Any]:
        """The kubeconfig user entry with the credential in place of ``exec``."""
        entry = {k: v for k, v in user.items() if k != "exec"}
        if self.token is not None:
            entry["token"] = self.token
        else:
            for key in ("client-certificate", "client-key"):
                entry.pop(key, None)
            entry["client-certificate-data"] = _b64(self.client_certificate or "")
            entry["client-key-data"] = _b64(self.client_key or "")
        return entry


@dataclass(frozen=True)
class Budget:
    """The deadline (``time.monotonic()``) a plugin runs within, and how to name it."""

    deadline: float
    seconds: float
    option: str

    @classmethod
    def of(cls, seconds: float | None, option: str) -> Budget:
        if seconds is None:
            return cls(time.monotonic() + DEFAULT_TIMEOUT, DEFAULT_TIMEOUT, "")
        return cls(time.monotonic() + seconds, seconds, option)

    def shown(self) -> str:
        if self.option:
            return f"the {self.seconds:g}s of {self.option}"
        return f"{self.seconds:g}s (knwalk's bound on a credential plugin)"


def plugin_of(user: dict[str, Any]) -> dict[str, Any] | None:
    """The user's ``exec`` entry when it is what gives the credential, else None.

    The library's order: a gcp/oidc auth-provider, then a token or tokenFile,
    then exec; the first two stay the library's.
    """
    plugin = user.get("exec")
    if not isinstance(plugin, dict):
        return None
    provider = user.get("auth-provider")
    if isinstance(provider, dict) and provider.get("name") in _LIBRARY_PROVIDERS:
        return None
    if user.get("token") or user.get("tokenFile"):
        return None
    return plugin


def run(
    plugin: dict[str, Any],
    *,
    context: str,
    base: Path | None,
    cluster: dict[str, Any] | None,
    budget: Budget,
) -> Credential:
    """Run the plugin within ``budget``; its credential, or a one-line :class:`KnwalkError`."""
    where = f"the credential plugin of context {context!r}"
    command = plugin.get("command")
    api_version = plugin.get("apiVersion")
    for key, value in (("command", command), ("apiVersion", api_version)):
        if not isinstance(value, str) or not value:
            raise KnwalkError(f"{where} is incomplete: it has no {key}", _install_hint(plugin))
    assert isinstance(command, str) and isinstance(api_version, str)
    args = [command, *(str(a) for a in plugin.get("args") or [])]
    interactive = plugin.get("interactiveMode") != "Never" and _stdin_is_terminal()
    env = dict(os.environ)
    for item in plugin.get("env") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            env[item["name"]] = str(item.get("value", ""))
    spec: dict[str, Any] = {"interactive": interactive}
    if plugin.get("provideClusterInfo") and cluster is not None:
        spec["cluster"] = cluster
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": spec}
    )
    try:
        proc = subprocess.Popen(
            args,
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # an interactive plugin talks to the user on stderr, as kubectl lets it
            stderr=None if interactive else subprocess.PIPE,
            cwd=base,
            env=env,
            # its own process group, so that the deadline ends what it started too;
            # an interactive one stays in the terminal's foreground group
            start_new_session=not interactive,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise KnwalkError(
            f"{where} could not be run: {command}: {reason}", _install_hint(plugin)
        ) from None
    try:
        out, err, code = _collect(proc, budget.deadline)
    except _TimedOut:
        raise KnwalkError(
            f"{where} ({command}) did not finish within {budget.shown()}; it was stopped",
            "run it by hand to see where it waits (knwalk gives it no input unless the "
            "terminal can answer)"
            + (f", or allow more time with {budget.option}" if budget.option else ""),
        ) from None
    except _TooMuch:
        raise KnwalkError(
            f"{where} ({command}) printed more than {MAX_OUTPUT // 1024} KiB; it was stopped",
            "it must print one client.authentication.k8s.io ExecCredential as JSON on stdout",
        ) from None
    finally:
        _stop(proc, interactive)
    if code != 0:
        said = _first_line(err.decode("utf-8", "replace")) if err.strip() else ""
        raise KnwalkError(
            f"{where} failed: {command} exited with code {code}" + (f": {said}" if said else ""),
            "run it by hand to see why, or fetch fresh credentials "
            "(for GKE: `knwalk cluster get-credentials`)",
        )
    return _credential(out, api_version, where=f"{where} ({command})")


def _credential(out: bytes, api_version: str, *, where: str) -> Credential:
    printed = "it must print a client.authentication.k8s.io ExecCredential as JSON on stdout"
    try:
        data = json.loads(out)
    except ValueError as exc:
        raise KnwalkError(
            f"{where} did not print an ExecCredential: failed to decode its output: {exc}",
            printed + "; run it by hand to see what it prints",
        ) from None
    if not isinstance(data, dict):
        raise KnwalkError(f"{where} did not print an ExecCredential: not a JSON object", printed)
    for key in ("apiVersion", "kind", "status"):
        if key not in data:
            raise KnwalkError(
                f"{where} did not print an ExecCredential: it has no {key!r}", printed
            )
    if data["kind"] != "ExecCredential":
        raise KnwalkError(
            f"{where} did not print an ExecCredential: kind {_shown(data['kind'])}", printed
        )
    if data["apiVersion"] != api_version:
        raise KnwalkError(
            f"{where} did not print an ExecCredential: plugin api version "
            f"{_shown(data['apiVersion'])} does not match {api_version}",
            f"it must answer in the apiVersion the kubeconfig asks for ({api_version})",
        )
    status = data["status"]
    status = status if isinstance(status, dict) else {}
    expires = _expiry(status.get("expirationTimestamp"), where)
    token = status.get("token")
    if isinstance(token, str) and token:
        return Credential(token=token, expires=expires)
    cert, secret = status.get("clientCertificateData"), status.get("clientKeyData")
    if isinstance(cert, str) and cert and isinstance(secret, str) and secret:
        return Credential(client_certificate=cert, client_key=secret, expires=expires)
    missing = (
        "clientKeyData" if isinstance(cert, str) and cert else "token or clientCertificateData"
    )
    raise KnwalkError(
        f"{where} printed an ExecCredential without credentials: missing {missing}",
        "its status needs a token, or clientCertificateData and clientKeyData",
    )


def _expiry(value: object, where: str) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        stamp = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise KnwalkError(
            f"{where} printed an ExecCredential whose expirationTimestamp "
            f"{_shown(value)} is not an RFC 3339 time",
            "write it as e.g. 2030-01-02T15:04:05Z",
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.UTC)


class _TimedOut(Exception):
    pass


class _TooMuch(Exception):
    pass


def _collect(proc: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes, int]:
    """Read the plugin's stdout and stderr until both end, then its exit code; bounded."""
    chunks: dict[int, list[bytes]] = {}
    total = 0
    with selectors.DefaultSelector() as sel:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                sel.register(pipe.fileno(), selectors.EVENT_READ)
                chunks[pipe.fileno()] = []
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise _TimedOut
            for key, _ in sel.select(left):
                fd = int(key.fd)
                data = os.read(fd, 65536)
                if not data:
                    sel.unregister(fd)
                    continue
                total += len(data)
                if total > MAX_OUTPUT:
                    raise _TooMuch
                chunks[fd].append(data)
    try:
        code = proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise _TimedOut from None

    def text(pipe: Any) -> bytes:
        return b"".join(chunks.get(pipe.fileno(), [])) if pipe is not None else b""

    return text(proc.stdout), text(proc.stderr), code


def _stop(proc: subprocess.Popen[bytes], interactive: bool) -> None:
    """Kill what is left of the plugin (its process group unless interactive) and reap it."""
    if proc.poll() is None or not interactive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if interactive:
                proc.kill()
            else:
                # the group outlives its leader when the plugin started others
                os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _install_hint(plugin: dict[str, Any]) -> str:
    install = plugin.get("installHint")
    if isinstance(install, str) and install.strip():
        return " ".join(install.split())
    return (
        "install the plugin, or fix users[].user.exec in the kubeconfig (kubectl config view); "
        "for GKE: gke-gcloud-auth-plugin"
    )


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def _shown(value: object) -> str:
    return re.sub(r"\s+", " ", json.dumps(value, default=str))[:80]
