"""``knwalk install|uninstall|doctor``: Knative Serving from pinned release manifests.

The commands parse options, call :mod:`kn_walk.manifests` and
:mod:`kn_walk.install`, and render their events: download progress, one line
per object created or changed, a live table of Deployments while waiting, and
the result. Heavy imports (kubernetes, httpx) happen inside the commands.

Machine-readable output (``-o json|yaml``), stable:

``install -o json|yaml``
    ``{"context", "servingVersion", "ingress", "ingressVersion", "istioVersion",
    "ingressClass", "changed", "steps": [{"name", "title", "created",
    "configured", "unchanged"}], "deployments": [...], "gateway": {"service",
    "address", "url"}, "domain"}``. With ``--dry-run``: the plan
    (``{"servingVersion", ..., "files": [...], "steps": [{"name", "title",
    "fieldManager", "kubectl", "objects": [...]}], "waits": {...}}``).
``uninstall -o json|yaml``
    ``{"context", "delete": [...], "deletedWithTheirNamespace", "kept": [...],
    "keptNamespaces", "userServicesDeletedWithTheCRDs", "deleted": int}``.
``doctor -o json|yaml``
    ``{"context", "ok", "checks": [{"check", "status", "detail", "hint"}]}``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kn_walk.cli.common import ContextOpt, KnwalkCommand, KubeconfigOpt
from kn_walk.cli.index import short_help
from kn_walk.errors import KnwalkError, UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.progress import Progress, TaskID

    from kn_walk import install as I
    from kn_walk import manifests as M


def register(app: typer.Typer) -> None:
    """Add ``install``, ``uninstall`` and ``doctor`` to the root ``knwalk`` app."""
    for fn, name in ((install, "install"), (uninstall, "uninstall"), (doctor, "doctor")):
        app.command(name, cls=KnwalkCommand, short_help=short_help(name))(fn)


# --------------------------------------------------------------------------- options

ManifestsOpt = Annotated[
    str | None,
    typer.Option(
        "--manifests",
        help="Read the release files from a folder or a mirror URL (air-gapped clusters).",
        metavar="DIR|URL",
        show_default=False,
    ),
]
WaitTimeoutOpt = Annotated[
    float,
    typer.Option("--wait-timeout", help="Seconds to wait before giving up.", min=1, max=86400),
]
YesOpt = Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table, json or yaml.")]


def _output(value: str) -> str:
    if value not in ("table", "json", "yaml"):
        raise UsageError(
            f"-o/--output {value!r} is not supported here", "use one of: table, json, yaml"
        )
    return value


def _out() -> Console:
    from kn_walk.render import console

    return console()


def _say(out: Console, text: str = "") -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _confirm(question: str, *, yes: bool, required: bool) -> None:
    """Ask on a terminal; without one, ``required`` confirmations need --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        if required:
            raise UsageError(
                "this deletes objects, and there is no terminal to confirm on",
                "pass --yes to confirm",
            )
        return
    if not typer.confirm(question, default=False):
        raise KnwalkError("aborted: nothing was changed", "run again and answer y to proceed")


# --------------------------------------------------------------------------- install


