"""``knwalk cluster create|get-credentials|describe|list|wait|delete``: GKE clusters.

Options, accepted values and defaults follow ``gcloud container clusters`` (see
:mod:`kn_walk.gke`). The project comes from ``--project``, ``CLOUDSDK_CORE_PROJECT``,
the active gcloud configuration (as gcloud), and only when none is set from
``GOOGLE_CLOUD_PROJECT`` or ``google.auth.default()``, with a note; the location from ``--zone``/``--region``/``--location``,
``CLOUDSDK_COMPUTE_ZONE``/``_REGION``, the configuration's ``[compute]`` section, then
knwalk's ``us-central1-a`` (see :mod:`kn_walk.gcloud_config`).

``google.cloud`` is imported only inside these commands, so ``knwalk --help`` and
``knwalk cluster --help`` stay fast.

Machine-readable output, stable:

``create -o json|yaml``
    The created Cluster as REST JSON (camelCase, enum names, secrets redacted); with
    ``--dry-run`` the ``CreateClusterRequest``; with ``--no-wait`` the Operation.
``describe -o json|yaml``
    The Cluster as REST JSON, as above.
``list -o json|yaml``
    A list of Clusters as REST JSON.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kn_walk.cli.common import KnwalkCommand, KnwalkGroup, check_output
from kn_walk.cli.index import short_help
from kn_walk.errors import KnwalkError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from kn_walk import gke
    from kn_walk.gcloud_config import Resolved

cluster_app = typer.Typer(
    cls=KnwalkGroup,
    rich_markup_mode=None,
    help="GKE clusters for the walkthrough: create, get-credentials, describe, list, wait, delete.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``knwalk cluster ...`` to the root app."""
    app.add_typer(cluster_app, name="cluster", short_help=short_help("cluster"))


# --------------------------------------------------------------------------- shared options

ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        help="Google Cloud project [default: as gcloud: CLOUDSDK_CORE_PROJECT, the active "
        "gcloud configuration; if none: GOOGLE_CLOUD_PROJECT, application default "
        "credentials].",
    ),
]
ZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--zone",
        "-z",
        help="Zone of a zonal cluster [default: CLOUDSDK_COMPUTE_ZONE, gcloud compute/zone, "
        "us-central1-a].",
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option("--region", help="Region of a regional cluster (nodes in three zones)."),
]
LocationOpt = Annotated[
    str | None, typer.Option("--location", help="Zone or region (like gcloud's --location).")
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--gke-endpoint",
        help="Another GKE API endpoint (REST) [default: KNWALK_GKE_ENDPOINT, else "
        "container.googleapis.com]. http:// only on loopback, without credentials.",
    ),
]
KubeconfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="Kubeconfig file to write [default: first of $KUBECONFIG, else ~/.kube/config].",
    ),
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Cluster name.", show_default=False)]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.0, help="Seconds to wait for the operation.")
]
PollOpt = Annotated[
    float,
    typer.Option("--poll-interval", min=0.0, help="Seconds between operation polls (as gcloud)."),
]
TableOutputOpt = Annotated[str, typer.Option("-o", "--output", help="table, json or yaml.")]
TABLE_FORMATS = ("table", "json", "yaml")


