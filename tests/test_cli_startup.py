"""What the walkthrough commands load and send, so that they start fast (issue 12, section 6).

No timing here (scripts/bench_cli.py measures it): these tests look at what a
command does in a fresh interpreter — the modules it imports, the files it
opens, the CA bundles it loads — and at what the one client sends, which must
stay what the kubernetes library's own API class sends.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kn_walk import probe
from kn_walk.errors import KnwalkError
from kn_walk.kube import ALL_NAMESPACES, APPLY_PATCH, MERGE_PATCH, Resource, connect
from tests.kube_helpers import GROUP, VERSION, ksvc
from tests.test_cli_support import Cluster, local_api

#: runs ``knwalk ARGV`` in this fresh interpreter and reports, after it: every module
#: imported, how often each watched path was opened (audit events), the CA files loaded,
#: the requests sent through urllib3 (the kubernetes client's transport)
PROBE = r"""
import json, os, ssl, sys
import urllib3.connectionpool

sent = []
_urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen

def urlopen(self, method, url, *args, **kwargs):
    sent.append(f"{method} {url}")
    return _urlopen(self, method, url, *args, **kwargs)

urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen
args, watched = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
opened = []

def hook(event, hook_args):
    if event == "open" and hook_args and isinstance(hook_args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(hook_args[0])
        if path in watched:
            opened.append(path)

sys.addaudithook(hook)
cafiles = []
_load = ssl.SSLContext.load_verify_locations

def load_verify_locations(self, cafile=None, capath=None, cadata=None):
    cafiles.append(None if cafile is None else os.fsdecode(cafile))
    return _load(self, cafile, capath, cadata)

ssl.SSLContext.load_verify_locations = load_verify_locations
sys.argv = ["knwalk", *args]
from kn_walk.cli.app import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
sys.stdout.flush()
report = {
    "code": code,
    "modules": sorted(sys.modules),
    "opened": opened,
    "cafiles": cafiles,
    "sent": sent,
}
sys.stderr.write("\nPROBE=" + json.dumps(report) + "\n")
"""


def run_probed(args: list[str], watched: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """(stdout, report) of ``knwalk ARGS`` in a fresh interpreter (see :data:`PROBE`)."""
    env = dict(os.environ, NO_COLOR="1", COLUMNS="80")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(list(watched))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    parts = proc.stderr.rsplit("PROBE=", 1)
    assert len(parts) == 2, proc.stderr
    report: dict[str, Any] = json.loads(parts[1])
    assert report["code"] == 0, (proc.stdout, parts[0])
    return proc.stdout, report


def _args(app: Cluster, *args: str) -> list[str]:
    return [*args, "--kubeconfig", str(app.kubeconfig), "-n", app.namespace]


CUSTOM_OBJECTS_API = "kubernetes.client.api.custom_objects_api"


def test_walkthrough_commands_do_not_build_the_librarys_customobjectsapi(
    split_app: Cluster,
) -> None:
    """The client sends custom-object requests itself: importing the library's
    CustomObjectsApi (and its pydantic-validated signatures) cost ~20 ms a command."""
    split_app.custom.create_namespaced_custom_object(
        GROUP, VERSION, split_app.namespace, "services", ksvc("throwaway")
    )
    commands = {
        "status": (["status", "helloworld-go"], "Service helloworld-go"),
        "deploy": (["deploy", "--target", "Go Sample v2"], "No new revision"),
        "split": (["split", "50/50"], "unchanged"),
        "curl": (["curl"], "Hello Go Sample v"),
        "delete": (["delete", "throwaway", "--yes"], "Service 'throwaway' deleted"),
    }
    for name, (args, said) in commands.items():
        out, report = run_probed(_args(split_app, *args))
        assert said in out, (name, out)
        assert CUSTOM_OBJECTS_API not in report["modules"], name


@pytest.mark.parametrize(
    "args",
    [
        ["status", "helloworld-go", "-o", "json"],
        ["status", "-o", "yaml"],
        ["split", "50/50", "-o", "json"],
        ["deploy", "--target", "Go Sample v2", "-o", "json"],
    ],
)
def test_machine_readable_output_imports_no_rich(split_app: Cluster, args: list[str]) -> None:
    out, report = run_probed(_args(split_app, *args))
    assert out.strip()
    assert [m for m in report["modules"] if m.split(".")[0] == "rich"] == []


def test_status_reads_the_kubeconfig_once(split_app: Cluster) -> None:
    """knwalk parses it once (contexts, current context, namespace, cluster and user all
    come from that one read); the kubernetes library reads it once more to build its
    client. It was read five times."""
    path = str(split_app.kubeconfig)
    out, report = run_probed(_args(split_app, "status", "helloworld-go"), (path,))
    assert "Service helloworld-go" in out
    assert 1 <= report["opened"].count(path) <= 2


def test_curl_once_loads_neither_a_ca_bundle_nor_the_load_engine(split_app: Cluster) -> None:
    """One request to a plain-http gateway speaks no TLS: no CA bundle is read for it
    (httpx's default context loads certifi's, tens of ms), the load engine stays out of a
    single request, and of the Knative objects only the Service is read (the Route,
    Revisions and Configuration are for --tag and for comparing many answers)."""
    import certifi

    out, report = run_probed(_args(split_app, "curl"))
    assert out.startswith("Hello Go Sample v")
    assert certifi.where() not in report["cafiles"]
    assert "kn_walk.load" not in report["modules"]
    ns = split_app.namespace
    assert report["sent"] == [
        f"GET /apis/{GROUP}/{VERSION}/namespaces/{ns}/services/helloworld-go",
        "GET /api/v1/namespaces/knative-serving/configmaps/config-network",
        "GET /api/v1/namespaces/istio-system/services/istio-ingressgateway",
    ]
    out, report = run_probed(_args(split_app, "curl", "--tag", "candidate"))
    assert out == "Hello Go Sample v1!\n"
    assert any("/routes?" in line for line in report["sent"])


def test_status_lists_each_kind_once(split_app: Cluster) -> None:
    ns = split_app.namespace
    out, report = run_probed(_args(split_app, "status", "helloworld-go"))
    assert "Service helloworld-go" in out
    selector = "labelSelector=serving.knative.dev/service%3Dhelloworld-go"
    base = f"GET /apis/{GROUP}/{VERSION}/namespaces/{ns}"
    assert report["sent"] == [
        f"{base}/services/helloworld-go",
        *(f"{base}/{plural}?{selector}" for plural in ("configurations", "revisions", "routes")),
        # the DomainMappings that may point at it (their ref is not a label)
        f"GET /apis/{GROUP}/v1beta1/namespaces/{ns}/domainmappings",
    ]


def test_probe_requests_to_https_gateways_are_still_verified(tmp_path: Path) -> None:
    """The https default is unchanged: a gateway whose certificate no trusted CA signed is
    refused (the sandbox's own CA is not in certifi's bundle)."""
    from kn_walk.sandbox.certs import ensure_certificates

    _, crt, key = ensure_certificates(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with pytest.raises(KnwalkError, match="CERTIFICATE_VERIFY_FAILED"):
            probe.request(f"https://127.0.0.1:{server.server_port}", "h.example.com", "/", 5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_resource_paths_are_percent_encoded_like_the_librarys() -> None:
    res = Resource(GROUP, VERSION, "services", "Service", True)
    assert res.path("ns", "a b/c") == f"/apis/{GROUP}/{VERSION}/namespaces/ns/services/a%20b%2Fc"
    assert res.path(ALL_NAMESPACES) == f"/apis/{GROUP}/{VERSION}/services"
    assert Resource("", "v1", "configmaps", "ConfigMap", True).path("x?y", "z") == (
        "/api/v1/namespaces/x%3Fy/configmaps/z"
    )


class _Recorder(BaseHTTPRequestHandler):
    """Records each request (method, path with query, content type, accept, JSON body) and
    answers 201 (POST) or 200 with an object that reads as a list and as an APIResourceList."""

    seen: ClassVar[list[tuple[str, str, str, str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        type(self).seen.append(
            (
                self.command,
                self.path,
                self.headers.get("Content-Type", ""),
                self.headers.get("Accept", ""),
                json.loads(raw) if raw else None,
            )
        )
        body = json.dumps(
            {
                "kind": "List",
                "items": [],
                "metadata": {"resourceVersion": "7"},
                "groupVersion": f"{GROUP}/{VERSION}",
                "resources": [],
            }
        )
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = do_PATCH = do_DELETE = _record


def test_custom_object_requests_are_the_librarys(tmp_path: Path) -> None:
    """Kube sends custom-object requests itself, byte for byte what the library's
    CustomObjectsApi sent for the same calls: paths, query, content type, accept, body."""
    from kubernetes import client, config

    body = ksvc("a")
    patch = {"metadata": {"resourceVersion": "3"}, "spec": {"traffic": []}}
    with local_api(tmp_path, _Recorder, "rec") as kubeconfig:
        _Recorder.seen = []
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
        custom = client.CustomObjectsApi(api_client)
        custom.get_namespaced_custom_object(GROUP, VERSION, "ns", "services", "a b")
        custom.list_namespaced_custom_object(
            GROUP, VERSION, "ns", "services", label_selector="x=y", field_selector="f=g"
        )
        custom.list_custom_object_for_all_namespaces(GROUP, VERSION, "revisions")
        custom.create_namespaced_custom_object(
            GROUP, VERSION, "ns", "services", body, field_manager="knwalk"
        )
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "ns", "services", "a", patch, field_manager="knwalk",
            _content_type=MERGE_PATCH,
        )  # fmt: skip
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "ns", "services", "a", body, field_manager="knwalk", force=True,
            _content_type=APPLY_PATCH,
        )  # fmt: skip
        custom.delete_namespaced_custom_object(
            GROUP, VERSION, "ns", "services", "a", propagation_policy="Background"
        )
        custom.get_api_resources(GROUP, VERSION)
        api_client.close()
        library, _Recorder.seen = _Recorder.seen, []

        with connect(kubeconfig, namespace="ns") as kube:
            kube.get(GROUP, VERSION, "services", "a b")
            kube.list(GROUP, VERSION, "services", label_selector="x=y", field_selector="f=g")
            kube.list(GROUP, VERSION, "revisions", ALL_NAMESPACES)
            kube.create(GROUP, VERSION, "services", body)
            kube.merge_patch(GROUP, VERSION, "services", "a", patch)
            kube.apply(GROUP, VERSION, "services", "a", body)
            kube.delete(GROUP, VERSION, "services", "a")
            assert kube.has_group_version(GROUP, VERSION)
        ours = _Recorder.seen
    assert len(library) == 8
    assert ours == library
