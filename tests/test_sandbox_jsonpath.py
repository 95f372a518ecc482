"""The Kubernetes JSONPath subset used by CRD printer columns."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kn_walk.sandbox.machinery.jsonpath import JSONPathError, compile_path, evaluate

REVISION: dict[str, Any] = {
    "metadata": {
        "name": "helloworld-go-00001",
        "labels": {
            "serving.knative.dev/configuration": "helloworld-go",
            "serving.knative.dev/configurationGeneration": "1",
            "app": "hello",
        },
    },
    "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
    "status": {
        "url": "http://helloworld-go.default.example.com",
        "actualReplicas": 1,
        "conditions": [
            {"type": "Active", "status": "True"},
            {"type": "Ready", "status": "True", "reason": None},
            {"type": "ContainerHealthy", "status": "Unknown", "reason": "Deploying"},
        ],
        "loadBalancer": {"ingress": [{"ip": "10.0.0.7"}, {"hostname": "lb.example.com"}]},
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".status.url", ["http://helloworld-go.default.example.com"]),
        ("{.status.url}", ["http://helloworld-go.default.example.com"]),
        ("$.status.url", ["http://helloworld-go.default.example.com"]),
        (".metadata.labels['serving\\.knative\\.dev/configuration']", ["helloworld-go"]),
        (".metadata.labels['serving\\.knative\\.dev/configurationGeneration']", ["1"]),
        (".status.conditions[?(@.type=='Ready')].status", ["True"]),
        ('.status.conditions[?(@.type=="ContainerHealthy")].reason', ["Deploying"]),
        (".status.conditions[?(@.type!='Ready')].type", ["Active", "ContainerHealthy"]),
        (".status.conditions[?(@.reason)].type", ["Ready", "ContainerHealthy"]),
        (".spec.ports[*].port", [80, 443]),
        (".spec.ports[0].name", ["http"]),
        (".spec.ports[-1].port", [443]),
        (".spec.ports[0:1].port", [80]),
        (".spec.ports[::2].port", [80]),
        (".spec.ports[0,1].name", ["http", "https"]),
        (".spec.ports[?(@.port>100)].name", ["https"]),
        (".spec.ports[?(@.port<=80)].name", ["http"]),
        (".status.loadBalancer.ingress[0].ip", ["10.0.0.7"]),
        (".status.loadBalancer.ingress[*].hostname", ["lb.example.com"]),
        (".status.actualReplicas", [1]),
        ("..port", [80, 443]),
        (".metadata.labels.app", ["hello"]),
    ],
)
def test_printer_column_paths(path: str, expected: list[Any]) -> None:
    assert evaluate(path, REVISION) == expected


@pytest.mark.parametrize(
    "path",
    [
        ".status.missing",
        ".missing.deeper.still",
        ".status.desiredReplicas",
        ".status.conditions[?(@.type=='Nope')].status",
        ".metadata.labels['serving.knative.dev/configuration']",  # unescaped dots: 4 keys
        ".status.url.host",  # a field of a string
    ],
)
def test_missing_is_empty(path: str) -> None:
    assert evaluate(path, REVISION) == []


def test_present_null_is_a_match() -> None:
    assert evaluate(".status.conditions[?(@.type=='Ready')].reason", REVISION) == [None]


@pytest.mark.parametrize(
    "path",
    [
        ".spec.ports[5].port",  # index out of range is an error in Go
        ".status.url[0]",  # indexing a string
        ".status.conditions[?(@.type==1)]",  # comparing a string with a number
        ".status[?(@.x=='y')]",  # filtering a map
        ".spec.ports[0:1:0]",  # zero step
        ".spec.ports[",  # unterminated
        ".spec.ports[abc]",  # not an index
    ],
)
def test_run_time_errors_come_back_empty(path: str) -> None:
    assert evaluate(path, REVISION) == []


def test_empty_list_index() -> None:
    assert evaluate(".items[0]", {"items": []}) == []
    assert evaluate(".items[0:0]", {"items": []}) == []


def test_bad_syntax_raises_from_compile() -> None:
    with pytest.raises(JSONPathError):
        compile_path(".a[")
    with pytest.raises(JSONPathError):
        compile_path(".a[?(@.b=='x')")


def test_comparisons_need_matching_kinds() -> None:
    data = {"xs": [{"v": 1}, {"v": 2.5}, {"v": True}, {"v": "a"}]}
    assert evaluate(".xs[?(@.v==1)]", {"xs": [{"v": 1}, {"v": 2}]}) == [{"v": 1}]
    # one element of another kind makes the whole filter fail, as in client-go
    assert evaluate(".xs[?(@.v==1)]", data) == []
    assert evaluate(".xs[?(@.v==true)].v", {"xs": [{"v": True}, {"v": False}]}) == [True]


def test_wildcard_over_map_values_is_sorted() -> None:
    assert evaluate(".m.*", {"m": {"b": 2, "a": 1}}) == [1, 2]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["a", "b", "status", "type", "x.y", ""]), children, max_size=4
        )
    ),
    max_leaves=20,
)
PATHS = st.sampled_from(
    [
        ".a",
        ".a.b",
        ".status.conditions[?(@.type=='Ready')].status",
        ".a[*].b",
        ".a[0]",
        ".a[-1:]",
        "..type",
        ".*",
        ".a['x\\.y']",
        ".a[?(@.b)]",
        ".a[?(@.b>1)]",
        ".a[0,1]",
    ]
)


@settings(max_examples=300, deadline=None)
@given(obj=JSON, path=PATHS | st.text(max_size=20))
def test_evaluate_never_raises(obj: Any, path: str) -> None:
    result = evaluate(path, obj)
    assert isinstance(result, list)
