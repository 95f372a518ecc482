"""How Knative names a Route's cluster-local hosts, and URLs' hosts.

Inside the cluster a Route ``NAME`` in ``NAMESPACE`` is ``NAME.NAMESPACE.svc.cluster.local``
(and its short names). Its external hosts come from ``config-network``'s templates,
``http://NAME.NAMESPACE.DOMAIN`` and ``http://TAG-NAME.NAMESPACE.DOMAIN`` by default:
:mod:`kn_walk.knative_rules.network_config` forms and checks them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: the domain of cluster-local Routes and of every Route's address
CLUSTER_LOCAL_DOMAIN = "svc.cluster.local"


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
