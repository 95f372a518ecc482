"""Discovery as kube-apiserver 1.33 serves it, from the registry of served types.

* ``/api``, ``/apis``, ``/apis/{group}``, ``/api/v1``, ``/apis/{group}/{version}``: the
  unaggregated documents (APIVersions, APIGroupList, APIGroup, APIResourceList).
* ``/api`` and ``/apis`` asked for ``application/json;g=apidiscovery.k8s.io;v=v2;as=
  APIGroupDiscoveryList`` (or ``v=v2beta1``, which 1.33 still serves): the aggregated
  document, every group-version with its resources in one answer. That is what client-go
  1.30+ asks for first, and what clients that trust ``/version`` (cloudcoil) rely on.
* An ``Accept`` header naming nothing served answers 406 NotAcceptable, as kube-apiserver's
  content negotiation does.

Groups are listed in kube-apiserver's order: by the priority of their APIService
(``groupPriorityMinimum``, the built-in groups' are kube-aggregator's defaults, a CRD's
group gets 1000), then by name; versions within a group newest first (Kubernetes' version
order: GA before beta before alpha, higher numbers first).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType

Obj = dict[str, Any]

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"
#: the aggregated discovery versions kube-apiserver 1.33 serves (v2beta1 goes in 1.35)
AGGREGATED_VERSIONS = ("v2", "v2beta1")
#: the media types of kube-apiserver's discovery handlers, as its 406 lists them
MEDIA_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")

#: kube-aggregator's APIService priorities of the built-in groups (``groupPriorityMinimum``,
#: pkg/controlplane/apiserver/aggregator.go); a CRD's group gets 1000
GROUP_PRIORITY = {
    "": 18000,
    "apiregistration.k8s.io": 18000,
    "apps": 17800,
    "events.k8s.io": 17750,
    "authentication.k8s.io": 17700,
    "authorization.k8s.io": 17600,
    "autoscaling": 17500,
    "batch": 17400,
    "certificates.k8s.io": 17300,
    "networking.k8s.io": 17200,
    "policy": 17100,
    "rbac.authorization.k8s.io": 17000,
    "storage.k8s.io": 16800,
    "admissionregistration.k8s.io": 16700,
    "apiextensions.k8s.io": 16700,
    "scheduling.k8s.io": 16600,
    "coordination.k8s.io": 16500,
    "node.k8s.io": 16300,
    "discovery.k8s.io": 16200,
    "flowcontrol.apiserver.k8s.io": 16100,
}
CRD_GROUP_PRIORITY = 1000
#: ``versionPriority`` of a served version (kube gives its GA versions 15)
VERSION_PRIORITY = 15


class RegistryLike(Protocol):
    def all(self) -> list[ResourceType]: ...


# ---------------------------------------------------------------- subresources


@dataclass(frozen=True)
class Subresource:
    """A subresource the sandbox serves; ``kind`` "" is the parent's kind in its group-version."""

    name: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""
    kind: str = ""


_PODS = ("", "pods")
#: the kinds with a ``scale`` subresource (kn_walk.sandbox.registry.scale)
_SCALED = (("apps", "deployments"), ("", "replicationcontrollers"))
_READ_WRITE = ("get", "patch", "update")
#: the Pod subresources kube-apiserver connects to the kubelet, with their options' kinds
_POD_CONNECT = (
    ("attach", "PodAttachOptions"),
    ("exec", "PodExecOptions"),
    ("portforward", "PodPortForwardOptions"),
)


def subresources(rt: ResourceType) -> list[Subresource]:
    """The subresources of ``rt`` the sandbox serves, by name (kube-apiserver's order)."""
    out: list[Subresource] = []
    if rt.key == _PODS:
        out.append(Subresource("log", ("get",)))
        for name, kind in _POD_CONNECT:
            out.append(Subresource(name, ("create", "get"), kind=kind))
    if rt.key in _SCALED:
        out.append(Subresource("scale", _READ_WRITE, "autoscaling", "v1", "Scale"))
    if rt.status_subresource:
        out.append(Subresource("status", _READ_WRITE))
    return sorted(out, key=lambda s: s.name)


def has_subresource(rt: ResourceType, name: str) -> bool:
    return any(s.name == name for s in subresources(rt))


