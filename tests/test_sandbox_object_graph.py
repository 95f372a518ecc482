"""The sandbox makes what Knative Serving v1.23 and net-istio make for the walkthrough.

After the walkthrough (v1, v2, a 50/50 split with tags), read with the real kubectl
and kubernetes client: per Revision a Deployment, its ReplicaSet and Pod, a
PodAutoscaler, a ServerlessService with its public and private Services, Endpoints
and EndpointSlices, a Metric and an Image; per Route an Ingress, its placeholder
Services and net-istio's VirtualServices; the release's Gateways, ConfigMaps and
system Deployments. Each has upstream's name, labels, owner and spec, validates
against the CRD the sandbox serves, and the owner references chain up to the
Service, so deleting the Service leaves nothing. Scale to zero shows in the
PodAutoscaler, the ServerlessService's mode and the Endpoints.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kn_walk.knative_rules import children as K
from kn_walk.sandbox import control
from kn_walk.sandbox.knative import netistio, release, revision_resources, route_resources
from kn_walk.sandbox.machinery.schema import unknown_fields, validate
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import service_manifest, wait_until

Obj = dict[str, Any]
SVC = "helloworld-go"
REV1, REV2 = f"{SVC}-00001", f"{SVC}-00002"
SPLIT = """\
  traffic:
    - revisionName: helloworld-go-00001
      percent: 50
      tag: current
    - latestRevision: true
      percent: 50
      tag: latest
"""
LOCAL_LB = "knative-local-gateway.istio-system.svc.cluster.local"
#: the kinds below a Knative Service, as kubectl names them
GRAPH_KINDS = (
    "deployments,replicasets,pods,services,endpoints,endpointslices,"
    "podautoscalers,serverlessservices,metrics,images,ingresses.networking.internal.knative.dev,"
    "virtualservices,configurations,revisions,routes,services.serving.knative.dev"
)


# ----------------------------------------------------------------------- helpers
def kubectl(sb: Sandbox, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["kubectl", "--kubeconfig", str(sb.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def get(sb: Sandbox, ns: str, kind: str, name: str) -> Obj:
    obj: Obj = json.loads(kubectl(sb, "get", kind, name, "-n", ns, "-o", "json"))
    return obj


def items(sb: Sandbox, ns: str, kinds: str) -> list[Obj]:
    found: list[Obj] = json.loads(kubectl(sb, "get", kinds, "-n", ns, "-o", "json"))["items"]
    return found


def condition(obj: Obj, ctype: str) -> Obj:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return {}


def ready(obj: Obj) -> bool:
    st = obj.get("status") or {}
    return condition(obj, "Ready").get("status") == "True" and st.get("observedGeneration") == obj[
        "metadata"
    ].get("generation")


def controller(obj: Obj) -> Obj:
    (ref,) = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
    return dict(ref)


def owned_by(child: Obj, owner: Obj) -> bool:
    ref = controller(child)
    return (ref["kind"], ref["name"], ref["uid"], ref.get("blockOwnerDeletion")) == (
        owner["kind"],
        owner["metadata"]["name"],
        owner["metadata"]["uid"],
        True,
    )


def walkthrough(sb: Sandbox, ns: str) -> None:
    """Deploy v1, then v2, then split 50/50 between them with the tags current and latest."""
    for target in ("Go Sample v1", "Go Sample v2"):
        kubectl(sb, "apply", "-n", ns, "-f", "-", stdin=service_manifest(target))
        kubectl(sb, "wait", "-n", ns, f"ksvc/{SVC}", "--for=condition=Ready", "--timeout=30s")
    kubectl(sb, "apply", "-n", ns, "-f", "-", stdin=service_manifest("Go Sample v2", SPLIT))
    wait_until(
        "the split",
        lambda: get(sb, ns, "ksvc", SVC),
        lambda s: ready(s) and len(s["status"].get("traffic") or []) == 2,
    )


def key(obj: Obj) -> tuple[str, str]:
    """(kind, name); a Knative Service's kind is ``KService``, apart from Kubernetes'."""
    knative = obj["apiVersion"].startswith("serving.knative.dev/") and obj["kind"] == "Service"
    return ("KService" if knative else obj["kind"], obj["metadata"]["name"])


def settled(sb: Sandbox, ns: str) -> dict[tuple[str, str], Obj]:
    """Every object of the graph, once each Revision's PodAutoscaler is ready, by (kind, name)."""

    def read() -> dict[tuple[str, str], Obj]:
        return {key(o): o for o in items(sb, ns, GRAPH_KINDS)}

    def done(objs: dict[tuple[str, str], Obj]) -> bool:
        pas = [o for (kind, _), o in objs.items() if kind == "PodAutoscaler"]
        ingress = objs.get(("Ingress", SVC))
        return (
            len(pas) == 2
            and all(ready(pa) for pa in pas)
            and ingress is not None
            and len(ingress["spec"]["rules"]) == 6
            and ready(ingress)
        )

    found: dict[tuple[str, str], Obj] = wait_until("the object graph", read, done)
    return found


