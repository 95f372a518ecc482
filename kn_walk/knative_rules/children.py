"""What Knative Serving v1.23 and net-istio name, label and number the objects they make.

For each Revision the revision reconciler makes a Deployment, a PodAutoscaler and
an Image cache (``pkg/reconciler/revision/resources``); the PodAutoscaler's
reconciler a ServerlessService and a Metric (``pkg/reconciler/autoscaling``); the
ServerlessService's its public and private Kubernetes Services
(``pkg/reconciler/serverlessservice/resources``). For each Route the route
reconciler makes an Ingress (``pkg/reconciler/route/resources``) and net-istio
its VirtualServices. The keys, names and ports those use are here, once; plain
constants and one naming rule (``kmeta.ChildName``); Serving's own label keys come from
:mod:`kn_walk.knative_rules.labels`.
"""

from __future__ import annotations

import hashlib

# Serving's own keys (kn_walk.knative_rules.labels), re-exported under the names the
# modules below a Revision know them by
from kn_walk.knative_rules.labels import (
    DEPLOYMENT_HASH_LABEL as DEPLOYMENT_HASH_LABEL,
)
from kn_walk.knative_rules.labels import (
    REVISION_LAST_PINNED_ANNOTATION as REVISION_LAST_PINNED_ANNOTATION,
)
from kn_walk.knative_rules.labels import (
    REVISION_NO_GC_ANNOTATION as REVISION_NO_GC_ANNOTATION,
)
from kn_walk.knative_rules.labels import (
    ROUTE_NAMESPACE_LABEL as ROUTE_NAMESPACE_LABEL,
)

# ------------------------------------------------------------------ names
#: Kubernetes' longest name that is also a DNS label, and the md5 hex ChildName appends
_LONGEST = 63
_MD5_LEN = 32
_HEAD = _LONGEST - _MD5_LEN


def child_name(parent: str, suffix: str) -> str:
    """knative.dev/pkg ``kmeta.ChildName``: ``parent + suffix``, or, when that is over 63
    characters, the parent cut short, the md5 of the whole parent, then the suffix."""
    if len(parent) > _LONGEST - len(suffix):
        digest = hashlib.md5(parent.encode(), usedforsecurity=False).hexdigest()
        if _HEAD - len(suffix) <= 0:
            whole = hashlib.md5((parent + suffix).encode(), usedforsecurity=False).hexdigest()
            out = parent[:_HEAD] + whole
            if len(out) < _LONGEST:
                out += suffix[: _LONGEST - len(out)]
            return out.rstrip("-.")
        return parent[: _HEAD - len(suffix)] + digest + suffix
    return parent + suffix


def deployment_name(revision: str) -> str:
    return child_name(revision, "-deployment")


def image_cache_name(revision: str, container: str) -> str:
    """``{revision}-cache-{container}``: ChildName(ChildName(rev, "-cache"), "-" + container)."""
    return child_name(child_name(revision, "-cache"), "-" + container)


def private_service_name(sks: str) -> str:
    return child_name(sks, "-private")


def ingress_virtual_service_name(ingress: str) -> str:
    return child_name(ingress, "-ingress")


def mesh_virtual_service_name(ingress: str) -> str:
    return child_name(ingress, "-mesh")


# ------------------------------------------------------ labels and annotations
#: the API groups of what Knative and net-istio make below the four Serving kinds
AUTOSCALING_GROUP = "autoscaling.internal.knative.dev"
NETWORKING_GROUP = "networking.internal.knative.dev"
CACHING_GROUP = "caching.internal.knative.dev"
ISTIO_NETWORKING_GROUP = "networking.istio.io"
#: ``app``: set to the Revision's name on its Deployment and Pods unless the user set it
APP_LABEL = "app"
#: on a Revision's Pod template: the container ``kubectl logs`` and ``exec`` pick
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

