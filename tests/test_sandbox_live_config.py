"""The ConfigMaps of knative-serving are live configuration, checked by Knative's config
webhook: one test per key (config-autoscaler's stable-window, scale-to-zero-grace-period,
enable-scale-to-zero; config-defaults' revision-timeout-seconds; config-gc's
retain-since-create-time, min- and max-non-active-revisions), against a real sandbox
through kubectl.

The sandbox runs with ``--stable-window 0.6 --scale-to-zero-grace 0.6``: its own flags,
the only way to windows below upstream's (stable-window at least 6s); the ConfigMap takes
only what Knative's webhook takes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import wait_until
from tests.test_sandbox_pods import apply_service, kubectl, pods_of, running, wait_pods

SYSTEM = "knative-serving"
DENIED = 'admission webhook "config.webhook.serving.knative.dev" denied the request: '
WINDOW, GRACE = 0.6, 0.6


def configmap(sb: Sandbox, name: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(
        kubectl(sb, "get", "configmap", "-n", SYSTEM, name, "-o", "json").stdout
    )
    return out


def patch(sb: Sandbox, name: str, data: dict[str, str | None], *, check: bool = True) -> str:
    """``kubectl patch`` of the ConfigMap's data (None removes a key); kubectl's stderr."""
    body = json.dumps({"data": data})
    proc = kubectl(sb, "patch", "configmap", "-n", SYSTEM, name, "-p", body, check=check)
    return proc.stderr


def new_namespace(sb: Sandbox) -> str:
    ns = f"live-{uuid.uuid4().hex[:8]}"
    kubectl(sb, "create", "namespace", ns)
    return ns


def get(sb: Sandbox, ns: str, kind: str, name: str = "") -> Any:
    args = ["get", kind, "-n", ns, "-o", "json"] + ([name] if name else [])
    proc = kubectl(sb, *args, check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return None
    return json.loads(proc.stdout)


def request(sb: Sandbox, ns: str, service: str) -> str:
    host = f"{service}.{ns}.example.com"
    r = httpx.get(sb.info.gateway + "/", headers={"Host": host}, timeout=30, trust_env=False)
    assert r.status_code == 200, r.text
    return r.text


def seconds_to_zero(sb: Sandbox, ns: str, service: str) -> float:
    """From just before a request to the Revision's Pod being gone: at least the idle
    time after which the sandbox scales it to zero."""
    start = time.monotonic()
    request(sb, ns, service)
    wait_pods(sb, ns, service, lambda items: not items, timeout=30)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox whose ConfigMaps each test puts back as it found them."""
    sb = start_sandbox(
        tmp_path_factory.mktemp("live"), stable_window=WINDOW, scale_to_zero_grace=GRACE
    )
    yield sb
    control.stop(sb.state_dir)


@pytest.fixture
def restore(live: Sandbox) -> Iterator[Callable[[str], None]]:
    """``restore(name)``: put that ConfigMap's data back after the test."""
    saved: dict[str, dict[str, str]] = {}

    def keep(name: str) -> None:
        saved.setdefault(name, dict(configmap(live, name).get("data") or {}))

    yield keep
    for name, data in saved.items():
        now = configmap(live, name).get("data") or {}
        patch(live, name, {**{k: None for k in now if k not in data}, **data})


# -------------------------------------------------------------------------- the webhook
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "config-autoscaler",
            {"stable-window": "5s"},
            "stable-window = 5s, must be in [6s; 1h0m0s] range",
        ),
        (
            # below upstream's bound, as the sandbox's flag is: not through the ConfigMap
            "config-autoscaler",
            {"stable-window": "1s"},
            "stable-window = 1s, must be in [6s; 1h0m0s] range",
        ),
        (
            "config-autoscaler",
            {"stable-window": "6500ms"},
            "stable-window = 6.5s, must be specified with at most second precision",
        ),
        (
            "config-autoscaler",
            {"scale-to-zero-grace-period": "0s"},
            "scale-to-zero-grace-period must be positive, was: 0s",
        ),
        (
            "config-autoscaler",
            {"enable-scale-to-zero": "nope"},
            'failed to parse data: failed to parse "enable-scale-to-zero": '
            'strconv.ParseBool: parsing "nope": invalid syntax',
        ),
        (
            "config-defaults",
            {"revision-timeout-seconds": "601"},
            "revision-timeout-seconds (601) cannot be greater than "
            "max-revision-timeout-seconds (600)",
        ),
        (
            "config-defaults",
            {"revision-timeout-seconds": "5m"},
            'failed to parse "revision-timeout-seconds": '
            'strconv.ParseInt: parsing "5m": invalid syntax',
        ),
        (
            "config-gc",
            {"retain-since-create-time": "2 days"},
            'failed to parse retain-since-create-time: time: unknown unit " days" in duration '
            '"2 days"',
        ),
        (
            "config-gc",
            {"min-non-active-revisions": "-1"},
            "min-non-active-revisions must be non-negative, was: -1",
        ),
        (
            "config-gc",
            {"max-non-active-revisions": "10"},
            "min-non-active-revisions(20) must be <= max-non-active-revisions(10)",
        ),
    ],
)
def test_a_bad_value_is_denied_with_upstreams_message_and_nothing_changes(
    live: Sandbox, name: str, data: dict[str, str | None], message: str
) -> None:
    before = configmap(live, name)
    stderr = patch(live, name, data, check=False)
    assert f"{DENIED}validation failed: {message}" in stderr
    assert (
        configmap(live, name)["metadata"]["resourceVersion"]
        == before["metadata"]["resourceVersion"]
    )


