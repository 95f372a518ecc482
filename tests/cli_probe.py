"""Run ``knwalk ARGS`` in a fresh interpreter and report which modules it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
sys.argv = ["knwalk", *json.loads(sys.argv[1])]
from kn_walk.cli.app import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""


def imported_by(args: list[str]) -> tuple[str, list[str]]:
    """(stdout, every module imported) of ``knwalk ARGS`` run in a fresh interpreter."""
    env = dict(os.environ, NO_COLOR="1", COLUMNS="80")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    marker = proc.stderr.rsplit("MODULES=", 1)
    assert len(marker) == 2, proc.stderr
    modules: list[str] = json.loads(marker[1])
    return proc.stdout, modules
