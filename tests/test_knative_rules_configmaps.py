"""Knative's ConfigMap rules, pinned to upstream's own test tables (knative/serving
release-1.23: pkg/autoscaler/config/config_test.go, pkg/apis/config/defaults_test.go,
pkg/gc/config_test.go, pkg/reconciler/gc/gc_test.go; Go's time/time_test.go for
durations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kn_walk.goformat import go_float
from kn_walk.knative_rules import configmaps as C
from kn_walk.knative_rules import revision_gc
from kn_walk.knative_rules.goparse import (
    HOUR,
    MINUTE,
    SECOND,
    GoError,
    duration_string,
    parse_duration,
)
from kn_walk.sandbox.knative import release

US, MS = 1_000, 1_000_000


# ------------------------------------------------------------------ Go's durations
@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("5s", 5 * SECOND),
        ("30s", 30 * SECOND),
        ("1478s", 1478 * SECOND),
        ("-5s", -5 * SECOND),
        ("+5s", 5 * SECOND),
        ("-0", 0),
        ("+0", 0),
        ("5.0s", 5 * SECOND),
        ("5.6s", 5 * SECOND + 600 * MS),
        ("5.s", 5 * SECOND),
        (".5s", 500 * MS),
        ("1.004s", SECOND + 4 * MS),
        ("100.00100s", 100 * SECOND + 1 * MS),
        ("10ns", 10),
        ("11us", 11 * US),
        ("12\u00b5s", 12 * US),
        ("12\u03bcs", 12 * US),
        ("13ms", 13 * MS),
        ("15m", 15 * MINUTE),
        ("16h", 16 * HOUR),
        ("3h30m", 3 * HOUR + 30 * MINUTE),
        ("10.5s4m", 4 * MINUTE + 10 * SECOND + 500 * MS),
        ("-2m3.4s", -(2 * MINUTE + 3 * SECOND + 400 * MS)),
        ("1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4 * MS + 5 * US + 6),
        ("39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14 * SECOND + 425 * MS),
        ("52763797000ns", 52763797000),
        ("0.3333333333333333333h", 20 * MINUTE),
        ("9007199254740993ns", (1 << 53) + 1),
        ("9223372036854775807ns", (1 << 63) - 1),
        ("9223372036854775.807us", (1 << 63) - 1),
        ("9223372036s854ms775us807ns", (1 << 63) - 1),
        ("-9223372036854775808ns", -(1 << 63)),
        ("-9223372036854775.808us", -(1 << 63)),
        ("0.100000000000000000000h", 6 * MINUTE),
        ("0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827),
    ],
)
def test_go_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", 'time: invalid duration ""'),
        ("3", 'time: missing unit in duration "3"'),
        ("-", 'time: invalid duration "-"'),
        ("s", 'time: invalid duration "s"'),
        (".", 'time: invalid duration "."'),
        ("-.", 'time: invalid duration "-."'),
        (".s", 'time: invalid duration ".s"'),
        ("+.s", 'time: invalid duration "+.s"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("\x85\x85", 'time: invalid duration "\\xc2\\x85\\xc2\\x85"'),
        ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
        ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
        ("not a duration", 'time: invalid duration "not a duration"'),
    ],
)
def test_go_parse_duration_errors(text: str, error: str) -> None:
    with pytest.raises(GoError) as exc:
        parse_duration(text)
    assert str(exc.value) == error


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1100, "1.1\u00b5s"),
        (2200 * US, "2.2ms"),
        (3300 * MS, "3.3s"),
        (4 * MINUTE + 5 * SECOND, "4m5s"),
        (4 * MINUTE + 5001 * MS, "4m5.001s"),
        (5 * HOUR + 6 * MINUTE + 7001 * MS, "5h6m7.001s"),
        (8 * MINUTE + 1, "8m0.000000001s"),
        ((1 << 63) - 1, "2562047h47m16.854775807s"),
        (-(1 << 63), "-2562047h47m16.854775808s"),
        (HOUR, "1h0m0s"),
    ],
)
def test_go_duration_string(ns: int, text: str) -> None:
    assert duration_string(ns) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1.01, "1.01"), (0.95, "0.95"), (1e6, "1e+06"), (0.01, "0.01"), (1e-05, "1e-05")],
)
def test_go_float_v(value: float, text: str) -> None:
    assert go_float(value) == text


# -------------------------------------------------------------- config-autoscaler
def _example_data(name: str) -> dict[str, str]:
    return release.upstream_data(name)


@pytest.mark.parametrize(
    ("data", "changes"),
    [
        ({}, {}),
        ("example", {}),
        (
            {
                "enable-scale-to-zero": "true",
                "max-scale-down-rate": "3.0",
                "max-scale-up-rate": "1.01",
                "container-concurrency-target-percentage": "0.71",
                "container-concurrency-target-default": "10.5",
                "requests-per-second-target-default": "10.11",
                "target-burst-capacity": "12345",
                "scale-down-delay": "15m",
                "stable-window": "5m",
                "tick-interval": "2s",
                "panic-window-percentage": "10",
                "panic-threshold-percentage": "200",
                "pod-autoscaler-class": "some.class",
                "activator-capacity": "905",
                "scale-to-zero-pod-retention-period": "2m3s",
            },
            {
                "target_burst_capacity": 12345.0,
                "container_concurrency_target_default": 10.5,
                "container_concurrency_target_fraction": 0.71,
                "rps_target_default": 10.11,
                "max_scale_down_rate": 3.0,
                "max_scale_up_rate": 1.01,
                "scale_down_delay": 15 * MINUTE,
                "stable_window": 5 * MINUTE,
                "activator_capacity": 905.0,
                "pod_autoscaler_class": "some.class",
                "scale_to_zero_pod_retention_period": 2 * MINUTE + 3 * SECOND,
            },
        ),
        (
            {"container-concurrency-target-percentage": "55"},
            {"container_concurrency_target_fraction": 0.55},
        ),
        ({"target-burst-capacity": "-1"}, {"target_burst_capacity": -1.0}),
        ({"enable-scale-to-zero": "TRUE"}, {}),
        (
            {"enable-scale-to-zero": "false", "min-scale": "1", "max-scale": "2"},
            {"enable_scale_to_zero": False, "min_scale": 1, "max_scale": 2},
        ),
        (
            {
                "enable-scale-to-zero": "false",
                "scale-to-zero-grace-period": "33s",
                "min-scale": "1",
                "max-scale": "2",
            },
            {
                "enable_scale_to_zero": False,
                "scale_to_zero_grace_period": 33 * SECOND,
                "min_scale": 1,
                "max_scale": 2,
            },
        ),
        (
            {"allow-zero-initial-scale": "true", "initial-scale": "0"},
            {"allow_zero_initial_scale": True, "initial_scale": 0},
        ),
        ({"max-scale": "10"}, {"max_scale": 10}),
        ({"max-scale": "0", "max-scale-limit": "11"}, "error"),
    ],
)
def test_autoscaler_config_as_upstream_reads_it(
    data: dict[str, str] | str, changes: dict[str, Any] | str
) -> None:
    d = _example_data(C.AUTOSCALER) if data == "example" else data
    assert isinstance(d, dict)
    if changes == "error":
        with pytest.raises(C.ConfigError):
            C.autoscaler_config(d)
        return
    assert isinstance(changes, dict)
    want = C.AutoscalerConfig(**changes)
    assert C.autoscaler_config(d) == want


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"max-scale-up-rate": "not a float"},
            'failed to parse data: failed to parse "max-scale-up-rate": '
            'strconv.ParseFloat: parsing "not a float": invalid syntax',
        ),
        ({"scale-down-delay": "-1m23s"}, "scale-down-delay cannot be negative, was: -1m23s"),
        (
            {"scale-to-zero-pod-retention-period": "-4m11s"},
            "scale-to-zero-pod-retention-period cannot be negative, was: -4m11s",
        ),
        (
            {"stable-window": "not a duration"},
            'failed to parse data: failed to parse "stable-window": '
            'time: invalid duration "not a duration"',
        ),
        (
            {"target-burst-capacity": "-11"},
            "target-burst-capacity must be either non-negative or -1 (for unlimited), "
            "was: -11.000000",
        ),
        (
            {"container-concurrency-target-percentage": "-42"},
            "container-concurrency-target-percentage = -42.000000 is outside of valid "
            "range of (0, 100]",
        ),
        (
            {"container-concurrency-target-percentage": "142.4"},
            "container-concurrency-target-percentage = 1.424000 is outside of valid "
            "range of (0, 100]",
        ),
        (
            {"requests-per-second-target-default": "-5.25"},
            "requests-per-second-target-default must be at least 0.01, was: -5.25",
        ),
        ({"max-scale-up-rate": "1"}, "max-scale-up-rate = 1, must be greater than 1.0"),
        ({"max-scale-down-rate": "-55"}, "max-scale-down-rate = -55, must be greater than 1.0"),
        ({"max-scale-down-rate": "1"}, "max-scale-down-rate = 1, must be greater than 1.0"),
        ({"stable-window": "1h1s"}, "stable-window = 1h0m1s, must be in [6s; 1h0m0s] range"),
        ({"stable-window": "1s"}, "stable-window = 1s, must be in [6s; 1h0m0s] range"),
        (
            {"stable-window": "61984ms"},
            "stable-window = 1m1.984s, must be specified with at most second precision",
        ),
        (
            {"scale-down-delay": "61984ms"},
            "scale-down-delay = 1m1.984s, must be specified with at most second precision",
        ),
        ({"activator-capacity": "0.95"}, "activator-capacity = 0.95, must be at least 1"),
        (
            {"panic-window-percentage": "0.1"},
            "panic-window-percentage = 0.1, must be in [1, 100] interval",
        ),
        (
            {"stable-window": "12s", "panic-window": "3s", "panic-window-percentage": "110"},
            "panic-window-percentage = 110, must be in [1, 100] interval",
        ),
        (
            {
                "container-concurrency-target-percentage": "1",
                "container-concurrency-target-default": "0.001",
            },
            "container-concurrency-target-percentage and container-concurrency-target-default "
            "yield target concurrency of 0.001, can't be less than 0.01",
        ),
        (
            {"stable-window": "12s", "scale-to-zero-grace-period": "0s"},
            "scale-to-zero-grace-period must be positive, was: 0s",
        ),
        (
            {"allow-zero-initial-scale": "false", "initial-scale": "0"},
            "initial-scale = 0, must be at least 0 (or at least 1 when "
            "allow-zero-initial-scale is false)",
        ),
        (
            {"allow-zero-initial-scale": "false", "initial-scale": "-1"},
            "initial-scale = -1, must be at least 0 (or at least 1 when "
            "allow-zero-initial-scale is false)",
        ),
        (
            {"allow-zero-initial-scale": "false", "initial-scale": "invalid"},
            'failed to parse data: failed to parse "initial-scale": '
            'strconv.ParseInt: parsing "invalid": invalid syntax',
        ),
        (
            {"allow-zero-initial-scale": "invalid"},
            'failed to parse data: failed to parse "allow-zero-initial-scale": '
            'strconv.ParseBool: parsing "invalid": invalid syntax',
        ),
        ({"max-scale": "-1"}, "max-scale = -1, must be in [0, max-scale-limit(0)] range"),
        (
            {"max-scale": "10", "max-scale-limit": "9"},
            "max-scale = 10, must be in [1, max-scale-limit(9)] range",
        ),
        ({"max-scale-limit": "-9"}, "max-scale-limit = -9, must be at least 0"),
        (
            {"enable-scale-to-zero": "yes"},
            'failed to parse data: failed to parse "enable-scale-to-zero": '
            'strconv.ParseBool: parsing "yes": invalid syntax',
        ),
    ],
)
def test_autoscaler_config_refusals_say_what_upstream_says(
    data: dict[str, str], message: str
) -> None:
    with pytest.raises(C.ConfigError) as exc:
        C.autoscaler_config(data)
    assert str(exc.value) == message


def test_the_sandbox_flags_windows_pass_only_where_the_sandbox_wrote_them() -> None:
    data = {"stable-window": "600ms", "scale-to-zero-grace-period": "300ms"}
    with pytest.raises(C.ConfigError):
        C.autoscaler_config(data)
    cfg = C.autoscaler_config(data, sandbox_windows=C.SANDBOX_WINDOW_KEYS)
    assert (cfg.stable_window, cfg.scale_to_zero_grace_period) == (600 * MS, 300 * MS)
    # the other rules still hold for the other keys
    with pytest.raises(C.ConfigError):
        C.autoscaler_config(
            {**data, "max-scale-up-rate": "1"}, sandbox_windows=C.SANDBOX_WINDOW_KEYS
        )


# ---------------------------------------------------------------- config-defaults
def test_defaults_config_as_upstream_reads_it() -> None:
    assert C.defaults_config({}) == C.DefaultsConfig()
    assert C.defaults_config(_example_data(C.DEFAULTS)) == C.DefaultsConfig()
    got = C.defaults_config(
        {
            "revision-timeout-seconds": "123",
            "max-revision-timeout-seconds": "456",
            "revision-response-start-timeout-seconds": "60",
            "revision-idle-timeout-seconds": "123",
            "revision-cpu-request": "123m",
            "container-concurrency-max-limit": "1984",
            "container-name-template": "{{.Name}}",
            "init-container-name-template": "{{.Name}}",
            "allow-container-concurrency-zero": "false",
            "enable-service-links": "true",
        }
    )
    assert got == C.DefaultsConfig(
        revision_timeout_seconds=123,
        max_revision_timeout_seconds=456,
        revision_response_start_timeout_seconds=60,
        revision_idle_timeout_seconds=123,
        container_concurrency_max_limit=1984,
        allow_container_concurrency_zero=False,
        enable_service_links=True,
    )
    assert C.defaults_config({"enable-service-links": "false"}).enable_service_links is False
    assert C.defaults_config({"enable-service-links": "default"}).enable_service_links is None
    # the response start timeout follows revision-timeout-seconds unless given
    cfg = C.defaults_config({"revision-timeout-seconds": "200"})
    assert cfg.revision_response_start_timeout_seconds == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"allow-container-concurrency-zero": "invalid"},
            'failed to parse "allow-container-concurrency-zero": '
            'strconv.ParseBool: parsing "invalid": invalid syntax',
        ),
        (
            {"revision-timeout-seconds": "asdf"},
            'failed to parse "revision-timeout-seconds": '
            'strconv.ParseInt: parsing "asdf": invalid syntax',
        ),
        (
            {"max-revision-timeout-seconds": "asdf"},
            'failed to parse "max-revision-timeout-seconds": '
            'strconv.ParseInt: parsing "asdf": invalid syntax',
        ),
        (
            {"revision-idle-timeout-seconds": "asdf"},
            'failed to parse "revision-idle-timeout-seconds": '
            'strconv.ParseInt: parsing "asdf": invalid syntax',
        ),
        (
            {"revision-cpu-request": "bad"},
            'failed to parse "revision-cpu-request": quantities must match the regular '
            "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
        (
            {"revision-timeout-seconds": "456", "max-revision-timeout-seconds": "123"},
            "revision-timeout-seconds (456) cannot be greater than "
            "max-revision-timeout-seconds (123)",
        ),
        (
            {"revision-timeout-seconds": "123", "revision-response-start-timeout-seconds": "456"},
            "revision-response-start-timeout-seconds (456) cannot be greater than "
            "revision-timeout-seconds (123)",
        ),
        (
            {"revision-timeout-seconds": "123", "revision-idle-timeout-seconds": "456"},
            "revision-idle-timeout-seconds (456) cannot be greater than "
            "revision-timeout-seconds (123)",
        ),
        ({"container-concurrency": "2000"}, "expected 0 <= 2000 <= 1000: container-concurrency"),
        (
            {"container-concurrency": "11", "container-concurrency-max-limit": "10"},
            "expected 0 <= 11 <= 10: container-concurrency",
        ),
        (
            {"container-concurrency-max-limit": "0"},
            "expected 1 <= 0 <= 2147483647: container-concurrency-max-limit",
        ),
        (
            {"revision-timeout-seconds": "700"},
            "revision-timeout-seconds (700) cannot be greater than "
            "max-revision-timeout-seconds (600)",
        ),
    ],
)
def test_defaults_config_refusals_say_what_upstream_says(
    data: dict[str, str], message: str
) -> None:
    with pytest.raises(C.ConfigError) as exc:
        C.defaults_config(data)
    assert str(exc.value) == message


# ---------------------------------------------------------------------- config-gc
def test_gc_config_as_upstream_reads_it() -> None:
    assert C.gc_config({}) == C.GCConfig()
    assert C.gc_config(_example_data(C.GC)) == C.GCConfig()
    assert C.gc_config(
        {
            "retain-since-create-time": "17h",
            "retain-since-last-active-time": "16h",
            "min-non-active-revisions": "5",
            "max-non-active-revisions": "500",
        }
    ) == C.GCConfig(17 * HOUR, 16 * HOUR, 5, 500)
    assert C.gc_config({"retain-since-create-time": "disabled"}) == C.GCConfig(
        retain_since_create_time=C.DISABLED
    )
    assert C.gc_config({"retain-since-last-active-time": "disabled"}) == C.GCConfig(
        retain_since_last_active_time=C.DISABLED
    )
    assert C.gc_config({"max-non-active-revisions": "disabled"}) == C.GCConfig(
        max_non_active_revisions=C.DISABLED
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"min-non-active-revisions": "-1"},
            "min-non-active-revisions must be non-negative, was: -1",
        ),
        (
            {"max-non-active-revisions": "-2"},
            'failed to parse max-non-active-revisions: strconv.ParseUint: parsing "-2": '
            "invalid syntax",
        ),
        (
            {"max-non-active-revisions": str(2**64 - 1)},
            "failed to parse max-non-active-revisions: value should be lower than "
            "9223372036854775807",
        ),
        (
            {"min-non-active-revisions": "20", "max-non-active-revisions": "10"},
            "min-non-active-revisions(20) must be <= max-non-active-revisions(10)",
        ),
        (
            {"retain-since-create-time": "invalid"},
            'failed to parse retain-since-create-time: time: invalid duration "invalid"',
        ),
        (
            {"retain-since-create-time": "-1h"},
            "failed to parse retain-since-create-time: must be non-negative",
        ),
        (
            {"retain-since-last-active-time": "-1h"},
            "failed to parse retain-since-last-active-time: must be non-negative",
        ),
        (
            {"max-non-active-revisions": "invalid"},
            'failed to parse max-non-active-revisions: strconv.ParseUint: parsing "invalid": '
            "invalid syntax",
        ),
    ],
)
def test_gc_config_refusals_say_what_upstream_says(data: dict[str, str], message: str) -> None:
    with pytest.raises(C.ConfigError) as exc:
        C.gc_config(data)
    assert str(exc.value) == message


# ----------------------------------------------------------------- the webhook's view
def test_the_release_examples_carry_their_checksums() -> None:
    for name in (C.AUTOSCALER, C.DEFAULTS, C.GC):
        example = release.upstream_data(name)[C.EXAMPLE_KEY]
        annotations = release.upstream_annotations(name)
        assert C.example_checksum(example) == annotations[C.EXAMPLE_CHECKSUM_ANNOTATION]
        assert C.example_error({C.EXAMPLE_KEY: example}, annotations) is None
        edited = {C.EXAMPLE_KEY: example.replace('"60s"', '"6s"').replace('"48h"', '"1h"')}
        edited[C.EXAMPLE_KEY] += "\nstable-window: 6s\n"
        assert C.validation_error(name, edited, annotations) == (
            'the update modifies a key in "_example" which is probably not what you want. '
            "Instead, copy the respective setting to the top-level of the ConfigMap, "
            'directly below "data"'
        )


def test_the_webhook_selects_knatives_configmaps_by_label() -> None:
    assert C.selected(release.upstream_labels(C.AUTOSCALER))
    assert C.selected(release.upstream_labels(C.GC))
    assert not C.selected({"app.kubernetes.io/name": "knative-serving"})
    assert not C.selected({})
    assert C.validation_error("config-something-else", {"stable-window": "1s"}, {}) is None


# ------------------------------------------------------------------- revision GC
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
OLD, OLDER, OLDEST = (NOW - timedelta(minutes=m) for m in (11, 12, 13))


def rev(
    name: str,
    state: str,
    modified: datetime | None = None,
    created: datetime | None = None,
    preserve: bool = False,
) -> dict[str, Any]:
    """gc_test.go's rev(): MarkRevisionReady, WithRoutingState, WithRoutingStateModified."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"serving.knative.dev/routingState": state} if state else {},
        "annotations": {},
    }
    if modified is not None:
        meta["annotations"]["serving.knative.dev/routingStateModified"] = modified.isoformat()
    if created is not None:
        meta["creationTimestamp"] = created.isoformat()
    if preserve:
        meta["annotations"]["serving.knative.dev/no-gc"] = "true"
    return {"metadata": meta}


