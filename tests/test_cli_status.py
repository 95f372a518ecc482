"""``knwalk status`` against a real sandbox: table at 80 columns, stable JSON/YAML, listing."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import yaml

from tests.test_cli_support import Cluster, knwalk

V1, V2 = "helloworld-go-00001", "helloworld-go-00002"


def test_table_shows_service_revisions_and_route_tree(split_app: Cluster) -> None:
    result = split_app.run("status", "helloworld-go")
    assert result.code == 0, result.err
    ns = split_app.namespace
    lines = result.lines
    assert lines[0] == f"Service helloworld-go in namespace {ns}"
    assert lines[1].split() == ["URL", f"http://helloworld-go.{ns}.example.com"]
    assert lines[2].split() == ["Ready", "True"]
    assert lines[3].split() == ["Latest", "created", f"{V2},", "ready", V2]
    header = next(i for i, line in enumerate(lines) if line.startswith("REVISION"))
    assert lines[header].split() == [
        "REVISION", "GEN", "TRAFFIC", "TAGS", "READY", "PODS", "AGE", "TARGET", "/", "IMAGE"
    ]  # fmt: skip
    row2 = lines[header + 1].split()
    # at 80 columns the tags wrap onto a second line; every other column stays whole
    assert row2[:4] == [V2, "2", "50%", "current,"]
    assert row2[4] == "True" and row2[5] in ("0/0", "0/1", "1/1")  # PODS: actual/desired
    assert row2[-3:] == ["Go", "Sample", "v2"]
    assert lines[header + 2].split() == ["latest"]
    row1 = lines[header + 3].split()
    assert row1[:5] == [V1, "1", "50%", "candidate", "True"]
    tree = lines[lines.index("Route helloworld-go") :]
    assert tree[1].endswith(f"50% → {V2}  tag current")
    assert tree[2].endswith(f"http://current-helloworld-go.{ns}.example.com")
    assert tree[5].endswith(f"0% → @latest ({V2})  tag latest")
    assert "Not ready" not in result.out
    assert max(len(line) for line in lines) <= 80, result.out


def test_json_is_the_documented_shape(split_app: Cluster) -> None:
    result = split_app.run("status", "helloworld-go", "-o", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    ns = split_app.namespace
    assert list(doc) == [
        "name", "namespace", "url", "ready", "reason", "message", "generation",
        "observedGeneration", "latestCreatedRevision", "latestReadyRevision",
        "revisions", "traffic", "domainMappings", "conditions",
    ]  # fmt: skip
    assert doc["name"] == "helloworld-go"
    assert doc["url"] == f"http://helloworld-go.{ns}.example.com"
    assert doc["ready"] == "True"
    assert doc["latestReadyRevision"] == V2
    assert doc["generation"] == doc["observedGeneration"] == 3
    assert [
        (r["name"], r["generation"], r["percent"], r["tags"], r["target"]) for r in doc["revisions"]
    ] == [
        (V2, 2, 50, ["current", "latest"], "Go Sample v2"),
        (V1, 1, 50, ["candidate"], "Go Sample v1"),
    ]
    assert set(doc["revisions"][0]) == {
        "name", "generation", "created", "ready", "reason", "message", "percent", "tags",
        "target", "image", "actualReplicas", "desiredReplicas", "fault",
    }  # fmt: skip
    assert all(r["fault"] is None for r in doc["revisions"])  # no fault injected
    assert all(isinstance(r["actualReplicas"], int) for r in doc["revisions"])
    assert doc["traffic"] == [
        {
            "tag": "current",
            "revisionName": V2,
            "latestRevision": False,
            "percent": 50,
            "url": f"http://current-helloworld-go.{ns}.example.com",
        },
        {
            "tag": "candidate",
            "revisionName": V1,
            "latestRevision": False,
            "percent": 50,
            "url": f"http://candidate-helloworld-go.{ns}.example.com",
        },
        {
            "tag": "latest",
            "revisionName": V2,
            "latestRevision": True,
            "percent": 0,
            "url": f"http://latest-helloworld-go.{ns}.example.com",
        },
    ]
    assert doc["conditions"] == []
    assert doc["domainMappings"] == []


def test_yaml_equals_json(split_app: Cluster) -> None:
    as_json = json.loads(split_app.run("status", "helloworld-go", "-o", "json").out)
    as_yaml = yaml.safe_load(split_app.run("status", "helloworld-go", "-o", "yaml").out)
    assert as_yaml == as_json


def test_without_name_lists_the_namespace(cluster: Cluster) -> None:
    cluster.deploy()
    cluster.deploy("second")
    doc = json.loads(cluster.run("status", "-o", "json").out)
    assert [d["name"] for d in doc["items"]] == ["helloworld-go", "second"]
    text = cluster.run("status")
    assert text.code == 0
    assert "Service helloworld-go in namespace" in text.out
    assert "Service second in namespace" in text.out


def test_all_namespaces(cluster: Cluster, api_client: Any) -> None:
    from kubernetes import client

    other = "t-" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": other}})
    cluster.deploy()
    result = cluster.run("deploy", "elsewhere", "-n", other)
    assert result.code == 0, result.err
    result = knwalk("status", "-A", "-o", "json", "--kubeconfig", str(cluster.kubeconfig))
    assert result.code == 0, result.err
    found = {(d["namespace"], d["name"]) for d in json.loads(result.out)["items"]}
    assert {(cluster.namespace, "helloworld-go"), (other, "elsewhere")} <= found


def test_empty_namespace(cluster: Cluster) -> None:
    result = cluster.run("status")
    assert result.code == 0
    assert result.lines[0] == f"No Knative Services in namespace '{cluster.namespace}'."
    assert json.loads(cluster.run("status", "-o", "json").out) == {"items": []}


def test_conditions_that_are_not_true_are_shown(cluster: Cluster) -> None:
    cluster.claim_route("blocked")
    cluster.run("deploy", "blocked", "--no-wait")
    from tests.kube_helpers import wait_for

    wait_for(
        cluster.api_client,
        "services",
        cluster.namespace,
        "blocked",
        lambda o: any(
            c["type"] == "RoutesReady" and c["status"] == "False"
            for c in (o.get("status") or {}).get("conditions") or []
        ),
    )
    doc = json.loads(cluster.run("status", "blocked", "-o", "json").out)
    assert doc["ready"] == "False"
    assert doc["reason"] == "NotOwned"
    kinds = {(c["kind"], c["type"], c["status"]) for c in doc["conditions"]}
    assert ("Service", "RoutesReady", "False") in kinds
    text = cluster.run("status", "blocked")
    assert "Not ready" in text.out
    assert "Service/blocked" in text.out


def test_bad_input(cluster: Cluster) -> None:
    cluster.deploy()
    cases = [
        (["helloworld-go", "-o", "xml"], 2, "-o/--output"),
        (["helloworld-go", "-A"], 2, "takes no NAME"),
        (["-A"], 2, "conflict"),  # the helper passes -n
        (["missing"], 1, "not found"),
        (["Bad_Name"], 2, "DNS-1035"),
    ]
    for args, code, text in cases:
        result = cluster.run("status", *args)
        result.assert_error(code)
        assert text in result.error, (args, result.err)


def test_a_domain_mapping_of_the_service_is_shown(cluster: Cluster, api_client: Any) -> None:
    """A DomainMapping whose ref is the Service: its URL and readiness in the table and the
    JSON; one not yet claimed shows why it is not ready."""
    from kubernetes import client

    cluster.deploy()
    ns = cluster.namespace
    api = client.CustomObjectsApi(api_client)
    claimed, unclaimed = (f"{w}-{uuid.uuid4().hex[:6]}.example.test" for w in ("on", "off"))
    api.create_cluster_custom_object(
        "networking.internal.knative.dev",
        "v1alpha1",
        "clusterdomainclaims",
        {"apiVersion": "networking.internal.knative.dev/v1alpha1", "kind": "ClusterDomainClaim",
         "metadata": {"name": claimed}, "spec": {"namespace": ns}},
    )  # fmt: skip
    try:
        for domain in (claimed, unclaimed):
            api.create_namespaced_custom_object(
                "serving.knative.dev",
                "v1beta1",
                ns,
                "domainmappings",
                {"apiVersion": "serving.knative.dev/v1beta1", "kind": "DomainMapping",
                 "metadata": {"name": domain},
                 "spec": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                  "name": "helloworld-go"}}},
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            doc = json.loads(cluster.run("status", "helloworld-go", "-o", "json").out)
            mapped = {m["name"]: m for m in doc["domainMappings"]}
            if mapped.get(claimed, {}).get("ready") == "True" and mapped.get(unclaimed, {}).get(
                "reason"
            ):
                break
            assert time.monotonic() < deadline, doc["domainMappings"]
            time.sleep(0.1)
        assert list(mapped) == sorted([claimed, unclaimed])
        assert mapped[claimed]["url"] == f"http://{claimed}"
        assert (mapped[unclaimed]["ready"], mapped[unclaimed]["reason"]) == (
            "False",
            "DomainAlreadyClaimed",
        )
        assert ("DomainMapping", unclaimed) in {(c["kind"], c["name"]) for c in doc["conditions"]}
        table = cluster.run("status", "helloworld-go")
        assert table.code == 0, table.err
        lines = table.lines
        start = lines.index("Domain mappings")
        rows = [line.split()[1:] for line in lines[start + 1 : start + 3]]
        assert [f"http://{claimed}", "True"] in rows
        assert [f"http://{unclaimed}", "False", "(DomainAlreadyClaimed)"] in rows
    finally:
        api.delete_cluster_custom_object(
            "networking.internal.knative.dev", "v1alpha1", "clusterdomainclaims", claimed
        )
