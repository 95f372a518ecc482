"""Server-side defaulting for the built-in kinds the sandbox serves.

Namespaces get their phase, Pods ``Pending`` and their QoS class, core
Services a cluster IP and node ports, ReplicationControllers their selector and
replicas, Deployments their defaults (their status
is the deployment controller's: :mod:`kn_walk.sandbox.node.deployments`), and
CustomResourceDefinitions become Established.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from typing import Any

from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import WriteContext, now_rfc3339
from kn_walk.sandbox.registry.store import Obj

_SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


def _stable_ip(namespace: str, name: str) -> str:
    n = zlib.crc32(f"{namespace}/{name}".encode()) % (_SERVICE_CIDR.num_addresses - 2) + 1
    return str(_SERVICE_CIDR.network_address + n)


def _node_port(namespace: str, name: str, port: Any) -> int:
    return 30000 + zlib.crc32(f"{namespace}/{name}/{port}".encode()) % 2768


_TIMES = ("lastTransitionTime", "lastUpdateTime")


def _keep_transition_times(new: Obj, old: Obj | None) -> None:
    """A condition that did not change keeps its timestamps, so a no-op write stays a no-op."""
    if not old:
        return
    before = {
        c.get("type"): c
        for c in (old.get("status") or {}).get("conditions") or []
        if isinstance(c, dict)
    }
    for c in (new.get("status") or {}).get("conditions") or []:
        prev = before.get(c.get("type"))
        if prev and all(prev.get(k) == c.get(k) for k in ("status", "reason", "message")):
            for k in _TIMES:
                if k in prev:
                    c[k] = prev[k]


class BuiltinDefaults:
    def __init__(self, *, load_balancer: bool = True) -> None:
        #: give LoadBalancer Services a loopback address (False: a cluster without an LB controller)
        self.load_balancer = load_balancer

    def handles(self, rt: ResourceType) -> bool:
        return not rt.custom

    def admit(self, rt: ResourceType, new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        prefix = f"_{rt.group.replace('.', '_')}" if rt.group else ""
        handler = getattr(self, f"{prefix}_{rt.plural}", None)
        if handler is not None:
            handler(new, old, ctx)

    @staticmethod
    def _namespaces(new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if not ctx.subresource:  # a terminating namespace stays so (resources.delete)
            new["status"] = (old or {}).get("status") or {"phase": "Active"}
        labels = new["metadata"].setdefault("labels", {})
        if isinstance(labels, dict):
            labels["kubernetes.io/metadata.name"] = new["metadata"]["name"]

    @staticmethod
    def _secrets(new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        new.setdefault("type", "Opaque")

    def _services(self, new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        spec = new.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        ns, name = new["metadata"].get("namespace", ""), new["metadata"]["name"]
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("type") != "ExternalName":
            old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
            spec.setdefault("clusterIP", old_ip or _stable_ip(ns, name))
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for p in spec.get("ports") or []:
            if not isinstance(p, dict):
                continue
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
            if spec.get("type") in ("NodePort", "LoadBalancer"):
                p.setdefault("nodePort", _node_port(ns, name, p.get("port")))
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec.get("type") == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if not ctx.subresource:
            old_status = (old or {}).get("status") or new.get("status") or {}
            if spec.get("type") == "LoadBalancer" and self.load_balancer:
                # like minikube tunnel or k3s servicelb: LoadBalancers get a loopback address
                if not (old_status.get("loadBalancer") or {}).get("ingress"):
                    old_status = {
                        "loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}
                    }
            elif old is None:
                old_status = {"loadBalancer": {}}
            new["status"] = old_status

    @staticmethod
    def _pods(new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        """A new Pod starts ``Pending``, with the QoS class its resources give it."""
        if ctx.subresource or old is not None:
            return
        spec = new.get("spec") or {}
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        resources = [c.get("resources") or {} for c in containers]
        if not any(r.get("requests") or r.get("limits") for r in resources):
            qos = "BestEffort"
        elif all(
            (r.get("limits") or {}).get(k) is not None
            and (r.get("requests") or {}).get(k, (r.get("limits") or {}).get(k))
            == (r.get("limits") or {}).get(k)
            for r in resources
            for k in ("cpu", "memory")
        ):
            qos = "Guaranteed"
        else:
            qos = "Burstable"
        new["status"] = {"phase": "Pending", "qosClass": qos}

    @staticmethod
    def _replicationcontrollers(new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        """SetDefaults_ReplicationController, then the selector checks of
        ValidateReplicationControllerSpec: a selector (the template's labels by default)
        that the template's labels match."""
        if ctx.subresource:
            return
        spec = new.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        template = spec.get("template")
        labels = ((template or {}).get("metadata") or {}).get("labels") if template else None
        if isinstance(labels, dict) and labels:
            if not spec.get("selector"):
                spec["selector"] = dict(labels)
            if not new["metadata"].get("labels"):
                new["metadata"]["labels"] = dict(labels)
        spec.setdefault("replicas", 1)
        selector = spec.get("selector")
        causes: list[dict[str, str]] = []
        if not selector:
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value",
                    "field": "spec.selector",
                }
            )
        elif isinstance(template, dict) and isinstance(selector, dict):
            have = labels if isinstance(labels, dict) else {}
            if any(have.get(k) != v for k, v in selector.items()):
                shown = ", ".join(
                    f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(have.items())
                )
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: map[string]string{{{shown}}}: "
                        "`selector` does not match template `labels`",
                        "field": "spec.template.metadata.labels",
                    }
                )
        if causes:
            rt = ctx.resources.registry.get("", "v1", "replicationcontrollers")
            assert rt is not None
            raise E.invalid(rt, str(new["metadata"].get("name", "")), causes)

    @staticmethod
    def _apps_deployments(new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        if ctx.subresource:
            return
        spec = new.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
        )

    @staticmethod
    def _apiextensions_k8s_io_customresourcedefinitions(
        new: Obj, old: Obj | None, ctx: WriteContext
    ) -> None:
        if ctx.subresource:
            return
        spec = new.get("spec") or {}
        now = now_rfc3339()
        new["status"] = {
            "acceptedNames": spec.get("names") or {},
            "storedVersions": [
                v.get("name")
                for v in spec.get("versions") or []
                if isinstance(v, dict) and v.get("storage")
            ],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ],
        }
        _keep_transition_times(new, old)
