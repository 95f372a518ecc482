"""``knwalk doctor`` on healthy and broken contexts: each check ✓/✗ with a hint, exit 1 on ✗."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.test_cli_support import Result, knwalk
from tests.test_install import FIXTURES, client_for, make_unready
from tests.test_install import api as api
from tests.test_install import bare as bare
from tests.test_install import lb as lb
from tests.test_install import seeded as seeded
from tests.test_manifests import free_port


def doctor(kubeconfig: Path, *args: str, **env: str) -> Result:
    return knwalk("doctor", *args, env={"KUBECONFIG": str(kubeconfig), **env})


def marks(result: Result) -> dict[str, str]:
    """check name → ✓ / ✗ / - from the table output."""
    out = {}
    for line in result.lines:
        if line[:1] in ("✓", "✗", "-") and len(line) > 2:
            name = line[2:].split("  ")[0].strip()
            out[name] = line[0]
    return out


def checks(result: Result) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in json.loads(result.out)["checks"]}


def patch(sb: Sandbox, kind: str, name: str, namespace: str, body: dict[str, Any]) -> None:
    from kubernetes import client

    api_client = client_for(sb)
    try:
        core = client.CoreV1Api(api_client)
        if kind == "configmap":
            core.patch_namespaced_config_map(name, namespace, body)
        elif kind == "service-status":
            core.patch_namespaced_service_status(name, namespace, body)
    finally:
        api_client.close()


def test_the_sandbox_is_healthy(seeded: Sandbox) -> None:
    result = doctor(seeded.kubeconfig)
    assert result.code == 0, result.out
    assert marks(result) == {
        "kubeconfig": "✓",
        "sandbox": "✓",
        "cluster reachable": "✓",
        "Kubernetes version": "✓",
        "Knative Serving": "✓",
        "ingress": "✓",
        "gateway": "✓",
        "domain": "✓",
    }
    assert result.lines[-1] == "All checks passed."
    text = result.out
    assert "v1.33.0-knwalk-sandbox" in text
    assert "version 1.23.0; built into the sandbox, Ready" in text
    assert "class istio.ingress.networking.knative.dev" in text
    assert f"Service istio-system/istio-ingressgateway at 127.0.0.1 ({seeded.info.gateway})" in text
    doc = json.loads(doctor(seeded.kubeconfig, "-o", "json").out)
    assert doc["ok"] is True and doc["context"] == "knwalk-sandbox"
    assert {c["status"] for c in doc["checks"]} == {"ok"}
    assert yaml.safe_load(doctor(seeded.kubeconfig, "-o", "yaml").out) == doc


def test_healthy_after_an_install(bare: Sandbox, lb: Any, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(bare.kubeconfig), "XDG_CACHE_HOME": str(tmp_path)}
    assert knwalk("install", "--manifests", str(FIXTURES), env=env).code == 0
    result = doctor(bare.kubeconfig, "-o", "json")
    assert result.code == 0, result.out
    found = checks(result)
    assert found["Knative Serving"]["detail"] == "version 1.22.1; 6 Deployment(s) Available"
    assert found["gateway"]["detail"] == (
        "Service istio-system/istio-ingressgateway at 127.0.0.1 (http://127.0.0.1)"
    )
    assert found["domain"]["detail"] == "example.com"


def test_knative_not_installed(bare: Sandbox) -> None:
    result = doctor(bare.kubeconfig)
    assert result.code == 1
    found = marks(result)
    assert found["cluster reachable"] == "✓"
    assert found["Knative Serving"] == "✗"
    assert found["ingress"] == found["gateway"] == found["domain"] == "-"
    assert "not installed: namespace knative-serving does not exist" in result.out
    assert "hint: install it with `knwalk install`" in result.out
    assert result.lines[-1] == "1 check(s) failed."


def test_a_deployment_that_is_not_available(bare: Sandbox, lb: Any, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(bare.kubeconfig), "XDG_CACHE_HOME": str(tmp_path)}
    assert (
        knwalk("install", "--manifests", str(FIXTURES), "--ingress", "kourier", env=env).code == 0
    )
    api_client = client_for(bare)
    try:
        make_unready(api_client, "knative-serving", "autoscaler")
    finally:
        api_client.close()
    result = doctor(bare.kubeconfig, "-o", "json")
    assert result.code == 1
    check = checks(result)["Knative Serving"]
    assert check["status"] == "fail"
    assert check["detail"].startswith(
        "version 1.22.1; not ready: autoscaler 0/1 (MinimumReplicasUnavailable"
    )
    assert "kubectl -n knative-serving get pods" in check["hint"]


def test_gateway_without_an_address(seeded: Sandbox) -> None:
    patch(
        seeded,
        "service-status",
        "istio-ingressgateway",
        "istio-system",
        {"status": {"loadBalancer": {"ingress": None}}},
    )
    result = doctor(seeded.kubeconfig)
    assert result.code == 1
    assert marks(result)["gateway"] == "✗"
    assert "Service istio-system/istio-ingressgateway has no external address" in result.out
    assert "knwalk curl --gateway" in result.out


def test_unknown_ingress_class(seeded: Sandbox) -> None:
    patch(
        seeded,
        "configmap",
        "config-network",
        "knative-serving",
        {"data": {"ingress-class": "gateway-api.ingress.networking.knative.dev"}},
    )
    result = doctor(seeded.kubeconfig, "-o", "json")
    assert result.code == 1
    found = checks(result)
    assert found["ingress"]["status"] == "fail"
    assert "gateway-api.ingress.networking.knative.dev" in found["ingress"]["detail"]
    assert found["gateway"]["status"] == "skip"


def test_no_domain(seeded: Sandbox) -> None:
    patch(seeded, "configmap", "config-domain", "knative-serving", {"data": {"example.com": None}})
    result = doctor(seeded.kubeconfig)
    assert result.code == 1
    assert marks(result)["domain"] == "✗"
    assert "none configured: Routes get svc.cluster.local URLs" in result.out
    assert "knwalk install --domain example.com" in result.out


def kubeconfig_file(tmp_path: Path, context: str, user: dict[str, Any]) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": f"https://127.0.0.1:{free_port()}",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
                "current-context": context,
            }
        )
    )
    return path


def test_unreachable_cluster(tmp_path: Path) -> None:
    kubeconfig = kubeconfig_file(tmp_path, "prod", {"token": "t"})
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    result = doctor(kubeconfig)
    assert result.code == 1
    found = marks(result)
    assert found["kubeconfig"] == "✓"
    assert found["cluster reachable"] == "✗"
    assert "sandbox" not in found and "gke-gcloud-auth-plugin" not in found
    assert {found[n] for n in ("Kubernetes version", "Knative Serving", "gateway", "domain")} == {
        "-"
    }
    assert f"the Kubernetes API at {server} (context prod)" in result.out


def test_sandbox_that_is_not_running(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path / "sb")
    control.stop(sb.state_dir)
    result = doctor(sb.kubeconfig, "-o", "json")
    assert result.code == 1
    found = checks(result)
    assert found["sandbox"]["status"] == "fail"
    assert found["sandbox"]["hint"] == "start it with `knwalk sandbox up`"
    assert found["cluster reachable"]["status"] == "fail"


def gke_user() -> dict[str, Any]:
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
            "interactiveMode": "IfAvailable",
        }
    }


def test_gke_context_without_the_auth_plugin(tmp_path: Path) -> None:
    kubeconfig = kubeconfig_file(tmp_path, "gke_proj_us-central1-a_walk", gke_user())
    empty = tmp_path / "bin"
    empty.mkdir()
    result = doctor(kubeconfig, "-o", "json", PATH=str(empty))
    assert result.code == 1
    found = checks(result)
    assert found["gke-gcloud-auth-plugin"]["status"] == "fail"
    assert (
        "gcloud components install gke-gcloud-auth-plugin"
        in found["gke-gcloud-auth-plugin"]["hint"]
    )
    assert found["cluster reachable"]["status"] == "fail"


@pytest.mark.parametrize("context", ["gke_proj_us-central1-a_walk", "my-renamed-gke-context"])
def test_gke_context_with_the_auth_plugin(tmp_path: Path, context: str) -> None:
    kubeconfig = kubeconfig_file(tmp_path, context, gke_user())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "gke-gcloud-auth-plugin"
    plugin.write_text(
        "#!/bin/sh\n"
        'echo \'{"apiVersion": "client.authentication.k8s.io/v1beta1", '
        '"kind": "ExecCredential", "status": {"token": "fake"}}\'\n'
    )
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    result = doctor(kubeconfig, "-o", "json", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    found = checks(result)
    assert found["gke-gcloud-auth-plugin"] == {
        "check": "gke-gcloud-auth-plugin",
        "status": "ok",
        "detail": f"on PATH ({plugin})",
        "hint": "",
    }
    assert found["cluster reachable"]["status"] == "fail"  # nobody listens there


def test_no_kubeconfig(tmp_path: Path) -> None:
    result = doctor(tmp_path / "missing")
    assert result.code == 1
    assert marks(result) == {"kubeconfig": "✗"}
    assert "no kubeconfig found" in result.out
    assert "knwalk sandbox up" in result.out


def test_bad_output_format(seeded: Sandbox) -> None:
    doctor(seeded.kubeconfig, "-o", "wide").assert_error(2)
