"""Deployments, as kube-controller-manager's deployment controller rolls them out.

Each template a Deployment has had is a ReplicaSet named
``{deployment}-{pod-template-hash}``, owned by the Deployment (``controller:
true``), with the template's labels plus ``pod-template-hash`` (on the
ReplicaSet, its selector and its template, so on its Pods), and the annotations
``deployment.kubernetes.io/revision``, ``…/desired-replicas`` and
``…/max-replicas`` (replicas + maxSurge). A new template gets a new ReplicaSet
with the next revision, scaled to ``spec.replicas`` while the others are scaled
to 0 and kept, ``revisionHistoryLimit`` of them (default 10), for ``kubectl
rollout history`` and ``undo``; going back to an earlier template reuses its
ReplicaSet, which takes the next revision (the ones it had are kept in
``…/revision-history``). The Deployment carries the revision of its current
ReplicaSet, and a status as the controller computes it from its ReplicaSets:
``observedGeneration``, ``replicas``, ``updatedReplicas``, ``readyReplicas``,
``availableReplicas``, ``unavailableReplicas`` and the ``Available`` and
``Progressing`` conditions (``NewReplicaSetCreated``, ``FoundNewReplicaSet``,
``ReplicaSetUpdated``, ``NewReplicaSetAvailable``, ``DeploymentPaused`` /
``DeploymentResumed``), so ``kubectl rollout status`` finishes. ``ScalingReplicaSet``
Events say what was scaled. A paused Deployment starts no rollout.

The ReplicaSets' Pods come from :mod:`kn_walk.sandbox.node.replicasets`; since the
sandbox runs no container images they are simulated, ready at once, so a
rollout completes as soon as the ReplicaSets are scaled.

``pod-template-hash`` and the template comparison are
:mod:`kn_walk.sandbox.machinery.podtemplate`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import re
from typing import Any

from kn_walk.sandbox.knative.serving import owner_ref
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.podtemplate import L_POD_TEMPLATE_HASH, same_template, template_hash
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.node.pods import A_MANAGED, A_SIMULATED, NotRunPods
from kn_walk.sandbox.node.replicasets import (
    Controller,
    ReplicaSetController,
    ReplicationControllerController,
    claim,
    replicas_of,
    try_update,
)
from kn_walk.sandbox.registry.events import NORMAL, EventRecorder
from kn_walk.sandbox.registry.resources import Resources, now_rfc3339, rkey
from kn_walk.sandbox.registry.store import Event, Obj, Watcher

log = logging.getLogger(__name__)

A_REVISION = "deployment.kubernetes.io/revision"
#: store events the controllers take in one turn of the event loop
EVENTS_PER_TURN = 256
A_REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
A_DESIRED = "deployment.kubernetes.io/desired-replicas"
A_MAX = "deployment.kubernetes.io/max-replicas"
#: annotations a Deployment does not hand on to its ReplicaSets (skipCopyAnnotation)
_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        A_REVISION,
        A_REVISION_HISTORY,
        A_DESIRED,
        A_MAX,
        "deprecated.deployment.rollback.to",
    }
)
#: the longest revision-history annotation the controller keeps
_HISTORY_CHARS = 2000
COMPONENT = "deployment-controller"
_PERCENT = re.compile(r"^([0-9]+)%$")


def _scaled(value: Any, total: int, round_up: bool) -> int:
    """An intstr (``3`` or ``"25%"``) scaled against ``total``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _PERCENT.match(str(value)) if value is not None else None
    if not match:
        return 0
    exact = int(match.group(1)) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    """maxSurge and maxUnavailable as numbers of Pods (ResolveFenceposts)."""
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    replicas = replicas_of(deployment)
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def revision_of(obj: Obj) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(A_REVISION, "")
    try:
        return int(value)
    except ValueError:
        return 0


