"""``knwalk status --graph``: the whole object graph of a Service, on the sandbox and on a
recorded real-cluster object set served by a tiny fake API (tests/fixtures/graph/)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.test_cli_support import Cluster, knwalk, local_api

V1, V2 = "helloworld-go-00001", "helloworld-go-00002"
FIXTURE = Path(__file__).parent / "fixtures" / "graph" / "helloworld-go.json"

Obj = dict[str, Any]


# --------------------------------------------------------------------------- a recorded cluster

#: plural of each kind in the recording (every other kind: lower case + "s")
PLURALS = {"Endpoints": "endpoints", "Ingress": "ingresses"}


def recorded() -> list[Obj]:
    return list(json.loads(FIXTURE.read_text())["items"])


def _plural(kind: str) -> str:
    return PLURALS.get(kind, kind.lower() + "s")


def _matches(labels: dict[str, str], selector: str) -> bool:
    """The label selectors knwalk sends: ``k=v`` and ``k`` (exists), comma-joined."""
    for term in filter(None, selector.split(",")):
        key, eq, value = term.partition("=")
        if not re.fullmatch(r"[A-Za-z0-9./_-]+", key) or value.startswith("="):
            raise ValueError(term)
        if (eq and labels.get(key) != value) or (not eq and key not in labels):
            return False
    return True


@contextlib.contextmanager
def fake_api(
    tmp: Path,
    objects: list[Obj],
    *,
    forbidden: frozenset[str] = frozenset(),
) -> Iterator[Path]:
    """A kubeconfig whose API server serves ``objects`` read-only as kube-apiserver does.

    Discovery serves the group/versions the objects are in (any other is 404, as for
    a CRD that is not installed), lists filter by namespace and label selector, and
    ``forbidden`` plurals answer 403.
    """
    served: dict[str, dict[str, str]] = {}  # group/version → plural → kind
    for obj in objects:
        served.setdefault(obj["apiVersion"], {})[_plural(obj["kind"])] = obj["kind"]
    # kinds a real cluster serves even when the recording holds none of them
    served.setdefault("serving.knative.dev/v1", {}).update(
        {_plural(k): k for k in ("Service", "Configuration", "Revision", "Route")}
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: Obj) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str, message: str) -> None:
            self._send(
                code,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": message,
                    "reason": reason,
                    "code": code,
                },
            )

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts[0] == "version":
                self._send(200, {"gitVersion": "v1.33.1", "major": "1", "minor": "33"})
                return
            if parts[0] == "api":
                gv, rest = parts[1], parts[2:]
            elif parts[0] == "apis" and len(parts) >= 3:
                gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
            else:
                self._status(404, "NotFound", "the server could not find the requested resource")
                return
            if gv not in served:
                self._status(404, "NotFound", "the server could not find the requested resource")
                return
            if not rest:
                resources = [
                    {"name": p, "namespaced": True, "kind": k}
                    for p, k in sorted(served[gv].items())
                ]
                self._send(
                    200, {"kind": "APIResourceList", "groupVersion": gv, "resources": resources}
                )
                return
            namespace = ""
            if rest[0] == "namespaces" and len(rest) >= 3:
                namespace, rest = rest[1], rest[2:]
            plural, name = rest[0], (rest[1] if len(rest) > 1 else "")
            if plural not in served[gv]:
                self._status(404, "NotFound", "the server could not find the requested resource")
                return
            if plural in forbidden:
                self._status(403, "Forbidden", f'{plural} is forbidden: User "t" cannot list')
                return
            items = [
                o
                for o in objects
                if o["apiVersion"] == gv
                and _plural(o["kind"]) == plural
                and (not namespace or o["metadata"].get("namespace") == namespace)
            ]
            if name:
                found = [o for o in items if o["metadata"]["name"] == name]
                if not found:
                    self._status(404, "NotFound", f'{plural} "{name}" not found')
                    return
                self._send(200, found[0])
                return
            selector = parse_qs(url.query).get("labelSelector", [""])[0]
            try:
                items = [o for o in items if _matches(o["metadata"].get("labels") or {}, selector)]
            except ValueError as exc:
                self._status(400, "BadRequest", f"unable to parse requirement: {exc}")
                return
            kind = items[0]["kind"] + "List" if items else "List"
            self._send(
                200,
                {
                    "kind": kind,
                    "apiVersion": gv,
                    "metadata": {"resourceVersion": "9"},
                    "items": items,
                },
            )

    with local_api(tmp, Handler, "gke") as path:
        yield path


# --------------------------------------------------------------------------- helpers

#: the kind each kind's owner has, as Knative, Kubernetes and net-istio set ownerReferences
#: (Pods: owned by their ReplicaSet; the sandbox before its Deployments, by the Revision)
OWNER_KINDS = {
    "Configuration": {"Service"},
    "Route": {"Service"},
    "Revision": {"Configuration"},
    "Deployment": {"Revision"},
    "ReplicaSet": {"Deployment"},
    "Pod": {"ReplicaSet", "Revision"},
    "PodAutoscaler": {"Revision"},
    "Image": {"Revision"},
    "Metric": {"PodAutoscaler"},
    "ServerlessService": {"PodAutoscaler"},
    "Endpoints": {"ServerlessService"},
    "EndpointSlice": {"Service", "Endpoints"},  # Endpoints: mirrored for a selector-less Service
    "Ingress": {"Route"},
    "VirtualService": {"Ingress"},
}


def named(doc: Obj) -> dict[str, str]:
    """Node id → ``Kind/name`` (``Kind/namespace/name`` outside the Service's namespace;
    ``ksvc/name`` for the Knative Service)."""
    out = {}
    for n in doc["nodes"]:
        kind = (
            "ksvc"
            if n["apiVersion"].startswith("serving.knative.dev/") and n["kind"] == "Service"
            else n["kind"]
        )
        where = "" if n["namespace"] == doc["namespace"] else n["namespace"] + "/"
        out[n["id"]] = f"{kind}/{where}{n['name']}"
    return out


def edges(doc: Obj, kind: str) -> set[tuple[str, str]] | set[tuple[str, str, str]]:
    name = named(doc)
    if kind == "owner":
        return {(name[e["from"]], name[e["to"]]) for e in doc["edges"] if e["kind"] == kind}
    return {(name[e["from"]], name[e["to"]], e["label"]) for e in doc["edges"] if e["kind"] == kind}


def node(doc: Obj, label: str) -> Obj:
    name = named(doc)
    found = [n for n in doc["nodes"] if name[n["id"]] == label]
    assert len(found) == 1, (label, sorted(name.values()))
    return found[0]


def skeleton(out: str) -> list[tuple[int, str]]:
    """Each tree line that starts a node or a reference: (depth, its text)."""
    lines = out.splitlines()
    shape = [(0, lines[0])]
    for line in lines[1:]:
        m = re.match(r"^((?:[│ ]   )*)(?:├── |└── )(.*)$", line)
        if m:
            shape.append((len(m.group(1)) // 4 + 1, m.group(2)))
    return shape


def graph_of(kubeconfig: Path, *args: str) -> Obj:
    result = knwalk(
        "status", "helloworld-go", "--graph", "-o", "json", "--kubeconfig", str(kubeconfig), *args
    )
    assert result.code == 0, result.err
    return dict(yaml.safe_load(result.out))


# --------------------------------------------------------------------------- a recorded cluster

R = "Revision/helloworld-go-"
SKS = "ServerlessService/helloworld-go-"
PA = "PodAutoscaler/helloworld-go-"
RECORDED_OWNERS = {
    ("ksvc/helloworld-go", "Configuration/helloworld-go"),
    ("ksvc/helloworld-go", "Route/helloworld-go"),
    ("Configuration/helloworld-go", R + "00001"),
    ("Configuration/helloworld-go", R + "00002"),
    (R + "00001", "Deployment/helloworld-go-00001-deployment"),
    (R + "00002", "Deployment/helloworld-go-00002-deployment"),
    (
        "Deployment/helloworld-go-00001-deployment",
        "ReplicaSet/helloworld-go-00001-deployment-7cdf6d6b49",
    ),
    (
        "Deployment/helloworld-go-00002-deployment",
        "ReplicaSet/helloworld-go-00002-deployment-6d5bd5b7f",
    ),
    (
        "ReplicaSet/helloworld-go-00002-deployment-6d5bd5b7f",
        "Pod/helloworld-go-00002-deployment-6d5bd5b7f-x7k2p",
    ),
    (R + "00001", PA + "00001"),
    (R + "00002", PA + "00002"),
    (R + "00001", "Image/helloworld-go-00001-cache-user-container"),
    (R + "00002", "Image/helloworld-go-00002-cache-user-container"),
    (PA + "00001", "Metric/helloworld-go-00001"),
    (PA + "00002", "Metric/helloworld-go-00002"),
    (PA + "00001", SKS + "00001"),
    (PA + "00002", SKS + "00002"),
    (SKS + "00001", "Service/helloworld-go-00001"),
    (SKS + "00001", "Service/helloworld-go-00001-private"),
    (SKS + "00001", "Endpoints/helloworld-go-00001"),
    (SKS + "00002", "Service/helloworld-go-00002"),
    (SKS + "00002", "Service/helloworld-go-00002-private"),
    (SKS + "00002", "Endpoints/helloworld-go-00002"),
    ("Endpoints/helloworld-go-00001", "EndpointSlice/helloworld-go-00001-w8p4n"),
    ("Endpoints/helloworld-go-00002", "EndpointSlice/helloworld-go-00002-k2v9d"),
    ("Service/helloworld-go-00001-private", "EndpointSlice/helloworld-go-00001-private-m4d2w"),
    ("Service/helloworld-go-00002-private", "EndpointSlice/helloworld-go-00002-private-bq7zt"),
    ("Route/helloworld-go", "Service/helloworld-go"),
    ("Route/helloworld-go", "Service/current-helloworld-go"),
    ("Route/helloworld-go", "Service/candidate-helloworld-go"),
    ("Route/helloworld-go", "Service/latest-helloworld-go"),
    ("Route/helloworld-go", "Ingress/helloworld-go"),
    ("Ingress/helloworld-go", "VirtualService/helloworld-go-ingress"),
    ("Ingress/helloworld-go", "VirtualService/helloworld-go-mesh"),
}
ING = "Ingress/helloworld-go"
HOSTS = "helloworld-go.default.example.com, helloworld-go.default"
RECORDED_REFERENCES = {
    ("Route/helloworld-go", R + "00002", f"50% → {V2} (tag current)"),
    ("Route/helloworld-go", R + "00001", f"50% → {V1} (tag candidate)"),
    ("Route/helloworld-go", R + "00002", f"0% → @latest ({V2}) (tag latest)"),
    (ING, "Service/" + V2, f"{HOSTS}: 50% → Service {V2}:80"),
    (ING, "Service/" + V1, f"{HOSTS}: 50% → Service {V1}:80"),
    (
        ING,
        "Service/" + V1,
        f"candidate-{HOSTS.replace(', ', ', candidate-')}: 100% → Service {V1}:80",
    ),
    (ING, "Service/" + V2, f"current-{HOSTS.replace(', ', ', current-')}: 100% → Service {V2}:80"),
    (ING, "Service/" + V2, f"latest-{HOSTS.replace(', ', ', latest-')}: 100% → Service {V2}:80"),
    ("Endpoints/" + V1, "Service/" + V1, f"→ addresses of Service {V1}"),
    ("Endpoints/" + V2, "Service/" + V2, f"→ addresses of Service {V2}"),
    (f"Endpoints/{V1}-private", f"Service/{V1}-private", f"→ addresses of Service {V1}-private"),
    (f"Endpoints/{V2}-private", f"Service/{V2}-private", f"→ addresses of Service {V2}-private"),
    (
        "VirtualService/helloworld-go-ingress",
        "Gateway/knative-serving/knative-ingress-gateway",
        "→ Gateway knative-serving/knative-ingress-gateway",
    ),
    (
        "VirtualService/helloworld-go-ingress",
        "Gateway/knative-serving/knative-local-gateway",
        "→ Gateway knative-serving/knative-local-gateway",
    ),
    (
        "Gateway/knative-serving/knative-ingress-gateway",
        "Service/istio-system/istio-ingressgateway",
        "→ Service istio-system/istio-ingressgateway",
    ),
    (
        "Gateway/knative-serving/knative-local-gateway",
        "Service/istio-system/knative-local-gateway",
        "→ Service istio-system/knative-local-gateway",
    ),
}

#: the whole tree at 200 columns: each node's or reference's first line, by depth
RECORDED_TREE = [
    (0, "Knative Service helloworld-go  Ready=True"),
    (1, "Configuration helloworld-go  Ready=True"),
    (2, f"Revision {V2}  Ready=True"),
    (3, f"Deployment {V2}-deployment  Ready=True"),
    (4, f"ReplicaSet {V2}-deployment-6d5bd5b7f  Ready=True"),
    (5, f"Pod {V2}-deployment-6d5bd5b7f-x7k2p  Ready=True"),
    (3, f"PodAutoscaler {V2}  Ready=True"),
    (4, f"Metric {V2}  Ready=True"),
    (4, f"ServerlessService {V2}  Ready=True"),
    (5, f"Service {V2}"),
    (5, f"Service {V2}-private"),
    (6, f"→ Endpoints {V2}-private"),
    (6, f"EndpointSlice {V2}-private-bq7zt"),
    (5, f"Endpoints {V2}"),
    (6, f"→ addresses of Service {V2}"),
    (6, f"EndpointSlice {V2}-k2v9d"),
    (3, f"Image {V2}-cache-user-container"),
    (2, f"Revision {V1}  Ready=True"),
    (3, f"Deployment {V1}-deployment  Ready=True"),
    (4, f"ReplicaSet {V1}-deployment-7cdf6d6b49  Ready=True"),
    (3, f"PodAutoscaler {V1}  Ready=False NoTraffic"),
    (4, f"Metric {V1}  Ready=True"),
    (4, f"ServerlessService {V1}  Ready=Unknown NoHealthyBackends"),
    (5, f"Service {V1}"),
    (5, f"Service {V1}-private"),
    (6, f"→ Endpoints {V1}-private"),
    (6, f"EndpointSlice {V1}-private-m4d2w"),
    (5, f"Endpoints {V1}"),
    (6, f"→ addresses of Service {V1}"),
    (6, f"EndpointSlice {V1}-w8p4n"),
    (3, f"Image {V1}-cache-user-container"),
    (1, "Route helloworld-go  Ready=True"),
    (2, f"50% → {V2} (tag current)"),
    (2, f"50% → {V1} (tag candidate)"),
    (2, f"0% → @latest ({V2}) (tag latest)"),
    (2, "Service candidate-helloworld-go"),
    (2, "Service current-helloworld-go"),
    (2, "Service helloworld-go"),
    (2, "Service latest-helloworld-go"),
    (2, "Ingress helloworld-go  Ready=True"),
    (3, f"{HOSTS}: 50% → Service {V2}:80"),
    (3, f"{HOSTS}: 50% → Service {V1}:80"),
    (3, f"candidate-{HOSTS.replace(', ', ', candidate-')}: 100% → Service {V1}:80"),
    (3, f"current-{HOSTS.replace(', ', ', current-')}: 100% → Service {V2}:80"),
    (3, f"latest-{HOSTS.replace(', ', ', latest-')}: 100% → Service {V2}:80"),
    (3, "VirtualService helloworld-go-ingress"),
    (4, "→ Gateway knative-serving/knative-ingress-gateway"),
    (5, "→ Service istio-system/istio-ingressgateway"),
    (4, "→ Gateway knative-serving/knative-local-gateway"),
    (5, "→ Service istio-system/knative-local-gateway"),
    (3, "VirtualService helloworld-go-mesh"),
]


def test_recorded_cluster_graph_as_data(tmp_path: Path) -> None:
    with fake_api(tmp_path, recorded()) as kubeconfig:
        doc = graph_of(kubeconfig)
    assert list(doc) == ["service", "namespace", "root", "nodes", "edges", "kinds"]
    assert (doc["service"], doc["namespace"]) == ("helloworld-go", "default")
    assert doc["root"] == "default/Service.serving.knative.dev/helloworld-go"
    assert set(doc["nodes"][0]) == {
        "id",
        "kind",
        "apiVersion",
        "name",
        "namespace",
        "ready",
        "reason",
        "message",
        "role",
        "detail",
        "problem",
        "missing",
    }
    assert edges(doc, "owner") == RECORDED_OWNERS
    assert edges(doc, "reference") == RECORDED_REFERENCES
    assert {e["label"] for e in doc["edges"] if e["kind"] == "owner"} == {"owns"}
    # every kind served and read; the counts are what the recording holds for the Service
    kinds = {(k["kind"], k["apiVersion"]): (k["status"], k["count"]) for k in doc["kinds"]}
    assert kinds[("PodAutoscaler", "autoscaling.internal.knative.dev/v1alpha1")] == ("read", 2)
    assert kinds[("VirtualService", "networking.istio.io/v1")] == ("read", 2)
    assert kinds[("Gateway", "networking.istio.io/v1")] == ("read", 2)
    assert kinds[("Service", "v1")] == ("read", 8)
    assert all(status == "read" for status, _ in kinds.values())
    # readiness, role and state as the objects say; nothing breaks
    assert [n for n in doc["nodes"] if n["problem"]] == []
    pa = node(doc, PA + "00001")
    assert (pa["ready"], pa["reason"]) == ("False", "NoTraffic")
    assert pa["role"].startswith("decides how many Pods the Revision needs")
    assert pa["detail"] == "kpa, concurrency; wants 0, has 0; scale to zero: NoTraffic"
    assert node(doc, SKS + "00001")["detail"] == (
        "mode Proxy: requests go through the activator (no Pod ready)"
    )
    assert node(doc, SKS + "00002")["detail"] == "mode Serve: requests go straight to the Pods"
    assert node(doc, "Endpoints/" + V1)["detail"] == "1 address (the activator's)"
    assert node(doc, "Endpoints/" + V2)["detail"] == "1 address"
    assert node(doc, R + "00002")["detail"] == "pods: 1 running, 1 wanted"
    assert node(doc, R + "00001")["detail"] == "no pods: scaled to zero"
    assert node(doc, "Service/helloworld-go")["detail"] == (
        "ExternalName → knative-local-gateway.istio-system.svc.cluster.local"
    )
    gateway_svc = node(doc, "Service/istio-system/istio-ingressgateway")
    assert gateway_svc["detail"] == "LoadBalancer, address http://34.118.20.7"
    assert node(doc, "Service/istio-system/knative-local-gateway")["ready"] is None
    assert node(doc, "VirtualService/helloworld-go-mesh")["detail"].endswith(
        f"on the mesh, to {V2}, {V1}"
    )


def test_recorded_cluster_yaml_is_the_json(tmp_path: Path) -> None:
    with fake_api(tmp_path, recorded()) as kubeconfig:
        as_json = graph_of(kubeconfig)
        as_yaml = graph_of(kubeconfig, "-o", "yaml")
    assert as_yaml == as_json


def test_recorded_cluster_full_tree(tmp_path: Path) -> None:
    with fake_api(tmp_path, recorded()) as kubeconfig:
        wide = knwalk(
            "status",
            "helloworld-go",
            "--graph",
            "--kubeconfig",
            str(kubeconfig),
            env={"COLUMNS": "200"},
        )
        narrow = knwalk("status", "helloworld-go", "--graph", "--kubeconfig", str(kubeconfig))
    assert wide.code == 0, wide.err
    assert skeleton(wide.out) == RECORDED_TREE
    assert "✗" not in wide.out and "Where the chain breaks" not in wide.out
    # each role once, the first time its kind appears
    assert wide.out.count("decides how many Pods the Revision needs") == 1
    assert "net-istio's translation of the Ingress for Istio's gateways" in wide.out
    assert "the same routes for calls from inside the mesh" in wide.out
    # at 80 columns nothing is wider
    assert narrow.code == 0, narrow.err
    assert max(len(line) for line in narrow.out.splitlines()) <= 80, narrow.out
    assert "\x1b" not in narrow.out


def broken(objects: list[Obj]) -> list[Obj]:
    """The recording after the activator lost its Pods and net-istio failed the Ingress:
    the SKS reconciler mirrors the activator's (now empty) Endpoints into the scaled-to-zero
    Revision's public Endpoints, and Route and Service report the Ingress's failure."""
    out = copy.deepcopy(objects)
    failed = {
        "type": "Ready",
        "status": "False",
        "reason": "ReconcileIngressFailed",
        "message": "Ingress reconciliation failed",
    }
    for obj in out:
        meta = obj["metadata"]
        if obj["kind"] == "Endpoints" and meta["name"] in ("activator-service", V1):
            obj["subsets"] = []
        if obj["kind"] == "Ingress":
            obj["status"]["conditions"] = [
                {**failed, "type": "LoadBalancerReady", "status": "Unknown"},
                {**failed, "type": "NetworkConfigured", "status": "Unknown"},
                failed,
            ]
        if obj["kind"] == "Route":
            obj["status"]["conditions"] = [
                {**failed, "type": "IngressReady"},
                failed,
            ]
        if obj["kind"] == "Service" and obj["apiVersion"] == "serving.knative.dev/v1":
            obj["status"]["conditions"] = [{**failed, "type": "RoutesReady"}, failed]
    return out


def test_recorded_cluster_where_the_chain_breaks(tmp_path: Path) -> None:
    with fake_api(tmp_path, broken(recorded())) as kubeconfig:
        doc = graph_of(kubeconfig)
        text = knwalk(
            "status",
            "helloworld-go",
            "--graph",
            "--kubeconfig",
            str(kubeconfig),
            env={"COLUMNS": "200"},
        )
    # the Revision is Ready, but requests for it would find no activator behind its SKS
    revision = node(doc, R + "00001")
    assert (revision["ready"], revision["problem"]) == ("True", "")
    sks = node(doc, SKS + "00001")
    assert sks["problem"] == (
        f"requests go to the activator, but Endpoints {V1} has no address: the activator has "
        "no ready endpoints (kubectl -n knative-serving get endpoints activator-service)"
    )
    assert node(doc, "Endpoints/" + V1)["detail"] == "0 addresses"
    assert node(doc, SKS + "00002")["problem"] == ""  # serving: its Pod is behind it
    ingress = node(doc, ING)
    assert (ingress["ready"], ingress["reason"]) == ("False", "ReconcileIngressFailed")
    assert ingress["problem"] == "ReconcileIngressFailed: Ingress reconciliation failed"
    broken_at = [named(doc)[n["id"]] for n in doc["nodes"] if n["problem"]]
    assert broken_at == ["ksvc/helloworld-go", "Route/helloworld-go", SKS + "00001", ING]
    # the tree says it at the node, and the footer lists every break
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    at = next(i for i, line in enumerate(lines) if f"ServerlessService {V1}" in line)
    block = lines[at : next(i for i in range(at + 1, len(lines)) if "── " in lines[i])]
    assert block[-1].endswith(
        f"✗ requests go to the activator, but Endpoints {V1} has no address: the activator "
        "has no ready endpoints (kubectl -n knative-serving get endpoints activator-service)"
    ), block
    assert "Ingress helloworld-go  Ready=False ReconcileIngressFailed" in text.out
    assert "✗ ReconcileIngressFailed: Ingress reconciliation failed" in text.out
    footer = lines[lines.index("Where the chain breaks (4):") + 1 :]
    assert all(line.startswith("  ") for line in footer), footer
    assert " ".join(" ".join(footer).split()) == " ".join(
        [
            "Knative Service helloworld-go: ReconcileIngressFailed: Ingress reconciliation failed",
            "Route helloworld-go: ReconcileIngressFailed: Ingress reconciliation failed",
            f"ServerlessService {V1}: {sks['problem']}",
            "Ingress helloworld-go: ReconcileIngressFailed: Ingress reconciliation failed",
        ]
    )


def test_kinds_not_served_or_not_readable_are_said(tmp_path: Path) -> None:
    """A cluster without Istio's CRDs, where the user may not list EndpointSlices."""
    objects = [o for o in recorded() if not o["apiVersion"].startswith("networking.istio.io")]
    with fake_api(tmp_path, objects, forbidden=frozenset({"endpointslices"})) as kubeconfig:
        doc = graph_of(kubeconfig)
        text = knwalk("status", "helloworld-go", "--graph", "--kubeconfig", str(kubeconfig))
    kinds = {k["kind"]: (k["status"], k["apiVersion"]) for k in doc["kinds"]}
    assert kinds["VirtualService"] == ("not installed", None)
    assert kinds["Gateway"] == ("not installed", None)
    assert kinds["EndpointSlice"] == ("forbidden", "discovery.k8s.io/v1")
    labels = set(named(doc).values())
    assert not any(
        label.startswith(("VirtualService/", "Gateway/", "EndpointSlice/")) for label in labels
    )
    assert {
        "Ingress/helloworld-go",
        SKS + "00001",
        "Pod/" + V2 + "-deployment-6d5bd5b7f-x7k2p",
    } <= labels
    assert [n for n in doc["nodes"] if n["problem"]] == []
    assert text.code == 0, text.err
    flat = " ".join(text.out.split())
    assert "Not installed on this cluster: VirtualService, Gateway." in flat
    assert "Not readable with your permissions: EndpointSlice." in flat


