"""ReplicaSets and ReplicationControllers: the Pods each asks for, as kube-controller-manager's
replicaset and replication controllers keep them.

A ReplicaSet (one a Deployment made, :mod:`kn_walk.sandbox.node.deployments`, or one a
user applied) gets ``spec.replicas`` Pods named ``{replicaset}-{5 random}`` with
its template's labels (``pod-template-hash`` included) and spec, owned by it
(``controller: true``, ``blockOwnerDeletion: true``). A Pod deleted by hand is
replaced, a new replica count adds or removes some (the newest go first), an
orphan Pod its selector matches is adopted, and its status counts them
(``replicas``, ``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``,
``observedGeneration``). Events as the controller records them:
``SuccessfulCreate`` ("Created pod: …") and ``SuccessfulDelete``.

A ReplicationController is kept the same way (kube's replication controller is the
replicaset controller run on them): its selector is a plain label map, its Pods are
owned by it and its Events come from ``replication-controller``.

The sandbox runs no container images (only the helloworld sample, as Revision
processes: :mod:`kn_walk.sandbox.node.pods`), so these Pods are ``Running`` and ready
at once and carry the annotation ``sandbox.knwalk.dev/simulated`` saying that no
process stands behind them. ``minReadySeconds`` is not waited for: a ready Pod
counts as available at once.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from typing import Any

from kn_walk.knative_rules.labels import GROUP_PREFIX
from kn_walk.sandbox.knative.serving import owner_ref
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.machinery.selectors import (
    parse_label_selector,
    selector_text,
    workload_selector,
)
from kn_walk.sandbox.node.pods import (
    A_SIMULATED,
    loopback_addresses,
    pod_conditions,
    random_suffix,
)
from kn_walk.sandbox.registry.events import NODE_NAME, NORMAL, EventRecorder
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, now_rfc3339, rkey
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)

SIMULATED = "the sandbox runs no container images; this Pod stands for a replica of the {kind}"
COMPONENT = "replicaset-controller"
#: Pods one sync of a ReplicaSet makes or deletes (kube-controller-manager's burstReplicas is
#: 500; a sandbox write costs more, and a sync holds the event loop)
BURST_REPLICAS = 50


def controller_opts(user: str, subresource: str = "") -> WriteOptions:
    """How kube-controller-manager's controllers write."""
    return WriteOptions(
        manager="kube-controller-manager",
        field_validation="Ignore",
        subresource=subresource,
        user=f"system:serviceaccount:kube-system:{user}",
    )


def try_update(res: Resources, rt: ResourceType, new: Obj, opts: WriteOptions) -> Obj | None:
    """Write ``new``; None when it changed meanwhile (the event that says so brings the
    controller back to it)."""
    meta = new["metadata"]
    try:
        return res.update(rt, meta["namespace"], meta["name"], new, opts)
    except E.StatusError as err:
        log.debug("%s %s/%s: %s", rt.kind, meta["namespace"], meta["name"], err.message)
        return None


class Controller:
    """What kube-controller-manager's controllers share here: the store, an Event
    recorder, and how they write (as their service account)."""

    component = ""
    #: the kind this controller reconciles (set by each controller)
    rt: ResourceType

    def __init__(self, resources: Resources, events: EventRecorder) -> None:
        self.res = resources
        self.events = events

    def reconcile(self, obj: Obj) -> None:
        raise NotImplementedError

    def guard(self, obj: Obj) -> None:
        """Reconcile ``obj``; an error is logged, so one bad object does not stop the others."""
        try:
            self.reconcile(obj)
        except Exception:
            meta = obj.get("metadata") or {}
            log.exception("%s %s/%s", self.rt.kind, meta.get("namespace"), meta.get("name"))

    def _type(self, group: str, plural: str) -> ResourceType:
        rt = self.res.registry.get(group, "v1", plural)
        assert rt is not None
        return rt

    def _opts(self, subresource: str = "") -> WriteOptions:
        return controller_opts(self.component, subresource)


def replicas_of(obj: Obj) -> int:
    """``spec.replicas``, 1 when unset (the API's default)."""
    value = (obj.get("spec") or {}).get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 1


