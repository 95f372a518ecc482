"""Wires the controllers to the data plane: which Revisions run, which Hosts route where.

The controllers write Route status and each Route's Ingress; this module turns
the stored Ingresses into the gateways' host tables, the Routes and Revisions
into the set of Revisions that should have a process, and feeds the processes'
health back into Revision status (through :class:`ServingController`) and into
Pods (:mod:`kn_walk.sandbox.node.pods`). It also runs the Pods of users' Deployments
(:mod:`kn_walk.sandbox.node.deployments`).

There are two gateways, as net-istio has: ``istio-ingressgateway`` serves the
hosts of the ``ExternalIP`` rules of the Ingresses of net-istio's class,
``knative-local-gateway`` those of their ``ClusterLocal`` rules (for a Route:
``NAME.NS.svc.cluster.local``, ``NAME.NS.svc`` and ``NAME.NS``, its tags'
likewise). This is the table net-istio writes into the VirtualServices for
Envoy (:mod:`kn_walk.sandbox.knative.netistio`), so the Ingress and its VirtualServices
show the weights requests get: each rule's path sends a request to one of its
splits by percent, a split naming a Revision's public Service (``{revision}``)
to that Revision's process. An Ingress is served once net-istio marked it
ready, and then as it was at its last ready generation until the next one is
ready, as Envoy keeps its config until the new one is pushed; it stops being
served when it is deleted or leaves net-istio's class. A path that rewrites
the Host (a DomainMapping's: the split is the Knative Service's placeholder,
an ExternalName of the cluster-local gateway) is served as the cluster-local
gateway serves the rewritten host. When two Ingresses have one host, the one
seen last wins (the Route reconciler's placeholder Services keep two Routes
from claiming one host).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kn_walk.knative_rules import children as K
from kn_walk.knative_rules.goparse import SECOND
from kn_walk.knative_rules.labels import CONFIGURATION_LABEL, SERVICE_LABEL
from kn_walk.sandbox.apiserver.conns import MIN_CONNECTIONS, Limits, gateway_limits
from kn_walk.sandbox.dataplane.gateway import Backend, Gateway, header_fields, normalize_host
from kn_walk.sandbox.knative.live_config import LiveConfig
from kn_walk.sandbox.knative.netistio import ingress_ready
from kn_walk.sandbox.knative.serving import (
    SYSTEM_NAMESPACE,
    RevisionRuntime,
    ServingController,
    is_ready,
)
from kn_walk.sandbox.machinery.resourcetypes import SERVING_GROUP
from kn_walk.sandbox.node.deployments import DeploymentPods
from kn_walk.sandbox.node.pods import RevisionPods
from kn_walk.sandbox.node.workloads import RevisionWorkload, RuntimeStatus, Workloads
from kn_walk.sandbox.registry.resources import Resources, rkey
from kn_walk.sandbox.registry.store import Event, Obj

log = logging.getLogger(__name__)

#: the gateway a host is served on: Knative's IngressVisibility of its Ingress rule
EXTERNAL = "ExternalIP"
LOCAL = "ClusterLocal"
#: a host table entry: (the gateway that serves it, the host)
HostKey = tuple[str, str]


def workload_of(rev: Obj) -> RevisionWorkload:
    meta = rev["metadata"]
    spec = rev.get("spec") or {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    c = containers[0] if containers else {}
    env = tuple(
        (str(e["name"]), str(e.get("value", "")))
        for e in c.get("env") or []
        if isinstance(e, dict) and "name" in e and "valueFrom" not in e
    )
    ports = [p for p in c.get("ports") or [] if isinstance(p, dict)]
    port = ports[0].get("containerPort") if ports else None
    labels = meta.get("labels") or {}
    return RevisionWorkload(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta.get("uid", ""),
        image=str(c.get("image", "")),
        env=env,
        container_port=port if isinstance(port, int) else None,
        timeout_seconds=int(spec.get("timeoutSeconds") or 300),
        configuration=str(labels.get(CONFIGURATION_LABEL, "")),
        service=str(labels.get(SERVICE_LABEL, "")),
    )


@dataclass(frozen=True)
class Rewrite:
    """A host served as the cluster-local gateway serves ``host`` (a path's ``rewriteHost``:
    Envoy sends the request, its Host rewritten, to the split's Service, the Knative
    Service's placeholder, an ExternalName of the cluster-local gateway)."""

    host: str
    #: what the route sets on the request before it goes on (``K-Original-Host``)
    headers: tuple[tuple[bytes, bytes], ...] = ()


#: what a host table entry routes to: the backends by weight, or another host
Target = list[Backend] | Rewrite


def routed_revisions(route: Obj) -> frozenset[tuple[str, str]]:
    """The Revisions a Route's status sends traffic to (which keep running while routed)."""
    ns = route["metadata"]["namespace"]
    traffic = (route.get("status") or {}).get("traffic") or []
    return frozenset(
        (ns, str(t["revisionName"]))
        for t in traffic
        if isinstance(t, dict) and t.get("revisionName")
    )


def served_by_istio(ingress: Obj) -> bool:
    """Whether net-istio's gateways serve the Ingress at all: of net-istio's class (it
    takes no other) and not being deleted."""
    meta = ingress["metadata"]
    annotations = meta.get("annotations") or {}
    return annotations.get(K.INGRESS_CLASS_ANNOTATION) == K.ISTIO_INGRESS_CLASS and not meta.get(
        "deletionTimestamp"
    )


def _append_headers(*sources: Any) -> dict[str, str]:
    """``appendHeaders`` of a path and then of its split (the split's win), as strings."""
    out: dict[str, str] = {}
    for headers in sources:
        if isinstance(headers, Mapping):
            out.update({str(k): str(v) for k, v in headers.items()})
    return out


def _path_target(ns: str, path: Obj) -> Target:
    splits = [s for s in path.get("splits") or [] if isinstance(s, dict) and s.get("serviceName")]
    if path.get("rewriteHost"):
        headers = _append_headers(
            path.get("appendHeaders"), *(s.get("appendHeaders") for s in splits)
        )
        return Rewrite(normalize_host(str(path["rewriteHost"])), header_fields(headers))
    backends = []
    for split in splits:
        percent = split.get("percent")
        if not isinstance(percent, int) or isinstance(percent, bool):
            percent = 100 if len(splits) == 1 else 0  # a lone split takes all of it
        headers = _append_headers(path.get("appendHeaders"), split.get("appendHeaders"))
        backends.append(
            Backend(
                str(split.get("serviceNamespace") or ns),
                str(split["serviceName"]),
                percent,
                header_fields(headers),
            )
        )
    return backends


def ingress_hosts(ingress: Obj) -> dict[HostKey, Target]:
    """The host table entries of an Ingress, as net-istio's VirtualServices route them:
    each rule's hosts on its visibility's gateway (``ExternalIP`` when unset), to its
    first path that matches every request (no path prefix or header match: the
    Ingresses Knative makes have only that one)."""
    ns = ingress["metadata"]["namespace"]
    hosts: dict[HostKey, Target] = {}
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        if not isinstance(rule, dict):
            continue
        visibility = LOCAL if rule.get("visibility") == LOCAL else EXTERNAL
        paths = [
            p
            for p in (rule.get("http") or {}).get("paths") or []
            if isinstance(p, dict) and p.get("path") in (None, "", "/") and not p.get("headers")
        ]
        if not paths:
            continue
        target = _path_target(ns, paths[0])
        for host in rule.get("hosts") or []:
            hosts[(visibility, normalize_host(str(host)))] = target
    return hosts


def gateway_tables(
    table: Mapping[HostKey, Target],
) -> tuple[dict[str, list[Backend]], dict[str, list[Backend]]]:
    """The external gateway's host table and the cluster-local gateway's, a rewritten
    host's entry being the cluster-local gateway's entry for the host it is rewritten to."""
    tables: dict[str, dict[str, list[Backend]]] = {EXTERNAL: {}, LOCAL: {}}
    rewrites: dict[HostKey, Rewrite] = {}
    for key, target in table.items():
        if isinstance(target, Rewrite):
            rewrites[key] = target
        else:
            tables[key[0]][key[1]] = target
    return _with_rewrites(tables[EXTERNAL], rewrites, tables[LOCAL], EXTERNAL), _with_rewrites(
        tables[LOCAL], rewrites, tables[LOCAL], LOCAL
    )


def _with_rewrites(
    table: dict[str, list[Backend]],
    rewrites: Mapping[HostKey, Rewrite],
    local: Mapping[str, list[Backend]],
    visibility: str,
) -> dict[str, list[Backend]]:
    """``table`` with its gateway's rewritten hosts resolved through the cluster-local one's
    table (a copy if there are any)."""
    mine = [(host, r) for (vis, host), r in rewrites.items() if vis == visibility]
    if not mine:
        return table
    out = dict(table)
    for host, rewrite in mine:
        backends = local.get(rewrite.host)
        if backends is not None:
            # sent on with the Host rewritten and the route's headers, then the local
            # gateway's route to the Revision sets its own
            out[host] = [
                dataclasses.replace(
                    b,
                    host=rewrite.host.encode("idna"),
                    headers=(*rewrite.headers, *b.headers),
                )
                for b in backends
            ]
    return out


def local_gateway_limits() -> Limits:
    """The cluster-local gateway's limits: the gateway's, with half its connection cap, so
    that its connections and their upstream ones fit in the quarter of the descriptors
    the API and the gateway leave (:func:`conns.default_max_connections`)."""
    limits = gateway_limits()
    return dataclasses.replace(
        limits, max_connections=max(MIN_CONNECTIONS, limits.max_connections // 2)
    )


class DataPlane:
    def __init__(
        self,
        resources: Resources,
        controller: ServingController,
        state_dir: Path,
        gateway_sock: socket.socket,
        local_gateway_sock: socket.socket,
    ) -> None:
        self.res = resources
        self.controller = controller
        self.status: dict[tuple[str, str], RuntimeStatus] = {}
        #: config-autoscaler as it is now (its windows and enable-scale-to-zero)
        self.config = LiveConfig(resources)
        self.workloads = Workloads(str(state_dir / "workloads"), self._on_status)
        #: istio-ingressgateway, and knative-local-gateway (cluster-local hosts)
        self.gateway = Gateway(self.workloads, sock=gateway_sock)
        self.local_gateway = Gateway(
            self.workloads,
            sock=local_gateway_sock,
            limits=local_gateway_limits(),
            name="cluster-local gateway",
        )
        self.local_gateway.faults = self.gateway.faults
        self.pods = RevisionPods(
            resources,
            revision=lambda ns, name: self._objects["revisions"].get((ns, name)),
            pid=lambda ns, name: self.workloads.pids().get((ns, name)),
            log_path=self.workloads.log_path,
        )
        #: Pods for the Deployments users apply (Revisions have their own, above)
        self.deployments = DeploymentPods(resources)
        # a Revision's Pod is made once its ReplicaSet is there
        self.deployments.replicasets.revision_replicaset = self.pods.replicaset_ready
        self.pods.on_pod_created = lambda ns, rev: controller.enqueue("Revision", ns, rev)
        reg = resources.registry
        self._t = {
            p: reg.get(SERVING_GROUP, "v1", p) for p in ("revisions", "routes", "configurations")
        }
        self._t["ingresses"] = reg.get(K.NETWORKING_INTERNAL.rstrip("/"), "v1alpha1", "ingresses")
        self._cm = reg.get("", "v1", "configmaps")
        self._pending = False
        #: decoded Revisions and Routes, kept current from the event stream
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {
            "revisions": {},
            "routes": {},
            "ingresses": {},
        }
        # What sync() hands on, kept current from the same events (in the same order as
        # _objects), so that an event costs the work for its own object and a sync
        # rebuilds the host table or re-syncs the Workloads only when they changed.
        #: (ns, revision) -> its workload
        self._workloads: dict[tuple[str, str], RevisionWorkload] = {}
        #: (ns, route) -> the Revisions its status sends traffic to
        self._route_routed: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
        #: (ns, ingress) -> its host table entries as last served (at its last ready
        #: generation)
        self._ingress_hosts: dict[tuple[str, str], dict[HostKey, Target]] = {}
        #: (ns, ingress) -> when it was first seen: of two Ingresses that have one host,
        #: the later one wins (as when the table was rebuilt from _objects in its order)
        self._ingress_seq: dict[tuple[str, str], int] = {}
        self._seqs = itertools.count()
        #: host -> the Ingresses that have it: (ns, ingress) -> (its seq, the target)
        self._claims: dict[HostKey, dict[tuple[str, str], tuple[int, Target]]] = {}
        #: the gateways' host tables, by visibility (EXTERNAL, LOCAL): host -> backends,
        #: kept current by the events so a sync costs nothing per Ingress
        self._tables: dict[str, dict[str, list[Backend]]] = {EXTERNAL: {}, LOCAL: {}}
        #: the hosts that are served as another host is (DomainMappings')
        self._rewrites: dict[HostKey, Rewrite] = {}
        #: (ns, revision) -> how many Routes send it traffic (only those with one or more)
        self._routed: dict[tuple[str, str], int] = {}
        self._table_changed = True
        self._workloads_changed = True
        self._watcher = resources.store.subscribe(self._interesting)
        self._task: asyncio.Task[None] | None = None
        controller.runtime = self.runtime
        controller.on_routes_changed.append(self.schedule_sync)

    async def start(self) -> None:
        for plural in self._objects:
            t = self._t[plural]
            for obj in self.res.store.list_objects(rkey(t)) if t else []:
                self._observe(plural, (obj["metadata"]["namespace"], obj["metadata"]["name"]), obj)
        await self.deployments.start()
        await self.workloads.start()
        # after the Workloads read what the previous sandbox ran: its ready Revisions keep
        # their Pods, whose containers restart
        self.pods.clean_stale(self.workloads.previous_run)
        await self.gateway.start()
        await self.local_gateway.start()
        self._apply_autoscaler()
        self._task = asyncio.create_task(self._pump())
        self.schedule_sync()

    async def stop(self) -> None:
        self.res.store.unsubscribe(self._watcher)
        if self._task:
            self._task.cancel()
        await self.deployments.stop()
        await asyncio.gather(self.gateway.stop(), self.local_gateway.stop())
        await self.workloads.stop()

    # ------------------------------------------------------------------ status
    def runtime(self, rev: Obj) -> RevisionRuntime:
        meta = rev["metadata"]
        st = self.status.get((meta["namespace"], meta["name"])) or self.workloads.restored(
            meta["namespace"], meta["name"], meta.get("uid", "")
        )
        if st is None:
            return RevisionRuntime(None, "Deploying", "", 0, 1)
        ready = st.ready
        if (
            ready
            and st.actual_replicas > 0
            and not self.pods.has_pod(meta["namespace"], meta["name"])
            and not is_ready(rev)
        ):
            # On a cluster a Revision first turns Ready when its Deployment has a ready
            # replica, so its Pod is there before: wait for the Pod (on_pod_created).
            # Once Ready, a Pod coming and going with the scale does not change that.
            ready = None
        return RevisionRuntime(
            ready, st.reason, st.message, st.actual_replicas, st.desired_replicas
        )

    def _on_status(self, namespace: str, name: str, status: RuntimeStatus) -> None:
        if self.status.get((namespace, name)) == status:
            return
        self.status[(namespace, name)] = status
        self.controller.enqueue("Revision", namespace, name)
        try:
            self.pods.observe(namespace, name, status)
        except Exception:  # the Pod is a view; the Revision's status must not suffer
            log.exception("mirroring %s/%s as a pod failed", namespace, name)

    # -------------------------------------------------------------------- sync
    def _interesting(self, ev: Event) -> bool:
        if ev.type == "DELETED" and ev.rkey == rkey(self.pods.rt):
            return True  # a Revision's Pod deleted by hand comes back, as from a ReplicaSet
        return ev.rkey in (
            rkey(t)
            for t in (self._t["revisions"], self._t["routes"], self._t["ingresses"], self._cm)
            if t
        )

    async def _pump(self) -> None:
        while True:
            ev = await self._watcher.queue.get()
            if ev is None:
                return
            if ev.rkey == rkey(self.pods.rt):
                self.pods.deleted(ev.obj)
                continue
            if self._cm and ev.rkey == rkey(self._cm):
                if ev.namespace == SYSTEM_NAMESPACE and ev.name == "config-autoscaler":
                    self._apply_autoscaler()
                continue
            for plural in self._objects:
                t = self._t[plural]
                if t and ev.rkey == rkey(t):
                    self._observe(
                        plural, (ev.namespace, ev.name), None if ev.type == "DELETED" else ev.obj
                    )
                    if ev.type == "DELETED" and plural == "revisions":
                        self.pods.forget(ev.namespace, ev.name)
                        self.status.pop((ev.namespace, ev.name), None)
            self.schedule_sync()

    def _observe(self, plural: str, key: tuple[str, str], obj: Obj | None) -> None:
        """Take in the new state of one Revision, Route or Ingress (None: deleted)."""
        cache = self._objects[plural]
        if obj is None:
            cache.pop(key, None)
        else:
            cache[key] = obj  # an update keeps the object's place in the dict
        if plural == "revisions":
            self.gateway.faults.observe(key, obj)  # one table, shared by both gateways
            old_workload = self._workloads.get(key)
            if obj is None:
                self._workloads.pop(key, None)
                self._workloads_changed |= old_workload is not None
            else:
                workload = workload_of(obj)
                self._workloads[key] = workload
                self._workloads_changed |= workload != old_workload
            return
        if plural == "routes":
            old_routed = self._route_routed.pop(key, frozenset())
            routed = frozenset() if obj is None else routed_revisions(obj)
            if routed:
                self._route_routed[key] = routed
            self._route_revisions(old_routed, routed)
            return
        old_hosts = self._ingress_hosts.get(key, {})
        if obj is None or not served_by_istio(obj):
            hosts: dict[HostKey, Target] = {}
        elif ingress_ready(obj):
            hosts = ingress_hosts(obj)
        else:
            return  # being reconfigured: served as it was until net-istio marks it ready
        if hosts:
            self._ingress_hosts[key] = hosts
            seq = self._ingress_seq.setdefault(key, next(self._seqs))
        else:
            self._ingress_hosts.pop(key, None)
            seq = self._ingress_seq.pop(key, 0)
        self._claim_hosts(key, seq, old_hosts, hosts)

    def _claim_hosts(
        self,
        ingress: tuple[str, str],
        seq: int,
        before: Mapping[HostKey, Target],
        after: Mapping[HostKey, Target],
    ) -> None:
        """One Ingress now has the hosts ``after`` instead of ``before``."""
        for host in before.keys() | after.keys():
            target = after.get(host)
            if before.get(host) == target:
                continue
            claims = self._claims.setdefault(host, {})
            if target is None:
                claims.pop(ingress, None)
            else:
                claims[ingress] = (seq, target)
            winner = max(claims.values(), key=lambda claim: claim[0])[1] if claims else None
            if not claims:
                del self._claims[host]
            self._set_entry(host, winner)

    def _set_entry(self, key: HostKey, target: Target | None) -> None:
        visibility, host = key
        table = self._tables[visibility]
        if isinstance(target, Rewrite):
            changed = self._rewrites.get(key) != target or host in table
            self._rewrites[key] = target
            table.pop(host, None)
        else:
            changed = self._rewrites.pop(key, None) is not None or table.get(host) != target
            if target is None:
                table.pop(host, None)
            else:
                table[host] = target
        self._table_changed |= changed

    def _route_revisions(
        self, before: frozenset[tuple[str, str]], after: frozenset[tuple[str, str]]
    ) -> None:
        """One Route now sends traffic to ``after`` instead of ``before``."""
        for key in before - after:
            count = self._routed.get(key, 0) - 1
            if count > 0:
                self._routed[key] = count
            else:
                self._routed.pop(key, None)
                self._workloads_changed = True
        for key in after - before:
            count = self._routed.get(key, 0)
            self._routed[key] = count + 1
            self._workloads_changed |= count == 0

    def _apply_autoscaler(self) -> None:
        """config-autoscaler's windows and enable-scale-to-zero, from the ConfigMap."""
        cfg = self.config.autoscaler()
        self.workloads.set_windows(
            cfg.stable_window / SECOND, cfg.scale_to_zero_grace_period / SECOND
        )
        self.workloads.set_scale_to_zero(cfg.enable_scale_to_zero)

    def schedule_sync(self) -> None:
        """Coalesce bursts of changes into one sync on the next loop turn."""
        if self._pending:
            return
        self._pending = True
        asyncio.get_running_loop().call_soon(self.sync)

    def sync(self) -> None:
        """Hand the gateways their host tables and the Workloads the desired state, each
        only if it changed since the last sync (both are kept current by the events)."""
        self._pending = False
        if self._table_changed:
            local = self._tables[LOCAL]
            for gateway, visibility in ((self.gateway, EXTERNAL), (self.local_gateway, LOCAL)):
                table = self._tables[visibility]
                gateway.set_routes(_with_rewrites(table, self._rewrites, local, visibility))
            self._table_changed = False
        if self._workloads_changed:
            # a new Revision starts before any Route sends it traffic (Knative's initial
            # scale); Workloads does that itself and stops it after the grace period.
            self.workloads.sync(list(self._workloads.values()), set(self._routed))
            self._workloads_changed = False
