"""kubectl's ages: ``k8s.io/apimachinery/pkg/util/duration.HumanDuration``, in one place.

The sandbox's Tables (what ``kubectl get`` prints) and the CLI's own tables
(``knwalk status``) both show ages with :func:`human_duration`, so the two agree
on the same object. Pure: only the standard library, cheap to import.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = ["human_duration", "parse_timestamp", "since"]


def _two(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    """``3m10s``; ``3m`` when the smaller part is zero."""
    return f"{major}{major_unit}" + (f"{minor}{minor_unit}" if minor else "")


def human_duration(seconds: float) -> str:
    """``HumanDuration`` for a span in seconds: ``119s``, ``2m30s``, ``3h1m``, ``2d1h``, ``2y1d``.

    About two significant figures; a span up to 2 s in the future (clock skew) is ``0s``,
    one further off is ``<invalid>``.
    """
    if math.isnan(seconds):
        return "<invalid>"
    secs = int(seconds)  # truncates toward zero, like Go's int(d.Seconds())
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes, hours = secs // 60, secs // 3600
    days, years = hours // 24, hours // 24 // 365
    if minutes < 10:
        return _two(minutes, "m", secs % 60, "s")
    if minutes < 60 * 3:
        return f"{minutes}m"
    if hours < 8:
        return _two(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _two(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _two(years, "y", days % 365, "d")
    return f"{years}y"


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def since(ts: datetime, now: datetime | None = None) -> str:
    """The age of ``ts`` at ``now`` (default: the current time) as :func:`human_duration`."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        return human_duration((now - ts).total_seconds())
    except (OverflowError, ValueError):
        return "<invalid>"
