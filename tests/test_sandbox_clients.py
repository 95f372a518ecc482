"""The sandbox answers Kubernetes clients nobody here wrote as kube-apiserver 1.33 does.

Each test drives a real client — kubectl, the kubernetes Python client, cloudcoil with its
typed Knative models, kr8s, lightkube — or checks the exact bytes a client compares:
aggregated discovery, explicit nulls in custom-resource bodies, OpenAPI v2 as protobuf,
access reviews and identity, what DELETE answers, Status error bodies, and the objects a
control plane keeps about itself (Node, the kubernetes Service, APIServices, Events in
events.k8s.io/v1). Issue 13.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from tests.conftest import Sandbox
from tests.kube_helpers import GROUP, VERSION, ksvc

KUBECTL = "/usr/bin/kubectl"
needs_kubectl = pytest.mark.skipif(
    not os.path.exists(KUBECTL), reason=f"{KUBECTL} is not installed"
)
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTO = Path(__file__).parent / "fixtures" / "gnostic" / "OpenAPIv2.proto"


def _http(sb: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.api,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=30,
        verify=ssl.create_default_context(cafile=sb.ca),
    )


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with _http(sandbox) as h:
        yield h


def _kubectl(
    sandbox: Sandbox, tmp_path: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(tmp_path / "kube-cache")  # nothing cached from other tests
    p = subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if check:
        assert p.returncode == 0, f"kubectl {' '.join(args)}:\n{p.stderr}"
    return p


def _api_port(sandbox: Sandbox) -> int:
    return int(sandbox.api.rsplit(":", 1)[1])


# ---------------------------------------------------------------- aggregated discovery


def test_aggregated_discovery_is_served_with_its_content_type(http: httpx.Client) -> None:
    r = http.get("/apis", headers={"Accept": AGGREGATED_V2})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == AGGREGATED_V2
    doc = r.json()
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    groups = {g["metadata"].get("name"): g for g in doc["items"]}
    assert "" not in groups  # the core group is /api's
    # v1 (Service, ...) before v1beta1 (DomainMapping): kube-apiserver's version priority
    versions = groups["serving.knative.dev"]["versions"]
    assert [v["version"] for v in versions] == ["v1", "v1beta1"]
    serving = versions[0]
    assert serving["freshness"] == "Current"
    services = next(r for r in serving["resources"] if r["resource"] == "services")
    assert services == {
        "resource": "services",
        "responseKind": {"group": "serving.knative.dev", "version": "v1", "kind": "Service"},
        "scope": "Namespaced",
        "singularResource": "service",
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "shortNames": ["kservice", "ksvc"],
        "categories": ["all", "knative", "serving"],
        "subresources": [
            {
                "subresource": "status",
                "responseKind": {
                    "group": "serving.knative.dev",
                    "version": "v1",
                    "kind": "Service",
                },
                "verbs": ["get", "patch", "update"],
            }
        ],
    }
    (apps,) = groups["apps"]["versions"]
    deployments = next(r for r in apps["resources"] if r["resource"] == "deployments")
    assert [s["subresource"] for s in deployments["subresources"]] == ["scale", "status"]
    assert deployments["subresources"][0]["responseKind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }
    # groups in kube-apiserver's priority order: apps before CRD groups
    names = [g["metadata"].get("name") for g in doc["items"]]
    assert names.index("apps") < names.index("serving.knative.dev")

    core = http.get("/api", headers={"Accept": AGGREGATED_V2}).json()
    (core_group,) = core["items"]
    assert core_group["metadata"] == {"creationTimestamp": None}
    pods = next(r for r in core_group["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "", "kind": "Pod"}
    assert [s["subresource"] for s in pods["subresources"]] == [
        "attach",
        "exec",
        "log",
        "portforward",
        "status",
    ]


def test_aggregated_discovery_negotiates_as_kube_apiserver(http: httpx.Client) -> None:
    # client-go's header: v2, then v2beta1, then the unaggregated document
    r = http.get(
        "/apis", headers={"Accept": f"{AGGREGATED_V2},{AGGREGATED_V2BETA1},application/json"}
    )
    assert r.headers["Content-Type"] == AGGREGATED_V2
    beta = http.get("/apis", headers={"Accept": AGGREGATED_V2BETA1})
    assert beta.headers["Content-Type"] == AGGREGATED_V2BETA1
    assert beta.json()["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    plain = http.get("/apis", headers={"Accept": "application/json"})
    assert plain.json()["kind"] == "APIGroupList"
    refused = http.get(
        "/apis",
        headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"},
    )
    assert refused.status_code == 406
    assert refused.json()["reason"] == "NotAcceptable"
    assert refused.json()["message"] == (
        "only the following media types are accepted: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf"
    )
    # cached by ETag, as kube-apiserver's discovery handler is
    tag = r.headers["ETag"]
    again = http.get("/apis", headers={"Accept": AGGREGATED_V2, "If-None-Match": tag})
    assert again.status_code == 304


@needs_kubectl
def test_kubectl_reads_aggregated_discovery(sandbox: Sandbox, tmp_path: Path) -> None:
    out = _kubectl(sandbox, tmp_path, "get", "ksvc", "-A", "-v=6").stderr
    urls = re.findall(r'url="https://[^/]+(/[^"?]*)', out)
    assert "/apis" in urls and "/api" in urls
    # with the aggregated document there is no per-group-version round trip
    assert not [u for u in urls if re.fullmatch(r"/apis/[^/]+/[^/]+", u)], urls
    resources = _kubectl(sandbox, tmp_path, "api-resources", "--api-group=serving.knative.dev")
    assert re.search(
        r"^services\s+kservice,ksvc\s+serving.knative.dev/v1\s+true\s+Service$",
        resources.stdout,
        re.M,
    )


def test_cloudcoil_finds_knative_kinds_and_gets_a_service(
    sandbox: Sandbox, api_client: Any, namespace: str
) -> None:
    """cloudcoil trusts /version (1.33) and reads only the aggregated document."""
    from cloudcoil.client import Config
    from cloudcoil.models.knative_serving.serving import v1 as kn

    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("hello")
    )
    with Config(kubeconfig=str(sandbox.kubeconfig)):
        got = kn.Service.get("hello", namespace)
    assert got.metadata is not None and got.metadata.name == "hello"


# ------------------------------------------------------------------ nulls in bodies


def test_typed_client_nulls_in_a_knative_service_are_dropped(
    sandbox: Sandbox, namespace: str
) -> None:
    """cloudcoil sends ``null`` for every optional field it leaves unset."""
    from cloudcoil.client import Config
    from cloudcoil.models.knative_serving.serving import v1 as kn

    svc = (
        kn.Service.builder()
        .metadata(lambda m: m.name("typed").namespace(namespace))
        .spec(
            lambda s: s.template(
                lambda t: t.spec(
                    lambda p: p.containers([{"image": "gcr.io/knative-samples/helloworld-go"}])
                )
            )
        )
        .build()
    )
    sent = svc.model_dump(mode="json", by_alias=True)
    assert sent["spec"]["template"]["spec"]["containers"][0]["args"] is None  # what goes out
    with Config(kubeconfig=str(sandbox.kubeconfig)):
        created = svc.create()
    stored = created.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"].endswith("helloworld-go")


def test_raw_body_nulls_follow_the_schema(http: httpx.Client, namespace: str) -> None:
    """Non-nullable nulls without a default go; ``nullable`` ones stay; defaulted ones are
    defaulted — apiextensions' PruneNonNullableNullsWithoutDefaults."""
    group = f"n{uuid.uuid4().hex[:8]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "plain": {"type": "string"},
                                        "maybe": {"type": "string", "nullable": True},
                                        "size": {"type": "integer", "default": 3},
                                        "items": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {"name": {"type": "string"}},
                                            },
                                        },
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    r = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    assert r.status_code == 201, r.text
    try:
        body = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "labels": None, "annotations": None},
            "spec": {"plain": None, "maybe": None, "size": None, "items": [{"name": None}]},
        }
        r = http.post(f"/apis/{group}/v1/namespaces/{namespace}/widgets", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["spec"] == {"maybe": None, "size": 3, "items": [{}]}
    finally:
        http.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")


# ------------------------------------------------------------- OpenAPI v2 as protobuf


@needs_kubectl
def test_kubectl_explain_reads_openapi_v2(sandbox: Sandbox, tmp_path: Path) -> None:
    out = _kubectl(sandbox, tmp_path, "explain", "ksvc", "--output=plaintext-openapiv2").stdout
    assert out.startswith("KIND:     Service\nVERSION:  serving.knative.dev/v1\n")
    assert "FIELDS:" in out
    containers = _kubectl(
        sandbox, tmp_path, "explain", "pods.spec.containers", "--output=plaintext-openapiv2"
    ).stdout
    assert "RESOURCE: containers <[]Object>" in containers


def _proto_classes() -> dict[str, Any]:
    """Message classes for gnostic's published OpenAPIv2.proto (its syntax is a plain
    subset: messages of scalar, message and repeated fields, and oneofs)."""
    from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    scalars = {
        "string": F.TYPE_STRING,
        "bool": F.TYPE_BOOL,
        "int64": F.TYPE_INT64,
        "double": F.TYPE_DOUBLE,
    }
    text = re.sub(r"//[^\n]*", "", PROTO.read_text())
    file = descriptor_pb2.FileDescriptorProto(
        name="openapiv2/OpenAPIv2.proto",
        package="openapi.v2",
        syntax="proto3",
        dependency=["google/protobuf/any.proto"],
    )
    for name, body in re.findall(r"message\s+(\w+)\s*\{((?:[^{}]|\{[^{}]*\})*)\}", text):
        msg = file.message_type.add(name=name)
        oneof_bodies = re.findall(r"oneof\s+\w+\s*\{([^}]*)\}", body)
        plain = re.sub(r"oneof\s+\w+\s*\{[^}]*\}", "", body)
        for index, part in [(None, plain), *((0, b) for b in oneof_bodies)]:
            if index is not None:
                msg.oneof_decl.add(name="oneof")
            for repeated, typ, field, num in re.findall(
                r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;", part
            ):
                f = msg.field.add(name=field, number=int(num), json_name=field)
                f.label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
                if typ in scalars:
                    f.type = scalars[typ]
                else:
                    f.type = F.TYPE_MESSAGE
                    f.type_name = (
                        ".google.protobuf.Any"
                        if typ == "google.protobuf.Any"
                        else f".openapi.v2.{typ}"
                    )
                if index is not None:
                    f.oneof_index = index
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openapi.v2.{m.name}"))
        for m in file.message_type
    }


