"""The whole object graph of a Knative Service: what Knative, Kubernetes and net-istio made for it.

One ``kubectl apply`` of a Service makes Knative Serving, Kubernetes and the
networking layer create a dozen objects; troubleshooting means following them.
:func:`read` reads them for one Service (:func:`read_all`: every Service of a
namespace, or of all namespaces) and returns a :class:`Graph`: nodes (each
object with its readiness, the one line that says what it is for, and, where
the chain breaks, why) and edges, *owner* edges from ``ownerReferences`` and
*reference* edges that name another object (the Route's traffic → Revisions, the
Ingress's splits → the Revisions' Services, a VirtualService → its Gateways, a
Gateway → the Service that receives its traffic, Endpoints → their Service).

What is read, in the Service's namespace, by the label every one of these
objects carries, ``serving.knative.dev/service=NAME`` (Knative copies the
Revision's labels onto what it makes, and net-istio the Ingress's):
Configurations, Revisions, Routes; Deployments, ReplicaSets, Pods;
PodAutoscalers and Metrics (``autoscaling.internal.knative.dev``);
ServerlessServices and Ingresses (``networking.internal.knative.dev``); Images
(``caching.internal.knative.dev``); VirtualServices (``networking.istio.io``,
v1 or v1beta1); Services, Endpoints and EndpointSlices. Then, by name, the
Istio Gateways the VirtualServices name, the Service behind each Gateway
(net-istio's ``config-istio``, or its defaults), and the activator's Endpoints.
A kind the cluster does not serve (discovery) is skipped and reported as
``not installed``; one the user may not read, as ``forbidden``.

``knwalk status NAME --graph -o json|yaml`` prints :meth:`Graph.document`, stable:

.. code-block:: text

    {"service": str, "namespace": str, "root": str,       # root: the Service's node id
     "nodes": [{"id": str, "kind": str, "apiVersion": str, "name": str, "namespace": str,
                "ready": "True" | "False" | "Unknown" | null,  # null: the kind has none
                "reason": str, "message": str,
                "role": str,          # what the object is for, one line
                "detail": str,        # its state in a few words ("mode Proxy", "1/1 ready")
                "problem": str,       # where the chain breaks: why ("" when it does not)
                "missing": bool}],    # named by a reference but not found
     "edges": [{"from": str, "to": str, "kind": "owner" | "reference", "label": str}],
     "kinds": [{"kind": str, "apiVersion": str | null,
                "status": "read" | "not installed" | "forbidden", "count": int}]}

Several Services: ``{"items": [<the above>, ...]}``. Node ids are
``NAMESPACE/Kind.group/NAME`` (``NAMESPACE/Kind/NAME`` for the core group).

Nothing here prints; :mod:`kn_walk.cli.graph_view` draws the tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kn_walk.errors import ApiError, KnwalkError
from kn_walk.knative_rules import children as K
from kn_walk.knative_rules import labels
from kn_walk.knative_rules.labels import CONFIGURATION_GENERATION_LABEL, SERVICE_LABEL
from kn_walk.knative_rules.traffic import revision_ref

if TYPE_CHECKING:
    from kn_walk.kube import Kube, Resource

Obj = dict[str, Any]

SERVING = labels.GROUP
AUTOSCALING = K.AUTOSCALING_GROUP
NETWORKING = K.NETWORKING_GROUP
CACHING = K.CACHING_GROUP
ISTIO = K.ISTIO_NETWORKING_GROUP

OWNER, REFERENCE = "owner", "reference"
READ, NOT_INSTALLED, FORBIDDEN = "read", "not installed", "forbidden"

#: Knative's system namespace, net-istio's configuration there, and its default gateways
#: (knative-extensions/net-istio ``pkg/reconciler/ingress/config/istio.go``)
SYSTEM_NAMESPACE = K.SYSTEM_NAMESPACE
CONFIG_ISTIO = "config-istio"
DEFAULT_GATEWAY_SERVICES = {
    f"{SYSTEM_NAMESPACE}/{K.INGRESS_GATEWAY}": K.INGRESS_GATEWAY_SERVICE_HOST.removesuffix(
        ".svc.cluster.local"
    ),
    f"{SYSTEM_NAMESPACE}/{K.LOCAL_GATEWAY}": K.LOCAL_GATEWAY_SERVICE_HOST.removesuffix(
        ".svc.cluster.local"
    ),
}
#: the Service the activator's Pods sit behind (knative/serving ``pkg/networking``)
ACTIVATOR_SERVICE = K.ACTIVATOR_SERVICE
#: on the Services and Endpoints a ServerlessService makes: which of its two
#: (knative/serving ``pkg/apis/networking`` ServiceTypeKey)
SERVICE_TYPE_LABEL = K.SERVICE_TYPE_LABEL
#: the ServerlessService's modes (knative/networking ``SKSOperationMode``)
SERVE, PROXY = "Serve", "Proxy"
#: the PodAutoscaler's reason for Active=False (and so Ready=False) at zero Pods
NO_TRAFFIC = "NoTraffic"
#: container waiting reasons that mean the Pod will not start by itself
POD_FAILURES = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """A kind the graph reads: where the API serves it and what it is for."""

    kind: str
    group: str
    versions: tuple[str, ...]  # preferred first
    role: str
    #: listed by the Service's label (False: read by name, as references lead to them)
    selected: bool = True

    @property
    def key(self) -> str:
        """``Kind.group`` (``Kind`` for the core group): unique where kinds are not."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


