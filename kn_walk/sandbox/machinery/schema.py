"""Structural schemas as kube-apiserver applies them to request bodies.

* :func:`validate` checks an object against an OpenAPI v3 (structural) schema the
  way the apiextensions validator does, and reports :class:`Cause` entries shaped
  like the ``details.causes`` of a 422 ``Invalid`` Status.
* :func:`unknown_fields` lists the field paths a strict decode rejects
  (``fieldValidation=Strict``): what pruning would drop, plus unknown
  ``metadata`` keys (metadata is always a full ObjectMeta).
  :func:`strict_decoding_message` formats them like the server.
* :func:`prune` returns a copy without those fields (``Ignore`` / ``Warn``).
* :func:`apply_defaults` fills in schema ``default`` values, as the server does
  for custom resources.
* :func:`schema_for` gives the schema for a resource type: the CRD's own schema
  for custom resources, Kubernetes' published one for the built-in kinds
  (:func:`builtin_kind_schema` by kind alone).

The named definitions of the built-in kinds (``io.k8s.…`` names, ``$ref``
between them, generated from upstream data into
:mod:`kn_walk.sandbox.machinery.definitions`) are what :mod:`kn_walk.sandbox.apiserver.openapi`
publishes; :func:`schema_for` resolves them.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import math
import operator
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from kn_walk.goformat import go_float as _go_float
from kn_walk.goformat import go_quote
from kn_walk.knative_rules.fielderror import json_type
from kn_walk.sandbox.machinery.definitions import (
    _INTSTR,
    _META,
    _QUANTITY,
    REF_PREFIX,
    _gvk,
    builtin_definition_name,
    builtin_definitions,
)
from kn_walk.sandbox.machinery.resourcetypes import BUILTIN_TYPES, ResourceType

__all__ = [
    "OBJECT_META_FIELDS",
    "Cause",
    "apply_defaults",
    "builtin_definition_name",
    "builtin_definitions",
    "builtin_kind_schema",
    "go_int_range_error",
    "go_int_range_error_as",
    "object_meta_schema",
    "prune",
    "resolve_refs",
    "schema_for",
    "strict_decoding_message",
    "unknown_fields",
    "unmodelled_schema",
    "validate",
]


INVALID = "FieldValueInvalid"
REQUIRED = "FieldValueRequired"
NOT_SUPPORTED = "FieldValueNotSupported"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"


@dataclass(frozen=True)
class Cause:
    """One ``StatusCause``: ``reason``, ``message`` (the error body) and ``field``."""

    reason: str
    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        """The ``field.Error`` string: ``spec.x: Invalid value: …``."""
        return f"{self.field}: {self.message}" if self.field else self.message


# ------------------------------------------------------------- Go formatting


def go_repr(value: Any) -> str:
    """Go's ``%#v`` for an unstructured value (as field errors print bad values)."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{go_quote(str(k))}:{go_repr(value[k])}" for k in sorted(value, key=str))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list | tuple):
        return "[]interface {}{" + ", ".join(go_repr(v) for v in value) + "}"
    return go_quote(str(value))


def _bad_value(value: Any) -> str:
    """How ``field.Error.ErrorBody`` prints a bad value: ``%#v``, but nil as ``"null"``."""
    return '"null"' if value is None else go_repr(value)


# ------------------------------------------------------------------ validation


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


