"""``knwalk deploy`` against a real sandbox: create, update, apply, dry run, waits, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_cli_support import Cluster, env_of, knwalk

URL_RE = "http://helloworld-go.{ns}.example.com"


def container(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"]["containers"][0])


def test_create_prints_progress_like_kn_and_ends_with_the_url(cluster: Cluster) -> None:
    result = cluster.deploy()
    lines = result.lines
    assert lines[0] == f"Creating service 'helloworld-go' in namespace '{cluster.namespace}':"
    progress = [line for line in lines if line.strip().endswith(".") and "s " in line]
    assert progress, result.out
    assert all(line.split("s ", 1)[0].strip().replace(".", "").isdigit() for line in progress)
    assert lines[-2] == (
        "Service 'helloworld-go' created to latest revision 'helloworld-go-00001' "
        "is available at URL:"
    )
    assert lines[-1] == URL_RE.format(ns=cluster.namespace)
    obj = cluster.ksvc()
    c = container(obj)
    assert c["image"] == "gcr.io/knative-samples/helloworld-go"
    assert env_of(c) == {"TARGET": "Go Sample v1"}
    assert obj["status"]["latestReadyRevisionName"] == "helloworld-go-00001"


def test_update_changes_only_what_is_named(cluster: Cluster) -> None:
    cluster.deploy("-e", "KEEP=me", "--port", "8080")
    before = container(cluster.ksvc())
    result = cluster.deploy("--target", "Go Sample v2")
    assert result.lines[0].startswith("Updating service 'helloworld-go'")
    assert "latest revision 'helloworld-go-00002'" in result.lines[-2]
    after = container(cluster.ksvc())
    assert env_of(after) == {"TARGET": "Go Sample v2", "KEEP": "me"}
    assert {k: v for k, v in after.items() if k != "env"} == {
        k: v for k, v in before.items() if k != "env"
    }
    assert cluster.names("revisions") == ["helloworld-go-00001", "helloworld-go-00002"]


def test_unchanged_template_makes_no_revision_and_sends_nothing(cluster: Cluster) -> None:
    cluster.deploy("--target", "Same")
    rv = cluster.rv()
    result = cluster.deploy("--target", "Same")
    assert result.lines[0].startswith("No new revision:")
    assert result.lines[-1] == URL_RE.format(ns=cluster.namespace)
    assert cluster.rv() == rv
    assert cluster.names("revisions") == ["helloworld-go-00001"]


def test_env_set_and_unset_forms(cluster: Cluster) -> None:
    cluster.deploy("-e", "A=1", "-e", "B=2", "-e", "C=x=y")
    cluster.deploy("-e", "A-", "--env-unset", "B", "-e", "D=")
    assert env_of(container(cluster.ksvc())) == {"TARGET": "Go Sample v1", "C": "x=y", "D": ""}


def test_port_and_image(cluster: Cluster) -> None:
    cluster.deploy("--port", "9090", "--image", "gcr.io/knative-samples/helloworld-go:latest")
    c = container(cluster.ksvc())
    assert c["ports"][0]["containerPort"] == 9090
    assert c["image"] == "gcr.io/knative-samples/helloworld-go:latest"


def test_revision_name_suffix_then_server_named_again(cluster: Cluster) -> None:
    result = cluster.deploy("--revision-name", "v1")
    assert "latest revision 'helloworld-go-v1'" in result.out
    # a later change without --revision-name lets Knative name the revision (no clash)
    result = cluster.deploy("--target", "Go Sample v2")
    assert "latest revision 'helloworld-go-00002'" in result.out
    assert cluster.names("revisions") == ["helloworld-go-00002", "helloworld-go-v1"]


def test_named_service_and_no_wait(cluster: Cluster) -> None:
    result = cluster.run("deploy", "other", "--no-wait")
    assert result.code == 0, result.err
    assert "not waiting" in result.out
    assert cluster.get("services", "other") is not None


def test_output_json_is_the_service_object(cluster: Cluster) -> None:
    result = cluster.run("deploy", "-o", "json")
    assert result.code == 0, result.err
    obj = json.loads(result.out)
    assert obj["kind"] == "Service"
    assert obj["status"]["latestReadyRevisionName"] == "helloworld-go-00001"
    ready = [c for c in obj["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_dry_run_create_prints_manifest_and_kubectl_and_sends_nothing(cluster: Cluster) -> None:
    result = cluster.run("deploy", "--dry-run", "--target", "Dry")
    assert result.code == 0, result.err
    assert "nothing was sent" in result.out
    assert f"kubectl --kubeconfig {cluster.kubeconfig} --context knwalk-sandbox" in result.out
    assert f"-n {cluster.namespace} create -f -" in result.out
    assert "value: Dry" in result.out
    assert cluster.get("services", "helloworld-go") is None


def test_dry_run_update_prints_merge_patch_with_resource_version(cluster: Cluster) -> None:
    cluster.deploy()
    rv = cluster.rv()
    result = cluster.run("deploy", "--dry-run", "--target", "v9", "-o", "json")
    assert result.code == 0, result.err
    patch = json.loads(result.out)
    assert patch["metadata"] == {"resourceVersion": rv}
    assert env_of(patch["spec"]["template"]["spec"]["containers"][0]) == {"TARGET": "v9"}
    text = cluster.run("deploy", "--dry-run", "--target", "v9")
    assert "--type merge -p '" in text.out
    assert cluster.rv() == rv


def test_file_applies_a_manifest_server_side(cluster: Cluster, tmp_path: Path) -> None:
    manifest = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "from-file"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": "gcr.io/knative-samples/helloworld-go",
                            "env": [{"name": "TARGET", "value": "File"}],
                        }
                    ]
                }
            }
        },
    }
    path = tmp_path / "ksvc.yaml"
    path.write_text(yaml.safe_dump(manifest))
    result = cluster.run("deploy", "-f", str(path))
    assert result.code == 0, result.err
    assert result.lines[0] == f"Applying service 'from-file' in namespace '{cluster.namespace}':"
    obj = cluster.ksvc("from-file")
    managers = {m["manager"] for m in obj["metadata"].get("managedFields") or []}
    assert "knwalk" in managers
    rv = cluster.rv("from-file")
    dry = cluster.run("deploy", "-f", str(path), "--dry-run")
    assert f"apply --server-side --field-manager=knwalk --force-conflicts -f {path}" in dry.out
    again = cluster.run("deploy", "-f", str(path))
    assert again.code == 0, again.err
    assert "No new revision" in again.out
    assert cluster.names("revisions") == ["from-file-00001"]
    assert cluster.rv("from-file") == rv


def test_ready_false_fails_at_once_with_the_reason(cluster: Cluster) -> None:
    # a Configuration we do not own blocks the Service: Knative reports NotOwned
    cluster.custom.create_namespaced_custom_object(
        "serving.knative.dev",
        "v1",
        cluster.namespace,
        "configurations",
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Configuration",
            "metadata": {"name": "taken"},
            "spec": {
                "template": {
                    "spec": {"containers": [{"image": "gcr.io/knative-samples/helloworld-go"}]}
                }
            },
        },
    )
    result = cluster.run("deploy", "taken", "--wait-timeout", "30")
    result.assert_error(1)
    assert "NotOwned" in result.error


def test_failing_revision_fails_at_once_with_its_message(cluster: Cluster) -> None:
    result = cluster.run("deploy", "--image", "example.com/not-a-sample", "--wait-timeout", "60")
    result.assert_error(1)
    assert "service 'helloworld-go' failed: Ready=False" in result.error
    assert "example.com/not-a-sample" in result.error
    assert "knwalk status helloworld-go" in result.error


def test_conflict_is_reread_and_recomputed(cluster: Cluster) -> None:
    """Someone writes between our read and our patch: 409, re-read, recompute, no lost write."""
    from kn_walk import knative
    from kn_walk.kube import connect

    cluster.deploy()
    plans: list[str] = []

    def meddle(plan: knative.DeployPlan) -> None:
        plans.append(plan.action)
        cluster.custom.patch_namespaced_custom_object(
            "serving.knative.dev",
            "v1",
            cluster.namespace,
            "services",
            "helloworld-go",
            {"metadata": {"annotations": {"someone": "else"}}},
        )

    with connect(cluster.kubeconfig, "knwalk-sandbox", cluster.namespace) as kube:
        opts = knative.DeployOptions(env=knative.parse_env([], target="Raced"))
        result = knative.deploy(kube, "helloworld-go", opts, on_plan=meddle, timeout=30)
    assert plans == ["update"]
    obj = cluster.ksvc()
    assert obj["metadata"]["annotations"]["someone"] == "else"
    assert env_of(container(obj)) == {"TARGET": "Raced"}
    assert result.service.latest_ready == "helloworld-go-00002"


# --------------------------------------------------------------------------- bad input

BAD_DEPLOYS: list[tuple[str, list[str], int, str]] = [
    ("env without =", ["-e", "FOO"], 2, "not NAME=VALUE"),
    ("env without name", ["-e", "=x"], 2, "no variable name"),
    ("env bad name", ["-e", "1BAD=x"], 2, "not valid"),
    ("env set twice", ["-e", "A=1", "-e", "A=2"], 2, "twice"),
    ("env set and unset", ["-e", "A=1", "--env-unset", "A"], 2, "both set and removed"),
    ("target and -e TARGET", ["--target", "x", "-e", "TARGET=y"], 2, "both set TARGET"),
    ("port zero", ["--port", "0"], 2, "--port"),
    ("port too big", ["--port", "70000"], 2, "--port"),
    ("port not a number", ["--port", "http"], 2, "--port"),
    ("bad service name", ["Hello_World"], 2, "DNS-1035"),
    ("bad revision name", ["--revision-name", "V_2"], 2, "revision name"),
    ("image with spaces", ["--image", "a b"], 2, "image reference"),
    ("bad output", ["-o", "xml"], 2, "-o/--output"),
    ("bad wait timeout", ["--wait-timeout", "0"], 2, "--wait-timeout"),
    ("file with other options", ["-f", "x.yaml", "--image", "a"], 2, "cannot be combined"),
    ("file missing", ["-f", "/nonexistent/ksvc.yaml"], 2, "cannot read"),
    ("unknown context", ["--context", "nope"], 2, "context 'nope' not found"),
    ("bad namespace", ["-n", "Bad_NS"], 2, "namespace"),
]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [pytest.param(a, c, t, id=i) for i, a, c, t in BAD_DEPLOYS],
)
def test_bad_input_is_refused_and_changes_nothing(
    cluster: Cluster, args: list[str], code: int, text: str
) -> None:
    cluster.deploy()
    rv = cluster.rv()
    result = cluster.run("deploy", *args)
    result.assert_error(code)
    assert text in result.error
    assert cluster.rv() == rv
    assert cluster.names("services") == ["helloworld-go"]


@pytest.mark.parametrize(
    ("doc", "text"),
    [
        ("kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n", "not a serving.knative.dev/v1"),
        ("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {}\n", "no metadata.name"),
        ("a: [1\n", "not valid YAML"),
        ("---\nkind: Service\n---\nkind: Service\n", "exactly one"),
    ],
    ids=["wrong kind", "no name", "bad yaml", "two documents"],
)
def test_bad_manifest_is_refused(cluster: Cluster, tmp_path: Path, doc: str, text: str) -> None:
    cluster.deploy()
    rv = cluster.rv()
    path = tmp_path / "bad.yaml"
    path.write_text(doc)
    result = cluster.run("deploy", "-f", str(path))
    result.assert_error(2)
    assert text in result.error
    assert cluster.rv() == rv


def test_manifest_name_must_match_name_argument(cluster: Cluster, tmp_path: Path) -> None:
    cluster.deploy()
    rv = cluster.rv()
    path = tmp_path / "ksvc.yaml"
    path.write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: other}\n"
        "spec: {template: {spec: {containers: [{image: x}]}}}\n"
    )
    result = cluster.run("deploy", "helloworld-go", "-f", str(path))
    result.assert_error(2)
    assert "differs from the manifest" in result.error
    assert cluster.rv() == rv


def test_api_rejection_shows_the_status_message(cluster: Cluster, tmp_path: Path) -> None:
    cluster.deploy()
    rv = cluster.rv()
    path = tmp_path / "ksvc.yaml"
    path.write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: helloworld-go}\n"
        "spec:\n  template: {spec: {containers: [{image: x}]}}\n"
        "  traffic: [{percent: 50, latestRevision: true}]\n"
    )
    result = cluster.run("deploy", "-f", str(path))
    result.assert_error(1)
    assert "want 100" in result.error
    assert cluster.rv() == rv


def test_bad_revision_name_with_dry_run_shows_the_webhooks_answer() -> None:
    """--revision-name is checked with Knative's own rule before anything is read or sent;
    --dry-run adds the webhook's path and text (Knative's validateRevisionName)."""
    result = knwalk("deploy", "--revision-name", "V_2", "--dry-run")
    result.assert_error(2)
    assert "revision name 'helloworld-go-V_2' is not a DNS-1035 label" in result.error
    assert (
        "Knative's webhook would answer: validation failed: invalid value: not a DNS 1035 "
        "label: [a DNS-1035 label must consist of lower case alphanumeric characters"
    ) in result.err
    assert result.err.rstrip().endswith(": spec.template.metadata.name")
    plain = knwalk("deploy", "--revision-name", "V_2")
    plain.assert_error(2)
    assert "webhook" not in plain.err
