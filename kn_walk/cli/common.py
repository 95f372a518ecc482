"""What every command group shares: usage-error formatting and ``-o`` checking."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from kn_walk.errors import KnwalkError, UsageError

#: metavars of options whose name in capitals would say less than this
METAVARS = {
    "env": "NAME=VALUE",
    "env_unset": "NAME",
    "untag": "TAG",
    "target": "TEXT",
    "revision_name": "NAME",
    "file": "PATH",
    "kubeconfig": "PATH",
    "state_dir": "DIR",
    "output": "FORMAT",
    "wait_timeout": "SECONDS",
    "wait_window": "SECONDS",
    "timeout": "SECONDS",
    "poll_interval": "SECONDS",
    "scale_to_zero_grace": "SECONDS",
    "stable_window": "SECONDS",
    "machine_type": "TYPE",
    "cluster_version": "VERSION",
    "release_channel": "CHANNEL",
    "default_max_pods_per_node": "N",
    "gke_endpoint": "URL",
}


def plain_metavars(command: Any) -> None:
    """Give each option of ``command`` that takes a value a metavar: its own, else one from
    :data:`METAVARS`, else its name in capitals (argparse's way), not typer's type label."""
    for param in command.params:
        if param.param_type_name != "option" or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        name = param.name or "value"
        param.metavar = METAVARS.get(name, name.upper())


def format_params(command: Any, ctx: Any, formatter: Any) -> None:
    """Arguments (just their names), then Options, then each ``rich_help_panel`` heading."""
    arguments: list[tuple[str, str]] = []
    sections: dict[str, list[tuple[str, str]]] = {"Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            name = param.metavar or (param.name or "").upper()
            arguments.append((name + ("..." if param.nargs != 1 else ""), record[1]))
        else:
            panel = getattr(param, "rich_help_panel", None) or "Options"
            sections.setdefault(panel, []).append(record)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    for title, records in sections.items():
        if records:
            with formatter.section(title):
                formatter.write_dl(records)


class KnwalkCommand(TyperCommand):
    """A knwalk command: plain help in the style of click and argparse, and usage errors in
    knwalk's own format.

    Help: an option that takes a value shows a metavar (its own, else its name in capitals,
    as argparse does) instead of typer's ``<str>``/``<list[str]>`` type labels; arguments show
    just their name; options given a ``rich_help_panel`` are listed under that heading after
    the others. Usage errors found while parsing (bad int, unknown option...) become one
    ``Error:`` line and a ``Hint:`` line, exit 2, no click box.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_metavars(self)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        format_params(self, ctx, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return list(super().parse_args(ctx, args))
        except Exception as exc:
            raise _usage_error(exc, ctx) from None


def _usage_error(exc: Exception, ctx: Any) -> Exception:
    """A click usage error (exit code 2) as knwalk's :class:`UsageError`; others unchanged."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: click prints its help
        return exc
    if getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message"):
        return UsageError(str(exc.format_message()), f"see `{ctx.command_path} --help`")
    return exc


class KnwalkGroup(TyperGroup):
    """A knwalk command group: an unknown command or option is reported like every other
    usage error (``Error:``/``Hint:``, exit 2), with typer's "Did you mean" suggestion."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return list(super().parse_args(ctx, args))
        except Exception as exc:
            raise _usage_error(exc, ctx) from None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:
            raise _usage_error(exc, ctx) from None


def check_output(value: str, allowed: tuple[str, ...]) -> str:
    """``-o/--output``: one of ``allowed``, else a usage error naming them."""
    if value not in allowed:
        raise UsageError(
            f"-o/--output {value!r} is not supported here", f"use one of: {', '.join(allowed)}"
        )
    return value


# Options every command that talks to a cluster takes, as kubectl spells them.
CLUSTER = "Cluster"
KubeconfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].",
        rich_help_panel=CLUSTER,
        show_default=False,
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option(
        "--context",
        help="Kubeconfig context [default: the current one].",
        rich_help_panel=CLUSTER,
        show_default=False,
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "-n",
        "--namespace",
        help="Namespace [default: the context's, else default].",
        rich_help_panel=CLUSTER,
        show_default=False,
    ),
]


def parse_state_dir(value: str) -> Path:
    """``--state-dir``: never empty, which would mean the current directory (as from
    ``--state-dir "$UNSET"``): the sandbox would chmod it and write its keys there."""
    if not value:
        raise UsageError(
            "--state-dir is empty (an unset shell variable?); "
            "it would make the current directory the sandbox's state dir",
            "give a directory, or leave --state-dir out for the default "
            "($XDG_STATE_HOME/knwalk/sandbox)",
        )
    return Path(value)


@contextlib.contextmanager
def details_shown(show: bool) -> Iterator[None]:
    """Errors raised inside print their ``detail`` too when ``show`` (``--dry-run``: the
    user asked what the server would be sent, so also what it would answer)."""
    try:
        yield
    except KnwalkError as exc:
        exc.show_detail = exc.show_detail or show
        raise