def test_istio_served_as_v1beta1_only(tmp_path: Path) -> None:
    objects = recorded()
    for obj in objects:
        if obj["apiVersion"] == "networking.istio.io/v1":
            obj["apiVersion"] = "networking.istio.io/v1beta1"
    with fake_api(tmp_path, objects) as kubeconfig:
        doc = graph_of(kubeconfig)
    kinds = {k["kind"]: (k["status"], k["apiVersion"]) for k in doc["kinds"]}
    assert kinds["VirtualService"] == ("read", "networking.istio.io/v1beta1")
    assert node(doc, "VirtualService/helloworld-go-ingress")["apiVersion"] == (
        "networking.istio.io/v1beta1"
    )
    assert edges(doc, "reference") == RECORDED_REFERENCES


def test_a_missing_revision_the_route_names_is_shown_missing(tmp_path: Path) -> None:
    objects = [
        o for o in recorded() if not (o["kind"] == "Revision" and o["metadata"]["name"] == V1)
    ]
    with fake_api(tmp_path, objects) as kubeconfig:
        doc = graph_of(kubeconfig)
    gone = node(doc, R + "00001")
    assert gone["missing"] is True
    assert gone["problem"] == "Route helloworld-go sends traffic to it, but it does not exist"
    assert ("Route/helloworld-go", R + "00001", f"50% → {V1} (tag candidate)") in edges(
        doc, "reference"
    )


