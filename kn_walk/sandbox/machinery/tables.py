"""Server-side printing: ``meta.k8s.io/v1`` Tables, as kube-apiserver builds them.

``kubectl get`` asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and
prints whatever columns the server sends. Custom resources use their CRD's
``additionalPrinterColumns`` (or Name + Age without any); the built-in kinds use
the same columns and cells as kube-apiserver's own printers, including the
priority-1 columns that ``-o wide`` reveals.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kn_walk.goformat import go_float, go_json
from kn_walk.humanduration import human_duration, parse_timestamp, since
from kn_walk.sandbox.machinery.jsonpath import evaluate
from kn_walk.sandbox.machinery.resourcetypes import PrinterColumn, ResourceType

__all__ = [
    "INCLUDE_OBJECT_VALUES",
    "go_float",
    "go_json",
    "go_value_string",
    "human_duration",
    "parse_timestamp",
    "timestamp_age",
    "to_table",
]

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

_NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Clients may ask the server to generate it "
    "from generateName. Cannot be updated."
)
_CREATED_DESCRIPTION = (
    "CreationTimestamp is the server time when this object was created, in RFC3339 form, UTC."
)


# ------------------------------------------------------------------------- times


def timestamp_age(value: Any, now: datetime | None = None) -> str:
    """``translateTimestampSince``: ``<unknown>`` when unset, else a HumanDuration."""
    if value in (None, ""):
        return "<unknown>"
    ts = parse_timestamp(value)
    if ts is None:
        return "<invalid>"
    return since(ts, now)


# ------------------------------------------------------------ Go value rendering


def go_value_string(value: Any) -> str | None:
    """How the JSONPath printer renders one result, or None when it cannot."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping | list | tuple):
        try:
            return go_json(value)
        except (TypeError, ValueError):
            return None
    return str(value)


# ----------------------------------------------------------------- CRD columns


def _column_cell(col: PrinterColumn, obj: Mapping[str, Any], now: datetime | None) -> Any:
    results = evaluate(col.json_path, obj)
    if not results:
        return None
    value = results[0]
    kind = col.type
    if kind == "string":
        return go_value_string(value)
    if value is None:
        return None
    if kind == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return int(value)
        return None
    if kind == "number":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            try:
                return float(value)
            except OverflowError:
                return None
        return None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        if not isinstance(value, str):
            return None
        ts = parse_timestamp(value)
        if ts is None:
            return "<invalid>"
        return since(ts, now)
    return None


