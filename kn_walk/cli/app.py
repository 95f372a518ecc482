"""The ``knwalk`` command: a root Typer app whose commands are loaded when used."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from kn_walk import __version__
from kn_walk.cli.lazy import LazyGroup
from kn_walk.errors import EXIT_FAILURE, KnwalkError

app = typer.Typer(
    name="knwalk",
    help="The Knative walkthrough as typed, tested commands, on GKE or a local sandbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    # the commands come from kn_walk/cli/index.py and are imported when first used
    cls=LazyGroup,
    # plain click help: rich's help renderer costs more import time than the whole
    # of `kubectl version --client` (issue 4 asks for at most twice that)
    rich_markup_mode=None,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"knwalk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """knwalk: learn Knative Serving by running it."""
    _state["debug"] = debug


def main() -> None:
    try:
        app(prog_name="knwalk")
    except KnwalkError as exc:
        if _state["debug"]:
            traceback.print_exc()
        from kn_walk.render import console

        err = console(stderr=True)
        err.print(f"Error: {exc.message}", markup=False, soft_wrap=True)
        if exc.hint:
            err.print(f"Hint: {exc.hint}", markup=False, soft_wrap=True)
        if exc.detail and (_state["debug"] or exc.show_detail):
            err.print(exc.detail, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if _state["debug"] or exc.filename is None:
            _unexpected(exc)
        # a path the user gave that the system refuses (too long, a directory, no permission)
        where = str(exc.filename)
        where = where if len(where) <= 80 else where[:77] + "..."
        print(f"Error: {exc.strerror or exc}: {where}", file=sys.stderr)
        print("Hint: check the path (its length, type and permissions)", file=sys.stderr)
        sys.exit(EXIT_FAILURE)
    except Exception as exc:  # an unexpected failure: one line, traceback only with --debug
        if _state["debug"]:
            raise
        _unexpected(exc)


def _unexpected(exc: Exception) -> None:
    """An unexpected failure: one line (the traceback only with --debug), exit 1."""
    if _state["debug"]:
        raise exc
    print(f"Error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
    print("Hint: run again with --debug for the traceback, and report it", file=sys.stderr)
    sys.exit(EXIT_FAILURE)
