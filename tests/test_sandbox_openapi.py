"""OpenAPI v3 / v2 documents, checked the way kubectl 1.32 reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kn_walk.sandbox.apiserver.openapi import (
    PATCH_TYPES_BUILTIN,
    PATCH_TYPES_CUSTOM,
    definition_name,
    document_bytes,
    document_hash,
    openapi_v2,
    openapi_v3_group_version,
    openapi_v3_group_version_bytes,
    openapi_v3_index,
)
from kn_walk.sandbox.machinery.resourcetypes import Registry
from tests.test_builtin_schemas import schema_nodes

REG = Registry.default()
SMP = "application/strategic-merge-patch+json"


@pytest.fixture(scope="module")
def serving() -> dict[str, Any]:
    doc = openapi_v3_group_version(REG, "serving.knative.dev", "v1")
    assert doc is not None
    return doc


@pytest.fixture(scope="module")
def core() -> dict[str, Any]:
    doc = openapi_v3_group_version(REG, "", "v1")
    assert doc is not None
    return doc


def gvk_of_resource(doc: dict[str, Any], prefix: str, version: str, plural: str) -> Any:
    """What ``kubectl explain``'s template does to find the GVK of a resource."""
    for path in (
        f"{prefix}/{version}/{plural}",
        f"{prefix}/{version}/{plural}/{{name}}",
        f"{prefix}/{version}/namespaces/{{namespace}}/{plural}",
        f"{prefix}/{version}/namespaces/{{namespace}}/{plural}/{{name}}",
    ):
        item = doc["paths"].get(path)
        if not item:
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item and "x-kubernetes-group-version-kind" in item[method]:
                return item[method]["x-kubernetes-group-version-kind"]
    return None


def schema_with_gvk(doc: dict[str, Any], gvk: dict[str, str]) -> Any:
    for schema in doc["components"]["schemas"].values():
        if gvk in schema.get("x-kubernetes-group-version-kind", []):
            return schema
    return None


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "allOf" in node and len(node["allOf"]) == 1:
        node = node["allOf"][0]
    ref = node.get("$ref")
    if ref:
        target: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return target
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_index_lists_every_group_version_with_its_hash() -> None:
    index = openapi_v3_index(REG)
    expected = {
        f"apis/{g}/{v}" if g else f"api/{v}" for g, vs in REG.group_versions().items() for v in vs
    }
    assert set(index["paths"]) == expected
    assert {
        "api/v1",
        "apis/apps/v1",
        "apis/apiextensions.k8s.io/v1",
        "apis/serving.knative.dev/v1",
        "apis/rbac.authorization.k8s.io/v1",
    } <= expected
    for key, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{key}?hash=")
        group, version = ("", "v1") if key == "api/v1" else tuple(key.split("/")[1:])
        got = openapi_v3_group_version_bytes(REG, group, version)
        assert got is not None
        data, digest = got
        assert url.endswith("?hash=" + digest)
        assert digest == document_hash(data)
        assert len(digest) == 128 and digest == digest.upper()
        assert json.loads(data) == openapi_v3_group_version(REG, group, version)


def test_documents_are_deterministic() -> None:
    a = openapi_v3_group_version(REG, "serving.knative.dev", "v1")
    b = openapi_v3_group_version(Registry.default(), "serving.knative.dev", "v1")
    assert a is not None and b is not None
    assert document_bytes(a) == document_bytes(b)
    assert openapi_v3_index(REG) == openapi_v3_index(Registry.default())


def test_unknown_group_version_is_none() -> None:
    assert openapi_v3_group_version(REG, "nope.example.com", "v1") is None
    assert openapi_v3_group_version_bytes(REG, "apps", "v2") is None


def test_ksvc_schema_is_found_like_kubectl_explain(serving: dict[str, Any]) -> None:
    assert serving["openapi"].startswith("3.0")
    gvk = gvk_of_resource(serving, "/apis/serving.knative.dev", "v1", "services")
    assert gvk == {"group": "serving.knative.dev", "kind": "Service", "version": "v1"}
    schema = schema_with_gvk(serving, gvk)
    assert schema is serving["components"]["schemas"]["dev.knative.serving.v1.Service"]
    assert schema["description"].startswith("Service acts as a top-level container")
    traffic = schema["properties"]["spec"]["properties"]["traffic"]
    assert traffic["type"] == "array"
    assert set(traffic["items"]["properties"]) >= {"tag", "revisionName", "percent"}
    meta = resolve(serving, schema["properties"]["metadata"])
    assert "labels" in meta["properties"]
    assert schema["properties"]["metadata"]["description"].startswith("Standard object's metadata")
    lst = serving["components"]["schemas"]["dev.knative.serving.v1.ServiceList"]
    assert lst["x-kubernetes-group-version-kind"] == [
        {"group": "serving.knative.dev", "kind": "ServiceList", "version": "v1"}
    ]


