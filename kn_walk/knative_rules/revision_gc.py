"""Which old Revisions Knative's garbage collector deletes: pure.

After knative/serving release-1.23 ``pkg/reconciler/gc/gc.go`` (``collect``), run for
one Configuration with the ``config-gc`` settings (:class:`GCConfig`):

* Active Revisions are never collected: the Configuration's latest ready one, those
  annotated ``serving.knative.dev/no-gc: "true"``, and any whose ``routingState`` label
  is not ``reserve`` (routed, or not labelled yet).
* Nothing happens while there are at most ``min-non-active-revisions`` Revisions, or
  non-active ones; otherwise the non-active ones go oldest first (last active:
  the ``routingStateModified`` annotation, else the creation time). A stale one (created
  longer than ``retain-since-create-time`` ago and last active longer than
  ``retain-since-last-active-time`` ago; a ``disabled`` bound never holds one back,
  both disabled: none is stale) is deleted, until only ``min`` remain; then, while
  more than ``max-non-active-revisions`` remain, the oldest of the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kn_walk.knative_rules.configmaps import DISABLED, GCConfig
from kn_walk.knative_rules.goparse import SECOND
from kn_walk.knative_rules.labels import ROUTING_STATE_LABEL, ROUTING_STATE_MODIFIED_ANNOTATION

#: serving.RevisionPreservedAnnotationKey
NO_GC_ANNOTATION = "serving.knative.dev/no-gc"
RESERVE = "reserve"

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # Go's zero time


def _time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``time.Parse(time.RFC3339, ...)``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _meta(rev: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = rev.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _strings(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def created(rev: Mapping[str, Any]) -> datetime:
    return _time(_meta(rev).get("creationTimestamp")) or _EPOCH


def last_active(rev: Mapping[str, Any]) -> datetime:
    """``revisionLastActiveTime``: routingStateModified if it parses, else the creation."""
    annotations = _strings(_meta(rev).get("annotations"))
    return _time(annotations.get(ROUTING_STATE_MODIFIED_ANNOTATION)) or created(rev)


def is_active(rev: Mapping[str, Any], latest_ready: str) -> bool:
    """``isRevisionActive``."""
    meta = _meta(rev)
    if meta.get("name") == latest_ready:
        return True
    if str(_strings(meta.get("annotations")).get(NO_GC_ANNOTATION, "")).lower() == "true":
        return True
    return _strings(meta.get("labels")).get(ROUTING_STATE_LABEL) != RESERVE


def _older_than(since: datetime, bound_ns: int, now: datetime) -> bool:
    """Whether ``time.Since(since) >= bound`` (a disabled bound holds nothing back)."""
    if bound_ns == DISABLED:
        return True
    age_ns = (now - since).total_seconds() * SECOND
    return age_ns >= bound_ns


def is_stale(rev: Mapping[str, Any], cfg: GCConfig, now: datetime) -> bool:
    """``isRevisionStale``."""
    create, active = cfg.retain_since_create_time, cfg.retain_since_last_active_time
    if create == DISABLED and active == DISABLED:
        return False
    return _older_than(created(rev), create, now) and _older_than(last_active(rev), active, now)


def collect(
    revisions: Sequence[Mapping[str, Any]], latest_ready: str, cfg: GCConfig, now: datetime
) -> list[str]:
    """The names of the Configuration's ``revisions`` the collector deletes, in order."""
    least, most = cfg.min_non_active_revisions, cfg.max_non_active_revisions
    if (
        most == DISABLED
        and cfg.retain_since_create_time == DISABLED
        and cfg.retain_since_last_active_time == DISABLED
    ):
        return []
    if len(revisions) <= least:
        return []
    inactive = [r for r in revisions if not is_active(r, latest_ready)]
    if len(inactive) <= least:
        return []
    inactive.sort(key=last_active)  # oldest first
    deletable = len(inactive) - least
    doomed: list[str] = []
    kept: list[Mapping[str, Any]] = []
    for rev in inactive:
        if not is_stale(rev, cfg, now):
            kept.append(rev)
            continue
        doomed.append(str(_meta(rev).get("name", "")))
        if len(doomed) >= deletable:
            return doomed
    if most == DISABLED or len(kept) <= most:
        return doomed
    return doomed + [str(_meta(r).get("name", "")) for r in kept[: len(kept) - most]]
