"""Hostile request input the sandbox API must refuse the way kube-apiserver does (issue 17).

Each test sends what once hurt the sandbox: a YAML alias bomb that held the event
loop, integers Python reads and Go does not (``1_000``, 2^63), a deletecollection
namespaces do not have, unknown and repeated fields kept in stored objects, bodies
of any media type parsed as JSON, a wrongly typed traffic percent reported as a sum,
an event log bounded by count only, and a traceback logged for every watch client
that went away.
"""

from __future__ import annotations

import base64
import itertools
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kn_walk.sandbox import control
from kn_walk.sandbox.registry.store import Gone, SpaceExceeded, Store
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import ksvc
from tests.test_reliability_support import sizes

KSVC = "/apis/serving.knative.dev/v1/namespaces/{ns}/services"
CM = "/api/v1/namespaces/{ns}/configmaps"


def _client(sb: Sandbox, timeout: float = 30) -> httpx.Client:
    return httpx.Client(
        base_url=sb.api,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=ssl.create_default_context(cafile=sb.ca),
        timeout=timeout,
    )


@pytest.fixture
def h(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with _client(sandbox) as c:
        yield c


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox of this module's own: its namespaces and its log are ours to look at."""
    sb = start_sandbox(tmp_path_factory.mktemp("hostile-input"))
    yield sb
    control.stop(sb.state_dir)


def _post(
    h: httpx.Client,
    path: str,
    body: Any,
    ctype: str = "application/json",
    params: dict[str, str] | None = None,
) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return h.post(path, content=content, headers={"Content-Type": ctype}, params=params)


def _status(r: httpx.Response, code: int) -> dict[str, Any]:
    assert r.status_code == code, (r.status_code, r.text[:500])
    body: dict[str, Any] = r.json()
    assert body["kind"] == "Status" and body["code"] == code, body
    return body


# ------------------------------------------------------------------- 1: YAML alias bomb

#: 9 levels of 9 aliases: 411 bytes that expand to 9^9 (387 million) strings
BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(8)
    )
    + "metadata: {name: bomb}\nbogus: *i\n"
)


