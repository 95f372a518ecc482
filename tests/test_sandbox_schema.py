"""Structural-schema validation, strict unknown-field detection, pruning and defaulting."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kn_walk.sandbox.machinery.resourcetypes import Registry, ResourceType
from kn_walk.sandbox.machinery.schema import (
    OBJECT_META_FIELDS,
    Cause,
    apply_defaults,
    builtin_definitions,
    prune,
    resolve_refs,
    schema_for,
    strict_decoding_message,
    unknown_fields,
    validate,
)
from tests.test_builtin_schemas import schema_nodes

REG = Registry.default()


def rt(group: str, plural: str) -> ResourceType:
    found = REG.get(group, "v1", plural)
    assert found is not None
    return found


KSVC_SCHEMA = schema_for(rt("serving.knative.dev", "services"))

# The walkthrough's final manifest: v2 of helloworld-go with a 50/50 tagged split.
HELLOWORLD = yaml.safe_load(
    """
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: helloworld-go
  namespace: default
spec:
  template:
    metadata:
      name: helloworld-go-v2
      annotations:
        autoscaling.knative.dev/minScale: "1"
    spec:
      containers:
        - image: gcr.io/knative-samples/helloworld-go
          ports:
            - containerPort: 8080
          env:
            - name: TARGET
              value: "Go Sample v2"
          resources:
            limits: {cpu: 500m, memory: 128Mi}
          readinessProbe:
            httpGet: {path: /, port: 8080}
  traffic:
    - tag: current
      revisionName: helloworld-go-v1
      percent: 50
    - tag: candidate
      revisionName: helloworld-go-v2
      percent: 50
    - tag: latest
      latestRevision: true
      percent: 0