def _output(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return None if value is None else check_output(value, allowed)


def _say(out: Console, text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _columns(headers: list[str], rows: list[list[Any]]) -> str:
    """kubectl-style columns: padded to the widest cell, never wrapped (pipes stay parseable)."""
    cells = [headers, *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _consoles(quiet: bool) -> tuple[Console, Console]:
    """(prose console, notice console): prose goes to stderr when stdout carries -o output."""
    from kn_walk.render import console

    err = console(stderr=True)
    return (err if quiet else console()), err


def _where(project: str, location: str) -> str:
    from kn_walk.gcloud_config import is_region

    kind = "region" if is_region(location) else "zone"
    return f"project {project}, {kind} {location}"


def _flags(project: str, location: str) -> str:
    from kn_walk.gcloud_config import is_region

    return f"--project {project} {'--region' if is_region(location) else '--zone'} {location}"


def _resolve(
    project: str | None,
    zone: str | None,
    region: str | None,
    location: str | None,
    *,
    note: Console | None = None,
) -> tuple[Resolved, Resolved]:
    """(project, location) as gcloud finds them, then GOOGLE_CLOUD_PROJECT / ADC and
    knwalk's zone; a project from outside gcloud's settings is noted on ``note``."""
    from kn_walk import gcloud_config as gc
    from kn_walk import gke

    props = gc.load()
    where = gc.resolve_location(
        zone=zone, region=region, location=location, props=props, default=gke.DEFAULT_ZONE
    )
    proj = gc.resolve_project(project, props, adc_project=gke.adc_project)
    if proj.fallback and note is not None:
        _say(note, f"Note: using project {proj.value} (from {proj.source}).")
    return proj, where


def _target(
    name: str,
    gke_endpoint: str | None,
    project: str | None,
    zone: str | None,
    region: str | None,
    location: str | None,
) -> tuple[str, str]:
    """Check a command's NAME and --gke-endpoint, then resolve its (project, location)."""
    from kn_walk import gke

    gke.check_name(name)
    gke.resolve_endpoint(gke_endpoint)
    _, err = _consoles(quiet=False)
    proj, where = _resolve(project, zone, region, location, note=err)
    return proj.value, where.value


def _resume(name: str, project: str, location: str) -> str:
    """The command that resumes a wait on the cluster's operation."""
    return f"knwalk cluster wait {name} {_flags(project, location)}"


def _connect(gke_endpoint: str | None) -> tuple[Console, Console, gke.Gke]:
    """(prose console, notice console, GKE API that notes its retries on the notice console)."""
    out, err = _consoles(quiet=False)
    return out, err, _api(gke_endpoint, err)


def _api(endpoint_flag: str | None, notices: Console | None = None) -> gke.Gke:
    """The GKE API; its first retry for each kind of answer is noted once on ``notices``
    (a persistent 429 is one note, then one error that counts the attempts)."""
    from kn_walk import gke

    endpoint = gke.resolve_endpoint(endpoint_flag)
    noted: set[str] = set()

    def on_retry(exc: Exception) -> None:
        code = str(getattr(exc, "code", "") or "")
        answer = f"GKE answered {code}" if code else "no answer from GKE"
        if notices is None or answer in noted:
            return
        noted.add(answer)
        _say(
            notices,
            f"Note: {answer}; retrying with backoff for up to {api.retry_deadline:.0f}s "
            "(further retries are not shown).",
        )

    api = gke.Gke(gke.make_client(endpoint), endpoint=endpoint, on_retry=on_retry)
    return api


def _confirm(question: str) -> None:
    if not typer.confirm(question, default=False):
        raise KnwalkError("nothing was changed", "run the command again and answer y to go ahead")


@contextmanager
def _progress(err: Console, title: str, op: Any) -> Iterator[Callable[[gke.Progress], None]]:
    """The ``on_progress`` of a wait: a progress bar on a terminal, else a line per change."""
    if err.is_terminal:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task(title, total=100, state="PENDING")

            def show(p: gke.Progress) -> None:
                state = p.status + (f" · {p.stage}" if p.stage else "")
                done = None if p.fraction is None else p.fraction * 100
                bar.update(task, completed=done, state=state)

            yield show
        return
    last: list[str] = []
    _say(err, f"{title} (operation {op.name})")

    def line(p: gke.Progress) -> None:
        pct = "" if p.fraction is None else f" {p.fraction * 100:3.0f}%"
        text = f"  {p.status}{pct}" + (f"  {p.stage}" if p.stage else "")
        if [text] != last:
            last[:] = [text]
            _say(err, f"{text}  ({p.elapsed:.0f}s)")

    yield line


class _Follow:
    """Shows an operation being followed: :meth:`start` opens the display, :meth:`progress`
    is the ``on_progress`` of the wait; ``accepted`` is the operation once GKE has it."""

    def __init__(self, err: Console, title: str, stack: ExitStack) -> None:
        self.err, self.title, self.stack = err, title, stack
        self.show: Callable[[gke.Progress], None] | None = None
        self.accepted: Any = None

    def start(self, op: Any) -> None:
        self.accepted = op
        self.show = self.stack.enter_context(_progress(self.err, self.title, op))

    def progress(self, p: gke.Progress) -> None:
        if self.show is not None:
            self.show(p)


@contextmanager
def _following(
    err: Console, title: str, resume: str, *, unsure: tuple[str, str] | None = None
) -> Iterator[_Follow]:
    """A progress bar (tty) or a line per change once started.

    Once started, Ctrl-C stops only the wait, and a wait that loses GKE (no answer, or an
    error answer) says how to follow the operation again. ``unsure`` is what to say (what
    happened, how to check) on Ctrl-C before GKE's answer came: the request may have
    arrived.
    """
    from kn_walk import gke

    follow: _Follow | None = None
    try:
        with ExitStack() as stack:
            follow = _Follow(err, title, stack)
            yield follow
    except KeyboardInterrupt:
        if follow is not None and follow.show is not None:
            _say(err, "Stopped waiting; GKE carries on with the operation.")
            _say(err, f"Resume with: {resume}")
            raise typer.Exit(130) from None
        if follow is not None and follow.accepted is not None:
            _say(err, f"Interrupted; GKE carries on with operation {follow.accepted.name}.")
            _say(err, f"Follow it with: {resume}")
            raise typer.Exit(130) from None
        if unsure is None:
            raise
        _say(err, unsure[0])
        _say(err, unsure[1])
        raise typer.Exit(130) from None
    except (gke.GkeUnreachable, gke.GkeApiError) as exc:
        if follow is None or follow.show is None:
            raise
        exc.hint = (exc.hint + "; " if exc.hint else "") + (
            f"the operation goes on in GKE: follow it again with `{resume}`"
        )
        raise


def _watch(
    api: gke.Gke,
    op: Any,
    *,
    title: str,
    project: str,
    location: str,
    resume: str,
    poll_interval: float,
    timeout: float,
    err: Console,
) -> Any:
    """Poll ``op`` with a progress bar (tty) or a line per change; Ctrl-C stops only the wait."""
    with _following(err, title, resume) as follow:
        follow.start(op)
        return api.wait(
            op,
            project=project,
            location=location,
            on_progress=follow.progress,
            poll_interval=poll_interval,
            timeout=timeout,
        )


def _access(*, internal_ip: bool = False, dns_endpoint: bool = False) -> gke.Access:
    """How get-credentials reaches the cluster: the flags and gcloud's
    ``container/use_application_default_credentials`` property."""
    from kn_walk import gcloud_config as gc
    from kn_walk import gke

    use_adc = gc.get_bool(gc.load(), "container", "use_application_default_credentials")
    return gke.Access(internal_ip=internal_ip, dns_endpoint=dns_endpoint, use_adc=use_adc)


def _write_credentials(
    api: gke.Gke,
    name: str,
    project: str,
    location: str,
    kubeconfig: Path | None,
    out: Console,
    access: gke.Access | None = None,
) -> Any:
    from kn_walk import gke
    from kn_walk import kubeconfig as kc

    access = access or _access()
    cluster = api.get(project, location, name)
    path = kc.resolve_path(kubeconfig)
    context = gke.write_credentials(cluster, project, location, path, access)
    _say(out, f"kubeconfig entry {context} written to {path} and made the current context.")
    if not gke.exec_plugin_installed():
        _say(
            out,
            f"Note: {gke.EXEC_PLUGIN} is not on PATH; kubectl needs it ({gke.EXEC_INSTALL_HINT}). "
            "knwalk itself can still reach the cluster with your Google credentials.",
        )
    return cluster


# --------------------------------------------------------------------------- create

CREATE_EPILOG = (
    "Seed options GKE has removed are explained, not sent: --addons Istio/CloudRun are "
    "dropped with a note (knwalk install installs Istio and Knative itself); "
    "--istio-config, --cloud-run-config, --enable-basic-auth/--username/--password, "
    "--image-type COS and versions before 1.24 stop with an error; "
    "--enable-stackdriver-kubernetes becomes --logging/--monitoring."
)


@cluster_app.command("create", cls=KnwalkCommand, epilog=CREATE_EPILOG)
def create(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="Cluster name [default: knwalk].", show_default=False),
    ] = None,
    project: ProjectOpt = None,
    zone: ZoneOpt = None,
    region: RegionOpt = None,
    location: LocationOpt = None,
    machine_type: Annotated[
        str | None,
        typer.Option("--machine-type", "-m", help="Node machine type [default: n1-standard-8]."),
    ] = None,
    num_nodes: Annotated[
        int | None,
        typer.Option("--num-nodes", min=1, help="Nodes per zone [default: 2]."),
    ] = None,
    disk_type: Annotated[
        str | None,
        typer.Option(
            "--disk-type",
            help="Boot disk type: pd-standard, pd-ssd, pd-balanced, hyperdisk-* "
            "[default: pd-standard].",
        ),
    ] = None,
    disk_size: Annotated[
        str | None,
        typer.Option(
            "--disk-size",
            metavar="SIZE",
            help="Boot disk size: 100GB, 51200MB, 1TB (GB if no unit) [default: 100GB].",
        ),
    ] = None,
    image_type: Annotated[
        str | None, typer.Option("--image-type", help="Node image [default: COS_CONTAINERD].")
    ] = None,
    cluster_version: Annotated[
        str | None,
        typer.Option(
            "--cluster-version",
            help="Kubernetes version (latest, 1.33, 1.33.5-gke.N); without --release-channel "
            "GKE picks the most mature channel that has it.",
        ),
    ] = None,
    release_channel: Annotated[
        str | None,
        typer.Option(
            "--release-channel",
            help="rapid, regular, stable, extended, or None for a static version "
            "[default: regular, with its default version; none with --cluster-version, "
            "--no-enable-autoupgrade or --no-enable-autorepair].",
        ),
    ] = None,
    scopes: Annotated[
        str | None,
        typer.Option(
            "--scopes", help="Node OAuth scopes, comma-separated [default: cloud-platform]."
        ),
    ] = None,
    service_account: Annotated[
        str | None,
        typer.Option(
            "--service-account",
            metavar="EMAIL",
            help="Service account the nodes run as [default: the Compute Engine default].",
        ),
    ] = None,
    default_max_pods_per_node: Annotated[
        int | None,
        typer.Option("--default-max-pods-per-node", help="Pods per node [default: 110]."),
    ] = None,
    addons: Annotated[
        str | None,
        typer.Option(
            "--addons",
            help="ADDON[=ENABLED|DISABLED],... enabled; the others disabled; '' for GKE's "
            "defaults [default: HorizontalPodAutoscaling,HttpLoadBalancing].",
        ),
    ] = None,
    enable_ip_alias: Annotated[
        bool | None,
        typer.Option(
            "--enable-ip-alias/--no-enable-ip-alias",
            help="VPC-native cluster (IP aliases) [default: enabled].",
            show_default=False,
        ),
    ] = None,
    network: Annotated[
        str | None,
        typer.Option("--network", help="VPC network of the nodes [default: default]."),
    ] = None,
    subnetwork: Annotated[
        str | None,
        typer.Option("--subnetwork", help="Subnetwork of --network for the nodes."),
    ] = None,
    enable_private_nodes: Annotated[
        bool | None,
        typer.Option("--enable-private-nodes", help="Nodes without public IP addresses."),
    ] = None,
    master_ipv4_cidr: Annotated[
        str | None,
        typer.Option(
            "--master-ipv4-cidr",
            metavar="CIDR",
            help="IPv4 /28 range of the control plane's private endpoint "
            "(with --enable-private-nodes).",
        ),
    ] = None,
    node_locations: Annotated[
        str | None,
        typer.Option(
            "--node-locations",
            metavar="ZONE,...",
            help="Zones for the nodes, comma-separated; --num-nodes in each "
            "[default: the zone, or three zones of the region].",
        ),
    ] = None,
    tags: Annotated[
        str | None,
        typer.Option(
            "--tags", metavar="TAG,...", help="Network tags of the nodes, comma-separated."
        ),
    ] = None,
    spot: Annotated[
        bool | None, typer.Option("--spot", help="Spot VMs for the nodes (cheaper, preemptible).")
    ] = None,
    preemptible: Annotated[
        bool | None,
        typer.Option("--preemptible", help="Preemptible VMs for the nodes (spot's predecessor)."),
    ] = None,
    enable_autoscaling: Annotated[
        bool | None,
        typer.Option(
            "--enable-autoscaling",
            help="Autoscale the default node pool between the limits below.",
        ),
    ] = None,
    min_nodes: Annotated[
        int | None,
        typer.Option("--min-nodes", metavar="N", help="Fewest nodes per zone (autoscaling)."),
    ] = None,
    max_nodes: Annotated[
        int | None,
        typer.Option("--max-nodes", metavar="N", help="Most nodes per zone (autoscaling)."),
    ] = None,
    total_min_nodes: Annotated[
        int | None,
        typer.Option(
            "--total-min-nodes", metavar="N", help="Fewest nodes in all zones (autoscaling)."
        ),
    ] = None,
    total_max_nodes: Annotated[
        int | None,
        typer.Option(
            "--total-max-nodes", metavar="N", help="Most nodes in all zones (autoscaling)."
        ),
    ] = None,
    enable_autoupgrade: Annotated[
        bool | None,
        typer.Option(
            "--enable-autoupgrade/--no-enable-autoupgrade",
            help="Node auto-upgrade [default: enabled].",
            show_default=False,
        ),
    ] = None,
    enable_autorepair: Annotated[
        bool | None,
        typer.Option(
            "--enable-autorepair/--no-enable-autorepair",
            help="Node auto-repair [default: enabled].",
            show_default=False,
        ),
    ] = None,
    workload_pool: Annotated[
        str | None,
        typer.Option(
            "--workload-pool",
            metavar="POOL",
            help="Workload Identity: PROJECT_ID.svc.id.goog of the project.",
        ),
    ] = None,
    logging: Annotated[
        str | None,
        typer.Option("--logging", help="Logged components, or NONE [default: SYSTEM,WORKLOAD]."),
    ] = None,
    monitoring: Annotated[
        str | None,
        typer.Option("--monitoring", help="Monitored components, or NONE [default: SYSTEM]."),
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="Resource labels KEY=VALUE,...")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the cluster to be running.")
    ] = True,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the request and the equivalent gcloud command; send nothing."
        ),
    ] = False,
    yes: YesOpt = False,
    timeout: TimeoutOpt = 3600.0,
    poll_interval: PollOpt = 5.0,
    kubeconfig: KubeconfigOpt = None,
    gke_endpoint: EndpointOpt = None,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="json or yaml: print the result as data.")
    ] = None,
    # seed options GKE removed: accepted so they can be explained, never sent
    istio_config: Annotated[str | None, typer.Option("--istio-config", hidden=True)] = None,
    cloud_run_config: Annotated[str | None, typer.Option("--cloud-run-config", hidden=True)] = None,
    enable_basic_auth: Annotated[
        bool | None, typer.Option("--enable-basic-auth/--no-enable-basic-auth", hidden=True)
    ] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", hidden=True)] = None,
    password: Annotated[str | None, typer.Option("--password", hidden=True)] = None,
    enable_stackdriver_kubernetes: Annotated[
        bool | None,
        typer.Option(
            "--enable-stackdriver-kubernetes/--no-enable-stackdriver-kubernetes", hidden=True
        ),
    ] = None,
) -> None:
    """Create a GKE cluster like the walkthrough's, then write its kubeconfig entry.

    Shows a summary with an hourly cost estimate and asks before creating (unless --yes or stdin is not a terminal). Ctrl-C while waiting stops only the wait; `knwalk cluster wait NAME` resumes.
    """
    from kn_walk import gcloud_config as gc
    from kn_walk import gke
    from kn_walk.render import emit

    fmt = _output(output, ("json", "yaml"))
    out, err = _consoles(quiet=fmt is not None)
    opts = gke.ClusterOptions(
        name=name,
        machine_type=machine_type,
        num_nodes=num_nodes,
        disk_type=disk_type,
        disk_size=disk_size,
        image_type=image_type,
        cluster_version=cluster_version,
        release_channel=release_channel,
        scopes=scopes,
        service_account=service_account,
        default_max_pods_per_node=default_max_pods_per_node,
        addons=addons,
        enable_ip_alias=enable_ip_alias,
        network=network,
        subnetwork=subnetwork,
        enable_private_nodes=enable_private_nodes,
        master_ipv4_cidr=master_ipv4_cidr,
        node_locations=node_locations,
        tags=tags,
        spot=spot,
        preemptible=preemptible,
        enable_autoscaling=enable_autoscaling,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        total_min_nodes=total_min_nodes,
        total_max_nodes=total_max_nodes,
        enable_autoupgrade=enable_autoupgrade,
        enable_autorepair=enable_autorepair,
        workload_pool=workload_pool,
        logging=logging,
        monitoring=monitoring,
        labels=labels,
        istio_config=istio_config,
        cloud_run_config=cloud_run_config,
        enable_basic_auth=enable_basic_auth,
        username=username,
        password=password,
        enable_stackdriver_kubernetes=enable_stackdriver_kubernetes,
    )
    gke.check_name(name or gke.DEFAULT_NAME)
    endpoint = gke.resolve_endpoint(gke_endpoint)
    # the summary shows where the project came from; a dry run has no summary
    proj, where = _resolve(project, zone, region, location, note=err if dry_run else None)
    spec = gke.build_spec(
        opts, project=proj.value, location=where.value, regional=gc.is_region(where.value)
    )
    for notice in spec.notices:
        _say(err, f"Note: {notice}")
    if dry_run:
        _create_dry_run(spec, fmt)
        return
    _print_summary(out, spec, proj, where, endpoint)
    if not yes and sys.stdin.isatty():
        _confirm(f"Create cluster {spec.name}?")
    api = _api(gke_endpoint, err)
    resume = _resume(spec.name, spec.project, spec.location)
    flags = _flags(spec.project, spec.location)
    unsure = (
        f"Interrupted while asking GKE to create cluster {spec.name}; GKE may have accepted "
        "it, so the cluster may exist.",
        f"Check with: knwalk cluster describe {spec.name} {flags} (and follow its creation "
        f"with: {resume})",
    )
    title = f"Creating cluster {spec.name} in {spec.location}"
    with _following(err, title, resume, unsure=unsure) as follow:

        def on_accepted(op: Any, adopted: bool) -> None:
            follow.accepted = op
            if adopted:
                _say(
                    err,
                    f"Note: GKE had accepted an earlier attempt; following its operation {op.name}.",
                )
            if wait:
                follow.start(op)

        result = gke.create_cluster(
            api,
            spec,
            wait=wait,
            poll_interval=poll_interval,
            timeout=timeout,
            on_accepted=on_accepted,
            on_progress=follow.progress,
        )
    if result.operation is None:
        _already_exists(api, spec, kubeconfig, out, yes)
        return
    if not wait:
        if fmt:
            emit(gke.message_dict(result.operation), fmt)
        _say(out, f"Creating cluster {spec.name} (operation {result.operation.name}); not waiting.")
        _say(out, f"Follow it with: {resume}")
        return
    cluster = _write_credentials(api, spec.name, spec.project, spec.location, kubeconfig, out)
    _finish(out, cluster, fmt)


