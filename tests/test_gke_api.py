"""kn_walk.gke.Gke through the real ClusterManagerClient (REST) against tests/fake_gke.py.

The assertions read the JSON the library put on the wire, field by field; enums
arrive as integers because the REST transport asks for ``enum-encoding=int``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import container_v1 as api

from kn_walk import gke
from kn_walk.errors import KnwalkError, WaitTimeout
from tests.fake_gke import FAKE_CA, FakeGke

P, Z, R = "demo-project", "us-central1-a", "us-central1"
SYSTEM = int(api.LoggingComponentConfig.Component.SYSTEM_COMPONENTS)
WORKLOADS = int(api.LoggingComponentConfig.Component.WORKLOADS)


@pytest.fixture
def fake() -> Iterator[FakeGke]:
    with FakeGke() as server:
        yield server


def client(fake: FakeGke, **kwargs: Any) -> gke.Gke:
    endpoint = gke.resolve_endpoint(fake.url, {})
    kwargs.setdefault("retry_initial", 0.001)
    kwargs.setdefault("retry_maximum", 0.004)
    return gke.Gke(gke.make_client(endpoint), endpoint=endpoint, **kwargs)


def spec(location: str = Z, **opts: Any) -> gke.ClusterSpec:
    return gke.build_spec(
        gke.ClusterOptions(**opts), project=P, location=location, regional=location.count("-") == 1
    )


def sent(fake: FakeGke) -> dict[str, Any]:
    """The cluster body of the last create the library sent."""
    posts = fake.calls("POST")
    assert posts, "nothing was sent"
    body = posts[-1].body
    assert set(body) == {"cluster"}, body  # parent travels in the URL
    cluster: dict[str, Any] = body["cluster"]
    return cluster


def get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


# --------------------------------------------------------------------------- the request


def test_create_sends_the_defaults_field_by_field(fake: FakeGke) -> None:
    op = client(fake).create(spec())
    call = fake.calls("POST")[0]
    assert call.path == f"/v1/projects/{P}/locations/{Z}/clusters"
    assert call.query == {"$alt": ["json;enum-encoding=int"]}
    c = sent(fake)
    assert c["name"] == "knwalk"
    assert "nodeConfig" not in c and "initialNodeCount" not in c  # deprecated cluster-level fields
    assert len(c["nodePools"]) == 1
    pool = c["nodePools"][0]
    assert pool["name"] == "default-pool"
    assert pool["initialNodeCount"] == 2
    assert pool["config"] == {
        "machineType": "n1-standard-8",
        "diskSizeGb": 100,
        "diskType": "pd-standard",
        "imageType": "COS_CONTAINERD",
        "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
    }
    assert pool["management"] == {"autoUpgrade": True, "autoRepair": True}
    assert c["ipAllocationPolicy"] == {"useIpAliases": True}
    assert c["defaultMaxPodsConstraint"] == {"maxPodsPerNode": "110"}  # int64 as a JSON string
    assert c["addonsConfig"] == {
        "httpLoadBalancing": {},  # disabled=false is proto3's default, so it is omitted
        "horizontalPodAutoscaling": {},
        "kubernetesDashboard": {"disabled": True},
        "networkPolicyConfig": {"disabled": True},
    }
    assert c["loggingConfig"] == {"componentConfig": {"enableComponents": [SYSTEM, WORKLOADS]}}
    assert c["monitoringConfig"] == {"componentConfig": {"enableComponents": [SYSTEM]}}
    assert c["releaseChannel"] == {"channel": int(api.ReleaseChannel.Channel.REGULAR)}
    assert "initialClusterVersion" not in c
    assert "resourceLabels" not in c
    assert set(c) == {
        "name",
        "nodePools",
        "ipAllocationPolicy",
        "defaultMaxPodsConstraint",
        "addonsConfig",
        "loggingConfig",
        "monitoringConfig",
        "releaseChannel",
    }
    assert (op.operation_type, op.status) == (
        api.Operation.Type.CREATE_CLUSTER,
        api.Operation.Status.PENDING,
    )


M = api.MonitoringComponentConfig.Component
L = api.LoggingComponentConfig.Component


@pytest.mark.parametrize(
    ("opts", "path", "value"),
    [
        ({"name": "demo"}, "name", "demo"),
        ({"machine_type": "e2-standard-4"}, "nodePools.0.config.machineType", "e2-standard-4"),
        ({"num_nodes": 5}, "nodePools.0.initialNodeCount", 5),
        ({"disk_type": "pd-ssd"}, "nodePools.0.config.diskType", "pd-ssd"),
        ({"disk_size": "1TB"}, "nodePools.0.config.diskSizeGb", 1024),
        ({"image_type": "ubuntu_containerd"}, "nodePools.0.config.imageType", "ubuntu_containerd"),
        ({"cluster_version": "1.33"}, "initialClusterVersion", "1.33"),
        (
            {"release_channel": "stable"},
            "releaseChannel.channel",
            int(api.ReleaseChannel.Channel.STABLE),
        ),
        (
            {"release_channel": "extended"},
            "releaseChannel.channel",
            int(api.ReleaseChannel.Channel.EXTENDED),
        ),
        (
            {"scopes": "storage-ro,logging-write"},
            "nodePools.0.config.oauthScopes",
            [
                "https://www.googleapis.com/auth/devstorage.read_only",
                "https://www.googleapis.com/auth/logging.write",
            ],
        ),
        ({"default_max_pods_per_node": 64}, "defaultMaxPodsConstraint.maxPodsPerNode", "64"),
        ({"enable_ip_alias": False}, "ipAllocationPolicy", {"useRoutes": True}),
        ({"enable_autoupgrade": False}, "nodePools.0.management", {"autoRepair": True}),
        ({"enable_autorepair": False}, "nodePools.0.management", {"autoUpgrade": True}),
        (
            {"addons": "NetworkPolicy,NodeLocalDNS,GcsFuseCsiDriver"},
            "addonsConfig",
            {
                "httpLoadBalancing": {"disabled": True},
                "horizontalPodAutoscaling": {"disabled": True},
                "kubernetesDashboard": {"disabled": True},
                "networkPolicyConfig": {},
                "dnsCacheConfig": {"enabled": True},
                "gcsFuseCsiDriverConfig": {"enabled": True},
            },
        ),
        ({"addons": "NodeLocalDNS=DISABLED"}, "addonsConfig.dnsCacheConfig", {}),
        ({"logging": "NONE"}, "loggingConfig", {"componentConfig": {}}),
        (
            {"logging": "SYSTEM,API_SERVER"},
            "loggingConfig.componentConfig.enableComponents",
            [int(L.SYSTEM_COMPONENTS), int(L.APISERVER)],
        ),
        (
            {"monitoring": "SYSTEM,POD,DCGM"},
            "monitoringConfig.componentConfig.enableComponents",
            [int(M.SYSTEM_COMPONENTS), int(M.POD), int(M.DCGM)],
        ),
        ({"labels": "team=web,env=dev"}, "resourceLabels", {"env": "dev", "team": "web"}),
    ],
)
def test_create_maps_each_option_to_gclouds_field(
    fake: FakeGke, opts: dict[str, Any], path: str, value: Any
) -> None:
    client(fake).create(spec(**opts))
    assert get(sent(fake), path) == value


def test_version_without_channel_sends_no_release_channel(fake: FakeGke) -> None:
    client(fake).create(spec(cluster_version="latest"))
    c = sent(fake)
    assert c["initialClusterVersion"] == "latest"
    assert "releaseChannel" not in c


def test_regional_cluster_goes_to_the_region(fake: FakeGke) -> None:
    client(fake).create(spec(R))
    assert fake.calls("POST")[0].path == f"/v1/projects/{P}/locations/{R}/clusters"
    assert fake.clusters[(P, R, "knwalk")]["currentNodeCount"] == 6


# --------------------------------------------------------------------------- operations


@pytest.mark.parametrize("style", ["metrics", "stages"])
def test_wait_reports_progress_pending_running_done(fake: FakeGke, style: str) -> None:
    fake.progress_style = style
    g = client(fake)
    op = g.create(spec())
    seen: list[gke.Progress] = []
    done = g.wait(op, project=P, location=Z, on_progress=seen.append, poll_interval=0)
    assert done.status == api.Operation.Status.DONE
    statuses = [p.status for p in seen]
    assert statuses[0] == "PENDING" and statuses[-1] == "DONE"
    assert statuses.count("RUNNING") == fake.steps
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(set(fractions)) > 2
    if style == "stages":
        assert any(p.stage == "Creating control plane" for p in seen)
    assert len(fake.calls("GET")) == fake.steps + 1
    cluster = g.get(P, Z, "knwalk")
    assert gke.cluster_status(cluster) == "RUNNING"
    assert (cluster.endpoint, cluster.master_auth.cluster_ca_certificate) == (
        "203.0.113.10",
        FAKE_CA,
    )


def test_operation_ending_in_error_fails_with_its_message(fake: FakeGke) -> None:
    fake.operation_error = "Insufficient regional quota to satisfy request: resource CPUS"
    g = client(fake)
    op = g.create(spec())
    with pytest.raises(gke.OperationFailed) as info:
        g.wait(op, project=P, location=Z, poll_interval=0)
    assert info.value.message.endswith(
        "(CREATE_CLUSTER) failed: Insufficient regional quota to satisfy request: resource CPUS"
    )
    assert "knwalk cluster delete" in info.value.hint
    assert gke.cluster_status(g.get(P, Z, "knwalk")) == "ERROR"


def test_wait_gives_up_at_its_deadline_naming_the_state(fake: FakeGke) -> None:
    fake.steps = 100
    fake.progress_style = "stages"
    g = client(fake)
    op = g.create(spec())
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(WaitTimeout) as info:
        g.wait(op, project=P, location=Z, poll_interval=0, timeout=30, clock=lambda: next(ticks))
    assert "still RUNNING after 30s, stage 'Creating control plane'" in info.value.message
    assert "knwalk cluster wait" in info.value.hint


def test_wait_sleeps_between_polls_with_the_interval(fake: FakeGke) -> None:
    g = client(fake)
    op = g.create(spec())
    naps: list[float] = []
    g.wait(op, project=P, location=Z, poll_interval=5.0, sleep=naps.append)
    assert naps == [5.0] * (fake.steps + 1)


def test_pending_operation_finds_the_clusters_running_operation(fake: FakeGke) -> None:
    g = client(fake)
    assert g.pending_operation(P, Z, "knwalk") is None
    op = g.create(spec())
    g.create(spec(name="other"))
    found = g.pending_operation(P, Z, "knwalk")
    assert found is not None and found.name == op.name
    g.wait(found, project=P, location=Z, poll_interval=0)
    assert g.pending_operation(P, Z, "knwalk") is None


# --------------------------------------------------------------------------- get, list, delete


def test_get_list_delete(fake: FakeGke) -> None:
    fake.add_cluster(P, Z, "alpha")
    fake.add_cluster(P, R, "beta")
    fake.add_cluster("other-project", Z, "gamma")
    g = client(fake)
    everywhere, missing = g.list_clusters(P)
    assert [c.name for c in everywhere] == ["beta", "alpha"]
    assert missing == []
    assert fake.calls("GET")[-1].path == f"/v1/projects/{P}/locations/-/clusters"
    only_zone, _ = g.list_clusters(P, Z)
    assert [c.name for c in only_zone] == ["alpha"]
    assert g.list_clusters("empty-project") == ([], [])

    op = g.delete(P, Z, "alpha")
    assert fake.calls("DELETE")[0].path == f"/v1/projects/{P}/locations/{Z}/clusters/alpha"
    assert op.operation_type == api.Operation.Type.DELETE_CLUSTER
    g.wait(op, project=P, location=Z, poll_interval=0)
    with pytest.raises(gke.GkeApiError) as info:
        g.get(P, Z, "alpha")
    assert info.value.code == 404
    assert info.value.message == (
        f"cluster alpha in projects/{P}/locations/{Z}: "
        f"Not found: projects/{P}/locations/{Z}/clusters/alpha."
    )
    assert "knwalk cluster list" in info.value.hint


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "status", "words", "hint"),
    [
        (400, "INVALID_ARGUMENT", "rejected: bad request", "get-server-config"),
        (403, "PERMISSION_DENIED", "permission denied: bad request", "container.googleapis.com"),
        (409, "ALREADY_EXISTS", "already exists: bad request", "knwalk cluster describe"),
    ],
)
def test_api_errors_become_one_line_errors(
    fake: FakeGke, code: int, status: str, words: str, hint: str
) -> None:
    fake.fail("POST", "/clusters$", code, message="bad request")
    with pytest.raises(gke.GkeApiError) as info:
        client(fake).create(spec())
    err = info.value
    assert (err.code, err.status) == (code, status)
    assert err.message == f"create cluster knwalk in projects/{P}/locations/{Z}: {words}"
    assert hint in err.hint
    assert len(fake.calls("POST")) == 1  # not retried


def test_unsupported_version_is_refused_by_the_server(fake: FakeGke) -> None:
    with pytest.raises(gke.GkeApiError) as info:
        client(fake).create(spec(cluster_version="1.99"))
    assert info.value.code == 400
    assert 'Master version "1.99" is unsupported.' in info.value.message
    assert fake.clusters == {}


def test_existing_cluster_is_409(fake: FakeGke) -> None:
    fake.add_cluster(P, Z, "knwalk")
    with pytest.raises(gke.GkeApiError) as info:
        client(fake).create(spec())
    assert info.value.code == 409
    assert "Already exists" in info.value.message


@pytest.mark.parametrize("code", [429, 503])
def test_rate_limits_and_unavailability_are_retried_with_backoff(fake: FakeGke, code: int) -> None:
    retried: list[Exception] = []
    g = client(fake, on_retry=retried.append)
    fake.fail("POST", "/clusters$", code, times=2)
    g.create(spec())
    assert len(fake.calls("POST")) == 3
    assert [getattr(e, "code", None) for e in retried] == [code, code]
    fake.fail("GET", "/operations$", code, times=1)  # list operations
    fake.fail("GET", "/operations/", code, times=1)  # get operation
    fake.fail("GET", "/clusters/", code, times=1)  # get cluster
    pending = g.pending_operation(P, Z, "knwalk")
    assert pending is not None
    g.wait(pending, project=P, location=Z, poll_interval=0)
    assert g.get(P, Z, "knwalk").name == "knwalk"
    assert len(retried) == 5


def test_retries_end_with_a_clear_error(fake: FakeGke) -> None:
    g = client(fake, retry_deadline=0.05)
    fake.fail(
        "GET", "/clusters/", 503, times=10_000, message="The service is currently unavailable."
    )
    with pytest.raises(gke.GkeApiError) as info:
        g.get(P, Z, "knwalk")
    err = info.value
    assert err.code == 503
    assert "still answered 503 (The service is currently unavailable.) after" in err.message
    assert "try again" in err.hint
    assert len(fake.calls("GET")) >= 2


def test_unreachable_endpoint(fake: FakeGke) -> None:
    url = fake.url
    fake.stop()
    endpoint = gke.resolve_endpoint(url, {})
    g = gke.Gke(gke.make_client(endpoint), endpoint=endpoint, retry_deadline=0.01)
    with pytest.raises(KnwalkError) as info:
        g.get(P, Z, "knwalk")
    assert info.value.message.startswith(f"cannot reach the GKE API at {url}")
    assert "--gke-endpoint" in info.value.hint


def test_describe_output_redacts_basic_auth_secrets(fake: FakeGke) -> None:
    fake.add_cluster(
        P, Z, "legacy", masterAuth={"username": "admin", "password": "s3cret", "clientKey": "KEY"}
    )
    cluster = client(fake).get(P, Z, "legacy")
    doc = gke.cluster_dict(cluster)
    assert doc["masterAuth"]["password"] == "<redacted>"
    assert doc["masterAuth"]["clientKey"] == "<redacted>"
    assert "s3cret" not in repr(doc) and "KEY" not in repr(doc["masterAuth"])