def _condition(status: Obj, kind: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str) -> None:
    """SetDeploymentCondition: a condition with the same status and reason is left as it
    is; one whose status did not change keeps its lastTransitionTime."""
    current = _condition(status, kind)
    if current is not None and (current.get("status"), current.get("reason")) == (value, reason):
        return
    now = now_rfc3339()
    cond = {
        "type": kind,
        "status": value,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
    if current is not None and current.get("status") == value:
        cond["lastTransitionTime"] = current.get("lastTransitionTime", now)
    conditions = [c for c in status.get("conditions") or [] if c is not current]
    status["conditions"] = [*conditions, cond]


class DeploymentController(Controller):
    """Rolls each Deployment out to ReplicaSets and reports its status."""

    component = COMPONENT

    def __init__(self, resources: Resources, events: EventRecorder) -> None:
        super().__init__(resources, events)
        self.rt = self._type("apps", "deployments")
        self.t_rs = self._type("apps", "replicasets")

    def owner_of(self, rs: Obj) -> Obj | None:
        """The Deployment controlling ``rs``, if it exists."""
        for ref in (rs.get("metadata") or {}).get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("controller") and ref.get("kind") == "Deployment":
                ns = rs["metadata"].get("namespace", "")
                owner = self.res.find(self.rt, ns, str(ref.get("name")))
                if owner is not None and owner["metadata"].get("uid") == ref.get("uid"):
                    return owner
        return None

    def reconcile(self, deployment: Obj) -> None:
        meta = deployment["metadata"]
        ns = meta["namespace"]
        d = self.res.find(self.rt, ns, meta["name"])
        if d is None or d["metadata"].get("uid") != meta.get("uid"):
            return  # an old event: the Deployment is gone or was replaced
        if d["metadata"].get("deletionTimestamp"):
            return  # the garbage collector takes its ReplicaSets
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        all_rs = [
            rs
            for rs in claim(self.res, self.t_rs, d, self._opts())
            if not rs["metadata"].get("deletionTimestamp")
        ]
        all_rs.sort(
            key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"])
        )
        new_rs = next(
            (
                rs
                for rs in all_rs
                if same_template((rs.get("spec") or {}).get("template"), template)
            ),
            None,
        )
        old = [rs for rs in all_rs if rs is not new_rs]
        paused = bool(spec.get("paused"))
        status = copy.deepcopy(d.get("status") or {})
        next_revision = max([revision_of(rs) for rs in old] or [0]) + 1
        if new_rs is not None:
            new_rs = self._update_new(d, new_rs, next_revision, status)
        elif not paused:
            new_rs = self._create_new(d, template, next_revision, status)
            if new_rs is None:
                return
        replicas = replicas_of(d)
        if not paused:
            if new_rs is not None:
                new_rs = self._scale(d, new_rs, replicas)
            old = [self._scale(d, rs, 0) for rs in old]
            old = self._clean_up(d, old)
        else:
            active = [rs for rs in [*old, new_rs] if rs is not None and replicas_of(rs) > 0]
            if len(active) == 1:  # a paused Deployment is still scaled
                scaled = self._scale(d, active[0], replicas)
                new_rs = scaled if active[0] is new_rs else new_rs
                old = [scaled if rs is active[0] else rs for rs in old]
        if new_rs is not None:
            d = self._set_revision(d, str(revision_of(new_rs)))
        self._write_status(d, new_rs, [*old, *([new_rs] if new_rs else [])], status)

    # ------------------------------------------------------------- ReplicaSets

    def _rs_annotations(self, d: Obj, rs: Obj, revision: int) -> dict[str, str]:
        """SetNewReplicaSetAnnotations: the Deployment's annotations, and the revision
        (an earlier one moves to the revision history)."""
        annotations = dict(rs["metadata"].get("annotations") or {})
        for k, v in (d["metadata"].get("annotations") or {}).items():
            if k not in _NOT_COPIED:
                annotations[k] = v
        had = annotations.get(A_REVISION)
        if revision_of(rs) < revision:
            annotations[A_REVISION] = str(revision)
            if had:
                history = [h for h in annotations.get(A_REVISION_HISTORY, "").split(",") if h]
                history.append(had)
                while history and len(",".join(history)) > _HISTORY_CHARS:
                    history.pop(0)
                annotations[A_REVISION_HISTORY] = ",".join(history)
        return annotations

    def _create_new(self, d: Obj, template: Obj, revision: int, status: Obj) -> Obj | None:
        meta = d["metadata"]
        ns = meta["namespace"]
        replicas = replicas_of(d)
        surge, _ = surge_and_unavailable(d)
        for _ in range(10):  # a name taken by another ReplicaSet: collisionCount goes up
            collisions = status.get("collisionCount")
            hash_ = template_hash(template, collisions)
            name = f"{meta['name']}-{hash_}"
            rs_template = copy.deepcopy(template)
            tmeta = rs_template.setdefault("metadata", {})
            tmeta["labels"] = {**(tmeta.get("labels") or {}), L_POD_TEMPLATE_HASH: hash_}
            selector = copy.deepcopy((d.get("spec") or {}).get("selector") or {})
            selector["matchLabels"] = {
                **(selector.get("matchLabels") or {}),
                L_POD_TEMPLATE_HASH: hash_,
            }
            rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": rs_template}
            if (d.get("spec") or {}).get("minReadySeconds"):
                rs_spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
            body: Obj = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": dict(tmeta["labels"]),
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": rs_spec,
            }
            body["metadata"]["annotations"] = {
                **self._rs_annotations(d, body, revision),
                A_DESIRED: str(replicas),
                A_MAX: str(replicas + surge),
            }
            try:
                created = self.res.create(self.t_rs, ns, body, self._opts())
            except E.StatusError as err:
                if err.code != 409:
                    log.warning("cannot create replicaset %s/%s: %s", ns, name, err.message)
                    return None
                taken = self.res.find(self.t_rs, ns, name)
                if taken is not None and same_template(
                    (taken.get("spec") or {}).get("template"), template
                ):
                    return None  # ours after all (adopted next time round)
                status["collisionCount"] = int(collisions or 0) + 1
                continue
            if replicas:
                self.events.record(
                    d,
                    NORMAL,
                    "ScalingReplicaSet",
                    f"Scaled up replica set {name} from 0 to {replicas}",
                    component=COMPONENT,
                )
            set_condition(
                status,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{name}"',
            )
            return created
        return None

    def _update_new(self, d: Obj, rs: Obj, revision: int, status: Obj) -> Obj:
        annotations = self._rs_annotations(d, rs, revision)
        min_ready = (d.get("spec") or {}).get("minReadySeconds")
        new = copy.deepcopy(rs)
        new["metadata"]["annotations"] = annotations
        if min_ready != (rs.get("spec") or {}).get("minReadySeconds"):
            if min_ready:
                new["spec"]["minReadySeconds"] = min_ready
            else:
                new["spec"].pop("minReadySeconds", None)
        if _condition(status, "Progressing") is None:
            set_condition(
                status,
                "Progressing",
                "True",
                "FoundNewReplicaSet",
                f'Found new replica set "{rs["metadata"]["name"]}"',
            )
        return self._write_rs(new, rs)

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        """scaleReplicaSet: the count, and the replica annotations with it."""
        surge, _ = surge_and_unavailable(d)
        wanted = replicas_of(d)
        before = replicas_of(rs)
        annotations = rs["metadata"].get("annotations") or {}
        fresh = (annotations.get(A_DESIRED), annotations.get(A_MAX)) == (
            str(wanted),
            str(wanted + surge),
        )
        if before == replicas and fresh:
            return rs
        new = copy.deepcopy(rs)
        new.setdefault("spec", {})["replicas"] = replicas
        new["metadata"]["annotations"] = {
            **annotations,
            A_DESIRED: str(wanted),
            A_MAX: str(wanted + surge),
        }
        written = self._write_rs(new, rs)
        if before != replicas and written is not rs:
            verb = "up" if replicas > before else "down"
            self.events.record(
                d,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {verb} replica set {rs['metadata']['name']} from {before} to {replicas}",
                component=COMPONENT,
            )
        return written

    def _write_rs(self, new: Obj, old: Obj) -> Obj:
        if new == old:
            return old
        return try_update(self.res, self.t_rs, new, self._opts()) or old

    def _clean_up(self, d: Obj, old: list[Obj]) -> list[Obj]:
        """Delete the oldest scaled-down ReplicaSets past ``revisionHistoryLimit``."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool):
            return old
        idle = [
            rs
            for rs in old
            if replicas_of(rs) == 0 and not (rs.get("status") or {}).get("replicas")
        ]
        idle.sort(key=lambda rs: (revision_of(rs), rs["metadata"].get("creationTimestamp", "")))
        gone = idle[: max(0, len(idle) - max(0, limit))]
        for rs in gone:
            with contextlib.suppress(E.StatusError):
                self.res.delete(self.t_rs, rs["metadata"]["namespace"], rs["metadata"]["name"])
        return [rs for rs in old if all(rs is not g for g in gone)]

    # -------------------------------------------------------------- Deployment

    def _set_revision(self, d: Obj, revision: str) -> Obj:
        annotations = d["metadata"].get("annotations") or {}
        if annotations.get(A_REVISION) == revision:
            return d
        new = copy.deepcopy(d)
        new["metadata"]["annotations"] = {**annotations, A_REVISION: revision}
        return try_update(self.res, self.rt, new, self._opts()) or d

    def _write_status(self, d: Obj, new_rs: Obj | None, all_rs: list[Obj], status: Obj) -> None:
        """calculateStatus and syncRolloutStatus, from what the ReplicaSets report."""
        spec = d.get("spec") or {}
        replicas = replicas_of(d)
        _, unavailable_allowed = surge_and_unavailable(d)

        def total(field: str, sets: list[Obj]) -> int:
            return sum(int((rs.get("status") or {}).get(field) or 0) for rs in sets)

        available = total("availableReplicas", all_rs)
        counts = {
            "replicas": total("replicas", all_rs),
            "updatedReplicas": total("replicas", [new_rs] if new_rs else []),
            "readyReplicas": total("readyReplicas", all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total("replicas", all_rs) - available),
        }
        # Go's omitempty leaves out the counts that are 0
        out: Obj = {"observedGeneration": d["metadata"].get("generation", 1)}
        out.update({k: v for k, v in counts.items() if v})
        if status.get("collisionCount") is not None:
            out["collisionCount"] = status["collisionCount"]
        out["conditions"] = copy.deepcopy(status.get("conditions") or [])
        if available >= replicas - unavailable_allowed:
            set_condition(
                out,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            set_condition(
                out,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        progressing = _condition(out, "Progressing")
        if spec.get("paused"):
            if progressing is None or progressing.get("reason") != "DeploymentPaused":
                set_condition(
                    out, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
                )
        elif progressing is not None and progressing.get("reason") == "DeploymentPaused":
            set_condition(
                out, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed"
            )
        elif new_rs is not None:
            name = new_rs["metadata"]["name"]
            complete = (
                counts["updatedReplicas"] == replicas
                and counts["replicas"] == replicas
                and available == replicas
            )
            if complete:
                set_condition(
                    out,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{name}" has successfully progressed.',
                )
            elif progressing is None or progressing.get("reason") not in (
                "NewReplicaSetCreated",
                "FoundNewReplicaSet",
            ):
                set_condition(
                    out,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{name}" is progressing.',
                )
        if not out["conditions"]:
            del out["conditions"]
        if out == d.get("status"):
            return
        new = copy.deepcopy(d)
        new["status"] = out
        try_update(self.res, self.rt, new, self._opts("status"))


class DeploymentPods:
    """Runs, on the store's event stream, what stands in for the workloads the sandbox
    does not run: the deployment and replicaset controllers, and the scheduler's and
    kubelet's answer for the other Pods (:class:`kn_walk.sandbox.node.pods.NotRunPods`)."""

    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self.events = EventRecorder(resources)
        self.deployments = DeploymentController(resources, self.events)
        self.replicasets = ReplicaSetController(resources, self.events)
        self.replication = ReplicationControllerController(resources, self.events)
        self.not_run = NotRunPods(resources, self.events)
        pods = resources.registry.get("", "v1", "pods")
        assert pods is not None
        self.t_pod: ResourceType = pods
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # subscribed first: the Pods the resync makes bring their ReplicaSets back
        watcher = self.res.store.subscribe(self._interesting)
        self.resync()  # before the API answers: every Deployment has its status
        self._task = asyncio.get_running_loop().create_task(self._run(watcher))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _interesting(self, ev: Event) -> bool:
        return ev.rkey in (
            rkey(self.deployments.rt),
            rkey(self.replicasets.rt),
            rkey(self.replication.rt),
            rkey(self.t_pod),
        )

    async def _run(self, watcher: Watcher) -> None:
        while True:  # a watcher closed on overflow is replaced, after a full resync
            try:
                closed = False
                while not closed:
                    ev = await watcher.queue.get()
                    if ev is None:
                        break
                    # what arrived meanwhile is one turn: each object it touches is
                    # reconciled once (a workqueue's de-duplication), not once per event
                    batch = [ev]
                    while len(batch) < EVENTS_PER_TURN:
                        try:
                            more = watcher.queue.get_nowait()
                        except asyncio.QueueEmpty:
                            break
                        if more is None:
                            closed = True
                            break
                        batch.append(more)
                    self._on_events(batch)
                    # a turn is bounded; the API and the gateway answer between turns
                    await asyncio.sleep(0)
            finally:
                self.res.store.unsubscribe(watcher)
            watcher = self.res.store.subscribe(self._interesting)
            self.resync()

    def resync(self) -> None:
        """Reconcile every ReplicaSet and Deployment; remove what lost its owner."""
        for deployment in self.res.store.list_objects(rkey(self.deployments.rt)):
            self.deployments.guard(deployment)
        self.replicasets.resync()
        self.replication.resync()
        for deployment in self.res.store.list_objects(rkey(self.deployments.rt)):
            self.deployments.guard(deployment)
        self.not_run.resync()

    def _on_events(self, batch: list[Event]) -> None:
        replicasets: dict[Any, Obj] = {}
        replication: dict[Any, Obj] = {}
        deployments: dict[Any, Obj] = {}

        def later(into: dict[Any, Obj], obj: Obj) -> None:
            into[obj["metadata"].get("uid")] = obj

        for ev in batch:
            if ev.rkey == rkey(self.t_pod) and ev.type == "ADDED":
                self.not_run.observe(ev.obj)
            elif ev.rkey == rkey(self.t_pod):
                # a Pod changed (its ReplicaSet counts it again) or was deleted by hand (its
                # ReplicaSet makes another)
                annotations = (ev.obj.get("metadata") or {}).get("annotations") or {}
                if A_SIMULATED in annotations or A_MANAGED in annotations:
                    for controller, into in (
                        (self.replicasets, replicasets),
                        (self.replication, replication),
                    ):
                        owner = controller.owner_of_pod(ev.obj)
                        if owner is not None:
                            later(into, owner)
            elif ev.rkey == rkey(self.replication.rt):
                if ev.type != "DELETED":
                    later(replication, ev.obj)
            elif ev.rkey == rkey(self.replicasets.rt):
                if ev.type != "DELETED":
                    later(replicasets, ev.obj)
                owner = self.deployments.owner_of(ev.obj)
                if owner is not None:
                    later(deployments, owner)
            elif ev.type != "DELETED":
                later(deployments, ev.obj)
        for rs in replicasets.values():
            self.replicasets.guard(rs)
        for rc in replication.values():
            self.replication.guard(rc)
        for deployment in deployments.values():
            self.deployments.guard(deployment)
