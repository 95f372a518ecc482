"""Server-side apply and ``metadata.managedFields``, as kube-apiserver does them.

A port of the behaviour (not the code) of ``sigs.k8s.io/structured-merge-diff``
and ``k8s.io/apimachinery/pkg/util/managedfields`` for the objects the sandbox
serves:

* :class:`FieldSet` — a set of field paths, convertible to and from the
  ``fieldsV1`` JSON (``{"f:spec": {"f:replicas": {}}, ...}``, ``k:{...}`` for
  items of associative lists, ``v:...`` for set members, ``.`` for "the
  element itself");
* :class:`Schema` — how an object's maps and lists behave (structs vs maps,
  atomic vs associative lists and their keys). :func:`builtin_list_keys`
  gives it for the built-in kinds, :func:`list_keys_from_schema` derives it
  from a CRD's ``openAPIV3Schema``;
* :func:`fields_of`, :func:`apply` (server-side apply with conflicts and
  pruning), :func:`record_update` (managedFields after create/update/patch)
  and :func:`default_manager`.

Functions never mutate their inputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from kn_walk.goformat import go_json, go_quote, integral_floats, is_print
from kn_walk.sandbox.machinery.patch import go_format, json_equal
from kn_walk.sandbox.machinery.schema import builtin_kind_schema, object_meta_schema

__all__ = [
    "BEFORE_FIRST_APPLY",
    "LAST_APPLIED_ANNOTATION",
    "ApplyConflict",
    "ApplyError",
    "FieldSet",
    "ListKeys",
    "Node",
    "PathElement",
    "Schema",
    "apply",
    "builtin_list_keys",
    "default_manager",
    "fields_of",
    "list_keys_for",
    "list_keys_from_schema",
    "record_update",
]

Obj = dict[str, Any]

#: manager that owns the fields of an object first applied to without managedFields
BEFORE_FIRST_APPLY = "before-first-apply"
#: bucket the oldest Update managers are merged into past :data:`MAX_UPDATE_MANAGERS`
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10
#: manager names are truncated to this many bytes (validation.FieldManagerMaxLength)
FIELD_MANAGER_MAX_LENGTH = 128
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def _value_string(value: Any) -> str:
    """structured-merge-diff ``value.ToString``."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_value_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "".join(f"{k}={_value_string(v)}" for k, v in value.items())
    return go_format(value)


