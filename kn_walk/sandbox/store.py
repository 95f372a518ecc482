"""SQLite object store: one row per object, a global resourceVersion, an event log.

Every write runs in one SQLite transaction and is published to watchers only
after it has committed, so an acknowledged write survives ``kill -9``. The
event log keeps the most recent events so watches can resume from a
resourceVersion across restarts; older ones are compacted (``410 Gone``).

All methods are called from the sandbox's event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

#: how many events the log keeps for watch resumption
EVENT_LOG_SIZE = 20_000
#: a watcher that falls this far behind is closed (it re-lists, as informers do)
WATCH_QUEUE_SIZE = 50_000


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


class Store:
    def __init__(self, path: str, *, event_log_size: int = EVENT_LOG_SIZE) -> None:
        self.path = path
        self.event_log_size = max(1, event_log_size)
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
            rv_before = self._rv
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
                self._rv = rv_before
                self._pending = None
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('rv', ?)", (str(self._rv),))
            self.db.execute("COMMIT")
            events, self._pending = self._pending or [], None
            for ev in events:
                for w in list(self._watchers):
                    w.offer(ev)
            self._watchers = [w for w in self._watchers if not w.closed]

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _record(self, ev: Event) -> None:
        self.db.execute(
            "INSERT INTO events (rv, type, rkey, namespace, name, body) VALUES (?,?,?,?,?,?)",
            (ev.rv, ev.type, ev.rkey, ev.namespace, ev.name, json.dumps(ev.obj)),
        )
        assert self._pending is not None
        self._pending.append(ev)
        self._writes_since_prune += 1
        if self._writes_since_prune >= max(1, min(1000, self.event_log_size // 10)):
            self._writes_since_prune = 0
            self.db.execute("DELETE FROM events WHERE rv <= ?", (self._rv - self.event_log_size,))

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
                "SELECT rv FROM objects WHERE rkey=? AND namespace=? AND name=?",
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
            self.db.execute(
                "INSERT OR REPLACE INTO objects (rkey, namespace, name, rv, body) "
                "VALUES (?,?,?,?,?)",
                (rkey, ns, name, rv, body),
            )
            self._record(Event("ADDED" if create else "MODIFIED", rkey, ns, name, rv, obj))
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
            rv = self._next_rv()
            obj["metadata"]["resourceVersion"] = str(rv)
            self.db.execute(
                "DELETE FROM objects WHERE rkey=? AND namespace=? AND name=?",
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
