"""``/openapi/v2`` as protobuf: the gnostic ``openapi.v2.Document`` kubectl asks for.

kubectl (and client-go's ``OpenAPISchema``) request ``/openapi/v2`` with only
``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and parse the
answer as protobuf; on a 406 they retry ``/swagger-2.0.0.pb-v1``, also protobuf, so
JSON is no answer for them. kube-apiserver (kube-openapi's handler) serves the
Swagger 2.0 document compiled to the messages of gnostic's ``OpenAPIv2.proto``
(github.com/google/gnostic-models, openapiv2/OpenAPIv2.proto). This module does the
same for the document :func:`kn_walk.sandbox.apiserver.openapi.openapi_v2` builds:

* maps are repeated ``Named*`` pairs, in the document's key order;
* ``x-*`` keys become ``vendor_extension`` entries whose value is the YAML of the JSON
  value (``Any.yaml``), as gnostic writes them;
* ``default``, ``example`` and ``enum`` values are ``Any`` messages with YAML too;
* ``type`` is a ``TypeItem``, ``items`` an ``ItemsItem``, ``additionalProperties`` an
  ``AdditionalPropertiesItem`` (a schema or a boolean);
* a parameter is a ``BodyParameter`` or, by its ``in``, one of the non-body sub-schemas.

Field numbers are the .proto's; ``tests/test_sandbox_clients.py`` decodes the output
with the published .proto to check them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

#: what kubectl asks for, and what kube-openapi answers it with
ACCEPT_TYPES = (
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
)
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_VARINT, _I64, _LEN = 0, 1, 2


# --------------------------------------------------------------------- wire format


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are ten-byte two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(num: int, wire: int) -> bytes:
    return _varint(num << 3 | wire)


def _len(num: int, payload: bytes) -> bytes:
    return _key(num, _LEN) + _varint(len(payload)) + payload


def _str(num: int, value: Any) -> bytes:
    """A proto3 string field: omitted when empty, as Go's marshaller omits it."""
    if not isinstance(value, str) or not value:
        return b""
    return _len(num, value.encode())


def _strs(num: int, values: Any) -> bytes:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return b""
    return b"".join(_len(num, v.encode()) for v in values if isinstance(v, str))


def _bool(num: int, value: Any) -> bytes:
    return _key(num, _VARINT) + b"\x01" if value is True else b""


def _int(num: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        return b""
    return _key(num, _VARINT) + _varint(value)


def _double(num: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float) or value == 0:
        return b""
    return _key(num, _I64) + struct.pack("<d", float(value))


def _msg(num: int, payload: bytes | None) -> bytes:
    """A message field; None leaves it unset, ``b""`` is a set but empty message."""
    return b"" if payload is None else _len(num, payload)


def _each(num: int, values: Any, encode: Callable[[Any], bytes]) -> bytes:
    if not isinstance(values, list):
        return b""
    return b"".join(_len(num, encode(v)) for v in values)


# ------------------------------------------------------------------------ values


def _yaml(value: Any) -> str:
    return str(yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True))


def _any(value: Any) -> bytes:
    """``Any``: the value as YAML (field 2)."""
    return _str(2, _yaml(value))


def _named(num: int, mapping: Any, encode: Callable[[Any], bytes]) -> bytes:
    """A map as repeated ``Named*`` pairs: name (1), value (2)."""
    if not isinstance(mapping, Mapping):
        return b""
    return b"".join(_len(num, _str(1, k) + _msg(2, encode(v))) for k, v in mapping.items())


def _extensions(num: int, node: Mapping[str, Any]) -> bytes:
    """The ``x-*`` keys of ``node`` as ``NamedAny`` entries."""
    return _named(num, {k: v for k, v in node.items() if k.startswith("x-")}, _any)


# ----------------------------------------------------------------------- schemas