AUTOSCALING = "autoscaling.knative.dev/"
CLASS_ANNOTATION = AUTOSCALING + "class"
METRIC_ANNOTATION = AUTOSCALING + "metric"
INITIAL_SCALE_ANNOTATION = AUTOSCALING + "initial-scale"
MIN_SCALE_ANNOTATION = AUTOSCALING + "min-scale"
TARGET_ANNOTATION = AUTOSCALING + "target"
TARGET_BURST_CAPACITY_ANNOTATION = AUTOSCALING + "target-burst-capacity"
WINDOW_ANNOTATION = AUTOSCALING + "window"
PANIC_WINDOW_PERCENTAGE_ANNOTATION = AUTOSCALING + "panic-window-percentage"
#: the PodAutoscaler classes and metrics (``pkg/apis/autoscaling``)
KPA_CLASS = "kpa.autoscaling.knative.dev"
HPA_CLASS = "hpa.autoscaling.knative.dev"
CONCURRENCY = "concurrency"
CPU = "cpu"

NETWORKING_INTERNAL = NETWORKING_GROUP + "/"
#: on the Services and Endpoints a ServerlessService makes: it, and which of its two
SKS_LABEL = NETWORKING_INTERNAL + "serverlessservice"
SERVICE_TYPE_LABEL = NETWORKING_INTERNAL + "serviceType"
PUBLIC = "Public"
PRIVATE = "Private"
#: on a VirtualService: the Ingress it was made from
INGRESS_LABEL = NETWORKING_INTERNAL + "ingress"
ROLLOUT_ANNOTATION = NETWORKING_INTERNAL + "rollout"
TAG_TO_HOST_ANNOTATION = NETWORKING_INTERNAL + "tag-to-host"
INGRESS_CLASS_ANNOTATION = "networking.knative.dev/ingress.class"
ISTIO_INGRESS_CLASS = "istio.ingress.networking.knative.dev"
#: the finalizer Knative's generated Ingress reconciler (net-istio's) keeps on an Ingress
INGRESS_FINALIZER = "ingresses.networking.internal.knative.dev"

#: the headers a split adds, which the activator and queue-proxy read
REVISION_HEADER = "Knative-Serving-Revision"
NAMESPACE_HEADER = "Knative-Serving-Namespace"
#: the Ingress probe's header (knative.dev/networking ``header.HashKey``)
HASH_HEADER = "K-Network-Hash"
HASH_OVERRIDE = "override"

# ------------------------------------------------------------------ ports
#: queue-proxy's ports (``pkg/networking``): what a Revision's Services target
QUEUE_HTTP_PORT = 8012
QUEUE_HTTP2_PORT = 8013
QUEUE_HTTPS_PORT = 8112
QUEUE_ADMIN_PORT = 8022
AUTOSCALING_METRICS_PORT = 9090
USER_METRICS_PORT = 9091
AUTOSCALING_METRICS_PORT_NAME = "http-autometric"
USER_METRICS_PORT_NAME = "http-usermetric"
USER_PORT_NAME = "user-port"
DEFAULT_USER_PORT = 8080
#: a Service's HTTP and HTTPS ports (knative.dev/networking ``ports.go``)
SERVICE_HTTP_PORT = 80
SERVICE_HTTPS_PORT = 443
SERVICE_PORT_NAME_HTTP1 = "http"
SERVICE_PORT_NAME_H2C = "http2"
SERVICE_PORT_NAME_HTTPS = "https"
APP_PROTOCOL_H2C = "kubernetes.io/h2c"
#: where queue-proxy's drain hook answers (the user container's preStop)
QUEUE_DRAIN_PATH = "/wait-for-drain"

# ----------------------------------------------------------- the installation
SYSTEM_NAMESPACE = "knative-serving"
ACTIVATOR_SERVICE = "activator-service"
GATEWAY_NAMESPACE = "istio-system"
#: net-istio's default gateways (``config-istio``) and the Services behind them
INGRESS_GATEWAY = "knative-ingress-gateway"
LOCAL_GATEWAY = "knative-local-gateway"
INGRESS_GATEWAY_SERVICE_HOST = "istio-ingressgateway.istio-system.svc.cluster.local"
LOCAL_GATEWAY_SERVICE_HOST = "knative-local-gateway.istio-system.svc.cluster.local"
