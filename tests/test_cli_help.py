"""``knwalk --help`` stays light: no kubernetes, google.cloud, httpx or aiohttp imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("kubernetes", "google.cloud", "httpx", "aiohttp")

PROBE = """
import json, sys
sys.argv = ["knwalk", *json.loads(sys.argv[1])]
from kn_walk.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("kubernetes", "httpx", "aiohttp")
               or m == "google.cloud" or m.startswith("google.cloud."))
sys.stderr.write("\\nHEAVY=" + json.dumps(heavy) + "\\n")
"""


def _imported(args: list[str]) -> tuple[str, list[str]]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="80")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    marker = proc.stderr.rsplit("HEAVY=", 1)
    assert len(marker) == 2, proc.stderr
    return proc.stdout, json.loads(marker[1])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["deploy", "--help"],
        ["status", "--help"],
        ["split", "--help"],
        ["curl", "--help"],
        ["delete", "--help"],
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
