"""Faults the sandbox's gateway injects for one Revision, as Istio's VirtualService ``fault``.

The sample app always answers 200 at once, so a canary (``knwalk rollout``) would
never see a bad candidate. On a cluster with Istio one would inject a fault into
the Revision's route (a VirtualService's ``fault.abort`` / ``fault.delay``, applied
by Envoy's fault filter before the request is routed); the sandbox takes the same
two faults from one annotation on the Revision, which Knative copies from the
Service's template, so a new template can carry it::

    spec:
      template:
        metadata:
          annotations:
            sandbox.knwalk.dev/fault: "abort=503 percent=50"

``sandbox.knwalk.dev/fault`` holds ``key=value`` words, separated by spaces:

``abort=STATUS``
    answer ``STATUS`` (200-599, Istio's ``httpStatus`` range) with Envoy's body
    ``fault filter abort`` instead of sending the request on;
``delay=DURATION``
    hold the request ``DURATION`` (``300ms``, ``2s``; 1ms to 10m) before sending it
    on (Istio's ``fixedDelay``; the Revision's timeout starts after it);
``percent=P``
    the share of the requests routed to the Revision that get the fault, more
    than 0 and at most 100 (decimals allowed, as Istio's ``percentage.value``);
    default 100.

Exactly one of ``abort`` and ``delay``. The sandbox's webhook refuses anything else
(:func:`annotation_errors`), ``knwalk status`` shows a Revision's fault as a FAULT
note, and the fault lasts only as long as the annotation: never silently on. A
cluster running Knative ignores the annotation.

The gateway (:func:`kn_walk.sandbox.dataplane.gateway.intercept_fault`) applies it to
each request once its Revision is chosen (``Gateway.dispatch``, HTTP/1.1 and HTTP/2);
retries of a request the gateway makes itself are not faulted again, as Envoy's
fault filter runs once, before the router.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kn_walk.knative_rules.fielderror import FieldError, invalid_value
from kn_walk.knative_rules.labels import FAULT_ANNOTATION

log = logging.getLogger(__name__)

ANNOTATION = FAULT_ANNOTATION
#: the body of an aborted request, Envoy's fault filter's
ABORT_BODY = b"fault filter abort"
MIN_STATUS, MAX_STATUS = 200, 599
MIN_DELAY, MAX_DELAY = 0.001, 600.0
EXAMPLES = '"abort=503 percent=50" or "delay=300ms"'


class FaultError(ValueError):
    """An annotation value that is not a fault: the message says what is wrong."""


@dataclass(frozen=True)
class Fault:
    """One Revision's fault: ``abort`` a status or ``delay`` seconds, for ``percent`` %."""

    text: str
    abort: int | None = None
    delay: float | None = None
    percent: float = 100.0

    def describe(self, where: str = "") -> str:
        """``answers 503 (...) to 50% of the requests`` / ``holds every request 300ms
        before passing it on``; ``where`` follows the requests (`` routed to X``)."""
        whole = self.percent >= 100
        share = ("every request" if whole else f"{self.percent:g}% of the requests") + where
        if self.abort is not None:
            return f"answers {self.abort} ({ABORT_BODY.decode()}) to {share}"
        assert self.delay is not None
        return f"holds {share} {_seconds(self.delay)} before passing {'it' if whole else 'them'} on"

    def hits(self) -> bool:
        """Whether this request gets the fault (``percent`` % of them, at random)."""
        return self.percent >= 100 or random.random() * 100 < self.percent


def _seconds(value: float) -> str:
    return f"{value * 1000:g}ms" if value < 1 else f"{value:g}s"


def _duration(text: str) -> float:
    from kn_walk.errors import UsageError
    from kn_walk.load import parse_duration

    try:
        seconds = parse_duration(text, "delay")
    except UsageError:
        seconds = -1.0
    if not MIN_DELAY <= seconds <= MAX_DELAY:
        raise FaultError(f"delay={text} is not a duration from 1ms to 10m, such as 300ms or 2s")
    return seconds


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not text.replace(".", "", 1).isdigit() or not 0 < value <= 100:
        raise FaultError(f"percent={text} is not a number above 0 and at most 100")
    return value


def parse(text: str) -> Fault:
    """The fault an annotation value names; :class:`FaultError` says what is wrong."""
    words: dict[str, str] = {}
    for word in text.split():
        key, eq, value = word.partition("=")
        if key not in ("abort", "delay", "percent"):
            raise FaultError(f"{word!r} is not abort=STATUS, delay=DURATION or percent=P")
        if not eq or not value:
            raise FaultError(f"{key} has no value: write {key}=VALUE")
        if key in words:
            raise FaultError(f"{key} is given twice")
        words[key] = value
    if ("abort" in words) == ("delay" in words):
        raise FaultError("give exactly one of abort=STATUS and delay=DURATION")
    percent = _percent(words["percent"]) if "percent" in words else 100.0
    if "delay" in words:
        return Fault(text, delay=_duration(words["delay"]), percent=percent)
    status = words["abort"]
    if not status.isdigit() or not MIN_STATUS <= int(status) <= MAX_STATUS:
        raise FaultError(f"abort={status} is not an HTTP status from 200 to 599")
    return Fault(text, abort=int(status), percent=percent)


def note(text: str) -> str:
    """What ``knwalk status`` says of a Revision's fault annotation ``text``."""
    try:
        fault = parse(text)
    except FaultError as exc:
        return f"({ANNOTATION}: {text}) is not a valid fault ({exc}); nothing is injected"
    return (
        f"({ANNOTATION}: {text}) the sandbox's gateway "
        f"{fault.describe(' routed to this Revision')}; sandbox only, Knative ignores it"
    )


def annotation_errors(annotations: object, base: str) -> list[FieldError]:
    """The webhook's errors for the fault annotation among ``annotations`` (at ``base``,
    e.g. ``spec.template.metadata.annotations``): empty when absent or valid."""
    if not isinstance(annotations, Mapping) or ANNOTATION not in annotations:
        return []
    value = annotations[ANNOTATION]
    try:
        parse(value if isinstance(value, str) else "")
    except FaultError as exc:
        detail = f"{exc} (sandbox fault injection: for example {EXAMPLES})"
        return [invalid_value(value, f"{base}.{ANNOTATION}", detail)]
    return []


def of_revision(obj: Mapping[str, Any]) -> Fault | None:
    """A Revision object's fault, if its annotation holds a valid one."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        return parse(value)
    except FaultError:
        return None  # written before the webhook checked it: nothing is injected


class RevisionFaults:
    """(namespace, revision) -> its fault, kept current from the Revisions the data plane
    sees; falsy while no Revision has one, so that the gateway's check costs nothing."""

    def __init__(self) -> None:
        self._faults: dict[tuple[str, str], Fault] = {}

    def __len__(self) -> int:
        return len(self._faults)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._faults)

    def get(self, key: tuple[str, str]) -> Fault | None:
        return self._faults.get(key)

    def observe(self, key: tuple[str, str], obj: Mapping[str, Any] | None) -> None:
        """The Revision ``key`` is now ``obj`` (None: deleted)."""
        fault = of_revision(obj) if obj is not None else None
        before = self._faults.get(key)
        if fault is None:
            self._faults.pop(key, None)
        else:
            self._faults[key] = fault
        if fault != before:
            ns, name = key
            if fault is None:
                log.info("revision %s/%s: no fault injected any more", ns, name)
            else:
                log.info("revision %s/%s: the gateway %s", ns, name, fault.describe())
