"""Request bodies and query parameters, decoded the way kube-apiserver decodes them.

Bodies (:func:`decode`, :func:`decode_async`):

* JSON as Go reads it: ``NaN``/``Infinity`` are not JSON; a key given twice in one
  object is noted as a strict decoding error (``duplicate field "spec.replicas"``)
  and the last value kept; nesting deeper than :data:`MAX_DEPTH` is refused.
* YAML composed by hand from libyaml's events, as ``sigs.k8s.io/yaml`` (go-yaml)
  reads it into JSON: the first document only, keys as strings, timestamps as the
  text they are, merge keys (``<<``), and every alias an independent copy of what
  its anchor holds. Copies are counted *before* they are made, with go-yaml's rule
  (``allowedAliasRatio``): a document whose aliases would make up too much of
  what it expands to is refused with ``yaml: document contains excessive
  aliasing``, so a one-kilobyte alias bomb costs microseconds, not the event loop. A key given twice is go-yaml's strict
  error (``line 3: key "data" already set in map``).
* Bodies larger than :data:`THREAD_MIN_BYTES` are decoded in a worker thread, so
  no single request body holds the event loop (the API, the gateway and the
  controllers share it) for the length of its parse.

Query parameters (:func:`go_int`, :func:`query_flag`, :func:`list_options`):
integers as Go's ``strconv.ParseInt``/``ParseUint`` read them (no ``_``, no
spaces, no ``0x``, 64-bit range), booleans as the apiserver's parameter codec
reads them, and ``ListOptions`` validated as ``ValidateListOptions`` does.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kn_walk.goformat import go_float
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.schema import go_repr
from kn_walk.yamlbounds import EXCESSIVE_ALIASING, excessive_aliasing

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
#: the media types whose bodies are JSON / YAML (YAML being a superset of JSON)
JSON_TYPES = frozenset((JSON, MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH))
YAML_TYPES = frozenset((YAML, APPLY_PATCH))

#: bodies at least this large are decoded in a worker thread
THREAD_MIN_BYTES = 64 * 1024
#: the deepest nesting a body may have: deeper objects could not be checked, copied or
#: stored (each level costs the Python code that walks it a few stack frames)
MAX_DEPTH = 256
NESTED_TOO_DEEPLY = f"the request body is nested too deeply (more than {MAX_DEPTH} levels)"


_TAG = "tag:yaml.org,2002:"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Decoded:
    """A decoded body and what a strict decoder says about its text: go-yaml's errors
    (a YAML key given twice), and the paths of JSON fields given twice."""

    value: Any
    yaml_errors: list[str] = field(default_factory=list)
    duplicate_fields: list[str] = field(default_factory=list)


# ------------------------------------------------------------------- media types


_TOKEN = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")


def media_type(header: str | None) -> str:
    """The media type of a ``Content-Type`` header, lower case and without parameters
    (``application/json`` when there is none, as kube-apiserver assumes; "" if malformed)."""
    text = (header or "").split(";", 1)[0].strip().lower()
    if not text:
        return JSON
    return text if _MEDIA_TYPE.fullmatch(text) else ""


def accepted_media_types(custom: bool) -> list[str]:
    """What a create or update of a built-in (``custom=False``) or custom resource takes."""
    return [JSON, YAML] if custom else [JSON, YAML, PROTOBUF]


# ------------------------------------------------------------------------ bodies


def decode(raw: bytes, ctype: str) -> Decoded:
    """A JSON or YAML body (``ctype`` one of :data:`JSON_TYPES` / :data:`YAML_TYPES`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise E.bad_request(f"invalid UTF-8 in request body: {exc}") from exc
    if ctype in YAML_TYPES:
        try:
            found = _decode_json(text)
        except E.StatusError:
            return _decode_yaml(text)  # not JSON: YAML says what is wrong with it
        if found.duplicate_fields:  # in a YAML body they are go-yaml's errors, with lines
            return _decode_yaml(text)
        return found
    return _decode_json(text)


async def decode_async(raw: bytes, ctype: str) -> Decoded:
    """:func:`decode`, in a worker thread for a large body."""
    if len(raw) < THREAD_MIN_BYTES:
        return decode(raw, ctype)
    return await asyncio.to_thread(decode, raw, ctype)


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def _decode_json(text: str) -> Decoded:
    repeated: list[tuple[dict[str, Any], list[str]]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            again = []
            for key, _ in items:
                if key in seen:
                    again.append(key)
                seen.add(key)
            repeated.append((obj, again))
        return obj

    try:
        value = json.loads(
            text, object_pairs_hook=pairs, parse_constant=_no_constant, parse_float=_float
        )
    except RecursionError as exc:
        raise E.bad_request(NESTED_TOO_DEEPLY) from exc
    except ValueError as exc:
        raise E.bad_request(f"error decoding request body as JSON: {exc}") from exc
    return Decoded(value, duplicate_fields=_walk_json(value, repeated))


def _walk_json(value: Any, repeated: list[tuple[dict[str, Any], list[str]]]) -> list[str]:
    """Check the nesting of ``value``; the paths of its repeated keys, in order."""
    wanted = {id(obj): keys for obj, keys in repeated}
    errors: list[str] = []
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise E.bad_request(NESTED_TOO_DEEPLY)
        if isinstance(node, dict):
            for key in wanted.get(id(node), ()):
                errors.append(_child(path, key))
            children = [(v, _child(path, k) if wanted else "") for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{path}[{i}]" if wanted else "") for i, v in enumerate(node)]
        else:
            continue
        for child, where in reversed(children):
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, where))
    return errors


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -------------------------------------------------------------------------- YAML


class _YAMLError(Exception):
    """What go-yaml (or sigs.k8s.io/yaml's conversion to JSON) says about a document."""


@dataclass
class _Node:
    """A collection being composed: its value, how many nodes it expands to, its height."""

    value: Any
    anchor: str | None
    line: int
    size: int = 1
    height: int = 1  # the nesting of collections it holds, itself included
    #: a mapping's key waiting for its value (a _Done), the keys it sets, what it merges
    key: Any = None
    has_key: bool = False
    explicit: set[str] = field(default_factory=set)
    merges: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Done:
    value: Any
    size: int
    height: int
    line: int
    merge: bool = False  # a ``<<`` key


class _Composer:
    """Builds the JSON value of a document from libyaml's events (see the module doc)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.anchors: dict[str, tuple[Any, int, int]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Node] = []
        self.decodes = 0
        self.aliased = 0
        self.duplicates: list[str] = []

    def document(self) -> Any:
        loader = self.loader
        loader.get_event()  # StreamStart
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # DocumentStart
        result: _Done | None = None
        while result is None:
            event = loader.get_event()
            done = self.event(event)
            if done is not None:
                result = self.attach(done)
        return result.value

    def event(self, event: Any) -> _Done | None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            return self.alias(str(event.anchor), line)
        if isinstance(event, yaml.ScalarEvent):
            self.count(1)
            value, merge = self.scalar(event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1, 0)
            return _Done(value, 1, 0, line, merge=merge)
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self.count(1)
            if len(self.stack) >= MAX_DEPTH:
                raise _YAMLError(NESTED_TOO_DEEPLY)
            empty: Any = [] if isinstance(event, yaml.SequenceStartEvent) else {}
            self.stack.append(_Node(empty, event.anchor, line))
            if event.anchor is not None:
                self.open_anchors.add(event.anchor)
            return None
        if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            node = self.stack.pop()
            if isinstance(node.value, dict):
                self.apply_merges(node)
            if node.anchor is not None:
                self.open_anchors.discard(node.anchor)
                self.anchors[node.anchor] = (node.value, node.size, node.height)
            return _Done(node.value, node.size, node.height, node.line)
        raise _YAMLError(f"unexpected {type(event).__name__}")  # not produced inside a document

    def count(self, decodes: int, aliased: int = 0) -> None:
        """go-yaml's bound: aliases may not make up too much of what is decoded."""
        self.decodes += decodes
        self.aliased += aliased
        if excessive_aliasing(self.aliased, self.decodes):
            raise _YAMLError(EXCESSIVE_ALIASING)

    def alias(self, anchor: str, line: int) -> _Done:
        if anchor in self.open_anchors:
            raise _YAMLError(f"yaml: anchor '{anchor}' value contains itself")
        if anchor not in self.anchors:
            raise _YAMLError(f"yaml: unknown anchor '{anchor}' referenced")
        value, size, height = self.anchors[anchor]
        self.count(1 + size, size)  # counted before a single node is copied
        if len(self.stack) + height > MAX_DEPTH:
            raise _YAMLError(NESTED_TOO_DEEPLY)
        if isinstance(value, dict | list):
            value = json.loads(json.dumps(value))  # an independent copy, as Go decodes one
        return _Done(value, 1 + size, height, line)

    def scalar(self, event: Any) -> tuple[Any, bool]:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if not tag.startswith(_TAG):
            return event.value, False  # an application tag: the text
        kind = tag[len(_TAG) :]
        if kind == "merge":
            return event.value, True
        if kind in ("null", "bool", "int", "float"):
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
            try:
                # the constructor itself: construct_object would keep every node it saw
                value = self.loader.yaml_constructors[tag](self.loader, node)
            except (ValueError, yaml.YAMLError) as exc:
                raise _YAMLError(f"yaml: cannot decode {event.value!r} as !!{kind}") from exc
            if isinstance(value, float) and not math.isfinite(value):
                shown = "NaN" if math.isnan(value) else ("-Inf" if value < 0 else "+Inf")
                raise _YAMLError(f"json: unsupported value: {shown}")
            return value, False
        return event.value, False  # str, timestamp (a string, as go-yaml v2 gives it), binary

    def attach(self, done: _Done) -> _Done | None:
        """Put a composed value into its parent; the document's root is returned."""
        if not self.stack:
            return done
        parent = self.stack[-1]
        parent.size += done.size
        parent.height = max(parent.height, done.height + 1)
        if isinstance(parent.value, list):
            parent.value.append(done.value)
            return None
        if not parent.has_key:
            parent.key, parent.has_key = done, True
            return None
        key_done: _Done = parent.key
        parent.key, parent.has_key = None, False
        if key_done.merge:
            self.merge(parent, done.value)
            return None
        key = _json_key(key_done.value)
        if key in parent.explicit:
            self.duplicates.append(
                f"line {done.line}: key {go_repr(key_done.value)} already set in map"
            )
        parent.explicit.add(key)
        parent.value[key] = done.value
        return None

    def merge(self, parent: _Node, value: Any) -> None:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            raise _YAMLError("yaml: map merge requires map or sequence of maps as the value")
        parent.merges.extend(sources)

    def apply_merges(self, node: _Node) -> None:
        """Merged keys fill in what the mapping does not set; earlier merges win."""
        for source in node.merges:
            for key, item in source.items():
                if key not in node.value:
                    node.value[key] = item


def _json_key(key: Any) -> str:
    """A mapping key as sigs.k8s.io/yaml writes it into JSON."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return go_float(key)
    raise _YAMLError(f"yaml: invalid map key: {go_repr(key)}")


def _decode_yaml(text: str) -> Decoded:
    loader = _Loader(text)
    try:
        composer = _Composer(loader)
        value = composer.document()
    except _YAMLError as exc:
        message = str(exc)
        if message == NESTED_TOO_DEEPLY:
            raise E.bad_request(message) from None
        raise E.bad_request(f"error converting YAML to JSON: {message}") from None
    except yaml.YAMLError as exc:
        raise E.bad_request(f"error converting YAML to JSON: yaml: {_yaml_problem(exc)}") from None
    finally:
        loader.dispose()
    errors = []
    if composer.duplicates:
        errors.append(
            "error converting YAML to JSON: yaml: unmarshal errors:\n  "
            + "\n  ".join(composer.duplicates)
        )
    return Decoded(value, yaml_errors=errors)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


# ------------------------------------------------------------- query parameters


_DIGITS = re.compile(r"[0-9]+")


def go_int(text: str, *, unsigned: bool = False) -> int:
    """``strconv.ParseInt(text, 10, 64)`` (``ParseUint`` when ``unsigned``).

    Raises ValueError with Go's message: ``strconv.ParseInt: parsing "1_000": invalid
    syntax`` (Python's ``int()`` would take ``1_000``, `` 7``, ``٣``), or ``value out of
    range`` beyond 64 bits.
    """
    func = "ParseUint" if unsigned else "ParseInt"
    digits, negative = text, False
    if not unsigned and text[:1] in ("+", "-"):
        digits, negative = text[1:], text[0] == "-"
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"strconv.{func}: parsing {go_repr(text)}: invalid syntax")
    significant = digits.lstrip("0") or "0"
    value = int(significant) if len(significant) <= 20 else 2**64
    limit = 2**64 - 1 if unsigned else 2**63 - (0 if negative else 1)
    if value > limit:
        raise ValueError(f"strconv.{func}: parsing {go_repr(text)}: value out of range")
    return -value if negative else value


def query_flag(query: Mapping[str, str], name: str) -> bool | None:
    """A boolean query parameter as the apiserver reads it: absent is None, ``0`` and
    ``false`` (any case) are false, anything else is true."""
    if name not in query:
        return None
    value = query[name]
    return not (value == "0" or value.lower() == "false")


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        return go_int(query[name])
    except ValueError as exc:
        raise E.bad_request(str(exc)) from exc


def resource_version(text: str, name: str = "resourceVersion") -> int:
    """A resourceVersion as the storage layer parses it (0 for "" and "0").

    kube-apiserver answers an unparsable one with 500 (the storage layer's Invalid
    error is not a Status); this is the same message as a 400.
    """
    if text in ("", "0"):
        return 0
    try:
        return go_int(text, unsigned=True)
    except ValueError as exc:
        raise E.bad_request(f"{name}: Invalid value: {go_repr(text)}: {exc}") from exc


NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"


@dataclass(frozen=True)
class ListOptions:
    """The list/watch query parameters the sandbox uses, parsed and validated."""

    watch: bool
    limit: int
    timeout_seconds: int | None
    resource_version: str
    rv: int
    resource_version_match: str
    send_initial_events: bool | None
    allow_watch_bookmarks: bool
    continue_token: str


def list_options(query: Mapping[str, str], *, watch: bool) -> ListOptions:
    """Parse and validate the ``ListOptions`` of a list or watch request.

    Integers are Go's (400 ``strconv.ParseInt: ...`` otherwise); the combinations
    are checked as ``ValidateListOptions`` does (422 ``ListOptions.meta.k8s.io "" is
    invalid: ...``), and a continue token with a resourceVersion is refused (400).
    """
    limit = _int_param(query, "limit") or 0
    timeout = _int_param(query, "timeoutSeconds")
    rv_text = query.get("resourceVersion", "")
    rv = resource_version(rv_text)
    match = query.get("resourceVersionMatch", "")
    send_initial = query_flag(query, "sendInitialEvents")
    cont = query.get("continue", "")
    causes: list[dict[str, str]] = []

    def forbidden(detail: str, name: str = "resourceVersionMatch") -> None:
        causes.append(_cause("FieldValueForbidden", f"Forbidden: {detail}", name))

    def unsupported(allowed: list[str]) -> None:
        quoted = ", ".join(f'"{a}"' for a in allowed)
        causes.append(
            _cause(
                "FieldValueNotSupported",
                f"Unsupported value: {go_repr(match)}: supported values: {quoted}",
            )
        )

    if watch:
        if send_initial is not None and match != NOT_OLDER_THAN:
            forbidden(
                f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}"
            )
        if match:
            if send_initial is None:
                forbidden(
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
                )
            if match != NOT_OLDER_THAN:
                unsupported([NOT_OLDER_THAN])
            if cont:
                forbidden("resourceVersionMatch is forbidden when continue is provided")
    else:
        if match:
            if not rv_text:
                forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided")
            if cont:
                forbidden("resourceVersionMatch is forbidden when continue is provided")
            if match not in (EXACT, NOT_OLDER_THAN):
                unsupported([EXACT, NOT_OLDER_THAN, ""])
            if match == EXACT and rv_text == "0":
                forbidden('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
        if send_initial is not None:
            forbidden("sendInitialEvents is forbidden for list", "sendInitialEvents")
    if causes:
        text = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
        if len(causes) > 1:
            text = f"[{text}]"
        raise E.StatusError(
            422,
            "Invalid",
            f'ListOptions.meta.k8s.io "" is invalid: {text}',
            {"kind": "ListOptions", "group": "meta.k8s.io", "causes": causes},
        )
    if cont and rv_text not in ("", "0") and not watch:
        raise E.bad_request("specifying resource version is not allowed when using continue")
    return ListOptions(
        watch=watch,
        limit=limit,
        timeout_seconds=timeout,
        resource_version=rv_text,
        rv=rv,
        resource_version_match=match,
        send_initial_events=send_initial,
        allow_watch_bookmarks=bool(query_flag(query, "allowWatchBookmarks")),
        continue_token=cont,
    )


def _cause(reason: str, message: str, name: str = "resourceVersionMatch") -> dict[str, str]:
    return {"reason": reason, "message": message, "field": name}
