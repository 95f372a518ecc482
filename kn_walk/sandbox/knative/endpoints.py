"""Endpoints and EndpointSlices, as kube-controller-manager's three controllers keep them.

* endpoints controller: a Service with a selector gets an Endpoints object of its
  name listing the Pods it selects (``addresses`` when Ready, else
  ``notReadyAddresses``), with the Service's labels and
  ``endpoints.kubernetes.io/managed-by: endpoint-controller``; it goes when the
  Service goes;
* endpointslice controller: such a Service also gets an EndpointSlice
  (``{service}-{5 random}``, owned by the Service, labels
  ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io``) with each Pod's ``ready``/``serving``/
  ``terminating`` conditions;
* endpointslicemirroring controller: a Service without a selector whose
  Endpoints someone else writes (a ServerlessService's public Service) gets that
  Endpoints mirrored into an EndpointSlice owned by the Endpoints.

An ExternalName Service has none. Ports resolve as kube-proxy needs them: a
numeric ``targetPort`` as is, a named one through the Pod's container ports (a
Pod without it is left out of that port). Every sandbox Pod has the address
127.0.0.1.

The controller keeps in memory which Services select by which label pairs, so
that a Pod's change costs the Services that select it, not every Service of its
namespace.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, now_rfc3339, rkey
from kn_walk.sandbox.registry.store import Event, Obj

log = logging.getLogger(__name__)

L_SERVICE_NAME = "kubernetes.io/service-name"
L_SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
L_ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
L_HEADLESS = "service.kubernetes.io/headless"
#: on an Endpoints object the mirroring controller must leave alone (kube-apiserver's own)
L_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
MIRROR_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
ENDPOINTS_CONTROLLER = "endpoint-controller"
A_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: (namespace, label key, label value) -> the Services whose selector has that pair
_PairIndex = dict[tuple[str, str, str], set[str]]


def _opts(controller: str) -> WriteOptions:
    return WriteOptions(
        manager="kube-controller-manager",
        field_validation="Ignore",
        user=f"system:serviceaccount:kube-system:{controller}",
    )


def pod_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _target(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {
        "kind": "Pod",
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
        "uid": meta.get("uid", ""),
    }


def _container_port(pod: Obj, name: str) -> int | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in (c or {}).get("ports") or []:
            if isinstance(p, dict) and p.get("name") == name:
                value = p.get("containerPort")
                return value if isinstance(value, int) else None
    return None


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The Endpoints ports of ``pod`` for ``service``'s ports (kube's FindPort)."""
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        if not isinstance(sp, dict):
            continue
        target = sp.get("targetPort", sp.get("port"))
        port = _container_port(pod, target) if isinstance(target, str) else target
        if not isinstance(port, int):
            continue
        entry: Obj = {"port": port, "protocol": sp.get("protocol", "TCP")}
        if sp.get("name"):
            entry["name"] = sp["name"]
        if sp.get("appProtocol"):
            entry["appProtocol"] = sp["appProtocol"]
        out.append(entry)
    return out