def selects(selector: Any, labels: Any) -> bool:
    """Whether a LabelSelector selects ``labels``; an empty (or bad) one selects nothing,
    as controllers treat it."""
    text = selector_text(selector)
    if not text or not isinstance(labels, dict):
        return False
    try:
        terms = parse_label_selector(text)
    except E.StatusError:
        return False
    return all(t.matches(labels) for t in terms)


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def claim(res: Resources, rt: ResourceType, owner: Obj, opts: WriteOptions) -> list[Obj]:
    """The objects of ``rt`` that ``owner`` controls, after adopting the orphans its
    selector matches (a controller's ClaimPods / ClaimReplicaSets)."""
    meta = owner["metadata"]
    uid = meta.get("uid")
    key = rkey(rt)
    owned = []
    for k, obj in res.store.owned_by(str(uid)):
        ref = controller_of(obj) if k == key else None
        if ref is not None and ref.get("uid") == uid:
            owned.append(obj)
    selector = workload_selector(owner)
    candidates, _, _, _ = res.list_objects(rt, meta["namespace"], label_sel=selector_text(selector))
    for obj in candidates:
        ometa = obj["metadata"]
        if controller_of(obj) is not None or ometa.get("deletionTimestamp"):
            continue
        if not selects(selector, ometa.get("labels")):
            continue
        adopted = copy.deepcopy(obj)
        adopted["metadata"].setdefault("ownerReferences", []).append(owner_ref(owner))
        try:
            owned.append(res.update(rt, meta["namespace"], ometa["name"], adopted, opts))
        except E.StatusError as err:
            log.warning("cannot adopt %s %s: %s", rt.kind, ometa["name"], err.message)
    return owned


