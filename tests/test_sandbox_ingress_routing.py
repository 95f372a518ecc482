"""The gateway routes from the Knative Ingresses, as Envoy does from net-istio's config.

One path from Route to Ingress to gateway: the host tables are the ready Ingresses of
net-istio's class (their rules' hosts, visibility and splits), so what
``kubectl get kingress`` and ``kubectl get virtualservice`` show is what requests get.
Real sandbox, real kubectl, real HTTP through the gateway; splits are checked with the
probe's chi-square test, never against exact counts.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from kn_walk import probe
from tests.conftest import Sandbox
from tests.kube_helpers import service_manifest

V1, V2 = "Hello Go Sample v1!\n", "Hello Go Sample v2!\n"
ISTIO = "istio.ingress.networking.knative.dev"
KOURIER = "kourier.ingress.networking.knative.dev"
REQUESTS = 200


def kubectl(sandbox: Sandbox, *args: str, stdin: str = "", check: bool = True) -> str:
    result = subprocess.run(
        ["kubectl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=sandbox.env(),
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def get(sandbox: Sandbox, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    out = subprocess.run(
        ["kubectl", "get", kind, name, "-n", ns, "-o", "json"],
        capture_output=True,
        text=True,
        env=sandbox.env(),
        timeout=60,
    )
    return json.loads(out.stdout) if out.returncode == 0 else None


def eventually(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """``check()``'s first truthy result, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def gateway(sandbox: Sandbox) -> str:
    svc = json.loads(
        kubectl(
            sandbox, "get", "service", "istio-ingressgateway", "-n", "istio-system", "-o", "json"
        )
    )
    ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    port = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "http2")
    return f"http://{ip}:{port}"


def request(url: str, host: str) -> httpx.Response:
    return httpx.get(url + "/", headers={"Host": host}, timeout=20)


def answers(url: str, host: str, n: int = REQUESTS) -> Counter[str]:
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=url, headers={"Host": host}, timeout=20) as client:
        for _ in range(n):
            response = client.get("/")
            counts[response.text if response.status_code == 200 else str(response.status_code)] += 1
    return counts


def deploy_v1_v2(sandbox: Sandbox, ns: str) -> None:
    """helloworld-go with two Revisions, all traffic on the latest (v2)."""
    for target in ("Go Sample v1", "Go Sample v2"):
        kubectl(sandbox, "apply", "-n", ns, "-f", "-", stdin=service_manifest(target))
        kubectl(sandbox, "wait", "-n", ns, "ksvc/helloworld-go", "--for=condition=Ready")
    eventually(
        lambda: (
            (get(sandbox, ns, "ksvc", "helloworld-go") or {})
            .get("status", {})
            .get("latestReadyRevisionName")
            == "helloworld-go-00002"
        ),
        "v2 ready",
    )


def hand_made_ingress(ns: str, name: str, host: str, splits: dict[str, int], cls: str) -> str:
    """An Ingress as a user (or another controller) writes it: one external rule."""
    return json.dumps(
        {
            "apiVersion": "networking.internal.knative.dev/v1alpha1",
            "kind": "Ingress",
            "metadata": {
                "name": name,
                "namespace": ns,
                "annotations": {"networking.knative.dev/ingress.class": cls},
            },
            "spec": {
                "httpOption": "Enabled",
                "rules": [
                    {
                        "hosts": [host],
                        "visibility": "ExternalIP",
                        "http": {
                            "paths": [
                                {
                                    "splits": [
                                        {
                                            "serviceNamespace": ns,
                                            "serviceName": revision,
                                            "servicePort": 80,
                                            "percent": percent,
                                        }
                                        for revision, percent in splits.items()
                                    ]
                                }
                            ]
                        },
                    }
                ],
            },
        }
    )


def weights(vs: dict[str, Any], gateway_name: str) -> dict[str, int]:
    """The VirtualService's weights per Revision for requests through ``gateway_name``
    (the route that is not the readiness prober's)."""
    for route in vs["spec"]["http"]:
        match = route["match"][0]
        if gateway_name in match.get("gateways", []) and "headers" not in match:
            return {d["destination"]["host"].split(".")[0]: d["weight"] for d in route["route"]}
    raise AssertionError(f"no route for {gateway_name} in {vs['spec']}")