def endpoints_subsets(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """Pods grouped by their port sets, ready ones in ``addresses``, others in
    ``notReadyAddresses`` (as the endpoints controller packs them)."""
    groups: dict[str, Obj] = {}
    order: list[str] = []
    for pod in pods:
        ports = endpoint_ports(service, pod)
        if not ports or not (pod.get("status") or {}).get("podIP"):
            continue
        key = repr(sorted((p.get("name", ""), p["port"]) for p in ports))
        if key not in groups:
            groups[key] = {"ports": sorted(ports, key=lambda p: p.get("name", ""))}
            order.append(key)
        address: Obj = {
            "ip": pod["status"]["podIP"],
            "targetRef": _target(pod),
        }
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            address["nodeName"] = node
        field = "addresses" if pod_ready(pod) else "notReadyAddresses"
        groups[key].setdefault(field, []).append(address)
    subsets = []
    for key in order:
        subset = groups[key]
        for field in ("addresses", "notReadyAddresses"):
            if field in subset:
                subset[field].sort(key=lambda a: (a["ip"], a["targetRef"]["name"]))
        ordered: Obj = {
            k: subset[k] for k in ("addresses", "notReadyAddresses", "ports") if k in subset
        }
        subsets.append(ordered)
    return subsets


def slice_endpoints(pods: Iterable[Obj]) -> list[Obj]:
    """EndpointSlice endpoints for Pods (the endpointslice controller's podToEndpoint)."""
    out = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            continue
        ready = pod_ready(pod)
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        entry: Obj = {
            "addresses": [ip],
            "conditions": {
                "ready": ready and not terminating,
                "serving": ready,
                "terminating": terminating,
            },
            "targetRef": _target(pod),
        }
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            entry["nodeName"] = node
        out.append(entry)
    out.sort(key=lambda e: e["targetRef"]["name"])
    return out


def mirrored_endpoints(endpoints: Obj) -> tuple[list[Obj], list[Obj]]:
    """(endpoints, ports) of the EndpointSlice mirroring an Endpoints object."""
    out: list[Obj] = []
    ports: list[Obj] = []
    for subset in endpoints.get("subsets") or []:
        for p in subset.get("ports") or []:
            entry = {k: p[k] for k in ("name", "port", "protocol", "appProtocol") if k in p}
            entry.setdefault("name", "")
            if entry not in ports:
                ports.append(entry)
        for field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field) or []:
                e: Obj = {"addresses": [address.get("ip", "")], "conditions": {"ready": ready}}
                if address.get("targetRef"):
                    e["targetRef"] = address["targetRef"]
                if address.get("nodeName"):
                    e["nodeName"] = address["nodeName"]
                out.append(e)
    return out, ports