def schema(node: Mapping[str, Any]) -> bytes:
    """An ``openapi.v2.Schema``."""
    out = [
        _str(1, node.get("$ref")),
        _str(2, node.get("format")),
        _str(3, node.get("title")),
        _str(4, node.get("description")),
        _msg(5, _any(node["default"])) if "default" in node else b"",
        _double(6, node.get("multipleOf")),
        _double(7, node.get("maximum")),
        _bool(8, node.get("exclusiveMaximum")),
        _double(9, node.get("minimum")),
        _bool(10, node.get("exclusiveMinimum")),
        _int(11, node.get("maxLength")),
        _int(12, node.get("minLength")),
        _str(13, node.get("pattern")),
        _int(14, node.get("maxItems")),
        _int(15, node.get("minItems")),
        _bool(16, node.get("uniqueItems")),
        _int(17, node.get("maxProperties")),
        _int(18, node.get("minProperties")),
        _strs(19, node.get("required")),
        _each(20, node.get("enum"), _any),
    ]
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        out.append(_len(21, _len(1, schema(extra))))
    elif isinstance(extra, bool):
        out.append(_len(21, _key(2, _VARINT) + (b"\x01" if extra else b"\x00")))
    if "type" in node:
        out.append(_len(22, _strs(1, node["type"])))
    items = node.get("items")
    if isinstance(items, Mapping):
        out.append(_len(23, _len(1, schema(items))))
    elif isinstance(items, list):
        out.append(_len(23, _each(1, items, schema)))
    out.append(_each(24, node.get("allOf"), schema))
    props = node.get("properties")
    if isinstance(props, Mapping):
        out.append(_len(25, _named(1, props, schema)))
    out += [
        _str(26, node.get("discriminator")),
        _bool(27, node.get("readOnly")),
        _msg(30, _any(node["example"])) if "example" in node else b"",
        _extensions(31, node),
    ]
    return b"".join(out)


# -------------------------------------------------------------------- parameters

#: the fields of a non-body parameter's sub-schema, by its ``in``: (message field of
#: NonBodyParameter, field numbers of required/in/description/name, then the number of
#: ``type`` and the numbers that follow it in every sub-schema)
_SUB_SCHEMAS = {
    "header": (1, 5),
    "formData": (2, 6),
    "query": (3, 6),
    "path": (4, 5),
}


def _non_body(node: Mapping[str, Any]) -> bytes:
    which, t = _SUB_SCHEMAS[str(node.get("in"))]
    out = [
        _bool(1, node.get("required")),
        _str(2, node.get("in")),
        _str(3, node.get("description")),
        _str(4, node.get("name")),
    ]
    if t == 6:  # query and formData carry allowEmptyValue before type
        out.append(_bool(5, node.get("allowEmptyValue")))
    out += [
        _str(t, node.get("type")),
        _str(t + 1, node.get("format")),
        # t + 2: items (PrimitivesItems), not used by the documents served here
        _str(t + 3, node.get("collectionFormat")),
        _msg(t + 4, _any(node["default"])) if "default" in node else b"",
        _double(t + 5, node.get("maximum")),
        _bool(t + 6, node.get("exclusiveMaximum")),
        _double(t + 7, node.get("minimum")),
        _bool(t + 8, node.get("exclusiveMinimum")),
        _int(t + 9, node.get("maxLength")),
        _int(t + 10, node.get("minLength")),
        _str(t + 11, node.get("pattern")),
        _int(t + 12, node.get("maxItems")),
        _int(t + 13, node.get("minItems")),
        _bool(t + 14, node.get("uniqueItems")),
        _each(t + 15, node.get("enum"), _any),
        _double(t + 16, node.get("multipleOf")),
        _extensions(t + 17, node),
    ]
    return _len(which, b"".join(out))


def _parameter(node: Mapping[str, Any]) -> bytes:
    """A ``ParametersItem``: a ``$ref``, a body parameter or a non-body one."""
    if "$ref" in node:
        return _len(2, _str(1, node["$ref"]) + _str(2, node.get("description")))
    if node.get("in") == "body":
        body = b"".join(
            [
                _str(1, node.get("description")),
                _str(2, node.get("name")),
                _str(3, node.get("in")),
                _bool(4, node.get("required")),
                _msg(5, schema(node["schema"])) if isinstance(node.get("schema"), Mapping) else b"",
                _extensions(6, node),
            ]
        )
        return _len(1, _len(1, body))
    return _len(1, _len(2, _non_body(node)))


# -------------------------------------------------------------------- operations


def _response(node: Mapping[str, Any]) -> bytes:
    """A ``ResponseValue``: a ``$ref`` or a ``Response``."""
    if "$ref" in node:
        return _len(2, _str(1, node["$ref"]))
    body = [_str(1, node.get("description"))]
    if isinstance(node.get("schema"), Mapping):
        body.append(_len(2, _len(1, schema(node["schema"]))))
    body.append(_extensions(5, node))
    return _len(1, b"".join(body))