MIN_CFG = C.GCConfig(5 * MINUTE, 5 * MINUTE, 1, C.DISABLED)
MAX_CFG = C.GCConfig(HOUR, HOUR, 1, 2)


@pytest.mark.parametrize(
    ("cfg", "latest", "revs", "deleted"),
    [
        # TestCollectMin
        pytest.param(
            MIN_CFG, "5556", [rev("5556", "active", created=OLD)], [], id="too few revisions"
        ),
        pytest.param(
            MIN_CFG,
            "5556",
            [
                rev("5554", "reserve", OLDEST),
                rev("5555", "reserve", OLDER),
                rev("5556", "active", OLD),
            ],
            ["5554"],
            id="delete oldest, keep one recent, one active",
        ),
        pytest.param(
            MIN_CFG,
            "",
            [
                rev("5554", "reserve", OLDEST),
                rev("5555", "reserve", OLDER),
                rev("5556", "active", OLD),
            ],
            ["5554"],
            id="no latest ready, one active",
        ),
        pytest.param(
            MIN_CFG,
            "5556",
            [
                rev("5554", "pending", created=OLDEST),
                rev("5555", "", created=OLDER),
                rev("5556", "active", created=OLD),
            ],
            [],
            id="keep oldest when none Reserved",
        ),
        pytest.param(
            MIN_CFG,
            "",
            [rev("5554", "reserve", NOW), rev("5555", "reserve", NOW), rev("5556", "reserve", NOW)],
            [],
            id="none stale",
        ),
        pytest.param(
            MIN_CFG,
            "",
            [
                rev("5554", "reserve", OLDEST, preserve=True),
                rev("5555", "reserve", OLDER),
                rev("5556", "reserve", OLD),
            ],
            ["5555"],
            id="keep oldest because of the preserve annotation",
        ),
        # TestCollectMax
        pytest.param(
            MAX_CFG,
            "5556",
            [
                rev("5554", "reserve", OLDER),
                rev("5555", "reserve", OLDER),
                rev("5556", "active", OLD),
            ],
            [],
            id="at max",
        ),
        pytest.param(
            MAX_CFG,
            "5556",
            [
                rev("5553", "reserve", OLDEST),
                rev("5554", "reserve", OLDER),
                rev("5555", "reserve", OLDER),
                rev("5556", "active", OLD),
            ],
            ["5553"],
            id="delete oldest, keep three max",
        ),
        pytest.param(
            MAX_CFG,
            "5556",
            [rev(n, "active") for n in ("5553", "5554", "5555", "5556")],
            [],
            id="over max, all active",
        ),
    ],
)
def test_revision_gc_as_upstreams_tables(
    cfg: C.GCConfig, latest: str, revs: list[dict[str, Any]], deleted: list[str]
) -> None:
    assert revision_gc.collect(revs, latest, cfg, NOW) == deleted


