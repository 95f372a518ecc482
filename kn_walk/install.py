"""Install, uninstall and check Knative Serving on a cluster: apply, wait, delete, diagnose.

:func:`install` applies a :class:`~kn_walk.manifests.Plan` step by step with
server-side apply through knwalk's one client, :class:`~kn_walk.kube.Kube` (field
manager ``knwalk``; ``knwalk-config`` for the ingress class and domain), waits for
the CRDs to be Established, for every Deployment of ``knative-serving`` and of the
ingress namespace to be Available and for the gateway Service to get an
external address, all with :meth:`Kube.watch <kn_walk.kube.Kube.watch>`: the
same wait, and the same retries when the API server fails or restarts, as
``knwalk deploy``'s. Each object's resourceVersion is read
before it is applied, so an unchanged object is reported ``unchanged`` (and a
re-run of an install that is up to date changes nothing). Fields another field
manager owns are reported as conflicts, step by step, unless
``force_conflicts`` takes them over.

:func:`plan_uninstall` / :func:`uninstall` delete what ``install`` applied (the
objects of the same release files that carry the ``knwalk`` field manager),
in reverse order, keeping every namespace that holds a user's Knative Service.

``knwalk doctor``'s checklist is in :mod:`kn_walk.doctor`.

Nothing here prints: progress goes to an ``on_event`` callback as the event
dataclasses below; results are returned. ``kubernetes`` is imported inside the
functions that talk to a cluster.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kn_walk import manifests as M
from kn_walk.errors import ApiError, KnwalkError, WaitTimeout
from kn_walk.knative_rules.labels import GROUP

if TYPE_CHECKING:
    from kn_walk.kube import Kube, Resource

Obj = dict[str, Any]

CREATED, CONFIGURED, UNCHANGED = "created", "configured", "unchanged"
DEFAULT_WAIT_TIMEOUT = 600.0
#: a wait whose budget ran out before it began still looks once, for this long at most,
#: so its message says what is there instead of guessing
LOOK_ONCE = 2.0
SANDBOX_VERSION_MARK = "knwalk-sandbox"
SERVING_API_VERSION = f"{GROUP}/v1"


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class StepStarted:
    step: M.Step
    number: int
    total: int


@dataclass(frozen=True)
class ObjectApplied:
    step: M.Step
    obj: M.ManifestObject
    outcome: str  # created | configured | unchanged


@dataclass(frozen=True)
class StepDone:
    step: M.Step
    counts: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class CrdsWaiting:
    pending: tuple[str, ...]


@dataclass(frozen=True)
class DeploymentRow:
    namespace: str
    name: str
    ready: int
    desired: int
    ok: bool
    reason: str = ""

    @property
    def ready_text(self) -> str:
        return f"{self.ready}/{self.desired}"

    def as_dict(self) -> Obj:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "ready": self.ready,
            "desired": self.desired,
            "available": self.ok,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DeploymentsUpdate:
    rows: tuple[DeploymentRow, ...]


@dataclass(frozen=True)
class GatewayUpdate:
    namespace: str
    name: str
    exists: bool
    address: str | None


@dataclass(frozen=True)
class ObjectDeleted:
    obj: M.ManifestObject
    gone: bool  # False: it was already gone (404)


@dataclass(frozen=True)
class DeletionWaiting:
    pending: tuple[str, ...]


Event = (
    StepStarted
    | ObjectApplied
    | StepDone
    | CrdsWaiting
    | DeploymentsUpdate
    | GatewayUpdate
    | ObjectDeleted
    | DeletionWaiting
)
OnEvent = Callable[[Event], None]


def _ignore(_: Event) -> None:
    return None


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class FieldConflict:
    obj: M.ManifestObject
    field: str
    manager: str


class ApplyConflicts(KnwalkError):
    """Fields of objects in one step belong to another field manager; nothing of later steps ran."""

    def __init__(self, step: M.Step, conflicts: Sequence[FieldConflict], applied: int) -> None:
        objects = list(dict.fromkeys(c.obj.ref for c in conflicts))
        shown = "; ".join(
            f"{c.obj.ref} {c.field} (owned by {c.manager})" for c in list(conflicts)[:3]
        )
        more = f"; and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        super().__init__(
            f"step '{step.title}': {len(conflicts)} field(s) of {len(objects)} object(s) are "
            f"owned by another field manager: {shown}{more}",
            "someone changed them after they were applied, or another tool installed them; "
            "run again with --force-conflicts to take them over with the release's values",
        )
        self.step = step
        self.conflicts = tuple(conflicts)
        self.applied = applied


# --------------------------------------------------------------------------- the cluster


def _condition(obj: Obj | None, ctype: str) -> Obj | None:
    """The first ``status.conditions`` entry of type ``ctype``."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def _is_true(obj: Obj | None, ctype: str) -> bool:
    c = _condition(obj, ctype)
    return c is not None and c.get("status") == "True"


