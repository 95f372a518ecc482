"""The store's label index: a selection answered from it is exactly what a full scan finds.

Property-based (hypothesis): after any sequence of writes, for any label and field
selector, namespace, continue position and limit, ``Store.select`` returns what
scanning every object and filtering it returns (the algorithm lists used before
the index), and the index holds exactly each stored object's labels. Then by
hand: restart, a store from before the index (and one written by a version that
did not keep it), rollback, cascade, namespace deletion, deletecollection, and
paging through the API with continue tokens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kn_walk.sandbox.machinery.resourcetypes import Registry, ResourceType
from kn_walk.sandbox.machinery.selectors import (
    FIELD_GETTERS,
    Requirement,
    parse_field_selector,
    parse_label_selector,
)
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, rkey
from kn_walk.sandbox.registry.store import FieldTerm, Obj, Store
from tests.test_reliability_support import SOAK

SETTINGS = settings(
    max_examples=1000 if SOAK else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=not SOAK,
)

RKEYS = ["/configmaps", "example.dev/things"]
NAMESPACES = ["", "a", "b"]
NAMES = ["x", "y", "z", "x0", "w"]
KEYS = ["app", "tier", "example.com/team", "k"]
VALUES = ["", "a", "b", "c-1"]
#: at the store level a label value can be anything JSON holds
ANY_VALUE = st.one_of(st.sampled_from(VALUES), st.none(), st.just(1), st.just(True))


def _obj(ns: str, name: str, labels: dict[str, Any] | None) -> Obj:
    meta: Obj = {"name": name}
    if ns:
        meta["namespace"] = ns
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Thing", "metadata": meta, "data": {"v": name}}


def _labels_match(reqs: Sequence[Requirement], obj: Obj) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


def _fields_match(fields: Sequence[FieldTerm], obj: Obj) -> bool:
    return all((FIELD_GETTERS[f](obj) == v) != neg for f, neg, v in fields)


def full_scan(
    store: Store,
    key: str,
    namespace: str | None,
    reqs: Sequence[Requirement],
    fields: Sequence[FieldTerm],
    after: tuple[str, str] | None,
    limit: int,
) -> tuple[list[Obj], int]:
    """What a list answered before the index: read everything, filter, slice."""
    matched = []
    for obj in store.list_objects(key, namespace):
        meta = obj["metadata"]
        if after and (meta.get("namespace", ""), meta["name"]) <= after:
            continue
        if _labels_match(reqs, obj) and _fields_match(fields, obj):
            matched.append(obj)
    page = matched[:limit] if limit else matched
    return page, len(matched) - len(page)


def index_rows(store: Store) -> list[tuple[Any, ...]]:
    return sorted(
        store.db.execute("SELECT rkey, namespace, name, key, value FROM labels"),
        key=repr,
    )


def expected_index_rows(store: Store) -> list[tuple[Any, ...]]:
    """The index as it must be: one row per stored object and label (a non-string as NULL)."""
    rows = []
    for key, ns, name, body in store.db.execute("SELECT rkey, namespace, name, body FROM objects"):
        labels = json.loads(body)["metadata"].get("labels") or {}
        for k, v in labels.items():
            rows.append((key, ns, name, k, v if isinstance(v, str) else None))
    return sorted(rows, key=repr)


def assert_index_consistent(store: Store) -> None:
    assert index_rows(store) == expected_index_rows(store)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(str(tmp_path / "state.db"))
    yield s
    s.close()


# --------------------------------------------------------------------------- properties

LABELS = st.one_of(st.none(), st.dictionaries(st.sampled_from(KEYS), ANY_VALUE, max_size=3))
WRITES = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "delete"]),
        st.sampled_from(RKEYS),
        st.sampled_from(NAMESPACES),
        st.sampled_from(NAMES),
        LABELS,
    ),
    max_size=30,
)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(["=", "!=", "in", "notin", "exists", "!"]))
    key = draw(st.sampled_from([*KEYS, "missing"]))
    if op in ("=", "!="):
        return Requirement(key, op, frozenset([draw(st.sampled_from(VALUES))]))
    if op in ("in", "notin"):
        return Requirement(key, op, frozenset(draw(st.sets(st.sampled_from(VALUES), max_size=3))))
    return Requirement(key, op)


QUERY = st.tuples(
    st.sampled_from(RKEYS),
    st.sampled_from([None, *NAMESPACES]),
    st.lists(requirements(), max_size=3),
    st.lists(
        st.tuples(
            st.sampled_from(["metadata.name", "metadata.namespace"]),
            st.booleans(),
            st.sampled_from(NAMES + NAMESPACES),
        ),
        max_size=2,
    ),
    st.one_of(
        st.none(),
        st.tuples(st.sampled_from([*NAMESPACES, "a0", "c"]), st.sampled_from([*NAMES, "", "x1"])),
    ),
    st.integers(0, 4),
)


def apply_writes(store: Store, writes: list[tuple[str, str, str, str, Any]]) -> None:
    for op, key, ns, name, labels in writes:
        exists = store.get(key, ns, name) is not None
        if op == "delete":
            if exists:
                store.delete(key, ns, name)
        else:
            store.put(key, _obj(ns, name, labels), create=not exists)


@SETTINGS
@given(writes=WRITES, queries=st.lists(QUERY, min_size=1, max_size=8))
def test_selection_equals_full_scan(
    tmp_path_factory: pytest.TempPathFactory,
    writes: list[tuple[str, str, str, str, Any]],
    queries: list[Any],
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as tmp:
        store = Store(str(Path(tmp) / "state.db"))
        try:
            apply_writes(store, writes)
            assert_index_consistent(store)
            for key, ns, reqs, fields, after, limit in queries:
                want = full_scan(store, key, ns, reqs, fields, after, limit)
                got = store.select(key, ns, labels=reqs, fields=fields, after=after, limit=limit)
                assert got == want
                # the way selectors SQL cannot hold are answered: narrowed by one term
                assert store._select_in_python(key, ns, reqs, fields, after, limit) == want
        finally:
            store.close()


@SETTINGS
@given(writes=WRITES, query=QUERY)
def test_paging_through_a_selection_visits_each_match_once(
    tmp_path_factory: pytest.TempPathFactory,
    writes: list[tuple[str, str, str, str, Any]],
    query: Any,
) -> None:
    key, ns, reqs, fields, _, limit = query
    limit = max(limit, 1)
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as tmp:
        store = Store(str(Path(tmp) / "state.db"))
        try:
            apply_writes(store, writes)
            everything, _ = full_scan(store, key, ns, reqs, fields, None, 0)
            seen: list[Obj] = []
            after = None
            while True:
                page, more = store.select(
                    key, ns, labels=reqs, fields=fields, after=after, limit=limit
                )
                seen += page
                assert more == len(everything) - len(seen)
                if not more:
                    break
                meta = page[-1]["metadata"]
                after = (meta.get("namespace", ""), meta["name"])
            assert seen == everything
        finally:
            store.close()


# --------------------------------------------------------------------------- by hand


def test_strings_utf8_cannot_carry(store: Store) -> None:
    """Lone surrogates (valid in JSON, not in UTF-8) in labels, selectors and continue tokens."""
    odd = "\ud800x"
    store.put("/configmaps", _obj("a", "x", {odd: "\udfff", "app": "a"}), create=True)
    store.put("/configmaps", _obj("a", "y", {"app": odd}), create=True)
    assert_index_consistent_loose(store)
    queries: list[tuple[list[Requirement], list[FieldTerm], tuple[str, str] | None]] = [
        ([Requirement(odd, "=", frozenset(["\udfff"]))], [], None),
        ([Requirement(odd, "exists")], [], None),
        ([Requirement(odd, "!")], [], None),
        ([Requirement("app", "in", frozenset([odd, "a"]))], [], None),
        ([Requirement("app", "notin", frozenset([odd]))], [], None),
        ([], [("metadata.name", False, odd)], None),
        ([], [("metadata.namespace", True, odd)], None),
        ([Requirement("app", "exists")], [], ("a", odd)),
        ([], [], (odd, "x")),
        ([], [], ("a", "x\udc00")),
    ]
    for reqs, fields, after in queries:
        for limit in (0, 1):
            got = store.select(
                "/configmaps", None, labels=reqs, fields=fields, after=after, limit=limit
            )
            assert got == full_scan(store, "/configmaps", None, reqs, fields, after, limit)
            got = store.select(
                "/configmaps", "a", labels=reqs, fields=fields, after=after, limit=limit
            )
            assert got == full_scan(store, "/configmaps", "a", reqs, fields, after, limit)


def assert_index_consistent_loose(store: Store) -> None:
    """As :func:`assert_index_consistent`, a string UTF-8 cannot carry held as its bytes."""

    def sql(v: Any) -> Any:
        if isinstance(v, str) and any("\ud800" <= c <= "\udfff" for c in v):
            return v.encode("utf-8", "surrogatepass")
        return v

    want = [(r[0], r[1], r[2], sql(r[3]), sql(r[4])) for r in expected_index_rows(store)]
    assert index_rows(store) == sorted(want, key=repr)


def test_selectors_too_long_for_one_sql_expression(store: Store) -> None:
    """SQLite nests expressions 1,000 deep; a query string can hold a longer selector."""
    for i, name in enumerate(NAMES):
        store.put("/configmaps", _obj("a", name, {"app": VALUES[i % 4], "k": "v"}), create=True)
    for text in (
        ",".join(f"!zz{i}" for i in range(1500)),
        "k=v," + ",".join(f"app!=n{i}" for i in range(1500)),
        ",".join(["app in (a,b)"] * 1200),
    ):
        reqs = parse_label_selector(text)
        for limit in (0, 2):
            got = store.select("/configmaps", "a", labels=reqs, limit=limit)
            assert got == full_scan(store, "/configmaps", "a", reqs, [], None, limit)
            assert got[0]


def test_limit_beyond_what_sqlite_takes(store: Store) -> None:
    for name in NAMES:
        store.put("/configmaps", _obj("a", name, {"app": "a"}), create=True)
    got, more = store.select("/configmaps", "a", labels=parse_label_selector("app=a"), limit=2**80)
    assert [o["metadata"]["name"] for o in got] == sorted(NAMES) and more == 0


def test_a_rolled_back_write_leaves_the_index_as_it_was(store: Store) -> None:
    store.put("/configmaps", _obj("a", "x", {"app": "a"}), create=True)
    before = index_rows(store)
    with pytest.raises(RuntimeError), store.transaction():
        store.put("/configmaps", _obj("a", "x", {"app": "b", "tier": "t"}))
        store.put("/configmaps", _obj("a", "y", {"app": "a"}), create=True)
        store.delete("/configmaps", "a", "x")
        raise RuntimeError("abort")
    assert index_rows(store) == before
    assert_index_consistent(store)


def test_restart_keeps_the_index_without_rebuilding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "state.db")
    store = Store(path)
    for i, name in enumerate(NAMES):
        store.put("/configmaps", _obj("a", name, {"app": VALUES[i % 4]}), create=True)
    store.delete("/configmaps", "a", "y")
    store.close()

    def no_rebuild(self: Store) -> None:
        raise AssertionError("the index was current: no rebuild needed")

    monkeypatch.setattr(Store, "rebuild_label_index", no_rebuild)
    store = Store(path)
    try:
        assert_index_consistent(store)
        reqs = parse_label_selector("app in (a,b)")
        assert store.select("/configmaps", "a", labels=reqs) == full_scan(
            store, "/configmaps", "a", reqs, [], None, 0
        )
    finally:
        store.close()


#: store.py's schema before the label index (what an existing sandbox's state.db holds)
OLD_SCHEMA = """
CREATE TABLE objects (
    rkey TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (rkey, namespace, name));