def test_tour_picture_from_a_recorded_graph(tmp_path: Path) -> None:
    """Step 7's rendering on a real cluster's graph: each Revision with its TARGET, then one
    line each on queue-proxy, scale to zero through the SKS and net-istio."""
    from kn_walk.cli.tour import _summary
    from kn_walk.render import console
    from kn_walk.tour import ROLES, StepResult, step_info

    with fake_api(tmp_path, recorded()) as kubeconfig:
        doc = graph_of(kubeconfig)
        status = json.loads(
            knwalk("status", "helloworld-go", "-o", "json", "--kubeconfig", str(kubeconfig)).out
        )
    result = StepResult(step_info(7), "", (), {"status": status, "roles": ROLES, "graph": doc}, 0)
    buffer = io.StringIO()
    out = console()
    out.file = buffer
    out.width = 80
    _summary(out, result)
    text = buffer.getvalue()
    assert f"│   ├── Revision {V2}  TARGET=Go Sample v2  tags current,latest" in text
    assert re.search(r"│   │   pods: 1 running, 1 wanted\n", text)
    assert "└── Route helloworld-go" in text
    assert f"    ├── 50% → {V2} (tag current)" in text
    flat = " ".join(text.split())
    assert "queue-proxy, Knative's sidecar in every Pod" in flat
    assert "sets the ServerlessService to Proxy" in flat
    assert "net-istio translates the Route's Ingress into VirtualServices" in flat
    assert max(len(line) for line in text.splitlines()) <= 80


