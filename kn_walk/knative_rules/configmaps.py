"""Knative Serving's ConfigMaps as its controllers and its config webhook read them: pure.

One parser per ConfigMap, after knative/serving release-1.23:

* ``config-autoscaler``: ``pkg/autoscaler/config/config.go`` (``NewConfigFromMap`` and
  ``validate``),
* ``config-defaults``: ``pkg/apis/config/defaults.go`` (``NewDefaultsConfigFromMap``),
* ``config-gc``: ``pkg/gc/config.go`` (``NewConfigFromConfigMapFunc``).

Each raises :class:`ConfigError` with upstream's text, which the config webhook
(``config.webhook.serving.knative.dev``) returns as ``validation failed: <text>``.
Durations are integer nanoseconds, as Go's ``time.Duration``.

Not checked here: the Go templates of ``config-defaults``' ``container-name-template``
and ``init-container-name-template`` (taken as they are).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar

from kn_walk.goformat import go_float, go_quote
from kn_walk.knative_rules.goparse import (
    HOUR,
    SECOND,
    GoError,
    duration_string,
    format_float_f,
    parse_bool,
    parse_duration,
    parse_float,
    parse_int,
    parse_uint,
)
from kn_walk.knative_rules.network_config import (
    CONFIG_DOMAIN,
    CONFIG_NETWORK,
    domain_config_error,
    network_config_error,
)

#: the ValidatingWebhookConfiguration that checks them (config/core/webhooks/)
WEBHOOK = "config.webhook.serving.knative.dev"
#: its objectSelector: label -> the values it takes
WEBHOOK_SELECTOR = {
    "app.kubernetes.io/name": ("knative-serving",),
    "app.kubernetes.io/component": (
        "autoscaler",
        "controller",
        "logging",
        "networking",
        "observability",
        "tracing",
        "net-certmanager",
    ),
}
AUTOSCALER = "config-autoscaler"
DEFAULTS = "config-defaults"
GC = "config-gc"

#: ``knative.dev/pkg/configmap``: the example block and the checksum of it
EXAMPLE_KEY = "_example"
EXAMPLE_CHECKSUM_ANNOTATION = "knative.dev/example-checksum"

#: pkg/apis/autoscaling: the bounds of stable-window, targets and the panic window
WINDOW_MIN = 6 * SECOND
WINDOW_MAX = HOUR
TARGET_MIN = 0.01
PANIC_WINDOW_PERCENTAGE_MIN = 1.0
PANIC_WINDOW_PERCENTAGE_MAX = 100.0
#: the keys of config-autoscaler whose bounds the sandbox's own flags may go below
#: (``knwalk sandbox up --stable-window 0.6``): never through the webhook
SANDBOX_WINDOW_KEYS = ("stable-window", "scale-to-zero-grace-period")

#: pkg/gc: the value of a setting that is "disabled"
DISABLED = -1


_T = TypeVar("_T")


class ConfigError(ValueError):
    """A ConfigMap Knative refuses; ``str()`` is upstream's error text."""


def example_checksum(example: str) -> str:
    """``configmap.Checksum``: CRC-32 of the trimmed example, each run of newlines written
    as the two characters ``\\n`` (Go's raw string `\\n` in ``ReplaceAllString``)."""
    text = re.sub(r"(?:\r?\n)+", lambda _: "\\n", example.strip())
    return f"{zlib.crc32(text.encode()):08x}"


def example_error(data: Mapping[str, str], annotations: Mapping[str, str]) -> str | None:
    """The webhook's refusal of an edit inside ``_example`` (the checksum no longer
    matches), or None."""
    example, checksum = data.get(EXAMPLE_KEY), annotations.get(EXAMPLE_CHECKSUM_ANNOTATION)
    if example is None or checksum is None or checksum == example_checksum(example):
        return None
    return (
        f'the update modifies a key in "{EXAMPLE_KEY}" which is probably not what you want. '
        "Instead, copy the respective setting to the top-level of the ConfigMap, directly "
        'below "data"'
    )


