"""Printers more than one command uses: each takes core results and a console, prints.

Commands keep their own one-off rendering; what two commands show alike lives
here, public, so that neither imports the other's private helpers. Heavy imports
(rich) happen inside the functions, as in the commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from kn_walk.knative import TrafficTarget


def traffic_table(
    out: Console,
    traffic: Sequence[TrafficTarget] | None,
    block: Sequence[Mapping[str, Any]],
) -> None:
    """A split as a table (tag, revision, percent), then the tag URLs; fits 80 columns.

    ``traffic`` is the Route's ``status.traffic`` (what it serves); when None the
    ``spec.traffic`` ``block`` is shown instead, a target that follows the latest
    Revision as ``@latest`` (Knative's rule: ``latestRevision`` true, or absent
    without a ``revisionName``).
    """
    from kn_walk.knative_rules.traffic import follows_latest, revision_ref
    from kn_walk.render import grid

    rows: list[tuple[object, ...]] = []
    urls: list[tuple[str, str]] = []
    if traffic is not None:
        for t in traffic:
            rows.append((t.tag, revision_ref(t.latest_revision, t.revision_name), f"{t.percent}%"))
            if t.tag and t.url:
                urls.append((t.tag, t.url))
    else:
        for target in block:
            latest = follows_latest(target)
            ref = "@latest" if latest else str(target.get("revisionName") or "?")
            rows.append((target.get("tag") or "", ref, f"{target.get('percent') or 0}%"))
    out.print(grid(["TAG", "REVISION", "PERCENT"], rows))
    if urls:
        out.print()
        out.print(grid(["TAG", "URL"], urls))


def no_services(out: Console, all_namespaces: bool, namespace: str) -> None:
    """What ``knwalk status`` (with or without ``--graph``) says when it finds no Service."""
    where = "any namespace" if all_namespaces else f"namespace '{namespace}'"
    for line in (f"No Knative Services in {where}.", "Create one with: knwalk deploy"):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def responses_table(out: Console, rows: Sequence[tuple[str, int, float, int | None]]) -> None:
    """Responses grouped by body, each ``(body, count, observed %, expected % or None)``,
    with a bar of the share seen: what ``curl --count`` and the tour's step 6 show."""
    from kn_walk.render import bar, grid, show_body

    table = [
        (
            show_body(body, 28),
            count,
            f"{observed:.1f}%",
            "-" if expected is None else f"{expected}%",
            bar(observed / 100, 20),
        )
        for body, count, observed, expected in rows
    ]
    out.print(grid(["RESPONSE", "COUNT", "OBSERVED", "EXPECTED", ""], table))


def verdict_line(out: Console, consistent: bool, p_value: float) -> None:
    """The chi-square verdict on the responses against the configured split."""
    word = "consistent" if consistent else "NOT consistent"
    out.print(
        f"Verdict: {word} with the configured split (chi-square p = {p_value:.3g}).",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