"""
)


def causes(obj: Any, schema: Any = KSVC_SCHEMA) -> list[str]:
    return [str(c) for c in validate(schema, obj)]


def test_walkthrough_manifest_is_valid_and_fully_known() -> None:
    assert validate(KSVC_SCHEMA, HELLOWORLD) == []
    assert unknown_fields(KSVC_SCHEMA, HELLOWORLD) == []
    assert prune(KSVC_SCHEMA, HELLOWORLD) == HELLOWORLD


def test_typos_are_unknown_fields_with_server_paths() -> None:
    typo = copy.deepcopy(HELLOWORLD)
    container = typo["spec"]["template"]["spec"]["containers"][0]
    container["imagee"] = container.pop("image")
    typo["spec"]["traffic"][1]["precent"] = typo["spec"]["traffic"][1].pop("percent")
    typo["spec"]["trafic"] = []
    typo["metadata"]["lables"] = {"app": "x"}
    paths = unknown_fields(KSVC_SCHEMA, typo)
    assert paths == [
        "metadata.lables",
        "spec.template.spec.containers[0].imagee",
        "spec.traffic[1].precent",
        "spec.trafic",
    ]
    assert strict_decoding_message(paths[:2]) == (
        'strict decoding error: unknown field "metadata.lables", '
        'unknown field "spec.template.spec.containers[0].imagee"'
    )
    pruned = prune(KSVC_SCHEMA, typo)
    assert unknown_fields(KSVC_SCHEMA, pruned) == []
    assert "imagee" not in pruned["spec"]["template"]["spec"]["containers"][0]
    assert "lables" not in pruned["metadata"]
    assert pruned["metadata"] == HELLOWORLD["metadata"]
    assert "imagee" in container  # the input is left alone


def test_metadata_is_objectmeta_everywhere_at_the_root() -> None:
    obj = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            **{f: None for f in OBJECT_META_FIELDS},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "X", "name": "n", "uid": "u", "bad": 1}
            ],
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {".": {}}}}],
            "clusterName": "gone",
        },
    }
    assert unknown_fields(KSVC_SCHEMA, obj) == [
        "metadata.ownerReferences[0].bad",
        "metadata.clusterName",
    ]


def test_preserve_unknown_fields_subtrees_keep_everything() -> None:
    obj = copy.deepcopy(HELLOWORLD)
    obj["spec"]["template"]["metadata"]["creationTimestamp"] = None
    obj["spec"]["template"]["metadata"]["whatever"] = {"x": 1}
    assert unknown_fields(KSVC_SCHEMA, obj) == []
    assert prune(KSVC_SCHEMA, obj) == obj


def test_type_error_message_matches_kube_apiserver() -> None:
    obj = copy.deepcopy(HELLOWORLD)
    obj["spec"]["traffic"][0]["percent"] = "string"
    result = validate(KSVC_SCHEMA, obj)
    assert result == [
        Cause(
            reason="FieldValueTypeInvalid",
            message='Invalid value: "string": spec.traffic[0].percent in body must be of type '
            'integer: "string"',
            field="spec.traffic[0].percent",
        )
    ]
    assert result[0].to_dict() == {
        "reason": "FieldValueTypeInvalid",
        "message": result[0].message,
        "field": "spec.traffic[0].percent",
    }
    assert str(result[0]).startswith("spec.traffic[0].percent: Invalid value: ")


def test_required_and_null_and_bool() -> None:
    obj = copy.deepcopy(HELLOWORLD)
    obj["status"] = {"conditions": [{"status": "True"}]}
    obj["spec"]["traffic"][2]["latestRevision"] = "yes"
    obj["spec"]["traffic"][0]["tag"] = None
    assert sorted(causes(obj)) == sorted(
        [
            "status.conditions[0].type: Required value",
            'spec.traffic[2].latestRevision: Invalid value: "string": '
            'spec.traffic[2].latestRevision in body must be of type boolean: "string"',
            'spec.traffic[0].tag: Invalid value: "null": spec.traffic[0].tag in body must be of '
            'type string: "null"',
        ]
    )


def test_integers_accept_integral_floats_and_maps_check_values() -> None:
    obj = copy.deepcopy(HELLOWORLD)
    obj["spec"]["traffic"][0]["percent"] = 50.0
    assert validate(KSVC_SCHEMA, obj) == []
    obj["spec"]["traffic"][0]["percent"] = 50.5
    assert causes(obj) == [
        'spec.traffic[0].percent: Invalid value: "number": spec.traffic[0].percent in body '
        'must be of type integer: "number"'
    ]
    obj = copy.deepcopy(HELLOWORLD)
    obj["spec"]["template"]["metadata"]["annotations"]["x"] = 1
    assert causes(obj) == [
        'spec.template.metadata.annotations.x: Invalid value: "integer": '
        'spec.template.metadata.annotations.x in body must be of type string: "integer"'
    ]


def test_int_or_string_and_quantity_pattern() -> None:
    obj = copy.deepcopy(HELLOWORLD)
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["cpu"] = 2
    container["readinessProbe"]["httpGet"]["port"] = "http"
    assert validate(KSVC_SCHEMA, obj) == []
    container["resources"]["limits"]["memory"] = "lots"
    container["readinessProbe"]["httpGet"]["port"] = True
    got = causes(obj)
    assert len(got) == 2
    assert got[0].startswith(
        'spec.template.spec.containers[0].resources.limits.memory: Invalid value: "lots": '
        "spec.template.spec.containers[0].resources.limits.memory in body should match '^"
    )
    assert got[1] == (
        "spec.template.spec.containers[0].readinessProbe.httpGet.port: Invalid value: "
        '"boolean": spec.template.spec.containers[0].readinessProbe.httpGet.port in body must '
        'be of type integer,string: "boolean"'
    )


def test_list_map_duplicates() -> None:
    obj = copy.deepcopy(HELLOWORLD)
    obj["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "TARGET"})
    assert causes(obj) == [
        "spec.template.spec.containers[0].env[1]: Duplicate value: "
        'map[string]interface {}{"name":"TARGET"}'
    ]


SYNTHETIC: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metadata": {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 5}},
        },
        "spec": {
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": {"type": "string", "enum": ["Fast", "Slow"]},
                "count": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMaximum": True, "maximum": 1},
                "name": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"},
                "when": {"type": "string", "format": "date-time"},
                "maybe": {"type": "string", "nullable": True},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "set": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "short": {"type": "string", "maxLength": 3},
                "inner": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
            },
        },
    },
}


def test_value_validations_produce_kube_messages() -> None:
    obj = {
        "metadata": {"name": "toolong", "namespace": "ignored", "labels": {"a": "b"}},
        "spec": {
            "mode": "Medium",
            "count": 11,
            "ratio": 1,
            "name": "A",
            "when": "yesterday",
            "maybe": None,
            "tags": ["a", "b", "c"],
            "set": ["x", "x"],
            "labels": {"ok": "x"},
            "short": "abcd",
            "inner": {"kind": 3},
        },
    }
    assert causes(obj, SYNTHETIC) == [
        "metadata.name: Too long: may not be more than 5 bytes",
        'spec.mode: Unsupported value: "Medium": supported values: "Fast", "Slow"',
        "spec.count: Invalid value: 11: spec.count in body should be less than or equal to 10",
        "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1",
        'spec.name: Invalid value: "A": spec.name in body should be at least 2 chars long',
        "spec.name: Invalid value: \"A\": spec.name in body should match '^[a-z]+$'",
        'spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: '
        '"yesterday"',
        "spec.tags: Too many: 3: must have at most 2 items",
        'spec.set[1]: Duplicate value: "x"',
        "spec.short: Too long: may not be more than 3 bytes",
        "spec.inner.apiVersion: Required value: must not be empty",
        "spec.inner.kind: Invalid value: 3: must be a string",
    ]
    assert [c.reason for c in validate(SYNTHETIC, obj)][:3] == [
        "FieldValueTooLong",
        "FieldValueNotSupported",
        "FieldValueInvalid",
    ]
    assert causes({"spec": {}}, SYNTHETIC) == ["spec.mode: Required value"]
    assert causes({"spec": {"mode": "Fast", "count": 0}}, SYNTHETIC) == [
        "spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1"
    ]


def test_embedded_resources_keep_type_and_object_meta() -> None:
    obj = {
        "spec": {
            "mode": "Fast",
            "inner": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "x", "bogus": 1},
                "data": {"k": "v"},
            },
        }
    }
    assert validate(SYNTHETIC, obj) == []
    assert unknown_fields(SYNTHETIC, obj) == ["spec.inner.metadata.bogus"]
    assert prune(SYNTHETIC, obj)["spec"]["inner"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"k": "v"},
    }


def test_apply_defaults_fills_schema_defaults() -> None:
    obj = {"spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": 8080}]}]}}}}
    out = apply_defaults(KSVC_SCHEMA, obj)
    assert out["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert "protocol" not in obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    nulled = {"spec": {"template": {"spec": {"containers": [{"ports": [{"protocol": None}]}]}}}}
    assert (
        apply_defaults(KSVC_SCHEMA, nulled)["spec"]["template"]["spec"]["containers"][0]["ports"][
            0
        ]["protocol"]
        == "TCP"
    )


# ------------------------------------------------------------------ built-ins


def test_builtin_schemas_exist_for_every_builtin_kind() -> None:
    for t in REG.all():
        sch = schema_for(t)
        assert sch is not None, t.kind
        if not t.custom:
            assert sch["x-kubernetes-group-version-kind"] == [
                {"group": t.group, "kind": t.kind, "version": t.version}
            ]
            assert not any("$ref" in node or "allOf" in node for _, node in schema_nodes(sch))


def test_builtin_configmap_and_deployment() -> None:
    cm_schema = schema_for(rt("", "configmaps"))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "dta": {"a": "b"}}
    assert unknown_fields(cm_schema, cm) == ["dta"]
    assert validate(cm_schema, {**cm, "data": {"a": 1}}) != []

    dep_schema = schema_for(rt("apps", "deployments"))
    dep = yaml.safe_load(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, creationTimestamp: null}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {}
  template:
    metadata: {creationTimestamp: null, labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: 1, memory: 1Gi}}
        readinessProbe: {httpGet: {path: /, port: 80}}
        env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
      volumes:
      - name: v
        csi: {driver: x}
status: {}
"""
    )
    assert validate(dep_schema, dep) == []
    assert unknown_fields(dep_schema, dep) == []
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    dep["spec"]["replicas"] = "two"
    assert unknown_fields(dep_schema, dep) == ["spec.template.spec.containers[0].imagePullPolice"]
    assert causes(dep, dep_schema) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string"'
    ]
    del dep["spec"]["selector"]
    assert "spec.selector: Required value" in causes(dep, dep_schema)