def test_a_yaml_alias_bomb_is_refused_at_once_and_the_api_keeps_answering(
    sandbox: Sandbox, namespace: str
) -> None:
    """Refused before a single alias is expanded, with go-yaml's message; meanwhile
    (and after) other requests are answered: the event loop was never held."""
    assert len(BOMB) < 1024
    path = CM.format(ns=namespace)
    answers: dict[str, httpx.Response] = {}

    def send_bomb() -> None:
        with _client(sandbox) as c:
            answers["bomb"] = _post(c, path, BOMB, "application/yaml")

    def list_meanwhile() -> None:
        with _client(sandbox, timeout=20) as c:
            answers["list"] = c.get(path)

    threads = [threading.Thread(target=send_bomb), threading.Thread(target=list_meanwhile)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert "list" in answers and answers["list"].status_code == 200
    body = _status(answers["bomb"], 400)
    assert (
        body["message"]
        == "error converting YAML to JSON: yaml: document contains excessive aliasing"
    )
    with _client(sandbox, timeout=20) as c:
        # as a server-side apply too, and nothing was created
        r = c.patch(
            f"{path}/bomb",
            content=BOMB.encode(),
            headers={"Content-Type": "application/apply-patch+yaml"},
            params={"fieldManager": "bomb"},
        )
        assert "excessive aliasing" in _status(r, 400)["message"]
        assert c.get(f"{path}/bomb").status_code == 404
        # a document whose aliases stay within go-yaml's bound is read, each alias a copy
        fine = "x: &x {a: '1'}\nmetadata: {name: aliased}\ndata: *x\n"
        r = _post(c, path, fine, "application/yaml")
        assert r.status_code == 201 and r.json()["data"] == {"a": "1"}, r.text


# ------------------------------------------------------- 2: integers from the request


def test_resource_versions_limits_and_timeouts_are_read_as_go_reads_them(
    h: httpx.Client, namespace: str
) -> None:
    path = CM.format(ns=namespace)
    # 2^63 is a uint64 (a resourceVersion yet to come): the watch waits, it does not fail
    r = h.get(path, params={"watch": "true", "resourceVersion": str(2**63), "timeoutSeconds": "1"})
    assert r.status_code == 200 and r.text == "", r.text[:300]
    bad_rv = {
        str(2**64): 'resourceVersion: Invalid value: "18446744073709551616": '
        'strconv.ParseUint: parsing "18446744073709551616": value out of range',
        "1_000": 'resourceVersion: Invalid value: "1_000": '
        'strconv.ParseUint: parsing "1_000": invalid syntax',
        "-1": 'resourceVersion: Invalid value: "-1": strconv.ParseUint: parsing "-1": invalid syntax',
    }
    for rv, message in bad_rv.items():
        for params in ({"watch": "true", "timeoutSeconds": "1"}, {}):
            r = h.get(path, params={**params, "resourceVersion": rv})
            assert _status(r, 400)["message"] == message
    # Python's int() and float() take these; Go's strconv.ParseInt does not
    for name, value in (("limit", "1_0"), ("limit", " 5"), ("timeoutSeconds", "1_0")):
        for watch in ("true", "false"):
            r = h.get(path, params={name: value, "watch": watch})
            message = _status(r, 400)["message"]
            assert message == f'strconv.ParseInt: parsing "{value}": invalid syntax'
    r = h.get(path, params={"limit": str(2**63)})
    assert _status(r, 400)["message"].endswith("value out of range")
    # a continue token must be one the server wrote: a resourceVersion beyond int64 is not
    for token in (
        {"rv": str(2**63), "ns": namespace, "name": "a"},
        {"rv": "1_000", "ns": namespace, "name": "a"},
        {"rv": 7, "ns": namespace, "name": "a"},
        {"rv": "7", "ns": [], "name": "a"},
    ):
        encoded = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        r = h.get(path, params={"limit": "1", "continue": encoded})
        assert _status(r, 400)["message"].startswith("continue key is not valid"), token
    # resourceVersionMatch as ValidateListOptions has it
    r = h.get(path, params={"resourceVersionMatch": "NotOlderThan"})
    assert _status(r, 422)["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        "resourceVersionMatch is forbidden unless resourceVersion is provided"
    )
    r = h.get(
        path, params={"watch": "true", "resourceVersionMatch": "Exact", "timeoutSeconds": "1"}
    )
    assert _status(r, 422)["reason"] == "Invalid"


# -------------------------------------------- 3: namespaces have no deletecollection


def test_namespaces_offer_no_deletecollection_and_refuse_it_before_deleting_anything(
    private: Sandbox,
) -> None:
    with _client(private) as h:
        names = [f"keep-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
        for name in names:
            assert _post(h, "/api/v1/namespaces", {"metadata": {"name": name}}).status_code == 201
        r = h.delete("/api/v1/namespaces")
        assert _status(r, 405)["reason"] == "MethodNotAllowed"
        r = h.delete("/api/v1/namespaces", params={"labelSelector": "x=y"})
        assert r.status_code == 405
        for name in names:
            got = h.get(f"/api/v1/namespaces/{name}")
            assert got.status_code == 200 and "deletionTimestamp" not in got.json()["metadata"]
        # discovery and OpenAPI say so, as kube-apiserver's do; every other kind has it
        for res in h.get("/api/v1").json()["resources"]:
            if res["name"] == "namespaces":
                assert "deletecollection" not in res["verbs"]
                assert {"create", "delete", "list", "watch"} <= set(res["verbs"])
            elif "/" not in res["name"]:
                assert "deletecollection" in res["verbs"], res
        paths = h.get("/openapi/v3/api/v1").json()["paths"]
        assert "delete" not in paths["/api/v1/namespaces"]
        assert "delete" in paths["/api/v1/namespaces/{namespace}/configmaps"]


# ----------------------------------- 4: unknown and repeated fields of built-in objects


def test_unknown_fields_of_built_in_objects_are_warned_and_dropped_or_refused(
    h: httpx.Client, namespace: str
) -> None:
    path = CM.format(ns=namespace)
    body = {"metadata": {"name": "warned"}, "data": {"a": "1"}, "bogus": 1, "data2": {"b": "2"}}
    r = _post(h, path, body)  # fieldValidation=Warn, the default
    assert r.status_code == 201, r.text
    assert (
        r.headers["Warning"]
        == '299 - "unknown field \\"bogus\\"", 299 - "unknown field \\"data2\\""'
    )
    stored = h.get(f"{path}/warned").json()
    assert "bogus" not in stored and "data2" not in stored and stored["data"] == {"a": "1"}
    r = _post(
        h, path, {**body, "metadata": {"name": "ignored"}}, params={"fieldValidation": "Ignore"}
    )
    assert r.status_code == 201 and "Warning" not in r.headers
    assert "bogus" not in h.get(f"{path}/ignored").json()
    r = _post(
        h,
        path,
        {**body, "metadata": {"name": "strict", "unknownMeta": "x"}},
        params={"fieldValidation": "Strict"},
    )
    assert _status(r, 400)["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'unknown field "metadata.unknownMeta", unknown field "bogus", unknown field "data2"'
    )
    # an update and a merge patch drop them as well
    r = h.patch(
        f"{path}/warned",
        content=b'{"bogus": 2, "data": {"c": "3"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200 and "bogus" not in r.json(), r.text
    assert r.headers["Warning"] == '299 - "unknown field \\"bogus\\""'


def test_repeated_fields_are_strict_decoding_errors(h: httpx.Client, namespace: str) -> None:
    # the conformance test's body (test/e2e/apimachinery/field_validation.go), and its message
    deployment = """{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "my-dep", "labels": {"app": "nginx"}},
        "spec": {
            "unknownField": "foo", "replicas": 2, "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}}}"""
    r = _post(
        h,
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        deployment,
        params={"fieldValidation": "Strict"},
    )
    assert (
        'strict decoding error: unknown field "spec.unknownField", duplicate field "spec.replicas"'
        in _status(r, 400)["message"]
    )
    path = CM.format(ns=namespace)
    twice = '{"metadata": {"name": "twice"}, "data": {"a": "1"}, "data": {"b": "2", "b": "3"}}'
    r = _post(h, path, twice, params={"fieldValidation": "Strict"})
    assert _status(r, 400)["message"].endswith(
        'strict decoding error: duplicate field "data", duplicate field "data.b"'
    )
    r = _post(h, path, twice)  # Warn: warned, the last value kept, as Go's decoder keeps it
    assert r.status_code == 201 and r.json()["data"] == {"b": "3"}, r.text
    assert r.headers["Warning"] == (
        '299 - "duplicate field \\"data\\"", 299 - "duplicate field \\"data.b\\""'
    )
    yaml_twice = "metadata: {name: twice-yaml}\ndata:\n  a: '1'\ndata:\n  b: '2'\n"
    r = _post(h, path, yaml_twice, "application/yaml", params={"fieldValidation": "Strict"})
    assert _status(r, 400)["message"].endswith(
        "strict decoding error: error converting YAML to JSON: yaml: unmarshal errors:\n"
        '  line 5: key "data" already set in map'
    )
    r = _post(h, path, twice.replace("twice", "ignored"), params={"fieldValidation": "Ignore"})
    assert r.status_code == 201 and "Warning" not in r.headers


# ----------------------------------------------------- 5: media types the API does not take


def test_a_body_in_a_media_type_not_served_is_415(h: httpx.Client, namespace: str) -> None:
    body = json.dumps({"metadata": {"name": "plain"}})
    builtin = "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    for ctype in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/merge-patch+json",
        "bogus",
    ):
        r = _post(h, CM.format(ns=namespace), body, ctype)
        assert _status(r, 415)["message"] == (
            f"the body of the request was in an unknown format - accepted media types include: {builtin}"
        ), ctype
    r = _post(h, KSVC.format(ns=namespace), ksvc("plain"), "text/plain")
    assert _status(r, 415)["message"].endswith(
        "accepted media types include: application/json, application/yaml"
    )
    assert h.get(f"{CM.format(ns=namespace)}/plain").status_code == 404
    # and JSON with parameters is still JSON
    r = _post(h, CM.format(ns=namespace), body, "application/json; charset=utf-8")
    assert r.status_code == 201, r.text


# ---------------------------------------------- 6: a wrongly typed Knative traffic percent


@pytest.mark.parametrize(
    ("percent", "json_type"), [(100.5, "number"), ("100", "string"), (True, "boolean")]
)
def test_a_wrongly_typed_traffic_percent_is_a_type_error_not_a_sum(
    h: httpx.Client, namespace: str, percent: Any, json_type: str
) -> None:
    """The webhook decodes a Service into Go structs before its rules see the traffic: a
    percent that is no integer is a type error, not "Traffic targets sum to 0"."""
    name = "pct-" + uuid.uuid4().hex[:6]
    body = ksvc(
        name,
        image="registry.example.com/app:1",
        traffic=[{"latestRevision": True, "percent": percent}],
    )
    expected = (
        f'spec.traffic[0].percent: Invalid value: "{json_type}": '
        f'spec.traffic[0].percent in body must be of type integer: "{json_type}"'
    )
    r = _post(h, KSVC.format(ns=namespace), body)
    status = _status(r, 422)
    assert status["message"].endswith(expected) and "sum" not in status["message"], status
    assert status["details"]["causes"][0]["field"] == "spec.traffic[0].percent"
    # and on an update of a Service that exists
    good = ksvc(name, image="registry.example.com/app:1")
    assert _post(h, KSVC.format(ns=namespace), good).status_code == 201
    r = h.patch(
        f"{KSVC.format(ns=namespace)}/{name}",
        content=json.dumps(
            {"spec": {"traffic": [{"latestRevision": True, "percent": percent}]}}
        ).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert _status(r, 422)["message"].endswith(expected)


# --------------------------------------------------------- 7: the event log's byte budget


def test_the_event_log_is_bounded_by_bytes_and_trimmed_versions_are_gone(tmp_path: Path) -> None:
    budget = 1_000_000
    store = Store(str(tmp_path / "db"), event_log_bytes=budget)
    obj = {"metadata": {"name": "big", "namespace": "a"}, "data": {"k": "x" * 150_000}}
    store.put("/configmaps", obj, create=True)
    first = store.resource_version
    for i in range(40):  # 6 MB of writes
        obj["data"]["k"] = f"{i}" + "x" * 150_000
        store.put("/configmaps", obj)
        held = store.db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM events").fetchone()[0]
        assert held <= budget and held == store.event_bytes
    with pytest.raises(Gone):
        store.events_since(first, "/configmaps")
    recent = store.events_since(store.resource_version - 3, "/configmaps")
    assert [e.rv for e in recent] == [
        store.resource_version - 2,
        store.resource_version - 1,
        store.resource_version,
    ]
    store.close()
    reopened = Store(str(tmp_path / "db"), event_log_bytes=budget)
    assert 0 < reopened.event_bytes <= budget
    reopened.close()


def test_the_store_is_bounded_by_its_quota_as_etcd_is(tmp_path: Path) -> None:
    """Objects and history together stay within the quota: history is compacted first,
    then a put past it is refused (etcd's NOSPACE) while deletes go through."""
    quota = 2_000_000
    store = Store(str(tmp_path / "db"), quota_bytes=quota)
    names = []
    with pytest.raises(SpaceExceeded) as refused:
        for i in range(100):  # 15 MB of writes at most; 2 MB fit
            obj = {"metadata": {"name": f"big{i}", "namespace": "a"}, "data": {"k": "x" * 150_000}}
            store.put("/configmaps", obj, create=True)
            names.append(f"big{i}")
            held = store.db.execute(
                "SELECT (SELECT COALESCE(SUM(LENGTH(body)), 0) FROM objects) +"
                " (SELECT COALESCE(SUM(LENGTH(body)), 0) FROM events)"
            ).fetchone()[0]
            assert held == store.object_bytes + store.event_bytes <= quota
    assert refused.value.code == 500 and refused.value.reason == ""
    assert refused.value.status()["message"] == "etcdserver: mvcc: database space exceeded"
    assert 10 <= len(names) < 15  # about quota / object size, the history compacted away
    rv = store.resource_version
    assert store.get("/configmaps", "a", f"big{len(names)}") is None  # nothing half-written
    store.delete("/configmaps", "a", names[0])  # deletes go through past the quota
    store.put(
        "/configmaps", {"metadata": {"name": "again", "namespace": "a"}, "data": {}}, create=True
    )
    assert store.resource_version == rv + 2
    store.close()
    reopened = Store(str(tmp_path / "db"), quota_bytes=quota)
    assert reopened.object_bytes + reopened.event_bytes <= quota
    reopened.close()


def test_kubectl_is_told_what_etcd_says_when_the_quota_is_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    monkeypatch.setenv("KNWALK_SANDBOX_QUOTA_BYTES", str(16 * 1024 * 1024))
    sb = start_sandbox(tmp_path)
    env = {"KUBECONFIG": str(sb.kubeconfig), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    big = tmp_path / "big.txt"
    big.write_text("x" * 900_000)
    try:
        made = 0
        for i in range(40):  # at most 36 MB asked for; 16 MB fit
            result = kubectl("create", "configmap", f"big{i}", f"--from-file=k={big}")
            if result.returncode != 0:
                break
            made += 1
        assert 0 < made < 40
        # kube-apiserver's Status for an error it does not know: 500, etcd's words, no reason
        assert result.stderr.strip() == (
            "error: failed to create configmap: etcdserver: mvcc: database space exceeded"
        ), result.stderr
        # reads work, and so do deletes; with the space back, writes work again
        assert kubectl("get", "configmaps", "-o", "name").returncode == 0
        deleted = kubectl("delete", "configmap", *(f"big{i}" for i in range(made)))
        assert deleted.returncode == 0, deleted.stderr
        again = kubectl("create", "configmap", "small", "--from-literal=a=b")
        assert again.returncode == 0, again.stderr
        assert kubectl("get", "--raw", "/version").returncode == 0
    finally:
        control.stop(sb.state_dir)


# ------------------------------------------- 8: watch clients that go away leave no traceback


def test_a_watch_client_that_goes_away_leaves_no_traceback_in_the_log(private: Sandbox) -> None:
    log_path = private.state_dir / "sandbox.log"
    start = log_path.stat().st_size
    path = CM.format(ns="default")
    with _client(private) as h:
        assert _post(h, path, {"metadata": {"name": "seed"}}).status_code in (201, 409)
        for _ in range(5):  # informers' watches end like this, thousands of times a day
            with h.stream("GET", path, params={"watch": "true"}) as stream:
                first = next(stream.iter_lines())
                assert json.loads(first)["type"] == "ADDED"
        # a live watch opened after them sees the events the dead ones were sent first
        seen: list[str] = []
        rv = h.get(path).json()["metadata"]["resourceVersion"]
        names = [f"after-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]

        def live() -> None:
            with (
                _client(private, timeout=30) as c,
                c.stream(
                    "GET",
                    path,
                    params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "20"},
                ) as stream,
            ):
                for line in stream.iter_lines():
                    seen.append(json.loads(line)["object"]["metadata"]["name"])
                    if seen[-len(names) :] == names:
                        return

        reader = threading.Thread(target=live)
        reader.start()
        for name in names:
            assert _post(h, path, {"metadata": {"name": name}}).status_code == 201
        reader.join(30)
        assert seen[-len(names) :] == names
    with log_path.open("rb") as f:
        f.seek(start)
        logged = f.read().decode("utf-8", "replace")
    assert "Traceback" not in logged and "Error handling request" not in logged, logged[-2000:]


@pytest.mark.parametrize("name", ["tailLines", "limitBytes", "sinceSeconds"])
@pytest.mark.parametrize("value", ["9" * 5000, "1_0", " 5", str(2**63)])
def test_pod_log_integers_are_read_as_go_reads_them(h: httpx.Client, name: str, value: str) -> None:
    """A 5000-digit tailLines was a 500 (Python's int() refuses over 4300 digits)."""
    r = h.get("/api/v1/namespaces/default/pods/nobody/log", params={name: value})
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("strconv.ParseInt: parsing "), r.text


# ------------------------------------------------------------------- integers in bodies

DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments"


def _deployment(name: str, replicas: Any, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "example.com/not-run"}]},
            },
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _deployment("big", 2**31),
            'Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
            "unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas "
            "of type int32",
        ),
        (
            _deployment("low", -(2**31) - 1),
            "json: cannot unmarshal number -2147483649 into Go struct field "
            "DeploymentSpec.spec.replicas of type int32",
        ),
        (
            _deployment("surge", 0, strategy={"rollingUpdate": {"maxSurge": 2**32}}),
            "json: cannot unmarshal number 4294967296 into Go value of type int32",
        ),
        (
            _deployment("gen", 0) | {"metadata": {"name": "gen", "generation": 2**63}},
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.generation "
            "of type int64",
        ),
    ],
    ids=["int32-high", "int32-low", "intorstring", "int64"],
)
def test_integers_a_go_field_cannot_hold_are_refused_before_anything_acts_on_them(
    h: httpx.Client, namespace: str, body: dict[str, Any], message: str
) -> None:
    """``replicas: 2147483648`` was stored; the replicaset controller then made Pods until
    the sandbox stopped answering. kube-apiserver's decoder refuses it (400)."""
    status = _status(_post(h, DEPLOY.format(ns=namespace), body), 400)
    assert message in status["message"], status["message"]
    assert h.get(DEPLOY.format(ns=namespace)).json()["items"] == []


