"""``knwalk deploy|status|split|curl|delete``: the walkthrough's steps on any kubeconfig context.

Each command parses its options, calls the core (:mod:`kn_walk.knative`,
:mod:`kn_walk.ingress`, :mod:`kn_walk.probe`) and renders the result. Heavy
imports (kubernetes, httpx) happen inside the commands.

Machine-readable output (``-o json|yaml``), stable:

``deploy -o json|yaml``
    The Knative Service object as the API returned it (after the wait, unless
    ``--no-wait``). With ``--dry-run``: the request body that would be sent —
    the manifest (create, ``-f``) or the JSON merge patch (update).
``status -o json|yaml``
    With NAME: one status document (see :mod:`kn_walk.knative`,
    ``status_document``). Without NAME: ``{"items": [document, ...]}``.
``split -o json|yaml``
    ``{"name": str, "namespace": str, "changed": bool, "spec": [target, ...],
    "traffic": [{"tag", "revisionName", "latestRevision", "percent", "url"}, ...]}``
    — ``spec`` is the ``spec.traffic`` block sent (or already in place),
    ``traffic`` the Route's ``status.traffic`` after the wait. With
    ``--dry-run``: the JSON merge patch that would be sent (null if none).
``curl -o json``
    The load document of :mod:`kn_walk.load` (``document``): the summary of
    :mod:`kn_walk.probe` plus latencies, status codes and the error rate.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kn_walk.cli.common import (
    ContextOpt,
    KnwalkCommand,
    KubeconfigOpt,
    NamespaceOpt,
    check_output,
    details_shown,
)
from kn_walk.cli.index import short_help
from kn_walk.cli.printers import no_services, responses_table, traffic_table, verdict_line
from kn_walk.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from kn_walk.ingress import Gateway
    from kn_walk.knative import (
        DeployOptions,
        DeployPlan,
        ServiceView,
        Snapshot,
        SplitPlan,
        TrafficTarget,
    )
    from kn_walk.kube import Kube
    from kn_walk.load import LoadProgress, LoadResult, LoadSpec
    from kn_walk.probe import Row, Verdict


def register(app: typer.Typer) -> None:
    """Add the walkthrough commands to the root ``knwalk`` app."""
    for fn, name in (
        (deploy, "deploy"),
        (status, "status"),
        (split, "split"),
        (curl, "curl"),
        (delete, "delete"),
    ):
        app.command(name, cls=KnwalkCommand, short_help=short_help(name))(fn)


# --------------------------------------------------------------------------- shared options

NameArg = Annotated[
    str | None,
    typer.Argument(
        help="Knative Service name [default: helloworld-go].", show_default=False, metavar="NAME"
    ),
]
WaitTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--wait-timeout",
        help="Seconds the whole command may take before giving up.",
        min=1,
        max=86400,
    ),
]
WAIT_TIMEOUT = "--wait-timeout"
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print the request and the equivalent kubectl command; send nothing."
    ),
]


# what deploy takes, and `knwalk rollout` too (see template_change)
ImageOpt = Annotated[
    str | None,
    typer.Option(
        "--image",
        help="Container image [new service: the helloworld-go sample].",
        show_default=False,
    ),
]
EnvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "-e", "--env", help="Set NAME=VALUE (repeatable); NAME- removes it.", show_default=False
    ),
]
EnvUnsetOpt = Annotated[
    list[str] | None,
    typer.Option("--env-unset", help="Remove variable NAME (repeatable).", show_default=False),
]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="Shortcut for -e TARGET=TEXT, what helloworld greets [new service: Go Sample v1].",
        show_default=False,
    ),
]
RevisionNameOpt = Annotated[
    str | None,
    typer.Option(
        "--revision-name",
        help="Name the new revision (SERVICE-suffix, or just the suffix).",
        show_default=False,
    ),
]
PortOpt = Annotated[
    int | None,
    typer.Option("--port", help="Container port.", min=1, max=65535, show_default=False),
]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "-f",
        "--file",
        help="Apply this Knative Service manifest (server-side apply, manager knwalk).",
        show_default=False,
    ),
]


def template_change(
    name: str | None,
    namespace: str | None,
    *,
    image: str | None,
    env: list[str] | None,
    env_unset: list[str] | None,
    target: str | None,
    revision_name: str | None,
    port: int | None,
    file: Path | None,
    show_details: bool = False,
    name_option: str = "NAME",
) -> tuple[str, DeployOptions, dict[str, Any] | None, str | None]:
    """What deploy's options ask for: (service, options, manifest from -f, namespace).

    ``name_option`` names the Service's option in errors (``NAME``, ``-s``).
    """
    from kn_walk import knative

    opts = knative.DeployOptions(
        image=knative.parse_image(image),
        env=knative.parse_env(env or [], env_unset or [], target),
        port=port,
    )
    manifest = None
    if file is not None:
        if opts or revision_name is not None:
            raise UsageError(
                "-f/--file cannot be combined with --image, -e, --env-unset, --target, "
                "--revision-name or --port",
                "put those settings in the manifest, or drop -f",
            )
        manifest = knative.read_manifest(file)
        manifest_name = manifest["metadata"]["name"]
        if name is not None and name != manifest_name:
            raise UsageError(
                f"{name_option} {name!r} differs from the manifest's metadata.name "
                f"{manifest_name!r}",
                f"omit {name_option} with -f, or make them match",
            )
        name = manifest_name
        manifest_ns = manifest["metadata"].get("namespace")
        if manifest_ns and namespace and manifest_ns != namespace:
            raise UsageError(
                f"the manifest's namespace {manifest_ns!r} differs from -n {namespace!r}",
                "drop one of them, or make them match",
            )
        namespace = namespace or manifest_ns
    service = _name(name)
    with details_shown(show_details):
        revision = knative.parse_revision_name(service, revision_name)
    return (
        service,
        knative.DeployOptions(opts.image, opts.env, opts.port, revision),
        manifest,
        namespace,
    )


def _name(value: str | None) -> str:
    from kn_walk.knative import DEFAULT_SERVICE, check_service_name

    return check_service_name(value if value is not None else DEFAULT_SERVICE)


def _connect(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    timeout: float,
    option: str,
) -> Kube:
    """A client whose every request, retry and wait ends within ``timeout`` (``option``)."""
    from kn_walk.kube import connect

    # a credential plugin runs within it too
    return connect(kubeconfig, context, namespace, timeout=timeout, timeout_option=option)


def _out() -> Console:
    from kn_walk.render import console

    return console()


def _say(out: Console, text: str = "") -> None:
    """A line of prose: no markup, no wrapping inserted (the terminal wraps it)."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- deploy