def _check_schema(pb: Any, js: Mapping[str, Any], path: str) -> None:
    assert pb._ref == js.get("$ref", ""), path
    assert pb.description == js.get("description", ""), path
    assert list(pb.type.value) == ([js["type"]] if "type" in js else []), path
    assert list(pb.required) == js.get("required", []), path
    props = {p.name: p.value for p in pb.properties.additional_properties}
    assert list(props) == list(js.get("properties", {})), path
    for name, sub in props.items():
        _check_schema(sub, js["properties"][name], f"{path}.{name}")
    if isinstance(js.get("items"), Mapping):
        (item,) = pb.items.schema
        _check_schema(item, js["items"], f"{path}[]")
    if isinstance(js.get("additionalProperties"), Mapping):
        _check_schema(pb.additional_properties.schema, js["additionalProperties"], f"{path}{{}}")
    extensions = {e.name: yaml.safe_load(e.value.yaml) for e in pb.vendor_extension}
    assert extensions == {k: v for k, v in js.items() if k.startswith("x-")}, path


def test_openapi_v2_protobuf_decodes_with_the_published_proto(http: httpx.Client) -> None:
    as_json = http.get("/openapi/v2", headers={"Accept": "application/json"}).json()
    r = http.get("/openapi/v2", headers={"Accept": OPENAPI_V2_PROTOBUF})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    doc = _proto_classes()["Document"]()
    doc.ParseFromString(r.content)
    assert doc.swagger == "2.0" and doc.info.title == as_json["info"]["title"]
    definitions = {d.name: d.value for d in doc.definitions.additional_properties}
    assert list(definitions) == list(as_json["definitions"])
    for name, schema in definitions.items():
        _check_schema(schema, as_json["definitions"][name], name)
    paths = {p.name: p.value for p in doc.paths.path}
    assert list(paths) == list(as_json["paths"])
    pod = paths["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert pod.delete.operation_id == "deleteCoreV1NamespacedPod"
    codes = {c.name: c.value.response for c in pod.delete.responses.response_code}
    assert codes["200"].schema.schema._ref == "#/definitions/io.k8s.api.core.v1.Pod"
    query = [
        p.parameter.non_body_parameter.query_parameter_sub_schema for p in pod.delete.parameters
    ]
    assert "dryRun" in [q.name for q in query if q.name]
    path_params = [p.parameter.non_body_parameter.path_parameter_sub_schema for p in pod.parameters]
    assert [p.name for p in path_params if p.name] == ["name", "namespace"]
    # kube-openapi's negotiation: JSON when preferred, 406 (no body) for nothing it serves
    both = http.get("/openapi/v2", headers={"Accept": f"application/json, {OPENAPI_V2_PROTOBUF}"})
    assert both.headers["Content-Type"] == "application/json"
    refused = http.get("/openapi/v2", headers={"Accept": "text/html"})
    assert refused.status_code == 406 and refused.content == b""


# -------------------------------------------------------------- access and identity


@needs_kubectl
def test_kubectl_auth_can_i_and_whoami(sandbox: Sandbox, tmp_path: Path) -> None:
    assert _kubectl(sandbox, tmp_path, "auth", "can-i", "create", "ksvc").stdout == "yes\n"
    assert _kubectl(sandbox, tmp_path, "auth", "can-i", "delete", "namespaces").stdout == "yes\n"
    listed = _kubectl(sandbox, tmp_path, "auth", "can-i", "--list").stdout.splitlines()
    assert re.fullmatch(r"\*\.\*\s+\[\]\s+\[\]\s+\[\*\]", listed[1].strip()), listed
    whoami = _kubectl(sandbox, tmp_path, "auth", "whoami").stdout
    assert re.search(r"^Username\s+knwalk-sandbox-admin$", whoami, re.M)
    assert re.search(r"^Groups\s+\[system:masters system:authenticated\]$", whoami, re.M)
    found = _kubectl(sandbox, tmp_path, "api-resources", "--api-group=authorization.k8s.io").stdout
    assert "selfsubjectaccessreviews" in found and "selfsubjectrulesreviews" in found


def test_access_review_needs_exactly_one_kind_of_attributes(http: httpx.Client) -> None:
    r = http.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        json={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {},
        },
    )
    assert r.status_code == 422
    assert r.json()["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "null": exactly one of nonResourceAttributes or '
            "resourceAttributes must be specified",
            "field": "spec.resourceAttributes",
        }
    ]
    assert http.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").status_code == 405