def connect(kubeconfig: str | os.PathLike[str] | None, context: str | None) -> Kube:
    """The client (:class:`~kn_walk.kube.Kube`) for the context, as every command gets it."""
    from kn_walk.kube import connect as kube_connect

    return kube_connect(kubeconfig, context, None)


def git_version(kube: Kube) -> str:
    """The API server's ``gitVersion``."""
    return str(kube.server_version().get("gitVersion") or "")


def is_sandbox(kube: Kube) -> bool:
    """The knwalk sandbox, by its version string (works whatever the context is called)."""
    return SANDBOX_VERSION_MARK in git_version(kube)


def require(kube: Kube, api_version: str, kind: str, why: str) -> Resource:
    """The resource serving ``kind``; an error naming ``why`` it is needed when there is none."""
    found = kube.resource(api_version, kind)
    if found is None:
        hint = "is the cluster's Kubernetes version too old for this release?"
        if is_sandbox(kube):
            hint = (
                "the sandbox serves Namespaces, ConfigMaps, Secrets, Services, "
                "ServiceAccounts, Deployments and CRDs (and what CRDs define)"
            )
        raise KnwalkError(
            f"the cluster (context {kube.context}) does not serve {kind} ({api_version}), "
            f"needed by {why}",
            hint,
        )
    return found


def namespace_for(kube: Kube, resource: Resource, obj: M.ManifestObject) -> str | None:
    """Where ``obj`` lives: its own namespace, else the context's; None for cluster-scoped."""
    return (obj.namespace or kube.namespace) if resource.namespaced else None


def list_objects(
    kube: Kube,
    resource: Resource,
    namespace: str | None,
    *,
    label_selector: str | None = None,
) -> tuple[list[Obj], str]:
    """(items, resourceVersion) in ``namespace`` (None: every namespace); a kind that is no
    longer served (its CRD deleted) lists as empty."""
    from kn_walk.kube import ALL_NAMESPACES

    try:
        return kube.list_of(
            resource,
            ALL_NAMESPACES if namespace is None else namespace,
            label_selector=label_selector,
        )
    except ApiError as err:
        if err.not_found:
            return [], ""
        raise


def get_kind(
    kube: Kube, api_version: str, kind: str, name: str, namespace: str | None = None
) -> Obj | None:
    resource = kube.resource(api_version, kind)
    return None if resource is None else kube.get_of(resource, name, namespace)


def is_sandbox_context(
    kubeconfig: str | os.PathLike[str] | None, context: str | None
) -> tuple[str, bool]:
    """(context name, whether it is the sandbox's) from the kubeconfig alone: no network."""
    from kn_walk.kube import resolve
    from kn_walk.sandbox.control import CONTEXT

    _, ctx, _ = resolve(kubeconfig, context, None)
    return ctx, ctx == CONTEXT


def kubectl_prefix(kubeconfig: str | os.PathLike[str] | None, context: str | None) -> str:
    """``kubectl`` with the --kubeconfig and --context the user gave, for printed commands."""
    import shlex

    parts = ["kubectl"]
    if kubeconfig is not None:
        parts.append(f"--kubeconfig {shlex.quote(str(kubeconfig))}")
    if context is not None:
        parts.append(f"--context {shlex.quote(context)}")
    return " ".join(parts)


def wait_commands(plan: M.Plan, prefix: str, timeout: float) -> list[str]:
    """The kubectl commands equivalent to install's waits."""
    t = f"--timeout={int(timeout)}s"
    out = [f"{prefix} wait --for=condition=Established crd -l {M.CRD_INSTALL_LABEL}=true {t}"]
    out += [
        f"{prefix} wait --for=condition=Available deployment --all -n {ns} {t}"
        for ns in plan.wait_namespaces
    ]
    gw_ns, gw_name = plan.gateway
    out.append(f"{prefix} -n {gw_ns} get service {gw_name}")
    return out


