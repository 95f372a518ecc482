"""Knative's traffic and name rules, pinned to upstream's own tables, and one answer on both sides.

The inputs and expected messages are those of knative/serving (release-1.23)
``pkg/apis/serving/v1/route_validation_test.go`` (``TestTrafficTargetValidation``,
``TestRouteValidation``) and ``service_validation_test.go``
(``TestServiceValidation``), as ``FieldError.Error()`` prints them. Only the
cases of a spec are taken (the rules run on what users send, never on status).

With one copy of a rule, a bug sits on both sides at once; these tables are what
catches it. Then every case goes through knwalk's pre-validation
(:func:`kn_walk.traffic.validate_block`) and the sandbox's webhook (a dry-run
create, so nothing runs): the same accept or reject, the same paths and text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kn_walk.knative_rules import fielderror, names
from kn_walk.knative_rules import traffic as rules
from kn_walk.traffic import validate_block
from tests.kube_helpers import GROUP, VERSION

# upstream's messages, built as Kubernetes builds them
DNS1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
WEBHOOK = 'admission webhook "validation.webhook.serving.knative.dev" denied the request: '

# --------------------------------------------------------------------------- TrafficTarget

#: (name, target, within a Service (WithDefaultConfigurationName), upstream's Error())
TARGET_CASES: list[tuple[str, dict[str, Any], bool, str]] = [
    ("valid with revisionName", {"revisionName": "bar", "percent": 12}, False, ""),
    (
        "valid with revisionName and name (spec)",
        {"tag": "foo", "revisionName": "bar", "percent": 12},
        False,
        "",
    ),
    (
        "invalid with bad revisionName",
        {"revisionName": "b ar", "percent": 12},
        False,
        f'invalid key name "b ar": revisionName\n{QUALIFIED}',
    ),
    (
        "valid with revisionName and latestRevision",
        {"revisionName": "bar", "latestRevision": False, "percent": 12},
        False,
        "",
    ),
    (
        "invalid with revisionName and latestRevision (spec)",
        {"revisionName": "bar", "latestRevision": True, "percent": 12},
        False,
        'may not set revisionName "bar" when latestRevision is true: latestRevision',
    ),
    ("valid with configurationName", {"configurationName": "bar", "percent": 37}, False, ""),
    (
        "valid with configurationName and name (spec)",
        {"tag": "foo", "configurationName": "bar", "percent": 37},
        False,
        "",
    ),
    (
        "invalid with bad configurationName",
        {"configurationName": "b ar", "percent": 37},
        False,
        f'invalid key name "b ar": configurationName\n{QUALIFIED}',
    ),
    (
        "valid with configurationName and latestRevision",
        {"configurationName": "blah", "latestRevision": True, "percent": 37},
        False,
        "",
    ),
    (
        "invalid with configurationName and latestRevision",
        {"configurationName": "blah", "latestRevision": False, "percent": 37},
        False,
        'may not set revisionName "" when latestRevision is false: latestRevision',
    ),
    (
        "invalid with configurationName and default configurationName",
        {"configurationName": "blah", "percent": 37},
        True,
        "must not set the field(s): configurationName",
    ),
    ("valid with only default configurationName", {"percent": 37}, True, ""),
    (
        "valid with default configurationName and latestRevision",
        {"latestRevision": True, "percent": 37},
        True,
        "",
    ),
    (
        "invalid with default configurationName and latestRevision",
        {"latestRevision": False, "percent": 37},
        True,
        'may not set revisionName "" when latestRevision is false: latestRevision',
    ),
    (
        "valid with revisionName and default configurationName",
        {"revisionName": "bar", "percent": 12},
        True,
        "",
    ),
    ("valid with no percent", {"configurationName": "booga"}, False, ""),
    ("valid with zero percent", {"configurationName": "booga", "percent": 0}, False, ""),
    ("valid with no name", {"configurationName": "booga", "percent": 100}, False, ""),
    (
        "invalid with both",
        {"revisionName": "foo", "configurationName": "bar"},
        False,
        "expected exactly one, got both: configurationName, revisionName",
    ),
    (
        "invalid with neither",
        {"percent": 100},
        False,
        "expected exactly one, got neither: configurationName, revisionName",
    ),
    (
        "invalid percent too low",
        {"revisionName": "foo", "percent": -5},
        False,
        "expected 0 <= -5 <= 100: percent",
    ),
    (
        "invalid percent too high",
        {"revisionName": "foo", "percent": 101},
        False,
        "expected 0 <= 101 <= 100: percent",
    ),
    (
        "disallowed url set",  # upstream's URL{Host: "should.not.be.set"}
        {"configurationName": "foo", "percent": 100, "url": "//should.not.be.set"},
        False,
        "must not set the field(s): url",
    ),
]


@pytest.mark.parametrize(
    ("target", "in_service", "want"),
    [pytest.param(t, s, w, id=n) for n, t, s, w in TARGET_CASES],
)
def test_traffic_target_validation(target: dict[str, Any], in_service: bool, want: str) -> None:
    got = rules.validate_target(target, in_service=in_service)
    assert fielderror.error_text(got) == want


# --------------------------------------------------------------------------- Route and Service

#: (name, kind, metadata.name, spec.traffic, upstream's Error())
OBJECT_CASES: list[tuple[str, str, str, list[dict[str, Any]], str]] = [
    (
        "route valid",
        "Route",
        "valid",
        [{"tag": "bar", "revisionName": "foo", "percent": 100}],
        "",
    ),
    (
        "route valid split",
        "Route",
        "valid",
        [
            {"tag": "prod", "revisionName": "foo", "percent": 90},
            {"tag": "experiment", "configurationName": "bar", "percent": 10},
        ],
        "",
    ),
    (
        "route valid split without tags",
        "Route",
        "valid",
        [{"revisionName": "foo", "percent": 90}, {"revisionName": "bar", "percent": 10}],
        "",
    ),
    (
        "route invalid traffic entry (missing oneof)",
        "Route",
        "valid",
        [{"tag": "foo", "percent": 100}],
        "expected exactly one, got neither: "
        "spec.traffic[0].configurationName, spec.traffic[0].revisionName",
    ),
    (
        "route invalid traffic entry (multiple names)",
        "Route",
        "valid",
        [
            {"tag": "foo", "revisionName": "bar", "percent": 50},
            {"tag": "foo", "revisionName": "bar", "percent": 50},
        ],
        'Multiple definitions for "foo": spec.traffic[0].tag, spec.traffic[1].tag',
    ),
    (
        "route invalid name - dots",
        "Route",
        "do.not.use.dots",
        [{"revisionName": "foo", "percent": 100}],
        f"not a DNS 1035 label: [{DNS1035}]: metadata.name",
    ),
    (
        "route invalid name - dots and spec percent is not 100",
        "Route",
        "do.not.use.dots",
        [{"revisionName": "foo", "percent": 90}],
        "Traffic targets sum to 90, want 100: spec.traffic\n"
        f"not a DNS 1035 label: [{DNS1035}]: metadata.name",
    ),
    (
        "route invalid name - too long",
        "Route",
        "a" * 64,
        [{"revisionName": "foo", "percent": 100}],
        "not a DNS 1035 label: [must be no more than 63 characters]: metadata.name",
    ),
    (
        "route invalid tag name",
        "Route",
        "valid",
        [{"tag": "foo@", "revisionName": "bar", "percent": 100}],
        f"invalid value: not a DNS 1035 label: [{DNS1035}]: spec.traffic.tag[0]",
    ),
    (
        "service valid run latest",
        "Service",
        "valid",
        [{"latestRevision": True, "percent": 100}],
        "",
    ),
    (
        "service valid release",
        "Service",
        "valid",
        [
            {
                "tag": "current",
                "latestRevision": False,
                "revisionName": "valid-00001",
                "percent": 98,
            },
            {
                "tag": "candidate",
                "latestRevision": False,
                "revisionName": "valid-00002",
                "percent": 2,
            },
            {"tag": "latest", "latestRevision": True},
        ],
        "",
    ),
    (
        "service invalid configurationName",
        "Service",
        "valid",
        [{"configurationName": "valid", "latestRevision": True, "percent": 100}],
        "must not set the field(s): spec.traffic[0].configurationName",
    ),
    (
        "service invalid latestRevision",
        "Service",
        "valid",
        [{"revisionName": "valid", "latestRevision": True, "percent": 100}],
        'may not set revisionName "valid" when latestRevision is true: '
        "spec.traffic[0].latestRevision",
    ),
    (
        # upstream's "invalid name" (name ""); the API server answers for it before any
        # webhook (name or generateName is required), so the sandbox part is skipped
        "service invalid name",
        "Service",
        "",
        [{"latestRevision": True, "percent": 100}],
        "name or generateName is required: metadata.name",
    ),
]


def _rules_answer(kind: str, name: str, traffic: list[dict[str, Any]]) -> str:
    errors = fielderror.via("metadata", names.object_meta_errors({"name": name}))
    errors += rules.validate(traffic, in_service=kind == "Service")
    return fielderror.error_text(errors)


@pytest.mark.parametrize(
    ("kind", "name", "traffic", "want"),
    [pytest.param(k, n, t, w, id=i) for i, k, n, t, w in OBJECT_CASES],
)
def test_route_and_service_validation(
    kind: str, name: str, traffic: list[dict[str, Any]], want: str
) -> None:
    assert _rules_answer(kind, name, traffic) == want


def _body(kind: str, name: str, traffic: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"traffic": traffic}
    if kind == "Service":  # upstream's goodConfigSpec
        spec["template"] = {"spec": {"containers": [{"image": "busybox"}]}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def _sandbox_answer(api_client: Any, namespace: str, body: dict[str, Any]) -> tuple[int, str]:
    """(status, message) of a dry-run create; (201, "") when it is accepted."""
    plural = {"Service": "services", "Route": "routes"}[body["kind"]]
    api = client.CustomObjectsApi(api_client)
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body, dry_run="All")
    except ApiException as exc:
        return exc.status, str(json.loads(str(exc.body))["message"])
    return 201, ""


@pytest.mark.parametrize(
    ("kind", "name", "traffic", "want"),
    [pytest.param(k, n, t, w, id=i) for i, k, n, t, w in OBJECT_CASES if n],
)
def test_the_sandbox_webhook_gives_upstreams_answer(
    api_client: Any, namespace: str, kind: str, name: str, traffic: list[dict[str, Any]], want: str
) -> None:
    status, message = _sandbox_answer(api_client, namespace, _body(kind, name, traffic))
    if not want:
        assert (status, message) == (201, "")
    else:
        assert (status, message) == (400, f"{WEBHOOK}validation failed: {want}")


#: upstream's cases about a Service's or Route's labels and annotations, all valid in
#: release-1.23: (name, kind, labels, annotations). Knative lets unknown
#: serving.knative.dev keys through ("to introduce new labels with the serving prefix in
#: the future and not break downgrading"), and any value of the visibility label (only
#: cluster-local means something). The Route gets upstream's validRouteSpec.
METADATA_CASES: list[tuple[str, str, dict[str, str], dict[str, str]]] = [
    (
        "service valid visibility label",
        "Service",
        {"networking.knative.dev/visibility": "cluster-local"},
        {},
    ),
    ("service valid non knative label", "Service", {"serving.name": "some-name"}, {}),
    (
        "service allow unknown uses of knative.dev/serving prefix for labels",
        "Service",
        {"serving.knative.dev/testlabel": "value"},
        {},
    ),
    (
        "service allow unknown uses of serving.knative.dev prefix for annotations",
        "Service",
        {},
        {"serving.knative.dev/foo": "bar"},
    ),
    (
        "route visibility label specified",  # TestRouteLabelValidation
        "Route",
        {"networking.knative.dev/visibility": "my-visibility"},
        {},
    ),
]


@pytest.mark.parametrize(
    ("kind", "labels", "annotations"),
    [pytest.param(k, lab, ann, id=n) for n, k, lab, ann in METADATA_CASES],
)
def test_the_sandbox_webhook_takes_labels_as_upstream_does(
    api_client: Any,
    namespace: str,
    kind: str,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> None:
    traffic = (
        [{"latestRevision": True, "percent": 100}]
        if kind == "Service"
        else [{"tag": "bar", "revisionName": "foo", "percent": 100}]
    )
    body = _body(kind, "byo-name", traffic)
    body["metadata"].update(labels=labels, annotations=annotations)
    assert _sandbox_answer(api_client, namespace, body) == (201, "")


# --------------------------------------------------------------------------- knwalk = webhook

#: Service traffic blocks: upstream's targets alone in a Service, upstream's Service cases,
#: and the two blocks on which knwalk's copy and the webhook's used to disagree
SERVICE_BLOCKS: list[tuple[str, object]] = [
    *((f"target {n}", [t]) for n, t, _, _ in TARGET_CASES),
    *((n, t) for n, k, _, t, _ in OBJECT_CASES if k == "Service"),
    ("bad tag (issue 12)", [{"tag": "Bad_Tag", "revisionName": "x-1", "percent": 100}]),
    ("boolean percent (issue 12)", [{"latestRevision": True, "percent": True}]),
    ("string percent", [{"latestRevision": True, "percent": "100"}]),
    ("not an object", ["x", {"latestRevision": True, "percent": 100}]),
    (
        "tag too long and not DNS-1035",
        [{"latestRevision": True, "percent": 100, "tag": "X" * 64}],
    ),
    (
        "three targets with one tag",
        [
            {"tag": "t", "latestRevision": True, "percent": 50},
            {"tag": "t", "revisionName": "valid-00001", "percent": 25},
            {"tag": "t", "revisionName": "valid-00002", "percent": 25},
        ],
    ),
]


@pytest.mark.parametrize(("block",), [pytest.param(b, id=n) for n, b in SERVICE_BLOCKS])
def test_knwalk_and_the_sandbox_webhook_agree(
    api_client: Any, namespace: str, block: list[Any]
) -> None:
    """knwalk's pre-validation of a Service's spec.traffic and the sandbox's answer to it:
    both accept, or both refuse with the same lines (paths and upstream text)."""
    ours = validate_block(block)
    status, message = _sandbox_answer(api_client, namespace, _body("Service", "valid", block))
    if not ours:
        assert (status, message) == (201, "")
    elif rules.type_errors(block):
        # the API server's schema refuses it; the webhook never sees it
        causes = ours[0] if len(ours) == 1 else "[" + ", ".join(ours) + "]"
        assert (status, message) == (
            422,
            f'Service.serving.knative.dev "valid" is invalid: {causes}',
        )
    else:
        assert status == 400
        assert message == f"{WEBHOOK}validation failed: " + "\n".join(ours)


# --------------------------------------------------------------------------- the @latest rule


@pytest.mark.parametrize(
    ("target", "latest"),
    [
        ({"latestRevision": True, "percent": 100}, True),
        ({"percent": 100}, True),  # defaulted: no revisionName
        ({"revisionName": "r", "percent": 100}, False),  # defaulted: a revisionName
        ({"revisionName": "r", "latestRevision": False}, False),
        ({"latestRevision": False}, False),
    ],
)
def test_follows_latest_is_knatives_defaulting(target: dict[str, Any], latest: bool) -> None:
    assert rules.follows_latest(target) is latest
    spec = {"traffic": [dict(target)]}
    rules.set_defaults(spec, in_service=True)
    assert spec["traffic"][0]["latestRevision"] is latest


def test_defaults_are_route_defaults() -> None:
    """RouteSpec.SetDefaults (route_defaults.go): a Service without traffic gets 100% to
    @latest; every target gets latestRevision and percent 0; a Route keeps none."""
    spec: dict[str, Any] = {}
    rules.set_defaults(spec, in_service=True)
    assert spec == {"traffic": [{"latestRevision": True, "percent": 100}]}
    route: dict[str, Any] = {}
    rules.set_defaults(route, in_service=False)
    assert route == {}
    tagged = {"traffic": [{"tag": "x", "revisionName": "r"}]}
    rules.set_defaults(tagged, in_service=True)
    assert tagged == {
        "traffic": [{"tag": "x", "revisionName": "r", "latestRevision": False, "percent": 0}]
    }


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("my.name", []),
        ("example.com/MyName", []),
        ("b ar", [QUALIFIED]),
        ("", ["name part must be non-empty", QUALIFIED]),
        ("/x", ["prefix part must be non-empty"]),
        (
            "a/b/c",
            [
                "a valid label key "
                + QUALIFIED.removeprefix("name part ")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ],
        ),
        ("a" * 64, ["name part must be no more than 63 characters"]),
        ("abc\n", [QUALIFIED]),  # Go's $ is the end of the text, not before a final newline
    ],
)
def test_qualified_names_as_kubernetes_checks_them(value: str, want: list[str]) -> None:
    assert names.qualified_name_errors(value) == want


def test_helloworld_imports_only_the_samples_rule() -> None:
    """The helloworld process (``python -S``) gets its reply from knative_rules.sample and
    its body framing from http1frame, and pulls in nothing else of knwalk's: not the other
    rules, not json, typing or re."""
    root = Path(__file__).resolve().parent.parent
    probe = (
        "import sys; import kn_walk.sandbox.node.helloworld as h; "
        "print(sorted(m for m in sys.modules if m.startswith('kn_walk') or m in "
        "('json', 'typing', 're'))); print(h.greeting('x').decode(), end='')"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    ).stdout
    assert out.splitlines()[0] == str(
        [
            "kn_walk",
            "kn_walk.http1frame",
            "kn_walk.knative_rules",
            "kn_walk.knative_rules.sample",
            "kn_walk.sandbox",
            "kn_walk.sandbox.node",
            "kn_walk.sandbox.node.helloworld",
        ]
    )
    assert out.splitlines()[1] == "Hello x!"
