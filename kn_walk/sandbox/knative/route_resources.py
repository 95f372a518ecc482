"""What Knative Serving v1.23 makes for each Route: its Ingress, and what the placeholder
Services point at once the Ingress is ready (``pkg/reconciler/route/resources``).

Ingress ``{route}`` (``networking.internal.knative.dev/v1alpha1``), owned by the Route,
with the Route's labels plus ``serving.knative.dev/route`` and ``…/routeNamespace``,
its annotations plus ``networking.knative.dev/ingress.class`` and
``networking.internal.knative.dev/rollout`` (and ``…/tag-to-host`` when it has tags):

* for the Route and each tag, sorted, a ``ClusterLocal`` rule whose hosts are
  ``{host}.{ns}``, ``{host}.{ns}.svc`` and ``{host}.{ns}.svc.cluster.local``, and,
  unless the Route is cluster-local, an ``ExternalIP`` rule per external host
  (``config-network``'s ``domain-template``, ``{host}.{ns}.{domain}`` by default),
  where a tag's ``{host}`` is its ``tag-template`` hostname (``{tag}-{route}``);
* each rule's one path splits traffic between the Revisions' public Services
  (``serviceName: {revision}``, ``servicePort: 80``) with their percent and the
  ``Knative-Serving-Revision`` / ``Knative-Serving-Namespace`` headers; a tag's rules
  send all of it to the tag's Revision; targets with 0% are left out;
* ``httpOption: Enabled``.

net-istio (:mod:`kn_walk.sandbox.knative.netistio`) then reconciles it; once it is ready, each
placeholder Service becomes an ExternalName for the Ingress's private load balancer,
``knative-local-gateway.istio-system.svc.cluster.local``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from typing import Any

from kn_walk.knative_rules import children as K
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN, cluster_local_hosts
from kn_walk.knative_rules.labels import ROUTE_LABEL
from kn_walk.knative_rules.network_config import RouteNames
from kn_walk.sandbox.knative.netistio import NetIstio, ingress_ready
from kn_walk.sandbox.knative.revision_deployment import knative_writes
from kn_walk.sandbox.knative.serving import (
    SYSTEM_NAMESPACE,
    controlled_by,
    owner_ref,
)
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, WriteOptions
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)

MANAGER = "controller"
#: annotations a Route does not hand on to its Ingress (``ExcludedAnnotations``)
EXCLUDED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "networking.knative.dev/certificate-class",
        "networking.knative.dev/ingress-class",
    }
)
EXTERNAL, LOCAL = "ExternalIP", "ClusterLocal"


def consolidate(targets: list[Obj]) -> list[Obj]:
    """Targets with the same Revision become one, their percents summed; a lone target
    gets 100%."""
    by_name: dict[str, Obj] = {}
    for t in targets:
        name = t["revisionName"]
        if name in by_name:
            by_name[name]["percent"] += t["percent"]
        else:
            by_name[name] = dict(t)
    out = list(by_name.values())
    if len(out) == 1:
        out[0]["percent"] = 100
    return out


def traffic_targets(route: Obj, status: list[Obj]) -> dict[str, list[Obj]]:
    """The traffic config's targets: ``""`` for the Route, and one per tag. Each target has
    revisionName, percent, latestRevision and configurationName, from the Route's
    spec.traffic and the Revisions the controller resolved them to (``status``, in order)."""
    spec = [t for t in (route.get("spec") or {}).get("traffic") or [] if isinstance(t, dict)]
    targets: dict[str, list[Obj]] = {"": []}
    for want, got in zip(spec, status, strict=False):
        target = {
            "revisionName": got.get("revisionName", ""),
            "percent": int(got.get("percent") or 0),
            "latestRevision": bool(got.get("latestRevision")),
            "configurationName": want.get("configurationName") or "",
            "tag": got.get("tag") or "",
        }
        targets[""].append(target)
        if target["tag"]:
            targets.setdefault(target["tag"], []).append(target)
    return {name: consolidate(ts) for name, ts in targets.items()}


def rollout(targets: dict[str, list[Obj]]) -> Obj:
    """``BuildRollout``: the latest-Revision targets with traffic, by tag then
    Configuration (with ``rollout-duration`` 0, each is done at once)."""
    configs = []
    for tag, ts in targets.items():
        for t in ts:
            if not t["latestRevision"] or t["percent"] == 0:
                continue
            entry: Obj = {"configurationName": t["configurationName"]}
            if tag:
                entry["tag"] = tag
            entry["percent"] = t["percent"]
            entry["revisions"] = [{"revisionName": t["revisionName"], "percent": t["percent"]}]
            entry["stepParams"] = {}
            configs.append(entry)
    configs.sort(key=lambda c: (c.get("tag", ""), c["configurationName"]))
    return {"configurations": configs} if configs else {}


def _path(ns: str, targets: list[Obj]) -> Obj:
    splits = []
    for t in targets:
        if t["percent"] == 0:
            continue
        splits.append(
            {
                "serviceNamespace": ns,
                "serviceName": t["revisionName"],
                "servicePort": K.SERVICE_HTTP_PORT,
                "percent": t["percent"],
                "appendHeaders": {
                    K.NAMESPACE_HEADER: ns,
                    K.REVISION_HEADER: t["revisionName"],
                },
            }
        )
    return {"splits": splits}


def local_hosts(hostname: str, ns: str) -> list[str]:
    """A cluster-local rule's hosts, sorted as the Ingress lists them: ``x.ns``,
    ``x.ns.svc``, ``x.ns.svc.cluster.local``."""
    return sorted(cluster_local_hosts(hostname, ns))


def ingress_spec(
    route: Obj, traffic: list[Obj], names: RouteNames
) -> tuple[Obj, dict[str, list[str]], dict[str, list[Obj]]]:
    """``makeIngressSpec``: the spec, the tag-to-host map, and the traffic targets (the
    Route controller checked its hosts: ``names`` raises no DomainNameError here)."""
    meta = route["metadata"]
    ns = meta["namespace"]
    targets = traffic_targets(route, traffic)
    cluster_local = names.cluster_local
    rules = []
    tag_hosts: dict[str, list[str]] = {}
    for target in sorted(targets):
        hostname = names.hostname(target)
        path = _path(ns, targets[target])
        visibilities = [LOCAL] if cluster_local else [LOCAL, EXTERNAL]
        for visibility in visibilities:
            if visibility == LOCAL:
                rules.append(
                    {
                        "hosts": local_hosts(hostname, ns),
                        "visibility": LOCAL,
                        "http": {"paths": [copy.deepcopy(path)]},
                    }
                )
                primary = f"{hostname}.{ns}.{CLUSTER_LOCAL_DOMAIN}"
            else:
                primary = names.host(hostname)
                rules.append(
                    {
                        "hosts": [primary],
                        "visibility": EXTERNAL,
                        "http": {"paths": [copy.deepcopy(path)]},
                    }
                )
            if target:
                tag_hosts.setdefault(target, []).append(primary)
    return {"rules": rules, "httpOption": "Enabled"}, tag_hosts, targets


class RouteResources:
    """The Route's Ingress (and, through net-istio, its VirtualServices)."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.netistio = NetIstio(res)
        self.t_ingress: ResourceType = self.netistio.t_ingress
        svc = res.registry.get("", "v1", "services")
        cm = res.registry.get("", "v1", "configmaps")
        assert svc is not None and cm is not None
        self.t_svc: ResourceType = svc
        self.t_cm: ResourceType = cm
        #: (ns, ingress) -> the resourceVersion at which a Route last made it, and its
        #: spec, labels and annotations then
        self._written: dict[tuple[str, str], tuple[int, tuple[Any, Any, Any]]] = {}

    @staticmethod
    def _made(ingress: Obj) -> tuple[Any, Any, Any]:
        meta = ingress["metadata"]
        return ingress.get("spec"), meta.get("labels"), meta.get("annotations")

    def made(self, key: tuple[str, str], rv: int) -> bool:
        """Whether the Ingress ``key`` at ``rv`` is (at most) what a Route's reconcile and
        net-istio's, run within it, last made of it."""
        written = self._written.get(key)
        return written is not None and rv <= written[0]

    def changed_by_another(self, ingress: Obj | None, key: tuple[str, str], rv: int) -> bool:
        """Whether a Route's Ingress ``key`` is gone (``ingress`` None) or, at ``rv``,
        differs from what its Route made: then the Route must look again, as Knative's
        Route reconciler, which watches the Ingresses it controls, does. (An event older
        than the Route's last write of it is not: a later one follows.)"""
        if ingress is None:
            self._written.pop(key, None)
            return True
        written = self._written.get(key)
        if written is None:
            return True
        return rv > written[0] and written[1] != self._made(ingress)

    def _opts(self) -> WriteOptions:
        return knative_writes(MANAGER)

    def ingress_class(self, route: Obj) -> str:
        annotations = route["metadata"].get("annotations") or {}
        if annotations.get(K.INGRESS_CLASS_ANNOTATION):
            return str(annotations[K.INGRESS_CLASS_ANNOTATION])
        cm = self.res.find(self.t_cm, SYSTEM_NAMESPACE, "config-network") or {}
        return str((cm.get("data") or {}).get("ingress-class") or K.ISTIO_INGRESS_CLASS)

    def build(self, route: Obj, traffic: list[Obj], names: RouteNames) -> Obj:
        meta = route["metadata"]
        spec, tag_hosts, targets = ingress_spec(route, traffic, names)
        labels = dict(meta.get("labels") or {})
        labels[ROUTE_LABEL] = meta["name"]
        labels[K.ROUTE_NAMESPACE_LABEL] = meta["namespace"]
        annotations: dict[str, Any] = {
            K.INGRESS_CLASS_ANNOTATION: self.ingress_class(route),
            K.ROLLOUT_ANNOTATION: json.dumps(rollout(targets), separators=(",", ":")),
        }
        annotations.update(meta.get("annotations") or {})
        annotations = {k: v for k, v in annotations.items() if k not in EXCLUDED_ANNOTATIONS}
        if tag_hosts:
            annotations[K.TAG_TO_HOST_ANNOTATION] = json.dumps(
                dict(sorted(tag_hosts.items())), separators=(",", ":")
            )
        return {
            "apiVersion": self.t_ingress.api_version,
            "kind": "Ingress",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner_ref(route)],
            },
            "spec": spec,
        }

    def reconcile(
        self, route: Obj, traffic: list[Obj], names: RouteNames, hostnames: list[str]
    ) -> str | None:
        """Create or update the Route's Ingress, have net-istio reconcile it, and point the
        placeholder Services ``hostnames`` at its private load balancer; that host, or None
        while the Ingress is not ready (or another owns its name)."""
        want = self.build(route, traffic, names)
        meta = want["metadata"]
        ns, name = meta["namespace"], meta["name"]
        try:
            current = self.res.find(self.t_ingress, ns, name)
            if current is None:
                current = self.res.create(self.t_ingress, ns, want, self._opts())
            elif not controlled_by(current, route):
                return None
            else:
                new = copy.deepcopy(current)
                new["spec"] = want["spec"]
                new["metadata"]["labels"] = meta["labels"]
                new["metadata"]["annotations"] = meta["annotations"]
                if new != current:
                    current = self.res.update(self.t_ingress, ns, name, new, self._opts())
            rv = int(current["metadata"].get("resourceVersion") or 0)
            self._written[(ns, name)] = (rv, self._made(current))
        except E.StatusError as err:
            log.debug("ingress %s/%s: %s", ns, name, err.message)
            return None
        ingress = self.netistio.reconcile(current)
        made = self._written.get((ns, name))
        if made is not None and made[1] == self._made(ingress):
            self._written[(ns, name)] = (
                int(ingress["metadata"].get("resourceVersion") or 0),
                made[1],
            )
        lb = private_load_balancer(ingress)
        if lb:
            for host in hostnames:
                self._point_placeholder(route, host, lb)
        return lb

    def _point_placeholder(self, route: Obj, host: str, lb: str) -> None:
        """``MakeK8sService``: the placeholder becomes an ExternalName of the load balancer."""
        ns = route["metadata"]["namespace"]
        svc = self.res.find(self.t_svc, ns, host)
        if svc is None or not controlled_by(svc, route):
            return
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName" and spec.get("externalName") == lb:
            return
        new = copy.deepcopy(svc)
        new["spec"]["type"] = "ExternalName"
        new["spec"]["externalName"] = lb
        new["spec"]["sessionAffinity"] = "None"
        with contextlib.suppress(E.StatusError):
            self.res.update(self.t_svc, ns, host, new, self._opts())


def private_load_balancer(ingress: Obj) -> str | None:
    """The Ingress's private load balancer host, when it is ready."""
    if not ingress_ready(ingress):
        return None
    status = ingress.get("status") or {}
    for lb in ((status.get("privateLoadBalancer") or {}).get("ingress")) or []:
        if lb.get("domainInternal"):
            return str(lb["domainInternal"])
    return None