class EndpointsController:
    """Keeps every Service's Endpoints and EndpointSlice current; fed by store events."""

    def __init__(self, resources: Resources) -> None:
        self.res = resources
        reg = resources.registry
        self.t_svc = self._type(reg.get("", "v1", "services"))
        self.t_pod = self._type(reg.get("", "v1", "pods"))
        self.t_ep = self._type(reg.get("", "v1", "endpoints"))
        self.t_slice = self._type(reg.get("discovery.k8s.io", "v1", "endpointslices"))
        #: (ns, service) -> its selector, for the Services with one
        self._selectors: dict[tuple[str, str], dict[str, str]] = {}
        self._by_pair: _PairIndex = {}
        #: (ns, pod) -> the Services it was listed in (so that leaving one is seen)
        self._member: dict[tuple[str, str], set[str]] = {}

    @staticmethod
    def _type(rt: ResourceType | None) -> ResourceType:
        assert rt is not None
        return rt

    # ------------------------------------------------------------------ events
    def start(self) -> list[tuple[str, str]]:
        """Index the stored Services; the ones to sync now."""
        keys = []
        for svc in self.res.store.list_objects(rkey(self.t_svc)):
            meta = svc["metadata"]
            self._index_service(meta["namespace"], meta["name"], svc)
            keys.append((meta["namespace"], meta["name"]))
        return keys

    def interested(self, ev: Event) -> bool:
        return ev.rkey in (rkey(self.t_svc), rkey(self.t_pod), rkey(self.t_ep))

    def on_event(self, ev: Event, sync: Callable[[str, str], None]) -> None:
        """Which Services to sync for ``ev`` (``sync(namespace, service)``)."""
        ns, name = ev.namespace, ev.name
        if ev.rkey == rkey(self.t_svc):
            self._index_service(ns, name, None if ev.type == "DELETED" else ev.obj)
            sync(ns, name)
        elif ev.rkey == rkey(self.t_ep):
            # someone else's Endpoints of a selector-less Service: mirror it
            labels = (ev.obj.get("metadata") or {}).get("labels") or {}
            if L_ENDPOINTS_MANAGED_BY not in labels and (ns, name) not in self._selectors:
                sync(ns, name)
        else:
            before = self._member.pop((ns, name), set())
            now: set[str] = set()
            if ev.type != "DELETED":
                now = self.selecting(ns, (ev.obj.get("metadata") or {}).get("labels") or {})
                if now:
                    self._member[(ns, name)] = now
            for svc in sorted(before | now):
                sync(ns, svc)

    def selecting(self, ns: str, labels: dict[str, Any]) -> set[str]:
        """The Services of ``ns`` whose selector selects ``labels``."""
        found: set[str] = set()
        for key, value in labels.items():
            for svc in self._by_pair.get((ns, str(key), str(value)), ()):
                selector = self._selectors.get((ns, svc)) or {}
                if all(labels.get(k) == v for k, v in selector.items()):
                    found.add(svc)
        return found

    def _index_service(self, ns: str, name: str, svc: Obj | None) -> None:
        old = self._selectors.pop((ns, name), None)
        for k, v in (old or {}).items():
            members = self._by_pair.get((ns, k, v))
            if members is not None:
                members.discard(name)
                if not members:
                    del self._by_pair[(ns, k, v)]
        spec = (svc or {}).get("spec") or {}
        selector = spec.get("selector")
        if svc is None or not isinstance(selector, dict) or not selector:
            return
        if spec.get("type") == "ExternalName":
            return
        clean = {str(k): str(v) for k, v in selector.items()}
        self._selectors[(ns, name)] = clean
        for k, v in clean.items():
            self._by_pair.setdefault((ns, k, v), set()).add(name)

    # -------------------------------------------------------------------- sync
    def sync(self, ns: str, name: str) -> None:
        svc = self.res.find(self.t_svc, ns, name)
        if svc is None:
            # the endpoints controller deletes a deleted Service's Endpoints; its
            # EndpointSlices go with it (owned by the Service)
            with contextlib.suppress(E.StatusError):
                ep = self.res.find(self.t_ep, ns, name)
                if ep is not None and L_ENDPOINTS_MANAGED_BY in (
                    ep["metadata"].get("labels") or {}
                ):
                    self.res.delete(self.t_ep, ns, name)
            return
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName" or svc["metadata"].get("deletionTimestamp"):
            return
        if (ns, name) in self._selectors:
            pods = self._pods(ns, self._selectors[(ns, name)])
            for pod in pods:  # a Pod made before its Service: its going must sync this one
                self._member.setdefault((ns, pod["metadata"]["name"]), set()).add(name)
            self._write_endpoints(svc, pods)
            self._write_slice(svc, pods)
        else:
            ep = self.res.find(self.t_ep, ns, name)
            labels = ((ep or {}).get("metadata") or {}).get("labels") or {}
            if ep is not None and labels.get(L_SKIP_MIRROR) != "true":
                self._mirror(svc, ep)

    def _pods(self, ns: str, selector: dict[str, str]) -> list[Obj]:
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods, _, _, _ = self.res.list_objects(self.t_pod, ns, label_sel=text)
        return [
            p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]

    def _write_endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        ns, name = meta["namespace"], meta["name"]
        labels = dict(meta.get("labels") or {})
        labels[L_ENDPOINTS_MANAGED_BY] = ENDPOINTS_CONTROLLER
        if spec_headless(svc):
            labels[L_HEADLESS] = ""
        subsets = endpoints_subsets(svc, pods)
        current = self.res.find(self.t_ep, ns, name)
        if current is not None:
            if (current.get("subsets") or []) == subsets and (
                current["metadata"].get("labels") or {}
            ) == labels:
                return
            new = copy.deepcopy(current)
        else:
            new = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns},
            }
        new["metadata"]["labels"] = labels
        new["metadata"].setdefault("annotations", {})[A_TRIGGER_TIME] = now_rfc3339()
        if subsets:
            new["subsets"] = subsets
        else:
            new.pop("subsets", None)
        self._put(self.t_ep, new, current, ENDPOINTS_CONTROLLER)

    def _slice_of(self, svc: Obj, controller: str) -> Obj | None:
        """The EndpointSlice ``controller`` keeps for ``svc`` (found by its label)."""
        meta = svc["metadata"]
        found, _, _, _ = self.res.list_objects(
            self.t_slice,
            meta["namespace"],
            label_sel=f"{L_SERVICE_NAME}={meta['name']},{L_SLICE_MANAGED_BY}={controller}",
        )
        return found[0] if found else None

    def _write_slice(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        labels = {
            k: v
            for k, v in (meta.get("labels") or {}).items()
            if k not in (L_SERVICE_NAME, L_SLICE_MANAGED_BY, L_HEADLESS)
        }
        if spec_headless(svc):
            labels[L_HEADLESS] = ""
        labels[L_SERVICE_NAME] = meta["name"]
        labels[L_SLICE_MANAGED_BY] = SLICE_CONTROLLER
        ports: list[Obj] = []
        for pod in pods:
            for p in endpoint_ports(svc, pod):
                entry = {"name": p.get("name", ""), "port": p["port"], "protocol": p["protocol"]}
                if p.get("appProtocol"):
                    entry["appProtocol"] = p["appProtocol"]
                if entry not in ports:
                    ports.append(entry)
        body: Obj = {
            "addressType": "IPv4",
            "endpoints": slice_endpoints(p for p in pods if endpoint_ports(svc, p)),
            "ports": ports,
        }
        owner = _owner(svc)
        self._keep_slice(svc, SLICE_CONTROLLER, labels, {}, owner, body)

    def _mirror(self, svc: Obj, ep: Obj) -> None:
        emeta = ep["metadata"]
        labels = {
            k: v
            for k, v in (emeta.get("labels") or {}).items()
            if k not in (L_SERVICE_NAME, L_SLICE_MANAGED_BY)
        }
        labels[L_SERVICE_NAME] = emeta["name"]
        labels[L_SLICE_MANAGED_BY] = MIRROR_CONTROLLER
        annotations = {
            k: v
            for k, v in (emeta.get("annotations") or {}).items()
            if k not in (A_TRIGGER_TIME, LAST_APPLIED)
        }
        endpoints, ports = mirrored_endpoints(ep)
        body: Obj = {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        owner = {**_owner(ep), "apiVersion": "v1", "kind": "Endpoints"}
        self._keep_slice(svc, MIRROR_CONTROLLER, labels, annotations, owner, body)

    def _keep_slice(
        self, svc: Obj, controller: str, labels: Obj, annotations: Obj, owner: Obj, body: Obj
    ) -> None:
        meta = svc["metadata"]
        ns = meta["namespace"]
        current = self._slice_of(svc, controller)
        if current is not None:
            same = all(current.get(k) == v for k, v in body.items())
            if (
                same
                and (current["metadata"].get("labels") or {}) == labels
                and current["metadata"].get("ownerReferences") == [owner]
            ):
                return
            new = copy.deepcopy(current)
        else:
            new = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"generateName": f"{meta['name']}-", "namespace": ns},
            }
        new.update(copy.deepcopy(body))
        new["metadata"]["labels"] = labels
        new["metadata"]["ownerReferences"] = [owner]
        note = dict(annotations)
        if controller == SLICE_CONTROLLER:
            note[A_TRIGGER_TIME] = now_rfc3339()
        if note:
            new["metadata"]["annotations"] = note
        else:
            new["metadata"].pop("annotations", None)
        name = (
            "endpointslice-controller"
            if controller == SLICE_CONTROLLER
            else "endpointslicemirroring-controller"
        )
        self._put(self.t_slice, new, current, name)

    def _put(self, rt: ResourceType, new: Obj, current: Obj | None, controller: str) -> None:
        meta = new["metadata"]
        try:
            if current is None:
                self.res.create(rt, meta["namespace"], new, _opts(controller))
            else:
                self.res.update(rt, meta["namespace"], meta["name"], new, _opts(controller))
        except E.StatusError as err:  # raced or the namespace is going: the next event says
            log.debug("%s %s/%s: %s", rt.kind, meta.get("namespace"), meta.get("name"), err.message)


def spec_headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def _owner(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "Service"),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