KSERVICE = Kind(
    "Service",
    SERVING,
    ("v1",),
    "what you write: a template and traffic rules; owns the Configuration and the Route",
)
CONFIGURATION = Kind(
    "Configuration",
    SERVING,
    ("v1",),
    "the current template; each change stamps a new Revision",
)
REVISION = Kind(
    "Revision",
    SERVING,
    ("v1",),
    "an immutable snapshot of code and configuration; runs the pods",
)
ROUTE = Kind(
    "Route",
    SERVING,
    ("v1",),
    "sends the URL's requests to Revisions by percent; a URL per tag",
)
DEPLOYMENT = Kind(
    "Deployment",
    "apps",
    ("v1",),
    "runs the Revision's Pods: your container plus queue-proxy, Knative's sidecar",
)
REPLICASET = Kind(
    "ReplicaSet",
    "apps",
    ("v1",),
    "keeps the Deployment's Pods at the count the autoscaler asks for",
)
POD = Kind(
    "Pod",
    "",
    ("v1",),
    "one running copy of the Revision, with the containers its template lists",
)
PODAUTOSCALER = Kind(
    "PodAutoscaler",
    AUTOSCALING,
    ("v1alpha1",),
    "decides how many Pods the Revision needs, from the requests it sees",
)
METRIC = Kind(
    "Metric",
    AUTOSCALING,
    ("v1alpha1",),
    "tells the autoscaler which Pods to measure, over which windows",
)
SKS = Kind(
    "ServerlessService",
    NETWORKING,
    ("v1alpha1",),
    "points the Revision's address at its Pods (Serve) or at the activator (Proxy)",
)
IMAGE = Kind(
    "Image",
    CACHING,
    ("v1alpha1",),
    "asks an image cache to pre-pull the Revision's image (a no-op without one)",
)
SERVICE = Kind("Service", "", ("v1",), "a Kubernetes Service")
ENDPOINTS = Kind("Endpoints", "", ("v1",), "the addresses behind a Service")
ENDPOINTSLICE = Kind(
    "EndpointSlice",
    "discovery.k8s.io",
    ("v1",),
    "the Service's addresses as kube-proxy and Istio read them",
)
INGRESS = Kind(
    "Ingress",
    NETWORKING,
    ("v1alpha1",),
    "the Route as networking rules (hosts, splits, headers) for the ingress class",
)
VIRTUALSERVICE = Kind(
    "VirtualService",
    ISTIO,
    ("v1", "v1beta1"),
    "net-istio's translation of the Ingress into Istio routes",
)
GATEWAY = Kind(
    "Gateway",
    ISTIO,
    ("v1", "v1beta1"),
    "Istio's listener on the gateway Pods: the ports and hosts they accept",
    selected=False,
)
#: read by name only: net-istio's config-istio
CONFIGMAP = Kind("ConfigMap", "", ("v1",), "configuration", selected=False)

KINDS: tuple[Kind, ...] = (
    KSERVICE,
    CONFIGURATION,
    REVISION,
    ROUTE,
    DEPLOYMENT,
    REPLICASET,
    POD,
    PODAUTOSCALER,
    METRIC,
    SKS,
    IMAGE,
    SERVICE,
    ENDPOINTS,
    ENDPOINTSLICE,
    INGRESS,
    VIRTUALSERVICE,
    GATEWAY,
)
_BY_KEY = {k.key: k for k in KINDS}

#: one line each on what the objects beyond the four are for (the tour's picture says them)
EXPLAIN: dict[str, str] = {
    "queue-proxy": (
        "queue-proxy, Knative's sidecar in every Pod, counts the requests in flight for the "
        "autoscaler and queues those beyond the container's concurrency."
    ),
    "scale-to-zero": (
        "Scale to zero: with no requests the PodAutoscaler wants 0 Pods and sets the "
        "ServerlessService to Proxy, so the Revision's address points at the activator, "
        "which holds the next request until a Pod is up (then Serve again)."
    ),
    "net-istio": (
        "net-istio translates the Route's Ingress into VirtualServices; Istio turns those "
        "into the routes its gateway (Envoy) serves, with the same weights."
    ),
}


def role(kind: str) -> str:
    """The one-line role of one of the four Knative Serving kinds, or of any kind above."""
    found = _BY_KEY.get(f"{kind}.{SERVING}") or _BY_KEY.get(kind)
    return found.role if found else ""


# --------------------------------------------------------------------------- reading


@dataclass
class KindStatus:
    kind: Kind
    api_version: str | None
    status: str
    count: int = 0

    def as_dict(self) -> Obj:
        return {
            "kind": self.kind.kind,
            "apiVersion": self.api_version,
            "status": self.status,
            "count": self.count,
        }