def deploy(
    name: NameArg = None,
    image: ImageOpt = None,
    env: EnvOpt = None,
    env_unset: EnvUnsetOpt = None,
    target: TargetOpt = None,
    revision_name: RevisionNameOpt = None,
    port: PortOpt = None,
    file: FileOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the new revision is ready.")
    ] = True,
    wait_timeout: WaitTimeoutOpt = 300.0,
    wait_window: Annotated[
        float,
        typer.Option(
            "--wait-window",
            help="Seconds Ready=False must last before it counts as a failure "
            "(Knative passes through transient ones).",
            min=0,
            max=3600,
        ),
    ] = 2.0,
    dry_run: DryRunOpt = False,
    output: Annotated[
        str | None,
        typer.Option(
            "-o", "--output", help="Print the Service as json or yaml instead of progress."
        ),
    ] = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Create the Knative Service, or update only what the options name (a new Revision).

    A new service gets the walkthrough's defaults (helloworld-go, TARGET=Go Sample v1). Then watch until it is Ready, printing each Ready message, and end with its URL.
    """
    from kn_walk import knative

    fmt = check_output(output, ("json", "yaml")) if output is not None else None
    service, opts, manifest, namespace = template_change(
        name,
        namespace,
        image=image,
        env=env,
        env_unset=env_unset,
        target=target,
        revision_name=revision_name,
        port=port,
        file=file,
        show_details=dry_run,
    )
    with _connect(kubeconfig, context, namespace, wait_timeout, WAIT_TIMEOUT) as kube:
        if dry_run:
            path = str(file) if file is not None else "FILE"
            plan = knative.plan_deploy(kube, service, opts, manifest, manifest_path=path)
            _deploy_dry_run(plan, fmt)
            return
        _deploy(kube, service, opts, manifest, wait, wait_timeout, wait_window, fmt)


def _deploy_dry_run(plan: DeployPlan, fmt: str | None) -> None:
    from kn_walk.render import dump_yaml, emit, print_text

    if fmt:
        emit(plan.body, fmt)
        return
    where = f"service '{plan.name}' in namespace '{plan.namespace}'"
    if plan.action == "unchanged":
        print_text(f"Dry run: no change; {where} already runs this template. Nothing to send.")
        return
    verb = {"create": "create", "update": "update", "apply": "apply"}[plan.action]
    kind = "JSON merge patch" if plan.action == "update" else "manifest"
    print_text(f"Dry run: would {verb} {where}; nothing was sent.\n")
    print_text(f"# {kind}\n" + dump_yaml(plan.body))
    stdin = "  (the manifest above on stdin)" if plan.action == "create" else ""
    print_text(f"# equivalent kubectl command{stdin}\n{plan.kubectl}")


def _deploy(
    kube: Kube,
    service: str,
    opts: DeployOptions,
    manifest: dict[str, Any] | None,
    wait: bool,
    wait_timeout: float,
    wait_window: float,
    fmt: str | None,
) -> None:
    from kn_walk import knative
    from kn_walk.render import emit, print_text

    if fmt is not None:  # no progress, just the Service (and no rich)
        done = knative.deploy(
            kube,
            service,
            opts,
            manifest=manifest,
            wait=wait,
            timeout=wait_timeout,
            window=wait_window,
        )
        emit(done.service.raw, fmt)
        return
    out = _out()
    where = f"service '{service}' in namespace '{kube.namespace}'"

    said: dict[str, bool] = {"unchanged": False, "progress": False}

    def no_new_revision(svc: knative.ServiceView) -> None:
        rev = svc.latest_created or svc.latest_ready
        _say(out, f"No new revision: {where} already runs this template (latest revision '{rev}').")
        said["unchanged"] = True

    def on_plan(plan: knative.DeployPlan) -> None:
        if plan.action == "unchanged":
            if plan.current is not None:
                no_new_revision(plan.current)
            return
        verb = {"create": "Creating", "update": "Updating", "apply": "Applying"}[plan.action]
        _say(out, f"{verb} {where}:")
        if wait:
            out.print()

    def on_progress(elapsed: float, cond: knative.Condition) -> None:
        if said["unchanged"] and not said["progress"] and cond.status == "True":
            return  # nothing was rolling out: "available at" below says it all
        text = cond.message or ("Ready to serve." if cond.status == "True" else cond.reason)
        if text:
            said["progress"] = True
            _say(out, f"{elapsed:7.2f}s {text}")

    result = knative.deploy(
        kube,
        service,
        opts,
        manifest=manifest,
        wait=wait,
        timeout=wait_timeout,
        window=wait_window,
        on_plan=on_plan,
        on_progress=on_progress,
    )
    svc = result.service
    if result.action == "unchanged":
        if not said["unchanged"]:
            no_new_revision(svc)
        if svc.ready_status != "True":
            # not waited for (--no-wait): say how it is, never that it is available
            why = svc.ready.describe() if svc.ready else "no Ready condition yet"
            _say(out, f"Service '{service}' is not ready: {why}")
            _say(out, f"Not waiting for it (see `knwalk status {service}`).")
            return
        if svc.url:
            _say(out, f"Service '{service}' is available at URL:")
    elif result.ready is None:
        out.print()
        _say(
            out,
            f"Service '{service}' {result.action}; not waiting for it to become ready "
            f"(see `knwalk status {service}`).",
        )
    else:
        out.print()
        if result.latest_percent == 0:
            _say(
                out,
                f"Note: the traffic split pins revisions; '{result.revision}' gets no traffic "
                "until `knwalk split @latest` (or a split naming it).",
            )
        if not result.new_revision:
            _say(out, f"No new revision: the template of {where} did not change.")
        _say(
            out,
            f"Service '{service}' {result.action} to latest revision '{result.revision}' "
            "is available at URL:",
        )
    if svc.url:
        print_text(svc.url)


# --------------------------------------------------------------------------- status


def status(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Knative Service name [default: every Service in the namespace].",
            show_default=False,
            metavar="NAME",
        ),
    ] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table, json or yaml.")] = "table",
    all_namespaces: Annotated[
        bool, typer.Option("-A", "--all-namespaces", help="Every Service in every namespace.")
    ] = False,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph",
            help="Every object Knative, Kubernetes and the networking layer made for the "
            "Service, as a tree: owners, references, readiness, where the chain breaks.",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds the whole command may take before giving up.",
            min=1,
            max=86400,
        ),
    ] = 60.0,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Show a Service, its Revisions and its Route's traffic, and any condition not True."""
    from kn_walk import knative
    from kn_walk.kube import ALL_NAMESPACES
    from kn_walk.render import emit

    fmt = check_output(output, ("table", "json", "yaml"))
    if all_namespaces and name is not None:
        raise UsageError(
            "-A/--all-namespaces lists every Service; it takes no NAME", "drop NAME or -A"
        )
    if all_namespaces and namespace is not None:
        raise UsageError("-A/--all-namespaces and -n/--namespace conflict", "give only one of them")
    service = _name(name) if name is not None else None
    with _connect(kubeconfig, context, namespace, timeout, "--timeout") as kube:
        if graph:
            from kn_walk.cli.graph_view import show

            return show(kube, service, fmt, all_namespaces)
        if service is not None:
            snap = knative.snapshot(kube, service)
            if fmt != "table":
                emit(knative.status_document(snap), fmt)
                return
            _print_snapshot(_out(), snap)
            return
        snaps = knative.snapshots(kube, ALL_NAMESPACES if all_namespaces else None)
    if fmt != "table":
        emit({"items": [knative.status_document(s) for s in snaps]}, fmt)
        return
    out = _out()
    if not snaps:
        no_services(out, all_namespaces, kube.namespace)
        return
    for i, snap in enumerate(snaps):
        if i:
            out.print()
        _print_snapshot(out, snap)


