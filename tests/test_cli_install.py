"""``knwalk install`` and ``knwalk uninstall`` end to end: options, output, sandbox, downloads.

Commands run in-process through the real ``main()`` (see test_cli_support), against
private sandboxes; downloads come from a loopback HTTP server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kn_walk import manifests as M
from tests.conftest import Sandbox
from tests.test_cli_help import _imported
from tests.test_cli_support import Result, knwalk
from tests.test_install import (
    FIXTURES,
    LoadBalancerController,
    client_for,
    dyn_get,
    plan_for,
    snapshot,
    wait_installed,
)
from tests.test_install import api as api
from tests.test_install import bare as bare
from tests.test_install import lb as lb
from tests.test_install import seeded as seeded
from tests.test_manifests import FileServer, fixture_files, free_port


def run(sb: Sandbox, cache: Path, *args: str) -> Result:
    return knwalk(*args, env={"KUBECONFIG": str(sb.kubeconfig), "XDG_CACHE_HOME": str(cache)})


def global_rv(sb: Sandbox) -> str:
    """The sandbox's store resourceVersion: unchanged means nothing was written."""
    from kubernetes import client

    api_client = client_for(sb)
    try:
        return str(client.CoreV1Api(api_client).list_namespace().metadata.resource_version)
    finally:
        api_client.close()