# --------------------------------------------------------------------------- on the sandbox


def _reachable(doc: Obj) -> set[str]:
    """Node ids reachable from the root through owner edges."""
    seen, todo = {doc["root"]}, [doc["root"]]
    while todo:
        current = todo.pop()
        for e in doc["edges"]:
            if e["kind"] == "owner" and e["from"] == current and e["to"] not in seen:
                seen.add(e["to"])
                todo.append(e["to"])
    return seen


def test_sandbox_graph_after_the_walkthrough(split_app: Cluster) -> None:
    """What the sandbox makes today, and any kind it makes later: each hangs from the
    Service through the owners upstream gives it."""
    # the objects under a Revision appear a moment after it is Ready (the sandbox makes
    # them once its controllers are idle), and a read lists one kind after another:
    # read until every object found hangs from the Service
    deadline = time.monotonic() + 30
    while True:
        result = split_app.run("status", "helloworld-go", "--graph", "-o", "json")
        assert result.code == 0, result.err
        doc = json.loads(result.out)
        reachable = _reachable(doc)
        loose = [
            n["id"]
            for n in doc["nodes"]
            if n["kind"] not in ("Gateway", "Endpoints")
            and n["namespace"] == split_app.namespace
            and n["id"] not in reachable
        ]
        if not loose or time.monotonic() > deadline:
            break
    assert (doc["service"], doc["namespace"]) == ("helloworld-go", split_app.namespace)
    owners = edges(doc, "owner")
    assert {
        ("ksvc/helloworld-go", "Configuration/helloworld-go"),
        ("ksvc/helloworld-go", "Route/helloworld-go"),
        ("Configuration/helloworld-go", R + "00001"),
        ("Configuration/helloworld-go", R + "00002"),
    } <= owners
    assert {
        ("Route/helloworld-go", R + "00002", f"50% → {V2} (tag current)"),
        ("Route/helloworld-go", R + "00001", f"50% → {V1} (tag candidate)"),
        ("Route/helloworld-go", R + "00002", f"0% → @latest ({V2}) (tag latest)"),
    } <= edges(doc, "reference")
    kinds = {n["id"]: n["kind"] for n in doc["nodes"]}
    for e in doc["edges"]:
        if e["kind"] != "owner":
            continue
        child, parent = kinds[e["to"]], kinds[e["from"]]
        allowed = OWNER_KINDS.get(child, {"Route", "ServerlessService"})  # Services
        assert parent in allowed, (named(doc)[e["from"]], named(doc)[e["to"]])
    # everything but what is installed once (Gateways and their Services) and the Endpoints
    # Kubernetes makes for a selector hangs from the Service through owners
    for n in doc["nodes"]:
        if n["kind"] in ("Gateway", "Endpoints") or n["namespace"] != split_app.namespace:
            continue
        assert n["id"] in reachable, named(doc)[n["id"]]
    for label in (
        "ksvc/helloworld-go",
        "Configuration/helloworld-go",
        "Route/helloworld-go",
        R + "00001",
        R + "00002",
    ):
        assert (node(doc, label)["ready"], node(doc, label)["problem"]) == ("True", ""), label
    for n in doc["nodes"]:
        if n["kind"] == "Endpoints" and n["name"].endswith("-private"):
            # a selector's Endpoints list Pods, never the activator (the sandbox's share an IP)
            assert "activator" not in n["detail"], n
    assert {k["kind"] for k in doc["kinds"]} >= {"Service", "Revision", "Pod", "Ingress"}
    assert all(k["status"] in ("read", "not installed") for k in doc["kinds"]), doc["kinds"]


