"""The store's owner index: the owner cascade finds dependents without a full scan."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from kn_walk.sandbox.registry.store import Store

KEYS = ("/configmaps", "apps/deployments")


def _scan(store: Store, uid: str) -> list[tuple[str, str, str]]:
    found = []
    for key in KEYS:
        for obj in store.list_objects(key):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs):
                found.append((key, obj["metadata"]["namespace"], obj["metadata"]["name"]))
    return sorted(found)


def _indexed(store: Store, uid: str) -> list[tuple[str, str, str]]:
    return sorted(
        (key, o["metadata"]["namespace"], o["metadata"]["name"]) for key, o in store.owned_by(uid)
    )


def _obj(name: str, owners: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if owners:
        meta["ownerReferences"] = [{"uid": u, "kind": "X", "name": u} for u in owners]
    return {"metadata": meta}


def test_the_index_follows_every_write(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state.db"))
    rng = random.Random(7)
    uids = ["a", "b", "c", "\ud800lone"]  # a lone surrogate is stored as bytes
    live: set[tuple[str, str]] = set()
    for step in range(400):
        key, name = rng.choice(KEYS), f"o{rng.randrange(12)}"
        if (key, name) in live and rng.random() < 0.25:
            store.delete(key, "ns", name)
            live.discard((key, name))
        else:
            owners = rng.sample(uids, rng.randrange(3))
            store.put(key, _obj(name, owners), create=(key, name) not in live)
            live.add((key, name))
        if step % 40 == 0:
            for uid in uids:
                assert _indexed(store, uid) == _scan(store, uid), (step, uid)
    for uid in uids:
        assert _indexed(store, uid) == _scan(store, uid)
    store.close()
    reopened = Store(str(tmp_path / "state.db"))
    for uid in uids:
        assert _indexed(reopened, uid) == _scan(reopened, uid)


def test_a_store_from_before_the_owner_index_is_indexed_at_start(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    store = Store(path)
    store.put("/configmaps", _obj("child", ["parent"]), create=True)
    store.close()
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE owners; UPDATE meta SET v = '1:' || v WHERE k = 'labels';")
    db.commit()
    db.close()
    reopened = Store(path)
    assert _indexed(reopened, "parent") == [("/configmaps", "ns", "child")]
