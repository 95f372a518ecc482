"""A Knative Revision's Deployment, as the revision reconciler makes it
(``pkg/reconciler/revision/resources/deploy.go``, ``queue.go``, ``meta.go``), and the
ConfigMaps of ``knative-serving`` that shape it.

Deployment ``{revision}-deployment``, owned by the Revision: the Revision's labels
(less the Route's and the routing state) plus ``serving.knative.dev/revision``,
``…/revisionUID``, ``app`` and ``…/deployment-hash``; its annotations less Knative's
bookkeeping and ``autoscaling.knative.dev/*``; ``replicas`` from the sandbox's scaling;
``revisionHistoryLimit: 0``, ``maxUnavailable: 0``; a Pod template with the user
container as Knative rewrites it (``user-port``, ``PORT`` and ``K_*`` env, the drain
hook on queue-proxy's admin port 8022, no readiness probe: queue-proxy probes) and the
``queue-proxy`` container as Knative injects it (ports 8012 ``queue-port``, 8112
``https-port``, 9090 ``http-autometric``, 9091 ``http-usermetric``, its env, its
readiness probe), with the API server's defaults for a Pod template filled in. Its
ReplicaSet comes from :mod:`kn_walk.sandbox.node.deployments`, its Pods from
:mod:`kn_walk.sandbox.node.pods`.

Where the sandbox cannot compute a value as Knative's Go code does, it keeps its
form: the ``deployment-hash`` label is FNV-32a (base 36) over the Deployment as
canonical JSON, not over a Go dump of the typed object.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from typing import Any

from kn_walk.knative_rules import children as K
from kn_walk.knative_rules.goparse import SECOND, GoError, parse_duration
from kn_walk.knative_rules.labels import (
    REVISION_LABEL,
    REVISION_UID_LABEL,
    ROUTE_LABEL,
    ROUTES_ANNOTATION,
    ROUTING_STATE_LABEL,
    ROUTING_STATE_MODIFIED_ANNOTATION,
    SERVICE_LABEL,
)
from kn_walk.sandbox.knative.serving import controlled_by, owner_ref
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.podtemplate import fnv32a, same_template
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, rkey
from kn_walk.sandbox.registry.store import Obj

log = logging.getLogger(__name__)

MANAGER = "controller"
AUTOSCALER_MANAGER = "autoscaler"


def knative_writes(
    manager: str, subresource: str = "", account: str = "controller"
) -> WriteOptions:
    """How Knative's controllers (and net-istio's, which runs as ``controller`` too) write:
    as their service account of ``knative-serving``, with their field manager."""
    return WriteOptions(
        manager=manager,
        field_validation="Ignore",
        subresource=subresource,
        user=f"system:serviceaccount:knative-serving:{account}",
    )


EXCLUDED_LABELS = frozenset({ROUTE_LABEL, ROUTING_STATE_LABEL})
EXCLUDED_ANNOTATIONS = frozenset(
    {
        K.REVISION_LAST_PINNED_ANNOTATION,
        K.REVISION_NO_GC_ANNOTATION,
        ROUTING_STATE_MODIFIED_ANNOTATION,
        ROUTES_ANNOTATION,
    }
)
#: fields of a RevisionSpec that are not a PodSpec's
_REVISION_ONLY = (
    "containerConcurrency",
    "timeoutSeconds",
    "responseStartTimeoutSeconds",
    "idleTimeoutSeconds",
)
#: what the API server defaults in a probe the sandbox writes (a Deployment's template)
_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
_QUEUE_SECURITY_CONTEXT: Obj = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_OBSERVABILITY_DEFAULT = {
    "tracing": {"protocol": "none"},
    "metrics": {"protocol": "none"},
    "runtime": {"profiling": "disabled", "exportInterval": 15_000_000_000},
    "requestMetrics": {"protocol": "none"},
    "requestLogTemplate": (
        '{"httpRequest": {"requestMethod": "{{.Request.Method}}", "requestUrl": '
        '"{{js .Request.RequestURI}}", "requestSize": "{{.Request.ContentLength}}", '
        '"status": {{.Response.Code}}, "responseSize": "{{.Response.Size}}", "userAgent": '
        '"{{js .Request.UserAgent}}", "remoteIp": "{{js .Request.RemoteAddr}}", "serverIp": '
        '"{{.Revision.PodIP}}", "referer": "{{js .Request.Referer}}", "latency": '
        '"{{.Response.Latency}}s", "protocol": "{{.Request.Proto}}"}, "traceId": "{{.TraceID}}"}'
    ),
}


# ---------------------------------------------------------------- configuration
def number(text: Any, default: float) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def go_duration_seconds(text: Any, default: float) -> float:
    """A Go duration (``60s``, ``1m30s``, ``500ms``) in seconds, as ``time.ParseDuration``
    reads it; ``default`` if it is none."""
    try:
        return parse_duration(str(text).strip()) / SECOND
    except GoError:
        return default


class Settings:
    """The ConfigMaps of ``knative-serving`` the reconcilers read, as they are now."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        cm = res.registry.get("", "v1", "configmaps")
        assert cm is not None
        self.t_cm = cm

    def data(self, name: str) -> dict[str, str]:
        cm = self.res.store.get(rkey(self.t_cm), K.SYSTEM_NAMESPACE, name) or {}
        return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}

    def autoscaler(self) -> dict[str, Any]:
        d = self.data("config-autoscaler")
        stable = go_duration_seconds(d.get("stable-window", "60s"), 60.0)
        return {
            "class": d.get("pod-autoscaler-class") or K.KPA_CLASS,
            "target": number(d.get("container-concurrency-target-default", "100"), 100.0),
            "tbc": number(d.get("target-burst-capacity", "200"), 200.0),
            "activator_capacity": number(d.get("activator-capacity", "100"), 100.0),
            "stable_window": stable,
            "panic_window_percentage": number(d.get("panic-window-percentage", "10"), 10.0),
            "initial_scale": int(number(d.get("initial-scale", "1"), 1.0)),
        }

    def deployment(self) -> dict[str, Any]:
        d = self.data("config-deployment")
        return {
            "queue_image": d.get("queue-sidecar-image") or d.get("queueSidecarImage") or "",
            "progress_deadline": int(
                go_duration_seconds(d.get("progress-deadline", "600s"), 600.0)
            ),
        }

    def logging(self) -> tuple[str, str]:
        d = self.data("config-logging")
        return d.get("zap-logger-config", ""), d.get("loglevel.queueproxy", "")