def quiet_rv(sb: Sandbox, still: float = 0.5, timeout: float = 30.0) -> str:
    """``global_rv`` once the sandbox's controllers have finished with what an install made.

    After an install the deployment, replicaset and endpoints controllers go on writing
    for a moment (ReplicaSets, Pods, status); a write counted after that is the command's.
    Quiet means no write for ``still`` seconds; fails after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    rv = global_rv(sb)
    while time.monotonic() < deadline:
        time.sleep(still)
        now = global_rv(sb)
        if now == rv:
            return rv
        rv = now
    raise AssertionError(f"the sandbox kept writing for {timeout}s (resourceVersion {rv})")


FIX = str(FIXTURES)


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["install", "uninstall", "doctor"])
def test_help_is_light_and_fits(command: str) -> None:
    out, heavy = _imported([command, "--help"])
    assert "Usage" in out
    assert heavy == []
    assert max(len(line) for line in out.splitlines()) <= 80


def test_root_help_lists_the_commands() -> None:
    out, _ = _imported(["--help"])
    for command in ("install", "uninstall", "doctor"):
        assert command in out


# --------------------------------------------------------------------------- the sandbox


def test_install_on_the_sandbox_says_it_is_built_in(seeded: Sandbox, tmp_path: Path) -> None:
    rv = global_rv(seeded)
    result = run(seeded, tmp_path, "install")
    assert result.code == 0, result.err
    assert result.lines[0].startswith("Knative Serving is built into the sandbox")
    assert "nothing changed" in result.lines[0]
    assert "--manifests" in result.out
    assert global_rv(seeded) == rv
    assert not (tmp_path / "knwalk").exists()  # nothing downloaded either
    doc = json.loads(run(seeded, tmp_path, "install", "-o", "json").out)
    assert doc == {
        "context": "knwalk-sandbox",
        "builtin": True,
        "servingVersion": "1.23.0",
        "changed": False,
    }


def test_uninstall_on_the_sandbox_changes_nothing(seeded: Sandbox, tmp_path: Path) -> None:
    rv = global_rv(seeded)
    result = run(seeded, tmp_path, "uninstall", "--yes")
    assert result.code == 0, result.err
    assert "nothing to uninstall" in result.out
    assert "knwalk sandbox reset" in result.out
    assert global_rv(seeded) == rv


# --------------------------------------------------------------------------- install


def test_install_from_a_folder(bare: Sandbox, lb: Any, tmp_path: Path) -> None:
    result = run(bare, tmp_path, "install", "--manifests", FIX, "--wait-timeout", "30")
    assert result.code == 0, result.err
    lines = result.lines
    assert lines[0] == (
        "Installing Knative Serving 1.22.1 with Istio 1.29.2 (net-istio 1.22.0) "
        "in context 'knwalk-sandbox'"
    )
    assert f"Manifests from folder {FIX}:" in lines
    steps = [line for line in lines if line[:1].isdigit() and "/7 " in line]
    assert steps == [
        "1/7 Istio CRDs (knative.dev/crd-install=true)",
        "2/7 Istio 1.29.2",
        "3/7 Knative Serving CRDs",
        "4/7 Knative Serving 1.22.1",
        "5/7 net-istio 1.22.0",
        "6/7 Ingress class istio.ingress.networking.knative.dev",
        "7/7 Domain example.com",
    ]
    assert "    created    CustomResourceDefinition gateways.networking.istio.io" in lines
    assert "    created    Deployment knative-serving/activator" in lines
    assert "Waiting for the Deployments to be Available:" in lines
    table = lines[lines.index("Waiting for the Deployments to be Available:") + 1 :]
    assert table[0].split() == ["NAMESPACE", "DEPLOYMENT", "READY", "STATUS"]
    assert table[1].split() == ["knative-serving", "activator", "1/1", "Available"]
    assert "Gateway istio-system/istio-ingressgateway has address 127.0.0.1" in lines
    assert (
        "Knative Serving 1.22.1 is installed in context 'knwalk-sandbox', with Istio 1.29.2 "
        "(net-istio 1.22.0)." in lines
    )
    assert any(line.startswith("Domain") and "example.com" in line for line in lines)
    assert lines[-1] == "Next: knwalk deploy   (then: knwalk curl)"
    assert "Note: the sandbox reports Deployments Available" in result.out


def test_second_run_says_up_to_date(bare: Sandbox, api: Any, lb: Any, tmp_path: Path) -> None:
    first = run(bare, tmp_path, "install", "--manifests", FIX, "--ingress", "kourier")
    assert first.code == 0, first.err
    plan = plan_for("kourier")
    before = snapshot(api, plan)
    second = run(bare, tmp_path, "install", "--manifests", FIX, "--ingress", "kourier")
    assert second.code == 0, second.err
    lines = second.lines
    # Deployments and CRDs may show "configured" in the sandbox (see test_install.py)
    for title in ("Ingress class kourier.ingress.networking.knative.dev", "Domain example.com"):
        step = next(i for i, line in enumerate(lines) if line.endswith(title))
        assert lines[step + 1] == "    up to date (1 object)"
    assert not any("created" in line for line in lines)
    assert not [line for line in lines if "configured ConfigMap" in line]
    after = snapshot(api, plan)
    steady = [k for k in before if k[1] not in ("Deployment", "CustomResourceDefinition")]
    assert {k: after[k] for k in steady} == {k: before[k] for k in steady}


def test_install_json_result(bare: Sandbox, lb: Any, tmp_path: Path) -> None:
    result = run(
        bare, tmp_path, "install", "--manifests", FIX, "--domain", "sslip.io", "-o", "json"
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["servingVersion"] == "1.22.1"
    assert doc["ingress"] == "istio" and doc["istioVersion"] == "1.29.2"
    assert doc["changed"] is True
    assert doc["domain"] == "127.0.0.1.sslip.io"
    assert doc["gateway"] == {
        "service": "istio-system/istio-ingressgateway",
        "address": "127.0.0.1",
        "url": "http://127.0.0.1",
    }
    assert [s["name"] for s in doc["steps"]][-1] == "domain"
    assert all(d["available"] for d in doc["deployments"])


def test_conflicts_are_reported_and_forced(seeded: Sandbox, tmp_path: Path) -> None:
    """Over the sandbox's own installation: its field manager owns the fields of its
    release that differ, first those of the Istio CRDs net-istio's Istio brings."""
    result = run(seeded, tmp_path, "install", "--manifests", FIX)
    result.assert_error(1)
    assert "step 'Istio CRDs (knative.dev/crd-install=true)': 2 field(s) of 2 object(s)" in (
        result.error
    )
    assert "owned by knwalk-sandbox" in result.error
    assert "--force-conflicts" in result.error
    assert (
        "    conflict   CustomResourceDefinition gateways.networking.istio.io "
        ".spec.versions (owned by knwalk-sandbox)"
    ) in result.lines
    assert "    2 applied, 2 conflicting field(s)" in result.lines
    assert "2/7" not in result.out  # later steps did not run

    forced = run(seeded, tmp_path, "install", "--manifests", FIX, "--force-conflicts")
    assert forced.code == 0, forced.err
    assert "    configured Namespace knative-serving" in forced.lines
    from kubernetes import client

    api_client = client_for(seeded)
    try:
        ns = client.CoreV1Api(api_client).read_namespace("knative-serving")
    finally:
        api_client.close()
    assert ns.metadata.labels["app.kubernetes.io/version"] == "1.22.1"


