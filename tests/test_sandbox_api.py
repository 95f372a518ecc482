"""The sandbox's Kubernetes REST API: discovery, verbs, errors, watch, persistence."""

from __future__ import annotations

import json
import os
import signal
import ssl
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import GROUP, VERSION, ksvc, ready, wait_for


def _http(sb: Sandbox, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token if token is not None else sb.token}"}
    return httpx.Client(
        base_url=sb.api,
        headers=headers,
        timeout=10,
        verify=ssl.create_default_context(cafile=sb.ca),
    )


def test_every_endpoint_needs_the_token(sandbox: Sandbox) -> None:
    paths = [
        "/version",
        "/api",
        "/apis",
        "/api/v1/namespaces",
        "/apis/serving.knative.dev/v1/services",
        "/openapi/v2",
        "/openapi/v3",
        "/healthz",
        "/nope",
    ]
    for token in (None, "wrong"):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        for p in paths:
            r = httpx.get(
                sandbox.api + p,
                headers=headers,
                verify=ssl.create_default_context(cafile=sandbox.ca),
            )
            assert r.status_code == 401, p
            body = r.json()
            assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
            assert sandbox.token not in r.text


def test_discovery(sandbox: Sandbox) -> None:
    with _http(sandbox) as h:
        assert h.get("/version").json()["major"] == "1"
        groups = {g["name"] for g in h.get("/apis").json()["groups"]}
        assert {"serving.knative.dev", "apps", "apiextensions.k8s.io"} <= groups
        res = {r["name"]: r for r in h.get("/apis/serving.knative.dev/v1").json()["resources"]}
        assert set(res) >= {"services", "services/status", "configurations", "revisions", "routes"}
        assert res["services"]["shortNames"] == ["kservice", "ksvc"]
        assert res["configurations"]["shortNames"] == ["config", "cfg"]
        assert res["revisions"]["shortNames"] == ["rev"]
        assert res["routes"]["shortNames"] == ["rt"]
        assert res["services"]["categories"] == ["all", "knative", "serving"]
        assert "watch" in res["services"]["verbs"]
        core = {r["name"] for r in h.get("/api/v1").json()["resources"]}
        assert {"namespaces", "configmaps", "services"} <= core
        assert h.get("/apis/nothing.example.com/v1").status_code == 404
        r = h.get("/apis/serving.knative.dev/v1/namespaces/default/widgets")
        assert r.status_code == 404 and r.json()["kind"] == "Status"


def test_ingress_objects_exist(api_client: Any, sandbox: Sandbox) -> None:
    core = client.CoreV1Api(api_client)
    gw = core.read_namespaced_service("istio-ingressgateway", "istio-system")
    assert gw.spec.type == "LoadBalancer"
    http2 = [p for p in gw.spec.ports if p.name == "http2"]
    assert http2 and http2[0].port == sandbox.info.gateway_port
    assert gw.status.load_balancer.ingress[0].ip == "127.0.0.1"
    net = core.read_namespaced_config_map("config-network", "knative-serving")
    assert net.data["ingress-class"] == "istio.ingress.networking.knative.dev"
    dom = core.read_namespaced_config_map("config-domain", "knative-serving")
    # the release's _example block, and the sandbox's domain
    assert set(dom.data) == {"_example", "example.com"} and dom.data["example.com"] == ""


def test_crud_metadata_and_conflicts(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    cm = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}}
    )
    assert cm.metadata.uid and cm.metadata.creation_timestamp and cm.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("missing", namespace)
    body = json.loads(exc.value.body)
    assert exc.value.status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "missing" not found'
    # stale resourceVersion on PUT → 409 Conflict
    fresh = core.replace_namespaced_config_map(
        "a",
        namespace,
        {
            "metadata": {"name": "a", "resourceVersion": cm.metadata.resource_version},
            "data": {"k": "w"},
        },
    )
    assert int(fresh.metadata.resource_version) > int(cm.metadata.resource_version)
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map(
            "a",
            namespace,
            {
                "metadata": {"name": "a", "resourceVersion": cm.metadata.resource_version},
                "data": {},
            },
        )
    assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "Conflict"
    # generateName
    gen = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "gen-"}})
    assert gen.metadata.name.startswith("gen-") and len(gen.metadata.name) == 9
    # invalid name → 422 Invalid with causes
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Bad_Name"}})
    body = json.loads(exc.value.body)
    assert exc.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    # unknown namespace
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "a"}})
    assert (
        exc.value.status == 404
        and json.loads(exc.value.body)["message"] == 'namespaces "no-such-ns" not found'
    )


