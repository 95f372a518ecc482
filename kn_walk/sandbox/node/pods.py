"""Pods for Revision processes: what ``kubectl get pods`` shows of the data plane.

On a cluster, each replica of a Revision is a Pod of the Revision's Deployment
(``{revision}-deployment-{hash}-{suffix}``), so the walkthrough's learners watch
a Pod appear when a Revision starts, turn Ready, crash-loop, and go away when
the Revision scales to zero. The sandbox runs one local process per Revision
instead (:mod:`kn_walk.sandbox.node.workloads`); this module mirrors each process as
a Pod object with Knative's labels, written from the process's reported state:

* starting (or starting again from zero): ``Pending``, container waiting
  ``ContainerCreating``;
* ready: ``Running``, ``Ready=True``, container running since then;
* crashed and backing off: ``Running``, container waiting ``CrashLoopBackOff``
  with the exit and the last log line, ``restartCount`` one more each time;
* scaled to zero, or the Revision deleted: the Pod is deleted;
* the sandbox restarted: a Revision that was running keeps its Pod, as a node
  that restarts keeps its Pods, and the container restarts in it, since the
  process died with the sandbox: ``restartCount`` one more, the run before in
  ``lastState`` (``Completed``: it exited 0 on the sandbox's SIGTERM) and in
  ``kubectl logs --previous``, a kubelet ``SandboxChanged`` Event, ``Ready=False``
  until the new process answers;
* deleted by someone else (``kubectl delete pod``): a new Pod takes its place,
  as a ReplicaSet would make one (the process itself keeps running);
* an image the sandbox cannot run: ``Pending``, waiting ``ImageNotSupported``
  (where a cluster would pull it).

The Pod belongs to the ReplicaSet of the Revision's Deployment
(:mod:`kn_walk.sandbox.knative.revision_resources`), made from its template, as the
ReplicaSet would make it: labels with ``pod-template-hash``, the user container and
the ``queue-proxy`` container Knative injects. Differences from a cluster, on
purpose: no queue-proxy process runs (the sandbox's gateway queues, proxies and
probes for it), so its container status says ``running`` and ready as long as the
Revision's process is, and the annotation ``sandbox.knwalk.dev/queue-proxy`` says
what stands in for it; ``podIP`` is 127.0.0.1. The process id
and log file are in the ``sandbox.knwalk.dev/*`` annotations, and so is the
container env that is set but not given to the process (``env-not-applied``: the
process runs on this machine and gets only ``TARGET`` of it). ``kubectl logs``
reads that file from where the Pod's current run began (``--previous``: the run
before), so a new Pod after scale to zero does not show its predecessors' output.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kn_walk.knative_rules.labels import REVISION_LABEL, REVISION_UID_LABEL
from kn_walk.sandbox.apiserver.podlogs import LogClock, LogSource
from kn_walk.sandbox.knative.serving import owner_ref
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType
from kn_walk.sandbox.node.workloads import (
    ENV_NOT_APPLIED_NOTE,
    RESTARTING,
    PreviousRun,
    RuntimeStatus,
    env_not_applied,
    runnable,
    unsupported_message,
)
from kn_walk.sandbox.registry.events import NODE_NAME, NORMAL, WARNING, EventRecorder
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, now_rfc3339, rkey
from kn_walk.sandbox.registry.store import Conflict, Obj

if TYPE_CHECKING:
    from kn_walk.sandbox.knative.revision_deployment import RevisionWorkload

log = logging.getLogger(__name__)

L_REVISION = REVISION_LABEL
L_REVISION_UID = REVISION_UID_LABEL
#: marks the Pods this module owns (removed at start: their processes are gone)
A_MANAGED = "sandbox.knwalk.dev/mirrors"
#: marks the Pods that stand for replicas of ReplicaSets (:mod:`kn_walk.sandbox.node.replicasets`)
A_SIMULATED = "sandbox.knwalk.dev/simulated"
A_PID = "sandbox.knwalk.dev/pid"
A_LOG = "sandbox.knwalk.dev/log"
#: the container env that is set but not given to the process (it runs on this machine)
A_ENV_NOT_APPLIED = "sandbox.knwalk.dev/env-not-applied"
#: on a Revision's Pod: what does queue-proxy's work, since no queue-proxy runs
A_QUEUE_PROXY = "sandbox.knwalk.dev/queue-proxy"
QUEUE_PROXY_NOTE = (
    "no queue-proxy process runs in the sandbox: its gateway proxies each request to the "
    "user container, holds requests while the Revision scales from zero, and probes the "
    "container itself"
)
QUEUE_CONTAINER = "queue-proxy"
MANAGER = "kubelet"
CONTAINER = "user-container"
#: Kubernetes' alphabet for generated name suffixes (no vowels, no look-alikes)
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def encode(number: int, length: int) -> str:
    """``number`` in Kubernetes' name alphabet, ``length`` characters (low digits first)."""
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        out.append(_ALPHABET[digit])
    return "".join(out)


