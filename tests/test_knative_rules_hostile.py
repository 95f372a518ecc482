"""What Knative refuses, the sandbox and knwalk refuse too, with Knative's words.

* Reserved env vars (``PORT``, ``K_SERVICE``, ``K_CONFIGURATION``,
  ``K_REVISION``): one rule (:mod:`kn_walk.knative_rules.templates`), checked against the
  upstream table (knative/serving ``pkg/apis/serving/k8s_validation_test.go``),
  applied by the sandbox's webhook and by ``knwalk deploy`` before it sends
  anything.
* A ``--revision-name`` that names an existing Revision with another template:
  the Configuration goes ``Ready=False`` (``RevisionFailed``, Knative's
  ``CheckNameAvailability``), and knwalk says so before it writes.
* A tag whose hostname another Route already claims (tag ``hijack`` on ``me`` is
  ``hijack-me``, Service ``hijack-me``'s own name): the later claimant's Route is
  ``Ready=False NotOwned``, the earlier one keeps the host and its traffic.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kn_walk.knative_rules import templates
from tests.kube_helpers import GROUP, IMAGE, VERSION, ksvc, ready, wait_for
from tests.test_cli_support import Cluster

WEBHOOK_PREFIX = (
    'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
    "validation failed: "
)


def _api(api_client: Any) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


# --------------------------------------------------------------------------- reserved env: the rule

# (upstream test name, containers, want) from TestPodSpecValidation / TestContainerValidation
UPSTREAM_ENV_CASES: list[tuple[str, list[dict[str, Any]], list[tuple[str, str]]]] = [
    (
        "reserved env var name for serving container",
        [
            {
                "image": "foo",
                "env": [{"name": "PORT", "value": "Foo"}],
                "ports": [{"containerPort": 8888}],
            }
        ],
        [('"PORT" is a reserved environment variable', "containers[0].env[0].name")],
    ),
    (
        "empty env var name",
        [{"image": "foo", "env": [{"value": "Foo"}]}],
        [("missing field(s)", "containers[0].env[0].name")],
    ),
    (
        "flag enabled: multiple containers with illegal env variable defined for side car",
        [
            {"name": "container-a", "image": "busybox", "ports": [{"containerPort": 8888}]},
            {
                "name": "container-b",
                "image": "helloworld",
                "env": [{"name": "PORT", "value": "Foo"}, {"name": "K_SERVICE", "value": "Foo"}],
            },
        ],
        [('"K_SERVICE" is a reserved environment variable', "containers[1].env[1].name")],
    ),
    (
        "flag enabled: multiple containers with PORT defined for side car",
        [
            {"name": "container-a", "image": "busybox", "ports": [{"containerPort": 8888}]},
            {
                "name": "container-b",
                "image": "helloworld",
                "env": [{"name": "PORT", "value": "Foo"}],
            },
        ],
        [],
    ),
    ("valid", [{"image": "helloworld"}], []),
    (
        "a valueFrom entry: its name is checked (its source is another rule)",
        [{"image": "busybox", "env": [{"name": "NODE_IP", "valueFrom": {"fieldRef": {}}}]}],
        [],
    ),
]


@pytest.mark.parametrize(
    ("containers", "want"), [pytest.param(c, w, id=n) for n, c, w in UPSTREAM_ENV_CASES]
)
def test_env_rule_matches_the_upstream_table(
    containers: list[dict[str, Any]], want: list[tuple[str, str]]
) -> None:
    assert templates.env_errors(containers) == want


@pytest.mark.parametrize("name", templates.RESERVED_ENV_VARS)
def test_every_reserved_name_is_refused_in_the_serving_container(name: str) -> None:
    containers = [{"image": "x", "env": [{"name": "A", "value": "1"}, {"name": name}]}]
    assert templates.env_errors(containers) == [
        (f'"{name}" is a reserved environment variable', "containers[0].env[1].name")
    ]


@pytest.mark.parametrize("name", ["port", "PORT_NUMBER", "K_SERVICES", "TARGET", "KPORT"])
def test_names_near_the_reserved_ones_are_allowed(name: str) -> None:
    assert templates.env_errors([{"image": "x", "env": [{"name": name}]}]) == []


@pytest.mark.parametrize(
    "hostile", [None, "x", 3, [None, 1, "s"], [{"env": "PORT"}], [{"env": [7]}]]
)
def test_the_rule_never_fails_on_malformed_input(hostile: Any) -> None:
    assert templates.env_errors(hostile) == []


# --------------------------------------------------------------------------- reserved env: the webhook


def _denied(api_client: Any, ns: str, plural: str, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as exc:
        _api(api_client).create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)
    assert exc.value.status == 400, exc.value.body
    status = json.loads(exc.value.body)
    assert status["reason"] == "BadRequest"
    assert status["message"].startswith(WEBHOOK_PREFIX), status["message"]
    return str(status["message"][len(WEBHOOK_PREFIX) :])


@pytest.mark.parametrize("name", templates.RESERVED_ENV_VARS)
def test_the_webhook_refuses_a_reserved_env_var(api_client: Any, namespace: str, name: str) -> None:
    body = ksvc("reserved")
    body["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": name, "value": "1"})
    got = _denied(api_client, namespace, "services", body)
    assert got == (
        f'"{name}" is a reserved environment variable: spec.template.spec.containers[0].env[1].name'
    )
    assert (
        _api(api_client).list_namespaced_custom_object(GROUP, VERSION, namespace, "services")[
            "items"
        ]
        == []
    )


def test_the_webhook_refuses_it_on_configurations_and_revisions(
    api_client: Any, namespace: str
) -> None:
    spec = {"containers": [{"image": IMAGE, "env": [{"name": "K_REVISION", "value": "x"}]}]}
    cfg = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Configuration",
        "metadata": {"name": "c"},
        "spec": {"template": {"spec": spec}},
    }
    assert _denied(api_client, namespace, "configurations", cfg) == (
        '"K_REVISION" is a reserved environment variable: '
        "spec.template.spec.containers[0].env[0].name"
    )
    rev = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Revision", "metadata": {"name": "r"}}
    rev["spec"] = spec
    assert _denied(api_client, namespace, "revisions", rev) == (
        '"K_REVISION" is a reserved environment variable: spec.containers[0].env[0].name'
    )


def test_the_webhook_refuses_it_on_update_too(api_client: Any, namespace: str) -> None:
    _api(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("upd")
    )
    env = [{"name": "TARGET", "value": "x"}, {"name": "K_SERVICE", "value": "other"}]
    patch = {"spec": {"template": {"spec": {"containers": [{"image": IMAGE, "env": env}]}}}}
    with pytest.raises(ApiException) as exc:
        _api(api_client).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "services", "upd", patch
        )
    assert exc.value.status == 400
    assert '"K_SERVICE" is a reserved environment variable' in json.loads(exc.value.body)["message"]


# --------------------------------------------------------------------------- reserved env: knwalk


@pytest.mark.parametrize("name", templates.RESERVED_ENV_VARS)
def test_knwalk_deploy_refuses_a_reserved_env_var_before_sending(
    cluster: Cluster, name: str
) -> None:
    result = cluster.run("deploy", "-e", f"{name}=1")
    result.assert_error(2)
    assert result.error.startswith(
        f'Error: -e/--env {name}: "{name}" is a reserved environment variable'
    ), result.error
    assert "PORT, K_SERVICE, K_CONFIGURATION and K_REVISION" in result.error
    assert cluster.names("services") == []


def test_knwalk_deploy_may_remove_a_reserved_name(cluster: Cluster) -> None:
    """``-e PORT-`` removes nothing that can exist: allowed, as kn allows it."""
    cluster.deploy()
    result = cluster.run("deploy", "-e", "PORT-", "--target", "v2")
    assert result.code == 0, result.err


# --------------------------------------------------------------------------- revision names


def _template(name: str, target: str) -> dict[str, Any]:
    env = [{"name": "TARGET", "value": target}]
    return {"metadata": {"name": name}, "spec": {"containers": [{"image": IMAGE, "env": env}]}}


def _rename(api_client: Any, ns: str, svc: str, name: str, target: str) -> None:
    patch = {"spec": {"template": _template(name, target)}}
    _api(api_client).patch_namespaced_custom_object(GROUP, VERSION, ns, "services", svc, patch)


def _ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == "Ready"), {})


def _failed_at(generation: int) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        st = obj.get("status") or {}
        return (
            st.get("observedGeneration") == generation
            and _ready_condition(obj).get("status") == "False"
        )

    return check


def _name_taken(name: str) -> str:
    return (
        "Revision creation failed with message: "
        f'revisions.serving.knative.dev "{name}" already exists.'
    )


def test_a_template_naming_an_existing_revision_of_another_spec_fails(
    api_client: Any, namespace: str
) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Service", "metadata": {"name": "byo"}}
    body["spec"] = {"template": _template("byo-v1", "one")}
    _api(api_client).create_namespaced_custom_object(GROUP, VERSION, namespace, "services", body)
    wait_for(api_client, "services", namespace, "byo", ready)
    _rename(api_client, namespace, "byo", "byo-v2", "two")
    wait_for(
        api_client,
        "services",
        namespace,
        "byo",
        lambda o: ready(o) and o["status"]["latestReadyRevisionName"] == "byo-v2",
    )

    # back to the name byo-v1 with byo-v1's own template: Knative uses it again ("git revert")
    _rename(api_client, namespace, "byo", "byo-v1", "one")
    svc = wait_for(
        api_client,
        "services",
        namespace,
        "byo",
        lambda o: ready(o) and o["status"]["latestReadyRevisionName"] == "byo-v1",
    )
    assert svc["status"]["latestCreatedRevisionName"] == "byo-v1"
    assert svc["status"]["traffic"][0]["revisionName"] == "byo-v1"

    # the name byo-v2 with another template than byo-v2's: Knative's CheckNameAvailability
    _rename(api_client, namespace, "byo", "byo-v2", "three")
    cfg = wait_for(api_client, "configurations", namespace, "byo", _failed_at(4))
    cond = _ready_condition(cfg)
    assert (cond["reason"], cond["message"]) == ("RevisionFailed", _name_taken("byo-v2"))
    assert cfg["status"]["latestCreatedRevisionName"] == "byo-v1"
    svc = wait_for(api_client, "services", namespace, "byo", _failed_at(4))
    assert _ready_condition(svc)["message"] == _name_taken("byo-v2")
    assert svc["status"]["traffic"][0]["revisionName"] == "byo-v1"  # still serving byo-v1
    v2 = _api(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "revisions", "byo-v2"
    )
    assert v2["spec"]["containers"][0]["env"] == [{"name": "TARGET", "value": "two"}]


def test_a_service_cannot_adopt_another_services_revision(api_client: Any, namespace: str) -> None:
    """Service ``a`` naming Revision ``a-b-00001`` (Service ``a-b``'s) is refused by name."""
    api = _api(api_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", ksvc("a-b"))
    wait_for(api_client, "services", namespace, "a-b", ready)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Service", "metadata": {"name": "a"}}
    body["spec"] = {"template": _template("a-b-00001", "Go Sample v1")}
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "services", body)
    svc = wait_for(api_client, "services", namespace, "a", _failed_at(1))
    assert _ready_condition(svc)["message"] == _name_taken("a-b-00001")
    rev = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "revisions", "a-b-00001")
    assert rev["metadata"]["labels"]["serving.knative.dev/service"] == "a-b"


