"""``knwalk rollout``: a gated canary of a Knative Service, and ``rollout status|abort|resume``.

Parses the options, calls :mod:`kn_walk.rollout` and renders what it reports: a line
per event, and per step what Knative does, a live progress bar (on a terminal), the
requests, errors and latency per Revision, the split check and the gates. Heavy
imports happen inside the commands.

Machine-readable output (``-o json``), stable:

``rollout -o json`` / ``rollout resume -o json``
    JSON Lines: one object per step (:meth:`kn_walk.rollout.StepReport.as_dict`), then
    ``{"rollout": <state>, "error": null | {"message": str, "hint": str}}``, the state
    being :meth:`kn_walk.rollout.State.as_dict` (what the annotation holds). A refusal
    before anything was written (a rollout in progress, nothing to roll out) prints
    nothing on stdout, only ``Error:``/``Hint:``. With ``--dry-run``: one object,
    :meth:`kn_walk.rollout.Plan.as_dict`.
``rollout status -o json`` / ``rollout abort -o json``
    ``{"rollout": <state> | null, "traffic": [<status traffic target>, ...]}``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kn_walk.cli.common import (
    ContextOpt,
    KnwalkCommand,
    KnwalkGroup,
    KubeconfigOpt,
    NamespaceOpt,
    check_output,
    format_params,
    plain_metavars,
)
from kn_walk.cli.index import short_help
from kn_walk.cli.walkthrough import (
    EnvOpt,
    EnvUnsetOpt,
    FileOpt,
    ImageOpt,
    PortOpt,
    RevisionNameOpt,
    TargetOpt,
    template_change,
)
from kn_walk.errors import KnwalkError, UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from kn_walk.ingress import Gateway
    from kn_walk.kube import Kube
    from kn_walk.rollout import Plan, Rollout, State, StepProgress, StepReport, StepStart


class RolloutGroup(KnwalkGroup):
    """``knwalk rollout``: runs a rollout itself, or one of its sub-commands; its options
    read as a command's do (metavars, panels)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_metavars(self)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)


rollout_app = typer.Typer(
    cls=RolloutGroup,
    rich_markup_mode=None,
    invoke_without_command=True,
    subcommand_metavar="[status|abort|resume [NAME]]",
)


def register(app: typer.Typer) -> None:
    """Add ``knwalk rollout ...`` to the root app."""
    app.add_typer(rollout_app, name="rollout", short_help=short_help("rollout"))


LOAD = "Load of each step"
GATES = "Gates (the candidate, on its tag URL)"

NameArg = Annotated[
    str | None,
    typer.Argument(
        help="Knative Service name [default: helloworld-go].", show_default=False, metavar="NAME"
    ),
]
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (moves live traffic).")
]
OutputOpt = Annotated[
    str, typer.Option("-o", "--output", help="text, or json: one JSON object per step.")
]
WaitTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--wait-timeout",
        help="Seconds to wait for the candidate to become Ready, and for each split.",
        min=1,
        max=86400,
        metavar="SECONDS",
    ),
]
GatewayOpt = Annotated[
    str | None,
    typer.Option(
        "--gateway",
        help="Gateway URL http://HOST:PORT [default: discovered].",
        show_default=False,
        metavar="URL",
    ),
]


StepDurationOpt = Annotated[
    str | None,
    typer.Option(
        "--step-duration",
        help="Send for this long at each step (30s, 2m) [default: 30s].",
        show_default=False,
        metavar="DURATION",
        rich_help_panel=LOAD,
    ),
]
StepRequestsOpt = Annotated[
    int | None,
    typer.Option(
        "--step-requests",
        help="Send this many requests at each step instead of a --step-duration.",
        min=1,
        max=1_000_000,
        show_default=False,
        metavar="N",
        rich_help_panel=LOAD,
    ),
]


# --------------------------------------------------------------------------- rollout


