"""What every command group shares: usage-error formatting and ``-o`` checking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from kn_walk.errors import UsageError


class KnwalkCommand(TyperCommand):
    """Usage errors found while parsing (bad int, unknown option...) in knwalk's own format:
    one ``Error:`` line and a ``Hint:`` line, exit 2, no click box."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return list(super().parse_args(ctx, args))
        except Exception as exc:
            if getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message"):
                raise UsageError(
                    str(exc.format_message()), f"see `{ctx.command_path} --help`"
                ) from None
            raise


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
        help="Kubeconfig file \\[default: $KUBECONFIG, else ~/.kube/config].",
        rich_help_panel=CLUSTER,
        show_default=False,
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option(
        "--context",
        help="Kubeconfig context \\[default: the current one].",
        rich_help_panel=CLUSTER,
        show_default=False,
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "-n",
        "--namespace",
        help="Namespace \\[default: the context's, else default].",
        rich_help_panel=CLUSTER,
        show_default=False,
    ),
]