# --------------------------------------------------------------------- ordering

_KUBE_VERSION = re.compile(r"^v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?$")


def version_order(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in Kubernetes' order: v2, v1, v1beta2, v1beta1, v1alpha1,
    then anything else alphabetically (apimachinery's CompareKubeAwareVersionStrings)."""
    m = _KUBE_VERSION.match(version)
    if m is None:
        return (1, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (0, -int(m.group(1)), stage * 1_000_000 - int(m.group(3) or 0), version)


def group_priority(group: str, types: Iterable[ResourceType]) -> int:
    if any(t.custom for t in types) and group not in GROUP_PRIORITY:
        return CRD_GROUP_PRIORITY
    return GROUP_PRIORITY.get(group, CRD_GROUP_PRIORITY)


def served_groups(registry: RegistryLike) -> list[tuple[str, list[str], list[ResourceType]]]:
    """(group, versions newest first, types) of every served group, in discovery order."""
    by_group: dict[str, list[ResourceType]] = {}
    for t in registry.all():
        by_group.setdefault(t.group, []).append(t)
    out = []
    for group, types in by_group.items():
        versions = sorted({t.version for t in types}, key=version_order)
        out.append((group, versions, types))
    out.sort(key=lambda g: (-group_priority(g[0], g[2]), g[0]))
    return out


# ------------------------------------------------------------ unaggregated form


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: RegistryLike) -> Obj:
    groups = [_group_doc(g, vs) for g, vs, _ in served_groups(registry) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: RegistryLike, group: str) -> Obj | None:
    for g, versions, _ in served_groups(registry):
        if g == group and g:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}
    return None


def _with_names(entry: Obj, t: ResourceType) -> Obj:
    """``entry`` with the kind's short names and categories, when it has any."""
    if t.short_names:
        entry["shortNames"] = list(t.short_names)
    if t.categories:
        entry["categories"] = list(t.categories)
    return entry


def resource_list(types: list[ResourceType], group_version: str) -> Obj:
    """The ``APIResourceList`` of one group-version (subresources as ``plural/sub``)."""
    resources: list[Obj] = []
    for t in sorted(types, key=lambda t: t.plural):
        entry: Obj = {
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": list(t.verbs),
        }
        resources.append(_with_names(entry, t))
        for sub in subresources(t):
            item: Obj = {
                "name": f"{t.plural}/{sub.name}",
                "singularName": "",
                "namespaced": t.namespaced,
            }
            if sub.group or sub.version:
                item["group"] = sub.group
                item["version"] = sub.version
            item["kind"] = sub.kind or t.kind
            item["verbs"] = list(sub.verbs)
            resources.append(item)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


# -------------------------------------------------------------- aggregated form


def _response_kind(t: ResourceType, group: str, version: str, kind: str) -> Obj:
    # built-in kinds leave group/version empty for "this group-version", as kube-apiserver's
    # installer does; custom resources name theirs (apiextensions' discovery controller)
    if not group and not version and t.custom:
        group, version = t.group, t.version
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(t: ResourceType) -> Obj:
    entry: Obj = {
        "resource": t.plural,
        "responseKind": _response_kind(t, "", "", t.kind),
        "scope": "Namespaced" if t.namespaced else "Cluster",
        "singularResource": t.singular,
        "verbs": list(t.verbs),
    }
    _with_names(entry, t)
    subs = [
        {
            "subresource": s.name,
            "responseKind": _response_kind(t, s.group, s.version, s.kind or t.kind),
            "verbs": list(s.verbs),
        }
        for s in subresources(t)
    ]
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: RegistryLike, *, core: bool, version: str) -> Obj:
    """The ``APIGroupDiscoveryList`` of ``/api`` (``core``) or ``/apis``."""
    items: list[Obj] = []
    for group, versions, types in served_groups(registry):
        if bool(group) == core:
            continue
        meta: Obj = {"name": group} if group else {}
        meta["creationTimestamp"] = None
        items.append(
            {
                "metadata": meta,
                "versions": [
                    {
                        "version": v,
                        "resources": [
                            _resource_discovery(t)
                            for t in sorted(types, key=lambda t: t.plural)
                            if t.version == v
                        ],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{AGGREGATED_GROUP}/{version}",
        "metadata": {},
        "items": items,
    }


def aggregated_content_type(version: str) -> str:
    """The Content-Type kube-apiserver answers aggregated discovery with (g, v, as)."""
    return f"application/json;g={AGGREGATED_GROUP};v={version};as={AGGREGATED_KIND}"


def etag(body: bytes) -> str:
    """A strong ETag of the document (kube: SHA-512 of its JSON, upper-case hex, quoted)."""
    return '"' + hashlib.sha512(body).hexdigest().upper() + '"'


def encode(doc: Obj) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


# ------------------------------------------------------------------ APIServices

APISERVICES = ("apiregistration.k8s.io", "apiservices")
#: versionPriority kube's CRD autoregistration gives a custom resource's version
CRD_VERSION_PRIORITY = 100


def api_services(registry: RegistryLike) -> list[Obj]:
    """The local ``apiregistration.k8s.io/v1`` APIService of each served group-version,
    as kube-aggregator's autoregister controller registers them (labels and spec; no
    ``spec.service``: every one is served here). Sorted by name. Stored and kept by
    :mod:`kn_walk.sandbox.apiserver.apiservices`."""
    out: list[Obj] = []
    for group, versions, types in served_groups(registry):
        custom = group_priority(group, types) == CRD_GROUP_PRIORITY
        for version in versions:
            spec: Obj = {"group": group} if group else {}
            spec["version"] = version
            spec["groupPriorityMinimum"] = group_priority(group, types)
            spec["versionPriority"] = CRD_VERSION_PRIORITY if custom else VERSION_PRIORITY
            out.append(
                {
                    "kind": "APIService",
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "metadata": {
                        "name": f"{version}.{group}",
                        "labels": {
                            "kube-aggregator.kubernetes.io/automanaged": "true"
                            if custom
                            else "onstart"
                        },
                    },
                    "spec": spec,
                }
            )
    return sorted(out, key=lambda a: str(a["metadata"]["name"]))


# ------------------------------------------------------------------ negotiation


@dataclass(frozen=True)
class Clause:
    """One media range of an ``Accept`` header."""

    type: str
    subtype: str
    q: float = 1.0
    params: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def matches(self, media_type: str) -> bool:
        main, _, sub = media_type.partition("/")
        return self.type in ("*", main) and self.subtype in ("*", sub)


def parse_accept(header: str | None) -> list[Clause]:
    """The clauses of ``header``, most preferred first: by ``q``, then specific before
    wildcard, then as written (goautoneg's order, as kube-apiserver and kube-openapi use)."""
    clauses: list[Clause] = []
    for part in (header or "").split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        main, _, sub = media.partition("/")
        if not sub:
            main, sub = (main, "*") if main == "*" else (main, "")
        params: dict[str, str] = {}
        q = 1.0
        for p in pieces[1:]:
            key, _, value = p.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key:
                params[key] = value
        if q > 0 and sub:
            clauses.append(Clause(main, sub, q, params))
    order = sorted(
        enumerate(clauses),
        key=lambda ic: (-ic[1].q, ic[1].type == "*", ic[1].subtype == "*", ic[0]),
    )
    return [c for _, c in order]


def not_acceptable(accepted: Iterable[str] = MEDIA_TYPES) -> E.StatusError:
    return E.StatusError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: " + ", ".join(accepted),
    )


def discovery_format(accept: str | None) -> str:
    """What to answer ``/api`` or ``/apis`` with: an aggregated version ("v2", "v2beta1") or
    "" for the unaggregated document; NotAcceptable when the header names nothing served."""
    if not (accept or "").strip():
        return ""
    for clause in parse_accept(accept):
        conversion = {k: clause.params[k] for k in ("g", "v", "as") if k in clause.params}
        if conversion:
            # only the aggregated list may be asked for by group/version/kind, and only
            # as JSON here (kube-apiserver could also encode it as protobuf)
            if (
                clause.matches("application/json")
                and clause.type != "*"
                and conversion.get("g") == AGGREGATED_GROUP
                and conversion.get("as") == AGGREGATED_KIND
                and conversion.get("v") in AGGREGATED_VERSIONS
            ):
                return conversion["v"]
            continue
        if any(clause.matches(m) for m in MEDIA_TYPES):
            return ""
    raise not_acceptable()