@pytest.fixture(scope="module")
def graph(sandbox: Sandbox) -> Iterator[tuple[str, dict[tuple[str, str], Obj]]]:
    ns = "graph-" + uuid.uuid4().hex[:8]
    kubectl(sandbox, "create", "namespace", ns)
    walkthrough(sandbox, ns)
    yield ns, settled(sandbox, ns)
    kubectl(sandbox, "delete", "namespace", ns, "--wait=false")


# ---------------------------------------------------------------------- per Revision
def test_each_revision_has_its_deployment_replicaset_and_pod(
    sandbox: Sandbox, graph: tuple[str, dict[tuple[str, str], Obj]]
) -> None:
    ns, objs = graph
    for n, rev_name in enumerate((REV1, REV2), start=1):
        rev = objs[("Revision", rev_name)]
        d = objs[("Deployment", f"{rev_name}-deployment")]
        assert owned_by(d, rev)
        labels = d["metadata"]["labels"]
        assert labels["serving.knative.dev/revision"] == rev_name
        assert labels["serving.knative.dev/revisionUID"] == rev["metadata"]["uid"]
        assert labels["serving.knative.dev/configurationGeneration"] == str(n)
        assert labels["app"] == rev_name and K.DEPLOYMENT_HASH_LABEL in labels
        assert "serving.knative.dev/routingState" not in labels
        assert "serving.knative.dev/routingStateModified" not in d["metadata"]["annotations"]
        spec = d["spec"]
        assert spec["selector"] == {
            "matchLabels": {"serving.knative.dev/revisionUID": rev["metadata"]["uid"]}
        }
        assert spec["revisionHistoryLimit"] == 0 and spec["progressDeadlineSeconds"] == 600
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        template = spec["template"]
        assert template["metadata"]["annotations"][K.DEFAULT_CONTAINER_ANNOTATION] == (
            "user-container"
        )
        user, queue = template["spec"]["containers"]
        assert user["name"] == "user-container"
        assert user["ports"] == [{"name": "user-port", "containerPort": 8080, "protocol": "TCP"}]
        env = {e["name"]: e.get("value") for e in user["env"]}
        assert env["PORT"] == "8080" and env["K_REVISION"] == rev_name
        assert env["K_CONFIGURATION"] == SVC and env["K_SERVICE"] == SVC
        assert env["TARGET"] == f"Go Sample v{n}"
        assert user["lifecycle"]["preStop"]["httpGet"] == {"path": "/wait-for-drain", "port": 8022}
        assert "readinessProbe" not in user  # queue-proxy probes the container
        assert queue["name"] == "queue-proxy"
        assert queue["image"].startswith("gcr.io/knative-releases/knative.dev/serving/cmd/queue")
        assert {p["name"]: p["containerPort"] for p in queue["ports"]} == {
            "http-autometric": 9090,
            "http-usermetric": 9091,
            "queue-port": 8012,
            "https-port": 8112,
        }
        qenv = {e["name"]: e.get("value") for e in queue["env"]}
        assert qenv["SERVING_REVISION"] == rev_name and qenv["SERVING_NAMESPACE"] == ns
        assert qenv["QUEUE_SERVING_PORT"] == "8012" and qenv["USER_PORT"] == "8080"
        assert json.loads(qenv["SERVING_READINESS_PROBE"]) == {
            "tcpSocket": {"port": 8080, "host": "127.0.0.1"},
            "successThreshold": 1,
        }
        assert queue["readinessProbe"]["httpGet"]["port"] == 8012
        assert queue["resources"] == {"requests": {"cpu": "25m"}}
        assert template["spec"]["terminationGracePeriodSeconds"] == 300
        assert template["spec"]["enableServiceLinks"] is False
        # the deployment controller's ReplicaSet, and the Pod of the Revision's process
        (rs,) = [
            o
            for (kind, _), o in objs.items()
            if kind == "ReplicaSet" and controller(o)["uid"] == d["metadata"]["uid"]
        ]
        assert rs["metadata"]["name"].startswith(f"{rev_name}-deployment-")
        (pod,) = [
            o
            for (kind, _), o in objs.items()
            if kind == "Pod" and controller(o)["uid"] == rs["metadata"]["uid"]
        ]
        assert pod["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")
        assert (
            pod["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["name"].split("-")[-1]
        )
        statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
        assert statuses["user-container"]["ready"] and statuses["queue-proxy"]["ready"]
        note = pod["metadata"]["annotations"]["sandbox.knwalk.dev/queue-proxy"]
        assert "no queue-proxy process runs" in note
        assert (
            d["status"]["availableReplicas"] == 1 and condition(d, "Available")["status"] == "True"
        )


def test_each_revision_has_knatives_autoscaling_and_networking_objects(
    sandbox: Sandbox, graph: tuple[str, dict[tuple[str, str], Obj]]
) -> None:
    _, objs = graph
    activator = get(sandbox, K.SYSTEM_NAMESPACE, "endpoints", K.ACTIVATOR_SERVICE)
    activator_ips = {a["ip"] for s in activator["subsets"] for a in s["addresses"]}
    for rev_name in (REV1, REV2):
        rev = objs[("Revision", rev_name)]
        pa = objs[("PodAutoscaler", rev_name)]
        assert owned_by(pa, rev)
        assert pa["metadata"]["annotations"][K.CLASS_ANNOTATION] == K.KPA_CLASS
        assert pa["metadata"]["annotations"][K.METRIC_ANNOTATION] == "concurrency"
        assert pa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"{rev_name}-deployment",
        }
        assert pa["spec"]["protocolType"] == "http1" and pa["spec"]["reachability"] == "Reachable"
        assert pa["status"]["desiredScale"] == 1 and pa["status"]["actualScale"] == 1
        assert pa["status"]["serviceName"] == rev_name
        assert pa["status"]["metricsServiceName"] == f"{rev_name}-private"
        assert condition(pa, "Active")["status"] == "True"
        metric = objs[("Metric", rev_name)]
        assert owned_by(metric, pa)
        assert metric["spec"] == {
            "stableWindow": 60_000_000_000,
            "panicWindow": 6_000_000_000,
            "scrapeTarget": f"{rev_name}-private",
        }
        sks = objs[("ServerlessService", rev_name)]
        assert owned_by(sks, pa)
        assert K.METRIC_ANNOTATION not in sks["metadata"].get("annotations", {})
        # one Pod cannot take target-burst-capacity's 200 requests beyond a target of 100:
        # the activator stays in the path, as on a cluster with the defaults
        assert sks["spec"]["mode"] == "Proxy" and sks["spec"]["numActivators"] == 3
        assert sks["spec"]["objectRef"]["name"] == f"{rev_name}-deployment"
        assert sks["status"]["privateServiceName"] == f"{rev_name}-private"
        assert condition(sks, "EndpointsPopulated")["status"] == "True"
        assert condition(sks, "ActivatorEndpointsPopulated")["status"] == "True"
        public, private = objs[("Service", rev_name)], objs[("Service", f"{rev_name}-private")]
        for svc, kind in ((public, "Public"), (private, "Private")):
            assert owned_by(svc, sks)
            assert svc["metadata"]["labels"][K.SERVICE_TYPE_LABEL] == kind
            assert svc["metadata"]["labels"][K.SKS_LABEL] == rev_name
        assert "selector" not in public["spec"]
        assert [(p["name"], p["port"], p["targetPort"]) for p in public["spec"]["ports"]] == [
            ("http", 80, 8012),
            ("https", 443, 8112),
        ]
        assert private["spec"]["selector"] == {
            "serving.knative.dev/revisionUID": rev["metadata"]["uid"]
        }
        assert [p["name"] for p in private["spec"]["ports"]] == [
            "http",
            "https",
            "http-autometric",
            "http-usermetric",
            "http-istio",
        ]
        # the private Endpoints list the Revision's Pod; the public ones, in Proxy mode,
        # the activator's
        (pod,) = [
            o
            for (kind, _), o in objs.items()
            if kind == "Pod"
            and o["metadata"]["labels"].get("serving.knative.dev/revision") == rev_name
        ]
        private_eps = objs[("Endpoints", f"{rev_name}-private")]
        (subset,) = private_eps["subsets"]
        assert [a["targetRef"]["name"] for a in subset["addresses"]] == [pod["metadata"]["name"]]
        public_eps = objs[("Endpoints", rev_name)]
        assert owned_by(public_eps, sks)
        ips = {a["ip"] for s in public_eps["subsets"] for a in s["addresses"]}
        targets = {
            a.get("targetRef", {}).get("name")
            for s in public_eps["subsets"]
            for a in s["addresses"]
        }
        assert ips == activator_ips and pod["metadata"]["name"] not in targets
        assert {p["port"] for s in public_eps["subsets"] for p in s["ports"]} == {8012, 8112}
        slices = [
            o
            for (kind, _), o in objs.items()
            if kind == "EndpointSlice"
            and o["metadata"]["labels"].get("kubernetes.io/service-name")
            in (rev_name, f"{rev_name}-private")
        ]
        by_service = {s["metadata"]["labels"]["kubernetes.io/service-name"]: s for s in slices}
        assert controller(by_service[f"{rev_name}-private"])["kind"] == "Service"
        assert controller(by_service[rev_name])["kind"] == "Endpoints"  # mirrored
        image = objs[("Image", f"{rev_name}-cache-user-container")]
        assert owned_by(image, rev)
        assert image["spec"] == {"image": "gcr.io/knative-samples/helloworld-go"}


