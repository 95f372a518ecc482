"""``knwalk doctor``: is this context ready for the walkthrough?

:func:`doctor` checks, one line each, that the kubeconfig context resolves and
its cluster answers (and, for a GKE context, that ``gke-gcloud-auth-plugin`` is
there), that Knative Serving is installed and its Deployments are Available
(with the waiting reasons of pods that are not), which ingress is configured
and whether its gateway has an external address, and which domain Routes get.
It returns a :class:`DoctorReport`; nothing here prints.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kn_walk import manifests as M
from kn_walk.errors import KnwalkError
from kn_walk.install import (
    SANDBOX_VERSION_MARK,
    SERVING_API_VERSION,
    connect,
    deployment_row,
    get_kind,
    git_version,
    list_objects,
)
from kn_walk.knative_rules import labels

if TYPE_CHECKING:
    from kn_walk.kube import Kube

Obj = dict[str, Any]

OK, FAIL, SKIP = "ok", "fail", "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | fail | skip
    detail: str
    hint: str = ""

    def as_dict(self) -> Obj:
        return {"check": self.name, "status": self.status, "detail": self.detail, "hint": self.hint}


@dataclass
class DoctorReport:
    context: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def document(self) -> Obj:
        return {
            "context": self.context,
            "ok": self.ok,
            "checks": [c.as_dict() for c in self.checks],
        }


def _gke_context(paths: Sequence[Path], context: str) -> bool:
    """A context gcloud wrote (``gke_PROJECT_ZONE_NAME``) or whose user runs the GKE auth plugin."""
    from kn_walk import kubeconfig

    if context.startswith("gke_"):
        return True
    for path in paths:
        config = kubeconfig.load(path)
        user_name = None
        for entry in config.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == context:
                user_name = (entry.get("context") or {}).get("user")
        for entry in config.get("users") or []:
            if isinstance(entry, dict) and entry.get("name") == user_name:
                command = str(((entry.get("user") or {}).get("exec") or {}).get("command") or "")
                if os.path.basename(command) == "gke-gcloud-auth-plugin":
                    return True
    return False


def doctor(
    kubeconfig_path: str | os.PathLike[str] | None = None, context: str | None = None
) -> DoctorReport:
    """The checklist: each check ok/fail with a hint; later checks are skipped when one fails."""
    from kn_walk.kube import resolve
    from kn_walk.sandbox.control import CONTEXT as SANDBOX_CONTEXT

    report = DoctorReport(context)
    checks = report.checks
    try:
        paths, ctx, _ = resolve(kubeconfig_path, context, None)
    except KnwalkError as err:
        checks.append(Check("kubeconfig", FAIL, err.message, err.hint))
        return report
    report.context = ctx
    checks.append(Check("kubeconfig", OK, f"context {ctx} ({', '.join(str(p) for p in paths)})"))
    gke = _gke_context(paths, ctx)
    if gke:
        plugin = shutil.which("gke-gcloud-auth-plugin")
        if plugin:
            checks.append(Check("gke-gcloud-auth-plugin", OK, f"on PATH ({plugin})"))
        else:
            checks.append(
                Check(
                    "gke-gcloud-auth-plugin",
                    FAIL,
                    "not on PATH: kubectl and knwalk cannot get GKE credentials",
                    "install it: `gcloud components install gke-gcloud-auth-plugin` "
                    "(or your package manager's google-cloud-cli-gke-gcloud-auth-plugin)",
                )
            )
    sandbox_ctx = ctx == SANDBOX_CONTEXT

    def unreachable(err: KnwalkError) -> DoctorReport:
        if sandbox_ctx:
            checks.append(
                Check(
                    "sandbox",
                    FAIL,
                    f"not running: {err.message}",
                    "start it with `knwalk sandbox up`",
                )
            )
        checks.append(Check("cluster reachable", FAIL, err.message, err.hint))
        for name in ("Kubernetes version", "Knative Serving", "ingress", "gateway", "domain"):
            checks.append(Check(name, SKIP, "the cluster is not reachable"))
        return report

    try:
        kube = connect(kubeconfig_path, ctx)
    except KnwalkError as err:
        return unreachable(err)
    with kube:
        try:
            version = git_version(kube)
        except KnwalkError as err:
            return unreachable(err)
        server = kube.target.server
        sandbox = SANDBOX_VERSION_MARK in version
        if sandbox_ctx or sandbox:
            checks.append(Check("sandbox", OK, f"running at {server}"))
        checks.append(Check("cluster reachable", OK, f"API server {server}"))
        checks.append(
            Check(
                "Kubernetes version",
                OK if version else FAIL,
                version or "the API server did not say",
                "" if version else "is it a Kubernetes API server?",
            )
        )
        _doctor_knative(kube, sandbox, checks)
    return report


def _doctor_knative(kube: Kube, sandbox: bool, checks: list[Check]) -> None:
    services = kube.resource(SERVING_API_VERSION, "Service")
    ns = get_kind(kube, "v1", "Namespace", M.SERVING_NAMESPACE)
    if services is None or ns is None:
        missing = (
            f"the {SERVING_API_VERSION} API is not served"
            if services is None
            else f"namespace {M.SERVING_NAMESPACE} does not exist"
        )
        checks.append(
            Check(
                "Knative Serving",
                FAIL,
                f"not installed: {missing}",
                "install it with `knwalk install` (or use the sandbox: `knwalk sandbox up`)",
            )
        )
        for name in ("ingress", "gateway", "domain"):
            checks.append(Check(name, SKIP, "Knative Serving is not installed"))
        return
    version = ((ns.get("metadata") or {}).get("labels") or {}).get(M.VERSION_LABEL) or "unknown"
    deployments = kube.resource("apps/v1", "Deployment")
    objects = (
        list_objects(kube, deployments, M.SERVING_NAMESPACE)[0] if deployments is not None else []
    )
    rows = [deployment_row(d) for d in objects]
    played_by_sandbox = [
        labels.PLAYED_BY_ANNOTATION in ((d.get("metadata") or {}).get("annotations") or {})
        for d in objects
    ]
    late = [r for r in rows if not r.ok]
    if late:
        checks.append(
            Check(
                "Knative Serving",
                FAIL,
                f"version {version}; not ready: "
                + ", ".join(f"{r.name} {r.ready_text} ({r.reason})" for r in late),
                f"look at the pods: `kubectl -n {M.SERVING_NAMESPACE} get pods`; "
                "`knwalk install` waits for them",
            )
        )
    elif sandbox and all(played_by_sandbox):
        # the Deployments the sandbox shows for its own controllers, or none at all
        checks.append(
            Check("Knative Serving", OK, f"version {version}; built into the sandbox, Ready")
        )
    elif rows:
        checks.append(
            Check(
                "Knative Serving",
                OK,
                f"version {version}; {len(rows)} Deployment(s) Available",
            )
        )
    else:
        checks.append(
            Check(
                "Knative Serving",
                FAIL,
                f"version {version}; no Deployments in {M.SERVING_NAMESPACE}",
                "reinstall it with `knwalk install`",
            )
        )
    _doctor_ingress(kube, checks)


def _doctor_ingress(kube: Kube, checks: list[Check]) -> None:
    from kn_walk.ingress import GATEWAYS, gateway_url, ingress_class, service_address

    klass = ingress_class(kube)
    match = next((v for k, v in GATEWAYS.items() if k in klass.lower()), None)
    if match is None:
        checks.append(
            Check(
                "ingress",
                FAIL,
                f"ingress class {klass} is not one knwalk knows ({', '.join(GATEWAYS)})",
                "set one with `knwalk install --ingress istio|kourier`",
            )
        )
        checks.append(Check("gateway", SKIP, "unknown ingress class"))
    else:
        checks.append(Check("ingress", OK, f"class {klass}"))
        gw_ns, gw_name = match
        svc = get_kind(kube, "v1", "Service", gw_name, gw_ns)
        address = service_address(svc)
        if svc is None:
            checks.append(
                Check(
                    "gateway",
                    FAIL,
                    f"Service {gw_ns}/{gw_name} does not exist",
                    "install the networking layer with `knwalk install`",
                )
            )
        elif address is None:
            checks.append(
                Check(
                    "gateway",
                    FAIL,
                    f"Service {gw_ns}/{gw_name} has no external address",
                    f"a cloud load balancer can take minutes: `kubectl -n {gw_ns} get service "
                    f"{gw_name} -w`; or use `kubectl port-forward` and `knwalk curl --gateway`",
                )
            )
        else:
            url = gateway_url(svc, address)
            checks.append(Check("gateway", OK, f"Service {gw_ns}/{gw_name} at {address} ({url})"))
    domain_cm = get_kind(kube, "v1", "ConfigMap", "config-domain", M.SERVING_NAMESPACE)
    domains = [k for k in ((domain_cm or {}).get("data") or {}) if not k.startswith("_")]
    if domains:
        checks.append(Check("domain", OK, ", ".join(domains)))
    else:
        checks.append(
            Check(
                "domain",
                FAIL,
                "none configured: Routes get svc.cluster.local URLs, not reachable from outside",
                "set one with `knwalk install --domain example.com` (or --domain sslip.io)",
            )
        )