def test_kr8s_whoami_asks_a_token_review(sandbox: Sandbox) -> None:
    import kr8s

    api = kr8s.api(kubeconfig=str(sandbox.kubeconfig))
    assert api.whoami() == "knwalk-sandbox-admin"


# ------------------------------------------------------------- what DELETE answers


def test_python_client_deletes_get_the_types_upstream_declares(
    api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    )
    core.create_namespaced_service(
        namespace, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    )
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "sa"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
    pod = core.delete_namespaced_pod("p", namespace)
    assert isinstance(pod, client.V1Pod) and pod.metadata.name == "p"
    svc = core.delete_namespaced_service("s", namespace)
    assert isinstance(svc, client.V1Service) and svc.metadata.name == "s"
    sa = core.delete_namespaced_service_account("sa", namespace)
    assert isinstance(sa, client.V1ServiceAccount) and sa.metadata.name == "sa"
    status = core.delete_namespaced_config_map("cm", namespace)
    status = status.to_dict() if hasattr(status, "to_dict") else status
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "cm" and status["details"]["kind"] == "configmaps"


def test_openapi_declares_what_delete_answers(http: httpx.Client) -> None:
    doc = http.get("/openapi/v3/api/v1").json()
    pods = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["delete"]["responses"]
    assert pods["200"]["content"]["application/json"]["schema"]["$ref"].endswith("core.v1.Pod")
    cms = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["delete"]["responses"]
    assert cms["200"]["content"]["application/json"]["schema"]["$ref"].endswith("meta.v1.Status")