def test_an_edit_inside_the_example_block_is_denied(live: Sandbox) -> None:
    cm = configmap(live, "config-gc")
    example = cm["data"]["_example"].replace('min-non-active-revisions: "20"', "x: 1")
    stderr = patch(live, "config-gc", {"_example": example}, check=False)
    assert f'{DENIED}validation failed: the update modifies a key in "_example"' in stderr


# ------------------------------------------------------------------- config-autoscaler
def test_stable_window_sets_when_an_idle_revision_scales_to_zero(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path, stable_window=WINDOW, scale_to_zero_grace=GRACE)
    try:
        apply_service(sb, "default", "steady")
        wait_pods(sb, "default", "steady", running)
        patch(sb, "config-autoscaler", {"stable-window": "6s"})
        # the flag's 1.2 s of idleness would have stopped it long before
        assert seconds_to_zero(sb, "default", "steady") >= 6.0 + GRACE
    finally:
        control.stop(sb.state_dir)


def test_scale_to_zero_grace_period_adds_to_the_idle_time(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path, stable_window=WINDOW, scale_to_zero_grace=GRACE)
    try:
        apply_service(sb, "default", "graceful")
        wait_pods(sb, "default", "graceful", running)
        patch(sb, "config-autoscaler", {"scale-to-zero-grace-period": "2s"})
        # the flag's 1.2 s of idleness would have stopped it before
        assert seconds_to_zero(sb, "default", "graceful") >= WINDOW + 2.0
    finally:
        control.stop(sb.state_dir)


def test_enable_scale_to_zero_false_brings_revisions_back_and_keeps_them(
    live: Sandbox, restore: Callable[[str], None]
) -> None:
    restore("config-autoscaler")
    ns = new_namespace(live)
    apply_service(live, ns, "awake")
    wait_pods(live, ns, "awake", running)
    wait_pods(live, ns, "awake", lambda items: not items)  # at zero after 1.2 s idle
    patch(live, "config-autoscaler", {"enable-scale-to-zero": "false"})
    # the KPA now wants one Pod: it comes back without a request
    wait_pods(live, ns, "awake", running, timeout=10)
    request(live, ns, "awake")
    # and stays, several idle windows long
    deadline = time.monotonic() + 3 * (WINDOW + GRACE)
    while time.monotonic() < deadline:
        assert running(pods_of(live, ns, "awake"))
        time.sleep(0.2)
    patch(live, "config-autoscaler", {"enable-scale-to-zero": "true"})
    wait_pods(live, ns, "awake", lambda items: not items, timeout=10)


# --------------------------------------------------------------------- config-defaults
def revision_spec(sb: Sandbox, ns: str, name: str) -> dict[str, Any]:
    rev = wait_until(f"revision {name}", lambda: get(sb, ns, "revision", name), bool)
    spec: dict[str, Any] = rev["spec"]
    return spec


