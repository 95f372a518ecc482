"""The Kubernetes REST API over aiohttp: discovery, CRUD, patch, watch, Status errors.

Requests are parsed here and handed to :class:`Resources`; nothing here knows
what a Knative Service is.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kn_walk import __version__
from kn_walk.sandbox.apiserver import authz, conns, discovery, openapi, openapi_pb
from kn_walk.sandbox.apiserver.faults import Faults, parse_rules
from kn_walk.sandbox.apiserver.podlogs import LogSource, pod_log
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery import decoding as D
from kn_walk.sandbox.machinery import deleteoptions, tables
from kn_walk.sandbox.machinery.resourcetypes import RETURNS_DELETED_OBJECT, Registry, ResourceType
from kn_walk.sandbox.machinery.selectors import field_selector, label_selector
from kn_walk.sandbox.registry import eventsv1, scale
from kn_walk.sandbox.registry.resources import (
    APPLY_PATCH,
    APPLY_PATCH_CBOR,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Resources,
    WriteOptions,
    patched,
    rkey,
    unsupported_patch,
)
from kn_walk.sandbox.registry.store import Event, Gone, Obj, Watcher

log = logging.getLogger("knwalk.sandbox.api")

MAX_BODY = 3 * 1024 * 1024
KUBE_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-knwalk-sandbox"}
_TABLE_RE = re.compile(r"as=Table")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: ``(request, pod, subresource, closing) -> response``: what a kubelet serves behind
#: kube-apiserver for ``pods/portforward``, ``exec`` and ``attach``
PodConnect = Callable[[web.Request, Obj, str, asyncio.Event], Awaitable[web.StreamResponse]]


@dataclass
class ApiState:
    resources: Resources
    token: str
    server_address: str = "127.0.0.1"
    faults: Faults = field(default_factory=Faults)
    #: ``(namespace, pod) -> where its log is`` for a Pod whose container the sandbox
    #: runs (``kubectl logs``); None for any other Pod. Without it no Pod has logs.
    pod_logs: Callable[[str, str], LogSource | None] | None = None
    #: the kubelet's side of ``pods/portforward``, ``pods/exec`` and ``pods/attach``
    #: (:func:`kn_walk.sandbox.node.portforward.pod_connect`), which reaches the local
    #: addresses behind the ports of the Pods the sandbox runs; without it, refused
    pod_connect: PodConnect | None = None


def _json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """``body`` as compact JSON and a newline, as Go's json.Encoder writes every answer."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode() + b"\n",
        status=status,
        content_type="application/json",
        headers=headers,
    )


def status_response(err: E.StatusError) -> web.Response:
    return _json_response(err.status(), err.code, err.headers or None)


