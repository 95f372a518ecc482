"""What Knative Serving v1.23 makes for each Revision besides its Deployment
(:mod:`kn_walk.sandbox.knative.revision_deployment`), with the names, labels, owners and specs
its reconcilers give them, and statuses from the sandbox's own scaling.

* PodAutoscaler ``{revision}``, owned by the Revision (class and metric from its
  annotations or ``config-autoscaler``, as the webhook defaults them), which owns the
  ServerlessService ``{revision}`` and the Metric ``{revision}``
  (``pkg/reconciler/autoscaling``); the ServerlessService owns the public Service
  ``{revision}``, its Endpoints, and the private Service ``{revision}-private`` whose
  selector picks the Revision's Pods (``pkg/reconciler/serverlessservice``);
* Image ``{revision}-cache-user-container`` (``caching.internal.knative.dev``), owned by
  the Revision. No image cache runs in a default installation, so it has no status.

The statuses are the KPA's and the SKS reconciler's rules applied to the sandbox's
own scaling (:class:`kn_walk.sandbox.knative.serving.RevisionRuntime`): desired scale is the
number of processes the sandbox wants, actual scale the ready Pods. The SKS is in
``Serve`` mode only when the Pods can take a burst of ``target-burst-capacity``
requests themselves (Knative's excess burst capacity, with no load measured);
otherwise, and always at zero, ``Proxy``: its public Endpoints are the activator's.
At the default burst capacity of 200 and a target of 100 per Pod, one Pod is not
enough, so a Revision with one Pod is in ``Proxy`` mode, as on a cluster.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from typing import Any

from kn_walk.knative_rules import children as K
from kn_walk.knative_rules.labels import (
    GROUP,
    REVISION_LABEL,
    REVISION_UID_LABEL,
    ROUTING_STATE_LABEL,
)
from kn_walk.sandbox.knative.revision_deployment import (
    AUTOSCALER_MANAGER,
    MANAGER,
    RevisionWorkload,
    annotations_for,
    go_duration_seconds,
    knative_writes,
    make_labels,
    number,
)
from kn_walk.sandbox.knative.serving import condition, controlled_by, owner_ref, set_conditions
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, WriteOptions
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)


class RevisionResources:
    """Makes and keeps what Knative makes for each Revision (see the module docstring)."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.workload = RevisionWorkload(res)
        self.settings = self.workload.settings
        reg = res.registry

        def t(group: str, version: str, plural: str) -> ResourceType:
            rt = reg.get(group, version, plural)
            assert rt is not None, plural
            return rt

        self.t_rev = t(GROUP, "v1", "revisions")
        self.t_pa = t(K.AUTOSCALING_GROUP, "v1alpha1", "podautoscalers")
        self.t_metric = t(K.AUTOSCALING_GROUP, "v1alpha1", "metrics")
        self.t_sks = t(K.NETWORKING_GROUP, "v1alpha1", "serverlessservices")
        self.t_image = t(K.CACHING_GROUP, "v1alpha1", "images")
        self.t_svc = t("", "v1", "services")
        self.t_ep = t("", "v1", "endpoints")
        self.t_pod = t("", "v1", "pods")

    def _opts(self, subresource: str = "", manager: str = MANAGER) -> WriteOptions:
        account = "controller" if manager == MANAGER else "autoscaler"
        return knative_writes(manager, subresource, account)

    # ---------------------------------------------------------------- writes
    def _ensure(
        self, rt: ResourceType, want: Obj, owner: Obj, *, manager: str = MANAGER
    ) -> Obj | None:
        """Create ``want`` or bring the stored one to it; None when another owns the name.

        The reconcilers own the labels and annotations and, of a custom resource, the
        spec; of a Kubernetes Service only the ports and selector (the API server fills
        in the rest), of Endpoints the subsets."""
        meta = want["metadata"]
        ns, name = meta["namespace"], meta["name"]
        current = self.res.find(rt, ns, name)
        try:
            if current is None:
                return self.res.create(rt, ns, want, self._opts(manager=manager))
            if not controlled_by(current, owner):
                return None
            new = copy.deepcopy(current)
            if rt.key == ("", "services"):
                spec = new.setdefault("spec", {})
                for key in ("ports", "selector"):
                    if key in want["spec"]:
                        spec[key] = copy.deepcopy(want["spec"][key])
                    else:
                        spec.pop(key, None)
            else:
                for k, v in want.items():
                    if k not in ("metadata", "status", "apiVersion", "kind"):
                        new[k] = copy.deepcopy(v)
            cmeta = current["metadata"]
            for key in ("labels", "annotations"):
                if meta.get(key) or cmeta.get(key):
                    new["metadata"][key] = copy.deepcopy(meta.get(key) or {})
            if new == current:
                return current
            return self.res.update(rt, ns, name, new, self._opts(manager=manager))
        except E.StatusError as err:
            log.debug("%s %s/%s: %s", rt.kind, ns, name, err.message)
            return None

    def _status(self, rt: ResourceType, obj: Obj, status: Obj, *, manager: str = MANAGER) -> Obj:
        if obj.get("status") == status:
            return obj
        new = copy.deepcopy(obj)
        new["status"] = status
        meta = obj["metadata"]
        try:
            return self.res.update(
                rt, meta["namespace"], meta["name"], new, self._opts("status", manager)
            )
        except E.StatusError as err:
            log.debug("%s %s/%s status: %s", rt.kind, meta["namespace"], meta["name"], err.message)
            return obj

    # ------------------------------------------------------------- reconcile
    def reconcile(self, rev: Obj, desired: int) -> None:
        """Bring the Revision's objects to what Knative would have for ``desired`` replicas
        (the sandbox's scaling)."""
        meta = rev["metadata"]
        if meta.get("deletionTimestamp"):
            return
        self.workload.ensure(rev, desired)
        self._image(rev)
        config = self.settings.autoscaler()
        pa = self._pa(rev, config)
        if pa is None:
            return
        ready = self._ready_pods(rev) if desired > 0 else 0
        total = float((rev.get("spec") or {}).get("containerConcurrency") or 0) or config["target"]
        target_annotation = (pa["metadata"].get("annotations") or {}).get(K.TARGET_ANNOTATION)
        if target_annotation:
            total = number(target_annotation, total)
        tbc = number(
            (pa["metadata"].get("annotations") or {}).get(
                K.TARGET_BURST_CAPACITY_ANNOTATION, config["tbc"]
            ),
            config["tbc"],
        )
        ebc = excess_burst_capacity(ready, total, tbc)
        mode = "Serve" if desired > 0 and ebc >= 0 else "Proxy"
        activators = num_activators(ready, total, tbc, config["activator_capacity"])
        sks = self._sks(pa, mode, activators)
        if sks is None:
            return
        sks = self._sks_children(sks, rev)
        self._metric(pa, config)
        self._pa_status(pa, sks, desired, ready)

    def _image(self, rev: Obj) -> None:
        meta = rev["metadata"]
        spec = rev.get("spec") or {}
        for c in spec.get("containers") or []:
            if not isinstance(c, dict):
                continue
            image_spec: Obj = {"image": c.get("image", "")}
            if spec.get("serviceAccountName"):
                image_spec["serviceAccountName"] = spec["serviceAccountName"]
            if spec.get("imagePullSecrets"):
                image_spec["imagePullSecrets"] = spec["imagePullSecrets"]
            self._ensure(
                self.t_image,
                {
                    "apiVersion": self.t_image.api_version,
                    "kind": "Image",
                    "metadata": {
                        "name": K.image_cache_name(meta["name"], str(c.get("name") or "")),
                        "namespace": meta["namespace"],
                        "labels": make_labels(rev),
                        "annotations": annotations_for(rev, autoscaling=False),
                        "ownerReferences": [owner_ref(rev)],
                    },
                    "spec": image_spec,
                },
                rev,
            )

    def _pa(self, rev: Obj, config: dict[str, Any]) -> Obj | None:
        meta = rev["metadata"]
        annotations = annotations_for(rev, autoscaling=True)
        # the webhook's defaults for a PodAutoscaler (SetDefaults)
        annotations.setdefault(K.CLASS_ANNOTATION, config["class"])
        if K.METRIC_ANNOTATION not in annotations:
            cls = annotations[K.CLASS_ANNOTATION]
            annotations[K.METRIC_ANNOTATION] = (
                K.CONCURRENCY if cls == K.KPA_CLASS else K.CPU if cls == K.HPA_CLASS else ""
            )
        spec: Obj = {
            "containerConcurrency": int((rev.get("spec") or {}).get("containerConcurrency") or 0),
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": K.deployment_name(meta["name"]),
            },
            "protocolType": "http1",
        }
        state = (meta.get("labels") or {}).get(ROUTING_STATE_LABEL)
        reach = {"active": "Reachable", "reserve": "Unreachable"}.get(str(state), "")
        if reach:
            spec["reachability"] = reach
        return self._ensure(
            self.t_pa,
            {
                "apiVersion": self.t_pa.api_version,
                "kind": "PodAutoscaler",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "labels": make_labels(rev),
                    "annotations": annotations,
                    "ownerReferences": [owner_ref(rev)],
                },
                "spec": spec,
            },
            rev,
        )

    def _sks(self, pa: Obj, mode: str, activators: int) -> Obj | None:
        meta = pa["metadata"]
        return self._ensure(
            self.t_sks,
            {
                "apiVersion": self.t_sks.api_version,
                "kind": "ServerlessService",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "labels": dict(meta.get("labels") or {}),
                    "annotations": {
                        k: v
                        for k, v in (meta.get("annotations") or {}).items()
                        if k != K.METRIC_ANNOTATION
                    },
                    "ownerReferences": [owner_ref(pa)],
                },
                "spec": {
                    "mode": mode,
                    "objectRef": dict(pa["spec"]["scaleTargetRef"]),
                    "protocolType": pa["spec"].get("protocolType", "http1"),
                    "numActivators": activators,
                },
            },
            pa,
            manager=AUTOSCALER_MANAGER,
        )

    def _service_meta(self, sks: Obj, name: str, kind: str) -> Obj:
        meta = sks["metadata"]
        labels = dict(meta.get("labels") or {})
        labels[K.SKS_LABEL] = meta["name"]
        labels[K.SERVICE_TYPE_LABEL] = kind
        return {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [owner_ref(sks)],
        }

    def _sks_children(self, sks: Obj, rev: Obj) -> Obj:
        """The SKS reconciler: private Service, public Service and its Endpoints; status."""
        meta = sks["metadata"]
        ns, name = meta["namespace"], meta["name"]
        private = K.private_service_name(name)
        http = {"name": K.SERVICE_PORT_NAME_HTTP1, "protocol": "TCP"}
        https = {
            "name": K.SERVICE_PORT_NAME_HTTPS,
            "protocol": "TCP",
            "port": K.SERVICE_HTTPS_PORT,
            "targetPort": K.QUEUE_HTTPS_PORT,
        }
        self._ensure(
            self.t_svc,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": self._service_meta(sks, private, K.PRIVATE),
                "spec": {
                    "ports": [
                        {**http, "port": K.SERVICE_HTTP_PORT, "targetPort": K.QUEUE_HTTP_PORT},
                        dict(https),
                        {
                            "name": K.AUTOSCALING_METRICS_PORT_NAME,
                            "protocol": "TCP",
                            "port": K.AUTOSCALING_METRICS_PORT,
                            "targetPort": K.AUTOSCALING_METRICS_PORT_NAME,
                        },
                        {
                            "name": K.USER_METRICS_PORT_NAME,
                            "protocol": "TCP",
                            "port": K.USER_METRICS_PORT,
                            "targetPort": K.USER_METRICS_PORT_NAME,
                        },
                        {
                            "name": f"{K.SERVICE_PORT_NAME_HTTP1}-istio",
                            "protocol": "TCP",
                            "port": K.QUEUE_HTTP_PORT,
                            "targetPort": K.QUEUE_HTTP_PORT,
                        },
                    ],
                    "selector": {REVISION_UID_LABEL: rev["metadata"].get("uid", "")},
                },
            },
            sks,
            manager=AUTOSCALER_MANAGER,
        )
        self._ensure(
            self.t_svc,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": self._service_meta(sks, name, K.PUBLIC),
                "spec": {
                    "ports": [
                        {**http, "port": K.SERVICE_HTTP_PORT, "targetPort": K.QUEUE_HTTP_PORT},
                        dict(https),
                    ]
                },
            },
            sks,
            manager=AUTOSCALER_MANAGER,
        )
        private_eps = self.res.find(self.t_ep, ns, private)
        activator_eps = self.res.find(self.t_ep, K.SYSTEM_NAMESPACE, K.ACTIVATOR_SERVICE)
        pvt_ready = ready_addresses(private_eps)
        shared_ready = ready_addresses(activator_eps)
        mode = sks["spec"].get("mode", "Serve")
        if pvt_ready == 0:
            mode = "Proxy"
        if shared_ready == 0:
            mode = "Serve"
        source = private_eps if mode == "Serve" else activator_eps
        subsets = filter_subset_ports(
            subset_endpoints(
                (source or {}).get("subsets") or [],
                name,
                0 if mode == "Serve" else int(sks["spec"].get("numActivators") or 0),
            )
        )
        public_meta = self._service_meta(sks, name, K.PUBLIC)
        endpoints: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": public_meta}
        if subsets:
            endpoints["subsets"] = subsets
        current = self.res.find(self.t_ep, ns, name)
        if current is None:
            self._ensure(self.t_ep, endpoints, sks, manager=AUTOSCALER_MANAGER)
        elif controlled_by(current, sks) and (current.get("subsets") or []) != subsets:
            new = copy.deepcopy(current)
            if subsets:
                new["subsets"] = subsets
            else:
                new.pop("subsets", None)
            with contextlib.suppress(E.StatusError):
                self.res.update(self.t_ep, ns, name, new, self._opts(manager=AUTOSCALER_MANAGER))
        conds = [
            condition("EndpointsPopulated", "True")
            if pvt_ready
            else condition(
                "EndpointsPopulated", "Unknown", "NoHealthyBackends", "K8s Service is not ready"
            ),
            condition(
                "ActivatorEndpointsPopulated",
                "True" if not pvt_ready or sks["spec"].get("mode") == "Proxy" else "False",
                "ActivatorEndpointsPopulated",
                "Revision is backed by Activator",
                "Info",
            ),
        ]
        status: Obj = {
            "observedGeneration": meta.get("generation"),
            "serviceName": name,
            "privateServiceName": private,
            "conditions": set_conditions(
                sks.get("status") or {}, conds, "Ready", ["EndpointsPopulated"]
            ),
        }
        return self._status(self.t_sks, sks, status, manager=AUTOSCALER_MANAGER)

    def _metric(self, pa: Obj, config: dict[str, Any]) -> None:
        meta = pa["metadata"]
        annotations = meta.get("annotations") or {}
        stable = go_duration_seconds(
            annotations.get(K.WINDOW_ANNOTATION, ""), config["stable_window"]
        )
        percentage = number(
            annotations.get(
                K.PANIC_WINDOW_PERCENTAGE_ANNOTATION, config["panic_window_percentage"]
            ),
            config["panic_window_percentage"],
        )
        panic = max(1.0, round(stable * percentage / 100.0))
        metric = self._ensure(
            self.t_metric,
            {
                "apiVersion": self.t_metric.api_version,
                "kind": "Metric",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "labels": dict(meta.get("labels") or {}),
                    "annotations": dict(annotations),
                    "ownerReferences": [owner_ref(pa)],
                },
                "spec": {
                    # time.Duration: nanoseconds
                    "stableWindow": round(stable * 1e9),
                    "panicWindow": round(panic * 1e9),
                    "scrapeTarget": K.private_service_name(meta["name"]),
                },
            },
            pa,
            manager=AUTOSCALER_MANAGER,
        )
        if metric is None:
            return
        status = {
            "observedGeneration": metric["metadata"].get("generation"),
            "conditions": set_conditions(
                metric.get("status") or {}, [condition("Ready", "True")], "Ready", []
            ),
        }
        self._status(self.t_metric, metric, status, manager=AUTOSCALER_MANAGER)

    def _pa_status(
        self,
        pa: Obj,
        sks: Obj,
        desired: int,
        ready: int,
    ) -> None:
        meta = pa["metadata"]
        old = pa.get("status") or {}
        before = {c.get("type"): c for c in old.get("conditions") or [] if isinstance(c, dict)}
        initialized = (before.get("ScaleTargetInitialized") or {}).get("status") == "True"
        conds: list[Obj] = []
        sks_ready: Obj = next(
            (
                c
                for c in (sks.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready"
            ),
            {},
        )
        if sks_ready.get("status") == "True":
            conds.append(condition("SKSReady", "True"))
        else:
            conds.append(condition("SKSReady", "Unknown", "NotReady", sks_ready.get("message", "")))
        if ready >= 1 or initialized:
            conds.append(condition("ScaleTargetInitialized", "True"))
        else:
            conds.append(condition("ScaleTargetInitialized", "Unknown"))
        if desired == 0:
            conds.append(
                condition("Active", "False", "NoTraffic", "The target is not receiving traffic.")
            )
        elif ready < 1:
            conds.append(
                condition(
                    "Active",
                    "Unknown",
                    "Queued",
                    "Requests to the target are being buffered as resources are provisioned.",
                )
            )
        else:
            conds.append(condition("Active", "True"))
        status: Obj = {
            "observedGeneration": meta.get("generation"),
            "serviceName": meta["name"],
            "metricsServiceName": K.private_service_name(meta["name"]),
            "desiredScale": desired,
            "actualScale": ready,
            "conditions": set_conditions(
                old, conds, "Ready", ["Active", "ScaleTargetInitialized", "SKSReady"]
            ),
        }
        self._status(self.t_pa, pa, status, manager=AUTOSCALER_MANAGER)

    def _ready_pods(self, rev: Obj) -> int:
        """The Revision's ready Pods (the PodAccessor the KPA counts with)."""
        meta = rev["metadata"]
        pods, _, _, _ = self.res.list_objects(
            self.t_pod, meta["namespace"], label_sel=f"{REVISION_LABEL}={meta['name']}"
        )
        count = 0
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            for c in (pod.get("status") or {}).get("conditions") or []:
                if c.get("type") == "Ready" and c.get("status") == "True":
                    count += 1
        return count


def ready_addresses(endpoints: Obj | None) -> int:
    """``ReadyAddressCount``: the ready addresses over all subsets."""
    return sum(len(s.get("addresses") or []) for s in (endpoints or {}).get("subsets") or [])


def filter_subset_ports(subsets: list[Obj]) -> list[Obj]:
    """``FilterSubsetPorts``: only queue-proxy's (or the activator's) HTTP and HTTPS ports."""
    out = []
    for subset in subsets:
        kept = copy.deepcopy(subset)
        kept["ports"] = [
            p
            for p in subset.get("ports") or []
            if p.get("port") in (K.QUEUE_HTTP_PORT, K.QUEUE_HTTPS_PORT)
        ]
        if not kept["ports"]:
            del kept["ports"]
        out.append(kept)
    return out


def subset_endpoints(subsets: list[Obj], target: str, n: int) -> list[Obj]:
    """``subsetEndpoints``: at most ``n`` activator addresses (0: all). The sandbox has one
    activator, so with Knative's minimum of 2 every address is kept."""
    addresses = {a.get("ip") for s in subsets for a in s.get("addresses") or []}
    if n == 0 or len(addresses) <= n:
        return copy.deepcopy(subsets)
    keep = sorted(addresses)[:n]  # Knative picks by a consistent hash of ``target``
    out = []
    for s in subsets:
        kept = [a for a in s.get("addresses") or [] if a.get("ip") in keep]
        if kept:
            out.append({**copy.deepcopy(s), "addresses": kept})
    return out


def excess_burst_capacity(ready: int, total: float, tbc: float, observed: float = 0.0) -> float:
    """The decider's excess burst capacity: what the ready Pods can take beyond the load and
    the burst capacity asked for (``target-burst-capacity``; 0: none, -1: unlimited)."""
    if tbc == 0:
        return 0.0
    if tbc < 0:
        return -1.0
    return math.floor(ready * total - tbc - observed)


def num_activators(ready: int, total: float, tbc: float, capacity: float) -> int:
    """``computeNumActivators``: enough activators for the burst, at least 2."""
    if tbc == 0 or capacity <= 0:
        return 2
    cover = ready * total + (tbc if tbc > 0 else 0)
    return int(max(2, math.ceil(cover / capacity)))