# -------------------------------------------------------------------- Status bytes


def test_status_errors_are_written_as_kube_apiserver_writes_them(
    http: httpx.Client, namespace: str
) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"}}
    assert http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=cm).status_code == 201
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=cm)
    assert r.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"configmaps \\"twice\\" already exists","reason":"AlreadyExists",'
        b'"details":{"name":"twice","kind":"configmaps"},"code":409}\n'
    )
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gone"},
    }
    r = http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/gone")
    assert r.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"deployments.apps \\"gone\\" not found","reason":"NotFound",'
        b'"details":{"name":"gone","group":"apps","kind":"deployments"},"code":404}\n'
    )
    r = http.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", json=dep)
    assert r.status_code == 422
    causes = r.json()["details"]["causes"]
    assert all(list(c) == ["reason", "message", "field"] for c in causes), causes
    assert list(r.json()["details"]) == ["name", "group", "kind", "causes"]


def test_unknown_resources_answer_as_kube_apiserver(http: httpx.Client) -> None:
    not_found = (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"the server could not find the requested resource","reason":"NotFound",'
    )
    # a built-in group-version's router answers, with empty details
    assert http.get("/api/v1/widgets").content == not_found + b'"details":{},"code":404}\n'
    assert http.get("/apis/apps/v1/widgets").content == not_found + b'"details":{},"code":404}\n'
    # a CRD's group and an unknown group fall through to the last handler: no details
    crd_group = http.get("/apis/serving.knative.dev/v1/widgets")
    assert crd_group.content == not_found + b'"code":404}\n'
    assert http.get("/apis/nothing.example.com/v1/widgets").content == not_found + b'"code":404}\n'


