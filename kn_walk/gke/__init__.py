"""GKE clusters through ``google.cloud.container_v1.ClusterManagerClient`` (REST transport).

One module per concept; this package re-exports their public names, so callers write
``from kn_walk import gke`` and ``gke.build_spec(...)``:

* :mod:`~kn_walk.gke.spec` — :class:`ClusterOptions` (what the user typed) becomes a
  validated :class:`ClusterSpec` (:func:`build_spec`), following gcloud 528's option
  names, accepted values and defaults.
* :mod:`~kn_walk.gke.request` — the spec as a ``CreateClusterRequest``
  (:func:`create_request`) and as the equivalent gcloud command.
* :mod:`~kn_walk.gke.cost` — the hourly cost estimate.
* :mod:`~kn_walk.gke.api` — :class:`Gke` wraps the client: retries 429/503 with
  exponential backoff (``RETRY_*`` there), turns API errors into one-line
  :class:`GkeApiError` (never a traceback), and polls Operations (:meth:`Gke.wait`).
* :mod:`~kn_walk.gke.objects` — Operations read into :class:`Progress`, Clusters into
  summaries and REST JSON.
* :mod:`~kn_walk.gke.credentials` — kubeconfig entries exactly as ``gcloud container
  clusters get-credentials`` writes them, and a ``kubernetes`` client that signs
  requests with ``google.auth.default()`` credentials when the exec plugin is missing.
* :mod:`~kn_walk.gke.workflow` — :func:`create_cluster`: the create, recovery from a
  retried create that GKE had accepted, and following its operation, with callbacks.

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

from kn_walk.gke.api import (
    CLOUD_PLATFORM_SCOPE,
    ENDPOINT_ENV,
    Endpoint,
    Gke,
    GkeApiError,
    GkeUnreachable,
    OperationFailed,
    adc_project,
    cluster_path,
    default_credentials,
    google_auth,
    is_quota_error,
    is_quota_message,
    make_client,
    quota_hint,
    resolve_endpoint,
)
from kn_walk.gke.cost import (
    CLUSTER_FEE_HOURLY,
    HOURS_PER_MONTH,
    PRICE_SOURCE,
    SPOT_DISCOUNT,
    CostEstimate,
    estimate_cost,
    machine_hourly,
)
from kn_walk.gke.credentials import (
    EXEC_INSTALL_HINT,
    EXEC_PLUGIN,
    PLUGIN_CACHE,
    Access,
    context_name,
    exec_plugin_command,
    exec_plugin_installed,
    kubeconfig_entries,
    kubernetes_client,
    remove_credentials,
    write_credentials,
)
from kn_walk.gke.objects import (
    Progress,
    cluster_dict,
    cluster_status,
    cluster_summary,
    message_dict,
    operation_error,
    operation_kind,
    progress_of,
)
from kn_walk.gke.request import create_request, gcloud_command
from kn_walk.gke.spec import (
    ADDONS,
    DEFAULT_ADDONS,
    DEFAULT_DISK_SIZE_GB,
    DEFAULT_DISK_TYPE,
    DEFAULT_IMAGE_TYPE,
    DEFAULT_LOGGING,
    DEFAULT_MACHINE_TYPE,
    DEFAULT_MAX_PODS_PER_NODE,
    DEFAULT_MONITORING,
    DEFAULT_NAME,
    DEFAULT_NUM_NODES,
    DEFAULT_POOL,
    DEFAULT_RELEASE_CHANNEL,
    DEFAULT_SCOPES,
    DEFAULT_ZONE,
    DISK_TYPES,
    DOCKER_IMAGE_TYPES,
    HIDDEN_ENUM_VALUES,
    LOGGING_COMPONENTS,
    MONITORING_COMPONENTS,
    NO_CHANNEL,
    OLDEST_OFFERED_MINOR,
    REGIONAL_ZONES,
    RELEASE_CHANNELS,
    REMOVED_ADDONS,
    SCOPE_ALIASES,
    Autoscaling,
    ClusterOptions,
    ClusterSpec,
    build_spec,
    check_name,
    parse_disk_size,
)
from kn_walk.gke.workflow import CreateResult, create_cluster

__all__ = [
    "ADDONS",
    "CLOUD_PLATFORM_SCOPE",
    "CLUSTER_FEE_HOURLY",
    "DEFAULT_ADDONS",
    "DEFAULT_DISK_SIZE_GB",
    "DEFAULT_DISK_TYPE",
    "DEFAULT_IMAGE_TYPE",
    "DEFAULT_LOGGING",
    "DEFAULT_MACHINE_TYPE",
    "DEFAULT_MAX_PODS_PER_NODE",
    "DEFAULT_MONITORING",
    "DEFAULT_NAME",
    "DEFAULT_NUM_NODES",
    "DEFAULT_POOL",
    "DEFAULT_RELEASE_CHANNEL",
    "DEFAULT_SCOPES",
    "DEFAULT_ZONE",
    "DISK_TYPES",
    "DOCKER_IMAGE_TYPES",
    "ENDPOINT_ENV",
    "EXEC_INSTALL_HINT",
    "EXEC_PLUGIN",
    "HIDDEN_ENUM_VALUES",
    "HOURS_PER_MONTH",
    "LOGGING_COMPONENTS",
    "MONITORING_COMPONENTS",
    "NO_CHANNEL",
    "OLDEST_OFFERED_MINOR",
    "PLUGIN_CACHE",
    "PRICE_SOURCE",
    "REGIONAL_ZONES",
    "RELEASE_CHANNELS",
    "REMOVED_ADDONS",
    "SCOPE_ALIASES",
    "SPOT_DISCOUNT",
    "Access",
    "Autoscaling",
    "ClusterOptions",
    "ClusterSpec",
    "CostEstimate",
    "CreateResult",
    "Endpoint",
    "Gke",
    "GkeApiError",
    "GkeUnreachable",
    "OperationFailed",
    "Progress",
    "adc_project",
    "build_spec",
    "check_name",
    "cluster_dict",
    "cluster_path",
    "cluster_status",
    "cluster_summary",
    "context_name",
    "create_cluster",
    "create_request",
    "default_credentials",
    "estimate_cost",
    "exec_plugin_command",
    "exec_plugin_installed",
    "gcloud_command",
    "google_auth",
    "is_quota_error",
    "is_quota_message",
    "kubeconfig_entries",
    "kubernetes_client",
    "machine_hourly",
    "make_client",
    "message_dict",
    "operation_error",
    "operation_kind",
    "parse_disk_size",
    "progress_of",
    "quota_hint",
    "remove_credentials",
    "resolve_endpoint",
    "write_credentials",
]
