"""Credentials for a GKE cluster: kubeconfig entries exactly as ``gcloud container
clusters get-credentials`` writes them, and a ``kubernetes`` client without the exec plugin.

The entries follow ``api_lib/container/kubeconfig.py`` and ``util.ClusterConfig`` of gcloud
528 (recorded by ``scripts/record_gcloud.py`` into ``tests/fixtures/gcloud/``): names
``gke_{project}_{location}_{name}``, ``server: https://{endpoint}`` (the IP endpoint with
``certificate-authority-data``; the private endpoint with ``--internal-ip``; the DNS
endpoint, without CA data, with ``--dns-endpoint`` or when IP access is disabled), and
an ``exec`` user running ``gke-gcloud-auth-plugin``.
Without the plugin, :func:`kubernetes_client` builds a ``kubernetes`` client that signs
requests with ``google.auth.default()`` credentials and refreshes the token.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kn_walk import kubeconfig
from kn_walk.errors import KnwalkError
from kn_walk.gke.api import default_credentials
from kn_walk.gke.objects import cluster_status

if TYPE_CHECKING:
    from google.cloud.container_v1 import Cluster

EXEC_PLUGIN = "gke-gcloud-auth-plugin"
#: the plugin's token cache, next to the kubeconfig (api_lib/container/kubeconfig.py)
PLUGIN_CACHE = "gke_gcloud_auth_plugin_cache"
#: gcloud's GKE_GCLOUD_AUTH_INSTALL_HINT (api_lib/container/kubeconfig.py)
EXEC_INSTALL_HINT = (
    "Install gke-gcloud-auth-plugin for use with kubectl by following "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


def context_name(project: str, location: str, name: str) -> str:
    """gcloud's ``gke_{project}_{zone}_{cluster}``: the cluster, user and context name."""
    return f"gke_{project}_{location}_{name}"


@dataclass(frozen=True)
class Access:
    """How to reach the control plane, as ``gcloud container clusters get-credentials``'
    flags and properties say: ``internal_ip`` (``--internal-ip``: a private cluster's
    private endpoint), ``dns_endpoint`` (``--dns-endpoint``) and ``use_adc`` (the property
    ``container/use_application_default_credentials``: the plugin signs in with
    application default credentials)."""

    internal_ip: bool = False
    dns_endpoint: bool = False
    use_adc: bool = False


def _ip_endpoints_disabled(cluster: Cluster) -> bool:
    """gcloud's test: an ``ipEndpointsConfig`` whose ``enabled`` is not true."""
    config = cluster.control_plane_endpoints_config
    return (
        "control_plane_endpoints_config" in cluster
        and "ip_endpoints_config" in config
        and not config.ip_endpoints_config.enabled
    )


def _server(cluster: Cluster, access: Access) -> tuple[str, bool]:
    """(the endpoint kubectl talks to, whether it is the DNS endpoint), by gcloud's rules
    (``api_lib/container/util.py`` _GetClusterEndpoint)."""
    name = cluster.name
    ip_disabled = _ip_endpoints_disabled(cluster)
    if ip_disabled and access.internal_ip:
        raise KnwalkError(
            f"IP access is disabled for cluster {name}: it has only a DNS endpoint",
            "drop --internal-ip; knwalk then uses the DNS endpoint",
        )
    dns = cluster.control_plane_endpoints_config.dns_endpoint_config
    has_dns_config = "dns_endpoint_config" in cluster.control_plane_endpoints_config
    if access.dns_endpoint and has_dns_config and not dns.allow_external_traffic:
        raise KnwalkError(
            f"cluster {name}'s DNS endpoint does not allow external traffic "
            "(controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic is disabled)",
            "drop --dns-endpoint, or allow it with `gcloud container clusters update "
            f"{name} --enable-dns-access`",
        )
    if access.dns_endpoint or ip_disabled:
        if not dns.endpoint:
            raise KnwalkError(
                f"cluster {name} is missing DNSEndpointConfig: it has no DNS endpoint",
                "drop --dns-endpoint" if access.dns_endpoint else "check `knwalk cluster describe`",
            )
        if access.use_adc:
            raise KnwalkError(
                "the DNS endpoint and container/use_application_default_credentials cannot be "
                "used together (as in gcloud)",
                "run `gcloud config unset container/use_application_default_credentials`"
                + (", or drop --dns-endpoint" if access.dns_endpoint else ""),
            )
        return str(dns.endpoint), True
    if access.internal_ip:
        if "private_cluster_config" not in cluster:
            raise KnwalkError(
                f"cluster {name} is not a private cluster, so it has no internal IP endpoint",
                "drop --internal-ip",
            )
        if not cluster.private_cluster_config.private_endpoint:
            raise KnwalkError(
                f"cluster {name} has no private endpoint yet (status {cluster_status(cluster)})",
                f"wait for it with `knwalk cluster wait {name}`",
            )
        return str(cluster.private_cluster_config.private_endpoint), False
    if not cluster.endpoint:
        raise KnwalkError(
            f"cluster {name} has no endpoint yet (status {cluster_status(cluster)})",
            f"wait for it with `knwalk cluster wait {name}`",
        )
    return str(cluster.endpoint), False


