"""Cluster spec: what the user typed (:class:`ClusterOptions`) becomes a validated
:class:`ClusterSpec` (:func:`build_spec`), with knwalk's defaults.

Option names, accepted values and defaults follow gcloud 528
(``surface/container/clusters/create.py``, ``command_lib/container/flags.py`` and
``api_lib/container/api_adapter.py`` of the Cloud SDK). Seed options that GKE has
removed are explained, never sent (see :mod:`kn_walk.gke`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

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
#: gcloud's ``--release-channel`` choices (flags.AddReleaseChannelFlag), and "None"
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
    "ConfigConnector": ("config_connector_config", "enabled"),
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
    "ADDON_MANAGER": "ADDON_MANAGER",
    "KCP_SSHD": "KCP_SSHD",
    "KCP_CONNECTION": "KCP_CONNECTION",
    "KCP_HPA": "KCP_HPA",
}
#: ``--monitoring`` values (api_adapter.MONITORING_OPTIONS) → MonitoringComponentConfig.Component
MONITORING_COMPONENTS = {
    "SYSTEM": "SYSTEM_COMPONENTS",
    "WORKLOAD": "WORKLOADS",
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

#: Enum values GKE's v1 API takes (gcloud 528 sends them by name, from the API's discovery
#: document) that the client library's proto lacks; the REST client sends enums by number.
#: The numbers are the gaps the published proto leaves where these names stand in the
#: discovery document's order (and v1beta1's proto has MonitoringComponentConfig.WORKLOADS = 2).
HIDDEN_ENUM_VALUES: dict[str, dict[str, int]] = {
    "LoggingComponentConfig.Component": {"ADDON_MANAGER": 6},
    "MonitoringComponentConfig.Component": {"WORKLOADS": 2},
}
#: deprecated components gcloud still accepts: sent, with a notice
DEPRECATED_COMPONENTS = {
    ("--monitoring", "WORKLOAD"): "--monitoring WORKLOAD is deprecated in gcloud; sent as gcloud "
    "sends it.",
}
#: gcloud's ``--release-channel`` value for "no channel" (a static version)
NO_CHANNEL = "None"
#: gcloud splits more than this many nodes per zone into several pools; knwalk makes one pool
MAX_NODES_PER_POOL = 1000
#: what GKE accepts for ``--default-max-pods-per-node`` on Standard clusters
MAX_PODS_RANGE = (8, 256)
#: gcloud's default ``--max-surge-upgrade`` (surge upgrades, one extra node at a time)
DEFAULT_MAX_SURGE = 1

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
#: what ``gke-default`` means on nodes that run as a service account
#: (api_adapter.NodeIdentityOptionsToNodeConfig, _SERVICE_ACCOUNT_SCOPES)
SERVICE_ACCOUNT_SCOPES = (_AUTH + "cloud-platform", _AUTH + "userinfo.email")

# gcloud: "lowercase alphanumerics and '-', must start with a letter and end with an
# alphanumeric, and must be no longer than 40 characters"
_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
_MACHINE_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_VERSION_RE = re.compile(r"^(?:latest|-|(\d+)\.(\d+)(?:\.\d+(?:-gke\.\d+)?)?)$")
# gcloud's BinarySize (calliope/arg_parsers.py): DECIMAL[UNIT], binary units, B optional
_SIZE_RE = re.compile(r"^(\d+\.?\d*)([-/a-zA-Z]+)?$")
_SIZE_UNITS = {
    "": 1 << 30,  # the default unit is G
    "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50,
    "KI": 1 << 10, "MI": 1 << 20, "GI": 1 << 30, "TI": 1 << 40, "PI": 1 << 50,
}  # fmt: skip
_GIB = 1 << 30
# https://cloud.google.com/resource-manager/docs/labels-overview#requirements
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
# Compute Engine network tags: RFC 1035 names, at most 63 characters
_TAG_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_ZONE_RE = re.compile(r"^([a-z]+-[a-z]+[0-9]+)-[a-z]$")
# a network or subnetwork: a name, or a (partial) resource URL
_RESOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
_INT32 = 2**31 - 1

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
    service_account: str | None = None
    default_max_pods_per_node: int | None = None
    addons: str | None = None
    enable_ip_alias: bool | None = None
    network: str | None = None
    subnetwork: str | None = None
    enable_private_nodes: bool | None = None
    master_ipv4_cidr: str | None = None
    node_locations: str | None = None
    tags: str | None = None
    spot: bool | None = None
    preemptible: bool | None = None
    enable_autoscaling: bool | None = None
    min_nodes: int | None = None
    max_nodes: int | None = None
    total_min_nodes: int | None = None
    total_max_nodes: int | None = None
    enable_autoupgrade: bool | None = None
    enable_autorepair: bool | None = None
    workload_pool: str | None = None
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
class Autoscaling:
    """The default pool's autoscaling limits: per zone (``min``/``max``) or in total."""

    min_nodes: int | None = None
    max_nodes: int | None = None
    total_min_nodes: int | None = None
    total_max_nodes: int | None = None

    @property
    def per_zone(self) -> bool:
        return self.max_nodes is not None


