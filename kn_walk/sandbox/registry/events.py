"""Kubernetes Events, as the sandbox's controllers and its "kubelet" report them.

``kubectl get events`` and the Events section of ``kubectl describe`` read
``core/v1`` Event objects: what happened to an object, who said so, how often.
:class:`EventRecorder` writes them the way client-go's recorder does: one Event
per (object, type, reason, message, source); a repeat raises its ``count`` and
``lastTimestamp`` instead of making another; the name is the object's name and
a hex timestamp. Events are bounded: the oldest of a namespace are deleted past
:data:`MAX_PER_NAMESPACE`, and at start those last seen over an hour ago, as
kube-apiserver's ``--event-ttl`` expires them.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import OrderedDict
from typing import Any

from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, now_rfc3339, rkey
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
#: Events kept per namespace; the oldest go first
MAX_PER_NAMESPACE = 500
#: the sandbox's one Node, which Pods run on and the kubelet's Events come from
NODE_NAME = "knwalk-sandbox"
#: seconds an Event is kept after it was last seen (kube-apiserver's --event-ttl)
EVENT_TTL = 3600.0


class EventRecorder:
    """Writes and aggregates Events for the sandbox's components."""

    def __init__(self, resources: Resources, *, max_per_namespace: int = MAX_PER_NAMESPACE) -> None:
        self.res = resources
        rt = resources.registry.get("", "v1", "events")
        assert rt is not None
        self.rt: ResourceType = rt
        self.max_per_namespace = max_per_namespace
        #: namespace -> aggregation key -> Event name, oldest first
        self._names: dict[str, OrderedDict[tuple[str, ...], str]] = {}

    def expire(self, ttl: float = EVENT_TTL) -> int:
        """Delete the Events last seen more than ``ttl`` seconds ago (at start: earlier runs')."""
        from kn_walk.sandbox.machinery.tables import parse_timestamp

        cutoff = time.time() - ttl
        removed = 0
        for event in self.res.store.list_objects(rkey(self.rt)):
            meta = event["metadata"]
            seen = parse_timestamp(event.get("lastTimestamp") or meta.get("creationTimestamp"))
            old = seen is None or seen.timestamp() < cutoff
            if old and self._drop(meta["namespace"], meta["name"]):
                removed += 1
        return removed

    def _drop(self, namespace: str, name: str) -> bool:
        """Delete an Event straight from the store: nothing is owned by an Event and none
        has finalizers, so the owner cascade's search of every object is skipped."""
        try:
            self.res.store.delete(rkey(self.rt), namespace, name)
        except LookupError:  # gone already (deleted by a user, or with its namespace)
            return False
        return True

    def record(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        *,
        component: str,
        host: str = "",
        field_path: str = "",
    ) -> None:
        """Say that ``reason``/``message`` happened to ``obj``; never raises."""
        try:
            self._record(obj, type_, reason, message, component, host, field_path)
        except Exception:  # an Event is a report: the action it reports must not fail
            meta = obj.get("metadata") or {}
            log.exception("event %s for %s/%s", reason, meta.get("namespace"), meta.get("name"))

    def _record(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str,
        host: str,
        field_path: str,
    ) -> None:
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        key = (str(meta.get("uid", "")), type_, reason, message, component, host, field_path)
        names = self._names.setdefault(namespace, OrderedDict())
        now = now_rfc3339()
        name = names.get(key)
        current = self.res.find(self.rt, namespace, name) if name else None
        opts = WriteOptions(manager=component, field_validation="Ignore", user=component)
        if current is not None and name is not None:
            new = copy.deepcopy(current)
            new["count"] = int(current.get("count") or 1) + 1
            new["lastTimestamp"] = now
            self.res.update(self.rt, namespace, name, new, opts)
            names.move_to_end(key)
            return
        name = f"{meta.get('name', 'object')}.{time.time_ns():x}"
        involved: dict[str, Any] = {
            "kind": obj.get("kind", ""),
            "namespace": namespace,
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        try:
            self.res.create(self.rt, namespace, event, opts)
        except E.StatusError as err:  # e.g. the namespace is being deleted
            log.debug("event %s not recorded: %s", reason, err.message)
            return
        names[key] = name
        while len(names) > self.max_per_namespace:
            _, oldest = names.popitem(last=False)
            self._drop(namespace, oldest)
