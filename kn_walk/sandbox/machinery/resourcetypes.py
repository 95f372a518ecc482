"""The resource types the sandbox API serves: built-in kinds, Knative kinds, and CRDs.

A :class:`ResourceType` carries everything discovery, tables and OpenAPI need.
The Knative kinds are built from the real Knative Serving CRDs shipped in
``crds/`` (Apache-2.0, The Knative Authors), so discovery, printer columns and
schemas are the ones a real cluster serves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kn_walk.knative_rules.labels import GROUP

ALL_VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True)
class PrinterColumn:
    """One column of ``kubectl get`` output (CRD ``additionalPrinterColumns``)."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    #: ``additionalPrinterColumns``; empty means the kind's default columns.
    printer_columns: tuple[PrinterColumn, ...] = ()
    #: ``openAPIV3Schema`` of the served version, or None when unknown.
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    #: True for custom resources (CRD-backed): no strategic merge patch.
    custom: bool = False
    verbs: tuple[str, ...] = ALL_VERBS
    list_kind: str = ""

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def key(self) -> tuple[str, str]:
        """Identity independent of version: (group, plural)."""
        return (self.group, self.plural)

    @property
    def kind_list(self) -> str:
        return self.list_kind or f"{self.kind}List"

    @property
    def url_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


SERVING_GROUP = GROUP  # spelt once, in kn_walk.knative_rules.labels
KNATIVE_KINDS = ("service", "configuration", "revision", "route")
#: the CRD files (``crds/{name}.yaml``) of everything the sandbox installs, as serving-crds.yaml
#: (knative/serving ``config/core/300-resources``, with knative/networking's and
#: knative/caching's files it links to) and net-istio's Istio release install it
INSTALLED_CRDS = (
    *KNATIVE_KINDS,
    "domainmapping",
    "podautoscaler",
    "metric",
    "serverlessservice",
    "ingress",
    "certificate",
    "clusterdomainclaim",
    "image",
    "gateway",
    "virtualservice",
)


def _crd_text(name: str) -> str:
    return resources.files("kn_walk.sandbox").joinpath("crds", f"{name}.yaml").read_text("utf-8")


@cache
def knative_crds() -> tuple[dict[str, Any], ...]:
    """The CRD objects Knative Serving and net-istio's Istio install (:data:`INSTALLED_CRDS`),
    the four Serving kinds first."""
    # The C loader parses the 600 KB of CRDs ten times faster than the pure-Python one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(yaml.load(_crd_text(name), Loader=loader) for name in INSTALLED_CRDS)


def types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition as resource types."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out: list[ResourceType] = []
    for ver in spec.get("versions") or []:
        if not ver.get("served", True):
            continue
        columns = tuple(
            PrinterColumn(
                name=c["name"],
                type=c.get("type", "string"),
                json_path=c["jsonPath"],
                description=c.get("description", ""),
                priority=int(c.get("priority", 0)),
                format=c.get("format", ""),
            )
            for c in ver.get("additionalPrinterColumns") or []
        )
        schema = (ver.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=spec["group"],
                version=ver["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in (ver.get("subresources") or {}),
                printer_columns=columns,
                schema=schema,
                custom=True,
                list_kind=names.get("listKind", ""),
            )
        )
    return out


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    status: bool = False,
    verbs: tuple[str, ...] = ALL_VERBS,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=short_names,
        categories=categories,
        status_subresource=status,
        verbs=verbs,
    )


#: kube-apiserver offers no deletecollection for namespaces (api/discovery/api__v1.json);
#: every other stored built-in kind served here has all of ALL_VERBS
NAMESPACE_VERBS = tuple(v for v in ALL_VERBS if v != "deletecollection")
#: the access and identity reviews: asked, answered, never stored
CREATE_ONLY = ("create",)

