"""APIServices as kube-aggregator keeps them: stored objects, registered and checked.

``apiregistration.k8s.io/v1`` APIServices are ordinary stored objects here, as in
kube-apiserver: listed, watched, created, updated and deleted through the API.

* The local ones, one per served group-version (:func:`discovery.api_services`), are
  registered as kube-aggregator's autoregister controller does: at start, every one
  missing is created (``kube-aggregator.kubernetes.io/automanaged: onstart`` for the
  built-in groups); those of custom resources (``automanaged: true``) follow their CRDs
  while the sandbox runs, made and removed as CRDs come and go. One that is as it
  should be is not written again, so a restart rewrites nothing.
* Any other APIService a user creates is stored as it is. The sandbox aggregates no
  other API server, so nothing is served for it; its ``Available`` condition is the one
  kube-aggregator's availability controller gives when it checks the Service: a local
  one (no ``spec.service``) is ``True``/``Local``; otherwise ``ServiceNotFound``,
  ``ServicePortError``, ``EndpointsNotFound`` or ``MissingEndpoints`` as the Service
  and its Endpoints are, and ``FailedDiscoveryCheck`` once they are there, since no
  server answers behind them. It is checked again whenever the Service or its
  Endpoints change.
* ``ValidateAPIService`` holds for every write: the name is ``version.group``, the
  priorities are in range, a local APIService carries no TLS settings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import logging
from typing import Any

from kn_walk.knative_rules import names
from kn_walk.sandbox.apiserver import discovery
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.registry.resources import (
    Resources,
    WriteContext,
    WriteOptions,
    now_rfc3339,
    rkey,
)
from kn_walk.sandbox.registry.store import Event, Obj

log = logging.getLogger(__name__)

#: the label kube-aggregator's autoregister controller puts on what it manages
L_AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"
MANAGER = "kube-apiserver"
_SERVICES = ("", "services")
_ENDPOINTS = ("", "endpoints")
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")


def _type(res: Resources, key: tuple[str, str]) -> ResourceType:
    rt = res.registry.get(key[0], "v1", key[1])
    assert rt is not None
    return rt


def _opts(subresource: str = "") -> WriteOptions:
    return WriteOptions(
        manager=MANAGER,
        field_validation="Ignore",
        subresource=subresource,
        user="system:apiserver",
    )


def _invalid(path: str, value: Any, detail: str) -> dict[str, str]:
    shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {shown}: {detail}",
        "field": path,
    }


def validate(rt: ResourceType, new: Obj) -> None:
    """ValidateAPIService (kube-aggregator's validation.go), for creates and updates."""
    spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    name = str(new["metadata"].get("name", ""))
    required = f"{version}.{group}"
    causes: list[dict[str, str]] = []
    if name != required:
        causes.append(
            _invalid("metadata.name", name, f'must be `spec.version+"."+spec.group`: "{required}"')
        )
    if not group and version != "v1":
        causes.append(
            {
                "reason": "FieldValueRequired",
                "message": "Required value: only v1 may have an empty group and it better be "
                "legacy kube",
                "field": "spec.group",
            }
        )
    if group:
        causes += [_invalid("spec.group", group, m) for m in names.dns1123_subdomain_errors(group)]
    causes += [_invalid("spec.version", version, m) for m in names.dns1035_label_errors(version)]
    for key, top in (("groupPriorityMinimum", 20000), ("versionPriority", 1000)):
        value = spec.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= top:
            causes.append(_invalid(f"spec.{key}", value, f"must be positive and less than {top}"))
    service = spec.get("service")
    skip_tls = spec.get("insecureSkipTLSVerify") is True
    ca_bundle = spec.get("caBundle") or ""
    if not service:
        if ca_bundle:
            try:
                size = len(base64.b64decode(str(ca_bundle), validate=True))
            except ValueError:
                size = len(str(ca_bundle))
            causes.append(
                _invalid(
                    "spec.caBundle",
                    f"{size} bytes",
                    "local APIServices may not have a caBundle",
                )
            )
        if skip_tls:
            causes.append(
                _invalid(
                    "spec.insecureSkipTLSVerify",
                    True,
                    "local APIServices may not have insecureSkipTLSVerify",
                )
            )
    elif skip_tls and ca_bundle:
        causes.append(
            _invalid("spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present")
        )
    if causes:
        raise E.invalid(rt, name, causes)


def default(new: Obj) -> None:
    """SetDefaults_ServiceReference: a Service's port is 443."""
    service = (new.get("spec") or {}).get("service")
    if isinstance(service, dict):
        service.setdefault("port", 443)


def _condition(status: str, reason: str, message: str) -> Obj:
    return {"type": "Available", "status": status, "reason": reason, "message": message}


def availability(res: Resources, api_service: Obj) -> Obj:
    """The ``Available`` condition kube-aggregator's availability controller gives
    ``api_service``, without its time."""
    spec = api_service.get("spec") or {}
    ref = spec.get("service")
    if not isinstance(ref, dict):
        return _condition("True", "Local", "Local APIServices are always available")
    ns, name, port = str(ref.get("namespace", "")), str(ref.get("name", "")), ref.get("port", 443)
    svc = res.find(_type(res, _SERVICES), ns, name)
    if svc is None:
        return _condition("False", "ServiceNotFound", f'service/{name} in "{ns}" is not present')
    svc_spec = svc.get("spec") or {}
    port_name = ""
    if svc_spec.get("type", "ClusterIP") == "ClusterIP":
        ports = [p for p in svc_spec.get("ports") or [] if isinstance(p, dict)]
        found = [p for p in ports if p.get("port") == port]
        if not found:
            return _condition(
                "False",
                "ServicePortError",
                f'service/{name} in "{ns}" is not listening on port {port}',
            )
        port_name = str(found[0].get("name") or "")
        endpoints = res.find(_type(res, _ENDPOINTS), ns, name)
        if endpoints is None:
            return _condition(
                "False",
                "EndpointsNotFound",
                f'cannot find endpoints for service/{name} in "{ns}"',
            )
        active = any(
            (subset.get("addresses") or [])
            and any(
                str(p.get("name") or "") == port_name
                for p in subset.get("ports") or []
                if isinstance(p, dict)
            )
            for subset in endpoints.get("subsets") or []
            if isinstance(subset, dict)
        )
        if not active:
            return _condition(
                "False",
                "MissingEndpoints",
                f'endpoints for service/{name} in "{ns}" have no addresses with port name '
                f'"{port_name}"',
            )
    host = svc_spec.get("clusterIP") or f"{name}.{ns}.svc"
    path = f"/apis/{spec.get('group')}/{spec.get('version')}"
    if api_service["metadata"].get("name") == "v1.":
        path = f"/api/{spec.get('version')}"
    return _condition(
        "False",
        "FailedDiscoveryCheck",
        f"failing or missing response from https://{host}:{port}{path}: "
        "the sandbox does not proxy to aggregated API servers",
    )


class APIServiceAdmission:
    """Defaults and validation of APIServices (kube-aggregator's strategy), as an
    admission plugin of the sandbox's store."""

    def handles(self, rt: ResourceType) -> bool:
        return rt.key == discovery.APISERVICES

    def admit(self, rt: ResourceType, new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        if ctx.subresource:
            return
        default(new)
        validate(rt, new)


class APIServices:
    """Registers the local APIServices and keeps every APIService's availability."""

    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self.rt = _type(resources, discovery.APISERVICES)
        self._svc_key = rkey(_type(resources, _SERVICES))
        self._ep_key = rkey(_type(resources, _ENDPOINTS))
        self._crd_key = rkey(_type(resources, _CRDS))
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------- registration

    def register(self, *, on_start: bool) -> None:
        """Make the local APIServices the served group-versions call for; remove the
        automanaged ones nothing is served for. ``on_start``: the built-in groups' too
        (autoregister's ``onstart``); otherwise only the custom resources'."""
        desired = {a["metadata"]["name"]: a for a in discovery.api_services(self.res.registry)}
        for current in self.res.store.list_objects(rkey(self.rt)):
            name = current["metadata"]["name"]
            managed = (current["metadata"].get("labels") or {}).get(L_AUTOMANAGED)
            if name in desired or managed not in ("true", "onstart"):
                continue
            if managed == "true" or on_start:
                with contextlib.suppress(E.StatusError):
                    self.res.delete(self.rt, "", name)
        for want in desired.values():
            label = want["metadata"]["labels"][L_AUTOMANAGED]
            if label == "onstart" and not on_start:
                continue
            self._ensure(want)

    def _ensure(self, want: Obj) -> None:
        name = want["metadata"]["name"]
        current = self.res.find(self.rt, "", name)
        if current is None:
            body = {
                "apiVersion": want["apiVersion"],
                "kind": want["kind"],
                "metadata": {"name": name, "labels": dict(want["metadata"]["labels"])},
                "spec": copy.deepcopy(want["spec"]),
            }
            try:
                current = self.res.create(self.rt, "", body, _opts())
            except E.StatusError as err:
                log.warning("cannot register apiservice %s: %s", name, err.message)
                return
        elif current.get("spec") != want["spec"] or any(
            (current["metadata"].get("labels") or {}).get(k) != v
            for k, v in want["metadata"]["labels"].items()
        ):
            new = copy.deepcopy(current)
            new["spec"] = copy.deepcopy(want["spec"])
            new["metadata"].setdefault("labels", {}).update(want["metadata"]["labels"])
            try:
                current = self.res.update(self.rt, "", name, new, _opts())
            except E.StatusError as err:
                log.warning("cannot update apiservice %s: %s", name, err.message)
                return
        self.check(current)

    # ------------------------------------------------------------- availability

    def check(self, api_service: Obj) -> None:
        """Write ``api_service``'s Available condition if it changed."""
        if api_service["metadata"].get("deletionTimestamp"):
            return
        want = availability(self.res, api_service)
        status = api_service.get("status") or {}
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        old = next((c for c in conditions if c.get("type") == "Available"), None)
        if old is not None and all(old.get(k) == want[k] for k in want):
            return
        want["lastTransitionTime"] = (
            old["lastTransitionTime"]
            if old is not None
            and old.get("status") == want["status"]
            and "lastTransitionTime" in old
            else now_rfc3339()
        )
        # kube's condition field order: type, status, lastTransitionTime, reason, message
        ordered = {
            k: want[k] for k in ("type", "status", "lastTransitionTime", "reason", "message")
        }
        new = copy.deepcopy(api_service)
        new["status"] = {
            **status,
            "conditions": [c for c in conditions if c.get("type") != "Available"] + [ordered],
        }
        meta = api_service["metadata"]
        with contextlib.suppress(E.StatusError):  # changed meanwhile: its event comes back here
            self.res.update(self.rt, "", meta["name"], new, _opts("status"))

    def _backed_by(self, namespace: str, name: str) -> list[Obj]:
        out = []
        for a in self.res.store.list_objects(rkey(self.rt)):
            ref = (a.get("spec") or {}).get("service")
            if isinstance(ref, dict) and (ref.get("namespace"), ref.get("name")) == (
                namespace,
                name,
            ):
                out.append(a)
        return out

    def _on_event(self, ev: Event) -> None:
        if ev.rkey == rkey(self.rt):
            if ev.type != "DELETED":
                current = self.res.find(self.rt, "", ev.obj["metadata"]["name"])
                if current is not None:
                    self.check(current)
        elif ev.rkey in (self._svc_key, self._ep_key):
            meta = ev.obj.get("metadata") or {}
            for a in self._backed_by(str(meta.get("namespace", "")), str(meta.get("name", ""))):
                self.check(a)
        else:  # a CRD came or went: its group-versions' APIServices follow
            self.register(on_start=False)

    # --------------------------------------------------------------- running

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        keys = {rkey(self.rt), self._svc_key, self._ep_key, self._crd_key}
        first = True
        while True:  # a watcher closed on overflow is replaced, after a full check
            watcher = self.res.store.subscribe(lambda ev: ev.rkey in keys)
            try:
                if not first:
                    self.register(on_start=False)
                    for a in self.res.store.list_objects(rkey(self.rt)):
                        self.check(a)
                first = False
                while True:
                    ev = await watcher.queue.get()
                    if ev is None:
                        break
                    try:
                        self._on_event(ev)
                    except Exception:  # one bad object must not stop the controller
                        log.exception("apiservices: %s", ev.rkey)
            finally:
                self.res.store.unsubscribe(watcher)
