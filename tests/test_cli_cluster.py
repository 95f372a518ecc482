"""``knwalk cluster ...`` end to end: real main(), real ClusterManagerClient, fake GKE server.

Each test runs with its own gcloud config directory, kubeconfig and no application
default credentials, so nothing can reach a real cloud. Polls are immediate
(``--poll-interval 0``): the fake's operations move one step per poll.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_gke import FakeGke
from tests.test_cli_support import Output, default_sigint, run_main

P, Z = "demo-project", "us-central1-a"
CTX = f"gke_{P}_{Z}_knwalk"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result(Output):
    @property
    def text(self) -> str:
        return " ".join(self.out.split())

    def assert_error(self, code: int) -> None:
        assert self.code == code, (self.code, self.out, self.err)
        lines = [line for line in self.err.splitlines() if line.strip()]
        errors = [i for i, line in enumerate(lines) if line.startswith("Error: ")]
        assert errors, self.err
        assert any(line.startswith("Hint: ") for line in lines[errors[0] :]), self.err
        assert "Traceback" not in self.err


def knwalk(*args: str) -> Result:
    return Result(*run_main(*args))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated gcloud config, kubeconfig and credentials; output without colour, wide."""
    for var in (
        "GOOGLE_CLOUD_PROJECT",
        "GCLOUD_PROJECT",
        "CLOUDSDK_CORE_PROJECT",
        "CLOUDSDK_COMPUTE_ZONE",
        "CLOUDSDK_COMPUTE_REGION",
        "CLOUDSDK_ACTIVE_CONFIG_NAME",
        "KNWALK_GKE_ENDPOINT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kube" / "config"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-adc.json"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture
def fake(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGke]:
    with FakeGke() as server:
        monkeypatch.setenv("KNWALK_GKE_ENDPOINT", server.url)
        yield server


def kubeconfig(home: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((home / "kube" / "config").read_text())
    return doc


def create(*args: str) -> Result:
    return knwalk("cluster", "create", "--project", P, "--poll-interval", "0", *args)


def sent(fake: FakeGke) -> dict[str, Any]:
    posts = fake.calls("POST")
    assert len(posts) == 1, posts
    cluster: dict[str, Any] = posts[0].body["cluster"]
    return cluster


# --------------------------------------------------------------------------- help stays light


@pytest.mark.parametrize(
    "args", [["--help"], ["cluster", "--help"], ["cluster", "create", "--help"]]
)
def test_help_does_not_import_google_cloud(args: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['knwalk', *{args!r}]\n"
        "from kn_walk.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('google.cloud', 'google.auth', "
        "'google.api_core', 'grpc', 'kubernetes')))\n"
        "print('HEAVY', heavy)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "HEAVY []" in run.stdout, run.stdout[-400:]
    assert "Usage:" in run.stdout


# --------------------------------------------------------------------------- create


def test_dry_run_prints_request_and_gcloud_command_and_sends_nothing(fake: FakeGke) -> None:
    result = create("--dry-run")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == (
        f"Dry run: would create cluster knwalk in projects/{P}/locations/{Z}; nothing was sent."
    )
    start = lines.index("# CreateClusterRequest (REST JSON)") + 1
    end = lines.index("# equivalent gcloud command")
    body = json.loads("\n".join(lines[start:end]))
    assert body["parent"] == f"projects/{P}/locations/{Z}"
    assert body["cluster"]["releaseChannel"] == {"channel": "REGULAR"}
    assert body["cluster"]["loggingConfig"]["componentConfig"]["enableComponents"] == [
        "SYSTEM_COMPONENTS",
        "WORKLOADS",
    ]
    assert body["cluster"]["nodePools"][0]["config"]["machineType"] == "n1-standard-8"
    assert lines[end + 1].startswith(
        "gcloud container clusters create knwalk --project demo-project --zone us-central1-a "
    )
    assert fake.requests == []
    assert not (fake_home := Path(os.environ["KUBECONFIG"])).exists(), fake_home


def test_dry_run_json_output_is_just_the_request(fake: FakeGke) -> None:
    result = create("--dry-run", "-o", "json", "demo", "--region", "europe-west1")
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert body["parent"] == f"projects/{P}/locations/europe-west1"
    assert body["cluster"]["name"] == "demo"
    assert fake.requests == []


def test_create_with_defaults_writes_kubeconfig_like_gcloud(fake: FakeGke, home: Path) -> None:
    kube = home / "kube" / "config"
    kube.parent.mkdir()
    kube.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kind-dev", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "kind-dev", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "kind-dev", "context": {"cluster": "kind-dev", "user": "kind-dev"}}
                ],
                "current-context": "kind-dev",
            }
        )
    )
    result = create()
    assert result.code == 0, result.err
    out = result.text
    assert "Cluster knwalk to create:" in out
    assert f"Project {P} (from --project)" in out
    assert f"Location {Z} (zone, from knwalk default)" in out
    assert "Nodes 2 × n1-standard-8, COS_CONTAINERD, pd-standard 100 GB" in out
    assert "Version release channel REGULAR, the channel's default version" in out
    assert "Estimated cost about $0.87/hour (2 × n1-standard-8 at $0.3800" in out
    assert "Price source us-central1 on-demand list prices in USD recorded in knwalk" in out
    assert f"GKE endpoint {fake.url} (from KNWALK_GKE_ENDPOINT)" in out
    assert f"kubeconfig entry {CTX} written to {kube} and made the current context." in out
    assert (
        "Cluster knwalk is RUNNING: Kubernetes 1.33.5-gke.1080000, endpoint 203.0.113.10, 2 nodes."
        in out
    )
    assert out.endswith("Next: knwalk install")
    err = result.err.splitlines()
    assert err[0].startswith(f"Creating cluster knwalk in {Z} (operation operation-")
    assert [line.split()[0] for line in err[1:]] == [
        "PENDING",
        "RUNNING",
        "RUNNING",
        "RUNNING",
        "DONE",
    ]
    assert "RUNNING  33%" in result.err and "DONE 100%" in result.err

    c = sent(fake)
    assert c["nodePools"][0]["config"]["oauthScopes"] == [
        "https://www.googleapis.com/auth/cloud-platform"
    ]
    assert c["defaultMaxPodsConstraint"] == {"maxPodsPerNode": "110"}

    doc = kubeconfig(home)
    assert doc["current-context"] == CTX
    assert [c["name"] for c in doc["contexts"]] == ["kind-dev", CTX]
    assert doc["clusters"][1]["cluster"]["server"] == "https://203.0.113.10"
    assert doc["users"][1]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert doc["users"][1]["user"]["exec"]["provideClusterInfo"] is True
    assert doc["users"][0] == {"name": "kind-dev", "user": {"token": "t"}}
    assert stat.S_IMODE(kube.stat().st_mode) == 0o600


