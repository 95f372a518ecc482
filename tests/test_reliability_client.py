"""Faults knwalk's Kubernetes client must survive, injected by the real sandbox (faults.py).

Retries with capped, jittered backoff and Retry-After; creates and deletes never
repeated without checking first; guarded patches retried, unguarded ones not;
watches resumed from the last resourceVersion, re-listed on 410, retried on
429/5xx; every wait bounded by its deadline with a message that says what it
was waiting for. Also 409s on deploy and split: re-read and recompute.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kn_walk import knative
from kn_walk.errors import ApiError, KnwalkError, WaitTimeout
from kn_walk.kube import (
    BACKOFF_CAP,
    CONFLICT_ATTEMPTS,
    Kube,
    Unreachable,
    _backoff,
    connect,
    fulfils,
)
from tests.conftest import Sandbox
from tests.test_reliability_support import Faults, counter

WG, WV, WIDGETS = "reliability.knwalk.dev", "v1", "widgets"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{WIDGETS}.{WG}"},
    "spec": {
        "group": WG,
        "scope": "Namespaced",
        "names": {"plural": WIDGETS, "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": WV,
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Faults]:
    f = Faults(sandbox)
    yield f
    f.close()


@pytest.fixture(scope="module")
def widgets_crd(sandbox: Sandbox) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    try:
        client.ApiextensionsV1Api(api).create_custom_resource_definition(CRD)
    except ApiException as exc:
        assert exc.status == 409
    finally:
        api.close()


@pytest.fixture
def kube(sandbox: Sandbox, namespace: str, widgets_crd: None) -> Iterator[Kube]:
    with connect(sandbox.kubeconfig, "knwalk-sandbox", namespace) as k:
        k.backoff_base = 0.02  # keep the suite fast; the schedule's shape is what is tested
        yield k


def widget(name: str, n: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": f"{WG}/{WV}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"n": n},
    }


def one(kube: Kube, name: str = "") -> str:
    """The API path of a widget (or of the collection) in the test's namespace."""
    base = f"/apis/{WG}/{WV}/namespaces/{kube.namespace}/{WIDGETS}"
    return f"{base}/{name}" if name else base


# --------------------------------------------------------------------------- retries


def test_backoff_is_exponential_capped_and_jittered() -> None:
    for attempt in range(12):
        top = min(BACKOFF_CAP, 0.2 * 2**attempt)
        samples = [_backoff(attempt) for _ in range(200)]
        assert all(top * 0.5 <= s <= top for s in samples), attempt
        assert len(set(samples)) > 100  # jitter: clients retrying together spread out
    assert max(_backoff(30) for _ in range(50)) <= BACKOFF_CAP


def test_429_is_retried_after_the_retry_after_it_names(kube: Kube, faults: Faults) -> None:
    kube.create(WG, WV, WIDGETS, widget("a"))
    faults.set(
        {"method": "GET", "path": one(kube, "a"), "status": 429, "retryAfter": 1, "times": 1}
    )
    delays: list[float] = []
    kube.on_retry = lambda what, err, delay: delays.append(delay)
    start = time.monotonic()
    obj = kube.get(WG, WV, WIDGETS, "a")
    assert obj is not None and obj["spec"] == {"n": 0}
    assert time.monotonic() - start >= 1.0
    assert delays == [1.0]
    assert faults.hits() == [1]


def test_5xx_timeouts_and_dropped_connections_are_retried_with_backoff(
    kube: Kube, faults: Faults
) -> None:
    kube.create(WG, WV, WIDGETS, widget("b"))
    path = one(kube, "b")
    faults.set(
        {"method": "GET", "path": path, "status": 500, "times": 1},
        {"method": "GET", "path": path, "status": 503, "times": 1},
        {"method": "GET", "path": path, "drop": True, "times": 1},
        {"method": "GET", "path": path, "delay": 2.0, "times": 1},  # slower than read_timeout
    )
    kube.read_timeout = 0.5
    kube.max_retries = 4
    seen: list[tuple[str, float]] = []
    kube.on_retry = lambda what, err, delay: seen.append((type(err).__name__, delay))
    start = time.monotonic()
    assert kube.get(WG, WV, WIDGETS, "b") is not None
    assert time.monotonic() - start < 2.0  # the slow answer was not waited for
    assert [kind for kind, _ in seen] == ["ApiError", "ApiError", "Unreachable", "Unreachable"]
    for attempt, (_, delay) in enumerate(seen):
        assert 0.5 * 0.02 * 2**attempt <= delay <= 0.02 * 2**attempt
    assert faults.hits() == [1, 1, 1, 1]


