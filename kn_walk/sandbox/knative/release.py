"""What Knative Serving's and net-istio's release manifests install besides the CRDs.

``data/release.json`` (``scripts/gen_release.py``, from the upstream manifests)
holds the ConfigMaps of ``knative-serving`` with their upstream data (an
``_example`` block each, ``config-deployment``'s queue-proxy image), the system
Deployments (activator, autoscaler, controller, webhook, net-istio-controller,
net-istio-webhook, istiod, istio-ingressgateway), their Services, and net-istio's
Gateways ``knative-serving/knative-ingress-gateway`` and ``knative-local-gateway``
with the ``istio-system/knative-local-gateway`` Service. The sandbox creates each
once and keeps what a user changed, as ``kubectl apply`` of a release would
leave a cluster between upgrades.

No container of those Deployments runs: each part of the sandbox that does the
work says which one in the annotation ``sandbox.knwalk.dev/played-by`` of the
Deployment it stands for, and the Deployments' Pods are the ReplicaSets'
simulated ones (:mod:`kn_walk.sandbox.node.replicasets`), so they show as available.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Callable
from functools import cache
from importlib import resources as package_files
from typing import Any

from kn_walk.knative_rules import labels
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.registry.resources import Resources, WriteOptions
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)

#: seconds after the API starts answering that the system Deployments are made
WORKLOADS_DELAY = 0.5
A_PLAYED_BY = labels.PLAYED_BY_ANNOTATION

#: (namespace, Deployment) -> what does its work here; ``{gateway}`` is the gateway's address
_PLAYED_BY = {
    ("knative-serving", "activator"): (
        "the sandbox's gateway ({gateway}): it holds requests for a Revision scaled to zero "
        "and starts its process, as the activator does"
    ),
    ("knative-serving", "autoscaler"): (
        "the sandbox's workloads (kn_walk.sandbox.node.workloads): they scale each Revision's "
        "process to zero after the grace period and back on a request"
    ),
    ("knative-serving", "controller"): (
        "the sandbox's controllers (kn_walk.sandbox.knative.serving): they reconcile Services, "
        "Configurations, Revisions and Routes and what those make"
    ),
    ("knative-serving", "webhook"): (
        "the sandbox's API server (kn_walk.sandbox.knative.admission): it defaults and validates "
        "Knative objects on every write"
    ),
    ("knative-serving", "net-istio-controller"): (
        "the sandbox's controllers (kn_walk.sandbox.knative.netistio): they turn each Ingress into "
        "VirtualServices"
    ),
    ("knative-serving", "net-istio-webhook"): (
        "the sandbox's API server, which checks objects against the CRD schemas itself"
    ),
    ("istio-system", "istiod"): (
        "the sandbox's gateway ({gateway}), which takes its routes from the sandbox's "
        "controllers directly: no proxy configuration is pushed"
    ),
    ("istio-system", "istio-ingressgateway"): (
        "the sandbox's gateway ({gateway}): it serves the hosts of every Route"
    ),
}


@cache
def _release() -> dict[str, Any]:
    text = package_files.files("kn_walk.sandbox").joinpath("data", "release.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def objects() -> list[Obj]:
    """The objects the release manifests install (fresh copies)."""
    return copy.deepcopy(_release()["objects"])


def upstream_data(configmap: str) -> dict[str, str]:
    """The data a release ships in ``knative-serving/<configmap>`` (empty if none)."""
    for obj in _release()["objects"]:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == configmap:
            return dict(obj.get("data") or {})
    return {}


def upstream_labels(configmap: str) -> dict[str, str]:
    for obj in _release()["objects"]:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == configmap:
            return dict(obj["metadata"].get("labels") or {})
    return {}


def upstream_annotations(configmap: str) -> dict[str, str]:
    for obj in _release()["objects"]:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == configmap:
            return dict(obj["metadata"].get("annotations") or {})
    return {}


def played_by(namespace: str, name: str, gateway: str) -> str:
    """What stands in for the system Deployment ``namespace/name`` ("" if none)."""
    text = _PLAYED_BY.get((namespace, name), "")
    return text.format(gateway=gateway)


def seed(res: Resources, opts: WriteOptions, *, gateway: str) -> None:
    """Create what the release installs and is missing, but the system Deployments
    (:func:`install_workloads`); keep what exists, a user may have changed it."""
    for obj in objects():
        if obj["kind"] != "Deployment":
            _ensure(res, opts, obj, gateway)


async def install_workloads(
    res: Resources, opts: WriteOptions, *, gateway: str, then: Callable[[], object] | None = None
) -> None:
    """The system Deployments, a moment after the sandbox began to serve (``knwalk sandbox
    up`` has had its answer by then) and one at a time, so that the API answers meanwhile,
    as a cluster's API answers while its installation's Pods come up. Only into the
    namespaces as they were when it began: a namespace deleted meanwhile (a test that wants
    a bare cluster, say) stays without them. ``then`` runs after the last."""
    namespaces = res.registry.get("", "v1", "namespaces")
    assert namespaces is not None

    def uid(ns: str) -> str | None:
        found = res.find(namespaces, "", ns)
        if found is None or found["metadata"].get("deletionTimestamp"):
            return None
        return str(found["metadata"].get("uid"))

    workloads = [o for o in objects() if o["kind"] == "Deployment"]
    uids = {ns: uid(ns) for ns in {o["metadata"]["namespace"] for o in workloads}}
    await asyncio.sleep(WORKLOADS_DELAY)
    for obj in workloads:
        ns = obj["metadata"]["namespace"]
        if uids[ns] is None or uid(ns) != uids[ns]:
            continue
        try:
            _ensure(res, opts, obj, gateway)
        except RuntimeError:
            log.exception("installing %s", obj["metadata"]["name"])
        await asyncio.sleep(0)
    if then is not None and all(u is not None and uid(ns) == u for ns, u in uids.items()):
        try:
            then()
        except E.StatusError as err:  # the gateway's namespace went meanwhile
            log.warning("after installing the system Deployments: %s", err.message)


def _ensure(res: Resources, opts: WriteOptions, obj: Obj, gateway: str) -> None:
    """Create ``obj`` unless it exists; of an existing system Deployment, only the
    ``played-by`` annotation is brought up to date (it names the gateway's port)."""
    rt = res.registry.by_kind(obj["apiVersion"], obj["kind"])
    if rt is None:  # a kind this sandbox does not serve: nothing to install
        log.warning("release object %s of unserved %s", obj["metadata"]["name"], obj["kind"])
        return
    meta = obj["metadata"]
    ns = meta.get("namespace", "")
    note = played_by(ns, meta["name"], gateway) if obj["kind"] == "Deployment" else ""
    if note:
        meta.setdefault("annotations", {})[A_PLAYED_BY] = note
    current = res.find(rt, ns, meta["name"])
    try:
        if current is None:
            res.create(rt, ns, obj, opts)
        elif note and (current["metadata"].get("annotations") or {}).get(A_PLAYED_BY) != note:
            new = copy.deepcopy(current)
            new["metadata"].setdefault("annotations", {})[A_PLAYED_BY] = note
            res.update(rt, ns, meta["name"], new, opts)
    except E.StatusError as err:
        raise RuntimeError(f"{obj['kind']} {ns}/{meta['name']}: {err.message}") from err
