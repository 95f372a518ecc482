"""Cluster spec: what the user typed (:class:`ClusterOptions`) becomes a validated
:class:`ClusterSpec` (:func:`build_spec`), with knwalk's defaults.

Option names, accepted values and defaults follow gcloud 528
(``surface/container/clusters/create.py``, ``command_lib/container/flags.py`` and
``api_lib/container/api_adapter.py`` of the Cloud SDK). Seed options that GKE has
removed are explained, never sent (see :mod:`kn_walk.gke`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kn_walk.errors import UsageError

# --------------------------------------------------------------------------- defaults

#: the walkthrough's cluster as GKE accepts it today
DEFAULT_NAME = "knwalk"
DEFAULT_ZONE = "us-central1-a"
DEFAULT_MACHINE_TYPE = "n1-standard-8"
DEFAULT_NUM_NODES = 2
DEFAULT_DISK_TYPE = "pd-standard"
DEFAULT_DISK_SIZE_GB = 100
DEFAULT_IMAGE_TYPE = "COS_CONTAINERD"
DEFAULT_RELEASE_CHANNEL = "regular"
DEFAULT_SCOPES = ("cloud-platform",)
DEFAULT_MAX_PODS_PER_NODE = 110
DEFAULT_ADDONS = ("HorizontalPodAutoscaling", "HttpLoadBalancing")
#: today's form of the seed's ``--enable-stackdriver-kubernetes``
DEFAULT_LOGGING = ("SYSTEM", "WORKLOAD")
DEFAULT_MONITORING = ("SYSTEM",)
DEFAULT_POOL = "default-pool"
#: GKE's default for a regional cluster: nodes in three zones of the region
REGIONAL_ZONES = 3


#: gcloud's ``--disk-type`` choices (flags.AddDiskTypeFlag)
DISK_TYPES = (
    "pd-standard",
    "pd-ssd",
    "pd-balanced",
    "hyperdisk-balanced",
    "hyperdisk-extreme",
    "hyperdisk-throughput",
)
#: gcloud's ``--release-channel`` choices (flags.AddReleaseChannelFlag)
RELEASE_CHANNELS = ("rapid", "regular", "stable", "extended")

#: ``--addons`` names (gcloud's GA ``ADDONS_OPTIONS``) → (AddonsConfig field, style).
#: "disabled" add-ons are sent as ``{disabled: not enabled}`` for every add-on, as gcloud
#: does; "enabled" ones only when asked for; NodeLocalDNS whenever it is named.
ADDONS: dict[str, tuple[str, str]] = {
    "HttpLoadBalancing": ("http_load_balancing", "disabled"),
    "HorizontalPodAutoscaling": ("horizontal_pod_autoscaling", "disabled"),
    "KubernetesDashboard": ("kubernetes_dashboard", "disabled"),
    "NetworkPolicy": ("network_policy_config", "disabled"),
    "NodeLocalDNS": ("dns_cache_config", "named"),
    "GcePersistentDiskCsiDriver": ("gce_persistent_disk_csi_driver_config", "enabled"),
    "GcpFilestoreCsiDriver": ("gcp_filestore_csi_driver_config", "enabled"),
    "BackupRestore": ("gke_backup_agent_config", "enabled"),
    "GcsFuseCsiDriver": ("gcs_fuse_csi_driver_config", "enabled"),
    "StatefulHA": ("stateful_ha_config", "enabled"),
    "ParallelstoreCsiDriver": ("parallelstore_csi_driver_config", "enabled"),
    "HighScaleCheckpointing": ("high_scale_checkpointing_config", "enabled"),
    "LustreCsiDriver": ("lustre_csi_driver_config", "enabled"),
    "RayOperator": ("ray_operator_config", "enabled"),
}

_KNWALK_INSTALLS = "`knwalk install` installs Istio and Knative itself"
#: seed add-ons GKE no longer offers (gcloud: "The Istio addon is deprecated and removed")
REMOVED_ADDONS = {
    "istio": f"--addons Istio: the Istio add-on was removed from GKE; {_KNWALK_INSTALLS}",
    "cloudrun": (
        "--addons CloudRun: the Cloud Run for Anthos (Knative serving) add-on was removed "
        f"from GKE; {_KNWALK_INSTALLS}"
    ),
    "kuberun": f"--addons KubeRun: the KubeRun add-on was removed from GKE; {_KNWALK_INSTALLS}",
}
#: Docker-based node images, gone since GKE 1.24 (containerd replaced dockershim)
DOCKER_IMAGE_TYPES = {
    "COS": "COS_CONTAINERD",
    "UBUNTU": "UBUNTU_CONTAINERD",
    "WINDOWS_LTSC": "WINDOWS_LTSC_CONTAINERD",
    "WINDOWS_SAC": "WINDOWS_SAC_CONTAINERD",
}
#: Kubernetes minors before this one are no longer offered by GKE (they ran Docker nodes)
OLDEST_OFFERED_MINOR = (1, 24)

#: ``--logging`` values (api_adapter.LOGGING_OPTIONS) → LoggingComponentConfig.Component,
#: in the order gcloud appends them
LOGGING_COMPONENTS = {
    "SYSTEM": "SYSTEM_COMPONENTS",
    "WORKLOAD": "WORKLOADS",
    "API_SERVER": "APISERVER",
    "SCHEDULER": "SCHEDULER",
    "CONTROLLER_MANAGER": "CONTROLLER_MANAGER",
    "KCP_SSHD": "KCP_SSHD",
    "KCP_CONNECTION": "KCP_CONNECTION",
    "KCP_HPA": "KCP_HPA",
}
#: ``--monitoring`` values (api_adapter.MONITORING_OPTIONS) → MonitoringComponentConfig.Component
MONITORING_COMPONENTS = {
    "SYSTEM": "SYSTEM_COMPONENTS",
    "API_SERVER": "APISERVER",
    "SCHEDULER": "SCHEDULER",
    "CONTROLLER_MANAGER": "CONTROLLER_MANAGER",
    "STORAGE": "STORAGE",
    "HPA": "HPA",
    "POD": "POD",
    "DAEMONSET": "DAEMONSET",
    "DEPLOYMENT": "DEPLOYMENT",
    "STATEFULSET": "STATEFULSET",
    "CADVISOR": "CADVISOR",
    "KUBELET": "KUBELET",
    "DCGM": "DCGM",
    "JOBSET": "JOBSET",
}

_AUTH = "https://www.googleapis.com/auth/"
#: ``--scopes`` aliases (googlecloudsdk/api_lib/compute/constants.py SCOPES)
SCOPE_ALIASES: dict[str, tuple[str, ...]] = {
    "bigquery": (_AUTH + "bigquery",),
    "cloud-platform": (_AUTH + "cloud-platform",),
    "cloud-source-repos": (_AUTH + "source.full_control",),
    "cloud-source-repos-ro": (_AUTH + "source.read_only",),
    "compute-ro": (_AUTH + "compute.readonly",),
    "compute-rw": (_AUTH + "compute",),
    "datastore": (_AUTH + "datastore",),
    "default": tuple(
        _AUTH + s
        for s in (
            "devstorage.read_only",
            "logging.write",
            "monitoring.write",
            "pubsub",
            "service.management.readonly",
            "servicecontrol",
            "trace.append",
        )
    ),
    "gke-default": tuple(
        _AUTH + s
        for s in (
            "devstorage.read_only",
            "logging.write",
            "monitoring",
            "service.management.readonly",
            "servicecontrol",
            "trace.append",
        )
    ),
    "logging-write": (_AUTH + "logging.write",),
    "monitoring": (_AUTH + "monitoring",),
    "monitoring-read": (_AUTH + "monitoring.read",),
    "monitoring-write": (_AUTH + "monitoring.write",),
    "pubsub": (_AUTH + "pubsub",),
    "service-control": (_AUTH + "servicecontrol",),
    "service-management": (_AUTH + "service.management.readonly",),
    "sql-admin": (_AUTH + "sqlservice.admin",),
    "storage-full": (_AUTH + "devstorage.full_control",),
    "storage-ro": (_AUTH + "devstorage.read_only",),
    "storage-rw": (_AUTH + "devstorage.read_write",),
    "taskqueue": (_AUTH + "taskqueue",),
    "trace": (_AUTH + "trace.append",),
    "userinfo-email": (_AUTH + "userinfo.email",),
}

# gcloud: "lowercase alphanumerics and '-', must start with a letter and end with an
# alphanumeric, and must be no longer than 40 characters"
_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
_MACHINE_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_VERSION_RE = re.compile(r"^(?:latest|-|(\d+)\.(\d+)(?:\.\d+(?:-gke\.\d+)?)?)$")
_SIZE_RE = re.compile(r"^(\d+)\s*(GB|G|GIB|TB|T|TIB)?$", re.IGNORECASE)
# https://cloud.google.com/resource-manager/docs/labels-overview#requirements
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")

# --------------------------------------------------------------------------- spec


@dataclass
class ClusterOptions:
    """What the user typed; None means "not given" and the default applies."""

    name: str | None = None
    machine_type: str | None = None
    num_nodes: int | None = None
    disk_type: str | None = None
    disk_size: str | None = None
    image_type: str | None = None
    cluster_version: str | None = None
    release_channel: str | None = None
    scopes: str | None = None
    default_max_pods_per_node: int | None = None
    addons: str | None = None
    enable_ip_alias: bool | None = None
    enable_autoupgrade: bool | None = None
    enable_autorepair: bool | None = None
    logging: str | None = None
    monitoring: str | None = None
    labels: str | None = None
    # seed options GKE has removed: explained, never sent
    istio_config: str | None = None
    cloud_run_config: str | None = None
    enable_basic_auth: bool | None = None
    username: str | None = None
    password: str | None = None
    enable_stackdriver_kubernetes: bool | None = None


@dataclass(frozen=True)
class ClusterSpec:
    """A validated cluster: everything needed for the request, the summary and gcloud."""

    name: str
    project: str
    location: str
    regional: bool
    machine_type: str
    num_nodes: int
    disk_type: str
    disk_size_gb: int
    image_type: str
    cluster_version: str | None
    release_channel: str | None
    scopes: tuple[str, ...]
    oauth_scopes: tuple[str, ...]
    max_pods_per_node: int | None
    addons: tuple[tuple[str, bool], ...]
    enable_ip_alias: bool
    autoupgrade: bool
    autorepair: bool
    logging: tuple[str, ...]
    monitoring: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()
    notices: tuple[str, ...] = ()

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def enabled_addons(self) -> tuple[str, ...]:
        return tuple(name for name, on in self.addons if on)

    @property
    def total_nodes(self) -> int:
        """Nodes GKE starts: ``--num-nodes`` per zone, three zones for a regional cluster."""
        return self.num_nodes * (REGIONAL_ZONES if self.regional else 1)


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise UsageError(
            f"{name!r} is not a valid cluster name",
            "use lowercase letters, digits and '-', start with a letter, end with a letter "
            "or digit, at most 40 characters",
        )
    return name


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_addons(value: str, notices: list[str]) -> tuple[tuple[str, bool], ...]:
    """``ADDON[=ENABLED|DISABLED],...`` as gcloud's ArgDict; removed add-ons become notices."""
    canonical = {name.lower(): name for name in ADDONS}
    chosen: dict[str, bool] = {}
    for item in _items(value):
        key, sep, state = item.partition("=")
        key = key.strip()
        if key.lower() in REMOVED_ADDONS:
            notices.append(REMOVED_ADDONS[key.lower()] + "; creating the cluster without it.")
            continue
        if key.lower() == "configconnector":
            raise UsageError(
                "--addons ConfigConnector needs Workload Identity (--workload-pool), "
                "which knwalk cluster create does not set",
                "create the cluster with gcloud, or leave ConfigConnector out",
            )
        name = canonical.get(key.lower())
        if name is None:
            raise UsageError(
                f"--addons: unknown add-on {key!r}", f"use some of: {', '.join(ADDONS)}"
            )
        enabled = True
        if sep:
            word = state.strip().upper()
            if word not in ("ENABLED", "DISABLED"):
                raise UsageError(
                    f"--addons {item}: the value must be ENABLED or DISABLED",
                    "write ADDON, ADDON=ENABLED or ADDON=DISABLED",
                )
            enabled = word == "ENABLED"
        chosen[name] = enabled
    return tuple((name, chosen[name]) for name in ADDONS if name in chosen)