def test_every_create_option_reaches_the_request(fake: FakeGke) -> None:
    from google.cloud.container_v1 import MonitoringComponentConfig

    result = create(
        "demo",
        "--zone", "europe-west1-b",
        "-m", "e2-standard-4",
        "--num-nodes", "3",
        "--disk-type", "pd-balanced",
        "--disk-size", "50GB",
        "--image-type", "UBUNTU_CONTAINERD",
        "--cluster-version", "1.33",
        "--release-channel", "None",
        "--scopes", "storage-ro,logging-write",
        "--default-max-pods-per-node", "64",
        "--addons", "HttpLoadBalancing,NodeLocalDNS",
        "--enable-ip-alias",
        "--no-enable-autoupgrade",
        "--no-enable-autorepair",
        "--logging", "SYSTEM",
        "--monitoring", "SYSTEM,POD",
        "--labels", "team=web,env=dev",
        "--no-wait",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert fake.calls("POST")[0].path == f"/v1/projects/{P}/locations/europe-west1-b/clusters"
    c = sent(fake)
    pool = c["nodePools"][0]
    assert (c["name"], pool["initialNodeCount"]) == ("demo", 3)
    assert pool["config"] == {
        "machineType": "e2-standard-4",
        "diskSizeGb": 50,
        "diskType": "pd-balanced",
        "imageType": "UBUNTU_CONTAINERD",
        "oauthScopes": [
            "https://www.googleapis.com/auth/devstorage.read_only",
            "https://www.googleapis.com/auth/logging.write",
        ],
        "resourceLabels": {"team": "web", "env": "dev"},  # the nodes' VMs and disks
    }
    assert pool["management"] == {}  # both false: proto3 omits default values
    assert c["initialClusterVersion"] == "1.33"
    assert c["releaseChannel"] == {}  # --release-channel None: no channel, a static version
    assert c["defaultMaxPodsConstraint"] == {"maxPodsPerNode": "64"}
    assert c["ipAllocationPolicy"] == {"useIpAliases": True}
    assert c["addonsConfig"]["dnsCacheConfig"] == {"enabled": True}
    assert c["addonsConfig"]["horizontalPodAutoscaling"] == {"disabled": True}
    assert c["loggingConfig"] == {"componentConfig": {"enableComponents": [1]}}
    pod = int(MonitoringComponentConfig.Component.POD)
    assert c["monitoringConfig"] == {"componentConfig": {"enableComponents": [1, pod]}}
    assert c["resourceLabels"] == {"team": "web", "env": "dev"}
    assert (
        "Follow it with: knwalk cluster wait demo --project demo-project --zone europe-west1-b"
        in result.text
    )
    assert not Path(os.environ["KUBECONFIG"]).exists()


def test_no_wait_then_wait_finishes_like_create(fake: FakeGke, home: Path) -> None:
    assert create("--no-wait").code == 0
    assert fake.clusters[(P, Z, "knwalk")]["status"] == "PROVISIONING"
    result = knwalk("cluster", "wait", "knwalk", "--project", P, "--poll-interval", "0")
    assert result.code == 0, result.err
    assert "Waiting for cluster knwalk" in result.err
    assert f"kubeconfig entry {CTX} written" in result.text
    assert kubeconfig(home)["current-context"] == CTX
    again = knwalk("cluster", "wait", "knwalk", "--project", P, "--poll-interval", "0")
    assert again.code == 0
    assert "No operation is running on cluster knwalk." in again.text


# --------------------------------------------------------------------------- removed seed options


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (["--addons", "HorizontalPodAutoscaling,HttpLoadBalancing,Istio"], "Note: --addons Istio: the Istio add-on was removed from GKE; `knwalk install` installs Istio and Knative itself; creating the cluster without it."),
        (["--addons", "HttpLoadBalancing,CloudRun"], "Note: --addons CloudRun: the Cloud Run for Anthos (Knative serving) add-on was removed from GKE; `knwalk install` installs Istio and Knative itself; creating the cluster without it."),
        (["--no-enable-basic-auth"], "Note: --no-enable-basic-auth: basic authentication no longer exists on GKE, so there is nothing to disable; ignored."),
        (["--enable-stackdriver-kubernetes"], "Note: --enable-stackdriver-kubernetes is deprecated in gcloud; sending today's form, --logging SYSTEM,WORKLOAD --monitoring SYSTEM."),
    ],
)  # fmt: skip
def test_removed_seed_options_are_explained_and_creation_goes_on(
    fake: FakeGke, args: list[str], note: str
) -> None:
    result = create("--no-wait", *args)
    assert result.code == 0, result.err
    assert note in result.error
    body = sent(fake)
    assert "cloudRunConfig" not in body["addonsConfig"]
    assert "masterAuth" not in body
    assert body["addonsConfig"]["httpLoadBalancing"] == {}


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["--istio-config", "auth=MTLS_PERMISSIVE"], "--istio-config: the Istio add-on was removed from GKE, so there is nothing to configure", "`knwalk install` installs Istio and Knative itself"),
        (["--cloud-run-config", "load-balancer-type=INTERNAL"], "--cloud-run-config: the Cloud Run for Anthos add-on was removed from GKE", "`knwalk install`"),
        (["--enable-basic-auth"], "--enable-basic-auth: basic authentication was removed from GKE (control plane 1.19 and later)", "Google credentials"),
        (["--username", "admin", "--password", "hunter2"], "--username/--password: basic authentication was removed from GKE", "Google credentials"),
        (["--image-type", "COS"], "--image-type COS: Docker-based node images were removed from GKE in 1.24", "use --image-type COS_CONTAINERD"),
        (["--cluster-version", "1.15"], "--cluster-version 1.15: Kubernetes 1.15 is no longer offered by GKE", "omit --cluster-version"),
    ],
)  # fmt: skip
def test_insisting_on_a_removed_seed_option_stops_before_sending(
    fake: FakeGke, args: list[str], message: str, hint: str
) -> None:
    result = create(*args)
    result.assert_error(2)
    assert f"Error: {message}" in result.error
    assert hint in result.error
    assert "hunter2" not in result.out + result.err
    assert fake.requests == []


