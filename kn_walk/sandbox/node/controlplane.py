"""The objects a cluster's control plane keeps about itself, seeded at every start.

* the Node ``knwalk-sandbox``, which every Pod of the sandbox names in ``spec.nodeName``:
  the machine the sandbox runs on, with its real CPU count, memory and disk as capacity
  and its kernel and OS in ``nodeInfo``; the kubelet and container runtime versions say
  they are the sandbox's (``v1.33.0-knwalk-sandbox``, ``knwalk-sandbox://VERSION``);
* the ``default/kubernetes`` Service, and its Endpoints and EndpointSlice, pointing at the
  API's real address and port (kube-apiserver's endpoint reconciler writes these).

Each is written only when it differs from what is stored, so a restart on the same
machine and port rewrites nothing.
"""

from __future__ import annotations

import copy
import os
import platform
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kn_walk import __version__
from kn_walk.sandbox.apiserver.api import KUBE_VERSION
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.registry.events import NODE_NAME
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, now_rfc3339
from kn_walk.sandbox.registry.store import Obj

LOOPBACK = "127.0.0.1"
#: the first address of the sandbox's service range (10.96.0.0/12), as kubeadm's clusters give it
KUBERNETES_CLUSTER_IP = "10.96.0.1"
#: the sandbox's "kubelet": the version the API reports, marked as the sandbox's
KUBELET_VERSION = KUBE_VERSION["gitVersion"]
#: kubelet's default ``maxPods``
MAX_PODS = "110"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip().strip('"')
    return platform.platform()


def _memory_ki() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return int(pages * size // 1024)


_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


def node_status(state_dir: Path) -> Obj:
    """The Node's status: this machine, as a kubelet would report it."""
    capacity = {
        "cpu": str(os.cpu_count() or 1),
        "ephemeral-storage": f"{shutil.disk_usage(state_dir).total // 1024}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{_memory_ki()}Ki",
        "pods": MAX_PODS,
    }
    now = now_rfc3339()

    def condition(type_: str, status: str, reason: str, message: str) -> Obj:
        return {
            "type": type_,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    machine = platform.machine()
    return {
        "capacity": capacity,
        "allocatable": dict(capacity),
        "conditions": [
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition(
                "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": LOOPBACK},
            {"type": "Hostname", "address": NODE_NAME},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": _read("/etc/machine-id"),
            "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
            "bootID": _read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": f"knwalk-sandbox://{__version__}",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": platform.system().lower(),
            "architecture": _ARCH.get(machine, machine),
        },
    }


def node() -> Obj:
    arch = _ARCH.get(platform.machine(), platform.machine())
    system = platform.system().lower()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "beta.kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": system,
                "kubernetes.io/arch": arch,
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": system,
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {},
    }


_API_PORT_NAME = "https"


def kubernetes_service(api_port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": KUBERNETES_CLUSTER_IP,
            "clusterIPs": [KUBERNETES_CLUSTER_IP],
            "ports": [
                {"name": _API_PORT_NAME, "port": 443, "protocol": "TCP", "targetPort": api_port}
            ],
            "sessionAffinity": "None",
        },
    }


def kubernetes_endpoints(api_port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [
            {
                "addresses": [{"ip": LOOPBACK}],
                "ports": [{"name": _API_PORT_NAME, "port": api_port, "protocol": "TCP"}],
            }
        ],
    }


def kubernetes_endpoint_slice(api_port: int) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [LOOPBACK], "conditions": {"ready": True}}],
        "ports": [{"name": _API_PORT_NAME, "port": api_port, "protocol": "TCP"}],
    }


def _same(desired: Any, current: Any) -> bool:
    """Whether everything ``desired`` sets is so in ``current`` (defaults may add more)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            _same(v, current.get(k)) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(desired) == len(current)
            and all(_same(d, c) for d, c in zip(desired, current, strict=True))
        )
    return bool(desired == current)


def _unchanged_status(desired: Obj, current: Obj) -> bool:
    """Node status equality that ignores the conditions' times."""

    def strip(status: Obj) -> Obj:
        out = copy.deepcopy(status)
        for c in out.get("conditions") or []:
            c.pop("lastHeartbeatTime", None)
            c.pop("lastTransitionTime", None)
        return out

    return strip(desired) == strip(current)


def seed(res: Resources, *, api_port: int, state_dir: Path, manager: str) -> None:
    """Create or bring up to date the Node and the ``kubernetes`` Service with its endpoints."""
    opts = WriteOptions(manager=manager, field_validation="Ignore")
    reg = res.registry

    def ensure(group: str, plural: str, desired: Obj) -> Obj:
        rt = reg.get(group, "v1", plural)
        assert rt is not None
        meta = desired["metadata"]
        ns = meta.get("namespace", "")
        current = res.find(rt, ns, meta["name"])
        if current is None:
            return res.create(rt, ns, copy.deepcopy(desired), opts)
        if all(
            _same(v, current.get(k)) for k, v in desired.items() if k not in ("apiVersion", "kind")
        ):
            return current
        new = copy.deepcopy(current)
        for key, value in desired.items():
            if key == "metadata":
                new["metadata"].setdefault("labels", {}).update(value.get("labels") or {})
            elif key not in ("apiVersion", "kind"):
                new[key] = copy.deepcopy(value)
        return res.update(rt, ns, meta["name"], new, opts)

    def with_status(
        group: str, plural: str, obj: Obj, status: Obj, same: Callable[[Obj, Obj], bool]
    ) -> None:
        rt = reg.get(group, "v1", plural)
        assert rt is not None
        if same(status, obj.get("status") or {}):
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        try:
            res.update(
                rt,
                obj["metadata"].get("namespace", ""),
                obj["metadata"]["name"],
                new,
                WriteOptions(manager=manager, subresource="status"),
            )
        except E.StatusError as err:  # pragma: no cover - seeding must not fail silently
            raise RuntimeError(err.message) from err

    stored_node = ensure("", "nodes", node())
    with_status("", "nodes", stored_node, node_status(state_dir), _unchanged_status)
    ensure("", "services", kubernetes_service(api_port))
    ensure("", "endpoints", kubernetes_endpoints(api_port))
    ensure("discovery.k8s.io", "endpointslices", kubernetes_endpoint_slice(api_port))