class _Reader:
    """Each kind through :meth:`Kube.resource` (discovery) once, then lists and gets;
    a 403 is noted as :data:`FORBIDDEN`, never raised."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.status: dict[str, KindStatus] = {}
        self._resources: dict[str, Resource] = {}

    def resource(self, kind: Kind) -> Resource | None:
        if kind.key not in self.status:
            for version in kind.versions:
                api = f"{kind.group}/{version}" if kind.group else version
                found = self.kube.resource(api, kind.kind)
                if found is not None:
                    self._resources[kind.key] = found
                    self.status[kind.key] = KindStatus(kind, api, READ)
                    break
            else:
                self.status[kind.key] = KindStatus(kind, None, NOT_INSTALLED)
        return self._resources.get(kind.key)

    def _forbidden(self, kind: Kind, err: ApiError) -> bool:
        if err.status == 403:
            self.status[kind.key].status = FORBIDDEN
            return True
        return False

    @staticmethod
    def _typed(obj: Obj, resource: Resource) -> Obj:
        # kube-apiserver leaves kind/apiVersion out of built-in list items
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
        return obj

    def list(self, kind: Kind, namespace: str, selector: str) -> list[Obj]:
        resource = self.resource(kind)
        if resource is None or self.status[kind.key].status != READ:
            return []
        try:
            items, _ = self.kube.list_of(resource, namespace, label_selector=selector or None)
        except ApiError as err:
            if self._forbidden(kind, err) or err.not_found:
                return []
            raise
        return [self._typed(i, resource) for i in items]

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        resource = self.resource(kind)
        if resource is None or self.status[kind.key].status != READ:
            return None
        try:
            found = self.kube.get_of(resource, name, namespace)
        except ApiError as err:
            if self._forbidden(kind, err):
                return None
            raise
        return None if found is None else self._typed(found, resource)


# --------------------------------------------------------------------------- the graph


@dataclass
class Node:
    id: str
    kind: Kind
    api_version: str
    name: str
    namespace: str
    obj: Obj
    ready: str | None = None
    reason: str = ""
    message: str = ""
    role: str = ""
    detail: str = ""
    problem: str = ""
    missing: bool = False

    def as_dict(self) -> Obj:
        return {
            "id": self.id,
            "kind": self.kind.kind,
            "apiVersion": self.api_version,
            "name": self.name,
            "namespace": self.namespace,
            "ready": self.ready,
            "reason": self.reason,
            "message": self.message,
            "role": self.role,
            "detail": self.detail,
            "problem": self.problem,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # OWNER | REFERENCE
    label: str

    def as_dict(self) -> Obj:
        return {"from": self.source, "to": self.target, "kind": self.kind, "label": self.label}


@dataclass
class Graph:
    service: str
    namespace: str
    root: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    kinds: list[KindStatus] = field(default_factory=list)

    def document(self) -> Obj:
        """The stable ``-o json`` shape (see the module docstring)."""
        return {
            "service": self.service,
            "namespace": self.namespace,
            "root": self.root,
            "nodes": [n.as_dict() for n in self.nodes.values()],
            "edges": [e.as_dict() for e in self.edges],
            "kinds": [k.as_dict() for k in self.kinds],
        }


def node_id(kind: Kind, namespace: str, name: str) -> str:
    return f"{namespace}/{kind.key}/{name}"


def _meta(obj: Mapping[str, Any]) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _dict(value: object) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _condition(obj: Mapping[str, Any], ctype: str) -> Obj | None:
    for c in _list(_dict(obj.get("status")).get("conditions")):
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("s") else "s")


# --------------------------------------------------------------------------- per-kind state


@dataclass
class _State:
    ready: str | None = None
    reason: str = ""
    message: str = ""
    detail: str = ""
    problem: str = ""


def _ready_condition(obj: Mapping[str, Any], ctype: str = "Ready") -> _State:
    cond = _condition(obj, ctype)
    if cond is None:
        return _State("Unknown", "NoStatus", "no status reported yet")
    state = _State(
        _str(cond.get("status")) or "Unknown",
        _str(cond.get("reason")),
        _str(cond.get("message")),
    )
    if state.ready == "False":
        state.problem = ": ".join(p for p in (state.reason, state.message) if p) or "not ready"
    return state


def _knative_state(node: Node, ctx: _Context) -> _State:
    obj = node.obj
    state = _ready_condition(obj)
    status = _dict(obj.get("status"))
    kind = node.kind
    if kind is KSERVICE or kind is ROUTE:
        state.detail = _str(status.get("url"))
    elif kind is CONFIGURATION:
        state.detail = (
            f"latest created {_str(status.get('latestCreatedRevisionName')) or '-'}, "
            f"ready {_str(status.get('latestReadyRevisionName')) or '-'}"
        )
    elif kind is REVISION:
        actual, desired = _int(status.get("actualReplicas")), _int(status.get("desiredReplicas"))
        if actual == 0 and desired == 0:
            state.detail = "no pods: scaled to zero"
        elif actual is not None or desired is not None:
            state.detail = (
                f"pods: {'?' if actual is None else actual} running, "
                f"{'?' if desired is None else desired} wanted"
            )
    elif kind is PODAUTOSCALER:
        _autoscaler_state(obj, state)
    elif kind is SKS:
        _sks_state(node, state, ctx)
    elif kind is INGRESS:
        rules = _list(_dict(obj.get("spec")).get("rules"))
        klass = _str(_dict(_meta(obj).get("annotations")).get(K.INGRESS_CLASS_ANNOTATION))
        state.detail = _plural(len(rules), "rule") + (f", class {klass}" if klass else "")
    elif kind is IMAGE:
        state.detail = _str(_dict(obj.get("spec")).get("image"))
        if _condition(obj, "Ready") is None:
            # Images have no controller without an image cache: no status is normal
            state = _State(None, detail=state.detail)
    return state


def _autoscaler_state(obj: Mapping[str, Any], state: _State) -> None:
    status = _dict(obj.get("status"))
    annotations = _dict(_meta(obj).get("annotations"))
    desired, actual = _int(status.get("desiredScale")), _int(status.get("actualScale"))
    parts = []
    klass = _str(annotations.get(K.CLASS_ANNOTATION)).split(".")[0]
    metric = _str(annotations.get(K.METRIC_ANNOTATION))
    if klass or metric:
        parts.append(", ".join(p for p in (klass, metric) if p))
    if desired is not None or actual is not None:
        parts.append(
            f"wants {'?' if desired is None else desired}, has {'?' if actual is None else actual}"
        )
    active = _condition(obj, "Active")
    if (
        active is not None
        and active.get("status") == "False"
        and active.get("reason") == NO_TRAFFIC
    ):
        parts.append(f"scale to zero: {NO_TRAFFIC}")
        if state.reason == NO_TRAFFIC:
            state.problem = ""  # Ready follows Active: False at zero Pods, as it should be
    state.detail = "; ".join(parts)


def _sks_state(node: Node, state: _State, ctx: _Context) -> None:
    obj = node.obj
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    mode = _str(spec.get("mode"))
    if mode == PROXY:
        state.detail = "mode Proxy: requests go through the activator"
    elif mode == SERVE:
        state.detail = "mode Serve: requests go straight to the Pods"
    elif mode:
        state.detail = f"mode {mode}"
    if state.ready == "Unknown" and state.reason == "NoHealthyBackends":
        state.detail += " (no Pod ready)"
    public = _str(status.get("serviceName")) or node.name
    eps = ctx.objects.get(node_id(ENDPOINTS, node.namespace, public))
    if eps is None or state.problem:
        return
    if _ready_addresses(eps.obj) == 0:
        if mode == PROXY or state.reason == "NoHealthyBackends":
            state.problem = (
                f"requests go to the activator, but Endpoints {public} has no address: "
                f"the activator has no ready endpoints (kubectl -n {SYSTEM_NAMESPACE} get "
                f"endpoints {ACTIVATOR_SERVICE})"
            )
        else:
            state.problem = f"mode Serve, but Endpoints {public} has no address: no Pod is ready"


def _ready_addresses(endpoints: Mapping[str, Any]) -> int:
    return sum(len(_list(_dict(s).get("addresses"))) for s in _list(endpoints.get("subsets")))


def _address_ips(endpoints: Mapping[str, Any]) -> set[str]:
    return {
        _str(_dict(a).get("ip"))
        for s in _list(endpoints.get("subsets"))
        for a in _list(_dict(s).get("addresses"))
    }


def _deployment_state(node: Node, ctx: _Context) -> _State:
    obj = node.obj
    status = _dict(obj.get("status"))
    wanted = _int(_dict(obj.get("spec")).get("replicas"))
    ready = _int(status.get("readyReplicas")) or 0
    state = _ready_condition(obj, "Available")
    progressing = _condition(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        state.problem = f"ProgressDeadlineExceeded: {_str(progressing.get('message'))}"
    if state.reason == "NoStatus" and wanted == 0:
        state = _State("True")
    state.detail = f"{ready}/{0 if wanted is None else wanted} ready"
    containers = [
        _str(_dict(c).get("name"))
        for c in _list(
            _dict(_dict(_dict(obj.get("spec")).get("template")).get("spec")).get("containers")
        )
    ]
    if containers:
        state.detail += ": " + ", ".join(containers)
    return state


def _replicaset_state(node: Node, ctx: _Context) -> _State:
    obj = node.obj
    wanted = _int(_dict(obj.get("spec")).get("replicas")) or 0
    ready = _int(_dict(obj.get("status")).get("readyReplicas")) or 0
    failure = _condition(obj, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        reason, message = _str(failure.get("reason")), _str(failure.get("message"))
        return _State("False", reason, message, f"{ready}/{wanted} ready", f"{reason}: {message}")
    if ready >= wanted:
        return _State("True", detail=f"{ready}/{wanted} ready")
    return _State("Unknown", "Scaling", detail=f"{ready}/{wanted} ready")


def _pod_state(node: Node, ctx: _Context) -> _State:
    obj = node.obj
    status = _dict(obj.get("status"))
    phase = _str(status.get("phase")) or "Pending"
    statuses = [_dict(c) for c in _list(status.get("containerStatuses"))]
    ready = sum(1 for c in statuses if c.get("ready") is True)
    restarts = sum(_int(c.get("restartCount")) or 0 for c in statuses)
    total = len(_list(_dict(obj.get("spec")).get("containers"))) or len(statuses)
    state = _ready_condition(obj)
    waiting = next(
        (
            _dict(_dict(c.get("state")).get("waiting"))
            for c in statuses
            if _dict(_dict(c.get("state")).get("waiting")).get("reason")
        ),
        {},
    )
    shown = _str(waiting.get("reason")) or phase
    names = [_str(_dict(c).get("name")) for c in _list(_dict(obj.get("spec")).get("containers"))]
    state.detail = f"{shown}, {ready}/{total} ready: {', '.join(names)}" + (
        f"; {_plural(restarts, 'restart')}" if restarts else ""
    )
    state.problem = ""
    if shown in POD_FAILURES or phase == "Failed":
        state.reason = shown
        state.message = _str(waiting.get("message")) or state.message
        state.problem = f"{shown}: {state.message}" if state.message else shown
    return state


def _service_role(obj: Mapping[str, Any]) -> tuple[str, str]:
    spec = _dict(obj.get("spec"))
    kind = _str(_dict(_meta(obj).get("labels")).get(SERVICE_TYPE_LABEL))
    if _str(spec.get("type")) == "ExternalName":
        return (
            "placeholder: makes the Route's name resolve in the cluster; points at the gateway",
            f"ExternalName → {_str(spec.get('externalName'))}",
        )
    if kind == "Public":
        return (
            "the Revision's address, where the Ingress sends its share; the SKS sets its "
            "Endpoints to the Pods or the activator",
            "no selector: Endpoints set by the ServerlessService",
        )
    if kind == "Private":
        return (
            "selects the Revision's Pods directly; the SKS and the autoscaler read them here",
            "selector: the Revision's Pods",
        )
    return ("a Kubernetes Service", _str(spec.get("type")) or "ClusterIP")


def _service_state(node: Node, ctx: _Context) -> _State:
    if node.id in ctx.gateway_services:
        return _gateway_service_state(node, ctx)
    role_text, detail = _service_role(node.obj)
    node.role = role_text
    return _State(None, detail=detail)


def _endpoints_state(node: Node, ctx: _Context) -> _State:
    n = _ready_addresses(node.obj)
    detail = _plural(n, "address")
    private = _dict(_meta(node.obj).get("labels")).get(SERVICE_TYPE_LABEL) == "Private"
    if n and not private and ctx.activator_ips and _address_ips(node.obj) <= ctx.activator_ips:
        detail += " (the activator's)"
    not_ready = sum(
        len(_list(_dict(s).get("notReadyAddresses"))) for s in _list(node.obj.get("subsets"))
    )
    if not_ready:
        detail += f", {not_ready} not ready"
    return _State(None, detail=detail)


def _endpointslice_state(node: Node, ctx: _Context) -> _State:
    endpoints = [_dict(e) for e in _list(node.obj.get("endpoints"))]
    ready = sum(1 for e in endpoints if _dict(e.get("conditions")).get("ready") is not False)
    return _State(None, detail=f"{ready}/{len(endpoints)} endpoints ready")


def _virtualservice_state(node: Node, ctx: _Context) -> _State:
    spec = _dict(node.obj.get("spec"))
    gateways = [_str(g) for g in _list(spec.get("gateways"))]
    routes = [_dict(h) for h in _list(spec.get("http"))]
    dests: list[str] = []
    for http in routes:
        for dest in _list(http.get("route")):
            host = _str(_dict(_dict(dest).get("destination")).get("host")).split(".")[0]
            if host and host not in dests:
                dests.append(host)
    if gateways == ["mesh"]:
        node.role = "the same routes for calls from inside the mesh (sidecars)"
    else:
        node.role = "net-istio's translation of the Ingress for Istio's gateways (Envoy routes)"
    detail = f"{_plural(len(routes), 'route')} for {_plural(len(_list(spec.get('hosts'))), 'host')}"
    if gateways == ["mesh"]:
        detail += " on the mesh"
    if dests:
        detail += ", to " + ", ".join(dests)
    state = _State(None, detail=detail)
    reconciled = _condition(node.obj, "Reconciled")
    if reconciled is not None:
        state.ready = _str(reconciled.get("status")) or "Unknown"
        state.reason = _str(reconciled.get("reason"))
        state.message = _str(reconciled.get("message"))
        if state.ready == "False":
            state.problem = f"Istio did not accept it: {state.message or state.reason}"
    return state


def _gateway_state(node: Node, ctx: _Context) -> _State:
    spec = _dict(node.obj.get("spec"))
    servers = []
    for server in _list(spec.get("servers")):
        port = _dict(_dict(server).get("port"))
        hosts = ",".join(_str(h) for h in _list(_dict(server).get("hosts")))
        servers.append(f"{_str(port.get('protocol'))} {port.get('number')} for {hosts}")
    selector = ",".join(f"{k}={v}" for k, v in _dict(spec.get("selector")).items())
    detail = "; ".join(servers) + (f"; on Pods {selector}" if selector else "")
    return _State(None, detail=detail)


def _gateway_service_state(node: Node, ctx: _Context) -> _State:
    from kn_walk.ingress import service_url

    node.role = "where requests enter the cluster: the gateway Pods' address"
    spec = _dict(node.obj.get("spec"))
    url = service_url(node.obj)
    kind = _str(spec.get("type")) or "ClusterIP"
    if url:
        return _State(None, detail=f"{kind}, address {url}")
    if kind == "LoadBalancer":
        return _State(
            None,
            detail=f"{kind}, no external address yet",
            problem="its LoadBalancer has no external address yet: requests cannot reach it",
        )
    cluster_ip = _str(spec.get("clusterIP"))
    return _State(None, detail=f"{kind} {cluster_ip}, inside the cluster only")


def _no_state(node: Node, ctx: _Context) -> _State:
    return _State()


_STATES: dict[str, Callable[[Node, _Context], _State]] = {
    DEPLOYMENT.key: _deployment_state,
    REPLICASET.key: _replicaset_state,
    POD.key: _pod_state,
    SERVICE.key: _service_state,
    ENDPOINTS.key: _endpoints_state,
    ENDPOINTSLICE.key: _endpointslice_state,
    VIRTUALSERVICE.key: _virtualservice_state,
    GATEWAY.key: _gateway_state,
}


# --------------------------------------------------------------------------- building


@dataclass
class _Context:
    objects: dict[str, Node]
    activator_ips: set[str]
    #: node ids of the Services behind Gateways
    gateway_services: set[str]


def _generation(obj: Mapping[str, Any]) -> int:
    labels = _dict(_meta(obj).get("labels"))
    value = _str(labels.get(CONFIGURATION_GENERATION_LABEL))
    return int(value) if value.isdigit() else 0


def _order(node: Node) -> tuple[Any, ...]:
    """Kinds in KINDS order; Revisions newest first; then by name."""
    rank = KINDS.index(node.kind) if node.kind in KINDS else len(KINDS)
    newest = -_generation(node.obj) if node.kind is REVISION else 0
    return (rank, newest, node.namespace, node.name)


def _add(graph: Graph, kind: Kind, obj: Obj) -> Node | None:
    meta = _meta(obj)
    name, namespace = _str(meta.get("name")), _str(meta.get("namespace"))
    if not name:
        return None
    nid = node_id(kind, namespace, name)
    if nid in graph.nodes:
        return graph.nodes[nid]
    node = Node(nid, kind, _str(obj.get("apiVersion")), name, namespace, obj, role=kind.role)
    graph.nodes[nid] = node
    return node


def _missing(graph: Graph, kind: Kind, namespace: str, name: str, why: str) -> Node:
    nid = node_id(kind, namespace, name)
    if nid not in graph.nodes:
        graph.nodes[nid] = Node(
            nid,
            kind,
            "",
            name,
            namespace,
            {},
            role=kind.role,
            problem=why,
            missing=True,
        )
    return graph.nodes[nid]


def _refer(graph: Graph, source: Node, target: Node, label: str) -> None:
    edge = Edge(source.id, target.id, REFERENCE, label)
    if edge not in graph.edges:
        graph.edges.append(edge)


def traffic_label(percent: int, revision: str | None, latest: bool, tag: str | None) -> str:
    """A Route's traffic target as the graph and the tour show it:
    ``50% → @latest (NAME) (tag TAG)``."""
    return f"{percent}% → {revision_ref(latest, revision)}" + (f" (tag {tag})" if tag else "")


def _owner_edges(graph: Graph) -> None:
    by_uid = {_str(_meta(n.obj).get("uid")): n for n in graph.nodes.values() if not n.missing}
    by_uid.pop("", None)
    for node in list(graph.nodes.values()):
        for ref in _list(_meta(node.obj).get("ownerReferences")):
            owner = by_uid.get(_str(_dict(ref).get("uid")))
            if owner is not None and owner is not node:
                graph.edges.append(Edge(owner.id, node.id, OWNER, "owns"))


def _route_edges(graph: Graph, route: Node) -> None:
    for t in _list(_dict(route.obj.get("status")).get("traffic")):
        t = _dict(t)
        name = _str(t.get("revisionName"))
        if not name:
            continue
        target = graph.nodes.get(node_id(REVISION, route.namespace, name)) or _missing(
            graph,
            REVISION,
            route.namespace,
            name,
            f"Route {route.name} sends traffic to it, but it does not exist",
        )
        label = traffic_label(
            _int(t.get("percent")) or 0, name, t.get("latestRevision") is True, _str(t.get("tag"))
        )
        _refer(graph, route, target, label)


def _ingress_edges(graph: Graph, ingress: Node, services_read: bool) -> None:
    """One edge per split; a traffic target's rules (its external and cluster-local
    hosts, which start with the same name) share their labels' host list."""
    groups: dict[str, tuple[list[str], list[Obj]]] = {}
    for rule in _list(_dict(ingress.obj.get("spec")).get("rules")):
        rule = _dict(rule)
        hosts = [_str(h) for h in _list(rule.get("hosts"))]
        for path in _list(_dict(rule.get("http")).get("paths")):
            splits = [_dict(s) for s in _list(_dict(path).get("splits"))]
            first = hosts[0].split(".")[0] if hosts else ""
            key = repr([first] + [(s.get("serviceName"), s.get("percent")) for s in splits])
            shown, _ = groups.setdefault(key, ([], splits))
            if hosts and _str(rule.get("visibility")) in ("", "ExternalIP"):
                shown.insert(0, hosts[0])  # the external host first
            elif hosts:
                shown.append(hosts[0])
    for hosts, splits in groups.values():
        for split in splits:
            name = _str(split.get("serviceName"))
            namespace = _str(split.get("serviceNamespace")) or ingress.namespace
            if not name:
                continue
            target = graph.nodes.get(node_id(SERVICE, namespace, name))
            if target is None:
                if not services_read:
                    continue
                target = _missing(
                    graph,
                    SERVICE,
                    namespace,
                    name,
                    f"Ingress {ingress.name} sends requests to it, but it does not exist",
                )
            port = split.get("servicePort")
            label = (
                f"{', '.join(hosts) or '*'}: {_int(split.get('percent')) or 0}% → Service {name}"
                + (f":{port}" if port is not None else "")
            )
            _refer(graph, ingress, target, label)