def _create_dry_run(spec: gke.ClusterSpec, fmt: str | None) -> None:
    from kn_walk import gke
    from kn_walk.render import dump_json, emit, print_text

    body = gke.message_dict(gke.create_request(spec))
    if fmt:
        emit(body, fmt)
        return
    print_text(f"Dry run: would create cluster {spec.name} in {spec.parent}; nothing was sent.\n\n")
    print_text("# CreateClusterRequest (REST JSON)\n" + dump_json(body) + "\n\n")
    print_text("# equivalent gcloud command\n" + gke.gcloud_command(spec))


def _print_summary(
    out: Console, spec: gke.ClusterSpec, proj: Resolved, where: Resolved, endpoint: gke.Endpoint
) -> None:
    from kn_walk.render import key_values

    _say(out, f"Cluster {spec.name} to create:")
    out.print(key_values(_summary_rows(spec, proj, where, endpoint)))


def _summary_rows(
    spec: gke.ClusterSpec, proj: Resolved, where: Resolved, endpoint: gke.Endpoint
) -> list[tuple[str, str]]:
    """The rows of the summary shown before a create (and with ``--yes``)."""
    from kn_walk import gke

    cost = gke.estimate_cost(spec)
    kind = "region" if spec.regional else "zone"
    nodes = f"{spec.num_nodes} × {spec.machine_type}"
    if spec.node_locations:
        nodes += f" in each of {', '.join(spec.node_locations)} ({spec.total_nodes} nodes)"
    elif spec.regional:
        nodes += f" in each of {gke.REGIONAL_ZONES} zones ({spec.total_nodes} nodes)"
    if spec.spot or spec.preemptible:
        nodes += ", spot VMs" if spec.spot else ", preemptible VMs"
    nodes += f", {spec.image_type}, {spec.disk_type} {spec.disk_size_gb} GB"
    rows = [
        ("Project", f"{spec.project} (from {proj.source})"),
        ("Location", f"{spec.location} ({kind}, from {where.source})"),
        ("Nodes", nodes),
    ]
    if spec.node_range is not None:
        fewest, most = spec.node_range
        per = " per zone" if spec.autoscaling and spec.autoscaling.per_zone else " in total"
        rows.append(("Autoscaling", f"{fewest} to {most} nodes (limits given{per})"))
    version = spec.cluster_version or "the channel's default version"
    if spec.release_channel == gke.NO_CHANNEL:
        version = f"no release channel (static version {spec.cluster_version or 'GKE default'})"
    elif spec.release_channel:
        version = f"release channel {spec.release_channel.upper()}, {version}"
    elif spec.static_reason:
        version = (
            f"no release channel (static version {spec.cluster_version or 'GKE default'}), "
            f"because of {spec.static_reason}"
        )
    elif spec.cluster_version:
        version = f"{spec.cluster_version} (GKE enrolls it in the most mature channel that has it)"
    rows.append(("Version", version))
    if spec.addons is None:
        addons = "GKE's defaults (--addons '': no add-on settings sent)"
    else:
        addons = ", ".join(spec.enabled_addons) or "none"
    rows.append(("Add-ons", addons))
    network = [
        f"network {spec.network}" if spec.network else "",
        f"subnetwork {spec.subnetwork}" if spec.subnetwork else "",
        "private nodes" if spec.private_nodes else "",
        f"control plane range {spec.master_ipv4_cidr}" if spec.master_ipv4_cidr else "",
        f"tags {','.join(spec.tags)}" if spec.tags else "",
    ]
    if any(network):
        rows.append(("Network", ", ".join(part for part in network if part)))
    if spec.service_account or spec.workload_pool:
        identity = [
            f"nodes run as {spec.service_account}" if spec.service_account else "",
            f"Workload Identity pool {spec.workload_pool}" if spec.workload_pool else "",
        ]
        rows.append(("Identity", ", ".join(part for part in identity if part)))
    rows += [("Estimated cost", cost.describe()), ("Price source", cost.source)]
    if endpoint.url:
        rows.append(("GKE endpoint", f"{endpoint.url} (from {endpoint.source})"))
    return rows


