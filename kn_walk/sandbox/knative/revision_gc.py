"""Knative's revision garbage collector (``revision-gc-controller``) in the sandbox.

As upstream's, it runs for a Configuration whenever the Configuration or one of its
Revisions changes (the controller's queue brings both here), and for every
Configuration when ``config-gc`` changes; which Revisions go is
:func:`kn_walk.knative_rules.revision_gc.collect`'s answer, with ``config-gc`` as it
is now. Like upstream's, it does not wake up by itself when time makes a Revision stale:
the next change of the Configuration, its Revisions or ``config-gc`` collects it.
With Knative's defaults (retain 48h since creation, 15h since last active, keep 20,
at most 1000) nothing of a walkthrough is collected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from kn_walk.knative_rules import revision_gc
from kn_walk.sandbox.knative.live_config import LiveConfig
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, rkey
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)


class RevisionGC:
    def __init__(
        self,
        res: Resources,
        configurations: ResourceType,
        revisions: ResourceType,
        revisions_of: Callable[[str, str], list[Obj]],
    ) -> None:
        """``revisions_of(namespace, configuration)``: the Revisions labelled with it (the
        controller's index, as upstream's lister)."""
        self.res = res
        self.config = LiveConfig(res)
        self.t_cfg = configurations
        self.t_rev = revisions
        self.revisions_of = revisions_of

    def collect(self, namespace: str, configuration: str) -> list[str]:
        """Delete the Configuration's Revisions Knative's GC would; their names."""
        cfg = self.res.store.get(rkey(self.t_cfg), namespace, configuration)
        if cfg is None or cfg["metadata"].get("deletionTimestamp"):
            return []
        revisions = self.revisions_of(namespace, configuration)
        latest_ready = str((cfg.get("status") or {}).get("latestReadyRevisionName") or "")
        doomed = revision_gc.collect(revisions, latest_ready, self.config.gc(), datetime.now(UTC))
        for name in doomed:
            log.info("Deleting stale revision %s/%s", namespace, name)
            try:
                self.res.delete(self.t_rev, namespace, name)
            except E.StatusError as exc:
                log.error("Failed to GC revision %s/%s: %s", namespace, name, exc.message)
        return doomed