class _Parser:
    """``cm.Parse`` with ``cm.AsXxx``: a key's value if present, else the default. An error
    reads ``failed to parse "KEY": <Go's error>``, after ``wrap`` if the caller wraps it
    (``failed to parse data: ``)."""

    def __init__(self, data: Mapping[str, str], wrap: str = "") -> None:
        self.data = data
        self.wrap = wrap

    def get(self, key: str, default: _T, parse: Callable[[str], _T]) -> _T:
        raw = self.data.get(key)
        if raw is None:
            return default
        try:
            return parse(str(raw))
        except GoError as exc:
            raise ConfigError(f"{self.wrap}failed to parse {_q(key)}: {exc}") from None


def _q(text: str) -> str:
    return go_quote(text)


def _int32(text: str) -> int:
    return parse_int(text, 32)


def _d(ns: int) -> str:
    return duration_string(ns)


# --------------------------------------------------------------------- config-autoscaler
@dataclass(frozen=True)
class AutoscalerConfig:
    enable_scale_to_zero: bool = True
    container_concurrency_target_fraction: float = 0.7
    container_concurrency_target_default: float = 100.0
    rps_target_default: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    target_burst_capacity: float = 211.0
    panic_window_percentage: float = 10.0
    activator_capacity: float = 100.0
    panic_threshold_percentage: float = 200.0
    stable_window: int = 60 * SECOND
    scale_to_zero_grace_period: int = 30 * SECOND
    scale_to_zero_pod_retention_period: int = 0
    scale_down_delay: int = 0
    pod_autoscaler_class: str = "kpa.autoscaling.knative.dev"
    allow_zero_initial_scale: bool = False
    initial_scale: int = 1
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0


