"""Knative Serving's rules for a DomainMapping (``serving.knative.dev/v1beta1``), release-1.23.

The webhook's defaulting and validation (``pkg/apis/serving/v1beta1/domainmapping_*.go``,
knative.dev/pkg ``KReference``) and the messages its reconciler writes into the status
(``pkg/reconciler/domainmapping``), so that the sandbox and the CLI say the same.
"""

from __future__ import annotations

from collections.abc import Mapping

from kn_walk.goformat import go_quote
from kn_walk.knative_rules.fielderror import FieldError, disallowed_fields, missing_field
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN
from kn_walk.knative_rules.names import (
    fully_qualified_domain_name_error,
)

GROUP_VERSION = "serving.knative.dev/v1beta1"
KIND = "DomainMapping"
#: the finalizer Knative's generated reconciler keeps on each DomainMapping
FINALIZER = "domainmappings.serving.knative.dev"
#: on the Ingress a DomainMapping makes
UID_LABEL = "serving.knative.dev/domainMappingUID"
NAMESPACE_LABEL = "serving.knative.dev/domainMappingNamespace"
#: the header the Ingress sets to the domain requested (knative.dev/networking ``header``)
ORIGINAL_HOST_HEADER = "K-Original-Host"
#: the ClusterDomainClaim kind (cluster-scoped; ``spec.namespace`` may map the domain)
CLAIM_GROUP = "networking.internal.knative.dev"
CLAIM_VERSION = "v1alpha1"
#: the cluster's domain (``network.GetClusterDomainName()``)
CLUSTER_DOMAIN = CLUSTER_LOCAL_DOMAIN.removeprefix("svc.")
#: config-network: whether the reconciler creates (and deletes) the claims itself
AUTOCREATE_CLAIMS_KEY = "autocreate-cluster-domain-claims"

CONDITIONS = ("CertificateProvisioned", "DomainClaimed", "IngressReady", "ReferenceResolved")
CLAIM_NOT_OWNED = (
    "DomainAlreadyClaimed",
    "The domain name is already in use by another DomainMapping",
)
INGRESS_NOT_CONFIGURED = ("IngressNotConfigured", "Ingress has not yet been reconciled.")
TLS_NOT_ENABLED = ("TLSNotEnabled", "external-domain-tls is not enabled")
TLS_PROVIDED = ("CertificateExternallyProvided", "TLS certificate was provided externally")


def set_defaults(dm: dict[str, object]) -> None:
    """``SetDefaults``: ``spec.ref.namespace`` is the DomainMapping's namespace when unset."""
    spec = dm.get("spec")
    meta = dm.get("metadata")
    if not isinstance(spec, dict) or not isinstance(meta, dict):
        return
    ref = spec.get("ref")
    if isinstance(ref, dict) and not ref.get("namespace") and meta.get("namespace"):
        ref["namespace"] = meta["namespace"]


def validate(dm: Mapping[str, object]) -> list[FieldError]:
    """``DomainMapping.Validate``: paths from the object's root."""
    meta = dm.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    errors: list[FieldError] = []
    if meta.get("generateName"):
        errors.append(disallowed_fields("metadata.generateName"))
    name = str(meta.get("name") or "")
    problem = fully_qualified_domain_name_error("name", name)
    if problem is not None:
        errors.append(FieldError(f"invalid name {go_quote(name)}: {problem}", ("metadata.name",)))
    if name.endswith("." + CLUSTER_DOMAIN):
        errors.append(
            FieldError(
                f"invalid name {go_quote(name)}: must not be a subdomain of cluster local "
                f"domain {go_quote(CLUSTER_DOMAIN)}",
                ("metadata.name",),
            )
        )
    spec = dm.get("spec")
    ref = spec.get("ref") if isinstance(spec, Mapping) else None
    errors += _ref_errors(ref, str(meta.get("namespace") or ""))
    return errors


def _ref_errors(ref: object, parent_namespace: str) -> list[FieldError]:
    """knative.dev/pkg ``KReference.Validate`` (the ``kreference-group`` feature off)."""
    base = "spec.ref."
    if not isinstance(ref, Mapping):
        return [missing_field(base + f) for f in ("name", "apiVersion", "kind")]
    errors = []
    if not ref.get("name"):
        errors.append(missing_field(base + "name"))
    if ref.get("group"):
        errors.append(disallowed_fields(base + "group"))
    if not ref.get("apiVersion"):
        errors.append(missing_field(base + "apiVersion"))
    if not ref.get("kind"):
        errors.append(missing_field(base + "kind"))
    namespace = str(ref.get("namespace") or "")
    if namespace and parent_namespace and namespace != parent_namespace:
        errors.append(
            FieldError(
                "mismatched namespaces",
                (base + "namespace",),
                f"parent namespace: {go_quote(parent_namespace)} does not match ref: "
                f"{go_quote(namespace)}",
            )
        )
    return errors


# ------------------------------------------------------------ reconciler messages
def claim_missing(domain: str) -> str:
    """The reconciler's error when no claim exists and it may not create one."""
    return (
        f"no ClusterDomainClaim found for domain {go_quote(domain)} "
        "(and autocreate-cluster-domain-claims property is not true)"
    )


def not_found(namespace: str, name: str, resource: str) -> str:
    """The resolver's error for a ref to an object that does not exist (``resource`` as
    a GroupResource prints: ``services.serving.knative.dev``, ``services``)."""
    return f"failed to get object {namespace}/{name}: {resource} {go_quote(name)} not found"


def address_not_set(ref: Mapping[str, object]) -> str:
    """The resolver's error for a ref whose object has no address yet: Go's ``%s`` of the
    ``*KReference`` (Kind, Namespace, Name, APIVersion, Group, Address)."""
    fields = [str(ref.get(k) or "") for k in ("kind", "namespace", "name", "apiVersion", "group")]
    return "address not set for &{" + " ".join(fields) + " %!s(*string=<nil>)}"


def resolved_uri_error(uri: str, host: str, path: str, namespace: str) -> str | None:
    """The reconciler's checks of the URI a ref resolved to, or None: no path, a host
    ``{name}.{namespace}.svc.cluster.local`` in the DomainMapping's namespace."""
    if path.rstrip("/"):
        return f"resolved URI {go_quote(uri)} contains a path"
    suffix = ".svc." + CLUSTER_DOMAIN
    parts = host.removesuffix(suffix).split(".")
    if not host.endswith(suffix) or len(parts) != 2:
        return f"resolved URI {go_quote(uri)} must be of the form {{name}}.{{namespace}}{suffix}"
    if parts[1] != namespace:
        return f"resolved URI {go_quote(uri)} must be in same namespace as DomainMapping"
    return None
