"""The sandbox driven by the real kubectl: apply, get, patch, wait, delete, explain, watch.

kubectl is a client nobody here wrote: its exact output is what users see on a real
cluster, so these tests assert it verbatim wherever it is stable. Every test works in
its own namespace of the session sandbox.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Sandbox
from tests.kube_helpers import IMAGE, service_manifest

KUBECTL = "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(not os.path.exists(KUBECTL), reason=f"{KUBECTL} is not installed"),
]

KSVC = "service.serving.knative.dev/helloworld-go"
RESOURCE = {
    "ksvc": "service.serving.knative.dev",
    "configuration": "configuration.serving.knative.dev",
    "revision": "revision.serving.knative.dev",
    "route": "route.serving.knative.dev",
}
DOMAIN = "example.com"  # what the session sandbox seeds into config-domain


SERVICE_COLUMNS = ["NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY", "REASON"]
CONFIGURATION_COLUMNS = ["NAME", "LATESTCREATED", "LATESTREADY", "READY", "REASON"]
REVISION_COLUMNS = [
    "NAME",
    "CONFIG NAME",
    "GENERATION",
    "READY",
    "REASON",
    "ACTUAL REPLICAS",
    "DESIRED REPLICAS",
]
ROUTE_COLUMNS = ["NAME", "URL", "READY", "REASON"]

SSA_CONFLICT_HELP = """\
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
"""


V1 = service_manifest("Go Sample v1")
V2 = service_manifest("Go Sample v2")
SPLIT = service_manifest(
    "Go Sample v2",
    """\
  traffic:
    - tag: current
      revisionName: helloworld-go-00002
      percent: 50
    - tag: candidate
      revisionName: helloworld-go-00001
      percent: 50
    - tag: latest
      latestRevision: true
      percent: 0
""",
)
TRAFFIC_90 = service_manifest(
    "Go Sample v1",
    """\
  traffic:
    - latestRevision: true
      percent: 90
""",
)
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
"""

TRAFFIC_JSONPATH = (
    '{range .status.traffic[*]}{.tag} {.revisionName} {.percent} {.latestRevision}{"\\n"}{end}'
)
SPLIT_TRAFFIC_LINES = [
    "current helloworld-go-00002 50 false",
    "candidate helloworld-go-00001 50 false",
    "latest helloworld-go-00002 0 true",
]


def split_traffic(ns: str) -> list[dict[str, Any]]:
    """status.traffic of Service and Route after the 50/50 split, as Knative writes it."""
    return [
        {
            "latestRevision": False,
            "percent": 50,
            "revisionName": "helloworld-go-00002",
            "tag": "current",
            "url": f"http://current-helloworld-go.{ns}.{DOMAIN}",
        },
        {
            "latestRevision": False,
            "percent": 50,
            "revisionName": "helloworld-go-00001",
            "tag": "candidate",
            "url": f"http://candidate-helloworld-go.{ns}.{DOMAIN}",
        },
        {
            "latestRevision": True,
            "percent": 0,
            "revisionName": "helloworld-go-00002",
            "tag": "latest",
            "url": f"http://latest-helloworld-go.{ns}.{DOMAIN}",
        },
    ]


@dataclass
class Kubectl:
    """Runs /usr/bin/kubectl against the sandbox, in one namespace, from a scratch dir."""

    env: dict[str, str]
    namespace: str
    cwd: Path

    def argv(self, args: tuple[str, ...], namespaced: bool = True) -> list[str]:
        ns = ["--namespace", self.namespace] if namespaced else []
        return [KUBECTL, *ns, *args]

    def run(self, *args: str, namespaced: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args, namespaced),
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, namespaced: bool = True) -> str:
        """Run, expect success, return stdout."""
        p = self.run(*args, namespaced=namespaced)
        assert p.returncode == 0, f"kubectl {' '.join(args)} failed:\n{p.stderr}"
        return p.stdout

    def fail(self, *args: str) -> str:
        """Run, expect failure, return stderr."""
        p = self.run(*args)
        assert p.returncode != 0, f"kubectl {' '.join(args)} succeeded:\n{p.stdout}"
        return p.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def write(self, name: str, text: str) -> str:
        """Write a manifest into the scratch dir; kubectl gets the relative name."""
        (self.cwd / name).write_text(text)
        return name

    def apply(self, name: str, text: str, *flags: str) -> str:
        return self.ok("apply", "-f", self.write(name, text), *flags)

    def wait_ready(self, target: str = "ksvc/helloworld-go") -> None:
        kind, name = target.split("/")
        out = self.ok("wait", "--for=condition=Ready", target, "--timeout=30s")
        assert out == f"{RESOURCE[kind]}/{name} condition met\n"

    def names(self, kinds: str) -> list[str]:
        """``kubectl get KINDS -o name``, as a list."""
        return self.ok("get", kinds, "-o", "name").split()

    def revisions(self) -> list[str]:
        out = self.ok(
            "get",
            "revisions",
            "-l",
            "serving.knative.dev/service=helloworld-go",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        )
        return sorted(out.split())


