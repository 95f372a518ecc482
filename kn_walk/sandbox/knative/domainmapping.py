"""Knative Serving v1.23's DomainMapping reconciler (``pkg/reconciler/domainmapping``).

For DomainMapping ``{domain}`` in namespace ``ns`` whose ref resolves to
``http://{svc}.{ns}.svc.cluster.local`` (a Knative Service's or Route's
``status.address``, or a Kubernetes Service):

* the domain must be claimed for ``ns``: a ClusterDomainClaim ``{domain}``
  (``networking.internal.knative.dev/v1alpha1``, cluster-scoped) whose
  ``spec.namespace`` is ``ns``. With config-network's
  ``autocreate-cluster-domain-claims`` (``"false"`` by default: the cluster's
  administrator creates the claims) the reconciler creates it, and deletes it when
  the DomainMapping goes;
* Ingress ``{domain}`` (``kmeta.ChildName``), controlled by the DomainMapping, with
  one ``ExternalIP`` rule for the domain whose one path rewrites the Host to the
  target's cluster-local host and sends everything to the target's Service (for a
  Knative Service its placeholder, an ExternalName of the cluster-local gateway),
  setting ``K-Original-Host``; net-istio reconciles it, and the gateways serve it
  (:mod:`kn_walk.sandbox.dataplane.wiring`);
* status: ``url`` and ``address.url`` ``http://{domain}``, the conditions
  DomainClaimed, ReferenceResolved, CertificateProvisioned (``TLSNotEnabled``, or
  ``CertificateExternallyProvided`` with ``spec.tls``) and IngressReady (the
  Ingress's Ready once it observed its generation), and Ready from them.

Like the generated reconciler, it keeps the finalizer
``domainmappings.serving.knative.dev`` on each DomainMapping. The sandbox's
gateways speak plain HTTP only: with ``spec.tls`` the status says ``https`` as
Knative's does, but the gateway does not terminate TLS.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from kn_walk.knative_rules import children as K
from kn_walk.knative_rules import domainmapping as DM
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN
from kn_walk.sandbox.knative.revision_deployment import knative_writes
from kn_walk.sandbox.knative.route_resources import EXCLUDED_ANNOTATIONS
from kn_walk.sandbox.knative.serving import (
    SYSTEM_NAMESPACE,
    condition,
    owner_ref,
    set_conditions,
)
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import SERVING_GROUP, ResourceType
from kn_walk.sandbox.registry.events import NORMAL, EventRecorder
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, rkey
from kn_walk.sandbox.registry.store import Event, Obj

log = logging.getLogger(__name__)

MANAGER = "controller"
COMPONENT = "domainmapping-controller"


def _type(res: Resources, group: str, version: str, plural: str) -> ResourceType:
    rt = res.registry.get(group, version, plural)
    assert rt is not None, plural
    return rt


class DomainMappings:
    """Reconciles DomainMappings; :meth:`affected` says which an event concerns."""

    def __init__(self, res: Resources, ingress_class: Callable[[Obj], str]) -> None:
        self.res = res
        self.ingress_class = ingress_class
        self.events = EventRecorder(res)
        self.t_dm = _type(res, SERVING_GROUP, "v1beta1", "domainmappings")
        self.t_claim = _type(res, DM.CLAIM_GROUP, DM.CLAIM_VERSION, "clusterdomainclaims")
        self.t_ingress = _type(res, DM.CLAIM_GROUP, "v1alpha1", "ingresses")
        self.t_cm = _type(res, "", "v1", "configmaps")
        #: (ns, apiVersion, kind, name) of a ref -> the DomainMappings (names) naming it
        self._by_ref: dict[tuple[str, str, str, str], set[str]] = {}
        #: (ns, dm) -> its ref's key above
        self._refs: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        #: domain -> the namespaces with a DomainMapping for it
        self._by_domain: dict[str, set[str]] = {}

    def _opts(self, subresource: str = "") -> WriteOptions:
        return knative_writes(MANAGER, subresource)

    # ------------------------------------------------------------- events
    def start(self) -> Iterable[tuple[str, str]]:
        """Index the stored DomainMappings; all of them are to be reconciled."""
        out = []
        for dm in self.res.store.list_objects(rkey(self.t_dm)):
            meta = dm["metadata"]
            self._index(meta["namespace"], meta["name"], dm)
            out.append((meta["namespace"], meta["name"]))
        return out

    def _index(self, ns: str, name: str, dm: Obj | None) -> None:
        old = self._refs.pop((ns, name), None)
        if old is not None:
            members = self._by_ref.get(old, set())
            members.discard(name)
            if not members:
                self._by_ref.pop(old, None)
        namespaces = self._by_domain.setdefault(name, set())
        if dm is None:
            namespaces.discard(ns)
            if not namespaces:
                del self._by_domain[name]
            return
        namespaces.add(ns)
        ref = (dm.get("spec") or {}).get("ref") or {}
        if isinstance(ref, dict):
            key = (
                str(ref.get("namespace") or ns),
                str(ref.get("apiVersion") or ""),
                str(ref.get("kind") or ""),
                str(ref.get("name") or ""),
            )
            self._refs[(ns, name)] = key
            self._by_ref.setdefault(key, set()).add(name)

    def affected(self, ev: Event) -> list[tuple[str, str]]:
        """The DomainMappings (namespace, name) to reconcile after ``ev``."""
        if ev.rkey == rkey(self.t_dm):
            self._index(ev.namespace, ev.name, None if ev.type == "DELETED" else ev.obj)
            return [] if ev.type == "DELETED" else [(ev.namespace, ev.name)]
        if ev.rkey == rkey(self.t_claim):
            return [(ns, ev.name) for ns in sorted(self._by_domain.get(ev.name, ()))]
        if ev.rkey == rkey(self.t_cm):
            if (ev.namespace, ev.name) == (SYSTEM_NAMESPACE, "config-network"):
                return sorted(self._refs)
            return []
        if not self._by_ref:
            return []
        api_version = str(ev.obj.get("apiVersion") or "")
        kind = str(ev.obj.get("kind") or "")
        names = self._by_ref.get((ev.namespace, api_version, kind, ev.name), ())
        return [(ev.namespace, name) for name in sorted(names)]

    # ---------------------------------------------------------- reconcile
    def _network(self) -> dict[str, str]:
        cm = self.res.find(self.t_cm, SYSTEM_NAMESPACE, "config-network") or {}
        return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}

    def reconcile(self, ns: str, name: str) -> None:
        dm = self.res.find(self.t_dm, ns, name)
        if dm is None:
            return
        network = self._network()
        if dm["metadata"].get("deletionTimestamp"):
            self._finalize(dm, network)
            return
        finalizers = dm["metadata"].get("finalizers") or []
        if DM.FINALIZER not in finalizers:
            new = copy.deepcopy(dm)
            new["metadata"]["finalizers"] = [*finalizers, DM.FINALIZER]
            dm = self.res.update(self.t_dm, ns, name, new, self._opts())
        status, conds = self._status(dm, network)
        old_status = dm.get("status") or {}
        previous = {c.get("type"): c for c in old_status.get("conditions") or []}
        for t in DM.CONDITIONS:
            if t not in conds:
                kept = previous.get(t)
                conds[t] = dict(kept) if kept else condition(t, "Unknown")
        status["conditions"] = set_conditions(
            old_status, list(conds.values()), "Ready", list(DM.CONDITIONS)
        )
        status["observedGeneration"] = dm["metadata"].get("generation")
        status = dict(sorted(status.items()))
        if old_status != status:
            new = copy.deepcopy(dm)
            new["status"] = status
            self.res.update(self.t_dm, ns, name, new, self._opts("status"))

    def _status(self, dm: Obj, network: dict[str, str]) -> tuple[Obj, dict[str, Obj]]:
        """The status fields and the conditions this reconcile decides (the others keep
        what they were, as a reconcile that stops early leaves them)."""
        meta = dm["metadata"]
        ns, name = meta["namespace"], meta["name"]
        conds: dict[str, Obj] = {}
        if meta.get("generation") != (dm.get("status") or {}).get("observedGeneration"):
            conds["IngressReady"] = condition("IngressReady", "Unknown", *DM.INGRESS_NOT_CONFIGURED)
        scheme = network.get("default-external-scheme") or "http"
        spec = dm.get("spec") or {}
        tls = spec.get("tls") if isinstance(spec.get("tls"), dict) else None
        if tls is not None:
            scheme = "https"
        url = f"{scheme}://{name}"
        status: Obj = {"url": url, "address": {"url": url}}
        # the domain must be claimed for this namespace
        claim_error = self._claim(dm, network)
        if claim_error is not None:
            conds["DomainClaimed"] = condition("DomainClaimed", "False", *DM.CLAIM_NOT_OWNED)
            log.debug("DomainMapping %s/%s: %s", ns, name, claim_error)
            return status, conds
        conds["DomainClaimed"] = condition("DomainClaimed", "True")
        if tls is not None:
            conds["CertificateProvisioned"] = condition(
                "CertificateProvisioned", "True", *DM.TLS_PROVIDED
            )
        else:
            conds["CertificateProvisioned"] = condition(
                "CertificateProvisioned", "True", *DM.TLS_NOT_ENABLED
            )
        resolved = self._resolve(dm)
        if isinstance(resolved, str):
            conds["ReferenceResolved"] = condition(
                "ReferenceResolved", "False", "ResolveFailed", resolved
            )
            return status, conds
        conds["ReferenceResolved"] = condition("ReferenceResolved", "True")
        host, service = resolved
        ingress = self._ingress(dm, self._desired(dm, host, service, network, tls))
        if ingress is None:
            return status, conds
        ready = next(
            (
                c
                for c in (ingress.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready"
            ),
            None,
        )
        observed = (ingress.get("status") or {}).get("observedGeneration")
        if observed != ingress["metadata"].get("generation") or ready is None:
            conds["IngressReady"] = condition("IngressReady", "Unknown", *DM.INGRESS_NOT_CONFIGURED)
        elif ready.get("status") == "True":
            conds["IngressReady"] = condition("IngressReady", "True")
        else:
            conds["IngressReady"] = condition(
                "IngressReady",
                str(ready.get("status") or "Unknown"),
                str(ready.get("reason") or ""),
                str(ready.get("message") or ""),
            )
        return status, conds

    def _claim(self, dm: Obj, network: dict[str, str]) -> str | None:
        """``reconcileDomainClaim``: None once the domain is claimed for the namespace."""
        meta = dm["metadata"]
        ns, name = meta["namespace"], meta["name"]
        claim = self.res.find(self.t_claim, "", name)
        if claim is None:
            if network.get(DM.AUTOCREATE_CLAIMS_KEY, "false").lower() != "true":
                return DM.claim_missing(name)
            try:
                self.res.create(
                    self.t_claim,
                    "",
                    {
                        "apiVersion": self.t_claim.api_version,
                        "kind": self.t_claim.kind,
                        "metadata": {"name": name},
                        "spec": {"namespace": ns},
                    },
                    self._opts(),
                )
            except E.StatusError as err:
                return f"failed to create ClusterDomainClaim: {err.message}"
            return None
        if (claim.get("spec") or {}).get("namespace") != ns:
            return f"namespace {ns!r} does not own ClusterDomainClaim for {name!r}"
        return None

    def _resolve(self, dm: Obj) -> tuple[str, str] | str:
        """``resolveRef``: the target's host and its Service's name, or the message."""
        meta = dm["metadata"]
        ns = meta["namespace"]
        ref = (dm.get("spec") or {}).get("ref") or {}
        ref_ns = str(ref.get("namespace") or ns)
        ref_name = str(ref.get("name") or "")
        api_version = str(ref.get("apiVersion") or "")
        rt = self.res.registry.by_kind(api_version, str(ref.get("kind") or ""))
        if rt is None:
            return f"failed to get lister for {ref.get('kind')} {api_version}: not served"
        obj = self.res.find(rt, ref_ns, ref_name)
        if obj is None:
            resource = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            return DM.not_found(ref_ns, ref_name, resource)
        if api_version == "v1" and rt.kind == "Service":
            uri = f"http://{ref_name}.{ref_ns}.{CLUSTER_LOCAL_DOMAIN}"
        else:
            address = (obj.get("status") or {}).get("address") or {}
            uri = str(address.get("url") or "") if isinstance(address, dict) else ""
            if not uri:
                return DM.address_not_set(ref)
        parts = urlsplit(uri)
        host = parts.hostname or ""
        problem = DM.resolved_uri_error(uri, host, parts.path, ns)
        if problem is not None:
            return problem
        return host, host.split(".", 1)[0]

    def _desired(
        self, dm: Obj, host: str, service: str, network: dict[str, str], tls: Obj | None
    ) -> Obj:
        """``resources.MakeIngress``."""
        meta = dm["metadata"]
        ns, name = meta["namespace"], meta["name"]
        annotations = {K.INGRESS_CLASS_ANNOTATION: self.ingress_class(dm)}
        annotations.update(meta.get("annotations") or {})
        labels = dict(meta.get("labels") or {})
        labels.update({DM.UID_LABEL: meta["uid"], DM.NAMESPACE_LABEL: ns})
        rule = {
            "hosts": [name],
            "visibility": "ExternalIP",
            "http": {
                "paths": [
                    {
                        "rewriteHost": host,
                        "splits": [
                            {
                                "serviceNamespace": ns,
                                "serviceName": service,
                                "servicePort": K.SERVICE_HTTP_PORT,
                                "percent": 100,
                                "appendHeaders": {DM.ORIGINAL_HOST_HEADER: name},
                            }
                        ],
                    }
                ]
            },
        }
        spec: Obj = {}
        if tls is not None:
            spec["tls"] = [
                {"hosts": [name], "secretName": tls.get("secretName"), "secretNamespace": ns}
            ]
        spec["rules"] = [rule]
        redirected = network.get("http-protocol", "").lower() == "redirected"
        spec["httpOption"] = "Redirected" if redirected else "Enabled"
        return {
            "apiVersion": self.t_ingress.api_version,
            "kind": "Ingress",
            "metadata": {
                "name": K.child_name(name, ""),
                "namespace": ns,
                "labels": labels,
                "annotations": {
                    k: v for k, v in annotations.items() if k not in EXCLUDED_ANNOTATIONS
                },
                "ownerReferences": [owner_ref(dm)],
            },
            "spec": spec,
        }

    def _ingress(self, dm: Obj, want: Obj) -> Obj | None:
        """``reconcileIngress``: create it, or bring its spec, labels and annotations back."""
        meta = want["metadata"]
        ns, name = meta["namespace"], meta["name"]
        try:
            current = self.res.find(self.t_ingress, ns, name)
            if current is None:
                current = self.res.create(self.t_ingress, ns, want, self._opts())
                self.events.record(
                    dm, NORMAL, "Created", f'Created Ingress "{name}"', component=COMPONENT
                )
                return current
            cmeta = current["metadata"]
            if (
                current.get("spec") != want["spec"]
                or cmeta.get("labels") != meta["labels"]
                or cmeta.get("annotations") != meta["annotations"]
            ):
                new = copy.deepcopy(current)
                new["spec"] = want["spec"]
                new["metadata"]["labels"] = meta["labels"]
                new["metadata"]["annotations"] = meta["annotations"]
                current = self.res.update(self.t_ingress, ns, name, new, self._opts())
            return current
        except E.StatusError as err:
            log.debug("DomainMapping's Ingress %s/%s: %s", ns, name, err.message)
            return None

    def _finalize(self, dm: Obj, network: dict[str, str]) -> None:
        """``FinalizeKind``: the claim it made goes with it; then the finalizer."""
        meta = dm["metadata"]
        ns, name = meta["namespace"], meta["name"]
        finalizers = meta.get("finalizers") or []
        if DM.FINALIZER not in finalizers:
            return
        if network.get(DM.AUTOCREATE_CLAIMS_KEY, "false").lower() == "true":
            claim = self.res.find(self.t_claim, "", name)
            if claim is not None and (claim.get("spec") or {}).get("namespace") == ns:
                try:
                    self.res.delete(self.t_claim, "", name)
                except E.StatusError as err:
                    log.debug("ClusterDomainClaim %s: %s", name, err.message)
        new = copy.deepcopy(dm)
        new["metadata"]["finalizers"] = [f for f in finalizers if f != DM.FINALIZER]
        try:
            self.res.update(self.t_dm, ns, name, new, self._opts())
        except E.StatusError as err:  # gone meanwhile
            log.debug("DomainMapping %s/%s: %s", ns, name, err.message)