# ------------------------------------------------------------------------- per Route
def test_the_route_has_its_ingress_placeholders_and_virtual_services(
    sandbox: Sandbox, graph: tuple[str, dict[tuple[str, str], Obj]]
) -> None:
    ns, objs = graph
    route = objs[("Route", SVC)]
    ingress = objs[("Ingress", SVC)]
    assert owned_by(ingress, route)
    annotations = ingress["metadata"]["annotations"]
    assert annotations[K.INGRESS_CLASS_ANNOTATION] == K.ISTIO_INGRESS_CLASS
    assert json.loads(annotations[K.TAG_TO_HOST_ANNOTATION]) == {
        "current": [f"current-{SVC}.{ns}.svc.cluster.local", f"current-{SVC}.{ns}.example.com"],
        "latest": [f"latest-{SVC}.{ns}.svc.cluster.local", f"latest-{SVC}.{ns}.example.com"],
    }
    rollout = json.loads(annotations[K.ROLLOUT_ANNOTATION])
    assert [c["revisions"][0]["revisionName"] for c in rollout["configurations"]] == [REV2, REV2]
    labels = ingress["metadata"]["labels"]
    assert labels["serving.knative.dev/route"] == SVC and labels[K.ROUTE_NAMESPACE_LABEL] == ns
    rules = ingress["spec"]["rules"]
    assert [(r["hosts"], r["visibility"]) for r in rules] == [
        ([f"{SVC}.{ns}", f"{SVC}.{ns}.svc", f"{SVC}.{ns}.svc.cluster.local"], "ClusterLocal"),
        ([f"{SVC}.{ns}.example.com"], "ExternalIP"),
        (
            [
                f"current-{SVC}.{ns}",
                f"current-{SVC}.{ns}.svc",
                f"current-{SVC}.{ns}.svc.cluster.local",
            ],
            "ClusterLocal",
        ),
        ([f"current-{SVC}.{ns}.example.com"], "ExternalIP"),
        (
            [
                f"latest-{SVC}.{ns}",
                f"latest-{SVC}.{ns}.svc",
                f"latest-{SVC}.{ns}.svc.cluster.local",
            ],
            "ClusterLocal",
        ),
        ([f"latest-{SVC}.{ns}.example.com"], "ExternalIP"),
    ]

    def split(rev: str, percent: int) -> Obj:
        return {
            "appendHeaders": {"Knative-Serving-Namespace": ns, "Knative-Serving-Revision": rev},
            "percent": percent,
            "serviceName": rev,
            "serviceNamespace": ns,
            "servicePort": 80,
        }

    assert rules[0]["http"]["paths"] == [{"splits": [split(REV1, 50), split(REV2, 50)]}]
    assert rules[3]["http"]["paths"] == [{"splits": [split(REV1, 100)]}]
    assert rules[5]["http"]["paths"] == [{"splits": [split(REV2, 100)]}]
    assert ingress["spec"]["httpOption"] == "Enabled"
    status = ingress["status"]
    assert status["privateLoadBalancer"] == {"ingress": [{"domainInternal": LOCAL_LB}]}
    assert status["publicLoadBalancer"] == {
        "ingress": [{"domainInternal": "istio-ingressgateway.istio-system.svc.cluster.local"}]
    }
    # the placeholder Services point at the cluster-local gateway once the Ingress is ready
    for host in (SVC, f"current-{SVC}", f"latest-{SVC}"):
        placeholder = objs[("Service", host)]
        assert owned_by(placeholder, route)
        assert placeholder["spec"]["type"] == "ExternalName"
        assert placeholder["spec"]["externalName"] == LOCAL_LB
    # net-istio's VirtualServices
    vs_ingress = objs[("VirtualService", f"{SVC}-ingress")]
    vs_mesh = objs[("VirtualService", f"{SVC}-mesh")]
    for vs in (vs_ingress, vs_mesh):
        assert owned_by(vs, ingress)
        assert vs["metadata"]["labels"] == {
            "networking.internal.knative.dev/ingress": SVC,
            "serving.knative.dev/route": SVC,
            "serving.knative.dev/routeNamespace": ns,
        }
    assert vs_ingress["spec"]["gateways"] == [
        "knative-serving/knative-ingress-gateway",
        "knative-serving/knative-local-gateway",
    ]
    assert vs_mesh["spec"]["gateways"] == ["mesh"]
    assert f"{SVC}.{ns}.example.com" in vs_ingress["spec"]["hosts"]
    assert f"{SVC}.{ns}.example.com" not in vs_mesh["spec"]["hosts"]
    main = [
        r
        for r in vs_ingress["spec"]["http"]
        if r["match"][0]["authority"]["prefix"] == f"{SVC}.{ns}.example.com"
        and "headers" not in r["match"][0]
    ]
    (route_entry,) = main
    assert [(d["destination"]["host"], d["weight"]) for d in route_entry["route"]] == [
        (f"{REV1}.{ns}.svc.cluster.local", 50),
        (f"{REV2}.{ns}.svc.cluster.local", 50),
    ]
    assert route_entry["route"][0]["headers"]["request"]["set"] == {
        "Knative-Serving-Namespace": ns,
        "Knative-Serving-Revision": REV1,
    }
    assert route_entry["match"][0]["gateways"] == ["knative-serving/knative-ingress-gateway"]
    assert route_entry["retries"] == {}


