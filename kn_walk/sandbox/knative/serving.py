"""Knative Serving controllers: Service → Configuration + Route, Configuration → Revisions.

They watch the store, like Knative's controllers watch the API server, and
write back through :class:`Resources` (manager ``controller``), so every
change is an ordinary API write with a new resourceVersion and a watch event.

As Knative's, the Route reconciler keeps one placeholder Kubernetes Service per
hostname it serves (``{route}``, and each tag's from ``config-network``'s
``tag-template``, ``{tag}-{route}`` by default), controlled by the Route: the
first Route to claim a hostname keeps it, a later one is ``Ready=False`` with
reason ``NotOwned`` and, as in Knative, stops before its Ingress, so the gateways
(which route from the Ingresses) do not send it that host.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kn_walk.knative_rules import hosts, templates
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN
from kn_walk.knative_rules.labels import CONFIGURATION_GENERATION_LABEL as L_CONFIG_GENERATION
from kn_walk.knative_rules.labels import (
    CONFIGURATION_LABEL,
    SERVICE_LABEL,
    VISIBILITY_LABEL,
)
from kn_walk.knative_rules.labels import CONFIGURATION_UID_LABEL as L_CONFIGURATION_UID
from kn_walk.knative_rules.labels import CREATOR_ANNOTATION as A_CREATOR
from kn_walk.knative_rules.labels import ROUTE_LABEL as L_ROUTE
from kn_walk.knative_rules.labels import ROUTES_ANNOTATION as A_ROUTES
from kn_walk.knative_rules.labels import ROUTING_STATE_LABEL as L_ROUTING_STATE
from kn_walk.knative_rules.labels import (
    ROUTING_STATE_MODIFIED_ANNOTATION as A_ROUTING_STATE_MODIFIED,
)
from kn_walk.knative_rules.labels import SERVICE_UID_LABEL as L_SERVICE_UID
from kn_walk.knative_rules.network_config import DomainNameError, RouteNames
from kn_walk.sandbox.knative.network_settings import WATCHED as NETWORK_CONFIGMAPS
from kn_walk.sandbox.knative.network_settings import NetworkSettingsStore
from kn_walk.sandbox.knative.revision_gc import RevisionGC
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import SERVING_GROUP, ResourceType
from kn_walk.sandbox.registry.events import NORMAL, EventRecorder
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, now_rfc3339, rkey
from kn_walk.sandbox.registry.store import Event, Obj

log = logging.getLogger("knwalk.sandbox.serving")

SYSTEM_NAMESPACE = "knative-serving"
#: the labels' names other sandbox modules import from here (pods.py)
L_SERVICE = SERVICE_LABEL
L_CONFIGURATION = CONFIGURATION_LABEL
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MANAGER = "controller"

#: (namespace, name) -> names: the reverse side of the controller's indexes
_Index = dict[tuple[str, str], set[str]]


@dataclass(frozen=True)
class RevisionRuntime:
    """How a Revision's workload is doing, reported by the data plane."""

    ready: bool | None
    reason: str = ""
    message: str = ""
    actual_replicas: int = 1
    desired_replicas: int = 1


def condition(
    ctype: str, status: str, reason: str = "", message: str = "", severity: str = ""
) -> Obj:
    c: Obj = {"type": ctype, "status": status}
    if severity:
        c["severity"] = severity
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def set_conditions(old_status: Obj, new: list[Obj], happy: str, dependents: list[str]) -> list[Obj]:
    """Compute the happy condition from its dependents (Knative's living condition set),
    keep lastTransitionTime where a status did not change, sort by type."""
    by_type = {c["type"]: c for c in new}
    ready = condition(happy, "True")
    for d in dependents:
        c = by_type.get(d)
        if c is None:
            continue
        if c["status"] == "False":
            ready = condition(happy, "False", c.get("reason", ""), c.get("message", ""))
            break
        if c["status"] == "Unknown" and ready["status"] == "True":
            ready = condition(happy, "Unknown", c.get("reason", ""), c.get("message", ""))
    if dependents or happy not in by_type:  # with no dependents the caller sets it directly
        by_type[happy] = ready
    previous = {
        c.get("type"): c for c in (old_status.get("conditions") or []) if isinstance(c, dict)
    }
    now = now_rfc3339()
    out = []
    for t in sorted(by_type):
        c = by_type[t]
        prev = previous.get(t)
        if prev and prev.get("status") == c["status"] and prev.get("lastTransitionTime"):
            c["lastTransitionTime"] = prev["lastTransitionTime"]
        else:
            c["lastTransitionTime"] = now
        out.append(dict(sorted(c.items())))
    return out


def get_condition(obj: Obj | None, ctype: str) -> Obj | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def is_ready(obj: Obj | None) -> bool:
    c = get_condition(obj, "Ready")
    return bool(c and c.get("status") == "True")


