"""The ConfigMaps of ``knative-serving`` as the sandbox's controllers use them, as they are now.

Knative's controllers watch ``config-autoscaler``, ``config-defaults`` and ``config-gc``
and parse each change with the constructors the config webhook runs
(:mod:`kn_walk.knative_rules.configmaps`); a change that does not parse is logged and
the last good configuration stays (``configmap.UntypedStore``). :class:`LiveConfig`
does the same on each read, from the store, so a ``kubectl edit`` counts from the next
read. The webhook (:mod:`kn_walk.sandbox.knative.config_webhook`) keeps bad values out; the
only values below upstream's bounds are those ``knwalk sandbox up --stable-window`` /
``--scale-to-zero-grace`` wrote, which the autoscaler's windows take as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kn_walk.knative_rules import configmaps as C
from kn_walk.sandbox.registry.resources import Resources, rkey

log = logging.getLogger(__name__)

SYSTEM_NAMESPACE = "knative-serving"
_T = TypeVar("_T")


def _autoscaler(data: Mapping[str, str]) -> C.AutoscalerConfig:
    return C.autoscaler_config(data, sandbox_windows=C.SANDBOX_WINDOW_KEYS)


class LiveConfig:
    """Parsed ConfigMaps, re-read when their resourceVersion changes."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        t_cm = res.registry.get("", "v1", "configmaps")
        assert t_cm is not None
        self._key = rkey(t_cm)
        #: name -> (resourceVersion it was parsed at, the last good configuration)
        self._cache: dict[str, tuple[str, Any]] = {}

    def _read(self, name: str, parse: Callable[[Mapping[str, str]], _T], default: _T) -> _T:
        cm = self.res.store.get(self._key, SYSTEM_NAMESPACE, name)
        version = str(((cm or {}).get("metadata") or {}).get("resourceVersion", ""))
        cached = self._cache.get(name)
        if cached is not None and cached[0] == version:
            value: _T = cached[1]
            return value
        data = {str(k): str(v) for k, v in ((cm or {}).get("data") or {}).items()}
        try:
            value = parse(data)
        except C.ConfigError as exc:
            value = cached[1] if cached is not None else default
            log.error("%s/%s: %s; keeping the last good configuration", SYSTEM_NAMESPACE, name, exc)
        self._cache[name] = (version, value)
        return value

    def autoscaler(self) -> C.AutoscalerConfig:
        return self._read(C.AUTOSCALER, _autoscaler, C.AutoscalerConfig())

    def defaults(self) -> C.DefaultsConfig:
        return self._read(C.DEFAULTS, C.defaults_config, C.DefaultsConfig())

    def gc(self) -> C.GCConfig:
        return self._read(C.GC, C.gc_config, C.GCConfig())