def test_list_selectors_and_paging(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    for i in range(5):
        core.create_namespaced_config_map(
            namespace,
            {
                "metadata": {
                    "name": f"cm-{i}",
                    "labels": {"n": str(i), "app": "x" if i % 2 else "y"},
                }
            },
        )
    got = core.list_namespaced_config_map(namespace, label_selector="app=x")
    assert sorted(c.metadata.name for c in got.items) == ["cm-1", "cm-3"]
    got = core.list_namespaced_config_map(namespace, label_selector="n in (0,4),app!=x")
    assert sorted(c.metadata.name for c in got.items) == ["cm-0", "cm-4"]
    got = core.list_namespaced_config_map(namespace, field_selector="metadata.name=cm-2")
    assert [c.metadata.name for c in got.items] == ["cm-2"]
    page = core.list_namespaced_config_map(namespace, limit=2)
    names = [c.metadata.name for c in page.items]
    while page.metadata._continue:
        page = core.list_namespaced_config_map(
            namespace, limit=2, _continue=page.metadata._continue
        )
        names += [c.metadata.name for c in page.items]
    assert names == [f"cm-{i}" for i in range(5)]
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(namespace, field_selector="data.k=v")
    assert exc.value.status == 400


def test_patch_types(api_client: Any, sandbox: Sandbox, namespace: str) -> None:
    api = client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", ksvc("p"))
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/services/p"
    with _http(sandbox) as h:
        r = h.patch(
            base,
            content=json.dumps({"metadata": {"labels": {"a": "b"}}}),
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        assert r.status_code == 415
        status = r.json()
        assert status["reason"] == "UnsupportedMediaType"
        assert (
            "the body of the request was in an unknown format - accepted media types include:"
            in status["message"]
        )
        r = h.patch(
            base,
            content=json.dumps([{"op": "add", "path": "/metadata/labels", "value": {"j": "p"}}]),
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"j": "p"}
        r = h.patch(
            base,
            content=json.dumps({"metadata": {"labels": {"m": "p"}}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.json()["metadata"]["labels"] == {"j": "p", "m": "p"}
        # server-side apply: needs a field manager, detects conflicts, force takes over
        applied = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Service",
            "metadata": {"name": "p"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "image": "gcr.io/knative-samples/helloworld-go",
                                "env": [{"name": "TARGET", "value": "SSA"}],
                            }
                        ]
                    }
                }
            },
        }
        r = h.patch(
            base,
            content=json.dumps(applied),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert r.status_code == 422
        r = h.patch(
            base + "?fieldManager=alice",
            content=json.dumps(applied),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert r.status_code == 409, r.text  # the template was set by the creating manager
        assert r.json()["reason"] == "Conflict"
        r = h.patch(
            base + "?fieldManager=alice&force=true",
            content=json.dumps(applied),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert r.status_code == 200, r.text
        obj = r.json()
        assert obj["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "SSA"
        assert obj["metadata"]["generation"] == 2
        managers = {m["manager"]: m for m in obj["metadata"]["managedFields"]}
        assert managers["alice"]["operation"] == "Apply"
        # apply creates when absent
        other = dict(applied, metadata={"name": "q"})
        r = h.patch(
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/services/q?fieldManager=alice",
            content=json.dumps(other),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert r.status_code == 201, r.text


def test_bodies_limits_and_parse_errors(sandbox: Sandbox, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    with _http(sandbox) as h:
        r = h.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
        r = h.post(url, content=b"a: [1, 2", headers={"Content-Type": "application/yaml"})
        assert r.status_code == 400
        r = h.post(
            url,
            content=b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-yaml}\n",
            headers={"Content-Type": "application/yaml"},
        )
        assert r.status_code == 201, r.text
        big = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (4 * 1024 * 1024)}})
        r = h.post(url, content=big.encode(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["kind"] == "Status"
        r = h.put(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/services", content=b"{}")
        assert r.status_code == 405 and r.json()["reason"] == "MethodNotAllowed"


def test_watch_streams_and_resumes(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w1"}})
    core.patch_namespaced_config_map("w1", namespace, {"data": {"a": "1"}})
    core.delete_namespaced_config_map("w1", namespace)
    seen = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=2
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_watch_too_old_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch from a compacted resourceVersion gets a 410 Expired ERROR event; the client re-lists."""
    monkeypatch.setenv("KNWALK_SANDBOX_EVENT_LOG_SIZE", "20")
    sb = start_sandbox(tmp_path)
    try:
        with _http(sb) as h:
            first = h.get("/api/v1/namespaces/default/configmaps").json()["metadata"][
                "resourceVersion"
            ]
            for i in range(60):
                r = h.post(
                    "/api/v1/namespaces/default/configmaps", json={"metadata": {"name": f"c{i}"}}
                )
                assert r.status_code == 201
            r = h.get(
                f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={first}&timeoutSeconds=1"
            )
            ev = json.loads(r.text.splitlines()[0])
            assert ev["type"] == "ERROR"
            assert ev["object"]["code"] == 410 and ev["object"]["reason"] == "Expired"
            assert ev["object"]["message"].startswith(f"too old resource version: {first}")
            # a recent resourceVersion still resumes
            recent = h.get("/api/v1/namespaces/default/configmaps").json()["metadata"][
                "resourceVersion"
            ]
            h.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "after"}})
            r = h.get(
                f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={recent}&timeoutSeconds=1"
            )
            ev = json.loads(r.text.splitlines()[0])
            assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "after"
    finally:
        control.stop(sb.state_dir)


def test_watch_live_event(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    got: list[str] = []

    def reader() -> None:
        w = watch.Watch()
        for ev in w.stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5
        ):
            got.append(ev["object"].metadata.name)
            w.stop()

    t = threading.Thread(target=reader)
    t.start()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "live"}})
    t.join(10)
    assert got == ["live"]


def test_table_output(sandbox: Sandbox, api_client: Any, namespace: str) -> None:
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("tbl")
    )
    wait_for(api_client, "services", namespace, "tbl", ready)
    with _http(sandbox) as h:
        r = h.get(
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/services",
            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
        )
    table = r.json()
    assert table["kind"] == "Table"
    cols = [c["name"] for c in table["columnDefinitions"]]
    assert cols == ["Name", "URL", "LatestCreated", "LatestReady", "Ready", "Reason"]
    assert table["rows"][0]["cells"][:5] == [
        "tbl",
        f"http://tbl.{namespace}.example.com",
        "tbl-00001",
        "tbl-00001",
        "True",
    ]


def test_owner_cascade_and_orphan(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dep", "ownerReferences": [ref]}}
    )
    core.delete_namespaced_config_map("owner", namespace)
    names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert "dep" not in names
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner2"}})
    ref["uid"], ref["name"] = owner.metadata.uid, "owner2"
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dep2", "ownerReferences": [ref]}}
    )
    core.delete_namespaced_config_map("owner2", namespace, propagation_policy="Orphan")
    dep = core.read_namespaced_config_map("dep2", namespace)
    assert not dep.metadata.owner_references


def test_state_is_private(sandbox: Sandbox) -> None:
    assert stat.S_IMODE(os.stat(sandbox.state_dir).st_mode) == 0o700
    for name in ("token", "state.db", "sandbox.json", "sandbox.log"):
        assert stat.S_IMODE(os.stat(sandbox.state_dir / name).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(sandbox.kubeconfig).st_mode) == 0o600
    assert sandbox.token not in (sandbox.state_dir / "sandbox.log").read_text()


def test_restart_keeps_everything(tmp_path: Path) -> None:
    """down + up and kill -9 + up restore every object; resourceVersions keep increasing."""
    from kubernetes import config

    sb = start_sandbox(tmp_path)
    try:
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        co = client.CustomObjectsApi(api)
        co.create_namespaced_custom_object(GROUP, VERSION, "default", "services", ksvc("keep"))
        before = wait_for(api, "services", "default", "keep", ready)
        control.stop(sb.state_dir)
        info, started = control.start(sb.state_dir)
        assert started
        control.write_kubeconfig(info, sb.kubeconfig)
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        co = client.CustomObjectsApi(api)
        after = co.get_namespaced_custom_object(GROUP, VERSION, "default", "services", "keep")
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert int(after["metadata"]["resourceVersion"]) >= int(
            before["metadata"]["resourceVersion"]
        )
        # kill -9, then up again
        os.kill(info.pid, signal.SIGKILL)
        info, started = control.start(sb.state_dir)
        assert started
        control.write_kubeconfig(info, sb.kubeconfig)
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        co = client.CustomObjectsApi(api)
        again = co.get_namespaced_custom_object(GROUP, VERSION, "default", "services", "keep")
        assert again["metadata"]["uid"] == before["metadata"]["uid"]
        created = client.CoreV1Api(api).create_namespaced_config_map(
            "default", {"metadata": {"name": "new"}}
        )
        assert int(created.metadata.resource_version) > int(again["metadata"]["resourceVersion"])
        revs = co.list_namespaced_custom_object(GROUP, VERSION, "default", "revisions")["items"]
        assert [r["metadata"]["name"] for r in revs] == ["keep-00001"]
    finally:
        control.stop(sb.state_dir)


def test_deletecollection_and_protected_namespaces(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    for i in range(3):
        labels = {"sweep": "yes" if i < 2 else "no"}
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"d{i}", "labels": labels}}
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="sweep=yes")
    names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert names == ["d2"]
    with pytest.raises(ApiException) as exc:
        core.delete_namespace("default")
    body = json.loads(exc.value.body)
    assert exc.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == 'namespaces "default" is forbidden: this namespace may not be deleted'
    # deleting a namespace deletes what is in it
    core.delete_namespace(namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("d2", namespace)
    assert exc.value.status == 404