# --------------------------------------------------------------------------- install


@dataclass
class StepOutcome:
    name: str
    title: str
    counts: dict[str, int]

    @property
    def up_to_date(self) -> bool:
        return not self.counts.get(CREATED) and not self.counts.get(CONFIGURED)

    def as_dict(self) -> Obj:
        return {"name": self.name, "title": self.title, **self.counts}


@dataclass
class InstallResult:
    plan: M.Plan
    context: str
    steps: list[StepOutcome] = field(default_factory=list)
    deployments: list[DeploymentRow] = field(default_factory=list)
    gateway_address: str | None = None
    gateway_url: str | None = None
    domain: str | None = None  # None: --domain none (Knative's default)

    @property
    def changed(self) -> bool:
        return any(not s.up_to_date for s in self.steps)

    def document(self) -> Obj:
        plan = self.plan
        return {
            "context": self.context,
            "servingVersion": plan.release.serving,
            "ingress": plan.ingress,
            "ingressVersion": plan.release.ingress_version(plan.ingress),
            "istioVersion": plan.release.istio if plan.ingress == "istio" else None,
            "ingressClass": plan.ingress_class,
            "changed": self.changed,
            "steps": [s.as_dict() for s in self.steps],
            "deployments": [d.as_dict() for d in self.deployments],
            "gateway": {
                "service": "/".join(plan.gateway),
                "address": self.gateway_address,
                "url": self.gateway_url,
            },
            "domain": self.domain,
        }


class _Applier:
    """Applies the objects of one step, reading resourceVersions first (one list per kind)."""

    def __init__(self, kube: Kube, force: bool, on_event: OnEvent) -> None:
        self.kube = kube
        self.force = force
        self.on_event = on_event
        self.applied: dict[tuple[str, str, str, str], Obj] = {}

    def run(self, step: M.Step, deadline: Callable[[], float]) -> StepOutcome:
        from kn_walk.kube import FieldConflicts

        counts = {CREATED: 0, CONFIGURED: 0, UNCHANGED: 0}
        before: dict[tuple[str, str, str], dict[str, str]] = {}
        conflicts: list[FieldConflict] = []
        crds = step.crds
        crds_waited = not crds
        applied = 0
        for obj in step.objects:
            if not obj.is_crd and not crds_waited:
                self.wait_established(crds, deadline())
                crds_waited = True
            resource = self.resource_for(obj, deadline)
            namespace = namespace_for(self.kube, resource, obj)
            group_key = (obj.api_version, obj.kind, namespace or "")
            if group_key not in before:
                items, _ = list_objects(self.kube, resource, namespace)
                before[group_key] = {
                    i["metadata"]["name"]: str(i["metadata"].get("resourceVersion")) for i in items
                }
            old_rv = before[group_key].get(obj.name)
            try:
                result = self.kube.apply_of(
                    resource, obj.body, namespace, manager=step.manager, force=self.force
                )
            except FieldConflicts as exc:
                conflicts += [FieldConflict(obj, f, m) for f, m in exc.causes]
                continue
            except ApiError as err:
                raise _apply_error(obj, err) from None
            applied += 1
            new_rv = str(result.get("metadata", {}).get("resourceVersion"))
            outcome = CREATED if old_rv is None else UNCHANGED if old_rv == new_rv else CONFIGURED
            counts[outcome] += 1
            self.applied[obj.key] = result
            self.on_event(ObjectApplied(step, obj, outcome))
        if conflicts:
            raise ApplyConflicts(step, conflicts, applied)
        if not crds_waited:
            self.wait_established(crds, deadline())
        return StepOutcome(step.name, step.title, counts)

    def resource_for(self, obj: M.ManifestObject, deadline: Callable[[], float]) -> Resource:
        """The API resource of ``obj``; a kind of a CRD applied in this run may take a moment.

        kube-apiserver publishes a new CRD's resources in discovery shortly after
        the CRD is Established: kubectl users meet this race as "ensure CRDs are
        installed first". Discovery cannot be watched, so this retries with a
        capped backoff until the wait deadline.
        """
        resource = self.kube.resource(obj.api_version, obj.kind)
        defined = {d for o in self.applied.values() if (d := _defines(o))}
        attempt = 0
        while resource is None and (obj.group, obj.kind) in defined:
            if time.monotonic() >= deadline():
                break
            time.sleep(min(2.0, 0.05 * 2**attempt, max(0.0, deadline() - time.monotonic())))
            attempt += 1
            resource = self.kube.resource(obj.api_version, obj.kind)
        if resource is None:
            return require(self.kube, obj.api_version, obj.kind, obj.source)
        return resource

    def wait_established(self, crds: Sequence[M.ManifestObject], deadline: float) -> None:
        """Until every CRD is Established (most are, in the apply's answer already)."""
        pending = [c for c in crds if not _is_true(self.applied.get(c.key), "Established")]
        if not pending:
            return
        resource = require(self.kube, M.CRD_API_VERSION, M.CRD_KIND, "the CRDs")
        self.on_event(CrdsWaiting(tuple(c.name for c in pending)))
        for crd in pending:
            watched = self.kube.watch(
                resource,
                None,
                _established(crd.name),
                deadline=deadline,
                field_selector=f"metadata.name={crd.name}",
            )
            if not watched.done:
                obj = watched.objects.get(crd.name)
                if not watched.listed:  # the budget ran out before this wait began
                    obj = self.kube.get_of(
                        resource, crd.name, deadline=time.monotonic() + LOOK_ONCE
                    )
                why = _condition_text(obj, "Established") if obj else "it does not exist"
                raise WaitTimeout(
                    f"timed out waiting for CRD {crd.name} to be Established: {why}",
                    f"look at it with `kubectl get crd {crd.name} -o yaml`; "
                    "wait longer with --wait-timeout",
                )


