"""Server-side printing (meta.k8s.io/v1 Table), as kube-apiserver does it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kn_walk.sandbox.machinery.resourcetypes import Registry, ResourceType, types_from_crd
from kn_walk.sandbox.machinery.tables import (
    format_label_selector,
    go_float,
    human_duration,
    timestamp_age,
    to_table,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
REG = Registry.default()


def rt(group: str, plural: str, version: str = "v1") -> ResourceType:
    found = REG.get(group, version, plural)
    assert found is not None
    return found


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def names(table: dict[str, Any]) -> list[str]:
    return [c["name"] for c in table["columnDefinitions"]]


def cells(table: dict[str, Any]) -> list[list[Any]]:
    return [row["cells"] for row in table["rows"]]


KSVC: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {
        "name": "helloworld-go",
        "namespace": "default",
        "resourceVersion": "42",
        "creationTimestamp": ago(minutes=3, seconds=12),
        "generation": 2,
    },
    "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/knative/helloworld-go"}]}}},
    "status": {
        "observedGeneration": 2,
        "url": "http://helloworld-go.default.127.0.0.1.sslip.io",
        "latestCreatedRevisionName": "helloworld-go-00002",
        "latestReadyRevisionName": "helloworld-go-00002",
        "conditions": [
            {"type": "ConfigurationsReady", "status": "True"},
            {"type": "Ready", "status": "True"},
            {"type": "RoutesReady", "status": "True"},
        ],
        "traffic": [
            {"revisionName": "helloworld-go-00001", "percent": 50, "tag": "current"},
            {"revisionName": "helloworld-go-00002", "percent": 50, "tag": "candidate"},
        ],
    },
}

REVISION: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Revision",
    "metadata": {
        "name": "helloworld-go-00001",
        "namespace": "default",
        "labels": {
            "serving.knative.dev/configuration": "helloworld-go",
            "serving.knative.dev/configurationGeneration": "1",
            "serving.knative.dev/service": "helloworld-go",
        },
        "creationTimestamp": ago(hours=2),
    },
    "status": {
        "actualReplicas": 1,
        "desiredReplicas": 1,
        "conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "Deploying"},
        ],
    },
}


def test_ksvc_table_like_a_real_cluster() -> None:
    table = to_table(rt("serving.knative.dev", "services"), [KSVC], resource_version="42", now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert names(table) == ["Name", "URL", "LatestCreated", "LatestReady", "Ready", "Reason"]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert all(c["priority"] == 0 for c in table["columnDefinitions"])
    assert cells(table) == [
        [
            "helloworld-go",
            "http://helloworld-go.default.127.0.0.1.sslip.io",
            "helloworld-go-00002",
            "helloworld-go-00002",
            "True",
            None,
        ]
    ]
    # CRD columns without a description get the apiserver's generated one
    assert table["columnDefinitions"][1]["description"] == (
        "Custom resource definition column (in JSONPath format): .status.url"
    )
    json.dumps(table)  # serialisable as-is


def test_revision_table_like_a_real_cluster() -> None:
    table = to_table(rt("serving.knative.dev", "revisions"), [REVISION], resource_version="7")
    assert names(table) == [
        "Name",
        "Config Name",
        "Generation",
        "Ready",
        "Reason",
        "Actual Replicas",
        "Desired Replicas",
    ]
    assert [c["type"] for c in table["columnDefinitions"]][-2:] == ["integer", "integer"]
    assert cells(table) == [
        ["helloworld-go-00001", "helloworld-go", "1", "Unknown", "Deploying", 1, 1]
    ]


def test_fresh_ksvc_without_status_has_null_cells() -> None:
    fresh = {"metadata": {"name": "new"}, "spec": {}}
    table = to_table(rt("serving.knative.dev", "services"), [fresh], resource_version="1")
    assert cells(table) == [["new", None, None, None, None, None]]


def test_route_and_configuration_columns() -> None:
    route = to_table(rt("serving.knative.dev", "routes"), [KSVC], resource_version="1")
    assert names(route) == ["Name", "URL", "Ready", "Reason"]
    config = to_table(rt("serving.knative.dev", "configurations"), [KSVC], resource_version="1")
    assert names(config) == ["Name", "LatestCreated", "LatestReady", "Ready", "Reason"]


def test_include_object_variants() -> None:
    svc = rt("serving.knative.dev", "services")
    meta = to_table(svc, [KSVC], resource_version="1")["rows"][0]["object"]
    assert meta == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": KSVC["metadata"],
    }
    assert (
        to_table(svc, [KSVC], resource_version="1", include_object="")["rows"][0]["object"] == meta
    )
    full = to_table(svc, [KSVC], resource_version="1", include_object="Object")
    assert full["rows"][0]["object"] == KSVC
    none = to_table(svc, [KSVC], resource_version="1", include_object="None")
    assert none["rows"][0]["object"] is None
    with pytest.raises(ValueError, match='unrecognized includeObject value: "Bogus"'):
        to_table(svc, [KSVC], resource_version="1", include_object="Bogus")


def test_list_metadata_and_no_headers() -> None:
    table = to_table(
        rt("", "configmaps"),
        [],
        resource_version="99",
        continue_token="abc",
        remaining_item_count=3,
        no_headers=True,
    )
    assert table["metadata"] == {
        "resourceVersion": "99",
        "continue": "abc",
        "remainingItemCount": 3,
    }
    assert table["columnDefinitions"] is None
    assert table["rows"] == []


def test_crd_without_printer_columns_prints_name_and_age() -> None:
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    (widget,) = types_from_crd(crd)
    obj = {"metadata": {"name": "w1", "creationTimestamp": ago(days=2, hours=3)}}
    table = to_table(widget, [obj], resource_version="1", now=NOW)
    assert names(table) == ["Name", "Age"]
    assert table["columnDefinitions"][1]["type"] == "date"
    assert cells(table) == [["w1", "2d3h"]]


def test_custom_column_types() -> None:
    crd = {
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Thing", "plural": "things"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [
                        {"name": "Count", "type": "integer", "jsonPath": ".spec.count"},
                        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
                        {"name": "On", "type": "boolean", "jsonPath": ".spec.on"},
                        {"name": "Since", "type": "date", "jsonPath": ".status.since"},
                        {"name": "Blob", "type": "string", "jsonPath": ".spec.blob"},
                        {"name": "Big", "type": "string", "jsonPath": ".spec.big"},
                        {
                            "name": "Wide",
                            "type": "string",
                            "jsonPath": ".spec.wide",
                            "priority": 1,
                            "description": "shown with -o wide",
                        },
                    ],
                }
            ],
        },
    }
    (thing,) = types_from_crd(crd)
    obj = {
        "metadata": {"name": "t"},
        "spec": {
            "count": 2.0,
            "ratio": 3,
            "on": "yes",
            "blob": {"b": 1, "a": "<x>"},
            "big": 1e6,
            "wide": True,
        },
        "status": {"since": ago(seconds=30)},
    }
    table = to_table(thing, [obj], resource_version="1", now=NOW)
    assert cells(table) == [
        ["t", 2, 3.0, None, "30s", '{"a":"\\u003cx\\u003e","b":1}', "1e+06", "true"]
    ]
    wide = table["columnDefinitions"][-1]
    assert wide["priority"] == 1 and wide["description"] == "shown with -o wide"
    bad = {"metadata": {"name": "t"}, "status": {"since": "yesterday"}}
    assert to_table(thing, [bad], resource_version="1")["rows"][0]["cells"][4] == "<invalid>"


def test_builtin_namespaces_configmaps_secrets_serviceaccounts() -> None:
    ns = {"metadata": {"name": "default", "creationTimestamp": ago(days=10)}, "status": {}}
    t = to_table(rt("", "namespaces"), [ns], resource_version="1", now=NOW)
    assert names(t) == ["Name", "Status", "Age"]
    assert cells(t) == [["default", "Active", "10d"]]

    cm = {
        "metadata": {"name": "config-domain", "creationTimestamp": ago(seconds=5)},
        "data": {"a": "1", "b": "2"},
        "binaryData": {"c": "AA=="},
    }
    t = to_table(rt("", "configmaps"), [cm], resource_version="1", now=NOW)
    assert names(t) == ["Name", "Data", "Age"]
    assert cells(t) == [["config-domain", 3, "5s"]]

    secret = {"metadata": {"name": "s", "creationTimestamp": ago(minutes=5)}, "data": {"k": "dg=="}}
    t = to_table(rt("", "secrets"), [secret], resource_version="1", now=NOW)
    assert names(t) == ["Name", "Type", "Data", "Age"]
    assert cells(t) == [["s", "Opaque", 1, "5m"]]

    sa = {"metadata": {"name": "default", "creationTimestamp": ago(hours=5, minutes=4)}}
    t = to_table(rt("", "serviceaccounts"), [sa], resource_version="1", now=NOW)
    assert names(t) == ["Name", "Secrets", "Age"]
    assert cells(t) == [["default", 0, "5h4m"]]


def svc(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "istio-ingressgateway", "creationTimestamp": ago(minutes=40)},
        "spec": spec,
        "status": status or {},
    }


def test_builtin_services() -> None:
    services = rt("", "services")
    pending = svc(
        {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.12",
            "clusterIPs": ["10.96.0.12"],
            "ports": [
                {"name": "http2", "port": 80, "nodePort": 31380, "protocol": "TCP"},
                {"name": "https", "port": 443, "nodePort": 31390, "protocol": "TCP"},
            ],
            "selector": {"istio": "ingressgateway", "app": "istio-ingressgateway"},
        }
    )
    t = to_table(services, [pending], resource_version="1", now=NOW)
    assert names(t) == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert [c["priority"] for c in t["columnDefinitions"]] == [0, 0, 0, 0, 0, 0, 1]
    assert cells(t) == [
        [
            "istio-ingressgateway",
            "LoadBalancer",
            "10.96.0.12",
            "<pending>",
            "80:31380/TCP,443:31390/TCP",
            "40m",
            "app=istio-ingressgateway,istio=ingressgateway",
        ]
    ]
    ready = svc(pending["spec"], {"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}]}})
    assert to_table(services, [ready], resource_version="1")["rows"][0]["cells"][3] == "34.1.2.3"
    by_name = svc(pending["spec"], {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}})
    assert (
        to_table(services, [by_name], resource_version="1")["rows"][0]["cells"][3] == "lb.example"
    )
    cluster = svc({"clusterIP": "None", "ports": [{"port": 8080}]})
    row = to_table(services, [cluster], resource_version="1")["rows"][0]["cells"]
    assert row[1:5] == ["ClusterIP", "None", "<none>", "8080/TCP"]
    assert row[6] == "<none>"
    external = svc({"type": "ExternalName", "externalName": "example.com"})
    row = to_table(services, [external], resource_version="1")["rows"][0]["cells"]
    assert row[1:5] == ["ExternalName", "<none>", "example.com", "<none>"]


def test_builtin_deployments() -> None:
    dep = {
        "metadata": {"name": "activator", "creationTimestamp": ago(days=1, hours=2)},
        "spec": {
            "replicas": 2,
            "selector": {
                "matchLabels": {"app": "activator"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            },
            "template": {
                "spec": {
                    "containers": [
                        {"name": "activator", "image": "gcr.io/knative/activator:v1.23"},
                        {"name": "proxy", "image": "envoy"},
                    ]
                }
            },
        },
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
    }
    t = to_table(rt("apps", "deployments"), [dep], resource_version="1", now=NOW)
    assert names(t) == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert [c["priority"] for c in t["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert cells(t) == [
        [
            "activator",
            "1/2",
            2,
            1,
            "26h",
            "activator,proxy",
            "gcr.io/knative/activator:v1.23,envoy",
            "app=activator,tier in (a,b)",
        ]
    ]
    no_replicas = {"metadata": {"name": "x"}, "spec": {}}
    assert (
        to_table(rt("apps", "deployments"), [no_replicas], resource_version="1")["rows"][0][
            "cells"
        ][1]
        == "0/1"
    )


def test_builtin_crds_print_created_at() -> None:
    crd = {"metadata": {"name": "services.serving.knative.dev", "creationTimestamp": ago(days=3)}}
    t = to_table(
        rt("apiextensions.k8s.io", "customresourcedefinitions"),
        [crd],
        resource_version="1",
        now=NOW,
    )
    assert names(t) == ["Name", "Created At"]
    assert t["columnDefinitions"][1]["type"] == "date"
    assert cells(t) == [["services.serving.knative.dev", "2025-05-29T12:00:00Z"]]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-1.5, "0s"),
        (-2, "<invalid>"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (192, "3m12s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (7 * 86400, "7d"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (800 * 86400, "2y70d"),
        (3000 * 86400, "8y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_timestamp_age() -> None:
    assert timestamp_age(None) == "<unknown>"
    assert timestamp_age("not a time") == "<invalid>"
    assert timestamp_age("2025-06-01T11:59:00Z", NOW) == "60s"
    assert timestamp_age("2025-06-01T13:59:00+02:00", NOW) == "60s"


def test_go_float_and_selectors() -> None:
    assert [go_float(x) for x in (1.5, 100.0, 1e6, 123456.0, 1.25e-5, -2.0)] == [
        "1.5",
        "100",
        "1e+06",
        "123456",
        "1.25e-05",
        "-2",
    ]
    assert format_label_selector({"matchExpressions": [{"key": "k", "operator": "Exists"}]}) == "k"
    assert (
        format_label_selector({"matchExpressions": [{"key": "k", "operator": "DoesNotExist"}]})
        == "!k"
    )
    assert format_label_selector(None) == ""


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "metadata",
                    "name",
                    "creationTimestamp",
                    "spec",
                    "status",
                    "labels",
                    "conditions",
                    "type",
                    "ports",
                    "port",
                    "nodePort",
                    "data",
                    "template",
                    "containers",
                    "image",
                    "selector",
                    "matchLabels",
                    "matchExpressions",
                    "operator",
                    "values",
                    "loadBalancer",
                    "ingress",
                    "ip",
                    "clusterIPs",
                    "externalIPs",
                    "replicas",
                    "readyReplicas",
                    "actualReplicas",
                    "url",
                    "serving.knative.dev/configuration",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(
    objs=st.lists(JSON, max_size=3),
    which=st.sampled_from(sorted((t.group, t.plural, t.version) for t in REG.all())),
)
def test_to_table_never_raises(objs: list[Any], which: tuple[str, str, str]) -> None:
    found = rt(*which)
    table = to_table(found, objs, resource_version="1", include_object="Object")
    json.dumps(table, allow_nan=True)
    for row in table["rows"]:
        assert len(row["cells"]) == len(table["columnDefinitions"])
