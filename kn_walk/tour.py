"""The tour: the Knative Serving walkthrough as eight narrated steps, on the sandbox or a context.

Core, no printing. The CLI (:mod:`kn_walk.cli.tour`) gets a connected :class:`Tour`
from :func:`open_sandbox` (starts or reuses the sandbox and connects through the
sandbox's own kubeconfig entry, never the current context) or :func:`open_context`
(a kubeconfig context, refused without Knative Serving), then runs the steps of
:data:`STEPS` one at a time with :meth:`Tour.run`. Each run returns a
:class:`StepResult`: plain data (the ``-o json`` shape), the equivalent knwalk and
kubectl commands, and the elapsed time; progress lines go to a callback. A step
whose outcome is not what the walkthrough shows raises :class:`StepFailed`, which
names the step, says why, and carries a hint. ``--wait-timeout`` bounds each phase
as it bounds a single command (:meth:`Kube.limit <kn_walk.kube.Kube.limit>`): the
connection and its checks, the clean start, each step; time at a prompt between
them does not count.

The steps reuse the core: :func:`kn_walk.knative.deploy`, :func:`~kn_walk.knative.split`,
:func:`~kn_walk.knative.snapshot`, :func:`~kn_walk.knative.delete`,
:func:`kn_walk.ingress.discover`, :func:`kn_walk.probe.request`/:func:`~kn_walk.probe.run`/
:func:`~kn_walk.probe.compare`.

``knwalk tour -o json`` prints one JSON object per line (JSON Lines), stable:

.. code-block:: text

    {"step": int, "name": str, "title": str,
     "command": str,            # the knwalk command that does the same
     "kubectl": [str],          # the same with kubectl (and curl); may hold heredocs
     "seconds": float, "result": {...}}

``step`` 0 (``prepare``) says where the tour runs; steps 1-8 follow. Results:

.. code-block:: text

    0 prepare     {"cluster": "sandbox" | "context", "context", "namespace", "server",
                   "service", "sandbox": null | {"pid", "api", "gateway", "started",
                   "kubeconfig"}, "cleaned": bool}
    1 deploy-v1   {"action", "revision", "url", "status": <knwalk status -o json document>}
    2 curl-v1     {"gateway", "gatewaySource", "host", "status": int, "body", "expected"}
    3 deploy-v2   {"action", "revision", "previous", "newRevision": bool, "status": <document>}
    4 curl-v2     as curl-v1
    5 split       {"spec": [target], "traffic": [{"tag", "revisionName", "latestRevision",
                   "percent", "url"}], "tags": {tag: url}}
    6 curl-split  {"requests": <knwalk curl -o json document>, "seen": [body],
                   "tags": [{"tag", "url", "host", "revision", "body", "expected",
                             "failure"}]}
    7 summary     {"status": <document>, "roles": {"Service": str, ...},
                   "graph": <knwalk status --graph -o json document>}
    8 cleanup     {"kept": bool, "deleted": str | null,
                   "owned": {"configurations": int, "revisions": int, "routes": int},
                   "remaining": {...the same, after the delete; 0 unless kept}}

``knwalk tour --chapter canary`` (sandbox only) has four steps instead, the same shape:

.. code-block:: text

    1 canary-v1      as deploy-v1
    2 canary-bad     {"rollout": <knwalk rollout -o json's state, rolled-back>,
                      "steps": [<knwalk rollout -o json step line>],
                      "error": {"message", "hint"}}
    3 canary-good    as canary-bad, the state promoted and "error": null
    4 canary-cleanup as cleanup

A failed step prints ``{"step", "name", "title", "command", "error": {"message",
"hint"}, "resume": str | null}`` instead (``resume`` is null when the app moved past
that step and only a clean start helps), and the command exits 1.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kn_walk import graph, knative
from kn_walk.errors import KnwalkError
from kn_walk.knative_rules import sample
from kn_walk.knative_rules.labels import FAULT_ANNOTATION, SERVICE_LABEL
from kn_walk.traffic import CANDIDATE_TAG

if TYPE_CHECKING:
    from kn_walk import rollout
    from kn_walk.ingress import Gateway
    from kn_walk.kube import Kube
    from kn_walk.sandbox.control import SandboxInfo

Obj = dict[str, Any]
Progress = Callable[[str], None]

V1 = "Go Sample v1"
V2 = "Go Sample v2"
SPLIT = "50/50"
REQUESTS = 200
CONCURRENCY = 10
COMMAND_WIDTH = 78
#: the shell variables the curl commands use, set from the gateway Service
GATEWAY_VARIABLES = ("INGRESS_HOST=", "INGRESS_PORT=")

ROLES = {kind: graph.role(kind) for kind in ("Service", "Configuration", "Revision", "Route")}


WALKTHROUGH = "walkthrough"
CANARY = "canary"


@dataclass(frozen=True)
class StepInfo:
    number: int
    name: str
    title: str
    concept: str
    chapter: str = WALKTHROUGH


STEPS: tuple[StepInfo, ...] = (
    StepInfo(
        1,
        "deploy-v1",
        "Deploy helloworld-go (v1)",
        "A Knative Service is the one object you write: a container template and "
        "traffic rules. Knative derives three objects from it: a Configuration that "
        "holds the current template, a Revision stamped from that template (00001), "
        "and a Route that sends requests to Revisions - by default 100% to the "
        "latest ready one.",
    ),
    StepInfo(
        2,
        "curl-v1",
        "Call it through the ingress gateway",
        "Every request enters through the ingress gateway (Istio's "
        "istio-ingressgateway), one address for all Services. The gateway picks the "
        "Service by the Host header, the host of the Route's URL; curl sends that "
        "header itself, so no DNS is needed.",
    ),
    StepInfo(
        3,
        "deploy-v2",
        "Roll out v2: a new Revision",
        "Changing the template (TARGET=Go Sample v2) stamps a new Revision. A "
        "Revision is an immutable snapshot of code and configuration: 00001 stays "
        "exactly as it was, ready to take traffic again, while the Route - which "
        "follows the latest ready Revision - moves to 00002.",
    ),
    StepInfo(
        4,
        "curl-v2",
        "Call it again: v2 answers",
        "Same URL, same Host header, a new answer: the Route now sends every request "
        "to the new Revision. Neither the gateway nor the URL changed.",
    ),
    StepInfo(
        5,
        "split",
        "Split traffic 50/50 with tags",
        "The Service's spec.traffic can split requests between Revisions by percent. "
        "Tags give targets their own URL (TAG-SERVICE.NAMESPACE.DOMAIN) that always "
        "reaches that one Revision: 'current' is the latest ready Revision, "
        "'candidate' the one before, and 'latest' follows the newest at 0% of the "
        "main URL.",
    ),
    StepInfo(
        6,
        "curl-split",
        "Watch the split: 200 requests",
        "The gateway picks a Revision for each request, weighted by the percentages, "
        "so 200 requests should land about 100/100. The observed split is set "
        "against the configured one (a chi-square test). Each tag URL bypasses the "
        "split and reaches its own Revision.",
    ),
    StepInfo(
        7,
        "summary",
        "The whole graph in one picture",
        "You wrote one Service; Knative owns the rest and keeps it in step: the "
        "Service owns the Configuration and the Route, the Configuration owns the "
        "Revisions, and the Route points at Revisions by name and percent. Each "
        "Revision runs as pods, as many as its traffic needs: none once it has had "
        "no requests for a while (scale to zero), one again on the next request. "
        "Below them, what Knative, Kubernetes and the networking layer made to do "
        "that, each with what it is for.",
    ),
    StepInfo(
        8,
        "cleanup",
        "Clean up",
        "Deleting the Service deletes what it owns, through owner references: the "
        "Configuration, every Revision (and its pods) and the Route. With --keep "
        "the tour leaves them for you to explore.",
    ),
)
LAST = len(STEPS)

#: the canary chapter's rollouts: steps (candidate percents), requests per step, gates
CANARY_PERCENTS = (10, 50, 100)
CANARY_REQUESTS = 100
V3 = "Go Sample v3"
#: what makes the chapter's first candidate bad: the sandbox's gateway fails half its requests
CANARY_FAULT = "abort=503 percent=50"

CANARY_STEPS: tuple[StepInfo, ...] = (
    StepInfo(
        1,
        "canary-v1",
        "Deploy helloworld-go (v1)",
        "A canary starts from one Revision that serves all the traffic, as after step 1 "
        "of the walkthrough.",
        CANARY,
    ),
    StepInfo(
        2,
        "canary-bad",
        "Roll out a bad candidate: rolled back",
        "knwalk rollout pins v1 (tag current) in the same write as the new template, so "
        "the new Revision gets no traffic until it is Ready. Then it moves traffic step by "
        "step (10%, 50%, 100%) and judges the candidate on requests to its own tag URL. "
        "This candidate is bad on purpose: the sandbox's gateway answers 503 to half of "
        f"its requests (annotation sandbox.knwalk.dev/fault: {CANARY_FAULT}, as Istio's "
        "fault injection). Its error rate breaches the 1% gate at the first step, and one "
        "write sends 100% back to v1; the candidate keeps its tag for debugging.",
        CANARY,
    ),
    StepInfo(
        3,
        "canary-good",
        "Roll out a good candidate: promoted",
        "The same rollout with a healthy template (TARGET=Go Sample v3, no fault): every "
        "step passes its gate, the observed split matches the configured one, and the "
        "Route ends with 100% on the latest Revision (latestRevision: true), tagged "
        "current, with the one before tagged candidate.",
        CANARY,
    ),
    StepInfo(
        4,
        "canary-cleanup",
        "Clean up",
        "Deleting the Service deletes its three Revisions and its Route. With --keep the "
        "tour leaves them, with the rollout's record in knwalk rollout status.",
        CANARY,
    ),
)

#: the tour's chapters: the walkthrough, and the optional canary
CHAPTERS: dict[str, tuple[StepInfo, ...]] = {WALKTHROUGH: STEPS, CANARY: CANARY_STEPS}


def step_info(number: int, chapter: str = WALKTHROUGH) -> StepInfo:
    return CHAPTERS[chapter][number - 1]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StepResult:
    step: StepInfo
    command: str
    kubectl: tuple[str, ...]
    result: Obj
    seconds: float

    def as_dict(self) -> Obj:
        return {
            "step": self.step.number,
            "name": self.step.name,
            "title": self.step.title,
            "command": self.command,
            "kubectl": list(self.kubectl),
            "seconds": round(self.seconds, 3),
            "result": self.result,
        }


class StepFailed(KnwalkError):
    """Step ``step`` did not do what the walkthrough shows: ``message`` names it and says why.

    ``restart``: the app is not in a state this step can resume from (someone changed
    it, or a later step already ran), so the way on is a clean start, not ``--from``.
    """

    def __init__(self, step: StepInfo, why: str, hint: str = "", *, restart: bool = False):
        of = len(CHAPTERS[step.chapter])
        super().__init__(f"step {step.number} of {of} ({step.title}) failed: {why}", hint)
        self.step = step
        self.why = why
        self.restart = restart


class _Check(KnwalkError):
    """A step's own check failed (converted to :class:`StepFailed` by :meth:`Tour.run`)."""

    def __init__(self, message: str, hint: str = "", *, restart: bool = False) -> None:
        super().__init__(message, hint)
        self.restart = restart


