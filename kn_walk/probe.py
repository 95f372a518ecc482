"""Requests to a Knative Service through its gateway, and what their answers say about the split.

:func:`request` sends one GET with a Host header (httpx); :func:`run` sends
many with bounded concurrency (:mod:`kn_walk.load`) and :func:`compare` sets the bodies
seen against the bodies expected from the Route's traffic, with a chi-square
goodness-of-fit test (:func:`chi_square`): is the observed split consistent
with the configured one? (``p >= ALPHA`` → consistent.)

Failures are counted by kind: ``timeout``, ``connect error``, ``tls error``,
``read error``, ``protocol error``, or ``HTTP <status>`` for answers of 400 and
above. ``knwalk curl`` adds latencies, status codes and the error rate to this
document (:func:`kn_walk.load.document`).

``knwalk curl -o json`` shape, stable:

.. code-block:: text

    {
      "gateway": str, "host": str, "path": str,
      "count": int, "concurrency": int,
      "ok": int, "failed": int, "failures": {kind: int},
      "elapsedSeconds": float, "requestsPerSecond": float,
      "responses": [                  # expected bodies first, then others by count
        {"body": str, "count": int, "observedPercent": float,
         "expectedPercent": int | null, "revisions": [str]}
      ],
      "verdict": null | {"test": "chi-square", "statistic": float, "dof": int,
                         "pValue": float, "alpha": float, "consistent": bool}
    }
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from kn_walk.errors import KnwalkError

if TYPE_CHECKING:
    import ssl

#: significance level of the goodness-of-fit test
ALPHA = 0.001
USER_AGENT = "knwalk"


@dataclass(frozen=True)
class Reply:
    """One request's outcome: ``error`` is empty when an answer (any status) came back."""

    status: int | None
    body: str
    error: str = ""
    reason: str = ""
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def failure(self) -> str:
        """The failure kind, or ``""`` for a successful (< 400) answer."""
        if self.error:
            return self.error
        if self.status is not None and self.status >= 400:
            return f"HTTP {self.status}"
        return ""


def _kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect error"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol error"
    if isinstance(exc, httpx.ReadError):
        return "read error"
    if isinstance(exc, httpx.WriteError):
        return "write error"
    return type(exc).__name__


def _reply(resp: httpx.Response) -> Reply:
    return Reply(
        resp.status_code,
        resp.text,
        reason=resp.reason_phrase,
        http_version=resp.http_version,
        headers=tuple(resp.headers.items()),
    )


def _headers(host: str) -> dict[str, str]:
    return {"Host": host, "User-Agent": USER_AGENT}


