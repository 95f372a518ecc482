"""Creating a cluster as one workflow: send the create, recover, follow the operation.

:meth:`Gke.create <kn_walk.gke.api.Gke.create>` already looks for the cluster's
pending create after a 503 or a lost answer before it sends the create again. One
case is left for the workflow: a create that was retried (429/503) and then answered
409 ALREADY_EXISTS. The cluster may be the one an earlier attempt of ours created:
if a CREATE_CLUSTER operation is pending on it, that attempt was accepted and its
operation is followed (``adopted``); otherwise the cluster existed before and nothing
was created (:attr:`CreateResult.existed`).

Progress comes back through callbacks, as in :func:`kn_walk.knative.deploy`:
``on_accepted(operation, adopted)`` once GKE has the create, then
``on_progress(progress)`` after every poll while waiting. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kn_walk.gke.api import Gke, GkeApiError
from kn_walk.gke.objects import Progress, operation_kind
from kn_walk.gke.spec import ClusterSpec

if TYPE_CHECKING:
    from google.cloud.container_v1 import Operation


@dataclass(frozen=True)
class CreateResult:
    """How a create ended: the create operation (DONE when waited for), whether it was
    an earlier attempt's that GKE had accepted, and whether it was waited for.
    ``operation`` None: the cluster existed before and nothing was created."""

    operation: Operation | None
    adopted: bool = False
    waited: bool = False

    @property
    def existed(self) -> bool:
        return self.operation is None


def create_cluster(
    api: Gke,
    spec: ClusterSpec,
    *,
    wait: bool = True,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    on_accepted: Callable[[Operation, bool], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> CreateResult:
    """Create the cluster of ``spec``; with ``wait``, poll its operation until DONE.

    Raises what :meth:`Gke.create <kn_walk.gke.api.Gke.create>` and
    :meth:`Gke.wait <kn_walk.gke.api.Gke.wait>` raise: :class:`GkeApiError` for a
    refusal other than the 409 above, :class:`~kn_walk.gke.api.OperationFailed` for an
    operation that ended in error, :class:`~kn_walk.errors.WaitTimeout` at ``timeout``.
    """
    retries = api.retries
    try:
        op = api.create(spec)
        adopted = api.adopted is not None  # checked after a 503: GKE had accepted it after all
    except GkeApiError as exc:
        if exc.code != 409:
            raise
        # After a retried 429/503 the 409 may be our own earlier attempt: follow its operation.
        retried = api.retries > retries
        earlier = api.pending_operation(spec.project, spec.location, spec.name) if retried else None
        if earlier is None or operation_kind(earlier) != "CREATE_CLUSTER":
            return CreateResult(None)
        op, adopted = earlier, True
    if on_accepted is not None:
        on_accepted(op, adopted)
    if not wait:
        return CreateResult(op, adopted)
    done = api.wait(
        op,
        project=spec.project,
        location=spec.location,
        on_progress=on_progress,
        poll_interval=poll_interval,
        timeout=timeout,
    )
    return CreateResult(done, adopted, waited=True)