@pytest.fixture(scope="module")
def kube_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubectl's discovery/OpenAPI cache, kept out of ~/.kube and shared by this module."""
    return tmp_path_factory.mktemp("kubectl-cache")


@pytest.fixture
def kubectl(sandbox: Sandbox, namespace: str, tmp_path: Path, kube_cache: Path) -> Kubectl:
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(kube_cache)
    return Kubectl(env, namespace, tmp_path)


def table(text: str) -> list[tuple[list[str], list[dict[str, str]]]]:
    """Parse kubectl's table output: one (columns, rows) per block (blocks split by blank lines).

    Column names may hold single spaces ("CONFIG NAME"); cells are sliced at the header's
    column offsets, which is how kubectl's tabwriter aligns them, so empty cells stay empty.
    """
    blocks = []
    for block in text.strip("\n").split("\n\n"):
        header, *lines = block.splitlines()
        cols = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
        rows = []
        for line in lines:
            row = {}
            for i, (start, name) in enumerate(cols):
                end = cols[i + 1][0] if i + 1 < len(cols) else None
                row[name] = line[start:end].strip()
            rows.append(row)
        blocks.append(([name for _, name in cols], rows))
    return blocks


def poll(check: Any, timeout: float = 20.0) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"condition not met in {timeout}s"


# --- apply ----------------------------------------------------------------------------


