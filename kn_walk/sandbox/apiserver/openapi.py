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
from dataclasses import dataclass
from typing import Any, Protocol

from kn_walk.sandbox.machinery.definitions import (
    API_VERSION_DESCRIPTION,
    KIND_DESCRIPTION,
    LIST_METADATA_DESCRIPTION,
    OBJECT_METADATA_DESCRIPTION,
    REF_PREFIX,
    builtin_definition_name,
    builtin_definitions,
)
from kn_walk.sandbox.machinery.resourcetypes import RETURNS_DELETED_OBJECT, ResourceType
from kn_walk.sandbox.machinery.schema import unmodelled_schema

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

KUBERNETES_VERSION = "v1.33.0"  # the minor version /version reports (api.KUBE_VERSION)

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


def _builtin_name(rt: ResourceType) -> str | None:
    return None if rt.custom else builtin_definition_name(rt.group, rt.version, rt.kind)


def definition_name(rt: ResourceType) -> str:
    """The component/definition name kube-apiserver gives ``rt``'s kind."""
    builtin = _builtin_name(rt)
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


def _meta_ref(name: str, description: str) -> dict[str, Any]:
    """A property holding the meta/v1 type ``name`` (``ObjectMeta``, ``ListMeta``)."""
    return {"allOf": [_ref(_META + name)], "description": description}


def _object_props() -> dict[str, Any]:
    """The ``apiVersion`` / ``kind`` / ``metadata`` properties every object has."""
    return {
        "apiVersion": _string(API_VERSION_DESCRIPTION),
        "kind": _string(KIND_DESCRIPTION),
        "metadata": _meta_ref("ObjectMeta", OBJECT_METADATA_DESCRIPTION),
    }


def _add_embedded_meta(node: Any) -> None:
    """Give ``x-kubernetes-embedded-resource`` objects their TypeMeta/ObjectMeta fields."""
    if isinstance(node, dict):
        if node.get("x-kubernetes-embedded-resource") is True:
            props = node.setdefault("properties", {})
            if isinstance(props, dict):
                # declared apiVersion / kind stay; metadata is always the full ObjectMeta
                for key, prop in _object_props().items():
                    if key == "metadata" or key not in props:
                        props[key] = prop
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
    props.update(_object_props())
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
            "metadata": _meta_ref("ListMeta", LIST_METADATA_DESCRIPTION),
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
    defs = builtin_definitions()
    schemas: dict[str, Any] = {}
    for rt in rts:
        builtin = _builtin_name(rt)
        if builtin is not None:
            schemas[builtin] = copy.deepcopy(defs[builtin])
            list_name = _list_definition_name(rt)
            if list_name in defs:
                schemas[list_name] = copy.deepcopy(defs[list_name])
            continue
        if rt.custom or isinstance(rt.schema, Mapping):
            schemas[definition_name(rt)] = _custom_kind_schema(rt)
        else:  # a built-in kind the sandbox stores without modelling its fields
            schemas[definition_name(rt)] = unmodelled_schema(rt)
        schemas[_list_definition_name(rt)] = _custom_list_schema(rt)
    pending = [*_ALWAYS, *(r for s in schemas.values() for r in _refs_in(s))]
    while pending:
        name = pending.pop()
        if name in schemas or name not in defs:
            continue
        schemas[name] = copy.deepcopy(defs[name])
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


@dataclass(frozen=True)
class _Op:
    """One operation, rendered later as OpenAPI v3 or Swagger 2.0."""

    method: str
    action: str
    op_id: str
    description: str
    responses: Mapping[str, tuple[str, str | None]]
    produces: tuple[str, ...]
    query: tuple[str, ...] = ()
    body: str | None = None
    body_types: tuple[str, ...] = ("*/*",)


@dataclass(frozen=True)
class _PathItem:
    path_params: tuple[str, ...]  # "name", "namespace"
    path_query: tuple[str, ...]
    ops: list[_Op]


