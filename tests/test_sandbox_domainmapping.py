"""DomainMapping (``serving.knative.dev/v1beta1``): a custom domain for a Knative Service.

As Knative Serving v1.23's reconciler: the domain must be claimed for the namespace
(a ClusterDomainClaim; ``autocreate-cluster-domain-claims`` is off by default), the
DomainMapping gets an Ingress of its own with one external rule that rewrites the Host
to the Service's cluster-local host, and the gateway serves the domain. Real sandbox,
real kubectl, real HTTP through the gateway.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import Sandbox
from tests.kube_helpers import service_manifest
from tests.test_sandbox_ingress_routing import eventually, gateway, get, kubectl, request

V1 = "Hello Go Sample v1!\n"


def domain_mapping(name: str, ns: str, ref: dict[str, str] | None = None) -> str:
    return json.dumps(
        {
            "apiVersion": "serving.knative.dev/v1beta1",
            "kind": "DomainMapping",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "ref": ref
                or {
                    "apiVersion": "serving.knative.dev/v1",
                    "kind": "Service",
                    "name": "helloworld-go",
                }
            },
        }
    )


def claim(domain: str, ns: str) -> str:
    return json.dumps(
        {
            "apiVersion": "networking.internal.knative.dev/v1alpha1",
            "kind": "ClusterDomainClaim",
            "metadata": {"name": domain},
            "spec": {"namespace": ns},
        }
    )


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        c["type"]: (c["status"], c.get("reason", ""), c.get("message", ""))
        for c in (obj.get("status") or {}).get("conditions") or []
    }


def domain() -> str:
    return f"hello-{uuid.uuid4().hex[:8]}.example.test"


def test_a_mapped_domain_is_served_by_the_gateway_until_the_mapping_is_deleted(
    sandbox: Sandbox, namespace: str
) -> None:
    ns, name = namespace, domain()
    kubectl(sandbox, "apply", "-n", ns, "-f", "-", stdin=service_manifest("Go Sample v1"))
    kubectl(sandbox, "wait", "-n", ns, "ksvc/helloworld-go", "--for=condition=Ready")
    kubectl(sandbox, "apply", "-f", "-", stdin=claim(name, ns))
    kubectl(sandbox, "apply", "-f", "-", stdin=domain_mapping(name, ns))
    kubectl(sandbox, "wait", "-n", ns, f"domainmapping/{name}", "--for=condition=Ready")
    dm = get(sandbox, ns, "domainmapping", name)
    assert dm is not None
    assert dm["status"]["url"] == f"http://{name}"
    assert dm["status"]["address"] == {"url": f"http://{name}"}
    assert dm["status"]["observedGeneration"] == dm["metadata"]["generation"]
    assert conditions(dm) == {
        "CertificateProvisioned": ("True", "TLSNotEnabled", "external-domain-tls is not enabled"),
        "DomainClaimed": ("True", "", ""),
        "IngressReady": ("True", "", ""),
        "ReferenceResolved": ("True", "", ""),
        "Ready": ("True", "", ""),
    }
    assert dm["metadata"]["finalizers"] == ["domainmappings.serving.knative.dev"]
    assert dm["spec"]["ref"]["namespace"] == ns  # defaulted by the webhook
    # its Ingress: owned by it, one external rule rewriting the Host to the Service's
    ingress = get(sandbox, ns, "kingress", name)
    assert ingress is not None
    owner = ingress["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("DomainMapping", name, True)
    labels = ingress["metadata"]["labels"]
    assert labels["serving.knative.dev/domainMappingUID"] == dm["metadata"]["uid"]
    assert labels["serving.knative.dev/domainMappingNamespace"] == ns
    assert ingress["spec"]["rules"] == [
        {
            "hosts": [name],
            "visibility": "ExternalIP",
            "http": {
                "paths": [
                    {
                        "rewriteHost": f"helloworld-go.{ns}.svc.cluster.local",
                        "splits": [
                            {
                                "serviceNamespace": ns,
                                "serviceName": "helloworld-go",
                                "servicePort": 80,
                                "percent": 100,
                                "appendHeaders": {"K-Original-Host": name},
                            }
                        ],
                    }
                ]
            },
        }
    ]
    vs = get(sandbox, ns, "virtualservice", f"{name}-ingress")
    assert vs is not None
    assert vs["spec"]["http"][-1]["rewrite"] == {
        "authority": f"helloworld-go.{ns}.svc.cluster.local"
    }
    url = gateway(sandbox)
    eventually(lambda: request(url, name).text == V1, "the domain served")
    assert request(url, name + ":80").text == V1
    # deleting the mapping takes its Ingress, and the domain is no longer served
    kubectl(sandbox, "delete", "domainmapping", name, "-n", ns)
    eventually(lambda: get(sandbox, ns, "kingress", name) is None, "the Ingress gone")
    eventually(lambda: request(url, name).status_code == 404, "the domain no longer served")
    kubectl(sandbox, "delete", "clusterdomainclaim", name)


def test_an_unclaimed_domain_is_not_mapped(sandbox: Sandbox, namespace: str) -> None:
    ns, name = namespace, domain()
    kubectl(sandbox, "apply", "-f", "-", stdin=domain_mapping(name, ns))
    dm = eventually(
        lambda: (d := get(sandbox, ns, "domainmapping", name)) and d.get("status") and d,
        "a status",
    )
    claimed = (
        "False",
        "DomainAlreadyClaimed",
        "The domain name is already in use by another DomainMapping",
    )
    assert conditions(dm)["DomainClaimed"] == claimed
    assert conditions(dm)["Ready"] == claimed
    assert dm["status"]["url"] == f"http://{name}"
    assert get(sandbox, ns, "kingress", name) is None
    # a claim for another namespace does not do either; one for this namespace does
    kubectl(sandbox, "apply", "-f", "-", stdin=claim(name, "elsewhere"))
    kubectl(sandbox, "delete", "clusterdomainclaim", name)
    kubectl(sandbox, "apply", "-f", "-", stdin=claim(name, ns))
    eventually(
        lambda: (
            conditions(get(sandbox, ns, "domainmapping", name) or {}).get("DomainClaimed", ("",))[0]
            == "True"
        ),
        "the domain claimed",
    )
    kubectl(sandbox, "delete", "clusterdomainclaim", name)


def test_a_missing_service_is_not_resolved(sandbox: Sandbox, namespace: str) -> None:
    ns, name = namespace, domain()
    kubectl(sandbox, "apply", "-f", "-", stdin=claim(name, ns))
    ref = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "nothere"}
    kubectl(sandbox, "apply", "-f", "-", stdin=domain_mapping(name, ns, ref))
    dm = eventually(
        lambda: (
            (d := get(sandbox, ns, "domainmapping", name))
            and "ReferenceResolved" in conditions(d)
            and conditions(d)["ReferenceResolved"][0] == "False"
            and d
        ),
        "ReferenceResolved False",
    )
    message = f'failed to get object {ns}/nothere: services.serving.knative.dev "nothere" not found'
    assert conditions(dm)["ReferenceResolved"] == ("False", "ResolveFailed", message)
    assert conditions(dm)["Ready"] == ("False", "ResolveFailed", message)
    kubectl(sandbox, "delete", "clusterdomainclaim", name)


def test_the_webhook_refuses_what_knative_refuses(sandbox: Sandbox, namespace: str) -> None:
    ns = namespace
    denied = (
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
        "validation failed: "
    )
    out = kubectl(sandbox, "apply", "-f", "-", stdin=domain_mapping("invalid", ns), check=False)
    assert (
        denied + 'invalid name "invalid": name: Invalid value: "invalid": should be a domain '
        "with at least two segments separated by dots: metadata.name"
    ) in out
    local = f"x.{ns}.svc.cluster.local"
    out = kubectl(sandbox, "apply", "-f", "-", stdin=domain_mapping(local, ns), check=False)
    assert (
        denied + f'invalid name "{local}": must not be a subdomain of cluster local domain '
        '"cluster.local": metadata.name'
    ) in out
    ref = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "helloworld-go",
        "namespace": "other",
    }
    out = kubectl(sandbox, "apply", "-f", "-", stdin=domain_mapping(domain(), ns, ref), check=False)
    assert (
        denied + "mismatched namespaces: spec.ref.namespace\n"
        f'parent namespace: "{ns}" does not match ref: "other"'
    ) in out
    out = kubectl(
        sandbox, "apply", "-f", "-", stdin=domain_mapping(domain(), ns, {"name": "x"}), check=False
    )
    assert denied + "missing field(s): spec.ref.apiVersion, spec.ref.kind" in out