def test_client_side_apply_walkthrough(kubectl: Kubectl) -> None:
    ns = kubectl.namespace
    assert kubectl.apply("v1.yaml", V1) == f"{KSVC} created\n"
    kubectl.wait_ready()
    svc = kubectl.json("get", "ksvc", "helloworld-go")
    last = json.loads(
        svc["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert svc["status"]["url"] == f"http://helloworld-go.{ns}.{DOMAIN}"
    assert kubectl.revisions() == ["helloworld-go-00001"]

    # Re-applying the same file: Knative's webhook defaults the container (name
    # "user-container", readinessProbe, resources) and JSON merge patch replaces lists
    # whole, so kubectl's three-way patch is not empty and it says "configured", as on a
    # real cluster. Nothing changes: same generation, no new Revision.
    assert kubectl.apply("v1.yaml", V1) == f"{KSVC} configured\n"
    assert (
        kubectl.ok("get", "ksvc", "helloworld-go", "-o", "jsonpath={.metadata.generation}") == "1"
    )
    assert kubectl.revisions() == ["helloworld-go-00001"]

    assert kubectl.apply("v2.yaml", V2) == f"{KSVC} configured\n"
    kubectl.wait_ready()
    assert kubectl.revisions() == ["helloworld-go-00001", "helloworld-go-00002"]
    rev2 = kubectl.json("get", "revision", "helloworld-go-00002")
    assert rev2["spec"]["containers"][0]["env"] == [{"name": "TARGET", "value": "Go Sample v2"}]
    assert rev2["metadata"]["labels"]["serving.knative.dev/configurationGeneration"] == "2"

    assert kubectl.apply("split.yaml", SPLIT) == f"{KSVC} configured\n"
    kubectl.wait_ready()
    assert kubectl.revisions() == ["helloworld-go-00001", "helloworld-go-00002"]
    out = kubectl.ok("get", "ksvc", "helloworld-go", "-o", f"jsonpath={TRAFFIC_JSONPATH}")
    assert out.splitlines() == SPLIT_TRAFFIC_LINES
    assert kubectl.json("get", "ksvc", "helloworld-go")["status"]["traffic"] == split_traffic(ns)
    route = kubectl.json("get", "route", "helloworld-go")
    assert route["status"]["traffic"] == split_traffic(ns)
    # the Service fills in configurationName where it hands traffic to its Route
    assert route["spec"]["traffic"] == [
        {
            "latestRevision": False,
            "percent": 50,
            "revisionName": "helloworld-go-00002",
            "tag": "current",
        },
        {
            "latestRevision": False,
            "percent": 50,
            "revisionName": "helloworld-go-00001",
            "tag": "candidate",
        },
        {
            "configurationName": "helloworld-go",
            "latestRevision": True,
            "percent": 0,
            "tag": "latest",
        },
    ]
    cfg = kubectl.json("get", "configuration", "helloworld-go")
    assert cfg["status"]["latestCreatedRevisionName"] == "helloworld-go-00002"
    assert cfg["status"]["latestReadyRevisionName"] == "helloworld-go-00002"


def test_server_side_apply_walkthrough_and_conflicts(kubectl: Kubectl) -> None:
    ns = kubectl.namespace
    applied = f"{KSVC} serverside-applied\n"
    assert kubectl.apply("v1.yaml", V1, "--server-side") == applied
    kubectl.wait_ready()
    svc = kubectl.json("get", "ksvc", "helloworld-go", "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in svc["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (
        svc["metadata"].get("annotations") or {}
    )
    assert kubectl.apply("v1.yaml", V1, "--server-side") == applied
    assert kubectl.revisions() == ["helloworld-go-00001"]

    assert kubectl.apply("v2.yaml", V2, "--server-side") == applied
    kubectl.wait_ready()
    assert kubectl.revisions() == ["helloworld-go-00001", "helloworld-go-00002"]
    assert kubectl.apply("split.yaml", SPLIT, "--server-side") == applied
    kubectl.wait_ready()
    out = kubectl.ok("get", "ksvc", "helloworld-go", "-o", f"jsonpath={TRAFFIC_JSONPATH}")
    assert out.splitlines() == SPLIT_TRAFFIC_LINES

    # Another manager takes over spec.traffic (an atomic list in Knative's schema) ...
    patch = '{"spec":{"traffic":[{"revisionName":"helloworld-go-00002","percent":100}]}}'
    assert kubectl.ok("patch", "ksvc", "helloworld-go", "--type", "merge", "-p", patch) == (
        f"{KSVC} patched\n"
    )
    # ... so applying the split again conflicts with it,
    err = kubectl.fail("apply", "--server-side", "-f", "split.yaml")
    assert err == (
        'error: Apply failed with 1 conflict: conflict with "kubectl-patch" using '
        "serving.knative.dev/v1: .spec.traffic\n" + SSA_CONFLICT_HELP
    )
    out = kubectl.ok("get", "ksvc", "helloworld-go", "-o", f"jsonpath={TRAFFIC_JSONPATH}")
    assert out.splitlines() == [" helloworld-go-00002 100 false"]
    # ... until the applier forces it.
    assert kubectl.ok("apply", "--server-side", "--force-conflicts", "-f", "split.yaml") == applied
    kubectl.wait_ready()
    assert kubectl.json("get", "ksvc", "helloworld-go")["status"]["traffic"] == split_traffic(ns)
    svc = kubectl.json("get", "ksvc", "helloworld-go", "--show-managed-fields")
    patcher = [m for m in svc["metadata"]["managedFields"] if m["manager"] == "kubectl-patch"]
    assert all("f:traffic" not in json.dumps(m.get("fieldsV1", {})) for m in patcher)


def test_dry_run_server_creates_nothing(kubectl: Kubectl) -> None:
    out = kubectl.apply("v1.yaml", V1, "--dry-run=server")
    assert out == f"{KSVC} created (server dry run)\n"
    # the dry run still goes through admission
    err = kubectl.fail("apply", "--dry-run=server", "-f", kubectl.write("bad.yaml", TRAFFIC_90))
    assert "Traffic targets sum to 90, want 100: spec.traffic" in err
    # a real Service created afterwards becomes Ready: by then the controller has seen
    # everything there was to see, and nothing of helloworld-go exists.
    other = service_manifest("other", name="other")
    assert kubectl.apply("other.yaml", other) == "service.serving.knative.dev/other created\n"
    kubectl.wait_ready("ksvc/other")
    assert kubectl.names("ksvc,configuration,revision,route") == [
        "service.serving.knative.dev/other",
        "configuration.serving.knative.dev/other",
        "revision.serving.knative.dev/other-00001",
        "route.serving.knative.dev/other",
    ]


# --- get ------------------------------------------------------------------------------


def test_get_prints_knative_columns(kubectl: Kubectl) -> None:
    ns = kubectl.namespace
    empty = kubectl.run("get", "ksvc,configuration,revision,route")
    assert (empty.returncode, empty.stdout) == (0, "")
    assert empty.stderr == f"No resources found in {ns} namespace.\n"

    kubectl.apply("v1.yaml", V1)
    kubectl.wait_ready()
    kubectl.apply("v2.yaml", V2)
    kubectl.wait_ready()
    url = f"http://helloworld-go.{ns}.{DOMAIN}"
    blocks = table(kubectl.ok("get", "ksvc,configuration,revision,route"))
    assert [cols for cols, _ in blocks] == [
        SERVICE_COLUMNS,
        CONFIGURATION_COLUMNS,
        REVISION_COLUMNS,
        ROUTE_COLUMNS,
    ]
    (_, svcs), (_, cfgs), (_, revs), (_, routes) = blocks
    latest = {"LATESTCREATED": "helloworld-go-00002", "LATESTREADY": "helloworld-go-00002"}
    assert svcs == [
        {"NAME": KSVC, "URL": url, **latest, "READY": "True", "REASON": ""},
    ]
    assert cfgs == [
        {
            "NAME": "configuration.serving.knative.dev/helloworld-go",
            **latest,
            "READY": "True",
            "REASON": "",
        }
    ]
    # replica counts depend on the revision workloads; the rest is Knative's
    assert [{k: v for k, v in r.items() if "REPLICAS" not in k} for r in revs] == [
        {
            "NAME": f"revision.serving.knative.dev/helloworld-go-0000{g}",
            "CONFIG NAME": "helloworld-go",
            "GENERATION": str(g),
            "READY": "True",
            "REASON": "",
        }
        for g in (1, 2)
    ]
    assert routes == [
        {
            "NAME": "route.serving.knative.dev/helloworld-go",
            "URL": url,
            "READY": "True",
            "REASON": "",
        }
    ]

    # one kind at a time: no kind prefix on the names
    [(cols, rows)] = table(kubectl.ok("get", "ksvc"))
    assert cols == SERVICE_COLUMNS
    assert rows == [{"NAME": "helloworld-go", "URL": url, **latest, "READY": "True", "REASON": ""}]
    [(cols, rows)] = table(kubectl.ok("get", "revisions"))
    assert cols == REVISION_COLUMNS
    assert [r["NAME"] for r in rows] == ["helloworld-go-00001", "helloworld-go-00002"]
    # all namespaces
    [(cols, rows)] = table(kubectl.ok("get", "ksvc", "-A", namespaced=False))
    assert cols == ["NAMESPACE", *SERVICE_COLUMNS]
    assert {"NAMESPACE": ns, "NAME": "helloworld-go", "URL": url, **latest} in [
        {k: r[k] for k in ("NAMESPACE", "NAME", "URL", "LATESTCREATED", "LATESTREADY")}
        for r in rows
    ]
    # label columns and selectors
    kubectl.ok("label", "ksvc", "helloworld-go", "team=blue")
    [(cols, rows)] = table(kubectl.ok("get", "ksvc", "-L", "team"))
    assert cols == [*SERVICE_COLUMNS, "TEAM"] and rows[0]["TEAM"] == "blue"
    assert kubectl.names("ksvc") == [KSVC]
    assert kubectl.ok("get", "ksvc", "-l", "team=red", "-o", "name") == ""


def test_get_short_names_categories_and_formats(kubectl: Kubectl) -> None:
    kubectl.apply("v1.yaml", V1)
    kubectl.wait_ready()
    knative_names = [
        "service.serving.knative.dev/helloworld-go",
        "configuration.serving.knative.dev/helloworld-go",
        "revision.serving.knative.dev/helloworld-go-00001",
        "route.serving.knative.dev/helloworld-go",
    ]
    assert kubectl.names("kservice") == [KSVC]
    assert kubectl.names("ksvc") == [KSVC]
    assert kubectl.names("services.serving.knative.dev") == [KSVC]
    assert kubectl.names("rev,rt,cfg") == [
        "revision.serving.knative.dev/helloworld-go-00001",
        "route.serving.knative.dev/helloworld-go",
        "configuration.serving.knative.dev/helloworld-go",
    ]
    assert kubectl.names("config") == ["configuration.serving.knative.dev/helloworld-go"]
    # the CRDs' categories: a real cluster lists more kinds under "all" (pods,
    # deployments, ...), so only require the Knative ones
    assert set(knative_names) <= set(kubectl.names("all"))
    assert sorted(kubectl.names("knative")) == sorted(knative_names)
    assert sorted(kubectl.names("serving")) == sorted(knative_names)
    # table output of a category lists every kind with its own columns
    blocks = table(kubectl.ok("get", "knative"))
    assert sorted(cols for cols, _ in blocks) == sorted(
        [SERVICE_COLUMNS, CONFIGURATION_COLUMNS, REVISION_COLUMNS, ROUTE_COLUMNS]
    )

    listed = yaml.safe_load(kubectl.ok("get", "ksvc", "-o", "yaml"))
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    [item] = listed["items"]
    assert (item["apiVersion"], item["kind"]) == ("serving.knative.dev/v1", "Service")
    assert item["metadata"]["name"] == "helloworld-go"
    assert "managedFields" not in item["metadata"]  # kubectl hides them by default
    one = yaml.safe_load(kubectl.ok("get", "ksvc", "helloworld-go", "-o", "yaml"))
    assert one["kind"] == "Service" and one["metadata"]["namespace"] == kubectl.namespace
    container = one["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "user-container"  # Knative's defaulting webhook
    assert one["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    assert [c["type"] for c in one["status"]["conditions"]] == [
        "ConfigurationsReady",
        "Ready",
        "RoutesReady",
    ]
    ready = kubectl.ok(
        "get",
        "ksvc",
        "helloworld-go",
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
    )
    assert ready == "True"
    custom = kubectl.ok(
        "get",
        "rev",
        "-o",
        "custom-columns=NAME:.metadata.name,SERVICE:.metadata.labels.serving\\.knative\\.dev/service",
    )
    assert custom.split() == ["NAME", "SERVICE", "helloworld-go-00001", "helloworld-go"]

    missing = kubectl.run("get", "ksvc", "nope")
    assert missing.returncode == 1
    assert missing.stderr == (
        'Error from server (NotFound): services.serving.knative.dev "nope" not found\n'
    )


def test_watch_prints_a_row_when_the_service_changes(kubectl: Kubectl) -> None:
    kubectl.apply("v1.yaml", V1)
    kubectl.wait_ready()
    proc = subprocess.Popen(
        kubectl.argv(("get", "ksvc", "helloworld-go", "--watch", "--request-timeout=60s")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kubectl.env,
        cwd=kubectl.cwd,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 30

    def next_line() -> str:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("kubectl get --watch printed nothing more in time") from None
        assert line is not None, "kubectl get --watch ended early"
        return line

    def next_row() -> dict[str, str]:
        # every event is flushed on its own, so later rows need not line up with the
        # header: split on blanks (only REASON may be empty, and it is last)
        return dict(zip(SERVICE_COLUMNS, next_line().split(), strict=False))

    try:
        [(cols, _)] = table(next_line())
        assert cols == SERVICE_COLUMNS
        row = next_row()
        assert (row["NAME"], row["LATESTCREATED"]) == ("helloworld-go", "helloworld-go-00001")
        kubectl.apply("v2.yaml", V2)
        while True:
            row = next_row()
            assert row["NAME"] == "helloworld-go"
            if row["LATESTREADY"] == "helloworld-go-00002" and row["READY"] == "True":
                break
        assert row["LATESTCREATED"] == "helloworld-go-00002"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


# --- patch ----------------------------------------------------------------------------


def test_patch_types(kubectl: Kubectl) -> None:
    kubectl.apply("v1.yaml", V1)
    kubectl.wait_ready()
    merge = json.dumps(
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"image": IMAGE, "env": [{"name": "TARGET", "value": "patched"}]}
                        ]
                    }
                }
            }
        }
    )
    out = kubectl.ok("patch", "ksvc", "helloworld-go", "--type", "merge", "-p", merge)
    assert out == f"{KSVC} patched\n"
    kubectl.wait_ready()
    assert kubectl.revisions() == ["helloworld-go-00001", "helloworld-go-00002"]
    env = kubectl.ok(
        "get", "rev", "helloworld-go-00002", "-o", "jsonpath={.spec.containers[0].env[0].value}"
    )
    assert env == "patched"
    # the same patch again changes nothing
    out = kubectl.ok("patch", "ksvc", "helloworld-go", "--type", "merge", "-p", merge)
    assert out == f"{KSVC} patched (no change)\n"

    jsonpatch = json.dumps(
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/env/0/value",
                "value": "json-patched",
            }
        ]
    )
    out = kubectl.ok("patch", "ksvc", "helloworld-go", "--type", "json", "-p", jsonpatch)
    assert out == f"{KSVC} patched\n"
    kubectl.wait_ready()
    assert kubectl.revisions() == [f"helloworld-go-0000{i}" for i in (1, 2, 3)]
    bad_test = '[{"op":"test","path":"/spec/template/spec/containers/0/image","value":"x"}]'
    err = kubectl.fail("patch", "ksvc", "helloworld-go", "--type", "json", "-p", bad_test)
    assert err == (
        "The request is invalid: the server rejected our request due to an error in our request\n"
    )

    # kubectl's default patch type is strategic merge, which custom resources refuse
    err = kubectl.fail("patch", "ksvc", "helloworld-go", "-p", '{"metadata":{"labels":{"a":"b"}}}')
    assert err == (
        "error: application/strategic-merge-patch+json is not supported by "
        "serving.knative.dev/v1, Kind=Service: the body of the request was in an unknown "
        "format - accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/apply-patch+yaml\n"
    )
    assert kubectl.revisions() == [f"helloworld-go-0000{i}" for i in (1, 2, 3)]

    # ... and built-in kinds accept
    assert kubectl.apply("cm.yaml", CONFIGMAP) == "configmap/settings created\n"
    assert kubectl.apply("cm.yaml", CONFIGMAP) == "configmap/settings unchanged\n"
    out = kubectl.ok("patch", "configmap", "settings", "-p", '{"data":{"b":"2"}}')
    assert out == "configmap/settings patched\n"
    assert kubectl.json("get", "configmap", "settings")["data"] == {"a": "1", "b": "2"}
    assert kubectl.apply("cm.yaml", CONFIGMAP) == "configmap/settings unchanged\n"