# --------------------------------------------------------------------------- commands


def shell_line(tokens: Sequence[str], width: int = COMMAND_WIDTH) -> str:
    """Join shell tokens (already quoted) into lines of at most ``width``, ending in `` \\``.

    A token is never split, so a token longer than the width gets a line of its own.
    """
    lines: list[str] = []
    line = ""
    for i, token in enumerate(tokens):
        candidate = f"{line} {token}" if line else token
        # room for the trailing " \" on every line but the last
        limit = width if i == len(tokens) - 1 else width - 2
        if line and len(candidate) > limit:
            lines.append(line + " \\")
            line = "  " + token
        else:
            line = candidate
    lines.append(line)
    return "\n".join(lines)


def heredoc(tokens: Sequence[str], body: Obj) -> str:
    """``TOKENS <<'EOF'`` then ``body`` as YAML, then ``EOF``: copy-paste safe, no quoting."""
    from kn_walk.render import dump_yaml

    first = shell_line([*tokens, "<<'EOF'"])
    return f"{first}\n{dump_yaml(body).rstrip()}\nEOF"


def _q(text: str) -> str:
    return shlex.quote(text)


@dataclass(frozen=True)
class Where:
    """Where the tour runs, and the options that make knwalk and kubectl go there too."""

    cluster: str  # "sandbox" or "context"
    context: str
    namespace: str
    server: str
    options: tuple[str, ...] = ()  # --kubeconfig / --context, shell-quoted
    namespace_options: tuple[str, ...] = ()  # -n NS when not the context's own
    sandbox: SandboxInfo | None = None
    started: bool = False
    kubeconfig_written: str | None = None  # the user's kubeconfig, if the tour wrote it

    def knwalk(self, *args: str) -> str:
        return shell_line(["knwalk", *args, *self.options, *self.namespace_options])

    def kubectl(self, *args: str, namespace: bool = True) -> list[str]:
        ns = list(self.namespace_options) if namespace else []
        return ["kubectl", *self.options, *ns, *args]