def test_knwalk_deploy_refuses_a_taken_revision_name_before_writing(cluster: Cluster) -> None:
    cluster.deploy("--revision-name", "v1")
    cluster.deploy("--target", "Go Sample v2")
    rv = cluster.rv()
    for args in (["--target", "v3"], ["--target", "v3", "--dry-run"]):
        result = cluster.run("deploy", "--revision-name", "v1", *args)
        result.assert_error(2)
        assert result.error.startswith(
            "Error: --revision-name helloworld-go-v1: revision 'helloworld-go-v1' already exists "
            "with another template"
        ), result.error
        assert 'revisions.serving.knative.dev "helloworld-go-v1" already exists' in result.error
        assert cluster.rv() == rv
    # v1's own template again: allowed, and Knative serves v1 again
    result = cluster.deploy("--revision-name", "v1", "--target", "Go Sample v1")
    assert "latest revision 'helloworld-go-v1'" in result.out
    assert cluster.names("revisions") == ["helloworld-go-00002", "helloworld-go-v1"]


def test_knwalk_deploy_refuses_a_new_service_named_after_anothers_revision(
    cluster: Cluster,
) -> None:
    cluster.deploy("a-b")
    result = cluster.run("deploy", "a", "--revision-name", "a-b-00001")
    result.assert_error(2)
    assert "--revision-name a-b-00001" in result.error
    assert cluster.get("services", "a") is None