# --- wait, delete ---------------------------------------------------------------------


def test_wait_and_delete_cascade(kubectl: Kubectl) -> None:
    kubectl.apply("v1.yaml", V1)
    kubectl.wait_ready()
    kubectl.apply("v2.yaml", V2)
    kubectl.apply("split.yaml", SPLIT)
    kubectl.wait_ready()
    kubectl.wait_ready("configuration/helloworld-go")
    kubectl.wait_ready("route/helloworld-go")
    kubectl.wait_ready("revision/helloworld-go-00001")
    out = kubectl.ok(
        "wait",
        "--for=jsonpath={.status.latestReadyRevisionName}=helloworld-go-00002",
        "ksvc/helloworld-go",
    )
    assert out == f"{KSVC} condition met\n"
    cfg = kubectl.json("get", "configuration", "helloworld-go")
    [owner] = cfg["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Service", "helloworld-go", True)

    assert kubectl.ok("delete", "ksvc", "helloworld-go") == (
        'service.serving.knative.dev "helloworld-go" deleted\n'
    )
    # the garbage collector removes what the Service owned
    poll(lambda: kubectl.names("ksvc,configuration,revision,route") == [])
    err = kubectl.fail("delete", "ksvc", "helloworld-go")
    assert (
        err
        == 'Error from server (NotFound): services.serving.knative.dev "helloworld-go" not found\n'
    )
    assert kubectl.ok("delete", "ksvc", "helloworld-go", "--ignore-not-found") == ""

    # delete -f, and waiting for a deletion
    kubectl.apply("v1.yaml", V1)
    kubectl.wait_ready()
    assert kubectl.ok("delete", "-f", "v1.yaml") == (
        'service.serving.knative.dev "helloworld-go" deleted\n'
    )
    kubectl.ok("wait", "--for=delete", "ksvc/helloworld-go", "--timeout=30s")
    poll(lambda: kubectl.names("ksvc,configuration,revision,route") == [])