def observed(obj: Obj) -> bool:
    return bool(
        (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")
    )


def owner_ref(obj: Obj) -> Obj:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(obj: Obj, owner: Obj) -> bool:
    return any(
        r.get("controller") and r.get("uid") == owner["metadata"]["uid"]
        for r in obj["metadata"].get("ownerReferences") or []
    )


class ServingController:
    """Reconciles the four Knative kinds; single-threaded on the event loop."""

    def __init__(
        self, resources: Resources, *, runtime: Callable[[Obj], RevisionRuntime] | None = None
    ) -> None:
        self.res = resources
        #: the Events Knative's reconcilers record ("Created Configuration ...")
        self.events = EventRecorder(resources)
        reg = resources.registry
        self.t_svc = self._type(reg.get(SERVING_GROUP, "v1", "services"))
        self.t_cfg = self._type(reg.get(SERVING_GROUP, "v1", "configurations"))
        self.t_rev = self._type(reg.get(SERVING_GROUP, "v1", "revisions"))
        self.t_route = self._type(reg.get(SERVING_GROUP, "v1", "routes"))
        self.t_cm = self._type(reg.get("", "v1", "configmaps"))
        self.t_k8s_svc = self._type(reg.get("", "v1", "services"))
        #: config-network's templates and config-domain's domains, as last read
        self.network = NetworkSettingsStore(resources, self.t_cm, SYSTEM_NAMESPACE)
        #: the data plane's view of a revision; None means "ready as soon as created"
        self.runtime = runtime
        #: called after route statuses change (gateway table, workloads)
        self.on_routes_changed: list[Callable[[], None]] = []
        self._queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self._queued: set[tuple[str, str, str]] = set()
        self._watcher = resources.store.subscribe(lambda ev: True)
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        # In-memory indexes fed by the event stream, so a change touches only the
        # objects that depend on it instead of every Route and Revision in the namespace.
        # Each map has its reverse beside it; only the _set_* methods below change
        # them, so the two directions always agree.
        #: (ns, route) -> (configurationNames, revisionNames) its spec.traffic names
        self._route_spec: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {}
        #: (ns, configuration) -> the Routes whose spec.traffic names it
        self._routes_by_cfg: _Index = {}
        #: (ns, revision) -> the Routes whose spec.traffic names it
        self._routes_by_rev: _Index = {}
        #: (ns, route) -> revisionNames its status.traffic sends traffic to
        self._route_status: dict[tuple[str, str], frozenset[str]] = {}
        #: (ns, revision) -> the Routes whose status.traffic sends traffic to it
        self._serving_routes: _Index = {}
        #: (ns, revision) -> (configuration, Ready status, routingState, routes annotation)
        self._revs: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        #: (ns, configuration) -> its Revisions (by their configuration label)
        self._cfg_revs: _Index = {}
        #: (ns, route) -> the placeholder Services (hostnames) it wants
        self._route_hosts: dict[tuple[str, str], frozenset[str]] = {}
        #: (ns, placeholder name) -> the Routes that want it
        self._host_routes: _Index = {}
        #: (ns, route) -> the hostnames it wanted when its unwanted placeholders were deleted
        self._swept: dict[tuple[str, str], frozenset[str]] = {}
        # what Knative and net-istio make below the four kinds (imported here: it uses this
        # module's helpers)
        from kn_walk.sandbox.knative.serving_children import ServingChildren

        self.children = ServingChildren(resources, self._idle, lambda: list(self._revs))
        #: Knative's revision-gc-controller, run after each Configuration reconcile
        self.gc = RevisionGC(
            resources, self.t_cfg, self.t_rev, lambda ns, cfg: self._revisions_of(ns, cfg, "")
        )
        self.children.enqueue_controller = self.enqueue

    @staticmethod
    def _type(rt: ResourceType | None) -> ResourceType:
        assert rt is not None
        return rt

    # ------------------------------------------------------------- plumbing
    def start(self) -> None:
        for rt in (self.t_svc, self.t_cfg, self.t_rev, self.t_route):
            for obj in self.res.store.list_objects(rkey(rt)):
                meta = obj["metadata"]
                self._index(Event("ADDED", rkey(rt), meta["namespace"], meta["name"], 0, obj))
                self.enqueue(rt.kind, meta["namespace"], meta["name"])
        self._tasks.append(self.children.start())
        self._tasks.append(asyncio.create_task(self._pump()))
        self._tasks.append(asyncio.create_task(self._work()))

    async def stop(self) -> None:
        self.res.store.unsubscribe(self._watcher)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def enqueue(self, kind: str, ns: str, name: str) -> None:
        key = (kind, ns, name)
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)
            self._idle.clear()

    def _routes_referencing(self, ns: str, *, configuration: str = "", revision: str = "") -> None:
        """Enqueue the Routes whose spec.traffic names ``configuration`` or ``revision``."""
        routes: set[str] = set()
        if configuration:
            routes |= self._routes_by_cfg.get((ns, configuration), set())
        if revision:
            routes |= self._routes_by_rev.get((ns, revision), set())
        for route in sorted(routes):
            self.enqueue("Route", ns, route)

    @staticmethod
    def _link(index: _Index, ns: str, keys: Iterable[str], v: str) -> None:
        for k in keys:
            index.setdefault((ns, k), set()).add(v)

    @staticmethod
    def _unlink(index: _Index, ns: str, keys: Iterable[str], v: str) -> None:
        for k in keys:
            members = index.get((ns, k))
            if members is not None:
                members.discard(v)
                if not members:
                    del index[(ns, k)]

    def _set_route_spec(
        self, key: tuple[str, str], spec: tuple[frozenset[str], frozenset[str]] | None
    ) -> None:
        ns, route = key
        old = self._route_spec.get(key)
        if old is not None:
            self._unlink(self._routes_by_cfg, ns, old[0], route)
            self._unlink(self._routes_by_rev, ns, old[1], route)
        if spec is None:
            self._route_spec.pop(key, None)
        else:  # an update keeps the Route's place (config-domain changes go in this order)
            self._route_spec[key] = spec
            self._link(self._routes_by_cfg, ns, spec[0], route)
            self._link(self._routes_by_rev, ns, spec[1], route)

    def _set_route_status(self, key: tuple[str, str], revisions: frozenset[str] | None) -> None:
        ns, route = key
        old = self._route_status.get(key)
        if old is not None:
            self._unlink(self._serving_routes, ns, old, route)
        if revisions is None:
            self._route_status.pop(key, None)
        else:
            self._route_status[key] = revisions
            self._link(self._serving_routes, ns, revisions, route)

    def _set_route_hosts(self, key: tuple[str, str], names: frozenset[str] | None) -> None:
        ns, route = key
        self._unlink(self._host_routes, ns, self._route_hosts.pop(key, frozenset()), route)
        if names:
            self._route_hosts[key] = names
            self._link(self._host_routes, ns, names, route)

    def _set_revision(self, key: tuple[str, str], info: tuple[str, str, str, str] | None) -> None:
        ns, name = key
        old = self._revs.get(key)
        if old is not None:
            self._unlink(self._cfg_revs, ns, (old[0],), name)
        if info is None:
            self._revs.pop(key, None)
        else:
            self._revs[key] = info
            self._link(self._cfg_revs, ns, (info[0],), name)

    def _index(self, ev: Event) -> None:
        meta = ev.obj.get("metadata") or {}
        key = (ev.namespace, ev.name)
        if ev.rkey == rkey(self.t_route):
            if ev.type == "DELETED":
                self._set_route_spec(key, None)
                self._set_route_status(key, None)
                return
            spec = [
                t for t in (ev.obj.get("spec") or {}).get("traffic") or [] if isinstance(t, dict)
            ]
            self._set_route_spec(
                key,
                (
                    frozenset(
                        str(t["configurationName"]) for t in spec if t.get("configurationName")
                    ),
                    frozenset(str(t["revisionName"]) for t in spec if t.get("revisionName")),
                ),
            )
            status = (ev.obj.get("status") or {}).get("traffic") or []
            self._set_route_status(
                key,
                frozenset(
                    str(t["revisionName"])
                    for t in status
                    if isinstance(t, dict) and t.get("revisionName")
                ),
            )
        elif ev.rkey == rkey(self.t_rev):
            if ev.type == "DELETED":
                self._set_revision(key, None)
                return
            labels = meta.get("labels") or {}
            ready = get_condition(ev.obj, "Ready") or {}
            self._set_revision(
                key,
                (
                    str(labels.get(L_CONFIGURATION, "")),
                    str(ready.get("status", "")),
                    str(labels.get(L_ROUTING_STATE, "")),
                    str((meta.get("annotations") or {}).get(A_ROUTES, "")),
                ),
            )

    async def _pump(self) -> None:
        while True:
            ev = await self._watcher.queue.get()
            if ev is None:
                return
            self._on_event(ev)

    def _on_event(self, ev: Event) -> None:
        labels = (ev.obj.get("metadata") or {}).get("labels") or {}
        ns, name = ev.namespace, ev.name
        before = self._revs.get((ns, name)) if ev.rkey == rkey(self.t_rev) else None
        self._index(ev)
        self.children.on_event(ev)
        if ev.rkey == rkey(self.t_svc):
            self.enqueue("Service", ns, name)
        elif ev.rkey == rkey(self.t_cfg):
            self.enqueue("Configuration", ns, name)
            if labels.get(L_SERVICE):
                self.enqueue("Service", ns, labels[L_SERVICE])
            self._routes_referencing(ns, configuration=name)
        elif ev.rkey == rkey(self.t_rev):
            self.enqueue("Revision", ns, name)
            cfg = str(labels.get(L_CONFIGURATION, ""))
            if cfg:
                self.enqueue("Configuration", ns, cfg)
            after = self._revs.get((ns, name))
            # Routes care about a Revision's existence and readiness, not its routing labels
            if before is None or after is None or before[1] != after[1]:
                self._routes_referencing(ns, configuration=cfg, revision=name)
        elif ev.rkey == rkey(self.t_route):
            self.enqueue("Route", ns, name)
            if labels.get(L_SERVICE):
                self.enqueue("Service", ns, labels[L_SERVICE])
        elif ev.rkey == rkey(self.t_k8s_svc):
            # a placeholder Service went (or someone else's came): the Routes that want
            # the name look again, as Knative's requeue of a NotOwned Route does
            for route in sorted(self._host_routes.get((ns, name), ())):
                self.enqueue("Route", ns, route)
        elif ev.rkey == rkey(self.t_cm) and ns == SYSTEM_NAMESPACE and name in NETWORK_CONFIGMAPS:
            for rns, route in list(self._route_spec):
                self.enqueue("Route", rns, route)
        elif ev.rkey == rkey(self.t_cm) and ns == SYSTEM_NAMESPACE and name == "config-gc":
            for obj in self.res.store.list_objects(rkey(self.t_cfg)):
                self.enqueue("Configuration", obj["metadata"]["namespace"], obj["metadata"]["name"])

    async def _work(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            key = await self._queue.get()
            self._queued.discard(key)
            kind, ns, name = key
            try:
                {
                    "Service": self.reconcile_service,
                    "Configuration": self._configuration,
                    "Revision": self.reconcile_revision,
                    "Route": self.reconcile_route,
                }[kind](ns, name)
            except E.StatusError as exc:
                if exc.code == 409:  # raced with a user write: the event will bring us back
                    self.enqueue(kind, ns, name)
                else:
                    log.warning("reconcile %s %s/%s: %s", kind, ns, name, exc.message)
            except Exception:
                log.exception("reconcile %s %s/%s failed", kind, ns, name)
            await asyncio.sleep(0)

    async def wait_idle(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._idle.wait(), timeout)

    def _opts(self, subresource: str = "") -> WriteOptions:
        return WriteOptions(
            manager=MANAGER,
            field_validation="Ignore",
            subresource=subresource,
            user="system:serviceaccount:knative-serving:controller",
        )

    def _write_status(self, rt: ResourceType, obj: Obj, status: Obj) -> None:
        if obj.get("status") == status:
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        self.res.update(
            rt, obj["metadata"]["namespace"], obj["metadata"]["name"], new, self._opts("status")
        )

    def _configuration(self, ns: str, name: str) -> None:
        """The Configuration's reconcilers: Knative's configuration controller, then its
        revision garbage collector (:mod:`kn_walk.sandbox.knative.revision_gc`)."""
        self.reconcile_configuration(ns, name)
        self.gc.collect(ns, name)

    # -------------------------------------------------------------- Service
    def reconcile_service(self, ns: str, name: str) -> None:
        svc = self.res.find(self.t_svc, ns, name)
        if svc is None or svc["metadata"].get("deletionTimestamp"):
            return
        meta = svc["metadata"]
        spec = svc.get("spec") or {}
        labels = dict(meta.get("labels") or {})
        labels.update({L_SERVICE: name, L_SERVICE_UID: meta["uid"]})
        annotations = {
            k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED
        }
        child_meta = {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_ref(svc)],
        }
        traffic = []
        for t in spec.get("traffic") or []:
            t = dict(t)
            if not t.get("revisionName"):
                t["configurationName"] = name
            traffic.append(t)
        conds: list[Obj] = []
        status: Obj = dict(svc.get("status") or {})
        status["observedGeneration"] = meta.get("generation")

        cfg = self._ensure_child(self.t_cfg, svc, child_meta, {"template": spec.get("template")})
        route = self._ensure_child(self.t_route, svc, child_meta, {"traffic": traffic})

        if isinstance(cfg, str):
            conds.append(condition("ConfigurationsReady", "False", "NotOwned", cfg))
        elif not observed(cfg):
            conds.append(
                condition(
                    "ConfigurationsReady",
                    "Unknown",
                    "OutOfDate",
                    "The Configuration is still working to reflect the latest desired specification.",
                )
            )
        else:
            cc = get_condition(cfg, "Ready") or condition("Ready", "Unknown")
            conds.append(
                condition(
                    "ConfigurationsReady", cc["status"], cc.get("reason", ""), cc.get("message", "")
                )
            )
            cst = cfg.get("status") or {}
            for k in ("latestCreatedRevisionName", "latestReadyRevisionName"):
                if cst.get(k):
                    status[k] = cst[k]
        if isinstance(route, str):
            conds.append(condition("RoutesReady", "False", "NotOwned", route))
        elif not observed(route):
            conds.append(
                condition(
                    "RoutesReady",
                    "Unknown",
                    "OutOfDate",
                    "The Route is still working to reflect the latest desired specification.",
                )
            )
        else:
            rc = get_condition(route, "Ready") or condition("Ready", "Unknown")
            rst = route.get("status") or {}
            if (
                rc["status"] == "True"
                and not isinstance(cfg, str)
                and self._traffic_not_migrated(cfg, rst)
            ):
                conds.append(
                    condition(
                        "RoutesReady",
                        "Unknown",
                        "TrafficNotMigrated",
                        "Traffic is not yet migrated to the latest revision.",
                    )
                )
            else:
                conds.append(
                    condition(
                        "RoutesReady", rc["status"], rc.get("reason", ""), rc.get("message", "")
                    )
                )
            for k in ("url", "address", "traffic"):
                if k in rst:
                    status[k] = rst[k]
                else:
                    status.pop(k, None)
        status["conditions"] = set_conditions(
            svc.get("status") or {}, conds, "Ready", ["ConfigurationsReady", "RoutesReady"]
        )
        self._write_status(self.t_svc, svc, dict(sorted(status.items())))

    @staticmethod
    def _traffic_not_migrated(cfg: Obj, route_status: Obj) -> bool:
        latest = (cfg.get("status") or {}).get("latestReadyRevisionName")
        for t in route_status.get("traffic") or []:
            if t.get("latestRevision") and latest and t.get("revisionName") != latest:
                return True
        return False

    def _ensure_child(self, rt: ResourceType, owner: Obj, meta: Obj, spec: Obj) -> Obj | str:
        """Create or update a Configuration/Route the Service owns; a str is a NotOwned message."""
        ns, name = meta["namespace"], meta["name"]
        cur = self.res.find(rt, ns, name)
        if cur is None:
            body = {
                "apiVersion": rt.api_version,
                "kind": rt.kind,
                "metadata": copy.deepcopy(meta),
                "spec": copy.deepcopy(spec),
            }
            created = self.res.create(rt, ns, body, self._opts())
            self.events.record(
                owner,
                NORMAL,
                "Created",
                f'Created {rt.kind} "{name}"',
                component="service-controller",
            )
            return created
        if not controlled_by(cur, owner):
            return f"There is an existing {rt.kind} {name!r} that we do not own.".replace("'", '"')
        cmeta = cur["metadata"]
        if (
            cur.get("spec") == spec
            and (cmeta.get("labels") or {}) == meta["labels"]
            and (cmeta.get("annotations") or {}) == meta["annotations"]
        ):
            return cur
        new = copy.deepcopy(cur)
        new["spec"] = copy.deepcopy(spec)
        new["metadata"]["labels"] = copy.deepcopy(meta["labels"])
        new["metadata"]["annotations"] = copy.deepcopy(meta["annotations"])
        return self.res.update(rt, ns, name, new, self._opts())

    # -------------------------------------------------------- Configuration
    def reconcile_configuration(self, ns: str, name: str) -> None:
        cfg = self.res.find(self.t_cfg, ns, name)
        if cfg is None or cfg["metadata"].get("deletionTimestamp"):
            return
        meta = cfg["metadata"]
        gen = int(meta.get("generation") or 1)
        template = (cfg.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        rev_name = tmeta.get("name") or f"{name}-{gen:05d}"
        status: Obj = dict(cfg.get("status") or {})
        conds: list[Obj] = []

        rev = self.res.find(self.t_rev, ns, rev_name)
        if rev is not None and not self._name_available(cfg, gen, template, rev):
            message = templates.revision_exists_message(rev_name)
            conds.append(
                condition(
                    "Ready",
                    "False",
                    templates.REVISION_FAILED,
                    templates.revision_creation_failed(message),
                )
            )
            status["conditions"] = set_conditions(cfg.get("status") or {}, conds, "Ready", [])
            status["observedGeneration"] = gen
            self._write_status(self.t_cfg, cfg, status)
            return
        if rev is None:
            rev = self.res.create(
                self.t_rev, ns, self._revision_body(cfg, rev_name, gen, template), self._opts()
            )
            self.events.record(
                cfg,
                NORMAL,
                "Created",
                f'Created Revision "{rev_name}"',
                component="configuration-controller",
            )
        status["observedGeneration"] = gen
        status["latestCreatedRevisionName"] = rev_name

        # latest ready: the newest ready revision of this configuration, moving forward only
        prev_ready = status.get("latestReadyRevisionName")
        prev_gen = -1
        revisions = self._revisions_of(ns, name, rev_name)
        gens = {
            r["metadata"]["name"]: int(
                (r["metadata"].get("labels") or {}).get(L_CONFIG_GENERATION) or 0
            )
            for r in revisions
        }
        if prev_ready in gens:
            prev_gen = gens[prev_ready]
        else:
            status.pop("latestReadyRevisionName", None)
        ordered = sorted(revisions, key=lambda r: gens[r["metadata"]["name"]], reverse=True)
        if tmeta.get("name"):
            # a Revision the template names comes first, whatever its generation: a
            # template named back to an earlier Revision of the same spec serves it again
            ordered = [rev] + [r for r in ordered if gens[r["metadata"]["name"]] > prev_gen]
            prev_gen = -1
        for r in ordered:
            if gens.get(r["metadata"]["name"], 0) <= prev_gen:
                break
            if is_ready(r):
                status["latestReadyRevisionName"] = r["metadata"]["name"]
                break
        rc = get_condition(rev, "Ready")
        if status.get("latestReadyRevisionName") == rev_name:
            conds.append(condition("Ready", "True"))
        elif rc and rc.get("status") == "False":
            conds.append(
                condition(
                    "Ready",
                    "False",
                    "RevisionFailed",
                    f'Revision "{rev_name}" failed with message: {rc.get("message", "")}.',
                )
            )
        else:
            conds.append(condition("Ready", "Unknown"))
        status["conditions"] = set_conditions(cfg.get("status") or {}, conds, "Ready", [])
        self._write_status(self.t_cfg, cfg, dict(sorted(status.items())))

    @staticmethod
    def _name_available(cfg: Obj, gen: int, template: Obj, rev: Obj) -> bool:
        """Knative's CheckNameAvailability: whether the existing Revision named by the
        template may stand for it: its own, of this generation or of an equal spec."""
        if not controlled_by(rev, cfg):
            return False
        labels = rev["metadata"].get("labels") or {}
        if labels.get(L_CONFIG_GENERATION) == str(gen):
            return True
        return templates.revision_reusable(rev.get("spec") or {}, template.get("spec") or {})

    def _revisions_of(self, ns: str, configuration: str, also: str) -> list[Obj]:
        """The stored Revisions labelled with ``configuration``, by name, as a label-selected
        list would give them. Which ones to read comes from the index (plus ``also``, which
        this reconcile may have just created); each is read from the store and its label
        checked, so only membership can lag behind the store, by the events not yet seen,
        and each of those events enqueues the Configuration again."""
        names = self._cfg_revs.get((ns, configuration), set()) | ({also} if also else set())
        revisions = []
        for rev_name in sorted(names):
            r = self.res.store.get(rkey(self.t_rev), ns, rev_name)
            labels = (r or {}).get("metadata", {}).get("labels") or {}
            if r is not None and labels.get(L_CONFIGURATION) == configuration:
                revisions.append(r)
        return revisions

    def _revision_body(self, cfg: Obj, rev_name: str, gen: int, template: Obj) -> Obj:
        meta = cfg["metadata"]
        tmeta = template.get("metadata") or {}
        clabels = meta.get("labels") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update(
            {
                L_CONFIGURATION: meta["name"],
                L_CONFIGURATION_UID: meta["uid"],
                L_CONFIG_GENERATION: str(gen),
                L_ROUTING_STATE: "pending",
            }
        )
        labels[L_SERVICE] = clabels.get(L_SERVICE, "")
        if clabels.get(L_SERVICE_UID):
            labels[L_SERVICE_UID] = clabels[L_SERVICE_UID]
        annotations = dict(tmeta.get("annotations") or {})
        creator = (meta.get("annotations") or {}).get(A_CREATOR)
        if creator:
            annotations[A_CREATOR] = creator
        annotations[A_ROUTING_STATE_MODIFIED] = now_rfc3339()
        return {
            "apiVersion": self.t_rev.api_version,
            "kind": "Revision",
            "metadata": {
                "name": rev_name,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner_ref(cfg)],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }

    # ------------------------------------------------------------- Revision
    def reconcile_revision(self, ns: str, name: str) -> None:
        rev = self.res.find(self.t_rev, ns, name)
        if rev is None or rev["metadata"].get("deletionTimestamp"):
            return
        rt = self.runtime(rev) if self.runtime else RevisionRuntime(True)
        status: Obj = dict(rev.get("status") or {})
        status["observedGeneration"] = rev["metadata"].get("generation")
        containers = (rev.get("spec") or {}).get("containers") or []
        cstatus = []
        for c in containers:
            if isinstance(c, dict):
                entry: Obj = {"name": c.get("name", "user-container")}
                image = str(c.get("image") or "")
                if "@sha256:" in image:
                    entry["imageDigest"] = image
                cstatus.append(entry)
        status["containerStatuses"] = cstatus
        status["actualReplicas"] = rt.actual_replicas
        status["desiredReplicas"] = rt.desired_replicas
        conds: list[Obj] = []
        if rt.ready is True:
            conds += [
                condition("ResourcesAvailable", "True"),
                condition("ContainerHealthy", "True"),
            ]
        elif rt.ready is False:
            # a container that exited (or could not start): Knative's ExitCode{N}
            if rt.reason == "CrashLoopBackOff" or rt.reason.startswith("ExitCode"):
                conds += [
                    condition("ResourcesAvailable", "True"),
                    condition("ContainerHealthy", "False", rt.reason, rt.message),
                ]
            else:
                conds += [
                    condition("ResourcesAvailable", "False", rt.reason, rt.message),
                    condition("ContainerHealthy", "Unknown", rt.reason, rt.message),
                ]
        else:
            conds += [
                condition("ResourcesAvailable", "Unknown", rt.reason or "Deploying", rt.message),
                condition("ContainerHealthy", "Unknown", rt.reason or "Deploying", rt.message),
            ]
        if rt.actual_replicas > 0 or rt.ready is None:
            conds.append(
                condition("Active", "True")
                if rt.ready
                else condition("Active", "Unknown", "Deploying", "", "Info")
            )
        else:
            conds.append(
                condition(
                    "Active", "False", "NoTraffic", "The target is not receiving traffic.", "Info"
                )
            )
        status["conditions"] = set_conditions(
            rev.get("status") or {}, conds, "Ready", ["ResourcesAvailable", "ContainerHealthy"]
        )
        self._write_status(self.t_rev, rev, dict(sorted(status.items())))
        self.children.revision(rev, rt.desired_replicas)

    # ---------------------------------------------------------------- Route
    def route_names(self, route: Obj) -> RouteNames:
        """The Route's hosts under config-network and config-domain as they are now."""
        return self.network.current().route(route["metadata"])

    def domain_for(self, route: Obj) -> str:
        """The Route's domain from config-domain (``svc.cluster.local`` when local)."""
        return self.route_names(route).domain

    def reconcile_route(self, ns: str, name: str) -> None:
        route = self.res.find(self.t_route, ns, name)
        if route is None or route["metadata"].get("deletionTimestamp"):
            gone = self._route_status.get((ns, name), frozenset())
            self._set_route_status((ns, name), None)
            self._set_route_hosts((ns, name), None)
            self._swept.pop((ns, name), None)
            self._label_revisions(ns, set(gone))
            self._notify()
            return
        names = self.route_names(route)
        status: Obj = dict(route.get("status") or {})
        status["observedGeneration"] = route["metadata"].get("generation")
        problem: Obj | None = None
        try:  # Knative keeps the URL it had when the new one is no domain name
            status["url"] = names.url(name)
        except DomainNameError as err:
            problem = condition("AllTrafficAssigned", "False", "ErrorConfig", str(err))
        status["address"] = {"url": hosts.url(name, ns, CLUSTER_LOCAL_DOMAIN)}
        hostnames = [name]
        traffic: list[Obj] = []
        for t in (route.get("spec") or {}).get("traffic") or []:
            resolved: Obj = {}
            if t.get("tag"):
                resolved["tag"] = t["tag"]
            cfg_name, rev_name = t.get("configurationName"), t.get("revisionName")
            if rev_name:
                rev = self.res.find(self.t_rev, ns, rev_name)
                if rev is None:
                    problem = problem or condition(
                        "AllTrafficAssigned",
                        "False",
                        "RevisionMissing",
                        f'Revision "{rev_name}" referenced in traffic not found.',
                    )
                    continue
                rc = get_condition(rev, "Ready")
                if rc and rc.get("status") == "False":
                    problem = problem or condition(
                        "AllTrafficAssigned",
                        "False",
                        "RevisionMissing",
                        f'Revision "{rev_name}" failed to become ready.',
                    )
                elif not is_ready(rev):
                    problem = problem or condition(
                        "AllTrafficAssigned",
                        "Unknown",
                        "RevisionMissing",
                        f'Revision "{rev_name}" is not yet ready.',
                    )
                resolved["revisionName"] = rev_name
                resolved["latestRevision"] = False
            elif cfg_name:
                cfg = self.res.find(self.t_cfg, ns, cfg_name)
                if cfg is None:
                    problem = problem or condition(
                        "AllTrafficAssigned",
                        "False",
                        "ConfigurationMissing",
                        f'Configuration "{cfg_name}" referenced in traffic not found.',
                    )
                    continue
                ready_name = (cfg.get("status") or {}).get("latestReadyRevisionName")
                if not ready_name:
                    cc = get_condition(cfg, "Ready")
                    if cc and cc.get("status") == "False":
                        problem = problem or condition(
                            "AllTrafficAssigned",
                            "False",
                            "RevisionMissing",
                            f'Configuration "{cfg_name}" does not have any ready Revision.',
                        )
                    else:
                        problem = problem or condition(
                            "AllTrafficAssigned",
                            "Unknown",
                            "RevisionMissing",
                            f'Configuration "{cfg_name}" is waiting for a Revision to become ready.',
                        )
                    continue
                resolved["revisionName"] = ready_name
                resolved["latestRevision"] = True
            if t.get("percent") is not None:
                resolved["percent"] = t["percent"]
            if t.get("tag"):
                try:
                    hostname = names.hostname(t["tag"])
                    resolved["url"] = names.url(hostname)
                    hostnames.append(hostname)
                except DomainNameError as err:
                    problem = problem or condition(
                        "AllTrafficAssigned", "False", "ErrorConfig", str(err)
                    )
            traffic.append(dict(sorted(resolved.items())))
        taken = None
        ingress_ready = False
        if problem is None:
            taken = self._reconcile_placeholders(route, names, hostnames)
            if taken is None:
                ingress_ready = self.children.route(route, traffic, names, hostnames) is not None
        if taken is not None:
            status["traffic"] = traffic
            conds = [
                condition("AllTrafficAssigned", "True"),
                condition("IngressReady", "False", "NotOwned", placeholder_not_owned(taken)),
                condition("CertificateProvisioned", "Unknown"),
            ]
        elif problem is None:
            status["traffic"] = traffic
            conds = [
                condition("AllTrafficAssigned", "True"),
                # until its ingress controller has reconciled the Ingress (none does for a
                # class that is not installed), as Knative's MarkIngressNotConfigured
                condition("IngressReady", "True")
                if ingress_ready
                else condition(
                    "IngressReady",
                    "Unknown",
                    "IngressNotConfigured",
                    "Ingress has not yet been reconciled.",
                ),
                condition(
                    "CertificateProvisioned",
                    "True",
                    "TLSNotEnabled",
                    "external-domain-tls is not enabled"
                    if not names.cluster_local
                    else "TLS is not enabled for cluster-local",
                ),
            ]
        else:
            conds = [
                problem,
                condition(
                    "IngressReady",
                    "Unknown",
                    "IngressNotConfigured",
                    "Ingress has not yet been reconciled.",
                ),
                condition("CertificateProvisioned", "Unknown"),
            ]
        status["conditions"] = set_conditions(
            route.get("status") or {},
            conds,
            "Ready",
            ["AllTrafficAssigned", "IngressReady", "CertificateProvisioned"],
        )
        before = self._route_status.get((ns, name), frozenset())
        now = frozenset(
            t["revisionName"] for t in status.get("traffic") or [] if t.get("revisionName")
        )
        self._set_route_status((ns, name), now)
        self._write_status(self.t_route, route, dict(sorted(status.items())))
        cfgs = self._route_spec.get((ns, name), (frozenset(), frozenset()))[0]
        pending = {
            rev
            for cfg in cfgs
            for rev in self._cfg_revs.get((ns, cfg), ())
            if self._revs[(ns, rev)][2] == "pending"
        }
        self._label_revisions(ns, set(before | now) | pending)
        self._notify()

    def _reconcile_placeholders(
        self, route: Obj, names: RouteNames, hostnames: list[str]
    ) -> str | None:
        """Knative's placeholder Services: one Kubernetes Service per hostname the Route
        serves (``{route}``, each tag's), controlled by the Route, so that no two
        Routes serve one host: the first claimant keeps it. Returns the first name another
        owns (the Route is then ``NotOwned``), else deletes the ones it no longer wants."""
        meta = route["metadata"]
        ns, name = meta["namespace"], meta["name"]
        wanted = sorted(set(hostnames))
        self._set_route_hosts((ns, name), frozenset(wanted))
        for host in wanted:
            cur = self.res.find(self.t_k8s_svc, ns, host)
            if cur is None:
                self.res.create(
                    self.t_k8s_svc, ns, self._placeholder(route, host, names), self._opts()
                )
                self.events.record(
                    route,
                    NORMAL,
                    "Created",
                    f'Created placeholder service "{host}"',
                    component="route-controller",
                )
            elif not controlled_by(cur, route):
                return host
        if self._swept.get((ns, name)) == frozenset(wanted):
            return None  # nothing it stopped wanting since the last sweep
        for key, obj in self.res.store.owned_by(meta["uid"]):
            svc_name = obj["metadata"]["name"]
            if key == rkey(self.t_k8s_svc) and svc_name not in wanted and controlled_by(obj, route):
                with contextlib.suppress(E.StatusError):  # gone meanwhile
                    self.res.delete(self.t_k8s_svc, ns, svc_name)
        self._swept[(ns, name)] = frozenset(wanted)
        return None

    def _placeholder(self, route: Obj, host: str, names: RouteNames) -> Obj:
        meta = route["metadata"]
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != VISIBILITY_LABEL}
        labels[L_ROUTE] = meta["name"]
        placeholder: Obj = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": host,
                "namespace": meta["namespace"],
                "labels": labels,
                "ownerReferences": [owner_ref(route)],
            },
            "spec": {
                "type": "ExternalName",
                "externalName": names.host(host),
                "sessionAffinity": "None",
                "ports": [
                    {
                        "name": "http2",
                        "appProtocol": "kubernetes.io/h2c",
                        "port": 80,
                        "targetPort": 80,
                    }
                ],
            },
        }
        if meta.get("annotations"):
            placeholder["metadata"]["annotations"] = dict(meta["annotations"])
        return placeholder

    def _label_revisions(self, ns: str, names: set[str]) -> None:
        """routingState labels: active when a Route sends traffic to it, else reserve."""
        for name in sorted(names):
            info = self._revs.get((ns, name))
            if info is None:
                continue
            routes = sorted(self._serving_routes.get((ns, name), ()))
            state = "active" if routes else "reserve"
            route_names = ",".join(routes)
            if info[2] == state and info[3] == route_names:
                continue
            rev = self.res.find(self.t_rev, ns, name)
            if rev is None:
                continue
            new = copy.deepcopy(rev)
            new["metadata"].setdefault("labels", {})[L_ROUTING_STATE] = state
            nann = new["metadata"].setdefault("annotations", {})
            nann[A_ROUTING_STATE_MODIFIED] = now_rfc3339()
            if route_names:
                nann[A_ROUTES] = route_names
            else:
                nann.pop(A_ROUTES, None)
            self.res.update(self.t_rev, ns, name, new, self._opts())

    def _notify(self) -> None:
        for cb in self.on_routes_changed:
            cb()


def placeholder_not_owned(name: str) -> str:
    """Knative's Route message when another owns a placeholder Service it needs."""
    return f'There is an existing placeholder Service "{name}" that we do not own.'
