"""net-istio: each Knative Ingress of class ``istio.ingress.networking.knative.dev`` as the
VirtualServices net-istio makes of it, and the Ingress's status.

For Ingress ``NAME`` (``pkg/reconciler/ingress/resources/virtual_service.go``):

* VirtualService ``NAME-ingress``, for the gateways
  ``knative-serving/knative-ingress-gateway`` (rules of visibility ``ExternalIP``) and
  ``knative-serving/knative-local-gateway`` (``ClusterLocal``), hosts all the rules'
  hosts with the cluster-local ones expanded (``x.ns``, ``x.ns.svc``,
  ``x.ns.svc.cluster.local``);
* VirtualService ``NAME-mesh`` for the mesh, with the cluster-local hosts only.

Each rule's path becomes an HTTP route matching the host (an ``authority`` prefix,
one per distinct host prefix), whose destinations are the splits: the Revision's
public Service ``{revision}.{ns}.svc.cluster.local`` port 80 with the split's weight
and its ``Knative-Serving-Revision``/``-Namespace`` headers set; each path comes with
a copy before it that net-istio's readiness prober uses (it matches
``K-Network-Hash: override`` and sets ``K-Network-Hash`` to the hash of the Ingress).
Both are owned by the Ingress, labelled with it and its Route, and carry its
annotations. The Ingress is then ``NetworkConfigured``, ``LoadBalancerReady`` (the
sandbox's gateway serves what the VirtualServices say at once: no proxy has to be
probed) and ``Ready``, its load balancers the two gateways' Services. Like
net-istio, this keeps a finalizer on each Ingress it reconciles, and lets it go
when the Ingress is deleted.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging

from kn_walk.knative_rules import children as K
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN
from kn_walk.knative_rules.labels import ROUTE_LABEL
from kn_walk.sandbox.knative.revision_deployment import knative_writes
from kn_walk.sandbox.knative.serving import (
    controlled_by,
    owner_ref,
    set_conditions,
)
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, WriteOptions
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)

MANAGER = "net-istio-controller"
EXTERNAL = "ExternalIP"
CLUSTER_LOCAL = "ClusterLocal"
#: net-istio's default gateways (config-istio), by visibility
GATEWAYS = {
    EXTERNAL: [f"{K.SYSTEM_NAMESPACE}/{K.INGRESS_GATEWAY}"],
    CLUSTER_LOCAL: [f"{K.SYSTEM_NAMESPACE}/{K.LOCAL_GATEWAY}"],
}
_LOCAL_SUFFIX = "." + CLUSTER_LOCAL_DOMAIN


def expanded_hosts(hosts: set[str]) -> set[str]:
    """knative.dev/networking ``ExpandedHosts``: a cluster-local host with its short forms."""
    out: set[str] = set()
    for h in hosts:
        out.add(h)
        for suffix in (".cluster.local", _LOCAL_SUFFIX):
            if h.endswith(suffix) and len(h) > len(suffix):
                out.add(h[: -len(suffix)])
    return out


def _host_prefix(host: str) -> str:
    return host[: -len(_LOCAL_SUFFIX)] if host.endswith(_LOCAL_SUFFIX) else host


def distinct_prefixes(hosts: set[str]) -> list[str]:
    """``getDistinctHostPrefixes``: one authority prefix per group of host forms."""
    kept: list[str] = []
    for h in sorted(hosts):
        p = _host_prefix(h)
        if not any(p.startswith(e) for e in kept):
            kept.append(p)
    return sorted(kept)


def ingress_hash(ingress: Obj) -> str:
    """``ComputeHash``: sha256 of the spec as Go marshals it, then namespace and name."""
    meta = ingress["metadata"]
    text = json.dumps(ingress.get("spec") or {}, separators=(",", ":"), ensure_ascii=False)
    data = text.encode() + meta.get("namespace", "").encode() + meta["name"].encode()
    return hashlib.sha256(data).hexdigest()


def with_probes(spec: Obj, digest: str) -> list[Obj]:
    """``InsertProbe``: each rule's paths, each preceded by its prober's copy."""
    rules = []
    for rule in spec.get("rules") or []:
        rule = copy.deepcopy(rule)
        paths = (rule.get("http") or {}).get("paths") or []
        probes = []
        for path in paths:
            probe = copy.deepcopy(path)
            probe["headers"] = {
                **(probe.get("headers") or {}),
                K.HASH_HEADER: {"exact": K.HASH_OVERRIDE},
            }
            probe["appendHeaders"] = {**(probe.get("appendHeaders") or {}), K.HASH_HEADER: digest}
            probes.append(probe)
        rule.setdefault("http", {})["paths"] = probes + paths
        rules.append(rule)
    return rules


def _route(hosts: set[str], path: Obj, gateways: list[str]) -> Obj:
    matches = []
    for prefix in distinct_prefixes(hosts):
        match: Obj = {"authority": {"prefix": prefix}, "gateways": list(gateways)}
        if path.get("path"):
            match["uri"] = {"prefix": path["path"]}
        headers = {k: {"exact": v.get("exact", "")} for k, v in (path.get("headers") or {}).items()}
        if headers:
            match["headers"] = dict(sorted(headers.items()))
        matches.append(match)
    destinations = []
    for split in path.get("splits") or []:
        dest: Obj = {
            "destination": {
                "host": f"{split['serviceName']}.{split['serviceNamespace']}.{CLUSTER_LOCAL_DOMAIN}",
                "port": {"number": int(split.get("servicePort") or 0)},
            }
        }
        if split.get("percent"):
            dest["weight"] = int(split["percent"])
        if split.get("appendHeaders"):
            dest["headers"] = {"request": {"set": dict(sorted(split["appendHeaders"].items()))}}
        destinations.append(dest)
    route: Obj = {"match": matches, "route": destinations, "retries": {}}
    if path.get("rewriteHost"):
        route["rewrite"] = {"authority": path["rewriteHost"]}
    if path.get("appendHeaders"):
        route["headers"] = {"request": {"set": dict(sorted(path["appendHeaders"].items()))}}
    return route


def _spec(rules: list[Obj], gateways: dict[str, list[str]], hosts: set[str]) -> Obj:
    http = []
    used: set[str] = set()
    for rule in rules:
        rule_hosts = hosts & set(rule.get("hosts") or [])
        if not rule_hosts:
            continue
        gws = gateways.get(rule.get("visibility") or EXTERNAL, [])
        for path in (rule.get("http") or {}).get("paths") or []:
            http.append(_route(rule_hosts, path, gws))
            used |= set(gws)
    return {"gateways": sorted(used), "hosts": sorted(hosts), "http": http}


def virtual_services(ingress: Obj) -> list[Obj]:
    """``MakeVirtualServices``: the mesh VirtualService (if any cluster-local host) and the
    ingress one."""
    meta = ingress["metadata"]
    spec = ingress.get("spec") or {}
    rules = with_probes(spec, ingress_hash(ingress))
    hosts = {h for r in rules for h in r.get("hosts") or []}
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if k in (ROUTE_LABEL, K.ROUTE_NAMESPACE_LABEL)
    }
    labels[K.INGRESS_LABEL] = meta["name"]

    def vs(name: str, vs_spec: Obj) -> Obj:
        return {
            "apiVersion": f"{K.ISTIO_NETWORKING_GROUP}/v1beta1",
            "kind": "VirtualService",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": dict(labels),
                "annotations": dict(meta.get("annotations") or {}),
                "ownerReferences": [owner_ref(ingress)],
            },
            "spec": vs_spec,
        }

    out = []
    local = expanded_hosts({h for h in hosts if h.endswith(_LOCAL_SUFFIX)})
    if local:
        mesh = {EXTERNAL: ["mesh"], CLUSTER_LOCAL: ["mesh"]}
        out.append(vs(K.mesh_virtual_service_name(meta["name"]), _spec(rules, mesh, local)))
    visibilities = {r.get("visibility") or EXTERNAL for r in rules}
    if any(GATEWAYS.get(v) for v in visibilities):
        out.append(
            vs(
                K.ingress_virtual_service_name(meta["name"]),
                _spec(rules, GATEWAYS, expanded_hosts(hosts)),
            )
        )
    return out


def ingress_ready(ingress: Obj) -> bool:
    """Whether net-istio marked the Ingress ready at its current generation (its
    VirtualServices are in place: the gateways serve it as its spec says)."""
    status = ingress.get("status") or {}
    if status.get("observedGeneration") != ingress["metadata"].get("generation"):
        return False
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def reconciled(ingress: Obj) -> bool:
    """Whether net-istio has nothing to do for the Ingress: not of its class, or with its
    finalizer and marked ready at its generation, or deleted and let go."""
    meta = ingress["metadata"]
    has_finalizer = K.INGRESS_FINALIZER in (meta.get("finalizers") or [])
    if meta.get("deletionTimestamp"):
        return not has_finalizer
    if not NetIstio.handles(ingress):
        return True
    return has_finalizer and ingress_ready(ingress)


def ingress_status(ingress: Obj) -> Obj:
    conds = [
        {"type": "NetworkConfigured", "status": "True"},
        {"type": "LoadBalancerReady", "status": "True"},
    ]
    return {
        "observedGeneration": ingress["metadata"].get("generation"),
        "conditions": set_conditions(
            ingress.get("status") or {}, conds, "Ready", ["NetworkConfigured", "LoadBalancerReady"]
        ),
        "publicLoadBalancer": {"ingress": [{"domainInternal": K.INGRESS_GATEWAY_SERVICE_HOST}]},
        "privateLoadBalancer": {"ingress": [{"domainInternal": K.LOCAL_GATEWAY_SERVICE_HOST}]},
    }


class NetIstio:
    """Reconciles Ingresses of net-istio's class into VirtualServices."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        ingress = res.registry.get(K.NETWORKING_GROUP, "v1alpha1", "ingresses")
        vs = res.registry.get(K.ISTIO_NETWORKING_GROUP, "v1beta1", "virtualservices")
        assert ingress is not None and vs is not None
        self.t_ingress: ResourceType = ingress
        self.t_vs: ResourceType = vs

    def _opts(self, subresource: str = "") -> WriteOptions:
        return knative_writes(MANAGER, subresource)

    @staticmethod
    def handles(ingress: Obj) -> bool:
        annotations = ingress["metadata"].get("annotations") or {}
        return annotations.get(K.INGRESS_CLASS_ANNOTATION) == K.ISTIO_INGRESS_CLASS

    def reconcile(self, ingress: Obj) -> Obj:
        """Its VirtualServices and status; the Ingress as it now is."""
        meta = ingress["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if meta.get("deletionTimestamp"):
            return self.finalize(ingress)
        if not self.handles(ingress):
            return ingress
        try:
            if K.INGRESS_FINALIZER not in (meta.get("finalizers") or []):
                new = copy.deepcopy(ingress)
                new["metadata"]["finalizers"] = [
                    *(meta.get("finalizers") or []),
                    K.INGRESS_FINALIZER,
                ]
                ingress = self.res.update(self.t_ingress, ns, name, new, self._opts())
            for want in virtual_services(ingress):
                self._ensure_vs(ingress, want)
            status = ingress_status(ingress)
            if ingress.get("status") != status:
                new = copy.deepcopy(ingress)
                new["status"] = status
                ingress = self.res.update(self.t_ingress, ns, name, new, self._opts("status"))
        except E.StatusError as err:
            log.debug("ingress %s/%s: %s", ns, name, err.message)
        return ingress

    def _ensure_vs(self, ingress: Obj, want: Obj) -> None:
        meta = want["metadata"]
        current = self.res.find(self.t_vs, meta["namespace"], meta["name"])
        if current is None:
            self.res.create(self.t_vs, meta["namespace"], want, self._opts())
            return
        if not controlled_by(current, ingress):
            return
        new = copy.deepcopy(current)
        new["spec"] = want["spec"]
        new["metadata"]["labels"] = meta["labels"]
        new["metadata"]["annotations"] = meta["annotations"]
        if new != current:
            self.res.update(self.t_vs, meta["namespace"], meta["name"], new, self._opts())

    def finalize(self, ingress: Obj) -> Obj:
        """The Ingress is being deleted: let its finalizer go (its VirtualServices are its
        dependents, which the garbage collector takes)."""
        meta = ingress["metadata"]
        finalizers = meta.get("finalizers") or []
        if K.INGRESS_FINALIZER not in finalizers:
            return ingress
        new = copy.deepcopy(ingress)
        new["metadata"]["finalizers"] = [f for f in finalizers if f != K.INGRESS_FINALIZER]
        with contextlib.suppress(E.StatusError):  # gone meanwhile
            return self.res.update(
                self.t_ingress, meta["namespace"], meta["name"], new, self._opts()
            )
        return ingress