def _print_snapshot(out: Console, snap: Snapshot) -> None:
    from kn_walk import knative
    from kn_walk.knative_rules.traffic import revision_ref
    from kn_walk.render import age, grid, key_values, tree

    doc = knative.status_document(snap)
    svc = snap.service
    ready = svc.ready
    state = ready.status if ready else "Unknown"
    if ready and ready.reason:
        state += f" ({ready.reason})"
    rows: list[tuple[str, Any]] = [
        ("URL", svc.url or "(none yet)"),
        ("Ready", state),
        ("Latest", f"created {svc.latest_created or '-'}, ready {svc.latest_ready or '-'}"),
        ("Generation", f"{svc.generation} (observed {svc.observed_generation})"),
    ]
    out.print(key_values(rows, title=f"Service {svc.name} in namespace {svc.namespace}"))
    out.print()
    rev_rows = []
    for r in doc["revisions"]:
        rev = snap.revision(r["name"])
        rev_rows.append(
            (
                r["name"],
                r["generation"],
                f"{r['percent']}%",
                ", ".join(r["tags"]),
                r["ready"] + (f" ({r['reason']})" if r["reason"] else ""),
                rev.replicas if rev else "-",
                age(rev.created) if rev else "",
                r["target"] if r["target"] is not None else r["image"],
            )
        )
    if rev_rows:
        out.print(
            grid(
                ["REVISION", "GEN", "TRAFFIC", "TAGS", "READY", "PODS", "AGE", "TARGET / IMAGE"],
                rev_rows,
                title="Revisions",
                whole=("REVISION", "GEN", "TRAFFIC", "READY", "PODS", "AGE", "TARGET / IMAGE"),
            )
        )
    else:
        _say(out, "Revisions: none yet")
    faults = [(r["name"], r["fault"]) for r in doc["revisions"] if r["fault"]]
    if faults:
        from kn_walk.sandbox.knative.revision_faults import note

        out.print()
        for rev_name, fault in faults:
            _say(out, f"FAULT {rev_name}: {note(fault)}")
    out.print()
    lines = []
    for t in snap.traffic:
        line = f"{t.percent:>3}% → {revision_ref(t.latest_revision, t.revision_name)}"
        if t.tag:
            line += f"  tag {t.tag}"
        if t.url:
            line += f"\n{t.url}"
        lines.append(line)
    route = snap.route.name if snap.route else svc.name
    out.print(tree(f"Route {route}" + ("" if lines else " (no traffic yet)"), lines))
    if doc["domainMappings"]:
        domains = [
            f"{dm['url'] or dm['name']}  "
            + dm["ready"]
            + (f" ({dm['reason']})" if dm["reason"] else "")
            for dm in doc["domainMappings"]
        ]
        out.print()
        out.print(tree("Domain mappings", domains))
    if doc["conditions"]:
        out.print()
        _print_conditions(out, doc["conditions"])