@rollout_app.callback()
def rollout(
    ctx: typer.Context,
    service: Annotated[
        str | None,
        typer.Option(
            "-s",
            "--service",
            help="Knative Service [default: helloworld-go, or the manifest's name with -f].",
            show_default=False,
            metavar="NAME",
        ),
    ] = None,
    image: ImageOpt = None,
    env: EnvOpt = None,
    env_unset: EnvUnsetOpt = None,
    target: TargetOpt = None,
    revision_name: RevisionNameOpt = None,
    port: PortOpt = None,
    file: FileOpt = None,
    steps: Annotated[
        str,
        typer.Option(
            "--steps",
            help="The candidate's percent at each step, rising; after the last, 100% follows "
            "it (@latest).",
            metavar="PCT,PCT,...",
            rich_help_panel=LOAD,
        ),
    ] = "10,25,50,100",
    step_duration: StepDurationOpt = None,
    step_requests: StepRequestsOpt = None,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            help="Open loop at this rate (50/s, 600/m) instead of --concurrency connections "
            "sending as fast as answered.",
            show_default=False,
            metavar="RATE",
            rich_help_panel=LOAD,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            help="Connections (with --rate, at most).",
            min=1,
            max=1000,
            metavar="N",
            rich_help_panel=LOAD,
        ),
    ] = 10,
    path: Annotated[
        str, typer.Option("--path", help="Request path.", metavar="PATH", rich_help_panel=LOAD)
    ] = "/",
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds per request.",
            min=0.01,
            max=3600,
            metavar="SECONDS",
            rich_help_panel=LOAD,
        ),
    ] = 10.0,
    gateway: GatewayOpt = None,
    max_error_rate: Annotated[
        str,
        typer.Option(
            "--max-error-rate",
            help="Most failed requests (no answer, or a status >= 400), in percent.",
            metavar="PCT",
            rich_help_panel=GATES,
        ),
    ] = "1%",
    max_p99: Annotated[
        str,
        typer.Option(
            "--max-p99",
            help="Highest 99th-percentile latency (500ms, 1s), or off.",
            metavar="DURATION",
            rich_help_panel=GATES,
        ),
    ] = "500ms",
    max_p50: Annotated[
        str,
        typer.Option(
            "--max-p50",
            help="Highest median latency, or off.",
            metavar="DURATION",
            rich_help_panel=GATES,
        ),
    ] = "off",
    yes: YesOpt = False,
    output: OutputOpt = "text",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print each step's traffic block and the kubectl patch commands; send nothing.",
        ),
    ] = False,
    wait_timeout: WaitTimeoutOpt = 300.0,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Roll out a new Revision of a Service as a gated canary, like `knwalk deploy`'s change.

    The serving Revision is pinned (tag current) in the same write as the template change, so the new Revision gets no traffic until it is Ready; a candidate that never becomes Ready stops the rollout there. Then each step sets the split (tag candidate), sends load through the gateway with the Service's Host header and, at once, to the candidate's tag URL, and judges the candidate on the gates. A breached gate sends 100% back to current in one write; after the last step 100% follows the new Revision (@latest). The state is kept on the Service (annotation knwalk.dev/rollout): Ctrl-C stops at a safe point, and `knwalk rollout status|resume|abort` go on from any shell.

    \b
    Examples:
      knwalk rollout --target "Go Sample v3"
      knwalk rollout --image ghcr.io/knative/helloworld-go --step-requests 500
      knwalk rollout -f service.yaml --steps 5,50 --max-p99 200ms --yes -o json
    """
    if ctx.invoked_subcommand is not None:
        # the cluster options may come first (`knwalk rollout -n NS status`); no others
        ctx.obj = {"kubeconfig": kubeconfig, "context": context, "namespace": namespace}
        sources = {p.opts[0]: ctx.get_parameter_source(p.name or "") for p in ctx.command.params}
        given = [
            opt
            for opt, src in sources.items()
            if src is not None
            and src.name != "DEFAULT"
            and opt not in ("--kubeconfig", "--context", "-n")
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)}: options of a rollout, not of `knwalk rollout "
                f"{ctx.invoked_subcommand}`",
                f"see `knwalk rollout {ctx.invoked_subcommand} --help`",
            )
        return
    from kn_walk import rollout as core
    from kn_walk.load import parse_rate

    fmt = check_output(output, ("text", "json"))
    name, opts, manifest, namespace = template_change(
        service,
        namespace,
        image=image,
        env=env,
        env_unset=env_unset,
        target=target,
        revision_name=revision_name,
        port=port,
        file=file,
        show_details=dry_run,
        name_option="-s/--service",
    )
    seconds, step_requests = _step_length(step_duration, step_requests, core.DEFAULT_STEP_SECONDS)
    from kn_walk.probe import check_path

    load = core.StepLoad(
        seconds,
        step_requests,
        parse_rate(rate) if rate is not None else None,
        concurrency,
        check_path(path),
        timeout,
    ).check()
    gates = core.Gates(
        core.parse_ratio(max_error_rate, "--max-error-rate"),
        _latency(max_p99, "--max-p99"),
        _latency(max_p50, "--max-p50"),
    )
    settings = core.Settings(core.parse_steps(steps), gates, load)
    gw = _gateway(gateway)
    with _connect(kubeconfig, context, namespace) as kube:
        if dry_run:
            path_shown = str(file) if file is not None else "FILE"
            planned = core.plan(kube, name, opts, manifest, settings, manifest_path=path_shown)
            _print_plan(planned, fmt)
            return
        where = f"service '{name}' in namespace '{kube.namespace}' (context {kube.context})"
        _confirm(yes, f"Roll out a new Revision of {where}? It moves live traffic.")
        display = _Display(fmt == "json")
        run = _rollout(kube, name, gw, display, wait_timeout)
        display.intro(name, settings)
        display.finish(lambda: run.start(opts, manifest, settings))


def _step_length(
    duration: str | None, requests: int | None, default: float | None
) -> tuple[float | None, int | None]:
    """``--step-duration`` / ``--step-requests``: at most one; ``default`` seconds if neither."""
    from kn_walk.rollout import parse_latency

    if duration is not None and requests is not None:
        raise UsageError(
            "--step-duration and --step-requests both say how long a step lasts",
            "give only one of them",
        )
    if duration is not None:
        return parse_latency(duration, "--step-duration"), None
    return (None if requests is not None else default), requests


def _service(name: str | None) -> str:
    from kn_walk.knative import DEFAULT_SERVICE, check_service_name

    return check_service_name(name if name is not None else DEFAULT_SERVICE)


def _latency(text: str, option: str) -> float | None:
    from kn_walk.rollout import parse_latency

    return None if text.strip().lower() in ("off", "none") else parse_latency(text, option)


def _gateway(text: str | None) -> Gateway | None:
    if text is None:
        return None
    from kn_walk.ingress import parse_gateway

    return parse_gateway(text)


def _connect(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    ctx: typer.Context | None = None,
) -> Kube:
    """A client; a sub-command's cluster options default to those given before it."""
    from kn_walk.kube import connect

    given = (ctx.obj if ctx is not None else None) or {}
    return connect(
        kubeconfig or given.get("kubeconfig"),
        context or given.get("context"),
        namespace or given.get("namespace"),
    )


