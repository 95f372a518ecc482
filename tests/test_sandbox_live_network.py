"""config-network (domain-template, tag-template) and config-domain are live configuration.

A private sandbox (the tests change cluster-wide config): an edit made with kubectl
re-reconciles every Route, whose status URLs, Ingress hosts and placeholder Services
follow, and the gateways serve the new hosts and no longer the old ones. An edit
Knative's config webhook would refuse is denied with its message, and nothing changes.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kn_walk.sandbox import control
from tests.conftest import Sandbox, start_sandbox
from tests.kube_helpers import GROUP, ksvc, ready

HELLO = b"Hello Go Sample v1!\n"
DEADLINE = 20.0
DEFAULT_NETWORK = {"ingress-class": "istio.ingress.networking.knative.dev"}


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("live-network"))
    yield sandbox
    control.stop(sandbox.state_dir)


def kubectl(sb: Sandbox, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args], env=sb.env(), capture_output=True, text=True, check=check, timeout=60
    )


def apply(sb: Sandbox, ns: str, body: dict[str, Any]) -> None:
    subprocess.run(
        ["kubectl", "apply", "-n", ns, "-f", "-"],
        input=json.dumps(body),
        env=sb.env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def get(sb: Sandbox, *args: str) -> Any:
    return json.loads(kubectl(sb, "get", *args, "-o", "json").stdout)


def set_data(sb: Sandbox, configmap: str, data: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Replace the ConfigMap's data (a JSON patch, as ``kubectl edit`` would leave it)."""
    patch = json.dumps([{"op": "replace", "path": "/data", "value": data}])
    return kubectl(
        sb, "patch", "configmap", configmap, "-n", "knative-serving", "--type", "json", "-p",
        patch, check=False,
    )  # fmt: skip


@pytest.fixture
def ns(sb: Sandbox) -> Iterator[str]:
    name = "t-" + uuid.uuid4().hex[:8]
    kubectl(sb, "create", "namespace", name)
    yield name
    for cm, data in (("config-network", DEFAULT_NETWORK), ("config-domain", {"example.com": ""})):
        assert set_data(sb, cm, data).returncode == 0


def until(what: str, fetch: Callable[[], Any], holds: Callable[[Any], bool] = bool) -> Any:
    """Poll ``fetch`` until ``holds`` its value (by default: it is true), and return it;
    fail with ``what`` and the last value at the deadline."""
    deadline = time.monotonic() + DEADLINE
    last: Any = None
    while time.monotonic() < deadline:
        last = fetch()
        if holds(last):
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: still {last!r} after {DEADLINE}s")


def route(sb: Sandbox, ns: str, name: str) -> dict[str, Any]:
    return dict(get(sb, f"routes.{GROUP}", name, "-n", ns))


def deploy(sb: Sandbox, ns: str, name: str, **meta: Any) -> dict[str, Any]:
    body = ksvc(name, traffic=[{"tag": "current", "latestRevision": True, "percent": 100}])
    body["metadata"].update(meta)
    apply(sb, ns, body)
    return dict(until(f"route {name} ready", lambda: route(sb, ns, name), ready))


def status_code(port: int, host: str) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=20).status_code


def local_port(sb: Sandbox) -> int:
    svc = get(sb, "svc", "-n", "istio-system", "knative-local-gateway")
    return int(next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "http2"))


def serves(sb: Sandbox, host: str, *, local: bool = False) -> None:
    port = local_port(sb) if local else sb.info.gateway_port
    until(f"{host} served", lambda: status_code(port, host) == 200)
    assert httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}).content == HELLO


def gone(sb: Sandbox, host: str, *, local: bool = False) -> None:
    port = local_port(sb) if local else sb.info.gateway_port
    until(f"{host} no longer served", lambda: status_code(port, host) == 404)


def ingress_hosts(sb: Sandbox, ns: str, name: str) -> set[str]:
    ingress = get(sb, "ingresses.networking.internal.knative.dev", name, "-n", ns)
    return {h for rule in ingress["spec"]["rules"] for h in rule["hosts"]}


def ingress_visibilities(sb: Sandbox, ns: str, name: str) -> set[str]:
    ingress = get(sb, "ingresses.networking.internal.knative.dev", name, "-n", ns)
    return {rule["visibility"] for rule in ingress["spec"]["rules"]}


def urls(r: dict[str, Any]) -> tuple[str, list[str]]:
    st = r.get("status") or {}
    return st.get("url", ""), [t.get("url", "") for t in st.get("traffic") or []]


