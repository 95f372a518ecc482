"""What the Knative controllers make below the four Serving kinds, run beside their
controller (:class:`kn_walk.sandbox.knative.serving.ServingController`) with a few hooks.

* per Revision: :mod:`kn_walk.sandbox.knative.revision_resources` (Deployment, PodAutoscaler,
  ServerlessService, Metric, Services, Endpoints, Image);
* per Route: :mod:`kn_walk.sandbox.knative.route_resources` (Ingress, placeholder Services'
  load balancer) and :mod:`kn_walk.sandbox.knative.netistio` (VirtualServices), done in the
  Route's reconcile, since the Route is ready only once its Ingress is; an Ingress
  a Route controls that is deleted or changed by another sends the Route back to
  its reconciler, as Knative's Route reconciler watches its Ingresses;
* per DomainMapping: :mod:`kn_walk.sandbox.knative.domainmapping` (its claim and Ingress);
* every Ingress of net-istio's class that net-istio has not made ready yet (made by
  a DomainMapping, or by hand): :mod:`kn_walk.sandbox.knative.netistio`;
* for every Service: :mod:`kn_walk.sandbox.knative.endpoints` (Endpoints, EndpointSlices), as
  kube-controller-manager keeps them.

The controller hands each store event to :meth:`ServingChildren.on_event`, which
queues what it affects: a Service's Endpoints, the Revision whose Pods or private
Endpoints changed (its PodAutoscaler counts them, its ServerlessService picks its
public Endpoints from them), an Ingress being deleted (net-istio lets its finalizer
go). That queue is worked through while the controller's own is empty, so the
objects below a Revision follow it a moment later instead of delaying its
readiness; the sandbox's processes are what serve, not these objects. The one
exception is a new Revision's Deployment, made at once: as on a cluster, the
Revision turns Ready only when its Pod (made from the Deployment's ReplicaSet) is
there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from kn_walk.knative_rules import children as K
from kn_walk.knative_rules.labels import REVISION_LABEL
from kn_walk.knative_rules.network_config import RouteNames
from kn_walk.sandbox.knative import netistio
from kn_walk.sandbox.knative.domainmapping import DomainMappings
from kn_walk.sandbox.knative.endpoints import EndpointsController
from kn_walk.sandbox.knative.revision_resources import RevisionResources
from kn_walk.sandbox.knative.route_resources import RouteResources
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.registry.resources import Resources, rkey
from kn_walk.sandbox.registry.store import Event, Obj

log = logging.getLogger(__name__)

#: the kinds of work queued here
ENDPOINTS, INGRESS, REVISION = "Endpoints", "Ingress", "Revision"
DOMAIN_MAPPING = "DomainMapping"
#: how long the controller's queue must stay empty before this work goes on: the gap
#: between two steps of a Service becoming ready is shorter, so that is not slowed down
SETTLE = 0.1


class ServingChildren:
    def __init__(
        self,
        resources: Resources,
        controller_idle: asyncio.Event,
        revisions: Callable[[], Iterable[tuple[str, str]]],
    ) -> None:
        """``controller_idle`` is set while the controller's queue is empty;
        ``revisions()`` lists the Revisions it knows (namespace, name)."""
        self.res = resources
        self.controller_idle = controller_idle
        self.revisions = revisions
        self.endpoints = EndpointsController(resources)
        self.revision_resources = RevisionResources(resources)
        self.route_resources = RouteResources(resources)
        self.domain_mappings = DomainMappings(resources, self.route_resources.ingress_class)
        #: hands a kind, namespace and name to the controller's queue (set by it)
        self.enqueue_controller: Callable[[str, str, str], None] = lambda kind, ns, name: None
        self.t_rev = self.revision_resources.t_rev
        self._pod = rkey(self.endpoints.t_pod)
        self._ep = rkey(self.endpoints.t_ep)
        self._ingress = rkey(self.route_resources.t_ingress)
        #: (ns, revision) -> the replicas the sandbox wants of it, as last reconciled
        self._desired: dict[tuple[str, str], int] = {}
        #: the work to do, in order, each once
        self._pending: dict[tuple[str, str, str], None] = {}
        self._wake = asyncio.Event()
        self._handlers: dict[str, Callable[[str, str], None]] = {
            ENDPOINTS: self.endpoints.sync,
            INGRESS: self._reconcile_ingress,
            REVISION: self._revision,
            DOMAIN_MAPPING: self.domain_mappings.reconcile,
        }

    # -------------------------------------------------------------- plumbing
    def start(self) -> asyncio.Task[None]:
        for ns, name in self.endpoints.start():
            self._enqueue(ENDPOINTS, ns, name)
        for ns, name in self.domain_mappings.start():
            self._enqueue(DOMAIN_MAPPING, ns, name)
        for ingress in self.res.store.list_objects(self._ingress):
            if not netistio.reconciled(ingress):
                meta = ingress["metadata"]
                self._enqueue(INGRESS, meta["namespace"], meta["name"])
        return asyncio.create_task(self._work())

    def _enqueue(self, kind: str, ns: str, name: str) -> None:
        self._pending[(kind, ns, name)] = None
        self._wake.set()

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            await self.controller_idle.wait()
            await asyncio.sleep(SETTLE)
            # then as much as there is, while the controller has nothing to do
            while self._pending and self.controller_idle.is_set():
                key = next(iter(self._pending))
                del self._pending[key]
                kind, ns, name = key
                try:
                    self._handlers[kind](ns, name)
                except E.StatusError as err:
                    log.warning("%s %s/%s: %s", kind, ns, name, err.message)
                except Exception:
                    log.exception("%s %s/%s failed", kind, ns, name)
                await asyncio.sleep(0)
            if not self._pending:
                self._wake.clear()

    @property
    def busy(self) -> bool:
        """Whether work is queued (tests wait for it to be done)."""
        return bool(self._pending)

    # ----------------------------------------------------------------- hooks
    def on_event(self, ev: Event) -> None:
        if self.endpoints.interested(ev):
            self.endpoints.on_event(ev, lambda ns, svc: self._enqueue(ENDPOINTS, ns, svc))
        labels = (ev.obj.get("metadata") or {}).get("labels") or {}
        if ev.rkey == self._pod and labels.get(REVISION_LABEL):
            self._enqueue(REVISION, ev.namespace, str(labels[REVISION_LABEL]))
        elif ev.rkey == self._ep:
            if labels.get(K.SERVICE_TYPE_LABEL) == K.PRIVATE and labels.get(REVISION_LABEL):
                self._enqueue(REVISION, ev.namespace, str(labels[REVISION_LABEL]))
            elif (ev.namespace, ev.name) == (K.SYSTEM_NAMESPACE, K.ACTIVATOR_SERVICE):
                for ns, name in self.revisions():  # rare: the activator's Pods changed
                    self._enqueue(REVISION, ns, name)
        elif ev.rkey == self._ingress:
            self._on_ingress(ev)
        elif ev.rkey == rkey(self.t_rev) and ev.type == "DELETED":
            self._desired.pop((ev.namespace, ev.name), None)
        for ns, name in self.domain_mappings.affected(ev):
            self._enqueue(DOMAIN_MAPPING, ns, name)

    def _on_ingress(self, ev: Event) -> None:
        key = (ev.namespace, ev.name)
        ingress = None if ev.type == "DELETED" else ev.obj
        owner = next(
            (
                o
                for o in (ev.obj.get("metadata") or {}).get("ownerReferences") or []
                if isinstance(o, dict) and o.get("controller")
            ),
            None,
        )
        kind, name = (
            (str(owner.get("kind") or ""), str(owner.get("name") or "")) if owner else ("", "")
        )
        if kind == "Route":
            if ingress is not None and self.route_resources.made(key, ev.rv):
                return  # the Route's reconcile made it so, net-istio's within it
            if self.route_resources.changed_by_another(ingress, key, ev.rv) or (
                ingress is not None and netistio.ingress_ready(ingress)
            ):
                # changed by hand, or made ready by its ingress controller after the
                # Route's reconcile (whose IngressReady then follows)
                self.enqueue_controller("Route", ev.namespace, name)
        elif kind == DOMAIN_MAPPING:
            self._enqueue(DOMAIN_MAPPING, ev.namespace, name)
        if ingress is not None and not netistio.reconciled(ingress):
            self._enqueue(INGRESS, ev.namespace, ev.name)

    def revision(self, rev: Obj, desired: int) -> None:
        """The Revision was reconciled, the sandbox wanting ``desired`` replicas of it: its
        objects follow."""
        meta = rev["metadata"]
        key = (meta["namespace"], meta["name"])
        first = key not in self._desired
        self._desired[key] = desired
        if first and not meta.get("deletionTimestamp"):
            # its Deployment at once (the deployment controller's ReplicaSet, then its Pod
            # follow): the Revision turns Ready only once its Pod is there
            try:
                self.revision_resources.workload.ensure(rev, desired)
            except E.StatusError as err:
                log.warning("Revision %s/%s: %s", *key, err.message)
        self._enqueue(REVISION, meta["namespace"], meta["name"])

    def route(
        self, route: Obj, traffic: list[Obj], names: RouteNames, hostnames: list[str]
    ) -> str | None:
        """The Route's Ingress for its resolved ``traffic``, and its placeholder Services;
        the Ingress's private load balancer once it is ready, else None."""
        return self.route_resources.reconcile(route, traffic, names, hostnames)

    # ------------------------------------------------------------------ work
    def _revision(self, ns: str, name: str) -> None:
        rev = self.res.find(self.t_rev, ns, name)
        if rev is None or rev["metadata"].get("deletionTimestamp"):
            return
        desired = self._desired.get((ns, name))
        if desired is None:
            return  # not reconciled yet: the controller's reconcile queues it again
        self.revision_resources.reconcile(rev, desired)

    def _reconcile_ingress(self, ns: str, name: str) -> None:
        """net-istio's reconcile of an Ingress it has not made ready (or let go) yet."""
        ingress = self.res.find(self.route_resources.t_ingress, ns, name)
        if ingress is not None and not netistio.reconciled(ingress):
            self.route_resources.netistio.reconcile(ingress)