class _Validator:
    def __init__(self) -> None:
        self.causes: list[Cause] = []

    # -- cause constructors, following kubeOpenAPIResultToFieldErrors
    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.causes.append(Cause(INVALID, f"Invalid value: {_bad_value(value)}: {detail}", path))

    def type_invalid(self, path: str, expected: str, actual: str) -> None:
        detail = f'{path} in body must be of type {expected}: "{actual}"'
        self.causes.append(Cause(TYPE_INVALID, f'Invalid value: "{actual}": {detail}', path))

    def format_invalid(self, path: str, fmt: str, value: str) -> None:
        detail = f"{path} in body must be of type {fmt}: {go_quote(value)}"
        self.causes.append(Cause(TYPE_INVALID, f"Invalid value: {go_quote(value)}: {detail}", path))

    def required(self, path: str, detail: str = "") -> None:
        msg = "Required value" + (f": {detail}" if detail else "")
        self.causes.append(Cause(REQUIRED, msg, path))

    def not_supported(self, path: str, value: Any, allowed: list[Any]) -> None:
        quoted = []
        for a in allowed:
            text = a if isinstance(a, str) else json.dumps(a, separators=(",", ":"))
            quoted.append(go_quote(text))
        msg = f"Unsupported value: {_bad_value(value)}"
        if quoted:
            msg += ": supported values: " + ", ".join(quoted)
        self.causes.append(Cause(NOT_SUPPORTED, msg, path))

    def too_long(self, path: str, max_length: int) -> None:
        unit = "byte" if max_length == 1 else "bytes"
        self.causes.append(
            Cause(TOO_LONG, f"Too long: may not be more than {max_length} {unit}", path)
        )

    def too_many(self, path: str, actual: int, maximum: int) -> None:
        self.causes.append(
            Cause(TOO_MANY, f"Too many: {actual}: must have at most {maximum} items", path)
        )

    def duplicate(self, path: str, value: Any) -> None:
        self.causes.append(Cause(DUPLICATE, f"Duplicate value: {_bad_value(value)}", path))

    # -- the walk
    def node(self, schema: Any, value: Any, path: str, *, root: bool = False) -> None:
        if not isinstance(schema, Mapping):
            return
        int_or_string = (
            schema.get("x-kubernetes-int-or-string") is True
            or schema.get("format") == "int-or-string"
        )
        declared = schema.get("type")
        type_ = declared if isinstance(declared, str) and declared else None
        actual = json_type(value)

        if value is None:
            if schema.get("nullable") is True:
                return
            if int_or_string:
                self.type_invalid(path, "integer,string", "null")
            elif type_ is not None:
                self.type_invalid(path, type_, "null")
            return

        if int_or_string:
            if actual not in ("integer", "string") and not (
                actual == "number" and float(value).is_integer()
            ):
                self.type_invalid(path, "integer,string", actual)
                return
        elif type_ is not None and not _type_matches(type_, actual, value):
            self.type_invalid(path, type_, actual)
            return

        if not int_or_string:
            self.combinators(schema, value, path)
        if isinstance(value, str):
            self.string(schema, value, path)
        elif actual in ("integer", "number"):
            self.number(schema, value, path)
        elif isinstance(value, list | tuple):
            self.array(schema, value, path)
        self.enum(schema, value, path)
        if isinstance(value, Mapping):
            self.object(schema, value, path, root=root)

    def combinators(self, schema: Mapping[str, Any], value: Any, path: str) -> None:
        for sub in _schema_list(schema.get("allOf")):
            self.node(sub, value, path)
        any_of = _schema_list(schema.get("anyOf"))
        if any_of:
            best: list[Cause] | None = None
            for sub in any_of:
                causes = _trial(sub, value, path)
                if not causes:
                    best = None
                    break
                if best is None:
                    best = causes
            else:
                self.invalid(path, "", f'"{path}" must validate at least one schema (anyOf)')
                self.causes.extend(best or [])
        one_of = _schema_list(schema.get("oneOf"))
        if one_of:
            passed = sum(not _trial(sub, value, path) for sub in one_of)
            if passed != 1:
                self.invalid(path, "", f'"{path}" must validate one and only one schema (oneOf)')
        not_schema = schema.get("not")
        if isinstance(not_schema, Mapping) and not _trial(not_schema, value, path):
            self.invalid(path, "", f'"{path}" must not validate the schema (not)')

    def string(self, schema: Mapping[str, Any], value: str, path: str) -> None:
        max_length = _int_or_none(schema.get("maxLength"))
        if max_length is not None and len(value) > max_length:
            self.too_long(path, max_length)
        min_length = _int_or_none(schema.get("minLength"))
        if min_length is not None and len(value) < min_length:
            self.invalid(path, value, f"{path} in body should be at least {min_length} chars long")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            rx = _regex(pattern)
            if rx is not None and rx.search(value) is None:
                self.invalid(path, value, f"{path} in body should match '{pattern}'")
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS and not _FORMATS[fmt](value):
            self.format_invalid(path, fmt, value)

    def number(self, schema: Mapping[str, Any], value: float, path: str) -> None:
        for key, exclusive_key, beyond, word in _BOUNDS:
            bound = _number_or_none(schema.get(key))
            if bound is None:
                continue
            exclusive = schema.get(exclusive_key) is True
            if beyond(value, bound) or (exclusive and value == bound):
                phrase = word if exclusive else f"{word} or equal to"
                self.invalid(path, value, f"{path} in body should be {phrase} {go_repr(bound)}")
        multiple = _number_or_none(schema.get("multipleOf"))
        if multiple is not None and multiple > 0:
            try:
                q = value / multiple
            except (OverflowError, ZeroDivisionError):
                return
            if math.isfinite(q) and not float(q).is_integer():
                self.invalid(
                    path, value, f"{path} in body should be a multiple of {go_repr(multiple)}"
                )

    def array(
        self, schema: Mapping[str, Any], value: list[Any] | tuple[Any, ...], path: str
    ) -> None:
        self.size(schema, len(value), path, "Items", "items")
        if schema.get("uniqueItems") is True and _has_duplicates(value):
            self.invalid(path, "", f"{path} in body shouldn't contain duplicates")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                self.node(items, item, _index(path, i))
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            seen: list[Any] = []
            for i, item in enumerate(value):
                if isinstance(item, Mapping | list | tuple):
                    continue
                key = (json_type(item), item)
                if key in seen:
                    self.duplicate(_index(path, i), item)
                else:
                    seen.append(key)
        elif list_type == "map":
            keys = [
                k for k in _as_list(schema.get("x-kubernetes-list-map-keys")) if isinstance(k, str)
            ]
            seen_keys: list[Any] = []
            for i, item in enumerate(value):
                if not isinstance(item, Mapping) or not keys:
                    continue
                ident = {k: item[k] for k in keys if k in item}
                marker = json.dumps(ident, sort_keys=True, default=str)
                if marker in seen_keys:
                    self.duplicate(_index(path, i), ident)
                else:
                    seen_keys.append(marker)

    def size(self, schema: Mapping[str, Any], size: int, path: str, key: str, noun: str) -> None:
        """``max<key>`` / ``min<key>``: the bounds on an array's items or an object's properties."""
        maximum = _int_or_none(schema.get("max" + key))
        if maximum is not None and size > maximum:
            self.too_many(path, size, maximum)
        minimum = _int_or_none(schema.get("min" + key))
        if minimum is not None and size < minimum:
            self.invalid(path, size, f"{path} in body should have at least {minimum} {noun}")

    def enum(self, schema: Mapping[str, Any], value: Any, path: str) -> None:
        allowed = schema.get("enum")
        if not isinstance(allowed, list) or not allowed:
            return
        for a in allowed:
            if json_type(a) == json_type(value) and a == value:
                return
            if _is_number(a) and _is_number(value) and a == value:
                return
        self.not_supported(path, value, allowed)

    def object(
        self, schema: Mapping[str, Any], value: Mapping[str, Any], path: str, *, root: bool
    ) -> None:
        self.size(schema, len(value), path, "Properties", "properties")
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if not isinstance(key, str):
                continue
            sub = props.get(key)
            if root and key == "metadata":
                self.node(_root_metadata_schema(sub), item, "metadata")
            elif isinstance(sub, Mapping):
                self.node(sub, item, _child(path, key))
            elif isinstance(additional, Mapping):
                self.node(additional, item, _child(path, key))
        for key in _as_list(schema.get("required")):
            if isinstance(key, str) and key not in value:
                self.required(_child(path, key))
        if schema.get("x-kubernetes-embedded-resource") is True and not root:
            self.embedded(value, path)

    def embedded(self, value: Mapping[str, Any], path: str) -> None:
        for key in ("apiVersion", "kind"):
            if key not in value:
                self.required(_child(path, key), "must not be empty")
                continue
            item = value[key]
            if not isinstance(item, str):
                self.invalid(_child(path, key), item, "must be a string")
            elif not item:
                self.invalid(_child(path, key), item, "must not be empty")