def _already_exists(
    api: gke.Gke, spec: gke.ClusterSpec, kubeconfig: Path | None, out: Console, yes: bool
) -> None:
    where = _where(spec.project, spec.location)
    command = f"knwalk cluster get-credentials {spec.name} {_flags(spec.project, spec.location)}"
    if not yes and sys.stdin.isatty():
        _say(out, f"Cluster {spec.name} already exists in {where}; nothing was created.")
        if typer.confirm("Write its credentials to your kubeconfig instead?", default=False):
            _write_credentials(api, spec.name, spec.project, spec.location, kubeconfig, out)
            return
        raise typer.Exit(1)
    raise KnwalkError(
        f"cluster {spec.name} already exists in {where}; nothing was created",
        f"to use it, fetch its credentials: {command}",
    )


def _finish(out: Console, cluster: Any, fmt: str | None) -> None:
    from kn_walk import gke
    from kn_walk.render import emit

    if fmt:
        emit(gke.cluster_dict(cluster), fmt)
        return
    summary = gke.cluster_summary(cluster)
    _say(
        out,
        f"Cluster {cluster.name} is {summary['status']}: Kubernetes {summary['masterVersion']}, "
        f"endpoint {summary['endpoint']}, {summary['nodes']} nodes.",
    )
    _say(out, "Next: knwalk install")