def test_requests_get_the_weights_the_ingress_and_its_virtual_service_show(
    sandbox: Sandbox, namespace: str
) -> None:
    ns = namespace
    deploy_v1_v2(sandbox, ns)
    url = gateway(sandbox)
    host = f"split.{ns}.example.test"
    kubectl(
        sandbox,
        "apply",
        "-f",
        "-",
        stdin=hand_made_ingress(
            ns, "split", host, {"helloworld-go-00001": 80, "helloworld-go-00002": 20}, ISTIO
        ),
    )
    # net-istio takes the Ingress (its class) and marks it ready with its VirtualService
    ingress = eventually(
        lambda: (
            (i := get(sandbox, ns, "kingress", "split"))
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (i.get("status") or {}).get("conditions", [])
            )
            and i
        ),
        "the Ingress ready",
    )
    splits = ingress["spec"]["rules"][0]["http"]["paths"][0]["splits"]
    vs = get(sandbox, ns, "virtualservice", "split-ingress")
    assert vs is not None
    shown = weights(vs, "knative-serving/knative-ingress-gateway")
    assert shown == {s["serviceName"]: s["percent"] for s in splits}
    assert shown == {"helloworld-go-00001": 80, "helloworld-go-00002": 20}
    counts = answers(url, host)
    assert set(counts) <= {V1, V2}, counts
    verdict = probe.chi_square([counts[V1], counts[V2]], [80, 20])
    assert verdict.consistent, (counts, verdict)

    # the Route's own Ingress and VirtualService show what its host gets: all on v2
    route_vs = get(sandbox, ns, "virtualservice", "helloworld-go-ingress")
    assert route_vs is not None
    assert weights(route_vs, "knative-serving/knative-ingress-gateway") == {
        "helloworld-go-00002": 100
    }
    assert answers(url, f"helloworld-go.{ns}.example.com", 20) == Counter({V2: 20})


def test_a_revision_removed_from_the_ingress_stops_getting_traffic(
    sandbox: Sandbox, namespace: str
) -> None:
    ns = namespace
    deploy_v1_v2(sandbox, ns)
    url = gateway(sandbox)
    host = f"pair.{ns}.example.test"
    both = {"helloworld-go-00001": 50, "helloworld-go-00002": 50}
    kubectl(sandbox, "apply", "-f", "-", stdin=hand_made_ingress(ns, "pair", host, both, ISTIO))
    eventually(lambda: set(answers(url, host, 40)) == {V1, V2}, "both Revisions answering")
    only_v2 = {"helloworld-go-00002": 100}
    kubectl(sandbox, "apply", "-f", "-", stdin=hand_made_ingress(ns, "pair", host, only_v2, ISTIO))
    eventually(
        lambda: (
            weights(
                get(sandbox, ns, "virtualservice", "pair-ingress") or {"spec": {"http": []}},
                "knative-serving/knative-ingress-gateway",
            )
            == only_v2
        ),
        "the VirtualService without v1",
    )
    eventually(lambda: answers(url, host, 20) == Counter({V2: 20}), "v1 out of the split")
    assert answers(url, host) == Counter({V2: REQUESTS})


def test_an_ingress_of_another_class_is_not_served_by_the_istio_gateway(
    sandbox: Sandbox, namespace: str
) -> None:
    ns = namespace
    manifest = service_manifest("Go Sample v1").replace(
        "  name: helloworld-go\n",
        f"  name: helloworld-go\n  annotations:\n    networking.knative.dev/ingress.class: {KOURIER}\n",
    )
    kubectl(sandbox, "apply", "-n", ns, "-f", "-", stdin=manifest)
    # the Route makes its Ingress of kourier's class, which net-istio leaves alone
    ingress = eventually(lambda: get(sandbox, ns, "kingress", "helloworld-go"), "the Ingress")
    assert ingress["metadata"]["annotations"]["networking.knative.dev/ingress.class"] == KOURIER
    eventually(
        lambda: (get(sandbox, ns, "route", "helloworld-go") or {}).get("status", {}).get("traffic"),
        "the Route's traffic",
    )
    url = gateway(sandbox)
    assert request(url, f"helloworld-go.{ns}.example.com").status_code == 404
    assert get(sandbox, ns, "virtualservice", "helloworld-go-ingress") is None
    # an Ingress of net-istio's class for the same Revision is served
    kubectl(
        sandbox,
        "apply",
        "-f",
        "-",
        stdin=hand_made_ingress(
            ns, "istio-one", f"istio.{ns}.example.test", {"helloworld-go-00001": 100}, ISTIO
        ),
    )
    eventually(
        lambda: request(url, f"istio.{ns}.example.test").text == V1, "the istio Ingress served"
    )