def test_gateway_timeout_names_it(bare: Sandbox, tmp_path: Path) -> None:
    result = run(
        bare, tmp_path, "install", "--manifests", FIX, "--ingress", "kourier", "--wait-timeout", "1"
    )
    result.assert_error(1)
    assert "timed out waiting for the gateway Service kourier-system/kourier" in result.error
    assert "Waiting for the gateway kourier-system/kourier to get an external address" in result.out


# --------------------------------------------------------------------------- dry run


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "prod", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "prod",
            }
        )
    )
    return path


def test_dry_run_prints_objects_and_kubectl_commands_without_a_cluster(tmp_path: Path) -> None:
    kubeconfig = unreachable_kubeconfig(tmp_path)
    result = knwalk(
        "install",
        "--dry-run",
        "--manifests",
        FIX,
        "--context",
        "prod",
        "--kubeconfig",
        str(kubeconfig),
        env={"XDG_CACHE_HOME": str(tmp_path)},
    )
    assert result.code == 0, result.err
    lines = result.lines
    assert lines[0] == "Dry run: nothing is sent to the cluster in context 'prod'."
    prefix = f"kubectl --kubeconfig {kubeconfig} --context prod"
    assert (
        f"  $ {prefix} apply --server-side --field-manager=knwalk -l knative.dev/crd-install=true "
        f"-f {FIX}/istio.yaml"
    ) in lines
    assert (
        f"  $ {prefix} apply --server-side --field-manager=knwalk -f {FIX}/serving-core.yaml"
        in lines
    )
    assert (
        f'  $ echo \'{{"apiVersion":"v1","kind":"ConfigMap","metadata":'
        f'{{"name":"config-domain","namespace":"knative-serving"}},'
        f'"data":{{"example.com":""}}}}\' | {prefix} apply --server-side '
        "--field-manager=knwalk-config -f -"
    ) in lines
    assert (
        f"  $ {prefix} wait --for=condition=Available deployment --all -n istio-system --timeout=600s"
        in lines
    )
    assert "Step 4/7: Knative Serving 1.22.1 (field manager knwalk)" in lines
    rows = [line.split() for line in lines]
    assert ["CustomResourceDefinition", "certificates.networking.internal.knative.dev"] in rows
    assert ["Deployment", "knative-serving", "activator"] in rows
    assert ["Namespace", "knative-serving"] in rows


def test_dry_run_json_is_the_plan(tmp_path: Path) -> None:
    result = knwalk(
        "install",
        "--dry-run",
        "--manifests",
        FIX,
        "--ingress",
        "kourier",
        "--domain",
        "sslip.io",
        "-o",
        "json",
        "--kubeconfig",
        str(unreachable_kubeconfig(tmp_path)),
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [s["name"] for s in doc["steps"]] == [
        "serving-crds",
        "serving-core",
        "kourier",
        "ingress-class",
        "domain",
    ]
    assert doc["steps"][-1]["objects"][0]["name"] == "config-domain"
    assert "<gateway-ip>.sslip.io" in doc["steps"][-1]["kubectl"]
    assert doc["waitCommands"][-1].endswith("kubeconfig -n kourier-system get service kourier")


def test_dry_run_on_the_sandbox_without_manifests(seeded: Sandbox, tmp_path: Path) -> None:
    result = run(seeded, tmp_path, "install", "--dry-run")
    assert result.code == 0
    assert "built into the sandbox" in result.out


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ingress", "nginx"], "--ingress 'nginx' is not supported"),
        (["--domain", "no domain"], "--domain 'no domain' is not a DNS domain"),
        (
            ["--serving-version", "9.9.9"],
            "Knative Serving 9.9.9 is not in knwalk's release catalog",
        ),
        (["--serving-version", "latest"], "--serving-version 'latest' is not a version"),
        (["--manifests", "/does/not/exist"], "--manifests '/does/not/exist' is not a folder"),
        (["--manifests", "ftp://mirror/"], "is not an http(s) URL or a folder"),
        (["-o", "xml"], "-o/--output 'xml' is not supported"),
        (["--wait-timeout", "0"], "--wait-timeout"),
    ],
)
def test_bad_input_is_a_usage_error_and_changes_nothing(
    seeded: Sandbox, tmp_path: Path, args: list[str], message: str
) -> None:
    rv = global_rv(seeded)
    result = run(seeded, tmp_path, "install", *args)
    result.assert_error(2)
    assert message in result.error
    assert global_rv(seeded) == rv