def test_builtin_required_fields_apply_to_the_spec_not_the_status() -> None:
    pod_schema = schema_for(rt("", "pods"))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"image": "nginx"}]},
        # what a kubelet would write in full; Go decodes the rest as zero values
        "status": {"containerStatuses": [{"name": "web", "state": {"waiting": {}}}]},
    }
    assert causes(pod, pod_schema) == ["spec.containers[0].name: Required value"]
    pod["metadata"]["managedFields"] = [{"manager": "m", "fieldsV1": {"f:spec": {".": {}}}}]
    assert unknown_fields(pod_schema, pod) == []  # FieldsV1 is raw JSON


def test_resolve_refs_inlines_definitions() -> None:
    svc = resolve_refs({"$ref": "#/components/schemas/io.k8s.api.core.v1.Service"})
    port = svc["properties"]["spec"]["properties"]["ports"]["items"]["properties"]
    assert port["targetPort"]["x-kubernetes-int-or-string"] is True
    published = builtin_definitions()["io.k8s.api.core.v1.ServicePort"]["properties"]["port"]
    assert port["port"] == published


# ----------------------------------------------------------------- robustness

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "apiVersion",
                    "kind",
                    "metadata",
                    "spec",
                    "status",
                    "template",
                    "containers",
                    "traffic",
                    "percent",
                    "name",
                    "labels",
                    "env",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)
