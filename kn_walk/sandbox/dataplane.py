"""Wires the controllers to the data plane: which Revisions run, which Hosts route where.

The controllers write Route status; this module turns the stored Routes,
Configurations and Revisions into the gateways' host tables and the set of
Revisions that should have a process, and feeds the processes' health back
into Revision status (through :class:`ServingController`) and into Pods
(:mod:`kn_walk.sandbox.pods`). It also runs the Pods of users' Deployments
(:mod:`kn_walk.sandbox.deployments`).

There are two gateways, as net-istio has: ``istio-ingressgateway`` serves each
Route's external hosts (``NAME.NS.DOMAIN``, its tags'), ``knative-local-gateway``
its cluster-local ones (``NAME.NS.svc.cluster.local`` and the short names
``NAME.NS.svc`` and ``NAME.NS``, its tags' likewise). A Route on the
cluster-local domain (label ``networking.knative.dev/visibility: cluster-local``,
or no domain in ``config-domain`` for its labels) has no external host.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kn_walk.knative_rules.goparse import SECOND
from kn_walk.knative_rules.hosts import (
    CLUSTER_LOCAL_DOMAIN,
    cluster_local_hosts,
    host_of,
    route_host,
)
from kn_walk.knative_rules.labels import CONFIGURATION_LABEL, SERVICE_LABEL
from kn_walk.sandbox.conns import MIN_CONNECTIONS, Limits, gateway_limits
from kn_walk.sandbox.deployments import DeploymentPods
from kn_walk.sandbox.gateway import Backend, Gateway
from kn_walk.sandbox.live_config import LiveConfig
from kn_walk.sandbox.pods import RevisionPods
from kn_walk.sandbox.registry import SERVING_GROUP
from kn_walk.sandbox.resources import Resources, rkey
from kn_walk.sandbox.serving import (
    SYSTEM_NAMESPACE,
    RevisionRuntime,
    ServingController,
    is_ready,
)
from kn_walk.sandbox.store import Event, Obj
from kn_walk.sandbox.workloads import RevisionWorkload, RuntimeStatus, Workloads

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
class RouteParts:
    """What one Route adds to the data plane: the Revisions its status sends traffic to
    (which keep running while routed), and its entries in the gateways' host tables."""

    routed: frozenset[tuple[str, str]]
    hosts: dict[HostKey, list[Backend]]


def route_parts(
    route: Obj,
    taken: Callable[[str], bool] = lambda name: False,
    tag_hostname: Callable[[str], str | None] = lambda tag: None,
) -> RouteParts:
    """``taken(name)``: whether another owns the placeholder Service of the hostname
    ``name`` (Knative's rule: the first Route to claim a host keeps it).
    ``tag_hostname(tag)``: the tag's hostname (config-network's tag-template), which names
    its cluster-local hosts; None: the first label of the tag's URL."""
    meta, status = route["metadata"], route.get("status") or {}
    ns, name = meta["namespace"], meta["name"]
    traffic = [t for t in status.get("traffic") or [] if t.get("revisionName")]
    routed = frozenset((ns, t["revisionName"]) for t in traffic)
    hosts: dict[HostKey, list[Backend]] = {}
    url = status.get("url")
    if not url:
        return RouteParts(routed, hosts)
    # on the cluster-local domain, the Route's visibility is ClusterLocal: no external host
    public = host_of(url) != route_host(name, ns, CLUSTER_LOCAL_DOMAIN)

    def serve(hostname: str, external: str, backends: list[Backend]) -> None:
        for host in cluster_local_hosts(hostname, ns):
            hosts[(LOCAL, host)] = backends
        if public:
            hosts[(EXTERNAL, external)] = backends

    if traffic and not taken(name):
        main = [Backend(ns, t["revisionName"], int(t.get("percent") or 0)) for t in traffic]
        serve(name, host_of(url), main)
    for t in traffic:
        host = host_of(t.get("url") or "")
        hostname = (tag_hostname(t["tag"]) if t.get("tag") else None) or host.split(".", 1)[0]
        if t.get("tag") and host and not taken(hostname):
            serve(hostname, host, [Backend(ns, t["revisionName"], 100)])
    return RouteParts(routed, hosts)