# --------------------------------------------------------------------------- the tour


@dataclass
class Tour:
    """A connected tour: ``kube`` talks to the cluster that ``where`` describes."""

    kube: Kube
    where: Where
    service: str = knative.DEFAULT_SERVICE
    keep: bool = False
    wait_timeout: float = knative.DEFAULT_WAIT_TIMEOUT
    request_timeout: float = 30.0
    gateway: Gateway | None = None
    chapter: str = WALKTHROUGH
    #: the option that set ``wait_timeout``, named when it runs out
    timeout_option: str = "--wait-timeout"

    @property
    def last(self) -> int:
        """The number of the chapter's last step."""
        return len(CHAPTERS[self.chapter])

    def info(self, number: int) -> StepInfo:
        return step_info(number, self.chapter)

    def bound(self) -> None:
        """Give what comes next (a check before the steps, the clean start, one step)
        ``wait_timeout`` seconds in all, as each single command has: every request,
        retry and wait ends by then. Time spent at a prompt before it does not count."""
        self.kube.limit(self.wait_timeout, self.timeout_option)

    def check_chapter(self) -> None:
        """The canary chapter makes its candidate bad with the sandbox's fault injection,
        which a cluster running Knative ignores: it runs on the sandbox only."""
        from kn_walk.install import is_sandbox

        self.bound()
        if self.chapter == CANARY and not is_sandbox(self.kube):
            raise KnwalkError(
                f"the canary chapter makes its candidate fail with the sandbox's fault "
                f"injection (annotation sandbox.knwalk.dev/fault), which context "
                f"{self.kube.context!r} ignores: it is not the knwalk sandbox",
                "run it on the sandbox: `knwalk tour --chapter canary`",
            )

    # -- before the steps -------------------------------------------------------------

    def existing(self) -> knative.ServiceView | None:
        """The tour's Service if it exists already (a re-run starts clean after asking)."""
        self.bound()
        return knative.get_service(self.kube, self.service)

    def clean(self) -> None:
        """Delete the tour's Service and wait until it and what it owns are gone."""
        self.bound()
        knative.delete(self.kube, self.service, wait=True, timeout=self.wait_timeout)

    def require_existing(self, number: int) -> None:
        """``--from N`` (N > 1) resumes: the Service from the earlier steps must exist."""
        if number > 1 and self.existing() is None:
            raise KnwalkError(
                f"--from {number} resumes the tour, but Knative Service {self.service!r} "
                f"from the earlier steps does not exist in namespace {self.kube.namespace!r} "
                f"(context {self.kube.context})",
                "start from step 1: run the tour without --from",
            )

    def prepare_result(self, cleaned: bool) -> StepResult:
        """Step 0: where the tour runs (the first ``-o json`` line)."""
        w = self.where
        sandbox = None
        if w.sandbox is not None:
            sandbox = {
                "pid": w.sandbox.pid,
                "api": w.sandbox.api,
                "gateway": w.sandbox.gateway,
                "started": w.started,
                "kubeconfig": w.kubeconfig_written,
            }
        result = {
            "cluster": w.cluster,
            "context": w.context,
            "namespace": w.namespace,
            "server": w.server,
            "service": self.service,
            "sandbox": sandbox,
            "cleaned": cleaned,
        }
        command = shell_line(["knwalk", "sandbox", "up"]) if w.sandbox else ""
        kubectl = [
            shell_line(w.kubectl("api-resources", f"--api-group={knative.GROUP}", namespace=False))
        ]
        if cleaned:
            kubectl.append(shell_line(w.kubectl("delete", "ksvc", self.service, "--wait")))
        info = StepInfo(0, "prepare", "Where the tour runs", "")
        return StepResult(info, command, tuple(kubectl), result, 0.0)

    # -- running ----------------------------------------------------------------------

    def command(self, number: int) -> str:
        """The knwalk command that does what step ``number`` does (shown before it runs)."""
        name = self.info(number).name
        w = self.where
        given = self.gateway is not None and "/" not in self.gateway.source
        gateway = ("--gateway", _q(self.gateway.url)) if self.gateway and given else ()
        if name in ("curl-v1", "curl-v2"):
            return w.knwalk("curl", *gateway)
        if name == "curl-split":
            return w.knwalk("curl", "--count", str(REQUESTS), *gateway)
        if name == "deploy-v1":
            return w.knwalk("deploy", "--target", _q(V1))
        if name == "deploy-v2":
            return w.knwalk("deploy", "--target", _q(V2))
        if name == "split":
            return w.knwalk("split", SPLIT)
        if name == "summary":
            return w.knwalk("status", "--graph")
        if name in ("canary-bad", "canary-good"):
            bad = name == "canary-bad"
            manifest = self._manifest(V2 if bad else V3, fault=CANARY_FAULT if bad else None)
            args = ["rollout", "-f", "-", "--steps", ",".join(map(str, CANARY_PERCENTS))]
            args += ["--step-requests", str(CANARY_REQUESTS), "--max-p99", "off", "--yes"]
            return heredoc(["knwalk", *args, *w.options, *w.namespace_options], manifest)
        if name == "canary-v1":
            return w.knwalk("deploy", "--target", _q(V1))
        if self.keep:
            return ""
        return w.knwalk("delete", "--yes", "--wait")

    def run(self, number: int, on_progress: Progress | None = None) -> StepResult:
        """Run step ``number`` of the chapter, within ``wait_timeout`` (:meth:`bound`);
        its failures raise :class:`StepFailed`."""
        info = self.info(number)
        self.bound()
        say = on_progress or (lambda text: None)
        started = time.monotonic()
        steps: dict[str, Callable[[Progress], tuple[Obj, list[str]]]] = {
            "deploy-v1": self._deploy_v1,
            "curl-v1": lambda p: self._curl(V1),
            "deploy-v2": self._deploy_v2,
            "curl-v2": lambda p: self._curl(V2),
            "split": self._split,
            "curl-split": self._curl_split,
            "summary": self._summary,
            "cleanup": self._cleanup,
            "canary-v1": self._deploy_v1,
            "canary-bad": self._canary_bad,
            "canary-good": self._canary_good,
            "canary-cleanup": self._cleanup,
        }
        try:
            result, kubectl = steps[info.name](say)
        except StepFailed:
            raise
        except _Check as exc:
            raise StepFailed(info, exc.message, exc.hint, restart=exc.restart) from exc
        except KnwalkError as exc:
            raise StepFailed(info, exc.message, exc.hint) from exc
        return StepResult(
            info, self.command(number), tuple(kubectl), result, time.monotonic() - started
        )

    # -- the steps --------------------------------------------------------------------

    def _deploy(
        self, target: str, say: Progress
    ) -> tuple[knative.DeployResult, knative.Snapshot, knative.RevisionView]:
        """Deploy TARGET=``target``; check that the latest revision runs it."""

        def progress(elapsed: float, cond: knative.Condition) -> None:
            text = cond.message or ("Ready to serve." if cond.status == "True" else cond.reason)
            if text:
                say(f"{elapsed:5.2f}s {text}")

        result = knative.deploy(
            self.kube,
            self.service,
            _sample_options(target),
            timeout=self.wait_timeout,
            on_progress=progress,
        )
        snap = knative.snapshot(self.kube, self.service)
        rev = snap.revision(result.revision)
        if rev is None or rev.target != target:
            raise _Check(
                f"the latest revision {result.revision!r} does not run TARGET={target}",
                "another client changed the Service meanwhile",
                restart=True,
            )
        return result, snap, rev

    def _manifest(self, target: str, fault: str | None = None) -> Obj:
        body = knative.service_manifest(self.service, self.kube.namespace, _sample_options(target))
        del body["metadata"]["namespace"]  # kubectl's -n / context decides, as for knwalk
        if fault is not None:
            annotations = {FAULT_ANNOTATION: fault}
            body["spec"]["template"] = {
                "metadata": {"annotations": annotations},
                **body["spec"]["template"],
            }
        return body

    def _patch_command(self, patch: Obj) -> str:
        """``kubectl patch ksvc`` with ``patch`` as a merge patch on stdin."""
        args = ("patch", "ksvc", self.service, "--type", "merge", "--patch-file", "/dev/stdin")
        return heredoc(self.where.kubectl(*args), patch)

    def _deploy_v1(self, say: Progress) -> tuple[Obj, list[str]]:
        result, snap, rev = self._deploy(V1, say)
        doc = knative.status_document(snap)
        traffic = [t.as_dict() for t in snap.traffic]
        if [(t["latestRevision"], t["percent"]) for t in traffic] != [(True, 100)]:
            raise _Check(
                f"the Route does not send 100% to the latest revision: {_shown(traffic)}",
                "the Service's spec.traffic pins revisions",
                restart=True,
            )
        w = self.where
        kubectl = [
            heredoc(w.kubectl("apply", "-f", "-"), self._manifest(V1)),
            shell_line(w.kubectl("wait", "--for=condition=Ready", f"ksvc/{self.service}")),
            shell_line(w.kubectl("get", "ksvc,configuration,revision,route")),
        ]
        out = {"action": result.action, "revision": rev.name, "url": snap.service.url}
        return {**out, "status": doc}, kubectl

    def _deploy_v2(self, say: Progress) -> tuple[Obj, list[str]]:
        before = knative.snapshot(self.kube, self.service)
        previous = before.service.latest_ready or before.service.latest_created
        result, snap, rev = self._deploy(V2, say)
        doc = knative.status_document(snap)
        if result.new_revision and snap.revision(previous) is None:
            raise _Check(
                f"the previous revision {previous!r} is gone",
                "revisions are kept until deleted; see `knwalk status`",
            )
        traffic = [t.as_dict() for t in snap.traffic]
        routed = [(t["latestRevision"], t["revisionName"], t["percent"]) for t in traffic]
        if routed != [(True, rev.name, 100)]:
            raise _Check(
                f"the Route does not send 100% to {rev.name}: {_shown(traffic)}",
                "the traffic is pinned, by a later step or another client",
                restart=True,
            )
        patch = knative.update_patch(self._manifest(V1), _sample_options(V2))
        assert patch is not None
        del patch["metadata"]
        kubectl = [
            self._patch_command(patch),
            self._wait_traffic("revisionName", rev.name),
            shell_line(self.where.kubectl("get", "revisions")),
        ]
        out = {
            "action": result.action,
            "revision": rev.name,
            "previous": previous if previous != rev.name else None,
            "newRevision": result.new_revision,
        }
        return {**out, "status": doc}, kubectl

    def _wait_traffic(self, key: str, value: str) -> str:
        """``kubectl wait`` until the Service's first traffic target shows ``key: value``.

        Not ``--for=condition=Ready``: right after a change the old Ready=True may
        still be there, and the wait would end before the Route moved.
        """
        path = f"jsonpath={{.status.traffic[0].{key}}}={value}"
        return shell_line(self.where.kubectl("wait", f"ksvc/{self.service}", f"--for={_q(path)}"))

    def _gateway(self) -> Gateway:
        if self.gateway is None:
            from kn_walk import ingress

            self.gateway = ingress.discover(self.kube)
        return self.gateway

    def _gateway_commands(self) -> list[str]:
        """The walkthrough's INGRESS_HOST / INGRESS_PORT lookup of the gateway Service."""
        gw = self._gateway()
        if "/" not in gw.source:
            return []  # given with --gateway: nothing to look up
        namespace, name = gw.source.split("/", 1)
        lines = []
        for var, path in (
            ("INGRESS_HOST", "{.status.loadBalancer.ingress[0].ip}"),
            ("INGRESS_PORT", '{.spec.ports[?(@.name=="http2")].port}'),
        ):
            args = self.where.kubectl("-n", _q(namespace), "get", "svc", _q(name), namespace=False)
            output = f"-o {_q(f'jsonpath={path}')})"
            lines.append(shell_line([f"{var}=$({args[0]}", *args[1:], output]))
        return lines

    def _url(self) -> str:
        gw = self._gateway()
        return "http://$INGRESS_HOST:$INGRESS_PORT/" if "/" in gw.source else gw.url + "/"

    def _curl(self, target: str) -> tuple[Obj, list[str]]:
        from kn_walk import ingress, probe

        snap = knative.snapshot(self.kube, self.service)
        svc = snap.service
        if svc.ready_status != "True" or not svc.url:
            why = svc.ready.describe() if svc.ready else "no Ready condition yet"
            raise _Check(f"service {svc.name!r} is not ready: {why}", "see `knwalk status`")
        gw = self._gateway()
        host = ingress.host_of(svc.url)
        reply = probe.request(gw.url, host, "/", self.request_timeout)
        expected = sample.reply(target)
        result = {
            "gateway": gw.url,
            "gatewaySource": gw.source,
            "host": host,
            "status": reply.status,
            "body": reply.body,
            "expected": expected,
        }
        if reply.failure:
            raise _Check(
                f"the gateway answered {reply.status} {reply.reason} for Host {host}",
                "the Route may not be ready yet (knwalk status), or the Host is not routed",
            )
        if reply.body != expected:
            raise _Check(
                f"expected {expected.strip()!r}, the Service answered {reply.body.strip()!r}",
                "the Service is not in the state this step expects; see `knwalk status`",
                restart=True,
            )
        kubectl = self._gateway_commands()
        kubectl.append(shell_line(["curl", "-H", _q(f"Host: {host}"), self._url()]))
        return result, kubectl

    def _split(self, say: Progress) -> tuple[Obj, list[str]]:
        result = knative.split(self.kube, self.service, [SPLIT], timeout=self.wait_timeout)
        traffic = [t.as_dict() for t in result.traffic]
        if not knative.traffic_matches(result.block, result.traffic):
            raise _Check(
                f"the Route shows {_shown(traffic)}, not the split sent",
                "see `knwalk status`",
            )
        tags = {t.tag: t.url for t in result.traffic if t.tag and t.url}
        kubectl = [
            self._patch_command({"spec": {"traffic": result.block}}),
            self._wait_traffic("tag", result.block[0]["tag"]),
            shell_line(self.where.kubectl("get", "route", self.service, "-o", "yaml")),
        ]
        return {"spec": result.block, "traffic": traffic, "tags": tags}, kubectl

    def _curl_split(self, say: Progress) -> tuple[Obj, list[str]]:
        from kn_walk import ingress, probe

        snap = knative.snapshot(self.kube, self.service)
        gw = self._gateway()
        host = ingress.host_of(snap.service.url)
        summary = probe.run(
            gw.url, host, count=REQUESTS, concurrency=CONCURRENCY, timeout=self.request_timeout
        )
        expected = knative.expected_responses(snap)
        rows, verdict = probe.compare(
            summary.bodies, [(e.body, e.percent, e.revisions) for e in expected]
        )
        document = probe.summary_document(gw.url, host, "/", summary, rows, verdict)
        tags = []
        for t in snap.traffic:
            if not t.tag or not t.url:
                continue
            tag_host = ingress.host_of(t.url)
            reply = probe.request(gw.url, tag_host, "/", self.request_timeout)
            want = knative.expected_responses(snap, t.tag)
            tags.append(
                {
                    "tag": t.tag,
                    "url": t.url,
                    "host": tag_host,
                    "revision": t.revision_name,
                    "body": reply.body if not reply.failure else None,
                    "expected": want[0].body if want else None,
                    "failure": reply.failure or None,
                }
            )
        seen = sorted(summary.bodies)
        result = {"requests": document, "seen": seen, "tags": tags}
        if summary.failed:
            kinds = ", ".join(f"{k}: {v}" for k, v in sorted(summary.failures.items()))
            raise _Check(
                f"{summary.failed} of {summary.count} requests failed ({kinds})",
                "see `knwalk status` for revisions that are not ready",
            )
        missing = [e.body.strip() for e in expected if e.percent and e.body not in summary.bodies]
        extra = [b.strip() for b in seen if b not in {e.body for e in expected}]
        if missing or extra:
            why = "; ".join(
                ([f"never answered {', '.join(map(repr, missing))}"] if missing else [])
                + ([f"unexpected answers {', '.join(map(repr, extra))}"] if extra else [])
            )
            raise _Check(why, "the split is not what step 5 set; see `knwalk status`")
        wrong = [tag for tag in tags if tag["body"] != tag["expected"]]
        if wrong:
            bad = wrong[0]
            got = bad["failure"] or repr((bad["body"] or "").strip())
            raise _Check(
                f"tag {bad['tag']!r} answered {got}, expected {(bad['expected'] or '').strip()!r}",
                "see `knwalk status` for the tag's revision",
            )
        kubectl = self._gateway_commands()
        loop = ["for", "i", "in", f"$(seq {REQUESTS});", "do", "curl", "-s", "-H"]
        loop += [_q(f"Host: {host}"), f"{self._url()};", "done", "|", "sort", "|", "uniq", "-c"]
        kubectl.append(shell_line(loop))
        for tag in tags:
            kubectl.append(shell_line(["curl", "-H", _q(f"Host: {tag['host']}"), self._url()]))
        return result, kubectl

    def _summary(self, say: Progress) -> tuple[Obj, list[str]]:
        snap = knative.snapshot(self.kube, self.service)
        doc = knative.status_document(snap)
        drawn = graph.read(self.kube, self.service).document()
        kubectl = [
            shell_line(self.where.kubectl("get", "ksvc,configuration,revision,route")),
            shell_line(self.where.kubectl("get", "pods", "-l", f"{SERVICE_LABEL}={self.service}")),
        ]
        return {"status": doc, "roles": dict(ROLES), "graph": drawn}, kubectl

    def _rollout(self, target: str, fault: str | None, say: Progress) -> tuple[Obj, rollout.State]:
        """``knwalk rollout -f`` of the sample with TARGET=``target`` (and ``fault``): the
        result document and the state it ended in (promoted, or rolled back)."""
        from kn_walk import rollout

        reports: list[rollout.StepReport] = []

        def started(start: rollout.StepStart) -> None:
            say(f"step {start.number} of {start.of}: {start.percent}% to {start.candidate}")

        def done(report: rollout.StepReport) -> None:
            reports.append(report)
            gates = ", ".join(
                ("ok " if g.passed else "FAILED ") + g.describe() for g in report.gates
            )
            say(
                f"  {report.tag.count} requests to the candidate's tag URL: "
                f"{100 * report.tag.error_rate:.1f}% errors; {gates or report.void}"
            )

        callbacks = rollout.Callbacks(say=say, step_started=started, step_done=done)
        settings = rollout.Settings(
            CANARY_PERCENTS,
            rollout.Gates(max_p99=None),
            rollout.StepLoad(duration=None, requests=CANARY_REQUESTS),
        )
        run = rollout.Rollout(
            self.kube,
            self.service,
            gateway=self._gateway(),
            callbacks=callbacks,
            wait_timeout=self.wait_timeout,
        )
        error: Obj | None = None
        try:
            state = run.start(knative.DeployOptions(), self._manifest(target, fault), settings)
        except rollout.RolloutError as exc:
            if exc.state is None:
                raise
            state, error = exc.state, {"message": exc.message, "hint": exc.hint}
        result = {
            "rollout": state.as_dict(),
            "steps": [r.as_dict() for r in reports],
            "error": error,
        }
        return result, state

    def _rollout_commands(self, target: str, fault: str | None, state: rollout.State) -> list[str]:
        """The rollout by hand: the pinned template, each split, and a curl loop to the
        candidate's tag URL (what judges it)."""
        from kn_walk import ingress, rollout

        template = self._manifest(target, fault)["spec"]["template"]
        pin = rollout.rollback_block(replace(state, candidate=""), [])
        commands = [self._patch_command({"spec": {"template": template, "traffic": pin}})]
        commands += self._gateway_commands()
        svc = knative.require_service(self.kube, self.service)
        # the tag's URL as the Route reports it (config-network's tag-template), else
        # the default template's: the tag has no URL before the first split names it
        tag_host = ingress.host_of(svc.tag_url(CANDIDATE_TAG) or "")
        tag_host = tag_host or f"{CANDIDATE_TAG}-{ingress.host_of(svc.url)}"
        for number, percent in enumerate(CANARY_PERCENTS[: max(1, state.step + 1)], 1):
            block = rollout.step_block(state, percent, [])
            commands.append(self._traffic_command(block))
            loop = ["for", "i", "in", f"$(seq {CANARY_REQUESTS});", "do", "curl", "-s", "-o"]
            loop += ["/dev/null", "-w", _q("%{http_code}\\n"), "-H", _q(f"Host: {tag_host}")]
            loop += [f"{self._url()};", "done", "|", "sort", "|", "uniq", "-c"]
            commands.append(shell_line(loop))
            if number > len(state.results):
                break
        if state.phase == rollout.PROMOTED:
            commands.append(self._traffic_command(rollout.promoted_block(state, [])))
        else:
            commands.append(self._traffic_command(rollout.rollback_block(state, [])))
        return commands

    def _traffic_command(self, block: list[Obj]) -> str:
        return self._patch_command({"spec": {"traffic": block}})

    def _canary_bad(self, say: Progress) -> tuple[Obj, list[str]]:
        from kn_walk import rollout

        result, state = self._rollout(V2, CANARY_FAULT, say)
        if state.phase != rollout.ROLLED_BACK:
            raise _Check(
                f"the bad candidate was not rolled back: the rollout {state.phase} "
                f"({state.message})",
                "see `knwalk rollout status` and `knwalk status`",
                restart=True,
            )
        snap = knative.snapshot(self.kube, self.service)
        served = [(t.revision_name, t.percent) for t in snap.traffic if t.percent]
        if served != [(state.current, 100)]:
            raise _Check(
                f"after the rollback the Route sends {served}, not 100% to {state.current}",
                "see `knwalk status`",
                restart=True,
            )
        return result, self._rollout_commands(V2, CANARY_FAULT, state)

    def _canary_good(self, say: Progress) -> tuple[Obj, list[str]]:
        from kn_walk import rollout

        result, state = self._rollout(V3, None, say)
        if state.phase != rollout.PROMOTED:
            raise _Check(
                f"the good candidate was not promoted: the rollout {state.phase} ({state.message})",
                "see `knwalk rollout status` and `knwalk status`",
                restart=True,
            )
        snap = knative.snapshot(self.kube, self.service)
        served = [
            (t.latest_revision, t.revision_name, t.percent) for t in snap.traffic if t.percent
        ]
        if served != [(True, state.candidate, 100)]:
            raise _Check(
                f"after the promotion the Route sends {served}, not 100% to @latest "
                f"({state.candidate})",
                "see `knwalk status`",
                restart=True,
            )
        return result, self._rollout_commands(V3, None, state)

    def _remaining(self) -> Obj:
        selector = f"{SERVICE_LABEL}={self.service}"
        return {
            plural: len(knative.list_objects(self.kube, plural, label_selector=selector))
            for plural in (knative.CONFIGURATIONS, knative.REVISIONS, knative.ROUTES)
        }

    def _cleanup(self, say: Progress) -> tuple[Obj, list[str]]:
        owned = self._remaining()
        kubectl = [shell_line(self.where.kubectl("delete", "ksvc", self.service))]
        if self.keep:
            result: Obj = {"kept": True, "deleted": None, "owned": owned, "remaining": owned}
            return result, kubectl
        knative.delete(self.kube, self.service, wait=True, timeout=self.wait_timeout)
        remaining = self._remaining()
        if any(remaining.values()):
            left = ", ".join(f"{n} {k}" for k, n in remaining.items() if n)
            raise _Check(
                f"service {self.service!r} is gone but {left} it owned remain",
                "owner references should remove them; see `kubectl get revisions`",
            )
        result = {"kept": False, "deleted": self.service, "owned": owned, "remaining": remaining}
        return result, kubectl