def _value_key(value: Any) -> tuple[Any, ...]:
    """Order of ``value.Compare``: numbers < strings < bools < lists < maps < null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_key(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, _value_key(value[k])) for k in sorted(value)))
    return (5,)


# --------------------------------------------------------------------------- paths


class PathElement:
    """One step of a field path: ``f:name``, ``k:{...}``, ``v:value`` or ``i:index``."""

    __slots__ = ("_sort", "kind", "payload", "text")

    def __init__(self, kind: str, text: str, sort: tuple[Any, ...], payload: Any) -> None:
        self.kind = kind
        self.text = text
        self._sort = sort
        self.payload = payload

    @classmethod
    def field(cls, name: str) -> PathElement:
        return cls("f", "f:" + name, (0, name), name)

    @classmethod
    def key(cls, pairs: Iterable[tuple[str, Any]]) -> PathElement:
        items = sorted(((k, integral_floats(v)) for k, v in pairs), key=lambda kv: kv[0])
        text = "k:{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in items) + "}"
        sort = (1, tuple((k, _value_key(v)) for k, v in items))
        return cls("k", text, sort, tuple(items))

    @classmethod
    def value(cls, value: Any) -> PathElement:
        value = integral_floats(value)
        return cls("v", "v:" + go_json(value), (2, _value_key(value)), value)

    @classmethod
    def index(cls, index: int) -> PathElement:
        return cls("i", f"i:{index}", (3, index), index)

    @classmethod
    def parse(cls, text: str) -> PathElement:
        """Parse a ``fieldsV1`` key; raises ValueError."""
        if len(text) < 2 or text[1] != ":":
            raise ValueError(f"missing colon: {text}")
        kind, rest = text[0], text[2:]
        if kind == "f":
            return cls.field(rest)
        if kind == "v":
            return cls.value(json.loads(rest))
        if kind == "k":
            pairs = json.loads(rest)
            if not isinstance(pairs, dict):
                raise ValueError(f"bad key: {text}")
            return cls.key(pairs.items())
        if kind == "i":
            return cls.index(int(rest))
        raise ValueError("unknown path element type")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathElement) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __lt__(self, other: PathElement) -> bool:
        return self._sort < other._sort

    def __repr__(self) -> str:
        return f"PathElement({self.text!r})"

    def __str__(self) -> str:
        """As kube-apiserver prints it: ``.name``, ``[k="v"]``, ``[=v]``, ``[0]``."""
        if self.kind == "f":
            return "." + str(self.payload)
        if self.kind == "k":
            return "[" + ",".join(f"{k}={_value_string(v)}" for k, v in self.payload) + "]"
        if self.kind == "v":
            return f"[={_value_string(self.payload)}]"
        return f"[{self.payload}]"


Path = tuple[PathElement, ...]


def path_string(path: Sequence[PathElement]) -> str:
    """``.spec.template.spec.containers[name="app"].image``."""
    return "".join(str(pe) for pe in path)


class FieldSet:
    """A set of field paths (``fieldpath.Set``): members plus child sets."""

    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, FieldSet] = {}

    # -- construction / conversion
    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[PathElement]]) -> FieldSet:
        out = cls()
        for p in paths:
            out.insert(p)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldSet:
        """Parse ``fieldsV1``; raises ValueError on malformed input."""
        if not isinstance(data, Mapping):
            raise ValueError("fieldsV1 must be an object")
        out = cls()
        for key, sub in data.items():
            if key == ".":
                continue
            try:
                pe = PathElement.parse(key)
            except ValueError as exc:
                if str(exc) == "unknown path element type":
                    continue  # a newer server's element: dropped, as kube does
                raise
            if not isinstance(sub, Mapping):
                raise ValueError(f"{key}: expected an object")
            child = cls.from_json(sub)
            if not sub or "." in sub:
                out.members.add(pe)
            if not child.empty():
                out.children[pe] = child
        return out

    def to_json(self) -> dict[str, Any]:
        """``fieldsV1`` in the order kube-apiserver writes it (sorted, ``.`` last)."""
        out: dict[str, Any] = {}
        for pe in sorted(self.members | set(self.children)):
            child = self.children.get(pe)
            if child is None:
                out[pe.text] = {}
                continue
            body = child.to_json()
            if pe in self.members:
                body["."] = {}
            out[pe.text] = body
        return out

    def copy(self) -> FieldSet:
        out = FieldSet()
        out.members = set(self.members)
        out.children = {pe: c.copy() for pe, c in self.children.items()}
        return out

    # -- queries
    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def has(self, path: Sequence[PathElement]) -> bool:
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                return False
            node = child
        return bool(path) and path[-1] in node.members

    def paths(self) -> Iterator[Path]:
        """Member paths, in the order kube lists them (members, then children, sorted)."""
        yield from self._paths(())

    def _paths(self, prefix: Path) -> Iterator[Path]:
        for pe in sorted(self.members):
            yield (*prefix, pe)
        for pe in sorted(self.children):
            yield from self.children[pe]._paths((*prefix, pe))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"FieldSet({self.to_json()!r})"

    # -- mutation (only on sets this module owns)
    def insert(self, path: Sequence[PathElement]) -> None:
        if not path:
            return
        node = self
        for pe in path[:-1]:
            node = node.children.setdefault(pe, FieldSet())
        node.members.add(path[-1])

    # -- algebra (new sets)
    def union(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members | other.members
        for pe in set(self.children) | set(other.children):
            a, b = self.children.get(pe), other.children.get(pe)
            if a is not None and b is not None:
                merged = a.union(b)
            else:
                merged = (a if a is not None else b or FieldSet()).copy()
            if not merged.empty():
                out.children[pe] = merged
        return out

    def difference(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            sub = child.difference(other.children[pe]) if pe in other.children else child.copy()
            if not sub.empty():
                out.children[pe] = sub
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members & other.members
        for pe, child in self.children.items():
            if pe in other.children:
                sub = child.intersection(other.children[pe])
                if not sub.empty():
                    out.children[pe] = sub
        return out

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Remove ``other``'s members together with everything below them."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            if pe in other.members:
                continue
            sub = (
                child.recursive_difference(other.children[pe])
                if pe in other.children
                else child.copy()
            )
            if not sub.empty():
                out.children[pe] = sub
        return out

    def with_named_members(self) -> FieldSet:
        """Count every ``f:`` element with children as a member (EnsureNamedFieldsAreMembers)."""
        out = FieldSet()
        out.members = set(self.members)
        for pe, child in self.children.items():
            sub = child.with_named_members()
            if not sub.empty():
                out.children[pe] = sub
                if pe.kind == "f":
                    out.members.add(pe)
        return out


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True, eq=False)
class Node:
    """How one node of an object behaves under server-side apply.

    ``kind`` is ``obj`` (declared ``fields`` plus ``extra`` for other keys;
    ``extra_declared`` makes those behave as struct fields, not map keys),
    ``list`` (``list_type`` atomic/set/map, ``keys`` for map lists), ``scalar``,
    ``any`` (deduced from the value, as for ``x-kubernetes-preserve-unknown-fields``)
    or ``auto`` (deduced, but maps are structs: the built-in fallback).
    """

    kind: str
    fields: Mapping[str, Node] = field(default_factory=dict)
    extra: Node | None = None
    extra_declared: bool = False
    strict: bool = False
    atomic: bool = False
    elem: Node | None = None
    list_type: str = "atomic"
    keys: tuple[str, ...] = ()
    key_defaults: Mapping[str, Any] = field(default_factory=dict)


ANY = Node("any")
AUTO = Node("auto")
SCALAR = Node("scalar")
_OBJ_ANY = Node("obj", extra=ANY)
_OBJ_AUTO = Node("obj", extra=AUTO, extra_declared=True)
_ATOMIC_LIST = Node("list", elem=ANY)


@dataclass(frozen=True, eq=False)
class Schema:
    """What :func:`fields_of`, :func:`apply` and :func:`record_update` need of a kind.

    ``root`` describes the object; ``zero`` is the kind's zero value (the
    "old" object of a create: built-in structs that are never nil exist as
    ``{}`` there, so they get no ``.`` entry).
    """

    root: Node
    zero: Mapping[str, Any] = field(default_factory=dict)


#: the parameter name the module's functions use for a :class:`Schema`
ListKeys = Schema


#: The zero value of a built-in kind as Go's JSON encoding writes it: the "old" object
#: of a create, where struct fields that are never nil exist as ``{}`` (a Go fact the
#: published schemas do not state; kinds not listed start from ``{}``).
_ZERO: Mapping[str, Mapping[str, Any]] = {
    "Namespace": {"metadata": {}, "spec": {}, "status": {}},
    "ConfigMap": {"metadata": {}},
    "Secret": {"metadata": {}},
    "ServiceAccount": {"metadata": {}},
    "Service": {"metadata": {}, "spec": {}, "status": {"loadBalancer": {}}},
    "Deployment": {
        "metadata": {},
        "spec": {"template": {"metadata": {}, "spec": {"containers": None}}, "strategy": {}},
        "status": {},
    },
    "CustomResourceDefinition": {
        "metadata": {},
        "spec": {"names": {}},
        "status": {"acceptedNames": {}},
    },
}


@cache
def builtin_list_keys(kind: str) -> Schema | None:
    """The :class:`Schema` of a built-in kind the sandbox serves, or None.

    Read from Kubernetes' published schema of the kind (the same one
    ``/openapi`` serves and strategic merge patch reads): associative lists
    keyed by their ``x-kubernetes-list-map-keys`` (``ports`` by port and
    ``protocol``, defaulted to ``TCP``), sets, atomic lists and structs. Fields
    the schema does not declare behave as struct fields.
    """
    schema = builtin_kind_schema(kind)
    if schema is None:
        return None
    return Schema(_from_openapi(schema, builtin=True), _ZERO.get(kind, {}))


def _list_node(schema: Mapping[str, Any], elem: Node) -> Node:
    """A list as structured-merge-diff types it: its list-type, else its patch strategy."""
    list_type = schema.get("x-kubernetes-list-type")
    keys: tuple[str, ...] = ()
    if list_type == "map":
        keys = tuple(str(k) for k in schema.get("x-kubernetes-list-map-keys") or ())
    elif list_type is None and "merge" in str(
        schema.get("x-kubernetes-patch-strategy") or ""
    ).split(","):
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        list_type, keys = ("map", (str(merge_key),)) if merge_key else ("set", ())
    if list_type == "map":
        item_props = (schema.get("items") or {}).get("properties") or {}
        defaults = {
            k: item_props[k]["default"]
            for k in keys
            if isinstance(item_props.get(k), Mapping) and "default" in item_props[k]
        }
        return Node("list", elem=elem, list_type="map", keys=keys, key_defaults=defaults)
    if list_type == "set":
        return Node("list", elem=elem, list_type="set")
    return Node("list", elem=elem)


def _from_openapi(schema: Any, *, builtin: bool = False) -> Node:
    """The :class:`Node` of a resolved OpenAPI schema.

    ``builtin``: a built-in kind's, whose objects decode into Go structs, so a
    field the schema does not declare is a struct field (not an error).
    """
    if not isinstance(schema, Mapping):
        return ANY
    if schema.get("x-kubernetes-int-or-string"):
        return SCALAR
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    kind = schema.get("type")
    props = schema.get("properties")
    additional = schema.get("additionalProperties")
    if kind == "array" or (kind is None and "items" in schema):
        return _list_node(schema, _from_openapi(schema.get("items"), builtin=builtin))
    if kind == "object" or props is not None or additional is not None:
        fields = {str(k): _from_openapi(v, builtin=builtin) for k, v in (props or {}).items()}
        atomic = schema.get("x-kubernetes-map-type") == "atomic"
        if builtin and fields and additional is None:
            return Node("obj", fields=fields, extra=AUTO, extra_declared=True, atomic=atomic)
        extra: Node | None = None
        if isinstance(additional, Mapping):
            extra = _from_openapi(additional, builtin=builtin)
        elif additional is True or preserve or not fields:
            extra = ANY
        return Node("obj", fields=fields, extra=extra, strict=extra is None, atomic=atomic)
    return ANY if kind is None else SCALAR


@cache
def _object_meta() -> Node:
    """ObjectMeta's node: what ``metadata`` is in every object, custom or built-in."""
    return _from_openapi(object_meta_schema(), builtin=True)


