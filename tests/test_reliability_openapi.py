"""The OpenAPI the sandbox serves is the schema it enforces.

Every field path the served ``/openapi/v3`` document declares for a Knative
Service (what ``kubectl explain`` shows) is accepted by strict validation
(``fieldValidation=Strict``: no "unknown field"), and any path it does not
declare is refused as unknown — under Strict a 400, under Warn a ``Warning``
header, under Ignore silently dropped — as kube-apiserver does. Field paths
are drawn by hypothesis from the document itself. (``kubectl explain
ksvc.spec.traffic`` and the kubectl side are in tests/test_kubectl.py.)
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Sandbox
from tests.kube_helpers import ksvc
from tests.test_reliability_support import SOAK

SETTINGS = settings(
    max_examples=400 if SOAK else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not SOAK,
)
#: paths the webhook owns or that need a partner field to be valid at all
SKIP = ("metadata", "status", "apiVersion", "kind")


@pytest.fixture(scope="module")
def api(sandbox: Sandbox) -> Iterator[tuple[httpx.Client, str]]:
    h = httpx.Client(
        base_url=sandbox.api,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        verify=ssl.create_default_context(cafile=sandbox.ca),
        timeout=30,
    )
    ns = "openapi-" + uuid.uuid4().hex[:6]
    assert h.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
    yield h, ns
    h.close()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema or ("allOf" in schema and len(schema["allOf"]) == 1):
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        else:
            schema = schema["allOf"][0]
    return schema


def _paths(
    doc: dict[str, Any], schema: dict[str, Any], prefix: tuple[Any, ...], depth: int
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    schema = _resolve(doc, schema)
    yield prefix, schema
    if depth == 0:
        return
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        yield from _paths(doc, schema["items"], (*prefix, 0), depth - 1)
    for name, sub in (schema.get("properties") or {}).items():
        yield from _paths(doc, sub, (*prefix, name), depth - 1)


@pytest.fixture(scope="module")
def declared(api: tuple[httpx.Client, str]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    h, _ = api
    index = h.get("/openapi/v3").json()
    url = index["paths"]["apis/serving.knative.dev/v1"]["serverRelativeURL"]
    doc = h.get(url).json()
    service = doc["components"]["schemas"]["dev.knative.serving.v1.Service"]
    found = [
        (path, schema)
        for path, schema in _paths(doc, service, (), 7)
        if path
        and path[0] not in SKIP
        and schema.get("type") in ("object", "array", "string", "integer", "boolean")
    ]
    assert any(p[:3] == ("spec", "traffic", 0) for p, _ in found)  # what explain shows
    return found


def _value(schema: dict[str, Any]) -> Any:
    return {"object": {}, "array": [], "string": "x", "integer": 1, "boolean": True}[schema["type"]]


def _body(name: str, path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = ksvc(name, image="registry.example.com/app:1")
    node: Any = body
    for i, step in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(step, int):
            while len(node) <= step:
                node.append({})
            node = node[step]
        else:
            if step not in node or not isinstance(node[step], dict | list):
                node[step] = [] if isinstance(nxt, int) else {}
            node = node[step]
    last = path[-1]
    if isinstance(last, int):
        node.append(value)
    else:
        node[last] = value
    return body


def _create(h: httpx.Client, ns: str, body: dict[str, Any], validation: str) -> httpx.Response:
    return h.post(
        f"/apis/serving.knative.dev/v1/namespaces/{ns}/services",
        content=json.dumps(body),
        params={"fieldValidation": validation},
        headers={"Content-Type": "application/json"},
    )


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


@SETTINGS
@given(data=st.data())
def test_every_declared_field_is_known_to_strict_validation(
    api: tuple[httpx.Client, str], declared: list[Any], data: st.DataObject
) -> None:
    h, ns = api
    path, schema = data.draw(st.sampled_from(declared))
    body = _body("d-" + uuid.uuid4().hex[:8], path, _value(schema))
    r = _create(h, ns, body, "Strict")
    assert r.status_code < 500, r.text
    assert "unknown field" not in r.text, (_dotted(path), r.text)


@SETTINGS
@given(
    data=st.data(), suffix=st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ", min_size=1, max_size=6)
)
def test_an_undeclared_field_is_unknown_under_strict_warned_under_warn_dropped_under_ignore(
    api: tuple[httpx.Client, str], declared: list[Any], data: st.DataObject, suffix: str
) -> None:
    h, ns = api
    objects = [
        (p, s)
        for p, s in declared
        if s.get("type") == "object"
        and s.get("properties")
        and not s.get("x-kubernetes-preserve-unknown-fields")
        and not s.get("additionalProperties")
    ]
    path, schema = data.draw(st.sampled_from(objects))
    name = "zz" + suffix
    if name in schema["properties"]:
        return
    field = (*path, name)
    unknown = f'unknown field "{_dotted(field)}"'
    r = _create(h, ns, _body("u-" + uuid.uuid4().hex[:8], field, "x"), "Strict")
    assert r.status_code == 400 and unknown in r.json()["message"], (unknown, r.text)
    r = _create(h, ns, _body("w-" + uuid.uuid4().hex[:8], field, "x"), "Warn")
    if r.status_code == 201:  # (the rest of the object may be invalid for other reasons)
        assert unknown.replace('"', '\\"') in r.headers.get("Warning", ""), r.headers
    r = _create(h, ns, _body("i-" + uuid.uuid4().hex[:8], field, "x"), "Ignore")
    if r.status_code == 201:
        assert "Warning" not in r.headers
        node: Any = r.json()
        for step in path:
            node = (
                node[step]
                if isinstance(node, dict | list) and (isinstance(step, int) or step in node)
                else None
            )
        assert not isinstance(node, dict) or name not in node  # pruned