def _sample_options(target: str) -> knative.DeployOptions:
    """The deploy options that set the sample's TARGET."""
    return knative.DeployOptions(env=knative.parse_env([], target=target))


def _shown(traffic: Sequence[Obj]) -> str:
    return (
        ", ".join(
            f"{t['percent']}% to {'@latest' if t['latestRevision'] else t['revisionName']}"
            for t in traffic
        )
        or "no traffic"
    )


# --------------------------------------------------------------------------- opening


def _sandbox_context_server(paths: Sequence[Path], context: str) -> tuple[str | None, bool]:
    """(server of ``context`` as kubectl would merge ``paths``, whether it is current)."""
    from kn_walk import kubeconfig

    current = None
    cluster_name = None
    servers: dict[str, str] = {}
    for path in paths:
        if not path.exists():
            continue
        try:
            config = kubeconfig.load(path)
        except KnwalkError:
            continue
        cur = config.get("current-context")
        if current is None and isinstance(cur, str) and cur:
            current = cur
        for entry in config.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == context and cluster_name is None:
                body = entry.get("context")
                if isinstance(body, dict) and isinstance(body.get("cluster"), str):
                    cluster_name = body["cluster"]
        for entry in config.get("clusters") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                body = entry.get("cluster")
                if isinstance(body, dict) and isinstance(body.get("server"), str):
                    servers.setdefault(entry["name"], body["server"])
    server = servers.get(cluster_name) if cluster_name else None
    return server, current == context


