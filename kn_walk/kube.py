"""Talking to a Kubernetes API: a client from kubeconfig + context, calls, watch-based waits.

:func:`connect` resolves kubeconfig, context and namespace the way kubectl does
(``--kubeconfig`` alone, else every file in ``KUBECONFIG``, else
``~/.kube/config``; ``--context`` else the current context; ``-n`` else the
context's namespace, else ``default``) and returns a :class:`Kube`.

Every call goes through :meth:`Kube.call`, which turns API failures into
:class:`~kn_walk.errors.ApiError` carrying the server's ``Status.message``
(never a traceback) and network failures into a one-line
:class:`~kn_walk.errors.KnwalkError`. Idempotent calls (gets, lists, and
patches that carry a resourceVersion precondition) are retried on 429/5xx and
dropped connections with capped exponential backoff and jitter, honouring
``Retry-After``; creates and deletes are not.

:meth:`Kube.wait_for` lists one object, then watches it from the list's
resourceVersion until a predicate holds or a deadline passes; a watch that
ends or breaks is resumed from the last resourceVersion seen, and a ``410
Gone`` re-lists. Nothing sleeps to synchronise.

The module imports ``kubernetes`` at import time: import it lazily, from
inside commands.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from kn_walk import kubeconfig
from kn_walk.errors import ApiError, KnwalkError, UsageError, WaitTimeout

Obj = dict[str, Any]

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


def _context_names(paths: list[Path]) -> list[str]:
    names: list[str] = []
    for path in paths:
        for entry in kubeconfig.load(path).get("contexts") or []:
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
    paths = kubeconfig.read_paths(kubeconfig_path)
    if kubeconfig_path is not None and not paths[0].exists():
        raise UsageError(
            f"kubeconfig {paths[0]} does not exist",
            "check the --kubeconfig path, or omit it to use $KUBECONFIG or ~/.kube/config",
        )
    existing = [p for p in paths if p.exists()]
    if not existing:
        shown = ", ".join(str(p) for p in paths)
        raise KnwalkError(f"no kubeconfig found (looked at {shown})", NO_CONTEXT_HINT)
    names = _context_names(existing)
    if context is None:
        context = kubeconfig.current_context(
            kubeconfig_path if kubeconfig_path is not None else None
        )
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
    ns = namespace or kubeconfig.context_namespace(kubeconfig_path, context) or "default"
    return existing, context, ns


def _check_namespace(namespace: str) -> None:
    import re

    if len(namespace) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
        raise UsageError(
            f"namespace {namespace!r} is not a valid name",
            "namespaces are lower-case letters, digits and '-', at most 63 characters",
        )


def connect(
    kubeconfig_path: str | os.PathLike[str] | None = None,
    context: str | None = None,
    namespace: str | None = None,
) -> Kube:
    """A :class:`Kube` for the given (or kubectl's default) kubeconfig, context and namespace."""
    paths, ctx, ns = resolve(kubeconfig_path, context, namespace)
    try:
        configuration = k8s.Configuration()
        # retries are ours (Kube.call): urllib3's own would multiply them
        configuration.retries = False
        api_client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.pathsep.join(str(p) for p in paths),
            context=ctx,
            persist_config=False,
            client_configuration=configuration,
        )
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
    server = str(api_client.configuration.host)
    return Kube(api_client, Target(tuple(paths), ctx, ns, server))


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else "unknown error"


# --------------------------------------------------------------------------- errors


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
        return min(RETRY_AFTER_CAP, max(0.0, float(value)))
    except ValueError:
        return None


def _refused(exc: BaseException) -> bool:
    """Nobody listens (or the name does not resolve): retrying will not help."""
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


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.5, 1.0))


# --------------------------------------------------------------------------- the client


