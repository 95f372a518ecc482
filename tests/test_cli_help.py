"""Every ``--help`` stays light: no kubernetes, google.cloud, httpx or aiohttp imported."""

from __future__ import annotations

import pytest

from tests.cli_probe import imported_by

HEAVY = ("kubernetes", "google.cloud", "httpx", "aiohttp")


def _imported(args: list[str]) -> tuple[str, list[str]]:
    """(stdout, the heavy modules imported) of ``knwalk ARGS``."""
    out, modules = imported_by(args)
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    return out, heavy


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["deploy", "--help"],
        ["status", "--help"],
        ["split", "--help"],
        ["curl", "--help"],
        ["delete", "--help"],
        ["tour", "--help"],
        ["install", "--help"],
        ["uninstall", "--help"],
        ["doctor", "--help"],
        ["sandbox", "up", "--help"],
        ["cluster", "create", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    out, heavy = _imported(args)
    assert "Usage" in out
    assert heavy == [], f"{' '.join(args)} imported {heavy}"


def test_root_help_lists_the_walkthrough_commands() -> None:
    out, _ = _imported(["--help"])
    for command in ("deploy", "status", "split", "curl", "delete", "sandbox"):
        assert command in out


def test_help_fits_80_columns() -> None:
    for args in (["deploy", "--help"], ["split", "--help"], ["curl", "--help"]):
        out, _ = _imported(args)
        assert max(len(line) for line in out.splitlines()) <= 80, args