# --------------------------------------------------------------------------- get-credentials


@cluster_app.command("get-credentials", cls=KnwalkCommand)
def get_credentials(
    name: NameArg,
    project: ProjectOpt = None,
    zone: ZoneOpt = None,
    region: RegionOpt = None,
    location: LocationOpt = None,
    internal_ip: Annotated[
        bool,
        typer.Option(
            "--internal-ip",
            help="Use the private endpoint of a private cluster (from inside its network).",
        ),
    ] = False,
    dns_endpoint: Annotated[
        bool,
        typer.Option(
            "--dns-endpoint",
            help="Use the cluster's DNS endpoint (gke-....gke.goog) instead of its IP, "
            "also with --internal-ip (as gcloud); clusters without IP access always use it.",
        ),
    ] = False,
    kubeconfig: KubeconfigOpt = None,
    gke_endpoint: EndpointOpt = None,
) -> None:
    """Write the cluster's kubeconfig entry as gcloud does and make it the current context.

    As gcloud: the IP endpoint with the cluster's CA; the DNS endpoint (no CA data, its
    certificate is publicly trusted) with --dns-endpoint or when IP access is disabled;
    and `gke-gcloud-auth-plugin --use_application_default_credentials` when the gcloud
    property container/use_application_default_credentials is true.
    """
    p, loc = _target(name, gke_endpoint, project, zone, region, location)
    access = _access(internal_ip=internal_ip, dns_endpoint=dns_endpoint)
    out, _, api = _connect(gke_endpoint)
    _write_credentials(api, name, p, loc, kubeconfig, out, access)


