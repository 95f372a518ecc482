"""Server-side apply and managedFields, checked against kube-apiserver's behaviour."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kn_walk.sandbox.machinery.fields import (
    ApplyConflict,
    ApplyError,
    FieldSet,
    PathElement,
    Schema,
    apply,
    builtin_list_keys,
    default_manager,
    fields_of,
    list_keys_for,
    list_keys_from_schema,
    record_update,
)
from kn_walk.sandbox.machinery.patch import strategic_merge_patch
from kn_walk.sandbox.machinery.resourcetypes import BUILTIN_TYPES, knative_crds, types_from_crd

SERVING = "serving.knative.dev/v1"
T0, T1, T2, T3 = (f"2024-05-01T12:00:0{i}Z" for i in range(4))
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _knative_service_schema() -> Schema:
    for crd in knative_crds():
        if crd["spec"]["names"]["kind"] == "Service":
            return list_keys_from_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    raise AssertionError("no Knative Service CRD")


KSVC = _knative_service_schema()
DEPLOY = builtin_list_keys("Deployment")
CM = builtin_list_keys("ConfigMap")
SVC = builtin_list_keys("Service")


def ksvc(image: str = "gcr.io/knative-samples/helloworld-go", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SERVING,
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "default", "labels": {"app": "hello"}},
        "spec": {
            "template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1"}},
                "spec": {
                    "containers": [{"image": image, "env": [{"name": "TARGET", "value": "Go"}]}]
                },
            },
            **spec,
        },
    }


def managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


def owned(obj: dict[str, Any], manager: str) -> FieldSet:
    return FieldSet.from_json(managers(obj)[manager]["fieldsV1"])


def path(text: str) -> tuple[PathElement, ...]:
    """``spec.traffic`` → (f:spec, f:traffic)."""
    return tuple(PathElement.field(p) for p in text.split("."))


# --------------------------------------------------------------------------- field sets

# what kube-apiserver 1.32 records for `kubectl create deployment nginx --image=nginx`
KUBECTL_CREATE_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:strategy": {
            "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
            "f:type": {},
        },
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    }
                },
                "f:dnsPolicy": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {},
            },
        },
    },
}


def test_fieldsv1_round_trip() -> None:
    fs = FieldSet.from_json(KUBECTL_CREATE_FIELDS)
    assert fs.to_json() == KUBECTL_CREATE_FIELDS
    assert fs.has(path("spec.replicas"))
    assert fs.has(path("metadata.labels"))  # "." makes the map itself a member
    assert not fs.has(path("spec.template"))  # only its children are


def test_fieldsv1_is_written_sorted_with_dot_last() -> None:
    fs = FieldSet.from_json(
        {"f:b": {}, "f:a": {"f:y": {}, ".": {}, "f:x": {}}, 'k:{"name":"z"}': {}}
    )
    assert json.dumps(fs.to_json()) == (
        '{"f:a": {"f:x": {}, "f:y": {}, ".": {}}, "f:b": {}, "k:{\\"name\\":\\"z\\"}": {}}'
    )


@pytest.mark.parametrize(
    ("elements", "text"),
    [
        ([PathElement.field("spec"), PathElement.field("traffic")], ".spec.traffic"),
        (
            [
                PathElement.field("containers"),
                PathElement.key([("name", "app")]),
                PathElement.field("image"),
            ],
            '.containers[name="app"].image',
        ),
        (
            [PathElement.key([("protocol", "TCP"), ("containerPort", 80)])],
            '[containerPort=80,protocol="TCP"]',
        ),
        ([PathElement.field("finalizers"), PathElement.value("foo")], '.finalizers[="foo"]'),
        ([PathElement.index(3)], "[3]"),
    ],
)
def test_path_strings_read_like_kube(elements: list[PathElement], text: str) -> None:
    from kn_walk.sandbox.machinery.fields import path_string

    assert path_string(elements) == text


def test_key_elements_serialize_like_kube() -> None:
    pe = PathElement.key([("protocol", "TCP"), ("containerPort", 80.0)])
    assert pe.text == 'k:{"containerPort":80,"protocol":"TCP"}'
    assert PathElement.parse(pe.text) == pe
    assert PathElement.value("a<b").text == 'v:"a\\u003cb"'


def test_fields_of_a_knative_service_uses_the_crd_schema() -> None:
    fs = fields_of(ksvc(traffic=[{"latestRevision": True, "percent": 100}]), KSVC).to_json()
    assert fs["f:spec"] == {
        "f:template": {
            "f:metadata": {"f:annotations": {"f:autoscaling.knative.dev/min-scale": {}}},
            "f:spec": {"f:containers": {}},  # containers has no list-type in the CRD: atomic
        },
        "f:traffic": {},
    }
    assert fs["f:metadata"]["f:labels"] == {"f:app": {}}


def test_fields_of_a_deployment_keys_containers_and_ports() -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "x",
                            "ports": [{"containerPort": 80}],
                            "args": ["a"],
                        }
                    ]
                }
            },
        },
    }
    fs = fields_of(dep, DEPLOY).to_json()
    assert fs["f:spec"]["f:selector"] == {}  # LabelSelector is an atomic struct
    assert fs["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"app"}': {
            ".": {},
            "f:args": {},
            "f:image": {},
            "f:name": {},
            "f:ports": {
                'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
            },
        }
    }


def test_list_keys_from_the_knative_schema() -> None:
    spec = KSVC.root.fields["spec"].fields["template"].fields["spec"]
    assert spec.fields["containers"].list_type == "atomic"
    assert (spec.fields["volumes"].list_type, spec.fields["volumes"].keys) == ("map", ("name",))
    env = spec.fields["containers"].elem
    assert env is not None
    assert env.fields["env"].keys == ("name",)
    assert env.fields["volumeMounts"].keys == ("mountPath",)
    assert KSVC.root.strict  # unknown top-level fields are refused


def test_list_keys_for_resource_types() -> None:
    deployment = next(t for t in BUILTIN_TYPES if t.kind == "Deployment")
    assert list_keys_for(deployment) is DEPLOY
    service_crd = next(c for c in knative_crds() if c["spec"]["names"]["kind"] == "Service")
    rt = types_from_crd(service_crd)[0]
    assert list_keys_for(rt) is list_keys_for(rt)  # cached
    assert list_keys_for(rt).root.fields["spec"].fields["traffic"].list_type == "atomic"


def test_builtin_list_keys_come_from_the_published_schemas() -> None:
    # OwnerReference is +structType=atomic upstream: an owner is one member, keyed by uid
    cm = {"metadata": {"ownerReferences": [{"uid": "u1", "kind": "Deployment", "name": "d"}]}}
    assert fields_of(cm, CM).to_json() == {
        "f:metadata": {"f:ownerReferences": {'k:{"uid":"u1"}': {}}}
    }
    # kinds the hand-written tables never covered are keyed too
    pod = builtin_list_keys("Pod")
    assert pod is not None
    status = pod.root.fields["status"]
    assert (status.fields["podIPs"].list_type, status.fields["podIPs"].keys) == ("map", ("ip",))
    job = builtin_list_keys("Job")
    assert job is not None
    conditions = job.root.fields["status"].fields["conditions"]
    assert conditions.list_type == "atomic"  # +listType=atomic wins over its patch strategy


def test_lists_without_a_list_type_follow_their_patch_strategy() -> None:
    schema = list_keys_from_schema(
        {
            "type": "object",
            "properties": {
                "keyed": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"id": {"type": "string"}}},
                    "x-kubernetes-patch-strategy": "merge,retainKeys",
                    "x-kubernetes-patch-merge-key": "id",
                },
                "set": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-patch-strategy": "merge",
                },
                "plain": {"type": "array", "items": {"type": "string"}},
            },
        }
    )
    lists = schema.root.fields
    assert (lists["keyed"].list_type, lists["keyed"].keys) == ("map", ("id",))
    assert lists["set"].list_type == "set"
    assert lists["plain"].list_type == "atomic"


# --------------------------------------------------------------------------- server-side apply


def test_apply_creates_with_an_apply_entry() -> None:
    out = apply(
        None, ksvc(), manager="knwalk", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    [entry] = out["metadata"]["managedFields"]
    assert entry == {
        "manager": "knwalk",
        "operation": "Apply",
        "apiVersion": SERVING,
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:template": {
                    "f:metadata": {"f:annotations": {"f:autoscaling.knative.dev/min-scale": {}}},
                    "f:spec": {"f:containers": {}},
                }
            },
        },
    }
    assert out["spec"] == ksvc()["spec"]


def test_apply_conflict_between_two_appliers_then_force_moves_ownership() -> None:
    a = apply(
        None,
        ksvc(traffic=[{"latestRevision": True, "percent": 100}]),
        manager="alice",
        force=False,
        api_version=SERVING,
        list_keys=KSVC,
        now=T0,
    )
    split = [
        {"revisionName": "hello-00001", "percent": 50},
        {"latestRevision": True, "percent": 50, "tag": "latest"},
    ]
    bob_config = ksvc(traffic=split)
    with pytest.raises(ApplyConflict) as info:
        apply(
            a, bob_config, manager="bob", force=False, api_version=SERVING, list_keys=KSVC, now=T1
        )
    err = info.value
    assert err.message == 'Apply failed with 1 conflict: conflict with "alice": .spec.traffic'
    assert err.conflicts == [("alice", ".spec.traffic")]
    assert err.to_status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "alice": .spec.traffic',
        "reason": "Conflict",
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "alice"',
                    "field": ".spec.traffic",
                }
            ]
        },
        "code": 409,
    }

    b = apply(a, bob_config, manager="bob", force=True, api_version=SERVING, list_keys=KSVC, now=T1)
    assert b["spec"]["traffic"] == split
    assert not owned(b, "alice").has(path("spec.traffic"))
    assert owned(b, "bob").has(path("spec.traffic"))
    # equal values are shared: both still own the container list
    assert owned(b, "alice").has(path("spec.template.spec.containers"))
    assert owned(b, "bob").has(path("spec.template.spec.containers"))


def test_apply_equal_values_are_shared_without_conflict() -> None:
    a = apply(
        None, ksvc(), manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    b = apply(a, ksvc(), manager="bob", force=False, api_version=SERVING, list_keys=KSVC, now=T1)
    assert set(managers(b)) == {"alice", "bob"}
    assert owned(a, "alice") == owned(b, "bob")


def test_reapply_without_a_label_removes_it_unless_someone_else_owns_it() -> None:
    config = ksvc()
    config["metadata"]["labels"] = {"app": "hello", "team": "x"}
    a = apply(
        None, config, manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    b = apply(a, ksvc(), manager="bob", force=False, api_version=SERVING, list_keys=KSVC, now=T1)
    without = ksvc()
    without["metadata"].pop("labels")
    c = apply(b, without, manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T2)
    assert c["metadata"]["labels"] == {"app": "hello"}  # bob still owns app; team is gone
    d = apply(c, without, manager="bob", force=False, api_version=SERVING, list_keys=KSVC, now=T3)
    assert "labels" not in d["metadata"]


def test_reapply_removes_dropped_associative_list_items() -> None:
    def deploy(*names: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default"},
            "spec": {
                "template": {"spec": {"containers": [{"name": n, "image": n} for n in names]}}
            },
        }

    a = apply(
        None,
        deploy("a", "b"),
        manager="m",
        force=False,
        api_version="apps/v1",
        list_keys=DEPLOY,
        now=T0,
    )
    b = apply(
        a, deploy("b"), manager="m", force=False, api_version="apps/v1", list_keys=DEPLOY, now=T1
    )
    assert [c["name"] for c in b["spec"]["template"]["spec"]["containers"]] == ["b"]


def test_apply_keeps_fields_it_does_not_mention() -> None:
    live = apply(
        None, ksvc(), manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    live["status"] = {"url": "http://hello.default.example.com"}
    partial = {
        "apiVersion": SERVING,
        "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {"traffic": []},
    }
    out = apply(
        live, partial, manager="bob", force=False, api_version=SERVING, list_keys=KSVC, now=T1
    )
    assert out["spec"]["template"] == ksvc()["spec"]["template"]
    assert out["status"] == live["status"]


def test_conflict_with_a_client_side_apply_manager_names_its_api_version() -> None:
    """kubectl apply (client-side) then a server-side apply by another manager."""
    created = ksvc(traffic=[{"latestRevision": True, "percent": 100}])
    created["metadata"]["managedFields"] = record_update(
        None,
        created,
        manager="kubectl-client-side-apply",
        api_version=SERVING,
        list_keys=KSVC,
        now=T0,
    )
    config = ksvc(
        traffic=[{"latestRevision": True, "percent": 50}, {"revisionName": "r1", "percent": 50}]
    )
    with pytest.raises(ApplyConflict) as info:
        apply(
            created,
            config,
            manager="knwalk",
            force=False,
            api_version=SERVING,
            list_keys=KSVC,
            now=T1,
        )
    assert info.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using '
        "serving.knative.dev/v1: .spec.traffic"
    )
    assert info.value.causes()[0]["message"] == (
        'conflict with "kubectl-client-side-apply" using serving.knative.dev/v1'
    )


def test_many_conflicts_are_grouped_by_manager() -> None:
    created = ksvc(traffic=[{"latestRevision": True, "percent": 100}])
    created["metadata"]["managedFields"] = record_update(
        None, created, manager="kubectl-create", api_version=SERVING, list_keys=KSVC, now=T0
    )
    created["metadata"]["labels"]["team"] = "a"
    created["metadata"]["managedFields"] = record_update(
        copy.deepcopy(created) | {"metadata": {**created["metadata"], "labels": {"app": "hello"}}},
        created,
        manager="kubectl-label",
        api_version=SERVING,
        list_keys=KSVC,
        now=T1,
    )
    config = ksvc(image="other", traffic=[{"latestRevision": True, "percent": 100, "tag": "t"}])
    config["metadata"]["labels"]["team"] = "b"
    with pytest.raises(ApplyConflict) as info:
        apply(
            created,
            config,
            manager="knwalk",
            force=False,
            api_version=SERVING,
            list_keys=KSVC,
            now=T2,
        )
    assert info.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "kubectl-create" using serving.knative.dev/v1:\n'
        "- .spec.traffic\n"
        "- .spec.template.spec.containers\n"
        'conflicts with "kubectl-label" using serving.knative.dev/v1:\n'
        "- .metadata.labels.team"
    )
    assert len(info.value.conflicts) == 3


def test_kubectl_server_side_apply_takes_over_client_side_applied_fields() -> None:
    """`kubectl apply --server-side` after `kubectl apply`: last-applied fields do not conflict."""
    v1: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {"a": "1"},
    }
    live = copy.deepcopy(v1)
    live["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(v1) + "\n"}
    live["metadata"]["managedFields"] = record_update(
        None, live, manager="kubectl-client-side-apply", api_version="v1", list_keys=CM, now=T0
    )
    v2 = copy.deepcopy(v1)
    v2["data"]["a"] = "2"
    with pytest.raises(ApplyConflict) as info:
        apply(live, v2, manager="other", force=False, api_version="v1", list_keys=CM, now=T1)
    assert info.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.a'
    )
    out = apply(live, v2, manager="kubectl", force=False, api_version="v1", list_keys=CM, now=T1)
    assert out["data"] == {"a": "2"}
    assert json.loads(out["metadata"]["annotations"][LAST_APPLIED]) == v2
    assert owned(out, "kubectl").has(path("data.a"))
    assert not owned(out, "kubectl-client-side-apply").has(path("data.a"))


def test_apply_to_an_object_without_managed_fields_seeds_before_first_apply() -> None:
    live = ksvc(traffic=[{"latestRevision": True, "percent": 100}])
    with pytest.raises(ApplyConflict) as info:
        apply(
            live,
            ksvc(traffic=[{"latestRevision": True, "percent": 90}]),
            manager="knwalk",
            force=False,
            api_version=SERVING,
            list_keys=KSVC,
            now=T1,
        )
    assert info.value.conflicts == [("before-first-apply", ".spec.traffic")]


def test_noop_reapply_keeps_the_timestamp() -> None:
    a = apply(
        None, ksvc(), manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    b = apply(a, ksvc(), manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T1)
    assert managers(b)["alice"]["time"] == T0
    assert b == a


def test_apply_keeps_system_metadata_of_the_live_object() -> None:
    live = apply(
        None, ksvc(), manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    live["metadata"].update(uid="u-1", resourceVersion="7", creationTimestamp=T0, generation=2)
    config = ksvc()
    config["metadata"].update(uid="other", generation=9)
    out = apply(
        live, config, manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T1
    )
    assert {
        k: out["metadata"][k] for k in ("uid", "resourceVersion", "creationTimestamp", "generation")
    } == {
        "uid": "u-1",
        "resourceVersion": "7",
        "creationTimestamp": T0,
        "generation": 2,
    }
    assert "f:uid" not in json.dumps(out["metadata"]["managedFields"])


def test_apply_ignored_fields_keep_live_values() -> None:
    live = apply(
        None, ksvc(), manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    live["status"] = {"observedGeneration": 1}
    config = ksvc()
    config["status"] = {"observedGeneration": 5}
    out = apply(
        live,
        config,
        manager="alice",
        force=False,
        api_version=SERVING,
        list_keys=KSVC,
        now=T1,
        ignored_fields=("status",),
    )
    assert out["status"] == {"observedGeneration": 1}
    assert not owned(out, "alice").has(path("status.observedGeneration"))


@pytest.mark.parametrize(
    ("config", "code", "reason", "message"),
    [
        (
            {**ksvc(), "apiVersion": "serving.knative.dev/v2"},
            400,
            "BadRequest",
            "Incorrect version specified in apply patch. Specified patch version: "
            "serving.knative.dev/v2, expected: serving.knative.dev/v1",
        ),
        (
            {**ksvc(), "metadata": {"name": "hello", "managedFields": []}},
            400,
            "BadRequest",
            "metadata.managedFields must be nil",
        ),
        (
            {**ksvc(), "spec": {"tempalte": {}}},
            400,  # kube-apiserver: 500 with reason "" (the sandbox never 5xxs on bad input)
            "BadRequest",
            "failed to create typed patch object (default/hello; serving.knative.dev/v1, "
            "Kind=Service): .spec.tempalte: field not declared in schema",
        ),
    ],
)
def test_apply_errors(config: dict[str, Any], code: int, reason: str, message: str) -> None:
    with pytest.raises(ApplyError) as info:
        apply(None, config, manager="m", force=False, api_version=SERVING, list_keys=KSVC, now=T0)
    assert (info.value.code, info.value.reason, info.value.message) == (code, reason, message)


def test_apply_refuses_list_items_without_their_keys() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {"ports": [{"targetPort": 8080}, {"port": 80}, {"port": 80, "protocol": "TCP"}]},
    }
    with pytest.raises(ApplyError) as info:
        apply(None, config, manager="m", force=False, api_version="v1", list_keys=SVC, now=T0)
    assert info.value.message == (
        "failed to create typed patch object (default/s; /v1, Kind=Service): errors:\n"
        "  .spec.ports: element 0: associative list with keys has an element that omits key "
        'field "port" (and doesn\'t have default value)\n'
        '  .spec.ports: duplicate entries for key [port=80,protocol="TCP"]'
    )


# --------------------------------------------------------------------------- updates


def _cm(data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", **meta},
        "data": data,
    }


def test_client_side_apply_of_a_configmap_then_an_edit() -> None:
    created = _cm({"a": "1", "b": "2"}, annotations={LAST_APPLIED: "{}\n"})
    created["metadata"]["managedFields"] = record_update(
        None, created, manager="kubectl-client-side-apply", api_version="v1", list_keys=CM, now=T0
    )
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {".": {}, "f:a": {}, "f:b": {}},
                "f:metadata": {
                    "f:annotations": {
                        ".": {},
                        "f:kubectl.kubernetes.io/last-applied-configuration": {},
                    }
                },
            },
        }
    ]
    edited = strategic_merge_patch(created, {"data": {"a": "9", "b": None, "c": "3"}}, "ConfigMap")
    mf = record_update(
        created, edited, manager="kubectl-edit", api_version="v1", list_keys=CM, now=T1
    )
    by = {e["manager"]: e["fieldsV1"] for e in mf}
    assert by["kubectl-edit"] == {"f:data": {"f:a": {}, "f:c": {}}}
    assert by["kubectl-client-side-apply"]["f:data"] == {}  # still owns the map itself
    assert [e["manager"] for e in mf] == ["kubectl-client-side-apply", "kubectl-edit"]


def test_update_that_changes_nothing_keeps_entries() -> None:
    obj = _cm({"a": "1"})
    obj["metadata"]["managedFields"] = record_update(
        None, obj, manager="m1", api_version="v1", list_keys=CM, now=T0
    )
    assert (
        record_update(obj, copy.deepcopy(obj), manager="m2", api_version="v1", list_keys=CM, now=T1)
        == (obj["metadata"]["managedFields"])
    )


def test_entries_emptied_by_an_update_are_dropped() -> None:
    obj = _cm({"a": "1"})
    obj["metadata"]["managedFields"] = record_update(
        None, obj, manager="m1", api_version="v1", list_keys=CM, now=T0
    )
    new = _cm({"a": "2"})
    mf = record_update(obj, new, manager="m2", api_version="v1", list_keys=CM, now=T1)
    assert [e["manager"] for e in mf] == ["m1", "m2"]  # m1 still owns .data itself
    newer = copy.deepcopy(new)
    newer["metadata"]["managedFields"] = mf
    newest = _cm({})
    del newest["data"]
    mf2 = record_update(newer, newest, manager="m3", api_version="v1", list_keys=CM, now=T2)
    assert mf2 == []


def test_status_writes_carry_the_subresource() -> None:
    old = apply(
        None, ksvc(), manager="alice", force=False, api_version=SERVING, list_keys=KSVC, now=T0
    )
    new = copy.deepcopy(old)
    new["status"] = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}
    mf = record_update(
        old,
        new,
        manager="controller",
        api_version=SERVING,
        list_keys=KSVC,
        now=T1,
        subresource="status",
    )
    entry = next(e for e in mf if e["manager"] == "controller")
    assert entry["subresource"] == "status"
    assert entry["operation"] == "Update"
    assert entry["fieldsV1"] == {
        "f:status": {".": {}, "f:conditions": {}, "f:observedGeneration": {}}
    }
    assert [e["operation"] for e in mf] == ["Apply", "Update"]


def test_update_managers_are_capped_at_ten() -> None:
    obj = _cm({})
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        obj["metadata"]["managedFields"] = record_update(
            obj,
            new,
            manager=f"m{i:02d}",
            api_version="v1",
            list_keys=CM,
            now=f"2024-05-01T12:00:{i:02d}Z",
        )
        obj = new | {
            "metadata": {**new["metadata"], "managedFields": obj["metadata"]["managedFields"]}
        }
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10
    assert "ancient-changes" in names
    assert "m00" not in names and "m11" in names


def test_managed_fields_sent_in_an_update_replace_the_stored_ones() -> None:
    obj = _cm({"a": "1"})
    obj["metadata"]["managedFields"] = record_update(
        None, obj, manager="m1", api_version="v1", list_keys=CM, now=T0
    )
    new = copy.deepcopy(obj)
    new["metadata"]["managedFields"] = [{}]  # the documented way to reset them
    assert record_update(obj, new, manager="m2", api_version="v1", list_keys=CM, now=T1) == []


# --------------------------------------------------------------------------- default manager


@pytest.mark.parametrize(
    ("agent", "manager"),
    [
        ("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9", "kubectl"),
        ("OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
        ("kubectl-edit", "kubectl-edit"),
        ("a\tb\x00c/1", "abc"),
        ("é" * 100, "é" * 64),
        ("", ""),
    ],
)
def test_default_manager(agent: str, manager: str) -> None:
    assert default_manager(agent) == manager


# --------------------------------------------------------------------------- properties

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, width=16)
    | st.text(max_size=3)
)
_keys = st.sampled_from(
    [
        "spec",
        "metadata",
        "template",
        "containers",
        "name",
        "image",
        "ports",
        "port",
        "protocol",
        "containerPort",
        "labels",
        "traffic",
        "status",
        "finalizers",
        "env",
        "x",
    ]
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=16,
)
_objects = st.dictionaries(_keys, _json, max_size=4)
_schemas = st.sampled_from([KSVC, DEPLOY, SVC, CM, None])


@settings(max_examples=200, deadline=None)
@given(_json, _schemas)
def test_fields_of_never_crashes_and_round_trips(obj: Any, schema: Schema | None) -> None:
    fs = fields_of(obj, schema)
    assert FieldSet.from_json(json.loads(json.dumps(fs.to_json()))) == fs


@settings(max_examples=200, deadline=None)
@given(_objects, _objects, _objects, _schemas, st.booleans())
def test_apply_and_record_update_never_crash(
    live: dict[str, Any],
    first: dict[str, Any],
    second: dict[str, Any],
    schema: Schema | None,
    force: bool,
) -> None:
    version = "v1"
    for cfg in (first, second):
        cfg["apiVersion"] = version
        cfg.setdefault("metadata", {})
    snapshot = copy.deepcopy((live, first, second))
    try:
        a = apply(
            None, first, manager="a", force=force, api_version=version, list_keys=schema, now=T0
        )
        b = apply(
            a, second, manager="b", force=force, api_version=version, list_keys=schema, now=T1
        )
    except ApplyError:
        pass
    else:
        assert isinstance(b["metadata"]["managedFields"], list)
    assert isinstance(
        record_update(live, first, manager="u", api_version=version, list_keys=schema, now=T2), list
    )
    assert isinstance(
        record_update(None, second, manager="u", api_version=version, list_keys=schema, now=T2),
        list,
    )
    assert (live, first, second) == snapshot