# --------------------------------------------------------------------------- hostnames


def _gateway(api_client: Any) -> str:
    svc = client.CoreV1Api(api_client).read_namespaced_service(
        "istio-ingressgateway", "istio-system"
    )
    ip = svc.status.load_balancer.ingress[0].ip
    port = next(p.port for p in svc.spec.ports if p.name == "http2")
    return f"http://{ip}:{port}"


def _get(gateway: str, host: str) -> tuple[int, str]:
    reply = httpx.get(gateway, headers={"Host": host}, timeout=30)
    return reply.status_code, reply.text


def _served(gateway: str, host: str, want: str, timeout: float = 15.0) -> None:
    """Wait until the gateway answers ``want`` for ``host`` (the data plane follows status)."""
    import time

    deadline = time.monotonic() + timeout
    got: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        got = _get(gateway, host)
        if got == (200, want):
            return
        time.sleep(0.05)
    raise AssertionError(f"{host}: {got}, want {want!r}")


def _not_owned_message(name: str) -> str:
    return f'There is an existing placeholder Service "{name}" that we do not own.'


def _not_owned(name: str) -> Any:
    """A Route (or its Service) at its generation, Ready=False for the placeholder ``name``."""

    def check(obj: dict[str, Any]) -> bool:
        st = obj.get("status") or {}
        cond = _ready_condition(obj)
        return (
            st.get("observedGeneration") == obj["metadata"]["generation"]
            and cond.get("status") == "False"
            and cond.get("reason") == "NotOwned"
            and cond.get("message") == _not_owned_message(name)
        )

    return check