def check_path(path: str) -> str:
    """``--path``: starts with ``/`` and holds no control character (CR/LF would split the
    request line: httpx refuses them, and they are never part of a URL path)."""
    from kn_walk.errors import UsageError

    if not path.startswith("/"):
        raise UsageError(f"--path {path!r} must start with '/'", "for example --path /healthz")
    bad = next(((i, c) for i, c in enumerate(path) if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        i, c = bad
        raise UsageError(
            f"--path {path!r} contains the control character {c!r} (U+{ord(c):04X}) at "
            f"position {i}",
            f"percent-encode it (%{ord(c):02X}) or leave it out; a path is printable characters",
        )
    return path


def _verify(gateway: str) -> ssl.SSLContext | bool:
    """httpx's ``verify`` for ``gateway``: its default (certifi's CAs) for https; for plain
    http, where no TLS is spoken, a context that verifies and trusts nothing (fail-closed),
    which spares reading certifi's bundle (tens of ms of every ``knwalk curl``)."""
    import ssl

    if httpx.URL(gateway).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


def request(gateway: str, host: str, path: str = "/", timeout: float = 10.0) -> Reply:
    """One GET ``gateway + path`` with ``Host: host``; network failures raise :class:`KnwalkError`."""
    try:
        with httpx.Client(
            base_url=gateway, timeout=timeout, trust_env=False, verify=_verify(gateway)
        ) as client:
            return _reply(client.get(path, headers=_headers(host)))
    except httpx.HTTPError as exc:
        raise KnwalkError(
            f"request to {gateway}{path} (Host: {host}) failed: {_kind(exc)}: {exc}",
            "check that the gateway is reachable (knwalk sandbox status / --gateway), "
            "or raise --timeout",
        ) from None


@dataclass
class Summary:
    """The outcome of :func:`run`."""

    count: int
    concurrency: int
    elapsed: float
    bodies: Counter[str] = field(default_factory=Counter)  # successful answers only
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def ok(self) -> int:
        return sum(self.bodies.values())

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0


def run(
    gateway: str,
    host: str,
    path: str = "/",
    *,
    count: int = 100,
    concurrency: int = 10,
    timeout: float = 10.0,
) -> Summary:
    """Send ``count`` GETs, at most ``concurrency`` at a time; tally bodies and failures.

    The requests go through :mod:`kn_walk.load` (closed loop); its :class:`~kn_walk.load.
    LoadResult` has the latencies and status codes this summary leaves out.
    """
    from kn_walk import load

    spec = load.LoadSpec(gateway, host, path, count=count, concurrency=concurrency, timeout=timeout)
    return load.run(spec).summary()


# --------------------------------------------------------------------------- statistics


def _gamma_series(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    n = a
    for _ in range(10_000):
        n += 1
        term *= x / n
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_fraction(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a + 1)."""
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square with ``dof`` degrees of freedom."""
    if dof <= 0:
        return 1.0 if statistic <= 0 else 0.0
    a, x = dof / 2.0, statistic / 2.0
    if x <= 0:
        return 1.0
    if x < a + 1:
        return max(0.0, min(1.0, 1.0 - _gamma_series(a, x)))
    return max(0.0, min(1.0, _gamma_fraction(a, x)))


@dataclass(frozen=True)
class Verdict:
    statistic: float
    dof: int
    p_value: float
    alpha: float
    consistent: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "test": "chi-square",
            "statistic": round(self.statistic, 4),
            "dof": self.dof,
            "pValue": self.p_value,
            "alpha": self.alpha,
            "consistent": self.consistent,
        }


def chi_square(
    observed: Sequence[int], expected_percent: Sequence[float], alpha: float = ALPHA
) -> Verdict:
    """Pearson's goodness-of-fit test of counts against expected percentages.

    A category with expected 0% that was observed makes the result inconsistent
    (p = 0); categories expected at 0% and not observed are left out.
    """
    total = sum(observed)
    pairs = [(o, e) for o, e in zip(observed, expected_percent, strict=True) if o or e]
    if total == 0 or not pairs:
        return Verdict(0.0, 0, 1.0, alpha, True)
    if any(e <= 0 < o for o, e in pairs):
        return Verdict(math.inf, max(0, len(pairs) - 1), 0.0, alpha, False)
    scale = sum(e for _, e in pairs)
    stat = 0.0
    for o, e in pairs:
        exp = total * e / scale
        stat += (o - exp) ** 2 / exp
    dof = len(pairs) - 1
    p = chi2_sf(stat, dof)
    return Verdict(stat, dof, p, alpha, p >= alpha)


@dataclass(frozen=True)
class Row:
    body: str
    count: int
    observed_percent: float
    expected_percent: int | None  # None: not expected at all
    revisions: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "body": self.body,
            "count": self.count,
            "observedPercent": round(self.observed_percent, 2),
            "expectedPercent": self.expected_percent,
            "revisions": list(self.revisions),
        }


def compare(
    bodies: Counter[str], expected: Sequence[tuple[str, int, Sequence[str]]], alpha: float = ALPHA
) -> tuple[list[Row], Verdict | None]:
    """Rows of (body, count, observed %, expected %) and the verdict (None if nothing to test).

    ``expected`` holds (body, percent, revisions); bodies not in it are shown with
    expected ``None`` and make the split inconsistent.
    """
    total = sum(bodies.values())
    rows: list[Row] = []
    seen: set[str] = set()
    for body, pct, revs in expected:
        n = bodies.get(body, 0)
        rows.append(Row(body, n, 100.0 * n / total if total else 0.0, pct, tuple(revs)))
        seen.add(body)
    for body, n in bodies.most_common():
        if body not in seen:
            rows.append(Row(body, n, 100.0 * n / total if total else 0.0, None, ()))
    if not expected or total == 0:
        return rows, None
    verdict = chi_square(
        [r.count for r in rows], [float(r.expected_percent or 0) for r in rows], alpha
    )
    return rows, verdict


def summary_document(
    gateway: str,
    host: str,
    path: str,
    summary: Summary,
    rows: Sequence[Row],
    verdict: Verdict | None,
) -> dict[str, Any]:
    """The stable ``knwalk curl -o json`` shape (see the module docstring)."""
    return {
        "gateway": gateway,
        "host": host,
        "path": path,
        "count": summary.count,
        "concurrency": summary.concurrency,
        "ok": summary.ok,
        "failed": summary.failed,
        "failures": dict(sorted(summary.failures.items())),
        "elapsedSeconds": round(summary.elapsed, 4),
        "requestsPerSecond": round(summary.rate, 1),
        "responses": [r.as_dict() for r in rows],
        "verdict": verdict.as_dict() if verdict else None,
    }