def test_integers_out_of_range_in_pods_patches_and_scale(h: httpx.Client, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 2**32}]}]},
    }
    status = _status(_post(h, f"/api/v1/namespaces/{namespace}/pods", pod), 400)
    assert status["message"].endswith(
        "json: cannot unmarshal number 4294967296 into Go struct field "
        "ContainerPort.spec.containers.ports.containerPort of type int32"
    ), status["message"]
    path = DEPLOY.format(ns=namespace)
    assert _post(h, path, _deployment("small", 0)).status_code == 201
    patch = h.patch(
        f"{path}/small",
        content=json.dumps({"spec": {"replicas": 2**31}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert "DeploymentSpec.spec.replicas of type int32" in _status(patch, 400)["message"]
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "small"}}
    put = h.put(f"{path}/small/scale", json=scale | {"spec": {"replicas": 2**31}})
    assert _status(put, 400)["message"] == (
        'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal number '
        "2147483648 into Go struct field ScaleSpec.spec.replicas of type int32"
    )
    patch = h.patch(
        f"{path}/small/scale",
        content=json.dumps({"spec": {"replicas": 2**31}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert _status(patch, 400)["message"] == (
        "json: cannot unmarshal number 2147483648 into Go struct field "
        "ScaleSpec.spec.replicas of type int32"
    )
    assert h.get(f"{path}/small").json()["spec"]["replicas"] == 0


@pytest.mark.parametrize("bursts", sizes(4, 60))
def test_a_large_replicaset_is_filled_in_bursts_while_the_api_answers(
    private: Sandbox, bursts: int
) -> None:
    """3000 replicas were made in one go, each Pod's event listing all the others: the
    sandbox stopped answering for minutes. As the replicaset controller (burstReplicas), it
    makes a bounded number per sync; the ReplicaSet's status climbs in steps meanwhile."""
    from kn_walk.sandbox.node.replicasets import BURST_REPLICAS

    wanted = bursts * BURST_REPLICAS  # 200 in CI, 3000 in the soak run
    ns = f"burst-{uuid.uuid4().hex[:8]}"
    with _client(private) as c:
        assert _post(c, "/api/v1/namespaces", {"metadata": {"name": ns}}).status_code == 201
        seen: list[int] = []
        answered: list[int] = []
        with c.stream(
            "GET",
            f"/apis/apps/v1/namespaces/{ns}/replicasets",
            params={"watch": "1", "timeoutSeconds": "900"},
        ) as watch:
            assert _post(c, DEPLOY.format(ns=ns), _deployment("many", wanted)).status_code == 201
            for line in watch.iter_lines():
                obj = json.loads(line)["object"]
                count = (obj.get("status") or {}).get("replicas", 0)
                if not seen or count != seen[-1]:
                    seen.append(count)
                    if 0 < count < wanted:
                        # the API answers while the ReplicaSet is still filling
                        answered.append(c.get("/version").status_code)
                if count == wanted:
                    break
        assert seen[-1] == wanted, seen
        steps = [b - a for a, b in itertools.pairwise(seen)]
        assert all(0 < s <= BURST_REPLICAS for s in steps), seen
        assert answered and set(answered) == {200}, answered
        c.delete(f"/api/v1/namespaces/{ns}")