def _gateway_refs(vs: Node) -> list[str]:
    out = []
    for g in _list(_dict(vs.obj.get("spec")).get("gateways")):
        name = _str(g)
        if not name or name == "mesh":
            continue
        out.append(name if "/" in name else f"{vs.namespace}/{name}")
    return out


def _gateway_services(reader: _Reader) -> dict[str, str]:
    """Gateway ``namespace/name`` → its Service's ``name.namespace``, as net-istio reads
    ``config-istio`` (``external-gateways``/``local-gateways`` lists, else the older
    ``gateway.NS.NAME``/``local-gateway.NS.NAME`` keys, else its defaults)."""
    from kn_walk import safeload

    out = dict(DEFAULT_GATEWAY_SERVICES)
    cm = reader.get(CONFIGMAP, SYSTEM_NAMESPACE, CONFIG_ISTIO)
    data = {k: _str(v) for k, v in _dict((cm or {}).get("data")).items()}
    for key in ("external-gateways", "local-gateways"):
        if not data.get(key):
            continue
        try:
            entries = safeload.load_one(data[key], label=f"{CONFIG_ISTIO} {key}", hint="")
        except KnwalkError:
            continue
        for entry in _list(entries):
            entry = _dict(entry)
            namespace, name = _str(entry.get("namespace")), _str(entry.get("name"))
            if namespace and name and _str(entry.get("service")):
                out[f"{namespace}/{name}"] = _str(entry.get("service"))
    for key, value in data.items():
        for prefix in ("gateway.", "local-gateway."):
            rest = key[len(prefix) :] if key.startswith(prefix) else ""
            if rest and value:
                namespace, _, name = rest.partition(".")
                if not name:
                    namespace, name = SYSTEM_NAMESPACE, namespace
                out[f"{namespace}/{name}"] = value
    return out