def _defines(obj: Obj) -> tuple[str, str] | None:
    """(group, kind) a CRD object defines; None for other objects."""
    if obj.get("kind") != M.CRD_KIND:
        return None
    spec = obj.get("spec") or {}
    return str(spec.get("group") or ""), str((spec.get("names") or {}).get("kind") or "")


def _established(name: str) -> Callable[[dict[str, Obj]], bool]:
    return lambda state: _is_true(state.get(name), "Established")


def _gone(name: str) -> Callable[[dict[str, Obj]], bool]:
    return lambda state: name not in state


def _condition_text(obj: Obj | None, ctype: str) -> str:
    c = _condition(obj, ctype)
    if c is None:
        return f"no {ctype} condition yet"
    text = f"{ctype}={c.get('status')}"
    detail = ": ".join(str(x) for x in (c.get("reason"), c.get("message")) if x)
    return f"{text} ({detail})" if detail else text


def _apply_error(obj: M.ManifestObject, err: ApiError) -> KnwalkError:
    hint = err.hint or "fix the manifest, or report it if it is a release file"
    if "being terminated" in err.message:
        hint = "an uninstall is still deleting that namespace; wait for it and run again"
    return KnwalkError(f"applying {obj.ref} ({obj.source}) failed: {err.message}", hint)


def check_kinds(kube: Kube, plan: M.Plan) -> None:
    """Before changing anything: every kind not defined by the plan's own CRDs must be served."""
    defined = {d for o in plan.objects if (d := o.defines())}
    missing: dict[tuple[str, str], str] = {}
    for obj in plan.objects:
        if (obj.group, obj.kind) in defined or (obj.api_version, obj.kind) in missing:
            continue
        if kube.resource(obj.api_version, obj.kind) is None:
            missing[(obj.api_version, obj.kind)] = obj.source
    if missing:
        shown = ", ".join(f"{k} ({v}, in {src})" for (v, k), src in missing.items())
        hint = "is the cluster's Kubernetes version too old for this release?"
        if is_sandbox(kube):
            hint = (
                "the sandbox does not serve every kind of a real release yet; "
                "use a real cluster, or manifests without these kinds"
            )
        raise KnwalkError(
            f"the cluster (context {kube.context}) does not serve {shown}; nothing was changed",
            hint,
        )


