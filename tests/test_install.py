"""The installer core against private sandboxes, through the real ``kubernetes`` client.

Install tests create cluster-scoped objects (CRDs, namespaces), so each test
starts its own sandbox. A "bare" sandbox has the namespaces a fresh cluster
would not have removed first (``knative-serving`` and ``istio-system``, seeded
by the sandbox with its own field manager), so an install meets no conflicts.
The :class:`LoadBalancerController` thread plays the cloud controller: it gives
LoadBalancer Services an address, as GKE would (the sandbox does not; see
``test_sandbox_gives_loadbalancer_services_an_address``).

Also here: the sandbox behaviours the installer relies on, which were gaps once
(LoadBalancer addresses, Pods for Deployments).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kn_walk import install as I
from kn_walk import manifests as M
from kn_walk.errors import KnwalkError, WaitTimeout
from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
GATEWAY_IP = "127.0.0.1"


# --------------------------------------------------------------------------- helpers


def client_for(sb: Sandbox) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(sb.kubeconfig), context=control.CONTEXT)


class LoadBalancerController:
    """A thread that gives every LoadBalancer Service an address, like a cloud controller."""

    def __init__(self, api_client: Any, address: str = GATEWAY_IP) -> None:
        from kubernetes import client, watch

        self.core = client.CoreV1Api(api_client)
        self.address = address
        self.watch = watch.Watch()
        self.stopped = threading.Event()
        self.assigned: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoadBalancerController:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.watch.stop()
        self.thread.join(10)
        # the API server notices the closed watch when it next writes an event: give it one,
        # or stopping the sandbox waits for that handler
        poke = {"metadata": {"name": "lb-controller-stopped"}, "spec": {"ports": [{"port": 80}]}}
        with contextlib.suppress(Exception):
            self.core.create_namespaced_service("default", poke)
            self.core.delete_namespaced_service("lb-controller-stopped", "default")

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                for event in self.watch.stream(
                    self.core.list_service_for_all_namespaces, timeout_seconds=5
                ):
                    svc = event["raw_object"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._assign(svc)
            except Exception:
                if self.stopped.is_set():
                    return

    def _assign(self, svc: dict[str, Any]) -> None:
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            return
        if ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            return
        meta = svc["metadata"]
        self.core.patch_namespaced_service_status(
            meta["name"],
            meta["namespace"],
            {"status": {"loadBalancer": {"ingress": [{"ip": self.address}]}}},
        )
        self.assigned.append(f"{meta['namespace']}/{meta['name']}")


def make_bare(sb: Sandbox) -> None:
    """Remove what a fresh cluster would not have: the sandbox's seeded Knative namespaces
    and the CRDs of its installation beyond the four Serving kinds (Knative's internal
    ones, net-istio's Istio ones), which another release's would conflict with."""
    from kubernetes import client

    from kn_walk.sandbox.machinery.resourcetypes import KNATIVE_KINDS, knative_crds

    api = client_for(sb)
    try:
        core = client.CoreV1Api(api)
        for ns in (M.SERVING_NAMESPACE, "istio-system"):
            core.delete_namespace(ns)
        crds = client.ApiextensionsV1Api(api)
        for crd in knative_crds():
            if crd["spec"]["names"]["singular"] not in KNATIVE_KINDS:
                crds.delete_custom_resource_definition(crd["metadata"]["name"])
    finally:
        api.close()


def wait_installed(sb: Sandbox, timeout: float = 30.0) -> None:
    """Until the sandbox's installation has come up (it does once the API answers): every
    system Deployment Available at its generation, every Service of its namespaces with
    its Endpoints. The sandbox then writes nothing unless asked."""
    from kubernetes import client

    from kn_walk.sandbox.knative import release

    wanted = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in release.objects()
        if o["kind"] == "Deployment"
    }
    api_client = client_for(sb)
    deadline = time.monotonic() + timeout
    try:
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        while True:
            available = {
                (d.metadata.namespace, d.metadata.name)
                for d in apps.list_deployment_for_all_namespaces().items
                if d.status is not None
                and d.status.observed_generation == d.metadata.generation
                and any(
                    c.type == "Available" and c.status == "True" for c in d.status.conditions or []
                )
            }
            services = {
                (s.metadata.namespace, s.metadata.name)
                for ns in ("knative-serving", "istio-system")
                for s in core.list_namespaced_service(ns).items
            }
            endpoints = {
                (e.metadata.namespace, e.metadata.name)
                for ns in ("knative-serving", "istio-system")
                for e in core.list_namespaced_endpoints(ns).items
                if e.subsets
            }
            if wanted <= available and services <= endpoints:
                return
            assert time.monotonic() < deadline, f"not installed: {wanted - available}"
            time.sleep(0.05)
    finally:
        api_client.close()


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Sandbox]:
    """A private sandbox as `knwalk sandbox up` makes it (Knative Serving built in), once
    its installation has come up."""
    sb = start_sandbox(tmp_path / "sb")
    wait_installed(sb)
    yield sb
    control.stop(sb.state_dir)


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A private sandbox without the seeded knative-serving and istio-system namespaces,
    and without a load-balancer controller (tests that need one use the ``lb`` fixture)."""
    monkeypatch.setenv("KNWALK_SANDBOX_LOAD_BALANCER", "0")
    sb = start_sandbox(tmp_path / "sb")
    make_bare(sb)
    yield sb
    control.stop(sb.state_dir)


@pytest.fixture
def api(bare: Sandbox) -> Iterator[Any]:
    api_client = client_for(bare)
    yield api_client
    api_client.close()


@pytest.fixture
def lb(api: Any) -> Iterator[LoadBalancerController]:
    with LoadBalancerController(api) as controller:
        yield controller


def plan_for(
    ingress: str = "istio",
    domain: str = "example.com",
    folder: Path = FIXTURES,
    version: str = M.DEFAULT_SERVING_VERSION,
) -> M.Plan:
    release = M.release_for(version, from_manifests=True)
    source = M.parse_source(str(folder))
    return M.plan_install(release, ingress, domain, source, M.fetch(release, ingress, source))


def dyn_get(api_client: Any, api_version: str, kind: str, name: str, ns: str | None) -> Any:
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

    try:
        resource = DynamicClient(api_client).resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        return None  # the kind's CRD is gone
    try:
        return resource.get(name=name, namespace=ns).to_dict()
    except NotFoundError:
        return None


def snapshot(api_client: Any, plan: M.Plan) -> dict[tuple[str, str, str, str], str]:
    """resourceVersion of every object of the plan that exists."""
    out = {}
    for obj in plan.objects:
        found = dyn_get(api_client, obj.api_version, obj.kind, obj.name, obj.namespace)
        if found is not None:
            out[obj.key] = found["metadata"]["resourceVersion"]
    return out


def managers(obj: dict[str, Any]) -> set[str]:
    return {e["manager"] for e in obj["metadata"].get("managedFields") or []}


def run_install(
    sb: Sandbox, plan: M.Plan, *, on_event: Callable[[I.Event], None] | None = None, **kw: Any
) -> I.InstallResult:
    with I.connect(sb.kubeconfig, None) as cluster:
        return I.install(cluster, plan, on_event=on_event or (lambda e: None), **kw)


# --------------------------------------------------------------------------- install


def test_install_applies_the_steps_in_the_documented_order(
    bare: Sandbox, api: Any, lb: Any
) -> None:
    plan = plan_for("istio")
    events: list[I.Event] = []
    result = run_install(bare, plan, on_event=events.append, wait_timeout=30)

    started = [e.step.name for e in events if isinstance(e, I.StepStarted)]
    assert started == [
        "istio-crds",
        "istio",
        "serving-crds",
        "serving-core",
        "net-istio",
        "ingress-class",
        "domain",
    ]
    applied = [e for e in events if isinstance(e, I.ObjectApplied)]
    assert [e.outcome for e in applied].count(I.CREATED) == len(plan.objects) - 2
    # Istio CRDs (and only they) go first; every custom resource comes after its CRD
    first = [e.obj for e in applied if e.step.name == "istio-crds"]
    assert first and all(o.labels.get(M.CRD_INSTALL_LABEL) == "true" for o in first)
    position = {e.obj.key: i for i, e in enumerate(applied)}
    crds = {o.defines(): o for o in plan.objects if o.is_crd}
    for obj in plan.objects:
        crd = crds.get((obj.group, obj.kind))
        if crd is not None:
            assert position[crd.key] < position[obj.key], obj.ref
    # waits come after every apply but the sslip domain, in order: Deployments, gateway
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("DeploymentsUpdate") > max(
        i for i, k in enumerate(kinds) if k == "ObjectApplied"
    )
    assert kinds.index("GatewayUpdate") > kinds.index("DeploymentsUpdate")

    assert all(d.ok for d in result.deployments)
    assert {(d.namespace, d.name) for d in result.deployments} >= {
        ("knative-serving", "activator"),
        ("knative-serving", "net-istio-controller"),
        ("istio-system", "istio-ingressgateway"),
    }
    assert result.gateway_address == GATEWAY_IP
    assert result.gateway_url == "http://127.0.0.1"
    assert result.domain == "example.com"
    assert lb.assigned == ["istio-system/istio-ingressgateway"]
    for obj in plan.objects:
        found = dyn_get(api, obj.api_version, obj.kind, obj.name, obj.namespace)
        assert found is not None, obj.ref
        assert M.FIELD_MANAGER in managers(found) or M.SETTINGS_MANAGER in managers(found)
    domain = dyn_get(api, "v1", "ConfigMap", "config-domain", M.SERVING_NAMESPACE)
    assert domain["data"]["example.com"] == ""
    assert "_example" in domain["data"]  # serving-core's own key is kept
    network = dyn_get(api, "v1", "ConfigMap", "config-network", M.SERVING_NAMESPACE)
    assert network["data"]["ingress-class"] == "istio.ingress.networking.knative.dev"
    owners = {e["manager"]: e for e in network["metadata"]["managedFields"]}
    assert "f:ingress-class" in str(owners[M.SETTINGS_MANAGER]["fieldsV1"])
    assert "f:ingress-class" not in str(owners[M.FIELD_MANAGER]["fieldsV1"])


def test_second_run_changes_no_resource_version(bare: Sandbox, api: Any, lb: Any) -> None:
    plan = plan_for("istio")
    run_install(bare, plan, wait_timeout=30)
    before = snapshot(api, plan)
    events: list[I.Event] = []
    result = run_install(bare, plan, on_event=events.append, wait_timeout=30)
    after = snapshot(api, plan)
    steady = list(before)  # every object, Deployments and CRDs included
    assert len(steady) > 20
    assert {k: after[k] for k in steady} == {k: before[k] for k in steady}
    outcomes = {e.obj.key: e.outcome for e in events if isinstance(e, I.ObjectApplied)}
    assert {outcomes[k] for k in steady} == {I.UNCHANGED}
    assert result.steps[-1].up_to_date and result.steps[-2].up_to_date  # domain, ingress class


def test_kourier_install_sets_the_ingress_class_after_kourier(
    bare: Sandbox, api: Any, lb: Any
) -> None:
    plan = plan_for("kourier")
    events: list[I.Event] = []
    result = run_install(bare, plan, on_event=events.append, wait_timeout=30)
    started = [e.step.name for e in events if isinstance(e, I.StepStarted)]
    assert started == ["serving-crds", "serving-core", "kourier", "ingress-class", "domain"]
    network = dyn_get(api, "v1", "ConfigMap", "config-network", M.SERVING_NAMESPACE)
    assert network["data"]["ingress-class"] == "kourier.ingress.networking.knative.dev"
    assert result.gateway_address == GATEWAY_IP
    assert lb.assigned == ["kourier-system/kourier"]
    assert {d.namespace for d in result.deployments} == {"knative-serving", "kourier-system"}
    # what `knwalk curl` uses to find the gateway now points at Kourier
    from kn_walk import ingress
    from kn_walk.kube import connect

    with connect(bare.kubeconfig, None, None) as kube:
        assert ingress.discover(kube).source == "kourier-system/kourier"


def test_sslip_domain_uses_the_gateway_address(bare: Sandbox, api: Any, lb: Any) -> None:
    plan = plan_for("istio", domain="sslip.io")
    assert plan.steps[-1].after_waits
    events: list[I.Event] = []
    result = run_install(bare, plan, on_event=events.append, wait_timeout=30)
    assert result.domain == "127.0.0.1.sslip.io"
    domain = dyn_get(api, "v1", "ConfigMap", "config-domain", M.SERVING_NAMESPACE)
    assert "127.0.0.1.sslip.io" in domain["data"]
    assert "<gateway-ip>.sslip.io" not in domain["data"]
    kinds = [type(e).__name__ for e in events]
    last_gateway = max(i for i, k in enumerate(kinds) if k == "GatewayUpdate")
    domain_applied = [
        i
        for i, e in enumerate(events)
        if isinstance(e, I.ObjectApplied)
        and e.obj.name == "config-domain"
        and e.step.name == "domain"
    ]
    assert domain_applied and domain_applied[0] > last_gateway


def test_changing_the_domain_replaces_the_one_knwalk_set(bare: Sandbox, api: Any, lb: Any) -> None:
    run_install(bare, plan_for("istio"), wait_timeout=30)
    run_install(bare, plan_for("istio", domain="walk.example.org"), wait_timeout=30)
    data = dyn_get(api, "v1", "ConfigMap", "config-domain", M.SERVING_NAMESPACE)["data"]
    assert "walk.example.org" in data
    assert "example.com" not in data
    assert "_example" in data


def test_domain_none_leaves_config_domain_alone(bare: Sandbox, api: Any, lb: Any) -> None:
    plan = plan_for("istio", domain="none")
    assert [s.name for s in plan.steps][-1] == "ingress-class"
    result = run_install(bare, plan, wait_timeout=30)
    assert result.domain is None
    data = dyn_get(api, "v1", "ConfigMap", "config-domain", M.SERVING_NAMESPACE)["data"]
    assert list(data) == ["_example"]


def test_a_field_changed_by_someone_else_is_a_conflict_until_forced(
    bare: Sandbox, api: Any, lb: Any
) -> None:
    from kubernetes import client

    plan = plan_for("istio")
    run_install(bare, plan, wait_timeout=30)
    core = client.CoreV1Api(api)
    core.patch_namespaced_config_map(
        "config-features",
        M.SERVING_NAMESPACE,
        {"data": {"_example": "edited by hand"}},
        field_manager="kubectl-edit",
    )
    events: list[I.Event] = []
    with pytest.raises(I.ApplyConflicts) as info:
        run_install(bare, plan, on_event=events.append, wait_timeout=30)
    err = info.value
    assert err.step.name == "serving-core"
    assert [(c.obj.ref, c.field, c.manager) for c in err.conflicts] == [
        ("ConfigMap knative-serving/config-features", ".data._example", "kubectl-edit")
    ]
    assert "--force-conflicts" in err.hint
    assert "kubectl-edit" in err.message
    started = [e.step.name for e in events if isinstance(e, I.StepStarted)]
    assert started[-1] == "serving-core"  # later steps did not run
    cm = core.read_namespaced_config_map("config-features", M.SERVING_NAMESPACE)
    assert cm.data["_example"] == "edited by hand"

    events.clear()
    run_install(bare, plan, force_conflicts=True, on_event=events.append, wait_timeout=30)
    cm = core.read_namespaced_config_map("config-features", M.SERVING_NAMESPACE)
    assert cm.data["_example"].startswith("# multi-container")
    changed = {
        e.obj.ref for e in events if isinstance(e, I.ObjectApplied) and e.outcome != I.UNCHANGED
    }
    assert changed == {"ConfigMap knative-serving/config-features"}


def test_the_seeded_sandbox_owns_fields_the_release_sets(seeded: Sandbox) -> None:
    """Installing over another installer's Knative: its field manager is named."""
    with pytest.raises(I.ApplyConflicts) as info:
        run_install(seeded, plan_for("istio"), wait_timeout=30)
    owners = {c.manager for c in info.value.conflicts}
    assert owners == {"knwalk-sandbox"}
    # the first step's: the sandbox installed net-istio's Istio CRDs, of another release
    refs = {c.obj.ref for c in info.value.conflicts}
    assert refs == {
        "CustomResourceDefinition gateways.networking.istio.io",
        "CustomResourceDefinition virtualservices.networking.istio.io",
    }
    fields = {c.field for c in info.value.conflicts}
    assert ".spec.versions" in fields
    assert fields <= {".spec.versions", ".metadata.labels.app.kubernetes.io/version"}


def test_gateway_without_an_address_times_out_naming_it(bare: Sandbox) -> None:
    """No load balancer controller: the wait ends at the deadline and says what is missing."""
    with pytest.raises(WaitTimeout) as info:
        run_install(bare, plan_for("kourier"), wait_timeout=1)
    assert "kourier-system/kourier" in info.value.message
    assert "LoadBalancer has no address" in info.value.message
    assert "--wait-timeout" in info.value.hint


def test_a_wait_whose_budget_ran_out_first_still_says_what_is_there(sandbox: Sandbox) -> None:
    """The install's one wait budget may be spent before the gateway wait begins (slow
    Deployments): the timeout then names the Service's real state, never a guessed
    "does not exist"."""
    with I.connect(sandbox.kubeconfig, None) as kube:
        with pytest.raises(WaitTimeout) as info:
            I.wait_gateway(kube, "default", "kubernetes", time.monotonic() - 1)
        assert "it is of type ClusterIP, not LoadBalancer" in info.value.message
        with pytest.raises(WaitTimeout) as info:
            I.wait_gateway(kube, "default", "no-such-gateway", time.monotonic() - 1)
        assert "it does not exist" in info.value.message


def test_deployments_waited_for_after_the_budget_ran_out_are_still_judged(
    sandbox: Sandbox, api_client: Any, namespace: str
) -> None:
    """The Deployments' wait lists them first: when its budget is already spent, that list
    still judges them (an unavailable one is named) instead of counting as all ready."""
    from kubernetes import client

    labels = {"app": "late"}
    client.AppsV1Api(api_client).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "late"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "example.com/late"}]},
                },
            },
        },
    )
    make_unready(api_client, namespace, "late")
    with I.connect(sandbox.kubeconfig, None) as kube, pytest.raises(WaitTimeout) as info:
        I.wait_deployments(kube, [namespace], time.monotonic() - 1)
    assert f"{namespace}/late (0/1 ready" in info.value.message