def _media(rt: ResourceType, *, stream: bool = False) -> tuple[str, ...]:
    types = ["application/json", "application/yaml"]
    if not rt.custom:
        types.append("application/vnd.kubernetes.protobuf")
    if stream:
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
    named = ("name", *ns_param)
    kind = rt.kind
    obj = definition_name(rt)
    lst = _list_definition_name(rt)
    status_ref = _META + "Status"
    delete_options = _META + "DeleteOptions"
    media = _media(rt)
    stream = _media(rt, stream=True)
    written = {"200": ("OK", obj), "201": ("Created", obj)}
    list_doc = f"list or watch objects of kind {kind}"
    watch_list_doc = (
        f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter "
        "with a list operation instead."
    )

    def read_write(suffix: str, what: str) -> list[_Op]:
        """get / put / patch of the object (``suffix`` "Status": of its status)."""
        name = f"{prefix}{scope}{kind}{suffix}"
        return [
            _Op("get", "get", f"read{name}", f"read {what}", {"200": ("OK", obj)}, media),
            _Op(
                "put",
                "put",
                f"replace{name}",
                f"replace {what}",
                written,
                media,
                query=_WRITE_PARAMS,
                body=obj,
            ),
            _Op(
                "patch",
                "patch",
                f"patch{name}",
                f"partially update {what}",
                written,
                media,
                query=_PATCH_PARAMS,
                body=_META + "Patch",
                body_types=PATCH_TYPES_CUSTOM if rt.custom else PATCH_TYPES_BUILTIN,
            ),
        ]

    def get_only(
        params: tuple[str, ...], action: str, op_id: str, description: str, response: str
    ) -> _PathItem:
        """A path serving one streamable GET, its list/watch options on the path."""
        op = _Op("get", action, op_id, description, {"200": ("OK", response)}, stream)
        return _PathItem(params, ("pretty", *_LIST_PARAMS), [op])

    collection = [
        _Op(
            "get",
            "list",
            f"list{prefix}{scope}{kind}",
            list_doc,
            {"200": ("OK", lst)},
            stream,
            query=_LIST_PARAMS,
        ),
        _Op(
            "post",
            "post",
            f"create{prefix}{scope}{kind}",
            f"create a {kind}",
            {**written, "202": ("Accepted", obj)},
            media,
            query=_WRITE_PARAMS,
            body=obj,
        ),
        _Op(
            "delete",
            "deletecollection",
            f"delete{prefix}Collection{scope}{kind}",
            f"delete collection of {kind}",
            {"200": ("OK", status_ref)},
            media,
            query=(*_DELETE_PARAMS, *(p for p in _LIST_PARAMS if p != "watch")),
            body=delete_options,
        ),
    ]
    # what DELETE answers, as upstream publishes it: the object for kinds whose storage
    # returns it (pods, services, ...), else a Status
    deleted = obj if rt.key in RETURNS_DELETED_OBJECT else status_ref
    delete = _Op(
        "delete",
        "delete",
        f"delete{prefix}{scope}{kind}",
        f"delete a {kind}",
        {"200": ("OK", deleted), "202": ("Accepted", deleted)},
        media,
        query=_DELETE_PARAMS,
        body=delete_options,
    )
    items = {
        f"{base}{ns_seg}/{rt.plural}": _PathItem(ns_param, ("pretty",), collection),
        f"{base}{ns_seg}/{rt.plural}/{{name}}": _PathItem(
            named, ("pretty",), [*read_write("", f"the specified {kind}"), delete]
        ),
    }
    if rt.status_subresource:
        items[f"{base}{ns_seg}/{rt.plural}/{{name}}/status"] = _PathItem(
            named, ("pretty",), read_write("Status", f"status of the specified {kind}")
        )
    event = _META + "WatchEvent"
    items[f"{base}/watch{ns_seg}/{rt.plural}/{{name}}"] = get_only(
        named,
        "watch",
        f"watch{prefix}{scope}{kind}",
        f"watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter "
        "with a list operation instead, filtered to a single item with the 'fieldSelector' "
        "parameter.",
        event,
    )
    items[f"{base}/watch{ns_seg}/{rt.plural}"] = get_only(
        ns_param, "watchlist", f"watch{prefix}{scope}{kind}List", watch_list_doc, event
    )
    if rt.namespaced:
        items[f"{base}/{rt.plural}"] = get_only(
            (), "list", f"list{prefix}{kind}ForAllNamespaces", list_doc, lst
        )
        items[f"{base}/watch/{rt.plural}"] = get_only(
            (), "watchlist", f"watch{prefix}{kind}ListForAllNamespaces", watch_list_doc, event
        )
    # only what the kind serves (the reviews: create; APIServices: get and list)
    served = {
        path: _PathItem(pi.path_params, pi.path_query, ops)
        for path, pi in items.items()
        if (ops := [op for op in pi.ops if _ACTION_VERBS[op.action] in rt.verbs])
    }
    return served