def _print_conditions(out: Console, conditions: Sequence[dict[str, Any]]) -> None:
    """Conditions that are not True, one paragraph per object and reason (no repeats)."""
    from rich.padding import Padding
    from rich.text import Text

    groups: dict[tuple[str, str, str], list[str]] = {}
    for c in conditions:
        key = (f"{c['kind']}/{c['name']}", c["reason"], c["message"])
        groups.setdefault(key, []).append(f"{c['type']}={c['status']}")
    _say(out, "Not ready:")
    for (obj, reason, message), types in groups.items():
        out.print(Padding(Text(f"{obj}: {', '.join(types)}"), (0, 0, 0, 2)))
        why = (reason + ": " if reason else "") + message
        if why:
            out.print(Padding(Text(why), (0, 0, 0, 4)))


# --------------------------------------------------------------------------- split

SPLIT_HELP = (
    "Traffic split: 50/50 (latest ready / the one before, tags current/candidate/latest), "
    "A/B/C..., REV=PCT, TAG=PCT, @latest=PCT, or 100 / @latest alone."
)


def split(
    specs: Annotated[
        list[str] | None,
        typer.Argument(help=SPLIT_HELP, show_default=False, metavar="SPEC"),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "-s",
            "--service",
            help="Knative Service [default: helloworld-go].",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", help="Tag a target: REV=TAG or @latest=TAG (repeatable).", show_default=False
        ),
    ] = None,
    untag: Annotated[
        list[str] | None,
        typer.Option("--untag", help="Remove tag TAG (repeatable).", show_default=False),
    ] = None,
    dry_run: DryRunOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the Route shows the new split.")
    ] = True,
    wait_timeout: WaitTimeoutOpt = 60.0,
    output: Annotated[str, typer.Option("-o", "--output", help="table, json or yaml.")] = "table",
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Split traffic between revisions (and tag them); checked before anything is sent.

    \b
    Examples:
      knwalk split 50/50
      knwalk split @latest
      knwalk split helloworld-go-00001=10 @latest=90
      knwalk split --tag helloworld-go-00001=blue
    """
    from kn_walk import knative
    from kn_walk.render import emit

    fmt = check_output(output, ("table", "json", "yaml"))
    name = _name(service)
    with _connect(kubeconfig, context, namespace, wait_timeout, WAIT_TIMEOUT) as kube:
        if dry_run:
            with details_shown(True):
                plan = knative.plan_split(
                    kube, name, specs or [], tags=tag or [], untags=untag or []
                )
            if fmt != "table":
                emit(plan.patch, fmt)
            else:
                _split_dry_run(kube, plan)
            return
        result = knative.split(
            kube,
            name,
            specs or [],
            tags=tag or [],
            untags=untag or [],
            wait=wait,
            timeout=wait_timeout,
        )
    if fmt != "table":
        emit(knative.split_document(result), fmt)
        return
    out = _out()
    if not result.changed:
        _say(out, f"Traffic of service '{name}' unchanged: it already has this split.")
    elif not wait:
        _say(out, f"Traffic of service '{name}' updated; not waiting for the Route.")
    else:
        _say(out, f"Traffic of service '{name}' updated; the Route now sends:")
    traffic_table(out, result.traffic if wait or not result.changed else None, result.block)


def _split_dry_run(kube: Kube, plan: SplitPlan) -> None:
    from kn_walk.render import dump_yaml, print_text

    name = plan.service.name
    if plan.patch is None:
        print_text(f"Dry run: service '{name}' already has this split; nothing to send.")
        return
    print_text(
        f"Dry run: would set the traffic of service '{name}' in namespace "
        f"'{kube.namespace}'; nothing was sent.\n"
    )
    print_text("# JSON merge patch\n" + dump_yaml(plan.patch))
    print_text(f"# equivalent kubectl command\n{plan.kubectl}")


# --------------------------------------------------------------------------- curl


def curl(
    name: NameArg = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag", help="Request the tag's URL (its revision only).", show_default=False
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            "--count",
            "-c",
            help="Number of requests [default: 1].",
            min=1,
            max=1_000_000,
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            help="Send for this long (30s, 2m, 1m30s) instead of a --count.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            help="Connections: requests in flight at once (with --rate, at most).",
            min=1,
            max=1000,
        ),
    ] = 10,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            help="Open loop: send at this rate (50/s, 600/m) whatever the answers take; "
            "latency counts from each request's due time.",
            show_default=False,
        ),
    ] = None,
    path: Annotated[str, typer.Option("--path", help="Request path.")] = "/",
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            help="Gateway URL http://HOST:PORT [default: discovered].",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Host header [default: from the Service's URL].", show_default=False
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds per request, and for the Kubernetes API reads before them.",
            min=0.01,
            max=3600,
        ),
    ] = 10.0,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Show the gateway, Host and status.")
    ] = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Request the Service through the ingress gateway with its Host header, as curl would.

    With --count N or --duration D: many requests (closed loop: --concurrency connections, each sending when its last answer is in; with --rate: open loop, requests sent on schedule), then latency percentiles and a histogram, status codes, and the responses grouped by body next to the split the Route configures, with a chi-square verdict. With --gateway and --host and no NAME, no Kubernetes API is used.
    """
    from kn_walk import ingress, knative, probe

    fmt = check_output(output, ("table", "json"))
    path = probe.check_path(path)
    seconds: float | None = None
    per_second: float | None = None
    if duration is not None or rate is not None:
        from kn_walk import load  # the load engine only when it is used

        seconds = load.parse_duration(duration) if duration is not None else None
        per_second = load.parse_rate(rate) if rate is not None else None
    if count is not None and seconds is not None:
        raise UsageError("--count and --duration both say when to stop", "give only one of them")
    if per_second is not None and count is None and seconds is None:
        raise UsageError(
            "--rate needs --duration or --count: how long to send at that rate",
            "for example --rate 50/s --duration 10s",
        )
    gw = ingress.parse_gateway(gateway) if gateway is not None else None
    host_header = ingress.parse_host(host) if host is not None else None
    if tag is not None and host_header is not None:
        raise UsageError("--tag and --host both choose the Host header", "give only one of them")
    snap = None
    if name is not None or gw is None or host_header is None:
        service = _name(name)
        with _connect(kubeconfig, context, namespace, timeout, "--timeout") as kube:
            if tag is None and count is None and seconds is None and fmt == "table":
                # one request: the Service alone says whether it is ready and its Host (the
                # other three reads are for --tag and for comparing answers with the split)
                svc = knative.require_service(kube, service)
            else:
                snap = knative.snapshot(kube, service)
                svc = snap.service
            _require_ready(svc)
            if host_header is None:
                host_header = _host_for(svc, snap.traffic if snap else (), tag)
            if gw is None:
                gw = ingress.discover(kube)
    assert gw is not None and host_header is not None
    if count is None and seconds is None:
        if fmt == "table":
            _curl_once(gw, host_header, path, timeout, verbose)
            return
        count = 1
    from kn_walk import load

    spec = load.LoadSpec(
        gw.url,
        host_header,
        path,
        count=count,
        duration=seconds,
        concurrency=concurrency,
        rate=per_second,
        timeout=timeout,
    )
    result = _curl_load(spec, show_progress=fmt == "table")
    expected = []
    if snap is not None:
        expected = [(e.body, e.percent, e.revisions) for e in knative.expected_responses(snap, tag)]
    rows, verdict = result.compare(expected)
    if fmt == "json":
        from kn_walk.render import emit

        emit(load.document(result, rows, verdict), "json")
    else:
        _print_summary(gw, result, rows, verdict)
    if result.failed:
        from kn_walk.errors import KnwalkError

        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(result.failures.items()))
        raise KnwalkError(
            f"{result.failed} of {result.count} requests failed ({kinds})",
            "see `knwalk status` for revisions that are not ready, or raise --timeout",
        )


