"""GKE clusters through ``google.cloud.container_v1.ClusterManagerClient`` (REST transport).

Four parts, top to bottom:

* **Cluster spec** — :class:`ClusterOptions` (what the user typed) becomes a validated
  :class:`ClusterSpec` (:func:`build_spec`), then a ``CreateClusterRequest``
  (:func:`create_request`), plus the equivalent gcloud command and a cost estimate.
  Option names, accepted values and the request fields they fill follow gcloud 528
  (``surface/container/clusters/create.py``, ``command_lib/container/flags.py`` and
  ``api_lib/container/api_adapter.py`` of the Cloud SDK): node settings go into
  ``node_pools=[NodePool(name="default-pool", ...)]``, never into the deprecated
  cluster-level ``node_config``/``initial_node_count``; ``parent`` is
  ``projects/P/locations/L``.
* **Calls** — :class:`Gke` wraps the client: retries 429/503 with exponential backoff,
  turns API errors into one-line :class:`GkeApiError` (never a traceback), and polls
  Operations (:meth:`Gke.wait`) reporting :class:`Progress` from ``Operation.progress``.
  GKE has no watch for operations, so polling is the only way (gcloud polls every 5 s).
* **kubeconfig** — entries exactly as ``gcloud container clusters get-credentials``
  writes them (``api_lib/container/kubeconfig.py`` and ``util.ClusterConfig``): names
  ``gke_{project}_{location}_{name}``, ``server: https://{endpoint}``,
  ``certificate-authority-data``, and an ``exec`` user running ``gke-gcloud-auth-plugin``.
* **Without the exec plugin** — :func:`kubernetes_client` builds a ``kubernetes`` client
  that signs requests with ``google.auth.default()`` credentials and refreshes the token.

Seed options that GKE has removed (the 2020 walkthrough's ``--addons Istio``/``CloudRun``,
``--istio-config``, basic auth, ``--image-type COS``, ``--cluster-version 1.15``) are
explained, never sent. The rule: a removed item inside a list (``--addons``) or a flag
whose meaning still exists today (``--enable-stackdriver-kubernetes``,
``--no-enable-basic-auth``) gets a one-line notice and creation goes on without it; a
flag that insists on the removed feature itself (``--istio-config``,
``--enable-basic-auth``, ``--username``/``--password``, ``--image-type COS``, an old
``--cluster-version``) stops with a usage error before anything is sent.

``google.cloud`` and ``google.auth`` are imported inside the functions that need them.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import random
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kn_walk import kubeconfig
from kn_walk.errors import KnwalkError, UsageError, WaitTimeout

if TYPE_CHECKING:
    from google.cloud.container_v1 import (
        Cluster,
        ClusterManagerClient,
        CreateClusterRequest,
        Operation,
    )

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

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ENDPOINT_ENV = "KNWALK_GKE_ENDPOINT"

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


def create_request(spec: ClusterSpec) -> CreateClusterRequest:
    """The ``CreateClusterRequest`` gcloud would send for the same flags."""
    from google.cloud import container_v1 as gke

    node_config = gke.NodeConfig(
        machine_type=spec.machine_type,
        disk_size_gb=spec.disk_size_gb,
        disk_type=spec.disk_type,
        image_type=spec.image_type,
        oauth_scopes=list(spec.oauth_scopes),
    )
    pool = gke.NodePool(
        name=DEFAULT_POOL,
        initial_node_count=spec.num_nodes,
        config=node_config,
        management=gke.NodeManagement(auto_upgrade=spec.autoupgrade, auto_repair=spec.autorepair),
    )
    chosen = dict(spec.addons)
    addons = gke.AddonsConfig()
    for addon, (attr, style) in ADDONS.items():
        enabled = chosen.get(addon, False)
        message_type = type(getattr(addons, attr))
        if style == "disabled":
            setattr(addons, attr, message_type(disabled=not enabled))
        elif (style == "named" and addon in chosen) or (style == "enabled" and enabled):
            setattr(addons, attr, message_type(enabled=enabled))
    logging_cfg = gke.LoggingComponentConfig(
        enable_components=[LOGGING_COMPONENTS[c] for c in spec.logging]
    )
    monitoring_cfg = gke.MonitoringComponentConfig(
        enable_components=[MONITORING_COMPONENTS[c] for c in spec.monitoring]
    )
    cluster = gke.Cluster(
        name=spec.name,
        node_pools=[pool],
        addons_config=addons,
        logging_config=gke.LoggingConfig(component_config=logging_cfg),
        monitoring_config=gke.MonitoringConfig(component_config=monitoring_cfg),
        ip_allocation_policy=(
            gke.IPAllocationPolicy(use_ip_aliases=True)
            if spec.enable_ip_alias
            else gke.IPAllocationPolicy(use_routes=True)
        ),
    )
    if spec.cluster_version:
        cluster.initial_cluster_version = spec.cluster_version
    if spec.release_channel:
        cluster.release_channel = gke.ReleaseChannel(channel=spec.release_channel.upper())
    if spec.max_pods_per_node is not None:
        cluster.default_max_pods_constraint = gke.MaxPodsConstraint(
            max_pods_per_node=spec.max_pods_per_node
        )
    if spec.labels:
        cluster.resource_labels = dict(spec.labels)
    return gke.CreateClusterRequest(parent=spec.parent, cluster=cluster)


def message_dict(message: Any) -> dict[str, Any]:
    """A proto-plus message as the JSON the REST API speaks: camelCase, enum names, no defaults."""
    result = type(message).to_dict(
        message,
        use_integers_for_enums=False,
        preserving_proto_field_name=False,
        always_print_fields_with_no_presence=False,
    )
    assert isinstance(result, dict)
    return result


def gcloud_command(spec: ClusterSpec) -> str:
    """The equivalent ``gcloud container clusters create`` command line."""
    where = "--region" if spec.regional else "--zone"
    args = [
        "gcloud", "container", "clusters", "create", spec.name,
        "--project", spec.project,
        where, spec.location,
        "--machine-type", spec.machine_type,
        "--num-nodes", str(spec.num_nodes),
        "--disk-type", spec.disk_type,
        "--disk-size", f"{spec.disk_size_gb}GB",
        "--image-type", spec.image_type,
    ]  # fmt: skip
    if spec.cluster_version:
        args += ["--cluster-version", spec.cluster_version]
    if spec.release_channel:
        args += ["--release-channel", spec.release_channel]
    args += ["--scopes", ",".join(spec.scopes)]
    args.append("--enable-ip-alias" if spec.enable_ip_alias else "--no-enable-ip-alias")
    if spec.max_pods_per_node is not None:
        args += ["--default-max-pods-per-node", str(spec.max_pods_per_node)]
    args += [
        "--addons",
        ",".join(f"{n}={'ENABLED' if on else 'DISABLED'}" if not on else n for n, on in spec.addons)
        or "''",
    ]
    args.append("--enable-autoupgrade" if spec.autoupgrade else "--no-enable-autoupgrade")
    args.append("--enable-autorepair" if spec.autorepair else "--no-enable-autorepair")
    args += ["--logging", ",".join(spec.logging) or "NONE"]
    args += ["--monitoring", ",".join(spec.monitoring) or "NONE"]
    if spec.labels:
        args += ["--labels", ",".join(f"{k}={v}" for k, v in spec.labels)]
    return " ".join(a if a == "''" else shlex.quote(a) for a in args)


# --------------------------------------------------------------------------- cost

#: GKE's default for a regional cluster: nodes in three zones of the region
REGIONAL_ZONES = 3
HOURS_PER_MONTH = 730
CLUSTER_FEE_HOURLY = 0.10
#: Sources: cloud.google.com/compute/vm-instance-pricing (N1/N2/E2 vCPU and memory rates),
#: cloud.google.com/compute/disks-image-pricing (persistent disk per GB-month) and
#: cloud.google.com/kubernetes-engine/pricing ($0.10 per cluster-hour; the free tier's
#: $74.40 monthly credit covers one zonal cluster per billing account).
PRICE_SOURCE = (
    "us-central1 on-demand list prices in USD recorded in knwalk from Google Cloud's "
    "Compute Engine, persistent disk and GKE pricing pages; other regions, discounts and "
    "the GKE free tier change it (cloud.google.com/products/calculator)"
)
#: (USD per vCPU-hour, USD per GB-hour), us-central1 on-demand
_FAMILY_RATES = {
    "n1": (0.031611, 0.004237),
    "n2": (0.031611, 0.004237),
    "e2": (0.02181159, 0.00292353),
}
#: GB of memory per vCPU for predefined shapes
_MEMORY_PER_VCPU = {
    "n1": {"standard": 3.75, "highmem": 6.5, "highcpu": 0.9},
    "n2": {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0},
    "e2": {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0},
}
#: USD per GB-month, us-central1
_DISK_MONTHLY = {"pd-standard": 0.04, "pd-balanced": 0.10, "pd-ssd": 0.17}
_MACHINE_SHAPE_RE = re.compile(r"^(n1|n2|e2)-(standard|highmem|highcpu)-(\d+)$")


@dataclass(frozen=True)
class CostEstimate:
    """Hourly cost of a cluster spec; parts are None when no list price is on record."""

    nodes: int
    machine_type: str
    node_hourly: float | None
    disk_hourly: float | None
    cluster_fee: float
    source: str = PRICE_SOURCE
    missing: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        """The known parts added up (see ``missing`` for what is left out)."""
        return (
            self.nodes * (self.node_hourly or 0.0)
            + self.nodes * (self.disk_hourly or 0.0)
            + self.cluster_fee
        )

    def describe(self) -> str:
        parts = []
        if self.node_hourly is not None:
            parts.append(f"{self.nodes} × {self.machine_type} at ${self.node_hourly:.4f}")
        if self.disk_hourly is not None:
            parts.append(f"{self.nodes} boot disks at ${self.disk_hourly:.4f}")
        parts.append(f"cluster fee ${self.cluster_fee:.2f}")
        text = f"about ${self.total:.2f}/hour (" + " + ".join(parts) + ")"
        if self.missing:
            text += "; not included: " + "; ".join(self.missing)
        return text


def machine_hourly(machine_type: str) -> float | None:
    match = _MACHINE_SHAPE_RE.match(machine_type)
    if not match:
        return None
    family, shape, vcpus = match.group(1), match.group(2), int(match.group(3))
    cpu_rate, mem_rate = _FAMILY_RATES[family]
    return vcpus * cpu_rate + vcpus * _MEMORY_PER_VCPU[family][shape] * mem_rate


def estimate_cost(spec: ClusterSpec) -> CostEstimate:
    node = machine_hourly(spec.machine_type)
    monthly = _DISK_MONTHLY.get(spec.disk_type)
    disk = None if monthly is None else spec.disk_size_gb * monthly / HOURS_PER_MONTH
    missing = []
    if node is None:
        missing.append(f"{spec.machine_type} nodes (no list price on record)")
    if disk is None:
        missing.append(f"{spec.disk_type} disks (priced by capacity and performance)")
    return CostEstimate(
        nodes=spec.total_nodes,
        machine_type=spec.machine_type,
        node_hourly=node,
        disk_hourly=disk,
        cluster_fee=CLUSTER_FEE_HOURLY,
        missing=tuple(missing),
    )


# --------------------------------------------------------------------------- endpoint and client


@dataclass(frozen=True)
class Endpoint:
    """Where the client talks: ``url`` None is the real ``container.googleapis.com``."""

    url: str | None = None
    source: str = "default"

    @property
    def anonymous(self) -> bool:
        """A plain-HTTP loopback endpoint (a local fake): no credentials are sent."""
        return self.url is not None and self.url.startswith("http://")

    @property
    def display(self) -> str:
        return self.url or "https://container.googleapis.com"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(flag: str | None, environ: Mapping[str, str] | None = None) -> Endpoint:
    """``--gke-endpoint``, else ``$KNWALK_GKE_ENDPOINT`` (like gcloud's api_endpoint_overrides/container).

    ``https://`` endpoints may be anywhere and use your Google credentials; ``http://``
    is accepted only on a loopback address and then no credentials are sent.
    """
    env = os.environ if environ is None else environ
    value, source = (flag, "--gke-endpoint") if flag else (env.get(ENDPOINT_ENV, ""), ENDPOINT_ENV)
    value = value.strip()
    if not value:
        return Endpoint()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{source} {value!r} is not an http(s) URL",
            "write https://HOST[:PORT], or http://127.0.0.1:PORT for a local fake",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(
            f"{source} {value!r} must not have a path",
            "the client adds /v1/...; write only the scheme, host and port",
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            f"{source} {value!r}: plain http is accepted only on a loopback address",
            "use https://, or run the fake server on 127.0.0.1",
        )
    return Endpoint(f"{parts.scheme}://{parts.netloc}", source)


def default_credentials() -> Any:
    """``google.auth.default()`` with the cloud-platform scope, or a one-line error."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError as exc:
        raise KnwalkError(
            "no Google Cloud credentials found",
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service-account key file",
        ) from exc
    return credentials


def adc_project() -> str | None:
    """The project ``google.auth.default()`` knows of (None when it finds no credentials)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError:
        return None
    return str(project) if project else None


def make_client(endpoint: Endpoint, credentials: Any = None) -> ClusterManagerClient:
    """A REST ``ClusterManagerClient`` for ``endpoint``."""
    from google.cloud import container_v1

    options: dict[str, str] = {}
    if endpoint.url:
        options["api_endpoint"] = endpoint.url
    if credentials is None:
        if endpoint.anonymous:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        else:
            credentials = default_credentials()
    return container_v1.ClusterManagerClient(
        transport="rest", client_options=options, credentials=credentials
    )


# --------------------------------------------------------------------------- calls


class GkeApiError(KnwalkError):
    """GKE refused a call. ``code`` is the HTTP status, ``status`` the google.rpc code name."""

    def __init__(self, message: str, hint: str = "", *, code: int = 0, status: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.status = status


class GkeUnreachable(KnwalkError):
    """No answer from the GKE API (refused, reset, timed out): a request may or may not
    have reached it."""


class OperationFailed(KnwalkError):
    """A GKE Operation finished with an error."""


@dataclass(frozen=True)
class Progress:
    """What an Operation reports: status, done fraction (None if unknown), current stage."""

    status: str
    fraction: float | None
    stage: str
    elapsed: float = 0.0


def _metric_value(metric: Any) -> float | None:
    for attr in ("int_value", "double_value"):
        if attr in metric:
            return float(getattr(metric, attr))
    return None


def _metrics_fraction(metrics: Sequence[Any]) -> float | None:
    """Done/total pairs: the API reference's examples for ``OperationProgress.metrics``
    (``nodes done``/``nodes total``, ``progress``/``progress scale``) and ``X``/``X_TOTAL``."""
    values = {m.name.lower(): v for m in metrics if (v := _metric_value(m)) is not None}
    done = total = 0.0
    for name, value in values.items():
        for suffix, partner_suffix in (("_total", ""), (" total", " done"), (" scale", "")):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                partner = values.get(base + partner_suffix)
                if partner is not None and value > 0:
                    done, total = done + partner, total + value
    if total <= 0:
        return None
    return max(0.0, min(1.0, done / total))


def progress_of(op: Operation, elapsed: float = 0.0) -> Progress:
    """Read ``Operation.progress`` (stages first, else metric pairs) into a :class:`Progress`."""
    from google.cloud import container_v1 as gke

    status = gke.Operation.Status(op.status).name
    if status == "DONE":
        return Progress(status, 1.0, "", elapsed)
    progress = op.progress
    stage = ""
    fraction: float | None = None
    stages = list(progress.stages)
    if stages:
        done = sum(1 for s in stages if s.status == gke.Operation.Status.DONE)
        current = next((s for s in stages if s.status != gke.Operation.Status.DONE), None)
        partial = 0.0
        if current is not None:
            stage = current.name
            partial = _metrics_fraction(list(current.metrics)) or 0.0
        fraction = (done + partial) / len(stages)
    else:
        fraction = _metrics_fraction(list(progress.metrics))
        stage = progress.name
    return Progress(status, fraction, stage or op.detail, elapsed)


def operation_kind(op: Operation) -> str:
    """``CREATE_CLUSTER``, ``DELETE_CLUSTER``, ..."""
    from google.cloud import container_v1 as gke

    return str(gke.Operation.Type(op.operation_type).name)


def operation_error(op: Operation) -> str | None:
    """The error a DONE Operation ended with, or None."""
    if "error" in op and (op.error.message or op.error.code):
        return op.error.message or f"error code {op.error.code}"
    if op.status_message:
        return str(op.status_message)
    return None


def _server_message(exc: Exception) -> str:
    text = str(getattr(exc, "message", "") or exc)
    match = re.match(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: (.*)$", text, re.DOTALL)
    return (match.group(1) if match else text).strip()


def _status_name(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    try:
        payload = response.json() if response is not None else {}
        return str(payload.get("error", {}).get("status", ""))
    except ValueError:
        return ""


#: backoff for 429/503: first wait, longest wait, give up after (seconds)
RETRY_INITIAL = 1.0
RETRY_MAXIMUM = 16.0
RETRY_DEADLINE = 120.0


class Gke:
    """ClusterManager calls with retries, one-line errors and operation polling.

    Every call is retried on 429 (TooManyRequests/RESOURCE_EXHAUSTED) and 503
    (UNAVAILABLE) with exponential backoff and jitter (``retry_initial`` doubling up
    to ``retry_maximum`` seconds, for at most ``retry_deadline`` seconds; defaults
    :data:`RETRY_INITIAL` and friends), as gcloud's HTTP layer does;
    ``on_retry(exc)`` is told about each retry. A create is never sent again
    without checking first (:meth:`create`); ``adopted`` is the operation of an
    earlier attempt that GKE had accepted after all, if the last create found one.
    """

    def __init__(
        self,
        client: ClusterManagerClient,
        *,
        endpoint: Endpoint | None = None,
        retry_initial: float | None = None,
        retry_maximum: float | None = None,
        retry_deadline: float | None = None,
        timeout: float = 60.0,
        on_retry: Callable[[Exception], None] | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint or Endpoint()
        self.retry_initial = RETRY_INITIAL if retry_initial is None else retry_initial
        self.retry_maximum = RETRY_MAXIMUM if retry_maximum is None else retry_maximum
        self.retry_deadline = RETRY_DEADLINE if retry_deadline is None else retry_deadline
        self.timeout = timeout
        self.on_retry = on_retry
        self.retries = 0
        self.adopted: Operation | None = None

    def _retry(self, *, unavailable: bool = True) -> Any:
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        def note(exc: Exception) -> None:
            self.retries += 1
            if self.on_retry is not None:
                self.on_retry(exc)

        retried: tuple[type[Exception], ...] = (gexc.TooManyRequests, gexc.ResourceExhausted)
        if unavailable:
            retried += (gexc.ServiceUnavailable,)
        return gretry.Retry(
            predicate=gretry.if_exception_type(*retried),
            initial=self.retry_initial,
            maximum=self.retry_maximum,
            multiplier=2.0,
            timeout=self.retry_deadline,
            on_error=note,
        )

    def _call(
        self, fn: Callable[..., Any], what: str, *, unavailable: bool = True, **kwargs: Any
    ) -> Any:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc
        from requests import exceptions as req_exc

        try:
            return fn(retry=self._retry(unavailable=unavailable), timeout=self.timeout, **kwargs)
        except gexc.RetryError as exc:
            cause = exc.cause if exc.cause is not None else exc
            code = getattr(cause, "code", 0) or 0
            raise GkeApiError(
                f"{what}: the GKE API still answered {code} ({_server_message(cause)}) "
                f"after {self.retries + 1} attempts",
                "GKE is busy or rate-limiting this project; wait a minute and try again",
                code=int(code),
                status=_status_name(cause),
            ) from None
        except gexc.GoogleAPICallError as exc:
            raise self._api_error(exc, what) from None
        except (auth_exc.RefreshError, auth_exc.TransportError) as exc:
            raise KnwalkError(
                f"cannot get a Google access token: {exc}",
                "run `gcloud auth application-default login`, or check GOOGLE_APPLICATION_CREDENTIALS",
            ) from None
        except req_exc.RequestException as exc:
            raise GkeUnreachable(
                f"cannot reach the GKE API at {self.endpoint.display}: {type(exc).__name__}",
                "check the network connection"
                + (f" and {self.endpoint.source}" if self.endpoint.url else ""),
            ) from None

    def _api_error(self, exc: Any, what: str) -> GkeApiError:
        code = int(exc.code or 0)
        status = _status_name(exc)
        message = _server_message(exc)
        hints = {
            400: "check the option values; `gcloud container get-server-config` lists the "
            "versions and image types GKE offers",
            401: "run `gcloud auth application-default login` and try again",
            403: "enable the Kubernetes Engine API (`gcloud services enable container.googleapis.com`) "
            "and make sure your account may manage clusters (roles/container.admin)",
            404: "list what exists with `knwalk cluster list`",
            409: "see the cluster with `knwalk cluster describe`",
        }
        words = {
            400: "rejected",
            401: "unauthenticated",
            403: "permission denied",
            404: "not found",
            409: "already exists",
        }
        head = words.get(code, f"failed ({code or 'no status'})")
        text = message if message.lower().startswith(head) else f"{head}: {message}"
        return GkeApiError(
            f"{what}: {text}",
            hints.get(code, "try again; run with --debug for details"),
            code=code,
            status=status,
        )

    # -- clusters and operations

    def create(self, spec: ClusterSpec) -> Operation:
        """Create the cluster; never send the create again without checking first.

        429 / RESOURCE_EXHAUSTED means the request was not processed: it is retried
        with backoff. After a 503 / UNAVAILABLE, or a connection lost on the way,
        GKE may have accepted it: the cluster's pending operation is looked up, and
        if it is a create, that is the answer (``adopted`` is set); only when there
        is none is the create sent again, with backoff, until ``retry_deadline``.
        """
        what = f"create cluster {spec.name} in {spec.parent}"
        self.adopted = None
        deadline = time.monotonic() + self.retry_deadline
        delay = self.retry_initial
        while True:
            try:
                op: Operation = self._call(
                    self.client.create_cluster,
                    what,
                    unavailable=False,
                    request=create_request(spec),
                )
                return op
            except GkeApiError as exc:
                if exc.code != 503:
                    raise  # a 409 tells the caller that the cluster exists
                failure: KnwalkError = exc
            except GkeUnreachable as exc:
                failure = exc
            self.retries += 1
            if self.on_retry is not None:
                self.on_retry(failure)
            # the create may have been accepted: look before sending it again
            earlier = self.pending_operation(spec.project, spec.location, spec.name)
            if earlier is not None and operation_kind(earlier) == "CREATE_CLUSTER":
                self.adopted = earlier
                return earlier
            if time.monotonic() + delay > deadline:
                failure.message += f" (gave up after {self.retries} retries)"
                failure.hint = (
                    "GKE is busy or unreachable; wait a minute and try again "
                    "(`knwalk cluster list` shows whether the cluster is being created)"
                )
                raise failure
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.retry_maximum)

    def get(self, project: str, location: str, name: str) -> Cluster:
        cluster: Cluster = self._call(
            self.client.get_cluster,
            f"cluster {name} in projects/{project}/locations/{location}",
            name=cluster_path(project, location, name),
        )
        return cluster

    def list_clusters(self, project: str, location: str = "-") -> tuple[list[Cluster], list[str]]:
        """Clusters in ``location`` (``-``: every location) and the zones that did not answer."""
        response = self._call(
            self.client.list_clusters,
            f"list clusters in projects/{project}/locations/{location}",
            parent=f"projects/{project}/locations/{location}",
        )
        return list(response.clusters), list(response.missing_zones)

    def delete(self, project: str, location: str, name: str) -> Operation:
        op: Operation = self._call(
            self.client.delete_cluster,
            f"delete cluster {name} in projects/{project}/locations/{location}",
            name=cluster_path(project, location, name),
        )
        return op

    def operation(self, project: str, location: str, op_name: str) -> Operation:
        op_id = op_name.rsplit("/", 1)[-1]
        op: Operation = self._call(
            self.client.get_operation,
            f"operation {op_id}",
            name=f"projects/{project}/locations/{location}/operations/{op_id}",
        )
        return op

    def pending_operation(self, project: str, location: str, name: str) -> Operation | None:
        """The newest unfinished operation on cluster ``name`` (None if there is none)."""
        response = self._call(
            self.client.list_operations,
            f"list operations in projects/{project}/locations/{location}",
            parent=f"projects/{project}/locations/{location}",
        )
        from google.cloud import container_v1 as gke

        mine = [
            op
            for op in response.operations
            if op.target_link.endswith(f"/clusters/{name}")
            and op.status != gke.Operation.Status.DONE
        ]
        mine.sort(key=lambda op: op.start_time)
        return mine[-1] if mine else None

    def wait(
        self,
        op: Operation,
        *,
        project: str,
        location: str,
        on_progress: Callable[[Progress], None] | None = None,
        poll_interval: float = 5.0,
        timeout: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Operation:
        """Poll ``op`` until DONE; raise :class:`OperationFailed` if it ended with an error.

        Progress is reported after every poll. A deadline passed raises
        :class:`~kn_walk.errors.WaitTimeout` naming the last status and stage.
        """
        from google.cloud import container_v1 as gke

        start = clock()
        where = op.location or location
        while True:
            elapsed = clock() - start
            progress = progress_of(op, elapsed)
            if on_progress is not None:
                on_progress(progress)
            if op.status == gke.Operation.Status.DONE:
                break
            if elapsed >= timeout:
                stage = f", stage {progress.stage!r}" if progress.stage else ""
                raise WaitTimeout(
                    f"operation {op.name} is still {progress.status} after {elapsed:.0f}s{stage}",
                    "it goes on in GKE; check again with `knwalk cluster wait NAME`",
                    last=progress,
                )
            if poll_interval > 0:
                sleep(poll_interval)
            op = self.operation(project, where, op.name)
        failure = operation_error(op)
        if failure:
            raise OperationFailed(
                f"operation {op.name} ({operation_kind(op)}) failed: {failure}",
                "see the cluster with `knwalk cluster describe NAME`; a failed create leaves a "
                "cluster in ERROR that `knwalk cluster delete NAME` removes",
            )
        return op


def cluster_path(project: str, location: str, name: str) -> str:
    return f"projects/{project}/locations/{location}/clusters/{name}"


def cluster_status(cluster: Cluster) -> str:
    from google.cloud import container_v1 as gke

    return str(gke.Cluster.Status(cluster.status).name)


def cluster_dict(cluster: Cluster) -> dict[str, Any]:
    """The Cluster as REST JSON, with any basic-auth password or client key removed."""
    data = message_dict(cluster)
    auth = data.get("masterAuth")
    if isinstance(auth, dict):
        for secret in ("password", "clientKey"):
            if secret in auth:
                auth[secret] = "<redacted>"
    return data


def _flag_names(table: Mapping[str, str], api_names: Sequence[str]) -> list[str]:
    """API component names back to the ``--logging``/``--monitoring`` values."""
    back = {api: flag for flag, api in table.items()}
    return [back.get(name, name) for name in api_names]


def cluster_summary(cluster: Cluster) -> dict[str, Any]:
    """What ``describe`` shows: status, versions, endpoint, node pools, add-ons."""
    from google.cloud import container_v1 as gke

    addons = cluster.addons_config
    enabled = []
    for addon, (attr, style) in ADDONS.items():
        if attr not in addons:
            continue
        sub = getattr(addons, attr)
        if (style == "disabled" and not sub.disabled) or (style != "disabled" and sub.enabled):
            enabled.append(addon)
    pools = []
    for pool in cluster.node_pools:
        pools.append(
            {
                "name": pool.name,
                "machineType": pool.config.machine_type,
                "nodes": pool.initial_node_count,
                "imageType": pool.config.image_type,
                "diskType": pool.config.disk_type,
                "diskSizeGb": pool.config.disk_size_gb,
                "version": pool.version,
                "status": gke.NodePool.Status(pool.status).name,
                "autoUpgrade": pool.management.auto_upgrade,
                "autoRepair": pool.management.auto_repair,
            }
        )
    return {
        "name": cluster.name,
        "location": cluster.location,
        "status": cluster_status(cluster),
        "statusMessage": cluster.status_message,
        "masterVersion": cluster.current_master_version,
        "nodeVersion": cluster.current_node_version,
        "releaseChannel": gke.ReleaseChannel.Channel(cluster.release_channel.channel).name,
        "endpoint": cluster.endpoint,
        "nodes": cluster.current_node_count,
        "nodePools": pools,
        "addons": enabled,
        "logging": _flag_names(
            LOGGING_COMPONENTS,
            [
                gke.LoggingComponentConfig.Component(c).name
                for c in cluster.logging_config.component_config.enable_components
            ],
        ),
        "monitoring": _flag_names(
            MONITORING_COMPONENTS,
            [
                gke.MonitoringComponentConfig.Component(c).name
                for c in cluster.monitoring_config.component_config.enable_components
            ],
        ),
        "labels": dict(cluster.resource_labels),
        "created": cluster.create_time,
    }


# --------------------------------------------------------------------------- kubeconfig

EXEC_PLUGIN = "gke-gcloud-auth-plugin"
#: gcloud's GKE_GCLOUD_AUTH_INSTALL_HINT (api_lib/container/kubeconfig.py)
EXEC_INSTALL_HINT = (
    "Install gke-gcloud-auth-plugin for use with kubectl by following "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


def context_name(project: str, location: str, name: str) -> str:
    """gcloud's ``gke_{project}_{zone}_{cluster}``: the cluster, user and context name."""
    return f"gke_{project}_{location}_{name}"


def kubeconfig_entries(cluster: Cluster, project: str, location: str) -> dict[str, Any]:
    """Keyword arguments for :func:`kn_walk.kubeconfig.merge_entry`, shaped as gcloud writes them.

    One deliberate difference: when a cluster reports no CA, gcloud writes
    ``insecure-skip-tls-verify: true``; knwalk refuses instead of disabling TLS checks.
    """
    if not cluster.endpoint:
        raise KnwalkError(
            f"cluster {cluster.name} has no endpoint yet (status {cluster_status(cluster)})",
            f"wait for it with `knwalk cluster wait {cluster.name}`",
        )
    ca_data = cluster.master_auth.cluster_ca_certificate
    if not ca_data:
        raise KnwalkError(
            f"cluster {cluster.name} reports no certificate authority",
            "the cluster is in an unusual state; check `knwalk cluster describe` and try again later",
        )
    name = context_name(project, location, cluster.name)
    return {
        "name_cluster": name,
        "cluster": {"server": f"https://{cluster.endpoint}", "certificate-authority-data": ca_data},
        "name_user": name,
        "user": {
            "exec": {
                "command": EXEC_PLUGIN,
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "installHint": EXEC_INSTALL_HINT,
                "provideClusterInfo": True,
            }
        },
        "name_context": name,
        "context": {"cluster": name, "user": name},
    }


def write_credentials(
    cluster: Cluster, project: str, location: str, path: kubeconfig.StrPath
) -> str:
    """Merge the cluster into ``path`` (0600, other entries kept), make it current; its name."""
    entries = kubeconfig_entries(cluster, project, location)
    kubeconfig.merge_entry(path, **entries, make_current=True)
    return str(entries["name_context"])


def remove_credentials(path: kubeconfig.StrPath, project: str, location: str, name: str) -> bool:
    """Remove the entries :func:`write_credentials` wrote; whether anything changed."""
    entry = context_name(project, location, name)
    return kubeconfig.remove_entries(path, cluster=entry, user=entry, context=entry)


def exec_plugin_installed() -> bool:
    return shutil.which(EXEC_PLUGIN) is not None


# --------------------------------------------------------------------------- without the exec plugin

_ca_files: list[str] = []


def _remove_ca_files() -> None:
    for name in _ca_files:
        with contextlib.suppress(OSError):
            os.unlink(name)


atexit.register(_remove_ca_files)


def _ca_file(ca_data: str) -> str:
    import base64

    fd, name = tempfile.mkstemp(prefix="knwalk-gke-ca-", suffix=".crt")
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(ca_data))
    _ca_files.append(name)
    return name


