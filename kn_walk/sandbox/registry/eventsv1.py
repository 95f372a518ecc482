"""``events.k8s.io/v1`` Events: the same objects as ``core/v1`` Events, in the newer shape.

kube-apiserver stores one kind of Event and serves it in both groups, converting field
names between them (k8s.io/kubernetes pkg/apis/events/v1 conversion): an Event the
sandbox's controllers record shows in ``kubectl get events`` and in
``kubectl get events.events.k8s.io``; one created through either group is the same
object in the other. The API converts every body in and every object out with
:func:`to_core` and :func:`to_events_v1`; storage, validation and watches are core/v1's.
"""

from __future__ import annotations

from typing import Any

KEY = ("events.k8s.io", "events")
CORE_KEY = ("", "events")
API_VERSION = "events.k8s.io/v1"

Obj = dict[str, Any]

#: events.k8s.io/v1 field -> core/v1 field; the others have the same name in both
_TO_CORE = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_TO_V1 = {core: v1 for v1, core in _TO_CORE.items()}


def _renamed(obj: Obj, names: dict[str, str], api_version: str) -> Obj:
    out: Obj = {"apiVersion": api_version, "kind": "Event"}
    for key, value in obj.items():
        if key not in ("apiVersion", "kind"):
            out[names.get(key, key)] = value
    return out


def to_core(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event body as the core/v1 Event it is stored as."""
    return _renamed(obj, _TO_CORE, "v1")


def to_events_v1(obj: Obj) -> Obj:
    """A stored core/v1 Event as events.k8s.io/v1 shows it."""
    return _renamed(obj, _TO_V1, API_VERSION)


def field_selector(selector: str | None) -> str | None:
    """An events.k8s.io/v1 field selector in core/v1's field names (``regarding.name`` is
    ``involvedObject.name``), as kube-apiserver's field label conversion reads it."""
    if not selector:
        return selector
    terms = []
    for term in selector.split(","):
        for v1, core in _TO_CORE.items():
            if term == v1 or term.startswith((f"{v1}.", f"{v1}=", f"{v1}!")):
                term = core + term[len(v1) :]
                break
        terms.append(term)
    return ",".join(terms)