# --------------------------------------------------------------------------- describe


@cluster_app.command("describe", cls=KnwalkCommand)
def describe(
    name: NameArg,
    project: ProjectOpt = None,
    zone: ZoneOpt = None,
    region: RegionOpt = None,
    location: LocationOpt = None,
    gke_endpoint: EndpointOpt = None,
    output: TableOutputOpt = "table",
) -> None:
    """Show a cluster: status, versions, endpoint, node pools, add-ons."""
    from kn_walk import gke
    from kn_walk.render import emit, key_values

    fmt = _output(output, TABLE_FORMATS)
    p, loc = _target(name, gke_endpoint, project, zone, region, location)
    out, _, api = _connect(gke_endpoint)
    cluster = api.get(p, loc, name)
    if fmt != "table":
        emit(gke.cluster_dict(cluster), str(fmt))
        return
    s = gke.cluster_summary(cluster)
    out.print(
        key_values(
            [
                ("Name", s["name"]),
                ("Location", s["location"]),
                (
                    "Status",
                    s["status"] + (f" ({s['statusMessage']})" if s["statusMessage"] else ""),
                ),
                ("Version", f"{s['masterVersion']} (nodes {s['nodeVersion']})"),
                ("Release channel", s["releaseChannel"]),
                ("Endpoint", s["endpoint"]),
                ("Nodes", s["nodes"]),
                ("Add-ons", ", ".join(s["addons"]) or "none"),
                ("Logging", ", ".join(s["logging"]) or "none"),
                ("Monitoring", ", ".join(s["monitoring"]) or "none"),
                ("Labels", ", ".join(f"{k}={v}" for k, v in s["labels"].items())),
                ("Created", s["created"]),
            ]
        )
    )
    _say(out, "")
    _say(
        out,
        _columns(
            ["NODE POOL", "MACHINE_TYPE", "NODES", "IMAGE", "DISK", "VERSION", "STATUS"],
            [
                [
                    p["name"],
                    p["machineType"],
                    p["nodes"],
                    p["imageType"],
                    f"{p['diskType']} {p['diskSizeGb']}GB",
                    p["version"],
                    p["status"],
                ]
                for p in s["nodePools"]
            ],
        ),
    )


