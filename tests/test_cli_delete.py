"""``knwalk delete`` against a real sandbox."""

from __future__ import annotations

from tests.test_cli_support import Cluster


def test_delete_with_wait_removes_everything_it_owns(cluster: Cluster) -> None:
    cluster.deploy()
    cluster.deploy("--target", "Go Sample v2")
    result = cluster.run("delete", "--yes", "--wait")
    assert result.code == 0, result.err
    assert result.lines == [
        "Service 'helloworld-go' and its Configuration, Revisions and Route deleted from "
        f"namespace '{cluster.namespace}'."
    ]
    for plural in ("services", "configurations", "revisions", "routes"):
        assert cluster.names(plural) == [], plural


def test_delete_named_service_without_wait(cluster: Cluster) -> None:
    cluster.deploy()
    cluster.deploy("other")
    result = cluster.run("delete", "other", "-y")
    assert result.code == 0, result.err
    assert result.lines == [f"Service 'other' deleted from namespace '{cluster.namespace}'."]
    assert cluster.names("services") == ["helloworld-go"]


def test_confirmation_is_required_without_a_terminal(cluster: Cluster) -> None:
    cluster.deploy()
    rv = cluster.rv()
    result = cluster.run("delete")
    result.assert_error(2)
    assert "pass --yes" in result.error
    assert cluster.rv() == rv


def test_dry_run_prints_kubectl_and_keeps_the_service(cluster: Cluster) -> None:
    cluster.deploy()
    result = cluster.run("delete", "--dry-run")
    assert result.code == 0, result.err
    assert f"-n {cluster.namespace} delete ksvc helloworld-go" in result.out
    assert cluster.names("services") == ["helloworld-go"]


def test_unknown_service(cluster: Cluster) -> None:
    cluster.deploy()
    result = cluster.run("delete", "nope", "--yes")
    result.assert_error(1)
    assert "Knative Service 'nope' not found" in result.error
    assert "helloworld-go" in result.error
    bad = cluster.run("delete", "Bad_Name", "--yes")
    bad.assert_error(2)


def test_empty_namespace_hint_says_how_to_deploy(cluster: Cluster) -> None:
    result = cluster.run("delete", "--yes")
    result.assert_error(1)
    assert "knwalk deploy helloworld-go" in result.error