def list_keys_from_schema(schema: Mapping[str, Any] | None) -> Schema:
    """The :class:`Schema` of a custom resource from its version's ``openAPIV3Schema``.

    Lists are atomic unless ``x-kubernetes-list-type`` says ``map`` (keyed by
    ``x-kubernetes-list-map-keys``) or ``set``; objects with
    ``x-kubernetes-preserve-unknown-fields`` accept any further field;
    ``metadata`` is always ObjectMeta. ``None`` means "no schema": every
    field is deduced from its value.
    """
    root = _from_openapi(schema) if schema else Node("obj", extra=ANY)
    if root.kind != "obj":
        root = Node("obj", extra=ANY)
    fields = dict(root.fields)
    fields.update({"apiVersion": SCALAR, "kind": SCALAR, "metadata": _object_meta()})
    return Schema(
        Node("obj", fields=fields, extra=root.extra, strict=root.strict, atomic=False),
        {},
    )


class _TypeLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def custom(self) -> bool: ...
    @property
    def schema(self) -> Mapping[str, Any] | None: ...


_FROM_SCHEMA_CACHE: dict[int, tuple[Mapping[str, Any], Schema]] = {}


def list_keys_for(resource_type: _TypeLike) -> Schema:
    """The :class:`Schema` of a served resource type (a ``registry.ResourceType``).

    Built-in kinds use :func:`builtin_list_keys`; custom resources (and
    built-ins without a table) derive it from their ``openAPIV3Schema``
    (cached per schema object).
    """
    if not resource_type.custom:
        builtin = builtin_list_keys(resource_type.kind)
        if builtin is not None:
            return builtin
    openapi = resource_type.schema
    if openapi is None:
        return list_keys_from_schema(None)
    cached = _FROM_SCHEMA_CACHE.get(id(openapi))
    if cached is not None and cached[0] is openapi:
        return cached[1]
    built = list_keys_from_schema(openapi)
    _FROM_SCHEMA_CACHE[id(openapi)] = (openapi, built)
    return built