def test_the_clients_limit_bounds_installs_waits_too(bare: Sandbox) -> None:
    """Kube.limit (a command's whole budget) ends install's waits as it ends deploy's:
    they are one wait. The gateway never gets an address here; the wait's own deadline
    is two minutes, the client's limit one second."""
    with I.connect(bare.kubeconfig, None) as kube:
        objs = {o.name: o for o in plan_for("kourier").objects}
        for name in ("kourier-system", "kourier"):
            resource = kube.resource(objs[name].api_version, objs[name].kind)
            assert resource is not None
            kube.apply_of(resource, objs[name].body, objs[name].namespace)
        kube.limit(1, "--wait-timeout")
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as info:
            I.wait_gateway(kube, "kourier-system", "kourier", time.monotonic() + 120)
        assert time.monotonic() - started < 30  # the limit, not the wait's two minutes
    assert "LoadBalancer has no address" in info.value.message


def make_unready(api_client: Any, namespace: str, name: str) -> None:
    """Report a Deployment's (simulated) Pods not ready, as a kubelet would; wait until the
    replicaset and deployment controllers report the Deployment not Available."""
    from kubernetes import client

    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    labels = apps.read_namespaced_deployment(name, namespace).spec.selector.match_labels
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    deadline = time.monotonic() + 20
    while not (pods := core.list_namespaced_pod(namespace, label_selector=selector).items):
        assert time.monotonic() < deadline, f"no Pods for {namespace}/{name}"
        time.sleep(0.05)
    unready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    for pod in pods:
        core.patch_namespaced_pod_status(pod.metadata.name, namespace, unready)

    def available() -> str:
        conditions = apps.read_namespaced_deployment(name, namespace).status.conditions or []
        return next((c.status for c in conditions if c.type == "Available"), "")

    while available() != "False":
        assert time.monotonic() < deadline, f"{namespace}/{name} stays Available"
        time.sleep(0.05)