def _gateway_edges(graph: Graph, reader: _Reader) -> set[str]:
    """Gateways the VirtualServices name and the Services behind them; returns those
    Services' node ids."""
    behind: set[str] = set()
    vss = [n for n in graph.nodes.values() if n.kind is VIRTUALSERVICE and not n.missing]
    refs = {ref for vs in vss for ref in _gateway_refs(vs)}
    if not refs:
        return behind
    gateway_read = reader.resource(GATEWAY) is not None
    services = _gateway_services(reader) if gateway_read else {}
    for ref in sorted(refs):
        namespace, _, name = ref.partition("/")
        obj = reader.get(GATEWAY, namespace, name) if gateway_read else None
        if obj is None:
            if not gateway_read or reader.status[GATEWAY.key].status != READ:
                continue
            gateway = _missing(
                graph, GATEWAY, namespace, name, "a VirtualService names it, but it does not exist"
            )
        else:
            gateway = _add(graph, GATEWAY, obj) or _missing(graph, GATEWAY, namespace, name, "")
            reader.status[GATEWAY.key].count += 1
        for vs in vss:
            if ref in _gateway_refs(vs):
                _refer(graph, vs, gateway, f"→ Gateway {ref}")
        host = services.get(ref, "")
        if gateway.missing or not host:
            continue
        svc_name, _, rest = host.partition(".")
        svc_namespace = rest.split(".")[0] or namespace
        svc = reader.get(SERVICE, svc_namespace, svc_name)
        if svc is None:
            if reader.status[SERVICE.key].status != READ:
                continue
            target = _missing(
                graph,
                SERVICE,
                svc_namespace,
                svc_name,
                f"Gateway {ref}'s Service ({CONFIG_ISTIO}) does not exist",
            )
        else:
            target = _add(graph, SERVICE, svc) or gateway
        if target is not gateway:
            behind.add(target.id)
            _refer(graph, gateway, target, f"→ Service {svc_namespace}/{svc_name}")
    return behind