def open_sandbox(
    state_dir: Path,
    *,
    kubeconfig_path: Path | None = None,
    namespace: str | None = None,
    timeout: float | None = None,
    timeout_option: str = "--wait-timeout",
) -> tuple[Kube, Where]:
    """Start (or reuse) the sandbox of ``state_dir`` and connect to it, and only to it.

    Started here, the sandbox's context is merged into the user's kubeconfig and made
    current, as ``knwalk sandbox up`` does. Reused, the user's kubeconfig is left alone.
    Either way the tour connects through a private kubeconfig in the state dir
    holding the sandbox's own entry, never through the current context.
    """
    from kn_walk import kubeconfig
    from kn_walk.kube import connect
    from kn_walk.sandbox import control

    info, started = control.start(state_dir)
    written = None
    if started:
        user_file = kubeconfig.resolve_path(kubeconfig_path)
        control.write_kubeconfig(info, user_file)
        written = str(user_file)
    private = state_dir / control.TOUR_KUBECONFIG
    control.write_kubeconfig(info, private)
    ns = namespace or "default"
    kube = connect(private, control.CONTEXT, ns, timeout=timeout, timeout_option=timeout_option)
    # the options that make knwalk / kubectl reach this sandbox from the user's shell
    server, current = _sandbox_context_server(
        kubeconfig.read_paths(kubeconfig_path), control.CONTEXT
    )
    options: list[str] = []
    if server == info.api:
        if kubeconfig_path is not None:
            options += ["--kubeconfig", _q(str(kubeconfig_path))]
        if not current:
            options += ["--context", control.CONTEXT]
    else:
        options += ["--kubeconfig", _q(str(private))]
    where = Where(
        cluster="sandbox",
        context=control.CONTEXT,
        namespace=ns,
        server=info.api,
        options=tuple(options),
        namespace_options=("-n", _q(ns)) if ns != "default" else (),
        sandbox=info,
        started=started,
        kubeconfig_written=written,
    )
    return kube, where


