"""The root group loads command modules only when used, and its help matches the commands.

``knwalk --help`` is drawn from kn_walk/cli/index.py; these tests show that the
index and the real commands agree (names, modules, one-line help), that the
root help does not import a command module or rich, that every command still
runs, completes and suggests, and that the plain help reads well: metavars
instead of type labels, option panels as sections, 80 columns.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from kn_walk.cli import lazy
from kn_walk.cli.app import app
from kn_walk.cli.index import COMMANDS, Entry
from tests.cli_probe import imported_by

MODULES = sorted({entry.module for entry in COMMANDS.values()})


def _root() -> Any:
    return typer.main.get_command(app)


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, NO_COLOR="1", COLUMNS="80", **env)
    return subprocess.run(
        [sys.executable, "-m", "kn_walk", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def _modules_after(args: list[str]) -> list[str]:
    """The knwalk CLI modules and rich modules ``knwalk ARGS`` imported."""
    _, modules = imported_by(args)
    return [m for m in modules if m.startswith("kn_walk.cli.") or m.split(".")[0] == "rich"]


def test_root_help_imports_no_command_module_and_not_rich() -> None:
    assert _modules_after(["--help"]) == [
        "kn_walk.cli.app",
        "kn_walk.cli.common",
        "kn_walk.cli.index",
        "kn_walk.cli.lazy",
    ]


def test_a_command_imports_only_its_own_module() -> None:
    loaded = _modules_after(["split", "--help"])
    assert "kn_walk.cli.walkthrough" in loaded
    for other in set(MODULES) - {"kn_walk.cli.walkthrough"}:
        assert other not in loaded


def test_every_module_registers_exactly_its_indexed_commands_with_their_short_help() -> None:
    root = _root()
    for name, entry in COMMANDS.items():
        command = root.commands[name]
        assert command.callback is not None or hasattr(command, "commands")
        if hasattr(command, "commands"):  # a sub-app: its commands live in the module
            assert any(c.callback.__module__ == entry.module for c in command.commands.values())
        else:
            assert command.callback.__module__ == entry.module, name
        assert command.short_help == entry.short_help, name
        assert command.get_short_help_str(200) == entry.short_help


def test_a_module_that_disagrees_with_the_index_is_refused() -> None:
    wrong = {"deploy": Entry("kn_walk.cli.tour", "x")}  # tour.py registers "tour", not deploy
    commands = lazy.LazyCommands({}, wrong)
    with pytest.raises(RuntimeError, match=r"kn_walk.cli.tour registers \['tour'\]"):
        commands["deploy"]
    with pytest.raises(KeyError):
        commands["nope"]
    assert "nope" not in commands and "deploy" in commands
    assert list(commands) == ["deploy"] and len(commands) == 1


def test_the_mapping_builds_a_module_once_and_keeps_extra_commands() -> None:
    commands = lazy.LazyCommands({}, COMMANDS)
    assert commands.loaded("deploy") is None
    deploy = commands["deploy"]
    assert commands.loaded("status") is not None  # same module, built together
    assert commands.loaded("tour") is None
    assert commands["deploy"] is deploy
    extra = object()
    commands["extra"] = extra
    assert list(commands)[-1] == "extra" and len(commands) == len(COMMANDS) + 1
    del commands["extra"]
    with pytest.raises(KeyError):
        del commands["deploy"]


def test_root_help_is_the_same_whether_or_not_the_commands_are_built() -> None:
    runner = CliRunner()
    lazy_help = runner.invoke(app, ["--help"], terminal_width=80).output
    root = _root()
    for name in COMMANDS:  # build everything, then render the same help from the commands
        root.commands[name]
    ctx = root.make_context("knwalk", ["--version"], resilient_parsing=True)
    built_help = root.get_help(ctx)
    assert "Commands:" in lazy_help
    for name, entry in COMMANDS.items():
        assert f"  {name}" in lazy_help and entry.short_help in lazy_help
    section = lazy_help[lazy_help.index("Commands:") :].rstrip()
    assert section == built_help[built_help.index("Commands:") :].rstrip()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("knwalk de", ["deploy", "delete"]),
        ("knwalk deploy --ima", ["--image"]),
        ("knwalk cluster cr", ["create"]),
        ("knwalk sandbox d", ["down"]),
    ],
)
def test_shell_completion_reaches_lazy_commands(words: str, expected: list[str]) -> None:
    proc = _run(
        [],
        _KNWALK_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(words.split()) - 1),
    )
    assert proc.stdout.split() == expected, proc.stderr


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["deplyo"], "No such command 'deplyo'. Did you mean 'deploy'?", "knwalk --help"),
        (["--bogus"], "No such option: --bogus", "knwalk --help"),
        (["sandbox", "upp"], "No such command 'upp'. Did you mean 'up'?", "knwalk sandbox --help"),
        (["cluster", "creat"], "Did you mean 'create'?", "knwalk cluster --help"),
    ],
)
def test_unknown_commands_are_usage_errors_in_knwalks_format(
    args: list[str], message: str, hint: str
) -> None:
    proc = _run(args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert f"Hint: see `{hint}`" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_bare_group_prints_its_help() -> None:
    for args in ([], ["cluster"], ["sandbox"]):
        proc = _run(args)
        assert proc.returncode == 2
        assert proc.stderr.startswith("Usage: knwalk"), args
        assert "Commands:" in proc.stderr and "Error:" not in proc.stderr


def _all_help() -> dict[str, str]:
    runner = CliRunner()
    root = _root()
    pages = {"": runner.invoke(app, ["--help"], terminal_width=80).output}
    for name in COMMANDS:
        pages[name] = runner.invoke(app, [name, "--help"], terminal_width=80).output
        group = root.commands[name]
        for sub in getattr(group, "commands", {}):
            pages[f"{name} {sub}"] = runner.invoke(
                app, [name, sub, "--help"], terminal_width=80
            ).output
    return pages


def test_plain_help_has_no_type_labels_markup_escapes_or_long_lines() -> None:
    pages = _all_help()
    assert len(pages) > len(COMMANDS)
    for page, text in pages.items():
        assert text.startswith(f"Usage: knwalk {page}".rstrip()), page
        for bad in ("<str>", "<int", "<float", "<list", "<path>", "<bool>", "\\[", "[bold", "╭"):
            assert bad not in text, (page, bad)
        assert max(len(line) for line in text.splitlines()) <= 80, page


def test_options_take_a_metavar_and_panels_become_sections() -> None:
    pages = _all_help()
    deploy = pages["deploy"]
    assert "-e, --env NAME=VALUE" in deploy
    assert "--image IMAGE" in deploy
    assert "--wait / --no-wait" in deploy  # flags take no metavar
    options, cluster = deploy.split("\nCluster:\n")
    assert "--kubeconfig PATH" in cluster and "-n, --namespace NAMESPACE" in cluster
    assert "--kubeconfig" not in options and "-h, --help" in options
    assert "SPEC..." in pages["split"]  # a variadic argument shows its name, then ...
    assert "Examples:\n    knwalk split 50/50\n    knwalk split @latest\n" in pages["split"]


def test_no_command_module_imports_anothers_private_names() -> None:
    """What two commands print alike is a public function of kn_walk/cli/printers.py: no
    ``from kn_walk.cli.X import _name`` across the command modules."""
    import ast
    from pathlib import Path

    cli = Path(lazy.__file__).parent
    private = []
    for path in sorted(cli.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kn_walk.cli"):
                private += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    assert private == []