CREATE TABLE events (
    rv INTEGER PRIMARY KEY, type TEXT NOT NULL, rkey TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


def _old_write(path: str, key: str, obj: Obj) -> None:
    """A write as a version of knwalk without the index makes it: object, event, rv."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT v FROM meta WHERE k='rv'").fetchone()
        rv = (int(row[0]) if row else 1) + 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(rv)
        body = json.dumps(obj)
        db.execute(
            "INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?)",
            (key, meta.get("namespace", ""), meta["name"], rv, body),
        )
        db.execute(
            "INSERT INTO events VALUES (?,?,?,?,?,?)",
            (rv, "ADDED", key, meta.get("namespace", ""), meta["name"], body),
        )
        db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('rv', ?)", (str(rv),))
        db.execute("COMMIT")
    finally:
        db.close()


def test_a_store_from_before_the_index_is_indexed_when_opened(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.close()
    for i, name in enumerate(NAMES):
        _old_write(path, "/configmaps", _obj("a", name, {"app": VALUES[i % 4], "k": "v"}))
    store = Store(path)
    try:
        assert_index_consistent(store)
        assert len(index_rows(store)) == 2 * len(NAMES)
        assert store.resource_version == len(NAMES) + 1  # the rv went on where it was
        for text in ("app=a", "app in (a,b),k=v", "app!=a", "!tier", "k"):
            reqs = parse_label_selector(text)
            assert store.select("/configmaps", "a", labels=reqs) == full_scan(
                store, "/configmaps", "a", reqs, [], None, 0
            )
        # and kept from then on
        store.put("/configmaps", _obj("a", "new", {"app": "a"}), create=True)
        assert_index_consistent(store)
    finally:
        store.close()


def test_writes_by_a_version_without_the_index_are_indexed_at_the_next_start(
    tmp_path: Path,
) -> None:
    """A downgrade and an upgrade again: the old version's writes did not touch the index."""
    path = str(tmp_path / "state.db")
    store = Store(path)
    store.put("/configmaps", _obj("a", "x", {"app": "a"}), create=True)
    store.put("/configmaps", _obj("a", "y", {"app": "a"}), create=True)
    store.close()
    _old_write(path, "/configmaps", _obj("a", "z", {"app": "a"}))  # new, labelled
    _old_write(path, "/configmaps", _obj("a", "x", {"app": "b"}))  # relabelled
    store = Store(path)
    try:
        assert_index_consistent(store)
        got, _ = store.select("/configmaps", "a", labels=parse_label_selector("app=a"))
        assert [o["metadata"]["name"] for o in got] == ["y", "z"]
    finally:
        store.close()


_WRITER = """
import sys
from kn_walk.sandbox.registry.store import Store

store = Store(sys.argv[1])
i = 0
while True:
    name = f"c{i % 40}"
    labels = {"app": ["a", "b", "c"][i % 3], "i": str(i)}
    obj = {"metadata": {"name": name, "namespace": "n", "labels": labels}}
    if i % 7 == 6 and store.get("/configmaps", "n", name) is not None:
        store.delete("/configmaps", "n", name)
    else:
        store.put("/configmaps", obj, create=store.get("/configmaps", "n", name) is None)
    print(i, flush=True)  # acknowledged: committed
    i += 1
"""


def test_kill_9_mid_writes_leaves_the_index_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Object and labels commit together: after SIGKILL the index needs no rebuild."""
    path = str(tmp_path / "state.db")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, path],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 500:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert acked >= 500

    def no_rebuild(self: Store) -> None:
        raise AssertionError("the index was committed with the objects: no rebuild needed")

    monkeypatch.setattr(Store, "rebuild_label_index", no_rebuild)
    store = Store(path)
    try:
        assert store.resource_version >= acked + 2  # every acknowledged write is there
        assert_index_consistent(store)
        for text in ("app=a", "app in (b,c)", "app!=a", "i"):
            reqs = parse_label_selector(text)
            assert store.select("/configmaps", "n", labels=reqs) == full_scan(
                store, "/configmaps", "n", reqs, [], None, 0
            )
    finally:
        store.close()


# ------------------------------------------------------------- through Resources and the API


def _types(res: Resources) -> tuple[ResourceType, ResourceType]:
    ns_type = res.registry.get("", "v1", "namespaces")
    cm_type = res.registry.get("", "v1", "configmaps")
    assert ns_type is not None and cm_type is not None
    return ns_type, cm_type


def _cm(name: str, labels: dict[str, str], owner: Obj | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    return {"metadata": meta, "data": {"k": name}}


def _check_lists(res: Resources, cm_type: ResourceType, namespace: str | None) -> None:
    """Every selector through Resources.list_objects, page by page, against a full scan."""
    for label_sel, field_sel in [
        ("", ""),
        ("app=web", ""),
        ("app in (web,db),tier", ""),
        ("app!=web", "metadata.name!=c1"),
        ("!tier", ""),
        ("", "metadata.name=c2"),
    ]:
        reqs = parse_label_selector(label_sel)
        fields = [(f.field, f.negate, f.value) for f in parse_field_selector(field_sel, "x")]
        want, _ = full_scan(res.store, rkey(cm_type), namespace, reqs, fields, None, 0)
        for limit in (0, 1, 2, 5):
            got: list[Obj] = []
            token = None
            while True:
                items, _, token, remaining = res.list_objects(
                    cm_type,
                    namespace,
                    label_sel=label_sel,
                    field_sel=field_sel,
                    limit=limit,
                    continue_token=token,
                )
                got += items
                if not token:
                    assert remaining is None
                    break
                assert remaining == len(want) - len(got)
            assert got == want


def test_index_follows_update_delete_cascade_and_namespace_deletion(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state.db"))
    res = Resources(store, Registry.default())
    ns_type, cm_type = _types(res)
    opts = WriteOptions(manager="test")
    try:
        for ns in ("n1", "n2"):
            res.create(ns_type, "", {"metadata": {"name": ns}}, opts)
        owner = res.create(cm_type, "n1", _cm("owner", {"app": "web", "tier": "a"}), opts)
        for i in range(6):
            ns = "n1" if i % 2 else "n2"
            labels = {"app": ["web", "db", "cache"][i % 3]}
            if i % 2:
                labels["tier"] = "b"
            res.create(cm_type, ns, _cm(f"c{i}", labels, owner if ns == "n1" else None), opts)
        assert_index_consistent(store)
        _check_lists(res, cm_type, None)
        _check_lists(res, cm_type, "n1")

        # update: relabel, drop a label, drop all labels; a merge patch
        c3 = res.get(cm_type, "n1", "c3")
        c3["metadata"]["labels"] = {"app": "db", "new": "yes"}
        res.update(cm_type, "n1", "c3", c3, opts)
        c4 = res.get(cm_type, "n2", "c4")
        del c4["metadata"]["labels"]
        res.update(cm_type, "n2", "c4", c4, opts)
        res.patch(
            cm_type,
            "n2",
            "c0",
            "application/merge-patch+json",
            {"metadata": {"labels": {"app": None, "tier": "z"}}},
            opts,
        )
        assert_index_consistent(store)
        _check_lists(res, cm_type, None)

        # delete one; then the owner: its dependents go with it (cascade)
        res.delete(cm_type, "n2", "c2")
        res.delete(cm_type, "n1", "owner")
        assert store.list_objects(rkey(cm_type), "n1") == []
        assert_index_consistent(store)
        _check_lists(res, cm_type, None)

        # orphaning keeps the dependents, without their owner reference
        owner = res.create(cm_type, "n2", _cm("owner2", {"app": "web"}), opts)
        res.create(cm_type, "n2", _cm("dep", {"app": "web", "tier": "b"}, owner), opts)
        res.delete(cm_type, "n2", "owner2", propagation="Orphan")
        assert res.find(cm_type, "n2", "dep") is not None
        assert_index_consistent(store)
        _check_lists(res, cm_type, "n2")

        # a namespace's deletion takes its contents, and their labels
        res.delete(ns_type, "", "n2")
        assert store.list_objects(rkey(cm_type)) == []
        assert (
            store.db.execute("SELECT COUNT(*) FROM labels WHERE rkey='/configmaps'").fetchone()[0]
            == 0
        )
        assert_index_consistent(store)
    finally:
        store.close()


# api.py keeps its state under a str key (``app["state"]``), which aiohttp warns about
@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
def test_deletecollection_and_paged_lists_over_http(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from kn_walk.sandbox.apiserver.api import ApiState, create_app

    store = Store(str(tmp_path / "state.db"))
    res = Resources(store, Registry.default())
    ns_type, cm_type = _types(res)
    opts = WriteOptions(manager="test")
    res.create(ns_type, "", {"metadata": {"name": "n"}}, opts)
    for i in range(12):
        labels = {"app": "web" if i % 3 else "db", "i": str(i)}
        res.create(cm_type, "n", _cm(f"c{i:02}", labels), opts)
    base = "/api/v1/namespaces/n/configmaps"

    async def main() -> None:
        async with TestClient(TestServer(create_app(ApiState(res, "tok")))) as client:
            headers = {"Authorization": "Bearer tok"}

            async def names(**params: str) -> tuple[list[str], Obj]:
                r = await client.get(base, params=params, headers=headers)
                assert r.status == 200
                body = await r.json()
                return [o["metadata"]["name"] for o in body["items"]], body["metadata"]

            got, meta = await names(labelSelector="app=web", limit="3")
            assert got == ["c01", "c02", "c04"] and meta["remainingItemCount"] == 5
            token = meta["continue"]
            assert json.loads(base64.urlsafe_b64decode(token))["name"] == "c04"
            got, meta = await names(labelSelector="app=web", limit="3", **{"continue": token})
            assert got == ["c05", "c07", "c08"] and meta["remainingItemCount"] == 2
            r = await client.delete(base, params={"labelSelector": "app=db"}, headers=headers)
            assert r.status == 200
            deleted = [o["metadata"]["name"] for o in (await r.json())["items"]]
            assert deleted == ["c00", "c03", "c06", "c09"]
            # the page after the token is the same: what was deleted was not on it
            got, meta = await names(labelSelector="app=web", limit="3", **{"continue": token})
            assert got == ["c05", "c07", "c08"] and meta["remainingItemCount"] == 2
            got, meta = await names(labelSelector="app")
            assert got == [f"c{i:02}" for i in range(12) if i % 3] and "continue" not in meta
            got, _ = await names(labelSelector="app=db")
            assert got == []
            r = await client.delete(
                base, params={"fieldSelector": "metadata.name=c01"}, headers=headers
            )
            assert [o["metadata"]["name"] for o in (await r.json())["items"]] == ["c01"]

    try:
        asyncio.run(main())
        assert_index_consistent(store)
        _check_lists(res, cm_type, "n")
    finally:
        store.close()


def test_sandbox_state_dir_from_before_the_index(tmp_path: Path) -> None:
    """A real sandbox's state dir, its index dropped (as made before the index existed) and
    an object added behind its back: after a restart, label lists see everything."""
    from kubernetes import client, config

    from kn_walk.sandbox import control
    from tests.conftest import start_sandbox

    sb = start_sandbox(tmp_path)
    try:
        api = config.new_client_from_config(config_file=str(sb.kubeconfig), context=control.CONTEXT)
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "old"}})
        for i in range(4):
            body = {"metadata": {"name": f"c{i}", "labels": {"app": "web" if i % 2 else "db"}}}
            core.create_namespaced_config_map("old", body)
        api.close()
    finally:
        control.stop(sb.state_dir)
    path = str(sb.state_dir / "state.db")
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE labels; DELETE FROM meta WHERE k = 'labels';")
    db.close()
    extra = _obj("old", "c9", {"app": "web"})
    extra.update(apiVersion="v1", kind="ConfigMap")
    _old_write(path, "/configmaps", extra)
    info, started = control.start(sb.state_dir)
    assert started
    try:
        control.write_kubeconfig(info, sb.kubeconfig)
        api = config.new_client_from_config(config_file=str(sb.kubeconfig), context=control.CONTEXT)
        core = client.CoreV1Api(api)
        web = core.list_namespaced_config_map("old", label_selector="app=web")
        assert [c.metadata.name for c in web.items] == ["c1", "c3", "c9"]
        db_items = core.list_namespaced_config_map("old", label_selector="app=db")
        assert [c.metadata.name for c in db_items.items] == ["c0", "c2"]
        api.close()
    finally:
        control.stop(sb.state_dir)
