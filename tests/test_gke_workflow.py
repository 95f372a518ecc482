"""kn_walk.gke.create_cluster from Python: the create workflow and the events it reports.

Through the real ClusterManagerClient (REST) against tests/fake_gke.py, without the
CLI: a callback collects what the workflow reports, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kn_walk import gke
from tests.fake_gke import FakeGke
from tests.test_reliability_gke import P, Z, client, order, spec


@pytest.fixture
def fake() -> Iterator[FakeGke]:
    with FakeGke() as server:
        yield server


class Events:
    """Collects ``on_accepted`` and ``on_progress`` calls as one list, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def accepted(self, op: Any, adopted: bool) -> None:
        self.seen.append(("accepted", op.name, adopted))

    def progress(self, p: gke.Progress) -> None:
        self.seen.append(("progress", p.status, p.fraction))

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.seen]

    def statuses(self) -> list[Any]:
        return [status for kind, status, _ in self.seen if kind == "progress"]


def run(g: gke.Gke, events: Events, **kwargs: Any) -> gke.CreateResult:
    return gke.create_cluster(
        g,
        spec(),
        poll_interval=0,
        on_accepted=events.accepted,
        on_progress=events.progress,
        **kwargs,
    )


def test_create_reports_the_operation_then_its_progress_until_done(fake: FakeGke) -> None:
    events = Events()
    result = run(client(fake.url), events)
    assert result.waited and not result.adopted and not result.existed
    assert result.operation is not None
    assert gke.operation_kind(result.operation) == "CREATE_CLUSTER"
    assert gke.progress_of(result.operation).status == "DONE"
    assert events.seen[0] == ("accepted", result.operation.name, False)
    assert events.kinds()[1:] == ["progress"] * (fake.steps + 2)
    assert events.statuses() == ["PENDING", *["RUNNING"] * fake.steps, "DONE"]
    assert fake.clusters[(P, Z, "knwalk")]["status"] == "RUNNING"
    assert len(fake.calls("POST")) == 1


def test_without_waiting_only_the_operation_is_reported(fake: FakeGke) -> None:
    events = Events()
    result = run(client(fake.url), events, wait=False)
    assert result.operation is not None and not result.waited
    assert gke.progress_of(result.operation).status == "PENDING"
    assert events.seen == [("accepted", result.operation.name, False)]
    assert order(fake) == ["POST clusters"]  # not a single poll


def test_a_503_create_that_gke_accepted_is_reported_as_adopted(fake: FakeGke) -> None:
    fake.fail("POST", "/clusters$", 503, after=True)
    events = Events()
    result = run(client(fake.url), events)
    assert result.adopted and result.operation is not None
    assert events.seen[0] == ("accepted", result.operation.name, True)
    assert events.statuses()[-1] == "DONE"
    assert len(fake.calls("POST")) == 1


def test_a_retried_create_answered_409_follows_the_earlier_attempt(fake: FakeGke) -> None:
    # GKE accepted the first POST but answered 429; the retry then meets our own cluster
    fake.fail("POST", "/clusters$", 429, after=True)
    events = Events()
    g = client(fake.url)
    result = run(g, events)
    assert order(fake)[:3] == ["POST clusters", "POST clusters", "GET operations"]
    assert g.retries == 1
    assert result.adopted and not result.existed and result.operation is not None
    first = fake.operations[result.operation.name].data
    assert first["operationType"] == "CREATE_CLUSTER"
    assert events.seen[0] == ("accepted", result.operation.name, True)
    assert events.statuses()[-1] == "DONE"
    assert [c[2] for c in fake.clusters] == ["knwalk"]
    assert fake.clusters[(P, Z, "knwalk")]["status"] == "RUNNING"


def test_an_existing_cluster_is_reported_as_existed_and_nothing_is_followed(
    fake: FakeGke,
) -> None:
    fake.add_cluster(P, Z, "knwalk")
    events = Events()
    result = run(client(fake.url), events)
    assert result.existed and result.operation is None and not result.adopted
    assert events.seen == []
    assert order(fake) == ["POST clusters"]  # a 409 without a retry: no need to look


def test_a_retried_create_meeting_someone_elses_operation_is_existed(fake: FakeGke) -> None:
    # the cluster exists and is being deleted; our create is rate-limited, then 409
    fake.add_cluster(P, Z, "knwalk")
    client(fake.url).delete(P, Z, "knwalk")
    fake.fail("POST", "/clusters$", 429)
    events = Events()
    result = run(client(fake.url), events)
    assert result.existed and events.seen == []
    assert order(fake)[-3:] == ["POST clusters", "POST clusters", "GET operations"]


def test_only_retries_of_this_create_make_a_409_look_like_ours(fake: FakeGke) -> None:
    g = client(fake.url)
    fake.fail("GET", "/clusters$", 429)
    g.list_clusters(P)  # a retry before the create
    assert g.retries == 1
    # someone else's create is running on the cluster
    client(fake.url).create(spec())
    events = Events()
    result = run(g, events)
    assert result.existed and events.seen == []
    assert order(fake)[-1] == "POST clusters"  # no retry in this create: not looked up


def test_an_operation_ending_in_error_raises_after_reporting_it(fake: FakeGke) -> None:
    fake.operation_error = "Insufficient regional quota to satisfy request: resource CPUS"
    events = Events()
    with pytest.raises(gke.OperationFailed) as info:
        run(client(fake.url), events)
    assert "Insufficient regional quota" in info.value.message
    assert events.kinds()[0] == "accepted"
    assert events.statuses()[-1] == "DONE"


def test_refusals_other_than_409_are_raised_as_they_are(fake: FakeGke) -> None:
    fake.fail("POST", "/clusters$", 403)
    events = Events()
    with pytest.raises(gke.GkeApiError) as info:
        run(client(fake.url), events)
    assert info.value.code == 403 and events.seen == []