def _require_ready(svc: ServiceView) -> None:
    from kn_walk.errors import KnwalkError

    if svc.ready_status != "True" or not svc.url:
        why = svc.ready.describe() if svc.ready else "no Ready condition yet"
        raise KnwalkError(
            f"service '{svc.name}' is not ready: {why}",
            f"see `knwalk status {svc.name}`, or wait with `knwalk deploy {svc.name}`",
        )


def _host_for(svc: ServiceView, traffic: Sequence[TrafficTarget], tag: str | None) -> str:
    from kn_walk.ingress import host_of

    if tag is None:
        return host_of(svc.url)
    url = next((t.url for t in traffic if t.tag == tag and t.url), None)
    if url is None:
        tags = sorted({t.tag for t in traffic if t.tag})
        raise UsageError(
            f"service '{svc.name}' has no tag {tag!r}",
            f"tags: {', '.join(tags)}" if tags else "add one with `knwalk split --tag REV=TAG`",
        )
    return host_of(url)


def _curl_once(gw: Gateway, host: str, path: str, timeout: float, verbose: bool) -> None:
    from kn_walk import probe
    from kn_walk.errors import KnwalkError

    err = sys.stderr
    if verbose:
        err.write(f"* Gateway: {gw.url} ({gw.source})\n> GET {path} HTTP/1.1\n> Host: {host}\n")
    reply = probe.request(gw.url, host, path, timeout)
    if verbose:
        err.write(
            f"< HTTP/{reply.http_version.removeprefix('HTTP/')} {reply.status} {reply.reason}\n"
        )
        err.flush()
    sys.stdout.write(reply.body)
    sys.stdout.flush()
    if reply.failure:
        raise KnwalkError(
            f"the gateway answered {reply.status} {reply.reason} for Host {host}",
            "the Route may not be ready yet (knwalk status), or the Host is not routed",
        )