def kubernetes_client(server: str, ca_data: str | None = None, *, credentials: Any = None) -> Any:
    """A ``kubernetes.client.ApiClient`` for a GKE cluster without ``gke-gcloud-auth-plugin``.

    Requests carry ``Authorization: Bearer <token>`` from ``credentials`` (default:
    ``google.auth.default()`` with the cloud-platform scope); the token is refreshed
    before a request whenever it has expired. The kubernetes client only runs
    ``refresh_api_key_hook`` when ``api_key["authorization"]`` exists
    (``Configuration.auth_settings``), so the key is set up front. ``ca_data`` is
    the base64 ``certificate-authority-data`` of the kubeconfig cluster entry.
    """
    import google.auth.transport.requests
    from kubernetes import client as k8s

    creds = credentials if credentials is not None else default_credentials()
    request = google.auth.transport.requests.Request()

    def refresh(conf: Any) -> None:
        if not creds.valid:
            creds.refresh(request)
        conf.api_key["authorization"] = creds.token

    config = k8s.Configuration()
    config.host = server
    config.api_key_prefix["authorization"] = "Bearer"
    config.api_key["authorization"] = ""
    config.refresh_api_key_hook = refresh  # type: ignore[assignment]
    if ca_data:
        config.ssl_ca_cert = _ca_file(ca_data)
    refresh(config)
    return k8s.ApiClient(configuration=config)