def test_revision_timeout_seconds_is_the_default_of_new_revisions(
    live: Sandbox, restore: Callable[[str], None]
) -> None:
    restore("config-defaults")
    ns = new_namespace(live)
    apply_service(live, ns, "before")
    assert revision_spec(live, ns, "before-00001")["timeoutSeconds"] == 300
    patch(live, "config-defaults", {"revision-timeout-seconds": "120"})
    apply_service(live, ns, "after")
    assert revision_spec(live, ns, "after-00001")["timeoutSeconds"] == 120
    svc = get(live, ns, "ksvc", "after")
    assert svc["spec"]["template"]["spec"]["timeoutSeconds"] == 120
    # what the Revision was given stays: its spec is immutable
    assert revision_spec(live, ns, "before-00001")["timeoutSeconds"] == 300
    # the earlier Service's template keeps the default the webhook wrote into it, and so
    # do its new Revisions, as on a cluster (kubectl apply leaves fields it did not set)
    apply_service(live, ns, "before", target="v2")
    assert revision_spec(live, ns, "before-00002")["timeoutSeconds"] == 300


# --------------------------------------------------------------------------- config-gc
def three_revisions(sb: Sandbox) -> tuple[str, list[str]]:
    """A Service with three Revisions, the first two no longer routed (reserve)."""
    ns = new_namespace(sb)
    for n in (1, 2, 3):
        apply_service(sb, ns, "old", target=f"v{n}")
        latest = f"old-0000{n}"
        wait_until(
            f"old serving {latest}",
            lambda: get(sb, ns, "ksvc", "old"),
            lambda svc, latest=latest: (
                svc is not None
                and (svc.get("status") or {}).get("latestReadyRevisionName") == latest
            ),
        )
    names = ["old-00001", "old-00002", "old-00003"]
    for name in names[:2]:
        wait_until(
            f"{name} in reserve",
            lambda name=name: get(sb, ns, "revision", name),
            lambda rev: (
                rev["metadata"]["labels"].get("serving.knative.dev/routingState") == "reserve"
            ),
        )
    return ns, names


def revisions(sb: Sandbox, ns: str) -> list[str]:
    return sorted(r["metadata"]["name"] for r in get(sb, ns, "revisions")["items"])


def test_max_non_active_revisions_collects_the_oldest_beyond_it(
    live: Sandbox, restore: Callable[[str], None]
) -> None:
    restore("config-gc")
    ns, names = three_revisions(live)
    # Knative's defaults collect nothing a walkthrough makes
    assert revisions(live, ns) == names
    patch(live, "config-gc", {"min-non-active-revisions": "0", "max-non-active-revisions": "1"})
    wait_until("old-00001 collected", lambda: revisions(live, ns), lambda r: r == names[1:])
    assert request(live, ns, "old") == "Hello v3!\n"


def stale_by_creation(sb: Sandbox, ns: str, name: str, seconds: float) -> None:
    """Wait until ``name`` was created at least ``seconds`` ago (whole seconds, as stored)."""
    created = datetime.fromisoformat(
        get(sb, ns, "revision", name)["metadata"]["creationTimestamp"].replace("Z", "+00:00")
    )
    wait_until(
        f"{name} {seconds}s old",
        lambda: (datetime.now(UTC) - created).total_seconds(),
        lambda age: age >= seconds,
    )


def test_min_non_active_revisions_keeps_that_many_stale_ones(
    live: Sandbox, restore: Callable[[str], None]
) -> None:
    restore("config-gc")
    ns, names = three_revisions(live)
    stale_by_creation(live, ns, names[1], 1.0)
    patch(
        live,
        "config-gc",
        {
            "retain-since-create-time": "1s",
            "retain-since-last-active-time": "disabled",
            "min-non-active-revisions": "1",
        },
    )
    # both old Revisions are stale: the most recently active one is kept
    wait_until("old-00001 collected", lambda: revisions(live, ns), lambda r: r == names[1:])
    patch(live, "config-gc", {"min-non-active-revisions": "0"})
    wait_until("old-00002 collected", lambda: revisions(live, ns), lambda r: r == names[2:])


def test_retain_since_create_time_keeps_young_revisions(
    live: Sandbox, restore: Callable[[str], None]
) -> None:
    restore("config-gc")
    ns, names = three_revisions(live)
    patch(
        live,
        "config-gc",
        {"retain-since-last-active-time": "disabled", "min-non-active-revisions": "0"},
    )
    # created less than 48h ago: kept; a no-gc annotation keeps one whatever its age
    kubectl(live, "annotate", "revision", "-n", ns, names[0], "serving.knative.dev/no-gc=true")
    assert revisions(live, ns) == names
    stale_by_creation(live, ns, names[1], 1.0)
    patch(live, "config-gc", {"retain-since-create-time": "1s"})
    wait_until(
        "old-00002 collected", lambda: revisions(live, ns), lambda r: r == [names[0], names[2]]
    )
