"""``kubectl logs`` against the sandbox: ``GET /api/v1/namespaces/{ns}/pods/{name}/log``.

The Pods of Revisions mirror local processes (kn_walk/sandbox/node/pods.py); their log is
the process's output file. These tests drive the real kubectl and raw HTTPS against
sandbox processes, and the API in-process where a follow stream's end has to be
watched from the server's side. Every test that changes something has its own
Service in its own namespace of the session sandbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from kn_walk.sandbox import control
from kn_walk.sandbox.apiserver.api import ApiState, create_app
from kn_walk.sandbox.apiserver.podlogs import LogSource
from kn_walk.sandbox.machinery.resourcetypes import Registry
from kn_walk.sandbox.registry.resources import Resources, WriteOptions
from kn_walk.sandbox.registry.store import Store
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import IMAGE, service_manifest

KUBECTL = "/usr/bin/kubectl"

SERVICE_LABEL = "serving.knative.dev/service"
PID_ANNOTATION = "sandbox.knwalk.dev/pid"
LOG_ANNOTATION = "sandbox.knwalk.dev/log"
F = TypeVar("F", bound=Callable[..., None])


def needs_kubectl(test: F) -> F:
    """The ``kubectl`` mark of tests that drive the real binary (skipped without it)."""
    skip = pytest.mark.skipif(not os.path.exists(KUBECTL), reason=f"{KUBECTL} is not installed")
    return pytest.mark.kubectl(skip(test))  # type: ignore[no-any-return]


# ------------------------------------------------------------------ helpers
def _http(sb: Sandbox, token: str | None = None, container: str = "") -> httpx.Client:
    """A client of the API; with ``container``, every request names it (a Revision's Pod
    has queue-proxy's container beside the user's, so its log needs one named, which
    kubectl takes from the Pod's default-container annotation)."""
    return httpx.Client(
        base_url=sb.api,
        headers={"Authorization": f"Bearer {sb.token if token is None else token}"},
        params={"container": container} if container else None,
        timeout=10,
        verify=ssl.create_default_context(cafile=sb.ca),
    )


def kubectl(sb: Sandbox, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=sb.env(),
        timeout=30,
        check=False,
    )


def ok(sb: Sandbox, *args: str, stdin: str | None = None) -> str:
    p = kubectl(sb, *args, stdin=stdin)
    assert p.returncode == 0, f"kubectl {' '.join(args)} failed:\n{p.stderr}"
    return p.stdout


@dataclass
class Running:
    """A Service whose Revision's process is up, and its Pod."""

    namespace: str
    service: str
    pod: str
    revision: str
    log_file: Path

    def path(self, pod: str | None = None) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{pod or self.pod}/log"


def _running(pod: dict[str, Any]) -> bool:
    st = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []
    )
    return st.get("phase") == "Running" and ready


def _wait_pod(
    sb: Sandbox, namespace: str, service: str, predicate: Any = _running, timeout: float = 15.0
) -> dict[str, Any]:
    """The Service's Pod once ``predicate`` holds for it (by default: Running and Ready)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    with _http(sb) as h:
        while time.monotonic() < deadline:
            last = h.get(
                f"/api/v1/namespaces/{namespace}/pods",
                params={"labelSelector": f"{SERVICE_LABEL}={service}"},
            ).json()
            for pod in last.get("items") or []:
                if predicate(pod):
                    return dict(pod)
            time.sleep(0.05)
    raise AssertionError(f"no such pod for {namespace}/{service}; last: {last}")


def run_service(sb: Sandbox, target: str = "Logs") -> Running:
    """Create a namespace and a Service with the real kubectl; wait for its Pod."""
    namespace = "logs-" + uuid.uuid4().hex[:8]
    service = "hello-" + uuid.uuid4().hex[:6]
    ok(sb, "create", "namespace", namespace)
    ok(sb, "apply", "-n", namespace, "-f", "-", stdin=service_manifest(target, name=service))
    pod = _wait_pod(sb, namespace, service)
    revision = pod["metadata"]["labels"]["serving.knative.dev/revision"]
    return Running(
        namespace,
        service,
        pod["metadata"]["name"],
        revision,
        Path(pod["metadata"]["annotations"][LOG_ANNOTATION]),
    )


def _wait_log(path: Path, needle: bytes, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with_data = path.read_bytes() if path.exists() else b""
        if needle in with_data:
            return with_data
        time.sleep(0.02)
    raise AssertionError(f"{needle!r} never appeared in {path}")


def read_exactly(chunks: Iterator[bytes], n: int) -> bytes:
    """``n`` bytes from a streamed body (they may come in more than one chunk)."""
    got = b""
    while len(got) < n:
        got += next(chunks)
    return got


class LineReader:
    """The lines a subprocess writes, collected by a thread, waited for with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        out = proc.stdout

        def pump() -> None:
            for line in out:
                self.lines.put(line)
            self.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, predicate: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line is not None, f"the stream ended; it said: {self.seen}"
            self.seen.append(line)

    def rest(self, timeout: float = 15.0) -> None:
        """Everything up to the end of the output."""
        deadline = time.monotonic() + timeout
        while (line := self.lines.get(timeout=max(0.01, deadline - time.monotonic()))) is not None:
            self.seen.append(line)