def install(
    serving_version: Annotated[
        str,
        typer.Option("--serving-version", help="Knative Serving release to install."),
    ] = "1.22.1",
    ingress: Annotated[
        str, typer.Option("--ingress", help="Networking layer: istio or kourier.")
    ] = "istio",
    domain: Annotated[
        str,
        typer.Option(
            "--domain",
            help="Domain of Route URLs: DOMAIN, sslip.io (<gateway-ip>.sslip.io) or none.",
        ),
    ] = "example.com",
    manifests: ManifestsOpt = None,
    wait_timeout: WaitTimeoutOpt = 600.0,
    force_conflicts: Annotated[
        bool,
        typer.Option(
            "--force-conflicts",
            help="Take over fields another field manager owns (server-side apply --force).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the objects of each step and the kubectl commands; change nothing.",
        ),
    ] = False,
    yes: YesOpt = False,
    output: OutputOpt = "table",
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Install Istio or Kourier plus Knative Serving from pinned release manifests.

    Applies the release files with server-side apply (field manager knwalk) in the order of the Knative docs, waits until every Deployment is Available and the gateway has an address, and sets the domain. Re-running is safe: unchanged objects stay unchanged. Against the sandbox, Knative Serving is built in and nothing is installed unless --manifests is given.

    Downloads are cached in $XDG_CACHE_HOME/knwalk/manifests/VERSION/; each file's sha256 is pinned there on first download and checked on every later use.
    """
    from kn_walk import install as I
    from kn_walk import manifests as M

    fmt = _output(output)
    release = M.release_for(serving_version, from_manifests=manifests is not None)
    net = M.parse_ingress(ingress)
    dom = M.parse_domain(domain)
    source = M.parse_source(manifests)
    prefix = I.kubectl_prefix(kubeconfig, context)
    out = _out()
    quiet = fmt != "table"
    if dry_run:
        _install_dry_run(
            out,
            fmt,
            release,
            net,
            dom,
            source,
            prefix,
            force_conflicts,
            wait_timeout,
            kubeconfig,
            context,
        )
        return
    with I.connect(kubeconfig, context) as kube:
        sandbox = I.is_sandbox(kube)
        if sandbox and manifests is None:
            _builtin(out, kube.context, fmt, I.installed(kube).serving_version)
            return
        if not quiet:
            _say(out, _headline("Installing", release, net, kube.context))
        files = _fetch(out, release, net, source, quiet)
        plan = M.plan_install(
            release, net, dom, source, files, kubectl_prefix=prefix, force_conflicts=force_conflicts
        )
        if sandbox and not quiet:
            _say(
                out,
                "Note: the sandbox reports Deployments Available without running their images.",
            )
        _confirm(
            f"Apply {len(plan.objects)} objects in {len(plan.steps)} steps to context "
            f"'{kube.context}'?",
            yes=yes,
            required=False,
        )
        view = _InstallView(out, quiet)
        try:
            result = I.install(
                kube,
                plan,
                force_conflicts=force_conflicts,
                wait_timeout=wait_timeout,
                on_event=view,
            )
        except I.ApplyConflicts as exc:
            view.close()
            if not quiet:
                _print_conflicts(out, exc)
            raise
        finally:
            view.close()
    if quiet:
        from kn_walk.render import emit

        emit(result.document(), fmt)
        return
    _install_summary(out, result)


def _headline(verb: str, release: M.Release, ingress: str, context: str) -> str:
    return f"{verb} Knative Serving {release.serving} with {_layer(release, ingress)} in context '{context}'"


def _layer(release: M.Release, ingress: str) -> str:
    if ingress == "istio":
        istio = f"Istio {release.istio}" if release.istio else "Istio"
        return f"{istio} (net-istio {release.net_istio})"
    return f"Kourier (net-kourier {release.net_kourier})"


def _builtin(out: Console, context: str, fmt: str, version: str | None) -> None:
    if fmt != "table":
        from kn_walk.render import emit

        emit(
            {"context": context, "builtin": True, "servingVersion": version, "changed": False},
            fmt,
        )
        return
    semantics = f", Knative Serving {version} semantics" if version else ""
    _say(
        out,
        f"Knative Serving is built into the sandbox (context '{context}'{semantics}): "
        "nothing to install, nothing changed.",
    )
    _say(
        out,
        "To exercise the installer against it, pass the release files with --manifests DIR|URL.",
    )
    _say(out, "Next: knwalk deploy")


def _fetch(
    out: Console, release: M.Release, ingress: str, source: M.Source, quiet: bool
) -> list[M.Fetched]:
    from kn_walk import manifests as M

    progress = _DownloadProgress(out, quiet)
    try:
        files = M.fetch(release, ingress, source, on_event=progress)
    finally:
        progress.close()
    if not quiet:
        _say(out, f"Manifests from {source.describe()}:")
        for f in files:
            how = "cached" if f.cached else "read" if source.kind == "dir" else "downloaded"
            check = (
                "verified" if f.pinned else "pinned now" if source.kind != "dir" else "not pinned"
            )
            _say(out, f"  {f.name:<18} {how:<10} sha256 {f.sha256[:16]}… ({check})")
    return files


class _DownloadProgress:
    """A rich progress bar per download on a terminal; silent otherwise (files are listed after)."""

    def __init__(self, out: Console, quiet: bool) -> None:
        self.out = out
        self.enabled = not quiet and out.is_terminal
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, event: M.DownloadEvent) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=self.out,
                transient=True,
            )
            self.progress.start()
        if event.phase in ("start", "progress", "done"):
            task = self.tasks.get(event.name)
            if task is None:
                task = self.progress.add_task(event.name, total=event.total)
                self.tasks[event.name] = task
            self.progress.update(task, completed=event.done, total=event.total)
        elif event.phase in ("retry", "repair"):
            self.progress.console.print(f"  {event.name}: {event.detail}", markup=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class _InstallView:
    """Renders install/uninstall events: step lines, a live Deployments table, the gateway."""

    def __init__(self, out: Console, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.rows: tuple[I.DeploymentRow, ...] | None = None
        self.live: Live | None = None
        self.table_done = False
        self.gateway_said = False

    def __call__(self, event: I.Event) -> None:
        if self.quiet:
            return
        from kn_walk import install as I

        if isinstance(event, I.DeploymentsUpdate):
            self._rows(event.rows)
            return
        self._end_table()
        if isinstance(event, I.StepStarted):
            _say(self.out, f"{event.number}/{event.total} {event.step.title}")
        elif isinstance(event, I.ObjectApplied):
            if event.outcome != I.UNCHANGED:
                _say(self.out, f"    {event.outcome:<10} {event.obj.ref}")
        elif isinstance(event, I.StepDone):
            _say(self.out, f"    {_counts(event.counts)}")
        elif isinstance(event, I.CrdsWaiting):
            _say(self.out, f"    waiting for {len(event.pending)} CRD(s) to be Established")
        elif isinstance(event, I.GatewayUpdate):
            where = f"{event.namespace}/{event.name}"
            if event.address:
                _say(self.out, f"Gateway {where} has address {event.address}")
            elif not self.gateway_said:
                why = "" if event.exists else " (it does not exist yet)"
                _say(self.out, f"Waiting for the gateway {where} to get an external address{why}…")
                self.gateway_said = True
        elif isinstance(event, I.ObjectDeleted):
            _say(self.out, f"    {'deleted' if event.gone else 'already gone':<12} {event.obj.ref}")
        elif isinstance(event, I.DeletionWaiting):
            _say(self.out, f"Waiting for {len(event.pending)} namespace(s) and CRD(s) to be gone")

    def _table(self) -> Any:
        from kn_walk.render import grid

        rows = [
            (r.namespace, r.name, r.ready_text, "Available" if r.ok else r.reason)
            for r in self.rows or ()
        ]
        return grid(["NAMESPACE", "DEPLOYMENT", "READY", "STATUS"], rows)

    def _rows(self, rows: tuple[I.DeploymentRow, ...]) -> None:
        if self.rows is None:
            _say(self.out, "Waiting for the Deployments to be Available:")
        self.rows = rows
        if self.out.is_terminal:
            from rich.live import Live

            if self.live is None:
                self.live = Live(self._table(), console=self.out, auto_refresh=False)
                self.live.start()
            self.live.update(self._table(), refresh=True)

    def _end_table(self) -> None:
        if self.rows is None or self.table_done:
            return
        self.table_done = True
        if self.live is not None:
            self.live.update(self._table(), refresh=True)
            self.live.stop()
            self.live = None
        else:
            self.out.print(self._table())

    def close(self) -> None:
        self._end_table()


def _objects(out: Console, objects: Sequence[M.ManifestObject]) -> None:
    """KIND / NAMESPACE / NAME columns as plain lines (long CRD names stay whole for grep)."""
    rows = [("KIND", "NAMESPACE", "NAME")] + [(o.kind, o.namespace or "", o.name) for o in objects]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for kind, namespace, name in rows:
        _say(out, f"  {kind:<{widths[0]}}  {namespace:<{widths[1]}}  {name}")


def _counts(counts: dict[str, int]) -> str:
    from kn_walk import install as I

    total = sum(counts.values())
    if not counts.get(I.CREATED) and not counts.get(I.CONFIGURED):
        return f"up to date ({total} object{'s' if total != 1 else ''})"
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n)


def _print_conflicts(out: Console, exc: I.ApplyConflicts) -> None:
    """One line per conflicting field, under the step (the error itself goes to stderr)."""
    for c in exc.conflicts:
        _say(out, f"    conflict   {c.obj.ref} {c.field} (owned by {c.manager})")
    _say(out, f"    {exc.applied} applied, {len(exc.conflicts)} conflicting field(s)")


def _install_summary(out: Console, result: I.InstallResult) -> None:
    from kn_walk.render import key_values

    plan = result.plan
    _say(out)
    _say(
        out,
        f"Knative Serving {plan.release.serving} is installed in context '{result.context}', "
        f"with {_layer(plan.release, plan.ingress)}.",
    )
    gw = "/".join(plan.gateway)
    rows: list[tuple[str, Any]] = [
        ("Gateway", f"{gw} at {result.gateway_address} ({result.gateway_url})"),
        ("Ingress class", plan.ingress_class),
        ("Domain", result.domain or "not set (--domain none): Knative's default"),
    ]
    out.print(key_values(rows))
    if not result.changed:
        _say(out, "Everything was up to date: nothing changed.")
    _say(out, "Next: knwalk deploy   (then: knwalk curl)")


def _install_dry_run(
    out: Console,
    fmt: str,
    release: M.Release,
    ingress: str,
    domain: str,
    source: M.Source,
    prefix: str,
    force: bool,
    timeout: float,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    from kn_walk import install as I
    from kn_walk import manifests as M
    from kn_walk.render import emit

    ctx: str | None = None
    try:
        ctx, sandbox = I.is_sandbox_context(kubeconfig, context)
    except KnwalkError:
        sandbox = False  # a dry run needs no cluster
    if sandbox and source.kind == "release":
        _builtin(out, ctx or "", fmt, None)
        return
    quiet = fmt != "table"
    files = _fetch(out, release, ingress, source, True)
    plan = M.plan_install(
        release, ingress, domain, source, files, kubectl_prefix=prefix, force_conflicts=force
    )
    waits = I.wait_commands(plan, prefix, timeout)
    if quiet:
        doc = plan.document()
        doc["waitCommands"] = waits
        emit(doc, fmt)
        return
    where = f" in context '{ctx}'" if ctx else ""
    _say(out, f"Dry run: nothing is sent to the cluster{where}.")
    _say(
        out,
        _headline("Would install", release, ingress, ctx or "(none)").replace(
            " in context '(none)'", ""
        ),
    )
    _say(
        out,
        f"Manifests from {source.describe()}"
        + (f" (cache {M.cache_root() / release.serving})" if source.kind != "dir" else "")
        + ":",
    )
    for f in files:
        _say(out, f"  {f.name:<18} sha256 {f.sha256}")
    for number, step in enumerate(plan.steps, 1):
        _say(out)
        _say(out, f"Step {number}/{len(plan.steps)}: {step.title} (field manager {step.manager})")
        _say(out, f"  $ {step.kubectl}")
        _objects(out, step.objects)
    _say(out)
    _say(out, "Then wait (CRDs before the objects that use them), as kubectl would:")
    for cmd in waits:
        _say(out, f"  $ {cmd}")


# --------------------------------------------------------------------------- uninstall


def uninstall(
    serving_version: Annotated[
        str | None,
        typer.Option(
            "--serving-version",
            help="Release to remove [default: the installed one, from its labels].",
            show_default=False,
        ),
    ] = None,
    ingress: Annotated[
        str | None,
        typer.Option(
            "--ingress",
            help="Networking layer to remove [default: config-network's].",
            show_default=False,
        ),
    ] = None,
    manifests: ManifestsOpt = None,
    wait_timeout: WaitTimeoutOpt = 600.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be deleted; delete nothing.")
    ] = False,
    yes: YesOpt = False,
    output: OutputOpt = "table",
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Remove what `knwalk install` applied, in reverse order, after confirmation.

    Deletes the objects of the release files that carry knwalk's field manager; objects another tool created, and namespaces holding your Knative Services, are kept. Says what it will delete first.
    """
    from kn_walk import install as I
    from kn_walk import manifests as M
    from kn_walk.render import emit

    fmt = _output(output)
    quiet = fmt != "table"
    version = M.parse_version(serving_version) if serving_version is not None else None
    net = M.parse_ingress(ingress) if ingress is not None else None
    source = M.parse_source(manifests)
    out = _out()
    with I.connect(kubeconfig, context) as kube:
        if I.is_sandbox(kube) and manifests is None:
            _builtin_uninstall(out, kube.context, fmt)
            return
        found = I.installed(kube)
        version = version or found.serving_version
        net = net or found.ingress or M.DEFAULT_INGRESS
        if version is None:
            if quiet:
                emit({"context": kube.context, "installed": False, "deleted": 0}, fmt)
            else:
                _say(
                    out,
                    f"Knative Serving is not installed in context '{kube.context}' "
                    f"(no namespace {M.SERVING_NAMESPACE}): nothing to uninstall.",
                )
            return
        if version not in M.CATALOG and manifests is None:
            raise KnwalkError(
                f"the installed Knative Serving {version} is not in knwalk's release catalog, "
                "so knwalk does not know its files",
                "pass its release files with --manifests DIR|URL",
            )
        release = M.release_for(version, from_manifests=manifests is not None)
        files = _fetch(out, release, net, source, True)
        plan = M.plan_install(release, net, M.NO_DOMAIN, source, files)
        uplan = I.plan_uninstall(kube, plan)
        doc = {"context": kube.context, **uplan.document()}
        if not quiet:
            _say(out, _headline("Uninstalling", release, net, kube.context))
            _describe_uninstall(out, uplan)
        if uplan.empty:
            if quiet:
                emit({**doc, "deleted": 0}, fmt)
            else:
                _say(
                    out,
                    "Nothing to delete: no object of these release files was applied by knwalk.",
                )
            return
        if dry_run:
            if quiet:
                emit(doc, fmt)
                return
            _say(out)
            _say(out, "Dry run: nothing was deleted. The equivalent kubectl commands:")
            prefix = I.kubectl_prefix(kubeconfig, context)
            for f in reversed(release.files(net)):
                _say(out, f"  $ {prefix} delete --ignore-not-found -f {source.url_of(f)}")
            return
        _confirm(
            f"Delete these {len(uplan.delete)} objects from context '{kube.context}'?",
            yes=yes,
            required=True,
        )
        view = _InstallView(out, quiet)
        try:
            result = I.uninstall(kube, uplan, wait_timeout=wait_timeout, on_event=view)
        finally:
            view.close()
    if quiet:
        emit({**doc, "deleted": len(result.deleted)}, fmt)
        return
    _say(out, f"Deleted {len(result.deleted)} objects: Knative Serving is uninstalled.")


def _builtin_uninstall(out: Console, context: str, fmt: str) -> None:
    if fmt != "table":
        from kn_walk.render import emit

        emit({"context": context, "builtin": True, "deleted": 0}, fmt)
        return
    _say(
        out,
        f"Knative Serving is built into the sandbox (context '{context}'): nothing to uninstall.",
    )
    _say(out, "To start the sandbox afresh, run: knwalk sandbox reset")


def _describe_uninstall(out: Console, uplan: I.UninstallPlan) -> None:

    if uplan.delete:
        extra = (
            f" (and the {len(uplan.with_namespace)} objects of theirs inside the namespaces)"
            if uplan.with_namespace
            else ""
        )
        _say(out, f"Will delete {len(uplan.delete)} objects{extra}, in this order:")
        _objects(out, uplan.delete)
    if uplan.kept_namespaces:
        _say(
            out,
            "Kept, because Knative Services live there: namespace "
            + ", ".join(uplan.kept_namespaces),
        )
    if uplan.kept:
        _say(
            out,
            f"Kept, not applied by knwalk: {', '.join(o.ref for o in uplan.kept[:5])}"
            + (f" and {len(uplan.kept) - 5} more" if len(uplan.kept) > 5 else ""),
        )
    if uplan.user_services:
        names = ", ".join(f"{ns}/{n}" for ns, n in uplan.user_services[:5])
        more = f" and {len(uplan.user_services) - 5} more" if len(uplan.user_services) > 5 else ""
        _say(
            out,
            f"Warning: {len(uplan.user_services)} Knative Service(s) are deleted with the "
            f"services.serving.knative.dev CRD: {names}{more} (their namespaces are kept).",
        )


# --------------------------------------------------------------------------- doctor


def doctor(
    output: OutputOpt = "table",
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Check the context for the walkthrough: cluster, Knative Serving, ingress, gateway, domain.

    One line per check, ✓ or ✗ with a hint. Exits 1 if any check fails.
    """
    from kn_walk import doctor as D

    fmt = _output(output)
    report = D.doctor(kubeconfig, context)
    if fmt != "table":
        from kn_walk.render import emit

        emit(report.document(), fmt)
    else:
        out = _out()
        marks = {D.OK: "✓", D.FAIL: "✗", D.SKIP: "-"}
        width = max(len(c.name) for c in report.checks)
        for check in report.checks:
            _say(out, f"{marks[check.status]} {check.name:<{width}}  {check.detail}")
            if check.hint and check.status == D.FAIL:
                _say(out, f"  {'':<{width}}  hint: {check.hint}")
        failed = sum(1 for c in report.checks if c.status == D.FAIL)
        _say(out)
        _say(
            out,
            "All checks passed." if report.ok else f"{failed} check(s) failed.",
        )
    if not report.ok:
        raise typer.Exit(1)