def test_retries_end_with_the_servers_message_and_the_attempts(kube: Kube, faults: Faults) -> None:
    faults.set({"method": "GET", "path": one(kube), "status": 503})
    with pytest.raises(ApiError) as info:
        kube.list(WG, WV, WIDGETS)
    err = info.value
    assert err.status == 503
    assert err.message == "The server is currently unable to handle the request (injected fault)"
    assert "answered 503 to 5 attempts" in err.hint
    assert faults.hits() == [kube.max_retries + 1]


def test_nobody_listening_fails_at_once(tmp_path: Any, sandbox: Sandbox) -> None:
    import socket

    import yaml

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with connect(path, "knwalk-sandbox", "default") as k:
        start = time.monotonic()
        with pytest.raises(Unreachable) as info:
            k.get(WG, WV, WIDGETS, "x")
        assert time.monotonic() - start < 1.0 and k.retries == 0
    assert info.value.message.startswith(
        f"cannot reach the Kubernetes API at https://127.0.0.1:{port}"
    )
    assert not info.value.sent


# --------------------------------------------------------------------------- create / delete


@pytest.mark.parametrize("lost", ["status", "drop"])
def test_a_create_whose_answer_was_lost_is_checked_not_repeated(
    kube: Kube, faults: Faults, lost: str
) -> None:
    """The create happened but its answer was lost (503 / dropped): read it, never send it twice."""
    fault: dict[str, Any] = {"status": 503} if lost == "status" else {"drop": True}
    faults.set(
        {"method": "POST", "path": one(kube), "after": True, "times": 1, **fault},
        counter("POST", one(kube)),
    )
    obj = kube.create(WG, WV, WIDGETS, widget("c", 7))
    assert obj["spec"] == {"n": 7}
    assert faults.hits() == [1, 0]  # one POST only
    assert kube.retries == 0
    items, _ = kube.list(WG, WV, WIDGETS)
    assert [i["metadata"]["name"] for i in items] == ["c"]


def test_a_create_that_did_not_happen_is_sent_again_after_checking(
    kube: Kube, faults: Faults
) -> None:
    faults.set(
        {"method": "POST", "path": one(kube), "status": 503, "times": 1},
        {"method": "POST", "path": one(kube), "status": 429, "times": 1},
        counter("POST", one(kube)),
        counter("GET", one(kube, "d")),
    )
    obj = kube.create(WG, WV, WIDGETS, widget("d", 1))
    assert obj["spec"] == {"n": 1}
    # 503: GET (absent) then POST again; 429 (never processed): POST again at once
    assert faults.hits() == [1, 1, 1, 1]
    assert kube.retries == 2


def test_a_create_that_someone_else_won_is_a_conflict(kube: Kube, faults: Faults) -> None:
    kube.create(WG, WV, WIDGETS, widget("e", 1))  # theirs
    faults.set({"method": "POST", "path": one(kube), "status": 503, "times": 1})
    with pytest.raises(ApiError) as info:
        kube.create(WG, WV, WIDGETS, widget("e", 2))
    assert info.value.status == 409 and info.value.reason == "AlreadyExists"
    assert kube.get(WG, WV, WIDGETS, "e")["spec"] == {"n": 1}  # type: ignore[index]


