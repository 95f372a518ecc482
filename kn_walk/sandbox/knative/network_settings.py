"""The Route reconciler's view of ``config-network`` and ``config-domain``.

As Knative's config store does, it reads the two ConfigMaps in ``knative-serving``
and keeps the last configuration that parsed: the config webhook
(:mod:`kn_walk.sandbox.knative.admission`) denies edits that would not, so an invalid one can
only be there if written around it, and then the controller logs it and carries on.
"""

from __future__ import annotations

import logging

from kn_walk.knative_rules.network_config import CONFIG_DOMAIN, CONFIG_NETWORK, NetworkSettings
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, rkey
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger("knwalk.sandbox.serving")

#: the ConfigMaps whose edits make every Route reconcile again
WATCHED = frozenset({CONFIG_NETWORK, CONFIG_DOMAIN})


class NetworkSettingsStore:
    def __init__(self, res: Resources, t_cm: ResourceType, namespace: str) -> None:
        self.res, self.t_cm, self.namespace = res, t_cm, namespace
        self._seen: tuple[str, str] | None = None
        self._settings = NetworkSettings()

    def current(self) -> NetworkSettings:
        """The settings from the ConfigMaps as they are now (parsed once per version)."""
        key = rkey(self.t_cm)
        network = self.res.store.get(key, self.namespace, CONFIG_NETWORK) or {}
        domain = self.res.store.get(key, self.namespace, CONFIG_DOMAIN) or {}
        seen = (_version(network), _version(domain))
        if seen != self._seen:
            self._seen = seen
            try:
                self._settings = NetworkSettings.from_data(
                    network.get("data") or {}, domain.get("data") or {}
                )
            except ValueError as exc:
                log.error("config-network/config-domain: keeping the last good config: %s", exc)
        return self._settings


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
