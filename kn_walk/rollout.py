"""Gated canary rollouts of a Knative Service (``knwalk rollout``): the walkthrough's 50/50
split, grown into steps that are measured and judged.

Core, no printing: progress goes to :class:`Callbacks`. Everything lives on the Service,
so any cluster with Knative will do (the Service, its tag URLs and the gateway):

1. **Start** (one write): the serving Revision is pinned in ``spec.traffic`` (tag
   ``current``, 100%) together with the template change (what ``knwalk deploy`` takes:
   :func:`kn_walk.knative.plan_deploy`), so the new Revision gets no traffic, as ``kn
   service update --traffic`` users do. Then the new generation must become Ready; a
   candidate that does not (a bad image, a crash loop) ends the rollout before any
   traffic moved, with the Revision's reason.
2. **Steps** (``10,25,50,100`` by default): each writes the split current/candidate
   (the candidate tagged ``candidate``, so it has its own URL), waits for the Route to
   serve it, then sends load (:mod:`kn_walk.load`) through the gateway with the
   Service's Host header and, at the same time, the same load to the candidate's tag
   URL. The candidate is judged on its tag URL's answers: the error rate (non-2xx/3xx
   answers and broken connections) and p50/p99 latency against the :class:`Gates`.
   The Service's answers check the split (chi-square, as ``knwalk curl --count``) and
   give each Revision's latency. A step during which the gateway refused connections or
   failed TLS verification judges nothing (the gateway failed, not the candidate): the
   rollout stops, resumable. A cluster-local Service is refused before any write: the
   gateway does not serve it.
3. **Rollback** (one write) on a breached gate: 100% back to ``current``, the candidate
   kept at 0% with its tag for debugging. **Promotion** after the last step: 100% to
   ``@latest`` (``latestRevision: true``, tag ``latest``), ``current`` on the new
   Revision and ``candidate`` on the one before, the tags ``knwalk split 50/50`` uses;
   the candidate is pinned at 100% instead if the template changed meanwhile (a newer
   Revision, or one to come, that no step judged).

State (:class:`State`) is the JSON of the Service's annotation ``knwalk.dev/rollout``,
written in the same merge patch as each split, so the two never disagree;
``knwalk rollout status`` reads it from any shell. Every write carries the Service's
resourceVersion; on 409 it re-reads, and if ``spec.traffic`` or the annotation is no
longer what the rollout last wrote (someone ran ``knwalk split``, or ``rollout
abort``), it stops and overwrites nothing. A watcher reads the Service while a step
sends load, so such a change ends the step at once. Ctrl-C (``KeyboardInterrupt``)
stops at a safe point: the load stops, the split stays as it is, the state says
``paused``; :func:`resume` runs that step again, :func:`abort` sends everything back to
``current``. A second rollout of the same Service is refused while one is in progress.

``knwalk rollout -o json`` prints a JSON object per step (:meth:`StepReport.as_dict`),
then one for the outcome (:meth:`State.as_dict` under ``"rollout"``).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from kn_walk import knative
from kn_walk.errors import ApiError, KnwalkError, UsageError
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN
from kn_walk.knative_rules.labels import FAULT_ANNOTATION, ROLLOUT_ANNOTATION, VISIBILITY_LABEL
from kn_walk.traffic import CANDIDATE_TAG, CURRENT_TAG, LATEST_TAG

if TYPE_CHECKING:
    from kn_walk.ingress import Gateway
    from kn_walk.kube import Kube
    from kn_walk.load import LoadProgress, LoadResult, LoadSpec
    from kn_walk.probe import Row, Verdict

Obj = dict[str, Any]

ANNOTATION = ROLLOUT_ANNOTATION
STATE_VERSION = 1
DEFAULT_STEPS = (10, 25, 50, 100)
DEFAULT_STEP_SECONDS = 30.0
DEFAULT_MAX_ERROR_RATE = 0.01
DEFAULT_MAX_P99 = 0.5
#: seconds between two reads of the Service while a step sends load
WATCH_INTERVAL = 0.5
#: the most steps a rollout takes
MAX_STEPS = 20
#: a running rollout's process on another machine counts as gone when its state is older
STALE_AFTER = 600.0

# phases: the first two are "in progress"
RUNNING, PAUSED = "running", "paused"
PROMOTED, ROLLED_BACK, ABORTED, FAILED = "promoted", "rolled-back", "aborted", "failed"
IN_PROGRESS = (RUNNING, PAUSED)
PHASES = (RUNNING, PAUSED, PROMOTED, ROLLED_BACK, ABORTED, FAILED)

# why a rollout paused or ended (State.reason)
INTERRUPTED = "Interrupted"
TRAFFIC_CHANGED = "TrafficChanged"
VOID_STEP = "StepVoid"
API_LOST = "ApiUnreachable"
GATE_FAILED = "GateFailed"
NOT_READY = "CandidateNotReady"
SERVICE_DELETED = "ServiceDeleted"


# --------------------------------------------------------------------------- settings


def parse_steps(text: str) -> tuple[int, ...]:
    """``--steps 10,25,50,100``: the candidate's percent at each step, rising, 1 to 100."""
    hint = "give rising percents from 1 to 100, comma-separated, e.g. --steps 10,25,50,100"
    parts = [p.strip().removesuffix("%") for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise UsageError(f"--steps {text!r} is not a list of whole percents", hint)
    steps = tuple(int(p) for p in parts)
    problem = steps_problem(steps)
    if problem:
        raise UsageError(f"--steps {text!r}{problem}", hint)
    return steps


def steps_problem(steps: Sequence[int]) -> str:
    """What is wrong with ``steps`` as a rollout's percents (to follow their text), or ''."""
    if not steps:
        return " is empty"
    if not all(1 <= s <= 100 for s in steps):
        return ": every percent must be from 1 to 100"
    if any(b <= a for a, b in itertools.pairwise(steps)):
        return " must rise at every step"
    if len(steps) > MAX_STEPS:
        return f" has {len(steps)} steps, more than {MAX_STEPS}"
    return ""


def parse_ratio(text: str, option: str) -> float:
    """``1%`` (or ``1``): a percent from 0 to 100, as a ratio (0.01)."""
    raw = text.strip().removesuffix("%")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not raw.replace(".", "", 1).isdigit() or not 0 <= value <= 100:
        raise UsageError(
            f"{option} {text!r} is not a percent from 0 to 100",
            f"for example {option} 1% (one failed request in a hundred)",
        )
    return value / 100


def parse_latency(text: str, option: str) -> float:
    """``500ms``, ``1s``: a latency limit in seconds."""
    from kn_walk.load import parse_duration

    return parse_duration(text, option)


@dataclass(frozen=True)
class Gates:
    """What a candidate must stay within: its error rate, and its p99 / p50 latency (seconds;
    None: not checked)."""

    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_p99: float | None = DEFAULT_MAX_P99
    max_p50: float | None = None

    def as_dict(self) -> Obj:
        return {
            "maxErrorRate": self.max_error_rate,
            "maxP99Ms": _ms(self.max_p99),
            "maxP50Ms": _ms(self.max_p50),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Gates:
        """The gates a state records; a value no rollout could have set is a ValueError."""
        rate = raw["maxErrorRate"]
        if not _number(rate) or not 0 <= rate <= 1:
            raise ValueError(f"maxErrorRate {rate!r} is not a ratio from 0 to 1")
        for key in ("maxP99Ms", "maxP50Ms"):
            limit = raw.get(key)
            if limit is not None and (not _number(limit) or not limit > 0):
                raise ValueError(f"{key} {limit!r} is not above 0")
        return cls(float(rate), _seconds(raw.get("maxP99Ms")), _seconds(raw.get("maxP50Ms")))

    def describe(self) -> str:
        parts = [f"error rate <= {_pct(self.max_error_rate)}"]
        if self.max_p99 is not None:
            parts.append(f"p99 <= {_show_ms(self.max_p99)}")
        if self.max_p50 is not None:
            parts.append(f"p50 <= {_show_ms(self.max_p50)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class StepLoad:
    """The load of each step: ``requests`` requests or for ``duration`` seconds, to the
    Service and to the candidate's tag URL alike (see :class:`kn_walk.load.LoadSpec`)."""

    duration: float | None = DEFAULT_STEP_SECONDS
    requests: int | None = None
    rate: float | None = None
    concurrency: int = 10
    path: str = "/"
    timeout: float = 10.0

    def spec(self, gateway: str, host: str) -> LoadSpec:
        from kn_walk.load import LoadSpec

        return LoadSpec(
            gateway,
            host,
            self.path,
            count=self.requests,
            duration=self.duration if self.requests is None else None,
            concurrency=self.concurrency,
            rate=self.rate,
            timeout=self.timeout,
        )

    def check(self) -> StepLoad:
        """Refuse what the load engine would refuse, before anything is written."""
        self.spec("http://127.0.0.1", "check.invalid")
        return self

    def describe(self) -> str:
        what = (
            f"{self.requests} requests"
            if self.requests is not None
            else f"{self.duration:g}s"
            if self.duration is not None
            else "?"
        )
        how = f"at {self.rate:g}/s" if self.rate is not None else f"{self.concurrency} connections"
        return f"{what} per step, {how}, path {self.path}"

    def as_dict(self) -> Obj:
        return {
            "stepSeconds": self.duration if self.requests is None else None,
            "stepRequests": self.requests,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "path": self.path,
            "timeout": self.timeout,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StepLoad:
        """The load a recorded state names; ValueError for a field of the wrong type."""
        for key in ("stepSeconds", "rate", "timeout"):
            if raw.get(key) is not None and not _number(raw[key]):
                raise ValueError(f"load.{key} {raw[key]!r} is not a number")
        for key in ("stepRequests", "concurrency"):
            if raw.get(key) is not None and not _whole(raw[key]):
                raise ValueError(f"load.{key} {raw[key]!r} is not a whole number")
        if raw.get("path") is not None and not isinstance(raw["path"], str):
            raise ValueError(f"load.path {raw['path']!r} is not a string")
        seconds = raw.get("stepSeconds")
        requests = raw.get("stepRequests")
        rate = raw.get("rate")
        return cls(
            float(seconds) if seconds is not None else None,
            int(requests) if requests is not None else None,
            float(rate) if rate is not None else None,
            int(raw.get("concurrency") or 10),
            str(raw.get("path") or "/"),
            float(raw.get("timeout") or 10.0),
        )


@dataclass(frozen=True)
class Settings:
    steps: tuple[int, ...] = DEFAULT_STEPS
    gates: Gates = Gates()
    load: StepLoad = StepLoad()


# --------------------------------------------------------------------------- state


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(stamp: str) -> float:
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - then).total_seconds()


def _holder() -> Obj:
    return {"host": socket.gethostname(), "pid": os.getpid()}


@dataclass
class State:
    """A rollout as the annotation records it (JSON keys in camelCase, see :meth:`as_dict`).

    ``step`` is the index in ``settings.steps`` of the step running or to run next (the
    number of steps passed); ``traffic`` the ``spec.traffic`` the rollout last wrote.
    """

    service: str
    id: str
    phase: str
    current: str
    candidate: str
    generation: int
    settings: Settings
    step: int = 0
    traffic: list[Obj] = field(default_factory=list)
    results: list[Obj] = field(default_factory=list)
    holder: Obj = field(default_factory=_holder)
    started: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    reason: str = ""
    message: str = ""

    @property
    def in_progress(self) -> bool:
        return self.phase in IN_PROGRESS

    @property
    def total(self) -> int:
        return len(self.settings.steps)

    def holder_alive(self) -> bool:
        """Whether the process running this rollout is still there (``running`` only): on
        this machine by its pid, elsewhere while the state is younger than STALE_AFTER."""
        if self.phase != RUNNING:
            return False
        pid, host = self.holder.get("pid"), self.holder.get("host")
        if host == socket.gethostname() and isinstance(pid, int):
            from kn_walk.sandbox.control import pid_alive

            return pid == os.getpid() or pid_alive(pid)
        return _age(self.updated) < STALE_AFTER

    def where(self) -> str:
        """``at step 2 of 4 (25% to the candidate)`` / ``while its candidate started``."""
        if not self.candidate:
            return "while its candidate Revision was starting"
        if self.step >= self.total:
            return f"after all {self.total} steps"
        return (
            f"at step {self.step + 1} of {self.total} "
            f"({self.settings.steps[self.step]}% to the candidate)"
        )

    def as_dict(self) -> Obj:
        return {
            "version": STATE_VERSION,
            "service": self.service,
            "id": self.id,
            "phase": self.phase,
            "reason": self.reason,
            "message": self.message,
            "current": self.current,
            "candidate": self.candidate or None,
            "generation": self.generation,
            "steps": list(self.settings.steps),
            "step": self.step,
            "gates": self.settings.gates.as_dict(),
            "load": self.settings.load.as_dict(),
            "traffic": self.traffic,
            "results": self.results,
            "holder": self.holder,
            "started": self.started,
            "updated": self.updated,
        }

    def text(self) -> str:
        """The annotation's value."""
        return json.dumps(self.as_dict(), separators=(",", ":"), sort_keys=False)

    @classmethod
    def from_service(cls, svc: knative.ServiceView) -> State | None:
        """The state recorded on the Service, None if there is none; a state no rollout
        could have written (a hand edit, another tool) is refused, saying what is wrong."""
        meta = svc.raw.get("metadata") or {}
        raw = (meta.get("annotations") or {}).get(ANNOTATION)
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            problem = f"not JSON: {exc}"
        else:
            try:
                return cls._from_doc(svc.name, doc)
            except KeyError as exc:
                problem = f"it has no {exc.args[0]!r}"
            except UsageError as exc:  # the load engine's own checks
                problem = exc.message
            except (ValueError, TypeError) as exc:
                problem = str(exc)
        raise KnwalkError(
            f"the annotation {ANNOTATION} on service {svc.name!r} is not a rollout state "
            f"knwalk can read: {problem}",
            f"remove it with `kubectl annotate ksvc {svc.name} {ANNOTATION}-`",
        )

    @classmethod
    def _from_doc(cls, service: str, doc: object) -> State:
        if not isinstance(doc, dict):
            raise ValueError("it is not a JSON object")
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"version {doc.get('version')!r}, not {STATE_VERSION}")
        phase = doc["phase"]
        if phase not in PHASES:
            raise ValueError(f"phase {phase!r} is not one of {', '.join(PHASES)}")
        current = doc["current"]
        if not isinstance(current, str) or not current:
            raise ValueError(f"current {current!r} is not a Revision name")
        raw_steps = doc["steps"]
        if not isinstance(raw_steps, list) or not all(_whole(s) for s in raw_steps):
            raise ValueError(f"steps {raw_steps!r} is not a list of whole percents")
        problem = steps_problem(raw_steps)
        if problem:
            raise ValueError(f"steps {raw_steps!r}{problem}")
        gates = Gates.from_dict(_object(doc, "gates"))
        settings = Settings(tuple(raw_steps), gates, StepLoad.from_dict(_object(doc, "load")))
        settings.load.check()
        step = doc.get("step") or 0
        if not _whole(step) or not 0 <= step <= len(raw_steps):
            raise ValueError(f"step {step!r} of {len(raw_steps)} steps is not a step")
        generation = doc.get("generation") or 0
        if not _whole(generation) or generation < 0:
            raise ValueError(f"generation {generation!r} is not a Service generation")
        results = _objects(doc, "results")
        for i, r in enumerate(results):
            if not (_whole(r.get("step")) and _whole(r.get("percent"))):
                raise ValueError(f"results[{i}] has no whole step and percent")
            if not isinstance(r.get("passed"), bool):
                raise ValueError(f"results[{i}] does not say whether it passed")
        if phase in IN_PROGRESS:
            # the steps passed are the results, one each: `resume` goes on after them
            passed = sum(1 for r in results if r["passed"])
            if passed != step or len(results) != step:
                raise ValueError(
                    f"step {step} but {passed} step{'' if passed == 1 else 's'} passed"
                )
        return cls(
            service,
            str(doc["id"]),
            phase,
            current,
            str(doc.get("candidate") or ""),
            generation,
            settings,
            step,
            _objects(doc, "traffic"),
            results,
            dict(_object(doc, "holder", {})),
            str(doc.get("started") or ""),
            str(doc.get("updated") or ""),
            str(doc.get("reason") or ""),
            str(doc.get("message") or ""),
        )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _object(doc: Mapping[str, Any], key: str, default: Obj | None = None) -> Obj:
    """``doc[key]``, which must be a JSON object (``default`` when absent, if given)."""
    value = doc.get(key, default) if default is not None else doc[key]
    if value is None and default is not None:
        value = default
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not an object")
    return value


def _objects(doc: Mapping[str, Any], key: str) -> list[Obj]:
    """``doc[key]``, a list of JSON objects (empty when absent), copied."""
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key} is not a list of objects")
    return [dict(v) for v in value]


def read_state(kube: Kube, name: str) -> tuple[knative.ServiceView, State | None]:
    """The Service and the rollout state on it (None: no rollout was ever recorded)."""
    svc = knative.require_service(kube, name)
    return svc, State.from_service(svc)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class GateResult:
    """One gate of one step: ``value`` against ``limit`` (ratio or seconds)."""

    name: str  # "error rate", "p99", "p50"
    limit: float
    value: float | None  # None: nothing to measure (no answer)
    passed: bool

    def describe(self) -> str:
        if self.value is None:
            return f"{self.name}: no answer to measure"
        shown = _show_value(self.name, self.value)
        limit = _show_value(self.name, self.limit)
        return f"{self.name} {shown} {'<=' if self.passed else '>'} {limit}"

    def as_dict(self) -> Obj:
        ratio = self.name == "error rate"
        return {
            "gate": {"error rate": "errorRate", "p99": "p99", "p50": "p50"}[self.name],
            "unit": "ratio" if ratio else "ms",
            "limit": round(self.limit, 6) if ratio else _ms(self.limit),
            "value": None
            if self.value is None
            else round(self.value, 6)
            if ratio
            else _ms(self.value),
            "passed": self.passed,
        }


def judge(gates: Gates, result: LoadResult) -> list[GateResult]:
    """The candidate's answers (to its tag URL) against the gates."""
    out = [
        GateResult(
            "error rate",
            gates.max_error_rate,
            result.error_rate,
            result.count > 0 and result.error_rate <= gates.max_error_rate,
        )
    ]
    stats = result.latency()
    for name, limit in (("p99", gates.max_p99), ("p50", gates.max_p50)):
        if limit is None:
            continue
        value = None if stats is None else getattr(stats, name)
        out.append(GateResult(name, limit, value, value is not None and value <= limit))
    return out


@dataclass(frozen=True)
class StepProgress:
    """What a step's load has done so far: the Service's and the candidate tag's."""

    number: int
    of: int
    percent: int
    service: LoadProgress | None
    candidate: LoadProgress | None


@dataclass(frozen=True)
class StepStart:
    number: int
    of: int
    percent: int
    current: str
    candidate: str
    block: list[Obj]
    lesson: str  # what Knative does at this step
    candidate_url: str


@dataclass(frozen=True)
class StepReport:
    """A measured step: the Service's answers (``service``), the candidate tag's
    (``candidate``), the split check and the gates."""

    name: str
    namespace: str
    number: int
    of: int
    percent: int
    current: str
    candidate: str
    lesson: str
    service: LoadResult
    tag: LoadResult
    rows: tuple[Row, ...]
    verdict: Verdict | None
    split_note: str  # why the split was not checked, or ""
    gates: tuple[GateResult, ...]
    void: str  # why this step judges nothing, or ""

    @property
    def passed(self) -> bool:
        return not self.void and all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def revisions(self) -> list[tuple[str, str, Any]]:
        """(revision, tag, latency stats) of the Service's answers, by body."""
        names = {r.body: r.revisions for r in self.rows}
        out = []
        for body, stats in self.service.latency_by_answer().items():
            revs = names.get(body) or ()
            label = ", ".join(revs) if revs else "(other answer)"
            tag = (
                CURRENT_TAG
                if self.current in revs
                else CANDIDATE_TAG
                if self.candidate in revs
                else ""
            )
            out.append((label, tag, stats))
        return out

    def as_dict(self) -> Obj:
        """One ``-o json`` line."""
        return {
            "service": self.name,
            "namespace": self.namespace,
            "step": self.number,
            "steps": self.of,
            "percent": self.percent,
            "traffic": {
                "current": {"revision": self.current, "percent": 100 - self.percent},
                "candidate": {"revision": self.candidate, "percent": self.percent},
            },
            "knative": self.lesson,
            "requests": {
                "service": _load_summary(self.service),
                "candidate": _load_summary(self.tag),
            },
            "revisions": [
                {"revision": label, "tag": tag or None, **stats.as_dict()}
                for label, tag, stats in self.revisions()
            ],
            "split": {
                "checked": self.verdict is not None,
                "note": self.split_note or None,
                "verdict": self.verdict.as_dict() if self.verdict else None,
                "responses": [r.as_dict() for r in self.rows],
            },
            "gates": [g.as_dict() for g in self.gates],
            "void": self.void or None,
            "passed": self.passed,
        }

    def record(self) -> Obj:
        """What the annotation keeps of the step."""
        stats = self.tag.latency()
        return {
            "step": self.number,
            "percent": self.percent,
            "passed": self.passed,
            "void": self.void or None,
            "candidate": {
                "requests": self.tag.count,
                "errorRate": round(self.tag.error_rate, 6),
                **({k: v for k, v in stats.as_dict().items() if k != "count"} if stats else {}),
            },
            "service": {
                "requests": self.service.count,
                "errorRate": round(self.service.error_rate, 6),
            },
            "split": None
            if self.verdict is None
            else {"consistent": self.verdict.consistent, "pValue": self.verdict.p_value},
            "gates": [g.as_dict() for g in self.gates],
        }


def _load_summary(result: LoadResult) -> Obj:
    stats = result.latency()
    return {
        "host": result.spec.host,
        "count": result.count,
        "ok": result.ok,
        "failed": result.failed,
        "errorRate": round(result.error_rate, 6),
        "failures": dict(sorted(result.failures.items())),
        "statusCodes": {str(k): v for k, v in result.status_counts().items()},
        "latency": stats.as_dict() if stats else None,
        "stopped": result.stopped,
    }


# --------------------------------------------------------------------------- errors


class RolloutError(KnwalkError):
    """The rollout ended without promoting: rolled back, stopped, refused. ``state`` is
    what the annotation says now (None if it could not be written or read)."""

    def __init__(
        self, message: str, hint: str = "", *, state: State | None = None, exit_code: int = 1
    ) -> None:
        super().__init__(message, hint, exit_code=exit_code)
        self.state = state


class _Concurrent(Exception):
    """The Service's traffic or rollout state is no longer what this rollout wrote."""

    def __init__(self, svc: knative.ServiceView | None, why: str) -> None:
        super().__init__(why)
        self.svc = svc
        self.why = why


# --------------------------------------------------------------------------- plans


def step_block(state: State, percent: int, others: Sequence[Obj]) -> list[Obj]:
    return [
        {"tag": CURRENT_TAG, "revisionName": state.current, "percent": 100 - percent},
        {"tag": CANDIDATE_TAG, "revisionName": state.candidate, "percent": percent},
        *others,
    ]


def rollback_block(state: State, others: Sequence[Obj]) -> list[Obj]:
    block: list[Obj] = [{"tag": CURRENT_TAG, "revisionName": state.current, "percent": 100}]
    if state.candidate:
        block.append({"tag": CANDIDATE_TAG, "revisionName": state.candidate, "percent": 0})
    return block + list(others)


def promoted_block(state: State, others: Sequence[Obj], latest: bool = True) -> list[Obj]:
    """The end: 100% to @latest (the candidate), the walkthrough's tags: ``current`` the
    new Revision, ``candidate`` the one before, ``latest`` @latest. ``latest=False``
    (a newer Revision appeared meanwhile): the candidate pinned at 100% instead."""
    if not latest:
        return [
            {"tag": CURRENT_TAG, "revisionName": state.candidate, "percent": 100},
            {"tag": CANDIDATE_TAG, "revisionName": state.current, "percent": 0},
            *others,
        ]
    return [
        {"tag": CURRENT_TAG, "revisionName": state.candidate, "percent": 0},
        {"tag": CANDIDATE_TAG, "revisionName": state.current, "percent": 0},
        {"tag": LATEST_TAG, "latestRevision": True, "percent": 100},
        *(t for t in others if t.get("tag") != LATEST_TAG),
    ]


def other_targets(block: Sequence[Mapping[str, Any]]) -> list[Obj]:
    """The targets a rollout keeps as they are: tagged ones other than current/candidate,
    at 0% (only the serving Revision had traffic, and the rollout pins that one)."""
    out = []
    for t in block:
        tag = t.get("tag")
        if isinstance(tag, str) and tag and tag not in (CURRENT_TAG, CANDIDATE_TAG):
            out.append({**{k: v for k, v in t.items() if k != "url"}, "percent": 0})
    return out


def serving_revision(svc: knative.ServiceView) -> str:
    """The one Revision the Route sends traffic to; refused when there are several or none."""
    percents: dict[str, int] = {}
    for t in svc.traffic:
        if t.percent > 0 and t.revision_name:
            percents[t.revision_name] = percents.get(t.revision_name, 0) + t.percent
    if len(percents) == 1:
        return next(iter(percents))
    if not percents:
        raise KnwalkError(
            f"service {svc.name!r} serves no Revision yet (its Route has no traffic)",
            f"wait until it is ready (`knwalk status {svc.name}`), then roll out",
        )
    shown = ", ".join(f"{r} ({p}%)" for r, p in sorted(percents.items()))
    raise KnwalkError(
        f"service {svc.name!r} splits its traffic between {shown}; a rollout moves traffic "
        "from the one Revision that serves it",
        f"send everything to one Revision first, e.g. `knwalk split @latest -s {svc.name}`",
    )


def lesson(state: State, percent: int, candidate_url: str) -> str:
    """What Knative does at a step, for the step's line."""
    return (
        f"spec.traffic sends {percent}% to {state.candidate} (tag {CANDIDATE_TAG}) and "
        f"{100 - percent}% to {state.current} (tag {CURRENT_TAG}): the Route moves the "
        "weights at the gateway, no Pod restarts. The candidate keeps its own URL"
        + (f", {candidate_url}," if candidate_url else "")
        + " which always reaches it."
    )


@dataclass(frozen=True)
class PlannedWrite:
    """One write of a rollout, as a dry run shows it."""

    title: str
    traffic: list[Obj]
    patch: Obj | None  # the merge patch (None: a server-side apply of the manifest)
    kubectl: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What :func:`start` would write (``--dry-run``); sends nothing."""

    name: str
    namespace: str
    current: str
    candidate: str  # the name Knative will give the new Revision
    settings: Settings
    writes: tuple[PlannedWrite, ...]

    def as_dict(self) -> Obj:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "current": self.current,
            "candidate": self.candidate,
            "steps": list(self.settings.steps),
            "gates": self.settings.gates.as_dict(),
            "load": self.settings.load.as_dict(),
            "writes": [
                {
                    "title": w.title,
                    "traffic": w.traffic,
                    "patch": w.patch,
                    "kubectl": list(w.kubectl),
                }
                for w in self.writes
            ],
        }


def _next_revision(kube: Kube, name: str, opts: knative.DeployOptions) -> str:
    """The name Knative gives the Revision of the next template: the Configuration's next
    generation (``NAME-%05d``), or the template's own name."""
    if opts.revision_name:
        return opts.revision_name
    config = kube.get(knative.GROUP, knative.VERSION, knative.CONFIGURATIONS, name)
    generation = ((config or {}).get("metadata") or {}).get("generation")
    if isinstance(generation, int):
        return f"{name}-{generation + 1:05d}"
    return f"{name}-NEW"


def plan(
    kube: Kube,
    name: str,
    opts: knative.DeployOptions,
    manifest: Obj | None,
    settings: Settings,
    *,
    manifest_path: str = "FILE",
) -> Plan:
    """Every write the rollout would make if each step passed; sends nothing."""
    deploy = _template_change(kube, name, opts, manifest, manifest_path)
    svc = deploy.current
    assert svc is not None
    _refuse_in_progress(svc, State.from_service(svc))
    _refuse_cluster_local(svc)
    current = serving_revision(svc)
    candidate = _next_revision(kube, name, opts)
    draft = State(name, "", RUNNING, current, candidate, 0, settings)
    others = other_targets(svc.spec_traffic)
    pin = rollback_block(replace(draft, candidate=""), others)
    writes: list[PlannedWrite] = []
    if deploy.action == "update":
        assert deploy.body is not None
        patch = copy.deepcopy(deploy.body)
        del patch["metadata"]
        patch["spec"]["traffic"] = pin
        writes.append(
            PlannedWrite(
                "pin the traffic on the serving Revision and change the template (one write)",
                pin,
                patch,
                (knative.kubectl_patch(kube, name, patch),),
            )
        )
    else:
        patch = {"spec": {"traffic": pin}}
        writes.append(
            PlannedWrite(
                "pin the traffic on the serving Revision, then apply the manifest (the "
                "rollout sends both in one server-side apply)",
                pin,
                None,
                (knative.kubectl_patch(kube, name, patch), deploy.kubectl),
            )
        )
    for i, percent in enumerate(settings.steps, 1):
        block = step_block(draft, percent, others)
        writes.append(_planned(kube, name, f"step {i} of {len(settings.steps)}: {percent}%", block))
    writes.append(_planned(kube, name, "promote", promoted_block(draft, others)))
    writes.append(
        _planned(kube, name, "rollback (instead, when a gate fails)", rollback_block(draft, others))
    )
    return Plan(name, kube.namespace, current, candidate, settings, tuple(writes))


def _planned(kube: Kube, name: str, title: str, block: list[Obj]) -> PlannedWrite:
    patch = {"spec": {"traffic": block}}
    return PlannedWrite(title, block, patch, (knative.kubectl_patch(kube, name, patch),))


def _template_change(
    kube: Kube,
    name: str,
    opts: knative.DeployOptions,
    manifest: Obj | None,
    manifest_path: str = "FILE",
) -> knative.DeployPlan:
    """What :func:`kn_walk.knative.plan_deploy` would send (``current`` is the Service it
    read); refused when the Service does not exist or nothing changes."""
    from kn_walk.kube import fulfils

    if manifest is None and not opts:
        raise UsageError(
            "nothing to roll out: give the change --target, --image, -e or -f makes",
            'for example knwalk rollout --target "Go Sample v3"',
        )
    if manifest is not None and "traffic" in (manifest.get("spec") or {}):
        raise UsageError(
            f"the manifest sets spec.traffic; a rollout sets service {name!r}'s traffic itself",
            "remove spec.traffic from the manifest",
        )
    deploy = knative.plan_deploy(kube, name, opts, manifest, manifest_path=manifest_path)
    svc = deploy.current
    if svc is None:
        raise knative.service_missing(kube, name)
    unchanged = deploy.action == "unchanged" or (
        deploy.action == "apply"
        and fulfils(
            svc.raw, {"spec": {"template": (manifest or {}).get("spec", {}).get("template")}}
        )
    )
    if unchanged:
        raise KnwalkError(
            f"nothing to roll out: service {name!r} already runs this template "
            f"(latest revision {svc.latest_created or '-'})",
            "change the image, the environment or the manifest",
        )
    return deploy


def _refuse_in_progress(svc: knative.ServiceView, state: State | None) -> None:
    if state is None or not state.in_progress:
        return
    name = svc.name
    if state.holder_alive():
        who = f"by pid {state.holder.get('pid')} on {state.holder.get('host')}"
        raise KnwalkError(
            f"a rollout of service {name!r} is running {who}, {state.where()}",
            f"wait for it, follow it with `knwalk rollout status {name}`, or stop it with "
            f"`knwalk rollout abort {name}`",
        )
    raise KnwalkError(
        f"a rollout of service {name!r} is in progress: {state.phase} {state.where()}"
        + (f" ({state.reason})" if state.reason else ""),
        f"continue it with `knwalk rollout resume {name}`, or send all traffic back to "
        f"{state.current} with `knwalk rollout abort {name}`",
    )


# --------------------------------------------------------------------------- running


def _refuse_cluster_local(svc: knative.ServiceView) -> None:
    """A rollout sends its load through the ingress gateway, which does not serve a
    cluster-local Service (or tag): each answer would be a 404 blamed on the candidate."""
    from urllib.parse import urlsplit

    labels = (svc.raw.get("metadata") or {}).get("labels") or {}
    labelled = labels.get(VISIBILITY_LABEL) == "cluster-local"
    host = (urlsplit(svc.url).hostname or "") if svc.url else ""
    if not labelled and not host.endswith("." + CLUSTER_LOCAL_DOMAIN):
        return
    hint = (
        f"make it public with `kubectl label ksvc {svc.name} {VISIBILITY_LABEL}-`"
        if labelled
        else "give its Routes a domain the ingress gateway serves (config-domain; "
        "`knwalk doctor` checks it)"
    )
    raise KnwalkError(
        f"service {svc.name!r} is only reachable inside the cluster ({svc.url or 'no URL'}): "
        "the ingress gateway does not serve it, so a rollout cannot send it load",
        f"{hint}; a rollout measures the candidate through the gateway",
    )


def _noop(*args: Any) -> None:
    return None


@dataclass
class Callbacks:
    """Where a rollout reports: ``say`` a line of what happens; a step's start, its load's
    progress (from the load's thread, about four times a second) and its report."""

    say: Callable[[str], None] = _noop
    step_started: Callable[[StepStart], None] = _noop
    progress: Callable[[StepProgress], None] = _noop
    step_done: Callable[[StepReport], None] = _noop


class Rollout:
    """One Service's rollout, started (:meth:`start`), resumed (:meth:`resume`) or aborted
    (:meth:`abort`) through ``kube``; load goes to ``gateway`` (default: discovered)."""

    def __init__(
        self,
        kube: Kube,
        name: str,
        *,
        gateway: Gateway | None = None,
        callbacks: Callbacks | None = None,
        wait_timeout: float = knative.DEFAULT_WAIT_TIMEOUT,
        wait_window: float = knative.DEFAULT_WAIT_WINDOW,
    ) -> None:
        self.kube = kube
        self.name = name
        self.gateway = gateway
        self.cb = callbacks or Callbacks()
        self.wait_timeout = wait_timeout
        self.wait_window = wait_window
        self.svc: knative.ServiceView | None = None
        self.state: State | None = None
        #: the annotation text and traffic block the rollout last wrote, and those of the
        #: write in flight (so that a write whose answer was lost is recognised as ours)
        self.written: tuple[str, list[Obj]] = ("", [])
        self.pending: tuple[str, list[Obj]] | None = None

    # ------------------------------------------------------------ entry points

    def start(self, opts: knative.DeployOptions, manifest: Obj | None, settings: Settings) -> State:
        """Pin, change the template, wait for the candidate, run every step; the promoted
        state, or :class:`RolloutError`."""
        svc, state = read_state(self.kube, self.name)
        _refuse_in_progress(svc, state)
        _refuse_cluster_local(svc)
        current = serving_revision(svc)
        cur = self._revision(current)
        if cur is None or cur.ready_status != "True":
            why = cur.ready.describe() if cur is not None and cur.ready else "not found"
            raise KnwalkError(
                f"the serving Revision {current} of service {self.name!r} is not ready: {why}",
                f"see `knwalk status {self.name}`",
            )
        self.gateway = self.gateway or self._discover()
        self._template_changed(opts, manifest, settings, current)
        return self._run()

    def resume(
        self, *, step_duration: float | None = None, step_requests: int | None = None
    ) -> State:
        """Continue a paused rollout (or one whose process is gone) from its step; the
        steps left may be given another length (the rest of the settings are kept)."""
        svc, state = read_state(self.kube, self.name)
        if state is None or not state.in_progress:
            raise KnwalkError(_nothing_in_progress(self.name, state), _start_hint(self.name))
        if state.holder_alive():
            raise KnwalkError(
                f"the rollout of service {self.name!r} is running, by pid "
                f"{state.holder.get('pid')} on {state.holder.get('host')}, {state.where()}",
                f"follow it with `knwalk rollout status {self.name}`; stop it with "
                f"`knwalk rollout abort {self.name}`",
            )
        if not knative.same_traffic(svc.spec_traffic, state.traffic):
            raise KnwalkError(
                f"the traffic of service {self.name!r} was changed since the rollout stopped: "
                f"spec.traffic is {knative.show_block(svc.spec_traffic)}, the rollout left "
                f"{knative.show_block(state.traffic)}",
                f"`knwalk rollout abort {self.name}` sends all traffic back to "
                f"{state.current}; then roll out again",
            )
        self.gateway = self.gateway or self._discover()
        self.svc, self.state = svc, state
        self.written = (state.text(), state.traffic)
        if step_duration is not None or step_requests is not None:
            length = replace(state.settings.load, duration=step_duration, requests=step_requests)
            state.settings = replace(state.settings, load=length.check())
        state.phase, state.reason, state.message = RUNNING, "", ""
        state.holder = _holder()
        self.cb.say(f"Resuming the rollout of service '{self.name}' {state.where()}.")
        return self._run()

    def abort(self) -> State:
        """Send all traffic back to ``current`` (the candidate keeps its tag); phase aborted."""
        from kn_walk.kube import retry_on_conflict

        def attempt(n: int) -> Obj:
            svc, state = read_state(self.kube, self.name)
            if state is None or not state.in_progress:
                raise KnwalkError(_nothing_in_progress(self.name, state), _start_hint(self.name))
            block = rollback_block(state, other_targets(svc.spec_traffic))
            state.phase, state.reason = ABORTED, ""
            state.message = f"aborted {state.where()}; all traffic back on {state.current}"
            state.traffic, state.updated = block, _now()
            self.state = state
            patch = _patch(svc, state, block)
            return self.kube.merge_patch(
                knative.GROUP, knative.VERSION, knative.SERVICES, self.name, patch
            )

        obj = retry_on_conflict(attempt)
        assert self.state is not None
        knative.wait_traffic(self.kube, knative.ServiceView.from_obj(obj), self.wait_timeout)
        return self.state

    # ------------------------------------------------------------ start

    def _template_changed(
        self,
        opts: knative.DeployOptions,
        manifest: Obj | None,
        settings: Settings,
        current: str,
    ) -> None:
        """The first write: the pin, the template and the state, at once, computed from
        one read of the Service (a 409 reads again)."""
        from kn_walk.kube import retry_on_conflict

        def attempt(n: int) -> Obj:
            deploy = _template_change(self.kube, self.name, opts, manifest)
            fresh = deploy.current
            assert fresh is not None
            _refuse_in_progress(fresh, State.from_service(fresh))
            if serving_revision(fresh) != current:
                raise KnwalkError(
                    f"service {self.name!r} changed its serving Revision meanwhile",
                    "run the rollout again",
                )
            pin_state = State(self.name, uuid.uuid4().hex[:12], RUNNING, current, "", 0, settings)
            pin = rollback_block(pin_state, other_targets(fresh.spec_traffic))
            pin_state.traffic = pin
            self.state = pin_state
            self.pending = (pin_state.text(), pin)
            return self._send_template(fresh, deploy, pin_state, pin)

        try:
            obj = retry_on_conflict(attempt)
        except ApiError as err:
            if err.status in (400, 422):
                raise ApiError(
                    f"Knative rejected the new template of service {self.name!r}: {err.message}",
                    "fix the value it names; nothing was changed",
                    status=err.status,
                    reason=err.reason,
                ) from None
            raise
        self._wrote(knative.ServiceView.from_obj(obj))
        assert self.state is not None
        self.state.generation = self.svc.generation if self.svc else 0
        self.cb.say(
            f"Pinned 100% of service '{self.name}' on {current} (tag {CURRENT_TAG}) and "
            "changed its template in one write: Knative stamps a new Revision, which gets "
            "no traffic yet."
        )

    def _send_template(
        self, svc: knative.ServiceView, deploy: knative.DeployPlan, state: State, pin: list[Obj]
    ) -> Obj:
        assert deploy.body is not None
        body = copy.deepcopy(deploy.body)
        meta = body.setdefault("metadata", {})
        meta["resourceVersion"] = svc.resource_version
        meta.setdefault("annotations", {})[ANNOTATION] = state.text()
        body.setdefault("spec", {})["traffic"] = pin
        if deploy.action == "apply":
            return self.kube.apply(
                knative.GROUP, knative.VERSION, knative.SERVICES, self.name, body
            )
        return self.kube.merge_patch(
            knative.GROUP, knative.VERSION, knative.SERVICES, self.name, body
        )

    def _await_candidate(self) -> None:
        """Wait until the new generation is Ready; a candidate that fails ends the rollout."""
        state = self.state
        assert state is not None and self.svc is not None
        before = self.svc
        self.cb.say("Waiting for the new Revision to become Ready ...")

        def progress(elapsed: float, cond: knative.Condition) -> None:
            text = cond.message or ("Ready to serve." if cond.status == "True" else cond.reason)
            if text:
                self.cb.say(f"{elapsed:7.2f}s {text}")

        try:
            ready = knative.wait_ready(
                self.kube,
                self.name,
                state.generation,
                self.wait_timeout,
                progress,
                window=self.wait_window,
            )
        except KnwalkError as exc:
            self._candidate_failed(before, exc)
        candidate = ready.latest_ready or ready.latest_created
        if not candidate or candidate == state.current:
            self._candidate_failed(before, KnwalkError("the template made no new Revision"))
        state.candidate = candidate
        self.svc = ready
        self.cb.say(f"Candidate {candidate} is Ready; it has no traffic yet.")
        for name in (state.current, candidate):
            rev = self._revision(name)
            if rev is not None and rev.fault:
                self.cb.say(
                    f"Note: {name} carries the sandbox's fault injection ({FAULT_ANNOTATION}: "
                    f"{rev.fault}); the sandbox's gateway applies it to the requests routed "
                    "to it (`knwalk status` shows it)."
                )

    def _candidate_failed(self, before: knative.ServiceView, exc: KnwalkError) -> NoReturn:
        state = self.state
        assert state is not None
        svc = knative.get_service(self.kube, self.name) or before
        candidate = svc.latest_created if svc.latest_created != state.current else ""
        why = exc.message
        if candidate:
            rev = self._revision(candidate)
            if rev is not None and rev.ready is not None and rev.ready.status != "True":
                why = rev.ready.describe()
        state.candidate = candidate
        state.phase, state.reason = FAILED, NOT_READY
        state.message = (
            f"candidate {candidate or '(none)'} never became Ready: {why}; no traffic moved"
        )
        with _best_effort():
            self._write_state(svc)
        raise RolloutError(
            f"the rollout of service {self.name!r} stopped before moving any traffic: "
            f"the candidate Revision {candidate or '(none)'} never became Ready: {why}",
            f"100% still goes to {state.current} (tag {CURRENT_TAG}); see "
            f"`knwalk status {self.name}`, fix the image or settings and roll out again",
            state=state,
        )

    # ------------------------------------------------------------ steps

    def _run(self) -> State:
        state = self.state
        assert state is not None
        try:
            if not state.candidate:
                self._await_candidate()
            while state.step < state.total:
                report = self._step(state.step)
                if not report.passed:
                    return self._rollback(report)
                state.results.append(report.record())
                state.step += 1
            return self._promote()
        except KeyboardInterrupt:
            raise self._paused(INTERRUPTED, "interrupted", exit_code=130) from None
        except _Concurrent as exc:
            raise self._changed(exc) from None
        except RolloutError:
            raise
        except KnwalkError as exc:
            raise self._lost(exc) from None

    def _discover(self) -> Gateway:
        from kn_walk import ingress

        return ingress.discover(self.kube)

    def _step(self, index: int) -> StepReport:
        state = self.state
        assert state is not None and self.svc is not None
        percent = state.settings.steps[index]
        number = index + 1
        _refuse_cluster_local(self.svc)  # made so since the rollout started: move nothing
        block = step_block(state, percent, other_targets(self.svc.spec_traffic))
        self._write(block)
        self._wait_traffic()
        svc = knative.require_service(self.kube, self.name)
        self._check(svc)
        self.svc = svc
        url = svc.tag_url(CANDIDATE_TAG) or ""
        text = lesson(state, percent, url)
        self.cb.step_started(
            StepStart(
                number, state.total, percent, state.current, state.candidate, block, text, url
            )
        )
        if not url or not svc.url:
            raise KnwalkError(
                f"service {self.name!r} has no URL for tag {CANDIDATE_TAG!r} to send the "
                "candidate's load to (is it cluster-local?)",
                "a rollout needs the Service's external URL and its tag URLs",
            )
        report = self._measure(number, percent, svc, url, text)
        self.cb.step_done(report)
        return report

    def _measure(
        self, number: int, percent: int, svc: knative.ServiceView, url: str, text: str
    ) -> StepReport:
        from kn_walk import ingress

        state = self.state
        assert state is not None and self.gateway is not None
        load = state.settings.load
        specs = (
            load.spec(self.gateway.url, ingress.host_of(svc.url)),
            load.spec(self.gateway.url, ingress.host_of(url)),
        )
        stop = threading.Event()
        seen: list[LoadProgress | None] = [None, None]

        def tell(i: int) -> Callable[[LoadProgress], None]:
            def on(p: LoadProgress) -> None:
                seen[i] = p
                if p.refused or p.untrusted:
                    # the gateway is down or restarting, or its certificate is not
                    # trusted: the step will judge nothing, so it ends now rather than at
                    # its planned end
                    stop.set()
                self.cb.progress(StepProgress(number, state.total, percent, seen[0], seen[1]))

            return on

        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["results"] = asyncio.run(_both(specs, (tell(0), tell(1)), stop))
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        watch = _Watch(self, stop)
        worker = threading.Thread(target=work, name="rollout-load", daemon=True)
        interrupted = False
        worker.start()
        watch.start()
        try:
            try:
                while worker.is_alive():
                    worker.join(0.25)
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
                while worker.is_alive():
                    worker.join(0.25)
        finally:
            watch.close()
        if "error" in box:
            raise box["error"]
        if interrupted:
            raise KeyboardInterrupt
        if watch.changed is not None:
            raise watch.changed
        if watch.lost:
            raise KnwalkError(
                f"lost the Kubernetes API during step {number}: {watch.lost}",
                "the step's answers judge nothing",
            )
        main, tag = box["results"]
        return self._report(number, percent, svc, main, tag, text)

    def _report(
        self,
        number: int,
        percent: int,
        svc: knative.ServiceView,
        main: LoadResult,
        tag: LoadResult,
        text: str,
    ) -> StepReport:
        state = self.state
        assert state is not None
        cur, cand = self._revision(state.current), self._revision(state.candidate)
        bodies = (cur.sample_body if cur else "", cand.sample_body if cand else "")
        expected = [
            (bodies[0], 100 - percent, [state.current]),
            (bodies[1], percent, [state.candidate]),
        ]
        note = ""
        if bodies[0] == bodies[1]:
            expected = [(bodies[0], 100, [state.current, state.candidate])]
            note = "both Revisions answer alike, so the answers cannot tell the split"
        rows, verdict = main.compare(expected)
        if note or any(body not in bodies for body in main.bodies):
            if not note:
                note = "the answers are not the helloworld sample's, so the split is not checked"
            verdict = None
        # failures between knwalk and the gateway, before any Revision: not the candidate's
        refused = main.failures.get("connect error", 0) + tag.failures.get("connect error", 0)
        untrusted = main.failures.get("tls error", 0) + tag.failures.get("tls error", 0)
        gateway = self.gateway.url if self.gateway else ""
        void = ""
        if refused:
            void = (
                f"the gateway {gateway} refused {refused} connections (down or restarting): "
                "the answers judge nothing"
            )
        elif untrusted:
            void = (
                f"{untrusted} requests to the gateway {gateway} failed TLS verification (tls "
                "error: its certificate is not trusted for the Service's hosts, or not issued "
                "yet): the answers judge nothing"
            )
        elif main.count == 0 or tag.count == 0:
            void = "no request was sent"
        elif percent < 100 and not main.ok and not tag.ok:
            # not even the current Revision's share got through: the gateway does not
            # route this Service (the wrong gateway), whatever the candidate does
            kinds = main.failures + tag.failures
            shown = ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))
            void = (
                f"the gateway {gateway} answered none of the {main.count + tag.count} "
                f"requests ({shown}), though {100 - percent}% should reach {state.current}: "
                f"does it route service {self.name!r}? The answers judge nothing"
            )
        return StepReport(
            self.name,
            svc.namespace,
            number,
            state.total,
            percent,
            state.current,
            state.candidate,
            text,
            main,
            tag,
            tuple(rows),
            verdict,
            note,
            tuple(judge(state.settings.gates, tag)) if not void else (),
            void,
        )

    # ------------------------------------------------------------ endings

    def _rollback(self, report: StepReport) -> State:
        state = self.state
        assert state is not None and self.svc is not None
        if report.void:
            raise self._paused(VOID_STEP, f"step {report.number} is void: {report.void}")
        failed = "; ".join(g.describe() for g in report.failed_gates)
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(report.tag.failures.items()))
        detail = f" ({report.tag.failed} of {report.tag.count} failed: {errors})" if errors else ""
        state.results.append(report.record())
        state.phase, state.reason = ROLLED_BACK, GATE_FAILED
        state.message = (
            f"rolled back at step {report.number} of {state.total} ({report.percent}% to "
            f"{state.candidate}): {failed} on the candidate{detail}"
        )
        block = rollback_block(state, other_targets(self.svc.spec_traffic))
        self._write(block)
        self.cb.say(
            f"Rolled back in one write: 100% to {state.current} (tag {CURRENT_TAG}); "
            f"{state.candidate} keeps tag {CANDIDATE_TAG} at 0% for debugging."
        )
        with _best_effort():
            self._wait_traffic()
        raise RolloutError(
            f"rollout of service {self.name!r} {state.message}",
            f"all traffic is back on {state.current}; the candidate keeps its tag URL: try "
            f"`knwalk curl {self.name} --tag {CANDIDATE_TAG}`; `knwalk rollout status "
            f"{self.name}` has every step's numbers",
            state=state,
        )

    def _promote(self) -> State:
        state = self.state
        assert state is not None and self.svc is not None
        svc = knative.require_service(self.kube, self.name)
        self._check(svc)
        # @latest only if the candidate is the template's last Revision: after a template
        # change during the rollout (a deploy in another shell), latestRevision: true would
        # hand all the traffic to a Revision no step judged, as soon as it became Ready
        newer = [r for r in (svc.latest_created, svc.latest_ready) if r and r != state.candidate]
        why = f"{newer[0]} is newer" if newer else ""
        if not why and svc.observed_generation != svc.generation:
            why = "the template changed and has no Revision yet"
        latest = not why
        block = promoted_block(state, other_targets(svc.spec_traffic), latest)
        state.phase, state.reason = PROMOTED, ""
        state.message = f"promoted {state.candidate} after {state.total} steps" + (
            "" if latest else f" (pinned: {why}, so not @latest)"
        )
        self.svc = svc
        self._write(block)
        self._wait_traffic()
        if latest:
            self.cb.say(
                f"Promoted: 100% follows the latest ready Revision, {state.candidate} "
                f"(latestRevision: true, tag {LATEST_TAG}); tag {CURRENT_TAG} is now "
                f"{state.candidate}, {CANDIDATE_TAG} the one before, {state.current}."
            )
        else:
            self.cb.say(
                f"Promoted {state.candidate}, pinned at 100%: {why}, and this rollout did not "
                "judge it; it gets no traffic until you split to it."
            )
        return state

    def _paused(self, reason: str, why: str, exit_code: int = 1) -> RolloutError:
        """Stop at a safe point: the split stays, the state says paused (if it can be
        written); the error says how to go on."""
        state = self.state
        assert state is not None
        state.phase, state.reason = PAUSED, reason
        state.message = f"stopped {state.where()}: {why}"
        recorded = ""
        try:
            svc = knative.get_service(self.kube, self.name)
            if svc is None:
                return self._deleted(exit_code)
            self._check(svc)
            state.traffic = self.written[1]
            self._write_state(svc)
        except (KnwalkError, _Concurrent) as exc:
            from kn_walk.kube import Unreachable

            why = "the API did not answer" if isinstance(exc, Unreachable) else str(exc)
            recorded = f" (not recorded on the Service: {why})"
        shown = knative.show_block(self.written[1]) if self.written[1] else "unchanged"
        return RolloutError(
            f"rollout of service {self.name!r} {state.message}; the split was left as it "
            f"is: {shown}{recorded}",
            f"continue with `knwalk rollout resume {self.name}` (it runs that step again), "
            f"or send all traffic back to {state.current} with "
            f"`knwalk rollout abort {self.name}`",
            state=state,
            exit_code=exit_code,
        )

    def _deleted(self, exit_code: int) -> RolloutError:
        """The Service is gone, with its Revisions and the rollout's state: nothing to
        resume or abort, so the rollout ends (it cannot record that anywhere)."""
        state = self.state
        assert state is not None
        where = state.where()
        state.phase, state.reason = ABORTED, SERVICE_DELETED
        state.message = f"ended {where}: service {self.name!r} was deleted"
        return RolloutError(
            f"rollout of service {self.name!r} {state.message}, with its Revisions, "
            "traffic and the rollout's state",
            f"nothing is left to resume or abort; deploy it again (`knwalk deploy {self.name}`) "
            "and roll out again",
            state=state,
            exit_code=exit_code,
        )

    def _changed(self, exc: _Concurrent) -> RolloutError:
        """Someone else changed the traffic or the state: stop, overwrite nothing."""
        state = self.state
        assert state is not None
        now = exc.svc
        if now is not None and State.from_service(now) is not None and exc.why == "state":
            other = State.from_service(now)
            assert other is not None
            return RolloutError(
                f"the rollout of service {self.name!r} was taken over meanwhile: it is now "
                f"{other.phase} ({other.message or other.where()}); this one stopped",
                f"see `knwalk rollout status {self.name}`",
                state=other,
            )
        traffic = knative.show_block(now.spec_traffic) if now is not None else "(deleted)"
        state.phase, state.reason = PAUSED, TRAFFIC_CHANGED
        state.message = (
            f"stopped {state.where()}: someone else changed the traffic (spec.traffic is now "
            f"{traffic})"
        )
        if now is not None:
            with _best_effort():
                state.traffic = self.written[1]
                self._write_state(now, check_traffic=False)
        return RolloutError(
            f"the traffic of service {self.name!r} was changed by someone else during the "
            f"rollout (spec.traffic is now {traffic}); the rollout stopped {state.where()} "
            "and left it as it is",
            f"see `knwalk rollout status {self.name}`; `knwalk rollout abort {self.name}` "
            f"sends all traffic back to {state.current}",
            state=state,
        )

    def _lost(self, exc: KnwalkError) -> RolloutError:
        """A failure of the cluster or the gateway: stop where we are, resumable."""
        err = self._paused(API_LOST, exc.message)
        if exc.hint:
            err.hint = f"{exc.hint}; {err.hint}"
        return err

    # ------------------------------------------------------------ writes

    def _wait_traffic(self) -> None:
        """Wait until the Route serves what the rollout wrote; a change by someone else
        meanwhile is :class:`_Concurrent`, not a failure of the cluster."""
        assert self.svc is not None
        try:
            knative.wait_traffic(self.kube, self.svc, self.wait_timeout)
        except KnwalkError:
            now = knative.get_service(self.kube, self.name)
            if now is not None:
                self._check(now)
            raise

    def _revision(self, name: str) -> knative.RevisionView | None:
        if not name:
            return None
        obj = self.kube.get(knative.GROUP, knative.VERSION, knative.REVISIONS, name)
        return knative.RevisionView.from_obj(obj) if obj else None

    def _ours(self, svc: knative.ServiceView) -> bool:
        """Whether the Service still holds this rollout's last (or in-flight) write; an
        in-flight one found in place becomes the last."""
        text = (svc.raw.get("metadata") or {}).get("annotations", {}).get(ANNOTATION)
        for written in (self.written, self.pending):
            if written is not None and text == written[0]:
                if written is self.pending:
                    self.written, self.pending = written, None
                return True
        return False

    def _check(self, svc: knative.ServiceView, *, check_traffic: bool = True) -> None:
        """Raise :class:`_Concurrent` unless the Service holds what this rollout wrote."""
        if not self._ours(svc):
            raise _Concurrent(svc, "state")
        if check_traffic and not knative.same_traffic(svc.spec_traffic, self.written[1]):
            raise _Concurrent(svc, "traffic")

    def _write(self, block: list[Obj]) -> None:
        """Set ``spec.traffic`` to ``block`` with the state, in one merge patch guarded by
        the resourceVersion; a 409 re-reads and checks the Service is still ours."""
        from kn_walk.kube import retry_on_conflict

        state = self.state
        assert state is not None and self.svc is not None

        def attempt(n: int) -> Obj:
            svc = self.svc if n == 1 else knative.require_service(self.kube, self.name)
            assert svc is not None
            self._check(svc)
            state.traffic, state.updated = block, _now()
            self.pending = (state.text(), block)
            return self.kube.merge_patch(
                knative.GROUP,
                knative.VERSION,
                knative.SERVICES,
                self.name,
                _patch(svc, state, block),
            )

        self._wrote(knative.ServiceView.from_obj(retry_on_conflict(attempt)))

    def _write_state(self, svc: knative.ServiceView, *, check_traffic: bool = True) -> None:
        """Record the state only (metadata), leaving the traffic alone."""
        from kn_walk.kube import retry_on_conflict

        state = self.state
        assert state is not None

        def attempt(n: int) -> Obj:
            fresh = svc if n == 1 else knative.require_service(self.kube, self.name)
            self._check(fresh, check_traffic=check_traffic)
            state.updated = _now()
            self.pending = (state.text(), self.written[1])
            patch = {
                "metadata": {
                    "resourceVersion": fresh.resource_version,
                    "annotations": {ANNOTATION: state.text()},
                }
            }
            return self.kube.merge_patch(
                knative.GROUP, knative.VERSION, knative.SERVICES, self.name, patch
            )

        self._wrote(knative.ServiceView.from_obj(retry_on_conflict(attempt)))

    def _wrote(self, svc: knative.ServiceView) -> None:
        assert self.pending is not None
        self.written, self.pending = self.pending, None
        self.svc = svc