@pytest.fixture(scope="module")
def svc(sandbox: Sandbox) -> Iterator[Running]:
    """One Service the read-only tests share; a request reaches it through the gateway."""
    running = run_service(sandbox)
    with _http(sandbox, container="user-container") as h:
        ksvc = h.get(
            f"/apis/serving.knative.dev/v1/namespaces/{running.namespace}/services/{running.service}"
        ).json()
    host = httpx.URL(ksvc["status"]["url"]).host
    r = httpx.get(sandbox.info.gateway, headers={"Host": host}, timeout=10)
    assert r.text == "Hello Logs!\n"
    # helloworld logs its start, not each request (see helloworld.py)
    _wait_log(running.log_file, b"helloworld: listening on port")
    yield running
    kubectl(sandbox, "delete", "namespace", running.namespace, "--wait=false")


# ------------------------------------------------------------------ kubectl
@needs_kubectl
def test_kubectl_logs_prints_the_process_output(sandbox: Sandbox, svc: Running) -> None:
    content = svc.log_file.read_text()
    assert "helloworld: starting server..." in content
    assert "helloworld: listening on port" in content
    assert ok(sandbox, "logs", "-n", svc.namespace, svc.pod) == content
    assert ok(sandbox, "logs", "-n", svc.namespace, f"pod/{svc.pod}", "-c", "user-container") == (
        content
    )
    selected = ok(sandbox, "logs", "-n", svc.namespace, "-l", f"{SERVICE_LABEL}={svc.service}")
    assert selected == content


@needs_kubectl
def test_kubectl_logs_tail_and_limit_bytes(sandbox: Sandbox, svc: Running) -> None:
    content = svc.log_file.read_bytes().decode()
    lines = content.splitlines(keepends=True)
    assert len(lines) >= 2
    assert ok(sandbox, "logs", "-n", svc.namespace, svc.pod, "--tail=1") == lines[-1]
    assert ok(sandbox, "logs", "-n", svc.namespace, svc.pod, "--tail=2") == "".join(lines[-2:])
    assert ok(sandbox, "logs", "-n", svc.namespace, svc.pod, "--tail=0") == ""
    assert ok(sandbox, "logs", "-n", svc.namespace, svc.pod, "--limit-bytes=10") == content[:10]
    both = ok(sandbox, "logs", "-n", svc.namespace, svc.pod, "--tail=1", "--limit-bytes=7")
    assert both == lines[-1][:7]


@needs_kubectl
def test_kubectl_logs_errors_and_warnings(sandbox: Sandbox, svc: Running) -> None:
    p = kubectl(sandbox, "logs", "-n", svc.namespace, svc.pod, "-c", "nope")
    assert p.returncode == 1
    assert f"container nope is not valid for pod {svc.pod}" in p.stderr
    p = kubectl(sandbox, "logs", "-n", svc.namespace, "nope")
    assert p.returncode == 1
    assert 'pods "nope" not found' in p.stderr
    p = kubectl(sandbox, "logs", "-n", svc.namespace, svc.pod, "--previous")
    assert p.returncode == 1
    assert p.stderr == (
        "Error from server (BadRequest): previous terminated container "
        f'"user-container" in pod "{svc.pod}" not found\n'
    )
    # each line with the time it was written, as the kubelet prints it
    p = kubectl(sandbox, "logs", "-n", svc.namespace, svc.pod, "--timestamps")
    assert p.returncode == 0 and p.stderr == ""
    stamped = p.stdout.splitlines(keepends=True)
    assert [line.split(" ", 1)[1] for line in stamped] == svc.log_file.read_text().splitlines(
        keepends=True
    )
    for line in stamped:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", line.split(" ", 1)[0])


