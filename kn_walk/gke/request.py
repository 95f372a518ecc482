"""A :class:`~kn_walk.gke.spec.ClusterSpec` as the ``CreateClusterRequest`` gcloud would
send, and as the equivalent ``gcloud container clusters create`` command line.

Node settings go into ``node_pools=[NodePool(name="default-pool", ...)]``, never into
the deprecated cluster-level ``node_config``/``initial_node_count``; ``parent`` is
``projects/P/locations/L``.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from kn_walk.gke.spec import (
    ADDONS,
    DEFAULT_POOL,
    LOGGING_COMPONENTS,
    MONITORING_COMPONENTS,
    ClusterSpec,
)

if TYPE_CHECKING:
    from google.cloud.container_v1 import CreateClusterRequest


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
