"""Knative's config webhook, ``config.webhook.serving.knative.dev``.

A ValidatingWebhookConfiguration in the release: CREATE and UPDATE of ConfigMaps whose
labels its objectSelector takes (``app.kubernetes.io/name: knative-serving`` and a
Knative component). It parses the ConfigMap with the constructor Knative registers for
its name (:data:`kn_walk.knative_rules.configmaps.VALIDATORS`) and denies what does not
parse, as kube-apiserver words a webhook's denial::

    admission webhook "config.webhook.serving.knative.dev" denied the request:
    validation failed: stable-window = 5s, must be in [6s; 1h0m0s] range

The sandbox's one exception: ``knwalk sandbox up --stable-window`` and
``--scale-to-zero-grace`` may write windows below upstream's bounds (tests and demos
that want scale to zero in a second). The sandbox writes them as
:data:`SANDBOX_FLAGS_USER`; a later edit may leave such a value as it is, but not set one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kn_walk.knative_rules import configmaps as C
from kn_walk.knative_rules.children import SYSTEM_NAMESPACE
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import WriteContext
from kn_walk.sandbox.registry.store import Obj

#: who writes config-autoscaler for the sandbox's own flags
SANDBOX_FLAGS_USER = "system:knwalk-sandbox:flags"


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


class ConfigWebhook:
    """Admission for the ConfigMaps of knative-serving."""

    def handles(self, rt: ResourceType) -> bool:
        return rt.group == "" and rt.plural == "configmaps"

    def admit(self, rt: ResourceType, new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        if ctx.operation not in ("CREATE", "UPDATE"):
            return
        meta = new.get("metadata") or {}
        if meta.get("namespace") != SYSTEM_NAMESPACE:
            return  # Knative reads its ConfigMaps from its own namespace only
        old_meta = (old or {}).get("metadata") or {}
        # an UPDATE is sent when the old or the new object matches the objectSelector
        if not C.selected(_strings(meta.get("labels"))) and not (
            old is not None and C.selected(_strings(old_meta.get("labels")))
        ):
            return
        data = _strings(new.get("data"))
        old_data = _strings((old or {}).get("data"))
        if ctx.user == SANDBOX_FLAGS_USER:
            relaxed: tuple[str, ...] = C.SANDBOX_WINDOW_KEYS
        else:
            relaxed = tuple(
                k for k in C.SANDBOX_WINDOW_KEYS if k in data and old_data.get(k) == data[k]
            )
        problem = C.validation_error(
            str(meta.get("name") or ""),
            data,
            _strings(meta.get("annotations")),
            sandbox_windows=relaxed,
        )
        if problem is not None:
            raise E.admission_denied(C.WEBHOOK, f"validation failed: {problem}")