def deployment_row(obj: Obj) -> DeploymentRow:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    desired = spec.get("replicas")
    desired = int(desired) if isinstance(desired, int) else 1
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    observed = int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
    available = _is_true(obj, "Available")
    ok = observed and (desired == 0 or (available and ready >= desired and updated >= desired))
    reason = ""
    if not ok:
        if not observed:
            reason = "rollout not observed yet"
        else:
            for ctype in ("Progressing", "Available", "ReplicaFailure"):
                for c in status.get("conditions") or []:
                    if c.get("type") == ctype and c.get("status") != "True" and c.get("reason"):
                        reason = f"{c.get('reason')}: {c.get('message') or ''}".rstrip(": ")
                        break
                if reason:
                    break
            if not reason:
                reason = f"{updated} updated, {ready} ready of {desired}"
    return DeploymentRow(
        str(meta.get("namespace") or ""), str(meta.get("name")), ready, desired, ok, reason
    )


def pod_reasons(kube: Kube, deployment: Obj, limit: int = 3) -> list[str]:
    """``pod NAME: ImagePullBackOff`` for the Deployment's pods (empty when pods are not served)."""
    pods = kube.resource("v1", "Pod")
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if pods is None or not labels:
        return []
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    try:
        items, _ = list_objects(
            kube, pods, deployment["metadata"]["namespace"], label_selector=selector
        )
    except KnwalkError:
        return []
    out: list[str] = []
    for pod in items[:limit]:
        status = pod.get("status") or {}
        why = ""
        for cs in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                why = str(waiting["reason"])
                break
        if not why:
            for c in status.get("conditions") or []:
                if c.get("type") == "PodScheduled" and c.get("status") == "False":
                    why = str(c.get("reason") or "not scheduled")
        out.append(f"pod {pod['metadata']['name']}: {why or status.get('phase') or 'Pending'}")
    return out


def wait_deployments(
    kube: Kube, namespaces: Sequence[str], deadline: float, on_event: OnEvent = _ignore
) -> list[DeploymentRow]:
    """Watch the Deployments of ``namespaces`` until every one is Available; raise at the deadline."""
    resource = require(kube, "apps/v1", "Deployment", "the wait for Deployments")
    states: dict[str, dict[str, Obj]] = {}
    for ns in namespaces:
        states[ns] = {i["metadata"]["name"]: i for i in list_objects(kube, resource, ns)[0]}

    def rows() -> list[DeploymentRow]:
        return [deployment_row(o) for ns in namespaces for _, o in sorted(states[ns].items())]

    on_event(DeploymentsUpdate(tuple(rows())))
    for ns in namespaces:

        def changed(state: dict[str, Obj], ns: str = ns) -> None:
            states[ns] = state
            on_event(DeploymentsUpdate(tuple(rows())))

        watched = kube.watch(
            resource,
            ns,
            lambda s: all(deployment_row(o).ok for o in s.values()),
            deadline=deadline,
            on_change=changed,
        )
        if watched.listed:  # else the budget ran out first: the list above is what we know
            states[ns] = watched.objects
        if not watched.done:
            break
    final = rows()
    late = [r for r in final if not r.ok]
    if late:
        parts = []
        for row in late:
            text = f"{row.namespace}/{row.name} ({row.ready_text} ready; {row.reason})"
            pods = pod_reasons(kube, states[row.namespace][row.name])
            if pods:
                text += " [" + "; ".join(pods) + "]"
            parts.append(text)
        first = late[0]
        raise WaitTimeout(
            f"timed out waiting for {len(late)} Deployment(s) to be Available: " + ", ".join(parts),
            f"look at them with `kubectl -n {first.namespace} describe deployment {first.name}`; "
            "wait longer with --wait-timeout",
            last=final,
        )
    return final


def wait_gateway(
    kube: Kube, namespace: str, name: str, deadline: float, on_event: OnEvent = _ignore
) -> str:
    """Watch the gateway Service until it has an external address (ip or hostname)."""
    from kn_walk.ingress import service_address

    resource = require(kube, "v1", "Service", "the wait for the gateway")

    def changed(state: dict[str, Obj]) -> None:
        svc = state.get(name)
        on_event(GatewayUpdate(namespace, name, svc is not None, service_address(svc)))

    watched = kube.watch(
        resource,
        namespace,
        lambda s: service_address(s.get(name)) is not None,
        deadline=deadline,
        field_selector=f"metadata.name={name}",
        on_change=changed,
    )
    svc = watched.objects.get(name)
    if not watched.done:
        if not watched.listed:  # the budget ran out before the wait began: look once
            svc = kube.get(
                "", "v1", "services", name, namespace, deadline=time.monotonic() + LOOK_ONCE
            )
        if svc is None:
            why = "it does not exist"
        else:
            kind = (svc.get("spec") or {}).get("type") or "ClusterIP"
            why = (
                "its LoadBalancer has no address yet"
                if kind == "LoadBalancer"
                else f"it is of type {kind}, not LoadBalancer"
            )
        raise WaitTimeout(
            f"timed out waiting for the gateway Service {namespace}/{name} to get an external "
            f"address: {why}",
            f"look at it with `kubectl -n {namespace} describe service {name}` (a cloud load "
            "balancer can take minutes); wait longer with --wait-timeout",
            last=svc,
        )
    address = service_address(svc)
    assert address is not None
    return address


