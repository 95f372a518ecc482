"""DeleteOptions: a dry-run delete deletes nothing, wherever the client puts ``dryRun``.

kubectl and the kubernetes client send DeleteOptions in the DELETE's body;
kube-apiserver reads the body when there is one and the query otherwise
(``handlers/delete.go``), for DELETE and deletecollection alike. A sandbox that
read only the query deleted a Service, and on a namespace everything in it,
while kubectl printed ``deleted (server dry run)``.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import httpx
import pytest

from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery import deleteoptions
from tests.conftest import Sandbox
from tests.kube_helpers import GROUP, VERSION, ksvc, ready, wait_for

KUBECTL = "/usr/bin/kubectl"
needs_kubectl = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="no kubectl")


def _kubectl(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, *args], env=sandbox.env(), capture_output=True, text=True, timeout=60
    )


def _http(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.api,
        verify=sandbox.ca,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=30,
    )


def _graph(custom: Any, namespace: str, name: str) -> dict[str, list[str]]:
    """The Knative objects of one Service, by plural."""
    out = {}
    for plural in ("services", "configurations", "revisions", "routes"):
        items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
        out[plural] = sorted(i["metadata"]["name"] for i in items)
    return out


@pytest.fixture
def app(api_client: Any, namespace: str) -> tuple[Any, dict[str, list[str]]]:
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", ksvc("hello"))
    wait_for(api_client, "services", namespace, "hello", ready, timeout=30)
    graph = _graph(custom, namespace, "hello")
    assert all(graph.values()), graph
    return custom, graph


# ------------------------------------------------------------------ kubectl
@needs_kubectl
def test_kubectl_server_dry_run_delete_of_a_service_deletes_nothing(
    sandbox: Sandbox, namespace: str, app: tuple[Any, dict[str, list[str]]]
) -> None:
    custom, before = app
    result = _kubectl(sandbox, "delete", "ksvc", "hello", "-n", namespace, "--dry-run=server")
    assert result.returncode == 0, result.stderr
    assert "deleted (server dry run)" in result.stdout
    assert _graph(custom, namespace, "hello") == before


@needs_kubectl
def test_kubectl_server_dry_run_delete_of_a_namespace_deletes_nothing(
    sandbox: Sandbox, api_client: Any, namespace: str, app: tuple[Any, dict[str, list[str]]]
) -> None:
    from kubernetes import client

    custom, before = app
    result = _kubectl(sandbox, "delete", "namespace", namespace, "--dry-run=server")
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout
    ns = client.CoreV1Api(api_client).read_namespace(namespace)
    assert ns.metadata.deletion_timestamp is None
    assert _graph(custom, namespace, "hello") == before


@needs_kubectl
def test_kubectl_dry_run_delete_all_deletes_nothing(
    sandbox: Sandbox, api_client: Any, namespace: str
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    for i in range(3):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i}"}})
    result = _kubectl(sandbox, "delete", "configmap", "--all", "-n", namespace, "--dry-run=server")
    assert result.returncode == 0, result.stderr
    names = {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}
    assert {"cm-0", "cm-1", "cm-2"} <= names


# ------------------------------------------------------ the kubernetes client
def test_python_client_dry_run_delete_options_in_the_body(
    api_client: Any, namespace: str, app: tuple[Any, dict[str, list[str]]]
) -> None:
    from kubernetes import client

    custom, before = app
    answer = custom.delete_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "services",
        "hello",
        body=client.V1DeleteOptions(dry_run=["All"]),
    )
    assert answer["metadata"]["name"] == "hello"
    assert _graph(custom, namespace, "hello") == before
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "keep"}})
    core.delete_namespaced_config_map(
        "keep", namespace, body=client.V1DeleteOptions(dry_run=["All"])
    )
    core.delete_collection_namespaced_config_map(
        namespace, body=client.V1DeleteOptions(dry_run=["All"])
    )
    assert core.read_namespaced_config_map("keep", namespace).metadata.name == "keep"


# ------------------------------------------------------------ raw requests
def _cm(http: httpx.Client, namespace: str, name: str) -> str:
    r = http.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}},
    )
    assert r.status_code == 201, r.text
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def test_dry_run_in_the_query_still_counts_when_the_body_is_empty(
    sandbox: Sandbox, namespace: str
) -> None:
    with _http(sandbox) as http:
        path = _cm(http, namespace, "q")
        r = http.delete(path, params={"dryRun": "All"})
        assert r.status_code == 200, r.text
        assert http.get(path).status_code == 200
        r = http.delete(f"/api/v1/namespaces/{namespace}/configmaps", params={"dryRun": "All"})
        assert r.status_code == 200, r.text
        assert http.get(path).status_code == 200


def test_a_body_replaces_the_query_as_on_kube_apiserver(sandbox: Sandbox, namespace: str) -> None:
    """With a body, the query's options are not read at all (a real apiserver's rule)."""
    with _http(sandbox) as http:
        path = _cm(http, namespace, "b")
        body = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})
        r = http.request(
            "DELETE",
            path,
            params={"propagationPolicy": "NotAPolicy"},  # would be 422 if it were read
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert http.get(path).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"dryRun": ["Al"]},
            'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
            '[]string{"Al"}: supported values: "All"',
        ),
        (
            {"propagationPolicy": "Orphan", "orphanDependents": True},
            'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
            '"Orphan": orphanDependents and deletionPropagation cannot be both set',
        ),
    ],
)
def test_invalid_delete_options_in_the_body_are_refused_and_delete_nothing(
    sandbox: Sandbox, namespace: str, body: dict[str, Any], message: str
) -> None:
    with _http(sandbox) as http:
        path = _cm(http, namespace, "v")
        for url in (path, f"/api/v1/namespaces/{namespace}/configmaps"):
            r = http.request("DELETE", url, content=json.dumps(body))
            assert r.status_code == 422, r.text
            status = r.json()
            assert status["message"] == message
            assert status["details"]["group"] == "meta.k8s.io"
            assert status["details"]["kind"] == "DeleteOptions"
        assert http.get(path).status_code == 200


def test_wrongly_typed_options_are_a_decoding_error(sandbox: Sandbox, namespace: str) -> None:
    with _http(sandbox) as http:
        path = _cm(http, namespace, "t")
        r = http.request("DELETE", path, content=json.dumps({"dryRun": "All"}))
        assert r.status_code == 400, r.text
        assert "DeleteOptions.dryRun of type []string" in r.json()["message"]
        r = http.request("DELETE", path, content=json.dumps({"kind": "Pod"}))
        assert r.status_code == 400, r.text
        assert http.get(path).status_code == 200


@pytest.mark.parametrize(
    ("again", "owner_left"),
    [(None, True), ({"propagationPolicy": "Background"}, False)],
    ids=["no policy keeps it", "an explicit policy replaces it"],
)
def test_a_second_delete_keeps_a_foreground_deletion_unless_it_names_a_policy(
    sandbox: Sandbox, namespace: str, again: dict[str, str] | None, owner_left: bool
) -> None:
    """kube-apiserver's deletionFinalizersForGarbageCollection: a delete that names no
    policy keeps the garbage collector's finalizer an earlier delete put on the object;
    one that names a policy replaces it (Background: none, so the owner goes now)."""
    with _http(sandbox) as http:
        owner_path = _cm(http, namespace, "owner")
        owner = http.get(owner_path).json()
        ref = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
            "blockOwnerDeletion": True,
        }
        r = http.post(
            f"/api/v1/namespaces/{namespace}/configmaps",
            json={
                "metadata": {
                    "name": "held",
                    "ownerReferences": [ref],
                    "finalizers": ["example.com/hold"],
                }
            },
        )
        assert r.status_code == 201, r.text
        held_path = f"/api/v1/namespaces/{namespace}/configmaps/held"
        try:
            r = http.request(
                "DELETE", owner_path, content=json.dumps({"propagationPolicy": "Foreground"})
            )
            assert r.status_code == 200, r.text
            assert http.get(owner_path).json()["metadata"]["finalizers"] == ["foregroundDeletion"]
            content = json.dumps(again) if again is not None else None
            r = http.request("DELETE", owner_path, content=content)
            assert r.status_code == 200, r.text
            r = http.get(owner_path)
            if owner_left:
                assert r.status_code == 200, r.text
                meta = r.json()["metadata"]
                assert meta["finalizers"] == ["foregroundDeletion"]
                assert meta["deletionTimestamp"]
            else:
                assert r.status_code == 404, r.text
        finally:
            http.patch(
                held_path,
                json={"metadata": {"finalizers": None}},
                headers={"Content-Type": "application/merge-patch+json"},
            )


# ------------------------------------------------------------------- pure
def test_parse_reads_the_body_or_the_query_never_both() -> None:
    assert deleteoptions.parse({"dryRun": ["All"]}, {}, []).dry_run
    assert deleteoptions.parse(None, {}, ["All"]).dry_run
    assert not deleteoptions.parse({}, {}, ["All"]).dry_run
    opts = deleteoptions.parse(None, {"propagationPolicy": "Foreground"}, [])
    assert opts.policy == "Foreground"
    assert deleteoptions.parse({"orphanDependents": True}, {}, []).policy == "Orphan"
    assert deleteoptions.parse(None, {"orphanDependents": "true"}, []).policy == "Orphan"
    assert deleteoptions.parse({}, {}, []).policy is None  # the object's own, as it stands
    pre = deleteoptions.parse({"preconditions": {"uid": "u", "resourceVersion": "7"}}, {}, [])
    assert (pre.precondition_uid, pre.precondition_rv) == ("u", "7")
    with pytest.raises(E.StatusError) as err:
        deleteoptions.parse(None, {"gracePeriodSeconds": "1_0"}, [])
    assert err.value.code == 400
    # the parameter codec's booleans: only "0" and "false" (any case) are false
    assert deleteoptions.parse(None, {"orphanDependents": "yes"}, []).policy == "Orphan"
    assert deleteoptions.parse(None, {"orphanDependents": "FALSE"}, []).policy == "Background"