def _schema(list_keys: Schema | None) -> Schema:
    return list_keys if list_keys is not None else list_keys_from_schema(None)


# --------------------------------------------------------------------------- typed walks

_MISSING: Any = object()


def _concrete(node: Node, value: Any) -> Node:
    if node.kind == "any":
        if isinstance(value, dict):
            return _OBJ_ANY
        return _ATOMIC_LIST if isinstance(value, list) else SCALAR
    if node.kind == "auto":
        if isinstance(value, dict):
            return _OBJ_AUTO
        return _ATOMIC_LIST if isinstance(value, list) else SCALAR
    if (
        (node.kind == "obj" and not isinstance(value, dict))
        or (node.kind == "list" and not isinstance(value, list))
        or (node.kind == "scalar" and isinstance(value, (dict, list)))
    ):
        return _concrete(ANY, value)
    return node


def _child(node: Node, key: str) -> tuple[Node, bool]:
    found = node.fields.get(key)
    if found is not None:
        return found, True
    return (node.extra or ANY), node.extra_declared


def _is_leaf(node: Node) -> bool:
    if node.kind == "obj":
        return node.atomic
    if node.kind == "list":
        return node.atomic or node.list_type == "atomic"
    return True


def _category(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _empty(value: Any) -> bool:
    return value is _MISSING or value is None or value == {} or value == []


class _KeyError(Exception):
    pass


def _item_pe(node: Node, item: Any, index: int, *, strict: bool = False) -> PathElement:
    if node.list_type == "map":
        if isinstance(item, dict):
            pairs = []
            for key in node.keys:
                if key in item and item[key] is not None:
                    pairs.append((key, item[key]))
                elif key in node.key_defaults:
                    pairs.append((key, node.key_defaults[key]))
                else:
                    if strict:
                        raise _KeyError(
                            f"element {index}: associative list with keys has an element that "
                            f'omits key field "{key}" (and doesn\'t have default value)'
                        )
                    return PathElement.index(index)
            return PathElement.key(pairs)
        if strict:
            raise _KeyError(
                f"element {index}: associative list with keys has an element that is not a map"
            )
        return PathElement.index(index)
    if isinstance(item, (dict, list)) and strict:
        raise _KeyError(
            f"element {index}: associative list without keys has an element that's a "
            f"{'map' if isinstance(item, dict) else 'list'} type"
        )
    return PathElement.value(item)


def _indexed(node: Node, items: list[Any]) -> dict[PathElement, Any]:
    out: dict[PathElement, Any] = {}
    for i, item in enumerate(items):
        pe = _item_pe(node, item, i)
        out.setdefault(pe, item)
    return out


def _to_set(value: Any, node: Node) -> FieldSet | None:
    """The fields ``value`` sets, relative to it; None when it is a leaf."""
    n = _concrete(node, value)
    if _is_leaf(n):
        return None
    out = FieldSet()
    if n.kind == "obj":
        for key, sub_value in value.items():
            child, declared = _child(n, key)
            pe = PathElement.field(key)
            sub = _to_set(sub_value, child)
            if sub is None:
                out.members.add(pe)
                continue
            if not sub.empty():
                out.children[pe] = sub
            if not declared:
                out.members.add(pe)
        return out
    elem = n.elem or ANY
    for i, item in enumerate(value):
        pe = _item_pe(n, item, i)
        out.members.add(pe)
        sub = _to_set(item, elem)
        if sub is not None and not sub.empty():
            prev = out.children.get(pe)
            out.children[pe] = prev.union(sub) if prev is not None else sub
    return out


def fields_of(obj: Any, list_keys: Schema | None = None) -> FieldSet:
    """The fields ``obj`` sets, as server-side apply counts them (``ToFieldSet``).

    Scalars and atomic maps/lists are leaves; struct fields holding an object
    are not members themselves (only what is below them is), map entries and
    list items are. This is the raw set: :func:`apply` and
    :func:`record_update` additionally drop ``apiVersion``, ``kind`` and the
    system-owned metadata (name, namespace, uid, resourceVersion, …).
    """
    schema = _schema(list_keys)
    result = _to_set(obj, schema.root)
    return result if result is not None else FieldSet()


@dataclass
class _Comparison:
    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)


def _compare(lhs: Any, rhs: Any, node: Node, path: Path, out: _Comparison) -> None:
    present_l, present_r = lhs is not _MISSING, rhs is not _MISSING
    n = _concrete(node, rhs if present_r and rhs is not None else lhs)
    # null is "present but empty" next to a map or list (as a nil map/slice in Go)
    if (
        present_l
        and present_r
        and lhs is not None
        and rhs is not None
        and _category(lhs) != _category(rhs)
    ):
        out.modified.insert(path)
        return
    if _is_leaf(n) or (_empty(lhs) and _empty(rhs)):
        if not present_l:
            out.added.insert(path)
        elif not present_r:
            out.removed.insert(path)
        elif not json_equal(lhs, rhs):
            out.modified.insert(path)
        return
    if n.kind == "obj":
        lmap = lhs if isinstance(lhs, dict) else {}
        rmap = rhs if isinstance(rhs, dict) else {}
        for key, value in lmap.items():
            child, _ = _child(n, key)
            _compare(value, rmap.get(key, _MISSING), child, (*path, PathElement.field(key)), out)
        for key, value in rmap.items():
            if key not in lmap:
                child, _ = _child(n, key)
                _compare(_MISSING, value, child, (*path, PathElement.field(key)), out)
    else:
        elem = n.elem or ANY
        lidx = _indexed(n, lhs if isinstance(lhs, list) else [])
        ridx = _indexed(n, rhs if isinstance(rhs, list) else [])
        for pe, item in lidx.items():
            _compare(item, ridx.get(pe, _MISSING), elem, (*path, pe), out)
        for pe, item in ridx.items():
            if pe not in lidx:
                _compare(_MISSING, item, elem, (*path, pe), out)
    if not present_l:
        out.added.insert(path)
    elif not present_r:
        out.removed.insert(path)


