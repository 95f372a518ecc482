"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kn_walk.sandbox.machinery.patch import (
    GENERIC_422,
    PatchError,
    json_patch,
    merge_patch,
    smp_list_strategy,
    strategic_merge_patch,
)

# --------------------------------------------------------------------------- RFC 7386

# RFC 7386, Appendix A
MERGE_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), MERGE_CASES)
def test_merge_patch_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == expected
    assert target == before


def test_merge_patch_result_shares_nothing_with_inputs() -> None:
    target = {"a": {"b": [1]}}
    patch = {"c": {"d": [2]}}
    out = merge_patch(target, patch)
    out["a"]["b"].append(9)
    out["c"]["d"].append(9)
    assert target == {"a": {"b": [1]}}
    assert patch == {"c": {"d": [2]}}


# --------------------------------------------------------------------------- RFC 6902

# RFC 6902, Appendix A (and RFC 6901 escaping)
JSON_PATCH_CASES = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    (
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    (
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    (
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    ({"a/b": 1, "m~n": 2}, [{"op": "remove", "path": "/a~1b"}], {"m~n": 2}),
    ({"m~n": 2}, [{"op": "replace", "path": "/m~0n", "value": 3}], {"m~n": 3}),
    (
        {"a": {"b": [1, 2]}},
        [{"op": "copy", "from": "/a/b", "path": "/c"}],
        {"a": {"b": [1, 2]}, "c": [1, 2]},
    ),
    # evanphx/json-patch v4 (what kube-apiserver 1.32 runs) where it differs from the RFC
    ({"a": 1}, [{"op": "replace", "path": "/b", "value": 2}], {"a": 1, "b": 2}),
    ({"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/-1"}], {"l": [1, 2]}),
    ({"a": 1}, [{"op": "test", "path": "/missing", "value": None}], {"a": 1}),
    ({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
]


@pytest.mark.parametrize(("target", "ops", "expected"), JSON_PATCH_CASES)
def test_json_patch_examples(target: Any, ops: Any, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert json_patch(target, ops) == expected
    assert target == before


JSON_PATCH_FAILURES = [
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "testing value /baz failed"),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], "test failed"),
    (
        {"foo": "bar"},
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
        'add operation does not apply: doc is missing path: "/baz/bat"',
    ),
    ({"a": 1}, [{"op": "remove", "path": "/b"}], "Unable to remove nonexistent key: b"),
    ({"l": [1]}, [{"op": "add", "path": "/l/5", "value": 1}], "invalid index referenced"),
    ({"l": [1]}, [{"op": "replace", "path": "/l/3", "value": 1}], "doc is missing key: /l/3"),
    ({"a": 1}, [{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
    ({"a": 1}, [{"op": "add"}], "add operation failed to decode path"),
    ({"a": 1}, [{"op": "move", "from": "/x/y", "path": "/b"}], "missing from path: /x/y"),
    ({"a": 1}, [{"op": "add", "path": "", "value": {}}], "doc is missing path"),
]


@pytest.mark.parametrize(("target", "ops", "detail"), JSON_PATCH_FAILURES)
def test_json_patch_failures_are_422_invalid(target: Any, ops: Any, detail: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(target, ops)
    err = info.value
    assert detail in err.message
    # kube-apiserver: NewGenericServerResponse(422, ...) — the detail is not sent
    assert (err.code, err.reason, err.status_message) == (422, "Invalid", GENERIC_422)
    assert err.to_status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid",
        "details": {},
        "code": 422,
    }


def test_json_patch_test_failure_leaves_target_untouched() -> None:
    target = {"a": [1]}
    ops = [{"op": "add", "path": "/a/-", "value": 2}, {"op": "test", "path": "/a/0", "value": 5}]
    with pytest.raises(PatchError):
        json_patch(target, ops)
    assert target == {"a": [1]}


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        ([1], "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_undecodable_body_is_400(ops: Any, message: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch({}, ops)
    assert (info.value.code, info.value.reason, info.value.status_message) == (
        400,
        "BadRequest",
        message,
    )


def test_json_patch_operation_limit_is_413() -> None:
    with pytest.raises(PatchError) as info:
        json_patch({}, [{"op": "test", "path": "/a", "value": None}] * 10001)
    assert info.value.code == 413
    assert info.value.reason == "RequestEntityTooLarge"
    assert info.value.status_message == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, "
        "got 10001"
    )


# --------------------------------------------------------------------------- strategic merge


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def test_smp_client_side_apply_of_a_configmap_then_an_edit() -> None:
    """What `kubectl apply` sends on the second apply of a ConfigMap someone edited."""
    v1 = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1", "b": "2"},
    }
    live = {
        **copy.deepcopy(v1),
        "metadata": {
            "name": "c",
            "namespace": "default",
            "annotations": {LAST_APPLIED: json.dumps(v1) + "\n"},
        },
    }
    # kubectl edit adds a key nobody applied
    live = strategic_merge_patch(live, {"data": {"edited": "yes"}}, "ConfigMap")
    v2 = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}}
    # the three-way patch kubectl computes: change a, delete b (was applied), keep `edited`
    patch = {
        "data": {"a": "9", "b": None},
        "metadata": {"annotations": {LAST_APPLIED: json.dumps(v2) + "\n"}},
    }
    out = strategic_merge_patch(live, patch, "ConfigMap")
    assert out["data"] == {"a": "9", "edited": "yes"}
    assert out["metadata"]["annotations"][LAST_APPLIED] == json.dumps(v2) + "\n"
    assert out["metadata"]["namespace"] == "default"


def _deployment(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "finalizers": ["a", "b"]},
        "spec": {"template": {"spec": {"containers": containers}}},
    }


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def test_smp_merges_containers_by_name_with_set_element_order() -> None:
    live = _deployment(
        [
            {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "side:1"},
        ]
    )
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:2",
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                            "env": [{"name": "B", "value": "2"}],
                        }
                    ],
                }
            }
        }
    }
    before = copy.deepcopy(live)
    out = strategic_merge_patch(live, patch, "Deployment")
    assert live == before
    assert _containers(out) == [
        {
            "name": "app",
            "image": "app:2",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        },
        {"name": "side", "image": "side:1"},
    ]


