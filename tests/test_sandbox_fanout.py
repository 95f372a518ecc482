"""A change costs the controllers and the data plane the same beside 3 Services as beside 30.

The controllers (:mod:`kn_walk.sandbox.knative.serving`) and the data plane
(:mod:`kn_walk.sandbox.dataplane.wiring`) run here in-process on one event loop, as in
the sandbox, against a real store; only the Revision processes and the gateway's
socket are stood in for (:class:`FakeWorkloads` reports each new Revision ready,
as its process would). Each test counts what one Service create and one update
cost — reconciles, store reads, writes, data-plane syncs and the lines of the
controllers' code that run — in a namespace with few Services and in one with
many, and wants the same counts: work that grows with the namespace (every Route
re-run for each Revision event, each Route reconcile relabelling or re-reading
the whole namespace, a sync that rebuilds everything) shows up as a difference.
Counts, never timings.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from kn_walk.sandbox.dataplane import wiring as dataplane_module
from kn_walk.sandbox.dataplane.gateway import Backend
from kn_walk.sandbox.dataplane.wiring import (
    DataPlane,
    HostKey,
    Target,
    gateway_tables,
    ingress_hosts,
    routed_revisions,
    served_by_istio,
    workload_of,
)
from kn_walk.sandbox.knative.admission import KnativeWebhook
from kn_walk.sandbox.knative.netistio import ingress_ready
from kn_walk.sandbox.knative.revision_faults import RevisionFaults
from kn_walk.sandbox.knative.serving import SYSTEM_NAMESPACE, ServingController, is_ready
from kn_walk.sandbox.machinery.resourcetypes import SERVING_GROUP, Registry, ResourceType
from kn_walk.sandbox.node.workloads import RevisionWorkload, RuntimeStatus
from kn_walk.sandbox.registry.builtin import BuiltinDefaults
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, rkey
from kn_walk.sandbox.registry.store import Obj, Store
from kn_walk.sandbox.server import Sandbox
from tests.kube_helpers import ksvc

NS = "default"
FEW, MANY = 3, 30
#: the modules whose lines are counted
TRACED = (
    "kn_walk/sandbox/knative/serving.py",
    "kn_walk/sandbox/dataplane/wiring.py",
    "kn_walk/sandbox/node/pods.py",
)


def _hosts(ingresses: Iterable[Obj]) -> dict[HostKey, Target]:
    """The host table rebuilt from every Ingress: those of net-istio's class, ready."""
    table: dict[HostKey, Target] = {}
    for ingress in ingresses:
        if served_by_istio(ingress) and ingress_ready(ingress):
            table.update(ingress_hosts(ingress))
    return table


class FakeWorkloads:
    """Stands in for :class:`Workloads`: records each sync and reports every new Revision
    ready on the next loop turn, as its process passing the readiness probe would."""

    def __init__(self, report: Callable[[str, str, RuntimeStatus], None]) -> None:
        self.report = report
        self.syncs: list[tuple[list[RevisionWorkload], set[tuple[str, str]]]] = []
        self.started: set[tuple[str, str]] = set()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def set_windows(self, stable_window: float, scale_to_zero_grace: float) -> None:
        pass

    def set_scale_to_zero(self, enabled: bool) -> None:
        pass

    def pids(self) -> dict[tuple[str, str], int]:
        return {}

    def previous_run(self, namespace: str, name: str, uid: str) -> None:
        return None  # no earlier sandbox ran these Revisions

    def restored(self, namespace: str, name: str, uid: str) -> None:
        return None

    def sync(
        self, revisions: Sequence[RevisionWorkload], routed: Collection[tuple[str, str]]
    ) -> None:
        self.syncs.append((list(revisions), set(routed)))
        loop = asyncio.get_running_loop()
        for w in revisions:
            if (w.namespace, w.name) not in self.started:
                self.started.add((w.namespace, w.name))
                loop.call_soon(self.report, w.namespace, w.name, RuntimeStatus(True, "", "", 1, 1))


