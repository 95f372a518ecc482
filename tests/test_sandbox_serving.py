"""Knative Serving semantics in the sandbox, driven through the real kubernetes client."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.kube_helpers import GROUP, VERSION, ksvc, ready, wait_for


def _api(api_client: Any) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def _get(api_client: Any, ns: str, plural: str, name: str) -> dict[str, Any]:
    return _api(api_client).get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)


def _patch(api_client: Any, ns: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    api = _api(api_client)
    # the generated client picks merge-patch for a dict body on custom objects
    return api.patch_namespaced_custom_object(GROUP, VERSION, ns, "services", name, body)


def _revisions(api_client: Any, ns: str, name: str) -> list[dict[str, Any]]:
    out = _api(api_client).list_namespaced_custom_object(
        GROUP, VERSION, ns, "revisions", label_selector=f"serving.knative.dev/configuration={name}"
    )
    return sorted(out["items"], key=lambda r: r["metadata"]["name"])


def _v2_template() -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": "gcr.io/knative-samples/helloworld-go",
                            "env": [{"name": "TARGET", "value": "Go Sample v2"}],
                        }
                    ]
                }
            }
        }
    }


def test_walkthrough_v1_v2_and_split(api_client: Any, namespace: str) -> None:
    api = _api(api_client)
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("helloworld-go")
    )
    # webhook defaults
    assert created["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    container = created["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "user-container"
    assert container["readinessProbe"] == {"successThreshold": 1, "tcpSocket": {"port": 0}}
    assert created["spec"]["template"]["spec"]["timeoutSeconds"] == 300
    assert created["metadata"]["generation"] == 1

    svc = wait_for(api_client, "services", namespace, "helloworld-go", ready)
    st = svc["status"]
    assert st["url"] == f"http://helloworld-go.{namespace}.example.com"
    assert st["address"]["url"] == f"http://helloworld-go.{namespace}.svc.cluster.local"
    assert st["latestCreatedRevisionName"] == st["latestReadyRevisionName"] == "helloworld-go-00001"
    assert st["traffic"] == [
        {"latestRevision": True, "percent": 100, "revisionName": "helloworld-go-00001"}
    ]
    assert sorted(c["type"] for c in st["conditions"]) == [
        "ConfigurationsReady",
        "Ready",
        "RoutesReady",
    ]

    cfg = _get(api_client, namespace, "configurations", "helloworld-go")
    assert cfg["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert cfg["metadata"]["labels"]["serving.knative.dev/service"] == "helloworld-go"
    route = _get(api_client, namespace, "routes", "helloworld-go")
    assert route["spec"]["traffic"] == [
        {"configurationName": "helloworld-go", "latestRevision": True, "percent": 100}
    ]
    (rev1,) = _revisions(api_client, namespace, "helloworld-go")
    labels = rev1["metadata"]["labels"]
    assert labels["serving.knative.dev/configuration"] == "helloworld-go"
    assert labels["serving.knative.dev/configurationGeneration"] == "1"
    assert labels["serving.knative.dev/service"] == "helloworld-go"
    assert labels["serving.knative.dev/serviceUID"] == svc["metadata"]["uid"]
    assert labels["serving.knative.dev/configurationUID"] == cfg["metadata"]["uid"]
    wait_for(
        api_client,
        "revisions",
        namespace,
        "helloworld-go-00001",
        lambda r: r["metadata"]["labels"].get("serving.knative.dev/routingState") == "active",
    )

    # v2: a template change makes Revision 00002 and moves the route
    _patch(api_client, namespace, "helloworld-go", _v2_template())
    svc = wait_for(
        api_client,
        "services",
        namespace,
        "helloworld-go",
        lambda o: ready(o) and o["status"].get("latestReadyRevisionName") == "helloworld-go-00002",
    )
    assert svc["metadata"]["generation"] == 2
    assert svc["status"]["traffic"] == [
        {"latestRevision": True, "percent": 100, "revisionName": "helloworld-go-00002"}
    ]
    revs = _revisions(api_client, namespace, "helloworld-go")
    assert [r["metadata"]["name"] for r in revs] == ["helloworld-go-00001", "helloworld-go-00002"]
    assert revs[1]["spec"]["containers"][0]["env"] == [{"name": "TARGET", "value": "Go Sample v2"}]
    assert revs[0]["spec"]["containers"][0]["env"] == [{"name": "TARGET", "value": "Go Sample v1"}]
    wait_for(
        api_client,
        "revisions",
        namespace,
        "helloworld-go-00001",
        lambda r: r["metadata"]["labels"].get("serving.knative.dev/routingState") == "reserve",
    )

    # the 50/50 split with tags: no new revision
    block = [
        {"tag": "current", "revisionName": "helloworld-go-00002", "percent": 50},
        {"tag": "candidate", "revisionName": "helloworld-go-00001", "percent": 50},
        {"tag": "latest", "latestRevision": True, "percent": 0},
    ]
    _patch(api_client, namespace, "helloworld-go", {"spec": {"traffic": block}})
    svc = wait_for(
        api_client,
        "services",
        namespace,
        "helloworld-go",
        lambda o: ready(o) and len(o["status"].get("traffic", [])) == 3,
    )
    host = f"{namespace}.example.com"
    assert svc["status"]["traffic"] == [
        {
            "latestRevision": False,
            "percent": 50,
            "revisionName": "helloworld-go-00002",
            "tag": "current",
            "url": f"http://current-helloworld-go.{host}",
        },
        {
            "latestRevision": False,
            "percent": 50,
            "revisionName": "helloworld-go-00001",
            "tag": "candidate",
            "url": f"http://candidate-helloworld-go.{host}",
        },
        {
            "latestRevision": True,
            "percent": 0,
            "revisionName": "helloworld-go-00002",
            "tag": "latest",
            "url": f"http://latest-helloworld-go.{host}",
        },
    ]
    assert svc["metadata"]["generation"] == 3
    assert len(_revisions(api_client, namespace, "helloworld-go")) == 2
    cfg = _get(api_client, namespace, "configurations", "helloworld-go")
    assert cfg["metadata"]["generation"] == 2  # traffic is not part of the Configuration
    wait_for(
        api_client,
        "revisions",
        namespace,
        "helloworld-go-00001",
        lambda r: r["metadata"]["labels"].get("serving.knative.dev/routingState") == "active",
    )

    # deleting the Service takes its Configuration, Revisions and Route with it
    api.delete_namespaced_custom_object(GROUP, VERSION, namespace, "services", "helloworld-go")
    for plural in ("configurations", "routes", "revisions"):
        items = api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
        assert items == [], plural


def test_labels_only_change_makes_no_revision(api_client: Any, namespace: str) -> None:
    api = _api(api_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", ksvc("app"))
    wait_for(api_client, "services", namespace, "app", ready)
    _patch(api_client, namespace, "app", {"metadata": {"labels": {"team": "a"}}})
    svc = wait_for(
        api_client,
        "services",
        namespace,
        "app",
        lambda o: ready(o) and o["metadata"]["labels"].get("team") == "a",
    )
    assert svc["metadata"]["generation"] == 1
    assert [r["metadata"]["name"] for r in _revisions(api_client, namespace, "app")] == [
        "app-00001"
    ]


def test_byo_revision_name(api_client: Any, namespace: str) -> None:
    body = ksvc("byo")
    body["spec"]["template"]["metadata"] = {"name": "byo-first"}
    _api(api_client).create_namespaced_custom_object(GROUP, VERSION, namespace, "services", body)
    svc = wait_for(api_client, "services", namespace, "byo", ready)
    assert svc["status"]["latestReadyRevisionName"] == "byo-first"


def _denied(api_client: Any, namespace: str, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as exc:
        _api(api_client).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "services", body
        )
    assert exc.value.status == 400
    import json

    status = json.loads(exc.value.body)
    assert status["kind"] == "Status" and status["reason"] == "BadRequest"
    prefix = 'admission webhook "validation.webhook.serving.knative.dev" denied the request: validation failed: '
    assert status["message"].startswith(prefix), status["message"]
    return str(status["message"][len(prefix) :])


@pytest.mark.parametrize(
    ("traffic", "message"),
    [
        (
            [{"latestRevision": True, "percent": 90}],
            "Traffic targets sum to 90, want 100: spec.traffic",
        ),
        (
            [
                {"tag": "x", "latestRevision": True, "percent": 50},
                {"tag": "x", "revisionName": "v-00001", "percent": 50},
            ],
            'Multiple definitions for "x": spec.traffic[0].tag, spec.traffic[1].tag',
        ),
        (
            [{"revisionName": "v-00001", "latestRevision": True, "percent": 100}],
            'may not set revisionName "v-00001" when latestRevision is true: spec.traffic[0].latestRevision',
        ),
        (
            [{"latestRevision": True, "percent": 101}],
            "Traffic targets sum to 101, want 100: spec.traffic\nexpected 0 <= 101 <= 100: spec.traffic[0].percent",
        ),
        (
            [{"latestRevision": True, "percent": 100, "tag": "Bad_Tag"}],
            "invalid value: not a DNS 1035 label: ",
        ),
        (
            [{"configurationName": "other", "percent": 100}],
            "must not set the field(s): spec.traffic[0].configurationName",
        ),
    ],
)
def test_traffic_validation_messages(
    api_client: Any, namespace: str, traffic: list[dict[str, Any]], message: str
) -> None:
    got = _denied(api_client, namespace, ksvc("v", traffic=traffic))
    assert got.startswith(message), got


def test_revision_of_another_service_is_refused(api_client: Any, namespace: str) -> None:
    api = _api(api_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", ksvc("one"))
    wait_for(api_client, "services", namespace, "one", ready)
    got = _denied(
        api_client, namespace, ksvc("two", traffic=[{"revisionName": "one-00001", "percent": 100}])
    )
    assert (
        got == 'Revision "one-00001" does not belong to Service "two": spec.traffic[0].revisionName'
    )


def test_missing_revision_makes_route_not_ready(api_client: Any, namespace: str) -> None:
    api = _api(api_client)
    api.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "services",
        ksvc("miss", traffic=[{"revisionName": "miss-00009", "percent": 100}]),
    )

    def failed(o: dict[str, Any]) -> bool:
        conds = {c["type"]: c for c in (o.get("status") or {}).get("conditions", [])}
        return conds.get("Ready", {}).get("status") == "False"

    route = wait_for(api_client, "routes", namespace, "miss", failed)
    conds = {c["type"]: c for c in route["status"]["conditions"]}
    assert conds["AllTrafficAssigned"]["reason"] == "RevisionMissing"
    assert (
        conds["AllTrafficAssigned"]["message"]
        == 'Revision "miss-00009" referenced in traffic not found.'
    )
    svc = wait_for(api_client, "services", namespace, "miss", failed)
    sconds = {c["type"]: c for c in svc["status"]["conditions"]}
    assert sconds["RoutesReady"]["reason"] == "RevisionMissing"
    assert sconds["Ready"]["reason"] == "RevisionMissing"


def test_template_name_needs_service_prefix(api_client: Any, namespace: str) -> None:
    body = ksvc("pre")
    body["spec"]["template"]["metadata"] = {"name": "other-1"}
    got = _denied(api_client, namespace, body)
    assert got == 'invalid value: "other-1" must have prefix "pre-": spec.template.metadata.name'


def test_invalid_service_name(api_client: Any, namespace: str) -> None:
    got = _denied(api_client, namespace, ksvc("1abc"))
    assert got.startswith("not a DNS 1035 label: [a DNS-1035 label must consist of lower case")
    assert got.endswith(": metadata.name")


def test_domain_follows_config_domain(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    api = _api(api_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", ksvc("dom"))
    wait_for(api_client, "services", namespace, "dom", ready)
    original = core.read_namespaced_config_map("config-domain", "knative-serving")
    try:
        core.replace_namespaced_config_map(
            "config-domain",
            "knative-serving",
            {
                "metadata": {
                    "name": "config-domain",
                    "resourceVersion": original.metadata.resource_version,
                },
                "data": {"knative.test": ""},
            },
        )
        svc = wait_for(
            api_client,
            "services",
            namespace,
            "dom",
            lambda o: o.get("status", {}).get("url") == f"http://dom.{namespace}.knative.test",
        )
        assert svc["status"]["address"]["url"] == f"http://dom.{namespace}.svc.cluster.local"
        current = core.read_namespaced_config_map("config-domain", "knative-serving")
        core.replace_namespaced_config_map(
            "config-domain",
            "knative-serving",
            {
                "metadata": {
                    "name": "config-domain",
                    "resourceVersion": current.metadata.resource_version,
                },
                "data": {},
            },
        )
        wait_for(
            api_client,
            "services",
            namespace,
            "dom",
            lambda o: o.get("status", {}).get("url") == f"http://dom.{namespace}.svc.cluster.local",
        )
    finally:
        current = core.read_namespaced_config_map("config-domain", "knative-serving")
        core.replace_namespaced_config_map(
            "config-domain",
            "knative-serving",
            {
                "metadata": {
                    "name": "config-domain",
                    "resourceVersion": current.metadata.resource_version,
                    "labels": original.metadata.labels,
                    "annotations": original.metadata.annotations,
                },
                "data": original.data,
            },
        )


def test_revision_spec_is_immutable(api_client: Any, namespace: str) -> None:
    api = _api(api_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", ksvc("imm"))
    wait_for(api_client, "services", namespace, "imm", ready)
    with pytest.raises(ApiException) as exc:
        api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "revisions", "imm-00001", {"spec": {"timeoutSeconds": 10}}
        )
    assert exc.value.status == 400
    assert "Immutable fields changed (-old +new): spec" in exc.value.body