# --- validation -----------------------------------------------------------------------


def test_admission_errors_as_kubectl_prints_them(kubectl: Kubectl) -> None:
    denied = (
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
        "validation failed: Traffic targets sum to 90, want 100: spec.traffic"
    )
    err = kubectl.fail("apply", "-f", kubectl.write("bad.yaml", TRAFFIC_90))
    assert err == f'Error from server (BadRequest): error when creating "bad.yaml": {denied}\n'
    err = kubectl.fail("apply", "--server-side", "-f", "bad.yaml")
    assert err == f"Error from server (BadRequest): {denied}\n"
    err = kubectl.fail("create", "-f", "bad.yaml")
    assert err == f'Error from server (BadRequest): error when creating "bad.yaml": {denied}\n'
    assert kubectl.names("ksvc,configuration,revision,route") == []

    # on update too, and the live object stays as it was
    kubectl.apply("v1.yaml", V1)
    kubectl.wait_ready()
    err = kubectl.fail("apply", "-f", "bad.yaml")
    assert err.startswith('Error from server (BadRequest): error when applying patch:\n{"metadata"')
    assert err.rstrip("\n").endswith(f'for: "bad.yaml": error when patching "bad.yaml": {denied}')
    assert kubectl.json("get", "ksvc", "helloworld-go")["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 100}
    ]
    dup = json.dumps(
        {
            "spec": {
                "traffic": [
                    {"tag": "x", "latestRevision": True, "percent": 50},
                    {"tag": "x", "revisionName": "helloworld-go-00001", "percent": 50},
                ]
            }
        }
    )
    err = kubectl.fail("patch", "ksvc", "helloworld-go", "--type", "merge", "-p", dup)
    assert err == (
        'Error from server (BadRequest): admission webhook "validation.webhook.serving.knative.dev" '
        'denied the request: validation failed: Multiple definitions for "x": '
        "spec.traffic[0].tag, spec.traffic[1].tag\n"
    )