def test_smp_set_element_order_reorders() -> None:
    live = _deployment([{"name": "a"}, {"name": "b"}, {"name": "c"}])
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [
        {"name": "c"}, {"name": "a"}, {"name": "b"}]}}}}  # fmt: skip
    out = strategic_merge_patch(live, patch, "Deployment")
    assert [c["name"] for c in _containers(out)] == ["c", "a", "b"]


def test_smp_directives_in_lists() -> None:
    live = _deployment([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}])
    deleted = strategic_merge_patch(
        live,
        {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}},
        "Deployment",
    )
    assert _containers(deleted) == [{"name": "b", "image": "2"}]
    replaced = strategic_merge_patch(
        live,
        {"spec": {"template": {"spec": {"containers": [{"name": "z"}, {"$patch": "replace"}]}}}},
        "Deployment",
    )
    assert _containers(replaced) == [{"name": "z"}]


def test_smp_directives_in_maps() -> None:
    live = {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    assert strategic_merge_patch(live, {"data": {"c": "3", "$patch": "replace"}}, "ConfigMap")[
        "data"
    ] == {"c": "3"}
    assert strategic_merge_patch(live, {"data": {"$patch": "delete"}}, "ConfigMap")["data"] == {}
    assert "data" not in strategic_merge_patch(live, {"data": None}, "ConfigMap")


def test_smp_retain_keys_switches_deployment_strategy() -> None:
    live = {
        "spec": {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            }
        }
    }
    patch = {
        "spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}
    }
    out = strategic_merge_patch(live, patch, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_primitive_list_merge_and_delete() -> None:
    live = _deployment([])
    out = strategic_merge_patch(
        live,
        {"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]}},
        "Deployment",
    )
    assert sorted(out["metadata"]["finalizers"]) == ["b", "c"]


def test_smp_ports_merge_keys_depend_on_where_they_are() -> None:
    svc = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}
    out = strategic_merge_patch(
        svc, {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}, "Service"
    )
    assert {"port": 80, "name": "http", "targetPort": 8080} in out["spec"]["ports"]
    assert {"port": 443, "name": "https"} in out["spec"]["ports"]

    live = _deployment([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}])
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}}  # fmt: skip
    out = strategic_merge_patch(live, patch, "Deployment")
    assert _containers(out)[0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"}
    ]