class Kube:
    """One API server, context and namespace; the typed clients and error handling around them."""

    def __init__(self, api_client: Any, target: Target) -> None:
        self.api_client = api_client
        self.target = target
        self.custom = k8s.CustomObjectsApi(api_client)

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

    def _api_error(self, exc: ApiException, what: str) -> ApiError:
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
            hint = "the API server is overloaded or failing; try again in a moment"
        elif status == 422 or status == 400:
            hint = "the API server rejected the request; fix the value it names"
        return ApiError(message, hint, status=status, reason=reason)

    def _unreachable(self, exc: BaseException) -> KnwalkError:
        reason: object = exc
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            reason = exc.reason
        text = _first_line(str(reason))
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return KnwalkError(
                f"the API server at {self.target.server} presented a certificate that "
                f"does not verify: {text}",
                f"check the certificate-authority of context {self.context!r}",
            )
        return KnwalkError(
            f"cannot reach the Kubernetes API at {self.target.server} "
            f"(context {self.context}): {text}",
            "is the cluster running? for the sandbox run `knwalk sandbox up`",
        )

    def call(
        self, what: str, fn: Callable[..., Any], *args: Any, retry: bool = False, **kwargs: Any
    ) -> Any:
        """Call ``fn``; API errors become :class:`ApiError`, network errors :class:`KnwalkError`.

        ``retry`` is for idempotent calls only: 429/5xx answers and dropped
        connections are tried again (capped exponential backoff with jitter,
        ``Retry-After`` honoured), at most :data:`MAX_RETRIES` times.
        """
        kwargs.setdefault("_request_timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except ApiException as exc:
                if retry and exc.status in RETRY_STATUSES and attempt < MAX_RETRIES:
                    after = _retry_after(exc)
                    time.sleep(after if after is not None else _backoff(attempt))
                    attempt += 1
                    continue
                raise self._api_error(exc, what) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if retry and attempt < MAX_RETRIES and not _refused(exc):
                    time.sleep(_backoff(attempt))
                    attempt += 1
                    continue
                raise self._unreachable(exc) from None

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    # custom objects ---------------------------------------------------------------

    def get(
        self, group: str, version: str, plural: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        """The object, or None when the API says 404."""
        try:
            obj = self.call(
                f"get {plural}",
                self.custom.get_namespaced_custom_object,
                group,
                version,
                self._ns(namespace),
                plural,
                name,
                retry=True,
            )
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
    ) -> tuple[list[Obj], str]:
        """(items, resourceVersion) of a list; namespace :data:`ALL_NAMESPACES` lists them all."""
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        ns = self._ns(namespace)
        if ns == ALL_NAMESPACES:
            result = self.call(
                f"list {plural}",
                self.custom.list_custom_object_for_all_namespaces,
                group,
                version,
                plural,
                retry=True,
                **kwargs,
            )
        else:
            result = self.call(
                f"list {plural}",
                self.custom.list_namespaced_custom_object,
                group,
                version,
                ns,
                plural,
                retry=True,
                **kwargs,
            )
        items = [dict(i) for i in result.get("items") or []]
        return items, str((result.get("metadata") or {}).get("resourceVersion") or "")

    def create(
        self, group: str, version: str, plural: str, body: Obj, namespace: str | None = None
    ) -> Obj:
        obj = self.call(
            f"create {plural}",
            self.custom.create_namespaced_custom_object,
            group,
            version,
            self._ns(namespace),
            plural,
            body,
            field_manager=FIELD_MANAGER,
        )
        return dict(obj)

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
        server checks (409 if the object moved on), so it is safe to retry.
        """
        guarded = bool((patch.get("metadata") or {}).get("resourceVersion"))
        obj = self.call(
            f"patch {plural}",
            self.custom.patch_namespaced_custom_object,
            group,
            version,
            self._ns(namespace),
            plural,
            name,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
            retry=guarded,
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
        obj = self.call(
            f"apply {plural}",
            self.custom.patch_namespaced_custom_object,
            group,
            version,
            self._ns(namespace),
            plural,
            name,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY_PATCH,
            retry=True,
        )
        if obj is None:
            # an apply that creates answers 201, which the client's CustomObjectsApi
            # does not deserialise (its response map only knows 200): read it back
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
        obj = self.call(
            f"delete {plural}",
            self.custom.delete_namespaced_custom_object,
            group,
            version,
            self._ns(namespace),
            plural,
            name,
            propagation_policy=propagation,
        )
        return dict(obj) if isinstance(obj, dict) else {}

    def has_group_version(self, group: str, version: str) -> bool:
        """Whether the API serves ``/apis/{group}/{version}`` (a CRD group is installed)."""
        try:
            self.call(
                f"discover {group}/{version}",
                self.custom.get_api_resources,
                group,
                version,
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
        path = f"/api/v1/namespaces/{namespace}/{plural}/{name}"
        try:
            obj = self.call(f"get {kind}", self._get_path, path, retry=True)
        except ApiError as err:
            if err.not_found:
                return None
            raise
        return dict(obj)

    def _get_path(self, path: str, _request_timeout: Any = None) -> Any:
        params = self.api_client.param_serialize(
            method="GET",
            resource_path=path,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*params, _request_timeout=_request_timeout)
        response.read()
        return self.api_client.response_deserialize(response, {"200": "object"}).data

    # waiting ------------------------------------------------------------------------

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
    ) -> Obj | None:
        """Watch one object until ``until(obj)`` holds (``obj`` is None while it does not exist).

        ``on_change`` sees every state, starting with the listed one. After
        ``timeout`` seconds raises :class:`WaitTimeout` whose message is
        ``describe(last)`` (default: "still waiting for PLURAL/NAME").
        """
        ns = self._ns(namespace)
        deadline = time.monotonic() + timeout
        selector = f"metadata.name={name}"
        obj, rv = self._list_one(group, version, plural, name, ns)
        if on_change:
            on_change(obj)
        if until(obj):
            return obj
        broken = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                text = describe(obj) if describe else f"{plural}/{name} is still not there"
                raise WaitTimeout(
                    f"timed out after {timeout:g}s: {text}",
                    f"look at it with `knwalk status {name}`, or wait longer with --wait-timeout",
                    last=obj,
                )
            try:
                for event_type, event_obj in self._watch(
                    group, version, plural, ns, selector, rv, remaining
                ):
                    broken = 0
                    meta = (event_obj or {}).get("metadata") or {}
                    rv = str(meta.get("resourceVersion") or rv)
                    if event_type == "BOOKMARK":
                        continue
                    obj = None if event_type == "DELETED" else event_obj
                    if on_change:
                        on_change(obj)
                    if until(obj):
                        return obj
                    if time.monotonic() >= deadline:
                        break
            except _Broken:
                # the connection dropped: resume from the last resourceVersion after a
                # short backoff; after a few failures in a row, a re-list tells whether
                # the server is still there (and raises if it is not)
                broken += 1
                if broken <= MAX_RETRIES:
                    time.sleep(min(_backoff(broken - 1), max(0.0, deadline - time.monotonic())))
                    continue
                broken = 0
                obj, rv = self._list_one(group, version, plural, name, ns)
                if on_change:
                    on_change(obj)
                if until(obj):
                    return obj
            except _Gone:
                obj, rv = self._list_one(group, version, plural, name, ns)
                if on_change:
                    on_change(obj)
                if until(obj):
                    return obj

    def _list_one(
        self, group: str, version: str, plural: str, name: str, ns: str
    ) -> tuple[Obj | None, str]:
        items, rv = self.list(group, version, plural, ns, field_selector=f"metadata.name={name}")
        return (items[0] if items else None), rv

    def _watch(
        self,
        group: str,
        version: str,
        plural: str,
        ns: str,
        selector: str,
        rv: str,
        remaining: float,
    ) -> Iterator[tuple[str, Obj | None]]:
        """Events of one watch request; ends when the server closes it or the connection drops."""
        w = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        try:
            stream = w.stream(  # type: ignore[no-untyped-call]
                self.custom.list_namespaced_custom_object,
                group,
                version,
                ns,
                plural,
                field_selector=selector,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, math.ceil(remaining)),
                _request_timeout=(CONNECT_TIMEOUT, remaining + 5.0),
            )
            for event in stream:
                raw = event.get("raw_object")
                yield str(event.get("type")), raw if isinstance(raw, dict) else None
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from None
            raise self._api_error(exc, f"watch {plural}") from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise _Broken from None
        finally:
            w.stop()  # type: ignore[no-untyped-call]


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): re-list."""


class _Broken(Exception):
    """The watch connection failed or was cut: resume from the last resourceVersion."""