def unknown_field_manifest(name: str = "extra") -> str:
    """A valid Service with one field the schema does not know: spec.templat."""
    return service_manifest("Go Sample v1", name=name).replace(
        "spec:\n  template:", "spec:\n  templat: {}\n  template:"
    )


def test_unknown_field_strict_by_default_pruned_without_validation(kubectl: Kubectl) -> None:
    path = kubectl.write("extra.yaml", unknown_field_manifest())
    err = kubectl.fail("apply", "-f", path)
    assert err.startswith('Error from server (BadRequest): error when creating "extra.yaml": ')
    assert 'unknown field "spec.templat"' in err
    assert kubectl.names("ksvc") == []

    out = kubectl.ok("apply", "--validate=false", "-f", path)
    assert out == "service.serving.knative.dev/extra created\n"
    spec = kubectl.json("get", "ksvc", "extra")["spec"]
    assert "templat" not in spec  # the server prunes what its schema does not know
    assert spec["template"]["spec"]["containers"][0]["image"] == IMAGE
    kubectl.wait_ready("ksvc/extra")


def test_unknown_field_message_is_kube_apiservers(kubectl: Kubectl) -> None:
    err = kubectl.fail("apply", "-f", kubectl.write("extra.yaml", unknown_field_manifest()))
    assert err == (
        'Error from server (BadRequest): error when creating "extra.yaml": Service in version '
        '"v1" cannot be handled as a Service: strict decoding error: unknown field "spec.templat"\n'
    )