# --------------------------------------------------------------------------- list


@cluster_app.command("list", cls=KnwalkCommand)
def list_clusters(
    project: ProjectOpt = None,
    zone: ZoneOpt = None,
    region: RegionOpt = None,
    location: LocationOpt = None,
    gke_endpoint: EndpointOpt = None,
    output: TableOutputOpt = "table",
) -> None:
    """List clusters in every location (or only the one given with --zone/--region)."""
    from kn_walk import gcloud_config as gc
    from kn_walk import gke
    from kn_walk.render import emit

    fmt = _output(output, TABLE_FORMATS)
    gke.resolve_endpoint(gke_endpoint)
    props = gc.load()
    chosen = "-"
    if zone or region or location:
        chosen = gc.resolve_location(
            zone=zone, region=region, location=location, props=props, default=None
        ).value
    proj = gc.resolve_project(project, props, adc_project=gke.adc_project)
    out, err, api = _connect(gke_endpoint)
    if proj.fallback:
        _say(err, f"Note: using project {proj.value} (from {proj.source}).")
    clusters, missing = api.list_clusters(proj.value, chosen)
    if missing:
        _say(
            err,
            f"Note: these zones did not answer, their clusters are missing: {', '.join(missing)}",
        )
    if fmt != "table":
        emit([gke.cluster_dict(c) for c in clusters], str(fmt))
        return
    if not clusters:
        _say(
            out,
            f"No clusters in project {proj.value}" + ("" if chosen == "-" else f", {chosen}") + ".",
        )
        return
    rows = []
    for c in clusters:
        s = gke.cluster_summary(c)
        machine = s["nodePools"][0]["machineType"] if s["nodePools"] else ""
        rows.append(
            [
                s["name"],
                s["location"],
                s["masterVersion"],
                s["endpoint"],
                machine,
                s["nodeVersion"],
                s["nodes"],
                s["status"],
            ]
        )
    _say(
        out,
        _columns(
            [
                "NAME",
                "LOCATION",
                "MASTER_VERSION",
                "MASTER_IP",
                "MACHINE_TYPE",
                "NODE_VERSION",
                "NUM_NODES",
                "STATUS",
            ],
            rows,
        ),
    )


