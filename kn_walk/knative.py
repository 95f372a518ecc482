"""Knative Serving objects: typed views, manifest/patch builders, and the walkthrough's operations.

Views (:class:`ServiceView`, :class:`RevisionView`, :class:`RouteView`,
:class:`ConfigurationView`) read the API's plain dicts once and never fail on
missing fields. Builders (:func:`service_manifest`, :func:`update_patch`) are
pure. Operations (:func:`plan_deploy`/:func:`deploy`, :func:`plan_split`/
:func:`split`, :func:`snapshot`, :func:`delete`) take a :class:`~kn_walk.kube.Kube`,
report progress through callbacks and never print.

Writes are JSON merge patches carrying the observed ``metadata.resourceVersion``
(never strategic merge: these are custom resources); a 409 means someone else
wrote first, so the operation re-reads and recomputes (:func:`kn_walk.kube.retry_on_conflict`,
up to :data:`kn_walk.kube.CONFLICT_ATTEMPTS` times), and never overwrites the other change.

``status_document`` output (``knwalk status -o json|yaml``), stable:

.. code-block:: text

    {
      "name": str, "namespace": str, "url": str | null,
      "ready": "True" | "False" | "Unknown", "reason": str, "message": str,
      "generation": int, "observedGeneration": int | null,
      "latestCreatedRevision": str | null, "latestReadyRevision": str | null,
      "revisions": [                       # newest first
        {"name": str, "generation": int, "created": str (RFC 3339),
         "ready": "True" | "False" | "Unknown", "reason": str, "message": str,
         "percent": int, "tags": [str], "target": str | null, "image": str,
         "actualReplicas": int | null,     # pods running (0: scaled to zero)
         "desiredReplicas": int | null,    # pods the autoscaler wants
         "fault": str | null}              # sandbox.knwalk.dev/fault (the sandbox's
                                           # fault injection), if set
      ],
      "traffic": [                         # the Route's status.traffic, in order
        {"tag": str | null, "revisionName": str | null, "latestRevision": bool,
         "percent": int, "url": str | null}
      ],
      "domainMappings": [                  # DomainMappings whose ref is this Service
        {"name": str, "url": str | null, "ready": "True" | "False" | "Unknown",
         "reason": str}
      ],
      "conditions": [                      # every condition that is not True
        {"kind": "Service" | "Configuration" | "Route" | "Revision" | "DomainMapping",
         "name": str, "type": str, "status": str, "reason": str, "message": str}
      ]
    }

Several services (``knwalk status`` without NAME): ``{"items": [<the above>, ...]}``.

``split_document`` output (``knwalk split -o json|yaml``), stable:

.. code-block:: text

    {"name": str, "namespace": str, "changed": bool,
     "spec": [target, ...],                # the spec.traffic block sent (or already there)
     "traffic": [<as in status>, ...]}     # the Route's status.traffic after the wait
"""

from __future__ import annotations

import copy
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kn_walk.errors import ApiError, KnwalkError, UsageError, WaitTimeout
from kn_walk.knative_rules import fielderror, names, sample, templates
from kn_walk.knative_rules import traffic as traffic_rules
from kn_walk.knative_rules.labels import (
    CONFIGURATION_GENERATION_LABEL,
    FAULT_ANNOTATION,
    SERVICE_LABEL,
)
from kn_walk.knative_rules.labels import GROUP as GROUP
from kn_walk.traffic import webhook_answer

if TYPE_CHECKING:
    from kn_walk.kube import Kube

Obj = dict[str, Any]

VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
#: DomainMappings are still beta in Knative Serving v1.23
DOMAIN_MAPPING_VERSION = "v1beta1"
DOMAIN_MAPPINGS = "domainmappings"
SERVICES = "services"
CONFIGURATIONS = "configurations"
REVISIONS = "revisions"
ROUTES = "routes"

DEFAULT_SERVICE = "helloworld-go"
DEFAULT_IMAGE = "gcr.io/knative-samples/helloworld-go"
DEFAULT_TARGET = "Go Sample v1"

DEFAULT_WAIT_TIMEOUT = 300.0
#: seconds a Ready=False must last before a wait calls it a failure (kn's --wait-window):
#: Knative passes through transient ones, e.g. RevisionMissing while a fixed revision starts
DEFAULT_WAIT_WINDOW = 2.0

INSTALL_HINT = "run `knwalk install` (or use the sandbox: `knwalk sandbox up`)"

_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*", re.ASCII)


# --------------------------------------------------------------------------- views


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return default


def _dict(value: object) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    severity: str = ""

    @classmethod
    def from_obj(cls, raw: Mapping[str, Any]) -> Condition:
        return cls(
            _str(raw.get("type")),
            _str(raw.get("status")) or "Unknown",
            _str(raw.get("reason")),
            _str(raw.get("message")),
            _str(raw.get("severity")),
        )

    def describe(self) -> str:
        """``Ready=Unknown (RevisionMissing): Configuration "x" is waiting ...``"""
        text = f"{self.type}={self.status}"
        if self.reason:
            text += f" ({self.reason})"
        if self.message:
            text += f": {self.message}"
        return text