def _activator_ips(reader: _Reader) -> set[str]:
    if reader.status.get(ENDPOINTS.key, KindStatus(ENDPOINTS, None, "")).status != READ:
        return set()
    eps = reader.get(ENDPOINTS, SYSTEM_NAMESPACE, ACTIVATOR_SERVICE)
    return _address_ips(eps) if eps else set()


def _states(graph: Graph, ctx: _Context) -> None:
    for node in graph.nodes.values():
        if node.missing:
            continue
        if node.kind.group in (SERVING, AUTOSCALING, NETWORKING, CACHING):
            state = _knative_state(node, ctx)
        else:
            state = _STATES.get(node.kind.key, _no_state)(node, ctx)
        node.ready, node.reason, node.message = state.ready, state.reason, state.message
        node.detail, node.problem = state.detail, state.problem


def build(reader: _Reader, service: Obj, objects: Mapping[str, Sequence[Obj]]) -> Graph:
    """The graph of ``service`` from ``objects`` (kind key → that kind's objects of the Service)."""
    meta = _meta(service)
    name, namespace = _str(meta.get("name")), _str(meta.get("namespace"))
    graph = Graph(name, namespace, node_id(KSERVICE, namespace, name))
    _add(graph, KSERVICE, service)
    for kind in KINDS:
        for obj in objects.get(kind.key, ()):
            _add(graph, kind, obj)
    _owner_edges(graph)
    for node in sorted(graph.nodes.values(), key=_order):
        if node.kind is ROUTE:
            _route_edges(graph, node)
    services_read = reader.status.get(SERVICE.key, KindStatus(SERVICE, None, "")).status == READ
    for node in sorted(graph.nodes.values(), key=_order):
        if node.kind is INGRESS:
            _ingress_edges(graph, node, services_read)
    for node in list(graph.nodes.values()):
        if node.kind is ENDPOINTS:
            svc = graph.nodes.get(node_id(SERVICE, node.namespace, node.name))
            if svc is not None:
                _refer(graph, node, svc, f"→ addresses of Service {node.name}")
    behind = _gateway_edges(graph, reader)
    _states(graph, _Context(graph.nodes, _activator_ips(reader), behind))
    graph.nodes = {n.id: n for n in sorted(graph.nodes.values(), key=_order)}
    root = graph.nodes.pop(graph.root)
    graph.nodes = {root.id: root, **graph.nodes}
    graph.kinds = [reader.status[k.key] for k in KINDS if k.key in reader.status]
    return graph


