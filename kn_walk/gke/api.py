"""ClusterManager calls: the endpoint and client, one-line errors, retries with backoff,
a create that is never sent twice, and operation polling.

:class:`Gke` wraps ``google.cloud.container_v1.ClusterManagerClient`` (REST transport):
it retries 429/503 with exponential backoff, turns API errors into one-line
:class:`GkeApiError` (never a traceback), and polls Operations (:meth:`Gke.wait`)
reporting :class:`~kn_walk.gke.objects.Progress` from ``Operation.progress``. GKE has
no watch for operations, so polling is the only way (gcloud polls every 5 s).
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kn_walk.errors import KnwalkError, UsageError, WaitTimeout
from kn_walk.gke.objects import Progress, operation_error, operation_kind, progress_of
from kn_walk.gke.request import create_request
from kn_walk.gke.spec import ClusterSpec

if TYPE_CHECKING:
    from google.cloud.container_v1 import Cluster, ClusterManagerClient, Operation

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ENDPOINT_ENV = "KNWALK_GKE_ENDPOINT"

# --------------------------------------------------------------------------- endpoint and client


@dataclass(frozen=True)
class Endpoint:
    """Where the client talks: ``url`` None is the real ``container.googleapis.com``."""

    url: str | None = None
    source: str = "default"

    @property
    def anonymous(self) -> bool:
        """A plain-HTTP loopback endpoint (a local fake): no credentials are sent."""
        return self.url is not None and self.url.startswith("http://")

    @property
    def display(self) -> str:
        return self.url or "https://container.googleapis.com"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(flag: str | None, environ: Mapping[str, str] | None = None) -> Endpoint:
    """``--gke-endpoint``, else ``$KNWALK_GKE_ENDPOINT`` (like gcloud's api_endpoint_overrides/container).

    ``https://`` endpoints may be anywhere and use your Google credentials; ``http://``
    is accepted only on a loopback address and then no credentials are sent.
    """
    env = os.environ if environ is None else environ
    value, source = (flag, "--gke-endpoint") if flag else (env.get(ENDPOINT_ENV, ""), ENDPOINT_ENV)
    value = value.strip()
    if not value:
        return Endpoint()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{source} {value!r} is not an http(s) URL",
            "write https://HOST[:PORT], or http://127.0.0.1:PORT for a local fake",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(
            f"{source} {value!r} must not have a path",
            "the client adds /v1/...; write only the scheme, host and port",
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            f"{source} {value!r}: plain http is accepted only on a loopback address",
            "use https://, or run the fake server on 127.0.0.1",
        )
    return Endpoint(f"{parts.scheme}://{parts.netloc}", source)


#: google-auth's own settings for looking for a GCE metadata server, read when its
#: ``compute_engine`` module is first imported: one try of at most 1 s, instead of its
#: default three tries of 3 s with backoff between them (12.7 s off Google Cloud). A
#: value the user set in the environment wins.
METADATA_PROBE = {"GCE_METADATA_TIMEOUT": "1", "GCE_METADATA_DETECT_RETRIES": "1"}


def google_auth() -> Any:
    """``google.auth``, with the metadata-server probe bounded by :data:`METADATA_PROBE`."""
    if "google.auth.compute_engine" not in sys.modules:
        saved = {name: os.environ.get(name) for name in METADATA_PROBE}
        for name, value in METADATA_PROBE.items():
            os.environ.setdefault(name, value)
        try:
            import google.auth.compute_engine  # reads the settings once
        finally:
            for name, previous in saved.items():
                if previous is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = previous
    import google.auth

    return google.auth


def default_credentials() -> Any:
    """``google.auth.default()`` with the cloud-platform scope, or a one-line error."""
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google_auth().default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError as exc:
        raise KnwalkError(
            "no Google Cloud credentials found",
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service-account key file",
        ) from exc
    return credentials


def adc_project() -> str | None:
    """The project ``google.auth.default()`` knows of (None when it finds no credentials)."""
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, project = google_auth().default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError:
        return None
    return str(project) if project else None


def make_client(endpoint: Endpoint, credentials: Any = None) -> ClusterManagerClient:
    """A REST ``ClusterManagerClient`` for ``endpoint``."""
    from google.cloud import container_v1

    options: dict[str, str] = {}
    if endpoint.url:
        options["api_endpoint"] = endpoint.url
    if credentials is None:
        if endpoint.anonymous:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        else:
            credentials = default_credentials()
    return container_v1.ClusterManagerClient(
        transport="rest", client_options=options, credentials=credentials
    )


# --------------------------------------------------------------------------- calls


class GkeApiError(KnwalkError):
    """GKE refused a call. ``code`` is the HTTP status, ``status`` the google.rpc code name."""

    def __init__(self, message: str, hint: str = "", *, code: int = 0, status: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.status = status


class GkeUnreachable(KnwalkError):
    """No answer from the GKE API (refused, reset, timed out): a request may or may not
    have reached it."""


class OperationFailed(KnwalkError):
    """A GKE Operation finished with an error."""


def _server_message(exc: Exception) -> str:
    text = str(getattr(exc, "message", "") or exc)
    match = re.match(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: (.*)$", text, re.DOTALL)
    return (match.group(1) if match else text).strip()


def _error_body(exc: Exception) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    try:
        payload = response.json() if response is not None else {}
    except ValueError:
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


def _status_name(exc: Exception) -> str:
    return str(_error_body(exc).get("status", ""))


def _reasons(exc: Exception) -> set[str]:
    """The ``reason`` of the error's google.rpc.ErrorInfo details (and of old-style
    ``errors[]`` entries)."""
    error = _error_body(exc)
    found = {str(getattr(exc, "reason", None) or "")}
    for item in [*(error.get("details") or []), *(error.get("errors") or [])]:
        if isinstance(item, dict) and item.get("reason"):
            found.add(str(item["reason"]))
    found.discard("")
    return found


#: ErrorInfo/errors[] reasons that mean a quota stops the request
QUOTA_REASONS = frozenset(
    {
        "QUOTA_EXCEEDED",
        "GCE_QUOTA_EXCEEDED",
        "RATE_LIMIT_EXCEEDED",
        "quotaExceeded",
        "rateLimitExceeded",
    }
)
#: GKE's words for a quota error (it often sends them as 403 PERMISSION_DENIED, no reason)
_QUOTA_RE = re.compile(
    r"insufficient (?:regional |project |zonal |global )?quota|quota exceeded|exceeded quota",
    re.IGNORECASE,
)


def is_quota_message(text: str) -> bool:
    """Whether GKE's words (an error or an operation's ``statusMessage``) are about quota."""
    return bool(_QUOTA_RE.search(text))


def is_quota_error(exc: Exception) -> bool:
    """Whether the API error is about quota: by its reason, else by GKE's words."""
    return bool(_reasons(exc) & QUOTA_REASONS) or is_quota_message(_server_message(exc))