# --------------------------------------------------------------------------- failures


def test_existing_cluster_says_so_and_offers_get_credentials(fake: FakeGke) -> None:
    fake.add_cluster(P, Z, "knwalk")
    result = create()
    result.assert_error(1)
    assert (
        f"Error: cluster knwalk already exists in project {P}, zone {Z}; nothing was created"
        in result.error
    )
    assert (
        f"Hint: to use it, fetch its credentials: knwalk cluster get-credentials knwalk "
        f"--project {P} --zone {Z}" in result.error
    )
    assert not Path(os.environ["KUBECONFIG"]).exists()


@pytest.mark.parametrize(
    ("code", "words", "hint"),
    [
        (403, "permission denied: injected 403", "gcloud services enable container.googleapis.com"),
        (400, "rejected: injected 400", "get-server-config"),
    ],
)
def test_api_refusals_are_one_line_errors(fake: FakeGke, code: int, words: str, hint: str) -> None:
    fake.fail("POST", "/clusters$", code)
    result = create()
    result.assert_error(1)
    assert f"Error: create cluster knwalk in projects/{P}/locations/{Z}: {words}" in result.error
    assert hint in result.error


def test_unsupported_version_shows_the_servers_message(fake: FakeGke) -> None:
    result = create("--cluster-version", "1.99")
    result.assert_error(1)
    assert 'Master version "1.99" is unsupported. Valid versions: 1.33' in result.error


def test_operation_ending_in_error_exits_1_with_its_message(fake: FakeGke) -> None:
    fake.operation_error = "Google Compute Engine: Required 'compute.instances.create' permission"
    result = create()
    result.assert_error(1)
    assert "(CREATE_CLUSTER) failed: Google Compute Engine: Required" in result.error
    assert "quota" not in result.error
    assert "a failed create leaves a cluster in ERROR that `knwalk cluster delete" in result.error
    assert not Path(os.environ["KUBECONFIG"]).exists()
    waited = knwalk("cluster", "wait", "knwalk", "--project", P, "--poll-interval", "0")
    waited.assert_error(1)
    assert "cluster knwalk is in ERROR: Google Compute Engine: Required" in waited.error
    assert f"Hint: delete it with `knwalk cluster delete knwalk --project {P} --zone {Z}` and " in (
        waited.error
    )