def autoscaler_config(
    data: Mapping[str, str], *, sandbox_windows: Collection[str] = ()
) -> AutoscalerConfig:
    """``NewConfigFromMap`` + ``validate``. The keys named in ``sandbox_windows`` (of
    :data:`SANDBOX_WINDOW_KEYS`) only need to be non-negative: values the sandbox's flags
    wrote, which upstream's bounds would refuse."""
    p = _Parser(data, "failed to parse data: ")
    d = AutoscalerConfig()
    cls = p.get("pod-autoscaler-class", d.pod_autoscaler_class, str.strip)
    enable = p.get("enable-scale-to-zero", d.enable_scale_to_zero, parse_bool)
    allow_zero = p.get("allow-zero-initial-scale", d.allow_zero_initial_scale, parse_bool)
    up = p.get("max-scale-up-rate", d.max_scale_up_rate, parse_float)
    down = p.get("max-scale-down-rate", d.max_scale_down_rate, parse_float)
    fraction = p.get(
        "container-concurrency-target-percentage",
        d.container_concurrency_target_fraction,
        parse_float,
    )
    cc_default = p.get(
        "container-concurrency-target-default", d.container_concurrency_target_default, parse_float
    )
    rps = p.get("requests-per-second-target-default", d.rps_target_default, parse_float)
    tbc = p.get("target-burst-capacity", d.target_burst_capacity, parse_float)
    panic_pct = p.get("panic-window-percentage", d.panic_window_percentage, parse_float)
    activator = p.get("activator-capacity", d.activator_capacity, parse_float)
    panic_threshold = p.get("panic-threshold-percentage", d.panic_threshold_percentage, parse_float)
    initial = p.get("initial-scale", d.initial_scale, _int32)
    min_scale = p.get("min-scale", d.min_scale, _int32)
    max_scale = p.get("max-scale", d.max_scale, _int32)
    max_limit = p.get("max-scale-limit", d.max_scale_limit, _int32)
    stable = p.get("stable-window", d.stable_window, parse_duration)
    delay = p.get("scale-down-delay", d.scale_down_delay, parse_duration)
    grace = p.get("scale-to-zero-grace-period", d.scale_to_zero_grace_period, parse_duration)
    retention = p.get(
        "scale-to-zero-pod-retention-period", d.scale_to_zero_pod_retention_period, parse_duration
    )
    if fraction > 1.0:  # a percentage, for legacy reasons (0, 1] is a fraction
        fraction /= 100.0

    def fail(message: str) -> ConfigError:
        return ConfigError(message)

    sandbox = set(sandbox_windows)
    if "scale-to-zero-grace-period" in sandbox:
        if grace < 0:
            raise fail(f"scale-to-zero-grace-period cannot be negative, was: {_d(grace)}")
    elif grace <= 0:
        raise fail(f"scale-to-zero-grace-period must be positive, was: {_d(grace)}")
    if delay < 0:
        raise fail(f"scale-down-delay cannot be negative, was: {_d(delay)}")
    if delay % SECOND:
        raise fail(
            f"scale-down-delay = {_d(delay)}, must be specified with at most second precision"
        )
    if retention < 0:
        raise fail(f"scale-to-zero-pod-retention-period cannot be negative, was: {_d(retention)}")
    if tbc < 0 and tbc != -1:
        raise fail(
            "target-burst-capacity must be either non-negative or -1 (for unlimited), "
            f"was: {format_float_f(tbc)}"
        )
    if fraction <= 0 or fraction > 1:
        raise fail(
            f"container-concurrency-target-percentage = {format_float_f(fraction)} is outside "
            "of valid range of (0, 100]"
        )
    if fraction * cc_default < TARGET_MIN:
        raise fail(
            "container-concurrency-target-percentage and container-concurrency-target-default "
            f"yield target concurrency of {go_float(fraction * cc_default)}, can't be less "
            f"than {go_float(TARGET_MIN)}"
        )
    if rps < TARGET_MIN:
        raise fail(
            f"requests-per-second-target-default must be at least {go_float(TARGET_MIN)}, "
            f"was: {go_float(rps)}"
        )
    if activator < 1:
        raise fail(f"activator-capacity = {go_float(activator)}, must be at least 1")
    if up <= 1.0:
        raise fail(f"max-scale-up-rate = {go_float(up)}, must be greater than 1.0")
    if down <= 1.0:
        raise fail(f"max-scale-down-rate = {go_float(down)}, must be greater than 1.0")
    if "stable-window" in sandbox:
        if stable < 0:
            raise fail(f"stable-window = {_d(stable)}, cannot be negative")
    else:
        if stable < WINDOW_MIN or stable > WINDOW_MAX:
            raise fail(
                f"stable-window = {_d(stable)}, must be in [{_d(WINDOW_MIN)}; {_d(WINDOW_MAX)}] "
                "range"
            )
        if stable % SECOND:
            raise fail(
                f"stable-window = {_d(stable)}, must be specified with at most second precision"
            )
    if not PANIC_WINDOW_PERCENTAGE_MIN <= panic_pct <= PANIC_WINDOW_PERCENTAGE_MAX:
        raise fail(
            f"panic-window-percentage = {go_float(panic_pct)}, must be in "
            f"[{go_float(PANIC_WINDOW_PERCENTAGE_MIN)}, "
            f"{go_float(PANIC_WINDOW_PERCENTAGE_MAX)}] interval"
        )
    if initial < 0 or (initial == 0 and not allow_zero):
        raise fail(
            f"initial-scale = {initial}, must be at least 0 (or at least 1 when "
            "allow-zero-initial-scale is false)"
        )
    if min_scale < 0:
        raise fail(f"min-scale = {min_scale}, must be at least 0")
    min_max_scale = 1 if max_limit > 0 else 0
    if max_scale < min_max_scale or (max_limit > 0 and max_scale > max_limit):
        raise fail(
            f"max-scale = {max_scale}, must be in [{min_max_scale}, "
            f"max-scale-limit({max_limit})] range"
        )
    if max_limit < 0:
        raise fail(f"max-scale-limit = {max_limit}, must be at least 0")
    if min_scale > max_scale > 0:
        raise fail(f"min-scale ({min_scale}) must be less than max-scale ({max_scale})")
    return AutoscalerConfig(
        enable_scale_to_zero=enable,
        container_concurrency_target_fraction=fraction,
        container_concurrency_target_default=cc_default,
        rps_target_default=rps,
        max_scale_up_rate=up,
        max_scale_down_rate=down,
        target_burst_capacity=tbc,
        panic_window_percentage=panic_pct,
        activator_capacity=activator,
        panic_threshold_percentage=panic_threshold,
        stable_window=stable,
        scale_to_zero_grace_period=grace,
        scale_to_zero_pod_retention_period=retention,
        scale_down_delay=delay,
        pod_autoscaler_class=cls,
        allow_zero_initial_scale=allow_zero,
        initial_scale=initial,
        min_scale=min_scale,
        max_scale=max_scale,
        max_scale_limit=max_limit,
    )


