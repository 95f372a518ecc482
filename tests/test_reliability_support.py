"""Shared by the reliability, security and hostile-input tests: soak switch, fault switch.

Long tests come in two sizes: the short one runs in CI (``python -m pytest``);
the full one is marked ``slow`` and runs only when ``KNWALK_SOAK=1`` (which
``scripts/soak.sh`` sets, together with ``-m slow``).
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox

#: the soak run (scripts/soak.sh): the full sizes of the long tests
SOAK = os.environ.get("KNWALK_SOAK", "") not in ("", "0")

#: marks of the full-size variant of a long test
FULL = [
    pytest.mark.slow,
    pytest.mark.skipif(not SOAK, reason="full size runs in scripts/soak.sh (KNWALK_SOAK=1)"),
]


def sizes(short: Any, full: Any) -> list[Any]:
    """``parametrize`` values: the short variant (CI) and the full one (slow, soak only).

    Tuples are several parameters' values.
    """
    s = short if isinstance(short, tuple) else (short,)
    f = full if isinstance(full, tuple) else (full,)
    return [pytest.param(*s, id="short"), pytest.param(*f, id="full", marks=FULL)]


class Faults:
    """The sandbox's fault switch (``/knwalk.dev/faults``, see kn_walk/sandbox/apiserver/faults.py)."""

    def __init__(self, sb: Sandbox) -> None:
        self.http = httpx.Client(
            base_url=sb.api,
            headers={"Authorization": f"Bearer {sb.token}"},
            verify=ssl.create_default_context(cafile=sb.ca),
            timeout=10,
        )

    def set(self, *rules: dict[str, Any]) -> None:
        r = self.http.put("/knwalk.dev/faults", json=list(rules))
        assert r.status_code == 200, r.text

    def hits(self) -> list[int]:
        return [rule["hits"] for rule in self.http.get("/knwalk.dev/faults").json()["rules"]]

    def clear(self) -> None:
        self.http.delete("/knwalk.dev/faults")

    def close(self) -> None:
        self.clear()
        self.http.close()


def counter(method: str, path: str, **extra: Any) -> dict[str, Any]:
    """A fault rule that only counts the requests it matches (a tiny delay is its action)."""
    return {"method": method, "path": path, "delay": 0.0001, **extra}
