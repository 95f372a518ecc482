"""APIServices are stored, written and checked as kube-aggregator does (issue 13).

The kubernetes Python client's e2e suite creates an APIService from YAML and expects the
second create to fail with kube-apiserver's exact AlreadyExists text. The local
APIServices (one per served group-version) are registered at start without being
rewritten on a restart, and follow CRDs; a user's APIService is stored with the
``Available`` condition kube-aggregator's availability controller gives it as its
Service and Endpoints come and go; ValidateAPIService holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, utils
from kubernetes.client.rest import ApiException

from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import wait_until

WARDLE = {
    "apiVersion": "apiregistration.k8s.io/v1",
    "kind": "APIService",
    "metadata": {"name": "v1alpha1.wardle.k8s.io"},
    "spec": {
        "insecureSkipTLSVerify": True,
        "group": "wardle.k8s.io",
        "groupPriorityMinimum": 1000,
        "versionPriority": 15,
        "service": {"name": "api", "namespace": "wardle"},
        "version": "v1alpha1",
    },
}


@pytest.fixture(scope="module")
def own_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A client of a sandbox of this module's own: APIServices are cluster-wide, and other
    tests list them all."""
    sb = start_sandbox(tmp_path_factory.mktemp("apiservices"))
    try:
        with config.new_client_from_config(
            config_file=str(sb.kubeconfig), context=control.CONTEXT
        ) as api:
            yield api
    finally:
        control.stop(sb.state_dir)


def _available(reg: client.ApiregistrationV1Api, name: str) -> tuple[str, str, str]:
    for c in reg.read_api_service(name).status.conditions or []:
        if c.type == "Available":
            return c.status, c.reason, c.message
    return "", "", ""


def test_an_apiservice_is_created_conflicts_and_is_checked(api_client: Any, tmp_path: Path) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.example.org"
    ns = "t-" + uuid.uuid4().hex[:8]
    body = json.loads(json.dumps(WARDLE))
    body["metadata"]["name"] = f"v1alpha1.{group}"
    body["spec"]["group"] = group
    body["spec"]["service"] = {"name": "api", "namespace": ns}
    manifest = tmp_path / "api-service.yaml"
    manifest.write_text(json.dumps(body))
    reg = client.ApiregistrationV1Api(api_client)
    core = client.CoreV1Api(api_client)
    name = f"v1alpha1.{group}"

    utils.create_from_yaml(api_client, str(manifest))
    made = reg.read_api_service(name)
    assert (made.spec.group, made.spec.version, made.spec.service.port) == (group, "v1alpha1", 443)
    with pytest.raises(utils.FailToCreateError) as err:
        utils.create_from_yaml(api_client, str(manifest))
    assert str(err.value) == (
        'Error from server (Conflict): {"kind":"Status","apiVersion":"v1","metadata":{},'
        '"status":"Failure","message":"apiservices.apiregistration.k8s.io '
        f'\\"{name}\\" already exists","reason":"AlreadyExists",'
        f'"details":{{"name":"{name}","group":"apiregistration.k8s.io","kind":"apiservices"}},'
        '"code":409}\n'
    )

    # the availability controller follows the Service and its Endpoints
    assert wait_until("checked", lambda: _available(reg, name), lambda a: a[0] == "False") == (
        "False",
        "ServiceNotFound",
        f'service/api in "{ns}" is not present',
    )
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_service(
        ns, {"metadata": {"name": "api"}, "spec": {"ports": [{"name": "https", "port": 443}]}}
    )
    assert wait_until(
        "endpoints missing", lambda: _available(reg, name), lambda a: a[1] == "EndpointsNotFound"
    ) == ("False", "EndpointsNotFound", f'cannot find endpoints for service/api in "{ns}"')
    core.create_namespaced_endpoints(
        ns,
        {
            "metadata": {"name": "api"},
            "subsets": [
                {"addresses": [{"ip": "10.0.0.9"}], "ports": [{"name": "https", "port": 443}]}
            ],
        },
    )
    status, _reason, message = wait_until(
        "discovery check", lambda: _available(reg, name), lambda a: a[1] == "FailedDiscoveryCheck"
    )
    assert status == "False"
    assert message.startswith("failing or missing response from https://")
    assert f":443/apis/{group}/v1alpha1:" in message
    # nothing is served for it
    assert group not in {g.name for g in client.ApisApi(api_client).get_api_versions().groups}

    reg.delete_api_service(name, body={})
    with pytest.raises(ApiException) as gone:
        reg.read_api_service(name)
    assert gone.value.status == 404
    core.delete_namespace(ns)


def test_validate_api_service(own_client: Any) -> None:
    reg = client.ApiregistrationV1Api(own_client)
    body = json.loads(json.dumps(WARDLE))
    body["metadata"]["name"] = "wrong-name"
    body["spec"]["versionPriority"] = 0
    with pytest.raises(ApiException) as err:
        reg.create_api_service(body)
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"] == (
        'APIService.apiregistration.k8s.io "wrong-name" is invalid: ['
        'metadata.name: Invalid value: "wrong-name": must be `spec.version+"."+spec.group`: '
        '"v1alpha1.wardle.k8s.io", '
        "spec.versionPriority: Invalid value: 0: must be positive and less than 1000]"
    )
    local = json.loads(json.dumps(WARDLE))
    del local["spec"]["service"]
    with pytest.raises(ApiException) as err:
        reg.create_api_service(local)
    assert err.value.status == 422
    assert "local APIServices may not have insecureSkipTLSVerify" in err.value.body


def _local_versions(sb: Sandbox) -> dict[str, str]:
    with config.new_client_from_config(
        config_file=str(sb.kubeconfig), context=control.CONTEXT
    ) as api:
        items = client.ApiregistrationV1Api(api).list_api_service().items
        return {a.metadata.name: a.metadata.resource_version for a in items}


def test_local_apiservices_survive_a_restart_unwritten_and_follow_crds(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path)
    try:
        before = _local_versions(sb)
        assert {"v1.", "v1.apps", "v1.serving.knative.dev"} <= set(before)
        control.stop(sb.state_dir)
        info, started = control.start(sb.state_dir)
        assert started
        control.write_kubeconfig(info, sb.kubeconfig)
        sb = Sandbox(info, sb.kubeconfig, sb.state_dir)
        assert _local_versions(sb) == before

        with config.new_client_from_config(
            config_file=str(sb.kubeconfig), context=control.CONTEXT
        ) as api:
            ext = client.ApiextensionsV1Api(api)
            reg = client.ApiregistrationV1Api(api)
            ext.create_custom_resource_definition(
                {
                    "metadata": {"name": "widgets.example.org"},
                    "spec": {
                        "group": "example.org",
                        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                        "scope": "Namespaced",
                        "versions": [
                            {
                                "name": "v1",
                                "served": True,
                                "storage": True,
                                "schema": {
                                    "openAPIV3Schema": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    }
                                },
                            }
                        ],
                    },
                }
            )
            made = wait_until(
                "the CRD's APIService",
                lambda: {a.metadata.name: a for a in reg.list_api_service().items},
                lambda items: "v1.example.org" in items,
            )["v1.example.org"]
            assert made.metadata.labels == {"kube-aggregator.kubernetes.io/automanaged": "true"}
            assert made.spec.version_priority == 100
            ext.delete_custom_resource_definition("widgets.example.org")
            wait_until(
                "the CRD's APIService gone",
                lambda: {a.metadata.name for a in reg.list_api_service().items},
                lambda names: "v1.example.org" not in names,
            )
    finally:
        control.stop(sb.state_dir)