def open_context(
    context: str,
    *,
    kubeconfig_path: Path | None = None,
    namespace: str | None = None,
    timeout: float | None = None,
    timeout_option: str = "--wait-timeout",
) -> tuple[Kube, Where]:
    """Connect to ``context``; refuse it when it has no Knative Serving. With ``timeout``,
    what the connection does until the tour bounds its next phase ends within it."""
    from kn_walk import kubeconfig
    from kn_walk.kube import connect

    kube = connect(
        kubeconfig_path, context, namespace, timeout=timeout, timeout_option=timeout_option
    )
    try:
        installed = kube.has_group_version(knative.GROUP, knative.VERSION)
    except KnwalkError:
        kube.close()
        raise
    if not installed:
        kube.close()
        flag = f" --kubeconfig {_q(str(kubeconfig_path))}" if kubeconfig_path else ""
        raise KnwalkError(
            f"context {context!r} has no Knative Serving (its API serves no "
            f"{knative.API_VERSION}); the tour needs it",
            f"install it with `knwalk install --context {_q(context)}{flag}`, "
            "or run the tour on the local sandbox: `knwalk tour`",
        )
    own_ns = kubeconfig.context_namespace(kubeconfig_path, context) or "default"
    options: list[str] = []
    if kubeconfig_path is not None:
        options += ["--kubeconfig", _q(str(kubeconfig_path))]
    options += ["--context", _q(context)]
    where = Where(
        cluster="context",
        context=context,
        namespace=kube.namespace,
        server=kube.target.server,
        options=tuple(options),
        namespace_options=("-n", _q(kube.namespace)) if kube.namespace != own_ns else (),
    )
    return kube, where


def dump_line(data: Obj) -> str:
    """One ``-o json`` line."""
    return json.dumps(data, separators=(",", ":"), default=str)