@pytest.mark.parametrize("plural", ["services", "configurations", "revisions", "routes"])
def test_custom_resources_do_not_offer_strategic_merge_patch(
    serving: dict[str, Any], plural: str
) -> None:
    item = serving["paths"][
        f"/apis/serving.knative.dev/v1/namespaces/{{namespace}}/{plural}/{{name}}"
    ]
    patch = item["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert set(patch["requestBody"]["content"]) == set(PATCH_TYPES_CUSTOM)
    assert SMP not in patch["requestBody"]["content"]
    params = {p["name"] for p in patch["parameters"] if p["in"] == "query"}
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= params
    status = serving["paths"][
        f"/apis/serving.knative.dev/v1/namespaces/{{namespace}}/{plural}/{{name}}/status"
    ]
    assert SMP not in status["patch"]["requestBody"]["content"]


def test_builtins_offer_strategic_merge_patch(core: dict[str, Any]) -> None:
    patch = core["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert set(patch["requestBody"]["content"]) == set(PATCH_TYPES_BUILTIN)
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "",
        "kind": "ConfigMap",
        "version": "v1",
    }
    ns = core["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert SMP in ns["requestBody"]["content"]
    assert ns["x-kubernetes-group-version-kind"]["kind"] == "Namespace"
    cm = schema_with_gvk(core, {"group": "", "kind": "ConfigMap", "version": "v1"})
    assert cm is core["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"]


def test_operations_carry_actions_and_ids(serving: dict[str, Any]) -> None:
    coll = serving["paths"]["/apis/serving.knative.dev/v1/namespaces/{namespace}/services"]
    assert coll["get"]["operationId"] == "listServingKnativeDevV1NamespacedService"
    assert coll["get"]["x-kubernetes-action"] == "list"
    assert coll["post"]["operationId"] == "createServingKnativeDevV1NamespacedService"
    assert coll["delete"]["x-kubernetes-action"] == "deletecollection"
    assert [p["name"] for p in coll["parameters"]] == ["namespace", "pretty"]
    all_ns = serving["paths"]["/apis/serving.knative.dev/v1/services"]["get"]
    assert all_ns["operationId"] == "listServingKnativeDevV1ServiceForAllNamespaces"
    watch = serving["paths"]["/apis/serving.knative.dev/v1/watch/namespaces/{namespace}/services"]
    assert watch["get"]["x-kubernetes-action"] == "watchlist"
    ok = coll["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/dev.knative.serving.v1.ServiceList"}


def test_every_ref_resolves_inside_its_document() -> None:
    for key in openapi_v3_index(REG)["paths"]:
        group, version = ("", "v1") if key == "api/v1" else tuple(key.split("/")[1:])
        doc = openapi_v3_group_version(REG, group, version)
        assert doc is not None
        names = set(doc["components"]["schemas"])
        for ref in refs(doc):
            assert ref.startswith("#/components/schemas/")
            assert ref.rsplit("/", 1)[-1] in names, (key, ref)


def test_builtin_kinds_use_kube_names_and_patch_metadata() -> None:
    apps = openapi_v3_group_version(REG, "apps", "v1")
    assert apps is not None
    schemas = apps["components"]["schemas"]
    dep = schemas["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    pod = schemas["io.k8s.api.core.v1.PodSpec"]
    containers = pod["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert (
        schemas["io.k8s.api.core.v1.Container"]["properties"]["env"]["x-kubernetes-patch-merge-key"]
        == "name"
    )
    names = {definition_name(t) for t in REG.all()}
    assert {
        "io.k8s.api.core.v1.Service",
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        "dev.knative.serving.v1.Service",
        "dev.knative.serving.v1.Revision",
    } <= names


def test_new_crds_show_up_and_change_the_index() -> None:
    reg = Registry.default()
    before = openapi_v3_index(reg)
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "template": {
                                            "type": "object",
                                            "x-kubernetes-embedded-resource": True,
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        }
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    reg.add_crd(crd)
    after = openapi_v3_index(reg)
    assert "apis/example.com/v1alpha1" in after["paths"]
    assert (
        after["paths"]["apis/serving.knative.dev/v1"]
        == before["paths"]["apis/serving.knative.dev/v1"]
    )
    doc = openapi_v3_group_version(reg, "example.com", "v1alpha1")
    assert doc is not None
    assert "/apis/example.com/v1alpha1/widgets/{name}" in doc["paths"]
    widget = doc["components"]["schemas"]["com.example.v1alpha1.Widget"]
    embedded = widget["properties"]["spec"]["properties"]["template"]["properties"]
    assert set(embedded) == {"apiVersion", "kind", "metadata"}
    reg.remove_crd("widgets.example.com")
    assert "apis/example.com/v1alpha1" not in openapi_v3_index(reg)["paths"]


def test_openapi_v2_swagger_document() -> None:
    doc = openapi_v2(REG)
    assert doc["swagger"] == "2.0"
    defs = doc["definitions"]
    ksvc = defs["dev.knative.serving.v1.Service"]
    assert ksvc["x-kubernetes-group-version-kind"] == [
        {"group": "serving.knative.dev", "kind": "Service", "version": "v1"}
    ]
    assert ksvc["properties"]["metadata"]["$ref"] == (
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    text = json.dumps(doc)
    assert "#/components/schemas/" not in text
    for name, schema in defs.items():  # Swagger 2.0 has none of OpenAPI 3's keywords
        for path, node in schema_nodes(schema, name):
            assert not {"nullable", "anyOf", "allOf"} & set(node), path
    for ref in refs(doc):
        assert ref.startswith("#/definitions/") and ref.rsplit("/", 1)[-1] in defs, ref
    ksvc_patch = doc["paths"][
        "/apis/serving.knative.dev/v1/namespaces/{namespace}/services/{name}"
    ]["patch"]
    assert SMP not in ksvc_patch["consumes"]
    assert ksvc_patch["x-kubernetes-group-version-kind"]["kind"] == "Service"
    cm_patch = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert SMP in cm_patch["consumes"]
    body = [p for p in cm_patch["parameters"] if p["in"] == "body"]
    assert body[0]["schema"] == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}


def test_the_openapi_version_is_the_version_the_api_reports() -> None:
    from kn_walk.sandbox.apiserver import api, openapi

    git = api.KUBE_VERSION["gitVersion"]
    assert git.startswith(openapi.KUBERNETES_VERSION + "-"), (git, openapi.KUBERNETES_VERSION)