def install(
    kube: Kube,
    plan: M.Plan,
    *,
    force_conflicts: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    on_event: OnEvent = _ignore,
) -> InstallResult:
    """Apply ``plan`` in order, wait for it to be ready, set the domain; see the module docstring."""
    check_kinds(kube, plan)
    result = InstallResult(plan, kube.context)
    applier = _Applier(kube, force_conflicts, on_event)
    wait_deadline: list[float] = []

    def deadline() -> float:
        """One budget for all waits, started by the first one."""
        if not wait_deadline:
            wait_deadline.append(time.monotonic() + wait_timeout)
        return wait_deadline[0]

    total = len(plan.steps)

    def run(number: int, step: M.Step) -> None:
        on_event(StepStarted(step, number, total))
        started = time.monotonic()
        outcome = applier.run(step, deadline)
        result.steps.append(outcome)
        on_event(StepDone(step, outcome.counts, time.monotonic() - started))

    before = [s for s in plan.steps if not s.after_waits]
    after = [s for s in plan.steps if s.after_waits]
    for number, step in enumerate(before, 1):
        run(number, step)
    result.deployments = wait_deployments(kube, plan.wait_namespaces, deadline(), on_event)
    gw_ns, gw_name = plan.gateway
    address = wait_gateway(kube, gw_ns, gw_name, deadline(), on_event)
    result.gateway_address = address
    from kn_walk.ingress import gateway_url

    result.gateway_url = gateway_url(get_kind(kube, "v1", "Service", gw_name, gw_ns), address)
    if plan.domain == M.SSLIP:
        result.domain = M.sslip_domain(address)
    elif plan.domain != M.NO_DOMAIN:
        result.domain = plan.domain
    for number, step in enumerate(after, len(before) + 1):
        if step.name == "domain" and result.domain:
            step = M.domain_step(result.domain)
        run(number, step)
    return result


# --------------------------------------------------------------------------- what is installed


@dataclass(frozen=True)
class Installed:
    """What the cluster says is installed (from labels and config-network)."""

    serving_version: str | None
    ingress: str | None
    ingress_class: str | None


def installed(kube: Kube) -> Installed:
    ns = get_kind(kube, "v1", "Namespace", M.SERVING_NAMESPACE)
    version = (((ns or {}).get("metadata") or {}).get("labels") or {}).get(M.VERSION_LABEL)
    from kn_walk.ingress import configured_class

    klass = configured_class(kube)
    ingress = None
    if klass:
        ingress = next((k for k in M.INGRESSES if k in str(klass)), None)
    elif ns is not None:
        ingress = "istio"  # Knative's default class
    return Installed(str(version) if version else None, ingress, str(klass) if klass else None)


# --------------------------------------------------------------------------- uninstall


@dataclass
class UninstallPlan:
    plan: M.Plan
    #: objects to delete, in order (namespaced ones whose namespace goes too are left out)
    delete: list[M.ManifestObject] = field(default_factory=list)
    #: namespaced objects deleted together with their namespace
    with_namespace: list[M.ManifestObject] = field(default_factory=list)
    #: objects of the release that exist but knwalk did not apply (kept)
    kept: list[M.ManifestObject] = field(default_factory=list)
    #: namespaces of the release kept because user Knative Services live there
    kept_namespaces: list[str] = field(default_factory=list)
    #: user Knative Services that disappear with the serving.knative.dev CRDs
    user_services: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.delete

    def document(self) -> Obj:
        return {
            "delete": [o.as_row() for o in self.delete],
            "deletedWithTheirNamespace": len(self.with_namespace),
            "kept": [o.as_row() for o in self.kept],
            "keptNamespaces": self.kept_namespaces,
            "userServicesDeletedWithTheCRDs": [
                {"namespace": ns, "name": name} for ns, name in self.user_services
            ],
        }