def test_deployment_not_available_times_out_naming_it(bare: Sandbox, api: Any, lb: Any) -> None:
    def break_activator(event: I.Event) -> None:
        if isinstance(event, I.StepDone) and event.step.name == "serving-core":
            make_unready(api, M.SERVING_NAMESPACE, "activator")

    rows: list[tuple[I.DeploymentRow, ...]] = []

    def record(event: I.Event) -> None:
        break_activator(event)
        if isinstance(event, I.DeploymentsUpdate):
            rows.append(event.rows)

    with pytest.raises(WaitTimeout) as info:
        run_install(bare, plan_for("istio"), on_event=record, wait_timeout=1)
    message = info.value.message
    assert "knative-serving/activator (0/1 ready; MinimumReplicasUnavailable" in message
    assert "1 Deployment(s)" in message
    assert "kubectl -n knative-serving describe deployment activator" in info.value.hint
    late = [r for r in rows[-1] if not r.ok]
    assert [(r.name, r.ready_text) for r in late] == [("activator", "0/1")]


def test_kinds_the_cluster_does_not_serve_are_refused_before_any_change(
    bare: Sandbox, api: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "manifests"
    shutil.copytree(FIXTURES, folder)
    with (folder / M.SERVING_CORE).open("a") as f:
        f.write(
            "---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\n"
            "metadata:\n  name: knative-serving-disks\nprovisioner: example.com/none\n"
        )
    with pytest.raises(KnwalkError) as info:
        run_install(bare, plan_for("istio", folder=folder), wait_timeout=30)
    assert "does not serve StorageClass (storage.k8s.io/v1, in serving-core.yaml)" in (
        info.value.message
    )
    assert "nothing was changed" in info.value.message
    assert dyn_get(api, "v1", "Namespace", "istio-system", None) is None
    assert dyn_get(api, M.CRD_API_VERSION, M.CRD_KIND, "gateways.networking.istio.io", None) is None


def test_is_sandbox_by_version_and_by_context_name(seeded: Sandbox) -> None:
    with I.connect(seeded.kubeconfig, None) as kube:
        assert I.is_sandbox(kube)
        assert I.git_version(kube).endswith("-knwalk-sandbox")
    assert I.is_sandbox_context(seeded.kubeconfig, None) == (control.CONTEXT, True)


def test_installed_reads_version_and_ingress_from_the_cluster(
    bare: Sandbox, api: Any, lb: Any
) -> None:
    with I.connect(bare.kubeconfig, None) as cluster:
        assert I.installed(cluster) == I.Installed(None, None, None)
    run_install(bare, plan_for("kourier"), wait_timeout=30)
    with I.connect(bare.kubeconfig, None) as cluster:
        assert I.installed(cluster) == I.Installed(
            "1.22.1", "kourier", "kourier.ingress.networking.knative.dev"
        )


# --------------------------------------------------------------------------- uninstall


def test_uninstall_deletes_what_install_applied_in_reverse_order(
    bare: Sandbox, api: Any, lb: Any
) -> None:
    plan = plan_for("istio")
    run_install(bare, plan, wait_timeout=30)
    with I.connect(bare.kubeconfig, None) as cluster:
        uplan = I.plan_uninstall(cluster, plan)
        assert uplan.delete[0].ref == "Namespace knative-serving"
        assert (
            uplan.delete[-1].ref == "CustomResourceDefinition destinationrules.networking.istio.io"
        )
        names = [o.ref for o in uplan.delete]
        # reverse of the install order: Knative before Istio, CRDs after what uses them
        assert names.index("Namespace istio-system") > names.index("Namespace knative-serving")
        assert names.index("Namespace istio-system") < names.index(
            "CustomResourceDefinition gateways.networking.istio.io"
        )
        assert all(o.namespace is None for o in uplan.delete)  # the rest goes with its namespace
        assert len(uplan.with_namespace) == len(plan.objects) - len(uplan.delete) - 2
        events: list[I.Event] = []
        result = I.uninstall(cluster, uplan, wait_timeout=30, on_event=events.append)
    assert [o.ref for o in result.deleted] == names
    assert [e.obj.ref for e in events if isinstance(e, I.ObjectDeleted)] == names
    assert snapshot(api, plan) == {}
    assert dyn_get(api, "v1", "Namespace", "default", None) is not None


def test_uninstall_keeps_namespaces_that_hold_user_services(
    bare: Sandbox, api: Any, lb: Any
) -> None:
    from kubernetes import client

    from tests.kube_helpers import ksvc

    plan = plan_for("istio")
    run_install(bare, plan, wait_timeout=30)
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "serving.knative.dev", "v1", "istio-system", "services", ksvc("mine")
    )
    with I.connect(bare.kubeconfig, None) as cluster:
        uplan = I.plan_uninstall(cluster, plan)
        assert uplan.kept_namespaces == ["istio-system"]
        refs = [o.ref for o in uplan.delete]
        assert "Namespace istio-system" not in refs
        assert "Deployment istio-system/istiod" in refs  # deleted one by one instead
        I.uninstall(cluster, uplan, wait_timeout=30)
    assert dyn_get(api, "v1", "Namespace", "istio-system", None) is not None
    assert dyn_get(api, "serving.knative.dev/v1", "Service", "mine", "istio-system") is not None
    assert dyn_get(api, "apps/v1", "Deployment", "istiod", "istio-system") is None
    assert dyn_get(api, "v1", "Namespace", M.SERVING_NAMESPACE, None) is None


