"""``knwalk split`` against a real sandbox: the walkthrough block, explicit forms, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_cli_support import Cluster, knwalk

V1, V2, V3 = "helloworld-go-00001", "helloworld-go-00002", "helloworld-go-00003"


@pytest.fixture
def two(cluster: Cluster) -> Cluster:
    """helloworld-go with revisions 00001 (Go Sample v1) and 00002 (Go Sample v2)."""
    cluster.deploy()
    cluster.deploy("--target", "Go Sample v2")
    return cluster


def spec_traffic(cluster: Cluster) -> list[dict[str, Any]]:
    return list(cluster.ksvc()["spec"]["traffic"])


def route_traffic(cluster: Cluster) -> list[dict[str, Any]]:
    route = cluster.get("routes", "helloworld-go")
    assert route is not None
    return list(route["status"]["traffic"])


def split(cluster: Cluster, *args: str) -> Any:
    result = cluster.run("split", *args)
    assert result.code == 0, (result.out, result.err)
    return result


def test_50_50_is_exactly_the_walkthrough_block(two: Cluster) -> None:
    result = split(two, "50/50")
    assert spec_traffic(two) == [
        {"tag": "current", "revisionName": V2, "percent": 50, "latestRevision": False},
        {"tag": "candidate", "revisionName": V1, "percent": 50, "latestRevision": False},
        {"tag": "latest", "latestRevision": True, "percent": 0},
    ]
    ns = two.namespace
    assert route_traffic(two) == [
        {
            "tag": "current",
            "revisionName": V2,
            "percent": 50,
            "latestRevision": False,
            "url": f"http://current-helloworld-go.{ns}.example.com",
        },
        {
            "tag": "candidate",
            "revisionName": V1,
            "percent": 50,
            "latestRevision": False,
            "url": f"http://candidate-helloworld-go.{ns}.example.com",
        },
        {
            "tag": "latest",
            "revisionName": V2,
            "percent": 0,
            "latestRevision": True,
            "url": f"http://latest-helloworld-go.{ns}.example.com",
        },
    ]
    lines = result.lines
    assert lines[0] == "Traffic of service 'helloworld-go' updated; the Route now sends:"
    assert lines[1].split() == ["TAG", "REVISION", "PERCENT"]
    assert lines[2].split() == ["current", V2, "50%"]
    assert lines[3].split() == ["candidate", V1, "50%"]
    assert lines[4].split() == ["latest", "@latest", f"({V2})", "0%"]
    assert f"http://candidate-helloworld-go.{ns}.example.com" in result.out
    assert max(len(line) for line in lines) <= 80


def test_three_way_ratio_reaches_older_revisions(two: Cluster) -> None:
    two.deploy("--target", "Go Sample v3")
    split(two, "60/30/10")
    assert [(t.get("tag"), t.get("revisionName"), t["percent"]) for t in spec_traffic(two)] == [
        ("current", V3, 60),
        ("candidate", V2, 30),
        ("older-1", V1, 10),
        ("latest", None, 0),
    ]


def test_latest_sends_everything_back(two: Cluster) -> None:
    split(two, "50/50")
    split(two, "@latest")
    assert spec_traffic(two) == [{"latestRevision": True, "percent": 100}]
    assert [(t["revisionName"], t["percent"]) for t in route_traffic(two)] == [(V2, 100)]
    split(two, "50/50")
    split(two, "100")
    assert spec_traffic(two) == [{"latestRevision": True, "percent": 100}]


def test_explicit_revision_and_latest_percents(two: Cluster) -> None:
    split(two, f"{V1}=10%", "@latest=90")
    assert sorted((t.get("revisionName", "@latest"), t["percent"]) for t in spec_traffic(two)) == [
        ("@latest", 90),
        (V1, 10),
    ]
    route = route_traffic(two)
    assert sorted((t["revisionName"], t["percent"]) for t in route) == [(V1, 10), (V2, 90)]


def test_tag_percents_and_tag_untag(two: Cluster) -> None:
    split(two, "50/50")
    split(two, "current=20", "candidate=80")
    by_tag = {t.get("tag"): t["percent"] for t in spec_traffic(two)}
    assert by_tag == {"current": 20, "candidate": 80, "latest": 0}
    split(two, "--untag", "latest", "--tag", f"{V1}=blue")
    tags = {t.get("tag") for t in spec_traffic(two)}
    assert "latest" not in tags
    assert "blue" in tags
    assert any(t.get("tag") == "blue" and t["revisionName"] == V1 for t in route_traffic(two))


def test_same_split_twice_sends_nothing(two: Cluster) -> None:
    split(two, "50/50")
    rv = two.rv()
    result = split(two, "50/50")
    assert "unchanged" in result.lines[0]
    assert two.rv() == rv


def test_dry_run_prints_patch_and_kubectl_and_changes_nothing(two: Cluster) -> None:
    rv = two.rv()
    result = split(two, "50/50", "--dry-run")
    assert "nothing was sent" in result.out
    assert "patch ksvc helloworld-go --type merge -p '" in result.out
    assert "tag: candidate" in result.out
    assert two.rv() == rv
    as_json = split(two, "50/50", "--dry-run", "-o", "json")
    patch = json.loads(as_json.out)
    assert patch["metadata"] == {"resourceVersion": rv}
    assert [t["tag"] for t in patch["spec"]["traffic"]] == ["current", "candidate", "latest"]
    assert two.rv() == rv


def test_output_json_shape(two: Cluster) -> None:
    result = split(two, "50/50", "-o", "json")
    doc = json.loads(result.out)
    assert set(doc) == {"name", "namespace", "changed", "spec", "traffic"}
    assert doc["changed"] is True
    assert doc["namespace"] == two.namespace
    assert [t["percent"] for t in doc["traffic"]] == [50, 50, 0]
    assert set(doc["traffic"][0]) == {"tag", "revisionName", "latestRevision", "percent", "url"}


def test_no_wait_returns_the_block_sent(two: Cluster) -> None:
    result = split(two, "50/50", "--no-wait")
    assert "not waiting" in result.lines[0]


def test_conflict_is_reread_and_recomputed(two: Cluster) -> None:
    """Someone changes the Service between our read and our patch: 409, recompute, no lost write."""
    from kn_walk import knative
    from kn_walk.kube import connect

    def meddle(plan: knative.SplitPlan) -> None:
        two.custom.patch_namespaced_custom_object(
            "serving.knative.dev",
            "v1",
            two.namespace,
            "services",
            "helloworld-go",
            {"metadata": {"labels": {"touched": "yes"}}},
        )

    with connect(two.kubeconfig, "knwalk-sandbox", two.namespace) as kube:
        result = knative.split(kube, "helloworld-go", ["50/50"], on_plan=meddle, timeout=30)
    assert result.attempts == 2
    obj = two.ksvc()
    assert obj["metadata"]["labels"]["touched"] == "yes"
    assert [t.get("tag") for t in obj["spec"]["traffic"]] == ["current", "candidate", "latest"]


# --------------------------------------------------------------------------- bad input

BAD_SPLITS: list[tuple[str, list[str], int, str]] = [
    ("sum under 100", ["50/40"], 2, "sums to 90, want 100"),
    ("sum over 100", [f"{V1}=60", "@latest=60"], 2, "sum to 120, want 100"),
    ("not a number", ["abc"], 2, "REF=PERCENT"),
    ("negative percent", [f"{V1}=-5", "@latest=105"], 2, "negative"),
    ("percent over 100", ["101"], 2, "over 100"),
    ("fraction", [f"{V1}=50.5", "@latest=49.5"], 2, "not an integer"),
    ("bare percent not 100", ["50"], 2, "must be 100"),
    ("unknown revision", ["helloworld-go-00009=100"], 2, "neither a revision nor a tag"),
    ("too many ratio parts", ["40/30/30"], 2, "needs 3 revisions"),
    ("ratio with tag", ["50/50", "--tag", f"{V1}=blue"], 2, "cannot be combined"),
    ("bad tag", ["--tag", f"{V1}=Bad_Tag"], 2, "DNS-1035"),
    ("tag twice", ["--tag", f"{V1}=blue", "--tag", f"{V2}=blue"], 2, "given twice"),
    ("tag on unknown revision", ["--tag", "helloworld-go-00009=blue"], 2, "no revision"),
    ("untag unknown tag", ["--untag", "nope"], 2, "no tag 'nope'"),
    ("same target twice", [f"{V1}=50", f"{V1}=50"], 2, "given twice"),
    ("tag that is a revision name", ["--tag", f"{V1}={V2}"], 2, "also the name of a revision"),
    ("nothing to do", [], 2, "nothing to change"),
    ("empty spec", ["50/50,"], 2, "empty traffic spec"),
    ("bad output", ["50/50", "-o", "xml"], 2, "-o/--output"),
    ("bad service name", ["50/50", "-s", "Bad_Name"], 2, "DNS-1035"),
    ("unknown service", ["50/50", "-s", "missing"], 1, "not found"),
    ("unknown context", ["50/50", "--context", "nope"], 2, "context 'nope' not found"),
    ("bad wait timeout", ["50/50", "--wait-timeout", "-1"], 2, "--wait-timeout"),
]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [pytest.param(a, c, t, id=i) for i, a, c, t in BAD_SPLITS],
)
def test_bad_split_is_refused_and_changes_nothing(
    two: Cluster, args: list[str], code: int, text: str
) -> None:
    split(two, "50/50")
    rv = two.rv()
    result = two.run("split", *args)
    result.assert_error(code)
    assert text in result.error
    assert two.rv() == rv


def test_unknown_revision_error_lists_the_revisions(two: Cluster) -> None:
    result = two.run("split", "helloworld-go-00009=100")
    result.assert_error(2)
    assert f"{V2} (generation 2, latest ready)" in result.error
    assert f"{V1} (generation 1)" in result.error


def test_sum_error_shows_each_target(two: Cluster) -> None:
    result = two.run("split", "30/30")
    result.assert_error(2)
    assert f"current={V2} 30%" in result.error
    assert f"candidate={V1} 30%" in result.error


def test_unknown_service_lists_services_in_namespace(two: Cluster) -> None:
    result = two.run("split", "100", "-s", "nope")
    result.assert_error(1)
    assert "services in" in result.error
    assert "helloworld-go" in result.error


def test_ratio_needs_a_ready_revision_before_the_latest(cluster: Cluster) -> None:
    cluster.deploy()
    rv = cluster.rv()
    result = cluster.run("split", "50/50")
    result.assert_error(2)
    assert "needs 2 revisions" in result.error
    assert "knwalk deploy" in result.error
    assert cluster.rv() == rv


@pytest.mark.kubectl
def test_dry_run_kubectl_command_does_the_same_with_real_kubectl(two: Cluster) -> None:
    import shutil
    import subprocess

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    command = split(two, "50/50", "--dry-run").lines[-1]
    assert command.startswith("kubectl ")
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [(t.get("tag"), t["percent"]) for t in spec_traffic(two)] == [
        ("current", 50),
        ("candidate", 50),
        ("latest", 0),
    ]
    # and knwalk now sees nothing left to do
    assert "unchanged" in split(two, "50/50").lines[0]


def test_bad_tag_with_dry_run_or_debug_also_shows_the_webhooks_answer(two: Cluster) -> None:
    """The usage error is in the user's terms; --dry-run and --debug add the path and text
    Knative's webhook gives for the block, which is what the sandbox answers to it."""
    split(two, "50/50")
    item = f"{V1}=Bad_Tag"
    prefix = "Knative's webhook would answer: "
    plain = two.run("split", "--tag", item)
    plain.assert_error(2)
    assert f"tag 'Bad_Tag' in --tag '{item}' is not a DNS-1035 label" in plain.error
    assert "Hint: tags are lower-case letters, digits and '-'" in plain.err
    assert prefix not in plain.err
    rv = two.rv()
    shown = two.run("split", "--tag", item, "--dry-run")
    shown.assert_error(2)
    (detail,) = [line for line in shown.err.splitlines() if line.startswith(prefix)]
    # V1 carries 'candidate', so the tag would go on a new target at the end: index 3
    assert detail.endswith(": spec.traffic.tag[3]"), detail
    assert two.rv() == rv
    debug = knwalk(
        "--debug",
        "split",
        "--kubeconfig",
        str(two.kubeconfig),
        "-n",
        two.namespace,
        "--tag",
        item,
    )
    assert debug.code == 2 and detail in debug.err.splitlines()
    # what the sandbox's webhook answers to that very block
    block = [*spec_traffic(two), {"tag": "Bad_Tag", "revisionName": V1, "percent": 0}]
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as info:
        two.custom.patch_namespaced_custom_object(
            "serving.knative.dev",
            "v1",
            two.namespace,
            "services",
            "helloworld-go",
            {"spec": {"traffic": block}},
        )
    message = json.loads(str(info.value.body))["message"]
    assert message.endswith("denied the request: " + detail.removeprefix(prefix)), message


def test_a_block_target_without_latest_revision_or_revision_name_shows_as_latest() -> None:
    """``split --no-wait`` prints the block it sent: a target with neither latestRevision
    nor revisionName follows @latest (Knative's defaulting), and is shown so."""
    import io

    from rich.console import Console

    from kn_walk.cli.printers import traffic_table

    out = io.StringIO()
    block = [
        {"tag": "x", "percent": 60},
        {"revisionName": V1, "percent": 40},
        {"tag": "old", "revisionName": V2, "latestRevision": False},
    ]
    traffic_table(Console(file=out, width=80, no_color=True), None, block)
    rows = [line.split() for line in out.getvalue().splitlines()[1:]]
    assert rows == [["x", "@latest", "60%"], [V1, "40%"], ["old", V2, "0%"]]