def random_suffix() -> str:
    """Five random characters, as the generated part of a Pod name."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(5))


class RevisionPods:
    """Keeps one Pod per running (or starting, or crashing) Revision process."""

    def __init__(
        self,
        resources: Resources,
        *,
        revision: Callable[[str, str], Obj | None],
        pid: Callable[[str, str], int | None],
        log_path: Callable[[str, str], Path],
    ) -> None:
        self.res = resources
        #: kubelet-style Events about the Pods (Scheduled, Created, Started, BackOff, Killing)
        self.events = EventRecorder(resources)
        self._revision = revision
        self._pid = pid
        self._log_path = log_path
        rt = resources.registry.get("", "v1", "pods")
        assert rt is not None
        self.rt: ResourceType = rt
        #: (namespace, revision) -> the name of its Pod
        self._pods: dict[tuple[str, str], str] = {}
        #: (namespace, revision) -> restarts of the current Pod's container
        self._restarts: dict[tuple[str, str], int] = {}
        self._last: dict[tuple[str, str], RuntimeStatus] = {}
        #: (namespace, revision) -> when the current Pod's container last exited on its own
        self._crashed_at: dict[tuple[str, str], str] = {}
        #: (namespace, pod) -> offsets in the Revision's log file where each run began
        self._runs: dict[tuple[str, str], list[int]] = {}
        #: (namespace, revision) -> the state its container ended in under the previous
        #: sandbox, for the Pods kept across a restart (see clean_stale), until written
        self._restarted: dict[tuple[str, str], Obj] = {}
        #: the Revisions' Deployments and ReplicaSets, made when first needed
        self._workload: RevisionWorkload | None = None
        #: Revisions whose Pod waits for its ReplicaSet (_make_owners_soon)
        self._owners_due: set[tuple[str, str]] = set()
        #: (namespace, revision) -> where its log was when its process first reported, for
        #: a Pod made after that
        self._began: dict[tuple[str, str], int] = {}
        #: records when each line of the running processes' logs was written
        self.clock = LogClock()
        #: called with (namespace, revision) when a Revision gets a new Pod: the Revision
        #: is ready only once its Pod is there, as a Deployment's ready replica
        self.on_pod_created: Callable[[str, str], None] = lambda ns, rev: None

    def _opts(self, subresource: str = "") -> WriteOptions:
        return _kubelet_opts(subresource)

    # ----------------------------------------------------------------- lifecycle

    def clean_stale(
        self, previous_run: Callable[[str, str, str], PreviousRun | None] | None = None
    ) -> int:
        """Deal with the Pods a previous sandbox run left: their processes are gone. The
        Pod of a Revision whose process that sandbox had ready (``previous_run``) is kept,
        and its container restarts (:meth:`_keep`); the others are deleted."""
        self.events.expire()
        removed = 0
        for obj in self.res.store.list_objects(rkey(self.rt)):
            meta = obj["metadata"]
            if A_MANAGED not in (meta.get("annotations") or {}):
                continue
            labels = meta.get("labels") or {}
            key = (meta["namespace"], str(labels.get(L_REVISION) or ""))
            run = None
            if previous_run is not None and key[1] and key not in self._pods:
                run = previous_run(*key, str(labels.get(L_REVISION_UID) or ""))
            if run is not None and not meta.get("deletionTimestamp"):
                self._keep(obj, run)
                continue
            self._delete(meta["namespace"], meta["name"])
            removed += 1
        return removed

    def _keep(self, pod: Obj, run: PreviousRun) -> None:
        """Take the Pod of a process the previous sandbox ran as this Revision's: its
        container restarts, as on a node that restarted. Its last run ended with the
        sandbox, which stopped it with SIGTERM (exit 0), or was killed (the process
        then exits 0 on the SIGTERM the kernel sends it when its parent dies)."""
        meta = pod["metadata"]
        key = (meta["namespace"], str((meta.get("labels") or {}).get(L_REVISION)))
        cs = user_status(pod.get("status") or {})
        terminated: Obj = {"exitCode": 0, "reason": "Completed"}
        started = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
        if started:
            terminated["startedAt"] = started
        if run.stopped is not None:
            when = datetime.fromtimestamp(run.stopped, UTC)
            terminated["finishedAt"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        restarts = cs.get("restartCount")
        self._pods[key] = meta["name"]
        self._restarts[key] = (restarts if type(restarts) is int else 0) + 1
        self._runs[(meta["namespace"], meta["name"])] = [run.log_start, self._log_size(*key)]
        self._restarted[key] = terminated

    def forget(self, namespace: str, revision: str) -> None:
        """The Revision is gone: delete its Pod (the cascade may have done so already)."""
        key = (namespace, revision)
        self.clock.unwatch(self._log_path(namespace, revision))
        name = self._pods.pop(key, None)
        self._restarts.pop(key, None)
        self._crashed_at.pop(key, None)
        self._restarted.pop(key, None)
        self._last.pop(key, None)
        self._began.pop(key, None)
        if name:
            pod = self.res.find(self.rt, namespace, name)
            if pod is not None:
                self._kubelet(pod, NORMAL, "Killing", f"Stopping container {CONTAINER}")
            self._delete(namespace, name)

    def _kubelet(self, pod: Obj, type_: str, reason: str, message: str) -> None:
        self.events.record(
            pod,
            type_,
            reason,
            message,
            component="kubelet",
            host=NODE_NAME,
            field_path=f"spec.containers{{{CONTAINER}}}",
        )

    def deleted(self, pod: Obj) -> None:
        """A Pod was deleted. If it was a running Revision's current Pod (someone ran
        ``kubectl delete pod``), a new one takes its place at once, as a ReplicaSet's
        would; the process itself goes on."""
        meta = pod.get("metadata") or {}
        revision = (meta.get("labels") or {}).get(L_REVISION)
        if A_MANAGED not in (meta.get("annotations") or {}) or not revision:
            return
        key = (meta.get("namespace", ""), str(revision))
        if self._pods.get(key) != meta.get("name"):
            return  # one this module deleted (scale to zero, a Revision gone) or an old one
        del self._pods[key]
        self._runs.pop((key[0], str(meta.get("name"))), None)
        self._restarts.pop(key, None)
        self._crashed_at.pop(key, None)
        self._restarted.pop(key, None)
        status = self._last.get(key)
        if status is not None:
            self.observe(*key, status)

    def observe(self, namespace: str, revision: str, status: RuntimeStatus) -> None:
        """The Revision's process reported ``status``: make its Pod say the same."""
        key = (namespace, revision)
        previous = self._last.get(key)
        self._last[key] = status
        wanted = status.desired_replicas > 0 or status.reason == "ImageNotSupported"
        if not wanted:
            self.forget(namespace, revision)
            self._last[key] = status
            return
        rev = self._revision(namespace, revision)
        if rev is None:
            return
        self.clock.watch(self._log_path(namespace, revision))
        if status.reason == "CrashLoopBackOff" and (
            previous is None or previous.reason != "CrashLoopBackOff"
        ):
            self._restarts[key] = self._restarts.get(key, 0) + 1
            self._crashed_at[key] = now_rfc3339()
            pod = self._pods.get(key)
            if pod:  # what the process writes from now on belongs to the next run
                self._runs.setdefault((namespace, pod), []).append(self._log_size(*key))
        name = self._pods.get(key)
        current = self.res.find(self.rt, namespace, name) if name else None
        terminated = self._restarted.pop(key, None)  # a kept Pod's container restarts
        if current is None:
            terminated = None
            if rev["metadata"].get("deletionTimestamp"):
                return  # its Pods are going with it (a foreground deletion): none is made
            rs = self._workloads().existing_replicaset(rev)
            if rs is None:
                self._make_owners_soon(namespace, revision)
                return
            name = f"{rs['metadata']['name']}-{random_suffix()}"
            self._restarts[key] = 0 if status.reason != "CrashLoopBackOff" else 1
            try:
                current = self.res.create(
                    self.rt, namespace, self._pod(rev, rs, name), self._opts()
                )
            except E.StatusError as err:  # e.g. the namespace is being deleted
                log.warning("cannot create pod %s/%s: %s", namespace, name, err.message)
                return
            self._pods[key] = name
            self.on_pod_created(namespace, revision)
            # its run began when the process reported first, which may be a moment ago
            began = self._began.pop(key, None)
            self._runs[(namespace, name)] = [
                began if began is not None else self._log_size(namespace, revision)
            ]
            self.events.record(
                current,
                NORMAL,
                "Scheduled",
                f"Successfully assigned {namespace}/{name} to {NODE_NAME}",
                component="default-scheduler",
            )
        assert name is not None
        if terminated is not None:
            self._kubelet(
                current,
                NORMAL,
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.",
            )
        self._report(current, previous, status)
        new = copy.deepcopy(current)
        new["status"] = self._status(
            current, status, self._restarts.get(key, 0), self._crashed_at.get(key, "")
        )
        if terminated is not None:
            user_status(new["status"])["lastState"] = {"terminated": terminated}
        annotations = new["metadata"].setdefault("annotations", {})
        pid = self._pid(namespace, revision)
        if pid is not None and status.actual_replicas:
            annotations[A_PID] = str(pid)
        else:
            annotations.pop(A_PID, None)
        try:
            if annotations != (current["metadata"].get("annotations") or {}):
                current = self.res.update(self.rt, namespace, name, new, self._opts())
                new["metadata"] = copy.deepcopy(current["metadata"])
            if new.get("status") != current.get("status"):
                self.res.update(self.rt, namespace, name, new, self._opts("status"))
        except E.StatusError as err:
            log.warning("cannot update pod %s/%s: %s", namespace, name, err.message)

    def _report(self, pod: Obj, previous: RuntimeStatus | None, status: RuntimeStatus) -> None:
        """The kubelet's Events for a change of the process's state."""
        was_running = previous is not None and bool(previous.ready) and previous.actual_replicas > 0
        running = bool(status.ready) and status.actual_replicas > 0
        if running and not was_running:
            self._kubelet(pod, NORMAL, "Created", f"Created container: {CONTAINER}")
            self._kubelet(pod, NORMAL, "Started", f"Started container {CONTAINER}")
        elif status.reason == "CrashLoopBackOff" and (
            previous is None or previous.reason != "CrashLoopBackOff"
        ):
            uid = pod["metadata"].get("uid", "")
            self._kubelet(
                pod,
                WARNING,
                "BackOff",
                f"Back-off restarting failed container {CONTAINER} in pod "
                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({uid})",
            )
        elif status.reason == "ImageNotSupported" and (
            previous is None or previous.reason != "ImageNotSupported"
        ):
            self._kubelet(pod, WARNING, "Failed", status.message)

    def _log_size(self, namespace: str, revision: str) -> int:
        try:
            return self._log_path(namespace, revision).stat().st_size
        except OSError:
            return 0

    def log_file(self, namespace: str, pod: str) -> LogSource | None:
        """Where the log of a Pod this module made is (``kubectl logs``), or None: the
        Revision's log file from where this Pod's current run began, and the byte range
        of its previous run if its container restarted."""
        obj = self.res.find(self.rt, namespace, pod)
        if obj is None:
            return None
        labels = obj["metadata"].get("labels") or {}
        annotations = obj["metadata"].get("annotations") or {}
        revision = labels.get(L_REVISION)
        if A_MANAGED not in annotations or not revision:
            return None
        runs = self._runs.get((namespace, pod), [0])
        previous = (runs[-2], runs[-1]) if len(runs) > 1 else None
        return LogSource(self._log_path(namespace, str(revision)), runs[-1], previous, self.clock)

    # ----------------------------------------------------------------- objects

    def _delete(self, namespace: str, name: str) -> None:
        self._runs.pop((namespace, name), None)
        with contextlib.suppress(E.StatusError):  # gone already: cascade, or the user
            self.res.delete(self.rt, namespace, name)

    def has_pod(self, namespace: str, revision: str) -> bool:
        """Whether the Revision's current Pod exists."""
        return (namespace, revision) in self._pods

    @property
    def busy(self) -> bool:
        """Whether a Pod's owners are still to be made (tests wait for that)."""
        return bool(self._owners_due)

    def _workloads(self) -> RevisionWorkload:
        if self._workload is None:
            from kn_walk.sandbox.knative.revision_deployment import RevisionWorkload

            self._workload = RevisionWorkload(self.res)
        return self._workload

    def _make_owners_soon(self, namespace: str, revision: str) -> None:
        """The Revision's Deployment has no ReplicaSet yet: the revision reconciler makes
        the Deployment once the controllers are idle, so that a Revision becoming ready is
        not held up, and the deployment controller its ReplicaSet; the Pod is made then
        (:meth:`replicaset_ready`)."""
        key = (namespace, revision)
        self._began.setdefault(key, self._log_size(*key))
        self._owners_due.add(key)

    def replicaset_ready(self, rs: Obj) -> None:
        """The ReplicaSet of a Revision's Deployment was reconciled: the Revision's Pod, if
        it waited for it."""
        meta = rs.get("metadata") or {}
        key = (meta.get("namespace", ""), str((meta.get("labels") or {}).get(L_REVISION, "")))
        if key not in self._owners_due:
            return
        self._owners_due.discard(key)
        status = self._last.get(key)
        if status is None or key in self._pods:
            return
        if status.desired_replicas <= 0 and status.reason != "ImageNotSupported":
            return  # scaled to zero meanwhile
        del self._last[key]  # the new Pod's container starts: its Events are reported
        try:
            self.observe(*key, status)
        except Exception:  # the Pod is a view; the Revision's status must not suffer
            log.exception("pod of %s/%s", *key)

    def _pod(self, rev: Obj, rs: Obj, name: str) -> Obj:
        """A Pod of ``rs`` (the Revision's ReplicaSet), as it makes them from its template."""
        meta = rev["metadata"]
        template = (rs.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        spec = copy.deepcopy(template.get("spec") or {})
        spec["nodeName"] = NODE_NAME
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        annotations = dict(tmeta.get("annotations") or {})
        annotations[A_MANAGED] = f"the process of Revision {meta['name']}"
        annotations[A_LOG] = str(self._log_path(meta["namespace"], meta["name"]))
        if any(c.get("name") == QUEUE_CONTAINER for c in spec.get("containers") or []):
            annotations[A_QUEUE_PROXY] = QUEUE_PROXY_NOTE
        containers = [
            c for c in (rev.get("spec") or {}).get("containers") or [] if isinstance(c, dict)
        ]
        not_applied = env_not_applied((containers[0] if containers else {}).get("env"))
        if not_applied:
            annotations[A_ENV_NOT_APPLIED] = f"{', '.join(not_applied)}: {ENV_NOT_APPLIED_NOTE}"
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "generateName": f"{rs['metadata']['name']}-",
                "namespace": meta["namespace"],
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": annotations,
                "ownerReferences": [owner_ref(rs)],
            },
            "spec": spec,
        }

    def _status(self, pod: Obj, st: RuntimeStatus, restarts: int, crashed_at: str) -> Obj:
        old = pod.get("status") or {}
        now = now_rfc3339()
        start = old.get("startTime") or now
        specs = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
        user = next((c for c in specs if c.get("name") != QUEUE_CONTAINER), {})
        image = user.get("image", "")
        old_user = user_status(old)
        # a container restarting in a kept Pod (see _keep) runs, and is not ready yet
        restarting = st.reason == RESTARTING
        running = bool(st.ready) and st.actual_replicas > 0 and not restarting
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": image,
            "imageID": "",
            "ready": running,
            "started": running,
            "restartCount": restarts,
        }
        if running:
            prev_state = old_user.get("state") or {}
            since = (prev_state.get("running") or {}).get("startedAt") or now
            container["state"] = {"running": {"startedAt": since}}
            phase = "Running"
        elif restarting:
            before = old_user
            started_at = ((before.get("state") or {}).get("running") or {}).get("startedAt")
            # the new container's start: now, unless this is it already (not ready yet)
            since = started_at if started_at and not before.get("ready") else now
            container["started"] = True
            container["state"] = {"running": {"startedAt": since}}
            phase = "Running"
        else:
            reason = st.reason
            if reason in ("", "Deploying", "Queued"):
                reason = "ContainerCreating"
            elif reason.startswith("ExitCode"):  # the runtime could not start the container
                reason = "RunContainerError"
            waiting: dict[str, Any] = {"reason": reason}
            if st.message and reason != "ContainerCreating":
                waiting["message"] = st.message
            container["state"] = {"waiting": waiting}
            phase = "Running" if restarts and reason == "CrashLoopBackOff" else "Pending"
        previous = old_user.get("lastState")
        if restarts and st.reason == "CrashLoopBackOff":
            terminated = {"exitCode": _exit_code(st.message), "reason": "Error"}
            if crashed_at:
                terminated["finishedAt"] = crashed_at
            container["lastState"] = {"terminated": terminated}
        elif restarts and previous:
            container["lastState"] = previous
        statuses = [container]
        queue = next((c for c in specs if c.get("name") == QUEUE_CONTAINER), None)
        if queue is not None:
            creating = (container["state"].get("waiting") or {}).get(
                "reason"
            ) == "ContainerCreating"
            statuses.append(_queue_status(queue, old, running, not creating, now))
        return {
            "phase": phase,
            "conditions": pod_conditions(
                running, " ".join(str(c.get("name", "")) for c in specs) or CONTAINER, old, now
            ),
            **loopback_addresses(),
            "startTime": start,
            # the kubelet lists them by name
            "containerStatuses": sorted(statuses, key=lambda c: str(c["name"])),
            "qosClass": old.get("qosClass", "BestEffort"),
        }