def test_uninstall_keeps_what_knwalk_did_not_apply(seeded: Sandbox) -> None:
    """The sandbox's own knative-serving objects carry only its field manager: nothing to delete."""
    with I.connect(seeded.kubeconfig, None) as cluster:
        uplan = I.plan_uninstall(cluster, plan_for("istio"))
    assert uplan.empty
    kept = {o.ref for o in uplan.kept}
    assert {"Namespace knative-serving", "Namespace istio-system"} <= kept
    assert "ConfigMap knative-serving/config-domain" in kept


def test_uninstall_names_user_services_deleted_with_the_serving_crd(
    seeded: Sandbox, tmp_path: Path
) -> None:
    """When knwalk applied services.serving.knative.dev, the plan lists the Services it takes."""
    from kubernetes import client
    from kubernetes.dynamic import DynamicClient

    from tests.kube_helpers import ksvc

    api_client = client_for(seeded)
    try:
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            "serving.knative.dev", "v1", "default", "services", ksvc("hello")
        )
        crds = DynamicClient(api_client).resources.get(
            api_version=M.CRD_API_VERSION, kind=M.CRD_KIND
        )
        crd = crds.get(name="services.serving.knative.dev").to_dict()
        body = {
            "apiVersion": M.CRD_API_VERSION,
            "kind": M.CRD_KIND,
            "metadata": {"name": crd["metadata"]["name"]},
            "spec": crd["spec"],
        }
        # the same values as the sandbox's: knwalk becomes a co-owner, without conflicts
        crds.server_side_apply(body=body, field_manager=M.FIELD_MANAGER)
        folder = tmp_path / "manifests"
        shutil.copytree(FIXTURES, folder)
        import yaml

        with (folder / M.SERVING_CRDS).open("a") as f:
            f.write("---\n" + yaml.safe_dump(body))
        with I.connect(seeded.kubeconfig, None) as cluster:
            uplan = I.plan_uninstall(cluster, plan_for("istio", folder=folder))
    finally:
        api_client.close()
    assert [o.ref for o in uplan.delete] == [
        "CustomResourceDefinition services.serving.knative.dev"
    ]
    assert uplan.user_services == [("default", "hello")]


