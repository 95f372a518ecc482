"""The Event recorder: aggregation, the per-namespace bound and expiry, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kn_walk.sandbox.machinery.resourcetypes import Registry
from kn_walk.sandbox.registry.events import NORMAL, WARNING, EventRecorder
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, rkey
from kn_walk.sandbox.registry.store import Store


def _setup(tmp_path: Path) -> tuple[Resources, Any]:
    registry = Registry.default()
    res = Resources(Store(str(tmp_path / "state.db")), registry)
    ns_rt = registry.get("", "v1", "namespaces")
    cm_rt = registry.get("", "v1", "configmaps")
    assert ns_rt is not None and cm_rt is not None
    res.create(ns_rt, "", {"metadata": {"name": "ns"}}, WriteOptions())
    cm = res.create(cm_rt, "ns", {"metadata": {"name": "cm", "namespace": "ns"}}, WriteOptions())
    return res, cm


def _events(res: Resources) -> list[dict[str, Any]]:
    rt = res.registry.get("", "v1", "events")
    assert rt is not None
    return res.store.list_objects(rkey(rt), "ns")


def test_repeats_raise_the_count_of_one_event(tmp_path: Path) -> None:
    res, cm = _setup(tmp_path)
    recorder = EventRecorder(res)
    for _ in range(3):
        recorder.record(cm, NORMAL, "Synced", "all good", component="ctrl")
    recorder.record(cm, WARNING, "Failed", "not good", component="ctrl", host="h", field_path="x")
    events = {e["reason"]: e for e in _events(res)}
    assert set(events) == {"Synced", "Failed"}
    synced = events["Synced"]
    assert synced["count"] == 3 and synced["type"] == "Normal"
    assert synced["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert synced["metadata"]["name"].startswith("cm.")
    failed = events["Failed"]
    assert failed["source"] == {"component": "ctrl", "host": "h"}
    assert failed["involvedObject"]["fieldPath"] == "x" and failed["count"] == 1


def test_a_namespace_keeps_only_its_newest_events(tmp_path: Path) -> None:
    res, cm = _setup(tmp_path)
    recorder = EventRecorder(res, max_per_namespace=5)
    for i in range(12):
        recorder.record(cm, NORMAL, "Step", f"step {i}", component="ctrl")
    messages = sorted(int(e["message"].split()[1]) for e in _events(res))
    assert messages == [7, 8, 9, 10, 11]


def test_expire_removes_events_older_than_the_ttl(tmp_path: Path) -> None:
    res, cm = _setup(tmp_path)
    recorder = EventRecorder(res)
    recorder.record(cm, NORMAL, "Old", "old", component="ctrl")
    recorder.record(cm, NORMAL, "New", "new", component="ctrl")
    rt = res.registry.get("", "v1", "events")
    assert rt is not None
    (old,) = [e for e in _events(res) if e["reason"] == "Old"]
    old["lastTimestamp"] = "2020-01-01T00:00:00Z"
    res.store.put(rkey(rt), old)
    assert EventRecorder(res).expire() == 1
    assert [e["reason"] for e in _events(res)] == ["New"]
    assert EventRecorder(res).expire(ttl=0) == 1
    assert _events(res) == []


def test_a_failing_write_is_not_the_callers_problem(tmp_path: Path) -> None:
    res, cm = _setup(tmp_path)
    recorder = EventRecorder(res)
    ghost = {**cm, "metadata": {**cm["metadata"], "namespace": "gone"}}
    recorder.record(ghost, NORMAL, "Synced", "no namespace", component="ctrl")  # no raise
    assert _events(res) == []