@dataclass(frozen=True)
class ClusterSpec:
    """A validated cluster: everything needed for the request, the summary and gcloud.

    ``release_channel`` is a channel name, :data:`NO_CHANNEL` (``--release-channel None``:
    a static version) or None (nothing sent: GKE picks). ``addons`` None sends no add-on
    settings (``--addons ''``: GKE's defaults).
    """

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
    addons: tuple[tuple[str, bool], ...] | None
    enable_ip_alias: bool
    autoupgrade: bool
    autorepair: bool
    logging: tuple[str, ...]
    monitoring: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()
    service_account: str | None = None
    network: str | None = None
    subnetwork: str | None = None
    private_nodes: bool = False
    master_ipv4_cidr: str | None = None
    node_locations: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    spot: bool = False
    preemptible: bool = False
    autoscaling: Autoscaling | None = None
    workload_pool: str | None = None
    #: why no release channel is sent although none was asked for ("" if not so)
    static_reason: str = ""
    notices: tuple[str, ...] = ()

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def enabled_addons(self) -> tuple[str, ...]:
        return tuple(name for name, on in self.addons or () if on)

    @property
    def zones(self) -> int:
        """Zones that get ``--num-nodes`` nodes each: ``--node-locations``, else one zone
        (zonal) or three (regional)."""
        if self.node_locations:
            return len(self.node_locations)
        return REGIONAL_ZONES if self.regional else 1

    @property
    def total_nodes(self) -> int:
        """Nodes GKE starts: ``--num-nodes`` in each zone."""
        return self.num_nodes * self.zones

    @property
    def node_range(self) -> tuple[int, int] | None:
        """(fewest, most) nodes the autoscaler may run, in total; None without autoscaling."""
        auto = self.autoscaling
        if auto is None:
            return None
        if auto.per_zone:
            return ((auto.min_nodes or 0) * self.zones, (auto.max_nodes or 0) * self.zones)
        return (auto.total_min_nodes or 0, auto.total_max_nodes or 0)


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


def _parse_addons(
    value: str, notices: list[str], *, workload_pool: str | None
) -> tuple[tuple[str, bool], ...] | None:
    """``ADDON[=ENABLED|DISABLED],...`` as gcloud's ArgDict; removed add-ons become notices.

    Nothing left (``--addons ''``) is None: gcloud then sends no add-on settings.
    """
    canonical = {name.lower(): name for name in ADDONS}
    chosen: dict[str, bool] = {}
    for item in _items(value):
        key, sep, state = item.partition("=")
        key = key.strip()
        if key.lower() in REMOVED_ADDONS:
            notices.append(REMOVED_ADDONS[key.lower()] + "; creating the cluster without it.")
            continue
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
    if chosen.get("ConfigConnector") and workload_pool is None:
        raise UsageError(
            "--addons ConfigConnector needs Workload Identity",
            "add --workload-pool PROJECT_ID.svc.id.goog",
        )
    if not chosen:
        return None
    return tuple((name, chosen[name]) for name in ADDONS if name in chosen)


def _parse_components(
    flag: str,
    value: str,
    known: Mapping[str, str],
    notices: list[str],
) -> tuple[str, ...]:
    names = [item.upper() for item in _items(value)]
    if not names:
        raise UsageError(
            f"{flag} needs at least one component", f"use NONE or some of: {', '.join(known)}"
        )
    for name in names:
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
    for name in names:
        if (flag, name) in DEPRECATED_COMPONENTS:
            notices.append(DEPRECATED_COMPONENTS[(flag, name)])
    return tuple(name for name in known if name in names)


