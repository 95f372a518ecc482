"""Hostile input to the sandbox API: random and malformed bodies, patches, names, queries.

Property-based (hypothesis): whatever arrives, the answer is never a 5xx, an
error is always a ``Status`` object whose ``code`` is the HTTP status, and
afterwards the store is intact (a sentinel object unchanged, every list
readable, nothing logged as an internal error). Hand-written cases cover huge
bodies, deep nesting, and every content type with broken bytes.
"""

from __future__ import annotations

import json
import ssl
import string
import urllib.parse
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

EXAMPLES = 1500 if SOAK else 60
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not SOAK,  # CI: the same examples every run; soak: new ones each time
)

CONTENT_TYPES = [
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/vnd.kubernetes.protobuf",
    "application/apply-patch+cbor",
    "text/plain",
    "",
]


class Api:
    """The session sandbox seen by an attacker who has the token."""

    def __init__(self, sb: Sandbox, namespace: str) -> None:
        self.sb = sb
        self.ns = namespace
        self.h = httpx.Client(
            base_url=sb.api,
            headers={"Authorization": f"Bearer {sb.token}"},
            verify=ssl.create_default_context(cafile=sb.ca),
            timeout=30,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        ctype: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Content-Type": ctype} if ctype else {}
        r = self.h.request(method, path, content=content, headers=headers, params=params)
        check(r)
        return r


def check(r: httpx.Response) -> None:
    """Never a 5xx; errors are Status objects; successes are JSON."""
    where = f"{r.request.method} {r.request.url}"
    assert r.status_code < 500, (where, r.status_code, r.text[:500])
    json_type = r.headers.get("Content-Type", "").startswith("application/json")
    if r.status_code == 200 and r.request.url.params.get("watch") in ("1", "true", "True"):
        for line in r.text.splitlines():  # a watch: one event per line (maybe none)
            event = json.loads(line)
            assert event["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"), event
            if event["type"] == "ERROR":
                assert event["object"]["code"] < 500, (where, event)
        return
    body = r.json() if json_type else None
    if r.status_code >= 400:
        assert isinstance(body, dict), (where, r.status_code, r.text[:300])
        assert body.get("kind") == "Status" and body.get("status") == "Failure", (where, body)
        assert body.get("code") == r.status_code, (where, body)
        assert isinstance(body.get("message"), str) and isinstance(body.get("reason"), str)


@pytest.fixture(scope="module")
def api(sandbox: Sandbox) -> Iterator[Api]:
    ns = "hostile-" + uuid.uuid4().hex[:6]
    log_path = sandbox.state_dir / "sandbox.log"
    log_start = log_path.stat().st_size
    a = Api(sandbox, ns)
    a.request("POST", "/api/v1/namespaces", content=json.dumps({"metadata": {"name": ns}}).encode())
    sentinel = {"metadata": {"name": "sentinel"}, "data": {"keep": "me", "ü": "ünï©ødé"}}
    a.request("POST", f"/api/v1/namespaces/{ns}/configmaps", content=json.dumps(sentinel).encode())
    r = a.request(
        "POST",
        f"/apis/serving.knative.dev/v1/namespaces/{ns}/services",
        content=json.dumps(ksvc("target", image="registry.example.com/app:1")).encode(),
    )
    assert r.status_code == 201
    a.request(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        content=json.dumps({"metadata": {"name": "target"}, "data": {"a": "1"}}).encode(),
    )
    before = a.request("GET", f"/api/v1/namespaces/{ns}/configmaps/sentinel").json()
    yield a
    # the store is intact: the sentinel unchanged, every list readable, nothing internal logged
    after = a.request("GET", f"/api/v1/namespaces/{ns}/configmaps/sentinel").json()
    assert after == before
    for path in _collections(a):
        r = a.request("GET", path)
        assert r.status_code == 200, path
    with log_path.open("rb") as f:
        f.seek(log_start)
        log = f.read().decode("utf-8", "replace")  # what this module's requests logged
    assert "internal error" not in log, log[-3000:]
    a.h.close()


def _collections(a: Api) -> list[str]:
    paths = []
    groups = a.request("GET", "/apis").json()["groups"]
    for gv in ["/api/v1"] + [f"/apis/{v['groupVersion']}" for g in groups for v in g["versions"]]:
        for res in a.request("GET", gv).json()["resources"]:
            if "/" not in res["name"] and "list" in res["verbs"]:  # not the reviews
                paths.append(f"{gv}/{res['name']}")
    return paths


# --------------------------------------------------------------------------- strategies

KEYS = st.one_of(
    st.sampled_from(
        ["metadata", "name", "spec", "template", "containers", "image", "traffic", "percent",
         "tag", "revisionName", "latestRevision", "env", "value", "data", "labels",
         "annotations", "namespace", "resourceVersion", "generateName", "kind", "apiVersion",
         "status", "finalizers", "ownerReferences", "managedFields", "ports", "containerPort",
         "timeoutSeconds", "$patch", "$retainKeys", "uid", "deletionTimestamp"]
    ),
    st.text(max_size=12),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["", "-1", "1e400", "0x10", "true", "null", "@latest", "a" * 300, "\u0000"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


def _mutate(doc: Any, path: list[Any], value: Any) -> Any:
    """``doc`` with the node at ``path`` (followed as far as it goes) replaced by ``value``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict) and doc:
        key = list(doc)[head % len(doc)] if isinstance(head, int) else head
        return {**doc, key: _mutate(doc.get(key), rest, value)}
    if isinstance(doc, list) and doc and isinstance(head, int):
        i = head % len(doc)
        return [*doc[:i], _mutate(doc[i], rest, value), *doc[i + 1 :]]
    return value


MUTATIONS = st.tuples(st.lists(st.one_of(st.integers(0, 10), KEYS), max_size=6), JSON)


def _ksvc_body(name: str) -> dict[str, Any]:
    body = ksvc(name, image="registry.example.com/app:1")
    body["spec"]["traffic"] = [{"latestRevision": True, "percent": 100, "tag": "t"}]
    body["metadata"]["labels"] = {"a": "b"}
    return body


NAMES = st.one_of(
    st.text(min_size=1, max_size=80),
    st.text(alphabet=string.ascii_lowercase + "-.0123456789", min_size=1, max_size=300),
    st.sampled_from([".", "..", "a/b", "%2F", "a%00b", "ÄÖÜ", "a" * 254, "-a", "a-", "A"]),
)


def _quote(name: str) -> str:
    """A path segment; "." and ".." escaped, or the client would resolve them (and DELETE
    the namespace instead of an object named "..")."""
    quoted = urllib.parse.quote(name, safe="")
    return "%2E" * len(quoted) if quoted in (".", "..") else quoted


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(body=JSON, plural=st.sampled_from(["configmaps", "services", "secrets", "ksvc"]))
def test_random_json_bodies_for_create(api: Api, body: Any, plural: str) -> None:
    path = (
        f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services"
        if plural == "ksvc"
        else f"/api/v1/namespaces/{api.ns}/{plural}"
    )
    api.request("POST", path, content=json.dumps(body).encode())


@SETTINGS
@given(mutation=MUTATIONS, strict=st.sampled_from(["Strict", "Warn", "Ignore", "bogus"]))
def test_mutated_knative_services(api: Api, mutation: tuple[list[Any], Any], strict: str) -> None:
    path, value = mutation
    name = "m-" + uuid.uuid4().hex[:8]
    body = _mutate(_ksvc_body(name), path, value)
    base = f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services"
    r = api.request(
        "POST", base, content=json.dumps(body).encode(), params={"fieldValidation": strict}
    )
    if r.status_code == 201:
        created = r.json()["metadata"]["name"]
        # and the same mutation as an update of what was stored
        stored = api.request("GET", f"{base}/{_quote(created)}").json()
        again = _mutate(stored, path, value)
        api.request("PUT", f"{base}/{_quote(created)}", content=json.dumps(again).encode())
        api.request("DELETE", f"{base}/{_quote(created)}")


@SETTINGS
@given(
    patch=st.one_of(JSON, MUTATIONS.map(lambda m: _mutate(_ksvc_body("target"), *m))),
    target=st.sampled_from(["ksvc", "configmap"]),
    ctype=st.sampled_from(
        ["application/merge-patch+json", "application/apply-patch+yaml",
         "application/strategic-merge-patch+json"]
    ),
)  # fmt: skip
def test_random_merge_and_apply_patches(api: Api, patch: Any, target: str, ctype: str) -> None:
    path = (
        f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services/target"
        if target == "ksvc"
        else f"/api/v1/namespaces/{api.ns}/configmaps/target"
    )
    params = {"fieldManager": "fuzz"} if "apply" in ctype else None
    api.request("PATCH", path, content=json.dumps(patch).encode(), ctype=ctype, params=params)


OPS = st.fixed_dictionaries(
    {
        "op": st.one_of(
            st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
            st.text(max_size=6),
        ),
        "path": st.one_of(
            st.lists(st.one_of(KEYS, st.integers(-2, 5).map(str), st.just("-"), st.just("~2"))).map(
                lambda parts: "/" + "/".join(parts)
            ),
            st.text(max_size=20),
        ),
    },
    optional={"value": JSON, "from": st.text(max_size=20).map(lambda t: "/" + t)},
)


@SETTINGS
@given(
    ops=st.one_of(st.lists(OPS, max_size=5), JSON), target=st.sampled_from(["ksvc", "configmap"])
)
def test_random_json_patches(api: Api, ops: Any, target: str) -> None:
    path = (
        f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services/target"
        if target == "ksvc"
        else f"/api/v1/namespaces/{api.ns}/configmaps/target"
    )
    api.request(
        "PATCH", path, content=json.dumps(ops).encode(), ctype="application/json-patch+json"
    )


@SETTINGS
@given(
    raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    ctype=st.sampled_from(CONTENT_TYPES),
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
    target=st.sampled_from(["ksvc", "configmap", "namespace", "faults"]),
)
def test_random_bytes_in_every_content_type(
    api: Api, raw: bytes, ctype: str, method: str, target: str
) -> None:
    path = {
        "ksvc": f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services",
        "configmap": f"/api/v1/namespaces/{api.ns}/configmaps",
        "namespace": "/api/v1/namespaces",
        "faults": "/knwalk.dev/faults",
    }[target]
    if method in ("PUT", "PATCH") and target != "faults":
        path += "/target" if target != "namespace" else f"/{api.ns}-nope"
    elif method == "DELETE" and target != "faults":
        path += "/nothing-here"  # DeleteOptions are parsed first; the targets stay
    if target == "faults" and method not in ("PUT", "DELETE"):
        method = "PUT"
    api.request(method, path, content=raw, ctype=ctype)
    if target == "faults":
        api.request("DELETE", "/knwalk.dev/faults")  # whatever was accepted, clear it


@SETTINGS
@given(name=NAMES, plural=st.sampled_from(["configmaps", "services", "ksvc", "namespaces"]))
def test_invalid_and_unicode_names(api: Api, name: str, plural: str) -> None:
    if plural == "ksvc":
        base = f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services"
        body: dict[str, Any] = ksvc(name, image="registry.example.com/app:1")
    elif plural == "namespaces":
        base, body = "/api/v1/namespaces", {"metadata": {"name": name}}
    else:
        base, body = f"/api/v1/namespaces/{api.ns}/{plural}", {"metadata": {"name": name}}
    r = api.request("POST", base, content=json.dumps(body).encode())
    quoted = _quote(name)
    for method in ("GET", "DELETE"):
        api.request(method, f"{base}/{quoted}")
    api.request("GET", f"/api/v1/namespaces/{quoted}/configmaps")
    if r.status_code == 201 and plural == "namespaces":
        api.request("DELETE", f"{base}/{quoted}")


QUERY_KEYS = st.sampled_from(
    ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "timeoutSeconds",
     "watch", "dryRun", "fieldValidation", "fieldManager", "propagationPolicy", "force",
     "includeObject", "allowWatchBookmarks", "sendInitialEvents", "resourceVersionMatch"]
)  # fmt: skip


@SETTINGS
@given(
    query=st.dictionaries(QUERY_KEYS, st.text(max_size=40), max_size=4),
    method=st.sampled_from(["GET", "DELETE", "POST", "PATCH"]),
    accept=st.sampled_from(
        ["application/json", "application/json;as=Table;v=v1;g=meta.k8s.io", "*/*", "x/y"]
    ),
)
def test_random_query_parameters(api: Api, query: dict[str, str], method: str, accept: str) -> None:
    if query.get("watch") or "watch" in query:
        query["timeoutSeconds"] = "0.2"  # a watch that parses must still end soon
    base = f"/api/v1/namespaces/{api.ns}/configmaps"
    path = base + ("/target" if method in ("PATCH",) else "")
    if method == "DELETE":
        path = base + "/nothing-here"  # never delete the collection or the target
    content = b'{"data":{"q":"1"}}' if method in ("POST", "PATCH") else None
    headers = {"Accept": accept, "Content-Type": "application/merge-patch+json"}
    r = api.h.request(method, path, params=query, content=content, headers=headers)
    check(r)


# --------------------------------------------------------------------------- hand-written


def test_huge_and_deeply_nested_bodies(api: Api) -> None:
    base = f"/api/v1/namespaces/{api.ns}/configmaps"
    for depth in (100, 1000, 100_000):
        deep = ("[" * depth + "]" * depth).encode()
        assert api.request("POST", base, content=deep).status_code == 400
        nested = '{"metadata":{"name":"deep"},"data":' + '{"a":' * depth + "1" + "}" * depth + "}"
        assert api.request("POST", base, content=nested.encode()).status_code in (400, 422)
        yaml_deep = (
            "a:\n" + "".join("  " * i + "b:\n" for i in range(1, min(depth, 3000)))
        ).encode()
        assert api.request(
            "POST", base, content=yaml_deep, ctype="application/yaml"
        ).status_code in (400, 413, 422)
        flow = ("[" * depth).encode()
        assert api.request("POST", base, content=flow, ctype="application/yaml").status_code == 400
    for size in (3 * 1024 * 1024 + 1, 16 * 1024 * 1024):
        big = b'{"metadata":{"name":"big"},"data":{"k":"' + b"x" * size + b'"}}'
        assert api.request("POST", base, content=big).status_code == 413
    many = {"metadata": {"name": "many"}, "data": {f"k{i}": "v" for i in range(50_000)}}
    assert api.request("POST", base, content=json.dumps(many).encode()).status_code in (201, 422)
    long_value = {"metadata": {"name": "long", "labels": {"a": "x" * 100_000}}}
    assert api.request("POST", base, content=json.dumps(long_value).encode()).status_code == 422
    # YAML bombs: aliases that expand exponentially
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n".encode()
        for i in range(8)
    )
    r = api.request("POST", base, content=bomb, ctype="application/yaml")
    assert r.status_code in (400, 422)


def test_numbers_and_strings_at_the_edges(api: Api) -> None:
    base = f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services"
    for percent in (2**63, -(2**63) - 1, 1e308, 10**400, "50", None, True):
        body = _ksvc_body("edge")
        body["spec"]["traffic"] = [{"latestRevision": True, "percent": percent}]
        text = (
            json.dumps(body)
            if not isinstance(percent, int) or abs(percent) < 10**300
            else (json.dumps(body).replace('"percent": 0', f'"percent": {percent}'))
        )
        r = api.request("POST", base, content=text.encode())
        assert r.status_code in (400, 422), (percent, r.text)
    raw = json.dumps(_ksvc_body("edge2")).replace('"percent": 100', '"percent": 1' + "0" * 5000)
    assert api.request("POST", base, content=raw.encode()).status_code in (400, 422)
    for bad in ("\ud800", "\x00", "\u202e"):
        body = _ksvc_body("edge3")
        body["metadata"]["labels"] = {"a": bad}
        r = api.request("POST", base, content=json.dumps(body).encode())
        assert r.status_code in (400, 422)


def test_control_characters_in_field_names_cannot_break_the_warning_header(api: Api) -> None:
    """An unknown field named with a control character once made aiohttp drop the answer."""
    base = f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services"
    for name in ("\x1f", "a\r\nSet-Cookie: x=1", "\x00", "\x7f"):
        body = _ksvc_body("ctl-" + uuid.uuid4().hex[:6])
        body["spec"][name] = 1
        r = api.request("POST", base, content=json.dumps(body).encode())
        assert r.status_code == 201, r.text
        warning = r.headers["Warning"]
        assert warning.startswith('299 - "unknown field') and "\r" not in warning
        assert "set-cookie" not in r.headers
        r = api.request(
            "PATCH",
            f"{base}/target",
            content=json.dumps({"spec": {name: 1}}).encode(),
            ctype="application/merge-patch+json",
        )
        assert r.status_code == 200 and "\\x" in r.headers["Warning"]


def test_wrongly_typed_metadata_is_a_400_decoding_error(api: Api) -> None:
    """These were 500s (admission code met a number where a name belongs)."""
    base = f"/api/v1/namespaces/{api.ns}/configmaps"
    ksvcs = f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services"
    cases = [
        (base, {"metadata": {"name": 1}}, "ObjectMeta.metadata.name of type string"),
        (ksvcs, {**_ksvc_body("x"), "metadata": {"name": True}}, "of type string"),
        (base, {"metadata": {"name": "x", "labels": ["a"]}}, "of type map[string]string"),
        (base, {"metadata": {"name": "x", "finalizers": [1]}}, "finalizers of type string"),
        (base, {"metadata": {"name": "x", "generation": "2"}}, "generation of type int64"),
        (ksvcs, {**_ksvc_body("y"), "metadata": {"name": "y", "ownerReferences": [1]}}, "v1.OwnerReference"),
    ]  # fmt: skip
    for path, body, text in cases:
        r = api.request("POST", path, content=json.dumps(body).encode())
        assert r.status_code == 400 and text in r.json()["message"], r.text
        assert (
            r.json()["message"].startswith("json: cannot unmarshal")
            or " cannot be handled as a " in r.json()["message"]
        )


def test_patches_kube_apiserver_answers_with_500_get_400(api: Api) -> None:
    cm = f"/api/v1/namespaces/{api.ns}/configmaps/target"
    for patch in ({"$patch": None}, {"data": {"$patch": "bogus"}}):
        r = api.request(
            "PATCH",
            cm,
            content=json.dumps(patch).encode(),
            ctype="application/strategic-merge-patch+json",
        )
        assert r.status_code == 400 and r.json()["reason"] == "BadRequest", r.text
        assert r.json()["message"].startswith("unknown patch type:")
    # a server-side apply whose list items lack their key, or repeat it, cannot be typed
    for ports in ([{"protocol": "TCP"}], [{"port": 80}, {"port": 80}]):
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "applied"}}
        body["spec"] = {"ports": ports}
        r = api.request(
            "PATCH",
            f"/api/v1/namespaces/{api.ns}/services/applied",
            content=json.dumps(body).encode(),
            ctype="application/apply-patch+yaml",
            params={"fieldManager": "fuzz"},
        )
        assert r.status_code == 400 and r.json()["reason"] == "BadRequest", r.text
        assert r.json()["message"].startswith("failed to create typed patch object")


def test_paths_no_route_matches_get_a_status(api: Api) -> None:
    for path in ("/api/v1/namespaces/x/configmaps/%0A", "/apis/%0A", "/%0A/x"):
        r = api.request("GET", path)
        assert r.status_code == 404 and r.json()["reason"] == "NotFound", (path, r.text)


def test_a_template_of_the_wrong_type_is_refused_not_crashed_on(api: Api) -> None:
    """The Knative admission code met a number where the template belongs: was a 500."""
    path = f"/apis/serving.knative.dev/v1/namespaces/{api.ns}/services/target"
    for template in (1, [], "x", {"metadata": []}, {"metadata": 1}, [{"spec": {}}]):
        r = api.request(
            "PATCH",
            path,
            content=json.dumps({"spec": {"template": template}}).encode(),
            ctype="application/merge-patch+json",
        )
        assert r.status_code in (400, 422), r.text
        assert "spec.template" in r.json()["message"], r.text


RULE_KEYS = st.sampled_from(
    ["method", "path", "watch", "times", "status", "retryAfter", "delay", "drop", "after",
     "cutAfter", "gone"]
)  # fmt: skip


@SETTINGS
@given(rules=st.lists(st.dictionaries(RULE_KEYS, SCALARS, max_size=5), max_size=3))
def test_random_fault_rules(api: Api, rules: list[dict[str, Any]]) -> None:
    """The test-only fault switch validates what it is given, too."""
    for rule in rules:
        rule.setdefault("path", f"/api/v1/namespaces/{api.ns}/configmaps/fault-probe")
        rule.pop("delay", None)  # a valid delay would only slow the test down
        if "drop" not in rule and "status" not in rule:
            rule["status"] = 503
    try:
        api.request("PUT", "/knwalk.dev/faults", content=json.dumps(rules).encode())
        api.request("GET", "/knwalk.dev/faults")
        api.h.get(f"/api/v1/namespaces/{api.ns}/configmaps/fault-probe")  # may be the fault
    except httpx.HTTPError:
        pass  # a drop rule that was accepted
    finally:
        api.request("DELETE", "/knwalk.dev/faults")