def test_objects_validate_against_the_crds_served(
    sandbox: Sandbox, graph: tuple[str, dict[tuple[str, str], Obj]]
) -> None:
    _, objs = graph
    crds = {
        (c["spec"]["group"], c["spec"]["names"]["kind"]): c
        for c in json.loads(kubectl(sandbox, "get", "crd", "-o", "json"))["items"]
    }
    checked = set()
    for (kind, name), obj in objs.items():
        group, _, version = obj["apiVersion"].rpartition("/")
        crd = crds.get((group, kind))
        if crd is None:
            continue  # a built-in kind: the API checked it against its own schema
        (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
        schema = served["schema"]["openAPIV3Schema"]
        assert validate(schema, obj) == [], (kind, name)
        assert unknown_fields(schema, obj) == [], (kind, name)
        checked.add(kind)
    assert checked >= {
        "PodAutoscaler",
        "ServerlessService",
        "Metric",
        "Image",
        "Ingress",
        "VirtualService",
        "Revision",
        "Route",
    }


def test_kubectl_lists_the_kinds_a_cluster_lists(
    sandbox: Sandbox, graph: tuple[str, dict[tuple[str, str], Obj]]
) -> None:
    ns, _ = graph
    everything = kubectl(sandbox, "get", "all", "-n", ns)
    for kind in (
        "pod/",
        "service/",
        "deployment.apps/",
        "replicaset.apps/",
        "service.serving.knative.dev/",
        "revision.serving.knative.dev/",
        "route.serving.knative.dev/",
        "configuration.serving.knative.dev/",
    ):
        assert kind in everything, kind
    header = kubectl(sandbox, "get", "kpa", "-n", ns).splitlines()[0].split()
    assert header == ["NAME", "DESIREDSCALE", "ACTUALSCALE", "READY", "REASON"]
    header = kubectl(sandbox, "get", "sks", "-n", ns).splitlines()[0].split()
    assert header[:4] == ["NAME", "MODE", "ACTIVATORS", "SERVICENAME"]
    header = kubectl(sandbox, "get", "kingress", "-n", ns).splitlines()[0].split()
    assert header == ["NAME", "READY", "REASON"]
    header = kubectl(sandbox, "get", "virtualservice", "-n", ns).splitlines()[0].split()
    assert header == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert kubectl(sandbox, "get", "image", "-n", ns).splitlines()[0].split() == ["NAME", "IMAGE"]
    many = kubectl(sandbox, "get", "kpa,sks,kingress,virtualservice,gateway", "-A")
    for kind in (
        "podautoscaler.autoscaling.internal.knative.dev/",
        "serverlessservice.networking.internal.knative.dev/",
        "ingress.networking.internal.knative.dev/",
        "virtualservice.networking.istio.io/",
        "gateway.networking.istio.io/knative-ingress-gateway",
        "gateway.networking.istio.io/knative-local-gateway",
    ):
        assert kind in many, kind


# ------------------------------------------------------------------- installation
def test_the_release_installation_is_there(sandbox: Sandbox) -> None:
    for name in ("config-autoscaler", "config-defaults", "config-gc", "config-features"):
        cm = get(sandbox, K.SYSTEM_NAMESPACE, "configmap", name)
        assert cm["data"]["_example"] == release.upstream_data(name)["_example"]
    domain = get(sandbox, K.SYSTEM_NAMESPACE, "configmap", "config-domain")["data"]
    assert "example.com" in domain and "_example" in domain
    deployment = get(sandbox, K.SYSTEM_NAMESPACE, "configmap", "config-deployment")["data"]
    assert deployment["queue-sidecar-image"].startswith(
        "gcr.io/knative-releases/knative.dev/serving/cmd/queue"
    )
    expected = {
        K.SYSTEM_NAMESPACE: {
            "activator",
            "autoscaler",
            "controller",
            "webhook",
            "net-istio-controller",
            "net-istio-webhook",
        },
        "istio-system": {"istiod", "istio-ingressgateway"},
    }
    for ns, names in expected.items():
        deployments = wait_until(
            f"the system Deployments of {ns}",
            lambda ns=ns: items(sandbox, ns, "deployments"),
            lambda ds, names=names: (
                {d["metadata"]["name"] for d in ds} >= names
                and all(condition(d, "Available").get("status") == "True" for d in ds)
            ),
        )
        for d in deployments:
            assert release.A_PLAYED_BY in d["metadata"]["annotations"], d["metadata"]["name"]
    activator = get(sandbox, K.SYSTEM_NAMESPACE, "deploy", "activator")
    assert "gateway" in activator["metadata"]["annotations"][release.A_PLAYED_BY]
    gateway = get(sandbox, K.SYSTEM_NAMESPACE, "gateway", K.INGRESS_GATEWAY)
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    assert gateway["spec"]["servers"][0]["port"]["number"] == 80
    local = get(sandbox, K.SYSTEM_NAMESPACE, "gateway", K.LOCAL_GATEWAY)
    assert local["spec"]["servers"][0]["port"]["number"] == 8081


# ------------------------------------------------------------- modes, zero, delete
def test_a_revision_is_ready_only_once_its_pod_is_there(sandbox: Sandbox) -> None:
    """On a cluster a Revision turns Ready when its Deployment has a ready replica, so at
    its first Ready its Deployment, ReplicaSet and a Pod are all there. Watched: the
    moment each of several Revisions' Ready=True event arrives, they are listed."""
    ns = "order-" + uuid.uuid4().hex[:8]
    kubectl(sandbox, "create", "namespace", ns)
    names = [f"order-{i}" for i in range(4)]
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    base = f"{sandbox.api}/apis/serving.knative.dev/v1/namespaces/{ns}/revisions"
    seen: dict[str, list[str]] = {}
    with httpx.Client(
        verify=ssl.create_default_context(cafile=sandbox.ca), headers=headers, timeout=30
    ) as api:
        rv = api.get(base).json()["metadata"]["resourceVersion"]
        for name in names:
            kubectl(sandbox, "apply", "-n", ns, "-f", "-", stdin=service_manifest(name, name=name))
        with api.stream("GET", base, params={"watch": "1", "resourceVersion": rv}) as events:
            for line in events.iter_lines():
                rev = json.loads(line)["object"]
                name = rev["metadata"]["name"]
                if name in seen or condition(rev, "Ready").get("status") != "True":
                    continue
                selector = {"labelSelector": f"serving.knative.dev/revision={name}"}
                seen[name] = sorted(
                    kind
                    for kind, path in (
                        ("Deployment", f"/apis/apps/v1/namespaces/{ns}/deployments"),
                        ("ReplicaSet", f"/apis/apps/v1/namespaces/{ns}/replicasets"),
                        ("Pod", f"/api/v1/namespaces/{ns}/pods"),
                    )
                    for _ in api.get(f"{sandbox.api}{path}", params=selector).json()["items"]
                )
                if len(seen) == len(names):
                    break
    assert seen == {f"{n}-00001": ["Deployment", "Pod", "ReplicaSet"] for n in names}
    kubectl(sandbox, "delete", "namespace", ns, "--wait=false")


def test_serve_mode_when_the_pods_can_take_the_burst(sandbox: Sandbox) -> None:
    """``target-burst-capacity: "0"``: no burst capacity asked for, so the Revision's Pods
    take the traffic themselves (Serve) and the public Endpoints are the Pod's."""
    ns = "serve-" + uuid.uuid4().hex[:8]
    kubectl(sandbox, "create", "namespace", ns)
    manifest = service_manifest("serve").replace(
        "  template:\n",
        "  template:\n    metadata:\n      annotations:\n"
        '        autoscaling.knative.dev/target-burst-capacity: "0"\n',
    )
    kubectl(sandbox, "apply", "-n", ns, "-f", "-", stdin=manifest)
    sks = wait_until(
        "the SKS in Serve mode",
        lambda: get_or_none(sandbox, ns, "sks", REV1),
        lambda s: s is not None and ready(s) and s["spec"]["mode"] == "Serve",
    )
    assert sks["spec"]["numActivators"] == 2
    assert condition(sks, "ActivatorEndpointsPopulated")["status"] == "False"
    public = wait_until(
        "the public Endpoints on the Pod",
        lambda: get(sandbox, ns, "endpoints", REV1),
        lambda e: any(
            a.get("targetRef", {}).get("kind") == "Pod"
            for s in e.get("subsets") or []
            for a in s.get("addresses") or []
        ),
    )
    assert {p["port"] for s in public["subsets"] for p in s["ports"]} == {8012, 8112}
    kubectl(sandbox, "delete", "namespace", ns, "--wait=false")


def get_or_none(sb: Sandbox, ns: str, kind: str, name: str) -> Obj | None:
    proc = subprocess.run(
        ["kubectl", "--kubeconfig", str(sb.kubeconfig), "get", kind, name, "-n", ns, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def test_scale_to_zero_shows_in_the_autoscaler_the_sks_and_the_endpoints(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path, stable_window=0.6, scale_to_zero_grace=0.3)
    try:
        ns = "default"
        kubectl(sb, "apply", "-n", ns, "-f", "-", stdin=service_manifest("zero"))
        pa = wait_until(
            "the PodAutoscaler at zero",
            lambda: get_or_none(sb, ns, "kpa", REV1),
            lambda p: (
                p is not None
                and (p.get("status") or {}).get("desiredScale") == 0
                and condition(p, "Active").get("reason") == "NoTraffic"
            ),
        )
        assert pa["status"]["actualScale"] == 0
        assert condition(pa, "Active") | {"lastTransitionTime": ""} == {
            "type": "Active",
            "status": "False",
            "reason": "NoTraffic",
            "message": "The target is not receiving traffic.",
            "lastTransitionTime": "",
        }
        assert condition(pa, "Ready")["status"] == "False"
        sks = wait_until(
            "the SKS without Pods",
            lambda: get(sb, ns, "sks", REV1),
            lambda s: condition(s, "EndpointsPopulated").get("reason") == "NoHealthyBackends",
        )
        assert sks["spec"]["mode"] == "Proxy"
        assert condition(sks, "ActivatorEndpointsPopulated")["status"] == "True"
        private = wait_until(
            "the private Endpoints empty",
            lambda: get(sb, ns, "endpoints", f"{REV1}-private"),
            lambda e: not any(s.get("addresses") for s in e.get("subsets") or []),
        )
        assert "subsets" not in private
        public = get(sb, ns, "endpoints", REV1)
        activator = get(sb, K.SYSTEM_NAMESPACE, "endpoints", K.ACTIVATOR_SERVICE)
        assert {a["ip"] for s in public["subsets"] for a in s["addresses"]} == {
            a["ip"] for s in activator["subsets"] for a in s["addresses"]
        }
        d = get(sb, ns, "deploy", f"{REV1}-deployment")
        assert d["spec"]["replicas"] == 0
        assert not items(sb, ns, "pods")
        # a request wakes it: the PodAutoscaler is active again with one Pod
        gateway = f"http://127.0.0.1:{sb.info.gateway_port}"
        reply = httpx.get(gateway, headers={"Host": f"{SVC}.{ns}.example.com"}, timeout=30)
        assert reply.text == "Hello zero!\n"
        wait_until(
            "the PodAutoscaler active",
            lambda: get(sb, ns, "kpa", REV1),
            lambda p: (
                (p.get("status") or {}).get("actualScale") == 1
                and condition(p, "Active").get("status") == "True"
            ),
        )
    finally:
        control.stop(sb.state_dir)


def test_deleting_the_service_leaves_nothing(sandbox: Sandbox) -> None:
    ns = "gone-" + uuid.uuid4().hex[:8]
    kubectl(sandbox, "create", "namespace", ns)
    walkthrough(sandbox, ns)
    objs = settled(sandbox, ns)
    assert len(objs) > 30
    kubectl(sandbox, "delete", "ksvc", SVC, "-n", ns)
    left = wait_until(
        "nothing left",
        lambda: items(sandbox, ns, GRAPH_KINDS),
        lambda found: not found,
    )
    assert left == []
    kubectl(sandbox, "delete", "namespace", ns, "--wait=false")


# --------------------------------------------------------------------- pure rules
def test_child_names_are_knatives_even_when_long() -> None:
    assert K.deployment_name("hello-00001") == "hello-00001-deployment"
    assert K.image_cache_name("hello-00001", "user-container") == (
        "hello-00001-cache-user-container"
    )
    long = "r" * 50 + "-00001"
    name = K.deployment_name(long)
    # kmeta.ChildName: the parent cut to 63-32-len(suffix), its md5, then the suffix
    assert len(name) == 63 and name.endswith("-deployment")
    assert name[:20] == long[:20] and len(name) - len(long[:20]) - len("-deployment") == 32


def test_the_burst_capacity_decides_the_mode() -> None:
    # defaults: a target of 100 per Pod, 200 of burst capacity
    assert revision_resources.excess_burst_capacity(1, 100, 200) < 0
    assert revision_resources.excess_burst_capacity(2, 100, 200) == 0
    assert revision_resources.excess_burst_capacity(0, 100, 0) == 0
    assert revision_resources.excess_burst_capacity(5, 100, -1) == -1
    assert revision_resources.num_activators(1, 100, 200, 100) == 3
    assert revision_resources.num_activators(0, 100, 200, 100) == 2
    assert revision_resources.num_activators(9, 100, 0, 100) == 2


def test_net_istio_host_rules() -> None:
    hosts = {"a.ns", "a.ns.svc", "a.ns.svc.cluster.local"}
    assert netistio.expanded_hosts({"a.ns.svc.cluster.local"}) == hosts
    assert netistio.distinct_prefixes(hosts) == ["a.ns"]
    assert netistio.distinct_prefixes({"a.ns.example.com"}) == ["a.ns.example.com"]
    targets = route_resources.consolidate(
        [
            {"revisionName": "r1", "percent": 30, "latestRevision": False},
            {"revisionName": "r1", "percent": 20, "latestRevision": True},
        ]
    )
    assert targets == [{"revisionName": "r1", "percent": 100, "latestRevision": False}]


def test_endpoints_follow_a_pod_made_before_its_service(tmp_path: Path) -> None:
    """A Revision's Pod can be made before its private Service: once the Service lists
    it, the Pod's deletion still empties the Service's Endpoints."""
    from kn_walk.sandbox.knative.endpoints import EndpointsController
    from kn_walk.sandbox.machinery.resourcetypes import Registry
    from kn_walk.sandbox.registry.builtin import BuiltinDefaults
    from kn_walk.sandbox.registry.resources import Resources, WriteOptions
    from kn_walk.sandbox.registry.store import Store

    async def main() -> None:
        store = Store(str(tmp_path / "state.db"))
        res = Resources(store, Registry.default())
        res.admission = [BuiltinDefaults(load_balancer=False)]
        controller = EndpointsController(res)
        watcher = store.subscribe(lambda ev: True)

        def pump() -> None:
            while not watcher.queue.empty():
                ev = watcher.queue.get_nowait()
                if ev is not None and controller.interested(ev):
                    controller.on_event(ev, controller.sync)

        def t(group: str, plural: str) -> Any:
            return res.registry.get(group, "v1", plural)

        opts = WriteOptions(manager="test")
        res.create(t("", "namespaces"), "", {"metadata": {"name": "ns"}}, opts)
        pod = res.create(
            t("", "pods"),
            "ns",
            {
                "metadata": {"name": "p", "labels": {"app": "x"}},
                "spec": {
                    "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 8012}]}]
                },
            },
            opts,
        )
        pod["status"] = {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        res.update(
            t("", "pods"), "ns", "p", pod, WriteOptions(manager="test", subresource="status")
        )
        pump()  # no Service selects it yet
        service = {
            "metadata": {"name": "s"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8012}]},
        }
        res.create(t("", "services"), "ns", service, opts)
        pump()
        endpoints = res.get(t("", "endpoints"), "ns", "s")
        assert [a["targetRef"]["name"] for a in endpoints["subsets"][0]["addresses"]] == ["p"]
        res.delete(t("", "pods"), "ns", "p")
        pump()
        assert "subsets" not in res.get(t("", "endpoints"), "ns", "s")
        (slice_,) = res.list_objects(t("discovery.k8s.io", "endpointslices"), "ns")[0]
        assert slice_["endpoints"] == []
        store.close()

    asyncio.run(main())