def test_smp_conditions_merge_by_type() -> None:
    live = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "status": "True"}]
        }
    }
    out = strategic_merge_patch(
        live, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, "Deployment"
    )
    by_type = {c["type"]: c["status"] for c in out["status"]["conditions"]}
    assert by_type == {"Ready": "True", "X": "True"}


def test_smp_lists_without_merge_key_are_replaced() -> None:
    live = _deployment([{"name": "a", "args": ["x", "y"]}])
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["z"]}]}}}}
    assert _containers(strategic_merge_patch(live, patch, "Deployment"))[0]["args"] == ["z"]
    # custom resources have no patch metadata: every list is replaced
    ksvc = {"spec": {"traffic": [{"percent": 100, "latestRevision": True}]}}
    out = strategic_merge_patch(ksvc, {"spec": {"traffic": [{"percent": 50}]}}, "Service.serving")
    assert out["spec"]["traffic"] == [{"percent": 50}]


def test_smp_new_values_lose_directives_and_nulls() -> None:
    out = strategic_merge_patch({}, {"metadata": {"labels": {"a": "1", "b": None}}}, "ConfigMap")
    assert out == {"metadata": {"labels": {"a": "1"}}}


@pytest.mark.parametrize(
    ("patch", "code", "reason", "message"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
            400,  # kube-apiserver: 500 with reason "" (the sandbox never 5xxs on bad input)
            "BadRequest",
            "map: map[image:x] does not contain declared merge key: name",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}}},
            400,  # kube-apiserver: 500 with reason "" (the sandbox never 5xxs on bad input)
            "BadRequest",
            "merging lists cannot yet be specified in the patch",
        ),
        (
            {"data": {"$patch": "bogus"}},
            400,  # kube-apiserver: 500 with reason "" (the sandbox never 5xxs on bad input)
            "BadRequest",
            "unknown patch type: bogus in map: map[$patch:bogus]",
        ),
        (
            {"spec": {"$retainKeys": "type"}},
            400,
            "BadRequest",
            "invalid patch format of retainKeys",
        ),
        (
            {"spec": {"$retainKeys": ["a"], "b": 1}},
            400,
            "BadRequest",
            "invalid patch format of retainKeys",
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList": ["a"]}},
            400,
            "BadRequest",
            "invalid patch format of primitive list",
        ),
        (["not", "a", "map"], 400, "BadRequest", "json: cannot unmarshal array into Go value"),
    ],
)
def test_smp_errors_map_to_kube_statuses(patch: Any, code: int, reason: str, message: str) -> None:
    live = _deployment([{"name": "a"}])
    live["data"] = {"x": "1"}
    live["spec"]["b"] = 0
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(live, patch, "Deployment")
    assert (info.value.code, info.value.reason) == (code, reason)
    assert message in info.value.status_message


def test_smp_list_of_lists_is_422() -> None:
    live = {"metadata": {"finalizers": [["a"]]}}
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(live, {"metadata": {"finalizers": [["b"]]}}, "ConfigMap")
    assert (info.value.code, info.value.reason, info.value.status_message) == (
        422,
        "Invalid",
        GENERIC_422,
    )


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [
        ("Deployment", ("spec", "template", "spec", "containers"), ("merge", "name")),
        (
            "Deployment",
            ("spec", "template", "spec", "containers", "ports"),
            ("merge", "containerPort"),
        ),
        (
            "Deployment",
            ("spec", "template", "spec", "containers", "volumeMounts"),
            ("merge", "mountPath"),
        ),
        ("Deployment", ("spec", "template", "spec", "imagePullSecrets"), ("merge", "name")),
        ("Deployment", ("spec", "template", "spec", "tolerations"), ("replace", "")),
        ("Service", ("spec", "ports"), ("merge", "port")),
        ("ServiceAccount", ("secrets",), ("merge", "name")),
        ("ServiceAccount", ("imagePullSecrets",), ("replace", "")),
        ("Namespace", ("spec", "finalizers"), ("replace", "")),
        ("ConfigMap", ("metadata", "finalizers"), ("merge", "")),
        ("Namespace", ("status", "conditions"), ("merge", "type")),
        ("Service.serving.knative.dev", ("spec", "traffic"), ("replace", "")),
        # read from the published schemas, so every served built-in kind has them
        ("StatefulSet", ("spec", "template", "spec", "hostAliases"), ("merge", "ip")),
        ("Pod", ("status", "podIPs"), ("merge", "ip")),
        ("Pod", ("spec", "volumes"), ("merge", "name")),  # "merge,retainKeys"
        ("CustomResourceDefinition", ("status", "conditions"), ("replace", "")),
        ("Job", ("spec", "template", "spec", "containers", "env"), ("merge", "name")),
        ("Scale", ("spec",), ("replace", "")),
    ],
)
def test_smp_merge_key_table(kind: str, path: tuple[str, ...], expected: tuple[str, str]) -> None:
    assert smp_list_strategy(kind, path) == expected


