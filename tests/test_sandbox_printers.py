"""kube-apiserver's printers for Nodes, EndpointSlices and APIServices, seen through kubectl.

``kubectl get`` prints the columns the server's Table sends; without a printer the
sandbox sent NAME and CREATED AT, where a cluster prints NAME STATUS ROLES AGE VERSION
for Nodes (printNode), NAME ADDRESSTYPE PORTS ENDPOINTS AGE for EndpointSlices
(printEndpointSlice) and NAME SERVICE AVAILABLE AGE for APIServices (kube-aggregator's
ConvertToTable).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kn_walk.sandbox.apiserver.api import KUBE_VERSION
from kn_walk.sandbox.machinery.resourcetypes import Registry, ResourceType
from kn_walk.sandbox.machinery.tables import to_table
from tests.conftest import Sandbox
from tests.test_kubectl import KUBECTL, Kubectl, table

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
REG = Registry.default()
CREATED = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")

needs_kubectl = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")


@pytest.fixture
def kubectl(sandbox: Sandbox, tmp_path: Path) -> Kubectl:
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(tmp_path / "cache")
    return Kubectl(env, "default", tmp_path)


def rt(group: str, version: str, plural: str) -> ResourceType:
    found = REG.get(group, version, plural)
    assert found is not None
    return found


def cells(group: str, version: str, plural: str, obj: dict[str, Any]) -> list[Any]:
    table_ = to_table(rt(group, version, plural), [obj], resource_version="1", now=NOW)
    row: list[Any] = table_["rows"][0]["cells"]
    return row


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "creationTimestamp": CREATED, **extra}


# ------------------------------------------------------------------------ kubectl


@needs_kubectl
def test_kubectl_get_nodes(kubectl: Kubectl) -> None:
    [(cols, rows)] = table(kubectl.ok("get", "nodes", namespaced=False))
    assert cols == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["NAME"], row["STATUS"], row["ROLES"]) == (
        "knwalk-sandbox",
        "Ready",
        "control-plane",
    )
    assert row["VERSION"] == KUBE_VERSION["gitVersion"]
    [(cols, rows)] = table(kubectl.ok("get", "nodes", "-o", "wide", namespaced=False))
    assert cols == [
        "NAME",
        "STATUS",
        "ROLES",
        "AGE",
        "VERSION",
        "INTERNAL-IP",
        "EXTERNAL-IP",
        "OS-IMAGE",
        "KERNEL-VERSION",
        "CONTAINER-RUNTIME",
    ]
    assert rows[0]["INTERNAL-IP"] == "127.0.0.1"
    assert rows[0]["EXTERNAL-IP"] == "<none>"
    assert rows[0]["KERNEL-VERSION"] == os.uname().release
    assert rows[0]["CONTAINER-RUNTIME"].startswith("knwalk-sandbox://")


@needs_kubectl
def test_kubectl_get_endpointslices(kubectl: Kubectl, sandbox: Sandbox) -> None:
    [(cols, rows)] = table(kubectl.ok("get", "endpointslices", "-n", "default"))
    assert cols == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    kubernetes = next(r for r in rows if r["NAME"] == "kubernetes")
    assert kubernetes["ADDRESSTYPE"] == "IPv4"
    assert kubernetes["PORTS"] == str(sandbox.info.api_port)
    assert kubernetes["ENDPOINTS"] == "127.0.0.1"


@needs_kubectl
def test_kubectl_get_apiservices(kubectl: Kubectl) -> None:
    [(cols, rows)] = table(kubectl.ok("get", "apiservices", namespaced=False))
    assert cols == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    by_name = {r["NAME"]: r for r in rows}
    assert by_name["v1."]["SERVICE"] == "Local"
    assert by_name["v1.apps"]["AVAILABLE"] == "True"
    assert all(r["SERVICE"] == "Local" and r["AVAILABLE"] == "True" for r in rows)


# ------------------------------------------------------------------- printer logic


def test_node_status_roles_and_wide_cells() -> None:
    node: dict[str, Any] = {
        "metadata": meta(
            "n1",
            labels={
                "node-role.kubernetes.io/worker": "",
                "node-role.kubernetes.io/": "",  # no role name: not a role
                "kubernetes.io/role": "edge",
            },
        ),
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "False"},
            ],
            "addresses": [
                {"type": "ExternalIP", "address": "203.0.113.9"},
                {"type": "InternalIP", "address": "10.0.0.4"},
            ],
            "nodeInfo": {"kubeletVersion": "v1.33.1"},
        },
    }
    assert cells("", "v1", "nodes", node) == [
        "n1",
        "NotReady,SchedulingDisabled",
        "edge,worker",
        "5m",
        "v1.33.1",
        "10.0.0.4",
        "203.0.113.9",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]
    bare = {"metadata": meta("n2")}
    assert cells("", "v1", "nodes", bare)[:5] == ["n2", "Unknown", "<none>", "5m", ""]


def test_endpointslice_lists_three_then_more() -> None:
    many: dict[str, Any] = {
        "metadata": meta("s1"),
        "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "https"}, {}, {"port": 9090}],
        "endpoints": [
            {"addresses": ["10.0.0.1", "10.0.0.2"]},
            {"addresses": ["10.0.0.3"]},
            {"addresses": ["10.0.0.4", "10.0.0.5"]},
        ],
    }
    assert cells("discovery.k8s.io", "v1", "endpointslices", many) == [
        "s1",
        "IPv4",
        "80,https,* + 1 more...",
        "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...",
        "5m",
    ]
    empty = {"metadata": meta("s2"), "addressType": "FQDN", "endpoints": None}
    assert cells("discovery.k8s.io", "v1", "endpointslices", empty) == [
        "s2",
        "FQDN",
        "<unset>",
        "<unset>",
        "5m",
    ]


def test_apiservice_service_and_availability() -> None:
    def api_service(**status: Any) -> dict[str, Any]:
        return {
            "metadata": meta("v1beta1.metrics.k8s.io"),
            "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
            "status": {"conditions": [{"type": "Available", **status}]} if status else {},
        }

    table_rt = ("apiregistration.k8s.io", "v1", "apiservices")
    down = api_service(status="False", reason="MissingEndpoints")
    assert cells(*table_rt, down) == [
        "v1beta1.metrics.k8s.io",
        "kube-system/metrics-server",
        "False (MissingEndpoints)",
        "5m",
    ]
    assert cells(*table_rt, api_service(status="True", reason="Passed"))[2] == "True"
    assert cells(*table_rt, api_service(status="False"))[2] == "False"
    assert cells(*table_rt, api_service())[2] == "Unknown"


def test_column_descriptions_are_the_published_field_docs() -> None:
    from kn_walk.sandbox.machinery.definitions import builtin_definitions

    defs = builtin_definitions()
    node = to_table(rt("", "v1", "nodes"), [], resource_version="1")
    by_name = {c["name"]: c for c in node["columnDefinitions"]}
    assert (
        by_name["Version"]["description"]
        == defs["io.k8s.api.core.v1.NodeSystemInfo"]["properties"]["kubeletVersion"]["description"]
    )
    assert [c["priority"] for c in node["columnDefinitions"]] == [0] * 5 + [1] * 5
    slices = to_table(rt("discovery.k8s.io", "v1", "endpointslices"), [], resource_version="1")
    assert all(c["description"] for c in slices["columnDefinitions"])
