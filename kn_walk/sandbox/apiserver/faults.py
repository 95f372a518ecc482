"""Fault injection for tests: make chosen API requests fail the way real clusters fail.

Rules come from ``sandbox up --faults FILE`` (JSON or YAML: a list of rules, in a
regular file of at most 4 MiB, read with :mod:`kn_walk.safeload`) or
from ``PUT /knwalk.dev/faults`` (same body; the bearer token guards it like
every other path; ``DELETE`` clears them). A rule::

    {"method": "PATCH",                 # optional, any method when absent
     "path": "/apis/serving.knative.dev/v1/namespaces/default/services/.*",  # regex, fullmatch
     "watch": false,                    # optional: only watch (true) / only non-watch (false)
     "times": 2,                        # optional: how many requests it hits (default: all)
     "status": 409,                     # answer with this Status code (409, 429, 500, 503, ...)
     "retryAfter": 1,                   # optional Retry-After seconds (with 429/503)
     "delay": 0.5,                      # optional seconds to wait first (slow responses)
     "drop": true,                      # close the connection without an answer
     "after": true,                     # with status/drop: handle the request first (the write
                                        # happens), then fail the answer (lost acknowledgement)
     "cutAfter": 1,                     # watch only: end the stream after N events
     "gone": true}                      # watch only: answer 410 Expired (a compacted resourceVersion)

Only one of status/drop/cutAfter/gone applies; ``delay`` combines with any, ``after``
with status or drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kn_walk.sandbox.machinery import apierrors as E

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_MESSAGES = {
    409: "Operation cannot be fulfilled: the object has been modified; please apply your "
    "changes to the latest version and try again (injected fault)",
    429: "Too many requests, please try again later. (injected fault)",
    500: "Internal error occurred: injected fault",
    503: "The server is currently unable to handle the request (injected fault)",
    504: "Timeout: request did not complete within the allowed duration (injected fault)",
}


@dataclass
class Rule:
    path: re.Pattern[str]
    method: str = ""
    watch: bool | None = None
    times: int | None = None
    status: int = 0
    retry_after: int | None = None
    delay: float = 0.0
    drop: bool = False
    cut_after: int | None = None
    gone: bool = False
    after: bool = False
    hits: int = field(default=0, compare=False)

    def matches(self, method: str, path: str, is_watch: bool) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and self.method != method:
            return False
        if self.watch is not None and self.watch != is_watch:
            return False
        return bool(self.path.fullmatch(path))

    def error(self) -> E.StatusError:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return E.StatusError(
            self.status,
            _REASONS.get(self.status, "InternalError"),
            _MESSAGES.get(self.status, f"injected fault ({self.status})"),
            {"retryAfterSeconds": self.retry_after} if self.retry_after is not None else None,
            headers,
        )


def parse_rules(data: Any) -> list[Rule]:
    """Validate a rule list; raises ValueError naming the bad rule and field."""
    if not isinstance(data, list):
        raise ValueError("faults must be a list of rules")
    rules = []
    for i, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise ValueError(f"fault rule {i} must be an object")
        unknown = set(raw) - {
            "method",
            "path",
            "watch",
            "times",
            "status",
            "retryAfter",
            "delay",
            "drop",
            "cutAfter",
            "gone",
            "after",
        }
        if unknown:
            raise ValueError(f"fault rule {i}: unknown field(s) {', '.join(sorted(unknown))}")
        _check_types(i, raw)
        try:
            pattern = re.compile(str(raw.get("path", ".*")))
        except re.error as exc:
            raise ValueError(f"fault rule {i}: path is not a regular expression: {exc}") from exc
        status = raw.get("status", 0)
        if status and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError(f"fault rule {i}: status must be an HTTP error code 400-599")
        actions = [
            bool(status),
            bool(raw.get("drop")),
            raw.get("cutAfter") is not None,
            bool(raw.get("gone")),
        ]
        if sum(actions) > 1:
            raise ValueError(f"fault rule {i}: choose one of status, drop, cutAfter, gone")
        if not any(actions) and not raw.get("delay"):
            raise ValueError(
                f"fault rule {i}: nothing to do (set status, drop, cutAfter, gone or delay)"
            )
        if raw.get("after") and not (status or raw.get("drop")):
            raise ValueError(f"fault rule {i}: after needs status or drop")
        rules.append(
            Rule(
                path=pattern,
                method=str(raw.get("method", "")).upper(),
                watch=raw.get("watch"),
                times=raw.get("times"),
                status=int(status or 0),
                retry_after=raw.get("retryAfter"),
                delay=float(raw.get("delay") or 0.0),
                drop=bool(raw.get("drop")),
                cut_after=raw.get("cutAfter"),
                gone=bool(raw.get("gone")),
                after=bool(raw.get("after")),
            )
        )
    return rules


def load_rules(path: Path) -> list[Rule]:
    """Read and validate a rules file; ValueError saying why it cannot be used.

    Read as :mod:`kn_walk.safeload` reads the files users name: only a regular file of at
    most 4 MiB (a FIFO would block, ``/dev/zero`` never ends), YAML without alias bombs.
    The messages call it "the file": the caller names the path.
    """
    from kn_walk import safeload
    from kn_walk.errors import KnwalkError

    try:
        text = safeload.read_text(path, label="the file", hint="")
        document = safeload.load_one(text, label="the file", hint="")
    except FileNotFoundError:
        raise ValueError("no such file") from None
    except KnwalkError as exc:
        raise ValueError(exc.message) from None
    return parse_rules(document)


def _check_types(i: int, raw: dict[str, Any]) -> None:
    """Each field of a rule has its type (a string in ``times`` once made every request fail)."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e9

    checks: dict[str, tuple[Any, str]] = {
        "method": (lambda v: isinstance(v, str) and v.isalpha(), "an HTTP method"),
        "path": (lambda v: isinstance(v, str), "a string"),
        "watch": (lambda v: v is None or isinstance(v, bool), "true or false"),
        "times": (lambda v: v is None or (number(v) and isinstance(v, int)), "a count"),
        "cutAfter": (lambda v: v is None or (number(v) and isinstance(v, int)), "a count"),
        "retryAfter": (lambda v: v is None or (number(v) and isinstance(v, int)), "seconds"),
        "delay": (lambda v: v is None or (number(v) and v <= 3600), "seconds (at most 3600)"),
        "drop": (lambda v: isinstance(v, bool), "true or false"),
        "gone": (lambda v: isinstance(v, bool), "true or false"),
        "after": (lambda v: isinstance(v, bool), "true or false"),
    }
    for key, (ok, what) in checks.items():
        if key in raw and not ok(raw[key]):
            raise ValueError(f"fault rule {i}: {key} must be {what}")


class Faults:
    """The active rules; the first matching rule applies and counts a hit."""

    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules = rules or []

    def pick(self, method: str, path: str, is_watch: bool) -> Rule | None:
        for rule in self.rules:
            if rule.matches(method, path, is_watch):
                rule.hits += 1
                return rule
        return None