#: (group, plural) of the kinds whose storage answers DELETE with the object, not a Status
#: (``ReturnDeletedObject`` in kube's registry; the upstream OpenAPI declares ``200 -> the
#: object`` for their delete operations)
RETURNS_DELETED_OBJECT = frozenset(
    {
        ("", "pods"),
        ("", "services"),
        ("", "persistentvolumeclaims"),
        ("", "serviceaccounts"),
    }
)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        status=True,
        verbs=NAMESPACE_VERBS,
    ),
    _builtin("", "v1", "configmaps", "ConfigMap", namespaced=True, short_names=("cm",)),
    _builtin("", "v1", "secrets", "Secret", namespaced=True),
    _builtin(
        "",
        "v1",
        "services",
        "Service",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        status=True,
    ),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True, short_names=("sa",)),
    _builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        namespaced=True,
        short_names=("deploy",),
        categories=("all",),
        status=True,
    ),
    _builtin(
        "",
        "v1",
        "pods",
        "Pod",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        status=True,
    ),
    _builtin("", "v1", "endpoints", "Endpoints", namespaced=True, short_names=("ep",)),
    _builtin("", "v1", "events", "Event", namespaced=True, short_names=("ev",)),
    _builtin(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        namespaced=True,
        short_names=("pvc",),
        status=True,
    ),
    _builtin(
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        namespaced=True,
        short_names=("rc",),
        categories=("all",),
        status=True,
    ),
    _builtin(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        namespaced=True,
        short_names=("rs",),
        categories=("all",),
        status=True,
    ),
    _builtin(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        namespaced=True,
        short_names=("ds",),
        categories=("all",),
        status=True,
    ),
    _builtin(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        namespaced=True,
        short_names=("sts",),
        categories=("all",),
        status=True,
    ),
    _builtin("batch", "v1", "jobs", "Job", namespaced=True, categories=("all",), status=True),
    _builtin(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        namespaced=True,
        short_names=("cj",),
        categories=("all",),
        status=True,
    ),
    _builtin(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        namespaced=True,
        short_names=("hpa",),
        categories=("all",),
        status=True,
    ),
    _builtin(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        namespaced=True,
        short_names=("pdb",),
        status=True,
    ),
    _builtin(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        namespaced=True,
        short_names=("ing",),
        status=True,
    ),
    _builtin(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        namespaced=True,
        short_names=("netpol",),
    ),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", namespaced=True),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
    ),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        status=True,
    ),
    _builtin("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), status=True),
    # the same Events as core/v1's, converted (kn_walk.sandbox.registry.eventsv1)
    _builtin("events.k8s.io", "v1", "events", "Event", namespaced=True, short_names=("ev",)),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", namespaced=True),
    _builtin(
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        namespaced=False,
        categories=("api-extensions",),
        status=True,
    ),
)

#: the access and identity reviews that ``kubectl auth`` and permission-checking tools
#: ask for (kn_walk.sandbox.apiserver.authz): answered, never stored, so they have no List kind
REVIEW_TYPES: tuple[ResourceType, ...] = (
    _builtin(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
        namespaced=False,
        verbs=CREATE_ONLY,
    ),
    _builtin(
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "TokenReview",
        namespaced=False,
        verbs=CREATE_ONLY,
    ),
    _builtin(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=CREATE_ONLY,
    ),
    _builtin(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        namespaced=False,
        verbs=CREATE_ONLY,
    ),
)


class Registry:
    """Thread-safe set of served resource types; CRDs add and remove theirs at run time."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        #: CRD name -> the (group, version, plural) keys it contributed
        self._crd_keys: dict[str, list[tuple[str, str, str]]] = {}
        for t in types:
            self._types[(t.group, t.version, t.plural)] = t

    @classmethod
    def default(cls) -> Registry:
        reg = cls((*BUILTIN_TYPES, *REVIEW_TYPES))
        for crd in knative_crds():
            reg.add_crd(crd)
        return reg

    def add_crd(self, crd: Mapping[str, Any]) -> list[ResourceType]:
        name = str((crd.get("metadata") or {}).get("name", ""))
        new = types_from_crd(crd)
        with self._lock:
            for key in self._crd_keys.pop(name, []):
                self._types.pop(key, None)
            keys = []
            for t in new:
                k = (t.group, t.version, t.plural)
                self._types[k] = t
                keys.append(k)
            self._crd_keys[name] = keys
        return new

    def remove_crd(self, name: str) -> None:
        with self._lock:
            for key in self._crd_keys.pop(name, []):
                self._types.pop(key, None)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for t in self.all():
            if t.group == group and t.version == version and t.kind == kind:
                return t
        return None

    def group_versions(self) -> dict[str, list[str]]:
        """group -> versions, in registration order (core group is "")."""
        out: dict[str, list[str]] = {}
        for t in self.all():
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.all() if t.group == group and t.version == version]
