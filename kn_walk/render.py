"""Output: rich tables for people, JSON/YAML for scripts. Colour only on a tty, never with NO_COLOR."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

OUTPUT_FORMATS = ("table", "json", "yaml")


def console(stderr: bool = False) -> Console:
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
    table = Table(show_header=False, box=None, title=title, title_justify="left", pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, "" if value is None else str(value))
    return table


def grid(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def counts_rows(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return [(k, v) for k, v in counts.items()]
