"""kube: resolving kubeconfig/context/namespace, calls and errors, watch-based waits (real sandbox)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kn_walk import knative
from kn_walk.errors import ApiError, KnwalkError, UsageError, WaitTimeout
from kn_walk.kube import ALL_NAMESPACES, Kube, connect, resolve

G, V = "serving.knative.dev", "v1"


def write_config(path: Path, current: str = "a", namespace: str | None = None) -> Path:
    ctx: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace:
        ctx["namespace"] = namespace
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": current,
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "a", "context": ctx}, {"name": "b", "context": ctx}],
            }
        )
    )
    return path


def test_resolve_follows_kubectl(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c", namespace="team")
    assert resolve(path) == ([path], "a", "team")
    assert resolve(path, "b", "other") == ([path], "b", "other")
    plain = write_config(tmp_path / "d")
    assert resolve(plain)[2] == "default"


def test_resolve_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        resolve(tmp_path / "missing")
    with pytest.raises(UsageError, match="context 'zzz' not found"):
        resolve(write_config(tmp_path / "c"), "zzz")
    with pytest.raises(KnwalkError, match="no current context"):
        resolve(write_config(tmp_path / "e", current=""))
    with pytest.raises(UsageError, match="namespace"):
        resolve(write_config(tmp_path / "f"), namespace="Not_Valid")


def test_resolve_reads_every_kubeconfig_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first"
    first.write_text("apiVersion: v1\nkind: Config\ncurrent-context: b\n")
    second = write_config(tmp_path / "second", current="")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'absent'}:{second}")
    paths, ctx, ns = resolve()
    assert (paths, ctx, ns) == ([first, second], "b", "default")


@pytest.fixture
def kube(sandbox: Any, namespace: str) -> Any:
    with connect(sandbox.kubeconfig, "knwalk-sandbox", namespace) as k:
        yield k


def test_connect_and_target(kube: Kube, sandbox: Any, namespace: str) -> None:
    assert kube.context == "knwalk-sandbox"
    assert kube.namespace == namespace
    assert kube.target.server == sandbox.api
    assert kube.target.kubectl_prefix == (
        f"kubectl --kubeconfig {sandbox.kubeconfig} --context knwalk-sandbox -n {namespace}"
    )
    assert kube.has_group_version(G, V)
    assert not kube.has_group_version("nothing.example.com", "v1")


def test_get_missing_is_none_and_errors_carry_the_status_message(kube: Kube) -> None:
    assert kube.get(G, V, "services", "absent") is None
    assert kube.get_core("ConfigMap", "absent", kube.namespace) is None
    body = knative.service_manifest("dup", kube.namespace, knative.DeployOptions())
    kube.create(G, V, "services", body)
    with pytest.raises(ApiError) as info:
        kube.create(G, V, "services", body)
    assert info.value.status == 409
    assert info.value.reason == "AlreadyExists"
    assert info.value.message == 'services.serving.knative.dev "dup" already exists'


def test_merge_patch_with_stale_resource_version_is_a_conflict(kube: Kube) -> None:
    body = knative.service_manifest("stale", kube.namespace, knative.DeployOptions())
    created = kube.create(G, V, "services", body)
    rv = created["metadata"]["resourceVersion"]
    kube.merge_patch(G, V, "services", "stale", {"metadata": {"labels": {"a": "1"}}})
    with pytest.raises(ApiError) as info:
        kube.merge_patch(
            G, V, "services", "stale", {"metadata": {"resourceVersion": rv, "labels": {"b": "2"}}}
        )
    assert info.value.conflict
    assert "the object has been modified" in info.value.message


def test_list_all_namespaces(kube: Kube) -> None:
    kube.create(
        G, V, "services", knative.service_manifest("a", kube.namespace, knative.DeployOptions())
    )
    items, rv = kube.list(G, V, "services", ALL_NAMESPACES)
    assert rv
    assert (kube.namespace, "a") in {
        (i["metadata"]["namespace"], i["metadata"]["name"]) for i in items
    }


def test_wait_for_sees_states_in_order_and_returns(kube: Kube) -> None:
    body = knative.service_manifest("w", kube.namespace, knative.DeployOptions())
    seen: list[str] = []

    def on_change(obj: dict[str, Any] | None) -> None:
        seen.append("absent" if obj is None else obj["metadata"]["resourceVersion"])
        if obj is None and len(seen) == 1:
            kube.create(G, V, "services", body)  # the listed state: absent → create it

    obj = kube.wait_for(
        G, V, "services", "w", lambda o: knative.ServiceView.from_obj(o or {}).ready_status == "True",
        timeout=30, on_change=on_change,
    )  # fmt: skip
    assert obj is not None
    assert seen[0] == "absent"
    rvs = [int(s) for s in seen[1:]]
    assert rvs == sorted(rvs) and len(rvs) >= 2


def test_wait_for_times_out_with_the_description(kube: Kube) -> None:
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        kube.wait_for(
            G, V, "services", "never", lambda o: False, timeout=1.0,
            describe=lambda o: "never appeared",
        )  # fmt: skip
    assert 1.0 <= time.monotonic() - start < 10
    assert info.value.message == "timed out after 1s: never appeared"
    assert "--wait-timeout" in info.value.hint


def test_wait_ready_timeout_says_what_is_not_observed(kube: Kube) -> None:
    body = knative.service_manifest("gen", kube.namespace, knative.DeployOptions())
    created = knative.ServiceView.from_obj(kube.create(G, V, "services", body))
    with pytest.raises(WaitTimeout, match="generation 2 not yet observed"):
        knative.wait_ready(kube, "gen", created.generation + 1, timeout=1.0)


def test_delete_waits_until_gone(kube: Kube) -> None:
    name = "d-" + uuid.uuid4().hex[:6]
    kube.create(
        G, V, "services", knative.service_manifest(name, kube.namespace, knative.DeployOptions())
    )
    knative.delete(kube, name, wait=True, timeout=30)
    assert kube.get(G, V, "services", name) is None
    with pytest.raises(KnwalkError, match="not found"):
        knative.delete(kube, name)