def _compare_objects(lhs: Any, rhs: Any, node: Node) -> _Comparison:
    out = _Comparison()
    _compare(lhs, rhs, node, (), out)
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _merge(lhs: Any, rhs: Any, node: Node) -> Any:
    """Merge an applied configuration (``rhs``) into a live value (``lhs``)."""
    if rhs is _MISSING:
        return _copy(lhs)
    if lhs is _MISSING:
        return _copy(rhs)
    n = _concrete(node, rhs)
    if _category(lhs) != _category(rhs) or _is_leaf(n) or (_empty(lhs) and _empty(rhs)):
        return _copy(rhs)
    if n.kind == "obj":
        out: Obj = {}
        for key, value in lhs.items():
            child, _ = _child(n, key)
            out[key] = _merge(value, rhs.get(key, _MISSING), child)
        for key, value in rhs.items():
            if key not in lhs:
                out[key] = _copy(value)
        return out
    return _merge_list(lhs, rhs, n)


def _merge_list(lhs: list[Any], rhs: list[Any], n: Node) -> list[Any]:
    """Associative list merge: shared items in the config's order, live-only items kept in place."""
    elem = n.elem or ANY
    lidx, ridx = _indexed(n, lhs), _indexed(n, rhs)
    lorder, rorder = list(lidx), list(ridx)
    shared = [pe for pe in rorder if pe in lidx]
    next_shared = shared.pop(0) if shared else None
    done: set[PathElement] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lorder) or ri < len(rorder):
        if li < len(lorder) and ri < len(rorder):
            pe = lorder[li]
            if pe == rorder[ri]:
                done.add(pe)
                out.append(_merge(lidx[pe], ridx[pe], elem))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in ridx and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lorder):
            pe = lorder[li]
            if pe not in ridx:
                out.append(_copy(lidx[pe]))
                li += 1
                continue
            if pe in done:
                li += 1
                continue
        if ri < len(rorder):
            pe = rorder[ri]
            done.add(pe)
            out.append(_merge(lidx.get(pe, _MISSING), ridx[pe], elem))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
        else:
            li += 1  # a live item shared with the config, already merged
    return out


def _remove(value: Any, fields: FieldSet, node: Node) -> Any:
    """``RemoveItems``: drop members of ``fields`` (with their subtrees) from ``value``."""
    n = _concrete(node, value)
    if _is_leaf(n):
        return value
    if n.kind == "obj":
        out: Obj = {}
        for key, sub in value.items():
            pe = PathElement.field(key)
            if pe in fields.members:
                continue
            child_fields = fields.children.get(pe)
            if child_fields is not None:
                child, _ = _child(n, key)
                sub = _remove(sub, child_fields, child)
            out[key] = sub
        return out
    elem = n.elem or ANY
    items: list[Any] = []
    for i, item in enumerate(value):
        pe = _item_pe(n, item, i)
        if pe in fields.members:
            continue
        child_fields = fields.children.get(pe)
        items.append(_remove(item, child_fields, elem) if child_fields is not None else item)
    return items


def _validate(value: Any, node: Node, path: Path, errors: list[str]) -> None:
    """The typed-conversion checks kube runs on an applied configuration."""
    n = _concrete(node, value)
    if n.kind == "obj":
        if n.atomic:
            return
        for key, sub in value.items():
            pe = PathElement.field(key)
            if key not in n.fields and n.strict:
                errors.append(f"{path_string((*path, pe))}: field not declared in schema")
                continue
            child, _ = _child(n, key)
            _validate(sub, child, (*path, pe), errors)
        return
    if n.kind != "list" or _is_leaf(n):
        return
    seen: set[PathElement] = set()
    elem = n.elem or ANY
    for i, item in enumerate(value):
        try:
            pe = _item_pe(n, item, i, strict=True)
        except _KeyError as exc:
            errors.append(f"{path_string(path)}: {exc}")
            continue
        if pe in seen:
            errors.append(f"{path_string(path)}: duplicate entries for key {pe}")
            continue
        seen.add(pe)
        _validate(item, elem, (*path, pe), errors)


# --------------------------------------------------------------------------- managed fields

_STRIP = FieldSet.from_paths(
    [
        (PathElement.field("apiVersion"),),
        (PathElement.field("kind"),),
        (PathElement.field("metadata"),),
    ]
    + [
        (PathElement.field("metadata"), PathElement.field(name))
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ]
)