def test_maps_whose_patch_strategy_is_replace_are_replaced() -> None:
    # PodDisruptionBudgetSpec.selector carries patchStrategy=replace
    live = {"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}}
    patch = {"spec": {"selector": {"matchLabels": {"b": "2"}}}}
    out = strategic_merge_patch(live, patch, "PodDisruptionBudget")
    assert out["spec"] == {"selector": {"matchLabels": {"b": "2"}}, "minAvailable": 1}
    # other maps merge
    merged = strategic_merge_patch(live, patch, "Deployment")
    assert merged["spec"]["selector"] == {"matchLabels": {"a": "1", "b": "2"}}


# --------------------------------------------------------------------------- properties

_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)
_no_null_scalars = st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
_json_no_null = st.recursive(
    _no_null_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcd"), inner, max_size=3)
    ),
    max_leaves=12,
)
_objects_no_null = st.dictionaries(st.sampled_from("abcd"), _json_no_null, max_size=4)


def _diff(src: Any, dst: Any) -> Any:
    """A merge patch turning ``src`` into ``dst`` (what `kubectl` computes for CRs)."""
    if not isinstance(src, dict) or not isinstance(dst, dict):
        return copy.deepcopy(dst)
    out: dict[str, Any] = {k: None for k in src if k not in dst}
    for key, value in dst.items():
        if key not in src:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(src[key], dict):
            sub = _diff(src[key], value)
            if sub:
                out[key] = sub
        elif src[key] != value or type(src[key]) is not type(value):
            out[key] = copy.deepcopy(value)
    return out


@given(_objects_no_null, _objects_no_null)
def test_merge_patch_of_a_diff_reproduces_the_target(
    src: dict[str, Any], dst: dict[str, Any]
) -> None:
    assert merge_patch(src, _diff(src, dst)) == dst


_pointers = st.lists(
    st.sampled_from(["a", "b", "0", "1", "-", "~0", "~1", "", "x/y"]), max_size=3
).map(lambda parts: "".join("/" + p for p in parts))
_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"])},
    optional={"path": _pointers | _scalars, "from": _pointers | _scalars, "value": _json},
)


@settings(max_examples=300)
@given(_json, st.lists(_ops | _json, max_size=4) | _json)
def test_json_patch_raises_only_patch_error(target: Any, ops: Any) -> None:
    before = copy.deepcopy(target)
    try:
        json_patch(target, ops)
    except PatchError as err:
        assert err.code in (400, 413, 422)
    assert target == before


_smp_keys = st.sampled_from(
    [
        "containers",
        "name",
        "image",
        "ports",
        "containerPort",
        "spec",
        "finalizers",
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$deleteFromPrimitiveList/finalizers",
        "metadata",
        "template",
    ]
)
_smp_values = st.recursive(
    _scalars | st.sampled_from(["delete", "replace", "merge"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_smp_keys, inner, max_size=3),
    max_leaves=14,
)


@settings(max_examples=300)
@given(
    st.dictionaries(_smp_keys, _smp_values, max_size=3),
    st.dictionaries(_smp_keys, _smp_values, max_size=3),
)
def test_strategic_merge_patch_raises_only_patch_error(target: Any, patch: Any) -> None:
    before = (copy.deepcopy(target), copy.deepcopy(patch))
    try:
        out = strategic_merge_patch(target, patch, "Deployment")
    except PatchError:
        pass
    else:
        assert isinstance(out, dict)
    assert (target, patch) == before