def _rollout(
    kube: Kube, name: str, gateway: Gateway | None, display: _Display, wait_timeout: float
) -> Rollout:
    from kn_walk import rollout as core

    callbacks = core.Callbacks(
        say=display.say,
        step_started=display.step_started,
        progress=display.progress,
        step_done=display.step_done,
    )
    return core.Rollout(kube, name, gateway=gateway, callbacks=callbacks, wait_timeout=wait_timeout)


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "a rollout moves live traffic and needs confirmation; stdin is not a terminal",
            "pass --yes",
        )
    if not typer.confirm(question, default=False, err=True):
        raise KnwalkError("nothing was changed: you said no", "pass --yes to skip the question")


# --------------------------------------------------------------------------- sub-commands


@rollout_app.command("status", cls=KnwalkCommand)
def status(
    ctx: typer.Context,
    name: NameArg = None,
    output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Show the last rollout of a Service: its phase, steps, gates, results and traffic."""
    from kn_walk import rollout as core

    fmt = check_output(output, ("text", "json"))
    service = _service(name)
    with _connect(kubeconfig, context, namespace, ctx) as kube:
        svc, state = core.read_state(kube, service)
    if fmt == "json":
        _emit({"rollout": state.as_dict() if state else None, "traffic": _traffic(svc)})
        return
    out = _out()
    if state is None:
        _say(out, f"No rollout of service '{service}' is recorded (annotation {core.ANNOTATION}).")
        _say(out, f'Start one with: knwalk rollout -s {service} --target "..."')
        return
    _print_state(out, state)
    out.print()
    _print_traffic(out, svc)


@rollout_app.command("abort", cls=KnwalkCommand)
def abort(
    ctx: typer.Context,
    name: NameArg = None,
    yes: YesOpt = False,
    output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout",
            help="Seconds to wait for the Route to serve the rollback.",
            min=1,
            max=86400,
            metavar="SECONDS",
        ),
    ] = 300.0,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Stop a rollout: send all traffic back to the current Revision in one write.

    The candidate keeps its tag (at 0%) for debugging. A rollout still running in another shell sees the change and stops without writing.
    """
    from kn_walk import knative

    fmt = check_output(output, ("text", "json"))
    service = _service(name)
    with _connect(kubeconfig, context, namespace, ctx) as kube:
        _confirm(yes, f"Abort the rollout of service '{service}' and send all traffic back?")
        run = _rollout(kube, service, None, _Display(True), wait_timeout)
        state = run.abort()
        svc = knative.require_service(kube, service)
    if fmt == "json":
        _emit({"rollout": state.as_dict(), "traffic": _traffic(svc)})
        return
    out = _out()
    _say(out, f"Rollout of service '{service}' {state.message}.")
    if state.candidate:
        _say(out, f"The candidate {state.candidate} keeps tag candidate at 0%.")
    out.print()
    _print_traffic(out, svc)


@rollout_app.command("resume", cls=KnwalkCommand)
def resume(
    ctx: typer.Context,
    name: NameArg = None,
    gateway: GatewayOpt = None,
    step_duration: StepDurationOpt = None,
    step_requests: StepRequestsOpt = None,
    yes: YesOpt = False,
    output: OutputOpt = "text",
    wait_timeout: WaitTimeoutOpt = 300.0,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Continue a stopped rollout from its step, with the settings it started with.

    The step it stopped at runs again. --step-duration or --step-requests give the steps left another length; the rest is as the rollout started. Refused when its traffic was changed since, or while its own process still runs it.
    """
    fmt = check_output(output, ("text", "json"))
    service = _service(name)
    gw = _gateway(gateway)
    with _connect(kubeconfig, context, namespace, ctx) as kube:
        _confirm(yes, f"Resume the rollout of service '{service}'? It moves live traffic.")
        display = _Display(fmt == "json")
        run = _rollout(kube, service, gw, display, wait_timeout)
        seconds, requests = _step_length(step_duration, step_requests, None)
        display.finish(lambda: run.resume(step_duration=seconds, step_requests=requests))


# --------------------------------------------------------------------------- rendering


def _out() -> Console:
    from kn_walk.render import console

    return console()


def _say(out: Console, text: str = "") -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _emit(data: dict[str, Any]) -> None:
    import json

    sys.stdout.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def _traffic(svc: Any) -> list[dict[str, Any]]:
    return [t.as_dict() for t in svc.traffic]


def _print_traffic(out: Console, svc: Any) -> None:
    from kn_walk.cli.printers import traffic_table

    _say(out, f"The Route of service '{svc.name}' sends:")
    traffic_table(out, svc.traffic, svc.spec_traffic)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}" if value < 100 else f"{value:.0f}"


class _Display:
    """What a running rollout shows: lines, a progress bar per step (on a terminal), a
    table per step; with ``-o json`` a JSON object per step and one at the end."""

    def __init__(self, json_out: bool) -> None:
        self.json_out = json_out
        self.out = _out()
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def say(self, text: str) -> None:
        if not self.json_out:
            _say(self.out, text)

    def intro(self, name: str, settings: Any) -> None:
        steps = ", ".join(f"{p}%" for p in settings.steps)
        self.say(f"Rollout of service '{name}': steps {steps}; {settings.load.describe()}.")
        self.say(f"Gates on the candidate: {settings.gates.describe()}.")

    def finish(self, run: Any) -> None:
        """Run the rollout (``run()``) and say how it ended."""
        from kn_walk.rollout import RolloutError

        try:
            state: State = run()
        except RolloutError as exc:
            self._stop_bar()
            if self.json_out:
                error = {"message": exc.message, "hint": exc.hint}
                _emit({"rollout": exc.state.as_dict() if exc.state else None, "error": error})
            raise
        finally:
            self._stop_bar()
        if self.json_out:
            _emit({"rollout": state.as_dict(), "error": None})
            return
        self.say("")
        self.say(f"Rollout of service '{state.service}' {state.message}.")

    # -- steps

    def step_started(self, start: StepStart) -> None:
        if self.json_out:
            return
        self.out.print()
        self.say(f"Step {start.number} of {start.of}: {start.percent}% to the candidate")
        self.say(f"  Knative: {start.lesson}")
        if sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            from kn_walk.render import console

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[state]}"),
                TimeElapsedColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(f"step {start.number}", total=None, state="")

    def progress(self, p: StepProgress) -> None:
        bar, task = self.bar, self.task
        if bar is None or task is None:
            return
        done, total, parts = 0.0, 0.0, []
        for label, lp in (("service", p.service), ("candidate", p.candidate)):
            if lp is None:
                continue
            if lp.planned is not None:
                done, total = done + lp.done, total + lp.planned
            elif lp.duration:
                done, total = max(done, min(lp.elapsed, lp.duration)), lp.duration
            rate = 100 * lp.failed / lp.done if lp.done else 0.0
            parts.append(f"{label} {lp.done}, {rate:.1f}% failed")
        bar.update(task, total=total or None, completed=done, state="; ".join(parts))

    def _stop_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
            self.task = None

    def step_done(self, report: StepReport) -> None:
        self._stop_bar()
        if self.json_out:
            _emit(report.as_dict())
            return
        from kn_walk.render import grid

        rows: list[tuple[Any, ...]] = []
        svc_stats = report.service.latency()
        rows.append(
            (
                "service (Host of its URL)",
                report.service.count,
                f"{100 * report.service.error_rate:.2f}%",
                *_stats(svc_stats),
            )
        )
        for label, tag, stats in report.revisions():
            rows.append((f"  {label} ({tag or '?'})", stats.count, "", *_stats(stats)))
        tag_stats = report.tag.latency()
        rows.append(
            (
                "candidate tag URL",
                report.tag.count,
                f"{100 * report.tag.error_rate:.2f}%",
                *_stats(tag_stats),
            )
        )
        self.out.print(grid(["REQUESTS TO", "COUNT", "ERRORS", "P50", "P90", "P99 (ms)"], rows))
        if report.tag.failures:
            kinds = ", ".join(f"{k}: {v}" for k, v in sorted(report.tag.failures.items()))
            self.say(f"  candidate failures: {kinds}")
        if report.verdict is not None:
            word = "consistent" if report.verdict.consistent else "NOT consistent"
            self.say(
                f"  Split: {word} with {100 - report.percent}/{report.percent} "
                f"(chi-square p = {report.verdict.p_value:.3g})"
            )
        elif report.split_note:
            self.say(f"  Split: not checked; {report.split_note}")
        if report.void:
            self.say(f"  Void: {report.void}")
            return
        marks = "   ".join(("✓ " if g.passed else "✗ ") + g.describe() for g in report.gates)
        self.say(f"  Gates: {marks}")


def _stats(stats: Any) -> tuple[str, str, str]:
    if stats is None:
        return ("-", "-", "-")
    return (_ms(stats.p50 * 1000), _ms(stats.p90 * 1000), _ms(stats.p99 * 1000))


def _print_plan(planned: Plan, fmt: str) -> None:
    from kn_walk.render import dump_yaml, print_text

    if fmt == "json":
        _emit(planned.as_dict())
        return
    s = planned.settings
    print_text(
        f"Dry run: would roll out service '{planned.name}' in namespace "
        f"'{planned.namespace}'; nothing was sent."
    )
    print_text(f"Current:   {planned.current} (serves 100%)")
    print_text(f"Candidate: {planned.candidate} (the name Knative gives the new Revision)")
    print_text(f"Steps:     {', '.join(f'{p}%' for p in s.steps)}; {s.load.describe()}")
    print_text(f"Gates:     {s.gates.describe()}")
    for i, write in enumerate(planned.writes, 1):
        print_text(f"\n# {i}. {write.title}")
        print_text(dump_yaml({"traffic": write.traffic}).rstrip())
        print_text("# equivalent kubectl command" + ("s" if len(write.kubectl) > 1 else ""))
        for command in write.kubectl:
            print_text(command)


def _print_state(out: Console, state: State) -> None:
    from rich.markup import escape

    from kn_walk.render import grid, key_values

    s = state.settings
    done = {r["step"]: r for r in state.results}
    shown = []
    for i, p in enumerate(s.steps, 1):
        r = done.get(i)
        mark = "" if r is None else " ✓" if r["passed"] else " ✗"
        shown.append(f"{p}%{mark}")
    holder = state.holder
    running, alive = "", state.holder_alive()
    if state.phase == "running":
        where = f"pid {holder.get('pid')} on {holder.get('host')}"
        running = f" ({where})" if alive else " (its process is gone)"
    rows = [
        ("Phase", state.phase + (f" ({state.reason})" if state.reason else "") + running),
        ("Where", state.message or state.where()),
        ("Current", f"{state.current} (tag current)"),
        ("Candidate", _candidate_row(state)),
        ("Steps", ", ".join(shown)),
        ("Gates", s.gates.describe()),
        ("Load", s.load.describe()),
        ("Started", f"{state.started} by pid {holder.get('pid')} on {holder.get('host')}"),
        ("Updated", state.updated),
    ]
    shown_rows = [(k, escape(v)) for k, v in rows]  # messages hold [...] blocks, not markup
    out.print(key_values(shown_rows, title=f"Rollout of service {state.service}"))
    if state.results:
        out.print()
        table = []
        for r in state.results:
            cand = r.get("candidate") or {}
            split = r.get("split")
            table.append(
                (
                    r["step"],
                    f"{r['percent']}%",
                    cand.get("requests", 0),
                    f"{100 * cand.get('errorRate', 0):.2f}%",
                    _ms(cand.get("p50")),
                    _ms(cand.get("p99")),
                    "-" if split is None else "ok" if split["consistent"] else "NOT ok",
                    "void" if r.get("void") else "passed" if r["passed"] else "FAILED",
                )
            )
        out.print(
            grid(["STEP", "PCT", "REQUESTS", "ERRORS", "P50", "P99", "SPLIT", "RESULT"], table)
        )
    if alive:  # `resume` would be refused while its process runs it
        out.print()
        _say(
            out,
            f"It runs in another process: follow it with `knwalk rollout status "
            f"{state.service}`, or stop it and send all traffic back to {state.current} "
            f"with `knwalk rollout abort {state.service}`.",
        )
    elif state.in_progress:
        out.print()
        _say(
            out,
            f"Go on with `knwalk rollout resume {state.service}`, or send all traffic back "
            f"to {state.current} with `knwalk rollout abort {state.service}`.",
        )


def _candidate_row(state: State) -> str:
    if not state.candidate:
        return "(not Ready yet)"
    if state.phase == "failed":
        return f"{state.candidate} (never Ready; never tagged)"
    return f"{state.candidate} (tag candidate)"