@web.middleware
async def _auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    state: ApiState = request.app["state"]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), state.token.encode()
    ):
        return status_response(E.UNAUTHORIZED)
    try:
        if request.path == FAULTS_PATH:
            return await _faults_admin(request, state)
        rule = state.faults.pick(
            request.method, request.path, bool(D.query_flag(request.query, "watch"))
        )
        if rule is not None:
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.after:
                try:
                    await handler(request)  # processed; only the answer is lost
                except E.StatusError as err:
                    return status_response(err)
            if rule.drop:
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            if rule.status:
                return status_response(rule.error())
            if rule.gone:
                resp = await _start_stream(request)
                gone = E.StatusError(410, "Expired", "too old resource version (injected fault)")
                await _send(resp, {"type": "ERROR", "object": gone.status()})
                return resp
            if rule.cut_after is not None:
                request["cut_after"] = rule.cut_after
        return await handler(request)
    except E.StatusError as err:
        return status_response(err)
    except web.HTTPRequestEntityTooLarge:
        return status_response(
            E.StatusError(
                413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"
            )
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own answers (a path no route matches, e.g. one with a newline in it)
        # are Status objects too, as every error of kube-apiserver is
        reason = exc.reason.replace(" ", "") or "BadRequest"
        text = (
            "the server could not find the requested resource" if exc.status == 404 else exc.reason
        )
        return status_response(E.StatusError(exc.status, reason, text))
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return status_response(
            E.StatusError(500, "InternalError", "Internal error occurred: unexpected server error")
        )


FAULTS_PATH = "/knwalk.dev/faults"


async def _faults_admin(request: web.Request, state: ApiState) -> web.Response:
    """Tests set fault rules here (token-guarded like every path); see faults.py."""
    if request.method == "DELETE":
        state.faults.rules = []
    elif request.method == "PUT":
        try:
            state.faults.rules = parse_rules(await _read_body(request))
        except ValueError as exc:
            raise E.bad_request(str(exc)) from exc
    elif request.method != "GET":
        raise E.method_not_allowed()
    return _json_response(
        {
            "rules": [
                {"path": r.path.pattern, "method": r.method, "hits": r.hits}
                for r in state.faults.rules
            ]
        }
    )


#: set when the server shuts down: ``kubectl logs -f`` streams end then
_CLOSING = web.AppKey("closing", asyncio.Event)
#: seconds a request body may take to arrive (kube-apiserver's request timeout)
_BODY_TIMEOUT = web.AppKey("body_timeout", float)


async def _on_shutdown(app: web.Application) -> None:
    app[_CLOSING].set()


def create_app(state: ApiState) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_auth_and_errors])
    app["state"] = state
    app[_CLOSING] = asyncio.Event()
    app[_BODY_TIMEOUT] = conns.api_request_timeout()
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get("/version", _version)
    app.router.add_get("/version/", _version)
    for probe in ("/healthz", "/readyz", "/livez"):
        app.router.add_get(probe, _ok)
    app.router.add_get("/api", _api_versions)
    app.router.add_get("/api/", _api_versions)
    app.router.add_get("/apis", _api_groups)
    app.router.add_get("/apis/", _api_groups)
    app.router.add_get("/openapi/v2", _openapi_v2)
    app.router.add_get("/openapi/v3", _openapi_v3_index)
    app.router.add_get("/openapi/v3/{path:.*}", _openapi_v3_doc)
    app.router.add_route("*", "/api/{version}{rest:(/.*)?}", _core)
    app.router.add_route("*", "/apis/{group}{rest:(/.*)?}", _grouped)
    return app