#: ``maximum`` / ``minimum``: the flag making them exclusive, when a value is past
#: them, and how the message names them.
_BOUNDS: tuple[tuple[str, str, Callable[[Any, Any], bool], str], ...] = (
    ("maximum", "exclusiveMaximum", operator.gt, "less than"),
    ("minimum", "exclusiveMinimum", operator.lt, "greater than"),
)


def _trial(schema: Mapping[str, Any], value: Any, path: str) -> list[Cause]:
    """The causes ``value`` gets against ``schema`` alone (an anyOf/oneOf/not branch)."""
    trial = _Validator()
    trial.node(schema, value, path)
    return trial.causes


def _root_metadata_schema(declared: Any) -> dict[str, Any]:
    """Only ``name`` / ``generateName`` constraints apply to the root metadata."""
    out: dict[str, Any] = {"type": "object"}
    props = declared.get("properties") if isinstance(declared, Mapping) else None
    if isinstance(props, Mapping):
        kept = {k: props[k] for k in ("name", "generateName") if k in props}
        if kept:
            out["properties"] = kept
    return out


def _type_matches(expected: str, actual: str, value: Any) -> bool:
    if expected == actual:
        return True
    if expected == "number" and actual == "integer":
        return True
    return expected == "integer" and actual == "number" and float(value).is_integer()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _schema_list(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_duplicates(values: list[Any] | tuple[Any, ...]) -> bool:
    seen: set[str] = set()
    for v in values:
        marker = json.dumps(v, sort_keys=True, default=str)
        if marker in seen:
            return True
        seen.add(marker)
    return False


@cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


def _parses(parse: Callable[[str], object], s: str) -> bool:
    """Whether ``parse`` accepts ``s`` (raises no ``ValueError``, ``binascii.Error`` included)."""
    try:
        parse(s)
    except ValueError:
        return False
    return True


def _is_datetime(s: str) -> bool:
    text = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}", text):
        return False
    return _parses(datetime.fromisoformat, text)