# --------------------------------------------------------------------------- sandbox behaviours


def _apply(api_client: Any, body: dict[str, Any]) -> dict[str, Any]:
    from kubernetes.dynamic import DynamicClient

    dyn = DynamicClient(api_client)
    resource = dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    return dict(
        resource.server_side_apply(
            body=body,
            namespace=body["metadata"].get("namespace"),
            field_manager=M.FIELD_MANAGER,
        ).to_dict()
    )


REAL_RELEASE_KINDS: list[dict[str, Any]] = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "knative-serving-admin"},
        "rules": [{"apiGroups": ["serving.knative.dev"], "resources": ["*"], "verbs": ["*"]}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "knative-serving-controller-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "controller", "namespace": "default"}],
        "roleRef": {
            "kind": "ClusterRole",
            "name": "knative-serving-admin",
            "apiGroup": "rbac.authorization.k8s.io",
        },
    },
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "webhook.serving.knative.dev"},
        "webhooks": [
            {
                "name": "webhook.serving.knative.dev",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "clientConfig": {"service": {"name": "webhook", "namespace": "default"}},
            }
        ],
    },
    {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "activator", "namespace": "default"},
        "spec": {
            "minReplicas": 1,
            "maxReplicas": 20,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "activator"},
        },
    },
    {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "activator-pdb", "namespace": "default"},
        "spec": {"minAvailable": "80%", "selector": {"matchLabels": {"app": "activator"}}},
    },
]