SCHEMAS = st.sampled_from([schema_for(t) for t in REG.all()] + [SYNTHETIC])
SCHEMA_KEYS = st.sampled_from(
    [
        "type",
        "properties",
        "items",
        "additionalProperties",
        "required",
        "enum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "nullable",
        "anyOf",
        "allOf",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    ]
)
ODD_SCHEMAS = st.recursive(
    JSON,
    lambda children: st.dictionaries(SCHEMA_KEYS, children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(schema=SCHEMAS | ODD_SCHEMAS, obj=JSON)
def test_never_raises_on_arbitrary_input(schema: Any, obj: Any) -> None:
    found = validate(schema, obj)
    assert all(isinstance(c, Cause) for c in found)
    paths = unknown_fields(schema, obj)
    assert all(isinstance(p, str) for p in paths)
    pruned = prune(schema, obj)
    assert unknown_fields(schema, pruned) == [] or not isinstance(schema, dict)
    apply_defaults(schema, obj)


@settings(max_examples=100, deadline=None)
@given(obj=JSON)
def test_prune_is_idempotent_on_knative_schema(obj: Any) -> None:
    once = prune(KSVC_SCHEMA, obj)
    assert prune(KSVC_SCHEMA, once) == once


@pytest.mark.parametrize("kind", ["Service", "Configuration", "Revision", "Route"])
def test_knative_status_examples_validate(kind: str) -> None:
    t = REG.by_kind("serving.knative.dev/v1", kind)
    assert t is not None
    obj = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": kind,
        "metadata": {"name": "x"},
        "status": {
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "x"}],
        },
    }
    assert validate(schema_for(t), obj) == []