def quota_hint(what: str) -> str:
    match = re.search(r"projects/([^/\s]+)", what)
    page = "https://console.cloud.google.com/iam-admin/quotas" + (
        f"?project={match.group(1)}" if match else ""
    )
    return (
        "the project's quota does not cover this cluster: use a smaller --machine-type or "
        f"fewer --num-nodes, or ask for more quota at {page}"
    )


#: polls of an operation in a row that may go unanswered (a dropped connection, a
#: timeout) before the wait gives up; like gcloud's HTTP layer, a lost poll is tried again
POLL_MISSES = 3
#: backoff for 429/503: first wait, longest wait, give up after (seconds)
RETRY_INITIAL = 1.0
RETRY_MAXIMUM = 16.0
RETRY_DEADLINE = 120.0


class Gke:
    """ClusterManager calls with retries, one-line errors and operation polling.

    Every call is retried on 429 (TooManyRequests/RESOURCE_EXHAUSTED) and 503
    (UNAVAILABLE) with exponential backoff and jitter (``retry_initial`` doubling up
    to ``retry_maximum`` seconds, for at most ``retry_deadline`` seconds; defaults
    :data:`RETRY_INITIAL` and friends), as gcloud's HTTP layer does;
    ``on_retry(exc)`` is told about each retry. A create is never sent again
    without checking first (:meth:`create`); ``adopted`` is the operation of an
    earlier attempt that GKE had accepted after all, if the last create found one.
    """

    def __init__(
        self,
        client: ClusterManagerClient,
        *,
        endpoint: Endpoint | None = None,
        retry_initial: float | None = None,
        retry_maximum: float | None = None,
        retry_deadline: float | None = None,
        timeout: float = 60.0,
        on_retry: Callable[[Exception], None] | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint or Endpoint()
        self.retry_initial = RETRY_INITIAL if retry_initial is None else retry_initial
        self.retry_maximum = RETRY_MAXIMUM if retry_maximum is None else retry_maximum
        self.retry_deadline = RETRY_DEADLINE if retry_deadline is None else retry_deadline
        self.timeout = timeout
        self.on_retry = on_retry
        self.retries = 0
        self.adopted: Operation | None = None

    def _retry(self, attempts: list[Exception], *, unavailable: bool = True) -> Any:
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        def note(exc: Exception) -> None:
            attempts.append(exc)
            self.retries += 1
            if self.on_retry is not None:
                self.on_retry(exc)

        retried: tuple[type[Exception], ...] = (gexc.TooManyRequests, gexc.ResourceExhausted)
        if unavailable:
            retried += (gexc.ServiceUnavailable,)
        return gretry.Retry(
            predicate=gretry.if_exception_type(*retried),
            initial=self.retry_initial,
            maximum=self.retry_maximum,
            multiplier=2.0,
            timeout=self.retry_deadline,
            on_error=note,
        )

    def _call(
        self, fn: Callable[..., Any], what: str, *, unavailable: bool = True, **kwargs: Any
    ) -> Any:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc
        from requests import exceptions as req_exc

        failed: list[Exception] = []  # the attempts of this call that were answered 429/503
        try:
            return fn(
                retry=self._retry(failed, unavailable=unavailable), timeout=self.timeout, **kwargs
            )
        except gexc.RetryError as exc:
            cause = exc.cause if exc.cause is not None else exc
            code = getattr(cause, "code", 0) or 0
            hint = (
                quota_hint(what) + "; or wait a minute and try again"
                if is_quota_error(cause)
                else "GKE is busy or rate-limiting this project; wait a minute and try again"
            )
            raise GkeApiError(
                f"{what}: the GKE API still answered {code} ({_server_message(cause)}) "
                f"after {len(failed)} attempts",
                hint,
                code=int(code),
                status=_status_name(cause),
            ) from None
        except gexc.GoogleAPICallError as exc:
            raise self._api_error(exc, what) from None
        except (auth_exc.RefreshError, auth_exc.TransportError) as exc:
            raise KnwalkError(
                f"cannot get a Google access token: {exc}",
                "run `gcloud auth application-default login`, or check GOOGLE_APPLICATION_CREDENTIALS",
            ) from None
        except req_exc.RequestException as exc:
            raise GkeUnreachable(
                f"cannot reach the GKE API at {self.endpoint.display}: {type(exc).__name__}",
                "check the network connection"
                + (f" and {self.endpoint.source}" if self.endpoint.url else ""),
            ) from None

    def _api_error(self, exc: Any, what: str) -> GkeApiError:
        code = int(exc.code or 0)
        status = _status_name(exc)
        message = _server_message(exc)
        hints = {
            400: "check the option values; `gcloud container get-server-config` lists the "
            "versions and image types GKE offers",
            401: "run `gcloud auth application-default login` and try again",
            403: "enable the Kubernetes Engine API (`gcloud services enable container.googleapis.com`) "
            "and make sure your account may manage clusters (roles/container.admin)",
            404: "list what exists with `knwalk cluster list`",
            409: "see the cluster with `knwalk cluster describe`",
        }
        words = {
            400: "rejected",
            401: "unauthenticated",
            403: "permission denied",
            404: "not found",
            409: "already exists",
        }
        head = words.get(code, f"failed ({code or 'no status'})")
        hint = hints.get(code, "try again; run with --debug for details")
        if is_quota_error(exc):
            head, hint = "quota exceeded", quota_hint(what)
        text = message if message.lower().startswith(head) else f"{head}: {message}"
        return GkeApiError(f"{what}: {text}", hint, code=code, status=status)

    # -- clusters and operations

    def create(self, spec: ClusterSpec) -> Operation:
        """Create the cluster; never send the create again without checking first.

        429 / RESOURCE_EXHAUSTED means the request was not processed: it is retried
        with backoff. After a 503 / UNAVAILABLE, or a connection lost on the way,
        GKE may have accepted it: the cluster's pending operation is looked up, and
        if it is a create, that is the answer (``adopted`` is set); only when there
        is none is the create sent again, with backoff, until ``retry_deadline``.
        """
        what = f"create cluster {spec.name} in {spec.parent}"
        self.adopted = None
        deadline = time.monotonic() + self.retry_deadline
        delay = self.retry_initial
        sent = 0
        while True:
            sent += 1
            try:
                op: Operation = self._call(
                    self.client.create_cluster,
                    what,
                    unavailable=False,
                    request=create_request(spec),
                )
                return op
            except GkeApiError as exc:
                if exc.code != 503:
                    raise  # a 409 tells the caller that the cluster exists
                failure: KnwalkError = exc
            except GkeUnreachable as exc:
                failure = exc
            self.retries += 1
            if self.on_retry is not None:
                self.on_retry(failure)
            # the create may have been accepted: look before sending it again
            earlier = self.pending_operation(spec.project, spec.location, spec.name)
            if earlier is not None and operation_kind(earlier) == "CREATE_CLUSTER":
                self.adopted = earlier
                return earlier
            if time.monotonic() + delay > deadline:
                failure.message += f" (gave up after {sent} attempts)"
                failure.hint = (
                    "GKE is busy or unreachable; wait a minute and try again "
                    "(`knwalk cluster list` shows whether the cluster is being created)"
                )
                raise failure
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.retry_maximum)

    def get(self, project: str, location: str, name: str) -> Cluster:
        cluster: Cluster = self._call(
            self.client.get_cluster,
            f"cluster {name} in projects/{project}/locations/{location}",
            name=cluster_path(project, location, name),
        )
        return cluster

    def list_clusters(self, project: str, location: str = "-") -> tuple[list[Cluster], list[str]]:
        """Clusters in ``location`` (``-``: every location) and the zones that did not answer."""
        response = self._call(
            self.client.list_clusters,
            f"list clusters in projects/{project}/locations/{location}",
            parent=f"projects/{project}/locations/{location}",
        )
        return list(response.clusters), list(response.missing_zones)

    def delete(self, project: str, location: str, name: str) -> Operation:
        op: Operation = self._call(
            self.client.delete_cluster,
            f"delete cluster {name} in projects/{project}/locations/{location}",
            name=cluster_path(project, location, name),
        )
        return op

    def operation(self, project: str, location: str, op_name: str) -> Operation:
        op_id = op_name.rsplit("/", 1)[-1]
        op: Operation = self._call(
            self.client.get_operation,
            f"operation {op_id}",
            name=f"projects/{project}/locations/{location}/operations/{op_id}",
        )
        return op

    def pending_operation(self, project: str, location: str, name: str) -> Operation | None:
        """The newest unfinished operation on cluster ``name`` (None if there is none)."""
        response = self._call(
            self.client.list_operations,
            f"list operations in projects/{project}/locations/{location}",
            parent=f"projects/{project}/locations/{location}",
        )
        from google.cloud import container_v1 as gke

        mine = [
            op
            for op in response.operations
            if op.target_link.endswith(f"/clusters/{name}")
            and op.status != gke.Operation.Status.DONE
        ]
        mine.sort(key=lambda op: op.start_time)
        return mine[-1] if mine else None

    def wait(
        self,
        op: Operation,
        *,
        project: str,
        location: str,
        on_progress: Callable[[Progress], None] | None = None,
        poll_interval: float = 5.0,
        timeout: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Operation:
        """Poll ``op`` until DONE; raise :class:`OperationFailed` if it ended with an error.

        Progress is reported after every poll. A poll without an answer is tried again
        at the next interval; :data:`POLL_MISSES` in a row raise :class:`GkeUnreachable`.
        A deadline passed raises :class:`~kn_walk.errors.WaitTimeout` naming the last
        status and stage.
        """
        from google.cloud import container_v1 as gke

        start = clock()
        where = op.location or location
        misses = 0
        while True:
            elapsed = clock() - start
            progress = progress_of(op, elapsed)
            if on_progress is not None:
                on_progress(progress)
            if op.status == gke.Operation.Status.DONE:
                break
            if elapsed >= timeout:
                stage = f", stage {progress.stage!r}" if progress.stage else ""
                raise WaitTimeout(
                    f"operation {op.name} is still {progress.status} after {elapsed:.0f}s{stage}",
                    "it goes on in GKE; check again with `knwalk cluster wait NAME`",
                    last=progress,
                )
            if poll_interval > 0:
                sleep(poll_interval)
            try:
                op = self.operation(project, where, op.name)
            except GkeUnreachable as exc:
                misses += 1
                if misses >= POLL_MISSES:
                    exc.message += f" ({misses} polls in a row went unanswered)"
                    raise
                continue
            misses = 0
        failure = operation_error(op)
        if failure:
            left = "a failed create leaves a cluster in ERROR that `knwalk cluster delete NAME` removes"
            raise OperationFailed(
                f"operation {op.name} ({operation_kind(op)}) failed: {failure}",
                f"{quota_hint(f'projects/{project}')}; {left}"
                if is_quota_message(failure)
                else f"see the cluster with `knwalk cluster describe NAME`; {left}",
            )
        return op


def cluster_path(project: str, location: str, name: str) -> str:
    return f"projects/{project}/locations/{location}/clusters/{name}"
