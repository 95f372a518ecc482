"""Label and field selectors, parsed as kube-apiserver parses them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kn_walk.sandbox.machinery.apierrors import StatusError, bad_request

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: ``key=v``, ``key!=v``, ``key in (a,b)``, ``key``, ``!key``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        value = labels.get(self.key)
        if self.op == "=":
            return value in self.values
        if self.op == "!=":
            return value not in self.values
        if self.op == "in":
            return value in self.values
        if self.op == "notin":
            return value not in self.values
        if self.op == "exists":
            return self.key in labels
        return self.key not in labels


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    reqs: list[Requirement] = []
    for term in _split_terms(text or ""):
        m = _EQ_RE.match(term)
        if m:
            key, op, value = m.groups()
            reqs.append(Requirement(key, "!=" if op == "!=" else "=", frozenset([value])))
            continue
        m = _SET_RE.match(term)
        if not m:
            raise bad_request(
                f"unable to parse requirement: found '{term.strip()}', "
                "expected: '=', '!=', '==', 'in', notin'"
            )
        neg, key, op, values = m.groups()
        if op:
            if neg:
                raise bad_request(
                    f"unable to parse requirement: invalid label selector '{term.strip()}'"
                )
            vals = frozenset(v.strip() for v in values.split(",") if v.strip())
            reqs.append(Requirement(key, op, vals))
        else:
            reqs.append(Requirement(key, "!" if neg else "exists"))
    return reqs


def workload_selector(obj: Any) -> Any:
    """The LabelSelector of a workload's ``spec.selector``: a ReplicationController's is a
    plain label map (``SelectorFromSet``), which becomes ``matchLabels``."""
    selector = ((obj.get("spec") if isinstance(obj, dict) else None) or {}).get("selector")
    if obj.get("kind") == "ReplicationController" and isinstance(selector, dict):
        return {"matchLabels": selector}
    return selector


def selector_text(selector: Any) -> str:
    """A LabelSelector as the string form (``a=b,c in (d)``), as Scale's status shows it."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            continue
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def label_selector(text: str | None) -> Predicate:
    """A predicate on an object's labels; raises a 400 for a malformed selector."""
    reqs = parse_label_selector(text)
    return lambda labels: all(r.matches(labels) for r in reqs)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _namespace(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace", ""))


FIELD_GETTERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "metadata.name": _name,
    "metadata.namespace": _namespace,
}


def _path(*keys: str) -> Callable[[Mapping[str, Any]], str]:
    """A getter for a nested field, as a string (``""`` when unset; booleans as Go prints them)."""

    def get(obj: Mapping[str, Any]) -> str:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return get


def _event_source(obj: Mapping[str, Any]) -> str:
    return _path("source", "component")(obj) or _path("reportingComponent")(obj)


#: the fields kube-apiserver lets a selector use for each kind, beyond metadata.name/namespace
KIND_FIELD_GETTERS: dict[str, dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "events": {
        **{
            f"involvedObject.{f}": _path("involvedObject", f)
            for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
        },
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _event_source,
        "type": _path("type"),
    },
    "pods": {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": lambda obj: _path("spec", "hostNetwork")(obj) or "false",
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "secrets": {"type": _path("type")},
    "namespaces": {"status.phase": _path("status", "phase")},
}


@dataclass(frozen=True)
class FieldRequirement:
    getter: Callable[[Mapping[str, Any]], str]
    negate: bool
    value: str
    #: the field's name, e.g. ``metadata.name`` (the store answers these from its columns)
    field: str = ""

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (self.getter(obj) == self.value) != self.negate


def parse_field_selector(text: str | None, kind: str) -> list[FieldRequirement]:
    """The terms of a field selector: ``metadata.name`` and ``metadata.namespace`` for every
    kind, and the fields kube-apiserver adds for some (``kind`` is the plural: Events'
    ``involvedObject.*``, Pods' ``spec.nodeName`` and ``status.phase``, ...)."""
    reqs: list[FieldRequirement] = []
    for term in _split_terms(text or ""):
        m = _EQ_RE.match(term)
        if not m:
            raise bad_request(
                f"invalid selector: \"{term.strip()}\"; can't understand '{term.strip()}'"
            )
        key, op, value = m.groups()
        getter = FIELD_GETTERS.get(key) or KIND_FIELD_GETTERS.get(kind, {}).get(key)
        if getter is None:
            # kubectl puts 'Unable to find "..." that match ...' in front of it itself
            raise StatusError(400, "BadRequest", f"field label not supported: {key}")
        reqs.append(FieldRequirement(getter, op == "!=", value, key))
    return reqs


def field_selector(text: str | None, kind: str) -> Predicate:
    """A predicate on a whole object; raises a 400 for a malformed or unsupported selector."""
    reqs = parse_field_selector(text, kind)
    return lambda obj: all(r.matches(obj) for r in reqs)