def _is_date(s: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return False
    return _parses(lambda t: datetime.strptime(t, "%Y-%m-%d"), s)


def _is_byte(s: str) -> bool:
    return _parses(lambda t: base64.b64decode(t, validate=True), s)


def _is_uuid(s: str) -> bool:
    return _parses(uuid.UUID, s) and bool(re.fullmatch(r"[0-9a-fA-F-]{36}", s))


def _is_cidr(s: str) -> bool:
    return "/" in s and _parses(lambda t: ipaddress.ip_network(t, strict=False), s)


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?"
    r"(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$"
)

_FORMATS: dict[str, Any] = {
    "date-time": _is_datetime,
    "datetime": _is_datetime,
    "date": _is_date,
    "byte": _is_byte,
    "uuid": _is_uuid,
    "ipv4": lambda s: _parses(ipaddress.IPv4Address, s),
    "ipv6": lambda s: _parses(ipaddress.IPv6Address, s),
    "cidr": _is_cidr,
    "hostname": lambda s: bool(_HOSTNAME.match(s)),
}


def validate(schema: Mapping[str, Any] | None, obj: Any) -> list[Cause]:
    """Schema violations in ``obj`` (a whole resource), as Status causes; [] if valid."""
    if not isinstance(schema, Mapping):
        return []
    v = _Validator()
    try:
        v.node(schema, obj, "", root=True)
    except RecursionError:
        v.invalid("", "", "object is nested too deeply")
    return v.causes


# ----------------------------------------------------------- pruning / unknown

