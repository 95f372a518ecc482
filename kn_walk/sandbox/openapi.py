"""OpenAPI documents as kube-apiserver publishes them, for ``kubectl`` to read.

* ``GET /openapi/v3`` → :func:`openapi_v3_index` (one ``serverRelativeURL`` per
  group-version, carrying the hash of that document).
* ``GET /openapi/v3/api/v1``, ``/openapi/v3/apis/{g}/{v}`` →
  :func:`openapi_v3_group_version` (or :func:`openapi_v3_group_version_bytes` for
  the exact bytes and hash to serve, with ETag).
* ``GET /openapi/v2`` → :func:`openapi_v2` (Swagger 2.0, JSON).

What kubectl 1.32 reads: ``kubectl explain`` finds the GVK on any operation of
``/apis/<g>/<v>/[namespaces/{namespace}/]<plural>[/{name}]`` and renders the
``components.schemas`` entry whose ``x-kubernetes-group-version-kind`` lists it;
``kubectl apply`` uses strategic merge patch only when the PATCH operation's
requestBody lists ``application/strategic-merge-patch+json`` (built-ins; custom
resources get JSON merge patch); ``--validate=strict`` looks for a
``fieldValidation`` query parameter on that PATCH operation.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from kn_walk.sandbox.registry import ResourceType
from kn_walk.sandbox.schema import (
    API_VERSION_DESCRIPTION,
    DEFINITIONS,
    KIND_DESCRIPTION,
    LIST_METADATA_DESCRIPTION,
    OBJECT_METADATA_DESCRIPTION,
    REF_PREFIX,
    builtin_definition_name,
)

__all__ = [
    "KUBERNETES_VERSION",
    "definition_name",
    "document_bytes",
    "document_hash",
    "openapi_v2",
    "openapi_v3_group_version",
    "openapi_v3_group_version_bytes",
    "openapi_v3_index",
    "openapi_v3_path",
]

KUBERNETES_VERSION = "v1.32.0"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_V2_PREFIX = "#/definitions/"

PATCH_TYPES_CUSTOM = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)
PATCH_TYPES_BUILTIN = (*PATCH_TYPES_CUSTOM, "application/strategic-merge-patch+json")


class RegistryLike(Protocol):
    def all(self) -> list[ResourceType]: ...


# ------------------------------------------------------------------- naming


def _reverse_group(group: str) -> str:
    return ".".join(reversed(group.split("."))) if group else ""


def definition_name(rt: ResourceType) -> str:
    """The component/definition name kube-apiserver gives ``rt``'s kind."""
    builtin = None if rt.custom else builtin_definition_name(rt.group, rt.version, rt.kind)
    if builtin is not None:
        return builtin
    if not rt.group:
        return f"io.k8s.api.core.{rt.version}.{rt.kind}"
    return f"{_reverse_group(rt.group)}.{rt.version}.{rt.kind}"


def _list_definition_name(rt: ResourceType) -> str:
    name = definition_name(rt)
    return name[: -len(rt.kind)] + rt.kind_list


