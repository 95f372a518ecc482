"""The Knative Serving webhook: defaulting and validation for serving.knative.dev objects.

Messages follow Knative's ``apis.FieldError`` formatting (errors merged by
message, sorted, ``message: path, path``), wrapped as kube-apiserver wraps a
webhook denial: ``admission webhook "validation.webhook.serving.knative.dev"
denied the request: validation failed: ...``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kn_walk.knative_rules import domainmapping, fielderror, names, templates
from kn_walk.knative_rules import traffic as traffic_rules
from kn_walk.knative_rules.configmaps import DefaultsConfig
from kn_walk.knative_rules.fielderror import FieldError
from kn_walk.knative_rules.labels import CREATOR_ANNOTATION as CREATOR
from kn_walk.knative_rules.labels import LAST_MODIFIER_ANNOTATION as LAST_MODIFIER
from kn_walk.knative_rules.labels import SERVICE_LABEL
from kn_walk.sandbox.knative import revision_faults
from kn_walk.sandbox.knative.live_config import LiveConfig
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery import schema as S
from kn_walk.sandbox.machinery.resourcetypes import SERVING_GROUP, ResourceType
from kn_walk.sandbox.registry.resources import WriteContext, rkey
from kn_walk.sandbox.registry.store import Obj

VALIDATION_WEBHOOK = "validation.webhook.serving.knative.dev"

MAX_CONTAINER_CONCURRENCY = 1000
USER_CONTAINER = "user-container"


@dataclass
class Errors:
    """The errors of one admission, as Knative collects them with ``FieldError.Also``."""

    items: list[FieldError] = field(default_factory=list)

    def add(self, message: str, *paths: str, details: str = "") -> None:
        self.items.append(FieldError(message, paths, details))

    def extend(self, errors: list[FieldError], base: str = "") -> None:
        """Errors whose paths are below ``base`` (``metadata``, ``spec.template``)."""
        self.items += fielderror.via(base, errors) if base else errors


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ------------------------------------------------------------------ defaulting
def default_revision_spec(spec: Obj, defaults: DefaultsConfig | None = None) -> None:
    """RevisionSpec.SetDefaults with config-defaults as it is (Knative's defaults if None)."""
    cfg = defaults or DefaultsConfig()
    if not _int(spec.get("timeoutSeconds")):
        spec["timeoutSeconds"] = cfg.revision_timeout_seconds
    timeout = _int(spec.get("timeoutSeconds"))
    if timeout is not None:
        # only a non-zero default below the Revision's timeout
        for key, value in (
            ("idleTimeoutSeconds", cfg.revision_idle_timeout_seconds),
            ("responseStartTimeoutSeconds", cfg.revision_response_start_timeout_seconds),
        ):
            if spec.get(key) is None and value != 0 and value < timeout:
                spec[key] = value
    if spec.get("containerConcurrency") is None:
        spec["containerConcurrency"] = cfg.container_concurrency
    if cfg.enable_service_links is not None:
        spec.setdefault("enableServiceLinks", cfg.enable_service_links)
    containers = spec.get("containers")
    if not isinstance(containers, list):
        return
    for i, c in enumerate(containers):
        if not isinstance(c, dict):
            continue
        if not c.get("name"):
            c["name"] = USER_CONTAINER if len(containers) == 1 else f"{USER_CONTAINER}-{i}"
        c.setdefault("resources", {})
        if len(containers) == 1 or c.get("ports"):
            probe = c.get("readinessProbe")
            if not isinstance(probe, dict):
                probe = c["readinessProbe"] = {}
            if not any(k in probe for k in ("tcpSocket", "httpGet", "exec", "grpc")):
                probe["tcpSocket"] = {"port": 0}
            if not probe.get("successThreshold"):
                probe["successThreshold"] = 1
        for vm in c.get("volumeMounts") or []:
            if isinstance(vm, dict):
                vm["readOnly"] = True


# ------------------------------------------------------------------ validation
def validate_object_meta(meta: Obj, errs: Errors) -> None:
    errs.extend(names.object_meta_errors(meta), "metadata")


def validate_traffic(
    traffic: Any, errs: Errors, *, in_service: bool, base: str = traffic_rules.FIELD
) -> None:
    errs.extend(traffic_rules.validate(traffic, in_service=in_service, base=base))


def validate_revision_spec(
    spec: Any, errs: Errors, base: str, defaults: DefaultsConfig | None = None
) -> None:
    max_timeout = (defaults or DefaultsConfig()).max_revision_timeout_seconds
    if not isinstance(spec, dict):
        spec = {}
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        errs.add("missing field(s)", f"{base}.containers")
    else:
        for i, c in enumerate(containers):
            if isinstance(c, dict) and not c.get("image"):
                errs.add("missing field(s)", f"{base}.containers[{i}].image")
        if len([c for c in containers if isinstance(c, dict) and c.get("ports")]) > 1:
            errs.add("more than one container port is set", f"{base}.containers[*].ports")
        for message, path in templates.env_errors(containers):
            errs.add(message, f"{base}.{path}")
    timeout = _int(spec.get("timeoutSeconds"))
    if timeout is not None and not 0 <= timeout <= max_timeout:
        errs.add(f"expected 0 <= {timeout} <= {max_timeout}", f"{base}.timeoutSeconds")
    cc = _int(spec.get("containerConcurrency"))
    if cc is not None and not 0 <= cc <= MAX_CONTAINER_CONCURRENCY:
        errs.add(
            f"expected 0 <= {cc} <= {MAX_CONTAINER_CONCURRENCY}", f"{base}.containerConcurrency"
        )


def validate_template(
    template: Any,
    parent: str,
    errs: Errors,
    base: str,
    parent_generate_name: str = "",
    defaults: DefaultsConfig | None = None,
) -> None:
    if not isinstance(template, dict):
        template = {}  # Knative's Go types always have a (zero) template
    tmeta = template.get("metadata")
    tmeta = tmeta if isinstance(tmeta, dict) else {}
    name, generate = tmeta.get("name") or "", tmeta.get("generateName") or ""
    errors = names.revision_name_errors(str(name), str(generate), parent, parent_generate_name)
    errs.extend(errors, base)
    validate_revision_spec(template.get("spec"), errs, f"{base}.spec", defaults)


#: the defaulting webhook, which decodes the object first
DEFAULTING_WEBHOOK = "webhook.serving.knative.dev"
#: Knative's RevisionSpec embeds a core PodSpec
_POD_SPEC = "io.k8s.api.core.v1.PodSpec"


def _decode_pod_spec(kind: str, new: Obj) -> None:
    """The webhook decodes the object into Knative's Go types before anything else: an
    integer its PodSpec field cannot hold (``containerPort: 4294967297``) is refused there,
    not left for a Revision that never becomes ready."""
    spec = new.get("spec")
    if not isinstance(spec, dict):
        return
    pod_spec: Any
    path: tuple[str, ...]
    if kind == "Revision":
        pod_spec, path = spec, ("spec",)
    elif kind in ("Service", "Configuration"):
        template = spec.get("template")
        pod_spec = template.get("spec") if isinstance(template, dict) else None
        path = ("spec", "template", "spec")
    else:
        return
    if not isinstance(pod_spec, dict):
        return
    wrong = S.go_int_range_error_as(_POD_SPEC, pod_spec, path, "RevisionSpec")
    if wrong:
        raise E.bad_request(
            f'admission webhook "{DEFAULTING_WEBHOOK}" denied the request: '
            f"mutation failed: cannot decode incoming new object: {wrong}"
        )


class KnativeWebhook:
    """Admission for serving.knative.dev: mutating defaults, then validation."""

    def __init__(self) -> None:
        #: config-defaults as it is now (made with the first admission's Resources)
        self._config: LiveConfig | None = None

    def handles(self, rt: ResourceType) -> bool:
        return rt.group == SERVING_GROUP

    def admit(self, rt: ResourceType, new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        if ctx.subresource:
            return
        if self._config is None or self._config.res is not ctx.resources:
            self._config = LiveConfig(ctx.resources)
        defaults = self._config.defaults()
        kind = rt.kind
        _decode_pod_spec(kind, new)
        spec = new.get("spec")
        if spec is None:
            spec = new["spec"] = {}
        meta = new["metadata"]
        # -- defaulting (webhook.serving.knative.dev)
        if isinstance(spec, dict):
            template = spec.get("template")
            if (
                kind in ("Service", "Configuration")
                and isinstance(template, dict)
                and isinstance(template.get("spec"), dict)
            ):
                default_revision_spec(template["spec"], defaults)
            if kind == "Revision" and old is None:
                # not on an update: its spec is immutable (knative/serving#8128)
                default_revision_spec(spec, defaults)
            if kind in ("Service", "Route"):
                traffic_rules.set_defaults(spec, in_service=kind == "Service")
        if kind == domainmapping.KIND:
            domainmapping.set_defaults(new)
        annotations = meta.get("annotations")
        if kind != "Revision" and not meta.get("ownerReferences"):
            if not isinstance(annotations, dict):
                annotations = meta["annotations"] = {}
            if old is None:
                annotations.setdefault(CREATOR, ctx.user)
                annotations.setdefault(LAST_MODIFIER, ctx.user)
            else:
                old_ann = old["metadata"].get("annotations") or {}
                if CREATOR in old_ann:
                    annotations[CREATOR] = old_ann[CREATOR]
                if old.get("spec") != spec:
                    annotations[LAST_MODIFIER] = ctx.user
                elif LAST_MODIFIER in old_ann:
                    annotations[LAST_MODIFIER] = old_ann[LAST_MODIFIER]
        # -- validation (validation.webhook.serving.knative.dev)
        errs = Errors()
        # labels as release-1.23 takes them: unknown serving.knative.dev keys and any
        # visibility value pass (Knative dropped both checks, knative/serving#12397)
        if kind == domainmapping.KIND:  # its name is a domain, not a DNS-1035 label
            errs.extend(domainmapping.validate(new))
        else:
            validate_object_meta(meta, errs)
        if not isinstance(spec, dict):
            errs.add("expected an object", "spec")
        elif kind in ("Service", "Configuration"):
            validate_template(
                spec.get("template"),
                meta.get("name") or "",
                errs,
                "spec.template",
                meta.get("generateName") or "",
                defaults,
            )
            if old is not None:
                self._verify_name_change(old, new, errs)
            template = spec.get("template")
            tmeta = template.get("metadata") if isinstance(template, dict) else None
            if isinstance(tmeta, dict):
                base = "spec.template.metadata.annotations"
                errs.extend(revision_faults.annotation_errors(tmeta.get("annotations"), base))
        elif kind == "Revision":
            validate_revision_spec(spec, errs, "spec", defaults)
            errs.extend(revision_faults.annotation_errors(annotations, "metadata.annotations"))
            if old is not None and old.get("spec") != spec:
                errs.add(
                    "Immutable fields changed (-old +new)",
                    "spec",
                    details=_diff(old.get("spec"), spec),
                )
        if isinstance(spec, dict) and kind in ("Service", "Route"):
            validate_traffic(spec.get("traffic"), errs, in_service=kind == "Service")
            if kind == "Service" and not errs.items:
                self._check_revision_owners(meta, spec.get("traffic") or [], errs, ctx)
        if errs.items:
            raise E.admission_denied(VALIDATION_WEBHOOK, fielderror.validation_failed(errs.items))

    @staticmethod
    def _verify_name_change(old: Obj, new: Obj, errs: Errors) -> None:
        ot = (old.get("spec") or {}).get("template") or {}
        nt = (new.get("spec") or {}).get("template") or {}
        oname = (ot.get("metadata") or {}).get("name")
        nname = (nt.get("metadata") or {}).get("name")
        if nname and oname == nname and ot != nt:
            errs.add(
                "Saw the following changes without a name change (-old +new)",
                "spec.template.metadata.name",
                details=_diff(ot, nt),
            )

    @staticmethod
    def _check_revision_owners(
        meta: Obj, traffic: list[Any], errs: Errors, ctx: WriteContext
    ) -> None:
        """A Service's traffic may only name its own Revisions."""
        rev_type = ctx.resources.registry.get(SERVING_GROUP, "v1", "revisions")
        if rev_type is None:
            return
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        for i, t in enumerate(traffic):
            rev = t.get("revisionName") if isinstance(t, dict) else None
            if not rev:
                continue
            obj = ctx.resources.store.get(rkey(rev_type), ns, rev)
            if obj is None:
                continue  # a missing revision is reported by the Route (RevisionMissing)
            owner = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_LABEL)
            if owner != name:
                errs.add(
                    f"Revision {json.dumps(rev)} does not belong to Service {json.dumps(name)}",
                    f"spec.traffic[{i}].revisionName",
                )


def _diff(old: Any, new: Any) -> str:
    """A short -old +new rendering of what changed (Knative prints a go-cmp diff)."""
    a = json.dumps(old, sort_keys=True, indent=1).splitlines()
    b = json.dumps(new, sort_keys=True, indent=1).splitlines()
    lines = [f"-: {x.strip()}" for x in a if x not in b] + [
        f"+: {x.strip()}" for x in b if x not in a
    ]
    return "{*v1.RevisionSpec}\n" + "\n".join(lines[:20]) if lines else ""
