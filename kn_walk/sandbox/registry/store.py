"""SQLite object store: one row per object, a global resourceVersion, an event log.

Every write runs in one SQLite transaction and is published to watchers only
after it has committed, so an acknowledged write survives ``kill -9``. The
event log keeps the most recent events (at most :data:`EVENT_LOG_SIZE` of them,
holding at most :data:`EVENT_LOG_BYTES` of objects) so watches can resume from a
resourceVersion across restarts; older ones are compacted (``410 Gone``).

A label index (one row per object and label key, written in the same
transaction as the object) lets :meth:`Store.select` answer label and field
selectors, paging included, by reading and decoding only the objects it
returns. A store written without the index (or by a version that did not keep
it up to date) is re-indexed when it is opened.

All methods are called from the sandbox's event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kn_walk.sandbox.machinery import apierrors as E

Obj = dict[str, Any]

#: how many events the log keeps for watch resumption
EVENT_LOG_SIZE = 20_000
#: and how many bytes of objects at most (etcd bounds its database by a quota as well):
#: a few writes of large objects cannot fill the disk with copies of them
EVENT_LOG_BYTES = 64 * 1024 * 1024
#: etcd's default ``--quota-backend-bytes`` (2 GiB): what the objects and the event log may
#: hold together; a write that would go past it is refused, reads and deletes still work
QUOTA_BYTES = 2 * 1024 * 1024 * 1024
#: what etcd answers a write past its quota; kube-apiserver passes it on as a 500
SPACE_EXCEEDED = "etcdserver: mvcc: database space exceeded"
#: a watcher that falls this far behind is closed (it re-lists, as informers do)
WATCH_QUEUE_SIZE = 50_000
#: what the label index holds; a store indexed under another number is re-indexed when opened
LABEL_INDEX_VERSION = 2  # 2: the owners table too
#: the largest LIMIT SQLite takes (a bigger ``limit`` means "all" anyway)
_MAX_LIMIT = 2**62
#: a selector with more terms is checked in Python (SQLite's expressions nest 1,000 deep)
_MAX_SQL_TERMS = 64


class LabelTerm(Protocol):
    """One term of a label selector (:class:`kn_walk.sandbox.machinery.selectors.Requirement`)."""

    @property
    def key(self) -> str: ...

    @property
    def op(self) -> str: ...  # "=", "!=", "in", "notin", "exists", "!"

    @property
    def values(self) -> frozenset[str]: ...

    def matches(self, labels: Mapping[str, Any]) -> bool: ...


#: a field selector term: (``metadata.name`` | ``metadata.namespace``, negated, value)
FieldTerm = tuple[str, bool, str]
_FIELD_COLUMNS = {"metadata.name": "name", "metadata.namespace": "namespace"}
#: a label term as the SQL sees it: key, negated, values (None: the key alone)
_Term = tuple[str | bytes, bool, list[str | bytes] | None]


@dataclass(frozen=True)
class _Plan:
    body: str  # the column holding the object's JSON
    source: str  # FROM ... for the rows (x: the driving table, o: objects)
    count_source: str  # FROM ... for counting them (x only)
    where: str
    args: list[Any]


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _sql_text(text: str) -> str | bytes:
    """``text`` as SQLite can bind it: a string with lone surrogates (which UTF-8 cannot
    carry) as a BLOB of its bytes, which equals nothing but the same string stored alike."""
    return text if _encodable(text) else text.encode("utf-8", "surrogatepass")


def _owner_rows(obj: Obj) -> set[tuple[str | bytes]]:
    """What the owner index holds for ``obj``: (uid,) of each owner its ownerReferences name."""
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    if not isinstance(refs, list):
        return set()
    return {
        (_sql_text(r["uid"]),)
        for r in refs
        if isinstance(r, dict) and isinstance(r.get("uid"), str)
    }


def _label_rows(obj: Obj) -> set[tuple[str | bytes, str | bytes | None]]:
    """What the label index holds for ``obj``: (key, value), a value that is no string as NULL
    (a selector's values are strings: it never equals one, and ``key``/``!key`` still see it)."""
    labels = (obj.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict) or not labels:
        return set()
    if not all(isinstance(k, str) for k in labels):
        labels = json.loads(json.dumps(labels))  # the keys a reader of the stored JSON sees
    return {(_sql_text(k), _sql_text(v) if isinstance(v, str) else None) for k, v in labels.items()}


#: the index tables kept in step with ``objects`` by every write:
#: (table, its columns after (rkey, namespace, name), the rows an object gives it)
_INDEXES: tuple[tuple[str, tuple[str, ...], Callable[[Obj], set[Any]]], ...] = (
    ("labels", ("key", "value"), _label_rows),
    ("owners", ("owner_uid",), _owner_rows),
)


@dataclass(frozen=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    rkey: str  # "group/plural", e.g. "serving.knative.dev/services", "/configmaps"
    namespace: str
    name: str
    rv: int
    obj: Obj


class Gone(Exception):
    """The requested resourceVersion is older than the event log keeps."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Conflict(Exception):
    """Optimistic concurrency failure: the stored resourceVersion differs."""


class Watcher:
    """One subscriber: a queue of events matching a filter."""

    def __init__(self, match: Callable[[Event], bool]) -> None:
        self.match = match
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(WATCH_QUEUE_SIZE)
        self.closed = False

    def offer(self, ev: Event) -> None:
        if self.closed or not self.match(ev):
            return
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class SpaceExceeded(E.StatusError):
    """A write that would take the store past its quota (etcd's NOSPACE), answered as
    kube-apiserver answers an error it does not know: 500, the message, no reason."""

    def __init__(self) -> None:
        super().__init__(500, "", SPACE_EXCEEDED)


class Store:
    def __init__(
        self,
        path: str,
        *,
        event_log_size: int = EVENT_LOG_SIZE,
        event_log_bytes: int = EVENT_LOG_BYTES,
        quota_bytes: int = QUOTA_BYTES,
    ) -> None:
        self.path = path
        self.quota_bytes = max(1, quota_bytes)
        self.event_log_size = max(1, event_log_size)
        self.event_log_bytes = max(1, event_log_bytes)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS objects (
                rkey TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                rv INTEGER NOT NULL, body TEXT NOT NULL,
                PRIMARY KEY (rkey, namespace, name));
            CREATE TABLE IF NOT EXISTS events (
                rv INTEGER PRIMARY KEY, type TEXT NOT NULL, rkey TEXT NOT NULL,
                namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS labels (
                rkey TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                key TEXT NOT NULL, value TEXT,
                PRIMARY KEY (rkey, namespace, name, key)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS labels_by_value
                ON labels (rkey, key, value, namespace, name);
            CREATE TABLE IF NOT EXISTS owners (
                rkey TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                owner_uid TEXT NOT NULL,
                PRIMARY KEY (rkey, namespace, name, owner_uid)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS owners_by_uid ON owners (owner_uid);
            """
        )
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path + suffix, 0o600)
        row = self.db.execute("SELECT v FROM meta WHERE k='rv'").fetchone()
        self._rv = int(row[0]) if row else 1
        self._watchers: list[Watcher] = []
        self._pending: list[Event] | None = None
        self._depth = 0
        self._writes_since_prune = 0
        #: the bytes of the objects the event log holds (their JSON is ASCII)
        self.event_bytes = int(
            self.db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM events").fetchone()[0]
        )
        #: the bytes of the objects stored (with :attr:`event_bytes`, what the quota bounds)
        self.object_bytes = int(
            self.db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM objects").fetchone()[0]
        )
        stamp = self.db.execute("SELECT v FROM meta WHERE k='labels'").fetchone()
        if not stamp or stamp[0] != self._label_stamp():
            self.rebuild_label_index()

    # ------------------------------------------------------------------ reads
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, rkey: str, namespace: str, name: str) -> Obj | None:
        row = self.db.execute(
            "SELECT body FROM objects WHERE rkey=? AND namespace=? AND name=?",
            (rkey, namespace, name),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def list_objects(self, rkey: str, namespace: str | None = None) -> list[Obj]:
        if namespace:
            rows = self.db.execute(
                "SELECT body FROM objects WHERE rkey=? AND namespace=? ORDER BY namespace, name",
                (rkey, namespace),
            )
        else:
            rows = self.db.execute(
                "SELECT body FROM objects WHERE rkey=? ORDER BY namespace, name", (rkey,)
            )
        return [json.loads(r[0]) for r in rows]

    def select(
        self,
        rkey: str,
        namespace: str | None = None,
        *,
        labels: Sequence[LabelTerm] = (),
        fields: Sequence[FieldTerm] = (),
        after: tuple[str, str] | None = None,
        limit: int = 0,
    ) -> tuple[list[Obj], int]:
        """Objects matching a label and field selector, in (namespace, name) order.

        Only those after ``after`` (a continue token's namespace and name), at most
        ``limit`` of them (0: all); with how many more match after the last one
        returned. Answered from the label index: only returned objects are read
        and decoded, whatever the size of the namespace.
        """
        limit = min(max(limit, 0), _MAX_LIMIT)
        if (after is not None and not (_encodable(after[0]) and _encodable(after[1]))) or len(
            labels
        ) + len(fields) > _MAX_SQL_TERMS:
            # a (hostile) continue token SQLite cannot order, or a selector too long for
            # one SQL expression: the index narrows by one term, Python checks the rest
            return self._select_in_python(rkey, namespace, labels, fields, after, limit)
        plan = self._plan(rkey, namespace, labels, fields, after)
        if plan is None:
            return [], 0
        rows = self.db.execute(
            f"SELECT x.namespace, x.name, {plan.body} {plan.source} WHERE {plan.where} "
            "ORDER BY x.namespace, x.name" + (" LIMIT ?" if limit else ""),
            [*plan.args, limit] if limit else plan.args,
        ).fetchall()
        more = 0
        if limit and len(rows) == limit:
            rest = self._plan(rkey, namespace, labels, fields, (rows[-1][0], rows[-1][1]))
            if rest is not None:
                counted = self.db.execute(
                    f"SELECT COUNT(*) {rest.count_source} WHERE {rest.where}", rest.args
                ).fetchone()
                more = int(counted[0])
        return [json.loads(r[2]) for r in rows], more

    def _select_in_python(
        self,
        rkey: str,
        namespace: str | None,
        labels: Sequence[LabelTerm],
        fields: Sequence[FieldTerm],
        after: tuple[str, str] | None,
        limit: int,
    ) -> tuple[list[Obj], int]:
        narrow = [r for r in labels if r.op in ("=", "in", "exists")][:1]
        plan = self._plan(rkey, namespace, narrow, (), None)
        if plan is None:
            return [], 0
        found = []
        for ns, name, body in self.db.execute(
            f"SELECT x.namespace, x.name, {plan.body} {plan.source} WHERE {plan.where} "
            "ORDER BY x.namespace, x.name",
            plan.args,
        ):
            if after is not None and (ns, name) <= after:
                continue
            columns = {"metadata.name": name, "metadata.namespace": ns}
            if not all((columns[f] == v) != neg for f, neg, v in fields):
                continue
            obj = json.loads(body)
            if all(r.matches((obj.get("metadata") or {}).get("labels") or {}) for r in labels):
                found.append(obj)
        page = found[:limit] if limit else found
        return page, len(found) - len(page)

    def _plan(
        self,
        rkey: str,
        namespace: str | None,
        labels: Sequence[LabelTerm],
        fields: Sequence[FieldTerm],
        after: tuple[str, str] | None,
    ) -> _Plan | None:
        """The SQL for a selection (``x`` is the driving table), or None when nothing matches."""
        terms: list[_Term] = []
        for req in labels:
            if req.op in ("=", "in", "!=", "notin"):
                values: list[str | bytes] | None = [_sql_text(v) for v in req.values]
            else:
                values = None  # the key alone: "exists" or "!"
            negated = req.op in ("!=", "notin", "!")
            if values == [] and not negated:
                return None  # `key in ()` matches nothing
            if values == [] and negated:
                continue  # `key notin ()` matches everything
            terms.append((_sql_text(req.key), negated, values))
        where = ["x.rkey = ?"]
        args: list[Any] = [rkey]
        driver = self._driver(rkey, namespace, [t for t in terms if not t[1]])
        if driver is not None:
            terms.remove(driver)
            where.append("x.key = ?")
            args.append(driver[0])
            if driver[2] is not None:
                where.append(f"x.value IN ({','.join('?' * len(driver[2]))})")
                args.extend(driver[2])
            source = (
                "FROM labels AS x INDEXED BY labels_by_value CROSS JOIN objects AS o "
                "ON o.rkey = x.rkey AND o.namespace = x.namespace AND o.name = x.name"
            )
            count_source = "FROM labels AS x INDEXED BY labels_by_value"
            body = "o.body"
        else:
            source = count_source = "FROM objects AS x"
            body = "x.body"
        if namespace:
            where.append("x.namespace = ?")
            args.append(namespace)
        if after is not None:
            if namespace:
                if after[0] > namespace:
                    return None
                if after[0] == namespace:
                    where.append("x.name > ?")
                    args.append(after[1])
            else:
                where.append("(x.namespace, x.name) > (?, ?)")
                args.extend(after)
        for column, negated, value in fields:
            where.append(f"x.{_FIELD_COLUMNS[column]} {'!=' if negated else '='} ?")
            args.append(_sql_text(value))
        for key, negated, values in terms:
            probe = (
                "EXISTS (SELECT 1 FROM labels AS l WHERE l.rkey = x.rkey "
                "AND l.namespace = x.namespace AND l.name = x.name AND l.key = ?"
            )
            args.append(key)
            if values is not None:
                probe += f" AND l.value IN ({','.join('?' * len(values))})"
                args.extend(values)
            where.append(("NOT " if negated else "") + probe + ")")
        return _Plan(body, source, count_source, " AND ".join(where), args)

    def _driver(
        self,
        rkey: str,
        namespace: str | None,
        positive: list[_Term],
    ) -> _Term | None:
        """The positive term with the fewest index entries (the query walks those)."""
        if len(positive) < 2:
            return positive[0] if positive else None
        best, fewest = positive[0], -1
        for term in positive:
            query = (
                "SELECT COUNT(*) FROM labels INDEXED BY labels_by_value WHERE rkey = ? AND key = ?"
            )
            args: list[Any] = [rkey, term[0]]
            if term[2] is not None:
                query += f" AND value IN ({','.join('?' * len(term[2]))})"
                args.extend(term[2])
            if namespace:
                query += " AND namespace = ?"
                args.append(namespace)
            n = int(self.db.execute(query, args).fetchone()[0])
            if fewest < 0 or n < fewest:
                best, fewest = term, n
        return best

    def count(self, rkey: str | None = None) -> dict[str, int]:
        if rkey:
            rows = self.db.execute(
                "SELECT rkey, COUNT(*) FROM objects WHERE rkey=? GROUP BY rkey", (rkey,)
            )
        else:
            rows = self.db.execute("SELECT rkey, COUNT(*) FROM objects GROUP BY rkey")
        return {r[0]: int(r[1]) for r in rows}

    def oldest_event_rv(self) -> int:
        row = self.db.execute("SELECT MIN(rv) FROM events").fetchone()
        return int(row[0]) if row and row[0] is not None else self._rv + 1

    def events_since(self, rv: int, rkey: str, namespace: str | None = None) -> list[Event]:
        """Events after ``rv`` for one resource; raises :class:`Gone` when compacted."""
        if rv >= self._rv:
            return []  # nothing after it yet (rv may be any uint64: SQLite holds int64)
        oldest = self.oldest_event_rv()
        if rv < oldest - 1 and rv < self._rv:
            raise Gone(rv, oldest)
        query = "SELECT rv, type, rkey, namespace, name, body FROM events WHERE rv>? AND rkey=?"
        args: list[Any] = [rv, rkey]
        if namespace:
            query += " AND namespace=?"
            args.append(namespace)
        query += " ORDER BY rv"
        return [
            Event(r[1], r[2], r[3], r[4], int(r[0]), json.loads(r[5]))
            for r in self.db.execute(query, args)
        ]

    # ----------------------------------------------------------------- writes
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one SQLite transaction; events publish after commit."""
        if self._depth == 0:
            self.db.execute("BEGIN IMMEDIATE")
            self._pending = []
            rv_before, bytes_before = self._rv, self.event_bytes
            objects_before = self.object_bytes
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
                self._rv, self.event_bytes = rv_before, bytes_before
                self.object_bytes = objects_before
                self._pending = None
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute(
                "INSERT OR REPLACE INTO meta (k, v) VALUES ('rv', ?), ('labels', ?)",
                (str(self._rv), self._label_stamp()),
            )
            self.db.execute("COMMIT")
            events, self._pending = self._pending or [], None
            for ev in events:
                for w in list(self._watchers):
                    w.offer(ev)
            self._watchers = [w for w in self._watchers if not w.closed]

    def _label_stamp(self) -> str:
        """Written with every commit: the index is current for this resourceVersion. A store
        written since by a version without the index has another rv, and is re-indexed."""
        return f"{LABEL_INDEX_VERSION}:{self._rv}"

    def rebuild_label_index(self) -> None:
        """Index every object's labels anew (a store from before the index, or one written
        by a version that did not keep it)."""
        with self.transaction():
            for table, _, _ in _INDEXES:
                self.db.execute(f"DELETE FROM {table}")
            rows = self.db.execute("SELECT rkey, namespace, name, body FROM objects").fetchall()
            for rkey, ns, name, body in rows:
                self._index(rkey, ns, name, json.loads(body), existed=False)

    def _index(self, rkey: str, ns: str, name: str, obj: Obj, *, existed: bool) -> None:
        """Bring every index table's rows for this object in step with ``obj``."""
        where = "WHERE rkey=? AND namespace=? AND name=?"
        for table, columns, rows_of in _INDEXES:
            new = rows_of(obj)
            if existed:
                cols = ", ".join(columns)
                old = set(self.db.execute(f"SELECT {cols} FROM {table} {where}", (rkey, ns, name)))
                if old == new:
                    continue
                self.db.execute(f"DELETE FROM {table} {where}", (rkey, ns, name))
            marks = ",".join("?" * (3 + len(columns)))
            self.db.executemany(
                f"INSERT INTO {table} (rkey, namespace, name, {', '.join(columns)}) "
                f"VALUES ({marks})",
                [(rkey, ns, name, *row) for row in new],
            )

    def owned_by(self, uid: str) -> list[tuple[str, Obj]]:
        """(rkey, object) of every object with an ownerReference to ``uid``, from the index."""
        rows = self.db.execute(
            "SELECT o.rkey, o.body FROM owners AS w JOIN objects AS o "
            "ON o.rkey = w.rkey AND o.namespace = w.namespace AND o.name = w.name "
            "WHERE w.owner_uid = ? ORDER BY o.rkey, o.namespace, o.name",
            (_sql_text(uid),),
        )
        return [(rk, json.loads(body)) for rk, body in rows]

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _record(self, ev: Event, body: str | None = None) -> None:
        """Log ``ev`` (``body``: its object's JSON, when the caller has it), then trim the
        log to its size: oldest events first, by count and by bytes, never this one."""
        if body is None:
            body = json.dumps(ev.obj)
        self.db.execute(
            "INSERT INTO events (rv, type, rkey, namespace, name, body) VALUES (?,?,?,?,?,?)",
            (ev.rv, ev.type, ev.rkey, ev.namespace, ev.name, body),
        )
        self.event_bytes += len(body)
        assert self._pending is not None
        self._pending.append(ev)
        self._writes_since_prune += 1
        if self._writes_since_prune >= max(1, min(1000, self.event_log_size // 10)):
            self._writes_since_prune = 0
            self._trim_events("rv <= ?", (self._rv - self.event_log_size,))
        if self.event_bytes > self.event_log_bytes:
            self._trim_to_budget(ev.rv, self.event_log_bytes)

    def _trim_events(self, where: str, args: tuple[Any, ...]) -> None:
        (freed,) = self.db.execute(
            f"SELECT COALESCE(SUM(LENGTH(body)), 0) FROM events WHERE {where}", args
        ).fetchone()
        if freed:
            self.db.execute(f"DELETE FROM events WHERE {where}", args)
            self.event_bytes -= int(freed)

    def _trim_to_budget(self, newest: int, budget: int) -> None:
        """Drop the oldest events before ``newest`` until the log's objects fit in ``budget``."""
        excess = self.event_bytes - budget
        if excess <= 0:
            return
        last = None
        for rv, size in self.db.execute(
            "SELECT rv, LENGTH(body) FROM events WHERE rv < ? ORDER BY rv", (newest,)
        ):
            last = rv
            excess -= int(size)
            if excess <= 0:
                break
        if last is not None:
            self._trim_events("rv <= ?", (last,))

    def put(
        self, rkey: str, obj: Obj, *, expect_rv: str | None = None, create: bool = False
    ) -> Obj:
        """Create or replace ``obj``; sets ``metadata.resourceVersion``.

        ``create=True`` fails with KeyError if it exists; otherwise the object
        must exist (LookupError) and, when ``expect_rv`` is given, have that
        resourceVersion (:class:`Conflict`).
        """
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        with self.transaction():
            row = self.db.execute(
                "SELECT rv, LENGTH(body) FROM objects WHERE rkey=? AND namespace=? AND name=?",
                (rkey, ns, name),
            ).fetchone()
            if create and row:
                raise KeyError(name)
            if not create and not row:
                raise LookupError(name)
            if expect_rv and row and str(row[0]) != str(expect_rv):
                raise Conflict(name)
            rv = self._next_rv()
            meta["resourceVersion"] = str(rv)
            body = json.dumps(obj)
            # etcd counts a put against its quota before applying it and refuses it past the
            # quota; deletes go through. History is compacted first (the oldest events go,
            # so a watch resuming from them gets 410, as after kube-apiserver's compaction)
            # (the object is held twice: stored, and in the event log)
            replaced = int(row[1]) if row else 0
            room = self.quota_bytes - (self.object_bytes - replaced + len(body)) - len(body)
            if room < 0:
                raise SpaceExceeded()
            self._trim_to_budget(rv, room)
            self.object_bytes += len(body) - replaced
            self.db.execute(
                "INSERT OR REPLACE INTO objects (rkey, namespace, name, rv, body) "
                "VALUES (?,?,?,?,?)",
                (rkey, ns, name, rv, body),
            )
            self._index(rkey, ns, name, obj, existed=row is not None)
            self._record(Event("ADDED" if create else "MODIFIED", rkey, ns, name, rv, obj), body)
        return obj

    def delete(self, rkey: str, namespace: str, name: str, *, expect_rv: str | None = None) -> Obj:
        """Remove an object; returns its last state with a fresh resourceVersion."""
        with self.transaction():
            row = self.db.execute(
                "SELECT rv, body FROM objects WHERE rkey=? AND namespace=? AND name=?",
                (rkey, namespace, name),
            ).fetchone()
            if not row:
                raise LookupError(name)
            if expect_rv and str(row[0]) != str(expect_rv):
                raise Conflict(name)
            obj: Obj = json.loads(row[1])
            self.object_bytes -= len(row[1])
            rv = self._next_rv()
            obj["metadata"]["resourceVersion"] = str(rv)
            for table in ("objects", *(t for t, _, _ in _INDEXES)):
                self.db.execute(
                    f"DELETE FROM {table} WHERE rkey=? AND namespace=? AND name=?",
                    (rkey, namespace, name),
                )
            self._record(Event("DELETED", rkey, namespace, name, rv, obj))
        return obj

    # ---------------------------------------------------------------- watches
    def subscribe(self, match: Callable[[Event], bool]) -> Watcher:
        w = Watcher(match)
        self._watchers.append(w)
        return w

    def unsubscribe(self, w: Watcher) -> None:
        w.closed = True
        with contextlib.suppress(ValueError):
            self._watchers.remove(w)

    def close(self) -> None:
        for w in self._watchers:
            w.close()
        self._watchers.clear()
        self.db.close()
