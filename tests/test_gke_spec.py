"""Pure logic of kn_walk.gke: options → spec, removed seed flags, gcloud command, cost, progress."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kn_walk import gke
from kn_walk.errors import UsageError

P, Z = "demo-project", "us-central1-a"


def spec(**opts: Any) -> gke.ClusterSpec:
    regional = opts.pop("regional", False)
    location = opts.pop("location", "us-central1" if regional else Z)
    return gke.build_spec(
        gke.ClusterOptions(**opts), project=P, location=location, regional=regional
    )


def refused(**opts: Any) -> UsageError:
    with pytest.raises(UsageError) as info:
        spec(**opts)
    assert info.value.exit_code == 2
    assert info.value.hint
    return info.value


# --------------------------------------------------------------------------- defaults


def test_defaults_reproduce_the_walkthrough_cluster_as_gke_accepts_it_today() -> None:
    s = spec()
    assert (s.name, s.project, s.location, s.regional) == ("knwalk", P, Z, False)
    assert (s.machine_type, s.num_nodes) == ("n1-standard-8", 2)
    assert (s.disk_type, s.disk_size_gb, s.image_type) == ("pd-standard", 100, "COS_CONTAINERD")
    assert (s.cluster_version, s.release_channel) == (None, "regular")
    assert s.scopes == ("cloud-platform",)
    assert s.oauth_scopes == ("https://www.googleapis.com/auth/cloud-platform",)
    assert (s.enable_ip_alias, s.max_pods_per_node) == (True, 110)
    assert s.enabled_addons == ("HttpLoadBalancing", "HorizontalPodAutoscaling")
    assert (s.autoupgrade, s.autorepair) == (True, True)
    assert (s.logging, s.monitoring) == (("SYSTEM", "WORKLOAD"), ("SYSTEM",))
    assert s.labels == () and s.notices == ()
    assert s.parent == f"projects/{P}/locations/{Z}"


def test_gcloud_command_for_the_defaults() -> None:
    assert gke.gcloud_command(spec()) == (
        "gcloud container clusters create knwalk --project demo-project --zone us-central1-a "
        "--machine-type n1-standard-8 --num-nodes 2 --disk-type pd-standard --disk-size 100GB "
        "--image-type COS_CONTAINERD --release-channel regular --scopes cloud-platform "
        "--enable-ip-alias --default-max-pods-per-node 110 "
        "--addons HttpLoadBalancing,HorizontalPodAutoscaling --enable-autoupgrade "
        "--enable-autorepair --logging SYSTEM,WORKLOAD --monitoring SYSTEM"
    )


def test_gcloud_command_follows_each_option() -> None:
    cmd = gke.gcloud_command(
        spec(
            name="demo",
            regional=True,
            cluster_version="1.33",
            enable_ip_alias=False,
            enable_autoupgrade=False,
            addons="NodeLocalDNS=DISABLED,NetworkPolicy",
            logging="NONE",
            labels="team=web,env=dev",
            scopes="storage-ro,logging-write",
        )
    )
    assert "create demo --project demo-project --region us-central1 " in cmd
    assert "--cluster-version 1.33 " in cmd and "--release-channel" not in cmd
    assert "--no-enable-ip-alias" in cmd and "--default-max-pods-per-node" not in cmd
    assert "--no-enable-autoupgrade --enable-autorepair" in cmd
    assert "--addons NetworkPolicy,NodeLocalDNS=DISABLED" in cmd
    assert "--logging NONE --monitoring SYSTEM" in cmd
    assert "--labels env=dev,team=web" in cmd
    assert "--scopes storage-ro,logging-write" in cmd


# --------------------------------------------------------------------------- options


def test_version_without_channel_lets_gke_choose_the_channel_as_gcloud_does() -> None:
    s = spec(cluster_version="1.33.5-gke.1080000")
    assert (s.cluster_version, s.release_channel) == ("1.33.5-gke.1080000", None)
    assert spec(cluster_version="latest", release_channel="RAPID").release_channel == "rapid"


def test_scopes_expand_aliases_like_gcloud_sorted_and_deduplicated() -> None:
    s = spec(scopes="gke-default,storage-ro,https://www.googleapis.com/auth/bigquery")
    assert s.oauth_scopes == tuple(sorted(s.oauth_scopes))
    assert len(set(s.oauth_scopes)) == len(s.oauth_scopes)
    assert "https://www.googleapis.com/auth/devstorage.read_only" in s.oauth_scopes
    assert "https://www.googleapis.com/auth/bigquery" in s.oauth_scopes
    assert len(s.oauth_scopes) == 7


def test_addons_keep_gcloud_semantics() -> None:
    s = spec(addons="httploadbalancing, NodeLocalDNS=disabled ,BackupRestore=ENABLED")
    assert s.addons == (
        ("HttpLoadBalancing", True),
        ("NodeLocalDNS", False),
        ("BackupRestore", True),
    )
    assert s.enabled_addons == ("HttpLoadBalancing", "BackupRestore")


def test_no_ip_alias_drops_the_default_pod_limit_but_refuses_an_explicit_one() -> None:
    assert spec(enable_ip_alias=False).max_pods_per_node is None
    assert "VPC-native" in refused(enable_ip_alias=False, default_max_pods_per_node=64).message
    assert spec(default_max_pods_per_node=32).max_pods_per_node == 32


def test_logging_and_monitoring_are_ordered_as_gcloud_appends_them() -> None:
    s = spec(logging="scheduler,SYSTEM,api_server", monitoring="POD,SYSTEM")
    assert s.logging == ("SYSTEM", "API_SERVER", "SCHEDULER")
    assert s.monitoring == ("SYSTEM", "POD")
    assert spec(logging="NONE", monitoring="none").logging == ()


@pytest.mark.parametrize(
    ("opts", "words"),
    [
        ({"name": "Knwalk"}, "not a valid cluster name"),
        ({"name": "a" * 41}, "not a valid cluster name"),
        ({"name": "demo-"}, "not a valid cluster name"),
        ({"machine_type": "N1 standard"}, "not a machine type"),
        ({"num_nodes": 0}, "at least one node"),
        ({"disk_type": "pd-fast"}, "not a disk type"),
        ({"disk_size": "9GB"}, "below the 10 GB minimum"),
        ({"disk_size": "lots"}, "not a size"),
        ({"image_type": "cos containerd"}, "not an image type"),
        ({"cluster_version": "one.two"}, "not a Kubernetes version"),
        ({"release_channel": "beta"}, "not a release channel"),
        ({"scopes": "everything"}, "unknown scope"),
        ({"scopes": ","}, "at least one scope"),
        ({"addons": "Kiali"}, "unknown add-on"),
        ({"addons": "HttpLoadBalancing=ON"}, "ENABLED or DISABLED"),
        ({"addons": "ConfigConnector"}, "Workload Identity"),
        ({"logging": "WORKLOAD"}, "must include SYSTEM"),
        ({"logging": "SYSTEM,NONE"}, "NONE cannot be combined"),
        ({"logging": "SYSTEM,AUDIT"}, "unknown component"),
        ({"labels": "team"}, "not KEY=VALUE"),
        ({"labels": "Team=web"}, "not a valid label key"),
        ({"labels": "team=Web"}, "not a valid label value"),
        ({"default_max_pods_per_node": 0}, "out of range"),
        ({"default_max_pods_per_node": 257}, "out of range"),
    ],
)
def test_bad_values_are_usage_errors(opts: dict[str, Any], words: str) -> None:
    assert words in refused(**opts).message


@given(st.integers(min_value=10, max_value=65536), st.sampled_from(["", "GB", "gb", "G", "GiB"]))
def test_disk_size_in_gigabytes(number: int, unit: str) -> None:
    assert spec(disk_size=f"{number}{unit}").disk_size_gb == number


@given(st.integers(min_value=1, max_value=64), st.sampled_from(["TB", "T", "tb"]))
def test_disk_size_in_terabytes(number: int, unit: str) -> None:
    assert spec(disk_size=f"{number}{unit}").disk_size_gb == number * 1024


_label_key = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
_label_value = st.from_regex(r"[a-z0-9_-]{0,20}", fullmatch=True)


@given(st.dictionaries(_label_key, _label_value, min_size=1, max_size=6))
def test_labels_parse_back_to_what_was_written(labels: dict[str, str]) -> None:
    text = ",".join(f"{k}={v}" for k, v in labels.items())
    assert dict(spec(labels=text).labels) == labels


@given(st.permutations([n for n in gke.ADDONS if n != "ConfigConnector"][:6]))
def test_addon_order_on_the_command_line_does_not_matter(names: list[str]) -> None:
    parsed = spec(addons=",".join(names)).addons
    assert [n for n, _ in parsed] == [n for n in gke.ADDONS if n in names]


# --------------------------------------------------------------------------- release channel rules


def test_turning_off_autoupgrade_or_autorepair_without_a_channel_means_no_channel() -> None:
    """gcloud sends no channel then; knwalk's default REGULAR with auto-upgrade off is a
    pair GKE refuses (400 "Auto_upgrade cannot be false when release_channel REGULAR")."""
    for flag in ("enable_autoupgrade", "enable_autorepair"):
        s = spec(**{flag: False})
        assert s.release_channel is None, flag
        assert s.static_reason.startswith("--no-" + flag.replace("_", "-")), s.static_reason
    assert spec().static_reason == ""


def test_a_version_with_autoupgrade_off_is_a_static_version_not_a_channel_guess() -> None:
    """Nothing is sent either way (as gcloud); what the summary says differs: GKE cannot
    put a cluster without node auto-upgrade in the channel that has the version."""
    s = spec(cluster_version="1.33", enable_autoupgrade=False)
    assert (s.release_channel, s.cluster_version) == (None, "1.33")
    assert s.static_reason.startswith("--no-enable-autoupgrade"), s.static_reason
    assert spec(cluster_version="1.33").static_reason == ""


@pytest.mark.parametrize("channel", ["rapid", "regular", "stable", "extended"])
def test_an_explicit_channel_with_autoupgrade_or_autorepair_off_is_refused(channel: str) -> None:
    error = refused(release_channel=channel, enable_autoupgrade=False)
    assert error.message.startswith(
        f"--release-channel {channel} and --no-enable-autoupgrade cannot be used together"
    )
    assert "--release-channel None" in error.hint
    both = refused(release_channel=channel, enable_autoupgrade=False, enable_autorepair=False)
    assert "--no-enable-autoupgrade and --no-enable-autorepair" in both.message


def test_release_channel_none_is_a_static_version() -> None:
    for value in ("None", "none"):
        s = spec(release_channel=value, enable_autoupgrade=False, cluster_version="1.33")
        assert (s.release_channel, s.static_reason) == (gke.NO_CHANNEL, "")
    request = gke.message_dict(gke.create_request(spec(release_channel="None")))
    assert request["cluster"]["releaseChannel"] == {}
    assert "--release-channel None" in gke.gcloud_command(spec(release_channel="None"))


def test_a_version_with_a_channel_sends_both() -> None:
    s = spec(release_channel="stable", cluster_version="1.33")
    assert (s.release_channel, s.cluster_version) == ("stable", "1.33")


# --------------------------------------------------------------------------- the flags users reach for


@pytest.mark.parametrize(
    ("value", "gb"),
    [
        ("100", 100),
        ("100GB", 100),
        ("100gib", 100),
        ("51200MB", 50),
        ("51200M", 50),
        ("1.5TB", 1536),
        ("10737418240B", 10),
        ("1t", 1024),
    ],
)
def test_disk_sizes_in_any_binary_unit_as_gcloud(value: str, gb: int) -> None:
    assert spec(disk_size=value).disk_size_gb == gb


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("51201MB", "did you mean --disk-size 51GB?"),
        ("9.5GB", "below the 10 GB minimum"),
        ("100 GB", "not a size"),
        ("100XB", "not a size"),
        ("-5GB", "not a size"),
        ("65TB", "above the 64 TB"),
    ],
)
def test_disk_sizes_gcloud_refuses(value: str, words: str) -> None:
    error = refused(disk_size=value)
    assert words in error.message + " " + error.hint


@pytest.mark.parametrize(
    ("opts", "words"),
    [
        ({"min_nodes": 1}, "--min-nodes only apply with --enable-autoscaling"),
        ({"enable_autoscaling": True, "min_nodes": 1}, "needs --max-nodes or --total-max-nodes"),
        (
            {"enable_autoscaling": True, "max_nodes": 3, "total_max_nodes": 9},
            "cannot be used together",
        ),
        ({"enable_autoscaling": True, "min_nodes": 5, "max_nodes": 3}, "at least --min-nodes 5"),
        ({"enable_autoscaling": True, "max_nodes": 0}, "must be at least 1"),
        ({"enable_autoscaling": True, "max_nodes": 2**40}, "out of range"),
        ({"master_ipv4_cidr": "172.16.0.32/28"}, "only applies with --enable-private-nodes"),
        ({"enable_private_nodes": True, "enable_ip_alias": False}, "VPC-native"),
        (
            {"enable_private_nodes": True, "master_ipv4_cidr": "172.16.0.0/24"},
            "not an IPv4 /28 range",
        ),
        ({"enable_private_nodes": True, "master_ipv4_cidr": "nope"}, "not an IPv4 /28 range"),
        ({"node_locations": "europe-west1-b"}, "not in the cluster's region us-central1"),
        ({"node_locations": "us-central1-b"}, "must include the cluster's zone us-central1-a"),
        ({"node_locations": "us-central1"}, "is not a zone"),
        ({"workload_pool": "other-project.svc.id.goog"}, "only the cluster project's pool"),
        ({"spot": True, "preemptible": True}, "cannot be used together"),
        ({"tags": "Web"}, "not a network tag"),
        ({"tags": ","}, "at least one tag"),
        ({"service_account": "not an email"}, "not a service account email"),
        ({"network": "two words"}, "not a name or resource URL"),
        ({"num_nodes": 1001}, "out of range for one node pool"),
        ({"addons": "ConfigConnector", "workload_pool": f"{P}.svc.id.goog", "logging": "NONE"},
         "needs SYSTEM logging and monitoring"),
    ],
)  # fmt: skip
def test_new_flags_refuse_what_gke_or_gcloud_refuses(opts: dict[str, Any], words: str) -> None:
    assert words in refused(**opts).message


def test_autoscaling_range_counts_zones() -> None:
    per_zone = spec(enable_autoscaling=True, min_nodes=1, max_nodes=5, regional=True)
    assert per_zone.autoscaling == gke.Autoscaling(min_nodes=1, max_nodes=5)
    assert per_zone.node_range == (3, 15)
    total = spec(enable_autoscaling=True, total_max_nodes=6, regional=True)
    assert total.node_range == (0, 6)
    located = spec(node_locations="us-central1-c,us-central1-a")
    assert located.node_locations == ("us-central1-a", "us-central1-c")
    assert located.total_nodes == 4


def test_gke_default_scopes_on_a_service_account_are_gclouds() -> None:
    s = spec(scopes="gke-default", service_account=f"nodes@{P}.iam.gserviceaccount.com")
    assert s.oauth_scopes == (
        "https://www.googleapis.com/auth/cloud-platform",
        "https://www.googleapis.com/auth/userinfo.email",
    )
    assert len(spec(scopes="gke-default").oauth_scopes) == 6


def test_addons_empty_sends_no_addon_settings_and_says_so_in_gcloud_terms() -> None:
    s = spec(addons="")
    assert s.addons is None and s.enabled_addons == ()
    assert "addonsConfig" not in gke.message_dict(gke.create_request(s))["cluster"]
    assert "--addons '' " in gke.gcloud_command(s)
    only_removed = spec(addons="Istio")
    assert only_removed.addons is None and "Istio" in only_removed.notices[0]


def test_labels_label_the_nodes_too() -> None:
    body = gke.message_dict(gke.create_request(spec(labels="team=web")))["cluster"]
    assert body["resourceLabels"] == {"team": "web"}
    assert body["nodePools"][0]["config"]["resourceLabels"] == {"team": "web"}


def test_components_the_client_library_lacks_travel_by_number() -> None:
    s = spec(logging="SYSTEM,ADDON_MANAGER", monitoring="SYSTEM,WORKLOAD")
    assert "--monitoring WORKLOAD is deprecated in gcloud" in s.notices[0]
    body = gke.create_request(s).cluster
    pb = type(body.logging_config.component_config).pb
    assert list(pb(body.logging_config.component_config).enable_components) == [1, 6]
    mpb = type(body.monitoring_config.component_config).pb
    assert list(mpb(body.monitoring_config.component_config).enable_components) == [1, 2]


# --------------------------------------------------------------------------- removed seed options


@pytest.mark.parametrize(
    ("opts", "message", "hint"),
    [
        (
            {"istio_config": "auth=MTLS_PERMISSIVE"},
            "Istio add-on was removed from GKE",
            "knwalk install",
        ),
        (
            {"cloud_run_config": "load-balancer-type=INTERNAL"},
            "Cloud Run for Anthos add-on was removed",
            "knwalk install",
        ),
        (
            {"enable_basic_auth": True},
            "basic authentication was removed from GKE",
            "Google credentials",
        ),
        (
            {"username": "admin"},
            "--username: basic authentication was removed",
            "Google credentials",
        ),
        (
            {"password": "hunter2"},
            "--password: basic authentication was removed",
            "Google credentials",
        ),
        (
            {"image_type": "COS"},
            "Docker-based node images were removed from GKE in 1.24",
            "COS_CONTAINERD",
        ),
        ({"image_type": "ubuntu"}, "Docker-based node images", "UBUNTU_CONTAINERD"),
        (
            {"cluster_version": "1.15"},
            "Kubernetes 1.15 is no longer offered by GKE",
            "omit --cluster-version",
        ),
        (
            {"cluster_version": "1.15.12-gke.2"},
            "Kubernetes 1.15 is no longer offered",
            "release channel",
        ),
    ],
)
def test_insisting_on_a_removed_seed_feature_stops(
    opts: dict[str, Any], message: str, hint: str
) -> None:
    err = refused(**opts)
    assert message in err.message
    assert hint in err.hint
    assert "hunter2" not in err.message + err.hint


@pytest.mark.parametrize(
    ("addons", "note"),
    [
        (
            "HorizontalPodAutoscaling,HttpLoadBalancing,Istio",
            "--addons Istio: the Istio add-on was removed from GKE; `knwalk install` installs Istio and Knative itself",
        ),
        (
            "HttpLoadBalancing,CloudRun",
            "--addons CloudRun: the Cloud Run for Anthos (Knative serving) add-on was removed from GKE",
        ),
        ("KubeRun,HttpLoadBalancing", "--addons KubeRun: the KubeRun add-on was removed from GKE"),
    ],
)
def test_removed_addons_in_a_list_are_explained_and_dropped(addons: str, note: str) -> None:
    s = spec(addons=addons)
    assert len(s.notices) == 1
    assert s.notices[0].startswith(note)
    assert s.notices[0].endswith("creating the cluster without it.")
    assert "Istio" not in dict(s.addons) and "CloudRun" not in dict(s.addons)


def test_no_basic_auth_is_explained_and_ignored() -> None:
    s = spec(enable_basic_auth=False)
    assert s.notices == (
        "--no-enable-basic-auth: basic authentication no longer exists on GKE, so there is "
        "nothing to disable; ignored.",
    )


def test_stackdriver_flag_becomes_todays_logging_and_monitoring() -> None:
    on = spec(enable_stackdriver_kubernetes=True)
    assert (on.logging, on.monitoring) == (("SYSTEM", "WORKLOAD"), ("SYSTEM",))
    assert "--logging SYSTEM,WORKLOAD --monitoring SYSTEM" in on.notices[0]
    off = spec(enable_stackdriver_kubernetes=False)
    assert (off.logging, off.monitoring) == ((), ())
    assert "--logging NONE --monitoring NONE" in off.notices[0]
    explicit = spec(enable_stackdriver_kubernetes=False, logging="SYSTEM")
    assert explicit.logging == ("SYSTEM",)


# --------------------------------------------------------------------------- cost


def test_cost_of_the_default_cluster_from_list_prices() -> None:
    cost = gke.estimate_cost(spec())
    node = 8 * 0.031611 + 30 * 0.004237  # n1-standard-8: 8 vCPU, 30 GB
    disk = 100 * 0.04 / 730
    assert cost.nodes == 2
    assert math.isclose(cost.node_hourly or 0, node)
    assert math.isclose(cost.disk_hourly or 0, disk)
    assert math.isclose(cost.total, 2 * (node + disk) + 0.10)
    text = cost.describe()
    assert text.startswith("about $0.87/hour (2 × n1-standard-8 at $0.3800")
    assert "cluster fee $0.10" in text
    assert "us-central1" in cost.source and "cloud.google.com" in cost.source


def test_cost_of_a_regional_cluster_counts_three_zones() -> None:
    cost = gke.estimate_cost(spec(regional=True, machine_type="e2-standard-4"))
    assert cost.nodes == 6
    assert math.isclose(cost.node_hourly or 0, 4 * 0.02181159 + 16 * 0.00292353)


def test_spot_and_preemptible_nodes_are_priced_as_a_range_below_on_demand() -> None:
    on_demand = gke.estimate_cost(spec())
    for flag, word in (("spot", "spot"), ("preemptible", "preemptible")):
        cost = gke.estimate_cost(spec(**{flag: True}))
        node = on_demand.node_hourly or 0
        assert cost.node_prices == pytest.approx((node * 0.09, node * 0.40))
        low, high = cost.hourly(2)
        assert low < high < on_demand.total
        assert f"2 × n1-standard-8 {word} at $" in cost.describe()
        assert "60–91% below the on-demand $0.3800" in cost.describe()


def test_autoscaling_shows_the_cost_range() -> None:
    cost = gke.estimate_cost(spec(enable_autoscaling=True, min_nodes=1, max_nodes=5))
    low, _ = cost.hourly(1)
    _, high = cost.hourly(5)
    assert f"with autoscaling between 1 and 5 nodes, ${low:.2f}–${high:.2f}/hour" in (
        cost.describe()
    )


def test_cost_says_what_it_cannot_price() -> None:
    cost = gke.estimate_cost(spec(machine_type="custom-2-12288", disk_type="hyperdisk-balanced"))
    assert cost.node_hourly is None and cost.disk_hourly is None
    assert math.isclose(cost.total, 0.10)
    assert "custom-2-12288 nodes (no list price on record)" in cost.describe()
    assert "hyperdisk-balanced disks" in cost.describe()


# --------------------------------------------------------------------------- progress


def _op(**fields: Any) -> Any:
    from google.cloud import container_v1

    return container_v1.Operation(**fields)


def test_progress_from_metric_pairs() -> None:
    op = _op(
        status="RUNNING",
        progress={
            "metrics": [
                {"name": "CLUSTER_DEPLOYING", "int_value": 1},
                {"name": "CLUSTER_DEPLOYING_TOTAL", "int_value": 4},
                {"name": "nodes done", "int_value": 1},
                {"name": "nodes total", "int_value": 4},
            ]
        },
    )
    p = gke.progress_of(op)
    assert (p.status, p.fraction) == ("RUNNING", 0.25)
    scaled = _op(
        status="RUNNING",
        progress={
            "name": "Deploying",
            "metrics": [
                {"name": "progress", "double_value": 0.56},
                {"name": "progress scale", "double_value": 1.0},
            ],
        },
    )
    assert gke.progress_of(scaled).fraction == pytest.approx(0.56)
    assert gke.progress_of(scaled).stage == "Deploying"


def test_progress_from_stages_names_the_current_one() -> None:
    op = _op(
        status="RUNNING",
        progress={
            "stages": [
                {"name": "Creating control plane", "status": "DONE"},
                {"name": "Creating node pool", "status": "RUNNING", "metrics": [
                    {"name": "nodes done", "int_value": 1}, {"name": "nodes total", "int_value": 2}]},
                {"name": "Health checking", "status": "PENDING"},
            ]
        },
    )  # fmt: skip
    p = gke.progress_of(op)
    assert p.stage == "Creating node pool"
    assert p.fraction == pytest.approx(1.5 / 3)


def test_progress_without_information_and_when_done() -> None:
    assert gke.progress_of(_op(status="PENDING", detail="queued")) == gke.Progress(
        "PENDING", None, "queued"
    )
    assert gke.progress_of(_op(status="DONE")).fraction == 1.0


def test_operation_error_reads_error_then_status_message() -> None:
    assert gke.operation_error(_op(status="DONE")) is None
    assert gke.operation_error(_op(status="DONE", error={"code": 13, "message": "boom"})) == "boom"
    assert gke.operation_error(_op(status="DONE", status_message="old style")) == "old style"


# --------------------------------------------------------------------------- endpoint


@pytest.mark.parametrize(
    ("value", "url", "anonymous"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", True),
        ("http://localhost:9/", "http://localhost:9", True),
        ("http://[::1]:8080", "http://[::1]:8080", True),
        ("https://gke.example.com", "https://gke.example.com", False),
        (
            "https://staging-container.sandbox.googleapis.com/",
            "https://staging-container.sandbox.googleapis.com",
            False,
        ),
    ],
)
def test_endpoint_override(value: str, url: str, anonymous: bool) -> None:
    endpoint = gke.resolve_endpoint(value, {})
    assert (endpoint.url, endpoint.anonymous, endpoint.source) == (url, anonymous, "--gke-endpoint")


def test_endpoint_from_environment_and_default() -> None:
    env = {gke.ENDPOINT_ENV: "http://127.0.0.1:1"}
    assert gke.resolve_endpoint(None, env).source == gke.ENDPOINT_ENV
    assert gke.resolve_endpoint("https://a.example", env).url == "https://a.example"
    default = gke.resolve_endpoint(None, {})
    assert default.url is None and not default.anonymous
    assert default.display == "https://container.googleapis.com"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("http://10.0.0.5:8080", "only on a loopback address"),
        ("http://gke.example.com", "only on a loopback address"),
        ("ftp://127.0.0.1", "not an http(s) URL"),
        ("127.0.0.1:8080", "not an http(s) URL"),
        ("https://gke.example.com/v1", "must not have a path"),
    ],
)
def test_bad_endpoints_are_refused(value: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        gke.resolve_endpoint(value, {})
    assert words in info.value.message
