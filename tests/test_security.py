"""Security checks: the token guards everything and never leaks, state stays private, the
sandbox listens on loopback only, the gateway is no open proxy, TLS is verified.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kn_walk import knative
from kn_walk.kube import connect
from kn_walk.sandbox import control
from tests.conftest import Sandbox
from tests.fake_gke import FakeGke
from tests.test_cli_support import knwalk

ROOT = Path(__file__).resolve().parent.parent
WRONG = "WRONG-" + "x" * 37  # as long as a real token


def _verify(sb: Sandbox) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sb.ca)


# --------------------------------------------------------------------------- the token


def _endpoints(sb: Sandbox) -> list[tuple[str, str]]:
    """(method, path) of every kind of endpoint the API serves, from its own discovery."""
    with httpx.Client(
        base_url=sb.api, headers={"Authorization": f"Bearer {sb.token}"}, verify=_verify(sb)
    ) as h:
        groups = h.get("/apis").json()["groups"]
        versions = ["/api/v1"] + [
            f"/apis/{v['groupVersion']}" for g in groups for v in g["versions"]
        ]
        found: list[tuple[str, str]] = []
        for gv in versions:
            for res in h.get(gv).json()["resources"]:
                plural, _, sub = res["name"].partition("/")
                base = (
                    f"{gv}/namespaces/default/{plural}" if res["namespaced"] else f"{gv}/{plural}"
                )
                found += [("GET", base), ("POST", base), ("DELETE", base)]
                found += [("GET", base + "?watch=true")]
                one = f"{base}/probe" + (f"/{sub}" if sub else "")
                found += [(m, one) for m in ("GET", "PUT", "PATCH", "DELETE")]
    special = [
        "/version", "/healthz", "/readyz", "/livez", "/api", "/apis", "/openapi/v2",
        "/openapi/v3", "/openapi/v3/apis/serving.knative.dev/v1", "/knwalk.dev/faults",
        "/nope", "/", "/apis/serving.knative.dev",
    ]  # fmt: skip
    found += [("GET", p) for p in special]
    found += [("PUT", "/knwalk.dev/faults"), ("DELETE", "/knwalk.dev/faults")]
    return found


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "",
        "Bearer",
        f"Bearer {WRONG}",
        "Bearer {token}x",
        "Bearer {token_short}",
        "Basic {basic}",
        "{token}",
        "Token {token}",
        "Bearer  {token} {token}",
    ],
    ids=["none", "empty", "bearer-empty", "wrong", "longer", "shorter", "basic", "bare", "token",
         "doubled"],
)  # fmt: skip
def test_every_endpoint_refuses_a_missing_or_wrong_token(
    sandbox: Sandbox, auth: str | None
) -> None:
    token = sandbox.token
    headers = {}
    if auth is not None:
        basic = base64.b64encode(f"admin:{token}".encode()).decode()
        headers["Authorization"] = auth.format(token=token, token_short=token[:-1], basic=basic)
    body = b'{"metadata":{"name":"probe"}}'
    with httpx.Client(base_url=sandbox.api, verify=_verify(sandbox), timeout=10) as h:
        for method, path in _endpoints(sandbox):
            r = h.request(
                method,
                path,
                headers={**headers, "Content-Type": "application/merge-patch+json"},
                content=body if method in ("POST", "PUT", "PATCH") else None,
                params={"access_token": token},  # a token in the query string does not count
            )
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["reason"] == "Unauthorized"
            assert token not in r.text and WRONG not in r.text
    # nothing was written
    with httpx.Client(
        base_url=sandbox.api, headers={"Authorization": f"Bearer {token}"}, verify=_verify(sandbox)
    ) as h:
        assert h.get("/api/v1/namespaces/default/configmaps/probe").status_code == 404


def _scan(texts: dict[str, str], *secrets: str) -> None:
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a token appears in {where}"


def test_the_token_never_appears_in_output_logs_or_errors(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    token = sandbox.token
    kc = str(sandbox.kubeconfig)
    common = ("--kubeconfig", kc, "-n", namespace)
    wrong_kc = tmp_path / "wrong"
    doc = yaml.safe_load(sandbox.kubeconfig.read_text())
    doc["users"][0]["user"]["token"] = WRONG
    wrong_kc.write_text(yaml.safe_dump(doc))
    runs = {
        "sandbox status": ("sandbox", "status", "--state-dir", str(sandbox.state_dir)),
        "sandbox status json": ("sandbox", "status", "--state-dir", str(sandbox.state_dir), "-o", "json"),
        "deploy": ("deploy", *common, "--target", "secret-scan"),
        "deploy dry-run": ("deploy", *common, "--target", "x", "--dry-run"),
        "deploy dry-run json": ("deploy", *common, "--image", "a/helloworld-go", "--dry-run", "-o", "json"),
        "status": ("status", *common),
        "status yaml": ("status", *common, "-o", "yaml"),
        "split dry-run": ("split", *common, "@latest", "--dry-run"),
        "curl": ("curl", *common),
        "debug error": ("--debug", "status", "nope", *common),
        "wrong token": ("status", "--kubeconfig", str(wrong_kc), "-n", namespace),
        "wrong token debug": ("--debug", "deploy", "--kubeconfig", str(wrong_kc), "-n", namespace),
        "bad split": ("split", *common, "nope=100"),
        "delete": ("delete", *common, "--yes"),
        "doctor": ("doctor", "--kubeconfig", kc),
        "doctor json": ("doctor", "--kubeconfig", kc, "-o", "json"),
        "install dry-run": ("install", "--dry-run", "--manifests", str(ROOT / "tests/fixtures/manifests"), "--kubeconfig", kc),
        "doctor wrong token": ("doctor", "--kubeconfig", str(wrong_kc)),
        "tour": ("tour", "--context", control.CONTEXT, *common, "--yes"),
        "tour json": ("tour", "--context", control.CONTEXT, *common, "--yes", "-o", "json"),
        "tour wrong token debug": ("--debug", "tour", "--context", control.CONTEXT, "--kubeconfig", str(wrong_kc), "-n", namespace, "--yes"),
    }  # fmt: skip
    texts: dict[str, str] = {}
    codes: dict[str, int] = {}
    for label, args in runs.items():
        result = knwalk(*args)
        texts[f"{label} stdout"], texts[f"{label} stderr"] = result.out, result.err
        codes[label] = result.code
    assert codes["deploy"] == 0 and codes["curl"] == 0, texts
    assert codes["wrong token"] == 1 and "credentials" in texts["wrong token stderr"]
    assert codes["tour"] == 0 and codes["tour json"] == 0, texts["tour stderr"]
    assert codes["tour wrong token debug"] == 1
    # everything the sandbox wrote: logs, revision logs, state (but the token file itself)
    for path in sandbox.state_dir.rglob("*"):
        if path.is_file() and path.name != control.TOKEN_FILE:
            texts[str(path)] = path.read_bytes().decode("latin-1")
    _scan(texts, token, WRONG)


def test_the_sandbox_process_does_not_expose_the_token(sandbox: Sandbox) -> None:
    """Not in its command line or environment, which other users can read from /proc."""
    pid = sandbox.info.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("latin-1")
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode("latin-1")
    _scan({"cmdline": cmdline, "environ": environ}, sandbox.token)
    for child in _children(pid):
        with contextlib.suppress(OSError):
            _scan(
                {f"child {child}": Path(f"/proc/{child}/cmdline").read_bytes().decode("latin-1")},
                sandbox.token,
            )
            _scan(
                {
                    f"child env {child}": Path(f"/proc/{child}/environ")
                    .read_bytes()
                    .decode("latin-1")
                },
                sandbox.token,
            )


# --------------------------------------------------------------------------- private files


def _umask0(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", sys.executable, "-m", "kn_walk", *args],
        env={**os.environ, "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _modes(root: Path) -> dict[str, int]:
    return {str(p): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_state_and_kubeconfig_are_private_even_with_umask_000(tmp_path: Path) -> None:
    state = tmp_path / "xdg" / "knwalk" / "state"
    kubeconfig = tmp_path / "new" / "dir" / "config"
    env = {"KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
    up = _umask0("sandbox", "up", "--state-dir", str(state), env=env)
    assert up.returncode == 0, up.stderr
    token = (state / control.TOKEN_FILE).read_text().strip()
    _scan({"sandbox up stdout": up.stdout, "sandbox up stderr": up.stderr}, token)
    try:
        # a running Revision adds its process's files (pid file, logs)
        deploy = _umask0("deploy", "--target", "private", env=env)
        assert deploy.returncode == 0, deploy.stderr
        for path, mode in _modes(state).items():
            want = 0o700 if Path(path).is_dir() else 0o600
            assert mode == want, f"{path} is {mode:o}"
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        # every directory knwalk created on the way, too (XDG: 0700)
        for created in (kubeconfig.parent, tmp_path / "new", state.parent, tmp_path / "xdg"):
            assert stat.S_IMODE(created.stat().st_mode) == 0o700, created
    finally:
        down = _umask0("sandbox", "down", "--state-dir", str(state), env=env)
        assert down.returncode == 0, down.stderr


def test_gke_credentials_are_private_even_with_umask_000(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kube" / "config"
    with FakeGke() as fake:
        fake.add_cluster("my-project", "us-central1-c", "knwalk")
        env = {
            "KUBECONFIG": str(kubeconfig),
            "KNWALK_GKE_ENDPOINT": fake.url,
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "no-adc.json"),
            "CLOUDSDK_CORE_PROJECT": "my-project",
            "CLOUDSDK_COMPUTE_ZONE": "us-central1-c",
        }
        result = _umask0("cluster", "get-credentials", "knwalk", env=env)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(kubeconfig.parent.stat().st_mode) == 0o700


# --------------------------------------------------------------------------- loopback only


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def _listening(pid: int) -> list[tuple[str, int]]:
    """The addresses process ``pid`` listens on (TCP, v4 and v6)."""
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:  # the process exited meanwhile (a revision scaled down)
        return []
    for fd in fds:
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                    continue
                addr_hex, port_hex = fields[1].split(":")
                raw = bytes.fromhex(addr_hex)
                if v6:
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    addr = str(ipaddress.IPv6Address(raw))
                else:
                    addr = str(ipaddress.IPv4Address(raw[::-1]))
                found.append((addr, int(port_hex, 16)))
    return found


def test_the_sandbox_and_its_revisions_listen_on_loopback_only(
    sandbox: Sandbox, namespace: str
) -> None:
    with connect(sandbox.kubeconfig, "knwalk-sandbox", namespace) as kube:
        knative.deploy(kube, "lo", knative.DeployOptions(), timeout=60)
    pids = [sandbox.info.pid, *_children(sandbox.info.pid)]
    assert len(pids) >= 2  # the sandbox and at least one revision process
    addresses = [a for pid in pids for a in _listening(pid)]
    assert {sandbox.info.api_port, sandbox.info.gateway_port} <= {port for _, port in addresses}
    for addr, port in addresses:
        assert ipaddress.ip_address(addr).is_loopback, f"listening on {addr}:{port}"


@pytest.mark.parametrize("flag", ["--host", "--address", "--bind-address", "--listen"])
def test_the_sandbox_cannot_be_told_to_bind_elsewhere(tmp_path: Path, flag: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kn_walk.sandbox.server", "--state-dir", str(tmp_path), flag, "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "10.1.2.3", "example.com"])
def test_the_gateway_and_revisions_refuse_other_addresses(address: str) -> None:
    """Also for code that builds them directly: only loopback listens."""
    from kn_walk.sandbox.dataplane.gateway import Gateway
    from kn_walk.sandbox.node import helloworld

    with pytest.raises(ValueError, match="loopback only"):
        Gateway(None, host=address)  # type: ignore[arg-type]
    if address != "example.com":
        with pytest.raises(ValueError, match="loopback only"):
            helloworld.serve(0, None, host=address)


# --------------------------------------------------------------------------- no open proxy


@contextlib.contextmanager
def _canary() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback listener that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    seen.append(conn.recv(4096) or b"<connect>")

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        stop.set()
        t.join(5)
        server.close()


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        with contextlib.suppress(TimeoutError):
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks)


def test_the_gateway_proxies_only_to_its_own_revisions(sandbox: Sandbox, namespace: str) -> None:
    with connect(sandbox.kubeconfig, "knwalk-sandbox", namespace) as kube:
        svc = knative.deploy(kube, "proxy", knative.DeployOptions(), timeout=60).service
    good_host = svc.url.split("://", 1)[1]
    gw = sandbox.info.gateway_port
    api = sandbox.info.api_port
    with _canary() as (port, seen):
        targets = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{api}"]
        requests = []
        for t in targets:
            requests += [
                f"GET / HTTP/1.1\r\nHost: {t}\r\n\r\n",
                f"GET http://{t}/ HTTP/1.1\r\nHost: {good_host}\r\n\r\n",
                f"CONNECT {t} HTTP/1.1\r\nHost: {t}\r\n\r\n",
                f"GET / HTTP/1.1\r\nHost: {good_host}@{t}\r\n\r\n",
                f"GET / HTTP/1.1\r\nHost: {t}\r\nX-Forwarded-Host: {good_host}\r\n\r\n",
                f"GET //{t}/ HTTP/1.1\r\nHost: {t}\r\n\r\n",
                f"GET https://{t}/ HTTP/1.1\r\nHost: {t}\r\n\r\n",
                "GET / HTTP/1.0\r\n\r\n",
                f"GET / HTTP/1.1\r\nHost: {good_host}\r\nHost: {t}\r\n\r\n",
            ]
        for request in requests:
            answer = _raw(
                gw, (request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")).encode()
            )
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0
            assert status in (400, 404, 405, 426, 501, 0), (request, answer[:200])
            assert b"Hello" not in answer
        # the real host still works: the gateway was not simply down
        ok = _raw(gw, f"GET / HTTP/1.1\r\nHost: {good_host}\r\nConnection: close\r\n\r\n".encode())
        assert ok.startswith(b"HTTP/1.1 200") and b"Hello Go Sample v1!" in ok
    assert seen == [], "the gateway connected somewhere it should not"


# --------------------------------------------------------------------------- TLS


DISABLING = re.compile(
    r"CERT_NONE|verify\s*=\s*False|verify_ssl\s*=\s*False|check_hostname\s*=\s*False"
    r"|_create_unverified_context|insecure_skip_tls_verify\s*=\s*True|InsecureRequestWarning"
)


def test_knwalk_never_disables_tls_verification_in_its_code() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "kn_walk").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if DISABLING.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


def _kubeconfig_with(sb: Sandbox, path: Path, **cluster: Any) -> Path:
    doc = yaml.safe_load(sb.kubeconfig.read_text())
    entry = doc["clusters"][0]["cluster"]
    entry.pop("certificate-authority-data", None)
    entry.update(cluster)
    path.write_text(yaml.safe_dump(doc))
    return path


def _kubectl(kubeconfig: Path, namespace: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", namespace, "get", "ksvc"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_certificate_that_does_not_verify_is_refused(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    from kn_walk.sandbox.certs import ensure_certificates

    other = tmp_path / "other"
    other.mkdir()
    ensure_certificates(other)  # a different CA
    ca = (other / "ca.crt").read_bytes()
    kc = _kubeconfig_with(
        sandbox, tmp_path / "kc", **{"certificate-authority-data": base64.b64encode(ca).decode()}
    )
    result = knwalk("status", "--kubeconfig", str(kc), "-n", namespace)
    result.assert_error(1)
    assert "presented a certificate that does not verify" in result.error
    # no CA at all: the system roots do not know the sandbox either
    kc = _kubeconfig_with(sandbox, tmp_path / "kc2")
    result = knwalk("status", "--kubeconfig", str(kc), "-n", namespace)
    result.assert_error(1)
    assert "does not verify" in result.error
    assert _kubectl(kc, namespace).returncode != 0  # kubectl agrees


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_skip_tls_verify_is_honoured_as_kubectl_does_with_a_warning(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    insecure = _kubeconfig_with(sandbox, tmp_path / "a", **{"insecure-skip-tls-verify": True})
    result = knwalk("status", "--kubeconfig", str(insecure), "-n", namespace)
    assert result.code == 0, result.err
    assert (
        "Warning: TLS certificate verification is disabled for context 'knwalk-sandbox'"
        in result.error
    )
    assert _kubectl(insecure, namespace).returncode == 0

    ca = base64.b64encode(Path(sandbox.ca).read_bytes()).decode()
    both = _kubeconfig_with(
        sandbox,
        tmp_path / "b",
        **{"insecure-skip-tls-verify": True, "certificate-authority-data": ca},
    )
    result = knwalk("status", "--kubeconfig", str(both), "-n", namespace)
    result.assert_error(1)
    assert (
        "specifying a root certificates file with the insecure flag is not allowed" in result.error
    )
    kubectl = _kubectl(both, namespace)
    assert kubectl.returncode != 0 and "with the insecure flag is not allowed" in kubectl.stderr

    # the Python client would read the string "false" as true and skip verification
    quoted = _kubeconfig_with(sandbox, tmp_path / "c", **{"insecure-skip-tls-verify": "false"})
    result = knwalk("status", "--kubeconfig", str(quoted), "-n", namespace)
    result.assert_error(1)
    assert "which is not a boolean" in result.error
    kubectl = _kubectl(quoted, namespace)
    assert kubectl.returncode != 0 and "cannot unmarshal string" in kubectl.stderr

    off = _kubeconfig_with(
        sandbox,
        tmp_path / "d",
        **{"insecure-skip-tls-verify": False, "certificate-authority-data": ca},
    )
    result = knwalk("status", "--kubeconfig", str(off), "-n", namespace)
    assert result.code == 0 and "Warning" not in result.err


def test_the_sandbox_kubeconfig_verifies_tls(sandbox: Sandbox) -> None:
    doc = yaml.safe_load(sandbox.kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"].startswith("https://127.0.0.1:")
    assert "insecure-skip-tls-verify" not in cluster and cluster["certificate-authority-data"]