def _curl_load(spec: LoadSpec, *, show_progress: bool) -> LoadResult:
    """Run the load; a transient progress bar on stderr when it is a terminal."""
    from kn_walk import load

    if not (show_progress and sys.stderr.isatty()):
        return load.run(spec)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from kn_walk.render import console

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("requests", total=None, state="")

        def tick(p: LoadProgress) -> None:
            if p.planned is not None:
                bar.update(task, total=p.planned, completed=p.done)
            elif p.duration is not None:
                bar.update(task, total=p.duration, completed=min(p.elapsed, p.duration))
            bar.update(task, state=f"{p.done} done, {p.failed} failed")

        return load.run(spec, tick)


def _ms(seconds: float) -> str:
    """Milliseconds with three significant digits or more: 0.123, 1.23, 12.3, 123."""
    ms = seconds * 1000
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def _print_summary(
    gw: Gateway, result: LoadResult, rows: Sequence[Row], verdict: Verdict | None
) -> None:
    from kn_walk.render import bar, grid, key_values, show_body

    spec = result.spec
    out = _out()
    if spec.rate is None:
        how = f"closed loop, {spec.concurrency} connections; latency from each send"
    else:
        how = (
            f"open loop at {spec.rate:g}/s, up to {spec.concurrency} connections; latency "
            "from each request's due time"
        )
    summary = [
        ("Gateway", f"{gw.url}{spec.path}"),
        ("Host", spec.host),
        (
            "Requests",
            f"{result.count} (concurrency {spec.concurrency}): {result.ok} ok, "
            f"{result.failed} failed, {result.elapsed:.2f}s, "
            f"{result.requests_per_second:.0f} req/s",
        ),
        ("Load", how),
        ("Errors", f"{100 * result.error_rate:.2f}% (failures and answers >= 400)"),
    ]
    if result.stopped or result.truncated:
        summary.append(("Stopped", "before everything planned was sent"))
    out.print(key_values(summary))
    out.print()
    responses_table(out, [(r.body, r.count, r.observed_percent, r.expected_percent) for r in rows])
    overall = result.latency()
    if overall is not None:
        by_answer = result.latency_by_answer()
        revisions = {r.body: ", ".join(r.revisions) for r in rows}
        lat_rows = [("all answers", overall)]
        lat_rows += [
            (revisions.get(body) or show_body(body, 28), stats) for body, stats in by_answer.items()
        ]
        out.print()
        out.print(
            grid(
                ["LATENCY (ms)", "COUNT", "P50", "P90", "P99", "MAX"],
                [
                    (label[:28], s.count, _ms(s.p50), _ms(s.p90), _ms(s.p99), _ms(s.max))
                    for label, s in lat_rows
                ],
            )
        )
        buckets = result.histogram()
        most = max(b.count for b in buckets)
        out.print()
        out.print(
            grid(
                ["HISTOGRAM (ms)", "COUNT", ""],
                [
                    (f"{_ms(b.low)} - {_ms(b.high)}", b.count, bar(b.count / most, 30))
                    for b in buckets
                ],
            )
        )
    out.print()
    codes = [(str(code), n) for code, n in result.status_counts().items()]
    out.print(grid(["STATUS", "COUNT"], codes or [("none", 0)]))
    if result.failed:
        out.print()
        out.print(grid(["FAILURE", "COUNT"], sorted(result.failures.items())))
    out.print()
    if verdict is not None:
        verdict_line(out, verdict.consistent, verdict.p_value)
    elif result.ok == 0:
        _say(out, "Verdict: none; no request succeeded.")
    else:
        _say(out, "Verdict: none; no configured split to compare with (no Route traffic known).")