def _patch(svc: knative.ServiceView, state: State, block: list[Obj]) -> Obj:
    return {
        "metadata": {
            "resourceVersion": svc.resource_version,
            "annotations": {ANNOTATION: state.text()},
        },
        "spec": {"traffic": block},
    }


class _best_effort:
    """Leave a failure of a secondary write (recording the state) out of the way."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return isinstance(exc, (KnwalkError, _Concurrent))


class _Watch:
    """While a step sends load, reads the Service every WATCH_INTERVAL: when its traffic or
    the rollout's state is no longer ours, or the API stops answering, sets ``stop``."""

    def __init__(self, rollout: Rollout, stop: threading.Event) -> None:
        self.rollout = rollout
        self.stop = stop
        self.done = threading.Event()
        self.changed: _Concurrent | None = None
        self.lost = ""
        self.thread = threading.Thread(target=self._run, name="rollout-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        r = self.rollout
        while not self.done.wait(WATCH_INTERVAL):
            try:
                obj = r.kube.get(
                    knative.GROUP,
                    knative.VERSION,
                    knative.SERVICES,
                    r.name,
                    deadline=time.monotonic() + 5 * WATCH_INTERVAL,
                )
                if obj is None:
                    self.lost = f"service {r.name!r} was deleted"
                else:
                    r._check(knative.ServiceView.from_obj(obj))
            except _Concurrent as exc:
                self.changed = exc
            except KnwalkError as exc:
                self.lost = exc.message
            if self.changed is not None or self.lost:
                self.stop.set()
                return


async def _both(
    specs: tuple[LoadSpec, LoadSpec],
    progress: tuple[Callable[[LoadProgress], None], Callable[[LoadProgress], None]],
    stop: threading.Event,
) -> tuple[LoadResult, LoadResult]:
    from kn_walk import load

    main, tag = await asyncio.gather(
        load.arun(specs[0], progress[0], stop), load.arun(specs[1], progress[1], stop)
    )
    return main, tag


def _nothing_in_progress(name: str, state: State | None) -> str:
    if state is None:
        return f"no rollout of service {name!r} is recorded"
    return f"no rollout of service {name!r} is in progress (the last one {state.phase}: {state.message})"


def _start_hint(name: str) -> str:
    return f'start one with `knwalk rollout -s {name} --target "..."` (or --image, -e, -f)'


# --------------------------------------------------------------------------- showing


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _seconds(ms: object) -> float | None:
    return None if ms is None else float(ms) / 1000  # type: ignore[arg-type]


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def _show_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3g}ms" if ms < 1000 else f"{seconds:.3g}s"


def _show_value(name: str, value: float) -> str:
    return _pct(value) if name == "error rate" else _show_ms(value)