def collect(
    kube: Kube, services: Iterable[Obj], namespace: str
) -> tuple[_Reader, dict[tuple[str, str], dict[str, list[Obj]]]]:
    """Every kind's objects that carry the Service label, by (namespace, Service) and kind."""
    reader = _Reader(kube)
    wanted = {(_str(_meta(s).get("namespace")), _str(_meta(s).get("name"))) for s in services}
    names = sorted({name for _, name in wanted})
    selector = f"{SERVICE_LABEL}={names[0]}" if len(names) == 1 else SERVICE_LABEL
    found: dict[tuple[str, str], dict[str, list[Obj]]] = {w: {} for w in wanted}
    for kind in KINDS:
        if kind is KSERVICE or not kind.selected:
            reader.resource(kind)
            continue
        for item in reader.list(kind, namespace, selector):
            meta = _meta(item)
            key = (_str(meta.get("namespace")), _str(_dict(meta.get("labels")).get(SERVICE_LABEL)))
            if key in found:
                found[key].setdefault(kind.key, []).append(item)
                reader.status[kind.key].count += 1
    reader.status[KSERVICE.key].count = len(wanted)
    return reader, found


def graphs(kube: Kube, services: Sequence[Obj], namespace: str) -> list[Graph]:
    """The graph of each of ``services`` (Knative Service objects), all read together."""
    if not services:
        return []
    reader, found = collect(kube, services, namespace)
    out = []
    for svc in services:
        meta = _meta(svc)
        svc.setdefault("apiVersion", f"{SERVING}/v1")
        svc.setdefault("kind", "Service")
        key = (_str(meta.get("namespace")), _str(meta.get("name")))
        out.append(build(reader, svc, found.get(key, {})))
    return out


def read(kube: Kube, name: str) -> Graph:
    """The graph of Knative Service ``name`` in the client's namespace (error if missing)."""
    from kn_walk import knative

    svc = kube.get(SERVING, "v1", knative.SERVICES, name)
    if svc is None:
        knative.require_service(kube, name)  # the usual errors: not installed, or not found
        raise knative.service_missing(kube, name)
    return graphs(kube, [svc], kube.namespace)[0]


def read_all(kube: Kube, namespace: str | None = None) -> list[Graph]:
    """The graph of every Service in ``namespace`` (``kube.ALL_NAMESPACES``: everywhere)."""
    from kn_walk import knative

    where = namespace or kube.namespace
    services = knative.list_objects(kube, knative.SERVICES, where)
    services.sort(key=lambda s: (_str(_meta(s).get("namespace")), _str(_meta(s).get("name"))))
    return graphs(kube, services, where)
