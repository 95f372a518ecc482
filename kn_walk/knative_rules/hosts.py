"""How Knative names a Route's hosts and URLs (``config-network``'s default templates).

A Route ``NAME`` in ``NAMESPACE`` is served at ``http://NAME.NAMESPACE.DOMAIN``
(``domain-template: {{.Name}}.{{.Namespace}}.{{.Domain}}``), a tag ``TAG`` of it at
``http://TAG-NAME.NAMESPACE.DOMAIN`` (``tag-template: {{.Tag}}-{{.Name}}``), and
inside the cluster at ``NAME.NAMESPACE.svc.cluster.local``. The first label of a
host must be a DNS label: at most 63 characters.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from kn_walk.knative_rules.names import MAX_LABEL, max_len_error

#: the domain of cluster-local Routes and of every Route's address
CLUSTER_LOCAL_DOMAIN = "svc.cluster.local"


def tag_hostname(tag: str, route: str) -> str:
    """The first label of a tag's host: ``{{.Tag}}-{{.Name}}``."""
    return f"{tag}-{route}"


def route_host(hostname: str, namespace: str, domain: str) -> str:
    """``{{.Name}}.{{.Namespace}}.{{.Domain}}``, with ``hostname`` as the name."""
    return f"{hostname}.{namespace}.{domain}"


def cluster_local_hosts(hostname: str, namespace: str) -> list[str]:
    """The hosts of a cluster-local Ingress rule for ``hostname``: its name on the
    cluster-local domain and the short names cluster DNS resolves to it too
    (knative.dev/networking's ExpandedHosts): ``x.ns.svc.cluster.local``, ``x.ns.svc``,
    ``x.ns``."""
    full = route_host(hostname, namespace, CLUSTER_LOCAL_DOMAIN)
    return [full, f"{hostname}.{namespace}.svc", f"{hostname}.{namespace}"]


def url(hostname: str, namespace: str, domain: str) -> str:
    """The ``http://`` URL Knative reports for a host (no TLS is configured)."""
    return f"http://{route_host(hostname, namespace, domain)}"


def host_of(address: str) -> str:
    """The host of a URL, lower case: ``http://x.ns.example.com`` → ``x.ns.example.com``."""
    return (urlsplit(address).hostname or "").lower()


def hostname_error(hostname: str, namespace: str, domain: str) -> str | None:
    """The Route's message when ``hostname`` cannot be a host's first label (Knative's
    ErrDomainName), else None."""
    if len(hostname) <= MAX_LABEL:
        return None
    full = json.dumps(route_host(hostname, namespace, domain))
    return (
        f"domain name error: invalid domain name {full}: url: Invalid value: "
        f"{json.dumps(hostname)}: {max_len_error(MAX_LABEL)}"
    )