# --------------------------------------------------------------------------- delete


def delete(
    name: NameArg = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait until the Service and what it owns are gone."),
    ] = False,
    wait_timeout: WaitTimeoutOpt = 60.0,
    dry_run: DryRunOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Delete the Knative Service; its Configuration, Revisions and Route go with it."""
    from kn_walk import knative
    from kn_walk.render import print_text

    service = _name(name)
    with _connect(kubeconfig, context, namespace, wait_timeout, WAIT_TIMEOUT) as kube:
        knative.require_service(kube, service)
        where = f"service '{service}' in namespace '{kube.namespace}' (context {kube.context})"
        if dry_run:
            print_text(f"Dry run: would delete {where}; nothing was sent.")
            print_text(
                f"# equivalent kubectl command\n{kube.target.kubectl_prefix} delete ksvc {service}"
            )
            return
        if not yes:
            _confirm(f"Delete {where}?")
            kube.limit(wait_timeout, WAIT_TIMEOUT)  # the time spent answering does not count
        knative.delete(kube, service, wait=wait, timeout=wait_timeout)
    what = "and its Configuration, Revisions and Route " if wait else ""
    _say(_out(), f"Service '{service}' {what}deleted from namespace '{kube.namespace}'.")


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError("deleting needs confirmation and stdin is not a terminal", "pass --yes")
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)
