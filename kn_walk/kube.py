"""Talking to a Kubernetes API: a client from kubeconfig + context, calls, watch-based waits.

:func:`connect` resolves kubeconfig, context and namespace the way kubectl does
(``--kubeconfig`` alone, else every file in ``KUBECONFIG``, else
``~/.kube/config``; ``--context`` else the current context; ``-n`` else the
context's namespace, else ``default``) and returns a :class:`Kube`.

Every call goes through :meth:`Kube.call`, which turns API failures into
:class:`~kn_walk.errors.ApiError` carrying the server's ``Status.message``
(never a traceback) and network failures into a one-line :class:`Unreachable`.
Idempotent calls (gets, lists, server-side applies, and patches that carry a
resourceVersion precondition) are retried on 429/5xx, timeouts and dropped
connections with capped exponential backoff and jitter, honouring
``Retry-After``, within an optional deadline. A create or delete that may have
reached the server (a 5xx answer, a timeout, a connection dropped after the
request left) is never sent again blindly: :meth:`Kube.create` and
:meth:`Kube.delete` read the object first and only repeat the request if it
did not happen; a 429 (not processed) is simply retried.

It is knwalk's one client: the Knative commands use its custom-object calls,
``install``/``doctor`` its calls on any :class:`Resource` found by discovery
(:meth:`Kube.resource`, :meth:`Kube.list_of`, :meth:`Kube.apply_of`, ...).

:meth:`Kube.watch` is the one wait: it lists, then watches from the list's
resourceVersion until a predicate on the objects holds or a deadline passes; a
watch that ends or breaks is resumed from the last resourceVersion seen (with
backoff when it breaks, and when the server keeps closing it at once), a
``410 Gone`` re-lists, 429/5xx answers and a server that restarts are retried as
its :class:`RetryPolicy` says (by default until the deadline). Every request is
bounded by the deadline and by :meth:`Kube.limit`. :meth:`Kube.wait_for` waits on
one object with it and raises :class:`~kn_walk.errors.WaitTimeout` saying what was
still awaited and the last error seen. :func:`retry_on_conflict` is client-go's
RetryOnConflict: a read-modify-write tried again on 409. Nothing sleeps to
synchronise.

:func:`connect` honours ``insecure-skip-tls-verify`` only as kubectl does: a
boolean, never together with a certificate authority, and it warns each time.

The module imports ``kubernetes`` at import time: import it lazily, from
inside commands.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from kn_walk import kubeconfig
from kn_walk.errors import ApiError, KnwalkError, UsageError, WaitTimeout

Obj = dict[str, Any]
Objs = list[Obj]

FIELD_MANAGER = "knwalk"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
ALL_NAMESPACES = "*"

NO_CONTEXT_HINT = (
    "start a local cluster with `knwalk sandbox up`, or fetch GKE credentials with "
    "`knwalk cluster get-credentials NAME`"
)

#: HTTP statuses worth retrying for an idempotent call
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: attempts after the first, and the backoff schedule (seconds)
MAX_RETRIES = 4
BACKOFF_BASE = 0.2
BACKOFF_CAP = 5.0
#: longest Retry-After honoured; anything longer is capped
RETRY_AFTER_CAP = 10.0
#: seconds to connect / to wait for a response on ordinary calls
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
#: a watch that the server closes sooner than this without an event counts as a failure
#: (it is resumed after a backoff, not at once, so a server closing every watch is not hammered)
WATCH_MIN_LIFETIME = 1.0
#: statuses after which a create or delete may nevertheless have happened
MAYBE_DONE_STATUSES = frozenset({500, 502, 503, 504})
#: how often :func:`retry_on_conflict` tries a read-modify-write that meets 409 Conflict
CONFLICT_ATTEMPTS = 5

_T = TypeVar("_T")


# --------------------------------------------------------------------------- connecting


@dataclass(frozen=True)
class Target:
    """Where a :class:`Kube` talks: kubeconfig files, context, namespace, server URL."""

    kubeconfig: tuple[Path, ...]
    context: str
    namespace: str
    server: str

    @property
    def kubectl_prefix(self) -> str:
        """``kubectl --context X -n NS`` (plus ``--kubeconfig`` when a single file was given)."""
        parts = ["kubectl"]
        if len(self.kubeconfig) == 1 and os.environ.get("KUBECONFIG") != str(self.kubeconfig[0]):
            default = kubeconfig.DEFAULT_PATH.expanduser()
            if self.kubeconfig[0] != default:
                parts.append(f"--kubeconfig {_shell_quote(str(self.kubeconfig[0]))}")
        parts.append(f"--context {_shell_quote(self.context)}")
        parts.append(f"-n {_shell_quote(self.namespace)}")
        return " ".join(parts)


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


#: kubeconfig files as loaded, in precedence order: (path, document)
_Configs = list[tuple[Path, dict[str, Any]]]


def _load_all(paths: list[Path], origin: str | None = None) -> _Configs:
    return [(path, kubeconfig.load(path, origin=origin)) for path in paths]


def _context_names(configs: _Configs) -> list[str]:
    names: list[str] = []
    for _, config in configs:
        for entry in config.get("contexts") or []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def resolve(
    kubeconfig_path: str | os.PathLike[str] | None = None,
    context: str | None = None,
    namespace: str | None = None,
) -> tuple[list[Path], str, str]:
    """The kubeconfig files, context and namespace kubectl would use; no network.

    Raises a one-line :class:`KnwalkError` when there is no kubeconfig, no
    current context, or the named context does not exist.
    """
    configs, context, ns = _resolve(kubeconfig_path, context, namespace)
    return [path for path, _ in configs], context, ns


def _resolve(
    kubeconfig_path: str | os.PathLike[str] | None,
    context: str | None,
    namespace: str | None,
) -> tuple[_Configs, str, str]:
    """:func:`resolve`, with the kubeconfig files as loaded (each is read once)."""
    paths = kubeconfig.read_paths(kubeconfig_path)
    if kubeconfig_path is not None and not _exists(paths[0]):
        raise UsageError(
            f"kubeconfig {paths[0]} does not exist",
            "check the --kubeconfig path, or omit it to use $KUBECONFIG or ~/.kube/config",
        )
    existing = [p for p in paths if _exists(p)]
    if not existing:
        shown = ", ".join(str(p) for p in paths)
        raise KnwalkError(f"no kubeconfig found (looked at {shown})", NO_CONTEXT_HINT)
    # the first read of each file: refused here (naming where it came from) if it is not
    # a bounded regular file, before anything else (the kubernetes library too) reads it
    origin = "--kubeconfig" if kubeconfig_path is not None else None
    if origin is None and os.environ.get("KUBECONFIG"):
        origin = "$KUBECONFIG"
    configs = _load_all(existing, origin)
    names = _context_names(configs)
    if context is None:
        context = kubeconfig.current_context_of(config for _, config in configs)
        if not context:
            raise KnwalkError(
                "the kubeconfig has no current context"
                + (f" (contexts: {', '.join(names)})" if names else ""),
                (f"pass --context NAME, or {NO_CONTEXT_HINT}" if names else NO_CONTEXT_HINT),
            )
    if context not in names:
        raise UsageError(
            f"context {context!r} not found in the kubeconfig ({', '.join(str(p) for p in existing)})",
            f"contexts: {', '.join(names)}" if names else NO_CONTEXT_HINT,
        )
    if namespace is not None and namespace != ALL_NAMESPACES:
        _check_namespace(namespace)
    ns = (
        namespace
        or kubeconfig.context_namespace_of((config for _, config in configs), context)
        or "default"
    )
    return configs, context, ns


def _exists(path: Path) -> bool:
    """``path.exists()``, but a path the system cannot even look up (too long, ...) is an error."""
    try:
        return path.exists()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        shown = str(path) if len(str(path)) <= 80 else str(path)[:77] + "..."
        raise UsageError(
            f"kubeconfig {shown}: {reason}",
            "check the --kubeconfig path or $KUBECONFIG",
        ) from None


def _check_namespace(namespace: str) -> None:
    if len(namespace) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
        raise UsageError(
            f"namespace {namespace!r} is not a valid name",
            "namespaces are lower-case letters, digits and '-', at most 63 characters",
        )


_Entry = tuple[dict[str, Any], Path | None]


@dataclass(frozen=True)
class _ContextEntries:
    """The ``cluster`` and ``user`` bodies a context names, each with the file it came from
    (first file wins, as in kubectl; relative paths in it are relative to that file's folder)."""

    cluster: _Entry
    user: _Entry


def _context_entries(configs: _Configs, context: str) -> _ContextEntries:
    def entry(section: str, name: object) -> _Entry:
        key = {"clusters": "cluster", "users": "user", "contexts": "context"}[section]
        if not isinstance(name, str) or not name:
            return {}, None
        for path, config in configs:
            for item in config.get(section) or []:
                if isinstance(item, dict) and item.get("name") == name:
                    body = item.get(key)
                    return (body if isinstance(body, dict) else {}), path
        return {}, None

    ctx, _ = entry("contexts", context)
    return _ContextEntries(entry("clusters", ctx.get("cluster")), entry("users", ctx.get("user")))


#: kubeconfig keys naming files the kubernetes library reads: checked first (bounded, regular)
_FILE_KEYS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


def check_referenced_files(paths: list[Path], context: str) -> None:
    """Refuse files the context's cluster and user name that are not small regular files.

    The kubernetes library reads them whole (``tokenFile: /dev/zero`` would
    fill memory); a missing one is left for it to report.
    """
    _check_referenced_files(_context_entries(_load_all(paths), context), context)


def _check_referenced_files(entries: _ContextEntries, context: str) -> None:
    from kn_walk import safeload

    for kind, (body, source) in (("cluster", entries.cluster), ("user", entries.user)):
        for key in _FILE_KEYS[kind]:
            value = body.get(key)
            if not isinstance(value, str) or not value:
                continue
            file = Path(value).expanduser()
            if not file.is_absolute() and source is not None:
                file = source.parent / file
            safeload.check_file(
                file,
                label=f"{key} {safeload.shown(value)} (context {context!r})",
                hint="point it at a regular file in the kubeconfig (kubectl config view)",
            )


def tls_warnings(paths: list[Path], context: str) -> list[str]:
    """Check ``insecure-skip-tls-verify`` of the context's cluster the way kubectl does.

    kubectl refuses a non-boolean value (the Python client would read the string
    ``"false"`` as *true*) and refuses it together with a certificate authority;
    a lone ``true`` is honoured, and knwalk warns about it every time.
    """
    return _tls_warnings(_context_entries(_load_all(paths), context).cluster[0], context)


def _tls_warnings(cluster: dict[str, Any], context: str) -> list[str]:
    if "insecure-skip-tls-verify" not in cluster:
        return []
    value = cluster["insecure-skip-tls-verify"]
    if not isinstance(value, bool):
        raise KnwalkError(
            f"the kubeconfig cluster of context {context!r} has insecure-skip-tls-verify: "
            f"{value!r}, which is not a boolean",
            "write insecure-skip-tls-verify: true or false (unquoted), as kubectl requires",
        )
    if not value:
        return []
    if cluster.get("certificate-authority") or cluster.get("certificate-authority-data"):
        raise KnwalkError(
            f"context {context!r}: specifying a root certificates file with the insecure flag "
            "is not allowed",
            "remove insecure-skip-tls-verify or the certificate-authority from the kubeconfig "
            "cluster (kubectl refuses this too)",
        )
    return [
        f"TLS certificate verification is disabled for context {context!r} "
        "(insecure-skip-tls-verify: true in the kubeconfig); anyone on the network path can "
        "impersonate the API server and read the credentials sent to it"
    ]


def _stderr_warning(text: str) -> None:
    # the one message the core writes itself: a security warning must not be lost
    sys.stderr.write(f"Warning: {text}\n")
    sys.stderr.flush()


def connect(
    kubeconfig_path: str | os.PathLike[str] | None = None,
    context: str | None = None,
    namespace: str | None = None,
    *,
    on_warning: Callable[[str], None] | None = None,
    timeout: float | None = None,
    timeout_option: str = "--wait-timeout",
) -> Kube:
    """A :class:`Kube` for the given (or kubectl's default) kubeconfig, context and namespace.

    Warnings about the connection (TLS verification disabled by the kubeconfig)
    go to ``on_warning``, by default to stderr. With ``timeout`` everything from
    here on, a credential plugin included, ends within it (:meth:`Kube.limit`,
    ``timeout_option`` naming it); a credential plugin is always bounded
    (:mod:`kn_walk.execplugin`).
    """
    from kn_walk import execplugin

    budget = execplugin.Budget.of(timeout, timeout_option)
    configs, ctx, ns = _resolve(kubeconfig_path, context, namespace)
    paths = [path for path, _ in configs]
    entries = _context_entries(configs, ctx)
    warnings = _tls_warnings(entries.cluster[0], ctx)
    _check_referenced_files(entries, ctx)
    user, user_file = entries.user
    plugin = execplugin.plugin_of(user)

    def credential(within: execplugin.Budget) -> execplugin.Credential:
        assert plugin is not None
        return execplugin.run(
            plugin,
            context=ctx,
            base=user_file.parent if user_file is not None else None,
            cluster=_exec_cluster_info(entries.cluster[0]),
            budget=within,
        )

    got = credential(budget) if plugin is not None else None
    try:
        configuration = k8s.Configuration()
        # retries are ours (Kube.call): urllib3's own would multiply them
        configuration.retries = False
        with library_log() as logged:
            merged = k8s_config.kube_config.KubeConfigMerger(  # type: ignore[no-untyped-call]
                os.pathsep.join(str(p) for p in paths)
            )
            if got is not None:
                _put_user(merged.config, _user_name(configs, ctx), got.user_entry(user))
            loader = k8s_config.kube_config.KubeConfigLoader(  # type: ignore[no-untyped-call]
                config_dict=merged.config, active_context=ctx, config_base_path=None
            )
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
            api_client: Any = k8s.ApiClient(configuration)
    except ConfigException as exc:
        raise KnwalkError(
            f"cannot use context {ctx!r}: {_first_line(str(exc))}",
            "check the context's cluster and user entries (kubectl config view), "
            f"or {NO_CONTEXT_HINT}",
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise KnwalkError(
            f"cannot load credentials for context {ctx!r}: {_first_line(str(exc))}",
            "an auth plugin may be missing (for GKE: gke-gcloud-auth-plugin), "
            f"or {NO_CONTEXT_HINT}",
        ) from exc
    if logged:
        api_client.close()
        raise credential_error(ctx, logged)
    if not warnings:
        # knwalk itself never turns verification off: only the checked kubeconfig flag may
        api_client.configuration.verify_ssl = True
    server = str(api_client.configuration.host)
    for text in warnings:
        (on_warning or _stderr_warning)(text)
    kube = Kube(api_client, Target(tuple(paths), ctx, ns, server), warnings=tuple(warnings))
    if timeout is not None:
        kube.limit(timeout, timeout_option, deadline=budget.deadline)
    if got is not None and got.token is not None:
        _refresh_token(kube, got, credential)
    else:
        _guard_refresh(api_client.configuration, ctx)
    return kube


def _user_name(configs: _Configs, context: str) -> str:
    for _, config in configs:
        for item in config.get("contexts") or []:
            if isinstance(item, dict) and item.get("name") == context:
                body = item.get("context")
                return str(body.get("user") or "") if isinstance(body, dict) else ""
    return ""


def _put_user(merged: Any, name: str, entry: dict[str, Any]) -> None:
    """Give the library's merged kubeconfig ``entry`` as the body of user ``name``."""
    for item in merged.value.get("users") or []:
        if item["name"] == name:
            # a new dict: the merger keeps the files' own dicts too
            item.value = {**item.value, "user": entry}
            return


def _exec_cluster_info(cluster: dict[str, Any]) -> dict[str, Any]:
    """The cluster as client-go gives it to a plugin with provideClusterInfo."""
    info: dict[str, Any] = {"server": cluster.get("server", "")}
    for key in (
        "tls-server-name",
        "insecure-skip-tls-verify",
        "certificate-authority-data",
        "proxy-url",
        "disable-compression",
    ):
        if key in cluster:
            info[key] = cluster[key]
    for extension in cluster.get("extensions") or []:
        if isinstance(extension, dict) and extension.get("name") == (
            "client.authentication.k8s.io/exec"
        ):
            info["config"] = extension.get("extension")
    return info


def _refresh_token(kube: Kube, got: Any, credential: Callable[[Any], Any]) -> None:
    """Run the plugin again when its token expires, within what is left of the command."""
    from kn_walk import execplugin

    configuration = kube.api_client.configuration
    current = [got]

    def refresh(conf: Any) -> None:
        if not current[0].expired():
            return
        left = kube.remaining()
        within = execplugin.Budget.of(left, kube.budget_option or "--wait-timeout")
        current[0] = credential(within)
        conf.api_key["BearerToken"] = f"Bearer {current[0].token}"

    configuration.refresh_api_key_hook = refresh


# --------------------------------------------------------------------------- credential plugins


class _Capture(logging.Handler):
    """What the kubernetes library logs on the root logger while it loads credentials.

    It reports a credential plugin that cannot be run, fails or prints something
    else than an ExecCredential only with ``logging.error`` (and then carries on
    without credentials, so the API answers 401). As a handler this keeps
    ``logging.error`` from configuring stderr logging (a stray ``ERROR:root:``
    line); as a filter on the root logger it keeps any other handler from
    printing the record.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - filtered first
        pass

    def filter(self, record: logging.LogRecord) -> bool:
        # only the library's own calls of logging.error (on the root logger)
        ours = record.name == "root" and "kubernetes" in Path(record.pathname).parts
        if ours and record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())
            return False
        return True


@contextlib.contextmanager
def library_log() -> Iterator[list[str]]:
    """Collect (and keep from being printed) what is logged on the root logger meanwhile."""
    root = logging.getLogger()
    capture = _Capture()
    root.addHandler(capture)
    root.addFilter(capture)
    try:
        yield capture.messages
    finally:
        root.removeFilter(capture)
        root.removeHandler(capture)


def credential_error(context: str, logged: list[str]) -> KnwalkError:
    """What the library logged about the context's credentials, as one error.

    Credential plugins are knwalk's own (:mod:`kn_walk.execplugin`); what is left
    is what the library reads itself (an auth-provider, a token file).
    """
    text = " ".join(_first_line(m) for m in logged[:1])
    return KnwalkError(
        f"cannot load the credentials of context {context!r}: {text}",
        "check the context's user entry (kubectl config view)",
    )


def _guard_refresh(configuration: Any, context: str) -> None:
    """The library loads an expired credential again: same capture, same error."""
    hook = getattr(configuration, "refresh_api_key_hook", None)
    if hook is None:
        return

    def refresh(conf: Any) -> None:
        with library_log() as logged:
            hook(conf)
        if logged:
            raise credential_error(context, logged)

    configuration.refresh_api_key_hook = refresh


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else "unknown error"


# --------------------------------------------------------------------------- errors


class Unreachable(KnwalkError):
    """A request got no answer: refused, reset, dropped or timed out.

    ``sent`` is False only when the request certainly never reached the server
    (no connection was made); otherwise it may have been processed. ``refused``:
    nobody listens there (or the name does not resolve), so retrying is pointless.
    """

    def __init__(
        self, message: str, hint: str = "", *, sent: bool = True, refused: bool = False
    ) -> None:
        super().__init__(message, hint)
        self.sent = sent
        self.refused = refused


def status_of(exc: ApiException) -> tuple[str, str]:
    """(message, reason) of the ``Status`` in an ApiException, or the best text available."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return data["message"], str(data.get("reason") or "")
        return _first_line(body)[:300], ""
    return f"{exc.status} {exc.reason or ''}".strip(), ""


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return min(RETRY_AFTER_CAP, max(0.0, seconds))


def _refused(exc: BaseException) -> bool:
    """Nobody listens (or the name does not resolve): the request never left."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return isinstance(
        exc,
        (
            urllib3.exceptions.NewConnectionError,
            urllib3.exceptions.NameResolutionError,
            ConnectionRefusedError,
        ),
    )


def _timed_out(exc: BaseException) -> bool:
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: a refusal is no timeout
    return not _refused(exc) and isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError))


def _not_sent(exc: BaseException) -> bool:
    """No connection was made, so the request cannot have reached the server."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return _refused(exc) or isinstance(exc, urllib3.exceptions.ConnectTimeoutError)


def _backoff(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Capped exponential backoff with jitter: a random share (50-100%) of base·2^attempt."""
    return float(min(cap, base * 2**attempt) * random.uniform(0.5, 1.0))


def _contains(have: object, want: object) -> bool:
    """Whether ``have`` holds everything ``want`` says (server-side defaults may add more)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and _contains(have[k], v) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(_contains(h, w) for h, w in zip(have, want, strict=True))
        )
    return have == want


def fulfils(obj: Obj, body: Obj) -> bool:
    """Whether the stored ``obj`` is what creating ``body`` would have made (defaults aside)."""
    want = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    meta = body.get("metadata") or {}
    want_meta = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    return _contains(obj, want) and _contains(obj.get("metadata") or {}, want_meta)


# --------------------------------------------------------------------------- resources and waits


@dataclass(frozen=True)
class Resource:
    """An API resource, as discovery describes it: where its objects live."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """``/apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME]`` (``/api/v1/...`` for core);
        no namespace part for cluster-scoped kinds or :data:`ALL_NAMESPACES`."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace and namespace != ALL_NAMESPACES:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        # each segment percent-encoded, as the kubernetes library's API classes do
        return f"{base}/{quote(name, safe='')}" if name else base


@dataclass(frozen=True)
class RetryPolicy:
    """What a wait (:meth:`Kube.watch`) does when its list or watch requests fail: it
    pauses (capped exponential backoff, the client's ``backoff_base``/``backoff_cap``),
    lists afresh after ``relist_after`` failures in a row, and goes on until its deadline,
    or, with ``give_up_after``, stops after that many failures in a row. knative/client's
    ``pkg/wait`` takes its retry and error-window settings the same way, as options."""

    give_up_after: int | None = None
    relist_after: int = MAX_RETRIES


#: every wait of knwalk's: a failing API server is retried until the wait's deadline
UNTIL_DEADLINE = RetryPolicy()


@dataclass(frozen=True)
class Watched:
    """How :meth:`Kube.watch` ended: ``done`` (else the deadline came), the objects last
    seen by name, whether any list worked, and the last error while the API was failing."""

    done: bool
    objects: dict[str, Obj] = field(default_factory=dict)
    listed: bool = False
    last_error: str = ""


class FieldConflicts(KnwalkError):
    """A server-side apply met fields another field manager owns: (field, manager) pairs."""

    def __init__(self, causes: list[tuple[str, str]]) -> None:
        shown = ", ".join(f"{f} (owned by {m})" for f, m in causes[:3])
        super().__init__(f"fields owned by another field manager: {shown}")
        self.causes = causes


# --------------------------------------------------------------------------- the client


class Kube:
    """One API server, context and namespace; the typed clients and error handling around them.

    The retry policy is per instance (``max_retries``, ``backoff_base``,
    ``backoff_cap``, ``read_timeout``, ``connect_timeout``; module constants by
    default); ``retries`` counts the retries made, and ``on_retry(what, error,
    delay)`` hears about each one before its pause.
    """

    def __init__(self, api_client: Any, target: Target, *, warnings: tuple[str, ...] = ()) -> None:
        self.api_client = api_client
        self.target = target
        self.warnings = warnings
        self.max_retries = MAX_RETRIES
        self.backoff_base = BACKOFF_BASE
        self.backoff_cap = BACKOFF_CAP
        self.connect_timeout = CONNECT_TIMEOUT
        self.read_timeout = READ_TIMEOUT
        self.retries = 0
        self.on_retry: Callable[[str, KnwalkError, float], None] | None = None
        #: the command's deadline (time.monotonic()), bounding every request and pause
        self.deadline: float | None = None
        self.budget_seconds = 0.0
        self.budget_option = ""
        #: whether the API server answered anything yet: once it has, a refused connection
        #: is a server that restarts, which a wait rides out, not one that is not there
        self.answered = False
        #: discovery: (apiVersion, kind) -> Resource, for those found
        self._resources: dict[tuple[str, str], Resource] = {}

    def limit(self, seconds: float, option: str, *, deadline: float | None = None) -> None:
        """Bound everything this client does from now on to ``seconds`` in all.

        Every request's timeouts, every retry pause and every wait end by then;
        a call made after it fails at once. ``option`` names where the bound
        came from (``--wait-timeout``) in the errors that say it ran out.
        ``deadline`` (a :func:`time.monotonic` value): the bound began before now.
        """
        self.deadline = time.monotonic() + seconds if deadline is None else deadline
        self.budget_seconds = seconds
        self.budget_option = option

    def remaining(self) -> float | None:
        """Seconds left before :attr:`deadline` (None: unbounded)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def _cap(self, deadline: float | None) -> float | None:
        if self.deadline is None:
            return deadline
        return self.deadline if deadline is None else min(deadline, self.deadline)

    def _budget(self) -> str:
        return f"the {self.budget_seconds:g}s of {self.budget_option}"

    def _more_time(self) -> str:
        option = self.budget_option or "--wait-timeout"
        return f"try again, or allow more time with {option}"

    # context management -------------------------------------------------------

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def namespace(self) -> str:
        return self.target.namespace

    @property
    def context(self) -> str:
        return self.target.context

    # calls ----------------------------------------------------------------------

    def _api_error(self, exc: ApiException, what: str, attempts: int = 1) -> ApiError:
        message, reason = status_of(exc)
        status = int(exc.status or 0)
        hint = ""
        if status == 401:
            hint = (
                f"the credentials of context {self.context!r} were refused; "
                "for GKE run `knwalk cluster get-credentials`, for the sandbox `knwalk sandbox up`"
            )
        elif status == 403:
            hint = f"the user of context {self.context!r} lacks permission ({what})"
        elif status == 409:
            hint = "someone else changed it meanwhile; run the command again"
        elif status in RETRY_STATUSES:
            tried = f" (answered {status} to {attempts} attempts)" if attempts > 1 else ""
            hint = f"the API server is overloaded or failing{tried}; try again in a moment"
        elif status == 422 or status == 400:
            hint = "the API server rejected the request; fix the value it names"
        return ApiError(message, hint, status=status, reason=reason)

    def _unreachable(
        self, exc: BaseException, what: str = "", timeout: float | None = None, attempts: int = 1
    ) -> Unreachable:
        reason: object = exc
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            reason = exc.reason
        text = _first_line(str(reason))
        if isinstance(exc, _TransportError):
            text = " ".join(str(exc).split())
        tried = f" ({attempts} attempts)" if attempts > 1 else ""
        if "WRONG_VERSION_NUMBER" in text:
            return Unreachable(
                f"the server at {self.target.server} does not speak TLS: {text}",
                f"check the server URL of context {self.context!r} (https:// and the port)",
                sent=False,
                refused=True,
            )
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return Unreachable(
                f"the API server at {self.target.server} presented a certificate that "
                f"does not verify: {text}",
                f"check the certificate-authority of context {self.context!r}",
                sent=False,
                refused=True,
            )
        if _timed_out(exc):
            limit = f" within {timeout:g}s" if timeout is not None else ""
            if self.deadline is not None and time.monotonic() >= self.deadline - 0.1:
                limit = f" within {self._budget()}"
            return Unreachable(
                f"the Kubernetes API at {self.target.server} (context {self.context}) did not "
                f"answer {what or 'a request'}{limit}{tried}",
                f"the cluster may be overloaded or unreachable; {self._more_time()}",
                sent=not _not_sent(exc),
            )
        return Unreachable(
            f"cannot reach the Kubernetes API at {self.target.server} "
            f"(context {self.context}): {text}{tried}",
            "is the cluster running? for the sandbox run `knwalk sandbox up`",
            sent=not _not_sent(exc),
            refused=_refused(exc),
        )

    def _pause(
        self,
        what: str,
        error: KnwalkError,
        attempt: int,
        deadline: float | None,
        retry_after: float | None = None,
    ) -> bool:
        """Sleep before retry number ``attempt + 1``; False when the retries or time are used up."""
        if attempt >= self.max_retries:
            return False
        deadline = self._cap(deadline)
        delay = (
            retry_after
            if retry_after is not None
            else _backoff(attempt, self.backoff_base, self.backoff_cap)
        )
        if deadline is not None and time.monotonic() + delay >= deadline:
            return False
        self.retries += 1
        if self.on_retry is not None:
            self.on_retry(what, error, delay)
        time.sleep(delay)
        return True

    def _timeouts(self, deadline: float | None) -> tuple[float, float]:
        read = self.read_timeout
        if deadline is not None:
            read = max(0.05, min(read, deadline - time.monotonic()))
        return min(self.connect_timeout, read), read

    def _once(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One attempt: the result, or :class:`ApiError` / :class:`Unreachable` (with the cause)."""
        deadline = self._cap(kwargs.pop("_deadline", None))
        if self.deadline is not None and time.monotonic() >= self.deadline:
            # the command's time is up: nothing more is sent
            raise Unreachable(
                f"ran out of {self._budget()} before {what} (the Kubernetes API at "
                f"{self.target.server}, context {self.context}, was too slow)",
                f"the cluster may be overloaded or unreachable; {self._more_time()}",
                sent=False,
                refused=True,
            )
        if "_request_timeout" not in kwargs:
            kwargs["_request_timeout"] = self._timeouts(deadline)
        try:
            result = fn(*args, **kwargs)
        except ApiException as exc:
            self.answered = self.answered or bool(exc.status)
            if not exc.status:
                # the client reports TLS failures as an ApiException without a status
                raise self._unreachable(_TransportError(str(exc.reason)), what) from exc
            raise self._api_error(exc, what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            timeout = kwargs["_request_timeout"]
            read = timeout[1] if isinstance(timeout, tuple) else timeout
            raise self._unreachable(exc, what, read) from exc
        self.answered = True
        return result

    def call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        retry: bool = False,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``fn``; API errors become :class:`ApiError`, network errors :class:`Unreachable`.

        ``retry`` is for idempotent calls only: 429/5xx answers, timeouts and
        dropped connections are tried again (capped exponential backoff with
        jitter, ``Retry-After`` honoured), at most ``max_retries`` times.
        ``deadline`` (a :func:`time.monotonic` value) bounds every attempt's read
        timeout and the pauses between them.
        """
        attempt = 0
        while True:
            try:
                return self._once(what, fn, *args, _deadline=deadline, **kwargs)
            except ApiError as err:
                cause = err.__cause__
                if (
                    retry
                    and err.status in RETRY_STATUSES
                    and isinstance(cause, ApiException)
                    and self._pause(what, err, attempt, deadline, _retry_after(cause))
                ):
                    attempt += 1
                    continue
                if attempt and err.status in RETRY_STATUSES and isinstance(cause, ApiException):
                    raise self._api_error(cause, what, attempt + 1) from None
                raise err.with_traceback(None) from None
            except Unreachable as err:
                cause = err.__cause__
                if (
                    retry
                    and not err.refused
                    and cause is not None
                    and self._pause(what, err, attempt, deadline)
                ):
                    attempt += 1
                    continue
                if attempt and cause is not None:
                    timeout = kwargs.get("_request_timeout")
                    read = timeout[1] if isinstance(timeout, tuple) else None
                    raise self._unreachable(cause, what, read, attempt + 1) from None
                raise err.with_traceback(None) from None

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    # custom objects ---------------------------------------------------------------
    #
    # Requests go through :meth:`_rest`, on the wire as the library's CustomObjectsApi sends
    # them (same paths, query parameters and headers), without importing that class: its
    # module costs about 20 ms of a command's start-up.

    def get(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        namespace: str | None = None,
        *,
        deadline: float | None = None,
    ) -> Obj | None:
        """The object, or None when the API says 404."""
        path = _custom(group, version, plural).path(self._ns(namespace), name)
        try:
            obj = self.call(f"get {plural}", self._rest, "GET", path, retry=True, deadline=deadline)
        except ApiError as err:
            if err.not_found:
                return None
            raise
        return dict(obj)

    def list(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        deadline: float | None = None,
    ) -> tuple[list[Obj], str]:
        """(items, resourceVersion) of a list; namespace :data:`ALL_NAMESPACES` lists them all."""
        # the library sends fieldSelector before labelSelector
        query = _selectors(None, field_selector) + _selectors(label_selector, None)
        path = _custom(group, version, plural).path(self._ns(namespace))
        result = self.call(
            f"list {plural}", self._rest, "GET", path, query, retry=True, deadline=deadline
        )
        items = [dict(i) for i in (result or {}).get("items") or []]
        return items, str(((result or {}).get("metadata") or {}).get("resourceVersion") or "")

    def create(
        self, group: str, version: str, plural: str, body: Obj, namespace: str | None = None
    ) -> Obj:
        """Create ``body``; never sent twice without first checking that it did not happen.

        A 429 was not processed and is retried. After a 5xx, a timeout or a
        connection dropped once the request had left, the object is read: if it
        now exists and :func:`fulfils` the body, the earlier attempt worked and
        it is returned; if it exists otherwise, that is a 409 AlreadyExists;
        only if it is absent is the create sent again.
        """
        ns = self._ns(namespace)
        what = f"create {plural}"
        name = (body.get("metadata") or {}).get("name")
        path = _custom(group, version, plural).path(ns)
        query = [("fieldManager", FIELD_MANAGER)]
        attempt = 0
        while True:
            try:
                obj = self._once(what, self._rest, "POST", path, query, body)
                return dict(obj)
            except ApiError as err:
                cause = err.__cause__
                if err.status == 429 and isinstance(cause, ApiException):
                    if self._pause(what, err, attempt, None, _retry_after(cause)):
                        attempt += 1
                        continue
                    raise self._api_error(cause, what, attempt + 1) from None
                if err.status == 409 and attempt and isinstance(name, str) and name:
                    # our earlier attempt may be the one that exists now
                    existing = self.get(group, version, plural, name, ns)
                    if existing is not None and fulfils(existing, body):
                        return existing
                    raise err.with_traceback(None) from None
                if err.status not in MAYBE_DONE_STATUSES or not name:
                    raise err.with_traceback(None) from None
                failure: KnwalkError = err
            except Unreachable as err:
                if not err.sent or not name:
                    raise err.with_traceback(None) from None
                failure = err
            # the create may have happened: check before sending it again
            existing = self.get(group, version, plural, name, ns)
            if existing is not None:
                if fulfils(existing, body):
                    return existing
                raise ApiError(
                    f'{plural}.{group} "{name}" already exists',
                    "someone else created it meanwhile; look at it, then run the command again",
                    status=409,
                    reason="AlreadyExists",
                )
            if not self._pause(what, failure, attempt, None):
                raise failure.with_traceback(None) from None
            attempt += 1

    def merge_patch(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
    ) -> Obj:
        """A JSON merge patch (never strategic merge: this is a custom resource).

        A patch carrying ``metadata.resourceVersion`` is a precondition the
        server checks (409 if the object moved on), so it is safe to retry: if
        an earlier attempt did apply, the retry gets 409 and the caller re-reads.
        """
        guarded = bool((patch.get("metadata") or {}).get("resourceVersion"))
        path = _custom(group, version, plural).path(self._ns(namespace), name)
        query = [("fieldManager", FIELD_MANAGER)]
        obj = self.call(
            f"patch {plural}", self._rest, "PATCH", path, query, patch, MERGE_PATCH, retry=guarded
        )
        return dict(obj)

    def apply(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        body: Obj,
        namespace: str | None = None,
    ) -> Obj:
        """Server-side apply with field manager ``knwalk`` (conflicts forced, as the user asked)."""
        path = _custom(group, version, plural).path(self._ns(namespace), name)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        obj = self.call(
            f"apply {plural}", self._rest, "PATCH", path, query, body, APPLY_PATCH, retry=True
        )
        if obj is None:
            # an answer without a body: read the object back
            obj = self.get(group, version, plural, name, namespace)
            if obj is None:
                raise KnwalkError(f"{plural}/{name} vanished right after it was applied")
        return dict(obj)

    def delete(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> Obj:
        """Delete; after a 5xx, timeout or dropped connection, check before deleting again.

        A 404 on a repeated attempt means the earlier one worked ({} is returned).
        """
        ns = self._ns(namespace)
        what = f"delete {plural}"
        path = _custom(group, version, plural).path(ns, name)
        query = [("propagationPolicy", propagation)]
        attempt = 0
        while True:
            try:
                obj = self._once(what, self._rest, "DELETE", path, query)
                return dict(obj) if isinstance(obj, dict) else {}
            except ApiError as err:
                cause = err.__cause__
                if err.status == 404 and attempt:
                    return {}
                if err.status == 429 and isinstance(cause, ApiException):
                    if self._pause(what, err, attempt, None, _retry_after(cause)):
                        attempt += 1
                        continue
                    raise self._api_error(cause, what, attempt + 1) from None
                if err.status not in MAYBE_DONE_STATUSES:
                    raise err.with_traceback(None) from None
                failure: KnwalkError = err
            except Unreachable as err:
                if not err.sent:
                    raise err.with_traceback(None) from None
                failure = err
            existing = self.get(group, version, plural, name, ns)
            if existing is None:
                return {}
            if (existing.get("metadata") or {}).get("deletionTimestamp"):
                return existing
            if not self._pause(what, failure, attempt, None):
                raise failure.with_traceback(None) from None
            attempt += 1

    def has_group_version(self, group: str, version: str) -> bool:
        """Whether the API serves ``/apis/{group}/{version}`` (a CRD group is installed)."""
        try:
            self.call(
                f"discover {group}/{version}",
                self._rest,
                "GET",
                f"/apis/{quote(group, safe='')}/{quote(version, safe='')}",
                retry=True,
            )
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    # core objects -----------------------------------------------------------------

    def get_core(self, kind: str, name: str, namespace: str) -> Obj | None:
        """A core ``Service`` or ``ConfigMap`` as a plain dict, or None when absent.

        A raw GET rather than ``CoreV1Api``: importing that module (and its
        hundreds of typed models) costs most of a second.
        """
        plural = {"Service": "services", "ConfigMap": "configmaps"}[kind]
        return self.get_of(Resource("", "v1", plural, kind, True), name, namespace)

    # any resource -------------------------------------------------------------------

    def _rest(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Obj | None = None,
        content_type: str | None = None,
        _request_timeout: Any = None,
    ) -> Any:
        """One request to ``path``; the JSON answer of a 2xx, else the client's ApiException
        (which :meth:`call` maps)."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*params, _request_timeout=_request_timeout)
        response.read()
        return self.api_client.response_deserialize(response, {"2XX": "object"}).data

    def server_version(self) -> Obj:
        """The API server's ``/version`` (``gitVersion``, ...)."""
        return dict(self.call("get the server version", self._rest, "GET", "/version", retry=True))

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """The API resource serving ``kind`` of ``api_version`` (discovery), None when the
        cluster does not serve it. Found ones are kept; a miss asks again the next time
        (a CRD may have been applied meanwhile)."""
        found = self._resources.get((api_version, kind))
        if found is not None:
            return found
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        try:
            listing = self.call(f"discover {api_version}", self._rest, "GET", path, retry=True)
        except ApiError as err:
            if err.not_found:
                return None
            raise
        for entry in (listing or {}).get("resources") or []:
            plural, served = str(entry.get("name") or ""), str(entry.get("kind") or "")
            if served and plural and "/" not in plural:
                res = Resource(group, version, plural, served, bool(entry.get("namespaced")))
                self._resources[(api_version, served)] = res
        return self._resources.get((api_version, kind))

    def list_of(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        deadline: float | None = None,
    ) -> tuple[Objs, str]:
        """(items, resourceVersion) of ``resource`` in ``namespace`` (the context's when
        None; :data:`ALL_NAMESPACES`: everywhere; ignored for cluster-scoped kinds)."""
        query = _selectors(label_selector, field_selector)
        path = resource.path(self._ns(namespace))
        result = self.call(
            f"list {resource.plural}", self._rest, "GET", path, query, retry=True, deadline=deadline
        )
        items = [dict(i) for i in (result or {}).get("items") or []]
        return items, str(((result or {}).get("metadata") or {}).get("resourceVersion") or "")

    def get_of(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        deadline: float | None = None,
    ) -> Obj | None:
        """The object, or None when the API says 404."""
        path = resource.path(self._ns(namespace), name)
        try:
            return dict(
                self.call(
                    f"get {resource.kind}", self._rest, "GET", path, retry=True, deadline=deadline
                )
            )
        except ApiError as err:
            if err.not_found:
                return None
            raise

    def apply_of(
        self,
        resource: Resource,
        body: Obj,
        namespace: str | None = None,
        *,
        manager: str = FIELD_MANAGER,
        force: bool = False,
    ) -> Obj:
        """Server-side apply of ``body`` as ``manager``; fields another manager owns raise
        :class:`FieldConflicts` (unless ``force`` takes them over)."""
        path = resource.path(self._ns(namespace), str(body["metadata"]["name"]))
        query = [("fieldManager", manager)] + ([("force", "true")] if force else [])

        def apply(_request_timeout: Any = None) -> Any:
            try:
                return self._rest("PATCH", path, query, body, APPLY_PATCH, _request_timeout)
            except ApiException as exc:
                causes = _conflict_causes(exc) if exc.status == 409 else []
                if causes:
                    raise FieldConflicts(causes) from None
                raise

        return dict(self.call(f"apply {resource.kind}", apply, retry=True))

    def delete_of(self, resource: Resource, name: str, namespace: str | None = None) -> bool:
        """Delete with background propagation; False when it was already gone."""
        path = resource.path(self._ns(namespace), name)
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            self.call(
                f"delete {resource.kind}",
                self._rest,
                "DELETE",
                path,
                (),
                options,
                "application/json",
            )
        except ApiError as err:
            if err.not_found:
                return False
            raise
        return True

    # waiting ------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None,
        done: Callable[[dict[str, Obj]], bool],
        *,
        deadline: float,
        field_selector: str | None = None,
        label_selector: str | None = None,
        on_change: Callable[[dict[str, Obj]], None] | None = None,
        policy: RetryPolicy = UNTIL_DEADLINE,
    ) -> Watched:
        """List, then watch from the list's resourceVersion until ``done(objects)`` holds or
        ``deadline`` (capped by :meth:`limit`) passes; ``objects`` maps name to object.

        ``on_change`` sees every state, starting with the listed one. A watch that ends
        is resumed from the last resourceVersion at once; ``410 Gone`` lists again.
        Failures (a list or watch that breaks, 429/5xx, a server that restarts) are
        retried as ``policy`` says: with capped backoff, listing afresh after several in
        a row, until the deadline or ``policy.give_up_after`` failures in a row (then a
        :class:`KnwalkError`). The first list's errors are raised at once unless they
        are worth retrying. Returns how it ended, never raising at the deadline.
        """
        deadline = self._cap(deadline) or deadline
        ns = self._ns(namespace)
        objects: dict[str, Obj] = {}
        rv, last_error = "", ""
        listed, relist = False, True
        failures = 0
        while True:
            if time.monotonic() >= deadline:
                return Watched(False, objects, listed, last_error)
            retry_after: float | None = None
            try:
                if relist:
                    items, rv = self.list_of(
                        resource,
                        ns,
                        label_selector=label_selector,
                        field_selector=field_selector,
                        deadline=deadline,
                    )
                    objects = {str(i["metadata"]["name"]): i for i in items}
                    listed, relist = True, False
                    if on_change:
                        on_change(objects)
                    if done(objects):
                        return Watched(True, objects, listed, last_error)
                opened = time.monotonic()
                events = 0
                query = _selectors(label_selector, field_selector)
                for event_type, obj in self._watch(resource, ns, query, rv, deadline):
                    events += 1
                    failures, last_error = 0, ""
                    meta = obj.get("metadata") or {}
                    rv = str(meta.get("resourceVersion") or rv)
                    if event_type == "BOOKMARK":
                        continue
                    name = str(meta.get("name"))
                    if event_type == "DELETED":
                        objects.pop(name, None)
                    else:
                        objects[name] = obj
                    if on_change:
                        on_change(objects)
                    if done(objects):
                        return Watched(True, objects, listed, last_error)
                    if time.monotonic() >= deadline:
                        break
                if events or time.monotonic() - opened >= WATCH_MIN_LIFETIME:
                    continue  # a watch that ended normally: resume from rv at once
                failures += 1  # closed at once, nothing in it: resume, but not in a tight loop
            except _Gone:
                relist = True  # our resourceVersion was compacted: list again, then watch
                continue
            except _Broken as broken:
                failures += 1
                last_error, retry_after = broken.text, broken.retry_after
            except (ApiError, Unreachable) as err:
                # a list that failed. Worth retrying: 429/5xx, timeouts, dropped
                # connections, and (once it answered) a server that went away
                transient = (
                    err.status in RETRY_STATUSES
                    if isinstance(err, ApiError)
                    else (not err.refused or listed or self.answered)
                )
                if not transient:
                    raise
                failures += 1
                last_error = err.message
            if policy.give_up_after is not None and failures >= policy.give_up_after:
                raise KnwalkError(
                    f"the watch of {resource.plural} keeps failing ({failures} times in a row; "
                    f"API server {self.target.server}, context {self.context}): {last_error}",
                    "is the cluster still reachable? run the command again",
                )
            if failures > policy.relist_after and not relist:
                # several failures in a row: a fresh list tells where things stand
                relist, failures = True, 0
            delay = (
                retry_after
                if retry_after is not None
                else _backoff(max(failures - 1, 0), self.backoff_base, self.backoff_cap)
            )
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))

    def wait_for(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        until: Callable[[Obj | None], bool],
        *,
        timeout: float,
        namespace: str | None = None,
        on_change: Callable[[Obj | None], None] | None = None,
        describe: Callable[[Obj | None], str] | None = None,
        policy: RetryPolicy = UNTIL_DEADLINE,
    ) -> Obj | None:
        """:meth:`watch` one object until ``until(obj)`` holds (``obj`` is None while it does
        not exist).

        ``on_change`` sees every state, starting with the listed one. After
        ``timeout`` seconds raises :class:`WaitTimeout` whose message is
        ``describe(last)`` (default: "PLURAL/NAME is still not there"), plus the
        last error when the API was failing meanwhile.
        """
        deadline = time.monotonic() + timeout
        if self.deadline is not None and self.deadline <= deadline + 1.0:
            # the wait ends with the command's bound: report that one when it runs out
            deadline, timeout = min(deadline, self.deadline), self.budget_seconds
        watched = self.watch(
            Resource(group, version, plural, "", True),
            namespace,
            lambda objects: until(objects.get(name)),
            deadline=deadline,
            field_selector=f"metadata.name={name}",
            on_change=(lambda objects: on_change(objects.get(name))) if on_change else None,
            policy=policy,
        )
        obj = watched.objects.get(name)
        if watched.done:
            return obj
        if not watched.listed:
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for {plural}/{name}: {watched.last_error}",
                f"the API server is slow or failing; {self._more_time()}",
                last=None,
            )
        text = describe(obj) if describe else f"{plural}/{name} is still not there"
        if watched.last_error:
            text += f" (last error: {watched.last_error})"
        option = self.budget_option or "--wait-timeout"
        raise WaitTimeout(
            f"timed out after {timeout:g}s: {text}",
            f"look at it with `knwalk status {name}`, or wait longer with {option}",
            last=obj,
        )

    def _watch(
        self,
        resource: Resource,
        namespace: str,
        query: Sequence[tuple[str, str]],
        rv: str,
        deadline: float,
    ) -> Iterator[tuple[str, Obj]]:
        """The events of one watch request; ends when the server closes it.

        Raises :class:`_Gone` on 410, :class:`_Broken` when the connection fails or
        the server answers 429/5xx, :class:`ApiError` otherwise.
        """
        remaining = max(0.05, deadline - time.monotonic())
        query = [
            *query,
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            # the server ends the watch by then; a little slack for the last bytes,
            # never more than a second past the caller's deadline
            ("timeoutSeconds", str(max(1, math.ceil(remaining)))),
            *((("resourceVersion", rv),) if rv else ()),
        ]
        params = self.api_client.param_serialize(
            method="GET",
            resource_path=resource.path(namespace),
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = None
        try:
            response = self.api_client.call_api(
                *params, _request_timeout=(min(self.connect_timeout, remaining), remaining + 1.0)
            )
            if not 200 <= response.status <= 299:
                response.read()
                raise ApiException(http_resp=response)
            for line in iter_resp_lines(response.response):  # type: ignore[no-untyped-call]
                if not line:
                    continue
                event = json.loads(line)
                obj = event.get("object") if isinstance(event, dict) else None
                if not isinstance(obj, dict):
                    continue
                if event.get("type") == "ERROR":
                    code = int(obj.get("code") or 0)
                    raise ApiException(
                        status=code, reason=str(obj.get("reason") or ""), body=json.dumps(obj)
                    )
                yield str(event.get("type")), obj
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from None
            if exc.status in RETRY_STATUSES:
                message, _ = status_of(exc)
                raise _Broken(f"{exc.status}: {message}", _retry_after(exc)) from None
            raise self._api_error(exc, f"watch {resource.plural}") from None
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            reason: object = exc
            if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
                reason = exc.reason
            raise _Broken(f"watch {resource.plural}: {_first_line(str(reason))}") from None
        finally:
            if response is not None:
                with contextlib.suppress(Exception):
                    response.response.release_conn()


def retry_on_conflict(step: Callable[[int], _T], attempts: int = CONFLICT_ATTEMPTS) -> _T:
    """client-go's RetryOnConflict: ``step(attempt)`` (1-based) again while it fails with
    409 Conflict (someone wrote first: the step reads again and recomputes), at most
    ``attempts`` times; the last 409 is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return step(attempt)
        except ApiError as err:
            if not err.conflict or attempt == attempts:
                raise
    raise AssertionError("the last attempt returns or raises")


def _custom(group: str, version: str, plural: str) -> Resource:
    """The namespaced custom resource ``plural`` of ``group/version`` (no discovery needed)."""
    return Resource(group, version, plural, "", True)


def _selectors(label: str | None, field: str | None) -> list[tuple[str, str]]:
    query = []
    if label:
        query.append(("labelSelector", label))
    if field:
        query.append(("fieldSelector", field))
    return query


_CONFLICT_MANAGER = re.compile(r'conflicts? with "([^"]+)"')


def _conflict_causes(exc: ApiException) -> list[tuple[str, str]]:
    """(field, manager) pairs of a 409 apply conflict's Status ``details.causes``."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if isinstance(body, str) else {}
    except ValueError:
        return []
    causes = ((status if isinstance(status, dict) else {}).get("details") or {}).get("causes")
    out: list[tuple[str, str]] = []
    for cause in causes if isinstance(causes, list) else []:
        if not isinstance(cause, dict) or cause.get("reason") != "FieldManagerConflict":
            continue
        match = _CONFLICT_MANAGER.search(str(cause.get("message") or ""))
        out.append((str(cause.get("field") or "?"), match.group(1) if match else "?"))
    return out


class _TransportError(OSError):
    """A transport failure the client reported as a status-less ApiException (TLS errors)."""


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): re-list."""


class _Broken(Exception):
    """The watch failed (connection lost, 429/5xx): resume from the last resourceVersion."""

    def __init__(self, text: str, retry_after: float | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.retry_after = retry_after