def test_editing_domain_template_moves_every_host(sb: Sandbox, ns: str) -> None:
    deploy(sb, ns, "web")
    serves(sb, f"web.{ns}.example.com")
    serves(sb, f"current-web.{ns}.example.com")
    assert set_data(sb, "config-network", DEFAULT_NETWORK | {
        "domain-template": "{{.Name}}-{{.Namespace}}.{{.Domain}}"
    }).returncode == 0  # fmt: skip
    want = (f"http://web-{ns}.example.com", [f"http://current-web-{ns}.example.com"])
    until("route URLs from the new template", lambda: urls(route(sb, ns, "web")) == want)
    hosts = until(
        "Ingress hosts from the new template",
        lambda: ingress_hosts(sb, ns, "web"),
        lambda hosts: f"web-{ns}.example.com" in hosts,
    )
    assert f"current-web-{ns}.example.com" in hosts
    assert f"web.{ns}.example.com" not in hosts
    # cluster-local hosts keep the default template, as Knative's do
    assert {f"web.{ns}.svc.cluster.local", f"current-web.{ns}.svc.cluster.local"} <= hosts
    serves(sb, f"web-{ns}.example.com")
    serves(sb, f"current-web-{ns}.example.com")
    gone(sb, f"web.{ns}.example.com")
    gone(sb, f"current-web.{ns}.example.com")
    serves(sb, f"current-web.{ns}.svc.cluster.local", local=True)


def test_editing_tag_template_renames_tag_hosts_and_placeholders(sb: Sandbox, ns: str) -> None:
    deploy(sb, ns, "web")
    serves(sb, f"current-web.{ns}.example.com")
    assert set_data(sb, "config-network", DEFAULT_NETWORK | {
        "tag-template": "{{.Name}}-{{.Tag}}"
    }).returncode == 0  # fmt: skip
    want = (f"http://web.{ns}.example.com", [f"http://web-current.{ns}.example.com"])
    until("tag URL from the new template", lambda: urls(route(sb, ns, "web")) == want)
    serves(sb, f"web-current.{ns}.example.com")
    serves(sb, f"web-current.{ns}.svc.cluster.local", local=True)
    gone(sb, f"current-web.{ns}.example.com")
    gone(sb, f"current-web.{ns}.svc.cluster.local", local=True)
    serves(sb, f"web.{ns}.example.com")

    def placeholders() -> list[str]:
        items = get(sb, "svc", "-n", ns, "-l", "serving.knative.dev/route=web")["items"]
        return sorted(s["metadata"]["name"] for s in items)

    until(
        "placeholder Services renamed", placeholders, lambda names: names == ["web", "web-current"]
    )
    tag_to_host = json.loads(
        get(sb, "ingresses.networking.internal.knative.dev", "web", "-n", ns)["metadata"][
            "annotations"
        ]["networking.internal.knative.dev/tag-to-host"]
    )
    assert tag_to_host == {
        "current": [f"web-current.{ns}.svc.cluster.local", f"web-current.{ns}.example.com"]
    }


def test_a_domain_template_with_an_annotation_and_a_route_without_it(sb: Sandbox, ns: str) -> None:
    """The documented ``index .Annotations "sub"``: a Route with the annotation is served
    under it; one without gets "" there, no domain name: Knative's ErrorConfig."""
    deploy(sb, ns, "team", annotations={"sub": "blue"})
    deploy(sb, ns, "plain")
    template = '{{.Name}}.{{ index .Annotations "sub"}}.{{.Domain}}'
    assert (
        set_data(sb, "config-network", DEFAULT_NETWORK | {"domain-template": template}).returncode
        == 0
    )
    until(
        "annotated route moved",
        lambda: urls(route(sb, ns, "team"))[0] == "http://team.blue.example.com",
    )
    serves(sb, "team.blue.example.com")

    def failed() -> dict[str, Any] | None:
        conds = {c["type"]: c for c in route(sb, ns, "plain")["status"]["conditions"]}
        return conds["AllTrafficAssigned"] if conds["Ready"]["status"] == "False" else None

    cond = until("route without the annotation fails", failed)
    assert cond["reason"] == "ErrorConfig"
    assert cond["message"] == (
        'domain name error: invalid domain name "plain..example.com": url: Invalid value: '
        '"plain..example.com": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    # it keeps the URL it had, as Knative's status does
    assert urls(route(sb, ns, "plain"))[0] == f"http://plain.{ns}.example.com"
    assert set_data(sb, "config-network", DEFAULT_NETWORK).returncode == 0
    until("route recovers", lambda: ready(route(sb, ns, "plain")))


def test_editing_config_domain_selectors_moves_matching_routes(sb: Sandbox, ns: str) -> None:
    deploy(sb, ns, "shop", labels={"app": "prod"})
    deploy(sb, ns, "blog")
    serves(sb, f"shop.{ns}.example.com")
    assert set_data(sb, "config-domain", {
        "example.com": "", "prod.test": "selector:\n  app: prod\n"
    }).returncode == 0  # fmt: skip
    until(
        "selected route on its domain",
        lambda: urls(route(sb, ns, "shop"))[0] == f"http://shop.{ns}.prod.test",
    )
    serves(sb, f"shop.{ns}.prod.test")
    serves(sb, f"current-shop.{ns}.prod.test")
    gone(sb, f"shop.{ns}.example.com")
    assert urls(route(sb, ns, "blog"))[0] == f"http://blog.{ns}.example.com"
    serves(sb, f"blog.{ns}.example.com")
    # a selector for the cluster's domain makes the Route cluster-local
    assert set_data(sb, "config-domain", {
        "example.com": "", "svc.cluster.local": "selector:\n  app: prod\n"
    }).returncode == 0  # fmt: skip
    until(
        "selected route cluster-local",
        lambda: urls(route(sb, ns, "shop"))[0] == f"http://shop.{ns}.svc.cluster.local",
    )
    until(
        "only cluster-local rules", lambda: ingress_visibilities(sb, ns, "shop") == {"ClusterLocal"}
    )
    gone(sb, f"shop.{ns}.prod.test")
    serves(sb, f"shop.{ns}.svc.cluster.local", local=True)


@pytest.mark.parametrize(
    ("configmap", "data", "message"),
    [
        (
            "config-network",
            DEFAULT_NETWORK | {"domain-template": "{{.Namespace}.{{.Name}}.{{.Domain}}"},
            'template: domain-template:1: unexpected "}" in operand',
        ),
        (
            "config-network",
            DEFAULT_NETWORK | {"domain-template": "{{.Domain}}/{{.Namespace}}/{{.Name}}"},
            "domain template has url path: /bar/foo",
        ),
        (
            "config-network",
            DEFAULT_NETWORK | {"tag-template": "{{.Tag}}-{{.NAme}}"},
            'template: tag-template:1:11: executing "tag-template" at <.NAme>: '
            "can't evaluate field NAme in type config.TagTemplateValues",
        ),
        (
            "config-domain",
            {"example.com": "selector: [app]"},
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into "
            "Go struct field domainInternalConfig.selector of type map[string]string",
        ),
    ],
)
def test_an_invalid_edit_is_denied_and_nothing_changes(
    sb: Sandbox, ns: str, configmap: str, data: dict[str, str], message: str
) -> None:
    deploy(sb, ns, "web")
    before = get(sb, "configmap", configmap, "-n", "knative-serving")
    result = set_data(sb, configmap, data)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): admission webhook "config.webhook.serving.knative.dev" '
        f"denied the request: validation failed: {message}"
    )
    after = get(sb, "configmap", configmap, "-n", "knative-serving")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["data"] == before["data"]
    assert urls(route(sb, ns, "web"))[0] == f"http://web.{ns}.example.com"
    serves(sb, f"web.{ns}.example.com")