# --------------------------------------------------------------------------- wait


@cluster_app.command("wait", cls=KnwalkCommand)
def wait_cluster(
    name: NameArg,
    project: ProjectOpt = None,
    zone: ZoneOpt = None,
    region: RegionOpt = None,
    location: LocationOpt = None,
    timeout: TimeoutOpt = 3600.0,
    poll_interval: PollOpt = 5.0,
    kubeconfig: KubeconfigOpt = None,
    gke_endpoint: EndpointOpt = None,
) -> None:
    """Wait for the cluster's running operation, then finish like create or delete.

    Resumes a wait that Ctrl-C stopped. A cluster that ends up RUNNING gets its
    kubeconfig entry written; one that is gone gets its entry removed.
    """
    from kn_walk import gke
    from kn_walk import kubeconfig as kc

    p, loc = _target(name, gke_endpoint, project, zone, region, location)
    out, err, api = _connect(gke_endpoint)
    op = api.pending_operation(p, loc, name)
    if op is not None:
        _watch(
            api,
            op,
            title=f"Waiting for cluster {name}",
            project=p,
            location=loc,
            resume=_resume(name, p, loc),
            poll_interval=poll_interval,
            timeout=timeout,
            err=err,
        )
    try:
        cluster = api.get(p, loc, name)
    except gke.GkeApiError as exc:
        if exc.code != 404:
            raise
        if op is None:
            raise
        removed = gke.remove_credentials(kc.resolve_path(kubeconfig), p, loc, name)
        _say(
            out,
            f"Cluster {name} is deleted."
            + (" Its kubeconfig entry was removed." if removed else ""),
        )
        return
    status = gke.cluster_status(cluster)
    if status == "ERROR":
        delete = f"delete it with `knwalk cluster delete {name} {_flags(p, loc)}`"
        raise KnwalkError(
            f"cluster {name} is in ERROR: {cluster.status_message or 'no message'}",
            f"{gke.quota_hint(f'projects/{p}')}; {delete} first"
            if gke.is_quota_message(cluster.status_message)
            else f"{delete} and create it again",
        )
    if status != "RUNNING":
        raise KnwalkError(
            f"cluster {name} is {status} and no operation is running on it",
            "check it with `knwalk cluster describe`",
        )
    if op is None:
        _say(out, f"No operation is running on cluster {name}.")
    _write_credentials(api, name, p, loc, kubeconfig, out)
    _finish(out, cluster, None)


# --------------------------------------------------------------------------- delete


@cluster_app.command("delete", cls=KnwalkCommand)
def delete(
    name: NameArg,
    project: ProjectOpt = None,
    zone: ZoneOpt = None,
    region: RegionOpt = None,
    location: LocationOpt = None,
    yes: YesOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the cluster is gone.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request and gcloud command; send nothing.")
    ] = False,
    timeout: TimeoutOpt = 3600.0,
    poll_interval: PollOpt = 5.0,
    kubeconfig: KubeconfigOpt = None,
    gke_endpoint: EndpointOpt = None,
) -> None:
    """Delete a cluster (after confirmation) and remove the kubeconfig entry knwalk wrote."""
    from kn_walk import gke
    from kn_walk import kubeconfig as kc
    from kn_walk.render import print_text

    p, loc = _target(name, gke_endpoint, project, zone, region, location)
    target = f"cluster {name} in {_where(p, loc)}"
    if dry_run:
        print_text(f"Dry run: would delete {target}; nothing was sent.\n\n")
        print_text(f"# DeleteClusterRequest\nname: {gke.cluster_path(p, loc, name)}\n\n")
        print_text(
            f"# equivalent gcloud command\ngcloud container clusters delete {name} {_flags(p, loc)}"
        )
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "deleting needs confirmation and stdin is not a terminal", "pass --yes"
            )
        _confirm(f"Delete {target}? Everything on it is lost.")
    out, err, api = _connect(gke_endpoint)
    op = api.delete(p, loc, name)
    path = kc.resolve_path(kubeconfig)
    resume = _resume(name, p, loc)
    if not wait:
        removed = gke.remove_credentials(path, p, loc, name)
        _say(out, f"Deleting {target} (operation {op.name}); not waiting.")
        if removed:
            _say(out, f"Removed its kubeconfig entry from {path}.")
        _say(out, f"Follow it with: {resume}")
        return
    _watch(
        api,
        op,
        title=f"Deleting cluster {name}",
        project=p,
        location=loc,
        resume=resume,
        poll_interval=poll_interval,
        timeout=timeout,
        err=err,
    )
    removed = gke.remove_credentials(path, p, loc, name)
    _say(out, f"Deleted {target}.")
    if removed:
        _say(out, f"Removed its kubeconfig entry {gke.context_name(p, loc, name)} from {path}.")
