"""knative: input parsing, manifest and patch builders, views (pure, no cluster)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kn_walk import knative
from kn_walk.errors import UsageError

SERVICE: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {"name": "hello", "namespace": "ns", "resourceVersion": "42", "generation": 2},
    "spec": {
        "template": {
            "metadata": {"name": "hello-v1", "annotations": {"a": "b"}},
            "spec": {
                "containerConcurrency": 0,
                "containers": [
                    {
                        "image": "gcr.io/knative-samples/helloworld-go",
                        "name": "user-container",
                        "env": [{"name": "TARGET", "value": "v1"}, {"name": "X", "value": "1"}],
                        "ports": [{"name": "h2c", "containerPort": 8080}],
                    }
                ],
            },
        },
        "traffic": [{"latestRevision": True, "percent": 100}],
    },
    "status": {
        "observedGeneration": 2,
        "url": "http://hello.ns.example.com",
        "latestCreatedRevisionName": "hello-v1",
        "latestReadyRevisionName": "hello-v1",
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "RoutesReady", "status": "True"},
        ],
        "traffic": [
            {"revisionName": "hello-v1", "latestRevision": True, "percent": 100},
        ],
    },
}


def opts(**kw: Any) -> knative.DeployOptions:
    return knative.DeployOptions(**kw)


# --------------------------------------------------------------------------- parsing


def test_parse_env_forms() -> None:
    change = knative.parse_env(["A=1", "B=x=y", "C=", "D-"], ["E"], target="T")
    assert change.set == (("A", "1"), ("B", "x=y"), ("C", ""), ("TARGET", "T"))
    assert change.unset == ("D", "E")


@pytest.mark.parametrize(
    ("items", "unset", "target", "text"),
    [
        (["FOO"], [], None, "not NAME=VALUE"),
        (["=x"], [], None, "no variable name"),
        (["9X=1"], [], None, "not valid"),
        (["A=1", "A=2"], [], None, "twice"),
        (["A=1"], ["A"], None, "both set and removed"),
        ([], ["A", "A"], None, "removed twice"),
        (["TARGET=x"], [], "y", "both set TARGET"),
        (["-"], [], None, "not NAME=VALUE"),
        ([], ["bad name"], None, "not valid"),
    ],
)
def test_parse_env_errors(
    items: list[str], unset: list[str], target: str | None, text: str
) -> None:
    with pytest.raises(UsageError, match=text):
        knative.parse_env(items, unset, target)


def test_revision_name_suffix_or_full() -> None:
    assert knative.parse_revision_name("hello", "v2") == "hello-v2"
    assert knative.parse_revision_name("hello", "hello-v2") == "hello-v2"
    assert knative.parse_revision_name("hello", None) is None
    with pytest.raises(UsageError):
        knative.parse_revision_name("hello", "V2")
    with pytest.raises(UsageError):
        knative.parse_revision_name("hello", "x" * 60)


@pytest.mark.parametrize("name", ["", "Hello", "1abc", "a_b", "a" * 64, "abc-"])
def test_bad_service_names(name: str) -> None:
    with pytest.raises(UsageError):
        knative.check_service_name(name)


@given(st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True))
def test_dns1035_service_names_accepted(name: str) -> None:
    assert knative.check_service_name(name) == name


def test_read_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: a}\n")
    assert knative.read_manifest(path)["metadata"]["name"] == "a"


# --------------------------------------------------------------------------- builders


def test_new_service_has_the_walkthrough_defaults() -> None:
    body = knative.service_manifest("hello", "ns", opts())
    assert body == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "ns"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": "gcr.io/knative-samples/helloworld-go",
                            "env": [{"name": "TARGET", "value": "Go Sample v1"}],
                        }
                    ]
                }
            }
        },
    }


def test_new_service_with_options() -> None:
    body = knative.service_manifest(
        "hello",
        "ns",
        opts(
            image="img",
            env=knative.parse_env(["A=1"], ["TARGET"]),
            port=9000,
            revision_name="hello-one",
        ),
    )
    template = body["spec"]["template"]
    assert template["metadata"] == {"name": "hello-one"}
    assert template["spec"]["containers"] == [
        {"image": "img", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 9000}]}
    ]


def test_update_patch_changes_only_what_is_named() -> None:
    original = copy.deepcopy(SERVICE)
    patch = knative.update_patch(SERVICE, opts(env=knative.parse_env([], target="v2")))
    assert original == SERVICE  # the input is not mutated
    assert patch is not None
    assert patch["metadata"] == {"resourceVersion": "42"}
    container = patch["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "TARGET", "value": "v2"}, {"name": "X", "value": "1"}]
    assert container["ports"] == [{"name": "h2c", "containerPort": 8080}]
    assert container["image"] == "gcr.io/knative-samples/helloworld-go"
    # the old BYO revision name cannot be reused for a new template: cleared
    assert patch["spec"]["template"]["metadata"] == {"name": None}
    assert "traffic" not in patch["spec"]


def test_update_patch_port_keeps_the_port_name() -> None:
    patch = knative.update_patch(SERVICE, opts(port=9090))
    assert patch is not None
    ports = patch["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert ports == [{"name": "h2c", "containerPort": 9090}]


def test_update_patch_unchanged_is_none() -> None:
    assert knative.update_patch(SERVICE, opts()) is None
    same = opts(image="gcr.io/knative-samples/helloworld-go", env=knative.parse_env(["X=1"]))
    assert knative.update_patch(SERVICE, same) is None
    assert knative.update_patch(SERVICE, opts(revision_name="hello-v1")) is None


def test_update_patch_new_revision_name_only() -> None:
    patch = knative.update_patch(SERVICE, opts(revision_name="hello-v2"))
    assert patch is not None
    assert patch["spec"]["template"]["metadata"] == {"name": "hello-v2"}


# --------------------------------------------------------------------------- views


def test_service_view() -> None:
    svc = knative.ServiceView.from_obj(SERVICE)
    assert (svc.name, svc.namespace, svc.generation, svc.observed_generation) == (
        "hello",
        "ns",
        2,
        2,
    )
    assert svc.ready_status == "True"
    assert svc.traffic[0].latest_revision is True
    assert svc.spec_traffic == [{"latestRevision": True, "percent": 100}]


def test_views_never_fail_on_missing_fields() -> None:
    svc = knative.ServiceView.from_obj({})
    assert (svc.name, svc.ready_status, svc.observed_generation, svc.traffic) == (
        "",
        "Unknown",
        None,
        (),
    )
    rev = knative.RevisionView.from_obj({"metadata": {"labels": {}}})
    assert (rev.generation, rev.target, rev.sample_body) == (0, None, "Hello World!\n")
    route = knative.RouteView.from_obj({"status": {"traffic": "garbage"}})
    assert route.traffic == ()


def test_traffic_matches_ignores_order_and_resolves_latest() -> None:
    block = [
        {"tag": "current", "revisionName": "r2", "percent": 50},
        {"tag": "candidate", "revisionName": "r1", "percent": 50},
        {"tag": "latest", "latestRevision": True, "percent": 0},
    ]
    status = [
        knative.TrafficTarget(0, "r2", "latest", "u", True),
        knative.TrafficTarget(50, "r1", "candidate", "u", False),
        knative.TrafficTarget(50, "r2", "current", "u", False),
    ]
    assert knative.traffic_matches(block, status)
    assert not knative.traffic_matches(block, status[:2])
    moved = [knative.TrafficTarget(100, "r2", "", "", True)]
    assert not knative.traffic_matches(block, moved)


def _rev(name: str, gen: int, target: str | None) -> knative.RevisionView:
    env = (("TARGET", target),) if target is not None else ()
    return knative.RevisionView(name, "ns", gen, "", "hello", (), "img", env)


def test_expected_responses_follow_targets_and_tags() -> None:
    svc = knative.ServiceView.from_obj(SERVICE)
    traffic = (
        knative.TrafficTarget(50, "r2", "current", "http://current-x", False),
        knative.TrafficTarget(30, "r1", "candidate", "http://candidate-x", False),
        knative.TrafficTarget(20, "r0", "", "", False),
        knative.TrafficTarget(0, "r2", "latest", "http://latest-x", True),
    )
    route = knative.RouteView("hello", 1, 1, "", traffic, ())
    snap = knative.Snapshot(
        svc, None, (_rev("r2", 3, "v2"), _rev("r1", 2, "v1"), _rev("r0", 1, "v2")), route
    )
    got = [(e.body, e.percent, e.revisions) for e in knative.expected_responses(snap)]
    assert got == [("Hello v2!\n", 70, ("r2", "r0")), ("Hello v1!\n", 30, ("r1",))]
    tagged = knative.expected_responses(snap, "latest")
    assert [(e.body, e.percent) for e in tagged] == [("Hello v2!\n", 100)]
