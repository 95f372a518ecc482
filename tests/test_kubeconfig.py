"""kubeconfig merge / remove / resolution against real files on disk."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kn_walk import kubeconfig
from kn_walk.errors import KnwalkError

EXISTING = """\
apiVersion: v1
kind: Config
preferences: {}
clusters:
- name: gke_proj_us-central1-a_prod
  cluster:
    certificate-authority-data: LS0tLS1CRUdJTi==
    server: https://34.1.2.3
- name: kind-dev
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
users:
- name: gke_proj_us-central1-a_prod
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl
      provideClusterInfo: true
- name: kind-dev
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
contexts:
- name: gke_proj_us-central1-a_prod
  context:
    cluster: gke_proj_us-central1-a_prod
    user: gke_proj_us-central1-a_prod
- name: kind-dev
  context:
    cluster: kind-dev
    user: kind-dev
    namespace: team-a
current-context: kind-dev
x-custom-extension:
  keep: me
"""

NEW: dict[str, Any] = {
    "name_cluster": "knwalk-sandbox",
    "cluster": {"server": "http://127.0.0.1:8001"},
    "name_user": "knwalk-sandbox",
    "user": {"token": "sandbox"},
    "name_context": "knwalk-sandbox",
    "context": {"cluster": "knwalk-sandbox", "user": "knwalk-sandbox", "namespace": "default"},
}


def _names(config: dict[str, Any], section: str) -> list[str]:
    return [entry["name"] for entry in config[section]]


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(EXISTING)
    return path


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_merge_keeps_existing_entries_and_unknown_keys(existing: Path) -> None:
    before = _read(existing)
    kubeconfig.merge_entry(existing, **NEW)
    after = _read(existing)

    for section in ("clusters", "users", "contexts"):
        assert after[section][:2] == before[section]
        assert _names(after, section)[2] == "knwalk-sandbox"
    assert after["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert after["x-custom-extension"] == {"keep": "me"}
    assert after["current-context"] == "knwalk-sandbox"
    assert after["contexts"][2]["context"]["namespace"] == "default"


def test_merge_without_make_current_keeps_current_context(existing: Path) -> None:
    kubeconfig.merge_entry(existing, make_current=False, **NEW)
    assert kubeconfig.current_context(existing) == "kind-dev"


def test_merge_replaces_entry_of_same_name_in_place(existing: Path) -> None:
    kubeconfig.merge_entry(
        existing,
        name_cluster="kind-dev",
        cluster={"server": "https://10.0.0.1"},
        name_user="kind-dev",
        user={"token": "new"},
        name_context="kind-dev",
        context={"cluster": "kind-dev", "user": "kind-dev"},
    )
    after = _read(existing)
    assert _names(after, "clusters") == ["gke_proj_us-central1-a_prod", "kind-dev"]
    assert after["clusters"][1] == {"name": "kind-dev", "cluster": {"server": "https://10.0.0.1"}}
    assert after["users"][1] == {"name": "kind-dev", "user": {"token": "new"}}
    assert "namespace" not in after["contexts"][1]["context"]
    assert after["clusters"][0]["cluster"]["server"] == "https://34.1.2.3"


def test_merge_collapses_duplicate_names(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "clusters:\n- name: a\n  cluster: {server: one}\n- name: b\n  cluster: {server: b}\n"
        "- name: a\n  cluster: {server: two}\n"
    )
    kubeconfig.merge_entry(
        path,
        name_cluster="a",
        cluster={"server": "three"},
        name_user="u",
        user={},
        name_context="c",
        context={"cluster": "a", "user": "u"},
    )
    clusters = _read(path)["clusters"]
    assert clusters == [
        {"name": "a", "cluster": {"server": "three"}},
        {"name": "b", "cluster": {"server": "b"}},
    ]


def test_merge_into_missing_file_creates_dir_0700_and_file_0600(
    tmp_path: Path, umask_zero: None
) -> None:
    path = tmp_path / "home" / ".kube" / "config"
    kubeconfig.merge_entry(path, **NEW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    config = _read(path)
    assert config["apiVersion"] == "v1"
    assert config["kind"] == "Config"
    assert _names(config, "contexts") == ["knwalk-sandbox"]
    assert config["current-context"] == "knwalk-sandbox"


def test_written_file_is_0600_even_if_it_was_world_readable(
    existing: Path, umask_zero: None
) -> None:
    existing.chmod(0o666)
    kubeconfig.merge_entry(existing, **NEW)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600


def test_null_sections_written_by_kubectl_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: null\nusers: null\ncontexts: null\n")
    kubeconfig.merge_entry(path, **NEW)
    assert _names(_read(path), "users") == ["knwalk-sandbox"]


def test_symlinked_config_is_written_through(existing: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(existing)
    kubeconfig.merge_entry(link, **NEW)
    assert link.is_symlink()
    assert "knwalk-sandbox" in _names(_read(existing), "contexts")


def test_no_temp_file_left_behind(existing: Path) -> None:
    kubeconfig.merge_entry(existing, **NEW)
    assert sorted(p.name for p in existing.parent.iterdir()) == ["config"]


def test_original_survives_when_serialisation_fails(existing: Path) -> None:
    before = existing.read_bytes()
    bad = dict(NEW, cluster={"server": object()})
    with pytest.raises(yaml.YAMLError):
        kubeconfig.merge_entry(existing, **bad)
    assert existing.read_bytes() == before
    assert sorted(p.name for p in existing.parent.iterdir()) == ["config"]


def test_original_survives_when_replace_fails(
    existing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = existing.read_bytes()

    def fail(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KnwalkError, match="cannot write kubeconfig"):
        kubeconfig.merge_entry(existing, **NEW)
    assert existing.read_bytes() == before
    assert sorted(p.name for p in existing.parent.iterdir()) == ["config"]


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken"
    path.write_text("clusters:\n- name: a\n  cluster: {server: [unterminated\n")
    with pytest.raises(KnwalkError) as info:
        kubeconfig.load(path)
    assert str(path) in info.value.message
    assert "line" in info.value.message
    assert info.value.hint
    assert info.value.exit_code == 1
    before = path.read_bytes()
    with pytest.raises(KnwalkError):
        kubeconfig.merge_entry(path, **NEW)
    assert path.read_bytes() == before


@pytest.mark.parametrize("text", ["- just\n- a list\n", "plain string\n", "clusters: {a: 1}\n"])
def test_wrong_shape_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(KnwalkError, match=str(path)):
        kubeconfig.load(path)


def test_load_missing_and_empty_give_skeleton(tmp_path: Path) -> None:
    skeleton = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": "",
        "preferences": {},
    }
    assert kubeconfig.load(tmp_path / "nope") == skeleton
    empty = tmp_path / "empty"
    empty.write_text("")
    assert kubeconfig.load(empty) == skeleton
    assert not (tmp_path / "nope").exists()


def test_remove_entries(existing: Path) -> None:
    changed = kubeconfig.remove_entries(
        existing, cluster="kind-dev", user="kind-dev", context="kind-dev"
    )
    assert changed
    after = _read(existing)
    for section in ("clusters", "users", "contexts"):
        assert _names(after, section) == ["gke_proj_us-central1-a_prod"]
    assert after["current-context"] == ""
    assert after["x-custom-extension"] == {"keep": "me"}
    assert kubeconfig.current_context(existing) is None
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600


def test_remove_keeps_current_context_pointing_elsewhere(existing: Path) -> None:
    kubeconfig.remove_entries(
        existing,
        cluster="gke_proj_us-central1-a_prod",
        user="gke_proj_us-central1-a_prod",
        context="gke_proj_us-central1-a_prod",
    )
    assert kubeconfig.current_context(existing) == "kind-dev"
    assert _names(_read(existing), "contexts") == ["kind-dev"]


def test_remove_absent_names_changes_nothing(existing: Path, tmp_path: Path) -> None:
    before = existing.read_bytes()
    assert not kubeconfig.remove_entries(existing, cluster="x", user="y", context="z")
    assert existing.read_bytes() == before
    missing = tmp_path / "missing"
    assert not kubeconfig.remove_entries(missing, context="z")
    assert not missing.exists()


def test_merge_then_remove_round_trips(existing: Path) -> None:
    before = _read(existing)
    kubeconfig.merge_entry(existing, make_current=False, **NEW)
    kubeconfig.remove_entries(
        existing, cluster="knwalk-sandbox", user="knwalk-sandbox", context="knwalk-sandbox"
    )
    assert _read(existing) == before


def test_resolve_path_explicit_env_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first, second = tmp_path / "a", tmp_path / "b"
    env = {"HOME": str(home), "KUBECONFIG": f"{os.pathsep}{first}{os.pathsep}{second}"}
    assert kubeconfig.resolve_path(tmp_path / "x", environ=env) == tmp_path / "x"
    assert kubeconfig.resolve_path(None, environ=env) == first
    assert kubeconfig.resolve_path(None, environ={"KUBECONFIG": ""}) == (
        Path("~/.kube/config").expanduser()
    )


def test_several_kubeconfig_paths_write_to_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    second.write_text(EXISTING)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))
    target = kubeconfig.resolve_path()
    assert target == first
    kubeconfig.merge_entry(target, **NEW)
    assert _names(_read(first), "contexts") == ["knwalk-sandbox"]
    assert second.read_text() == EXISTING


def test_default_path_is_home_kube_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig.resolve_path() == tmp_path / ".kube" / "config"


def test_current_context_and_namespace_follow_kubectl_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("contexts:\n- name: other\n  context: {cluster: c, namespace: first-ns}\n")
    second.write_text(EXISTING)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))
    assert kubeconfig.current_context(None) == "kind-dev"
    assert kubeconfig.context_namespace(None) == "team-a"
    assert kubeconfig.context_namespace(None, "other") == "first-ns"
    assert kubeconfig.context_namespace(None, "gke_proj_us-central1-a_prod") is None
    assert kubeconfig.context_namespace(None, "no-such-context") is None
    assert kubeconfig.current_context(first) is None
    assert kubeconfig.context_namespace(first) is None
    assert kubeconfig.context_namespace(second) == "team-a"