def user_status(status: Obj) -> Obj:
    """The status of a Revision Pod's user container (not queue-proxy's); {} if none yet."""
    for c in status.get("containerStatuses") or []:
        if isinstance(c, dict) and c.get("name") != QUEUE_CONTAINER:
            return c
    return {}


def _queue_status(queue: Obj, old: Obj, ready: bool, started: bool, now: str) -> Obj:
    """queue-proxy's container status: no process runs it (the gateway does its work, see
    :data:`QUEUE_PROXY_NOTE`), so it follows the Pod: created with it (running once the
    Pod's containers were created), ready with the user container."""
    status: Obj = {
        "name": QUEUE_CONTAINER,
        "image": queue.get("image", ""),
        "imageID": "",
        "ready": ready,
        "started": started,
        "restartCount": 0,
    }
    if started:
        before: Obj = next(
            (c for c in old.get("containerStatuses") or [] if c.get("name") == QUEUE_CONTAINER),
            {},
        )
        since = ((before.get("state") or {}).get("running") or {}).get("startedAt") or now
        status["state"] = {"running": {"startedAt": since}}
    else:
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    return status


def loopback_addresses() -> Obj:
    """A sandbox Pod's host and Pod addresses (fresh lists each time): all are 127.0.0.1."""
    return {
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
    }


