"""The ``scale`` subresource of Deployments and ReplicationControllers: what ``kubectl scale``
reads and writes.

``GET .../deployments/{name}/scale`` (or ``replicationcontrollers/{name}/scale``) answers an ``autoscaling/v1`` ``Scale``
(``spec.replicas``, ``status.replicas`` and the selector as a string);
``PUT`` and ``PATCH`` (merge, JSON or strategic) change it, and the sandbox
writes the new count to the object's ``spec.replicas``, honouring the
Scale's ``resourceVersion`` as a precondition, as kube-apiserver does.
"""

from __future__ import annotations

import copy
from typing import Any

from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.machinery.selectors import selector_text, workload_selector
from kn_walk.sandbox.registry import resources
from kn_walk.sandbox.registry.resources import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Resources,
    WriteOptions,
)
from kn_walk.sandbox.registry.store import Obj

DEPLOYMENTS = ("apps", "deployments")
SCALE_PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH)


def scale_of(deployment: Obj) -> Obj:
    """The Deployment's ``Scale``."""
    meta = deployment["metadata"]
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    status = deployment.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": replicas},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": selector_text(workload_selector(deployment)),
        },
    }


def _invalid(name: str, field: str, value: Any, detail: str) -> E.StatusError:
    shown = "null" if value is None else value
    message = f'Scale.autoscaling "{name}" is invalid: {field}: Invalid value: {shown}: {detail}'
    return E.StatusError(
        422,
        "Invalid",
        message,
        {
            "name": name,
            "group": "autoscaling",
            "kind": "Scale",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": message.split(": ", 1)[1],
                    "field": field,
                }
            ],
        },
    )


def write_scale(
    res: Resources,
    rt: ResourceType,
    namespace: str,
    name: str,
    scale: Any,
    opts: WriteOptions,
    *,
    patched: bool = False,
) -> Obj:
    """Set the Deployment's replicas from ``scale`` (a PUT body, or a ``patched`` Scale)."""
    if not isinstance(scale, dict):
        raise E.bad_request("the body of a scale request must be a Scale object")
    if scale.get("kind") not in (None, "Scale"):
        raise E.bad_request(f'kind {scale.get("kind")!r} does not match the expected kind "Scale"')
    meta = scale.get("metadata") or {}
    if meta.get("name") not in (None, name):
        raise E.bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
        )
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise _invalid(name, "spec.replicas", replicas, "must be an integer")
    if not -(2**31) <= replicas < 2**31:  # Go decodes it into an int32 before any check
        body = "" if patched else 'Scale in version "v1" cannot be handled as a Scale: '
        raise E.bad_request(
            f"{body}json: cannot unmarshal number {replicas} into Go struct field "
            "ScaleSpec.spec.replicas of type int32"
        )
    if replicas < 0:
        raise _invalid(name, "spec.replicas", replicas, "must be greater than or equal to 0")
    current = res.get(rt, namespace, name)
    wanted_rv = meta.get("resourceVersion")
    if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
        raise E.conflict(rt, name, E.MODIFIED)
    if (current.get("spec") or {}).get("replicas", 1) == replicas:
        return scale_of(current)
    new = copy.deepcopy(current)
    new.setdefault("spec", {})["replicas"] = replicas
    return scale_of(res.update(rt, namespace, name, new, opts))


def patch_scale(
    res: Resources,
    rt: ResourceType,
    namespace: str,
    name: str,
    content_type: str,
    raw: Any,
    opts: WriteOptions,
) -> Obj:
    """Apply a merge, JSON or strategic patch to the Deployment's Scale, then write it."""
    current = scale_of(res.get(rt, namespace, name))
    # a Scale has no lists, so a strategic merge patch merges as a merge patch does
    patched = resources.patched(current, content_type, raw, rt, kind="Scale")
    return write_scale(res, rt, namespace, name, patched, opts, patched=True)
