"""``knwalk tour``: the whole walkthrough in one narrated command, on the sandbox by default.

Parses the options, opens the tour (:mod:`kn_walk.tour`), asks what needs asking,
runs the steps and renders each one: the concept, the knwalk command, live
progress, the result, and the same with kubectl. ``-o json`` prints one JSON
object per step instead (see :mod:`kn_walk.tour` for the shape). Heavy imports
(kubernetes, httpx) happen inside the command.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kn_walk.cli.common import (
    CLUSTER,
    KnwalkCommand,
    NamespaceOpt,
    check_output,
    parse_state_dir,
)
from kn_walk.cli.index import short_help
from kn_walk.errors import KnwalkError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console

    from kn_walk.ingress import Gateway
    from kn_walk.tour import StepInfo, StepResult, Tour


def register(app: typer.Typer) -> None:
    """Add ``knwalk tour`` to the root app."""
    app.command("tour", cls=KnwalkCommand, short_help=short_help("tour"))(tour)


def tour(
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            help="Run on this kubeconfig context instead of the sandbox (asks first).",
            rich_help_panel=CLUSTER,
            show_default=False,
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Run on the local sandbox, starting it if needed (the default).",
            rich_help_panel=CLUSTER,
        ),
    ] = False,
    step_by_step: Annotated[
        bool,
        typer.Option("--step-by-step", help="Pause before each step: Enter goes on, q stops."),
    ] = False,
    from_step: Annotated[
        int,
        typer.Option(
            "--from",
            help="Start at step N (1-8; the canary chapter 1-4), e.g. to resume after a failure.",
            min=1,
            max=8,
            metavar="N",
        ),
    ] = 1,
    chapter: Annotated[
        str,
        typer.Option(
            "--chapter",
            help="walkthrough, or canary: a rollout of a bad candidate, rolled back, then "
            "of a good one, promoted (sandbox only).",
            metavar="NAME",
        ),
    ] = "walkthrough",
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the Service at the end (skip step 8).")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask (running on a context, deleting an earlier run's app)."
        ),
    ] = False,
    output: Annotated[
        str, typer.Option("-o", "--output", help="text, or json: one JSON object per step.")
    ] = "text",
    wait_timeout: Annotated[
        float,
        typer.Option("--wait-timeout", help="Seconds to wait for each change.", min=1, max=86400),
    ] = 300.0,
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            help="Gateway URL http://HOST:PORT, e.g. of a port-forward when the gateway has "
            "no external IP [default: discovered].",
            rich_help_panel=CLUSTER,
            show_default=False,
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig",
            help="Kubeconfig file: with --context, where it is; on the sandbox, the file "
            "to add the sandbox to when the tour starts it [default: $KUBECONFIG, else "
            "~/.kube/config].",
            rich_help_panel=CLUSTER,
            show_default=False,
        ),
    ] = None,
    namespace: NamespaceOpt = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="The sandbox's state dir [default: $XDG_STATE_HOME/knwalk/sandbox].",
            rich_help_panel=CLUSTER,
            show_default=False,
            parser=parse_state_dir,
        ),
    ] = None,
) -> None:
    """Run the whole walkthrough, narrated: deploy, curl, v2, split 50/50, curl, clean up.

    Each step explains its concept, shows the knwalk and kubectl commands that do the same, and its live result. Without --context the tour runs on the local sandbox (started if needed) and touches no other cluster.
    """
    from kn_walk.tour import CHAPTERS

    check_output(output, ("text", "json"))
    if chapter not in CHAPTERS:
        raise UsageError(
            f"--chapter {chapter!r} is not a chapter of the tour",
            f"use one of: {', '.join(CHAPTERS)}",
        )
    if from_step > len(CHAPTERS[chapter]):
        raise UsageError(
            f"--from {from_step}: the {chapter} chapter has {len(CHAPTERS[chapter])} steps",
            f"give a step from 1 to {len(CHAPTERS[chapter])}",
        )
    if context is not None and sandbox:
        raise UsageError("--context and --sandbox both choose the cluster", "give only one")
    if context is not None and state_dir is not None:
        raise UsageError(
            "--state-dir is for the sandbox; --context names another cluster", "drop one"
        )
    gw = None
    if gateway is not None:
        from kn_walk.ingress import parse_gateway

        gw = parse_gateway(gateway)
    run = _Run(
        json_out=output == "json",
        step_by_step=step_by_step,
        yes=yes,
        resume=_resume_args(
            context,
            kubeconfig,
            namespace,
            state_dir,
            keep,
            output,
            yes,
            step_by_step,
            gateway,
            chapter,
        ),
    )
    run.main(
        context=context,
        kubeconfig=kubeconfig,
        namespace=namespace,
        state_dir=state_dir,
        from_step=from_step,
        keep=keep,
        wait_timeout=wait_timeout,
        gateway=gw,
        chapter=chapter,
    )


def _resume_args(
    context: str | None,
    kubeconfig: Path | None,
    namespace: str | None,
    state_dir: Path | None,
    keep: bool,
    output: str,
    yes: bool,
    step_by_step: bool,
    gateway: str | None,
    chapter: str,
) -> list[str]:
    args = ["knwalk", "tour"]
    if chapter != "walkthrough":
        args += ["--chapter", chapter]
    if context is not None:
        args += ["--context", context]
    if kubeconfig is not None:
        args += ["--kubeconfig", str(kubeconfig)]
    if namespace is not None:
        args += ["-n", namespace]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    if gateway is not None:
        args += ["--gateway", gateway]
    if keep:
        args.append("--keep")
    if output != "text":
        args += ["-o", output]
    if yes:
        args.append("--yes")
    if step_by_step:
        args.append("--step-by-step")
    return args


def _key() -> str | None:
    """One key press from the terminal on stdin (None without termios).

    Cbreak mode set with TCSANOW, not raw mode with TCSAFLUSH: a key typed before
    the prompt appeared is kept, and Ctrl-C still interrupts.
    """
    try:
        import termios
        import tty
    except ImportError:
        return None
    import os

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        return os.read(fd, 32).decode(errors="replace")[:1]
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


class _Stop(Exception):
    """The user pressed q at a step-by-step pause."""


class _Run:
    def __init__(self, *, json_out: bool, step_by_step: bool, yes: bool, resume: list[str]):
        self.json_out = json_out
        self.step_by_step = step_by_step
        self.yes = yes
        self.resume_args = resume
        self.gateway_shown = 0  # the step whose kubectl commands set INGRESS_HOST/PORT
        self._out: Console | None = None

    @property
    def out(self) -> Console:
        if self._out is None:
            from kn_walk.render import console

            self._out = console()
        return self._out

    def resume(self, number: int) -> str:
        return " ".join(shlex.quote(a) for a in [*self.resume_args, "--from", str(number)])

    def say(self, text: str = "") -> None:
        if not self.json_out:
            self.out.print(text, markup=False, highlight=False)

    # -- the whole run ------------------------------------------------------------------

    def main(
        self,
        *,
        context: str | None,
        kubeconfig: Path | None,
        namespace: str | None,
        state_dir: Path | None,
        from_step: int,
        keep: bool,
        wait_timeout: float,
        gateway: Gateway | None,
        chapter: str,
    ) -> None:
        from kn_walk import tour as core

        t0 = time.monotonic()
        if context is None:
            from kn_walk.sandbox.control import default_state_dir

            sdir = (state_dir or default_state_dir()).expanduser().absolute()
            kube, where = core.open_sandbox(
                sdir, kubeconfig_path=kubeconfig, namespace=namespace, timeout=wait_timeout
            )
        else:
            kube, where = core.open_context(
                context, kubeconfig_path=kubeconfig, namespace=namespace, timeout=wait_timeout
            )
        with kube:
            walk = core.Tour(
                kube, where, keep=keep, wait_timeout=wait_timeout, gateway=gateway, chapter=chapter
            )
            walk.check_chapter()
            self.intro(walk)
            if context is not None:
                self.confirm(
                    f"Run the tour on context {where.context!r} ({where.server}), namespace "
                    f"{where.namespace!r}? It creates, changes and "
                    + ("keeps" if keep else "deletes")
                    + f" Knative Service {walk.service!r}.",
                    "running the tour on a cluster other than the sandbox",
                )
            cleaned = self.clean_start(walk, from_step)
            walk.require_existing(from_step)
            if self.json_out:
                self.emit(walk.prepare_result(cleaned).as_dict())
            number = from_step
            try:
                for number in range(from_step, walk.last + 1):
                    self.step(walk, walk.info(number))
            except _Stop:
                if self.json_out:  # stdout holds only the steps' JSON lines
                    sys.stderr.write(f"Stopped before step {number}. Resume with:\n")
                    sys.stderr.write(self.resume(number) + "\n")
                    return
                self.say()
                self.say(f"Stopped before step {number}. Resume with:")
                self.print_command(self.resume(number))
                return
            except core.StepFailed as exc:
                self.failed(walk, exc)
            except KeyboardInterrupt:
                raise KnwalkError(
                    f"interrupted during step {number} of {walk.last}",
                    f"resume with `{self.resume(number)}`",
                    exit_code=130,
                ) from None
        self.outro(walk, from_step, time.monotonic() - t0)

    def intro(self, walk: Tour) -> None:
        from kn_walk.render import key_values

        if self.json_out:
            return
        w = walk.where
        if walk.chapter == "canary":
            self.say(f"knwalk tour, canary chapter: a gated rollout in {walk.last} steps.")
        else:
            self.say(f"knwalk tour: the Knative Serving walkthrough in {walk.last} steps.")
        self.say()
        if w.sandbox is not None:
            if w.started:
                self.say(
                    f"Started the local sandbox (pid {w.sandbox.pid}); context {w.context} is "
                    f"now current in {w.kubeconfig_written}."
                )
            else:
                self.say(f"Using the running local sandbox (pid {w.sandbox.pid}).")
            rows = [("API", w.sandbox.api), ("Gateway", w.sandbox.gateway)]
        else:
            self.say(f"Running on context {w.context}.")
            rows = [("API", w.server)]
        rows.append(("Namespace", w.namespace))
        self.out.print(key_values(rows))

    def confirm(self, question: str, what: str) -> None:
        if self.yes:
            return
        if not sys.stdin.isatty():
            raise UsageError(f"{what} needs confirmation and stdin is not a terminal", "pass --yes")
        if not typer.confirm(question, default=False, err=True):
            raise KnwalkError("nothing was changed: you said no", "pass --yes to skip the question")

    def clean_start(self, walk: Tour, from_step: int) -> bool:
        if from_step != 1:
            return False
        existing = walk.existing()
        if existing is None:
            return False
        where = f"namespace {walk.kube.namespace!r} (context {walk.kube.context})"
        self.confirm(
            f"Knative Service {walk.service!r} already exists in {where}, maybe from an "
            "earlier tour. Delete it, with its Revisions and Route, and start clean?",
            f"deleting the existing Service {walk.service!r}",
        )
        self.say(f"Deleting the existing Service {walk.service!r} to start clean ...")
        walk.clean()
        return True

    # -- one step -----------------------------------------------------------------------

    def step(self, walk: Tour, info: StepInfo) -> None:
        from rich.rule import Rule
        from rich.text import Text

        from kn_walk import tour as core

        if not self.json_out:
            self.out.print()
            title = f"Step {info.number} of {walk.last}: {info.title}"
            self.out.print(Rule(Text(title), align="left", characters="─"))
            self.out.print(Text(info.concept))
        if self.step_by_step:
            self.pause(info)
        if not self.json_out:
            command = walk.command(info.number)
            if command:
                self.out.print()
                self.print_command("$ " + command.replace("\n", "\n  "))
        result = walk.run(info.number, on_progress=None if self.json_out else self.progress)
        if self.json_out:
            self.emit(result.as_dict())
            return
        self.out.print()
        _RENDER[info.name](self.out, result)
        self.say(f"✓ Step {info.number} done in {result.seconds:.2f}s.")
        self.out.print()
        self.say("Same with kubectl" + (" and curl:" if "curl" in info.name else ":"))
        commands = list(result.kubectl)
        lookups = [c for c in commands if c.startswith(core.GATEWAY_VARIABLES)]
        if lookups and self.gateway_shown:
            commands = [c for c in commands if c not in lookups]
            self.say(f"(with INGRESS_HOST and INGRESS_PORT set as in step {self.gateway_shown})")
        elif lookups:
            self.gateway_shown = info.number
        for i, cmd in enumerate(commands):
            if i and ("\n" in cmd or "\n" in commands[i - 1]):
                self.out.print()
            self.print_command(cmd)

    def progress(self, text: str) -> None:
        self.say("  " + text)

    def print_command(self, text: str) -> None:
        from kn_walk.render import print_text

        sys.stdout.flush()
        self.out.file.flush()
        print_text(text)

    def pause(self, info: StepInfo) -> None:
        prompt = f"Enter: run step {info.number} ({info.title})   q: stop "
        sys.stdout.flush()
        sys.stderr.write(prompt)
        sys.stderr.flush()
        if sys.stdin.isatty():
            while True:
                key = _key()
                if key is None:
                    break  # no termios: read a line instead
                if key in ("\r", "\n"):
                    sys.stderr.write("\n")
                    return
                if key in ("q", "Q", "\x1b", ""):
                    sys.stderr.write("q\n")
                    raise _Stop
        line = sys.stdin.readline()
        if not line or line.strip().lower().startswith("q"):
            sys.stderr.write("\n")
            raise _Stop

    def emit(self, data: dict[str, Any]) -> None:
        from kn_walk.tour import dump_line

        sys.stdout.write(dump_line(data) + "\n")
        sys.stdout.flush()

    def failed(self, walk: Tour, exc: Any) -> None:
        number = exc.step.number
        resume = self.resume(number)
        if self.json_out:
            self.emit(
                {
                    "step": number,
                    "name": exc.step.name,
                    "title": exc.step.title,
                    "command": walk.command(number),
                    "error": {"message": exc.message, "hint": exc.hint},
                    "resume": None if exc.restart else resume,
                }
            )
        if exc.restart:
            again = " ".join(shlex.quote(a) for a in self.resume_args)
            way_on = f"start over with `{again}` (it deletes the app first)"
        else:
            way_on = f"then resume with `{resume}`"
        hint = f"{exc.hint}; {way_on}" if exc.hint else f"fix the cause, {way_on}"
        raise KnwalkError(exc.message, hint) from None

    def outro(self, walk: Tour, from_step: int, seconds: float) -> None:

        if self.json_out:
            return
        w = walk.where
        steps = walk.last - from_step + 1
        self.out.print()
        self.out.print("─" * min(self.out.width, 80))
        self.say(f"Tour complete: {steps} step{'s' if steps > 1 else ''} in {seconds:.2f}s.")
        if walk.keep:
            self.say(
                f"The Service {walk.service} is still there (--keep): `knwalk status` shows "
                "it, `knwalk delete` removes it (with the options in the commands above)."
            )
        if w.sandbox is not None:
            self.say("The sandbox keeps running (knwalk sandbox down stops it).")
            self.say(
                "Next, on a real cluster: knwalk cluster create, knwalk install, then "
                "knwalk tour --context CONTEXT (see the README)."
            )


# --------------------------------------------------------------------------- rendering


def _objects(out: Console, result: StepResult) -> None:
    """The four objects of a status document, one row each (fits 80 columns)."""
    from kn_walk.render import grid

    doc = result.result["status"]
    rows: list[tuple[str, ...]] = [
        ("Service", doc["name"], doc["ready"], f"generation {doc['generation']}"),
        (
            "Configuration",
            doc["name"],
            doc["ready"],
            f"latest revision {doc['latestCreatedRevision']}",
        ),
    ]
    for rev in doc["revisions"]:
        detail = f"TARGET={rev['target']}, {rev['percent']}% of traffic"
        rows.append(("Revision", rev["name"], rev["ready"], detail))
    routed = "\n".join(_target(t) for t in doc["traffic"]) or "no traffic yet"
    rows.append(("Route", doc["name"], doc["ready"], routed))
    out.print(grid(["KIND", "NAME", "READY", ""], rows))
    out.print(f"URL: {doc['url']}", markup=False, highlight=False)


def _target(t: dict[str, Any]) -> str:
    from kn_walk.graph import traffic_label

    return traffic_label(t["percent"], t["revisionName"], t["latestRevision"], t["tag"])


def _deploy_v1(out: Console, result: StepResult) -> None:
    _objects(out, result)


def _deploy_v2(out: Console, result: StepResult) -> None:
    _objects(out, result)
    r = result.result
    if r["previous"]:
        out.print()
        out.print(
            f"{r['revision']} is new; {r['previous']} is still there, unchanged, "
            "with no traffic: the Route moved to the latest ready Revision.",
            markup=False,
            highlight=False,
        )


def _curl(out: Console, result: StepResult) -> None:
    from kn_walk.render import key_values, show_body

    r = result.result
    out.print(
        key_values(
            [
                ("Gateway", f"{r['gateway']} ({r['gatewaySource']})"),
                ("Host", r["host"]),
                ("Status", r["status"]),
                ("Body", show_body(r["body"], 60)),
            ]
        )
    )


def _split(out: Console, result: StepResult) -> None:
    from kn_walk.cli.printers import traffic_table
    from kn_walk.knative import TrafficTarget

    r = result.result
    traffic_table(out, [TrafficTarget.from_obj(t) for t in r["traffic"]], r["spec"])


def _curl_split(out: Console, result: StepResult) -> None:
    from kn_walk.cli.printers import responses_table, verdict_line
    from kn_walk.render import grid, key_values, show_body

    r = result.result
    doc = r["requests"]
    out.print(
        key_values(
            [
                ("Host", doc["host"]),
                (
                    "Requests",
                    f"{doc['count']} (concurrency {doc['concurrency']}): {doc['ok']} ok, "
                    f"{doc['failed']} failed, {doc['elapsedSeconds']:.2f}s",
                ),
            ]
        )
    )
    out.print()
    responses_table(
        out,
        [
            (row["body"], row["count"], row["observedPercent"], row["expectedPercent"])
            for row in doc["responses"]
        ],
    )
    verdict = doc["verdict"]
    if verdict is not None:
        verdict_line(out, verdict["consistent"], verdict["pValue"])
    out.print()
    tag_rows = [
        (t["tag"], t["revision"] or "-", show_body(t["body"] or t["failure"] or "", 28))
        for t in r["tags"]
    ]
    out.print(grid(["TAG URL", "REVISION", "ANSWER"], tag_rows))


def _summary(out: Console, result: StepResult) -> None:
    """The graph of step 7 (:mod:`kn_walk.cli.graph_view`), each Revision with its TARGET
    and tags, then a line on each of the objects that make scaling and routing work."""
    from kn_walk.cli.graph_view import print_graph
    from kn_walk.graph import EXPLAIN

    revisions = {rev["name"]: rev for rev in result.result["status"]["revisions"]}

    def annotate(node: Mapping[str, Any]) -> tuple[str, str | None]:
        rev = revisions.get(node["name"]) if node["kind"] == "Revision" else None
        if rev is None:
            return "", None
        tags = f"  tags {','.join(rev['tags'])}" if rev["tags"] else ""
        return f"  TARGET={rev['target']}{tags}", None

    drawn = result.result["graph"]
    print_graph(out, drawn, annotate)
    out.print()
    kinds = {n["kind"] for n in drawn["nodes"] if not n["missing"]}
    for key, kind in (
        ("queue-proxy", "Deployment"),
        ("scale-to-zero", "ServerlessService"),
        ("net-istio", "VirtualService"),
    ):
        if kind in kinds:
            out.print(EXPLAIN[key], markup=False, highlight=False)
    out.print(
        "A request: Host header → gateway → Route → a Revision, by percent (or by tag URL).",
        markup=False,
        highlight=False,
    )


def _cleanup(out: Console, result: StepResult) -> None:
    r = result.result
    owned = r["owned"]
    parts = (
        f"{_count(owned['configurations'], 'Configuration')}, "
        f"{_count(owned['revisions'], 'Revision')} and {_count(owned['routes'], 'Route')}"
    )
    if r["kept"]:
        text = f"Kept (--keep): the Service, {parts}."
    else:
        left = sum(r["remaining"].values())
        text = f"Deleted Service {r['deleted']}; {parts} went with it ({left} left)."
    out.print(text, markup=False, highlight=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _rollout(out: Console, result: StepResult) -> None:
    """A canary rollout: each step's numbers on the candidate, then how it ended."""
    from kn_walk.render import grid

    r = result.result
    rows = []
    for step in r["steps"]:
        cand = step["requests"]["candidate"]
        p99 = (cand["latency"] or {}).get("p99")
        split = step["split"]["verdict"]
        rows.append(
            (
                step["step"],
                f"{step['percent']}%",
                cand["count"],
                f"{100 * cand['errorRate']:.1f}%",
                "-" if p99 is None else f"{p99:.3g}",
                "-" if split is None else "ok" if split["consistent"] else "NOT ok",
                "passed" if step["passed"] else "FAILED",
            )
        )
    out.print(grid(["STEP", "PCT", "CANDIDATE", "ERRORS", "P99 MS", "SPLIT", "GATES"], rows))
    state = r["rollout"]
    out.print(f"Rollout {state['message']}.", markup=False, highlight=False)
    if r["error"] is not None:
        out.print(f"knwalk rollout says: {r['error']['hint']}", markup=False, highlight=False)


_RENDER = {
    "deploy-v1": _deploy_v1,
    "curl-v1": _curl,
    "deploy-v2": _deploy_v2,
    "curl-v2": _curl,
    "split": _split,
    "curl-split": _curl_split,
    "summary": _summary,
    "cleanup": _cleanup,
    "canary-v1": _deploy_v1,
    "canary-bad": _rollout,
    "canary-good": _rollout,
    "canary-cleanup": _cleanup,
}
