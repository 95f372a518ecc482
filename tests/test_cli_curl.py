"""``knwalk curl``: the walkthrough end to end on the sandbox's gateway, and curl's own logic
(Host header, grouping, chi-square verdict, failures, discovery errors) against local servers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sandbox, start_sandbox
from tests.test_cli_support import Cluster, knwalk

V1_BODY, V2_BODY = "Hello Go Sample v1!\n", "Hello Go Sample v2!\n"


Answer = Callable[[int, str, str], tuple[int, str]]


class FakeGateway:
    """A local HTTP/1.1 server answering ``answer(n, host, path) -> (status, body)``."""

    def __init__(self, answer: Answer) -> None:
        counter = itertools.count()
        lock = threading.Lock()
        self.hosts: list[str] = []

        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                host = self.headers.get("Host", "")
                with lock:
                    n = next(counter)
                    outer.hosts.append(host)
                status, body = answer(n, host, self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


# --------------------------------------------------------------------------- end to end


def test_walkthrough_end_to_end_on_the_sandbox_gateway(cluster: Cluster) -> None:
    """deploy v1 → curl → deploy v2 → curl → split 50/50 → curl x400 → split @latest → all v2."""
    cluster.deploy()
    first = cluster.run("curl")
    assert (first.code, first.out) == (0, V1_BODY), first.err

    cluster.deploy("--target", "Go Sample v2")
    assert cluster.names("revisions") == ["helloworld-go-00001", "helloworld-go-00002"]
    second = cluster.run("curl")
    assert (second.code, second.out) == (0, V2_BODY), second.err

    assert cluster.run("split", "50/50").code == 0
    many = cluster.run("curl", "--count", "400", "-o", "json")
    assert many.code == 0, many.err
    doc = json.loads(many.out)
    assert doc["ok"] == 400 and doc["failed"] == 0
    shares = {r["body"]: r["observedPercent"] for r in doc["responses"]}
    assert set(shares) == {V1_BODY, V2_BODY}
    assert all(40 <= pct <= 60 for pct in shares.values()), shares
    assert doc["verdict"]["consistent"] is True

    candidate = cluster.run("curl", "--tag", "candidate")
    assert (candidate.code, candidate.out) == (0, V1_BODY), candidate.err

    assert cluster.run("split", "@latest").code == 0
    after = json.loads(cluster.run("curl", "--count", "50", "-o", "json").out)
    assert [(r["body"], r["count"]) for r in after["responses"]] == [(V2_BODY, 50)]


def test_text_summary_on_the_sandbox_gateway(split_app: Cluster) -> None:
    result = split_app.run("curl", "--count", "100", "--concurrency", "5")
    assert result.code == 0, result.err
    assert result.lines[0].split()[0] == "Gateway"
    assert result.lines[0].split()[1].startswith("http://127.0.0.1:")
    assert result.lines[2].split()[:2] == ["Requests", "100"]
    assert "Verdict: consistent" in result.out
    assert max(len(line) for line in result.lines) <= 80


# --------------------------------------------------------------------------- against a fake gateway


def test_one_request_sends_the_host_header_and_prints_the_body(split_app: Cluster) -> None:
    with FakeGateway(lambda n, host, path: (200, f"hi {host} {path}\n")) as gw:
        result = split_app.run("curl", "--gateway", gw.url, "--path", "/x?y=1", "-v")
    host = f"helloworld-go.{split_app.namespace}.example.com"
    assert result.code == 0, result.err
    assert result.out == f"hi {host} /x?y=1\n"
    assert f"* Gateway: {gw.url} (--gateway)" in result.err
    assert f"> Host: {host}" in result.err
    assert "< HTTP/1.1 200 OK" in result.err


def test_tag_uses_the_tag_host(split_app: Cluster) -> None:
    with FakeGateway(lambda n, host, path: (200, host)) as gw:
        result = split_app.run("curl", "--gateway", gw.url, "--tag", "candidate")
    assert result.out == f"candidate-helloworld-go.{split_app.namespace}.example.com"


def test_even_answers_are_consistent_with_50_50(split_app: Cluster) -> None:
    bodies = [V1_BODY, V2_BODY]
    with FakeGateway(lambda n, host, path: (200, bodies[n % 2])) as gw:
        result = split_app.run("curl", "--gateway", gw.url, "--count", "200", "-o", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert list(doc) == [
        "gateway", "host", "path", "count", "concurrency", "ok", "failed", "failures",
        "elapsedSeconds", "requestsPerSecond", "responses", "verdict",
        "mode", "rate", "durationSeconds", "stopped", "errorRate", "statusCodes", "latency",
    ]  # fmt: skip
    assert doc["gateway"] == gw.url
    assert doc["count"] == doc["ok"] == 200
    rows = {r["body"]: r for r in doc["responses"]}
    assert rows[V2_BODY]["expectedPercent"] == 50
    assert rows[V2_BODY]["revisions"] == ["helloworld-go-00002"]
    assert rows[V1_BODY]["observedPercent"] == 50.0
    assert doc["verdict"]["consistent"] is True
    assert doc["verdict"]["pValue"] == pytest.approx(1.0)


def test_skewed_answers_are_reported_inconsistent(split_app: Cluster) -> None:
    with FakeGateway(lambda n, host, path: (200, V1_BODY if n % 10 else V2_BODY)) as gw:
        result = split_app.run("curl", "--gateway", gw.url, "--count", "200")
    assert result.code == 0, result.err
    assert "Verdict: NOT consistent with the configured split" in result.out
    table = result.lines[result.lines.index("") + 1 :]
    assert table[0].split() == ["RESPONSE", "COUNT", "OBSERVED", "EXPECTED"]


def test_unexpected_bodies_are_shown_and_inconsistent(split_app: Cluster) -> None:
    with FakeGateway(lambda n, host, path: (200, "something else\n")) as gw:
        doc = json.loads(
            split_app.run("curl", "--gateway", gw.url, "--count", "20", "-o", "json").out
        )
    other = [r for r in doc["responses"] if r["body"] == "something else\n"]
    assert other == [
        {
            "body": "something else\n",
            "count": 20,
            "observedPercent": 100.0,
            "expectedPercent": None,
            "revisions": [],
        }
    ]
    assert doc["verdict"]["consistent"] is False


def test_failures_are_counted_by_kind_and_exit_1(split_app: Cluster) -> None:
    with FakeGateway(lambda n, host, path: (503, "busy") if n % 4 == 0 else (200, V1_BODY)) as gw:
        result = split_app.run("curl", "--gateway", gw.url, "--count", "40", "-o", "json")
    result.assert_error(1)
    doc = json.loads(result.out)
    assert doc["failed"] == 10
    assert doc["failures"] == {"HTTP 503": 10}
    assert "10 of 40 requests failed (HTTP 503: 10)" in result.error


def test_single_request_http_error_prints_body_and_fails(split_app: Cluster) -> None:
    with FakeGateway(lambda n, host, path: (404, "")) as gw:
        result = split_app.run("curl", "--gateway", gw.url)
    result.assert_error(1)
    assert "answered 404" in result.error


def test_gateway_and_host_need_no_cluster(tmp_path: Path) -> None:
    env: dict[str, str | None] = {"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    with FakeGateway(lambda n, host, path: (200, f"{host}\n")) as gw:
        one = knwalk("curl", "--gateway", gw.url, "--host", "a.b.example.com", env=env)
        many = knwalk(
            "curl",
            "--gateway",
            gw.url,
            "--host",
            "a.b.example.com",
            "-c",
            "10",
            "-o",
            "json",
            env=env,
        )
    assert (one.code, one.out) == (0, "a.b.example.com\n"), one.err
    doc = json.loads(many.out)
    assert doc["verdict"] is None
    assert doc["responses"][0]["count"] == 10


def test_connect_error(split_app: Cluster) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    one = split_app.run("curl", "--gateway", f"http://127.0.0.1:{port}")
    one.assert_error(1)
    assert "connect error" in one.error
    many = split_app.run("curl", "--gateway", f"127.0.0.1:{port}", "--count", "5", "-o", "json")
    many.assert_error(1)
    assert json.loads(many.out)["failures"] == {"connect error": 5}


# --------------------------------------------------------------------------- bad input


def test_bad_input(split_app: Cluster) -> None:
    cases = [
        (["--tag", "nope"], 2, "has no tag 'nope'"),
        (["--tag", "current", "--host", "x.example.com"], 2, "give only one"),
        (["--path", "nope"], 2, "must start with '/'"),
        (["--gateway", "ftp://x"], 2, "not an http(s) URL"),
        (["--gateway", "http://x:99999"], 2, "not a URL"),
        (["--gateway", "http://x/path"], 2, "path or query"),
        (["--host", "bad host"], 2, "not a host name"),
        (["--count", "0"], 2, "--count"),
        (["--concurrency", "0"], 2, "--concurrency"),
        (["--timeout", "0"], 2, "--timeout"),
        (["-o", "yaml"], 2, "-o/--output"),
        (["missing"], 1, "not found"),
    ]
    for args, code, text in cases:
        result = split_app.run("curl", *args)
        result.assert_error(code)
        assert text in result.error, (args, result.err)


def test_tag_error_lists_the_tags(split_app: Cluster) -> None:
    result = split_app.run("curl", "--tag", "nope")
    assert "tags: candidate, current, latest" in result.error


def test_service_not_ready(cluster: Cluster) -> None:
    cluster.claim_route("blocked")
    result = cluster.run("deploy", "blocked", "--wait-timeout", "30")
    result.assert_error(1)
    curl = cluster.run("curl", "blocked")
    curl.assert_error(1)
    assert "service 'blocked' is not ready" in curl.error
    assert "knwalk status blocked" in curl.error


# --------------------------------------------------------------------------- gateway discovery


@pytest.fixture(scope="module")
def lonely(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox of our own, whose gateway and config-network the tests may break."""
    from kn_walk.sandbox import control

    sb = start_sandbox(tmp_path_factory.mktemp("lonely"))
    try:
        yield sb
    finally:
        control.stop(sb.state_dir)