def _parse_scopes(
    value: str, service_account: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    given = _items(value)
    if not given:
        raise UsageError(
            "--scopes needs at least one scope", "for example: --scopes cloud-platform"
        )
    urls: set[str] = set()
    for scope in given:
        if scope == "gke-default" and service_account:
            urls.update(SERVICE_ACCOUNT_SCOPES)  # as gcloud does for a node service account
        elif scope in SCOPE_ALIASES:
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


def parse_disk_size(value: str) -> int:
    """``--disk-size`` in GB as gcloud reads it: a binary size (``100``, ``100GB``,
    ``51200MB``, ``1.5TB``; the unit defaults to GB), a whole number of GB, at least 10 GB."""
    hint = "write a size such as 100, 100GB, 51200MB or 1TB (at least 10GB)"
    match = _SIZE_RE.match(value.strip())
    unit = "" if not match else (match.group(2) or "").upper()
    if unit.endswith("B") and unit != "B":
        unit = unit[:-1]
    if not match or unit not in _SIZE_UNITS:
        raise UsageError(f"--disk-size {value!r} is not a size", hint)
    amount = Decimal(match.group(1)) * _SIZE_UNITS[unit]
    if amount != amount.to_integral_value():
        raise UsageError(f"--disk-size {value!r} is not a whole number of bytes", hint)
    size = int(amount)
    if size < 10 * _GIB:
        raise UsageError(
            f"--disk-size {value} is below the 10 GB minimum", "use --disk-size 10GB or more"
        )
    if size % _GIB:
        raise UsageError(
            f"--disk-size {value} is not a whole number of GB",
            f"did you mean --disk-size {size // _GIB + 1}GB?",
        )
    if size // _GIB > 64 * 1024:
        raise UsageError(
            f"--disk-size {value} is above the 64 TB a boot disk can have",
            "use --disk-size 65536GB or less",
        )
    return size // _GIB


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


def _count(flag: str, value: int, low: int, high: int = _INT32, what: str = "") -> int:
    if not low <= value <= high:
        raise UsageError(
            f"{flag} {value} is out of range{what}",
            f"use a whole number from {low} to {high}",
        )
    return value


def _channel(
    opts: ClusterOptions, version: str | None, autoupgrade: bool, autorepair: bool
) -> tuple[str | None, str]:
    """(release channel to send, why none is sent although none was asked for).

    gcloud's rules (and GKE's): ``--release-channel`` is rapid, regular, stable, extended
    or None (a static version). A channel's nodes are upgraded and repaired by GKE, so
    a channel with ``--no-enable-autoupgrade``/``--no-enable-autorepair`` is refused
    (GKE answers 400). Without ``--release-channel``, turning either off means no
    channel (a static version, with or without ``--cluster-version``), as gcloud sends
    none; else ``--cluster-version`` lets GKE pick the most mature channel that has the
    version; otherwise knwalk asks for REGULAR.
    """
    given = opts.release_channel.strip() if opts.release_channel is not None else None
    off = [
        flag
        for flag, on in (
            ("--no-enable-autoupgrade", autoupgrade),
            ("--no-enable-autorepair", autorepair),
        )
        if not on
    ]
    if given is not None:
        if given.lower() == NO_CHANNEL.lower():
            return NO_CHANNEL, ""
        channel = given.lower()
        if channel not in RELEASE_CHANNELS:
            raise UsageError(
                f"--release-channel {given!r} is not a release channel",
                f"use one of: {', '.join(RELEASE_CHANNELS)}, or {NO_CHANNEL} for a static version",
            )
        if off:
            raise UsageError(
                f"--release-channel {channel} and {' and '.join(off)} cannot be used together: "
                "GKE upgrades and repairs the nodes of release-channel clusters",
                f"drop {' and '.join(off)}, or use --release-channel {NO_CHANNEL} for a static "
                "version",
            )
        return channel, ""
    if off:  # even with --cluster-version: GKE cannot enroll the cluster in a channel
        return None, f"{' and '.join(off)} (release-channel clusters always have both)"
    if version is not None:
        return None, ""
    return DEFAULT_RELEASE_CHANNEL, ""


def _autoscaling(opts: ClusterOptions) -> Autoscaling | None:
    limits = {
        "--min-nodes": opts.min_nodes,
        "--max-nodes": opts.max_nodes,
        "--total-min-nodes": opts.total_min_nodes,
        "--total-max-nodes": opts.total_max_nodes,
    }
    given = [flag for flag, value in limits.items() if value is not None]
    if not opts.enable_autoscaling:
        if given:
            raise UsageError(
                f"{'/'.join(given)} only apply with --enable-autoscaling",
                f"add --enable-autoscaling, or drop {'/'.join(given)}",
            )
        return None
    for flag, value in limits.items():
        if value is not None:
            _count(flag, value, 0, MAX_NODES_PER_POOL if "total" not in flag else _INT32)
    per_zone = opts.min_nodes is not None or opts.max_nodes is not None
    total = opts.total_min_nodes is not None or opts.total_max_nodes is not None
    if per_zone and total:
        raise UsageError(
            "--min-nodes/--max-nodes (per zone) and --total-min-nodes/--total-max-nodes "
            "cannot be used together",
            "limit the nodes per zone or in total, not both",
        )
    low, high, names = (
        (opts.min_nodes, opts.max_nodes, ("--min-nodes", "--max-nodes"))
        if per_zone
        else (
            opts.total_min_nodes,
            opts.total_max_nodes,
            ("--total-min-nodes", "--total-max-nodes"),
        )
    )
    if high is None:
        raise UsageError(
            "--enable-autoscaling needs --max-nodes or --total-max-nodes",
            "for example: --enable-autoscaling --min-nodes 1 --max-nodes 5",
        )
    if high < 1 or (low is not None and low > high):
        raise UsageError(
            f"{names[1]} {high} must be at least 1 and at least {names[0]} {low or 0}",
            f"for example: --enable-autoscaling {names[0]} 1 {names[1]} 5",
        )
    if per_zone:
        return Autoscaling(min_nodes=opts.min_nodes, max_nodes=opts.max_nodes)
    return Autoscaling(total_min_nodes=opts.total_min_nodes, total_max_nodes=opts.total_max_nodes)


def _node_locations(value: str, location: str, regional: bool) -> tuple[str, ...]:
    zones = _items(value)
    if not zones:
        raise UsageError("--node-locations needs at least one zone", f"for example: {location}")
    region = location if regional else location.rsplit("-", 1)[0]
    for zone in zones:
        match = _ZONE_RE.match(zone)
        if not match:
            raise UsageError(
                f"--node-locations: {zone!r} is not a zone", "zones look like us-central1-a"
            )
        if match.group(1) != region:
            raise UsageError(
                f"--node-locations: {zone} is not in the cluster's region {region}",
                f"use zones of {region}",
            )
    if not regional and location not in zones:
        raise UsageError(
            f"--node-locations must include the cluster's zone {location}",
            f"for example: --node-locations {','.join(sorted({location, *zones}))}",
        )
    return tuple(sorted(set(zones)))


def _private(opts: ClusterOptions, ip_alias: bool) -> tuple[bool, str | None]:
    private = bool(opts.enable_private_nodes)
    cidr = opts.master_ipv4_cidr
    if private and not ip_alias:
        raise UsageError(
            "--enable-private-nodes needs a VPC-native cluster (IP aliases)",
            "drop --no-enable-ip-alias",
        )
    if cidr is None:
        return private, None
    if not private:
        raise UsageError(
            "--master-ipv4-cidr only applies with --enable-private-nodes",
            "add --enable-private-nodes, or drop --master-ipv4-cidr",
        )
    try:
        network = ipaddress.IPv4Network(cidr.strip(), strict=True)
    except ValueError:
        network = None
    if network is None or network.prefixlen != 28:
        raise UsageError(
            f"--master-ipv4-cidr {cidr!r} is not an IPv4 /28 range",
            "for example: --master-ipv4-cidr 172.16.0.32/28",
        )
    return True, str(network)


def _resource(flag: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not _RESOURCE_RE.match(value) or len(value) > 1024:
        raise UsageError(
            f"{flag} {value!r} is not a name or resource URL",
            f"for example: {flag} default",
        )
    return value


def _tags(value: str) -> tuple[str, ...]:
    tags = _items(value)
    if not tags:
        raise UsageError("--tags needs at least one tag", "for example: --tags web")
    for tag in tags:
        if not _TAG_RE.match(tag):
            raise UsageError(
                f"--tags: {tag!r} is not a network tag",
                "tags use lowercase letters, digits and '-', start with a letter, "
                "at most 63 characters",
            )
    return tuple(dict.fromkeys(tags))


def _service_account(value: str | None) -> str | None:
    if value is None:
        return None
    if value != "default" and not re.match(r"^[^@\s]+@[^@\s]+$", value):
        raise UsageError(
            f"--service-account {value!r} is not a service account email",
            "for example: --service-account nodes@PROJECT_ID.iam.gserviceaccount.com",
        )
    return value


def _workload_pool(value: str | None, project: str) -> str | None:
    if value is None:
        return None
    expected = f"{project}.svc.id.goog"
    if value != expected:
        raise UsageError(
            f"--workload-pool {value!r}: GKE accepts only the cluster project's pool",
            f"use --workload-pool {expected}",
        )
    return value


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
    _count("--num-nodes", num_nodes, 1, MAX_NODES_PER_POOL, " for one node pool")

    disk_type = (opts.disk_type or DEFAULT_DISK_TYPE).lower()
    if disk_type not in DISK_TYPES:
        raise UsageError(
            f"--disk-type {opts.disk_type!r} is not a disk type",
            f"use one of: {', '.join(DISK_TYPES)}",
        )
    disk_size = DEFAULT_DISK_SIZE_GB if opts.disk_size is None else parse_disk_size(opts.disk_size)

    # sent as typed, as gcloud sends it (GKE reads image types in any case)
    image_type = (opts.image_type or DEFAULT_IMAGE_TYPE).strip()
    if image_type.upper() in DOCKER_IMAGE_TYPES:
        raise UsageError(
            f"--image-type {opts.image_type}: Docker-based node images were removed from GKE in 1.24",
            f"use --image-type {DOCKER_IMAGE_TYPES[image_type.upper()]} (containerd), or omit it for {DEFAULT_IMAGE_TYPE}",
        )
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", image_type):
        raise UsageError(
            f"--image-type {opts.image_type!r} is not an image type",
            f"for example {DEFAULT_IMAGE_TYPE}",
        )

    autoupgrade = True if opts.enable_autoupgrade is None else opts.enable_autoupgrade
    autorepair = True if opts.enable_autorepair is None else opts.enable_autorepair
    version = _check_version(opts.cluster_version) if opts.cluster_version else None
    channel, static_reason = _channel(opts, version, autoupgrade, autorepair)

    service_account = _service_account(opts.service_account)
    scopes, oauth_scopes = _parse_scopes(
        opts.scopes if opts.scopes is not None else ",".join(DEFAULT_SCOPES), service_account
    )

    ip_alias = True if opts.enable_ip_alias is None else opts.enable_ip_alias
    max_pods: int | None = opts.default_max_pods_per_node
    if max_pods is not None:
        if not ip_alias:
            raise UsageError(
                "--default-max-pods-per-node needs a VPC-native cluster (IP aliases)",
                "drop --no-enable-ip-alias, or drop --default-max-pods-per-node",
            )
        _count("--default-max-pods-per-node", max_pods, *MAX_PODS_RANGE)
    elif ip_alias:
        max_pods = DEFAULT_MAX_PODS_PER_NODE
    private, master_cidr = _private(opts, ip_alias)

    workload_pool = _workload_pool(opts.workload_pool, project)
    addons = _parse_addons(
        opts.addons if opts.addons is not None else ",".join(DEFAULT_ADDONS),
        notices,
        workload_pool=workload_pool,
    )

    stackdriver = opts.enable_stackdriver_kubernetes
    default_logging = "NONE" if stackdriver is False else ",".join(DEFAULT_LOGGING)
    default_monitoring = "NONE" if stackdriver is False else ",".join(DEFAULT_MONITORING)
    logging = _parse_components(
        "--logging", opts.logging or default_logging, LOGGING_COMPONENTS, notices
    )
    monitoring = _parse_components(
        "--monitoring", opts.monitoring or default_monitoring, MONITORING_COMPONENTS, notices
    )
    if addons and dict(addons).get("ConfigConnector") and not (logging and monitoring):
        raise UsageError(
            "--addons ConfigConnector needs SYSTEM logging and monitoring",
            "drop --logging NONE/--monitoring NONE, or leave ConfigConnector out",
        )
    if opts.spot and opts.preemptible:
        raise UsageError(
            "--spot and --preemptible cannot be used together",
            "use --spot (preemptible VMs are their predecessor)",
        )
    node_locations = (
        _node_locations(opts.node_locations, location, regional)
        if opts.node_locations is not None
        else ()
    )

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
        autoupgrade=autoupgrade,
        autorepair=autorepair,
        logging=logging,
        monitoring=monitoring,
        labels=_parse_labels(opts.labels) if opts.labels else (),
        service_account=service_account,
        network=_resource("--network", opts.network),
        subnetwork=_resource("--subnetwork", opts.subnetwork),
        private_nodes=private,
        master_ipv4_cidr=master_cidr,
        node_locations=node_locations,
        tags=_tags(opts.tags) if opts.tags is not None else (),
        spot=bool(opts.spot),
        preemptible=bool(opts.preemptible),
        autoscaling=_autoscaling(opts),
        workload_pool=workload_pool,
        static_reason=static_reason,
        notices=tuple(notices),
    )
