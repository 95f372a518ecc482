"""A small fake of the GKE v1 REST API, for the real ``ClusterManagerClient`` to talk to.

Implements what knwalk uses (paths as in the library's ``rest_base.py``)::

    POST   /v1/projects/{p}/locations/{l}/clusters              create  → Operation
    GET    /v1/projects/{p}/locations/{l}/clusters              list    (l = "-": all)
    GET    /v1/projects/{p}/locations/{l}/clusters/{name}       get
    DELETE /v1/projects/{p}/locations/{l}/clusters/{name}       delete  → Operation
    GET    /v1/projects/{p}/locations/{l}/operations/{id}       get operation
    GET    /v1/projects/{p}/locations/{l}/operations            list operations

Operations progress per poll, not per wall-clock: each GET of an unfinished
operation moves it one step, PENDING → RUNNING (``steps`` polls, with
``progress.metrics`` or ``progress.stages`` advancing) → DONE. A create that is DONE
leaves the cluster RUNNING with an endpoint and a CA; a delete removes it.

Errors are injected with :meth:`FakeGke.fail` (the next N matching requests answer
with a google.rpc error body: 400 INVALID_ARGUMENT, 403 PERMISSION_DENIED, 409
ALREADY_EXISTS, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, ..., optionally with an
ErrorInfo ``reason``; code 0 closes the connection without an answer) and
:attr:`FakeGke.operation_error` (the next create's operation ends with ``error``);
:meth:`FakeGke.hold` keeps matching requests unanswered until released.
A create asking for an ``initialClusterVersion`` the fake does not offer answers
400 INVALID_ARGUMENT, as GKE does. Every request is recorded with its JSON body.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
#: versions the fake offers (anything else in initialClusterVersion is a 400)
OFFERED_VERSIONS = ("latest", "-", "1.33", "1.33.5-gke.1080000", "1.34", "1.32")
DEFAULT_VERSION = "1.33.5-gke.1080000"
FAKE_CA = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nZmFrZSBjYQ==\n-----END CERTIFICATE-----\n"
).decode()
STAGES = {
    "CREATE_CLUSTER": ("Creating control plane", "Creating node pool", "Health checking"),
    "DELETE_CLUSTER": ("Deleting node pool", "Deleting control plane"),
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class Hold:
    """A request held in flight by :meth:`FakeGke.hold`."""

    arrived: threading.Event
    release: threading.Event


@dataclass
class _Rule:
    method: str
    pattern: re.Pattern[str]
    code: int
    times: int
    message: str
    after: bool
    reason: str = ""


@dataclass
class _Op:
    data: dict[str, Any]
    project: str
    location: str
    cluster: str
    steps: int
    polls: int = 0
    error: str | None = None
    stages: bool = False


@dataclass
class FakeGke:
    """The server state; start it with :meth:`start` (or as a context manager)."""

    steps: int = 3
    progress_style: str = "metrics"  # or "stages"
    operation_error: str | None = None
    clusters: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, _Op] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)
    _holds: list[tuple[str, re.Pattern[str], Hold]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGke:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        for _, _, held in self._holds:
            held.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGke:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls

    def fail(
        self,
        method: str,
        path_regex: str,
        code: int,
        *,
        times: int = 1,
        message: str = "",
        after: bool = False,
        reason: str = "",
    ) -> None:
        """The next ``times`` requests matching answer ``code`` with a google.rpc error.

        ``after=True`` handles the request first and only then answers with the error
        (a create that GKE accepted although the client saw a 503). ``reason`` adds a
        google.rpc.ErrorInfo detail. Code 0 closes the connection without an answer (a
        dropped connection).
        """
        with self._lock:
            self._rules.append(
                _Rule(
                    method,
                    re.compile(path_regex),
                    code,
                    times,
                    message or f"injected {code}",
                    after,
                    reason,
                )
            )

    def hold(self, method: str, path_regex: str) -> Hold:
        """Matching requests are recorded, then wait unanswered until ``release`` is set
        (or the server stops): a request in flight. ``arrived`` is set when one came."""
        held = Hold(threading.Event(), threading.Event())
        with self._lock:
            self._holds.append((method, re.compile(path_regex), held))
        return held

    def bodies(self, method: str, suffix: str = "") -> list[Any]:
        return [r.body for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def calls(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method is None or r.method == method]

    def add_cluster(
        self, project: str, location: str, name: str, status: str = "RUNNING", **extra: Any
    ) -> dict[str, Any]:
        """Put a cluster in place directly (as if created earlier)."""
        cluster = self._new_cluster(project, location, {"name": name, **extra})
        if status == "RUNNING":
            self._make_running(cluster)
            cluster.update(json.loads(json.dumps(extra)))  # what the caller gave wins
            ip = cluster.get("controlPlaneEndpointsConfig", {}).get("ipEndpointsConfig", {})
            if ip.get("enabled") is False:
                cluster.pop("endpoint", None)  # IP endpoints disabled: DNS endpoint only
        cluster["status"] = status
        self.clusters[(project, location, name)] = cluster
        return cluster

    # -- HTTP

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Recorded(method, parts.path, parse_qs(parts.query), body))
            holds = [h for m, rx, h in self._holds if m == method and rx.search(parts.path)]
        for held in holds:
            held.arrived.set()
            held.release.wait(timeout=60)
        with self._lock:
            rule = next(
                (r for r in self._rules if r.method == method and r.pattern.search(parts.path)),
                None,
            )
            if rule is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
                if rule.code == 0:
                    h.close_connection = True  # dropped: no answer at all
                    return
                if not rule.after:
                    self._send(h, rule.code, _error(rule.code, rule.message, rule.reason))
                    return
            try:
                code, payload = self._route(method, parts.path, body)
            except _HttpError as exc:
                code, payload = exc.code, _error(exc.code, exc.message)
            if rule is not None:
                code, payload = rule.code, _error(rule.code, rule.message, rule.reason)
        self._send(h, code, payload)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json; charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        service = re.fullmatch(r"/v1/projects/([^/]+)/services/([^/]+)", path)
        if service and method == "GET":
            # Service Usage, asked by gcloud before a create: the API is enabled
            project, name = service.groups()
            return 200, {"name": f"projects/{project}/services/{name}", "state": "ENABLED"}
        m = re.fullmatch(
            r"/v1/projects/([^/]+)/locations/([^/]+)/(clusters|operations)(?:/([^/]+))?", path
        )
        if not m:
            raise _HttpError(404, f"no route for {method} {path}")
        project, location, kind, ident = m.groups()
        if kind == "clusters":
            if method == "POST" and ident is None:
                return 200, self._create(project, location, body or {})
            if method == "GET" and ident is None:
                return 200, self._list(project, location)
            if method == "GET":
                return 200, self._get(project, location, ident)
            if method == "DELETE":
                return 200, self._delete(project, location, ident)
        else:
            if method == "GET" and ident is None:
                ops = [
                    op.data
                    for op in self.operations.values()
                    if op.project == project and location in ("-", op.location)
                ]
                return 200, {"operations": ops}
            if method == "GET":
                return 200, self._poll(project, location, ident)
        raise _HttpError(405, f"{method} not allowed on {path}")

    # -- clusters

    def _new_cluster(self, project: str, location: str, spec: dict[str, Any]) -> dict[str, Any]:
        cluster = json.loads(json.dumps(spec))
        regional = location.count("-") == 1
        cluster.update(
            {
                "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{spec['name']}",
                "zone": location,
                "location": location,
                "status": "PROVISIONING",
                "createTime": "2026-01-02T03:04:05+00:00",
                "initialClusterVersion": spec.get("initialClusterVersion", DEFAULT_VERSION),
            }
        )
        cluster.setdefault("releaseChannel", {"channel": "REGULAR"})
        pools = cluster.setdefault("nodePools", [{"name": "default-pool", "initialNodeCount": 3}])
        nodes = sum(int(p.get("initialNodeCount", 0)) for p in pools)
        cluster["currentNodeCount"] = nodes * (3 if regional else 1)
        for pool in pools:
            pool["status"] = "PROVISIONING"
        return cluster

    def _make_running(self, cluster: dict[str, Any]) -> None:
        version = cluster.get("initialClusterVersion", DEFAULT_VERSION)
        if version in ("latest", "-") or version.count(".") < 2:
            version = DEFAULT_VERSION
        cluster.update(
            {
                "status": "RUNNING",
                "endpoint": "203.0.113.10",
                "currentMasterVersion": version,
                "currentNodeVersion": version,
            }
        )
        cluster.setdefault("masterAuth", {})["clusterCaCertificate"] = FAKE_CA
        for pool in cluster.get("nodePools", []):
            pool["status"] = "RUNNING"
            pool["version"] = version

    def _create(self, project: str, location: str, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("cluster") or {}
        name = spec.get("name")
        if not name:
            raise _HttpError(400, "Cluster.name must be set.")
        if body.get("parent") not in (None, f"projects/{project}/locations/{location}"):
            raise _HttpError(400, "parent does not match the URL")
        version = spec.get("initialClusterVersion")
        if version is not None and version not in OFFERED_VERSIONS:
            raise _HttpError(
                400,
                f'Master version "{version}" is unsupported. Valid versions: '
                + ", ".join(v for v in OFFERED_VERSIONS if v not in ("latest", "-")),
            )
        if (project, location, name) in self.clusters:
            raise _HttpError(
                409, f"Already exists: projects/{project}/locations/{location}/clusters/{name}."
            )
        self.clusters[(project, location, name)] = self._new_cluster(project, location, spec)
        error, self.operation_error = self.operation_error, None
        return self._new_op(project, location, name, "CREATE_CLUSTER", error)

    def _get(self, project: str, location: str, name: str) -> dict[str, Any]:
        cluster = self.clusters.get((project, location, name))
        if cluster is None:
            raise _HttpError(
                404, f"Not found: projects/{project}/locations/{location}/clusters/{name}."
            )
        return cluster

    def _list(self, project: str, location: str) -> dict[str, Any]:
        found = [
            c
            for (p, loc, _), c in sorted(self.clusters.items())
            if p == project and location in ("-", loc)
        ]
        return {"clusters": found} if found else {}

    def _delete(self, project: str, location: str, name: str) -> dict[str, Any]:
        cluster = self._get(project, location, name)
        cluster["status"] = "STOPPING"
        return self._new_op(project, location, name, "DELETE_CLUSTER", None)

    # -- operations

    def _new_op(
        self, project: str, location: str, name: str, kind: str, error: str | None
    ) -> dict[str, Any]:
        op_id = f"operation-{next(self._ids)}-fake"
        base = f"https://container.googleapis.com/v1/projects/{project}/zones/{location}"
        data = {
            "name": op_id,
            "zone": location,
            "location": location,
            "operationType": kind,
            "status": "PENDING",
            "selfLink": f"{base}/operations/{op_id}",
            "targetLink": f"{base}/clusters/{name}",
            "startTime": f"2026-01-02T03:04:{len(self.operations):02d}Z",
        }
        self.operations[op_id] = _Op(
            data, project, location, name, self.steps, error=error,
            stages=self.progress_style == "stages",
        )  # fmt: skip
        return data

    def _poll(self, project: str, location: str, op_id: str) -> dict[str, Any]:
        op = self.operations.get(op_id)
        if op is None or op.project != project or op.location != location:
            raise _HttpError(404, f"Not found: operation {op_id}.")
        if op.data["status"] == "DONE":
            return op.data
        op.polls += 1
        if op.polls <= op.steps:
            op.data["status"] = "RUNNING"
            op.data["progress"] = self._progress(op)
            return op.data
        op.data["status"] = "DONE"
        op.data["endTime"] = "2026-01-02T03:10:00Z"
        op.data.pop("progress", None)
        key = (op.project, op.location, op.cluster)
        cluster = self.clusters.get(key)
        if op.error is not None:
            op.data["error"] = {"code": 13, "message": op.error}
            op.data["statusMessage"] = op.error
            if cluster is not None:
                cluster["status"] = "ERROR"
                cluster["statusMessage"] = op.error
        elif op.data["operationType"] == "CREATE_CLUSTER" and cluster is not None:
            self._make_running(cluster)
        elif op.data["operationType"] == "DELETE_CLUSTER":
            self.clusters.pop(key, None)
        return op.data

    def _progress(self, op: _Op) -> dict[str, Any]:
        done, total = op.polls - 1, op.steps
        if op.stages:
            stages = []
            names = STAGES[op.data["operationType"]]
            for i, stage in enumerate(names):
                at = done * len(names) // total
                status = "DONE" if i < at else ("RUNNING" if i == at else "PENDING")
                stages.append({"name": stage, "status": status})
            return {"status": "RUNNING", "stages": stages}
        return {
            "status": "RUNNING",
            "metrics": [
                {"name": "CLUSTER_DEPLOYING", "intValue": str(done)},
                {"name": "CLUSTER_DEPLOYING_TOTAL", "intValue": str(total)},
            ],
        }


class _HttpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(code: int, message: str, reason: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "container.googleapis.com",
            }
        ]
    return {"error": error}