# ---------------------------------------------------------------------- config-defaults
_QUANTITY = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?"
)
_QUANTITY_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_QUANTITY_KEYS = (
    "revision-cpu-request",
    "revision-memory-request",
    "revision-ephemeral-storage-request",
    "revision-cpu-limit",
    "revision-memory-limit",
    "revision-ephemeral-storage-limit",
)


@dataclass(frozen=True)
class DefaultsConfig:
    revision_timeout_seconds: int = 300
    max_revision_timeout_seconds: int = 600
    revision_response_start_timeout_seconds: int = 300
    revision_idle_timeout_seconds: int = 0
    container_concurrency: int = 0
    container_concurrency_max_limit: int = 1000
    allow_container_concurrency_zero: bool = True
    #: None: leave ``enableServiceLinks`` unset ("default" in the ConfigMap)
    enable_service_links: bool | None = False


def defaults_config(data: Mapping[str, str]) -> DefaultsConfig:
    """``NewDefaultsConfigFromMap``."""
    p = _Parser(data)
    d = DefaultsConfig()
    allow_zero = p.get(
        "allow-container-concurrency-zero", d.allow_container_concurrency_zero, parse_bool
    )
    links: bool | None = d.enable_service_links
    if "enable-service-links" in data:  # asTriState: anything else is "default" (nil)
        raw = str(data["enable-service-links"]).lower()
        links = {"true": True, "false": False}.get(raw)
    timeout = p.get("revision-timeout-seconds", d.revision_timeout_seconds, parse_int)
    max_timeout = p.get("max-revision-timeout-seconds", d.max_revision_timeout_seconds, parse_int)
    idle = p.get("revision-idle-timeout-seconds", d.revision_idle_timeout_seconds, parse_int)
    cc = p.get("container-concurrency", d.container_concurrency, parse_int)
    cc_max = p.get("container-concurrency-max-limit", d.container_concurrency_max_limit, parse_int)
    for key in _QUANTITY_KEYS:
        quantity = data.get(key)
        if quantity is not None and not _QUANTITY.fullmatch(str(quantity)):
            raise ConfigError(f"failed to parse {_q(key)}: {_QUANTITY_ERROR}")
    start = p.get("revision-response-start-timeout-seconds", timeout, parse_int)
    if timeout > max_timeout:
        raise ConfigError(
            f"revision-timeout-seconds ({timeout}) cannot be greater than "
            f"max-revision-timeout-seconds ({max_timeout})"
        )
    if start > 0 and start > timeout:
        raise ConfigError(
            f"revision-response-start-timeout-seconds ({start}) cannot be greater than "
            f"revision-timeout-seconds ({timeout})"
        )
    if idle > 0 and idle > timeout:
        raise ConfigError(
            f"revision-idle-timeout-seconds ({idle}) cannot be greater than "
            f"revision-timeout-seconds ({timeout})"
        )
    if cc_max < 1:  # apis.ErrOutOfBoundsValue
        raise ConfigError(f"expected 1 <= {cc_max} <= 2147483647: container-concurrency-max-limit")
    if cc < 0 or cc > cc_max:
        raise ConfigError(f"expected 0 <= {cc} <= {cc_max}: container-concurrency")
    return DefaultsConfig(
        revision_timeout_seconds=timeout,
        max_revision_timeout_seconds=max_timeout,
        revision_response_start_timeout_seconds=start,
        revision_idle_timeout_seconds=idle,
        container_concurrency=cc,
        container_concurrency_max_limit=cc_max,
        allow_container_concurrency_zero=allow_zero,
        enable_service_links=links,
    )