# ------------------------------------------------------------------- helpers
def make_labels(rev: Obj) -> dict[str, str]:
    """``makeLabels``: the Revision's labels for what it makes."""
    meta = rev["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in EXCLUDED_LABELS}
    labels[REVISION_LABEL] = meta["name"]
    labels[REVISION_UID_LABEL] = meta.get("uid", "")
    labels.setdefault(K.APP_LABEL, meta["name"])
    return labels


def annotations_for(rev: Obj, *, autoscaling: bool) -> dict[str, str]:
    out = {}
    for k, v in (rev["metadata"].get("annotations") or {}).items():
        if k in EXCLUDED_ANNOTATIONS:
            continue
        if not autoscaling and k.startswith(K.AUTOSCALING):
            continue
        out[k] = v
    return out


def user_port(rev: Obj) -> int:
    containers = (rev.get("spec") or {}).get("containers") or [{}]
    ports = [p for p in (containers[0] or {}).get("ports") or [] if isinstance(p, dict)]
    value = ports[0].get("containerPort") if ports else None
    return value if isinstance(value, int) and value else K.DEFAULT_USER_PORT


def _pull_policy(image: str) -> str:
    """The API server's default: ``Always`` for ``:latest`` or no tag, else ``IfNotPresent``."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _container_defaults(c: Obj) -> Obj:
    c.setdefault("imagePullPolicy", _pull_policy(str(c.get("image", ""))))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(key)
        if isinstance(probe, dict):
            for k, v in _PROBE_DEFAULTS.items():
                probe.setdefault(k, v)
    return c


def _go_probe_json(probe: Obj) -> str:
    """``json.Marshal`` of a corev1.Probe: its fields in Go's struct order."""
    order = (
        "exec",
        "httpGet",
        "tcpSocket",
        "grpc",
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
        "terminationGracePeriodSeconds",
    )
    inner = {
        "httpGet": ("path", "port", "host", "scheme", "httpHeaders"),
        "tcpSocket": ("port", "host"),
        "grpc": ("port", "service"),
    }
    out: dict[str, Any] = {}
    for key in order:
        if key not in probe or probe[key] in (None, 0, ""):
            continue
        value = probe[key]
        if key in inner and isinstance(value, dict):
            value = {k: value[k] for k in inner[key] if k in value}
        out[key] = value
    return json.dumps(out, separators=(",", ":"))


def _readiness_probe_env(user: Obj, port: int) -> tuple[str, Obj | None]:
    """SERVING_READINESS_PROBE and queue-proxy's own readiness probe (``makeQueueContainer``)."""
    probe = user.get("readinessProbe")
    if not isinstance(probe, dict):
        return "", None
    encoded = copy.deepcopy(probe)
    if isinstance(encoded.get("httpGet"), dict):
        encoded["httpGet"].update(host="127.0.0.1", port=port)
        encoded["httpGet"].setdefault("scheme", "HTTP")
    elif isinstance(encoded.get("tcpSocket"), dict) or "exec" in encoded:
        encoded.pop("exec", None)
        encoded["tcpSocket"] = {"port": port, "host": "127.0.0.1"}
    if encoded.get("periodSeconds", 0) > 0 and encoded.get("timeoutSeconds", 0) < 1:
        encoded["timeoutSeconds"] = 1
    queue_probe = {
        k: copy.deepcopy(v)
        for k, v in probe.items()
        if k not in ("exec", "httpGet", "tcpSocket", "grpc")
    }
    queue_probe["httpGet"] = {
        "port": K.QUEUE_HTTP_PORT,
        "httpHeaders": [{"name": "K-Network-Probe", "value": "queue"}],
        "scheme": "HTTP",
        "path": "/",
    }
    return _go_probe_json(encoded), queue_probe


class DeploymentBuilder:
    """``MakeDeployment``: the Revision's Deployment, as the revision reconciler asks for it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def user_container(self, rev: Obj) -> Obj:
        meta = rev["metadata"]
        spec = rev.get("spec") or {}
        c = copy.deepcopy(((spec.get("containers") or [{}])[0]) or {})
        port = user_port(rev)
        c["ports"] = [{"name": K.USER_PORT_NAME, "containerPort": port}]
        env = [e for e in c.get("env") or [] if isinstance(e, dict)]
        env.append({"name": "PORT", "value": str(port)})
        configuration = ""
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Configuration":
                configuration = str(ref.get("name"))
        for name, value in (
            ("K_REVISION", meta["name"]),
            ("K_CONFIGURATION", configuration),
            ("K_SERVICE", str((meta.get("labels") or {}).get(SERVICE_LABEL, ""))),
        ):
            env.append({"name": name, "value": value} if value else {"name": name})
        c["env"] = env
        c["lifecycle"] = {
            "preStop": {"httpGet": {"path": K.QUEUE_DRAIN_PATH, "port": K.QUEUE_ADMIN_PORT}}
        }
        c.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
        probe = c.get("readinessProbe")
        if isinstance(probe, dict) and any(k in probe for k in ("httpGet", "tcpSocket", "grpc")):
            del c["readinessProbe"]  # queue-proxy probes the container itself
        live = c.get("livenessProbe")
        if isinstance(live, dict):
            for kind in ("httpGet", "tcpSocket"):
                if isinstance(live.get(kind), dict):
                    live[kind]["port"] = port
        digest = ((rev.get("status") or {}).get("containerStatuses") or [{}])[0].get("imageDigest")
        if digest:
            c["image"] = digest
        return _container_defaults(c)

    def queue_container(self, rev: Obj) -> Obj:
        meta = rev["metadata"]
        spec = rev.get("spec") or {}
        user = ((spec.get("containers") or [{}])[0]) or {}
        port = user_port(rev)
        configuration = ""
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Configuration":
                configuration = str(ref.get("name"))
        probe_json, queue_probe = _readiness_probe_env(user, port)
        logging_config, logging_level = self.settings.logging()
        deployment = self.settings.deployment()

        def env(name: str, value: str) -> Obj:
            return {"name": name, "value": value} if value else {"name": name}

        def field(name: str, path: str, api_version: str = "v1") -> Obj:
            return {
                "name": name,
                "valueFrom": {"fieldRef": {"apiVersion": api_version, "fieldPath": path}},
            }

        c: Obj = {
            "name": "queue-proxy",
            "image": deployment["queue_image"],
            "ports": [
                {
                    "name": K.AUTOSCALING_METRICS_PORT_NAME,
                    "containerPort": K.AUTOSCALING_METRICS_PORT,
                },
                {"name": K.USER_METRICS_PORT_NAME, "containerPort": K.USER_METRICS_PORT},
                {"name": "queue-port", "containerPort": K.QUEUE_HTTP_PORT},
                {"name": "https-port", "containerPort": K.QUEUE_HTTPS_PORT},
            ],
            "resources": {"requests": {"cpu": "25m"}},
            "securityContext": copy.deepcopy(_QUEUE_SECURITY_CONTEXT),
            "env": [
                env("SERVING_NAMESPACE", meta["namespace"]),
                env("SERVING_SERVICE", str((meta.get("labels") or {}).get(SERVICE_LABEL, ""))),
                env("SERVING_CONFIGURATION", configuration),
                env("SERVING_REVISION", meta["name"]),
                env("QUEUE_SERVING_PORT", str(K.QUEUE_HTTP_PORT)),
                env("QUEUE_SERVING_TLS_PORT", str(K.QUEUE_HTTPS_PORT)),
                env("CONTAINER_CONCURRENCY", str(int(spec.get("containerConcurrency") or 0))),
                env("REVISION_TIMEOUT_SECONDS", str(int(spec.get("timeoutSeconds") or 0))),
                env(
                    "REVISION_RESPONSE_START_TIMEOUT_SECONDS",
                    str(int(spec.get("responseStartTimeoutSeconds") or 0)),
                ),
                env("REVISION_IDLE_TIMEOUT_SECONDS", str(int(spec.get("idleTimeoutSeconds") or 0))),
                field("SERVING_POD", "metadata.name"),
                field("SERVING_POD_IP", "status.podIP"),
                env("SERVING_LOGGING_CONFIG", logging_config),
                env("SERVING_LOGGING_LEVEL", logging_level),
                env("USER_PORT", str(port)),
                env("SYSTEM_NAMESPACE", K.SYSTEM_NAMESPACE),
                env("SERVING_READINESS_PROBE", probe_json),
                field("HOST_IP", "status.hostIP"),
                env("ENABLE_HTTP2_AUTO_DETECTION", "false"),
                env("ENABLE_HTTP_FULL_DUPLEX", "false"),
                env("ROOT_CA", ""),
                env("QUEUE_PROXY_TLS_MIN_VERSION", ""),
                env("QUEUE_PROXY_TLS_MAX_VERSION", ""),
                env("QUEUE_PROXY_TLS_CIPHER_SUITES", ""),
                env("QUEUE_PROXY_TLS_CURVE_PREFERENCES", ""),
                env("ENABLE_MULTI_CONTAINER_PROBES", "false"),
                env(
                    "OBSERVABILITY_CONFIG",
                    json.dumps(_OBSERVABILITY_DEFAULT, separators=(",", ":")),
                ),
            ],
        }
        if queue_probe is not None:
            c["readinessProbe"] = queue_probe
        return _container_defaults(c)

    def pod_spec(self, rev: Obj) -> Obj:
        spec = copy.deepcopy(rev.get("spec") or {})
        timeout = spec.get("timeoutSeconds")
        for key in _REVISION_ONLY:
            spec.pop(key, None)
        spec["containers"] = [self.user_container(rev), self.queue_container(rev)]
        spec["terminationGracePeriodSeconds"] = int(timeout) if timeout else 300
        spec.setdefault("enableServiceLinks", False)
        if not spec.get("affinity"):
            spec["affinity"] = {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {
                                    "matchLabels": {REVISION_LABEL: rev["metadata"]["name"]}
                                },
                            },
                        }
                    ]
                }
            }
        # the API server's defaults for a Pod template
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("securityContext", {})
        return spec

    def build(self, rev: Obj, replicas: int) -> Obj:
        meta = rev["metadata"]
        labels = make_labels(rev)
        annotations = annotations_for(rev, autoscaling=False)
        pod_annotations = dict(annotations)
        pod_annotations[K.DEFAULT_CONTAINER_ANNOTATION] = "user-container"
        containers = (rev.get("spec") or {}).get("containers") or [{}]
        name = ((containers[0] or {}).get("name")) or ""
        if name:
            pod_annotations[K.DEFAULT_CONTAINER_ANNOTATION] = name
        else:
            pod_annotations.pop(K.DEFAULT_CONTAINER_ANNOTATION)
        deployment = self.settings.deployment()
        d: Obj = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": K.deployment_name(meta["name"]),
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner_ref(rev)],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {REVISION_UID_LABEL: meta.get("uid", "")}},
                "progressDeadlineSeconds": deployment["progress_deadline"],
                "revisionHistoryLimit": 0,
                "strategy": {
                    "type": "RollingUpdate",
                    # maxSurge: the API server's default
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
                },
                "template": {
                    "metadata": {"labels": dict(labels), "annotations": pod_annotations},
                    "spec": self.pod_spec(rev),
                },
            },
        }
        d["metadata"]["labels"][K.DEPLOYMENT_HASH_LABEL] = deployment_hash(d)
        return d


def deployment_hash(d: Obj) -> str:
    """``UpdateDeploymentHashLabel``'s form: FNV-32a in base 36 of the spec, annotations and
    labels (without the hash label), here over canonical JSON."""
    labels = {k: v for k, v in d["metadata"]["labels"].items() if k != K.DEPLOYMENT_HASH_LABEL}
    text = json.dumps(
        [d["spec"], d["metadata"].get("annotations") or {}, labels],
        sort_keys=True,
        separators=(",", ":"),
    )
    h = fnv32a(text.encode())
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        h, r = divmod(h, 36)
        out = digits[r] + out
        if h == 0:
            return out


class RevisionWorkload:
    """A Revision's Deployment, and the ReplicaSet its Pods belong to (which
    kube-controller-manager's deployment controller, :mod:`kn_walk.sandbox.node.deployments`,
    makes of it)."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.settings = Settings(res)
        self.builder = DeploymentBuilder(self.settings)
        deploy = res.registry.get("apps", "v1", "deployments")
        rs = res.registry.get("apps", "v1", "replicasets")
        assert deploy is not None and rs is not None
        self.t_deploy: ResourceType = deploy
        self.t_rs: ResourceType = rs

    def ensure(self, rev: Obj, replicas: int) -> Obj | None:
        """Create or update the Revision's Deployment (``replicas`` of it); the result, or
        None when it cannot be made (the name is taken, the namespace is going)."""
        want = self.builder.build(rev, replicas)
        meta = want["metadata"]
        ns, name = meta["namespace"], meta["name"]
        current = self.res.find(self.t_deploy, ns, name)
        opts = knative_writes(MANAGER)
        try:
            if current is None:
                return self.res.create(self.t_deploy, ns, want, opts)
            if not controlled_by(current, rev):
                return None
            new = copy.deepcopy(current)
            new["spec"] = want["spec"]
            new["metadata"]["labels"] = meta["labels"]
            new["metadata"]["annotations"] = {
                **{
                    k: v
                    for k, v in (current["metadata"].get("annotations") or {}).items()
                    if k.startswith("deployment.kubernetes.io/")
                },
                **meta["annotations"],
            }
            if new == current:
                return current
            return self.res.update(self.t_deploy, ns, name, new, opts)
        except E.StatusError as err:
            log.debug("deployment %s/%s: %s", ns, name, err.message)
            return None

    def existing_replicaset(self, rev: Obj) -> Obj | None:
        """The ReplicaSet of the Revision's Deployment, if both exist."""
        meta = rev["metadata"]
        d = self.res.find(self.t_deploy, meta["namespace"], K.deployment_name(meta["name"]))
        if d is None or not controlled_by(d, rev):
            return None
        return self.current_replicaset(d)

    def current_replicaset(self, d: Obj) -> Obj | None:
        template = (d.get("spec") or {}).get("template")
        found = None
        for key, obj in self.res.store.owned_by(str(d["metadata"].get("uid", ""))):
            if key != rkey(self.t_rs) or obj["metadata"].get("deletionTimestamp"):
                continue
            if not controlled_by(obj, d):
                continue
            if same_template((obj.get("spec") or {}).get("template"), template):
                return obj
            found = obj
        return found


# -------------------------------------------------------------------- the graph