def test_uninstall_bad_input(seeded: Sandbox, tmp_path: Path) -> None:
    result = run(seeded, tmp_path, "uninstall", "--ingress", "contour")
    result.assert_error(2)


# --------------------------------------------------------------------------- downloads


@pytest.fixture
def mirror() -> Iterator[FileServer]:
    with FileServer(fixture_files()) as srv:
        yield srv


def test_install_from_a_mirror_pins_and_reuses_the_cache(
    bare: Sandbox,
    lb: Any,
    mirror: FileServer,
    tmp_path: Path,
) -> None:
    first = run(bare, tmp_path, "install", "--manifests", mirror.url, "--ingress", "kourier")
    assert first.code == 0, first.err
    assert f"Manifests from mirror {mirror.url}:" in first.lines
    assert any(
        line.startswith("  kourier.yaml") and "downloaded" in line and "(pinned now)" in line
        for line in first.lines
    )
    assert len(mirror.requests) == 3
    second = run(bare, tmp_path, "install", "--manifests", mirror.url, "--ingress", "kourier")
    assert second.code == 0, second.err
    assert len(mirror.requests) == 3
    assert any(
        line.startswith("  kourier.yaml") and "cached" in line and "(verified)" in line
        for line in second.lines
    )
    index = tmp_path / "knwalk" / "manifests" / "1.22.1" / "index.json"
    assert set(json.loads(index.read_text())["files"]) == {
        "serving-crds.yaml",
        "serving-core.yaml",
        "kourier.yaml",
    }


def test_changed_mirror_file_is_refused_before_any_change(
    bare: Sandbox,
    lb: Any,
    mirror: FileServer,
    tmp_path: Path,
) -> None:
    assert (
        run(bare, tmp_path, "install", "--manifests", mirror.url, "--ingress", "kourier").code == 0
    )
    (tmp_path / "knwalk" / "manifests" / "1.22.1" / "serving-core.yaml").unlink()
    mirror.files["serving-core.yaml"] += b"\n# changed\n"
    rv = quiet_rv(bare)
    result = run(bare, tmp_path, "install", "--manifests", mirror.url, "--ingress", "kourier")
    result.assert_error(1)
    assert "serving-core.yaml from" in result.error and "refusing to use it" in result.error
    assert global_rv(bare) == rv


def test_404_and_connection_errors_are_explained(
    seeded: Sandbox, mirror: FileServer, tmp_path: Path
) -> None:
    del mirror.files["net-istio.yaml"]
    result = run(seeded, tmp_path, "install", "--manifests", mirror.url, "--dry-run")
    result.assert_error(1)
    assert f"{mirror.url}net-istio.yaml answered 404 Not Found" in result.error
    assert "--manifests DIR" in result.error
    closed = f"http://127.0.0.1:{free_port()}/"
    result = run(seeded, tmp_path / "empty-cache", "install", "--manifests", closed)
    result.assert_error(1)
    assert f"cannot download istio.yaml from {closed}istio.yaml: connection failed" in result.error


# --------------------------------------------------------------------------- uninstall