# ------------------------------------------------------------- served, not missing


@needs_kubectl
def test_kubectl_get_nodes_shows_the_sandbox_node(sandbox: Sandbox, tmp_path: Path) -> None:
    nodes = json.loads(_kubectl(sandbox, tmp_path, "get", "nodes", "-o", "json").stdout)["items"]
    (node,) = nodes
    assert node["metadata"]["name"] == "knwalk-sandbox"
    ready = {c["type"]: c for c in node["status"]["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert node["status"]["capacity"]["cpu"] == str(os.cpu_count())
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.33.0-knwalk-sandbox"
    assert info["containerRuntimeVersion"].startswith("knwalk-sandbox://")
    assert info["kernelVersion"] == os.uname().release


@needs_kubectl
def test_kubectl_get_the_kubernetes_service_and_its_endpoints(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    port = _api_port(sandbox)
    svc = json.loads(
        _kubectl(
            sandbox, tmp_path, "-n", "default", "get", "svc", "kubernetes", "-o", "json"
        ).stdout
    )
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}
    ]
    slices = json.loads(
        _kubectl(sandbox, tmp_path, "-n", "default", "get", "endpointslices", "-o", "json").stdout
    )["items"]
    (api_slice,) = [s for s in slices if s["metadata"]["name"] == "kubernetes"]
    assert api_slice["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert api_slice["ports"] == [{"name": "https", "port": port, "protocol": "TCP"}]
    ep = json.loads(
        _kubectl(
            sandbox, tmp_path, "-n", "default", "get", "endpoints", "kubernetes", "-o", "json"
        ).stdout
    )
    assert ep["subsets"][0]["ports"][0]["port"] == port


@needs_kubectl
def test_kubectl_get_apiservices_lists_what_is_served(sandbox: Sandbox, tmp_path: Path) -> None:
    names = _kubectl(sandbox, tmp_path, "get", "apiservices", "-o", "name").stdout.split()
    assert "apiservice.apiregistration.k8s.io/v1.serving.knative.dev" in names
    assert "apiservice.apiregistration.k8s.io/v1." in names
    assert "apiservice.apiregistration.k8s.io/v1.events.k8s.io" in names
    one = json.loads(
        _kubectl(sandbox, tmp_path, "get", "apiservice", "v1.apps", "-o", "json").stdout
    )
    assert one["spec"] == {
        "group": "apps",
        "version": "v1",
        "groupPriorityMinimum": 17800,
        "versionPriority": 15,
    }
    (available,) = one["status"]["conditions"]
    assert (available["type"], available["status"], available["reason"]) == (
        "Available",
        "True",
        "Local",
    )


@needs_kubectl
def test_events_k8s_io_serves_the_core_events(
    sandbox: Sandbox, tmp_path: Path, api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "from-core"},
            "involvedObject": {"kind": "ConfigMap", "name": "cm", "namespace": namespace},
            "reason": "Tested",
            "message": "written through core/v1",
            "type": "Normal",
            "source": {"component": "pytest"},
        },
    )
    got = json.loads(
        _kubectl(
            sandbox,
            tmp_path,
            "-n",
            namespace,
            "get",
            "events.events.k8s.io",
            "from-core",
            "-o",
            "json",
        ).stdout
    )
    assert got["apiVersion"] == "events.k8s.io/v1"
    assert got["note"] == "written through core/v1"
    assert got["regarding"]["name"] == "cm"
    assert got["deprecatedSource"] == {"component": "pytest"}
    manifest = tmp_path / "event.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": {"name": "from-v1"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "reportingController": "pytest.example.com/tester",
                "reportingInstance": "pytest",
                "action": "Testing",
                "reason": "Tested",
                "note": "written through events.k8s.io/v1",
                "type": "Normal",
                "regarding": {"kind": "ConfigMap", "name": "cm", "namespace": namespace},
            }
        )
    )
    _kubectl(sandbox, tmp_path, "-n", namespace, "create", "-f", str(manifest))
    as_core = core.read_namespaced_event("from-v1", namespace)
    assert as_core.message == "written through events.k8s.io/v1"
    assert as_core.involved_object.name == "cm"
    assert as_core.reporting_component == "pytest.example.com/tester"
    table = _kubectl(sandbox, tmp_path, "-n", namespace, "get", "events.events.k8s.io").stdout
    assert "written through core/v1" in table and "written through events.k8s.io/v1" in table


def test_lightkube_lists_nodes(sandbox: Sandbox) -> None:
    from lightkube import Client, KubeConfig
    from lightkube.resources.core_v1 import Node

    lk = Client(KubeConfig.from_file(str(sandbox.kubeconfig)))
    try:
        assert [n.metadata.name for n in lk.list(Node) if n.metadata] == ["knwalk-sandbox"]
    finally:
        lk.close()