def test_other_namespaces_configmaps_are_not_knatives(sb: Sandbox, ns: str) -> None:
    """The config webhook looks at knative-serving's ConfigMaps only."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config-network"}}
    body["data"] = {"domain-template": "{{.Nope}"}
    apply(sb, ns, body)


def test_the_canary_chapter_follows_a_custom_tag_template(sb: Sandbox, ns: str) -> None:
    """The CLI takes tag hosts from the Route's status, not from the default template:
    the gated rollout judges the candidate at its real host, and the curl loop it prints
    for the walkthrough's reader sends that host."""
    from tests.test_cli_support import knwalk

    template = {"tag-template": "{{.Name}}-{{.Tag}}"}
    assert set_data(sb, "config-network", DEFAULT_NETWORK | template).returncode == 0
    where = ("--context", control.CONTEXT, "--kubeconfig", str(sb.kubeconfig), "-n", ns)
    result = knwalk("tour", *where, "--chapter", "canary", "--yes", "-o", "json")
    assert result.code == 0, result.err
    steps: dict[int, dict[str, Any]] = {}
    for line in result.out.splitlines():
        if line.strip():
            step = json.loads(line)
            steps[step["step"]] = step
    assert steps[3]["result"]["rollout"]["phase"] == "promoted"
    kubectl_lines = "\n".join(steps[2]["kubectl"])
    assert f"Host: helloworld-go-candidate.{ns}.example.com" in kubectl_lines
    assert "candidate-helloworld-go" not in kubectl_lines


def test_a_route_of_an_ingress_class_nobody_serves_waits_for_its_ingress(
    sb: Sandbox, ns: str
) -> None:
    """config-network names Kourier, which the sandbox (Istio) does not run: the Route's
    Ingress is made with that class and nobody reconciles it, so the Route says
    IngressNotConfigured and nothing is served, as on a cluster without that controller.
    Back on Istio, net-istio takes the Ingress and the Route turns Ready."""
    assert (
        set_data(
            sb, "config-network", {"ingress-class": "kourier.ingress.networking.knative.dev"}
        ).returncode
        == 0
    )
    apply(sb, ns, ksvc("elsewhere"))

    def ingress_condition() -> dict[str, Any]:
        conds = (route(sb, ns, "elsewhere").get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "IngressReady"), {})

    cond = until("IngressNotConfigured", ingress_condition, lambda c: bool(c))
    assert (cond["status"], cond["reason"]) == ("Unknown", "IngressNotConfigured")
    assert cond["message"] == "Ingress has not yet been reconciled."
    assert status_code(sb.info.gateway_port, f"elsewhere.{ns}.example.com") == 404

    assert set_data(sb, "config-network", DEFAULT_NETWORK).returncode == 0
    until("the Route ready on Istio", lambda: route(sb, ns, "elsewhere"), ready)
    serves(sb, f"elsewhere.{ns}.example.com")