def test_fulfils_ignores_server_defaults_but_not_differences() -> None:
    body = {"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"c": [{"image": "i"}]}}
    stored = {
        "metadata": {"name": "x", "uid": "u", "labels": {"a": "1", "b": "2"}},
        "spec": {"c": [{"image": "i", "name": "user-container"}], "traffic": []},
        "status": {},
    }
    assert fulfils(stored, body)
    assert not fulfils({**stored, "spec": {"c": [{"image": "j"}]}}, body)
    assert not fulfils({**stored, "metadata": {"name": "x"}}, body)


def test_a_delete_whose_answer_was_lost_is_checked_not_repeated(kube: Kube, faults: Faults) -> None:
    kube.create(WG, WV, WIDGETS, widget("f"))
    faults.set(
        {"method": "DELETE", "path": one(kube, "f"), "status": 500, "after": True, "times": 1},
        counter("DELETE", one(kube, "f")),
    )
    kube.delete(WG, WV, WIDGETS, "f")
    assert faults.hits() == [1, 0]
    assert kube.get(WG, WV, WIDGETS, "f") is None


def test_guarded_patches_are_retried_unguarded_ones_are_not(kube: Kube, faults: Faults) -> None:
    rv = kube.create(WG, WV, WIDGETS, widget("g"))["metadata"]["resourceVersion"]
    faults.set({"method": "PATCH", "path": one(kube, "g"), "status": 503, "times": 1})
    with pytest.raises(ApiError) as info:
        kube.merge_patch(WG, WV, WIDGETS, "g", {"spec": {"n": 1}})
    assert info.value.status == 503
    faults.set({"method": "PATCH", "path": one(kube, "g"), "status": 503, "times": 1})
    obj = kube.merge_patch(
        WG, WV, WIDGETS, "g", {"metadata": {"resourceVersion": rv}, "spec": {"n": 2}}
    )
    assert obj["spec"] == {"n": 2}
    # the answer to a guarded patch is lost after it applied: the retry is refused (409),
    # so nothing is applied twice and the caller re-reads
    rv = obj["metadata"]["resourceVersion"]
    faults.set({"method": "PATCH", "path": one(kube, "g"), "drop": True, "after": True, "times": 1})
    with pytest.raises(ApiError) as info:
        kube.merge_patch(
            WG, WV, WIDGETS, "g", {"metadata": {"resourceVersion": rv}, "spec": {"n": 3}}
        )
    assert info.value.conflict
    assert kube.get(WG, WV, WIDGETS, "g")["spec"] == {"n": 3}  # type: ignore[index]


# --------------------------------------------------------------------------- watches


def _counts(kube: Kube, name: str, target: int, **kw: Any) -> tuple[list[int], list[int]]:
    """wait_for(spec.n == target); the first listed state triggers ``target`` patches."""
    seen: list[int] = []
    rvs: list[int] = []

    def on_change(obj: dict[str, Any] | None) -> None:
        assert obj is not None
        seen.append(obj["spec"]["n"])
        rvs.append(int(obj["metadata"]["resourceVersion"]))
        if len(seen) == 1:
            for n in range(1, target + 1):
                kube.merge_patch(WG, WV, WIDGETS, name, {"spec": {"n": n}})

    kube.wait_for(
        WG,
        WV,
        WIDGETS,
        name,
        lambda o: bool(o and o["spec"]["n"] == target),
        timeout=kw.pop("timeout", 20),
        on_change=on_change,
        **kw,
    )
    return seen, rvs


def test_cut_watches_resume_from_the_last_resource_version(kube: Kube, faults: Faults) -> None:
    kube.create(WG, WV, WIDGETS, widget("h"))
    faults.set(
        {"method": "GET", "path": one(kube), "watch": True, "cutAfter": 1, "times": 3},
        counter("GET", one(kube), watch=False),
        counter("GET", one(kube), watch=True),
    )
    seen, rvs = _counts(kube, "h", 6)
    # every state once, in order: resumed where it stopped, nothing replayed or lost
    assert seen == [0, 1, 2, 3, 4, 5, 6]
    assert rvs == sorted(set(rvs))
    cut, lists, later_watches = faults.hits()
    assert cut == 3 and lists == 1 and later_watches == 1  # no re-list, one more watch


def test_410_on_resume_re_lists(kube: Kube, faults: Faults) -> None:
    kube.create(WG, WV, WIDGETS, widget("i"))
    faults.set(
        {"method": "GET", "path": one(kube), "watch": True, "gone": True, "times": 1},
        counter("GET", one(kube), watch=False),
    )
    seen, _ = _counts(kube, "i", 3)
    assert seen == [0, 3]  # the second list already shows the end state
    assert faults.hits() == [1, 2]


@pytest.mark.parametrize(
    "fault",
    [
        {"drop": True, "times": 2},
        {"status": 503, "times": 2},
        {"status": 429, "retryAfter": 1, "times": 1},
        {"status": 500, "times": 2},
    ],
    ids=["dropped", "503", "429", "500"],
)
def test_failing_watch_requests_are_retried(
    kube: Kube, faults: Faults, fault: dict[str, Any]
) -> None:
    kube.create(WG, WV, WIDGETS, widget("j"))
    faults.set(
        {"method": "GET", "path": one(kube), "watch": True, **fault},
        counter("GET", one(kube), watch=False),
    )
    start = time.monotonic()
    seen, _ = _counts(kube, "j", 2)
    assert seen == [0, 1, 2]
    assert faults.hits() == [fault["times"], 1]
    if "retryAfter" in fault:
        assert time.monotonic() - start >= 1.0


def test_a_server_closing_every_watch_at_once_is_not_hammered(kube: Kube, faults: Faults) -> None:
    kube.create(WG, WV, WIDGETS, widget("k"))
    faults.set({"method": "GET", "path": one(kube), "watch": True, "cutAfter": 0})
    kube.backoff_base = 0.2
    with pytest.raises(WaitTimeout):
        kube.wait_for(WG, WV, WIDGETS, "k", lambda o: False, timeout=2.0)
    # backoff 0.1-0.2, 0.2-0.4, 0.4-0.8, ... then a re-list: a handful, not thousands
    assert faults.hits()[0] < 15


def test_a_slow_watch_times_out_saying_what_it_waited_for(kube: Kube, faults: Faults) -> None:
    kube.create(WG, WV, WIDGETS, widget("l", 4))
    faults.set({"method": "GET", "path": one(kube), "watch": True, "delay": 30})
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        kube.wait_for(
            WG,
            WV,
            WIDGETS,
            "l",
            lambda o: False,
            timeout=1.5,
            describe=lambda o: f"widget l still has n={(o or {}).get('spec', {}).get('n')}",
        )
    assert time.monotonic() - start < 3.5
    assert info.value.message.startswith("timed out after 1.5s: widget l still has n=4")
    assert "--wait-timeout" in info.value.hint


def test_a_slow_list_does_not_outlive_the_wait(kube: Kube, faults: Faults) -> None:
    faults.set({"method": "GET", "path": one(kube), "watch": False, "delay": 30})
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        kube.wait_for(WG, WV, WIDGETS, "m", lambda o: False, timeout=1.0)
    assert time.monotonic() - start < 2.5
    message = info.value.message
    assert message.startswith("timed out after 1s waiting for widgets/m:")
    assert "did not answer list widgets" in message


def test_a_wait_outlasts_a_failing_api_and_reports_its_last_error(
    kube: Kube, faults: Faults
) -> None:
    kube.create(WG, WV, WIDGETS, widget("n"))
    faults.set({"method": "GET", "path": one(kube), "watch": True, "status": 503})
    with pytest.raises(WaitTimeout) as info:
        kube.wait_for(
            WG, WV, WIDGETS, "n", lambda o: False, timeout=1.5, describe=lambda o: "n is not 9"
        )
    assert info.value.message.startswith("timed out after 1.5s: n is not 9 (last error: 503:")


# --------------------------------------------------------------------------- 409 on deploy / split


@pytest.fixture
def svc(kube: Kube) -> str:
    """A Service with two revisions (an image the sandbox does not run: no processes needed)."""
    for tag, rev in (("v1", "r-00001"), ("v2", "r-00002")):
        opts = knative.DeployOptions(image=f"registry.example.com/app:{tag}")
        knative.deploy(kube, "r", opts, wait=False)
        kube.wait_for(
            knative.GROUP, knative.VERSION, "revisions", rev, lambda o: o is not None, timeout=60
        )
    return "r"


def test_split_re_reads_and_recomputes_on_409(kube: Kube, faults: Faults, svc: str) -> None:
    path = f"/apis/serving.knative.dev/v1/namespaces/{kube.namespace}/services/{svc}"
    faults.set(
        {"method": "PATCH", "path": path, "status": 409, "times": 2},
        counter("GET", path),
    )
    result = knative.split(kube, svc, ["r-00001=30", "@latest=70"], wait=False)
    assert result.attempts == 3
    reads = faults.hits()[1]
    assert reads >= 3  # each attempt read the Service again
    traffic = kube.get(knative.GROUP, knative.VERSION, "services", svc)["spec"]["traffic"]  # type: ignore[index]
    assert knative._normal(traffic) == knative._normal(result.block)


def test_deploy_re_reads_on_409_and_keeps_the_other_change(
    kube: Kube, faults: Faults, svc: str
) -> None:
    path = f"/apis/serving.knative.dev/v1/namespaces/{kube.namespace}/services/{svc}"

    def meddle(plan: knative.DeployPlan) -> None:
        # someone else writes between our read and our patch
        kube.merge_patch(
            knative.GROUP, knative.VERSION, "services", svc, {"metadata": {"labels": {"x": "y"}}}
        )

    opts = knative.DeployOptions(image="registry.example.com/app:v3")
    result = knative.deploy(kube, svc, opts, wait=False, on_plan=meddle)
    assert result.action == "updated"
    obj = kube.get(knative.GROUP, knative.VERSION, "services", svc)
    assert obj is not None
    assert obj["metadata"]["labels"]["x"] == "y"
    assert (
        obj["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/app:v3"
    )
    faults.set({"method": "PATCH", "path": path, "status": 409})
    opts = knative.DeployOptions(image="registry.example.com/app:v4")
    with pytest.raises(ApiError) as info:
        knative.deploy(kube, svc, opts, wait=False)
    assert info.value.conflict and "someone else changed it" in info.value.hint
    assert faults.hits() == [CONFLICT_ATTEMPTS]


def test_a_create_racing_another_becomes_an_update(kube: Kube, faults: Faults) -> None:
    """deploy reads 'absent', someone creates the Service, our create gets 409: re-read, update."""
    name = "race-" + uuid.uuid4().hex[:6]

    def meddle(plan: knative.DeployPlan) -> None:
        if plan.action == "create":
            body = knative.service_manifest(name, kube.namespace, knative.DeployOptions())
            kube.create(knative.GROUP, knative.VERSION, "services", body)

    opts = knative.DeployOptions(image="registry.example.com/app:mine")
    result = knative.deploy(kube, name, opts, wait=False, on_plan=meddle)
    assert result.action == "updated"
    obj = kube.get(knative.GROUP, knative.VERSION, "services", name)
    assert obj is not None
    assert (
        obj["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/app:mine"
    )


def test_errors_are_one_line_knwalk_errors(kube: Kube, faults: Faults) -> None:
    faults.set({"method": "GET", "path": one(kube, "z"), "status": 500})
    kube.max_retries = 1
    with pytest.raises(KnwalkError) as info:
        kube.get(WG, WV, WIDGETS, "z")
    assert "\n" not in info.value.message and info.value.hint


def test_a_deploy_whose_patch_answer_was_lost_reports_the_update(
    kube: Kube, faults: Faults, svc: str
) -> None:
    """The patch applied, its answer was lost; the retry got 409 and the re-read shows our
    change in place: that is "updated" (and waited for), not "unchanged"."""
    path = f"/apis/serving.knative.dev/v1/namespaces/{kube.namespace}/services/{svc}"
    faults.set({"method": "PATCH", "path": path, "drop": True, "after": True, "times": 1})
    opts = knative.DeployOptions(image="registry.example.com/app:lost")
    result = knative.deploy(kube, svc, opts, wait=False)
    assert result.action == "updated" and result.new_revision
    assert result.service.template["spec"]["containers"][0]["image"] == opts.image


def test_a_split_whose_patch_answer_was_lost_reports_the_change(
    kube: Kube, faults: Faults, svc: str
) -> None:
    path = f"/apis/serving.knative.dev/v1/namespaces/{kube.namespace}/services/{svc}"
    faults.set({"method": "PATCH", "path": path, "drop": True, "after": True, "times": 1})
    result = knative.split(kube, svc, ["r-00001=40", "@latest=60"], wait=False)
    assert result.changed and result.attempts == 2
    assert knative._normal(result.service.spec_traffic) == knative._normal(result.block)