#: The fields of ``metav1.ObjectMeta`` (what metadata may contain).
OBJECT_META_FIELDS = (
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
)

_META_FIELDS = frozenset(("apiVersion", "kind", "metadata"))


class _Pruner:
    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.meta_unknown: list[str] = []

    def metadata(self, value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            return copy.deepcopy(value)
        inner = _Pruner()
        out = inner.node(object_meta_schema(), value, path)
        self.meta_unknown.extend(inner.unknown + inner.meta_unknown)
        return out

    def node(
        self, schema: Any, value: Any, path: str, *, root: bool = False, preserve: bool = False
    ) -> Any:
        """``value`` without what ``schema`` does not declare, noting those paths.

        Where ``schema`` preserves unknown fields (``preserve``: or an enclosing
        list's schema did), undeclared fields are kept instead.
        """
        if (
            isinstance(schema, Mapping)
            and schema.get("x-kubernetes-preserve-unknown-fields") is True
        ):
            preserve = True
        if isinstance(value, Mapping):
            if not isinstance(schema, Mapping):
                for key in value:
                    self.unknown.append(_child(path, str(key)))
                return {}
            embedded = root or schema.get("x-kubernetes-embedded-resource") is True
            props = schema.get("properties")
            props = props if isinstance(props, Mapping) else {}
            additional = schema.get("additionalProperties")
            out: dict[str, Any] = {}
            for key, item in value.items():
                skey = str(key)
                if embedded and skey == "metadata":
                    out[key] = self.metadata(item, _child(path, skey))
                elif embedded and skey in _META_FIELDS:
                    out[key] = copy.deepcopy(item)
                elif skey in props:
                    out[key] = self.node(props[skey], item, _child(path, skey))
                elif isinstance(additional, Mapping):
                    out[key] = self.node(additional, item, _child(path, skey))
                elif preserve or additional is True:
                    out[key] = copy.deepcopy(item)
                else:
                    self.unknown.append(_child(path, skey))
            return out
        if isinstance(value, list | tuple):
            items = schema.get("items") if isinstance(schema, Mapping) else None
            if preserve and not isinstance(items, Mapping):
                return copy.deepcopy(list(value))
            return [
                self.node(items, item, _index(path, i), preserve=preserve)
                for i, item in enumerate(value)
            ]
        return copy.deepcopy(value)


def _prune_root(schema: Any, obj: Any) -> tuple[Any, list[str]]:
    p = _Pruner()
    try:
        out = p.node(schema if isinstance(schema, Mapping) else {}, obj, "", root=True)
    except RecursionError:
        return obj, []
    return out, p.meta_unknown + sorted(p.unknown)


def unknown_fields(schema: Mapping[str, Any] | None, obj: Any) -> list[str]:
    """Field paths in ``obj`` that the schema does not declare (metadata ones first)."""
    return _prune_root(schema, obj)[1]


def strict_decoding_message(paths: list[str]) -> str:
    """``strict decoding error: unknown field "spec.foo", unknown field "spec.bar"``."""
    return "strict decoding error: " + ", ".join(f"unknown field {go_quote(p)}" for p in paths)


def prune(schema: Mapping[str, Any] | None, obj: Any) -> Any:
    """A copy of ``obj`` without the fields :func:`unknown_fields` reports."""
    return _prune_root(schema, obj)[0]


# ------------------------------------------------------------------ defaulting


def apply_defaults(schema: Mapping[str, Any] | None, obj: Any) -> Any:
    """A copy of ``obj`` with schema ``default`` values filled in (root metadata untouched)."""
    try:
        return _default(schema, copy.deepcopy(obj), root=True)
    except RecursionError:
        return obj


def _default(schema: Any, value: Any, *, root: bool = False) -> Any:
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, Mapping):
            for key, sub in props.items():
                if (root and key == "metadata") or not isinstance(sub, Mapping):
                    continue
                has_default = "default" in sub
                if key not in value or (
                    value[key] is None and has_default and sub.get("nullable") is not True
                ):
                    if has_default:
                        value[key] = copy.deepcopy(sub["default"])
                    else:
                        continue
                value[key] = _default(sub, value[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key in list(value):
                if isinstance(props, Mapping) and key in props:
                    continue
                value[key] = _default(additional, value[key])
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                value[i] = _default(items, item)
    return value


_INT_OR_STRING_REFS = frozenset((_INTSTR, _QUANTITY))


def resolve_refs(schema: Any, definitions: Mapping[str, Any] | None = None) -> Any:
    """``schema`` with every ``$ref`` (bare or in a one-element ``allOf``) inlined.

    IntOrString and Quantity become ``x-kubernetes-int-or-string`` nodes, so
    numbers validate the way the API server's decoder accepts them.
    """
    defs = builtin_definitions() if definitions is None else definitions
    return _resolve(schema, defs, ())


def _ref_target(node: Mapping[str, Any]) -> str | None:
    ref = node.get("$ref")
    if isinstance(ref, str):
        return ref
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        inner = all_of[0].get("$ref")
        if isinstance(inner, str) and len(all_of[0]) == 1:
            return inner
    return None


def _resolve(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_resolve(v, defs, seen) for v in node]
    if not isinstance(node, Mapping):
        return node
    ref = _ref_target(node)
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        siblings = {k: v for k, v in node.items() if k not in ("$ref", "allOf")}
        if name in _INT_OR_STRING_REFS:
            return {"x-kubernetes-int-or-string": True, **siblings}
        target = defs.get(name)
        if not isinstance(target, Mapping) or name in seen:
            return {"x-kubernetes-preserve-unknown-fields": True, **siblings}
        merged = dict(_resolve(target, defs, (*seen, name)))
        if seen:
            merged.pop("x-kubernetes-group-version-kind", None)
        merged.update({k: _resolve(v, defs, seen) for k, v in siblings.items()})
        return merged
    return {k: _resolve(v, defs, seen) for k, v in node.items()}


@cache
def _builtin_schema(name: str) -> Mapping[str, Any]:
    resolved = resolve_refs({"$ref": REF_PREFIX + name})
    _mark_go_decoding(resolved, root=True)
    return resolved  # type: ignore[no-any-return]


def _mark_go_decoding(node: Any, *, root: bool = False, status: bool = False) -> None:
    """Built-in kinds decode into Go structs: mark what that accepts.

    ``null`` means "unset", so every typed node is nullable; an object with
    neither properties nor additionalProperties (FieldsV1, RawExtension, JSON)
    holds raw JSON, so it keeps every field. A built-in's ``required`` only
    says the field is always written (no ``omitempty``): kube-apiserver asks for
    one where its validation does, which a status never does, so within
    ``status`` nothing is required.
    """
    if isinstance(node, dict):
        if status:
            node.pop("required", None)
        if "type" in node or "x-kubernetes-int-or-string" in node:
            node["nullable"] = True
        if (
            node.get("type", "object") == "object"
            and "properties" not in node
            and "additionalProperties" not in node
            and "x-kubernetes-int-or-string" not in node
        ):
            node["x-kubernetes-preserve-unknown-fields"] = True
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop, sub in value.items():
                    _mark_go_decoding(sub, status=status or (root and prop == "status"))
            elif key in ("items", "additionalProperties"):
                _mark_go_decoding(value, status=status)


@cache
def object_meta_schema() -> Mapping[str, Any]:
    """ObjectMeta's resolved schema: what ``metadata`` holds in every object."""
    return _builtin_schema(_META + "ObjectMeta")


def unmodelled_schema(rt: ResourceType) -> dict[str, Any]:
    """The schema of a built-in kind stored without a model of its fields: any content."""
    return {
        "type": "object",
        "x-kubernetes-group-version-kind": _gvk(rt.group, rt.version, rt.kind),
        "x-kubernetes-preserve-unknown-fields": True,
    }


@cache
def _builtin_kind_names() -> dict[str, str]:
    out: dict[str, str] = {}
    for rt in BUILTIN_TYPES:
        name = builtin_definition_name(rt.group, rt.version, rt.kind)
        if name is not None:
            out.setdefault(rt.kind, name)
    return out


def builtin_kind_schema(kind: str) -> Mapping[str, Any] | None:
    """The resolved schema of the built-in kind the sandbox serves as ``kind``, or None.

    By kind alone, as strategic merge patch and server-side apply are asked:
    where two groups serve one kind, the first of
    :data:`~kn_walk.sandbox.machinery.resourcetypes.BUILTIN_TYPES` (the core group's). Callers
    that know the resource type use :func:`schema_for`.
    """
    name = _builtin_kind_names().get(kind)
    return None if name is None else _builtin_schema(name)


#: the integers Go decodes into, by OpenAPI format: what fits
_GO_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def go_int_range_error(rt: ResourceType, obj: Any) -> str:
    """Go's decoding error for the first integer of a built-in object its field cannot hold.

    A built-in kind decodes into Go structs: ``replicas: 2147483648`` does not fit
    the ``int32`` and kube-apiserver answers ``json: cannot unmarshal number
    2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32``
    (400) before any validation; the schema alone would take any integer. ""
    when everything fits (or ``rt`` is a custom resource: its webhook decides).
    """
    if rt.custom:
        return ""
    name = builtin_definition_name(rt.group, rt.version, rt.kind)
    if name is None:
        return ""
    return go_int_range_error_as(name, obj)


def go_int_range_error_as(
    definition: str, value: Any, path: tuple[str, ...] = (), struct: str = ""
) -> str:
    """:func:`go_int_range_error` for ``value`` decoded as the built-in ``definition``
    (e.g. a Knative template's PodSpec), found at ``path`` in a Go struct ``struct``."""
    defs = builtin_definitions()
    if struct:
        return _range_walk(defs, defs.get(definition), value, struct, path)
    return _range_walk(defs, {"$ref": REF_PREFIX + definition}, value, "", path)


def _range_walk(
    defs: Mapping[str, Any], node: Any, value: Any, struct: str, path: tuple[str, ...]
) -> str:
    if not isinstance(node, Mapping) or value is None:
        return ""
    ref = _ref_target(node)
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        if name == _INTSTR:  # IntOrString: a number decodes into its int32
            low, high = _GO_INT_RANGES["int32"]
            if _is_number(value) and not low <= value <= high:
                return (
                    f"json: cannot unmarshal number {_go_number(value)} into Go value of type int32"
                )
            return ""
        target = defs.get(name)
        return _range_walk(defs, target, value, name.rsplit(".", 1)[-1], path)
    if isinstance(value, Mapping):
        props = node.get("properties")
        if isinstance(props, Mapping):
            for key, item in value.items():
                found = _range_walk(defs, props.get(key), item, struct, (*path, str(key)))
                if found:
                    return found
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping):
            for item in value.values():
                found = _range_walk(defs, extra, item, struct, path)
                if found:
                    return found
        return ""
    if isinstance(value, list):
        for item in value:  # Go names the field, not the element
            found = _range_walk(defs, node.get("items"), item, struct, path)
            if found:
                return found
        return ""
    fmt = node.get("format")
    if node.get("type") == "integer" and fmt in _GO_INT_RANGES and _is_number(value):
        low, high = _GO_INT_RANGES[fmt]
        if not low <= value <= high:
            field = ".".join(path)
            return (
                f"json: cannot unmarshal number {_go_number(value)} into Go struct field "
                f"{struct}.{field} of type {fmt}"
            )
    return ""


def _go_number(value: float) -> str:
    return str(value) if isinstance(value, int) else _go_float(value)


def schema_for(rt: ResourceType) -> Mapping[str, Any] | None:
    """The structural schema that governs objects of ``rt`` (refs inlined), if any."""
    if rt.custom:
        return rt.schema
    name = builtin_definition_name(rt.group, rt.version, rt.kind)
    if name is None:
        return rt.schema or unmodelled_schema(rt)
    return _builtin_schema(name)
