"""kube-apiserver's printers for Endpoints and PodDisruptionBudgets (issue 13).

Without them the sandbox's Tables had NAME and CREATED AT, where a cluster prints NAME
ENDPOINTS AGE (printEndpoints: ``ip:port``, three at most, then ``+ N more...``) and NAME
MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE (printPodDisruptionBudget).
"""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes import client

from tests.conftest import Sandbox
from tests.test_kubectl import Kubectl, table
from tests.test_sandbox_printers import cells, meta, needs_kubectl

EP = ("", "v1", "endpoints")
PDB = ("policy", "v1", "poddisruptionbudgets")


def _endpoints(*subsets: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": meta("web"), "subsets": list(subsets)}


def _addresses(*ips: str) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


def test_endpoints_cells() -> None:
    assert cells(*EP, _endpoints()) == ["web", "<none>", "5m"]
    one = {"addresses": _addresses("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}]}
    assert cells(*EP, _endpoints(one))[1] == "10.0.0.1:80,10.0.0.2:80"
    two_ports = {
        "addresses": _addresses("10.0.0.1", "10.0.0.2"),
        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
    }
    assert (
        cells(*EP, _endpoints(two_ports))[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    )
    headless = {"addresses": _addresses("10.0.0.7")}
    v6 = {"addresses": _addresses("fd00::1"), "ports": [{"port": 8080}]}
    assert cells(*EP, _endpoints(headless, v6))[1] == "10.0.0.7,[fd00::1]:8080"


def test_pod_disruption_budget_cells() -> None:
    pdb = {"metadata": meta("pdb"), "spec": {"minAvailable": 2}, "status": {}}
    assert cells(*PDB, pdb) == ["pdb", "2", "N/A", 0, "5m"]
    pdb = {
        "metadata": meta("pdb"),
        "spec": {"maxUnavailable": "50%"},
        "status": {"disruptionsAllowed": 1},
    }
    assert cells(*PDB, pdb) == ["pdb", "N/A", "50%", 1, "5m"]


@needs_kubectl
def test_kubectl_get_endpoints_and_pdb(sandbox: Sandbox, api_client: Any, tmp_path: Any) -> None:
    ns = "pr-" + uuid.uuid4().hex[:8]
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_endpoints(
        ns,
        {
            "metadata": {"name": "web"},
            "subsets": [{"addresses": _addresses("10.0.0.1"), "ports": [{"port": 8080}]}],
        },
    )
    client.PolicyV1Api(api_client).create_namespaced_pod_disruption_budget(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(tmp_path / "cache")
    kubectl = Kubectl(env, ns, tmp_path)
    [(cols, rows)] = table(kubectl.ok("get", "endpoints"))
    assert cols == ["NAME", "ENDPOINTS", "AGE"]
    assert [(r["NAME"], r["ENDPOINTS"]) for r in rows] == [("web", "10.0.0.1:8080")]
    [(cols, rows)] = table(kubectl.ok("get", "pdb"))
    assert cols == ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"]
    assert [(r["NAME"], r["MIN AVAILABLE"], r["MAX UNAVAILABLE"]) for r in rows] == [
        ("web", "1", "N/A")
    ]