def _operation(node: Mapping[str, Any]) -> bytes:
    responses = node.get("responses")
    codes = (
        {k: v for k, v in responses.items() if not k.startswith("x-")}
        if isinstance(responses, Mapping)
        else {}
    )
    return b"".join(
        [
            _strs(1, node.get("tags")),
            _str(2, node.get("summary")),
            _str(3, node.get("description")),
            _str(5, node.get("operationId")),
            _strs(6, node.get("produces")),
            _strs(7, node.get("consumes")),
            _each(8, node.get("parameters"), _parameter),
            _msg(9, _named(1, codes, _response)) if isinstance(responses, Mapping) else b"",
            _strs(10, node.get("schemes")),
            _bool(11, node.get("deprecated")),
            _each(12, node.get("security"), _security_requirement),
            _extensions(13, node),
        ]
    )


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(node: Mapping[str, Any]) -> bytes:
    out = [_str(1, node.get("$ref"))]
    for method, num in _METHODS.items():
        if isinstance(node.get(method), Mapping):
            out.append(_len(num, _operation(node[method])))
    out += [_each(9, node.get("parameters"), _parameter), _extensions(10, node)]
    return b"".join(out)


# ---------------------------------------------------------------------- security


def _security_requirement(node: Any) -> bytes:
    return _named(1, node, lambda scopes: _strs(1, scopes))


def _security_definition(node: Mapping[str, Any]) -> bytes:
    """A ``SecurityDefinitionsItem``; the documents here use apiKey and basic only."""
    if node.get("type") == "basic":
        return _len(
            1, _str(1, node.get("type")) + _str(2, node.get("description")) + _extensions(3, node)
        )
    return _len(
        2,
        _str(1, node.get("type"))
        + _str(2, node.get("name"))
        + _str(3, node.get("in"))
        + _str(4, node.get("description"))
        + _extensions(5, node),
    )


# ---------------------------------------------------------------------- document


def _info(node: Mapping[str, Any]) -> bytes:
    return b"".join(
        [
            _str(1, node.get("title")),
            _str(2, node.get("version")),
            _str(3, node.get("description")),
            _str(4, node.get("termsOfService")),
            _extensions(7, node),
        ]
    )


def _paths(node: Mapping[str, Any]) -> bytes:
    return _extensions(1, node) + _named(
        2, {k: v for k, v in node.items() if not k.startswith("x-")}, _path_item
    )


def _tags(tags: Iterable[Any]) -> bytes:
    return b"".join(
        _len(14, _str(1, t.get("name")) + _str(2, t.get("description")) + _extensions(4, t))
        for t in tags
        if isinstance(t, Mapping)
    )


def document(doc: Mapping[str, Any]) -> bytes:
    """The gnostic ``openapi.v2.Document`` encoding of a Swagger 2.0 document."""
    parts = [
        _str(1, doc.get("swagger")),
        _msg(2, _info(doc["info"])) if isinstance(doc.get("info"), Mapping) else b"",
        _str(3, doc.get("host")),
        _str(4, doc.get("basePath")),
        _strs(5, doc.get("schemes")),
        _strs(6, doc.get("consumes")),
        _strs(7, doc.get("produces")),
        _msg(8, _paths(doc["paths"])) if isinstance(doc.get("paths"), Mapping) else b"",
        _msg(9, _named(1, doc["definitions"], schema))
        if isinstance(doc.get("definitions"), Mapping)
        else b"",
        _each(12, doc.get("security"), _security_requirement),
        _msg(13, _named(1, doc["securityDefinitions"], _security_definition))
        if isinstance(doc.get("securityDefinitions"), Mapping)
        else b"",
        _tags(doc.get("tags") or ()),
        _extensions(16, doc),
    ]
    return b"".join(parts)


# ------------------------------------------------------------------------- cache

_cache: dict[str, tuple[tuple[Any, ...], bytes]] = {}


def cached(key: tuple[Any, ...], kind: str, build: Callable[[], bytes]) -> bytes:
    """The bytes ``build`` makes, rebuilt only when ``key`` (the served types) changes."""
    hit = _cache.get(kind)
    if hit is not None and hit[0] == key:
        return hit[1]
    data = build()
    _cache[kind] = (key, data)
    return data
