"""Credentials for a GKE cluster: kubeconfig entries exactly as ``gcloud container
clusters get-credentials`` writes them, and a ``kubernetes`` client without the exec plugin.

The entries follow ``api_lib/container/kubeconfig.py`` and ``util.ClusterConfig``: names
``gke_{project}_{location}_{name}``, ``server: https://{endpoint}``,
``certificate-authority-data``, and an ``exec`` user running ``gke-gcloud-auth-plugin``.
Without the plugin, :func:`kubernetes_client` builds a ``kubernetes`` client that signs
requests with ``google.auth.default()`` credentials and refreshes the token.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from kn_walk import kubeconfig
from kn_walk.errors import KnwalkError
from kn_walk.gke.api import default_credentials
from kn_walk.gke.objects import cluster_status

if TYPE_CHECKING:
    from google.cloud.container_v1 import Cluster

EXEC_PLUGIN = "gke-gcloud-auth-plugin"
#: gcloud's GKE_GCLOUD_AUTH_INSTALL_HINT (api_lib/container/kubeconfig.py)
EXEC_INSTALL_HINT = (
    "Install gke-gcloud-auth-plugin for use with kubectl by following "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


def context_name(project: str, location: str, name: str) -> str:
    """gcloud's ``gke_{project}_{zone}_{cluster}``: the cluster, user and context name."""
    return f"gke_{project}_{location}_{name}"


def kubeconfig_entries(cluster: Cluster, project: str, location: str) -> dict[str, Any]:
    """Keyword arguments for :func:`kn_walk.kubeconfig.merge_entry`, shaped as gcloud writes them.

    One deliberate difference: when a cluster reports no CA, gcloud writes
    ``insecure-skip-tls-verify: true``; knwalk refuses instead of disabling TLS checks.
    """
    if not cluster.endpoint:
        raise KnwalkError(
            f"cluster {cluster.name} has no endpoint yet (status {cluster_status(cluster)})",
            f"wait for it with `knwalk cluster wait {cluster.name}`",
        )
    ca_data = cluster.master_auth.cluster_ca_certificate
    if not ca_data:
        raise KnwalkError(
            f"cluster {cluster.name} reports no certificate authority",
            "the cluster is in an unusual state; check `knwalk cluster describe` and try again later",
        )
    name = context_name(project, location, cluster.name)
    return {
        "name_cluster": name,
        "cluster": {"server": f"https://{cluster.endpoint}", "certificate-authority-data": ca_data},
        "name_user": name,
        "user": {
            "exec": {
                "command": EXEC_PLUGIN,
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "installHint": EXEC_INSTALL_HINT,
                "provideClusterInfo": True,
            }
        },
        "name_context": name,
        "context": {"cluster": name, "user": name},
    }


def write_credentials(
    cluster: Cluster, project: str, location: str, path: kubeconfig.StrPath
) -> str:
    """Merge the cluster into ``path`` (0600, other entries kept), make it current; its name."""
    entries = kubeconfig_entries(cluster, project, location)
    kubeconfig.merge_entry(path, **entries, make_current=True)
    return str(entries["name_context"])


def remove_credentials(path: kubeconfig.StrPath, project: str, location: str, name: str) -> bool:
    """Remove the entries :func:`write_credentials` wrote; whether anything changed."""
    entry = context_name(project, location, name)
    return kubeconfig.remove_entries(path, cluster=entry, user=entry, context=entry)


def exec_plugin_installed() -> bool:
    return shutil.which(EXEC_PLUGIN) is not None


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