def test_a_route_whose_ingress_is_deleted_is_not_served_until_it_is_made_again(
    sandbox: Sandbox, namespace: str
) -> None:
    ns = namespace
    kubectl(sandbox, "apply", "-n", ns, "-f", "-", stdin=service_manifest("Go Sample v1"))
    kubectl(sandbox, "wait", "-n", ns, "ksvc/helloworld-go", "--for=condition=Ready")
    url = gateway(sandbox)
    host = f"helloworld-go.{ns}.example.com"
    eventually(lambda: request(url, host).text == V1, "served")
    old = get(sandbox, ns, "kingress", "helloworld-go")
    assert old is not None
    # a finalizer of ours holds the Ingress while it is being deleted
    hold = json.dumps({"metadata": {"finalizers": [*old["metadata"]["finalizers"], "test/hold"]}})
    kubectl(sandbox, "patch", "kingress", "helloworld-go", "-n", ns, "--type=merge", "-p", hold)
    kubectl(sandbox, "delete", "kingress", "helloworld-go", "-n", ns, "--wait=false")
    eventually(lambda: request(url, host).status_code == 404, "the host no longer served")
    terminating = get(sandbox, ns, "kingress", "helloworld-go")
    assert terminating is not None and terminating["metadata"]["uid"] == old["metadata"]["uid"]
    assert terminating["metadata"]["finalizers"] == ["test/hold"]  # net-istio let it go
    # once it is gone, the Route's reconciler makes it again and the host is served
    release = json.dumps({"metadata": {"finalizers": []}})
    kubectl(sandbox, "patch", "kingress", "helloworld-go", "-n", ns, "--type=merge", "-p", release)
    new = eventually(
        lambda: (
            (i := get(sandbox, ns, "kingress", "helloworld-go"))
            and i["metadata"]["uid"] != old["metadata"]["uid"]
            and i
        ),
        "the Ingress made again",
    )
    assert new["metadata"]["ownerReferences"][0]["kind"] == "Route"
    assert new["spec"] == old["spec"]
    eventually(lambda: request(url, host).text == V1, "served again")


def test_an_ingress_changed_by_hand_is_brought_back_by_its_route(
    sandbox: Sandbox, namespace: str
) -> None:
    ns = namespace
    deploy_v1_v2(sandbox, ns)
    url = gateway(sandbox)
    host = f"helloworld-go.{ns}.example.com"
    patch = json.dumps(
        {
            "spec": {
                "rules": [
                    {
                        "hosts": [host],
                        "visibility": "ExternalIP",
                        "http": {
                            "paths": [
                                {
                                    "splits": [
                                        {
                                            "serviceNamespace": ns,
                                            "serviceName": "helloworld-go-00001",
                                            "servicePort": 80,
                                            "percent": 100,
                                        }
                                    ]
                                }
                            ]
                        },
                    }
                ]
            }
        }
    )
    kubectl(sandbox, "patch", "kingress", "helloworld-go", "-n", ns, "--type=merge", "-p", patch)
    # Knative's Route reconciler watches the Ingresses it controls: the spec comes back
    eventually(
        lambda: len((get(sandbox, ns, "kingress", "helloworld-go") or {})["spec"]["rules"]) > 1,
        "the Route's rules back",
    )
    eventually(lambda: answers(url, host, 20) == Counter({V2: 20}), "v2 served")


def test_the_headers_and_host_rewrite_of_the_ingress_go_to_the_backends() -> None:
    """A Route's split sets ``Knative-Serving-Revision`` / ``-Namespace``; a DomainMapping's
    path rewrites the Host to the Service's cluster-local one and sets ``K-Original-Host``,
    and the cluster-local route then sets its own: the backends carry all of it."""
    from kn_walk.sandbox.dataplane import wiring

    def ingress(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "namespace": "ns", "annotations": {}},
            "spec": {"rules": rules},
        }

    split = {
        "serviceName": "app-00001",
        "serviceNamespace": "ns",
        "servicePort": 80,
        "percent": 100,
        "appendHeaders": {
            "Knative-Serving-Revision": "app-00001",
            "Knative-Serving-Namespace": "ns",
        },
    }
    route = ingress(
        "app",
        [
            {
                "hosts": ["app.ns.svc.cluster.local"],
                "visibility": "ClusterLocal",
                "http": {"paths": [{"splits": [split]}]},
            }
        ],
    )
    mapping = ingress(
        "example.org",
        [
            {
                "hosts": ["example.org"],
                "visibility": "ExternalIP",
                "http": {
                    "paths": [
                        {
                            "rewriteHost": "app.ns.svc.cluster.local",
                            "splits": [
                                {
                                    "serviceName": "app",
                                    "serviceNamespace": "ns",
                                    "servicePort": 80,
                                    "percent": 100,
                                    "appendHeaders": {"K-Original-Host": "example.org"},
                                }
                            ],
                        }
                    ]
                },
            }
        ],
    )
    table = {**wiring.ingress_hosts(route), **wiring.ingress_hosts(mapping)}
    external, local = wiring.gateway_tables(table)
    (direct,) = local["app.ns.svc.cluster.local"]
    assert dict(direct.headers) == {
        b"knative-serving-namespace": b"Knative-Serving-Namespace: ns",
        b"knative-serving-revision": b"Knative-Serving-Revision: app-00001",
    }
    assert direct.host == b""
    (mapped,) = external["example.org"]
    assert (mapped.revision, mapped.host) == ("app-00001", b"app.ns.svc.cluster.local")
    assert [line for _, line in mapped.headers] == [
        b"K-Original-Host: example.org",
        b"Knative-Serving-Namespace: ns",
        b"Knative-Serving-Revision: app-00001",
    ]