def test_sandbox_graph_tree_at_80_columns(split_app: Cluster) -> None:
    result = split_app.run("status", "helloworld-go", "--graph")
    assert result.code == 0, result.err
    lines = result.lines
    assert lines[0] == "Knative Service helloworld-go  Ready=True"
    assert "├── Configuration helloworld-go  Ready=True" in lines
    assert f"│   ├── Revision {V2}  Ready=True" in lines
    assert "└── Route helloworld-go  Ready=True" in lines
    assert f"    ├── 50% → {V2} (tag current)" in lines
    assert f"    ├── 0% → @latest ({V2}) (tag latest)" in lines
    assert max(len(line) for line in lines) <= 80, result.out
    assert "\x1b" not in result.out


def test_sandbox_graph_says_why_a_service_is_not_ready(cluster: Cluster) -> None:
    """A Route the Service cannot own: the Service node says NotOwned."""
    cluster.claim_route("helloworld-go")
    cluster.deploy("--no-wait")
    doc = json.loads(cluster.run("status", "helloworld-go", "--graph", "-o", "json").out)
    root = node(doc, "ksvc/helloworld-go")
    assert (root["ready"], root["reason"]) == ("False", "NotOwned")
    assert root["problem"].startswith("NotOwned: ")
    assert 'Route "helloworld-go"' in root["problem"]
    assert "Route/helloworld-go" not in named(doc).values()  # not the Service's
    text = cluster.run("status", "helloworld-go", "--graph")
    assert f"✗ {root['problem']}" in " ".join(text.out.split())
    assert "Where the chain breaks (1):" in text.lines


