"""One HumanDuration for the sandbox's Tables and the CLI's ages (kn_walk/humanduration.py).

The cases are the tables of upstream's
``staging/src/k8s.io/apimachinery/pkg/util/duration/duration_test.go``
(TestHumanDuration and TestHumanDurationBoundaries), in seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from kn_walk.humanduration import human_duration, parse_timestamp, since
from kn_walk.render import age
from kn_walk.sandbox.machinery.tables import timestamp_age

SECOND, MS, NS = 1.0, 0.001, 1e-9
MINUTE, HOUR = 60.0, 3600.0
DAY, YEAR = 24 * HOUR, 365 * 24 * HOUR

#: TestHumanDuration
UPSTREAM = [
    (SECOND, "1s"),
    (70 * SECOND, "70s"),
    (190 * SECOND, "3m10s"),
    (70 * MINUTE, "70m"),
    (47 * HOUR, "47h"),
    (49 * HOUR, "2d1h"),
    ((8 * 24 + 2) * HOUR, "8d"),
    ((367 * 24) * HOUR, "367d"),
    ((365 * 2 * 24 + 25) * HOUR, "2y1d"),
    ((365 * 8 * 24 + 2) * HOUR, "8y"),
]
#: TestHumanDurationBoundaries
BOUNDARIES = [
    (-2 * SECOND, "<invalid>"),
    (-2 * SECOND + NS, "0s"),
    (0.0, "0s"),
    (SECOND - MS, "0s"),
    (2 * MINUTE - MS, "119s"),
    (2 * MINUTE, "2m"),
    (2 * MINUTE + SECOND, "2m1s"),
    (10 * MINUTE - MS, "9m59s"),
    (10 * MINUTE, "10m"),
    (10 * MINUTE + SECOND, "10m"),
    (3 * HOUR - MS, "179m"),
    (3 * HOUR, "3h"),
    (3 * HOUR + MINUTE, "3h1m"),
    (8 * HOUR - MS, "7h59m"),
    (8 * HOUR, "8h"),
    (8 * HOUR + 59 * MINUTE, "8h"),
    (2 * DAY - MS, "47h"),
    (2 * DAY, "2d"),
    (2 * DAY + HOUR, "2d1h"),
    (8 * DAY - MS, "7d23h"),
    (8 * DAY, "8d"),
    (8 * DAY + 23 * HOUR, "8d"),
    (2 * YEAR - MS, "729d"),
    (2 * YEAR, "2y"),
    (2 * YEAR + 23 * HOUR, "2y"),
    (2 * YEAR + 23 * HOUR + 59 * MINUTE, "2y"),
    (2 * YEAR + DAY - MS, "2y"),
    (2 * YEAR + DAY, "2y1d"),
    (3 * YEAR, "3y"),
    (4 * YEAR, "4y"),
    (5 * YEAR, "5y"),
    (6 * YEAR, "6y"),
    (7 * YEAR, "7y"),
    (8 * YEAR - MS, "7y364d"),
    (8 * YEAR, "8y"),
    (8 * YEAR + 364 * DAY, "8y"),
    (9 * YEAR, "9y"),
]
CASES = UPSTREAM + BOUNDARIES
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("seconds", "text"), CASES)
def test_human_duration_matches_upstreams_table(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_nan_is_invalid() -> None:
    assert human_duration(float("nan")) == "<invalid>"


@pytest.mark.parametrize(("seconds", "text"), [(s, t) for s, t in CASES if s == int(s) and s >= 0])
def test_knwalk_status_age_is_kubectls_age(seconds: float, text: str) -> None:
    """render.age (knwalk status's AGE) and the sandbox's Table cells (kubectl get's AGE)
    print the same for the same creationTimestamp."""
    created = rfc3339(NOW - timedelta(seconds=seconds))
    assert age(created, now=NOW.timestamp()) == text
    assert timestamp_age(created, NOW) == text


def test_two_and_a_half_minutes_is_2m30s_not_2m() -> None:
    created = rfc3339(NOW - timedelta(seconds=150))
    assert age(created, now=NOW.timestamp()) == "2m30s"


def test_age_without_a_timestamp_is_blank() -> None:
    assert age("") == ""
    assert age("yesterday") == ""
    assert age(rfc3339(datetime.now(UTC))) in ("0s", "1s")  # the current time by default


def test_parse_and_since_take_offsets_and_naive_times() -> None:
    parsed = parse_timestamp("2025-06-01T13:59:00+02:00")
    assert parsed == datetime(2025, 6, 1, 11, 59, tzinfo=UTC)
    assert since(parsed, NOW) == "60s"
    assert since(parsed, NOW.replace(tzinfo=None)) == "60s"
    assert parse_timestamp(None) is None and parse_timestamp("2025-13-01T00:00:00Z") is None


def test_the_module_is_pure_and_light() -> None:
    """The CLI gets HumanDuration without the sandbox's server stack."""
    probe = "import json, sys, kn_walk.humanduration; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    heavy = ("aiohttp", "yaml", "rich", "kubernetes", "httpx")
    loaded = json.loads(proc.stdout)
    assert [m for m in loaded if m.split(".")[0] in heavy or m.startswith("kn_walk.sandbox")] == []