def test_a_tag_cannot_take_another_services_hostname(api_client: Any, namespace: str) -> None:
    api, gw = _api(api_client), _gateway(api_client)
    victim, attacker = f"hijack-me.{namespace}.example.com", f"me.{namespace}.example.com"
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("hijack-me", "victim")
    )
    wait_for(api_client, "services", namespace, "hijack-me", ready)
    _served(gw, victim, "Hello victim!\n")

    # tag "hijack" on Service "me" is the hostname hijack-me: the later claim is refused
    traffic = [{"tag": "hijack", "latestRevision": True, "percent": 100}]
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("me", "attacker", traffic=traffic)
    )
    route = wait_for(api_client, "routes", namespace, "me", _not_owned("hijack-me"))
    # as in Knative, a Route refused a placeholder stops before its Ingress: none of its
    # hosts is served, and the victim's host still goes to the victim
    assert _get(gw, victim) == (200, "Hello victim!\n")
    assert _get(gw, attacker)[0] == 404
    assert (
        client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "networking.internal.knative.dev",
            "v1alpha1",
            namespace,
            "ingresses",
            field_selector="metadata.name=me",
        )["items"]
        == []
    )
    ingress = next(c for c in route["status"]["conditions"] if c["type"] == "IngressReady")
    assert (ingress["status"], ingress["reason"]) == ("False", "NotOwned")
    wait_for(api_client, "services", namespace, "me", _not_owned("hijack-me"))
    assert ready(wait_for(api_client, "services", namespace, "hijack-me", ready))
    assert _get(gw, victim) == (200, "Hello victim!\n")
    placeholder = client.CoreV1Api(api_client).read_namespaced_service("hijack-me", namespace)
    assert placeholder.spec.type == "ExternalName"
    assert [(r.kind, r.name) for r in placeholder.metadata.owner_references] == [
        ("Route", "hijack-me")
    ]

    # when the first claimant goes, the waiting one gets the name, as Knative's retries do
    api.delete_namespaced_custom_object(GROUP, VERSION, namespace, "services", "hijack-me")
    wait_for(api_client, "services", namespace, "me", ready)
    _served(gw, victim, "Hello attacker!\n")
    _served(gw, attacker, "Hello attacker!\n")
    placeholder = client.CoreV1Api(api_client).read_namespaced_service("hijack-me", namespace)
    assert [(r.kind, r.name) for r in placeholder.metadata.owner_references] == [("Route", "me")]