#: the verb behind each operation's ``x-kubernetes-action``
_ACTION_VERBS = {
    "get": "get",
    "list": "list",
    "watch": "watch",
    "watchlist": "watch",
    "post": "create",
    "put": "update",
    "patch": "patch",
    "delete": "delete",
    "deletecollection": "deletecollection",
}


def _param(name: str, where: str, rt: ResourceType, *, v2: bool) -> dict[str, Any]:
    """A ``path`` or ``query`` parameter; Swagger 2.0 (``v2``) puts its type inline."""
    if where == "path":
        type_ = "string"
        doc = (
            f"name of the {rt.kind}"
            if name == "name"
            else "object name and auth scope, such as for teams and projects"
        )
    else:
        type_, doc = _PARAM_DOCS[name]
    out: dict[str, Any] = {"description": doc, "in": where, "name": name}
    if where == "path":
        out["required"] = True
    typing = {"type": type_, "uniqueItems": True}
    if v2:
        out.update(typing)
    else:
        out["schema"] = typing
    return out


def _response(op: _Op, description: str, ref: str | None, *, v2: bool) -> dict[str, Any]:
    if not ref:
        return {"description": description}
    if v2:
        return {"description": description, "schema": {"$ref": _V2_PREFIX + ref}}
    return {
        "description": description,
        "content": {mt: {"schema": _ref(ref)} for mt in op.produces},
    }


def _operation(op: _Op, rt: ResourceType, *, v2: bool) -> dict[str, Any]:
    """``op`` as an OpenAPI v3 operation, or a Swagger 2.0 one (``v2``)."""
    out: dict[str, Any] = {
        "description": op.description,
        "operationId": op.op_id,
        "responses": {
            code: _response(op, desc, ref, v2=v2) for code, (desc, ref) in op.responses.items()
        }
        | {"401": {"description": "Unauthorized"}},
        "tags": [_tag(rt)],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": _gvk(rt),
    }
    params = [_param(q, "query", rt, v2=v2) for q in op.query]
    if v2:
        out["consumes"] = list(op.body_types) if op.body is not None else ["*/*"]
        out["produces"] = list(op.produces)
        out["schemes"] = ["https"]
        out = dict(sorted(out.items()))  # Swagger 2.0 operations list their keys sorted
        if op.body is not None:
            body = {"$ref": _V2_PREFIX + op.body}
            required = op.method != "delete"
            params.insert(0, {"in": "body", "name": "body", "required": required, "schema": body})
    if params:
        out["parameters"] = params
    if op.body is not None and not v2:
        out["requestBody"] = {
            "content": {mt: {"schema": _ref(op.body)} for mt in op.body_types},
            "required": op.method != "delete",
        }
    return out


def _paths(rts: Iterable[ResourceType], *, v2: bool) -> dict[str, Any]:
    """The ``paths`` of a document serving ``rts`` (OpenAPI v3, or Swagger 2.0 for ``v2``)."""
    out: dict[str, Any] = {}
    for rt in rts:
        for path, pi in _path_items(rt).items():
            entry: dict[str, Any] = {
                "parameters": [_param(p, "path", rt, v2=v2) for p in pi.path_params]
                + [_param(q, "query", rt, v2=v2) for q in pi.path_query]
            }
            for op in pi.ops:
                entry[op.method] = _operation(op, rt, v2=v2)
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
    paths = _paths(rts, v2=False)
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
    paths = _paths(rts, v2=True)
    definitions = {name: _to_v2(schema) for name, schema in _schemas_for(rts).items()}
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": _SECURITY_V3,
        "security": [{"BearerToken": []}],
    }