def test_unknown_field_warns_with_validate_warn(kubectl: Kubectl) -> None:
    p = kubectl.run(
        "apply", "--validate=warn", "-f", kubectl.write("extra.yaml", unknown_field_manifest())
    )
    assert (p.returncode, p.stdout) == (0, "service.serving.knative.dev/extra created\n")
    assert 'Warning: unknown field "spec.templat"\n' in p.stderr


def test_unknown_field_server_side_apply(kubectl: Kubectl) -> None:
    path = kubectl.write("extra.yaml", unknown_field_manifest())
    err = kubectl.fail("apply", "--server-side", "-f", path)
    assert "failed to create typed patch object" in err
    assert ".spec.templat: field not declared in schema" in err


def test_only_misspelled_template_without_validation(kubectl: Kubectl) -> None:
    only_typo = V1.replace("spec:\n  template:", "spec:\n  templat:")
    err = kubectl.fail("apply", "--validate=false", "-f", kubectl.write("typo.yaml", only_typo))
    assert err == (
        'Error from server (BadRequest): error when creating "typo.yaml": admission webhook '
        '"validation.webhook.serving.knative.dev" denied the request: validation failed: '
        "missing field(s): spec.template.spec.containers\n"
    )


# --- discovery, explain, version ------------------------------------------------------