SETTINGS_REVS = [
    rev("5554", "reserve", OLDEST),
    rev("5555", "reserve", OLDER),
    rev("5556", "active", OLD),
]


@pytest.mark.parametrize(
    ("cfg", "deleted"),
    [
        pytest.param(C.GCConfig(C.DISABLED, C.DISABLED, 1, C.DISABLED), [], id="all disabled"),
        pytest.param(C.GCConfig(C.DISABLED, C.DISABLED, 0, 1), ["5554"], id="staleness disabled"),
        pytest.param(C.GCConfig(C.DISABLED, MINUTE, 1, C.DISABLED), ["5554"], id="max disabled"),
    ],
)
def test_revision_gc_settings_as_upstream(cfg: C.GCConfig, deleted: list[str]) -> None:
    assert revision_gc.collect(SETTINGS_REVS, "5556", cfg, NOW) == deleted


def test_revision_gc_deletes_in_order_of_last_activity() -> None:
    """TestGCInOrder: oldest last-active first."""
    revs = [
        rev("5556", "reserve", NOW - timedelta(minutes=12)),
        rev("5553", "reserve", NOW - timedelta(minutes=15)),
        rev("5555", "reserve", NOW - timedelta(minutes=13)),
        rev("5554", "reserve", NOW - timedelta(minutes=14)),
        rev("5557", "active", NOW - timedelta(minutes=11)),
    ]
    cfg = C.GCConfig(C.DISABLED, C.DISABLED, 0, 1)
    assert revision_gc.collect(revs, "5557", cfg, NOW) == ["5553", "5554", "5555"]
    # Knative's defaults keep everything a walkthrough makes
    assert revision_gc.collect(revs, "5557", C.GCConfig(), NOW) == []