def gateway_tables(
    table: Mapping[HostKey, list[Backend]],
) -> tuple[dict[str, list[Backend]], dict[str, list[Backend]]]:
    """The external gateway's host table and the cluster-local gateway's."""
    tables: dict[str, dict[str, list[Backend]]] = {EXTERNAL: {}, LOCAL: {}}
    for (visibility, host), backends in table.items():
        tables[visibility][host] = backends
    return tables[EXTERNAL], tables[LOCAL]


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
        self._cm = reg.get("", "v1", "configmaps")
        self._pending = False
        #: decoded Revisions and Routes, kept current from the event stream
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {"revisions": {}, "routes": {}}
        # What sync() hands on, kept current from the same events (in the same order as
        # _objects), so that an event costs the work for its own object and a sync
        # rebuilds the host table or re-syncs the Workloads only when they changed.
        #: (ns, revision) -> its workload
        self._workloads: dict[tuple[str, str], RevisionWorkload] = {}
        #: (ns, route) -> its host tables' entries and routed Revisions
        self._route_parts: dict[tuple[str, str], RouteParts] = {}
        #: (ns, route) -> when it was first seen: of two Routes that claim one host, the
        #: later one wins (as when the table was rebuilt from _objects in its order)
        self._route_seq: dict[tuple[str, str], int] = {}
        self._seqs = itertools.count()
        #: host -> the Routes that claim it: (ns, route) -> (its seq, the backends)
        self._claims: dict[HostKey, dict[tuple[str, str], tuple[int, list[Backend]]]] = {}
        #: the gateways' host tables, by visibility (EXTERNAL, LOCAL): host -> backends,
        #: kept current by the events so a sync costs nothing per Route
        self._tables: dict[str, dict[str, list[Backend]]] = {EXTERNAL: {}, LOCAL: {}}
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
            rkey(t) for t in (self._t["revisions"], self._t["routes"], self._cm) if t
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
        """Take in the new state of one Revision or Route (None: deleted)."""
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
        old = self._route_parts.get(key)
        if obj is None:
            parts = None
            self._route_parts.pop(key, None)
            seq = self._route_seq.pop(key, 0)
        else:
            parts = route_parts(
                obj,
                lambda host: self.controller.claimed_by_another(obj, host),
                lambda tag: self.controller.tag_hostname(obj, tag),
            )
            self._route_parts[key] = parts
            seq = self._route_seq.setdefault(key, next(self._seqs))
        self._route_hosts(key, seq, old.hosts if old else {}, parts.hosts if parts else {})
        self._route_revisions(
            old.routed if old else frozenset(), parts.routed if parts else frozenset()
        )

    def _route_hosts(
        self,
        route: tuple[str, str],
        seq: int,
        before: dict[HostKey, list[Backend]],
        after: dict[HostKey, list[Backend]],
    ) -> None:
        """One Route now claims the hosts ``after`` instead of ``before``."""
        for host in before.keys() | after.keys():
            backends = after.get(host)
            if before.get(host) == backends:
                continue
            claims = self._claims.setdefault(host, {})
            if backends is None:
                claims.pop(route, None)
            else:
                claims[route] = (seq, backends)
            visibility, name = host
            table = self._tables[visibility]
            if claims:
                winner = max(claims.values(), key=lambda claim: claim[0])[1]
                if table.get(name) != winner:
                    table[name] = winner
                    self._table_changed = True
            else:
                del self._claims[host]
                table.pop(name, None)
                self._table_changed = True

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
            self.gateway.set_routes(self._tables[EXTERNAL])
            self.local_gateway.set_routes(self._tables[LOCAL])
            self._table_changed = False
        if self._workloads_changed:
            # a new Revision starts before any Route sends it traffic (Knative's initial
            # scale); Workloads does that itself and stops it after the grace period.
            self.workloads.sync(list(self._workloads.values()), set(self._routed))
            self._workloads_changed = False
