"""Helpers for the walkthrough-command tests, and tests of knwalk's own usage-error format.

``knwalk(...)`` runs the real ``main()`` in this process (stdout/stderr captured,
exit code returned), so every test exercises option parsing, the core, the
sandbox over real HTTPS and the error formatting together.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GROUP, VERSION = "serving.knative.dev", "v1"


@dataclass
class Output:
    """What one run of knwalk gave: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    @property
    def error(self) -> str:
        """stderr with whitespace runs collapsed (the console wraps long lines at 80 columns)."""
        return " ".join(self.err.split())


@dataclass
class Result(Output):
    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.out.splitlines()]

    def assert_error(self, *codes: int) -> None:
        """A failure in knwalk's format: exit 1 or 2, ``Error: ...`` then ``Hint: ...``, no traceback."""
        assert self.code in (codes or (1, 2)), (self.code, self.out, self.err)
        err_lines = [line for line in self.err.splitlines() if line.strip()]
        assert err_lines and err_lines[0].startswith("Error: "), self.err
        assert any(line.startswith("Hint: ") for line in err_lines), self.err
        assert "Traceback" not in self.err


@contextlib.contextmanager
def _env(overrides: dict[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in overrides}
    try:
        for k, v in overrides.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_main(*args: str) -> tuple[int, str, str]:
    """Run the real ``main()`` as ``knwalk ARGS`` in-process; exit code, stdout and stderr."""
    from kn_walk.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["knwalk", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def knwalk(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """Run ``knwalk ARGS`` in-process (no colour, 80 columns) and return exit code, stdout and stderr."""
    with _env({"NO_COLOR": "1", "COLUMNS": "80", **(env or {})}):
        return Result(*run_main(*args))


class Cluster:
    """The session sandbox seen from one test's namespace."""

    def __init__(self, kubeconfig: Path, namespace: str, api_client: Any) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.api_client = api_client

    def run(self, command: str, *args: str, **kw: Any) -> Result:
        """``knwalk COMMAND --kubeconfig K -n NS ARGS`` (later options in ARGS win)."""
        cluster = ("--kubeconfig", str(self.kubeconfig), "-n", self.namespace)
        return knwalk(command, *cluster, *args, **kw)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.rest import ApiException

        try:
            return dict(
                self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural, name
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def ksvc(self, name: str = "helloworld-go") -> dict[str, Any]:
        obj = self.get("services", name)
        assert obj is not None, f"service {name} not found"
        return obj

    def rv(self, name: str = "helloworld-go") -> str:
        return str(self.ksvc(name)["metadata"]["resourceVersion"])

    def names(self, plural: str) -> list[str]:
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural)
        return sorted(i["metadata"]["name"] for i in items["items"])

    def claim_route(self, name: str) -> None:
        """Create Route ``name`` before its Service: the Service cannot own it and never gets ready."""
        route = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Route",
            "metadata": {"name": name},
            "spec": {"traffic": [{"configurationName": name, "percent": 100}]},
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "routes", route)

    def deploy(self, *args: str) -> Result:
        result = self.run("deploy", *args)
        assert result.code == 0, (result.out, result.err)
        return result


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or []}


# --------------------------------------------------------------------------- tests of the format


def test_typer_usage_errors_use_knwalk_format() -> None:
    result = knwalk("deploy", "--port", "abc")
    result.assert_error(2)
    assert "Invalid value for '--port'" in result.error
    assert "knwalk deploy --help" in result.error


def test_unknown_option_is_a_one_line_usage_error() -> None:
    result = knwalk("split", "50/50", "--bogus")
    result.assert_error(2)
    assert "--bogus" in result.error


# --------------------------------------------------------------------------- clusters without Knative


@contextlib.contextmanager
def local_api(tmp: Path, handler: type[Any], name: str) -> Iterator[Path]:
    """A kubeconfig (context ``name``, a bearer token) for an HTTP server on 127.0.0.1 that
    answers with ``handler`` (a ``BaseHTTPRequestHandler``) until the block ends."""
    import json
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    path = tmp / f"{name}-kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": name, "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
                ],
                "users": [{"name": name, "user": {"token": "t"}}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                "current-context": name,
            }
        )
    )
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def plain_kubernetes(tmp: Path) -> Iterator[Path]:
    """A kubeconfig whose API server is a plain Kubernetes without serving.knative.dev.

    A tiny local HTTP server: ``/version`` and ``/api/...`` answer, every
    ``/apis/serving.knative.dev/...`` path is ``404 page not found`` (as
    kube-apiserver answers for a group it does not serve).
    """
    import json
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.startswith("/version"):
                self._send(200, json.dumps({"gitVersion": "v1.32.0"}).encode(), "application/json")
            else:
                self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

        do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    with local_api(tmp, Handler, "plain") as path:
        yield path


@pytest.fixture
def no_knative(tmp_path: Path) -> Iterator[Path]:
    with plain_kubernetes(tmp_path) as path:
        yield path


def test_knative_not_installed_is_named_with_install_hint(no_knative: Path) -> None:
    for args in (
        ["deploy"],
        ["status"],
        ["status", "x"],
        ["split", "50/50"],
        ["curl"],
        ["delete", "--yes"],
    ):
        result = knwalk(args[0], "--kubeconfig", str(no_knative), *args[1:])
        result.assert_error(1)
        assert "Knative Serving is not installed in context plain" in result.error, args
        assert "knwalk install" in result.error


def test_missing_kubeconfig_suggests_sandbox_or_credentials(tmp_path: Path) -> None:
    env: dict[str, str | None] = {"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    for args in (["deploy"], ["status"], ["split", "50/50"], ["curl"], ["delete", "--yes"]):
        result = knwalk(*args, env=env)
        result.assert_error(1)
        assert "no kubeconfig found" in result.error
        assert "knwalk sandbox up" in result.error
        assert "knwalk cluster get-credentials" in result.error


def test_no_current_context(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: ''\nclusters: []\nusers: []\n"
        "contexts: [{name: a, context: {cluster: a, user: a}}]\n"
    )
    result = knwalk("status", "--kubeconfig", str(path))
    result.assert_error(1)
    assert "no current context" in result.error
    assert "--context" in result.error


def test_explicit_kubeconfig_that_does_not_exist(tmp_path: Path) -> None:
    result = knwalk("deploy", "--kubeconfig", str(tmp_path / "nope"))
    result.assert_error(2)
    assert "does not exist" in result.error


def test_unreachable_api_server(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        f"clusters: [{{name: gone, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: gone, user: {token: t}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: gone}}]\n"
    )
    result = knwalk("status", "--kubeconfig", str(path))
    result.assert_error(1)
    assert "cannot reach the Kubernetes API" in result.error


def default_sigint() -> None:  # pragma: no cover - runs in the child before exec
    """For a child the test will send SIGINT: a shell started in the background (nohup,
    ``&``) ignores SIGINT, its children inherit that, and Python then never raises
    KeyboardInterrupt; Ctrl-C tests must not depend on how the suite was launched."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
