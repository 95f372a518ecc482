"""kubeconfig entries as gcloud writes them, and the client that needs no exec plugin."""

from __future__ import annotations

import base64
import datetime
import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.auth import credentials as ga_credentials
from google.cloud import container_v1 as api

from kn_walk import gke
from kn_walk.errors import KnwalkError

P, Z = "demo-project", "us-central1-a"
CTX = f"gke_{P}_{Z}_knwalk"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n").decode()

OTHER = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "kind-dev", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "kind-dev", "user": {"token": "keep-me"}}],
    "contexts": [{"name": "kind-dev", "context": {"cluster": "kind-dev", "user": "kind-dev"}}],
    "current-context": "kind-dev",
    "preferences": {"colors": True},
}


def running(name: str = "knwalk", endpoint: str = "203.0.113.10", ca: str = CA) -> Any:
    return api.Cluster(
        name=name,
        location=Z,
        status="RUNNING",
        endpoint=endpoint,
        master_auth=api.MasterAuth(cluster_ca_certificate=ca),
    )


def test_entries_are_exactly_what_gcloud_get_credentials_writes(tmp_path: Path) -> None:
    path = tmp_path / "config"
    assert gke.write_credentials(running(), P, Z, path) == CTX
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == CTX
    assert doc["clusters"] == [
        {
            "name": CTX,
            "cluster": {"server": "https://203.0.113.10", "certificate-authority-data": CA},
        }
    ]
    assert doc["contexts"] == [{"name": CTX, "context": {"cluster": CTX, "user": CTX}}]
    assert doc["users"] == [
        {
            "name": CTX,
            "user": {
                "exec": {
                    "command": "gke-gcloud-auth-plugin",
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "installHint": (
                        "Install gke-gcloud-auth-plugin for use with kubectl by following "
                        "https://cloud.google.com/kubernetes-engine/docs/how-to/"
                        "cluster-access-for-kubectl#install_plugin"
                    ),
                    "provideClusterInfo": True,
                }
            },
        }
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_merge_keeps_other_entries_and_replaces_its_own(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    path.chmod(0o644)
    gke.write_credentials(running(endpoint="198.51.100.1"), P, Z, path)
    gke.write_credentials(running(endpoint="198.51.100.2"), P, Z, path)
    doc = yaml.safe_load(path.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["kind-dev", CTX]
    assert doc["users"][0] == OTHER["users"][0]
    assert doc["preferences"] == {"colors": True}
    ours = [c for c in doc["clusters"] if c["name"] == CTX]
    assert len(ours) == 1 and ours[0]["cluster"]["server"] == "https://198.51.100.2"
    assert doc["current-context"] == CTX
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert gke.remove_credentials(path, P, Z, "knwalk") is True
    doc = yaml.safe_load(path.read_text())
    for section in ("clusters", "users", "contexts"):
        assert doc[section] == OTHER[section]
    assert doc["current-context"] == ""
    assert gke.remove_credentials(path, P, Z, "knwalk") is False


def test_cluster_without_endpoint_or_ca_is_refused_and_nothing_written(tmp_path: Path) -> None:
    path = tmp_path / "config"
    provisioning = api.Cluster(name="knwalk", status="PROVISIONING")
    with pytest.raises(KnwalkError) as info:
        gke.write_credentials(provisioning, P, Z, path)
    assert "no endpoint yet (status PROVISIONING)" in info.value.message
    assert "knwalk cluster wait knwalk" in info.value.hint
    with pytest.raises(KnwalkError):
        gke.write_credentials(running(ca=""), P, Z, path)
    assert not path.exists()


# --------------------------------------------------------------------------- without the exec plugin


class TickingCredentials(ga_credentials.Credentials):  # type: ignore[misc]
    """Credentials whose refresh hands out tok-1, tok-2, ... (no network)."""

    def __init__(self) -> None:
        super().__init__()
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"tok-{self.refreshes}"
        self.expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(
            hours=1
        )

    def expire(self) -> None:
        self.expiry = datetime.datetime(2000, 1, 1)


@pytest.fixture
def version_server() -> Iterator[tuple[str, list[str | None]]]:
    """A tiny HTTP server answering /version and recording Authorization headers."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = json.dumps(
                {
                    "major": "1",
                    "minor": "33",
                    "gitVersion": "v1.33.5-gke.1080000",
                    "gitCommit": "0",
                    "gitTreeState": "clean",
                    "buildDate": "2026-01-02T03:04:05Z",
                    "goVersion": "go1.24",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                }
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_kubernetes_client_signs_with_google_credentials_and_refreshes(
    version_server: tuple[str, list[str | None]],
) -> None:
    from kubernetes import client as k8s

    url, seen = version_server
    creds = TickingCredentials()
    api_client = gke.kubernetes_client(url, credentials=creds)
    try:
        version = k8s.VersionApi(api_client)
        assert version.get_code().git_version == "v1.33.5-gke.1080000"
        version.get_code()
        assert seen == ["Bearer tok-1", "Bearer tok-1"]
        creds.expire()
        version.get_code()
        assert seen[-1] == "Bearer tok-2"
        assert creds.refreshes == 2
        assert "authorization" in api_client.configuration.api_key
    finally:
        api_client.close()


def test_kubernetes_client_trusts_the_cluster_ca(tmp_path: Path) -> None:
    api_client = gke.kubernetes_client("https://203.0.113.10", CA, credentials=TickingCredentials())
    try:
        ca_file = Path(api_client.configuration.ssl_ca_cert)
        assert ca_file.read_bytes() == base64.b64decode(CA)
        assert api_client.configuration.host == "https://203.0.113.10"
    finally:
        api_client.close()