def _camel_group(group: str) -> str:
    """``serving.knative.dev`` → ``ServingKnativeDev``; ``""`` → ``Core``."""
    if not group:
        return "Core"
    trimmed = group.removesuffix(".k8s.io")
    parts = [p for chunk in trimmed.split(".") for p in chunk.split("-") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


def _tag(rt: ResourceType) -> str:
    camel = _camel_group(rt.group)
    return f"{camel[:1].lower()}{camel[1:]}_{rt.version}"


def openapi_v3_path(group: str, version: str) -> str:
    """The key of a group-version in the ``/openapi/v3`` index (``api/v1``, ``apis/g/v``)."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


# ------------------------------------------------------------------ schemas


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF_PREFIX + name}


def _gvk(rt: ResourceType, kind: str | None = None) -> dict[str, str]:
    return {"group": rt.group, "kind": kind or rt.kind, "version": rt.version}


def _add_embedded_meta(node: Any) -> None:
    """Give ``x-kubernetes-embedded-resource`` objects their TypeMeta/ObjectMeta fields."""
    if isinstance(node, dict):
        if node.get("x-kubernetes-embedded-resource") is True:
            props = node.setdefault("properties", {})
            if isinstance(props, dict):
                props.setdefault("apiVersion", _string(API_VERSION_DESCRIPTION))
                props.setdefault("kind", _string(KIND_DESCRIPTION))
                props["metadata"] = {
                    "allOf": [_ref(_META + "ObjectMeta")],
                    "description": OBJECT_METADATA_DESCRIPTION,
                }
        for value in node.values():
            _add_embedded_meta(value)
    elif isinstance(node, list):
        for value in node:
            _add_embedded_meta(value)


def _string(description: str) -> dict[str, Any]:
    return {"description": description, "type": "string"}


def _custom_kind_schema(rt: ResourceType) -> dict[str, Any]:
    if not isinstance(rt.schema, Mapping):
        return {"type": "object", "x-kubernetes-group-version-kind": [_gvk(rt)]}
    out = copy.deepcopy(dict(rt.schema))
    _add_embedded_meta(out)
    props = out.get("properties")
    props = dict(props) if isinstance(props, Mapping) else {}
    props["apiVersion"] = _string(API_VERSION_DESCRIPTION)
    props["kind"] = _string(KIND_DESCRIPTION)
    props["metadata"] = {
        "allOf": [_ref(_META + "ObjectMeta")],
        "description": OBJECT_METADATA_DESCRIPTION,
    }
    out["properties"] = props
    out.setdefault("type", "object")
    out["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return out


def _custom_list_schema(rt: ResourceType) -> dict[str, Any]:
    return {
        "description": f"{rt.kind_list} is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": _string(API_VERSION_DESCRIPTION),
            "items": {
                "description": f"List of {rt.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                "api-conventions.md",
                "type": "array",
                "items": _ref(definition_name(rt)),
            },
            "kind": _string(KIND_DESCRIPTION),
            "metadata": {
                "allOf": [_ref(_META + "ListMeta")],
                "description": LIST_METADATA_DESCRIPTION,
            },
        },
        "x-kubernetes-group-version-kind": [_gvk(rt, rt.kind_list)],
    }


def _refs_in(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref[len(REF_PREFIX) :]
        for value in node.values():
            yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


_ALWAYS = (
    _META + "ObjectMeta",
    _META + "ListMeta",
    _META + "Status",
    _META + "DeleteOptions",
    _META + "Patch",
    _META + "WatchEvent",
)


def _schemas_for(rts: list[ResourceType]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for rt in rts:
        builtin = None if rt.custom else builtin_definition_name(rt.group, rt.version, rt.kind)
        if builtin is not None and builtin in DEFINITIONS:
            schemas[builtin] = copy.deepcopy(DEFINITIONS[builtin])
            list_name = builtin + "List"
            if list_name in DEFINITIONS:
                schemas[list_name] = copy.deepcopy(DEFINITIONS[list_name])
        elif rt.custom or isinstance(rt.schema, Mapping):
            schemas[definition_name(rt)] = _custom_kind_schema(rt)
            schemas[_list_definition_name(rt)] = _custom_list_schema(rt)
        else:  # a built-in kind the sandbox stores without modelling its fields
            schemas[definition_name(rt)] = {
                "type": "object",
                "x-kubernetes-group-version-kind": [_gvk(rt)],
                "x-kubernetes-preserve-unknown-fields": True,
            }
            schemas[_list_definition_name(rt)] = _custom_list_schema(rt)
    pending = [*_ALWAYS, *(r for s in schemas.values() for r in _refs_in(s))]
    while pending:
        name = pending.pop()
        if name in schemas or name not in DEFINITIONS:
            continue
        schemas[name] = copy.deepcopy(DEFINITIONS[name])
        pending.extend(_refs_in(schemas[name]))
    return schemas


# -------------------------------------------------------------- operations

_PARAM_DOCS: dict[str, tuple[str, str]] = {
    "allowWatchBookmarks": (
        "boolean",
        'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do '
        "not implement bookmarks may ignore this flag.",
    ),
    "continue": (
        "string",
        "The continue option should be set when retrieving more results from the server.",
    ),
    "dryRun": (
        "string",
        "When present, indicates that modifications should not be persisted. Valid values "
        "are: - All: all dry run stages will be processed",
    ),
    "fieldManager": (
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
    ),
    "fieldSelector": (
        "string",
        "A selector to restrict the list of returned objects by their fields. Defaults to "
        "everything.",
    ),
    "fieldValidation": (
        "string",
        "fieldValidation instructs the server on how to handle objects in the request "
        "containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
    ),
    "force": (
        "boolean",
        'Force is going to "force" Apply requests. It means user will re-acquire '
        "conflicting fields owned by other people.",
    ),
    "gracePeriodSeconds": (
        "integer",
        "The duration in seconds before the object should be deleted.",
    ),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "boolean",
        "if set to true, it will trigger an unsafe deletion of the resource in case the "
        "normal deletion flow fails with a corrupt object error.",
    ),
    "labelSelector": (
        "string",
        "A selector to restrict the list of returned objects by their labels. Defaults to "
        "everything.",
    ),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "orphanDependents": (
        "boolean",
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.",
    ),
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "propagationPolicy": (
        "string",
        "Whether and how garbage collection will be performed: 'Orphan', 'Background' or "
        "'Foreground'.",
    ),
    "resourceVersion": (
        "string",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    "resourceVersionMatch": (
        "string",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    "sendInitialEvents": (
        "boolean",
        "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the "
        "watch stream will begin with synthetic events to produce the current state of "
        "objects in the collection.",
    ),
    "timeoutSeconds": (
        "integer",
        "Timeout for the list/watch call. This limits the duration of the call, regardless of "
        "any activity or inactivity.",
    ),
    "watch": (
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, "
        "update, and remove notifications.",
    ),
}

_LIST_PARAMS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")
_DELETE_PARAMS = (
    "dryRun",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
)


class _Op:
    """One operation, rendered later as OpenAPI v3 or Swagger 2.0."""

    def __init__(
        self,
        *,
        method: str,
        action: str,
        op_id: str,
        description: str,
        query: tuple[str, ...],
        responses: dict[str, tuple[str, str | None]],
        body: str | None = None,
        body_types: tuple[str, ...] = (),
        produces: tuple[str, ...] = (),
    ) -> None:
        self.method = method
        self.action = action
        self.op_id = op_id
        self.description = description
        self.query = query
        self.responses = responses
        self.body = body
        self.body_types = body_types
        self.produces = produces


class _PathItem:
    def __init__(self, path_params: tuple[str, ...], path_query: tuple[str, ...]) -> None:
        self.path_params = path_params  # "name", "namespace"
        self.path_query = path_query
        self.ops: list[_Op] = []


def _media(rt: ResourceType, *, watch: bool = False, stream: bool = False) -> tuple[str, ...]:
    types = ["application/json", "application/yaml"]
    if not rt.custom:
        types.append("application/vnd.kubernetes.protobuf")
    if watch or stream:
        types.append("application/json;stream=watch")
        if not rt.custom:
            types.append("application/vnd.kubernetes.protobuf;stream=watch")
    return tuple(sorted(types))


def _path_items(rt: ResourceType) -> dict[str, _PathItem]:
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    prefix = _camel_group(rt.group) + rt.version[:1].upper() + rt.version[1:]
    scope = "Namespaced" if rt.namespaced else ""
    ns_seg = "/namespaces/{namespace}" if rt.namespaced else ""
    ns_param: tuple[str, ...] = ("namespace",) if rt.namespaced else ()
    kind = rt.kind
    obj = definition_name(rt)
    lst = _list_definition_name(rt)
    status_ref = _META + "Status"
    patch_types = PATCH_TYPES_CUSTOM if rt.custom else PATCH_TYPES_BUILTIN
    media = _media(rt)
    items: dict[str, _PathItem] = {}

    coll = _PathItem(ns_param, ("pretty",))
    coll.ops = [
        _Op(
            method="get",
            action="list",
            op_id=f"list{prefix}{scope}{kind}",
            description=f"list or watch objects of kind {kind}",
            query=_LIST_PARAMS,
            responses={"200": ("OK", lst)},
            produces=_media(rt, stream=True),
        ),
        _Op(
            method="post",
            action="post",
            op_id=f"create{prefix}{scope}{kind}",
            description=f"create a {kind}",
            query=_WRITE_PARAMS,
            responses={"200": ("OK", obj), "201": ("Created", obj), "202": ("Accepted", obj)},
            body=obj,
            body_types=("*/*",),
            produces=media,
        ),
        _Op(
            method="delete",
            action="deletecollection",
            op_id=f"delete{prefix}Collection{scope}{kind}",
            description=f"delete collection of {kind}",
            query=(*_DELETE_PARAMS, *(p for p in _LIST_PARAMS if p not in ("watch",))),
            responses={"200": ("OK", status_ref)},
            body=_META + "DeleteOptions",
            body_types=("*/*",),
            produces=media,
        ),
    ]
    items[f"{base}{ns_seg}/{rt.plural}"] = coll

    item = _PathItem(("name", *ns_param), ("pretty",))
    item.ops = [
        _Op(
            method="get",
            action="get",
            op_id=f"read{prefix}{scope}{kind}",
            description=f"read the specified {kind}",
            query=(),
            responses={"200": ("OK", obj)},
            produces=media,
        ),
        _Op(
            method="put",
            action="put",
            op_id=f"replace{prefix}{scope}{kind}",
            description=f"replace the specified {kind}",
            query=_WRITE_PARAMS,
            responses={"200": ("OK", obj), "201": ("Created", obj)},
            body=obj,
            body_types=("*/*",),
            produces=media,
        ),
        _Op(
            method="patch",
            action="patch",
            op_id=f"patch{prefix}{scope}{kind}",
            description=f"partially update the specified {kind}",
            query=_PATCH_PARAMS,
            responses={"200": ("OK", obj), "201": ("Created", obj)},
            body=_META + "Patch",
            body_types=patch_types,
            produces=media,
        ),
        _Op(
            method="delete",
            action="delete",
            op_id=f"delete{prefix}{scope}{kind}",
            description=f"delete a {kind}",
            query=_DELETE_PARAMS,
            responses={"200": ("OK", status_ref), "202": ("Accepted", status_ref)},
            body=_META + "DeleteOptions",
            body_types=("*/*",),
            produces=media,
        ),
    ]
    items[f"{base}{ns_seg}/{rt.plural}/{{name}}"] = item

    if rt.status_subresource:
        status = _PathItem(("name", *ns_param), ("pretty",))
        status.ops = [
            _Op(
                method="get",
                action="get",
                op_id=f"read{prefix}{scope}{kind}Status",
                description=f"read status of the specified {kind}",
                query=(),
                responses={"200": ("OK", obj)},
                produces=media,
            ),
            _Op(
                method="put",
                action="put",
                op_id=f"replace{prefix}{scope}{kind}Status",
                description=f"replace status of the specified {kind}",
                query=_WRITE_PARAMS,
                responses={"200": ("OK", obj), "201": ("Created", obj)},
                body=obj,
                body_types=("*/*",),
                produces=media,
            ),
            _Op(
                method="patch",
                action="patch",
                op_id=f"patch{prefix}{scope}{kind}Status",
                description=f"partially update status of the specified {kind}",
                query=_PATCH_PARAMS,
                responses={"200": ("OK", obj), "201": ("Created", obj)},
                body=_META + "Patch",
                body_types=patch_types,
                produces=media,
            ),
        ]
        items[f"{base}{ns_seg}/{rt.plural}/{{name}}/status"] = status

    watch_media = _media(rt, watch=True)
    event = _META + "WatchEvent"
    watch_query = ("pretty", *_LIST_PARAMS)
    w_item = _PathItem(("name", *ns_param), watch_query)
    w_item.ops = [
        _Op(
            method="get",
            action="watch",
            op_id=f"watch{prefix}{scope}{kind}",
            description=f"watch changes to an object of kind {kind}. deprecated: use the "
            "'watch' parameter with a list operation instead, filtered to a single item with "
            "the 'fieldSelector' parameter.",
            query=(),
            responses={"200": ("OK", event)},
            produces=watch_media,
        )
    ]
    items[f"{base}/watch{ns_seg}/{rt.plural}/{{name}}"] = w_item
    w_list = _PathItem(ns_param, watch_query)
    w_list.ops = [
        _Op(
            method="get",
            action="watchlist",
            op_id=f"watch{prefix}{scope}{kind}List",
            description=f"watch individual changes to a list of {kind}. deprecated: use the "
            "'watch' parameter with a list operation instead.",
            query=(),
            responses={"200": ("OK", event)},
            produces=watch_media,
        )
    ]
    items[f"{base}/watch{ns_seg}/{rt.plural}"] = w_list

    if rt.namespaced:
        all_list = _PathItem((), watch_query)
        all_list.ops = [
            _Op(
                method="get",
                action="list",
                op_id=f"list{prefix}{kind}ForAllNamespaces",
                description=f"list or watch objects of kind {kind}",
                query=(),
                responses={"200": ("OK", lst)},
                produces=_media(rt, stream=True),
            )
        ]
        items[f"{base}/{rt.plural}"] = all_list
        all_watch = _PathItem((), watch_query)
        all_watch.ops = [
            _Op(
                method="get",
                action="watchlist",
                op_id=f"watch{prefix}{kind}ListForAllNamespaces",
                description=f"watch individual changes to a list of {kind}. deprecated: use "
                "the 'watch' parameter with a list operation instead.",
                query=(),
                responses={"200": ("OK", event)},
                produces=watch_media,
            )
        ]
        items[f"{base}/watch/{rt.plural}"] = all_watch
    return items


def _path_param_doc(name: str, rt: ResourceType) -> str:
    if name == "name":
        return f"name of the {rt.kind}"
    return "object name and auth scope, such as for teams and projects"


def _v3_param(name: str, where: str, rt: ResourceType) -> dict[str, Any]:
    if where == "path":
        return {
            "description": _path_param_doc(name, rt),
            "in": "path",
            "name": name,
            "required": True,
            "schema": {"type": "string", "uniqueItems": True},
        }
    type_, doc = _PARAM_DOCS[name]
    return {
        "description": doc,
        "in": "query",
        "name": name,
        "schema": {"type": type_, "uniqueItems": True},
    }


def _v2_param(name: str, where: str, rt: ResourceType) -> dict[str, Any]:
    if where == "path":
        return {
            "description": _path_param_doc(name, rt),
            "in": "path",
            "name": name,
            "required": True,
            "type": "string",
            "uniqueItems": True,
        }
    type_, doc = _PARAM_DOCS[name]
    return {"description": doc, "in": "query", "name": name, "type": type_, "uniqueItems": True}


def _v3_paths(rt: ResourceType) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, pi in _path_items(rt).items():
        entry: dict[str, Any] = {
            "parameters": [_v3_param(p, "path", rt) for p in pi.path_params]
            + [_v3_param(q, "query", rt) for q in pi.path_query]
        }
        for op in pi.ops:
            rendered: dict[str, Any] = {
                "description": op.description,
                "operationId": op.op_id,
                "responses": {
                    code: {
                        "description": desc,
                        **(
                            {"content": {mt: {"schema": _ref(ref)} for mt in op.produces}}
                            if ref
                            else {}
                        ),
                    }
                    for code, (desc, ref) in op.responses.items()
                }
                | {"401": {"description": "Unauthorized"}},
                "tags": [_tag(rt)],
                "x-kubernetes-action": op.action,
                "x-kubernetes-group-version-kind": _gvk(rt),
            }
            if op.query:
                rendered["parameters"] = [_v3_param(q, "query", rt) for q in op.query]
            if op.body is not None:
                rendered["requestBody"] = {
                    "content": {mt: {"schema": _ref(op.body)} for mt in op.body_types},
                    "required": op.method != "delete",
                }
            entry[op.method] = rendered
        out[path] = entry
    return out


def _v2_paths(rt: ResourceType) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, pi in _path_items(rt).items():
        entry: dict[str, Any] = {
            "parameters": [_v2_param(p, "path", rt) for p in pi.path_params]
            + [_v2_param(q, "query", rt) for q in pi.path_query]
        }
        for op in pi.ops:
            params = [_v2_param(q, "query", rt) for q in op.query]
            if op.body is not None:
                params.insert(
                    0,
                    {
                        "in": "body",
                        "name": "body",
                        "required": op.method != "delete",
                        "schema": {"$ref": _V2_PREFIX + op.body},
                    },
                )
            rendered: dict[str, Any] = {
                "consumes": list(op.body_types) if op.body is not None else ["*/*"],
                "description": op.description,
                "operationId": op.op_id,
                "produces": list(op.produces),
                "responses": {
                    code: {"description": desc, "schema": {"$ref": _V2_PREFIX + ref}}
                    if ref
                    else {"description": desc}
                    for code, (desc, ref) in op.responses.items()
                }
                | {"401": {"description": "Unauthorized"}},
                "schemes": ["https"],
                "tags": [_tag(rt)],
                "x-kubernetes-action": op.action,
                "x-kubernetes-group-version-kind": _gvk(rt),
            }
            if params:
                rendered["parameters"] = params
            entry[op.method] = rendered
        out[path] = entry
    return out


# ----------------------------------------------------------------- documents

_SECURITY_V3 = {
    "BearerToken": {
        "description": "Bearer Token authentication",
        "in": "header",
        "name": "authorization",
        "type": "apiKey",
    }
}


def _sorted_types(rts: Iterable[ResourceType]) -> list[ResourceType]:
    return sorted(rts, key=lambda t: (t.group, t.version, t.plural))


def _build_v3(rts: list[ResourceType]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rt in rts:
        paths.update(_v3_paths(rt))
    custom = any(rt.custom for rt in rts)
    return {
        "openapi": "3.0.0",
        "info": {
            "title": "Kubernetes CRD Swagger" if custom else "Kubernetes",
            "version": "v0.1.0" if custom else "unversioned",
        },
        "paths": paths,
        "components": {"schemas": _schemas_for(rts), "securitySchemes": _SECURITY_V3},
        "security": [{"BearerToken": []}],
    }


def document_bytes(doc: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes of a document (sorted keys, compact)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def document_hash(data: bytes) -> str:
    """SHA-512 of the bytes, upper-case hex (as in ``serverRelativeURL`` and the ETag)."""
    return hashlib.sha512(data).hexdigest().upper()


class _Cached:
    def __init__(self, key: tuple[Any, ...], rts: list[ResourceType], doc: dict[str, Any]) -> None:
        self.key = key
        self.rts = rts  # keeps the schemas alive, so their ids in ``key`` stay unique
        self.doc = doc
        self.data = document_bytes(doc)
        self.hash = document_hash(self.data)


_lock = threading.Lock()
_cache: dict[tuple[str, str], _Cached] = {}


def _cache_key(rts: list[ResourceType]) -> tuple[Any, ...]:
    return tuple((rt, id(rt.schema)) for rt in rts)


def _gv_types(registry: RegistryLike, group: str, version: str) -> list[ResourceType]:
    return _sorted_types(t for t in registry.all() if t.group == group and t.version == version)


def _cached_gv(registry: RegistryLike, group: str, version: str) -> _Cached | None:
    rts = _gv_types(registry, group, version)
    if not rts:
        return None
    key = _cache_key(rts)
    with _lock:
        hit = _cache.get((group, version))
        if hit is not None and hit.key == key:
            return hit
    built = _Cached(key, rts, _build_v3(rts))
    with _lock:
        _cache[(group, version)] = built
    return built


def openapi_v3_group_version(
    registry: RegistryLike, group: str, version: str
) -> dict[str, Any] | None:
    """The OpenAPI 3.0 document for one group-version, or None if nothing is served there."""
    hit = _cached_gv(registry, group, version)
    return copy.deepcopy(hit.doc) if hit is not None else None


def openapi_v3_group_version_bytes(
    registry: RegistryLike, group: str, version: str
) -> tuple[bytes, str] | None:
    """``(body, hash)`` for one group-version: serve the bytes, ETag ``"<hash>"``."""
    hit = _cached_gv(registry, group, version)
    return (hit.data, hit.hash) if hit is not None else None


def openapi_v3_index(registry: RegistryLike) -> dict[str, Any]:
    """The ``/openapi/v3`` discovery document."""
    paths: dict[str, Any] = {}
    seen = sorted({(t.group, t.version) for t in registry.all()})
    for group, version in seen:
        hit = _cached_gv(registry, group, version)
        if hit is None:
            continue
        key = openapi_v3_path(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={hit.hash}"}
    return {"paths": paths}


def _to_v2(node: Any) -> Any:
    if isinstance(node, list):
        return [_to_v2(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    all_of = node.get("allOf")
    if (
        isinstance(all_of, list)
        and len(all_of) == 1
        and isinstance(all_of[0], Mapping)
        and set(all_of[0]) == {"$ref"}
    ):
        merged = {k: v for k, v in node.items() if k != "allOf"}
        merged["$ref"] = all_of[0]["$ref"]
        node = merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("nullable", "anyOf", "oneOf", "not", "allOf"):
            continue
        if key == "$ref" and isinstance(value, str):
            out[key] = (
                _V2_PREFIX + value[len(REF_PREFIX) :] if value.startswith(REF_PREFIX) else value
            )
            continue
        if key in ("properties", "patternProperties") and isinstance(value, Mapping):
            out[key] = {k: _to_v2(v) for k, v in value.items()}
            continue
        out[key] = _to_v2(value)
    if out.get("x-kubernetes-int-or-string") is True:
        out.pop("type", None)
    return out


def openapi_v2(registry: RegistryLike) -> dict[str, Any]:
    """The Swagger 2.0 document for everything served (``/openapi/v2``)."""
    rts = _sorted_types(registry.all())
    paths: dict[str, Any] = {}
    for rt in rts:
        paths.update(_v2_paths(rt))
    definitions = {name: _to_v2(schema) for name, schema in _schemas_for(rts).items()}
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": _SECURITY_V3,
        "security": [{"BearerToken": []}],
    }
