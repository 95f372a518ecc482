"""Output: rich tables for people, JSON/YAML for scripts. Colour only on a tty, never with NO_COLOR.

rich is imported by the functions that draw with it, not by this module: ``-o json``
and the plain-text printers run without it (it costs a command's start-up a dozen ms).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

OUTPUT_FORMATS = ("table", "json", "yaml")


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    no_color = bool(os.environ.get("NO_COLOR")) or not stream.isatty()
    return Console(
        file=stream,
        no_color=no_color,
        color_system=None if no_color else "auto",
        highlight=False,
        soft_wrap=False,
    )


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


def dump_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def emit(data: Any, output: str) -> None:
    """Print ``data`` as JSON or YAML (machine formats) on stdout."""
    text = dump_json(data) if output == "json" else dump_yaml(data)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def key_values(rows: Sequence[tuple[str, Any]], title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(show_header=False, box=None, title=title, title_justify="left", pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, "" if value is None else str(value))
    return table


def grid(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str | None = None,
    *,
    whole: Sequence[str] = (),
) -> Table:
    """A borderless table; columns named in ``whole`` are never wrapped (the others give
    way first when the terminal is narrow)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for h in headers:
        table.add_column(h, overflow="fold", no_wrap=h in whole)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def counts_rows(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return [(k, v) for k, v in counts.items()]


def print_text(text: str, stderr: bool = False) -> None:
    """Print ``text`` as is: no markup, no highlighting, no wrapping (commands, YAML, bodies)."""
    stream = sys.stderr if stderr else sys.stdout
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def age(timestamp: str, now: float | None = None) -> str:
    """``2026-01-02T03:04:05Z`` → ``5s`` / ``2m30s`` / ``3h1m`` / ``2d1h``: kubectl's AGE
    (:func:`kn_walk.humanduration.human_duration`); ``""`` when there is no timestamp."""
    from datetime import UTC, datetime

    from kn_walk.humanduration import parse_timestamp, since

    then = parse_timestamp(timestamp)
    if then is None:
        return ""
    return since(then, None if now is None else datetime.fromtimestamp(now, UTC))


def tree(label: str, children: Sequence[str]) -> Any:
    """A one-level rich Tree (``label`` with one line per child); no markup interpreted."""
    from rich.text import Text
    from rich.tree import Tree

    root = Tree(Text(label))
    for child in children:
        root.add(Text(child))
    return root


def bar(fraction: float, width: int = 20) -> str:
    """A text bar for 0..1, e.g. ``██████████░░░░░░░░░░`` (plain characters, fine without colour)."""
    fraction = min(1.0, max(0.0, fraction))
    full = round(fraction * width)
    return "█" * full + "░" * (width - full)


def show_body(body: str, limit: int = 40) -> str:
    """A response body on one line for tables: trailing newline dropped, control characters escaped."""
    text = body[:-1] if body.endswith("\n") else body
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


#: a tree node: its label (may span lines) and its children
Node = tuple[str, Sequence["Node"]]


def nested_tree(label: str, children: Sequence[Node]) -> Any:
    """A rich Tree of any depth from ``(label, children)`` nodes; no markup interpreted."""
    from rich.text import Text
    from rich.tree import Tree

    def add(parent: Tree, nodes: Sequence[Node]) -> None:
        for text, kids in nodes:
            add(parent.add(Text(text)), kids)

    root = Tree(Text(label))
    add(root, children)
    return root
