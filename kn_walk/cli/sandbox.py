"""``knwalk sandbox up|status|down|reset``: the local Knative cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kn_walk.cli.common import KnwalkCommand, KnwalkGroup, check_output, parse_state_dir
from kn_walk.cli.index import short_help
from kn_walk.errors import KnwalkError, UsageError

sandbox_app = typer.Typer(
    cls=KnwalkGroup,
    rich_markup_mode=None,
    help="A local Kubernetes API with Knative Serving and an ingress gateway; no cloud needed.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``knwalk sandbox ...`` to the root app."""
    app.add_typer(sandbox_app, name="sandbox", short_help=short_help("sandbox"))


StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the sandbox keeps its objects [default: $XDG_STATE_HOME/knwalk/sandbox].",
        parser=parse_state_dir,
    ),
]
KubeconfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="Kubeconfig file to write [default: first of $KUBECONFIG, else ~/.kube/config].",
    ),
]


def _state_dir(value: Path | None) -> Path:
    """The state dir to use; refused when it is not a directory or not a sandbox's."""
    from kn_walk.sandbox.control import check_state_dir, default_state_dir

    path = (value or default_state_dir()).expanduser().absolute()
    check_state_dir(path)
    return path


@sandbox_app.command("up", cls=KnwalkCommand)
def up(
    api_port: Annotated[
        int | None,
        typer.Option("--api-port", help="API port [default: the last one if free, else any]."),
    ] = None,
    gateway_port: Annotated[
        int | None,
        typer.Option(
            "--gateway-port", help="Gateway port [default: the last one if free, else any]."
        ),
    ] = None,
    state_dir: StateDir = None,
    kubeconfig: KubeconfigOpt = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain", help="Domain for Route URLs (config-domain) [default: example.com]."
        ),
    ] = None,
    stable_window: Annotated[
        float | None,
        typer.Option(
            "--stable-window",
            help="Seconds without traffic before a Revision scales to zero [default: 60].",
            min=0.1,
        ),
    ] = None,
    scale_to_zero_grace: Annotated[
        float | None,
        typer.Option(
            "--scale-to-zero-grace",
            help="Grace period in seconds before scale to zero [default: 30].",
            min=0.0,
        ),
    ] = None,
    faults: Annotated[
        Path | None,
        typer.Option(
            "--faults",
            hidden=True,
            help="Fault-injection rules for tests (see kn_walk/sandbox/apiserver/faults.py).",
        ),
    ] = None,
) -> None:
    """Start the sandbox in the background and make `knwalk-sandbox` the current context."""
    from kn_walk import kubeconfig as kc
    from kn_walk.render import console, key_values
    from kn_walk.sandbox import control

    sdir = _state_dir(state_dir)
    info, started = control.start(
        sdir,
        api_port=api_port,
        gateway_port=gateway_port,
        domain=domain,
        stable_window=stable_window,
        scale_to_zero_grace=scale_to_zero_grace,
        faults=faults,
    )
    out = console()
    # running or not, `up` leaves the context current in the kubeconfig it names, as its
    # help says (a second `up --kubeconfig other` is how a user gets the context there)
    path = kc.resolve_path(kubeconfig)
    control.write_kubeconfig(info, path)
    if not started:
        out.print(
            f"The sandbox is already running (pid {info.pid}); "
            f"context {control.CONTEXT} is now current in {path}."
        )
        settings = (
            ("--api-port", api_port, info.api_port),
            ("--gateway-port", gateway_port, info.gateway_port),
            ("--domain", domain, info.domain),
            ("--stable-window", stable_window, None),
            ("--scale-to-zero-grace", scale_to_zero_grace, None),
            ("--faults", faults, None),
        )
        ignored = [flag for flag, given, now in settings if given is not None and given != now]
        if ignored:
            out.print(
                f"Not applied to the running sandbox: {', '.join(ignored)}. "
                "Run `knwalk sandbox down` first to start it with them."
            )
    else:
        out.print(
            f"Sandbox started (pid {info.pid}); context {control.CONTEXT} is now current in {path}."
        )
        for move in info.moved:  # a port it had before is someone else's now
            out.print(move.message())
    out.print(
        key_values(
            [
                ("API", info.api),
                ("Gateway", info.gateway),
                ("Domain", info.domain),
                ("State", str(info.state_dir)),
            ]
        )
    )
    if started:
        out.print("Next: kubectl get ksvc")