# ------------------------------------------------------------------ discovery
async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _version(request: web.Request) -> web.Response:
    return _json_response(
        {
            **KUBE_VERSION,
            "gitCommit": f"knwalk-{__version__}",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    )


async def _api_versions(request: web.Request) -> web.Response:
    state: ApiState = request.app["state"]
    return _discovery(request, core=True, legacy=discovery.api_versions(state.server_address))


async def _api_groups(request: web.Request) -> web.Response:
    reg = request.app["state"].resources.registry
    return _discovery(request, core=False, legacy=discovery.api_group_list(reg))


def _discovery(request: web.Request, *, core: bool, legacy: Obj) -> web.Response:
    """``/api`` or ``/apis``: the aggregated document when the client asks for it (ETag,
    304 on a match), else the unaggregated one; 406 for an Accept naming neither."""
    version = discovery.discovery_format(request.headers.get("Accept"))
    if not version:
        return _json_response(legacy)
    reg = request.app["state"].resources.registry
    body = discovery.encode(discovery.aggregated(reg, core=core, version=version))
    tag = discovery.etag(body)
    headers = {"ETag": tag, "Vary": "Accept", "Cache-Control": "public"}
    if request.headers.get("If-None-Match") == tag:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = discovery.aggregated_content_type(version)
    return web.Response(body=body, headers=headers)


async def _openapi_v2(request: web.Request) -> web.Response:
    """Swagger 2.0 as JSON, or as gnostic protobuf for kubectl; 406 (no body) for an Accept
    naming neither, as kube-openapi answers."""
    reg: Registry = request.app["state"].resources.registry
    proto = False
    if (request.headers.get("Accept") or "").strip():
        for clause in discovery.parse_accept(request.headers.get("Accept")):
            if clause.matches(D.JSON):
                break
            if any(clause.matches(t) for t in openapi_pb.ACCEPT_TYPES):
                proto = True
                break
        else:
            return web.Response(status=406)
    key = tuple((t, id(t.schema)) for t in reg.all())

    def build() -> bytes:
        doc = openapi.openapi_v2(reg)
        if proto:
            return openapi_pb.document(doc)
        return json.dumps(doc, separators=(",", ":")).encode()

    body = await asyncio.to_thread(openapi_pb.cached, key, "pb" if proto else "json", build)
    tag = discovery.etag(body)
    headers = {"ETag": tag, "Vary": "Accept"}
    if request.headers.get("If-None-Match") == tag:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = openapi_pb.CONTENT_TYPE if proto else D.JSON
    return web.Response(body=body, headers=headers)


async def _openapi_v3_index(request: web.Request) -> web.Response:
    reg = request.app["state"].resources.registry
    return _json_response(openapi.openapi_v3_index(reg))


async def _openapi_v3_doc(request: web.Request) -> web.Response:
    reg = request.app["state"].resources.registry
    parts = request.match_info["path"].strip("/").split("/")
    found = None
    if len(parts) == 2 and parts[0] == "api":
        found = openapi.openapi_v3_group_version_bytes(reg, "", parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        found = openapi.openapi_v3_group_version_bytes(reg, parts[1], parts[2])
    if found is None:
        raise E.StatusError(404, "NotFound", "the server could not find the requested resource")
    body, digest = found
    headers = {"ETag": f'"{digest}"'}
    if request.query.get("hash") == digest:
        headers["Cache-Control"] = "public, immutable"
    return web.Response(body=body, content_type="application/json", headers=headers)


# ------------------------------------------------------------------- routing
async def _core(request: web.Request) -> web.StreamResponse:
    version = request.match_info["version"]
    rest = [p for p in request.match_info["rest"].split("/") if p]
    return await _dispatch(request, "", version, rest)


async def _grouped(request: web.Request) -> web.StreamResponse:
    group = request.match_info["group"]
    rest = [p for p in request.match_info["rest"].split("/") if p]
    state: ApiState = request.app["state"]
    reg = state.resources.registry
    if not rest:
        doc = discovery.api_group(reg, group)
        if doc is None:
            raise E.StatusError(404, "NotFound", "the server could not find the requested resource")
        return _json_response(doc)
    return await _dispatch(request, group, rest[0], rest[1:])


async def _dispatch(
    request: web.Request, group: str, version: str, rest: list[str]
) -> web.StreamResponse:
    state: ApiState = request.app["state"]
    reg = state.resources.registry
    types = reg.in_group_version(group, version)
    if not types:
        raise _not_served(reg, group)
    gv = f"{group}/{version}" if group else version
    if not rest:
        if request.method != "GET":
            raise E.method_not_allowed()
        return _json_response(discovery.resource_list(types, gv))
    namespace = ""
    if rest[0] == "watch":  # legacy /watch/ paths
        rest = rest[1:]
        request = request.clone(rel_url=request.rel_url.update_query({"watch": "true"}))
    if len(rest) >= 3 and rest[0] == "namespaces" and reg.get(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    rt = reg.get(group, version, rest[0])
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if (
        rt is None
        or len(rest) > 3
        or (sub and not discovery.has_subresource(rt, sub))
        or (namespace and not rt.namespaced)
        or (rt.namespaced and name and not namespace)
    ):
        raise _not_served(reg, group)
    method = request.method
    if sub == "log":
        if method != "GET":
            raise E.method_not_allowed()
        return await pod_log(
            request,
            rt,
            namespace,
            name,
            resources=state.resources,
            log_file=state.pod_logs,
            closing=request.app[_CLOSING],
        )
    if sub in _POD_CONNECT and rt.key == ("", "pods"):
        return await _pod_connect(request, rt, namespace, name, sub)
    if sub == "scale":
        return await _scale(request, rt, namespace, name)
    _check_verb(rt, method, name, sub)
    if not name:
        if method == "GET":
            if D.query_flag(request.query, "watch"):
                return await _watch(request, rt, namespace or None)
            return _list(request, rt, namespace or None)
        if method == "POST":
            return await _create(request, rt, namespace)
        if method == "DELETE":
            return await _delete_collection(request, rt, namespace or None)
        raise E.method_not_allowed()
    if method == "GET":
        return _get(request, rt, namespace, name)
    if method == "PUT":
        return await _update(request, rt, namespace, name, sub)
    if method == "PATCH":
        return await _patch(request, rt, namespace, name, sub)
    if method == "DELETE" and not sub:
        return await _delete(request, rt, namespace, name)
    raise E.method_not_allowed()


#: the Pod subresources a kubelet serves through kube-apiserver's upgrade-aware proxy
_POD_CONNECT = ("attach", "exec", "portforward")


async def _pod_connect(
    request: web.Request, rt: ResourceType, namespace: str, name: str, sub: str
) -> web.StreamResponse:
    """``pods/portforward`` (served for the Pods the sandbox runs), ``pods/exec`` and
    ``pods/attach`` (refused with a Status): GET or POST, as kube-apiserver connects them."""
    if request.method not in ("GET", "POST"):
        raise E.method_not_allowed()
    state: ApiState = request.app["state"]
    pod = state.resources.get(rt, namespace, name)
    if state.pod_connect is None:
        raise E.bad_request(f"the sandbox cannot connect to pod {name}: it runs no kubelet here")
    return await state.pod_connect(request, pod, sub, request.app[_CLOSING])


def _not_served(reg: Registry, group: str) -> E.StatusError:
    """kube-apiserver's 404 for a path nothing serves. Under a built-in group-version its
    REST router answers, with empty ``details``; elsewhere (a CRD's group, an unknown one)
    its last handler, without."""
    builtin = not group or any(t.group == group and not t.custom for t in reg.all())
    return E.StatusError(
        404, "NotFound", "the server could not find the requested resource", {} if builtin else None
    )


#: the verb a request on a resource (not a subresource) is, by method and whether it names
#: an object; GET of a collection is "list" or "watch", served together
_VERBS = {
    ("GET", False): "list",
    ("POST", False): "create",
    ("DELETE", False): "deletecollection",
    ("GET", True): "get",
    ("PUT", True): "update",
    ("PATCH", True): "patch",
    ("DELETE", True): "delete",
}


def _check_verb(rt: ResourceType, method: str, name: str, sub: str) -> None:
    """405 for a verb the resource does not offer (``DELETE /api/v1/namespaces``: namespaces
    have no deletecollection), before anything is read or done, as from kube-apiserver,
    which has no route for it."""
    verb = _VERBS.get((method, bool(name)))
    if verb is not None and not sub and verb not in rt.verbs:
        raise E.method_not_allowed()


# ------------------------------------------------------------------- helpers
def _wants_table(request: web.Request) -> bool:
    return bool(_TABLE_RE.search(request.headers.get("Accept", "")))


async def _read_body(request: web.Request) -> Any:
    """The decoded body of a request whose body is not an object (DeleteOptions, faults)."""
    return (await _read_object(request)).value


async def _read_object(
    request: web.Request, rt: ResourceType | None = None, *, patch: bool = False
) -> D.Decoded:
    """The body, decoded as its ``Content-Type`` says (a patch type when ``patch``), with
    what a strict decoder says about it; 415 for a type the endpoint does not take."""
    try:
        async with asyncio.timeout(request.app[_BODY_TIMEOUT]):
            raw = await request.read()
    except TimeoutError:
        # a body that trickles in (or stops) holds a connection and a handler: kube-apiserver's
        # timeout filter ends such a request at its --request-timeout with this Status; the
        # connection is closed after it (aiohttp lingers at most 10 s for the rest of the body)
        raise E.StatusError(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - "
            "context deadline exceeded",
            {},
            headers={"Connection": "close"},
        ) from None
    if len(raw) > MAX_BODY:
        raise E.StatusError(
            413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"
        )
    if not raw.strip():
        return D.Decoded(None)
    ctype = D.media_type(request.headers.get("Content-Type"))
    if ctype == D.PROTOBUF and not patch:
        from kn_walk.sandbox.apiserver import protobuf

        try:
            return D.Decoded(protobuf.decode(raw))
        except protobuf.UnsupportedKind:
            # a kind without a protobuf schema: 415, as for any other unknown format
            raise E.unsupported_media_type([D.JSON, D.YAML]) from None
        except protobuf.ProtobufError as exc:
            raise E.bad_request(str(exc)) from exc
    if ctype in (D.JSON, D.YAML) or (patch and ctype in D.JSON_TYPES | D.YAML_TYPES):
        return await D.decode_async(raw, ctype)
    if patch and rt is not None:
        raise unsupported_patch(rt)
    raise E.unsupported_media_type(D.accepted_media_types(rt is None or rt.custom))


def _opts(request: web.Request, sub: str = "", body: D.Decoded | None = None) -> WriteOptions:
    q = request.query
    dry = q.getall("dryRun", [])
    for d in dry:
        if d != "All":
            raise E.bad_request(f'Invalid dryRun value "{d}": supported values: "All"')
    validation = q.get("fieldValidation", "Strict" if "fieldValidation" in q else "Warn")
    if validation not in ("Strict", "Warn", "Ignore"):
        raise E.bad_request(
            f"fieldValidation must be one of Ignore, Warn, or Strict, got: {validation}"
        )
    manager = q.get("fieldManager") or _default_manager(request.headers.get("User-Agent", ""))
    if len(manager) > 128:
        raise E.StatusError(
            422, "Invalid", "fieldManager: Too long: may not be more than 128 bytes"
        )
    return WriteOptions(
        manager=manager,
        dry_run=bool(dry),
        field_validation=validation,
        subresource=sub,
        yaml_errors=list(body.yaml_errors) if body else [],
        duplicate_fields=list(body.duplicate_fields) if body else [],
    )


def _default_manager(user_agent: str) -> str:
    from kn_walk.sandbox.machinery import fields

    return fields.default_manager(user_agent) if user_agent else "unknown"


def _write_response(obj: Obj, opts: WriteOptions, status: int = 200) -> web.Response:
    headers = {"Warning": E.warning_header(opts.warnings)} if opts.warnings else None
    return _json_response(obj, status, headers)


def _render(
    request: web.Request,
    rt: ResourceType,
    objs: list[Obj],
    *,
    single: bool,
    rv: str,
    cont: str = "",
    remaining: int | None = None,
) -> web.Response:
    if _wants_table(request):
        include = request.query.get("includeObject", "Metadata")
        if include not in ("None", "Metadata", "Object"):
            raise E.bad_request(f'unrecognized includeObject value: "{include}"')
        table = _table(
            request, rt, objs, resource_version=rv, continue_token=cont, include_object=include
        )
        return _json_response(table)
    if single:
        return _json_response(objs[0])
    meta: Obj = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    return _json_response(
        {"kind": rt.kind_list, "apiVersion": rt.api_version, "metadata": meta, "items": objs}
    )


def _table(request: web.Request, rt: ResourceType, objs: list[Obj], **options: Any) -> Obj:
    """``objs`` as a Table; a kind served in two groups prints as its stored form does."""
    srt = _storage(request, rt)
    if srt is rt:
        return tables.to_table(rt, objs, **options)
    table = tables.to_table(srt, [_stored(rt, o) for o in objs], **options)
    for row in table["rows"]:
        if isinstance(row.get("object"), dict) and row["object"].get("kind") == rt.kind:
            row["object"] = _shown(rt, row["object"])
    return table


# --------------------------------------------------------------------- verbs
# A kind served in two groups (Events: core/v1 and events.k8s.io/v1) is stored once, in
# its core/v1 form: _stored() is the type and shape it is stored as, _shown() the shape
# the request's group shows it in.
def _storage(request: web.Request, rt: ResourceType) -> ResourceType:
    if rt.key != eventsv1.KEY:
        return rt
    reg: Registry = request.app["state"].resources.registry
    core = reg.get("", "v1", "events")
    assert core is not None
    return core


def _shown(rt: ResourceType, obj: Obj) -> Obj:
    return eventsv1.to_events_v1(obj) if rt.key == eventsv1.KEY else obj


def _stored(rt: ResourceType, body: Any) -> Any:
    return eventsv1.to_core(body) if rt.key == eventsv1.KEY and isinstance(body, dict) else body


def _get(request: web.Request, rt: ResourceType, namespace: str, name: str) -> web.Response:
    D.resource_version(request.query.get("resourceVersion", ""))  # read as storage reads it
    obj = request.app["state"].resources.get(_storage(request, rt), namespace, name)
    return _render(
        request, rt, [_shown(rt, obj)], single=True, rv=obj["metadata"].get("resourceVersion", "")
    )


def _list(request: web.Request, rt: ResourceType, namespace: str | None) -> web.Response:
    q = request.query
    opts = D.list_options(q, watch=False)
    fields = q.get("fieldSelector")
    items, rv, cont, remaining = request.app["state"].resources.list_objects(
        _storage(request, rt),
        namespace,
        label_sel=q.get("labelSelector"),
        field_sel=eventsv1.field_selector(fields) if rt.key == eventsv1.KEY else fields,
        limit=max(opts.limit, 0),
        continue_token=opts.continue_token,
    )
    items = [_shown(rt, i) for i in items]
    return _render(request, rt, items, single=False, rv=rv, cont=cont, remaining=remaining)


async def _create(request: web.Request, rt: ResourceType, namespace: str) -> web.Response:
    body = await _read_object(request, rt)
    opts = _opts(request, body=body)
    if authz.is_review(rt):  # asked and answered, never stored
        return _json_response(authz.review(rt, body.value, request.app["state"].token), 201)
    res: Resources = request.app["state"].resources
    obj = res.create(_storage(request, rt), namespace, _stored(rt, body.value), opts)
    return _write_response(_shown(rt, obj), opts, 201)


async def _scale(request: web.Request, rt: ResourceType, namespace: str, name: str) -> web.Response:
    """``deployments/{name}/scale``: GET, PUT or PATCH an ``autoscaling/v1`` Scale."""
    res = request.app["state"].resources
    if request.method == "GET":
        return _json_response(scale.scale_of(res.get(rt, namespace, name)))
    if request.method not in ("PUT", "PATCH"):
        raise E.method_not_allowed()
    ctype = D.media_type(request.headers.get("Content-Type"))
    patch = request.method == "PATCH"
    if patch and ctype not in scale.SCALE_PATCH_TYPES:
        raise unsupported_patch(rt)
    body = await _read_object(request, rt, patch=patch)
    opts = _opts(request, body=body)
    if request.method == "PUT":
        obj = scale.write_scale(res, rt, namespace, name, body.value, opts)
    else:
        obj = scale.patch_scale(res, rt, namespace, name, ctype, body.value, opts)
    return _json_response(obj)


async def _update(
    request: web.Request, rt: ResourceType, namespace: str, name: str, sub: str
) -> web.Response:
    body = await _read_object(request, rt)
    opts = _opts(request, sub, body)
    res: Resources = request.app["state"].resources
    obj = res.update(_storage(request, rt), namespace, name, _stored(rt, body.value), opts)
    return _write_response(_shown(rt, obj), opts)


async def _patch(
    request: web.Request, rt: ResourceType, namespace: str, name: str, sub: str
) -> web.Response:
    ctype = D.media_type(request.headers.get("Content-Type"))
    if ctype not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH, APPLY_PATCH, APPLY_PATCH_CBOR):
        raise unsupported_patch(rt)
    if ctype == STRATEGIC_PATCH and rt.custom:
        raise unsupported_patch(rt)
    decoded = await _read_object(request, rt, patch=True)
    body = decoded.value
    opts = _opts(request, sub, decoded if ctype != JSON_PATCH else None)
    if ctype in (APPLY_PATCH, APPLY_PATCH_CBOR) and not request.query.get("fieldManager"):
        opts.manager = ""
    force = request.query.get("force") in ("true", "1", "True")
    if force and ctype not in (APPLY_PATCH, APPLY_PATCH_CBOR):
        raise E.StatusError(
            422, "Invalid", "force: Forbidden: may not be specified for non-apply patch"
        )
    res: Resources = request.app["state"].resources
    srt = _storage(request, rt)
    if srt is not rt and ctype not in (APPLY_PATCH, APPLY_PATCH_CBOR):
        # patched in the shape the client sees, stored in the shape it is stored in
        old = res.get(srt, namespace, name)
        new = patched(_shown(rt, old), ctype, body, rt)
        if not isinstance(new, dict):
            raise E.bad_request("the patch produced an object that is not a JSON object")
        new.setdefault("metadata", {}).setdefault(
            "resourceVersion", old["metadata"].get("resourceVersion")
        )
        obj = res.update(srt, namespace, name, _stored(rt, new), opts)
        return _write_response(_shown(rt, obj), opts)
    obj, created = res.patch(srt, namespace, name, ctype, _stored(rt, body), opts, force=force)
    return _write_response(_shown(rt, obj), opts, 201 if created else 200)


def _delete_options(request: web.Request, body: Any) -> deleteoptions.DeleteOptions:
    return deleteoptions.parse(body, request.query, request.query.getall("dryRun", []))


async def _delete(
    request: web.Request, rt: ResourceType, namespace: str, name: str
) -> web.Response:
    body = await _read_body(request)
    opts = _delete_options(request, body)
    obj = request.app["state"].resources.delete(
        _storage(request, rt),
        namespace,
        name,
        propagation=opts.policy,
        precondition_rv=opts.precondition_rv,
        precondition_uid=opts.precondition_uid,
        dry_run=opts.dry_run,
    )
    if _returns_object(rt, obj):
        return _json_response(_shown(rt, obj))
    details: Obj = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural  # kube-apiserver puts the resource here
    details["uid"] = obj["metadata"].get("uid")
    return _json_response(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }
    )


_NAMESPACES = ("", "namespaces")
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")


def _returns_object(rt: ResourceType, obj: Obj) -> bool:
    """Whether kube-apiserver answers a DELETE of ``obj`` with the object, not a Status:
    for a kind whose storage returns the deleted object (pods, services, ...; custom
    resources); for a Namespace and a CustomResourceDefinition, whose delete marks them
    for their finalizers first; and for any object still held by finalizers."""
    meta = obj.get("metadata") or {}
    return (
        rt.key in RETURNS_DELETED_OBJECT
        or rt.custom
        or rt.key in (_NAMESPACES, _CRDS)
        or bool(meta.get("finalizers"))
    )


async def _delete_collection(
    request: web.Request, rt: ResourceType, namespace: str | None
) -> web.Response:
    body = await _read_body(request)
    opts = _delete_options(request, body)
    res: Resources = request.app["state"].resources
    srt = _storage(request, rt)
    fields = request.query.get("fieldSelector")
    items, _, _, _ = res.list_objects(
        srt,
        namespace,
        label_sel=request.query.get("labelSelector"),
        field_sel=eventsv1.field_selector(fields) if srt is not rt else fields,
    )
    deleted = []
    for obj in items:
        meta = obj["metadata"]
        try:
            deleted.append(
                res.delete(
                    srt,
                    meta.get("namespace", ""),
                    meta["name"],
                    propagation=opts.policy,
                    precondition_rv=opts.precondition_rv,
                    precondition_uid=opts.precondition_uid,
                    dry_run=opts.dry_run,
                )
            )
        except E.StatusError as err:
            if err.code != 404:
                raise
    return _json_response(
        {
            "kind": rt.kind_list,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(res.store.resource_version)},
            "items": [_shown(rt, d) for d in deleted],
        }
    )