def _managed_by(obj: Obj, managers: Sequence[str]) -> bool:
    return any(
        e.get("manager") in managers for e in (obj.get("metadata") or {}).get("managedFields") or []
    )


def plan_uninstall(kube: Kube, plan: M.Plan) -> UninstallPlan:
    """Which objects of ``plan`` exist and were applied by knwalk, in deletion order."""
    out = UninstallPlan(plan)
    objects = [
        o for s in reversed(plan.steps) if s.manager == M.FIELD_MANAGER for o in reversed(s.objects)
    ]
    existing: dict[tuple[str, str, str, str], Obj] = {}
    listed: dict[tuple[str, str, str], dict[str, Obj]] = {}
    for obj in objects:
        resource = kube.resource(obj.api_version, obj.kind)
        if resource is None:
            continue  # its CRD is gone already
        namespace = namespace_for(kube, resource, obj)
        key = (obj.api_version, obj.kind, namespace or "")
        if key not in listed:
            items, _ = list_objects(kube, resource, namespace)
            listed[key] = {i["metadata"]["name"]: i for i in items}
        found = listed[key].get(obj.name)
        if found is not None:
            existing[obj.key] = found
    services = kube.resource(SERVING_API_VERSION, "Service")
    user: list[tuple[str, str]] = []
    if services is not None:
        items, _ = list_objects(kube, services, None)
        user = sorted(
            (str(i["metadata"].get("namespace")), str(i["metadata"]["name"])) for i in items
        )
    user_namespaces = {ns for ns, _ in user}
    managers = (M.FIELD_MANAGER,)
    doomed_namespaces: set[str] = set()
    for obj in objects:
        found = existing.get(obj.key)
        if found is None or obj.kind != "Namespace" or obj.group != "":
            continue
        if not _managed_by(found, managers):
            continue
        if obj.name in user_namespaces:
            out.kept_namespaces.append(obj.name)
        else:
            doomed_namespaces.add(obj.name)
    for obj in objects:
        found = existing.get(obj.key)
        if found is None:
            continue
        if not _managed_by(found, managers):
            out.kept.append(obj)
        elif obj.namespace and obj.namespace in doomed_namespaces and obj.kind != "Namespace":
            out.with_namespace.append(obj)
        elif obj.kind == "Namespace" and obj.name in out.kept_namespaces:
            continue
        else:
            out.delete.append(obj)
    crd_names = {o.name for o in out.delete if o.is_crd}
    if f"services.{GROUP}" in crd_names:
        out.user_services = user
    return out


@dataclass
class UninstallResult:
    deleted: list[M.ManifestObject] = field(default_factory=list)
    already_gone: list[M.ManifestObject] = field(default_factory=list)


def uninstall(
    kube: Kube,
    uplan: UninstallPlan,
    *,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    on_event: OnEvent = _ignore,
) -> UninstallResult:
    """Delete ``uplan.delete`` in order, then wait until the namespaces and CRDs are gone."""
    result = UninstallResult()
    for obj in uplan.delete:
        resource = kube.resource(obj.api_version, obj.kind)
        gone = False
        if resource is not None:
            namespace = namespace_for(kube, resource, obj)
            gone = kube.delete_of(resource, obj.name, namespace)
        (result.deleted if gone else result.already_gone).append(obj)
        on_event(ObjectDeleted(obj, gone))
    deadline = time.monotonic() + wait_timeout
    slow = [o for o in result.deleted if o.kind == "Namespace" or o.is_crd]
    if slow:
        on_event(DeletionWaiting(tuple(o.ref for o in slow)))
    for obj in slow:
        resource = kube.resource(obj.api_version, obj.kind)
        if resource is None:
            continue
        watched = kube.watch(
            resource,
            None,
            _gone(obj.name),
            deadline=deadline,
            field_selector=f"metadata.name={obj.name}",
        )
        if not watched.done:
            raise WaitTimeout(
                f"timed out waiting for {obj.ref} to be deleted",
                f"look at its finalizers with `kubectl get {obj.kind.lower()} {obj.name} -o yaml`; "
                "wait longer with --wait-timeout",
            )
    return result