def test_uninstall_asks_first_then_deletes_in_reverse_order(
    bare: Sandbox,
    api: Any,
    lb: Any,
    tmp_path: Path,
) -> None:
    assert run(bare, tmp_path, "install", "--manifests", FIX).code == 0
    wait_installed(bare)  # the Services' Endpoints follow the Deployments' Pods
    rv = global_rv(bare)
    refused = run(bare, tmp_path, "uninstall", "--manifests", FIX)
    refused.assert_error(2)
    assert "pass --yes" in refused.error
    assert "Will delete 14 objects" in refused.out  # said what it would delete first
    assert global_rv(bare) == rv

    dry = run(bare, tmp_path, "uninstall", "--manifests", FIX, "--dry-run")
    assert dry.code == 0
    assert f"  $ kubectl delete --ignore-not-found -f {FIX}/net-istio.yaml" in dry.lines
    assert dry.lines[-1] == f"  $ kubectl delete --ignore-not-found -f {FIX}/istio.yaml"
    assert global_rv(bare) == rv

    result = run(bare, tmp_path, "uninstall", "--manifests", FIX, "--yes")
    assert result.code == 0, result.err
    deleted = [line.split(None, 1)[1] for line in result.lines if line.startswith("    deleted")]
    assert deleted[0] == "Namespace knative-serving"
    assert deleted[-1] == "CustomResourceDefinition destinationrules.networking.istio.io"
    assert result.lines[-1] == "Deleted 14 objects: Knative Serving is uninstalled."
    assert snapshot(api, plan_for("istio")) == {}
    again = run(bare, tmp_path, "uninstall", "--manifests", FIX, "--yes")
    assert again.code == 0
    assert "is not installed" in again.out


def test_uninstall_json_and_detected_version(
    bare: Sandbox,
    lb: Any,
    tmp_path: Path,
) -> None:
    assert run(bare, tmp_path, "install", "--manifests", FIX, "--ingress", "kourier").code == 0
    result = run(bare, tmp_path, "uninstall", "--manifests", FIX, "--yes", "-o", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    refs = [(o["kind"], o["name"]) for o in doc["delete"]]
    assert ("Namespace", "kourier-system") in refs  # the kourier files, read from config-network
    assert doc["deleted"] == len(doc["delete"])
    assert dyn_get_namespace(bare, "kourier-system") is None


def dyn_get_namespace(sb: Sandbox, name: str) -> Any:
    api_client = client_for(sb)
    try:
        return dyn_get(api_client, "v1", "Namespace", name, None)
    finally:
        api_client.close()


def test_lb_controller_helper_is_what_gives_the_address(
    bare: Sandbox,
    api: Any,
    tmp_path: Path,
) -> None:
    """Sanity of the test helper itself: with it, the same install that timed out succeeds."""
    with LoadBalancerController(api) as controller:
        result = run(bare, tmp_path, "install", "--manifests", FIX, "--ingress", "kourier")
    assert result.code == 0, result.err
    assert controller.assigned == ["kourier-system/kourier"]
    assert M.KOURIER in {p.name for p in FIXTURES.iterdir()}


# --------------------------------------------------------------------------- real kubectl


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_printed_kubectl_commands_are_equivalent(
    bare: Sandbox,
    api: Any,
    lb: Any,
    tmp_path: Path,
) -> None:
    """Run the dry run's commands with the real kubectl, then knwalk install: nothing to change."""
    env = {"KUBECONFIG": str(bare.kubeconfig), "XDG_CACHE_HOME": str(tmp_path)}
    plan = json.loads(knwalk("install", "--dry-run", "--manifests", FIX, "-o", "json", env=env).out)
    for step in plan["steps"]:
        proc = subprocess.run(
            step["kubectl"],
            shell=True,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, (step["kubectl"], proc.stderr)
    applied = snapshot(api, plan_for("istio"))
    assert len(applied) == sum(len(s["objects"]) for s in plan["steps"]) - 2  # settings CMs
    result = run(bare, tmp_path, "install", "--manifests", FIX)
    assert result.code == 0, result.err
    changed = [
        line
        for line in result.lines
        if line.startswith(("    created", "    configured"))
        and "Deployment " not in line
        and "CustomResourceDefinition " not in line  # see the timestamp gap in test_install.py
    ]
    assert changed == []
    assert result.lines.count("    up to date (1 object)") == 2  # the settings steps too