@sandbox_app.command("status", cls=KnwalkCommand)
def status(
    state_dir: StateDir = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
) -> None:
    """Show whether the sandbox runs, where, and how many objects it holds."""
    from kn_walk.render import console, emit, grid, key_values
    from kn_walk.sandbox import control

    fmt = check_output(output, ("table", "json"))
    sdir = _state_dir(state_dir)
    found = control.find(sdir)
    info = found.info
    if found.state != "running" or info is None:
        if fmt == "json":
            emit(
                {
                    "running": found.state != "stopped",
                    "answering": False,
                    "state": found.state,
                    "pid": found.pid,
                    "api": info.api if info else None,
                    "gateway": info.gateway if info else None,
                    "context": control.CONTEXT,
                    "state_dir": str(sdir),
                },
                "json",
            )
            raise typer.Exit(1)
        if found.state == "not answering":
            raise control.not_answering(sdir, found.pid)
        if found.state == "starting":
            raise KnwalkError(
                f"the sandbox of {sdir} is starting or stopping (pid {found.pid})",
                "try again in a moment",
            )
        raise KnwalkError(
            f"the sandbox is not running (state dir {sdir})", "start it with: knwalk sandbox up"
        )
    counts = control.object_counts(info)
    if fmt == "json":
        doc = {"running": True, "answering": True, "state": "running", **info.as_dict()}
        emit({**doc, "objects": counts}, "json")
        return
    out = console()
    out.print(
        key_values(
            [
                ("Status", "running"),
                ("PID", info.pid),
                ("API", info.api),
                ("Gateway", info.gateway),
                ("Context", control.CONTEXT),
                ("Domain", info.domain),
                ("State dir", str(info.state_dir)),
            ]
        )
    )
    out.print(grid(["OBJECTS", "COUNT"], [(k, v) for k, v in counts.items()]))


@sandbox_app.command("down", cls=KnwalkCommand)
def down(state_dir: StateDir = None) -> None:
    """Stop the sandbox and every process it started; its objects are kept."""
    from kn_walk.render import console
    from kn_walk.sandbox import control

    sdir = _state_dir(state_dir)
    found = control.find(sdir)
    pid = control.stop(sdir)
    if pid is None:
        console().print("The sandbox is not running; nothing to stop.")
        return
    silent = " It was running, not answering." if found.state == "not answering" else ""
    console().print(
        f"Sandbox stopped (pid {pid}).{silent} Its state is kept; `knwalk sandbox up` resumes it."
    )


@sandbox_app.command("reset", cls=KnwalkCommand)
def reset(
    state_dir: StateDir = None,
    kubeconfig: KubeconfigOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop the sandbox and delete all its state (objects, token)."""
    import sys

    from kn_walk import kubeconfig as kc
    from kn_walk.render import console
    from kn_walk.sandbox import control

    sdir = _state_dir(state_dir)
    if not sdir.exists():
        console().print(f"No sandbox state at {sdir}; nothing to reset.")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "reset deletes every object in the sandbox and needs confirmation", "pass --yes"
            )
        if not typer.confirm(f"Delete the sandbox state in {sdir}?", default=False):
            raise typer.Exit(1)
    found = control.find(sdir)
    if found.state == "not answering":
        console().print(f"The sandbox (pid {found.pid}) is running, not answering; stopping it.")
    control.reset(sdir, kc.resolve_path(kubeconfig))
    console().print(
        f"Sandbox state deleted ({sdir}); context {control.CONTEXT} removed from the kubeconfig."
    )