def test_an_operation_ending_for_quota_gets_the_quota_hint(fake: FakeGke) -> None:
    """GKE accepts the create and the operation ends with the quota error (nodes are
    created after the control plane): the quota hint, and the cluster left in ERROR."""
    fake.operation_error = QUOTA_MESSAGE
    result = create()
    result.assert_error(1)
    assert "(CREATE_CLUSTER) failed: Insufficient regional quota to satisfy request" in result.error
    hint = " ".join(result.error.split("Hint: ", 1)[1].split())
    assert hint.startswith(QUOTA_HINT.removeprefix("Hint: ")), hint
    assert "a failed create leaves a cluster in ERROR that `knwalk cluster delete NAME`" in hint
    waited = knwalk("cluster", "wait", "knwalk", "--project", P, "--poll-interval", "0")
    waited.assert_error(1)
    assert "cluster knwalk is in ERROR: Insufficient regional quota" in waited.error
    assert QUOTA_HINT in waited.error
    assert f"delete it with `knwalk cluster delete knwalk --project {P} --zone {Z}` first" in (
        waited.error
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["Bad_Name"], "'Bad_Name' is not a valid cluster name"),
        (["--zone", "us-central1"], "'us-central1' is not a zone name"),
        (["--zone", "us-central1-a", "--region", "us-central1"], "--zone and --region cannot be used together"),
        (["--labels", "Team=web"], "'Team' is not a valid label key"),
        (["--disk-size", "5"], "below the 10 GB minimum"),
        (["--num-nodes", "0"], "--num-nodes"),
        (["--addons", "Kiali"], "unknown add-on 'Kiali'"),
        (["--gke-endpoint", "http://10.1.2.3:8080"], "plain http is accepted only on a loopback address"),
        (["-o", "table"], "-o/--output 'table' is not supported here"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_and_nothing_is_sent(
    fake: FakeGke, args: list[str], words: str
) -> None:
    result = create(*args)
    result.assert_error(2)
    assert words in result.error
    assert fake.requests == []


def test_missing_project_says_how_to_set_it(fake: FakeGke) -> None:
    result = knwalk("cluster", "create", "--dry-run")
    result.assert_error(2)
    assert "Error: no Google Cloud project is set" in result.error
    assert (
        "Hint: pass --project PROJECT, or run `gcloud config set project PROJECT`" in result.error
    )


def test_project_and_zone_from_the_gcloud_configuration(fake: FakeGke, home: Path) -> None:
    conf = home / "gcloud" / "configurations"
    conf.mkdir(parents=True)
    (conf / "config_default").write_text(
        "[core]\nproject = gcloud-project\n[compute]\nzone = asia-east1-c\n"
    )
    result = knwalk("cluster", "create", "--no-wait")
    assert result.code == 0, result.err
    assert (
        f"Project gcloud-project (from gcloud configuration {conf / 'config_default'})"
        in result.text
    )
    assert (
        fake.calls("POST")[0].path == "/v1/projects/gcloud-project/locations/asia-east1-c/clusters"
    )


def test_project_from_environment(fake: FakeGke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "sdk-env-project")
    result = knwalk("cluster", "create", "--no-wait", "--region", "us-east1")
    assert result.code == 0, result.err
    assert "Project sdk-env-project (from CLOUDSDK_CORE_PROJECT)" in result.text
    assert "Location us-east1 (region, from --region)" in result.text
    assert "2 × n1-standard-8 in each of 3 zones (6 nodes)" in result.text


def test_no_credentials_for_the_real_api_is_a_clear_error(home: Path) -> None:
    result = knwalk("cluster", "describe", "knwalk", "--project", P)
    result.assert_error(1)
    assert "Error: no Google Cloud credentials found" in result.error
    assert "gcloud auth application-default login" in result.error


def test_ctrl_c_stops_waiting_but_not_the_cluster(home: Path) -> None:
    with FakeGke(steps=10**9) as server:
        env = dict(os.environ, KNWALK_GKE_ENDPOINT=server.url, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "kn_walk", "cluster", "create", "--project", P, "--poll-interval", "0.05"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=default_sigint,
        )  # fmt: skip
        assert proc.stderr is not None
        try:
            for line in proc.stderr:  # wait until the operation is being watched
                if line.strip().startswith("RUNNING"):
                    break
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, (out, err)
        text = " ".join(err.split())
        assert "Stopped waiting; GKE carries on with the operation." in text
        assert f"Resume with: knwalk cluster wait knwalk --project {P} --zone {Z}" in text
        assert "Traceback" not in err
        assert server.clusters[(P, Z, "knwalk")]["status"] == "PROVISIONING"
        assert server.calls("DELETE") == []


# --------------------------------------------------------------------------- get-credentials, describe, list


def test_get_credentials(fake: FakeGke, home: Path) -> None:
    fake.add_cluster(P, Z, "knwalk")
    result = knwalk("cluster", "get-credentials", "knwalk", "--project", P)
    assert result.code == 0, result.err
    doc = kubeconfig(home)
    assert doc["current-context"] == CTX
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"]
    missing = knwalk("cluster", "get-credentials", "nothere", "--project", P)
    missing.assert_error(1)
    assert f"cluster nothere in projects/{P}/locations/{Z}: Not found" in missing.error
    assert "knwalk cluster list" in missing.error


def test_get_credentials_of_a_provisioning_cluster(fake: FakeGke, home: Path) -> None:
    fake.add_cluster(P, Z, "knwalk", status="PROVISIONING")
    result = knwalk("cluster", "get-credentials", "knwalk", "--project", P)
    result.assert_error(1)
    assert "cluster knwalk has no endpoint yet (status PROVISIONING)" in result.error
    assert not (home / "kube" / "config").exists()


def test_describe_as_table_json_and_yaml(fake: FakeGke) -> None:
    fake.add_cluster(
        P,
        Z,
        "knwalk",
        masterAuth={"username": "admin", "password": "s3cret"},
        resourceLabels={"team": "web"},
        nodePools=[{"name": "default-pool", "initialNodeCount": 2, "config": {"machineType": "n1-standard-8", "imageType": "COS_CONTAINERD", "diskType": "pd-standard", "diskSizeGb": 100}}],
        addonsConfig={"httpLoadBalancing": {}, "horizontalPodAutoscaling": {}, "networkPolicyConfig": {"disabled": True}},
    )  # fmt: skip
    table = knwalk("cluster", "describe", "knwalk", "--project", P)
    assert table.code == 0, table.err
    assert "Status RUNNING" in table.text
    assert "Version 1.33.5-gke.1080000 (nodes 1.33.5-gke.1080000)" in table.text
    assert "Endpoint 203.0.113.10" in table.text
    assert "Add-ons HttpLoadBalancing, HorizontalPodAutoscaling" in table.text
    assert "Labels team=web" in table.text
    assert "default-pool n1-standard-8 2 COS_CONTAINERD pd-standard 100GB" in table.text
    doc = json.loads(knwalk("cluster", "describe", "knwalk", "--project", P, "-o", "json").out)
    assert doc["status"] == "RUNNING" and doc["endpoint"] == "203.0.113.10"
    assert doc["masterAuth"]["password"] == "<redacted>"
    as_yaml = knwalk("cluster", "describe", "knwalk", "--project", P, "-o", "yaml")
    assert yaml.safe_load(as_yaml.out)["name"] == "knwalk"
    for result in (table, as_yaml):
        assert "s3cret" not in result.out + result.err


def test_list_everywhere_or_in_one_location(fake: FakeGke) -> None:
    fake.add_cluster(P, Z, "alpha", nodePools=[{"name": "default-pool", "initialNodeCount": 2, "config": {"machineType": "n1-standard-8"}}])  # fmt: skip
    fake.add_cluster(P, "europe-west1", "beta")
    result = knwalk("cluster", "list", "--project", P)
    assert result.code == 0, result.err
    assert fake.calls("GET")[-1].path == f"/v1/projects/{P}/locations/-/clusters"
    lines = [" ".join(line.split()) for line in result.out.splitlines()]
    assert (
        lines[0]
        == "NAME LOCATION MASTER_VERSION MASTER_IP MACHINE_TYPE NODE_VERSION NUM_NODES STATUS"
    )
    assert (
        f"alpha {Z} 1.33.5-gke.1080000 203.0.113.10 n1-standard-8 1.33.5-gke.1080000 2 RUNNING"
        in lines
    )
    assert any(line.startswith("beta europe-west1 ") for line in lines)
    only = json.loads(knwalk("cluster", "list", "--project", P, "--zone", Z, "-o", "json").out)
    assert [c["name"] for c in only] == ["alpha"]
    none = knwalk("cluster", "list", "--project", "empty-project")
    assert none.out.strip() == "No clusters in project empty-project."


# --------------------------------------------------------------------------- delete


def test_delete_needs_confirmation_off_a_terminal(fake: FakeGke) -> None:
    fake.add_cluster(P, Z, "knwalk")
    result = knwalk("cluster", "delete", "knwalk", "--project", P)
    result.assert_error(2)
    assert "Hint: pass --yes" in result.error
    assert fake.requests == []


def test_delete_dry_run_sends_nothing(fake: FakeGke) -> None:
    result = knwalk("cluster", "delete", "knwalk", "--project", P, "--dry-run")
    assert result.code == 0, result.err
    assert f"name: projects/{P}/locations/{Z}/clusters/knwalk" in result.out
    assert f"gcloud container clusters delete knwalk --project {P} --zone {Z}" in result.out
    assert fake.requests == []


def test_delete_waits_and_removes_only_its_kubeconfig_entries(fake: FakeGke, home: Path) -> None:
    assert create().code == 0
    kube = home / "kube" / "config"
    doc = kubeconfig(home)
    doc["contexts"].append({"name": "other", "context": {"cluster": "x", "user": "y"}})
    kube.write_text(yaml.safe_dump(doc))
    result = knwalk("cluster", "delete", "knwalk", "--project", P, "--yes", "--poll-interval", "0")
    assert result.code == 0, result.err
    assert f"Deleted cluster knwalk in project {P}, zone {Z}." in result.text
    assert f"Removed its kubeconfig entry {CTX} from {kube}." in result.text
    assert "Deleting cluster knwalk" in result.err
    assert fake.clusters == {}
    after = kubeconfig(home)
    assert [c["name"] for c in after["contexts"]] == ["other"]
    assert after["clusters"] == [] and after["users"] == []
    assert after["current-context"] == ""
    assert stat.S_IMODE(kube.stat().st_mode) == 0o600
    gone = knwalk("cluster", "delete", "knwalk", "--project", P, "--yes")
    gone.assert_error(1)
    assert "Not found" in gone.error


def test_delete_without_waiting(fake: FakeGke, home: Path) -> None:
    assert create().code == 0
    result = knwalk("cluster", "delete", "knwalk", "--project", P, "--yes", "--no-wait")
    assert result.code == 0, result.err
    assert "not waiting" in result.text
    assert kubeconfig(home)["contexts"] == []
    waited = knwalk("cluster", "wait", "knwalk", "--project", P, "--poll-interval", "0")
    assert waited.code == 0, waited.err
    assert "Cluster knwalk is deleted." in waited.text
    assert fake.clusters == {}


# --------------------------------------------------------------------------- on a terminal


def run_in_terminal(
    args: list[str], env: dict[str, str], answers: list[tuple[str, str]]
) -> tuple[int, str]:
    """Run ``knwalk ARGS`` on a pseudo-terminal, typing each answer once its prompt shows."""
    import select
    import time

    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kn_walk", *args],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    output, pending = b"", list(answers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if pending and pending[0][0].encode() in output:
                os.write(master, pending.pop(0)[1].encode() + b"\r")
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, output.decode(errors="replace").replace("\r\n", "\n")


def terminal_env(server: FakeGke) -> dict[str, str]:
    env = dict(os.environ, KNWALK_GKE_ENDPOINT=server.url, COLUMNS="120", TERM="xterm")
    env.pop("NO_COLOR", None)
    return env


def test_create_on_a_terminal_asks_first_and_shows_a_progress_bar(
    fake: FakeGke, home: Path
) -> None:
    args = ["cluster", "create", "--project", P, "--poll-interval", "0"]
    code, text = run_in_terminal(args, terminal_env(fake), [("Create cluster knwalk? [y/N]", "n")])
    assert code == 1, text
    assert "Error: nothing was changed" in text
    assert fake.requests == []

    code, text = run_in_terminal(args, terminal_env(fake), [("Create cluster knwalk? [y/N]", "y")])
    assert code == 0, text
    assert "Estimated cost" in text
    assert "Creating cluster knwalk in us-central1-a" in text
    assert "DONE" in text and "━" in text  # rich's bar
    assert f"kubeconfig entry {CTX} written" in " ".join(text.split())
    assert kubeconfig(home)["current-context"] == CTX


def test_existing_cluster_on_a_terminal_offers_its_credentials(fake: FakeGke, home: Path) -> None:
    fake.add_cluster(P, Z, "knwalk")
    code, text = run_in_terminal(
        ["cluster", "create", "--project", P, "--poll-interval", "0"],
        terminal_env(fake),
        [
            ("Create cluster knwalk? [y/N]", "y"),
            ("Write its credentials to your kubeconfig instead? [y/N]", "y"),
        ],
    )
    assert code == 0, text
    assert (
        f"Cluster knwalk already exists in project {P}, zone {Z}; nothing was created."
        in " ".join(text.split())
    )
    assert kubeconfig(home)["current-context"] == CTX
    assert "Traceback" not in text


def test_delete_on_a_terminal_asks_first(fake: FakeGke) -> None:
    fake.add_cluster(P, Z, "knwalk")
    code, text = run_in_terminal(
        ["cluster", "delete", "knwalk", "--project", P],
        terminal_env(fake),
        [(f"Delete cluster knwalk in project {P}, zone {Z}? Everything on it is lost. [y/N]", "n")],
    )
    assert code == 1, text
    assert fake.calls("DELETE") == []
    assert (P, Z, "knwalk") in fake.clusters


def test_busy_api_is_retried_and_an_accepted_attempt_is_followed(
    fake: FakeGke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kn_walk.gke import api

    monkeypatch.setattr(api, "RETRY_INITIAL", 0.001)
    monkeypatch.setattr(api, "RETRY_MAXIMUM", 0.002)
    fake.fail("POST", "/clusters$", 429)  # refused: retried
    fake.fail("POST", "/clusters$", 503, after=True)  # accepted, yet the client sees 503
    result = create()
    assert result.code == 0, result.err
    assert result.error.count("Note: GKE answered") == 2
    assert (
        "Note: GKE had accepted an earlier attempt; following its operation operation-"
        in result.error
    )
    # 429, then 503 (accepted): its operation is found before the create is sent again
    assert len(fake.calls("POST")) == 2
    assert kubeconfig(home)["current-context"] == CTX


def test_a_retried_create_answered_409_follows_its_own_operation(
    fake: FakeGke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kn_walk.gke import api

    monkeypatch.setattr(api, "RETRY_INITIAL", 0.001)
    fake.fail("POST", "/clusters$", 429, after=True)  # accepted, yet the client sees 429
    result = create()
    assert result.code == 0, result.err
    assert "Note: GKE answered 429; retrying with backoff" in result.error
    assert "Note: GKE had accepted an earlier attempt; following its operation" in result.error
    assert "already exists" not in result.error
    assert len(fake.calls("POST")) == 2  # the retry met our own cluster: 409
    assert kubeconfig(home)["current-context"] == CTX


def test_no_wait_json_output_is_the_operation(fake: FakeGke) -> None:
    result = create("--no-wait", "-o", "json")
    assert result.code == 0, result.err
    op = json.loads(result.out)
    assert (op["operationType"], op["status"]) == ("CREATE_CLUSTER", "PENDING")
    assert "Follow it with: knwalk cluster wait knwalk" in result.error


# --------------------------------------------------------------------------- errors users meet

QUOTA_MESSAGE = (
    'Insufficient regional quota to satisfy request: resource "CPUS": request requires '
    "'16.0' and is short '4.0'. project has a quota of '12.0' with '12.0' available. View "
    "and manage quotas at https://console.cloud.google.com/iam-admin/quotas?usage=USED&project="
    + P
    + "."
)
QUOTA_HINT = (
    "Hint: the project's quota does not cover this cluster: use a smaller --machine-type or "
    "fewer --num-nodes, or ask for more quota at "
    f"https://console.cloud.google.com/iam-admin/quotas?project={P}"
)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (QUOTA_MESSAGE, ""),  # GKE's words, as a 403 PERMISSION_DENIED without details
        ("Request denied.", "QUOTA_EXCEEDED"),  # the ErrorInfo reason alone
    ],
)
def test_a_403_for_quota_gets_the_quota_hint(fake: FakeGke, message: str, reason: str) -> None:
    fake.fail("POST", "/clusters$", 403, message=message, reason=reason)
    result = create("--yes")
    result.assert_error(1)
    assert (
        f"Error: create cluster knwalk in projects/{P}/locations/{Z}: quota exceeded: {message}"
        in result.error
    )
    assert QUOTA_HINT in result.error
    assert "roles/container.admin" not in result.error
    assert len(fake.calls("POST")) == 1  # a quota refusal is not retried


def test_a_403_without_quota_still_points_at_the_api_and_roles(fake: FakeGke) -> None:
    fake.fail("POST", "/clusters$", 403, message="Required 'container.clusters.create'.")
    result = create("--yes")
    result.assert_error(1)
    assert "permission denied: Required 'container.clusters.create'." in result.error
    assert "roles/container.admin" in result.error and "quota" not in result.error


def test_a_connection_dropped_while_polling_says_how_to_follow_the_operation(
    fake: FakeGke, home: Path
) -> None:
    from kn_walk.gke import api

    # every poll's connection is closed unanswered
    fake.fail("GET", "/operations/", 0, times=api.POLL_MISSES)
    result = create("--yes")
    result.assert_error(1)
    assert f"Error: cannot reach the GKE API at {fake.url}" in result.error
    assert f"({api.POLL_MISSES} polls in a row went unanswered)" in result.error
    assert (
        "the operation goes on in GKE: follow it again with "
        f"`knwalk cluster wait knwalk --project {P} --zone {Z}`"
    ) in result.error
    assert fake.clusters[(P, Z, "knwalk")]["status"] == "PROVISIONING"
    assert len(fake.calls("POST")) == 1


def test_a_poll_dropped_once_is_polled_again_and_the_create_finishes(
    fake: FakeGke, home: Path
) -> None:
    from kn_walk.gke import api

    fake.fail("GET", "/operations/", 0, times=api.POLL_MISSES - 1)
    result = create("--yes")
    assert result.code == 0, result.err
    assert "Cluster knwalk is RUNNING: Kubernetes" in result.text
    assert "Error" not in result.text
    assert fake.clusters[(P, Z, "knwalk")]["status"] == "RUNNING"
    assert Path(os.environ["KUBECONFIG"]).exists()
    assert len(fake.calls("POST")) == 1


@pytest.mark.parametrize(
    ("method", "path", "command"),
    [
        ("GET", "/clusters/knwalk$", ["describe", "knwalk"]),
        ("POST", "/clusters$", ["create", "--yes"]),
    ],
)
def test_a_persistent_429_is_one_note_and_one_error_with_the_right_count(
    fake: FakeGke, monkeypatch: pytest.MonkeyPatch, method: str, path: str, command: list[str]
) -> None:
    from kn_walk.gke import api

    monkeypatch.setattr(api, "RETRY_INITIAL", 0.001)
    monkeypatch.setattr(api, "RETRY_MAXIMUM", 0.002)
    monkeypatch.setattr(api, "RETRY_DEADLINE", 0.2)
    fake.fail(method, path, 429, times=10**6, message="Too many requests.")
    result = knwalk("cluster", *command, "--project", P)
    result.assert_error(1)
    attempts = len(fake.calls(method))
    assert attempts > 2
    assert result.error.count("Note: GKE answered 429") == 1
    assert result.error.count("Error: ") == 1
    assert (
        f"the GKE API still answered 429 (Too many requests.) after {attempts} attempts"
        in result.error
    )


def test_ctrl_c_during_the_create_request_says_the_cluster_may_exist(home: Path) -> None:
    with FakeGke() as server:
        held = server.hold("POST", "/clusters$")  # the create is in flight, unanswered
        env = dict(os.environ, KNWALK_GKE_ENDPOINT=server.url, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "kn_walk", "cluster", "create", "--project", P, "--yes"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=default_sigint,
        )
        try:
            assert held.arrived.wait(timeout=60), "the create never arrived"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            held.release.set()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, (out, err)
    text = " ".join(err.split())
    assert (
        "Interrupted while asking GKE to create cluster knwalk; GKE may have accepted it, "
        "so the cluster may exist."
    ) in text
    assert (
        f"Check with: knwalk cluster describe knwalk --project {P} --zone {Z} (and follow its "
        f"creation with: knwalk cluster wait knwalk --project {P} --zone {Z})"
    ) in text
    assert "Traceback" not in err


# --------------------------------------------------------------------------- release channels, summary


def test_a_channel_with_autoupgrade_off_is_refused_before_asking(fake: FakeGke) -> None:
    code, text = run_in_terminal(
        ["cluster", "create", "--project", P, "--release-channel", "regular",
         "--no-enable-autoupgrade"],
        terminal_env(fake),
        [("Create cluster knwalk? [y/N]", "y")],
    )  # fmt: skip
    flat = " ".join(text.split())
    assert code == 2, text
    assert (
        "Error: --release-channel regular and --no-enable-autoupgrade cannot be used together"
        in flat
    )
    assert "Create cluster knwalk?" not in text and "Estimated cost" not in text
    assert fake.requests == []


def test_autoupgrade_off_without_a_channel_is_a_static_version_said_in_the_summary(
    fake: FakeGke,
) -> None:
    result = create("--no-enable-autoupgrade", "--no-wait")
    assert result.code == 0, result.err
    assert (
        "Version no release channel (static version GKE default), because of "
        "--no-enable-autoupgrade (release-channel clusters always have both)"
    ) in result.text
    assert "releaseChannel" not in sent(fake)


def test_a_version_with_autoupgrade_off_says_static_version_in_the_summary(fake: FakeGke) -> None:
    result = create("--cluster-version", "1.33", "--no-enable-autorepair", "--no-wait")
    assert result.code == 0, result.err
    assert (
        "Version no release channel (static version 1.33), because of --no-enable-autorepair"
    ) in result.text
    assert "most mature channel" not in result.text
    assert "releaseChannel" not in sent(fake)


def test_the_summary_shows_the_new_flags(fake: FakeGke) -> None:
    result = create(
        "--spot", "--enable-autoscaling", "--min-nodes", "1", "--max-nodes", "4",
        "--network", "knwalk-net", "--enable-private-nodes", "--tags", "web",
        "--workload-pool", f"{P}.svc.id.goog", "--addons", "", "--no-wait",
    )  # fmt: skip
    assert result.code == 0, result.err
    text = result.text
    assert "Nodes 2 × n1-standard-8, spot VMs, COS_CONTAINERD, pd-standard 100 GB" in text
    assert "Autoscaling 1 to 4 nodes (limits given per zone)" in text
    assert "Add-ons GKE's defaults (--addons '': no add-on settings sent)" in text
    assert "Network network knwalk-net, private nodes, tags web" in text
    assert f"Identity Workload Identity pool {P}.svc.id.goog" in text
    assert "spot at $" in text and "with autoscaling between 1 and 4 nodes" in text


def test_a_project_from_google_cloud_project_is_used_only_without_gcloud_and_noted(
    fake: FakeGke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-only-project")
    config = home / "gcloud" / "configurations"
    config.mkdir(parents=True)
    (config / "config_default").write_text("[core]\nproject = gcloud-project\n")
    listed = knwalk("cluster", "list")
    assert listed.code == 0, listed.err
    assert fake.calls("GET")[-1].path == "/v1/projects/gcloud-project/locations/-/clusters"
    assert "Note: using project" not in listed.error
    (config / "config_default").write_text("")
    listed = knwalk("cluster", "list")
    assert listed.code == 0, listed.err
    assert fake.calls("GET")[-1].path == "/v1/projects/env-only-project/locations/-/clusters"
    assert (
        "Note: using project env-only-project (from GOOGLE_CLOUD_PROJECT; no gcloud project "
        "is set)." in listed.error
    )
    made = knwalk("cluster", "create", "--yes", "--no-wait")
    assert (
        "Project env-only-project (from GOOGLE_CLOUD_PROJECT; no gcloud project is set)"
        in made.text
    )