def pod_conditions(ready: bool, container: str, old: Obj, now: str) -> list[Obj]:
    """A scheduled Pod's conditions; Ready and ContainersReady follow ``ready``. A condition
    whose status did not change keeps its lastTransitionTime from the ``old`` status."""
    value = "True" if ready else "False"
    before = {c.get("type"): c for c in old.get("conditions") or [] if isinstance(c, dict)}
    out: list[Obj] = []
    for kind, status in (
        ("PodReadyToStartContainers", "True"),
        ("Initialized", "True"),
        ("Ready", value),
        ("ContainersReady", value),
        ("PodScheduled", "True"),
    ):
        cond: dict[str, Any] = {"type": kind, "status": status}
        prev = before.get(kind)
        cond["lastTransitionTime"] = (
            prev["lastTransitionTime"]
            if prev and prev.get("status") == status and prev.get("lastTransitionTime")
            else now
        )
        if status == "False":
            cond["reason"] = "ContainersNotReady"
            cond["message"] = f"containers with unready status: [{container}]"
        out.append(cond)
    return out


def _exit_code(message: str) -> int:
    """The exit code in workloads' crash message ("... exit code 3 ..."), else 1."""
    marker = "exit code "
    if marker in message:
        digits = message.split(marker, 1)[1].split()[0].rstrip(";:,)")
        if digits.lstrip("-").isdigit():
            return int(digits)
    return 1