class ReplicaSetController(Controller):
    """Keeps each ReplicaSet's Pods at its replica count, and its status current."""

    component = COMPONENT
    group, plural = "apps", "replicasets"

    def __init__(self, resources: Resources, events: EventRecorder) -> None:
        super().__init__(resources, events)
        self.rt = self._type(self.group, self.plural)
        self.t_pod = self._type("", "pods")
        #: told of each ReplicaSet of a Revision's Deployment (its Pods are made elsewhere)
        self.revision_replicaset: Callable[[Obj], None] | None = None

    def resync(self) -> None:
        """Reconcile every ReplicaSet; delete simulated Pods whose owner of this kind is gone."""
        uids: set[Any] = set()
        for rs in self.res.store.list_objects(rkey(self.rt)):
            uids.add(rs["metadata"].get("uid"))
            self.guard(rs)
        for pod in self.res.store.list_objects(rkey(self.t_pod)):
            meta = pod["metadata"]
            ref = controller_of(pod)
            if A_SIMULATED in (meta.get("annotations") or {}) and (
                ref is None or (ref.get("kind") == self.rt.kind and ref.get("uid") not in uids)
            ):
                with contextlib.suppress(E.StatusError):
                    self.res.delete(self.t_pod, meta["namespace"], meta["name"])

    def owner_of_pod(self, pod: Obj) -> Obj | None:
        """The ReplicaSet (or ReplicationController) controlling ``pod``, if it exists."""
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != self.rt.kind:
            return None
        ns = (pod.get("metadata") or {}).get("namespace", "")
        rs = self.res.find(self.rt, ns, str(ref.get("name")))
        return rs if rs is not None and rs["metadata"].get("uid") == ref.get("uid") else None

    def reconcile(self, rs: Obj) -> None:
        meta = rs["metadata"]
        current = self.res.find(self.rt, meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return  # an old event: the ReplicaSet is gone or was replaced
        if current["metadata"].get("deletionTimestamp"):
            return  # the garbage collector takes its Pods
        pods = [
            p
            for p in claim(self.res, self.t_pod, current, self._opts())
            if not p["metadata"].get("deletionTimestamp")
        ]
        if self.pods_of_revision(current):
            self._write_status(current, pods)  # its Pods are the Revision's processes'
            if self.revision_replicaset is not None:
                self.revision_replicaset(current)
            return
        wanted = replicas_of(current)
        pods.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
        # at most BURST_REPLICAS Pods made or deleted per sync, as the replicaset controller
        # does: the events of these bring the ReplicaSet back for the next ones, and the
        # event loop serves the API in between (3000 replicas in one go held it for minutes)
        extra = pods[wanted:][::-1][:BURST_REPLICAS]  # the newest go first
        for pod in extra:
            self._delete(current, pod)
        pods = pods[: len(pods) - len(extra)]
        for _ in range(min(wanted - len(pods), BURST_REPLICAS)):
            made = self._create(current)
            if made is None:
                break
            pods.append(made)
        self._write_status(current, pods)

    def pods_of_revision(self, rs: Obj) -> bool:
        """Whether ``rs`` belongs to a Knative Revision's Deployment: its Pods then stand
        for the Revision's process (:mod:`kn_walk.sandbox.node.pods` makes and removes them as
        the process comes and goes), so none is simulated here; they are only counted."""
        ref = controller_of(rs)
        if ref is None or ref.get("kind") != "Deployment":
            return False
        deployment = self.res.find(
            self._type("apps", "deployments"), rs["metadata"]["namespace"], str(ref.get("name"))
        )
        if deployment is None or deployment["metadata"].get("uid") != ref.get("uid"):
            return False
        owner = controller_of(deployment)
        return bool(
            owner
            and owner.get("kind") == "Revision"
            and str(owner.get("apiVersion", "")).startswith(GROUP_PREFIX)
        )

    def _delete(self, rs: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        try:
            self.res.delete(self.t_pod, rs["metadata"]["namespace"], name)
        except E.StatusError:
            return  # gone already
        self.events.record(
            rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}", component=self.component
        )

    def _create(self, rs: Obj) -> Obj | None:
        meta = rs["metadata"]
        template = (rs.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        spec = copy.deepcopy(template.get("spec") or {})
        spec.setdefault("nodeName", NODE_NAME)
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        annotations = dict(tmeta.get("annotations") or {})
        annotations[A_SIMULATED] = SIMULATED.format(kind=self.rt.kind)
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{random_suffix()}",
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": annotations,
                "ownerReferences": [owner_ref(rs)],
            },
            "spec": spec,
        }
        try:
            pod = self.res.create(self.t_pod, meta["namespace"], body, self._opts())
            pod["status"] = running_status(pod)
            pod = self.res.update(
                self.t_pod, meta["namespace"], pod["metadata"]["name"], pod, self._opts("status")
            )
        except E.StatusError as err:  # e.g. the namespace is terminating
            log.warning("cannot create a pod for %s/%s: %s", meta["namespace"], meta["name"], err)
            self.events.record(
                rs,
                "Warning",
                "FailedCreate",
                f"Error creating: {err.message}",
                component=self.component,
            )
            return None
        self.events.record(
            rs,
            NORMAL,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            component=self.component,
        )
        return pod

    def _write_status(self, rs: Obj, pods: list[Obj]) -> None:
        meta = rs["metadata"]
        labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}
        wanted_labels = labels.get("labels") or {}
        ready = [p for p in pods if _ready(p)]
        counts = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1
                for p in pods
                if all(
                    (p["metadata"].get("labels") or {}).get(k) == v
                    for k, v in wanted_labels.items()
                )
            ),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
        }
        # Go's omitempty: the counts that are 0 are left out, except replicas
        status: Obj = {k: v for k, v in counts.items() if v or k == "replicas"}
        status["observedGeneration"] = meta.get("generation", 1)
        if rs.get("status") == status:
            return
        new = copy.deepcopy(rs)
        new["status"] = status
        try_update(self.res, self.rt, new, self._opts("status"))


class ReplicationControllerController(ReplicaSetController):
    """Keeps each ReplicationController's Pods at its replica count, and its status current."""

    component = "replication-controller"
    group, plural = "", "replicationcontrollers"


def _ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def running_status(pod: Obj) -> Obj:
    """A simulated Pod's status: scheduled, running and ready since now."""
    now = now_rfc3339()
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
    return {
        "phase": "Running",
        "conditions": pod_conditions(True, "", {}, now),
        **loopback_addresses(),
        "startTime": now,
        "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort"),
        "containerStatuses": [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }
