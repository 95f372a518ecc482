"""A :class:`~kn_walk.gke.spec.ClusterSpec` as the ``CreateClusterRequest`` gcloud would
send, and as the equivalent ``gcloud container clusters create`` command line.

Both follow what gcloud 528 sends for the same flags, recorded by
``scripts/record_gcloud.py`` into ``tests/fixtures/gcloud/create.json`` and compared in
``tests/test_gke_gcloud_parity.py``: the printed command creates the identical cluster.
Node settings go into ``node_pools=[NodePool(name="default-pool", ...)]``, never into
the deprecated cluster-level ``node_config``/``initial_node_count``; ``parent`` is
``projects/P/locations/L``.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from kn_walk.gke.spec import (
    ADDONS,
    DEFAULT_MAX_SURGE,
    DEFAULT_POOL,
    HIDDEN_ENUM_VALUES,
    LOGGING_COMPONENTS,
    MONITORING_COMPONENTS,
    NO_CHANNEL,
    ClusterSpec,
)

if TYPE_CHECKING:
    from google.cloud.container_v1 import CreateClusterRequest


def enum_value(enum: Any, key: str, name: str) -> int:
    """The number of enum value ``name`` (``key``: its type in :data:`HIDDEN_ENUM_VALUES`)."""
    member = getattr(enum, name, None)
    return int(member) if member is not None else HIDDEN_ENUM_VALUES[key][name]


def create_request(spec: ClusterSpec) -> CreateClusterRequest:
    """The ``CreateClusterRequest`` gcloud sends for the same flags."""
    from google.cloud import container_v1 as gke

    node_config = gke.NodeConfig(
        machine_type=spec.machine_type,
        disk_size_gb=spec.disk_size_gb,
        disk_type=spec.disk_type,
        image_type=spec.image_type,
        oauth_scopes=list(spec.oauth_scopes),
        tags=list(spec.tags),
        resource_labels=dict(spec.labels),  # gcloud labels the node VMs and disks too
        spot=spec.spot,
        preemptible=spec.preemptible,
    )
    if spec.service_account:
        node_config.service_account = spec.service_account
    pool = gke.NodePool(
        name=DEFAULT_POOL,
        initial_node_count=spec.num_nodes,
        config=node_config,
        management=gke.NodeManagement(auto_upgrade=spec.autoupgrade, auto_repair=spec.autorepair),
        upgrade_settings=gke.NodePool.UpgradeSettings(max_surge=DEFAULT_MAX_SURGE),
    )
    if spec.autoscaling is not None:
        auto = spec.autoscaling
        pool.autoscaling = gke.NodePoolAutoscaling(
            enabled=True,
            min_node_count=auto.min_nodes or 0,
            max_node_count=auto.max_nodes or 0,
            total_min_node_count=auto.total_min_nodes or 0,
            total_max_node_count=auto.total_max_nodes or 0,
        )
    logging_cfg = gke.LoggingComponentConfig(
        enable_components=[
            enum_value(
                gke.LoggingComponentConfig.Component,
                "LoggingComponentConfig.Component",
                LOGGING_COMPONENTS[c],
            )
            for c in spec.logging
        ]
    )
    monitoring_cfg = gke.MonitoringComponentConfig(
        enable_components=[
            enum_value(
                gke.MonitoringComponentConfig.Component,
                "MonitoringComponentConfig.Component",
                MONITORING_COMPONENTS[c],
            )
            for c in spec.monitoring
        ]
    )
    cluster = gke.Cluster(
        name=spec.name,
        node_pools=[pool],
        logging_config=gke.LoggingConfig(component_config=logging_cfg),
        monitoring_config=gke.MonitoringConfig(component_config=monitoring_cfg),
        ip_allocation_policy=(
            gke.IPAllocationPolicy(use_ip_aliases=True)
            if spec.enable_ip_alias
            else gke.IPAllocationPolicy(use_routes=True)
        ),
        locations=list(spec.node_locations),
        resource_labels=dict(spec.labels),
    )
    if spec.addons is not None:
        cluster.addons_config = _addons_config(spec.addons)
    if spec.cluster_version:
        cluster.initial_cluster_version = spec.cluster_version
    if spec.release_channel == NO_CHANNEL:
        cluster.release_channel = gke.ReleaseChannel()  # UNSPECIFIED: no channel
    elif spec.release_channel:
        cluster.release_channel = gke.ReleaseChannel(channel=spec.release_channel.upper())
    if spec.max_pods_per_node is not None:
        cluster.default_max_pods_constraint = gke.MaxPodsConstraint(
            max_pods_per_node=spec.max_pods_per_node
        )
    if spec.network:
        cluster.network = spec.network
    if spec.subnetwork:
        cluster.subnetwork = spec.subnetwork
    if spec.workload_pool:
        cluster.workload_identity_config = gke.WorkloadIdentityConfig(
            workload_pool=spec.workload_pool
        )
    if spec.private_nodes:
        cluster.network_config = gke.NetworkConfig(default_enable_private_nodes=True)
        if spec.master_ipv4_cidr:
            cluster.private_cluster_config = gke.PrivateClusterConfig(
                enable_private_nodes=True, master_ipv4_cidr_block=spec.master_ipv4_cidr
            )
    return gke.CreateClusterRequest(parent=spec.parent, cluster=cluster)


def _addons_config(addons: tuple[tuple[str, bool], ...]) -> Any:
    """gcloud's AddonsConfig: every "disabled"-style add-on says whether it is disabled;
    "enabled"-style ones appear only when enabled; NodeLocalDNS whenever it is named."""
    from google.cloud import container_v1 as gke

    chosen = dict(addons)
    config = gke.AddonsConfig()
    for addon, (attr, style) in ADDONS.items():
        enabled = chosen.get(addon, False)
        message_type = type(getattr(config, attr))
        if style == "disabled":
            setattr(config, attr, message_type(disabled=not enabled))
        elif (style == "named" and addon in chosen) or (style == "enabled" and enabled):
            setattr(config, attr, message_type(enabled=enabled))
    return config


def gcloud_command(spec: ClusterSpec) -> str:
    """The ``gcloud container clusters create`` command line that creates the same cluster."""
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
    if spec.service_account:
        args += ["--service-account", spec.service_account]
    args.append("--enable-ip-alias" if spec.enable_ip_alias else "--no-enable-ip-alias")
    if spec.max_pods_per_node is not None:
        args += ["--default-max-pods-per-node", str(spec.max_pods_per_node)]
    if spec.network:
        args += ["--network", spec.network]
    if spec.subnetwork:
        args += ["--subnetwork", spec.subnetwork]
    if spec.private_nodes:
        args.append("--enable-private-nodes")
    if spec.master_ipv4_cidr:
        args += ["--master-ipv4-cidr", spec.master_ipv4_cidr]
    if spec.node_locations:
        args += ["--node-locations", ",".join(spec.node_locations)]
    if spec.tags:
        args += ["--tags", ",".join(spec.tags)]
    if spec.spot:
        args.append("--spot")
    if spec.preemptible:
        args.append("--preemptible")
    if spec.autoscaling is not None:
        args.append("--enable-autoscaling")
        for flag, value in (
            ("--min-nodes", spec.autoscaling.min_nodes),
            ("--max-nodes", spec.autoscaling.max_nodes),
            ("--total-min-nodes", spec.autoscaling.total_min_nodes),
            ("--total-max-nodes", spec.autoscaling.total_max_nodes),
        ):
            if value is not None:
                args += [flag, str(value)]
    args += [
        "--addons",
        ",".join(n if on else f"{n}=DISABLED" for n, on in spec.addons or ()),
    ]
    args.append("--enable-autoupgrade" if spec.autoupgrade else "--no-enable-autoupgrade")
    args.append("--enable-autorepair" if spec.autorepair else "--no-enable-autorepair")
    if spec.workload_pool:
        args += ["--workload-pool", spec.workload_pool]
    args += ["--logging", ",".join(spec.logging) or "NONE"]
    args += ["--monitoring", ",".join(spec.monitoring) or "NONE"]
    if spec.labels:
        args += ["--labels", ",".join(f"{k}={v}" for k, v in spec.labels)]
    return shlex.join(args)