# ---------------------------------------------------------------------------- config-gc
@dataclass(frozen=True)
class GCConfig:
    #: nanoseconds, or DISABLED
    retain_since_create_time: int = 48 * HOUR
    retain_since_last_active_time: int = 15 * HOUR
    min_non_active_revisions: int = 20
    #: a count, or DISABLED
    max_non_active_revisions: int = 1000


def _disabled_or(raw: str | None, default: int, parse: Callable[[str], int]) -> int:
    if not raw:
        return default
    if raw.lower() == "disabled":
        return DISABLED
    return parse(raw)


def _non_negative_duration(text: str) -> int:
    value = parse_duration(text)
    if value < 0:
        raise GoError("must be non-negative")
    return value


def _max_int64(text: str) -> int:
    value = parse_uint(text)
    if value > 2**63 - 1:
        raise GoError(f"value should be lower than {2**63 - 1}")
    return value


def gc_config(data: Mapping[str, str]) -> GCConfig:
    """``NewConfigFromConfigMapFunc`` of ``pkg/gc``."""
    p = _Parser(data, "failed to parse data: ")
    d = GCConfig()
    # AsString trims; AsInt64 does not
    create = str(data.get("retain-since-create-time", "")).strip()
    active = str(data.get("retain-since-last-active-time", "")).strip()
    min_revs = p.get("min-non-active-revisions", d.min_non_active_revisions, parse_int)
    max_raw = str(data.get("max-non-active-revisions", "")).strip()
    values = []
    for key, raw, default, parse in (
        ("retain-since-create-time", create, d.retain_since_create_time, _non_negative_duration),
        (
            "retain-since-last-active-time",
            active,
            d.retain_since_last_active_time,
            _non_negative_duration,
        ),
        ("max-non-active-revisions", max_raw, d.max_non_active_revisions, _max_int64),
    ):
        try:
            values.append(_disabled_or(raw, default, parse))
        except GoError as exc:
            raise ConfigError(f"failed to parse {key}: {exc}") from None
    retain_create, retain_active, max_revs = values
    if min_revs < 0:
        raise ConfigError(f"min-non-active-revisions must be non-negative, was: {min_revs}")
    if max_revs >= 0 and min_revs > max_revs:
        raise ConfigError(
            f"min-non-active-revisions({min_revs}) must be <= max-non-active-revisions({max_revs})"
        )
    return GCConfig(retain_create, retain_active, min_revs, max_revs)


# ------------------------------------------------------------------------------ webhook
#: the constructors the config webhook runs, by ConfigMap name (others pass unchecked here)
def _network_config(data: Mapping[str, str]) -> None:
    problem = network_config_error(data)
    if problem:
        raise ConfigError(problem)


def _domain_config(data: Mapping[str, str]) -> None:
    problem = domain_config_error(data)
    if problem:
        raise ConfigError(problem)


VALIDATORS: dict[str, Callable[[Mapping[str, str]], object]] = {
    AUTOSCALER: autoscaler_config,
    DEFAULTS: defaults_config,
    GC: gc_config,
    CONFIG_NETWORK: _network_config,
    CONFIG_DOMAIN: _domain_config,
}


def selected(labels: Mapping[str, str]) -> bool:
    """Whether the webhook's objectSelector takes an object with these labels."""
    return all(labels.get(key) in values for key, values in WEBHOOK_SELECTOR.items())


def validation_error(
    name: str,
    data: Mapping[str, str],
    annotations: Mapping[str, str],
    *,
    sandbox_windows: Collection[str] = (),
) -> str | None:
    """What the config webhook says of ConfigMap ``name`` (None: allowed), without its
    ``validation failed: `` prefix."""
    constructor = VALIDATORS.get(name)
    if constructor is None:
        return None
    problem = example_error(data, annotations)
    if problem is not None:
        return problem
    try:
        if name == AUTOSCALER:
            autoscaler_config(data, sandbox_windows=sandbox_windows)
        else:
            constructor(data)
    except ConfigError as exc:
        return str(exc)
    return None