@needs_kubectl
def test_kubectl_logs_follow_across_a_restart_until_the_pod_goes(sandbox: Sandbox) -> None:
    run = run_service(sandbox, "Follow")
    _wait_log(run.log_file, b"listening on port")
    proc = subprocess.Popen(
        [KUBECTL, "logs", "-f", "-n", run.namespace, run.pod],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sandbox.env(),
    )
    try:
        out = LineReader(proc)
        out.until(lambda seen: any("listening on port" in s for s in seen))
        with _http(sandbox, container="user-container") as h:
            pod = h.get(f"/api/v1/namespaces/{run.namespace}/pods/{run.pod}").json()
        # the process dies; the sandbox restarts it in the same Pod, whose log goes on
        os.kill(int(pod["metadata"]["annotations"][PID_ANNOTATION]), signal.SIGKILL)
        out.until(lambda seen: sum("listening on port" in s for s in seen) == 2)
        assert sum("starting server..." in s for s in out.seen) == 2

        # one restart: --previous shows the first run, a plain logs the current one
        text = run.log_file.read_text()
        second = text.index("helloworld: starting server...", text.index("listening on port"))
        second = text.rindex("\n", 0, second) + 1
        p = kubectl(sandbox, "logs", "-n", run.namespace, run.pod, "--previous")
        assert p.returncode == 0, p.stderr
        assert p.stdout == text[:second] and p.stderr == ""
        assert p.stdout.count("listening on port") == 1
        p = kubectl(sandbox, "logs", "-n", run.namespace, run.pod)
        assert p.returncode == 0, p.stderr
        assert p.stdout == run.log_file.read_text()[second:]
        assert p.stdout.count("starting server...") == 1

        # the Pod goes with its Service: the stream ends, and kubectl with it
        ok(sandbox, "delete", "-n", run.namespace, "ksvc", run.service)
        assert proc.wait(timeout=15) == 0
        out.rest()
    except queue.Empty:
        raise AssertionError(f"kubectl logs -f said: {out.seen}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()
    assert "".join(out.seen) == run.log_file.read_text()
    kubectl(sandbox, "delete", "namespace", run.namespace, "--wait=false")


@needs_kubectl
def test_kubectl_logs_of_a_pod_the_sandbox_does_not_run(sandbox: Sandbox) -> None:
    ns = "logs-" + uuid.uuid4().hex[:8]
    ok(sandbox, "create", "namespace", ns)
    ok(sandbox, "run", "-n", ns, "mine", "--image=nginx")
    # the sandbox answers for the Pod as a kubelet would (see test_sandbox_k8s_semantics)
    ok(
        sandbox,
        "wait",
        "-n",
        ns,
        "pod/mine",
        "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImageNotSupported",
    )
    p = kubectl(sandbox, "logs", "-n", ns, "mine")
    assert p.returncode == 1
    assert p.stderr == (
        'Error from server (BadRequest): container "mine" in pod "mine" '
        "is waiting to start: ImageNotSupported\n"
    )
    kubectl(sandbox, "delete", "namespace", ns, "--wait=false")


@needs_kubectl
def test_kubectl_logs_of_an_image_the_sandbox_cannot_run(sandbox: Sandbox) -> None:
    ns = "logs-" + uuid.uuid4().hex[:8]
    ok(sandbox, "create", "namespace", ns)
    manifest = service_manifest("x", name="other").replace(IMAGE, "docker.io/library/nginx")
    ok(sandbox, "apply", "-n", ns, "-f", "-", stdin=manifest)

    def user_container(pod: dict[str, Any]) -> dict[str, Any]:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return next((c for c in statuses if c.get("name") == "user-container"), {})

    def waiting(pod: dict[str, Any]) -> bool:
        return bool((user_container(pod).get("state") or {}).get("waiting", {}).get("reason"))

    pod = _wait_pod(sandbox, ns, "other", waiting)
    reason = user_container(pod)["state"]["waiting"]["reason"]
    assert reason == "ImageNotSupported"
    name = pod["metadata"]["name"]
    p = kubectl(sandbox, "logs", "-n", ns, name)
    assert p.returncode == 1
    assert p.stderr == (
        f'Error from server (BadRequest): container "user-container" in pod "{name}" '
        "is waiting to start: ImageNotSupported\n"
    )
    kubectl(sandbox, "delete", "namespace", ns, "--wait=false")


# ------------------------------------------------------------------ raw HTTPS
def test_log_needs_the_token(sandbox: Sandbox, svc: Running) -> None:
    verify = ssl.create_default_context(cafile=sandbox.ca)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        for query in ("", "?follow=true"):
            url = sandbox.api + svc.path() + query
            r = httpx.get(url, headers=headers, verify=verify)
            assert r.status_code == 401
            assert r.json()["reason"] == "Unauthorized"
            assert "helloworld" not in r.text


def test_discovery_lists_pods_log(sandbox: Sandbox) -> None:
    with _http(sandbox) as h:
        resources = h.get("/api/v1").json()["resources"]
    names = [r["name"] for r in resources]
    assert names.index("pods") < names.index("pods/log") < names.index("pods/status")
    assert resources[names.index("pods/log")] == {
        "name": "pods/log",
        "singularName": "",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get"],
    }
    assert not any(n.endswith("/log") and n != "pods/log" for n in names)


def test_log_response(sandbox: Sandbox, svc: Running) -> None:
    content = svc.log_file.read_bytes()
    last = content.splitlines(keepends=True)[-1]
    with _http(sandbox, container="user-container") as h:
        r = h.get(svc.path())
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/plain"
        assert r.content == content
        assert "Warning" not in r.headers
        assert h.get(svc.path(), params={"container": "user-container"}).content == content
        assert h.get(svc.path(), params={"tailLines": "1"}).content == last
        assert h.get(svc.path(), params={"tailLines": "+1"}).content == last
        assert h.get(svc.path(), params={"tailLines": "0"}).content == b""
        assert h.get(svc.path(), params={"tailLines": "1000"}).content == content
        assert h.get(svc.path(), params={"limitBytes": "3"}).content == content[:3]
        # booleans as apimachinery reads them: only 0 and false (any case) are false
        for false in ("false", "False", "0"):
            r = h.get(svc.path(), params={"follow": false, "previous": false})
            assert r.content == content
        r = h.get(svc.path(), params={"insecureSkipTLSVerifyBackend": "true"})
        assert r.content == content
        # a since before the first line shows every line (each line's time is recorded)
        r = h.get(svc.path(), params={"sinceSeconds": "3600"})
        assert r.content == content
        assert "Warning" not in r.headers
        r = h.get(svc.path(), params={"sinceTime": "2000-01-01T00:00:00Z"})
        assert r.content == content
        # one after it: nothing was written since
        r = h.get(svc.path(), params={"sinceTime": "2999-01-01T00:00:00+01:00"})
        assert r.status_code == 200 and r.content == b""
        assert "Warning" not in r.headers


def _status(r: httpx.Response, code: int, reason: str, message: str) -> dict[str, Any]:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert (body["code"], body["reason"], body["message"]) == (code, reason, message)
    return dict(body)


def test_log_option_errors(sandbox: Sandbox, svc: Running) -> None:
    invalid = f'PodLogOptions "{svc.pod}" is invalid: '
    with _http(sandbox, container="user-container") as h:

        def get(**params: str) -> httpx.Response:
            return h.get(svc.path(), params=params)

        body = _status(
            get(tailLines="-1"),
            422,
            "Invalid",
            invalid + "tailLines: Invalid value: -1: must be greater than or equal to 0",
        )
        assert body["details"] == {
            "name": svc.pod,
            "kind": "PodLogOptions",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: -1: must be greater than or equal to 0",
                    "field": "tailLines",
                }
            ],
        }
        _status(
            get(limitBytes="0"),
            422,
            "Invalid",
            invalid + "limitBytes: Invalid value: 0: must be greater than 0",
        )
        _status(
            get(sinceSeconds="0"),
            422,
            "Invalid",
            invalid + "sinceSeconds: Invalid value: 0: must be greater than 0",
        )
        body = _status(
            get(sinceSeconds="10", sinceTime="2020-01-01T00:00:00Z"),
            422,
            "Invalid",
            invalid + ": Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
        )
        assert body["details"]["causes"] == [
            {
                "reason": "FieldValueForbidden",
                "message": "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
            }
        ]
        _status(
            get(tailLines="-2", limitBytes="-1"),
            422,
            "Invalid",
            invalid + "[tailLines: Invalid value: -2: must be greater than or equal to 0, "
            "limitBytes: Invalid value: -1: must be greater than 0]",
        )
        # values that are not numbers fail to decode, before any validation
        _status(
            get(tailLines="ten"),
            400,
            "BadRequest",
            'strconv.ParseInt: parsing "ten": invalid syntax',
        )
        _status(
            get(limitBytes=""), 400, "BadRequest", 'strconv.ParseInt: parsing "": invalid syntax'
        )
        _status(
            get(sinceSeconds="99999999999999999999"),
            400,
            "BadRequest",
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        )
        r = get(sinceTime="yesterday")
        assert r.status_code == 400
        assert r.json()["message"].startswith(
            'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00"'
        )
        _status(
            get(container="nope"),
            400,
            "BadRequest",
            f"container nope is not valid for pod {svc.pod}",
        )
        _status(
            get(previous="true"),
            400,
            "BadRequest",
            f'previous terminated container "user-container" in pod "{svc.pod}" not found',
        )
        body = _status(h.get(svc.path("nope")), 404, "NotFound", 'pods "nope" not found')
        assert body["details"] == {"name": "nope", "kind": "pods"}
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            _status(
                h.request(method, svc.path()),
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        # the log is a Pod's subresource only, and namespaced
        not_found = "the server could not find the requested resource"
        _status(h.get(f"/api/v1/pods/{svc.pod}/log"), 404, "NotFound", not_found)
        _status(
            h.get(f"/api/v1/namespaces/{svc.namespace}/services/{svc.pod}/log"),
            404,
            "NotFound",
            not_found,
        )
        _status(h.get(svc.path().replace("/log", "/logs")), 404, "NotFound", not_found)
        _status(h.get(svc.path() + "/more"), 404, "NotFound", not_found)


def test_log_of_pods_the_sandbox_does_not_run(sandbox: Sandbox) -> None:
    ns = "logs-" + uuid.uuid4().hex[:8]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pair"},
        "spec": {
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [{"name": "web", "image": "nginx"}, {"name": "side", "image": "envoy"}],
        },
    }
    path = f"/api/v1/namespaces/{ns}/pods/pair/log"
    with _http(sandbox) as h:
        assert h.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
        assert h.post(f"/api/v1/namespaces/{ns}/pods", json=pod).status_code == 201
        _status(
            h.get(path),
            400,
            "BadRequest",
            "a container name must be specified for pod pair, choose one of: [setup web side]",
        )
        # once the sandbox has answered for the Pod: its init container cannot start
        deadline = time.monotonic() + 15
        while (
            not h.get(f"/api/v1/namespaces/{ns}/pods/pair")
            .json()["status"]
            .get("initContainerStatuses")
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _status(
            h.get(path, params={"container": "side"}),
            400,
            "BadRequest",
            'container "side" in pod "pair" is waiting to start: PodInitializing',
        )
        _status(
            h.get(path, params={"container": "setup", "follow": "true"}),
            400,
            "BadRequest",
            'container "setup" in pod "pair" is waiting to start: ImageNotSupported',
        )
        # the kubelet's words for the state the Pod's status gives
        status = {
            "status": {
                "containerStatuses": [
                    {"name": "web", "state": {"waiting": {"reason": "ErrImagePull"}}},
                    {"name": "side", "state": {"waiting": {"reason": "CreateContainerError"}}},
                ]
            }
        }
        r = h.patch(
            f"/api/v1/namespaces/{ns}/pods/pair/status",
            content=json.dumps(status),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 200, r.text
        _status(
            h.get(path, params={"container": "web"}),
            400,
            "BadRequest",
            'container "web" in pod "pair" is waiting to start: image can\'t be pulled',
        )
        _status(
            h.get(path, params={"container": "side"}),
            400,
            "BadRequest",
            'container "side" in pod "pair" is waiting to start: CreateContainerError',
        )
        _status(
            h.get(path, params={"container": "web", "previous": "true"}),
            400,
            "BadRequest",
            'previous terminated container "web" in pod "pair" not found',
        )
        h.delete(f"/api/v1/namespaces/{ns}")


def test_log_file_missing_then_created_truncated_and_replaced(sandbox: Sandbox) -> None:
    run = run_service(sandbox, "Files")
    _wait_log(run.log_file, b"listening on port")
    run.log_file.unlink()  # as if the process had not written yet
    with _http(sandbox, container="user-container") as h:
        r = h.get(run.path())
        assert r.status_code == 200 and r.content == b""
        assert h.get(run.path(), params={"tailLines": "1"}).content == b""
        with h.stream("GET", run.path(), params={"follow": "true"}) as stream:
            assert stream.status_code == 200
            chunks = stream.iter_raw()

            def arrives(expected: bytes) -> None:
                assert read_exactly(chunks, len(expected)) == expected

            run.log_file.write_bytes(b"created\n")
            arrives(b"created\n")
            with run.log_file.open("ab") as f:
                f.write(b"appended\n")
            arrives(b"appended\n")
            run.log_file.write_bytes(b"new\n")  # truncated, then shorter than before
            arrives(b"new\n")
            fresh = run.log_file.with_name("fresh.tmp")
            fresh.write_bytes(b"replaced\n")
            os.replace(fresh, run.log_file)
            arrives(b"replaced\n")
        # limitBytes ends a follow stream once that much was sent
        r = h.get(run.path(), params={"follow": "true", "limitBytes": "4"})
        assert r.content == b"repl"
        # tailLines=0 with follow: only what comes next
        with h.stream(
            "GET", run.path(), params={"follow": "1", "tailLines": "0", "limitBytes": "5"}
        ) as stream:
            with run.log_file.open("ab") as f:
                f.write(b"later\n")
            assert stream.read() == b"later"
    kubectl(sandbox, "delete", "namespace", run.namespace, "--wait=false")


def test_follow_ends_cleanly_when_the_sandbox_stops(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path)
    try:
        run = run_service(sb, "Stop")
        _wait_log(run.log_file, b"listening on port")
        content = run.log_file.read_bytes()
        with _http(sb, container="user-container") as h:
            # a client that goes away mid-stream
            with h.stream("GET", run.path(), params={"follow": "true"}) as gone:
                assert read_exactly(gone.iter_raw(), len(content)) == content
            with h.stream("GET", run.path(), params={"follow": "true"}) as stream:
                chunks = stream.iter_raw()
                assert read_exactly(chunks, len(content)) == content
                assert control.stop(sb.state_dir) is not None
                assert list(chunks) == []  # the chunked body ended properly
    finally:
        control.stop(sb.state_dir)
    log = (sb.state_dir / "sandbox.log").read_text()
    assert "stopping" in log
    assert "Traceback" not in log and "Error handling request" not in log


# ------------------------------------------------------------------ in-process
# api.py keeps its state under a str key (``app["state"]``), which aiohttp warns about
@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
def test_follow_streams_end_on_disconnect_and_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler itself finishes (its store subscription is gone), with nothing logged."""
    from aiohttp import ClientSession, web

    caplog.set_level(logging.DEBUG)
    store = Store(str(tmp_path / "state.db"))
    res = Resources(store, Registry.default())
    ns_type = res.registry.get("", "v1", "namespaces")
    pod_type = res.registry.get("", "v1", "pods")
    assert ns_type is not None and pod_type is not None
    opts = WriteOptions(manager="test")
    res.create(ns_type, "", {"metadata": {"name": "ns"}}, opts)
    spec = {"containers": [{"name": "user-container", "image": IMAGE}]}
    for name in ("p", "q"):
        res.create(pod_type, "ns", {"metadata": {"name": name}, "spec": spec}, opts)
    log_file = tmp_path / "p.log"
    log_file.write_bytes(b"one\n")
    state = ApiState(res, "tok", pod_logs=lambda ns, pod: LogSource(log_file))
    headers = {"Authorization": "Bearer tok"}

    async def until_unsubscribed() -> None:
        async with asyncio.timeout(5):
            while store._watchers:
                await asyncio.sleep(0.01)

    async def main() -> None:
        # as server.py runs it: a handler is not cancelled when its client goes away
        runner = web.AppRunner(create_app(state), handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1/namespaces/ns/pods"
        async with ClientSession(headers=headers) as session:
            # the client goes away
            resp = await session.get(f"{base}/p/log?follow=true")
            assert await resp.content.readexactly(4) == b"one\n"
            assert len(store._watchers) == 1
            resp.close()
            await until_unsubscribed()
            # the Pod is deleted: the stream ends after what was written before
            resp = await session.get(f"{base}/p/log?follow=true")
            assert await resp.content.readexactly(4) == b"one\n"
            with log_file.open("ab") as f:
                f.write(b"two\n")
            assert await resp.content.readexactly(4) == b"two\n"
            res.delete(pod_type, "ns", "p")
            assert await resp.read() == b""
            await until_unsubscribed()
            # the server shuts down: the stream ends with the last chunk (a handler
            # cancelled at the shutdown timeout would cut it, and read() would raise)
            resp = await session.get(f"{base}/q/log?follow=true")
            assert await resp.content.readexactly(8) == b"one\ntwo\n"
            await runner.cleanup()
            assert await resp.read() == b""
            await until_unsubscribed()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert pending == []

    asyncio.run(main())
    store.close()
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert errors == []