def _parse_components(
    flag: str, value: str, known: Mapping[str, str], removed: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    names = [item.upper() for item in _items(value)]
    if not names:
        raise UsageError(
            f"{flag} needs at least one component", f"use NONE or some of: {', '.join(known)}"
        )
    for name in names:
        if removed and name in removed:
            raise UsageError(f"{flag} {name}: {removed[name]}", f"use some of: {', '.join(known)}")
        if name != "NONE" and name not in known:
            raise UsageError(
                f"{flag}: unknown component {name!r}", f"use NONE or some of: {', '.join(known)}"
            )
    if "NONE" in names:
        if len(names) > 1:
            raise UsageError(
                f"{flag}: NONE cannot be combined with other components", f"use {flag} NONE alone"
            )
        return ()
    if "SYSTEM" not in names:
        raise UsageError(
            f"{flag} must include SYSTEM when any component is enabled",
            f"for example: {flag} SYSTEM,{names[0]}",
        )
    return tuple(name for name in known if name in names)


def _parse_scopes(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    given = _items(value)
    if not given:
        raise UsageError(
            "--scopes needs at least one scope", "for example: --scopes cloud-platform"
        )
    urls: set[str] = set()
    for scope in given:
        if scope in SCOPE_ALIASES:
            urls.update(SCOPE_ALIASES[scope])
        elif scope.startswith(_AUTH):
            urls.add(scope)
        else:
            raise UsageError(
                f"--scopes: unknown scope {scope!r}",
                f"use an alias ({', '.join(SCOPE_ALIASES)}) or a full {_AUTH}... URL",
            )
    return tuple(given), tuple(sorted(urls))


def _parse_labels(value: str) -> tuple[tuple[str, str], ...]:
    labels: dict[str, str] = {}
    for item in _items(value):
        key, sep, val = item.partition("=")
        if not sep:
            raise UsageError(
                f"--labels: {item!r} is not KEY=VALUE", "write --labels team=web,env=dev"
            )
        if not _LABEL_KEY_RE.match(key):
            raise UsageError(
                f"--labels: {key!r} is not a valid label key",
                "keys start with a lowercase letter and use lowercase letters, digits, '_' "
                "and '-', at most 63 characters",
            )
        if not _LABEL_VALUE_RE.match(val):
            raise UsageError(
                f"--labels: {val!r} is not a valid label value",
                "values use lowercase letters, digits, '_' and '-', at most 63 characters",
            )
        labels[key] = val
    return tuple(sorted(labels.items()))


def _parse_disk_size(value: str) -> int:
    """gcloud's BinarySize with GB as the default unit and a 10 GB floor."""
    match = _SIZE_RE.match(value.strip())
    if not match:
        raise UsageError(f"--disk-size {value!r} is not a size", "write 100, 100GB or 1TB")
    number, unit = int(match.group(1)), (match.group(2) or "GB").upper()
    size = number * 1024 if unit.startswith("T") else number
    if size < 10:
        raise UsageError(
            f"--disk-size {value} is below the 10 GB minimum", "use --disk-size 10GB or more"
        )
    return size


def _check_version(version: str) -> str:
    match = _VERSION_RE.match(version)
    if not match:
        raise UsageError(
            f"--cluster-version {version!r} is not a Kubernetes version",
            "write latest, 1.33, 1.33.5 or 1.33.5-gke.1080000",
        )
    if match.group(1) is not None:
        minor = (int(match.group(1)), int(match.group(2)))
        if minor < OLDEST_OFFERED_MINOR:
            raise UsageError(
                f"--cluster-version {version}: Kubernetes {minor[0]}.{minor[1]} is no longer "
                "offered by GKE (versions before 1.24 ran Docker nodes and left support long ago)",
                "omit --cluster-version to get the release channel's default version",
            )
    return version


def _removed_flags(opts: ClusterOptions, notices: list[str]) -> None:
    """Seed flags for features GKE removed: stop if they insist, else one notice."""
    if opts.istio_config is not None:
        raise UsageError(
            "--istio-config: the Istio add-on was removed from GKE, so there is nothing to configure",
            f"drop --istio-config; {_KNWALK_INSTALLS} once the cluster is up",
        )
    if opts.cloud_run_config is not None:
        raise UsageError(
            "--cloud-run-config: the Cloud Run for Anthos add-on was removed from GKE",
            f"drop --cloud-run-config; {_KNWALK_INSTALLS} once the cluster is up",
        )
    insisted = [
        flag
        for flag, given in (
            ("--enable-basic-auth", opts.enable_basic_auth is True),
            ("--username", opts.username is not None),
            ("--password", opts.password is not None),
        )
        if given
    ]
    if insisted:
        raise UsageError(
            f"{'/'.join(insisted)}: basic authentication was removed from GKE "
            "(control plane 1.19 and later)",
            "drop it; the kubeconfig knwalk writes signs in with your Google credentials",
        )
    if opts.enable_basic_auth is False:
        notices.append(
            "--no-enable-basic-auth: basic authentication no longer exists on GKE, so there is "
            "nothing to disable; ignored."
        )
    if opts.enable_stackdriver_kubernetes is not None:
        today = (
            "SYSTEM,WORKLOAD --monitoring SYSTEM"
            if opts.enable_stackdriver_kubernetes
            else "NONE --monitoring NONE"
        )
        flag = (
            "--enable-stackdriver-kubernetes"
            if opts.enable_stackdriver_kubernetes
            else "--no-enable-stackdriver-kubernetes"
        )
        notices.append(f"{flag} is deprecated in gcloud; sending today's form, --logging {today}.")


def build_spec(opts: ClusterOptions, *, project: str, location: str, regional: bool) -> ClusterSpec:
    """Validate ``opts`` and apply knwalk's defaults; raise :class:`UsageError` on bad input."""
    notices: list[str] = []
    _removed_flags(opts, notices)
    name = check_name(opts.name or DEFAULT_NAME)

    machine_type = opts.machine_type or DEFAULT_MACHINE_TYPE
    if not _MACHINE_RE.match(machine_type):
        raise UsageError(
            f"--machine-type {machine_type!r} is not a machine type name",
            "for example n1-standard-8, e2-standard-4 or custom-2-12288",
        )
    num_nodes = DEFAULT_NUM_NODES if opts.num_nodes is None else opts.num_nodes
    if num_nodes < 1:
        raise UsageError(
            f"--num-nodes {num_nodes}: a cluster needs at least one node",
            "use --num-nodes 1 or more",
        )

    disk_type = (opts.disk_type or DEFAULT_DISK_TYPE).lower()
    if disk_type not in DISK_TYPES:
        raise UsageError(
            f"--disk-type {opts.disk_type!r} is not a disk type",
            f"use one of: {', '.join(DISK_TYPES)}",
        )
    disk_size = DEFAULT_DISK_SIZE_GB if opts.disk_size is None else _parse_disk_size(opts.disk_size)

    image_type = (opts.image_type or DEFAULT_IMAGE_TYPE).strip().upper()
    if image_type in DOCKER_IMAGE_TYPES:
        raise UsageError(
            f"--image-type {opts.image_type}: Docker-based node images were removed from GKE in 1.24",
            f"use --image-type {DOCKER_IMAGE_TYPES[image_type]} (containerd), or omit it for {DEFAULT_IMAGE_TYPE}",
        )
    if not re.match(r"^[A-Z][A-Z0-9_]*$", image_type):
        raise UsageError(
            f"--image-type {opts.image_type!r} is not an image type",
            f"for example {DEFAULT_IMAGE_TYPE}",
        )

    version = _check_version(opts.cluster_version) if opts.cluster_version else None
    channel = opts.release_channel.lower() if opts.release_channel else None
    if channel is not None and channel not in RELEASE_CHANNELS:
        raise UsageError(
            f"--release-channel {opts.release_channel!r} is not a release channel",
            f"use one of: {', '.join(RELEASE_CHANNELS)}",
        )
    if channel is None and version is None:
        channel = DEFAULT_RELEASE_CHANNEL

    scopes, oauth_scopes = _parse_scopes(
        opts.scopes if opts.scopes is not None else ",".join(DEFAULT_SCOPES)
    )

    ip_alias = True if opts.enable_ip_alias is None else opts.enable_ip_alias
    max_pods: int | None = opts.default_max_pods_per_node
    if max_pods is not None:
        if not ip_alias:
            raise UsageError(
                "--default-max-pods-per-node needs a VPC-native cluster (IP aliases)",
                "drop --no-enable-ip-alias, or drop --default-max-pods-per-node",
            )
        if max_pods < 1:
            raise UsageError(
                f"--default-max-pods-per-node {max_pods} must be positive", "GKE's default is 110"
            )
    elif ip_alias:
        max_pods = DEFAULT_MAX_PODS_PER_NODE

    addons = _parse_addons(
        opts.addons if opts.addons is not None else ",".join(DEFAULT_ADDONS), notices
    )

    stackdriver = opts.enable_stackdriver_kubernetes
    default_logging = "NONE" if stackdriver is False else ",".join(DEFAULT_LOGGING)
    default_monitoring = "NONE" if stackdriver is False else ",".join(DEFAULT_MONITORING)
    logging = _parse_components("--logging", opts.logging or default_logging, LOGGING_COMPONENTS)
    monitoring = _parse_components(
        "--monitoring",
        opts.monitoring or default_monitoring,
        MONITORING_COMPONENTS,
        removed={
            "WORKLOAD": "workload monitoring is deprecated in gcloud and absent from the GKE v1 API"
        },
    )
    labels = _parse_labels(opts.labels) if opts.labels else ()

    return ClusterSpec(
        name=name,
        project=project,
        location=location,
        regional=regional,
        machine_type=machine_type,
        num_nodes=num_nodes,
        disk_type=disk_type,
        disk_size_gb=disk_size,
        image_type=image_type,
        cluster_version=version,
        release_channel=channel,
        scopes=scopes,
        oauth_scopes=oauth_scopes,
        max_pods_per_node=max_pods,
        addons=addons,
        enable_ip_alias=ip_alias,
        autoupgrade=True if opts.enable_autoupgrade is None else opts.enable_autoupgrade,
        autorepair=True if opts.enable_autorepair is None else opts.enable_autorepair,
        logging=logging,
        monitoring=monitoring,
        labels=labels,
        notices=tuple(notices),
    )