def test_every_service_of_the_namespace(cluster: Cluster) -> None:
    cluster.deploy()
    cluster.deploy("second")
    result = cluster.run("status", "--graph", "-o", "json")
    assert result.code == 0, result.err
    docs = json.loads(result.out)["items"]
    assert [d["service"] for d in docs] == ["helloworld-go", "second"]
    for doc in docs:
        # each graph holds its own Service's objects only
        others = [
            n["name"]
            for n in doc["nodes"]
            if n["namespace"] == cluster.namespace
            and not n["name"].startswith(doc["service"])
            and not n["name"].endswith("-" + doc["service"])
        ]  # tag placeholders
        assert others == [], others
        assert R + "00001" not in named(doc).values() or doc["service"] == "helloworld-go"
    text = cluster.run("status", "--graph")
    assert text.code == 0, text.err
    assert "Knative Service helloworld-go  Ready=True" in text.lines
    assert "Knative Service second  Ready=True" in text.lines


def test_errors_are_the_status_errors(cluster: Cluster, tmp_path: Path) -> None:
    from tests.test_cli_support import plain_kubernetes

    missing = cluster.run("status", "nope", "--graph")
    missing.assert_error(1)
    assert f"Knative Service 'nope' not found in namespace '{cluster.namespace}'" in missing.error
    with plain_kubernetes(tmp_path) as path:
        result = knwalk("status", "x", "--graph", "--kubeconfig", str(path))
    result.assert_error(1)
    assert "Knative Serving is not installed in context plain" in result.error