@contextlib.contextmanager
def patched(
    sb: Sandbox, path: str, patch: dict[str, Any], *, status: bool = False
) -> Iterator[None]:
    """Merge-patch a core object of ``sb`` (status subresource if asked), then undo it."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(sb.kubeconfig))
    try:
        namespace, kind, name = path.split("/")
        core = client.CoreV1Api(api)
        if kind == "services":
            read = core.read_namespaced_service_status if status else core.read_namespaced_service
            write = (
                core.patch_namespaced_service_status if status else core.patch_namespaced_service
            )
        else:
            read, write = core.read_namespaced_config_map, core.patch_namespaced_config_map
        before = api.sanitize_for_serialization(read(name, namespace))
        key = "status" if status else "data"
        write(name, namespace, patch)
        try:
            yield
        finally:
            write(name, namespace, {key: before.get(key)})
    finally:
        api.close()


def test_discovery_finds_the_istio_gateway(lonely: Sandbox) -> None:
    from kn_walk import ingress
    from kn_walk.kube import connect

    with connect(lonely.kubeconfig) as kube:
        gw = ingress.discover(kube)
    assert gw.url == lonely.info.gateway
    assert gw.source == "istio-system/istio-ingressgateway"


def test_pending_load_balancer_says_how_to_pass_gateway(lonely: Sandbox) -> None:
    kubeconfig = str(lonely.kubeconfig)
    assert knwalk("deploy", "--kubeconfig", kubeconfig).code == 0
    with patched(
        lonely,
        "istio-system/services/istio-ingressgateway",
        {"status": {"loadBalancer": {"ingress": None}}},
        status=True,
    ):
        result = knwalk("curl", "--kubeconfig", kubeconfig)
    result.assert_error(1)
    assert "no external address yet" in result.error
    assert "--gateway" in result.error


def test_unknown_ingress_class(lonely: Sandbox) -> None:
    kubeconfig = str(lonely.kubeconfig)
    assert knwalk("deploy", "--kubeconfig", kubeconfig).code == 0
    with patched(
        lonely,
        "knative-serving/configmaps/config-network",
        {"data": {"ingress-class": "mystery.ingress.networking.knative.dev"}},
    ):
        result = knwalk("curl", "--kubeconfig", kubeconfig)
    result.assert_error(1)
    assert "mystery.ingress.networking.knative.dev" in result.error
    assert "--gateway" in result.error


def test_kourier_gateway_missing(lonely: Sandbox) -> None:
    kubeconfig = str(lonely.kubeconfig)
    assert knwalk("deploy", "--kubeconfig", kubeconfig).code == 0
    with patched(
        lonely,
        "knative-serving/configmaps/config-network",
        {"data": {"ingress-class": "kourier.ingress.networking.knative.dev"}},
    ):
        result = knwalk("curl", "--kubeconfig", kubeconfig)
    result.assert_error(1)
    assert "kourier-system/kourier does not exist" in result.error