@pytest.mark.parametrize("body", REAL_RELEASE_KINDS, ids=lambda b: b["kind"])
def test_sandbox_serves_every_kind_of_the_real_release(
    seeded: Sandbox, body: dict[str, Any]
) -> None:
    api_client = client_for(seeded)
    try:
        applied = _apply(api_client, body)
    finally:
        api_client.close()
    assert applied["metadata"]["name"] == body["metadata"]["name"]


@pytest.mark.parametrize("kind", ["Deployment", "CustomResourceDefinition"])
def test_sandbox_noop_apply_keeps_the_resource_version(seeded: Sandbox, kind: str) -> None:
    objs = M.parse_documents("x", (FIXTURES / M.SERVING_CORE).read_text())
    body = next(o.body for o in objs if o.kind == kind)
    if kind == "Deployment":
        body = {**body, "metadata": {**body["metadata"], "namespace": "default"}}
    api_client = client_for(seeded)
    try:
        if kind == "CustomResourceDefinition":  # the sandbox installed another release's
            from kubernetes import client

            client.ApiextensionsV1Api(api_client).delete_custom_resource_definition(
                body["metadata"]["name"]
            )
        _apply(api_client, body)
        if kind == "Deployment":  # its controller writes its revision and status first
            from kubernetes import client

            apps = client.AppsV1Api(api_client)
            deadline = time.monotonic() + 20
            while not (
                (
                    d := apps.read_namespaced_deployment(body["metadata"]["name"], "default")
                ).status.observed_generation
                and any(c.reason == "NewReplicaSetAvailable" for c in d.status.conditions or [])
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        first = _apply(api_client, body)["metadata"]["resourceVersion"]
        second_started = time.time()
        # apply the same body again until the wall clock is in the next second
        # (no sleep: every iteration is a real request that must stay a no-op)
        while int(time.time()) == int(second_started):
            assert _apply(api_client, body)["metadata"]["resourceVersion"] == first
        again = _apply(api_client, body)["metadata"]["resourceVersion"]
    finally:
        api_client.close()
    assert again == first


def test_sandbox_gives_loadbalancer_services_an_address(seeded: Sandbox) -> None:
    with I.connect(seeded.kubeconfig, None) as cluster:
        plan = plan_for("kourier")
        objs = {o.name: o for o in plan.objects}
        for name in ("kourier-system", "kourier"):
            obj = objs[name]
            resource = cluster.resource(obj.api_version, obj.kind)
            assert resource is not None
            cluster.apply_of(resource, obj.body, obj.namespace, manager=M.FIELD_MANAGER)
        address = I.wait_gateway(cluster, "kourier-system", "kourier", time.monotonic() + 1)
    assert address


def test_sandbox_serves_the_pods_of_a_deployment(bare: Sandbox, api: Any, lb: Any) -> None:
    run_install(bare, plan_for("kourier"), wait_timeout=30)
    with I.connect(bare.kubeconfig, None) as cluster:
        pods = cluster.resource("v1", "Pod")
        assert pods is not None
        items, _ = cluster.list_of(
            pods, "kourier-system", label_selector="app=3scale-kourier-gateway"
        )
    assert items
