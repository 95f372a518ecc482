"""docs/commands/*.md are the real ``--help`` of every command: this fails when they drift.

Fix a failure by running ``python scripts/gen_command_docs.py`` and committing the pages.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_command_docs", ROOT / "scripts" / "gen_command_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _generator()


@pytest.fixture(scope="module")
def entries(gen: ModuleType) -> list[dict[str, Any]]:
    return list(gen.collect())


def test_command_pages_match_the_real_help(gen: ModuleType, entries: list[dict[str, Any]]) -> None:
    problems = gen.stale(gen.render_pages(entries))
    assert not problems, (
        "docs/commands/ is out of date with `knwalk ... --help`: "
        + "; ".join(problems)
        + ". Run: python scripts/gen_command_docs.py"
    )


def test_every_command_has_a_page_with_its_help(
    gen: ModuleType, entries: list[dict[str, Any]]
) -> None:
    pages = gen.render_pages(entries)
    for entry in entries:
        command = " ".join(["knwalk", *entry["path"]])
        page = pages[gen.page_name(entry)]
        assert f"`{command}`" in page, command
        usage = next(line for line in entry["help"].splitlines() if "Usage:" in line)
        assert usage.strip() in page, command
    assert {"README.md", "tour.md", "walkthrough.md", "sandbox.md", "cluster.md"} <= set(pages)


def test_help_pages_fit_80_columns(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        widths = [len(line.rstrip()) for line in entry["help"].splitlines()]
        assert max(widths) <= 80, entry["path"]


def test_the_index_mentions_shell_completion(
    gen: ModuleType, entries: list[dict[str, Any]]
) -> None:
    index = gen.render_pages(entries)["README.md"]
    assert "knwalk --install-completion" in index
    assert "--install-completion" in next(e["help"] for e in entries if not e["path"])


def test_the_index_lists_every_command_that_runs(
    gen: ModuleType, entries: list[dict[str, Any]]
) -> None:
    """A group that also runs on its own (`knwalk rollout`) is listed with its
    subcommands; a group that only holds them (`knwalk sandbox`) is not."""
    index = gen.render_pages(entries)["README.md"]
    row = next(line for line in index.splitlines() if line.startswith("| [rollout.md]"))
    assert row.split(" | ")[1].startswith("`rollout`, `rollout status`")
    sandbox = next(line for line in index.splitlines() if line.startswith("| [sandbox.md]"))
    assert "`sandbox`," not in sandbox