#: metadata that server-side apply never takes from a configuration
_SYSTEM_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: FieldSet

    @property
    def identity(self) -> tuple[str, str, str, str]:
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    @property
    def identifier(self) -> str:
        """The JSON kube uses to identify a manager (and to sort conflicts by)."""
        body: dict[str, str] = {"manager": self.manager, "operation": self.operation}
        if self.operation != "Apply" and self.api_version:
            body["apiVersion"] = self.api_version
        if self.subresource:
            body["subresource"] = self.subresource
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    def describe(self) -> str:
        """``printManager``: ``"name"``, plus subresource and ``using <apiVersion>`` for Update."""
        text = go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {go_quote(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def encode(self) -> Obj:
        out: Obj = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            out["apiVersion"] = self.api_version
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = self.fields.to_json()
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _decode(entries: Any) -> dict[tuple[str, str, str, str], _Entry]:
    out: dict[tuple[str, str, str, str], _Entry] = {}
    if not isinstance(entries, list):
        return out
    for raw in entries:
        if not isinstance(raw, dict):
            continue
        try:
            fields = FieldSet.from_json(raw.get("fieldsV1") or {})
        except (ValueError, TypeError, RecursionError):
            continue
        entry = _Entry(
            manager=str(raw.get("manager") or ""),
            operation=str(raw.get("operation") or ""),
            api_version=str(raw.get("apiVersion") or ""),
            subresource=str(raw.get("subresource") or ""),
            time=raw.get("time") if isinstance(raw.get("time"), str) else None,
            fields=fields,
        )
        prev = out.get(entry.identity)
        if prev is not None:
            prev.fields = prev.fields.union(entry.fields)
        else:
            out[entry.identity] = entry
    return out


def _seconds(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return 0.0


def _cap_updaters(managed: dict[tuple[str, str, str, str], _Entry]) -> None:
    """Fold the oldest Update managers into ``ancient-changes`` past the cap."""

    def count() -> int:
        return sum(1 for e in managed.values() if e.operation != "Apply")

    updaters = sorted(
        (e for e in managed.values() if e.operation != "Apply"),
        key=lambda e: (_seconds(e.time), e.identifier),
    )
    for entry in updaters:
        if count() <= MAX_UPDATE_MANAGERS:
            break
        if entry.manager == ANCIENT_CHANGES and not entry.subresource:
            continue
        del managed[entry.identity]
        bucket_id = (ANCIENT_CHANGES, "Update", entry.api_version, "")
        bucket = managed.get(bucket_id)
        if bucket is None:
            managed[bucket_id] = _Entry(
                ANCIENT_CHANGES, "Update", entry.api_version, "", entry.time, entry.fields
            )
        else:
            bucket.fields = bucket.fields.union(entry.fields)
            if _seconds(entry.time) > _seconds(bucket.time):
                bucket.time = entry.time


def _encode(managed: Mapping[tuple[str, str, str, str], _Entry]) -> list[Obj]:
    entries = [e for e in managed.values() if not e.fields.empty()]
    entries.sort(
        key=lambda e: (e.operation, _seconds(e.time), e.manager, e.api_version, e.subresource)
    )
    return [e.encode() for e in entries]


def _without_managed_fields(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _top_level_set(names: Iterable[str]) -> FieldSet:
    return FieldSet.from_paths((PathElement.field(n),) for n in names)


def _zero(schema: Schema) -> Obj:
    zero: Obj = _copy(dict(schema.zero))
    return zero


# --------------------------------------------------------------------------- errors


class ApplyError(Exception):
    """A server-side apply kube-apiserver refuses; ``code``/``reason``/``message`` as it answers."""

    def __init__(self, message: str, *, code: int = 500, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.message

    def causes(self) -> list[dict[str, str]]:
        return []

    def to_status(self) -> Obj:
        """The ``metav1.Status`` body kube-apiserver returns."""
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            status["reason"] = self.reason
        causes = self.causes()
        if causes:
            status["details"] = {"causes": causes}
        status["code"] = self.code
        return status


class ApplyConflict(ApplyError):
    """Fields of other managers an apply would change: 409 Conflict.

    ``conflicts`` lists ``(manager, path)`` pairs, e.g.
    ``("kubectl-client-side-apply", ".spec.traffic")``; ``message`` reads as
    kube-apiserver's (``Apply failed with 1 conflict: conflict with
    "kubectl-client-side-apply" using serving.knative.dev/v1: .spec.traffic``).
    """

    def __init__(
        self,
        conflicts: list[tuple[str, str]],
        message: str,
        causes: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message, code=409, reason="Conflict")
        self.conflicts = conflicts
        self._causes = causes or []

    def causes(self) -> list[dict[str, str]]:
        return [dict(c) for c in self._causes]


def _conflict_error(
    conflicts: Mapping[tuple[str, str, str, str], tuple[_Entry, FieldSet]],
) -> ApplyConflict:
    """kube's ``NewConflictError``: message, causes and the (manager, path) pairs."""
    by_manager = sorted(conflicts.values(), key=lambda pair: pair[0].identifier)
    pairs: list[tuple[str, str]] = []
    causes: list[dict[str, str]] = []
    lines: list[str] = []
    for entry, fields in by_manager:
        described = entry.describe()
        lines.append(f"conflicts with {described}:")
        for p in fields.paths():
            shown = path_string(p)
            pairs.append((entry.manager, shown))
            causes.append(
                {
                    "reason": "FieldManagerConflict",
                    "message": f"conflict with {described}",
                    "field": shown,
                }
            )
            lines.append(f"- {shown}")
    if len(pairs) == 1:
        entry = by_manager[0][0]
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: {pairs[0][1]}"
    else:
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return ApplyConflict(pairs, message, causes)


# --------------------------------------------------------------------------- operations


def default_manager(user_agent: str) -> str:
    """The field manager kube-apiserver derives from a User-Agent when ``fieldManager`` is unset.

    The text before the first ``/``, without non-printable characters, cut
    before it would exceed 128 bytes (``kubectl/v1.32.0 (linux/amd64)`` →
    ``kubectl``). An empty result is recorded as ``unknown``.
    """
    head = user_agent.split("/", 1)[0]
    out: list[str] = []
    size = 0
    for ch in head:
        if not is_print(ch):
            continue
        width = len(ch.encode("utf-8", "surrogatepass"))
        if size + width > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
        size += width
    return "".join(out)


def _group_version_kind(api_version: Any, kind: Any) -> str:
    group, _, version = str(api_version or "").rpartition("/")
    return f"{group}/{version}, Kind={kind or ''}"


def _last_applied(obj: Any) -> Any:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return None
    text = annotations.get(LAST_APPLIED_ANNOTATION)
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _build_last_applied(config: Obj) -> str:
    body = _copy(config)
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {
            k: v for k, v in meta["annotations"].items() if k != LAST_APPLIED_ANNOTATION
        }
    return go_json(body) + "\n"


def apply(
    current: Obj | None,
    config: Obj,
    *,
    manager: str,
    force: bool,
    api_version: str,
    list_keys: Schema | None,
    now: str,
    subresource: str = "",
    ignored_fields: Sequence[str] = (),
) -> Obj:
    """Server-side apply ``config`` by ``manager`` to ``current`` (None to create).

    Returns the merged object with ``metadata.managedFields`` updated: fields
    in ``config`` take its values and become owned by ``manager`` (an
    ``operation: Apply`` entry); a field another manager owns is a conflict
    when its value would change — :class:`ApplyConflict` (409) unless
    ``force``, which moves the ownership; an equal value is shared. Fields
    ``manager`` applied before but no longer applies are removed unless some
    other manager owns them. Ownership is never recorded for ``apiVersion``,
    ``kind`` and the system metadata (name, namespace, uid, resourceVersion,
    generation, creationTimestamp, managedFields, selfLink, clusterName).
    ``ignored_fields`` are top-level fields the request may not change (the
    resetFields of the endpoint: ``("status",)`` on the main resource of a
    kind with a status subresource, ``("spec",)`` on ``/status``);
    their live values are kept and nobody gains their ownership.

    Also as kube-apiserver: an object that exists but has no managedFields
    first gets a ``before-first-apply`` Update entry owning all of it; for
    the manager ``kubectl``, conflicts with fields recorded in the
    ``last-applied-configuration`` annotation are forced (client-side to
    server-side apply upgrade) and that annotation is rewritten.

    Raises :class:`ApplyError`: 400 for a configuration in another version
    or carrying ``metadata.managedFields``; 400 too (where kube-apiserver says 500
    with reason ``""``) when the configuration does not fit the schema ("failed
    to create typed patch object ...": a missing list key, duplicate keys, an
    undeclared field): hostile input never gets a 5xx from the sandbox.
    """
    schema = _schema(list_keys)
    root = schema.root
    if not isinstance(config, dict):
        raise ApplyError(
            "error decoding YAML: the apply configuration must be an object",
            code=400,
            reason="BadRequest",
        )
    group_version = config.get("apiVersion") or ""
    if group_version != api_version:
        raise ApplyError(
            "Incorrect version specified in apply patch. "
            f"Specified patch version: {group_version}, expected: {api_version}",
            code=400,
            reason="BadRequest",
        )
    config_meta = config.get("metadata")
    if isinstance(config_meta, dict) and config_meta.get("managedFields") is not None:
        raise ApplyError("metadata.managedFields must be nil", code=400, reason="BadRequest")
    errors: list[str] = []
    _validate(config, root, (), errors)
    if errors:
        meta = config_meta if isinstance(config_meta, dict) else {}
        where = (
            f"{meta.get('namespace') or ''}/{meta.get('name') or ''}; "
            f"{_group_version_kind(config.get('apiVersion'), config.get('kind'))}"
        )
        detail = (
            errors[0] if len(errors) == 1 else "errors:\n" + "\n".join("  " + e for e in errors)
        )
        # kube-apiserver answers 500 (reason ""): this is the client's error, so 400 here
        raise ApplyError(
            f"failed to create typed patch object ({where}): {detail}",
            code=400,
            reason="BadRequest",
        )

    live: Obj = _without_managed_fields(_copy(current)) if isinstance(current, dict) else {}
    managed = _decode(_managed_fields_of(current))
    if isinstance(current, dict) and not managed:
        seeded = _compare_objects(_zero(schema), live, root)
        first = seeded.added.union(seeded.modified).difference(_STRIP)
        if not first.empty():
            entry = _Entry(BEFORE_FIRST_APPLY, "Update", api_version, "", now, first)
            managed[entry.identity] = entry

    ignored = _top_level_set(ignored_fields)
    effective = {k: v for k, v in config.items() if k not in ignored_fields}
    merged: Obj = _merge(live, effective, root)
    _restore_system_metadata(merged, live)

    applier = _Entry(manager, "Apply", api_version, subresource, now, FieldSet())
    previous = managed.get(applier.identity)
    applier.fields = fields_of(config, schema).recursive_difference(ignored)
    managed[applier.identity] = applier

    if previous is not None and not previous.fields.empty():
        owned = FieldSet()
        for entry in managed.values():
            owned = owned.union(entry.fields)
        removable = previous.fields.with_named_members().difference(owned.with_named_members())
        merged = _remove(merged, removable, root)

    try:
        managed = _transfer(live, merged, managed, applier, root, force=force)
    except ApplyConflict:
        if manager != "kubectl" or force:
            raise
        last_applied = _last_applied(live)
        if not isinstance(last_applied, dict):
            raise
        allowed = fields_of(last_applied, schema)
        cmp = _compare_objects(live, merged, root)
        conflicts = _conflicts(cmp.modified.union(cmp.added), managed, applier)
        remaining = {
            ident: (entry, fields.difference(allowed))
            for ident, (entry, fields) in conflicts.items()
            if not fields.difference(allowed).empty()
        }
        if remaining:
            raise _conflict_error(remaining) from None
        managed = _transfer(live, merged, managed, applier, root, force=True)

    if previous is not None and json_equal(live, merged):
        applier.time = previous.time  # a no-op apply keeps its timestamp
    for entry in managed.values():
        entry.fields = entry.fields.difference(_STRIP)

    merged_meta = merged.get("metadata")
    annotations = merged_meta.get("annotations") if isinstance(merged_meta, dict) else None
    if (
        manager == "kubectl"
        and isinstance(annotations, dict)
        and LAST_APPLIED_ANNOTATION in annotations
    ):
        annotations[LAST_APPLIED_ANNOTATION] = _build_last_applied(config)

    managed = {k: v for k, v in managed.items() if not v.fields.empty()}
    _cap_updaters(managed)
    metadata = merged.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        metadata = merged["metadata"] = {}
    metadata["managedFields"] = _encode(managed)
    return merged


def _managed_fields_of(obj: Any) -> Any:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta.get("managedFields") if isinstance(meta, dict) else None


def _restore_system_metadata(merged: Obj, live: Obj) -> None:
    live_meta = live.get("metadata") if isinstance(live.get("metadata"), dict) else None
    meta = merged.get("metadata")
    if not isinstance(meta, dict) or live_meta is None:
        return
    for name in _SYSTEM_METADATA:
        if name in live_meta:
            meta[name] = _copy(live_meta[name])
        elif name != "managedFields":
            meta.pop(name, None)


def _conflicts(
    changed: FieldSet,
    managed: Mapping[tuple[str, str, str, str], _Entry],
    applier: _Entry,
) -> dict[tuple[str, str, str, str], tuple[_Entry, FieldSet]]:
    out: dict[tuple[str, str, str, str], tuple[_Entry, FieldSet]] = {}
    for ident, entry in managed.items():
        if ident == applier.identity:
            continue
        clash = entry.fields.intersection(changed)
        if not clash.empty():
            out[ident] = (entry, clash)
    return out


def _transfer(
    live: Obj,
    merged: Obj,
    managed: dict[tuple[str, str, str, str], _Entry],
    applier: _Entry,
    root: Node,
    *,
    force: bool,
) -> dict[tuple[str, str, str, str], _Entry]:
    """Take changed fields from other managers (conflicts unless ``force``), drop removed ones."""
    cmp = _compare_objects(live, merged, root)
    changed = cmp.modified.union(cmp.added)
    conflicts = _conflicts(changed, managed, applier)
    if conflicts and not force:
        raise _conflict_error(conflicts)
    out: dict[tuple[str, str, str, str], _Entry] = {}
    for ident, entry in managed.items():
        if ident != applier.identity:
            entry = _Entry(
                entry.manager,
                entry.operation,
                entry.api_version,
                entry.subresource,
                entry.time,
                entry.fields.difference(changed).difference(cmp.removed),
            )
        if not entry.fields.empty() or ident == applier.identity:
            out[ident] = entry
    return out


def record_update(
    old: Obj | None,
    new: Obj,
    *,
    manager: str,
    api_version: str,
    list_keys: Schema | None,
    now: str,
    subresource: str = "",
    ignored_fields: Sequence[str] = (),
) -> list[Obj]:
    """The ``metadata.managedFields`` after ``manager`` turned ``old`` into ``new``.

    Fields that ``new`` adds or changes become owned by ``manager``'s
    ``operation: Update`` entry (one per manager, apiVersion and
    subresource; ``"subresource": "status"`` for status writes) and leave
    every other manager's set; removed fields leave every set; entries left
    empty are dropped; more than 10 Update entries fold the oldest into
    ``ancient-changes``. A write that changes nothing keeps the entries as
    they are. As in kube-apiserver, managedFields sent in ``new`` replace the
    stored ones when non-empty (not for subresources). ``old`` is None on
    create. ``ignored_fields`` as in :func:`apply`.
    """
    schema = _schema(list_keys)
    root = schema.root
    manager = manager or "unknown"
    new_meta = new.get("metadata") if isinstance(new, dict) else None
    sent = new_meta.get("managedFields") if isinstance(new_meta, dict) else None
    managed = _decode(sent) if not subresource else {}
    if not managed:
        old_meta = old.get("metadata") if isinstance(old, dict) else None
        managed = _decode(old_meta.get("managedFields") if isinstance(old_meta, dict) else None)
    before = _without_managed_fields(old) if isinstance(old, dict) else _zero(schema)
    after = _without_managed_fields(new) if isinstance(new, dict) else {}
    ignored = _top_level_set(ignored_fields)
    try:
        cmp = _compare_objects(before, after, root)
    except RecursionError:
        return []
    changed = cmp.modified.union(cmp.added).recursive_difference(ignored)
    removed = cmp.removed
    for entry in managed.values():
        entry.fields = entry.fields.difference(changed).difference(removed)
    operation_set = changed.difference(_STRIP)
    if not operation_set.empty():
        me = _Entry(manager, "Update", api_version, subresource, now, operation_set)
        prev = managed.get(me.identity)
        if prev is not None:
            me.fields = prev.fields.union(operation_set)
        managed[me.identity] = me
    for entry in managed.values():
        entry.fields = entry.fields.difference(_STRIP)
    managed = {k: v for k, v in managed.items() if not v.fields.empty()}
    _cap_updaters(managed)
    return _encode(managed)