# --------------------------------------------------------------------- watch
async def _watch(
    request: web.Request, rt: ResourceType, namespace: str | None
) -> web.StreamResponse:
    res: Resources = request.app["state"].resources
    q = request.query
    opts = D.list_options(q, watch=True)
    srt = _storage(request, rt)
    fields = q.get("fieldSelector")
    labels_ok = label_selector(q.get("labelSelector"))
    fields_ok = field_selector(
        eventsv1.field_selector(fields) if srt is not rt else fields, rt.plural
    )
    key = rkey(srt)
    # 0 (or none): the server's default; a negative timeout has passed already
    timeout = 1800.0 if not opts.timeout_seconds else max(float(opts.timeout_seconds), 0.0)

    def matches(obj: Obj) -> bool:
        return labels_ok((obj.get("metadata") or {}).get("labels") or {}) and fields_ok(obj)

    def in_scope(ev: Event) -> bool:
        return ev.rkey == key and (namespace is None or ev.namespace == namespace)

    watcher = res.store.subscribe(in_scope)
    try:
        initial: list[tuple[str, Obj]] = []
        last_rv = res.store.resource_version
        if opts.rv == 0 or opts.send_initial_events:
            for obj in res.store.list_objects(key, namespace):
                if matches(obj):
                    initial.append(("ADDED", _shown(rt, res._versioned(srt, obj))))
        else:
            # events after the one asked for: none for a resourceVersion yet to come
            last_rv = max(last_rv, opts.rv)
            try:
                for past in res.store.events_since(opts.rv, key, namespace):
                    if matches(past.obj):
                        initial.append((past.type, _shown(rt, res._versioned(srt, past.obj))))
            except Gone as gone:
                resp = await _start_stream(request)
                err = E.StatusError(410, "Expired", str(gone))
                await _send(resp, {"type": "ERROR", "object": err.status()})
                return resp
        resp = await _start_stream(request)
        try:
            await _stream_events(
                request, resp, rt, opts, watcher, initial, last_rv, timeout, matches
            )
        except ConnectionResetError:
            # the client went away (every informer does, at the end of each watch): no
            # traceback in the log for that, one line at debug level
            log.debug("watch %s: the client closed the connection", request.path)
        return resp
    finally:
        res.store.unsubscribe(watcher)