def test_the_first_claim_wins_whichever_kind_it_is(api_client: Any, namespace: str) -> None:
    """A tag that came first keeps its hostname when a Service of that name comes later."""
    api, gw = _api(api_client), _gateway(api_client)
    traffic = [{"tag": "taken", "latestRevision": True, "percent": 100}]
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("me", "first", traffic=traffic)
    )
    wait_for(api_client, "services", namespace, "me", ready)
    _served(gw, f"taken-me.{namespace}.example.com", "Hello first!\n")
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("taken-me", "second")
    )
    wait_for(api_client, "routes", namespace, "taken-me", _not_owned("taken-me"))
    wait_for(api_client, "services", namespace, "taken-me", _not_owned("taken-me"))
    assert _get(gw, f"taken-me.{namespace}.example.com") == (200, "Hello first!\n")
    assert _get(gw, f"taken-me.{namespace}.svc.cluster.local")[1] != "Hello second!\n"


def test_removing_a_tag_deletes_its_placeholder(api_client: Any, namespace: str) -> None:
    api, core = _api(api_client), client.CoreV1Api(api_client)
    traffic = [{"tag": "old", "latestRevision": True, "percent": 100}]
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc("tagged", "x", traffic=traffic)
    )
    wait_for(api_client, "services", namespace, "tagged", ready)
    names = sorted(
        s.metadata.name
        for s in core.list_namespaced_service(
            namespace, label_selector="serving.knative.dev/route=tagged"
        ).items
    )
    assert names == ["old-tagged", "tagged"]
    api.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "services",
        "tagged",
        {"spec": {"traffic": [{"latestRevision": True, "percent": 100}]}},
    )
    wait_for(
        api_client,
        "routes",
        namespace,
        "tagged",
        lambda o: ready(o) and not any(t.get("tag") for t in o["status"].get("traffic", [])),
    )
    names = sorted(
        s.metadata.name
        for s in core.list_namespaced_service(
            namespace, label_selector="serving.knative.dev/route=tagged"
        ).items
    )
    assert names == ["tagged"]


def test_a_tag_whose_hostname_is_no_dns_label_fails_the_route(
    api_client: Any, namespace: str
) -> None:
    """``{tag}-{route}`` over 63 characters: Knative's ErrDomainName, not a Route that never
    settles (the placeholder Service could not even be named)."""
    name, tag = "s" * 40, "t" * 30
    traffic = [{"tag": tag, "latestRevision": True, "percent": 100}]
    _api(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "services", ksvc(name, "x", traffic=traffic)
    )
    route = wait_for(api_client, "routes", namespace, name, _failed_at(1))
    conds = {c["type"]: c for c in route["status"]["conditions"]}
    hostname = f"{tag}-{name}"
    assert conds["AllTrafficAssigned"]["reason"] == "ErrorConfig"
    assert conds["AllTrafficAssigned"]["message"] == (
        f'domain name error: invalid domain name "{hostname}.{namespace}.example.com": '
        f'url: Invalid value: "{hostname}": must be no more than 63 characters'
    )
    wait_for(api_client, "services", namespace, name, _failed_at(1))


# --------------------------------------------------------------------------- integers Go cannot hold


@pytest.mark.parametrize(
    ("where", "field", "message"),
    [
        (
            ("ports",),
            [{"containerPort": 2**32 + 1}],
            "json: cannot unmarshal number 4294967297 into Go struct field "
            "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32",
        ),
        (
            ("readinessProbe",),
            {"periodSeconds": 2**31},
            "json: cannot unmarshal number 2147483648 into Go struct field "
            "Probe.spec.template.spec.containers.readinessProbe.periodSeconds of type int32",
        ),
    ],
    ids=["containerPort", "probe"],
)
def test_the_webhook_refuses_integers_its_go_types_cannot_hold(
    api_client: Any, namespace: str, where: tuple[str, ...], field: Any, message: str
) -> None:
    """Knative's webhook decodes the Service into Go types first: it was stored instead,
    and its Revision stayed Unknown (Deploying) for ever."""
    body = ksvc("bigint")
    body["spec"]["template"]["spec"]["containers"][0][where[0]] = field
    with pytest.raises(ApiException) as caught:
        _api(api_client).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "services", body
        )
    assert caught.value.status == 400
    said = json.loads(caught.value.body)["message"]
    assert said == (
        'admission webhook "webhook.serving.knative.dev" denied the request: mutation failed: '
        f"cannot decode incoming new object: {message}"
    ), said
    listed = _api(api_client).list_namespaced_custom_object(GROUP, VERSION, namespace, "services")
    assert listed["items"] == []