#: the waiting reason of a container in a Pod the sandbox does not run (see NotRunPods)
NOT_SUPPORTED = "ImageNotSupported"
POD_NOT_SUPPORTED = "PodNotSupported"


def not_run_message(image: str) -> tuple[str, str]:
    """The waiting reason and message for a container of a Pod the sandbox does not run."""
    if not runnable(image):
        return NOT_SUPPORTED, unsupported_message(image)
    return POD_NOT_SUPPORTED, (
        f'The sandbox runs image "{image}" only for Knative Revisions, not in Pods of their '
        "own. Deploy it as a Knative Service, or use a real cluster for Pods."
    )


class NotRunPods:
    """The scheduler's and kubelet's answer for the Pods the sandbox does not run.

    A Pod someone creates (``kubectl run``, a Job's, ...) is neither a Revision
    process (``sandbox.knwalk.dev/mirrors``) nor a ReplicaSet's simulated replica
    (``sandbox.knwalk.dev/simulated``): nothing will run it. Rather than leaving it
    ``Pending`` with no reason, as no scheduler would, it is bound to the sandbox's
    node (``PodScheduled``) and its containers wait with a reason the kubelet does
    not have, ``ImageNotSupported`` (the one Revision Pods show for such images), or
    ``PodNotSupported`` for the helloworld sample itself, which runs only for
    Revisions; the message says what the sandbox runs. No pull is pretended
    (``ErrImagePull`` would say an image was tried and failed). Events: ``Scheduled``
    from the scheduler and a ``Failed`` warning from the kubelet per container.
    """

    def __init__(self, resources: Resources, events: EventRecorder) -> None:
        self.res = resources
        self.events = events
        rt = resources.registry.get("", "v1", "pods")
        assert rt is not None
        self.rt: ResourceType = rt

    def resync(self) -> None:
        for pod in self.res.store.list_objects(rkey(self.rt)):
            self.observe(pod)

    def observe(self, pod: Obj) -> None:
        """A Pod was created: answer for it if the sandbox does not run it."""
        meta = pod.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        status = pod.get("status") or {}
        if A_MANAGED in annotations or A_SIMULATED in annotations:
            return
        if meta.get("deletionTimestamp") or status.get("phase", "Pending") != "Pending":
            return
        if status.get("containerStatuses") or status.get("initContainerStatuses"):
            return  # answered already
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        try:
            self._answer(ns, name)
        except (E.StatusError, LookupError, Conflict) as err:  # gone or changed meanwhile
            log.debug("pod %s/%s: %s", ns, name, err)
        except Exception:  # one odd Pod must not stop the others
            log.exception("answering for pod %s/%s", ns, name)

    def _answer(self, ns: str, name: str) -> None:
        pod = self.res.find(self.rt, ns, name)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):  # what the scheduler's binding writes
            bound = copy.deepcopy(pod)
            bound["spec"]["nodeName"] = NODE_NAME
            pod = self.res.store.put(
                rkey(self.rt), bound, expect_rv=pod["metadata"]["resourceVersion"]
            )
            self.events.record(
                pod,
                NORMAL,
                "Scheduled",
                f"Successfully assigned {ns}/{name} to {NODE_NAME}",
                component="default-scheduler",
            )
        new = copy.deepcopy(pod)
        new["status"] = self._status(pod)
        self.res.update(self.rt, ns, name, new, _kubelet_opts("status"))
        inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
        waiting = inits[:1] or [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        for c in waiting:
            _, message = not_run_message(str(c.get("image", "")))
            self.events.record(
                pod,
                WARNING,
                "Failed",
                message,
                component="kubelet",
                host=NODE_NAME,
                field_path=f"spec.{'initContainers' if inits else 'containers'}{{{c.get('name', '')}}}",
            )

    def _status(self, pod: Obj) -> Obj:
        spec = pod.get("spec") or {}
        old = pod.get("status") or {}
        now = now_rfc3339()
        inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]

        def container_status(c: Obj, waiting: Obj) -> Obj:
            return {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"waiting": waiting},
            }

        def not_run(c: Obj) -> Obj:
            reason, message = not_run_message(str(c.get("image", "")))
            return {"reason": reason, "message": message}

        status: Obj = {
            "phase": "Pending",
            "conditions": pod_conditions(
                False, " ".join(str(c.get("name", "")) for c in containers), old, now
            ),
            **loopback_addresses(),
            "startTime": old.get("startTime") or now,
            "qosClass": old.get("qosClass", "BestEffort"),
        }
        if inits:
            # the first init container cannot start, so the others and the app containers wait
            status["initContainerStatuses"] = [
                container_status(c, not_run(c) if i == 0 else {"reason": "PodInitializing"})
                for i, c in enumerate(inits)
            ]
            status["containerStatuses"] = [
                container_status(c, {"reason": "PodInitializing"}) for c in containers
            ]
            for cond in status["conditions"]:
                if cond["type"] == "Initialized":
                    cond.update(
                        status="False",
                        reason="ContainersNotInitialized",
                        message="containers with incomplete status: ["
                        + " ".join(str(c.get("name", "")) for c in inits)
                        + "]",
                    )
        else:
            status["containerStatuses"] = [container_status(c, not_run(c)) for c in containers]
        return status


def _kubelet_opts(subresource: str = "") -> WriteOptions:
    return WriteOptions(
        manager=MANAGER,
        field_validation="Ignore",
        subresource=subresource,
        user=f"system:node:{NODE_NAME}",
    )