def _column_definition(
    name: str, type_: str, description: str, *, fmt: str = "", priority: int = 0
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


_NAME_COLUMN = _column_definition("Name", "string", _NAME_DESCRIPTION, fmt="name")
_AGE_COLUMN = PrinterColumn(
    name="Age",
    type="date",
    json_path=".metadata.creationTimestamp",
    description=_CREATED_DESCRIPTION,
)


def _crd_columns(rt: ResourceType) -> tuple[PrinterColumn, ...]:
    return rt.printer_columns or (_AGE_COLUMN,)


def _crd_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    defs = [dict(_NAME_COLUMN)]
    for col in _crd_columns(rt):
        desc = col.description or (
            f"Custom resource definition column (in JSONPath format): {col.json_path}"
        )
        defs.append(
            _column_definition(col.name, col.type, desc, fmt=col.format, priority=col.priority)
        )
    return defs


def _crd_cells(rt: ResourceType, obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    cells: list[Any] = [_name(obj)]
    cells.extend(_column_cell(col, obj, now) for col in _crd_columns(rt))
    return cells


# ------------------------------------------------------------ built-in printers


def _get(obj: Any, *keys: str) -> Any:
    cur = obj
    for k in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(k)
    return cur


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(obj: Mapping[str, Any]) -> str:
    name = _get(obj, "metadata", "name")
    return name if isinstance(name, str) else ""


def _age(obj: Mapping[str, Any], now: datetime | None) -> str:
    return timestamp_age(_get(obj, "metadata", "creationTimestamp"), now)


def _count(value: Any) -> int:
    return len(value) if isinstance(value, Mapping | list) else 0


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return 0


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` pairs sorted by key, ``<none>`` when empty."""
    if not isinstance(labels, Mapping) or not labels:
        return "<none>"
    return ",".join(f"{k}={_str(labels[k])}" for k in sorted(labels, key=str))


def format_label_selector(selector: Any) -> str:
    """The string form of a ``metav1.LabelSelector`` (``labels.Selector.String``)."""
    if not isinstance(selector, Mapping):
        return ""
    reqs: list[tuple[str, str]] = []
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping):
        for k, v in match_labels.items():
            reqs.append((str(k), f"{k}={_str(v)}"))
    for expr in _as_list(selector.get("matchExpressions")):
        if not isinstance(expr, Mapping):
            continue
        key = _str(expr.get("key"))
        op = _str(expr.get("operator"))
        vals = [v for v in _as_list(expr.get("values")) if isinstance(v, str)]
        vals_text = ",".join(sorted(set(vals)))
        if op == "In":
            reqs.append((key, f"{key} in ({vals_text})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({vals_text})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def _containers(obj: Mapping[str, Any]) -> tuple[str, str]:
    names: list[str] = []
    images: list[str] = []
    for c in _as_list(_get(obj, "spec", "template", "spec", "containers")):
        if isinstance(c, Mapping):
            names.append(_str(c.get("name")))
            images.append(_str(c.get("image")))
    return ",".join(names), ",".join(images)


def _service_ports(ports: Any) -> str:
    pieces: list[str] = []
    for p in ports if isinstance(ports, list) else []:
        if not isinstance(p, Mapping):
            continue
        port = _int(p.get("port"))
        proto = _str(p.get("protocol")) or "TCP"
        node_port = _int(p.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{port}:{node_port}/{proto}")
        else:
            pieces.append(f"{port}/{proto}")
    return ",".join(pieces)


def _service_external_ip(obj: Mapping[str, Any]) -> str:
    spec = _get(obj, "spec") if isinstance(_get(obj, "spec"), Mapping) else {}
    svc_type = _str(_get(spec, "type")) or "ClusterIP"
    external_ips = [ip for ip in _as_list(_get(spec, "externalIPs")) if isinstance(ip, str)]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else "<none>"
    if svc_type == "LoadBalancer":
        found: set[str] = set()
        for ing in _as_list(_get(obj, "status", "loadBalancer", "ingress")):
            if not isinstance(ing, Mapping):
                continue
            ip, host = _str(ing.get("ip")), _str(ing.get("hostname"))
            if ip:
                found.add(ip)
            elif host:
                found.add(host)
        lb = sorted(found)
        if external_ips:
            return ",".join([*lb, *external_ips])
        return ",".join(lb) if lb else "<pending>"
    if svc_type == "ExternalName":
        return _str(_get(spec, "externalName"))
    return "<unknown>"


def _service_cluster_ip(obj: Mapping[str, Any]) -> str:
    ips = _get(obj, "spec", "clusterIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], str):
        return ips[0]
    ip = _get(obj, "spec", "clusterIP")
    return ip if isinstance(ip, str) and ip else "<none>"


_Printer = Callable[[Mapping[str, Any], datetime | None], list[Any]]


def _print_namespace(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    phase = _str(_get(obj, "status", "phase")) or "Active"
    return [_name(obj), phase, _age(obj, now)]


def _print_configmap(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    count = _count(obj.get("data")) + _count(obj.get("binaryData"))
    return [_name(obj), count, _age(obj, now)]


def _print_secret(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    secret_type = _str(obj.get("type")) or "Opaque"
    return [_name(obj), secret_type, _count(obj.get("data")), _age(obj, now)]


def _print_service(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    svc_type = _str(_get(obj, "spec", "type")) or "ClusterIP"
    ports = _service_ports(_get(obj, "spec", "ports")) or "<none>"
    return [
        _name(obj),
        svc_type,
        _service_cluster_ip(obj),
        _service_external_ip(obj),
        ports,
        _age(obj, now),
        format_labels(_get(obj, "spec", "selector")),
    ]


def _print_service_account(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    return [_name(obj), _count(obj.get("secrets")), _age(obj, now)]


def _print_deployment(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    spec_replicas = _get(obj, "spec", "replicas")
    desired = 1 if spec_replicas is None else _int(spec_replicas)
    ready = _int(_get(obj, "status", "readyReplicas"))
    updated = _int(_get(obj, "status", "updatedReplicas"))
    available = _int(_get(obj, "status", "availableReplicas"))
    names, images = _containers(obj)
    return [
        _name(obj),
        f"{ready}/{desired}",
        updated,
        available,
        _age(obj, now),
        names,
        images,
        format_label_selector(_get(obj, "spec", "selector")),
    ]


def _print_replica_set(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    spec_replicas = _get(obj, "spec", "replicas")
    names, images = _containers(obj)
    return [
        _name(obj),
        1 if spec_replicas is None else _int(spec_replicas),
        _int(_get(obj, "status", "replicas")),
        _int(_get(obj, "status", "readyReplicas")),
        _age(obj, now),
        names,
        images,
        format_label_selector(_get(obj, "spec", "selector")),
    ]


def _print_endpoints(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printEndpoints: ``ip:port`` of every address and port (only the addresses of a
    subset without ports), three at most, then ``+ N more...``; ``<none>`` without subsets."""
    subsets = [s for s in _as_list(obj.get("subsets")) if isinstance(s, Mapping)]
    if not subsets:
        return [_name(obj), "<none>", _age(obj, now)]
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ips = [
            _str(a.get("ip")) for a in _as_list(subset.get("addresses")) if isinstance(a, Mapping)
        ]
        ports = [p for p in _as_list(subset.get("ports")) if isinstance(p, Mapping)]
        if not ports:  # a headless Service's
            count += len(ips)
            shown.extend(ips[: max(0, 3 - len(shown))])
            continue
        for port in ports:
            count += len(ips)
            for ip in ips[: max(0, 3 - len(shown))]:
                host = f"[{ip}]" if ":" in ip else ip  # net.JoinHostPort
                shown.append(f"{host}:{_int(port.get('port'))}")
    text = ",".join(shown)
    return [_name(obj), f"{text} + {count - 3} more..." if count > 3 else text, _age(obj, now)]


def _int_or_string(value: Any) -> str:
    """intstr.IntOrString's String()."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else _str(value)


def _print_pod_disruption_budget(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printPodDisruptionBudget: each bound, or N/A when unset."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    bounds = [
        "N/A" if spec.get(k) is None else _int_or_string(spec.get(k))
        for k in ("minAvailable", "maxUnavailable")
    ]
    return [_name(obj), *bounds, _int(_get(obj, "status", "disruptionsAllowed")), _age(obj, now)]


def _containers_at(template: Any) -> tuple[str, str]:
    """layoutContainerCells of a Pod template's containers."""
    return _containers({"spec": {"template": template}})


def _selector_or_none(selector: Any) -> str:
    """metav1.FormatLabelSelector: ``<none>`` for an empty selector."""
    return format_label_selector(selector) or "<none>"


def _print_stateful_set(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    replicas = _get(obj, "spec", "replicas")
    desired = 1 if replicas is None else _int(replicas)
    ready = _int(_get(obj, "status", "readyReplicas"))
    return [_name(obj), f"{ready}/{desired}", _age(obj, now), *_containers(obj)]


def _print_daemon_set(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    counts = [
        _int(_get(obj, "status", k))
        for k in (
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberAvailable",
        )
    ]
    node_selector = format_labels(_get(obj, "spec", "template", "spec", "nodeSelector"))
    return [
        _name(obj),
        *counts,
        node_selector,
        _age(obj, now),
        *_containers(obj),
        _selector_or_none(_get(obj, "spec", "selector")),
    ]


def _job_condition(obj: Mapping[str, Any], kind: str) -> bool:
    for cond in _as_list(_get(obj, "status", "conditions")):
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond.get("status") == "True"
    return False


def _print_job(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printJob: status from the conditions, completions, and how long it ran."""
    succeeded = _int(_get(obj, "status", "succeeded"))
    completions = _get(obj, "spec", "completions")
    parallelism = _int(_get(obj, "spec", "parallelism"))
    if completions is not None:
        done = f"{succeeded}/{_int(completions)}"
    elif parallelism > 1:
        done = f"{succeeded}/1 of {parallelism}"
    else:
        done = f"{succeeded}/1"
    start = parse_timestamp(_get(obj, "status", "startTime"))
    end = parse_timestamp(_get(obj, "status", "completionTime"))
    ran = ""
    if start is not None:
        ran = human_duration(((end or now or datetime.now(UTC)) - start).total_seconds())
    if _job_condition(obj, "Complete"):
        status = "Complete"
    elif _job_condition(obj, "Failed"):
        status = "Failed"
    elif _get(obj, "metadata", "deletionTimestamp"):
        status = "Terminating"
    elif _job_condition(obj, "Suspended"):
        status = "Suspended"
    elif _job_condition(obj, "FailureTarget"):
        status = "FailureTarget"
    else:
        status = "Running"
    return [
        _name(obj),
        status,
        done,
        ran,
        _age(obj, now),
        *_containers(obj),
        _selector_or_none(_get(obj, "spec", "selector")),
    ]


def _print_cron_job(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    last = _get(obj, "status", "lastScheduleTime")
    suspend = _get(obj, "spec", "suspend")
    job_spec = _get(obj, "spec", "jobTemplate", "spec")
    return [
        _name(obj),
        _str(_get(obj, "spec", "schedule")),
        _str(_get(obj, "spec", "timeZone"), "<none>"),
        "<unset>" if not isinstance(suspend, bool) else ("True" if suspend else "False"),
        len(_as_list(_get(obj, "status", "active"))),
        timestamp_age(last, now) if last else "<none>",
        _age(obj, now),
        *_containers_at(_get(job_spec, "template")),
        _selector_or_none(_get(job_spec, "selector")),
    ]


def _print_ingress(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printIngress: the class, the rules' hosts (three, then ``+ N more...``; ``*`` for
    none), the load balancer's addresses and the ports TLS opens."""
    rules = [r for r in _as_list(_get(obj, "spec", "rules")) if isinstance(r, Mapping)]
    hosts = [_str(r.get("host")) for r in rules[:3] if _str(r.get("host"))]
    host_text = ",".join(hosts) or "*"
    if hosts and len(rules) > 3:
        host_text += f" + {len(rules) - 3} more..."
    addresses = sorted(
        {
            _str(i.get("ip")) or _str(i.get("hostname"))
            for i in _as_list(_get(obj, "status", "loadBalancer", "ingress"))
            if isinstance(i, Mapping) and (_str(i.get("ip")) or _str(i.get("hostname")))
        }
    )
    address = ",".join(addresses)
    if len(address) > 16:
        address = address[:13] + "..."
    return [
        _name(obj),
        _str(_get(obj, "spec", "ingressClassName"), "<none>"),
        host_text,
        address,
        "80, 443" if _as_list(_get(obj, "spec", "tls")) else "80",
        _age(obj, now),
    ]


def _print_network_policy(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    return [_name(obj), _selector_or_none(_get(obj, "spec", "podSelector")), _age(obj, now)]


def _print_lease(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    return [_name(obj), _str(_get(obj, "spec", "holderIdentity")), _age(obj, now)]


def _print_role_binding(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printRoleBinding: ``Kind/name`` of the role; users, groups and service accounts
    (``namespace/name``) as rbac.SubjectsStrings lists them."""
    found: dict[str, list[str]] = {"User": [], "Group": [], "ServiceAccount": []}
    for sub in _as_list(obj.get("subjects")):
        if not isinstance(sub, Mapping):
            continue
        kind, name = _str(sub.get("kind")), _str(sub.get("name"))
        if kind == "ServiceAccount":
            found[kind].append(f"{_str(sub.get('namespace'))}/{name}")
        elif kind in found:
            found[kind].append(name)
    role = f"{_str(_get(obj, 'roleRef', 'kind'))}/{_str(_get(obj, 'roleRef', 'name'))}"
    return [_name(obj), role, _age(obj, now), *(", ".join(v) for v in found.values())]


def _print_webhook_configuration(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    return [_name(obj), len(_as_list(obj.get("webhooks"))), _age(obj, now)]


def _access_modes(modes: Any) -> str:
    """helper.GetAccessModesAsString: the short forms, in kube's order."""
    have = {m for m in _as_list(modes) if isinstance(m, str)}
    short = (
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    )
    return ",".join(s for m, s in short if m in have)


def _print_persistent_volume_claim(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    phase = _str(_get(obj, "status", "phase"))
    if _get(obj, "metadata", "deletionTimestamp"):
        phase = "Terminating"
    volume = _str(_get(obj, "spec", "volumeName"))
    capacity = modes = ""
    if volume:
        modes = _access_modes(_get(obj, "status", "accessModes"))
        capacity = _str(_get(obj, "status", "capacity", "storage"))
    storage_class = _str(_get(obj, "spec", "storageClassName"))
    annotations = _get(obj, "metadata", "annotations")
    if (
        isinstance(annotations, Mapping)
        and "volume.beta.kubernetes.io/storage-class" in annotations
    ):
        storage_class = _str(annotations["volume.beta.kubernetes.io/storage-class"])
    return [
        _name(obj),
        phase,
        volume,
        capacity,
        modes,
        storage_class,
        _str(_get(obj, "spec", "volumeAttributesClassName"), "<unset>"),
        _age(obj, now),
        _str(_get(obj, "spec", "volumeMode"), "<unset>"),
    ]


def _hpa_metric(spec: Mapping[str, Any], status: Any) -> str:
    """One metric of formatHPAMetrics: ``current/target``, ``<unknown>`` before a reading."""
    kind = _str(spec.get("type"))
    key = {
        "External": "external",
        "Pods": "pods",
        "Object": "object",
        "Resource": "resource",
        "ContainerResource": "containerResource",
    }.get(kind)
    if key is None:
        return "<unknown type>"
    source = spec.get(key) if isinstance(spec.get(key), Mapping) else {}
    assert isinstance(source, Mapping)
    target = source.get("target") if isinstance(source.get("target"), Mapping) else {}
    assert isinstance(target, Mapping)
    reading = _get(status, key) if isinstance(status, Mapping) else None
    current = _get(reading, "current") if isinstance(reading, Mapping) else None
    have = isinstance(reading, Mapping)
    if kind in ("External", "Object") and target.get("averageValue") is not None:
        value = _get(current, "averageValue")
        now = _str(value) if have and value is not None else "<unknown>"
        return f"{now}/{_str(target.get('averageValue'))} (avg)"
    if kind in ("External", "Object"):
        now = _str(_get(current, "value"), "0") if have else "<unknown>"
        return f"{now}/{_str(target.get('value'), '0')}"
    if kind == "Pods":
        now = _str(_get(current, "averageValue"), "0") if have else "<unknown>"
        return f"{now}/{_str(target.get('averageValue'), '0')}"
    name = _str(source.get("name"))
    if target.get("averageValue") is not None:
        now = _str(_get(current, "averageValue"), "0") if have else "<unknown>"
        return f"{name}: {now}/{_str(target.get('averageValue'))}"
    used = _get(current, "averageUtilization")
    now = f"{_int(used)}%" if have and used is not None else "<unknown>"
    goal = target.get("averageUtilization")
    return f"{name}: {now}/{f'{_int(goal)}%' if goal is not None else '<auto>'}"


def _print_horizontal_pod_autoscaler(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printHorizontalPodAutoscaler: the target, the metrics (two at most, then
    ``+ N more...``; ``<none>``), the bounds and the replicas."""
    specs = [m for m in _as_list(_get(obj, "spec", "metrics")) if isinstance(m, Mapping)]
    readings = _as_list(_get(obj, "status", "currentMetrics"))
    shown = [
        _hpa_metric(m, readings[i] if i < len(readings) else None) for i, m in enumerate(specs)
    ]
    metrics = ", ".join(shown[:2]) if specs else "<none>"
    if len(shown) > 2:
        metrics += f" + {len(shown) - 2} more..."
    ref = _get(obj, "spec", "scaleTargetRef")
    low = _get(obj, "spec", "minReplicas")
    return [
        _name(obj),
        f"{_str(_get(ref, 'kind'))}/{_str(_get(ref, 'name'))}",
        metrics,
        "<unset>" if low is None else str(_int(low)),
        _int(_get(obj, "spec", "maxReplicas")),
        _int(_get(obj, "status", "currentReplicas")),
        _age(obj, now),
    ]


def _print_replication_controller(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printReplicationController: a ReplicaSet's columns, its selector a plain label map."""
    row = _print_replica_set(obj, now)
    row[-1] = format_labels(_get(obj, "spec", "selector"))
    return row


def _pod_state(obj: Mapping[str, Any]) -> tuple[str, int, int, str]:
    """kubectl's pod STATUS, ready containers, restarts, and the last restart's time."""
    reason = str(_get(obj, "status", "reason") or _get(obj, "status", "phase") or "")
    ready = restarts = 0
    last_restart = ""
    has_running = False
    for cs in reversed(_as_list(_get(obj, "status", "containerStatuses"))):
        if not isinstance(cs, Mapping):
            continue
        restarts += _int(cs.get("restartCount"))
        finished = _get(cs, "lastState", "terminated", "finishedAt")
        if isinstance(finished, str) and finished > last_restart:
            last_restart = finished
        waiting = _get(cs, "state", "waiting", "reason")
        terminated = _get(cs, "state", "terminated")
        if waiting:
            reason = str(waiting)
        elif isinstance(terminated, Mapping):
            if terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated.get("signal"):
                reason = f"Signal:{terminated['signal']}"
            else:
                reason = f"ExitCode:{terminated.get('exitCode', 0)}"
        elif cs.get("ready") and _get(cs, "state", "running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        ready_condition = [
            c
            for c in _as_list(_get(obj, "status", "conditions"))
            if isinstance(c, Mapping) and c.get("type") == "Ready"
        ]
        ok = ready_condition and ready_condition[0].get("status") == "True"
        reason = "Running" if ok else "NotReady"
    if _get(obj, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    return reason, ready, restarts, last_restart


def _print_pod(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    reason, ready, restarts, last_restart = _pod_state(obj)
    total = len(_as_list(_get(obj, "spec", "containers")))
    restart_cell = str(restarts)
    if last_restart:
        restart_cell = f"{restarts} ({timestamp_age(last_restart, now)} ago)"
    gates = _as_list(_get(obj, "spec", "readinessGates"))
    return [
        _name(obj),
        f"{ready}/{total}",
        reason,
        restart_cell,
        _age(obj, now),
        _get(obj, "status", "podIP") or "<none>",
        _get(obj, "spec", "nodeName") or "<none>",
        _get(obj, "status", "nominatedNodeName") or "<none>",
        f"{len(gates)}/{len(gates)}" if gates else "<none>",
    ]


def _print_event(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    first = timestamp_age(_get(obj, "firstTimestamp"), now)
    if not _get(obj, "firstTimestamp"):
        first = timestamp_age(_get(obj, "eventTime"), now)
    last = timestamp_age(_get(obj, "lastTimestamp"), now) if _get(obj, "lastTimestamp") else first
    count = _int(_get(obj, "count"))
    series = _get(obj, "series")
    if isinstance(series, Mapping):
        last = timestamp_age(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # a singleton event of the new API has no count
    kind = str(_get(obj, "involvedObject", "kind") or "").lower()
    target_name = _get(obj, "involvedObject", "name")
    target = f"{kind}/{target_name}" if target_name else kind
    component = _get(obj, "source", "component") or _get(obj, "reportingComponent") or ""
    instance = _get(obj, "source", "host") or _get(obj, "reportingInstance") or ""
    source = f"{component}, {instance}" if instance else str(component)
    return [
        last,
        _get(obj, "type") or "",
        _get(obj, "reason") or "",
        target,
        _get(obj, "involvedObject", "fieldPath") or "",
        source,
        str(_get(obj, "message") or "").strip(),
        first,
        count,
        _name(obj),
    ]


def _print_node(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """printNode: Ready/NotReady (Unknown without the condition), SchedulingDisabled,
    the roles from ``node-role.kubernetes.io/<role>`` and ``kubernetes.io/role``."""
    status: list[str] = []
    for cond in _as_list(_get(obj, "status", "conditions")):
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            status = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not status:
        status = ["Unknown"]
    if _get(obj, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    roles: set[str] = set()
    labels = _get(obj, "metadata", "labels")
    for key, value in labels.items() if isinstance(labels, Mapping) else ():
        key = str(key)
        if key.startswith(_NODE_ROLE_PREFIX) and key[len(_NODE_ROLE_PREFIX) :]:
            roles.add(key[len(_NODE_ROLE_PREFIX) :])
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    info = _get(obj, "status", "nodeInfo")

    def address(kind: str) -> str:
        for a in _as_list(_get(obj, "status", "addresses")):
            if isinstance(a, Mapping) and a.get("type") == kind:
                return _str(a.get("address"))
        return "<none>"

    return [
        _name(obj),
        ",".join(status),
        ",".join(sorted(roles)) or "<none>",
        _age(obj, now),
        _str(_get(info, "kubeletVersion")),
        address("InternalIP"),
        address("ExternalIP"),
        _str(_get(info, "osImage")) or "<unknown>",
        _str(_get(info, "kernelVersion")) or "<unknown>",
        _str(_get(info, "containerRuntimeVersion")) or "<unknown>",
    ]


def _list_with_more(items: list[str], count: int, limit: int = 3) -> str:
    """listWithMoreString: the first three, then ``+ N more...``; ``<unset>`` for none."""
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _print_endpoint_slice(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    ports: list[str] = []
    for p in _as_list(obj.get("ports")):
        if not isinstance(p, Mapping):
            p = {}
        number = p.get("port")
        if isinstance(number, int) and not isinstance(number, bool):
            ports.append(str(number))
        elif isinstance(p.get("name"), str):
            ports.append(p["name"])
        else:
            ports.append("*")
    addresses = [
        _str(a)
        for e in _as_list(obj.get("endpoints"))
        if isinstance(e, Mapping)
        for a in _as_list(e.get("addresses"))
    ]
    return [
        _name(obj),
        _str(obj.get("addressType")),
        _list_with_more(ports, len(ports)),
        _list_with_more(addresses, len(addresses)),
        _age(obj, now),
    ]


def _print_api_service(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    """kube-aggregator's ConvertToTable: the Service ``ns/name`` or Local, and Available
    (``False (Reason)`` when it is not)."""
    service = _get(obj, "spec", "service")
    where = "Local"
    if isinstance(service, Mapping):
        where = f"{_str(service.get('namespace'))}/{_str(service.get('name'))}"
    available = "Unknown"
    for cond in _as_list(_get(obj, "status", "conditions")):
        if isinstance(cond, Mapping) and cond.get("type") == "Available":
            value, reason = _str(cond.get("status")), _str(cond.get("reason"))
            available = f"{value} ({reason})" if value != "True" and reason else value
            break
    return [_name(obj), where, available, _age(obj, now)]


def _print_default(obj: Mapping[str, Any], now: datetime | None) -> list[Any]:
    ts = parse_timestamp(_get(obj, "metadata", "creationTimestamp"))
    created = "0001-01-01T00:00:00Z"
    if ts is not None:
        with contextlib.suppress(OverflowError, ValueError):
            created = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [_name(obj), created]


_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_CORE = "io.k8s.api.core.v1."
_SLICE = "io.k8s.api.discovery.v1.EndpointSlice"


def _doc(definition: str, field: str) -> str:
    """A field's description in the published schemas (the ``SwaggerDoc`` that
    kube-apiserver's column definitions quote)."""
    from kn_walk.sandbox.machinery.definitions import builtin_definitions

    found = _get(builtin_definitions().get(definition), "properties", field, "description")
    return found if isinstance(found, str) else ""


_APPS = "io.k8s.api.apps.v1."
_BATCH = "io.k8s.api.batch.v1."
_HPA = "io.k8s.api.autoscaling.v2."


def _binding_columns(what: str, kind: str) -> list[dict[str, Any]]:
    return [
        dict(_NAME_COLUMN),
        _column_definition("Role", "string", _doc(f"io.k8s.api.rbac.v1.{kind}", "roleRef")),
        _age_col(),
        _column_definition("Users", "string", f"Users in the {what}", priority=1),
        _column_definition("Groups", "string", f"Groups in the {what}", priority=1),
        _column_definition(
            "ServiceAccounts", "string", f"ServiceAccounts in the {what}", priority=1
        ),
    ]


def _webhook_columns() -> list[dict[str, Any]]:
    return [
        dict(_NAME_COLUMN),
        _column_definition(
            "Webhooks",
            "integer",
            "Webhooks indicates the number of webhooks registered in this configuration",
        ),
        _age_col(),
    ]


def _age_col() -> dict[str, Any]:
    return _column_definition("Age", "string", _CREATED_DESCRIPTION)


def _containers_cols() -> list[dict[str, Any]]:
    return [
        _column_definition(
            "Containers", "string", "Names of each container in the template.", priority=1
        ),
        _column_definition(
            "Images", "string", "Images referenced by each container in the template.", priority=1
        ),
    ]


_BUILTIN: dict[tuple[str, str], tuple[Callable[[], list[dict[str, Any]]], _Printer]] = {
    ("", "Namespace"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Status", "string", "The status of the namespace"),
            _age_col(),
        ],
        _print_namespace,
    ),
    ("", "ConfigMap"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Data", "string", "Data contains the configuration data."),
            _age_col(),
        ],
        _print_configmap,
    ),
    ("", "Secret"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Type", "string", "Used to facilitate programmatic handling."),
            _column_definition("Data", "string", "Data contains the secret data."),
            _age_col(),
        ],
        _print_secret,
    ),
    ("", "Service"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Type", "string", "type determines how the Service is exposed."),
            _column_definition(
                "Cluster-IP", "string", "clusterIP is the IP address of the service."
            ),
            _column_definition(
                "External-IP",
                "string",
                "externalIPs is a list of IP addresses for which nodes also accept traffic.",
            ),
            _column_definition(
                "Port(s)", "string", "The list of ports that are exposed by this service."
            ),
            _age_col(),
            _column_definition(
                "Selector",
                "string",
                "Route service traffic to pods with label keys and values matching this selector.",
                priority=1,
            ),
        ],
        _print_service,
    ),
    ("", "ServiceAccount"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Secrets", "string", "Secrets is a list of the secrets this account may use."
            ),
            _age_col(),
        ],
        _print_service_account,
    ),
    ("", "Event"): (
        lambda: [
            _column_definition(
                "Last Seen",
                "string",
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            _column_definition(
                "Type",
                "string",
                "Type of this event (Normal, Warning), new types could be added in the future",
            ),
            _column_definition(
                "Reason",
                "string",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            _column_definition("Object", "string", "The object that this event is about."),
            _column_definition(
                "Subobject",
                "string",
                "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
                priority=1,
            ),
            _column_definition(
                "Source",
                "string",
                "The component reporting this event. Should be a short machine understandable string.",
                priority=1,
            ),
            _column_definition(
                "Message", "string", "A human-readable description of the status of this operation."
            ),
            _column_definition(
                "First Seen",
                "string",
                "The time at which the event was first recorded.",
                priority=1,
            ),
            _column_definition(
                "Count", "string", "The number of times this event has occurred.", priority=1
            ),
            _column_definition("Name", "string", _NAME_DESCRIPTION, fmt="name", priority=1),
        ],
        _print_event,
    ),
    ("", "Pod"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Ready",
                "string",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            _column_definition(
                "Status", "string", "The aggregate status of the containers in this pod."
            ),
            _column_definition(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and when "
                "the last container in this pod has restarted.",
            ),
            _age_col(),
            _column_definition("IP", "string", "IP address allocated to the pod.", priority=1),
            _column_definition(
                "Node", "string", "Name of the node the pod is scheduled on.", priority=1
            ),
            _column_definition(
                "Nominated Node",
                "string",
                "Name of the node the pod is nominated to run on by the scheduler.",
                priority=1,
            ),
            _column_definition("Readiness Gates", "string", "Pod readiness gates.", priority=1),
        ],
        _print_pod,
    ),
    ("", "Node"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Status", "string", "The status of the node"),
            _column_definition("Roles", "string", "The roles of the node"),
            _age_col(),
            _column_definition(
                "Version", "string", _doc(_CORE + "NodeSystemInfo", "kubeletVersion")
            ),
            _column_definition(
                "Internal-IP", "string", _doc(_CORE + "NodeStatus", "addresses"), priority=1
            ),
            _column_definition(
                "External-IP", "string", _doc(_CORE + "NodeStatus", "addresses"), priority=1
            ),
            _column_definition(
                "OS-Image", "string", _doc(_CORE + "NodeSystemInfo", "osImage"), priority=1
            ),
            _column_definition(
                "Kernel-Version",
                "string",
                _doc(_CORE + "NodeSystemInfo", "kernelVersion"),
                priority=1,
            ),
            _column_definition(
                "Container-Runtime",
                "string",
                _doc(_CORE + "NodeSystemInfo", "containerRuntimeVersion"),
                priority=1,
            ),
        ],
        _print_node,
    ),
    ("discovery.k8s.io", "EndpointSlice"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("AddressType", "string", _doc(_SLICE, "addressType")),
            _column_definition("Ports", "string", _doc(_SLICE, "ports")),
            _column_definition("Endpoints", "string", _doc(_SLICE, "endpoints")),
            _age_col(),
        ],
        _print_endpoint_slice,
    ),
    ("apiregistration.k8s.io", "APIService"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Service", "string", "The reference to the service that hosts this API endpoint."
            ),
            _column_definition("Available", "string", "Whether this service is available."),
            _age_col(),
        ],
        _print_api_service,
    ),
    ("apps", "Deployment"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Ready", "string", "Number of the pod with ready state"),
            _column_definition(
                "Up-to-date",
                "string",
                "Total number of non-terminated pods targeted by this deployment that have "
                "the desired template spec.",
            ),
            _column_definition(
                "Available",
                "string",
                "Total number of available pods (ready for at least minReadySeconds) targeted "
                "by this deployment.",
            ),
            _age_col(),
            *_containers_cols(),
            _column_definition("Selector", "string", "Label selector for pods.", priority=1),
        ],
        _print_deployment,
    ),
    ("apps", "ReplicaSet"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Desired",
                "integer",
                "Replicas is the number of desired pods. This is a pointer to distinguish between "
                "explicit zero and unspecified. Defaults to 1. More info: "
                "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/"
                "#how-a-replicaset-works",
            ),
            _column_definition(
                "Current",
                "integer",
                "Replicas is the most recently observed number of non-terminating pods. More "
                "info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/"
                "#how-a-replicaset-works",
            ),
            _column_definition(
                "Ready",
                "integer",
                "The number of non-terminating pods targeted by this ReplicaSet with a Ready "
                "Condition.",
            ),
            _age_col(),
            *_containers_cols(),
            _column_definition(
                "Selector",
                "string",
                "Selector is a label query over pods that should match the replica count. Label "
                "keys and values that must match in order to be controlled by this replica set. "
                "It must match the pod template's labels. More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/"
                "#label-selectors",
                priority=1,
            ),
        ],
        _print_replica_set,
    ),
    ("", "Endpoints"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Endpoints", "string", _doc(_CORE + "Endpoints", "subsets")),
            _age_col(),
        ],
        _print_endpoints,
    ),
    ("policy", "PodDisruptionBudget"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Min Available", "string", "The minimum number of pods that must be available."
            ),
            _column_definition(
                "Max Unavailable", "string", "The maximum number of pods that may be unavailable."
            ),
            _column_definition(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            _age_col(),
        ],
        _print_pod_disruption_budget,
    ),
    ("", "PersistentVolumeClaim"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Status", "string", _doc(_CORE + "PersistentVolumeClaimStatus", "phase")
            ),
            _column_definition(
                "Volume", "string", _doc(_CORE + "PersistentVolumeClaimSpec", "volumeName")
            ),
            _column_definition(
                "Capacity", "string", _doc(_CORE + "PersistentVolumeClaimStatus", "capacity")
            ),
            _column_definition(
                "Access Modes",
                "string",
                _doc(_CORE + "PersistentVolumeClaimStatus", "accessModes"),
            ),
            _column_definition("StorageClass", "string", "StorageClass of the pvc"),
            _column_definition(
                "VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"
            ),
            _age_col(),
            _column_definition(
                "VolumeMode",
                "string",
                _doc(_CORE + "PersistentVolumeClaimSpec", "volumeMode"),
                priority=1,
            ),
        ],
        _print_persistent_volume_claim,
    ),
    ("apps", "StatefulSet"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Ready", "string", "Number of the pod with ready state"),
            _age_col(),
            *_containers_cols(),
        ],
        _print_stateful_set,
    ),
    ("apps", "DaemonSet"): (
        lambda: [
            dict(_NAME_COLUMN),
            *(
                _column_definition(title, "integer", _doc(_APPS + "DaemonSetStatus", field))
                for title, field in (
                    ("Desired", "desiredNumberScheduled"),
                    ("Current", "currentNumberScheduled"),
                    ("Ready", "numberReady"),
                    ("Up-to-date", "updatedNumberScheduled"),
                    ("Available", "numberAvailable"),
                )
            ),
            _column_definition("Node Selector", "string", _doc(_CORE + "PodSpec", "nodeSelector")),
            _age_col(),
            *_containers_cols(),
            _column_definition(
                "Selector", "string", _doc(_APPS + "DaemonSetSpec", "selector"), priority=1
            ),
        ],
        _print_daemon_set,
    ),
    ("batch", "Job"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Status", "string", "Status of the job."),
            _column_definition("Completions", "string", _doc(_BATCH + "JobStatus", "succeeded")),
            _column_definition("Duration", "string", "Time required to complete the job."),
            _age_col(),
            *_containers_cols(),
            _column_definition(
                "Selector", "string", _doc(_BATCH + "JobSpec", "selector"), priority=1
            ),
        ],
        _print_job,
    ),
    ("batch", "CronJob"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition("Schedule", "string", _doc(_BATCH + "CronJobSpec", "schedule")),
            _column_definition("Timezone", "string", _doc(_BATCH + "CronJobSpec", "timeZone")),
            _column_definition("Suspend", "boolean", _doc(_BATCH + "CronJobSpec", "suspend")),
            _column_definition("Active", "integer", _doc(_BATCH + "CronJobStatus", "active")),
            _column_definition(
                "Last Schedule", "string", _doc(_BATCH + "CronJobStatus", "lastScheduleTime")
            ),
            _age_col(),
            *_containers_cols(),
            _column_definition(
                "Selector", "string", _doc(_BATCH + "JobSpec", "selector"), priority=1
            ),
        ],
        _print_cron_job,
    ),
    ("networking.k8s.io", "Ingress"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Class",
                "string",
                "The name of the IngressClass resource that should be used for additional "
                "configuration",
            ),
            _column_definition(
                "Hosts",
                "string",
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            _column_definition(
                "Address",
                "string",
                "Address is a list containing ingress points for the load-balancer",
            ),
            _column_definition("Ports", "string", "Ports of TLS configurations that open"),
            _age_col(),
        ],
        _print_ingress,
    ),
    ("networking.k8s.io", "NetworkPolicy"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Pod-Selector",
                "string",
                _doc("io.k8s.api.networking.v1.NetworkPolicySpec", "podSelector"),
            ),
            _age_col(),
        ],
        _print_network_policy,
    ),
    ("coordination.k8s.io", "Lease"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Holder",
                "string",
                _doc("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity"),
            ),
            _age_col(),
        ],
        _print_lease,
    ),
    ("rbac.authorization.k8s.io", "RoleBinding"): (
        lambda: _binding_columns("roleBinding", "RoleBinding"),
        _print_role_binding,
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): (
        lambda: _binding_columns("clusterRoleBinding", "ClusterRoleBinding"),
        _print_role_binding,
    ),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): (
        _webhook_columns,
        _print_webhook_configuration,
    ),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): (
        _webhook_columns,
        _print_webhook_configuration,
    ),
    ("autoscaling", "HorizontalPodAutoscaler"): (
        lambda: [
            dict(_NAME_COLUMN),
            *(
                _column_definition(title, "string", _doc(_HPA + where, field))
                for title, where, field in (
                    ("Reference", "HorizontalPodAutoscalerSpec", "scaleTargetRef"),
                    ("Targets", "HorizontalPodAutoscalerSpec", "metrics"),
                    ("MinPods", "HorizontalPodAutoscalerSpec", "minReplicas"),
                    ("MaxPods", "HorizontalPodAutoscalerSpec", "maxReplicas"),
                    ("Replicas", "HorizontalPodAutoscalerStatus", "currentReplicas"),
                )
            ),
            _age_col(),
        ],
        _print_horizontal_pod_autoscaler,
    ),
    ("", "ReplicationController"): (
        lambda: [
            dict(_NAME_COLUMN),
            _column_definition(
                "Desired", "integer", _doc(_CORE + "ReplicationControllerSpec", "replicas")
            ),
            _column_definition(
                "Current", "integer", _doc(_CORE + "ReplicationControllerStatus", "replicas")
            ),
            _column_definition(
                "Ready", "integer", _doc(_CORE + "ReplicationControllerStatus", "readyReplicas")
            ),
            _age_col(),
            *_containers_cols(),
            _column_definition(
                "Selector",
                "string",
                _doc(_CORE + "ReplicationControllerSpec", "selector"),
                priority=1,
            ),
        ],
        _print_replication_controller,
    ),
}


def _default_definitions() -> list[dict[str, Any]]:
    return [
        dict(_NAME_COLUMN),
        _column_definition("Created At", "date", _CREATED_DESCRIPTION),
    ]


# ------------------------------------------------------------------------ table


def _row_object(obj: Mapping[str, Any], include_object: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    metadata = obj.get("metadata")
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata if isinstance(metadata, Mapping) else {},
    }


def _printer_for(rt: ResourceType) -> tuple[list[dict[str, Any]], _Printer]:
    if rt.custom or rt.printer_columns:
        return _crd_definitions(rt), lambda o, now: _crd_cells(rt, o, now)
    builtin = _BUILTIN.get((rt.group, rt.kind))
    if builtin is not None:
        columns, printer = builtin
        return columns(), printer
    return _default_definitions(), _print_default


def to_table(
    rt: ResourceType,
    objs: Sequence[Mapping[str, Any]],
    *,
    resource_version: str,
    continue_token: str = "",
    include_object: str = "Metadata",
    now: datetime | None = None,
    no_headers: bool = False,
    remaining_item_count: int | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table for ``objs`` (a list, or one object for a GET).

    ``include_object`` is the ``includeObject`` query parameter ("" means
    Metadata); any other value raises ValueError with kube-apiserver's message,
    which belongs in a 400 BadRequest.
    """
    if include_object == "":
        include_object = "Metadata"
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise ValueError(f'unrecognized includeObject value: "{include_object}"')
    definitions, printer = _printer_for(rt)
    rows: list[dict[str, Any]] = []
    for obj in objs:
        if not isinstance(obj, Mapping):
            continue
        rows.append({"cells": printer(obj, now), "object": _row_object(obj, include_object)})
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": None if no_headers else definitions,
        "rows": rows,
    }