async def _stream_events(
    request: web.Request,
    resp: web.StreamResponse,
    rt: ResourceType,
    opts: D.ListOptions,
    watcher: Watcher,
    initial: list[tuple[str, Obj]],
    last_rv: int,
    timeout: float,
    matches: Callable[[Obj], bool],
) -> None:
    """Send the initial events, then what the store publishes, until the watch ends."""
    res: Resources = request.app["state"].resources
    as_table = _wants_table(request)
    cut_after = request.get("cut_after")
    sent = 0
    for etype, obj in initial:
        if cut_after is not None and sent >= cut_after:
            return
        sent += 1
        await _send(resp, {"type": etype, "object": _event_object(request, rt, obj, as_table)})
    if opts.allow_watch_bookmarks and opts.send_initial_events:
        await _send(resp, _bookmark(rt, last_rv, initial_done=True))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ev: Event | None
    while cut_after is None or sent < cut_after:
        remaining = deadline - loop.time()
        if remaining <= 0 or request.transport is None or request.transport.is_closing():
            return
        try:
            async with asyncio.timeout(min(remaining, 60.0)):
                ev = await watcher.queue.get()
        except TimeoutError:
            if opts.allow_watch_bookmarks:
                await _send(resp, _bookmark(rt, res.store.resource_version))
            continue
        if ev is None:
            return
        if ev.rv <= last_rv:
            continue
        last_rv = ev.rv
        if matches(ev.obj):
            sent += 1
            shown = _shown(rt, res._versioned(_storage(request, rt), ev.obj))
            obj = _event_object(request, rt, shown, as_table)
            await _send(resp, {"type": ev.type, "object": obj})


async def _start_stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"},
    )
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


async def _send(resp: web.StreamResponse, event: Obj) -> None:
    await resp.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")


def _bookmark(rt: ResourceType, rv: int, *, initial_done: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_done:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
    }


def _event_object(request: web.Request, rt: ResourceType, obj: Obj, as_table: bool) -> Obj:
    if not as_table:
        return obj
    return _table(request, rt, [obj], resource_version=obj["metadata"].get("resourceVersion", ""))
