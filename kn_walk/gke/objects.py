"""Reading GKE API objects: an Operation's progress, kind and error; a Cluster's status,
summary and REST JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kn_walk.gke.spec import ADDONS, HIDDEN_ENUM_VALUES, LOGGING_COMPONENTS, MONITORING_COMPONENTS

if TYPE_CHECKING:
    from google.cloud.container_v1 import Cluster, Operation

# --------------------------------------------------------------------------- operations


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


# --------------------------------------------------------------------------- clusters


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


def _raw_enums(config: Any) -> list[int]:
    """``enable_components`` as numbers, read from the protobuf (proto-plus warns about
    values its enum lacks, see HIDDEN_ENUM_VALUES)."""
    return [int(v) for v in type(config).pb(config).enable_components]


def _component_flags(
    table: Mapping[str, str], enum: Any, key: str, values: Sequence[int]
) -> list[str]:
    """API component numbers back to the ``--logging``/``--monitoring`` values."""
    hidden = {number: name for name, number in HIDDEN_ENUM_VALUES[key].items()}
    back = {api: flag for flag, api in table.items()}
    names = []
    for value in values:
        try:
            api_name = str(enum(value).name)
        except ValueError:
            api_name = hidden.get(int(value), str(int(value)))
        names.append(back.get(api_name, api_name))
    return names


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
        "logging": _component_flags(
            LOGGING_COMPONENTS,
            gke.LoggingComponentConfig.Component,
            "LoggingComponentConfig.Component",
            _raw_enums(cluster.logging_config.component_config),
        ),
        "monitoring": _component_flags(
            MONITORING_COMPONENTS,
            gke.MonitoringComponentConfig.Component,
            "MonitoringComponentConfig.Component",
            _raw_enums(cluster.monitoring_config.component_config),
        ),
        "labels": dict(cluster.resource_labels),
        "created": cluster.create_time,
    }


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
