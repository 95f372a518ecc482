"""kn_walk/sandbox/data/builtin_schemas.json is what scripts/gen_builtin_schemas.py writes.

Fix a drift failure by running ``python scripts/gen_builtin_schemas.py`` and committing
the data file.
"""

from __future__ import annotations

import json
import runpy
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kn_walk.sandbox.machinery.resourcetypes import BUILTIN_TYPES
from tests.conftest import Sandbox

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "kn_walk" / "sandbox" / "data" / "builtin_schemas.json"


@pytest.fixture(scope="module")
def gen() -> dict[str, Any]:
    """The generator script's functions, by name."""
    return runpy.run_path(str(ROOT / "scripts" / "gen_builtin_schemas.py"))


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DATA.read_text("utf-8"))
    return doc


def schema_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, schema)`` of ``node`` and every schema in it: its properties (whose names
    are not keywords), items, additionalProperties and allOf."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from schema_nodes(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        yield from schema_nodes(node.get(key), f"{path}/{key}")
    for i, sub in enumerate(node.get("allOf") or ()):
        yield from schema_nodes(sub, f"{path}/allOf[{i}]")


def test_data_file_is_what_the_generator_writes(gen: dict[str, Any]) -> None:
    pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate (the dev extra) is not installed: cannot regenerate",
    )
    expected = gen["render"](gen["generate"]())
    assert DATA.read_text("utf-8") == expected, (
        "kn_walk/sandbox/data/builtin_schemas.json is stale: "
        "run python scripts/gen_builtin_schemas.py and commit it"
    )


def test_every_served_builtin_kind_and_its_list_is_defined(data: dict[str, Any]) -> None:
    served = {
        (gvk["group"], gvk["version"], gvk["kind"])
        for schema in data["definitions"].values()
        for gvk in schema.get("x-kubernetes-group-version-kind", ())
    }
    for rt in BUILTIN_TYPES:
        assert (rt.group, rt.version, rt.kind) in served, rt.kind
        assert (rt.group, rt.version, rt.kind_list) in served, rt.kind_list


def test_data_is_in_the_form_kube_apiserver_publishes(data: dict[str, Any]) -> None:
    defs = data["definitions"]
    for path, node in (n for name, schema in defs.items() for n in schema_nodes(schema, name)):
        assert not isinstance(node.get("type"), list), f"{path}: type union left"
        assert "oneOf" not in node, f"{path}: oneOf left"
        ref = node.get("$ref")
        if ref is not None:
            assert ref.startswith("#/components/schemas/"), f"{path}: {ref}"
            assert ref.removeprefix("#/components/schemas/") in defs, f"{path}: dangling {ref}"
            assert set(node) == {"$ref"}, f"{path}: a $ref with siblings is wrapped in allOf"
        props = node.get("properties")
        if isinstance(props, dict):
            for name in ("apiVersion", "kind"):
                assert "enum" not in props.get(name, {}), f"{path}.{name}: injected enum left"
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "format": "int-or-string",
        "type": "string",
    }
    port = defs["io.k8s.api.core.v1.ContainerPort"]["properties"]["protocol"]
    assert port["default"] == "TCP"
    meta = defs["io.k8s.api.core.v1.Pod"]["properties"]["metadata"]
    assert meta["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert meta["description"].startswith("Standard object's metadata.")


# ------------------------------------------------- one list, one merge key, everywhere

HOST_ALIASES = {
    "x-kubernetes-list-map-keys": ["ip"],
    "x-kubernetes-list-type": "map",
    "x-kubernetes-patch-merge-key": "ip",
    "x-kubernetes-patch-strategy": "merge",
}


@pytest.fixture(scope="module")
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox.api,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        verify=ssl.create_default_context(cafile=sandbox.ca),
        timeout=30,
    ) as client:
        yield client


def _get(api: httpx.Client, url: str) -> Any:
    resp = api.get(url)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_host_aliases_are_published_as_a_list_keyed_by_ip(api: httpx.Client) -> None:
    v2 = _get(api, "/openapi/v2")["definitions"]["io.k8s.api.core.v1.PodSpec"]
    index = _get(api, "/openapi/v3")["paths"]["api/v1"]["serverRelativeURL"]
    v3 = _get(api, index)["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]
    for doc, ref in ((v2, "#/definitions/"), (v3, "#/components/schemas/")):
        aliases = doc["properties"]["hostAliases"]
        assert {k: v for k, v in aliases.items() if k.startswith("x-")} == HOST_ALIASES
        assert aliases["items"] == {"$ref": ref + "io.k8s.api.core.v1.HostAlias"}


def _workload(kind: str, name: str, aliases: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {"hostAliases": aliases}}}
    if aliases and aliases[0]["ip"] == "10.0.0.1":  # the first applier writes a whole object
        spec["selector"] = {"matchLabels": {"app": name}}
        spec["template"]["metadata"] = {"labels": {"app": name}}
        spec["template"]["spec"]["containers"] = [{"name": "web", "image": "nginx:1.27"}]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _alias(ip: str, host: str) -> dict[str, Any]:
    return {"ip": ip, "hostnames": [host]}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_host_aliases_merge_by_ip_under_apply_and_strategic_merge_patch(
    api: httpx.Client, namespace: str, kind: str
) -> None:
    url = f"/apis/apps/v1/namespaces/{namespace}/{kind.lower()}s/web"
    apply = {"Content-Type": "application/apply-patch+yaml"}
    for manager, alias in (("a", _alias("10.0.0.1", "a")), ("b", _alias("10.0.0.2", "b"))):
        body = json.dumps(_workload(kind, "web", [alias]))
        resp = api.patch(url, params={"fieldManager": manager}, content=body, headers=apply)
        assert resp.status_code in (200, 201), resp.text
    obj = resp.json()
    assert obj["spec"]["template"]["spec"]["hostAliases"] == [
        _alias("10.0.0.1", "a"),
        _alias("10.0.0.2", "b"),
    ]
    owned = {e["manager"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"]}
    aliases = owned["b"]["f:spec"]["f:template"]["f:spec"]["f:hostAliases"]
    assert aliases == {'k:{"ip":"10.0.0.2"}': {".": {}, "f:hostnames": {}, "f:ip": {}}}

    smp = {"spec": {"template": {"spec": {"hostAliases": [_alias("10.0.0.3", "c")]}}}}
    resp = api.patch(
        url,
        content=json.dumps(smp),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert resp.status_code == 200, resp.text
    ips = [a["ip"] for a in resp.json()["spec"]["template"]["spec"]["hostAliases"]]
    assert ips == ["10.0.0.3", "10.0.0.1", "10.0.0.2"]  # merged: new items go first