class FakeGateway:
    def __init__(self) -> None:
        self.tables: list[dict[str, list[Backend]]] = []
        #: the Revisions' fault annotations, as the gateway keeps them (DataPlane feeds it)
        self.faults = RevisionFaults()

    async def start(self) -> int:
        return 0

    async def stop(self) -> None:
        pass

    def set_routes(self, table: dict[str, list[Backend]]) -> None:
        self.tables.append(dict(table))


@dataclass
class Counts:
    reconciles: Counter[str] = field(default_factory=Counter)
    #: (kind, namespace/name) of every object reconciled
    reconciled: set[tuple[str, str]] = field(default_factory=set)
    store_gets: int = 0
    #: objects that Store.list_objects decoded
    listed: int = 0
    #: (kind, subresource) of every write through Resources
    writes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (kind, name) of every object written
    written: set[tuple[str, str]] = field(default_factory=set)
    workload_of: int = 0
    workload_syncs: int = 0
    table_syncs: int = 0
    #: lines of serving.py, dataplane.py and pods.py run (None: a tracer is already active)
    lines: int | None = None


class Plane:
    """A store, the controllers and the data plane on the running loop."""

    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.store = Store(str(tmp / "state.db"))
        self.registry = Registry.default()
        self.res = Resources(self.store, self.registry)
        self.res.admission = [BuiltinDefaults(load_balancer=False), KnativeWebhook()]
        Sandbox(tmp).seed(self.res, 0, 0)
        crds = self.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crds is not None
        for crd in self.store.list_objects(rkey(crds)):
            self.registry.add_crd(crd)
        self.svc = self._type(SERVING_GROUP, "services")
        self.rev = self._type(SERVING_GROUP, "revisions")
        self.route = self._type(SERVING_GROUP, "routes")
        self.cm = self._type("", "configmaps")
        self.controller = ServingController(self.res)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.local_sock = socket.socket()
        self.local_sock.bind(("127.0.0.1", 0))
        self.dataplane = DataPlane(self.res, self.controller, tmp, self.sock, self.local_sock)
        self.workloads = FakeWorkloads(self.dataplane.workloads.on_status)
        self.gateway = FakeGateway()
        self.dataplane.workloads = self.workloads  # type: ignore[assignment]
        self.dataplane.gateway = self.gateway  # type: ignore[assignment]
        self.local_gateway = FakeGateway()
        self.dataplane.local_gateway = self.local_gateway  # type: ignore[assignment]
        self.opts = WriteOptions(manager="test")
        self.counts = Counts()
        self._counting = False
        self._instrument()

    def check_every_sync(self) -> None:
        """After each DataPlane.sync, the host table and the desired workloads it last handed
        on are what rebuilding them from every Route and Revision it knows gives."""
        dp = self.dataplane
        sync = dp.sync
        self.checked_syncs = 0

        def checked() -> None:
            sync()
            table = _hosts(dp._objects["ingresses"].values())
            routed: set[tuple[str, str]] = set()
            for route in dp._objects["routes"].values():
                routed |= routed_revisions(route)
            workloads = [workload_of(r) for r in dp._objects["revisions"].values()]
            external, local = gateway_tables(table)
            assert self.gateway.tables[-1] == external
            assert self.local_gateway.tables[-1] == local
            assert self.workloads.syncs[-1] == (workloads, routed)
            self.checked_syncs += 1

        dp.sync = checked  # type: ignore[method-assign]

    def _type(self, group: str, plural: str) -> ResourceType:
        rt = self.registry.get(group, "v1", plural)
        assert rt is not None
        return rt

    async def start(self) -> None:
        self.controller.start()
        await self.dataplane.start()
        await self.settle()

    async def stop(self) -> None:
        await self.dataplane.stop()
        await self.controller.stop()
        self.store.close()
        self.sock.close()
        self.local_sock.close()

    async def settle(self) -> None:
        """Until nothing is queued or written any more (the Revisions' Kubernetes objects
        follow a moment after the controller goes idle)."""
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            rv = self.store.resource_version
            for _ in range(5):
                await asyncio.sleep(0)
            await self.controller.wait_idle(30)
            for _ in range(5):
                await asyncio.sleep(0)
            if self.controller.children.busy or self.dataplane.pods.busy:
                await asyncio.sleep(0.01)  # their work waits for the controller to stay idle
                continue
            if self.store.resource_version == rv:
                return
        raise AssertionError("the controllers did not settle in 60 s")

    # ------------------------------------------------------------ counting
    def _instrument(self) -> None:
        c = self.controller
        for method in (
            "reconcile_service",
            "reconcile_configuration",
            "reconcile_revision",
            "reconcile_route",
        ):
            original = getattr(c, method)
            kind = method.removeprefix("reconcile_")

            def reconcile(ns: str, name: str, _o: Any = original, _k: str = kind) -> None:
                if self._counting:
                    self.counts.reconciles[_k] += 1
                    self.counts.reconciled.add((_k, f"{ns}/{name}"))
                _o(ns, name)

            setattr(c, method, reconcile)
        get, list_objects = self.store.get, self.store.list_objects

        def counted_get(*args: Any, **kwargs: Any) -> Obj | None:
            self.counts.store_gets += self._counting
            return get(*args, **kwargs)

        def counted_list(*args: Any, **kwargs: Any) -> list[Obj]:
            out = list_objects(*args, **kwargs)
            self.counts.listed += len(out) if self._counting else 0
            return out

        self.store.get = counted_get  # type: ignore[method-assign]
        self.store.list_objects = counted_list  # type: ignore[method-assign]
        for method in ("create", "update"):
            original = getattr(self.res, method)

            def write(rt: ResourceType, ns: str, *args: Any, _o: Any = original) -> Obj:
                out: Obj = _o(rt, ns, *args)
                if self._counting:
                    self.counts.writes[(rt.kind, args[-1].subresource)] += 1
                    self.counts.written.add((rt.kind, out["metadata"]["name"]))
                return out

            setattr(self.res, method, write)
        sync, set_routes = self.workloads.sync, self.gateway.set_routes

        def counted_sync(*args: Any) -> None:
            self.counts.workload_syncs += self._counting
            sync(*args)

        def counted_routes(table: dict[str, list[Backend]]) -> None:
            self.counts.table_syncs += self._counting
            set_routes(table)

        self.workloads.sync = counted_sync  # type: ignore[method-assign,assignment]
        self.gateway.set_routes = counted_routes  # type: ignore[method-assign]

    @contextmanager
    def counting(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
        self.counts = Counts()

        def counted_workload_of(rev: Obj) -> RevisionWorkload:
            self.counts.workload_of += 1
            return workload_of(rev)

        monkeypatch.setattr(dataplane_module, "workload_of", counted_workload_of)
        lines = 0
        traced = tuple(str(Path(__file__).resolve().parent.parent / p) for p in TRACED)

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal lines
            if event == "line":
                lines += 1
            return local

        def trace(frame: FrameType, event: str, arg: Any) -> Any:
            return local if frame.f_code.co_filename in traced else None

        # coverage (or a debugger) may be tracing already: then count everything but lines
        tracing = sys.gettrace() is None
        if tracing:
            sys.settrace(trace)
        self._counting = True
        try:
            yield self.counts
        finally:
            self._counting = False
            if tracing:
                sys.settrace(None)
                self.counts.lines = lines
            monkeypatch.undo()

    # -------------------------------------------------------------- actions
    def create(self, name: str, target: str = "v1", **kwargs: Any) -> None:
        body = ksvc(name, target, **kwargs)
        body["metadata"]["namespace"] = NS
        self.res.create(self.svc, NS, body, self.opts)

    def update(self, name: str, target: str) -> None:
        cur = self.res.get(self.svc, NS, name)
        cur["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = target
        self.res.update(self.svc, NS, name, cur, self.opts)

    def patch_traffic(self, name: str, traffic: list[Obj]) -> None:
        cur = self.res.get(self.svc, NS, name)
        cur["spec"]["traffic"] = traffic
        self.res.update(self.svc, NS, name, cur, self.opts)

    def service(self, name: str) -> Obj:
        return self.res.get(self.svc, NS, name)

    async def crowd(self, services: int) -> None:
        """``services`` Services with two Revisions each, the first split 50/50."""
        for i in range(services):
            self.create(f"crowd-{i:03d}")
        await self.settle()
        for i in range(services):
            self.update(f"crowd-{i:03d}", "v2")
        await self.settle()
        self.patch_traffic(
            "crowd-000",
            [
                {"revisionName": "crowd-000-00001", "percent": 50, "tag": "one"},
                {"revisionName": "crowd-000-00002", "percent": 50},
            ],
        )
        await self.settle()
        for i in range(services):
            assert_ready(self.service(f"crowd-{i:03d}"), 2)


def assert_ready(svc: Obj, revision: int) -> None:
    """Ready at its generation, with its ``revision``-th Revision the latest ready one."""
    name = svc["metadata"]["name"]
    assert is_ready(svc), svc.get("status")
    assert svc["status"]["observedGeneration"] == svc["metadata"]["generation"]
    assert svc["status"]["latestReadyRevisionName"] == f"{name}-{revision:05d}"


def run(tmp: Path, body: Callable[[Plane], Any]) -> Any:
    async def main() -> Any:
        plane = Plane(tmp)
        await plane.start()
        try:
            return await body(plane)
        finally:
            await plane.stop()

    return asyncio.run(main())


async def one_service(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> tuple[Counts, Counts]:
    """What creating one more Service and updating its template cost, each until Ready."""
    with plane.counting(monkeypatch) as created:
        plane.create("probe")
        await plane.settle()
    assert_ready(plane.service("probe"), 1)
    with plane.counting(monkeypatch) as updated:
        plane.update("probe", "v2")
        await plane.settle()
    assert_ready(plane.service("probe"), 2)
    return created, updated


def crowded(
    tmp: Path, services: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Counts, Counts, Plane]:
    async def body(plane: Plane) -> tuple[Counts, Counts, Plane]:
        await plane.crowd(services)
        created, updated = await one_service(plane, monkeypatch)
        return created, updated, plane

    result: tuple[Counts, Counts, Plane] = run(tmp / f"crowd-{services}", body)
    return result


# ------------------------------------------------------------------------ tests
def test_a_service_costs_the_same_beside_few_or_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    few_created, few_updated, _ = crowded(tmp_path, FEW, monkeypatch)
    many_created, many_updated, _ = crowded(tmp_path, MANY, monkeypatch)
    for few, many in ((few_created, many_created), (few_updated, many_updated)):
        assert many.reconciles == few.reconciles
        assert many.reconciled == few.reconciled
        assert many.store_gets == few.store_gets
        assert many.listed == few.listed == 0
        assert many.writes == few.writes
        assert many.workload_of == few.workload_of
        assert many.workload_syncs == few.workload_syncs
        assert many.table_syncs == few.table_syncs
        # within a few lines: the random parts of generated names (a Pod's, an
        # EndpointSlice's) vary a loop or two; touching the other 27 Services would cost
        # at least a line each
        assert abs(many.lines - few.lines) <= 10, (many.lines, few.lines)


def test_a_change_touches_only_its_own_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created, updated, _ = crowded(tmp_path, MANY, monkeypatch)
    for counts in (created, updated):
        # every Route, Revision, ... reconciled or written is the new Service's own
        assert {name.split("/")[1] for _, name in counts.reconciled} <= {
            "probe",
            "probe-00001",
            "probe-00002",
        }
        assert all(name.startswith("probe") for _, name in counts.written), counts.written
        # created, its Revision Deploying (Unknown, until its Pod is there), then Ready
        assert counts.reconciles["route"] <= 4
        # one workload_of per event of the new Service's Revisions, none for the others
        revision_writes = sum(n for (kind, _), n in counts.writes.items() if kind == "Revision")
        assert 0 < counts.workload_of <= revision_writes


async def _consistency_scenario(plane: Plane) -> None:
    await plane.crowd(6)
    # a Revision pinned by a Route is deleted; a Service is deleted with its children
    plane.patch_traffic(
        "crowd-001",
        [
            {"revisionName": "crowd-001-00001", "percent": 20, "tag": "old"},
            {"latestRevision": True, "percent": 80},
        ],
    )
    await plane.settle()
    plane.res.delete(plane.rev, NS, "crowd-001-00001")
    plane.res.delete(plane.svc, NS, "crowd-002")
    await plane.settle()
    # a template update while the traffic is pinned, then unpinned
    plane.patch_traffic("crowd-003", [{"revisionName": "crowd-003-00002", "percent": 100}])
    await plane.settle()
    plane.update("crowd-003", "v3")
    await plane.settle()
    plane.patch_traffic("crowd-003", [{"latestRevision": True, "percent": 100}])
    await plane.settle()
    cm = plane.res.get(plane.cm, SYSTEM_NAMESPACE, "config-domain")
    cm["data"] = {"example.org": ""}
    plane.res.update(plane.cm, SYSTEM_NAMESPACE, "config-domain", cm, plane.opts)
    await plane.settle()


def test_the_indexes_agree_with_the_store(tmp_path: Path) -> None:
    """After Routes, Revisions and a Service are changed and deleted, the controller's
    indexes are what a controller starting on the same store would build, and the data
    plane's last host table and desired workloads are what a full recomputation gives."""

    async def body(plane: Plane) -> None:
        plane.check_every_sync()
        await _consistency_scenario(plane)
        assert plane.checked_syncs > 20
        c = plane.controller
        fresh = ServingController(plane.res)
        fresh.start()
        await fresh.stop()
        for attr in (
            "_route_spec",
            "_routes_by_cfg",
            "_routes_by_rev",
            "_route_status",
            "_serving_routes",
            "_revs",
            "_cfg_revs",
        ):
            assert getattr(c, attr) == getattr(fresh, attr), attr

        routes = plane.store.list_objects(rkey(plane.route))
        revisions = plane.store.list_objects(rkey(plane.rev))
        hosts = _hosts(plane.store.list_objects(rkey(plane.dataplane._t["ingresses"])))
        routed: set[tuple[str, str]] = set()
        for route in routes:
            routed |= routed_revisions(route)
        table, local = gateway_tables(hosts)
        assert plane.gateway.tables[-1] == table
        assert plane.local_gateway.tables[-1] == local
        # crowd-001's traffic names a deleted Revision: as in Knative, its Route's reconcile
        # stops before the Ingress, which keeps serving what it last had
        assert "crowd-001.default.example.com" in table
        assert "crowd-001.default.example.org" not in table
        assert "crowd-003.default.example.org" in table
        assert "old-crowd-000.default.example.org" not in table
        assert "one-crowd-000.default.example.org" in table
        last_workloads, last_routed = plane.workloads.syncs[-1]
        assert sorted(last_workloads, key=lambda w: w.name) == sorted(
            (workload_of(r) for r in revisions), key=lambda w: w.name
        )
        assert last_routed == routed
        assert not any(w.name.startswith("crowd-002") for w in last_workloads)

    run(tmp_path, body)


def test_routing_labels_follow_the_traffic(tmp_path: Path) -> None:
    async def body(plane: Plane) -> None:
        await _consistency_scenario(plane)
        labels = {
            r["metadata"]["name"]: (
                r["metadata"]["labels"]["serving.knative.dev/routingState"],
                r["metadata"].get("annotations", {}).get("serving.knative.dev/routes"),
            )
            for r in plane.store.list_objects(rkey(plane.rev))
        }
        assert labels["crowd-000-00001"] == ("active", "crowd-000")
        assert labels["crowd-000-00002"] == ("active", "crowd-000")
        assert labels["crowd-001-00002"] == ("active", "crowd-001")
        assert "crowd-001-00001" not in labels
        assert not any(name.startswith("crowd-002") for name in labels)
        assert labels["crowd-003-00001"] == ("reserve", None)
        assert labels["crowd-003-00002"] == ("reserve", None)
        assert labels["crowd-003-00003"] == ("active", "crowd-003")
        assert labels["crowd-004-00001"] == ("reserve", None)

    run(tmp_path, body)