def test_explain_and_api_resources(kubectl: Kubectl) -> None:
    out = kubectl.ok("explain", "ksvc.spec.traffic", namespaced=False)
    assert out.startswith(
        "GROUP:      serving.knative.dev\nKIND:       Service\nVERSION:    v1\n\n"
        "FIELD: traffic <[]Object>\n"
    )
    assert (
        "DESCRIPTION:\n    Traffic specifies how to distribute traffic over a collection of\n"
        "    revisions and configurations.\n"
    ) in out
    fields = re.findall(r"^  (\w+)\t<(\w+)>$", out, re.MULTILINE)
    assert fields == [
        ("configurationName", "string"),
        ("latestRevision", "boolean"),
        ("percent", "integer"),
        ("revisionName", "string"),
        ("tag", "string"),
        ("url", "string"),
    ]
    out = kubectl.ok("explain", "kservice", namespaced=False)
    assert "Service acts as a top-level container that manages a Route and Configuration" in out
    out = kubectl.ok("explain", "revisions.spec.containers.image", namespaced=False)
    assert "FIELD: image <string>" in out

    out = kubectl.ok("api-resources", "--api-group=serving.knative.dev", namespaced=False)
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = [line.split() for line in lines[1:]]
    # a real Knative install also has domainmappings (v1beta1) in this group
    for row in (
        ["configurations", "config,cfg", "serving.knative.dev/v1", "true", "Configuration"],
        ["revisions", "rev", "serving.knative.dev/v1", "true", "Revision"],
        ["routes", "rt", "serving.knative.dev/v1", "true", "Route"],
        ["services", "kservice,ksvc", "serving.knative.dev/v1", "true", "Service"],
    ):
        assert row in rows
    out = kubectl.ok("api-resources", "--categories=knative", "-o", "name", namespaced=False)
    assert set(out.split()) >= {
        "services.serving.knative.dev",
        "configurations.serving.knative.dev",
        "revisions.serving.knative.dev",
        "routes.serving.knative.dev",
    }


def test_explain_builtin_kinds_from_the_published_schemas(kubectl: Kubectl) -> None:
    out = kubectl.ok("explain", "pods.spec.containers", namespaced=False)
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>\n"), (
        out
    )
    # Kubernetes' own description of the field, not a shortened copy
    assert (
        "DESCRIPTION:\n    List of containers belonging to the pod. Containers cannot currently be\n"
        "    added or removed. There must be at least one container in a Pod. Cannot be\n"
        "    updated.\n"
    ) in out
    fields = dict(re.findall(r"^  (\w+)\t<([^>]+)>", out, re.MULTILINE))
    assert fields["name"] == "string"
    assert fields["ports"] == "[]ContainerPort"
    assert fields["lifecycle"] == "Lifecycle"
    out = kubectl.ok("explain", "deploy.spec.template.spec.hostAliases", namespaced=False)
    assert "FIELD: hostAliases <[]HostAlias>" in out
    assert "  ip\t<string> -required-" in out


def test_version(kubectl: Kubectl) -> None:
    raw = json.loads(kubectl.ok("get", "--raw", "/version", namespaced=False))
    assert raw["major"] == "1" and raw["gitVersion"].startswith("v1.")
    version = json.loads(kubectl.ok("version", "-o", "json", namespaced=False))
    assert version["serverVersion"]["gitVersion"] == raw["gitVersion"]
    assert version["clientVersion"]["major"] == "1"
    out = kubectl.ok("version", namespaced=False)
    assert f"Server Version: {raw['gitVersion']}\n" in out


# --- imperative create (typed clients send protobuf) ------------------------------------


@pytest.mark.parametrize("kind", ["namespace", "configmap"])
def test_create_builtin_imperatively(kubectl: Kubectl, kind: str) -> None:
    name = "kc-" + uuid.uuid4().hex[:8]
    out = kubectl.ok("create", kind, name)
    assert out == f"{kind}/{name} created\n"