def exec_plugin_command() -> str:
    """What the kubeconfig runs: ``gke-gcloud-auth-plugin`` when it is on PATH, else its
    full path in the bin/ of the Cloud SDK whose ``gcloud`` is on PATH (as gcloud writes
    it), else the bare name (kubectl then explains how to install it)."""
    from kn_walk.gcloud_config import sdk_root

    if shutil.which(EXEC_PLUGIN):
        return EXEC_PLUGIN
    root = sdk_root()
    if root is not None:
        candidate = root / "bin" / EXEC_PLUGIN
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return EXEC_PLUGIN


def kubeconfig_entries(
    cluster: Cluster,
    project: str,
    location: str,
    access: Access | None = None,
    *,
    plugin: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :func:`kn_walk.kubeconfig.merge_entry`, shaped as gcloud writes them.

    One deliberate difference: when a cluster reports no CA, gcloud writes
    ``insecure-skip-tls-verify: true``; knwalk refuses instead of disabling TLS checks.
    The DNS endpoint (``https://gke-....gke.goog``) carries a publicly trusted
    certificate, so gcloud writes no CA for it, and neither does knwalk.
    """
    access = access or Access()
    endpoint, is_dns = _server(cluster, access)
    server: dict[str, Any] = {"server": f"https://{endpoint}"}
    if not is_dns:
        ca_data = cluster.master_auth.cluster_ca_certificate
        if not ca_data:
            raise KnwalkError(
                f"cluster {cluster.name} reports no certificate authority",
                "the cluster is in an unusual state; check `knwalk cluster describe` and try "
                "again later",
            )
        server["certificate-authority-data"] = ca_data
    exec_config: dict[str, Any] = {
        "command": plugin or exec_plugin_command(),
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "installHint": EXEC_INSTALL_HINT,
        "provideClusterInfo": True,
    }
    if access.use_adc:
        exec_config["args"] = ["--use_application_default_credentials"]
    name = context_name(project, location, cluster.name)
    return {
        "name_cluster": name,
        "cluster": server,
        "name_user": name,
        "user": {"exec": exec_config},
        "name_context": name,
        "context": {"cluster": name, "user": name},
    }


def write_credentials(
    cluster: Cluster,
    project: str,
    location: str,
    path: kubeconfig.StrPath,
    access: Access | None = None,
) -> str:
    """Merge the cluster into ``path`` (0600, other entries kept), make it current; its name.

    As gcloud does, an existing ``gke_gcloud_auth_plugin_cache`` next to ``path`` is
    emptied, so the plugin does not keep using a token of another account.
    """
    entries = kubeconfig_entries(cluster, project, location, access)
    kubeconfig.merge_entry(path, **entries, make_current=True)
    _empty_plugin_cache(Path(path).parent / PLUGIN_CACHE)
    return str(entries["name_context"])


def _empty_plugin_cache(cache: Path) -> None:
    if not cache.is_file():
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{PLUGIN_CACHE}.", dir=cache.parent)
    try:
        os.close(fd)  # mkstemp made it 0600 and empty
        os.replace(tmp, cache)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_credentials(path: kubeconfig.StrPath, project: str, location: str, name: str) -> bool:
    """Remove the entries :func:`write_credentials` wrote; whether anything changed."""
    entry = context_name(project, location, name)
    return kubeconfig.remove_entries(path, cluster=entry, user=entry, context=entry)


def exec_plugin_installed() -> bool:
    """Whether kubectl can run the plugin the kubeconfig names."""
    command = exec_plugin_command()
    return command != EXEC_PLUGIN or shutil.which(EXEC_PLUGIN) is not None


# --------------------------------------------------------------------------- without the exec plugin

_ca_files: list[str] = []


def _remove_ca_files() -> None:
    for name in _ca_files:
        with contextlib.suppress(OSError):
            os.unlink(name)


atexit.register(_remove_ca_files)


def _ca_file(ca_data: str) -> str:
    import base64

    fd, name = tempfile.mkstemp(prefix="knwalk-gke-ca-", suffix=".crt")
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(ca_data))
    _ca_files.append(name)
    return name


def kubernetes_client(server: str, ca_data: str | None = None, *, credentials: Any = None) -> Any:
    """A ``kubernetes.client.ApiClient`` for a GKE cluster without ``gke-gcloud-auth-plugin``.

    Requests carry ``Authorization: Bearer <token>`` from ``credentials`` (default:
    ``google.auth.default()`` with the cloud-platform scope); the token is refreshed
    before a request whenever it has expired. The kubernetes client only runs
    ``refresh_api_key_hook`` when ``api_key["authorization"]`` exists
    (``Configuration.auth_settings``), so the key is set up front. ``ca_data`` is
    the base64 ``certificate-authority-data`` of the kubeconfig cluster entry.
    """
    import google.auth.transport.requests
    from kubernetes import client as k8s

    creds = credentials if credentials is not None else default_credentials()
    request = google.auth.transport.requests.Request()

    def refresh(conf: Any) -> None:
        if not creds.valid:
            creds.refresh(request)
        conf.api_key["authorization"] = creds.token

    config = k8s.Configuration()
    config.host = server
    config.api_key_prefix["authorization"] = "Bearer"
    config.api_key["authorization"] = ""
    config.refresh_api_key_hook = refresh  # type: ignore[assignment]
    if ca_data:
        config.ssl_ca_cert = _ca_file(ca_data)
    refresh(config)
    return k8s.ApiClient(configuration=config)
