"""Pods for Deployments: the replicas a Deployment asks for, as ``kubectl get pods`` shows.

The sandbox runs no container images (only the helloworld sample, as Revision
processes: :mod:`kn_walk.sandbox.pods`), so a Deployment is reported Available
as soon as it is accepted (:mod:`kn_walk.sandbox.builtin`). This controller
gives it the Pods that claim implies: ``spec.replicas`` Pods named
``{deployment}-{pod-template-hash}-{suffix}`` with the template's labels and
spec, owned by the Deployment, ``Running`` and ready. A new template replaces
them (new hash), a new replica count adds or removes some, a Pod deleted by
hand is replaced, and deleting the Deployment deletes them (the owner cascade). Each carries the annotation
``sandbox.knwalk.dev/simulated`` saying that no process stands behind it.

On a cluster the owner would be a ReplicaSet; the sandbox has no ReplicaSet
kind, so the Deployment owns its Pods directly. Deployments that Knative would
create for Revisions do not exist in the sandbox: Revision Pods come from
:mod:`kn_walk.sandbox.pods`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import zlib
from typing import Any

from kn_walk.sandbox import apierrors as E
from kn_walk.sandbox.pods import (
    L_POD_TEMPLATE_HASH,
    NODE_NAME,
    encode,
    loopback_addresses,
    pod_conditions,
    random_suffix,
)
from kn_walk.sandbox.registry import ResourceType
from kn_walk.sandbox.resources import Resources, WriteOptions, now_rfc3339, rkey
from kn_walk.sandbox.serving import owner_ref
from kn_walk.sandbox.store import Event, Obj

log = logging.getLogger(__name__)

A_SIMULATED = "sandbox.knwalk.dev/simulated"
SIMULATED = "the sandbox runs no container images; this Pod stands for a replica of the Deployment"


def template_hash(template: Any) -> str:
    """A ``pod-template-hash`` that changes whenever the pod template does."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return encode(zlib.crc32(text.encode()) * 2654435761 + len(text), 10)


def _replicas(deployment: Obj) -> int:
    value = (deployment.get("spec") or {}).get("replicas", 1)
    return value if isinstance(value, int) and value >= 0 else 1


class DeploymentPods:
    """Keeps each Deployment's Pods at its replica count and template."""

    def __init__(self, resources: Resources) -> None:
        self.res = resources
        reg = resources.registry
        deployments = reg.get("apps", "v1", "deployments")
        pods = reg.get("", "v1", "pods")
        assert deployments is not None and pods is not None
        self.t_deploy: ResourceType = deployments
        self.t_pod: ResourceType = pods
        self._task: asyncio.Task[None] | None = None

    def _opts(self, subresource: str = "") -> WriteOptions:
        return WriteOptions(
            manager="kube-controller-manager",
            field_validation="Ignore",
            subresource=subresource,
            user="system:serviceaccount:kube-system:replicaset-controller",
        )

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        deploy_key, pod_key = rkey(self.t_deploy), rkey(self.t_pod)

        def interesting(ev: Event) -> bool:
            return ev.rkey == deploy_key or (ev.rkey == pod_key and ev.type == "DELETED")

        while True:  # a watcher closed on overflow is replaced, after a full resync
            watcher = self.res.store.subscribe(interesting)
            try:
                self.resync()
                while True:
                    ev = await watcher.queue.get()
                    if ev is None:
                        break
                    self._on_event(ev)
            finally:
                self.res.store.unsubscribe(watcher)

    def resync(self) -> None:
        """Reconcile every Deployment, and remove simulated Pods whose owner is gone."""
        uids: set[Any] = set()
        for deployment in self.res.store.list_objects(rkey(self.t_deploy)):
            if deployment["metadata"].get("uid"):
                uids.add(deployment["metadata"]["uid"])
            self._guard(deployment)
        for pod in self.res.store.list_objects(rkey(self.t_pod)):
            meta = pod["metadata"]
            refs = meta.get("ownerReferences") or []
            owners = {r.get("uid") for r in refs if isinstance(r, dict) and r.get("uid")}
            if A_SIMULATED in (meta.get("annotations") or {}) and not owners & uids:
                self._delete(meta["namespace"], meta["name"])

    def _on_event(self, ev: Event) -> None:
        if ev.rkey == rkey(self.t_pod):  # a Pod deleted by hand: its Deployment makes another
            meta = ev.obj.get("metadata") or {}
            if A_SIMULATED not in (meta.get("annotations") or {}):
                return
            for ref in meta.get("ownerReferences") or []:
                if isinstance(ref, dict) and ref.get("kind") == "Deployment":
                    owner = self.res.find(self.t_deploy, ev.namespace, str(ref.get("name")))
                    if owner is not None and owner["metadata"].get("uid") == ref.get("uid"):
                        self._guard(owner)
        elif ev.type != "DELETED":  # a Deployment deleted: the owner cascade removes the Pods
            self._guard(ev.obj)

    def _guard(self, deployment: Obj) -> None:
        try:
            self.reconcile(deployment)
        except Exception:  # one bad Deployment must not stop the others
            meta = deployment.get("metadata") or {}
            log.exception("pods of deployment %s/%s", meta.get("namespace"), meta.get("name"))

    def reconcile(self, deployment: Obj) -> None:
        meta = deployment["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
        if meta.get("deletionTimestamp"):
            return
        current = self.res.find(self.t_deploy, ns, name)
        if current is None or current["metadata"].get("uid") != uid:
            return  # an old event: the Deployment is gone or was replaced
        template = (current.get("spec") or {}).get("template") or {}
        wanted_hash = template_hash(template)
        pod_key = rkey(self.t_pod)
        pods = [p for key, p in self.res.store.owned_by(uid) if key == pod_key]
        keep = []
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if labels.get(L_POD_TEMPLATE_HASH) == wanted_hash:
                keep.append(pod)
            else:
                self._delete(ns, pod["metadata"]["name"])
        replicas = _replicas(current)
        for pod in sorted(keep, key=lambda p: p["metadata"]["name"])[replicas:]:
            self._delete(ns, pod["metadata"]["name"])
        for _ in range(replicas - len(keep)):
            self._create(current, template, wanted_hash)

    def _delete(self, namespace: str, name: str) -> None:
        with contextlib.suppress(E.StatusError):
            self.res.delete(self.t_pod, namespace, name)

    def _create(self, deployment: Obj, template: Obj, hash_: str) -> None:
        meta = deployment["metadata"]
        tmeta = template.get("metadata") or {}
        spec = copy.deepcopy(template.get("spec") or {})
        spec.setdefault("nodeName", NODE_NAME)
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        labels = dict(tmeta.get("labels") or {})
        labels[L_POD_TEMPLATE_HASH] = hash_
        annotations = dict(tmeta.get("annotations") or {})
        annotations[A_SIMULATED] = SIMULATED
        suffix = random_suffix()
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{hash_}-{suffix}",
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner_ref(deployment)],
            },
            "spec": spec,
        }
        try:
            pod = self.res.create(self.t_pod, meta["namespace"], body, self._opts())
            pod["status"] = _running_status(pod)
            self.res.update(
                self.t_pod, meta["namespace"], pod["metadata"]["name"], pod, self._opts("status")
            )
        except E.StatusError as err:  # e.g. the namespace is terminating
            log.warning("cannot create a pod for %s/%s: %s", meta["namespace"], meta["name"], err)


def _running_status(pod: Obj) -> Obj:
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