def _replicas(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _conditions(obj: Mapping[str, Any]) -> tuple[Condition, ...]:
    raw = _list(_dict(obj.get("status")).get("conditions"))
    return tuple(Condition.from_obj(c) for c in raw if isinstance(c, dict))


def _find(conditions: Sequence[Condition], ctype: str) -> Condition | None:
    return next((c for c in conditions if c.type == ctype), None)


def _unsettled(conditions: Sequence[Condition]) -> list[Condition]:
    """The conditions that are not True, leaving out those of severity Info."""
    return [c for c in conditions if c.status != "True" and c.severity != "Info"]


def _observed_generation(status: Mapping[str, Any]) -> int | None:
    observed = status.get("observedGeneration")
    return _int(observed) if observed is not None else None


class _Ready:
    """``ready`` and ``ready_status`` of a view with ``conditions``."""

    conditions: tuple[Condition, ...]

    @property
    def ready(self) -> Condition | None:
        return _find(self.conditions, "Ready")

    @property
    def ready_status(self) -> str:
        return self.ready.status if self.ready else "Unknown"


@dataclass(frozen=True)
class TrafficTarget:
    """One entry of a ``status.traffic`` block."""

    percent: int
    revision_name: str
    tag: str
    url: str
    latest_revision: bool

    @classmethod
    def from_obj(cls, raw: Mapping[str, Any]) -> TrafficTarget:
        return cls(
            _int(raw.get("percent")),
            _str(raw.get("revisionName")),
            _str(raw.get("tag")),
            _str(raw.get("url")),
            traffic_rules.follows_latest(raw),
        )

    def as_dict(self) -> Obj:
        return {
            "tag": self.tag or None,
            "revisionName": self.revision_name or None,
            "latestRevision": self.latest_revision,
            "percent": self.percent,
            "url": self.url or None,
        }


def _traffic(raw: object) -> tuple[TrafficTarget, ...]:
    return tuple(TrafficTarget.from_obj(t) for t in _list(raw) if isinstance(t, dict))


@dataclass(frozen=True)
class _Meta:
    name: str
    namespace: str
    generation: int
    resource_version: str
    created: str
    labels: Mapping[str, str]


def _meta(obj: Mapping[str, Any]) -> _Meta:
    m = _dict(obj.get("metadata"))
    labels = {k: v for k, v in _dict(m.get("labels")).items() if isinstance(v, str)}
    return _Meta(
        _str(m.get("name")),
        _str(m.get("namespace")),
        _int(m.get("generation")),
        _str(m.get("resourceVersion")),
        _str(m.get("creationTimestamp")),
        labels,
    )


@dataclass(frozen=True)
class ServiceView(_Ready):
    name: str
    namespace: str
    generation: int
    observed_generation: int | None
    resource_version: str
    created: str
    url: str
    latest_created: str
    latest_ready: str
    conditions: tuple[Condition, ...]
    traffic: tuple[TrafficTarget, ...]
    raw: Obj = field(repr=False, compare=False)

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> ServiceView:
        m = _meta(obj)
        st = _dict(obj.get("status"))
        return cls(
            m.name,
            m.namespace,
            m.generation,
            _observed_generation(st),
            m.resource_version,
            m.created,
            _str(st.get("url")),
            _str(st.get("latestCreatedRevisionName")),
            _str(st.get("latestReadyRevisionName")),
            _conditions(obj),
            _traffic(st.get("traffic")),
            dict(obj),
        )

    @property
    def spec_traffic(self) -> list[Obj]:
        return [dict(t) for t in _list(_dict(self.raw.get("spec")).get("traffic"))]

    @property
    def template(self) -> Obj:
        return _dict(_dict(self.raw.get("spec")).get("template"))

    def tag_url(self, tag: str) -> str | None:
        return next((t.url for t in self.traffic if t.tag == tag and t.url), None)


@dataclass(frozen=True)
class RevisionView(_Ready):
    name: str
    namespace: str
    generation: int
    created: str
    service: str
    conditions: tuple[Condition, ...]
    image: str
    env: tuple[tuple[str, str], ...]
    #: status.actualReplicas / desiredReplicas (the pods running / wanted); None if unset
    actual_replicas: int | None = None
    desired_replicas: int | None = None
    #: the sandbox's fault injection for it (annotation sandbox.knwalk.dev/fault), if any
    fault: str = ""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> RevisionView:
        m = _meta(obj)
        annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
        status = _dict(obj.get("status"))
        containers = _list(_dict(obj.get("spec")).get("containers"))
        first = _dict(containers[0]) if containers else {}
        env = tuple(
            (_str(e.get("name")), _str(e.get("value")))
            for e in _list(first.get("env"))
            if isinstance(e, dict)
        )
        return cls(
            m.name,
            m.namespace,
            _int(m.labels.get(CONFIGURATION_GENERATION_LABEL)),
            m.created,
            m.labels.get(SERVICE_LABEL, ""),
            _conditions(obj),
            _str(first.get("image")),
            env,
            _replicas(status.get("actualReplicas")),
            _replicas(status.get("desiredReplicas")),
            _str(annotations.get(FAULT_ANNOTATION)),
        )

    @property
    def replicas(self) -> str:
        """``actual/desired`` as ``kubectl get revisions`` shows them, ``-`` if not reported."""
        if self.actual_replicas is None and self.desired_replicas is None:
            return "-"
        actual = "-" if self.actual_replicas is None else str(self.actual_replicas)
        desired = "-" if self.desired_replicas is None else str(self.desired_replicas)
        return f"{actual}/{desired}"

    @property
    def target(self) -> str | None:
        """The ``TARGET`` environment variable the helloworld sample greets, if set."""
        return next((v for k, v in self.env if k == sample.TARGET_ENV), None)

    @property
    def sample_body(self) -> str:
        """What the helloworld sample answers for this revision."""
        return sample.reply(self.target)


@dataclass(frozen=True)
class ConfigurationView:
    name: str
    latest_created: str
    latest_ready: str
    conditions: tuple[Condition, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> ConfigurationView:
        st = _dict(obj.get("status"))
        return cls(
            _meta(obj).name,
            _str(st.get("latestCreatedRevisionName")),
            _str(st.get("latestReadyRevisionName")),
            _conditions(obj),
        )


@dataclass(frozen=True)
class RouteView(_Ready):
    name: str
    generation: int
    observed_generation: int | None
    url: str
    traffic: tuple[TrafficTarget, ...]
    conditions: tuple[Condition, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> RouteView:
        m = _meta(obj)
        st = _dict(obj.get("status"))
        return cls(
            m.name,
            m.generation,
            _observed_generation(st),
            _str(st.get("url")),
            _traffic(st.get("traffic")),
            _conditions(obj),
        )


@dataclass(frozen=True)
class DomainMappingView(_Ready):
    """A DomainMapping (``serving.knative.dev/v1beta1``): a custom domain for a Service."""

    name: str
    namespace: str
    ref_kind: str
    ref_name: str
    url: str
    conditions: tuple[Condition, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> DomainMappingView:
        m = _meta(obj)
        ref = _dict(_dict(obj.get("spec")).get("ref"))
        return cls(
            m.name,
            m.namespace,
            _str(ref.get("kind")),
            _str(ref.get("name")),
            _str(_dict(obj.get("status")).get("url")),
            _conditions(obj),
        )

    def maps(self, svc: ServiceView) -> bool:
        """Whether it maps its domain to the Knative Service ``svc``."""
        return (self.namespace, self.ref_kind, self.ref_name) == (
            svc.namespace,
            "Service",
            svc.name,
        )


@dataclass(frozen=True)
class Snapshot:
    """A Service and what it owns, as ``kubectl get ksvc,configuration,revision,route`` shows,
    and the DomainMappings that point at it."""

    service: ServiceView
    configuration: ConfigurationView | None
    revisions: tuple[RevisionView, ...]  # newest first
    route: RouteView | None
    domain_mappings: tuple[DomainMappingView, ...] = ()

    @property
    def traffic(self) -> tuple[TrafficTarget, ...]:
        """The Route's traffic (what the gateway does), else the Service's copy of it."""
        if self.route is not None and self.route.traffic:
            return self.route.traffic
        return self.service.traffic

    def revision(self, name: str) -> RevisionView | None:
        return next((r for r in self.revisions if r.name == name), None)


# --------------------------------------------------------------------------- input parsing


def check_service_name(name: str) -> str:
    if not names.is_dns1035_label(name):
        raise UsageError(
            f"service name {name!r} is not a DNS-1035 label",
            "use lower-case letters, digits and '-', starting with a letter, at most 63 characters",
        )
    return name


def parse_revision_name(service: str, text: str | None) -> str | None:
    """``--revision-name``: a full name (``SERVICE-suffix``) or just the suffix."""
    if text is None:
        return None
    name = text if text.startswith(f"{service}-") else f"{service}-{text}"
    errors = names.revision_name_errors(name, "", service)
    if errors:
        raise UsageError(
            f"revision name {name!r} is not a DNS-1035 label of at most 63 characters",
            f"use a suffix of lower-case letters, digits and '-', e.g. --revision-name {service}-v2",
            detail=webhook_answer(fielderror.via("spec.template", errors)),
        )
    return name


def parse_image(text: str | None) -> str | None:
    if text is None:
        return None
    if not text.strip() or any(c.isspace() for c in text):
        raise UsageError(
            f"--image {text!r} is not an image reference",
            "give a reference like gcr.io/knative-samples/helloworld-go",
        )
    return text


@dataclass(frozen=True)
class EnvChange:
    """Environment edits from ``-e K=V``, ``-e K-``, ``--env-unset K`` and ``--target``."""

    set: tuple[tuple[str, str], ...] = ()
    unset: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.unset)


def _check_env_name(name: str, given: str) -> None:
    if not _ENV_NAME.fullmatch(name):
        raise UsageError(
            f"environment variable name {name!r} in {given!r} is not valid",
            "names are letters, digits, '_', '-' and '.', not starting with a digit",
        )


def parse_env(
    items: Sequence[str], unset: Sequence[str] = (), target: str | None = None
) -> EnvChange:
    """``-e K=V`` (``-e K-`` unsets, as kn does), ``--env-unset K``, ``--target TEXT``."""
    sets: dict[str, str] = {}
    unsets: list[str] = []
    for item in items:
        if "=" in item:
            name, _, value = item.partition("=")
            if not name:
                raise UsageError(f"-e {item!r} has no variable name", "write -e NAME=VALUE")
            _check_env_name(name, item)
            if templates.is_reserved_env(name):
                raise UsageError(
                    f"-e/--env {name}: {templates.reserved_env_message(name)}",
                    templates.reserved_env_hint(),
                )
            if name in sets:
                raise UsageError(f"-e sets {name} twice", "give each variable once")
            sets[name] = value
        elif item.endswith("-") and len(item) > 1:
            _check_env_name(item[:-1], item)
            unsets.append(item[:-1])
        else:
            raise UsageError(
                f"-e {item!r} is not NAME=VALUE", "write -e NAME=VALUE (or -e NAME- to remove one)"
            )
    for name in unset:
        _check_env_name(name, name)
        unsets.append(name)
    if target is not None:
        if sample.TARGET_ENV in sets:
            raise UsageError("--target and -e TARGET=... both set TARGET", "give only one of them")
        sets[sample.TARGET_ENV] = target
    both = sorted(set(sets) & set(unsets))
    if both:
        raise UsageError(
            f"{', '.join(both)} is both set and removed",
            "give either NAME=VALUE or --env-unset NAME",
        )
    dupes = [n for n, c in Counter(unsets).items() if c > 1]
    if dupes:
        raise UsageError(f"{', '.join(dupes)} is removed twice", "give each variable once")
    return EnvChange(tuple(sets.items()), tuple(unsets))


@dataclass(frozen=True)
class DeployOptions:
    """What ``knwalk deploy`` was asked to change (None / empty: leave as is)."""

    image: str | None = None
    env: EnvChange = EnvChange()
    port: int | None = None
    revision_name: str | None = None

    def __bool__(self) -> bool:
        return bool(self.image or self.env or self.port or self.revision_name)


def read_manifest(path: Path) -> Obj:
    """A Knative Service manifest from a YAML/JSON file (``deploy -f``; ``-`` is stdin), checked.

    The file is read with :mod:`kn_walk.safeload`'s bounds: a regular file (or
    stdin) of at most a few MiB, no YAML alias bomb.
    """
    from kn_walk import safeload

    label = f"-f {safeload.shown(path)}"
    hint = "give -f a Knative Service manifest file (or - for stdin)"
    try:
        found = safeload.read_yaml_all(path, label=label, hint=hint, usage=True, stdin=True)
    except FileNotFoundError:
        raise UsageError(f"cannot read {label}: no such file", "check the -f path") from None
    docs = [d for d in found if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise UsageError(
            f"{path} must hold exactly one Knative Service (found {len(docs)} documents)",
            "put one `kind: Service` (serving.knative.dev/v1) in the file",
        )
    doc: Obj = docs[0]
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "Service":
        raise UsageError(
            f"{path} is a {doc.get('apiVersion')}/{doc.get('kind')}, not a {API_VERSION} Service",
            "knwalk deploy -f applies Knative Services only; use kubectl for other kinds",
        )
    name = _dict(doc.get("metadata")).get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(f"{path} has no metadata.name", "name the Service in metadata.name")
    check_service_name(name)
    return doc


# --------------------------------------------------------------------------- builders


def _set_env(container: Obj, change: EnvChange) -> None:
    env = [dict(e) for e in _list(container.get("env")) if isinstance(e, dict)]
    env = [e for e in env if e.get("name") not in change.unset]
    for name, value in change.set:
        entry = {"name": name, "value": value}
        for i, existing in enumerate(env):
            if existing.get("name") == name:
                env[i] = entry
                break
        else:
            env.append(entry)
    if env:
        container["env"] = env
    else:
        container.pop("env", None)


def _set_port(container: Obj, port: int) -> None:
    ports = [dict(p) for p in _list(container.get("ports")) if isinstance(p, dict)]
    first = ports[0] if ports else {}
    first["containerPort"] = port
    container["ports"] = [first]


def service_manifest(name: str, namespace: str, opts: DeployOptions) -> Obj:
    """A new Service with the walkthrough's defaults, changed by ``opts``."""
    container: Obj = {"image": opts.image or DEFAULT_IMAGE}
    defaults = EnvChange(((sample.TARGET_ENV, DEFAULT_TARGET),))
    _set_env(container, defaults)
    _set_env(container, opts.env)
    if opts.port:
        _set_port(container, opts.port)
    template: Obj = {"spec": {"containers": [container]}}
    if opts.revision_name:
        template = {"metadata": {"name": opts.revision_name}, **template}
    return {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": template},
    }


def update_patch(service: Mapping[str, Any], opts: DeployOptions) -> Obj | None:
    """The merge patch that changes only what ``opts`` names, or None if nothing would change.

    Lists are replaced whole by a merge patch, so the patch carries the full
    ``containers`` list, edited; ``metadata.resourceVersion`` makes it
    conditional on the state it was computed from.
    """
    spec = _dict(service.get("spec"))
    template = _dict(spec.get("template"))
    containers = copy.deepcopy(_list(_dict(template.get("spec")).get("containers")))
    if not containers or not isinstance(containers[0], dict):
        containers = [{}]
    first: Obj = containers[0]
    before = copy.deepcopy(containers)
    if opts.image:
        first["image"] = opts.image
    _set_env(first, opts.env)
    if opts.port:
        _set_port(first, opts.port)
    old_name = _str(_dict(template.get("metadata")).get("name"))
    name_patch: str | None = None
    name_changes = False
    if opts.revision_name and opts.revision_name != old_name:
        name_patch, name_changes = opts.revision_name, True
    changed = containers != before
    if not changed and not name_changes:
        return None
    tpl_patch: Obj = {"spec": {"containers": containers}}
    if name_changes:
        tpl_patch["metadata"] = {"name": name_patch}
    elif old_name:
        # a revision name cannot be reused for a new template: let the server pick one
        tpl_patch["metadata"] = {"name": None}
    return {
        "metadata": {"resourceVersion": _meta(service).resource_version},
        "spec": {"template": tpl_patch},
    }


# --------------------------------------------------------------------------- reading


def not_installed(kube: Kube) -> KnwalkError:
    return KnwalkError(
        f"Knative Serving is not installed in context {kube.context} "
        f"(the API has no {API_VERSION})",
        INSTALL_HINT,
    )


def _check_installed(kube: Kube) -> None:
    if not kube.has_group_version(GROUP, VERSION):
        raise not_installed(kube)


def list_objects(
    kube: Kube, plural: str, namespace: str | None = None, *, label_selector: str | None = None
) -> list[Obj]:
    """A Knative list; a 404 means the API group is missing: Knative is not installed."""
    try:
        items, _ = kube.list(GROUP, VERSION, plural, namespace, label_selector=label_selector)
    except ApiError as err:
        if err.status == 404:
            _check_installed(kube)
        raise
    return items


def get_service(kube: Kube, name: str) -> ServiceView | None:
    obj = kube.get(GROUP, VERSION, SERVICES, name)
    if obj is None:
        _check_installed(kube)
        return None
    return ServiceView.from_obj(obj)


def service_missing(kube: Kube, name: str) -> KnwalkError:
    names = sorted(_meta(o).name for o in list_objects(kube, SERVICES))
    here = f"namespace {kube.namespace!r} (context {kube.context})"
    hint = (
        f"services in {kube.namespace}: {', '.join(names)}"
        if names
        else f"deploy it with `knwalk deploy {name}`"
    )
    return KnwalkError(f"Knative Service {name!r} not found in {here}", hint)


def require_service(kube: Kube, name: str) -> ServiceView:
    svc = get_service(kube, name)
    if svc is None:
        raise service_missing(kube, name)
    return svc


def list_revisions(kube: Kube, service: str) -> list[RevisionView]:
    """The Service's revisions, newest first."""
    items = list_objects(kube, REVISIONS, label_selector=f"{SERVICE_LABEL}={service}")
    revs = [RevisionView.from_obj(o) for o in items]
    return sorted(revs, key=lambda r: (r.generation, r.created, r.name), reverse=True)


def _assemble(
    svc: ServiceView,
    configs: Sequence[Obj],
    revisions: Sequence[Obj],
    routes: Sequence[Obj],
    mappings: Sequence[Obj] = (),
) -> Snapshot:
    def owned(obj: Mapping[str, Any]) -> bool:
        m = _meta(obj)
        return m.namespace == svc.namespace and m.labels.get(SERVICE_LABEL) == svc.name

    config = next((ConfigurationView.from_obj(c) for c in configs if owned(c)), None)
    route = next((RouteView.from_obj(r) for r in routes if owned(r)), None)
    revs = sorted(
        (RevisionView.from_obj(r) for r in revisions if owned(r)),
        key=lambda r: (r.generation, r.created, r.name),
        reverse=True,
    )
    dms = tuple(
        sorted(
            (dm for dm in map(DomainMappingView.from_obj, mappings) if dm.maps(svc)),
            key=lambda dm: dm.name,
        )
    )
    return Snapshot(svc, config, tuple(revs), route, dms)


def domain_mappings(kube: Kube, namespace: str | None = None) -> list[Obj]:
    """The DomainMappings of the namespace; none when the cluster does not serve them (an
    older Knative) or the user may not list them: they are an addition to the status."""
    try:
        items, _ = kube.list(GROUP, DOMAIN_MAPPING_VERSION, DOMAIN_MAPPINGS, namespace)
    except ApiError as err:
        if err.status in (403, 404):
            return []
        raise
    return items


def snapshot(kube: Kube, name: str) -> Snapshot:
    """The Service ``name`` with its Configuration, Revisions and Route (error if missing)."""
    svc = require_service(kube, name)
    selector = f"{SERVICE_LABEL}={name}"
    configs = list_objects(kube, CONFIGURATIONS, label_selector=selector)
    revisions = list_objects(kube, REVISIONS, label_selector=selector)
    routes = list_objects(kube, ROUTES, label_selector=selector)
    return _assemble(svc, configs, revisions, routes, domain_mappings(kube))


def snapshots(kube: Kube, namespace: str | None = None) -> list[Snapshot]:
    """Every Service in the namespace (``kube.ALL_NAMESPACES``: everywhere), by namespace and name."""
    services = list_objects(kube, SERVICES, namespace)
    if not services:
        return []
    configs = list_objects(kube, CONFIGURATIONS, namespace)
    revisions = list_objects(kube, REVISIONS, namespace)
    routes = list_objects(kube, ROUTES, namespace)
    mappings = domain_mappings(kube, namespace)
    views = sorted((ServiceView.from_obj(s) for s in services), key=lambda s: (s.namespace, s.name))
    return [_assemble(v, configs, revisions, routes, mappings) for v in views]


def _not_true(kind: str, name: str, conditions: Sequence[Condition]) -> list[Obj]:
    return [
        {
            "kind": kind,
            "name": name,
            "type": c.type,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
        }
        for c in _unsettled(conditions)
    ]


def status_document(snap: Snapshot) -> Obj:
    """The stable ``knwalk status -o json`` shape (see the module docstring)."""
    svc = snap.service
    traffic = snap.traffic
    percents: Counter[str] = Counter()
    tags: dict[str, list[str]] = {}
    for t in traffic:
        if t.revision_name:
            percents[t.revision_name] += t.percent
            if t.tag:
                tags.setdefault(t.revision_name, []).append(t.tag)
    ready = svc.ready
    conditions = _not_true("Service", svc.name, svc.conditions)
    if snap.configuration:
        conditions += _not_true(
            "Configuration", snap.configuration.name, snap.configuration.conditions
        )
    if snap.route:
        conditions += _not_true("Route", snap.route.name, snap.route.conditions)
    for rev in snap.revisions:
        conditions += _not_true("Revision", rev.name, rev.conditions)
    for dm in snap.domain_mappings:
        conditions += _not_true("DomainMapping", dm.name, dm.conditions)
    return {
        "name": svc.name,
        "namespace": svc.namespace,
        "url": svc.url or None,
        "ready": svc.ready_status,
        "reason": ready.reason if ready else "",
        "message": ready.message if ready else "",
        "generation": svc.generation,
        "observedGeneration": svc.observed_generation,
        "latestCreatedRevision": svc.latest_created or None,
        "latestReadyRevision": svc.latest_ready or None,
        "revisions": [
            {
                "name": r.name,
                "generation": r.generation,
                "created": r.created,
                "ready": r.ready_status,
                "reason": r.ready.reason if r.ready else "",
                "message": r.ready.message if r.ready else "",
                "percent": percents.get(r.name, 0),
                "tags": tags.get(r.name, []),
                "target": r.target,
                "image": r.image,
                "actualReplicas": r.actual_replicas,
                "desiredReplicas": r.desired_replicas,
                "fault": r.fault or None,
            }
            for r in snap.revisions
        ],
        "traffic": [t.as_dict() for t in traffic],
        "domainMappings": [
            {
                "name": dm.name,
                "url": dm.url or None,
                "ready": dm.ready_status,
                "reason": dm.ready.reason if dm.ready else "",
            }
            for dm in snap.domain_mappings
        ],
        "conditions": conditions,
    }


@dataclass(frozen=True)
class ExpectedResponse:
    """A body the helloworld sample should answer with, and how often (percent)."""

    body: str
    percent: int
    revisions: tuple[str, ...]


def expected_responses(snap: Snapshot, tag: str | None = None) -> list[ExpectedResponse]:
    """Bodies expected from the Route's traffic (the helloworld sample answers per TARGET).

    With ``tag``, the tag's URL goes 100% to its revision.
    """
    targets = [t for t in snap.traffic if t.tag == tag] if tag else list(snap.traffic)
    if tag:
        targets = [
            TrafficTarget(100, t.revision_name, t.tag, t.url, t.latest_revision)
            for t in targets[:1]
        ]
    by_body: dict[str, tuple[int, list[str]]] = {}
    for t in targets:
        rev = snap.revision(t.revision_name)
        if rev is None or t.percent == 0:
            continue
        pct, names = by_body.get(rev.sample_body, (0, []))
        by_body[rev.sample_body] = (pct + t.percent, [*names, rev.name])
    return [ExpectedResponse(b, p, tuple(n)) for b, (p, n) in by_body.items()]


# --------------------------------------------------------------------------- deploy


@dataclass(frozen=True)
class DeployPlan:
    """What :func:`deploy` would send: ``action`` is create, update, apply or unchanged."""

    action: str
    name: str
    namespace: str
    body: Obj | None
    current: ServiceView | None
    kubectl: str


def plan_deploy(
    kube: Kube,
    name: str,
    opts: DeployOptions,
    manifest: Obj | None = None,
    *,
    manifest_path: str = "FILE",
) -> DeployPlan:
    """Read the Service and decide what to send; sends nothing.

    ``manifest_path`` only names the file in the equivalent kubectl command.
    """
    prefix = kube.target.kubectl_prefix
    current = get_service(kube, name)
    if manifest is not None:
        body = copy.deepcopy(manifest)
        body.setdefault("metadata", {})["namespace"] = kube.namespace
        return DeployPlan(
            "apply",
            name,
            kube.namespace,
            body,
            current,
            f"{prefix} apply --server-side --field-manager=knwalk --force-conflicts "
            f"-f {_quote(manifest_path)}",
        )
    if current is None:
        body = service_manifest(name, kube.namespace, opts)
        if opts.revision_name:
            _check_revision_name(kube, name, opts.revision_name, None)
        return DeployPlan("create", name, kube.namespace, body, None, f"{prefix} create -f -")
    patch = update_patch(current.raw, opts)
    if patch is None:
        return DeployPlan("unchanged", name, kube.namespace, None, current, "")
    template_patch = patch["spec"]["template"]
    if opts.revision_name and _dict(template_patch.get("metadata")).get("name"):
        spec = copy.deepcopy(_dict(_dict(current.template).get("spec")))
        spec["containers"] = template_patch["spec"]["containers"]
        _check_revision_name(kube, name, opts.revision_name, spec)
    return DeployPlan(
        "update", name, kube.namespace, patch, current, kubectl_patch(kube, name, patch)
    )


def _check_revision_name(kube: Kube, service: str, revision: str, spec: Obj | None) -> None:
    """``--revision-name`` may name an existing Revision only if the Service's own
    Configuration made it from the same spec (``spec``; None: the Service is new)."""
    obj = kube.get(GROUP, VERSION, REVISIONS, revision)
    if obj is None:
        return
    refs = [_dict(r) for r in _list(_dict(obj.get("metadata")).get("ownerReferences"))]
    owner = next((r for r in refs if r.get("controller")), {})
    ours = owner.get("kind") == "Configuration" and owner.get("name") == service
    if spec is not None and ours and templates.revision_reusable(_dict(obj.get("spec")), spec):
        return
    taken = templates.revision_exists_message(revision)
    raise UsageError(
        f"--revision-name {revision}: revision {revision!r} already exists with another "
        f"template, so Knative cannot use the name ({taken})",
        "choose a new name, or leave out --revision-name to let Knative name the revision",
    )


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def kubectl_patch(kube: Kube, name: str, patch: Obj) -> str:
    """The ``kubectl patch ksvc`` command that sends ``patch`` as a merge patch."""
    import json

    text = json.dumps(patch, separators=(",", ":"))
    return f"{kube.target.kubectl_prefix} patch ksvc {name} --type merge -p {_quote(text)}"


@dataclass(frozen=True)
class DeployResult:
    action: str  # created, updated, applied, unchanged
    service: ServiceView
    new_revision: bool
    ready: bool | None  # None: not waited for

    @property
    def revision(self) -> str:
        return self.service.latest_ready or self.service.latest_created

    @property
    def latest_percent(self) -> int | None:
        """Percent of traffic that follows the latest revision (None if unknown)."""
        spec = self.service.spec_traffic
        if not spec:
            return 100
        return sum(
            _int(t.get("percent")) for t in spec if TrafficTarget.from_obj(t).latest_revision
        )


ProgressFn = Callable[[float, Condition], None]

_Plan = TypeVar("_Plan")


@dataclass(frozen=True)
class _Written(Generic[_Plan]):
    """How :func:`_write_service` ended."""

    plan: _Plan  # the last plan computed
    obj: Obj | None  # the Service the server answered with; None: nothing to send
    attempt: int  # 1-based
    first: ServiceView | None  # the Service as the first attempt read it
    sent: _Plan | None  # the last plan sent


def _write_service(
    *,
    read: Callable[[], _Plan],
    service: Callable[[_Plan], ServiceView | None],
    pending: Callable[[_Plan], bool],
    send: Callable[[_Plan], Obj],
    on_plan: Callable[[_Plan], None] | None,
    rejected: tuple[str, str],
) -> _Written[_Plan]:
    """``send`` the plan ``read`` computes, if ``pending``; a 409 re-reads and recomputes.

    ``on_plan`` sees the first plan, and a last one with nothing to send. Nothing left
    to send after one of ours went out, while the ``service`` read has a newer
    generation: ours did apply (its answer was lost), ``obj`` is the Service as read.
    A 400/422 answer becomes an error from ``rejected`` = (what was rejected, hint).
    """
    from kn_walk.kube import retry_on_conflict

    seen: dict[str, Any] = {"first": None, "sent": None}

    def attempt(number: int) -> _Written[_Plan]:
        plan = read()
        current = service(plan)
        if number == 1:
            seen["first"] = current
        first, sent = seen["first"], seen["sent"]
        if not pending(plan):
            if (
                sent is not None
                and first is not None
                and current is not None
                and current.generation > first.generation
            ):
                return _Written(plan, current.raw, number, first, sent)
            if on_plan:
                on_plan(plan)
            return _Written(plan, None, number, first, sent)
        if on_plan and number == 1:
            on_plan(plan)
        seen["sent"] = plan
        try:
            return _Written(plan, send(plan), number, first, plan)
        except ApiError as err:
            if err.status in (400, 422):
                what, hint = rejected
                raise ApiError(
                    f"{what}: {err.message}", hint, status=err.status, reason=err.reason
                ) from None
            raise

    # 409: someone wrote first (or created it meanwhile): read again and recompute
    return retry_on_conflict(attempt)


def deploy(
    kube: Kube,
    name: str,
    opts: DeployOptions,
    *,
    manifest: Obj | None = None,
    wait: bool = True,
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    window: float = DEFAULT_WAIT_WINDOW,
    on_plan: Callable[[DeployPlan], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> DeployResult:
    """Create or update the Service, then (``wait``) watch until its new generation is Ready.

    ``on_plan`` is told what is about to be sent (on the first attempt; a 409
    re-reads and recomputes without telling it again);
    ``on_progress(elapsed, ready_condition)`` sees each new Ready condition
    of the new generation. Stale events (observedGeneration behind) are ignored.
    Nothing to change (action ``unchanged``) still waits for the Service as it
    is, so a failed one is reported as failed, not as available. ``window``:
    see :func:`wait_ready`.
    """
    started = time.monotonic()

    def send(plan: DeployPlan) -> Obj:
        assert plan.body is not None
        if plan.action == "create":
            return kube.create(GROUP, VERSION, SERVICES, plan.body)
        if plan.action == "update":
            return kube.merge_patch(GROUP, VERSION, SERVICES, name, plan.body)
        return kube.apply(GROUP, VERSION, SERVICES, name, plan.body)

    written = _write_service(
        read=lambda: plan_deploy(kube, name, opts, manifest),
        service=lambda plan: plan.current,
        pending=lambda plan: plan.action != "unchanged",
        send=send,
        on_plan=on_plan,
        rejected=(
            f"the API server rejected service {name!r}",
            "fix the value it names (see knwalk deploy --help)",
        ),
    )
    plan, obj = written.plan, written.obj

    def as_is(current: ServiceView) -> DeployResult:
        # nothing new to roll out: the Service's own state is the outcome
        if not wait:
            return DeployResult("unchanged", current, False, None)
        remaining = timeout - (time.monotonic() - started)
        ready = wait_ready(
            kube,
            name,
            current.generation,
            max(remaining, 0.5),
            on_progress,
            started=started,
            window=window,
        )
        return DeployResult("unchanged", ready, False, True)

    if obj is None:
        assert plan.current is not None
        return as_is(plan.current)
    if plan.action == "unchanged":
        # an attempt of ours did apply (its answer was lost and the retry got 409):
        # report it as done and wait for it, against the state before it
        assert written.sent is not None
        plan = replace(plan, action=written.sent.action, current=written.first)
    svc = ServiceView.from_obj(obj)
    action = {"create": "created", "update": "updated", "apply": "applied"}[plan.action]
    before = plan.current
    if before is not None and svc.generation == before.generation:
        return as_is(svc)
    if not wait:
        return DeployResult(action, svc, True, None)
    remaining = timeout - (time.monotonic() - started)
    ready = wait_ready(
        kube,
        name,
        svc.generation,
        max(remaining, 0.5),
        on_progress,
        started=started,
        window=window,
    )
    new_revision = before is None or ready.latest_created != before.latest_created
    return DeployResult(action, ready, new_revision, True)


class _Failing(Exception):
    """Ready=False seen for the awaited generation: a failure once it lasts the window."""

    def __init__(self, condition: Condition) -> None:
        super().__init__(condition.describe())
        self.condition = condition


def wait_ready(
    kube: Kube,
    name: str,
    generation: int,
    timeout: float,
    on_progress: ProgressFn | None = None,
    *,
    started: float | None = None,
    window: float = DEFAULT_WAIT_WINDOW,
) -> ServiceView:
    """Watch the Service until generation ``generation`` (or later) is Ready=True.

    Only states that Knative reconciled from that generation count
    (``status.observedGeneration >= generation``). Ready=False is a failure
    only once it has lasted ``window`` seconds without a change to Unknown or
    True (as kn's ``--wait-window``: Knative passes through RevisionMissing
    while a fixed revision starts); then it fails with its reason and message.
    The timeout says which condition is not ready and why.
    """
    t0 = time.monotonic() if started is None else started
    deadline = time.monotonic() + timeout
    last: list[tuple[str, str, str]] = []

    def observe(obj: Obj | None) -> Condition | None:
        """The Ready condition of our generation (reported once per change), else None."""
        if obj is None:
            raise KnwalkError(
                f"service {name!r} was deleted while waiting for it", "deploy it again"
            )
        svc = ServiceView.from_obj(obj)
        if svc.observed_generation is None or svc.observed_generation < generation:
            return None  # a stale event: the controller has not seen our change yet
        cond = svc.ready
        if cond is None:
            return None
        if cond.status == "True" and svc.latest_created != svc.latest_ready:
            # Knative never reports this (the Configuration is not Ready until its latest
            # created revision is); a lagging status must not end the wait early
            return None
        key = (cond.status, cond.reason, cond.message)
        if not last or last[-1] != key:
            last.append(key)
            if on_progress:
                on_progress(time.monotonic() - t0, cond)
        return cond

    def until(obj: Obj | None) -> bool:
        cond = observe(obj)
        if cond is not None and cond.status == "False":
            raise _Failing(cond)
        return cond is not None and cond.status == "True"

    def failing(obj: Obj | None) -> bool:
        cond = observe(obj)
        return cond is not None and cond.status == "False"

    def describe(obj: Obj | None) -> str:
        if obj is None:
            return f"service {name!r} does not exist"
        svc = ServiceView.from_obj(obj)
        if svc.observed_generation is None or svc.observed_generation < generation:
            return (
                f"service {name!r} generation {generation} not yet observed by Knative "
                f"(observed: {svc.observed_generation})"
            )
        bad = [c.describe() for c in _unsettled(svc.conditions)]
        return f"service {name!r} is not ready: " + ("; ".join(bad) or "no Ready condition yet")

    def failed(cond: Condition) -> KnwalkError:
        return KnwalkError(
            f"service {name!r} failed: {cond.describe()}",
            f"see `knwalk status {name}`; fix the image or settings and deploy again",
        )

    while True:
        try:
            obj = kube.wait_for(
                GROUP,
                VERSION,
                SERVICES,
                name,
                until,
                timeout=max(deadline - time.monotonic(), 0.05),
                describe=describe,
            )
        except _Failing as exc:
            cond = exc.condition
        except WaitTimeout as exc:
            raise WaitTimeout(
                exc.message + _revision_detail(kube, exc.last),
                f"see `knwalk status {name}`, or wait longer with --wait-timeout",
                last=exc.last,
            ) from None
        else:
            assert obj is not None
            return ServiceView.from_obj(obj)
        # Ready=False: a failure only if it lasts the window (or until the deadline)
        left = min(window, deadline - time.monotonic())
        if left <= 0:
            raise failed(cond)
        try:
            kube.wait_for(GROUP, VERSION, SERVICES, name, lambda o: not failing(o), timeout=left)
        except WaitTimeout as exc:
            now = ServiceView.from_obj(exc.last).ready if isinstance(exc.last, dict) else None
            raise failed(now if now is not None and now.status == "False" else cond) from None
        # it changed (to Unknown or True, or a later generation): wait on


def _revision_detail(kube: Kube, last: object) -> str:
    if not isinstance(last, dict):
        return ""
    name = ServiceView.from_obj(last).latest_created
    if not name:
        return ""
    try:
        obj = kube.get(GROUP, VERSION, REVISIONS, name)
    except KnwalkError:
        return ""
    if obj is None:
        return ""
    rev = RevisionView.from_obj(obj)
    bad = [c.describe() for c in _unsettled(rev.conditions)]
    return f"; revision {name}: {'; '.join(bad)}" if bad else ""


# --------------------------------------------------------------------------- split


@dataclass(frozen=True)
class SplitPlan:
    service: ServiceView
    revisions: tuple[RevisionView, ...]
    block: list[Obj]
    patch: Obj | None  # None: the block is already in place
    kubectl: str


def _normal(block: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    """Comparable form of a traffic block: (tag, revision or @latest, percent), sorted."""
    out = []
    for t in block:
        ref = "@latest" if traffic_rules.follows_latest(t) else _str(t.get("revisionName"))
        out.append((_str(t.get("tag")), ref, _int(t.get("percent"))))
    return sorted(out)


def plan_split(
    kube: Kube,
    name: str,
    specs: Sequence[str],
    *,
    tags: Sequence[str] = (),
    untags: Sequence[str] = (),
) -> SplitPlan:
    """Read the Service and its Revisions, compute the new ``spec.traffic``; sends nothing."""
    from kn_walk import traffic

    svc = require_service(kube, name)
    revisions = list_revisions(kube, name)
    infos = [traffic.RevisionInfo(r.name, r.generation) for r in revisions]
    block = traffic.compute(
        name,
        svc.spec_traffic,
        infos,
        specs,
        tags=tags,
        untags=untags,
        latest_ready=svc.latest_ready or None,
    )
    if _normal(block) == _normal(svc.spec_traffic or traffic_rules.default_block()):
        return SplitPlan(svc, tuple(revisions), block, None, "")
    patch = {"metadata": {"resourceVersion": svc.resource_version}, "spec": {"traffic": block}}
    command = kubectl_patch(kube, name, {"spec": {"traffic": block}})
    return SplitPlan(svc, tuple(revisions), block, patch, command)


@dataclass(frozen=True)
class SplitResult:
    service: ServiceView
    block: list[Obj]
    traffic: tuple[TrafficTarget, ...]  # the Route's status.traffic (after the wait)
    changed: bool
    attempts: int


def split_document(result: SplitResult) -> Obj:
    """The stable ``knwalk split -o json`` shape (see the module docstring)."""
    return {
        "name": result.service.name,
        "namespace": result.service.namespace,
        "changed": result.changed,
        "spec": result.block,
        "traffic": [t.as_dict() for t in result.traffic],
    }


def split(
    kube: Kube,
    name: str,
    specs: Sequence[str],
    *,
    tags: Sequence[str] = (),
    untags: Sequence[str] = (),
    wait: bool = True,
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    on_plan: Callable[[SplitPlan], None] | None = None,
) -> SplitResult:
    """Patch ``spec.traffic`` (merge patch + resourceVersion; on 409 re-read and recompute),
    then (``wait``) watch the Service until its Route's traffic (``status.traffic``) shows the
    new split; a split someone else writes meanwhile ends the wait at once (see
    :func:`wait_traffic`)."""
    started = time.monotonic()

    def send(plan: SplitPlan) -> Obj:
        assert plan.patch is not None
        return kube.merge_patch(GROUP, VERSION, SERVICES, name, plan.patch)

    written = _write_service(
        read=lambda: plan_split(kube, name, specs, tags=tags, untags=untags),
        service=lambda plan: plan.service,
        pending=lambda plan: plan.patch is not None,
        send=send,
        on_plan=on_plan,
        rejected=(
            "Knative rejected the traffic block",
            "see knwalk split --help for the accepted forms",
        ),
    )
    plan, obj, attempt = written.plan, written.obj, written.attempt
    if obj is None:
        traffic_now = _route_traffic(kube, name) or plan.service.traffic
        return SplitResult(plan.service, plan.block, traffic_now, False, attempt)
    # with nothing left to send, ``obj`` is our patch that did apply (its answer was lost)
    svc = ServiceView.from_obj(obj)
    if not wait:
        return SplitResult(svc, plan.block, svc.traffic, True, attempt)
    remaining = max(0.5, timeout - (time.monotonic() - started))
    done = wait_traffic(kube, svc, remaining)
    return SplitResult(done, plan.block, done.traffic, True, attempt)


def _route_traffic(kube: Kube, name: str) -> tuple[TrafficTarget, ...]:
    obj = kube.get(GROUP, VERSION, ROUTES, name)
    return RouteView.from_obj(obj).traffic if obj else ()


def same_traffic(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> bool:
    """Whether two ``spec.traffic`` blocks send the same percents to the same targets with
    the same tags (order, defaulted ``latestRevision`` and ``url`` aside)."""
    return _normal(a) == _normal(b)


def traffic_matches(block: Sequence[Mapping[str, Any]], status: Sequence[TrafficTarget]) -> bool:
    """Whether a Route's ``status.traffic`` realises the ``spec.traffic`` block."""
    want = _normal(block)
    have = sorted(
        (t.tag, "@latest" if t.latest_revision else t.revision_name, t.percent) for t in status
    )
    return want == have


def show_block(block: Sequence[Mapping[str, Any]]) -> str:
    """``[helloworld-go-00001 50%, current @latest 50%]``: a traffic block, briefly."""
    shown = []
    for tag, ref, percent in _normal(block):
        shown.append(f"{tag + ' ' if tag else ''}{ref} {percent}%")
    return "[" + ", ".join(shown) + "]"


def wait_traffic(kube: Kube, written: ServiceView, timeout: float) -> ServiceView:
    """Watch the Service we patched until its Route serves the ``spec.traffic`` we wrote.

    ``written`` is the Service as our patch left it. Done when Knative has
    observed that generation, RoutesReady is True and ``status.traffic`` (the
    Route's, copied to the Service) realises our block. If ``spec.traffic``
    becomes anything else (another split won), that is reported at once,
    naming what it is now, instead of waiting for a split that will never come.
    """
    name, generation = written.name, written.generation
    ours = written.spec_traffic

    def until(obj: Obj | None) -> bool:
        if obj is None:
            raise KnwalkError(
                f"service {name!r} was deleted while waiting for its traffic split",
                "deploy it again, then split",
            )
        svc = ServiceView.from_obj(obj)
        if _normal(svc.spec_traffic) != _normal(ours):
            raise KnwalkError(
                f"the traffic of service {name!r} was changed meanwhile by someone else: "
                f"spec.traffic is now {show_block(svc.spec_traffic)} "
                f"(generation {svc.generation}), not {show_block(ours)}",
                f"see `knwalk status {name}`; run the split again to apply yours on top",
            )
        if svc.observed_generation is None or svc.observed_generation < generation:
            return False
        routes = _find(svc.conditions, "RoutesReady")
        return bool(routes and routes.status == "True" and traffic_matches(ours, svc.traffic))

    def describe(obj: Obj | None) -> str:
        if obj is None:
            return f"service {name!r} does not exist"
        svc = ServiceView.from_obj(obj)
        shown = ", ".join(
            f"{t.tag + ' ' if t.tag else ''}{t.revision_name or '@latest'} {t.percent}%"
            for t in svc.traffic
        )
        routes = _find(svc.conditions, "RoutesReady")
        ready = routes.describe() if routes else "no RoutesReady condition"
        return f"route {name!r} still shows [{shown}] ({ready})"

    obj = kube.wait_for(GROUP, VERSION, SERVICES, name, until, timeout=timeout, describe=describe)
    assert obj is not None
    return ServiceView.from_obj(obj)


# --------------------------------------------------------------------------- delete


def delete(kube: Kube, name: str, *, wait: bool = False, timeout: float = 60.0) -> None:
    """Delete the Service (its Configuration, Revisions and Route go with it).

    ``wait``: foreground deletion, then watch until the Service is gone.
    """
    require_service(kube, name)
    try:
        kube.delete(
            GROUP, VERSION, SERVICES, name, propagation="Foreground" if wait else "Background"
        )
    except ApiError as err:
        if err.not_found:
            return  # someone else deleted it meanwhile: the outcome asked for
        raise
    if wait:
        kube.wait_for(
            GROUP,
            VERSION,
            SERVICES,
            name,
            lambda obj: obj is None,
            timeout=timeout,
            describe=lambda obj: f"service {name!r} is still being deleted",
        )
