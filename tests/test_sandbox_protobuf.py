"""Kubernetes protobuf request bodies: the decoder, and the real kubectl's typed generators.

The unit tests build bodies with a tiny encoder written here (and use bytes the real
kubectl 1.33 sent, as golden inputs); the end-to-end tests run ``kubectl create ...``
against a sandbox, check what it prints and what got stored, and check that kubectl's own
protobuf bytes decode to exactly the JSON kubectl prints for ``--dry-run=client -o json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import ssl
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kn_walk.sandbox.apiserver import protobuf
from kn_walk.sandbox.apiserver.protobuf import MAGIC, ProtobufError, UnsupportedKind, decode
from tests.conftest import Sandbox

KUBECTL = "/usr/bin/kubectl"


def needs_kubectl(fn: Any) -> Any:
    """Marks an end-to-end test that drives the real kubectl binary."""
    skip = pytest.mark.skipif(not os.path.exists(KUBECTL), reason=f"{KUBECTL} is not installed")
    return pytest.mark.kubectl(skip(fn))


# --- a tiny encoder ----------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def key(num: int, wire: int) -> bytes:
    return varint(num << 3 | wire)


def vint(num: int, n: int) -> bytes:
    """A varint field (ints, bools; negative ints as 10-byte two's complement, like Go)."""
    return key(num, 0) + varint(n)


def ld(num: int, data: bytes | str) -> bytes:
    """A length-delimited field (strings, bytes, messages)."""
    raw = data.encode() if isinstance(data, str) else data
    return key(num, 2) + varint(len(raw)) + raw


def msg(num: int, *parts: bytes) -> bytes:
    return ld(num, b"".join(parts))


def entry(num: int, k: str, v: bytes | str) -> bytes:
    """One map entry: {key=1, value=2}."""
    return msg(num, ld(1, k), ld(2, v))


def envelope(api_version: str, kind: str, raw: bytes, *extra: bytes) -> bytes:
    """MAGIC + runtime.Unknown{typeMeta{apiVersion, kind}, raw, ...}."""
    return MAGIC + msg(1, ld(1, api_version), ld(2, kind)) + ld(2, raw) + b"".join(extra)


def meta(
    name: str, *extra: bytes, generation: int = 0, created: bytes = msg(8), first: bytes = b""
) -> bytes:
    """ObjectMeta as Go writes it: every non-pointer field present, most of them empty."""
    return msg(
        1,
        first,
        ld(1, name),
        ld(2, ""),
        ld(3, ""),
        ld(4, ""),
        ld(5, ""),
        ld(6, ""),
        vint(7, generation),
        created,
        *extra,
    )


def time_(num: int, seconds: int, nanos: int = 0) -> bytes:
    return msg(num, vint(1, seconds), vint(2, nanos))


def int_or_string(num: int, value: int | str) -> bytes:
    if isinstance(value, int):
        return msg(num, vint(1, 0), vint(2, value), ld(3, ""))
    return msg(num, vint(1, 1), vint(2, 0), ld(3, value))


# --- golden bodies: what kubectl 1.33 sent (captured with -v=10) -------------------------

# kubectl create namespace golden
GOLDEN_NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121e0a160a06676f6c64656e12001a0022002a0032"
    "003800420012001a020a001a002200"
)
# kubectl create service clusterip web --tcp=80:8080 -n pbx
GOLDEN_SERVICE = bytes.fromhex(
    "6b3873000a0d0a027631120753657276696365126c0a220a0377656212001a0370627822002a00320038"
    "0042005a0a0a03617070120377656212420a1b0a0738302d38303830120354435018502207080010903f"
    "1a002800120a0a0361707012037765621a002209436c757374657249503a00420052005a006000680"
    "01a020a001a002200"
)
# kubectl create deployment web --image=nginx:1.25 -n pbx
GOLDEN_DEPLOYMENT = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b3010a220a0377656212001a0370"
    "627822002a003200380042005a0a0a036170701203776562127f0801120c0a0a0a036170701203776562"
    "1a650a1c0a0012001a0022002a003200380042005a0a0a036170701203776562124512270a056e67696e"
    "78120a6e67696e783a312e32352a0042006a007200800100880100900100a201001a0032004200"
    "4a0052005800600068008201008a01009a0100c2010022020a00280038001a0c08001000180020002800"
    "38001a002200"
)


def test_golden_namespace() -> None:
    assert decode(GOLDEN_NAMESPACE) == {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": "golden"},
        "spec": {},
        "status": {},
    }


def test_golden_service() -> None:
    assert decode(GOLDEN_SERVICE) == {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "pbx", "labels": {"app": "web"}},
        "spec": {
            "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
            "selector": {"app": "web"},
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    }


def test_golden_deployment() -> None:
    labels = {"app": "web"}
    assert decode(GOLDEN_DEPLOYMENT) == {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": "web", "namespace": "pbx", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "resources": {}}]},
            },
            "strategy": {},
        },
        "status": {},
    }


# --- decoding, kind by kind --------------------------------------------------------------


def test_object_meta_fields() -> None:
    owner = msg(
        13,
        ld(5, "apps/v1"),
        ld(1, "Deployment"),
        ld(3, "web"),
        ld(4, "u-1"),
        vint(6, 1),
        vint(7, 0),
    )
    raw = meta(
        "cm",
        entry(11, "app", "web"),
        entry(11, "tier", ""),
        entry(12, "note", "hello world"),
        owner,
        ld(14, "example.com/a"),
        ld(14, "example.com/b"),
        time_(9, 1_700_000_000, 123),
        vint(10, 0),
        generation=3,
        created=time_(8, 0),
    )
    obj = decode(envelope("v1", "ConfigMap", raw))
    assert obj["metadata"] == {
        "name": "cm",
        "generation": 3,
        "creationTimestamp": "1970-01-01T00:00:00Z",
        "deletionTimestamp": "2023-11-14T22:13:20Z",
        "deletionGracePeriodSeconds": 0,
        "labels": {"app": "web", "tier": ""},
        "annotations": {"note": "hello world"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "uid": "u-1",
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ],
        "finalizers": ["example.com/a", "example.com/b"],
    }


def test_go_zero_time_is_omitted() -> None:
    raw = meta("x", created=time_(8, -62135596800))
    assert decode(envelope("v1", "Namespace", raw))["metadata"] == {"name": "x"}


def test_managed_fields() -> None:
    fields = b'{"f:data":{"f:a":{}}}'
    mf = msg(
        17, ld(1, "kubectl"), ld(2, "Update"), ld(3, "v1"), ld(6, "FieldsV1"), msg(7, ld(1, fields))
    )
    obj = decode(envelope("v1", "ConfigMap", meta("x", mf)))
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }
    ]


def test_configmap() -> None:
    raw = (
        meta("settings") + entry(2, "a", "1") + entry(2, "empty", "") + entry(3, "bin", b"\x00\xff")
    )
    assert decode(envelope("v1", "ConfigMap", raw + vint(4, 0))) == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "settings"},
        "data": {"a": "1", "empty": ""},
        "binaryData": {"bin": "AP8="},
        "immutable": False,
    }


def test_secret() -> None:
    raw = (
        meta("creds")
        + entry(2, "password", b"s3cr\xe9t")
        + entry(4, "user", "admin")
        + ld(3, "Opaque")
        + vint(5, 1)
    )
    assert decode(envelope("v1", "Secret", raw)) == {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {"name": "creds"},
        "data": {"password": "czNjcul0"},
        "stringData": {"user": "admin"},
        "type": "Opaque",
        "immutable": True,
    }


def test_secret_empty_type_is_omitted() -> None:
    assert "type" not in decode(envelope("v1", "Secret", meta("s") + ld(3, "")))


def test_service_account() -> None:
    raw = meta("robot") + msg(2, ld(3, "token"), ld(1, "")) + msg(3, ld(1, "pull")) + vint(4, 0)
    assert decode(envelope("v1", "ServiceAccount", raw)) == {
        "kind": "ServiceAccount",
        "apiVersion": "v1",
        "metadata": {"name": "robot"},
        "secrets": [{"name": "token"}],
        "imagePullSecrets": [{"name": "pull"}],
        "automountServiceAccountToken": False,
    }


def test_service_ports_and_int_or_string() -> None:
    port_named = msg(
        1, ld(1, "http"), ld(2, "TCP"), vint(3, 80), int_or_string(4, "web"), vint(5, 0)
    )
    port_number = msg(
        1, ld(1, ""), ld(2, "UDP"), vint(3, 53), int_or_string(4, 5353), vint(5, 30053)
    )
    spec = msg(
        2,
        port_named,
        port_number,
        entry(2, "app", "web"),
        ld(3, "None"),
        ld(18, "None"),
        ld(4, "NodePort"),
        ld(17, "SingleStack"),
        ld(19, "IPv4"),
        ld(6, "ignored-unknown-field-number"),
        msg(14, msg(1, vint(1, 600))),
    )
    obj = decode(envelope("v1", "Service", meta("web") + spec))
    assert obj["spec"] == {
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web"},
            {"protocol": "UDP", "port": 53, "targetPort": 5353, "nodePort": 30053},
        ],
        "selector": {"app": "web"},
        "clusterIP": "None",
        "clusterIPs": ["None"],
        "type": "NodePort",
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
    }


def test_deployment_pod_template() -> None:
    container = msg(
        2,
        ld(1, "app"),
        ld(2, "ghcr.io/x/app:1"),
        ld(3, "/bin/app"),
        ld(4, "--port"),
        ld(4, "8080"),
        msg(6, ld(1, "http"), vint(3, 8080), ld(4, "TCP")),
        msg(7, ld(1, "TARGET"), ld(2, "world")),
        msg(7, ld(1, "POD"), msg(3, msg(1, ld(2, "metadata.name")))),
        msg(7, ld(1, "KEY"), msg(3, msg(4, msg(1, ld(1, "creds")), ld(2, "password"), vint(3, 1)))),
        msg(19, ld(1, "CFG_"), msg(2, msg(1, ld(1, "settings")))),
        msg(
            8,
            msg(1, ld(1, "cpu"), msg(2, ld(1, "500m"))),
            msg(2, ld(1, "memory"), msg(2, ld(1, "64Mi"))),
        ),
        msg(9, ld(1, "cfg"), vint(2, 1), ld(3, "/etc/cfg")),
        msg(11, msg(1, msg(2, ld(1, "/healthz"), int_or_string(2, 8080))), vint(4, 5)),
        msg(10, msg(1, msg(1, ld(1, "true"))), vint(2, 0)),
        ld(14, "IfNotPresent"),
        msg(15, vint(5, 1), vint(4, 1000), msg(1, ld(2, "ALL"))),
        vint(16, 0),
    )
    volume = msg(1, ld(1, "cfg"), msg(2, msg(19, msg(1, ld(1, "settings")), vint(3, 420))))
    pod = msg(
        2,
        volume,
        container,
        ld(3, "Always"),
        vint(4, 30),
        entry(7, "disk", "ssd"),
        ld(8, "robot"),
        msg(22, ld(1, "k"), ld(2, "Exists"), ld(4, "NoSchedule")),
        vint(30, 0),
    )
    template = msg(3, msg(1, ld(1, ""), entry(11, "app", "web")), pod)
    strategy = msg(4, ld(1, "RollingUpdate"), msg(2, int_or_string(1, 0), int_or_string(2, "25%")))
    spec = msg(
        2,
        vint(1, 0),
        msg(2, entry(1, "app", "web"), msg(2, ld(1, "tier"), ld(2, "In"), ld(3, "fe"))),
        template,
        strategy,
        vint(5, 0),
        vint(6, 10),
        vint(9, 600),
    )
    status = msg(
        3, vint(1, 2), vint(2, 1), msg(6, ld(1, "Available"), ld(2, "True"), time_(7, 86400))
    )
    obj = decode(envelope("apps/v1", "Deployment", meta("web") + spec + status))
    assert obj["spec"] == {
        "replicas": 0,
        "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}],
        },
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}],
                "containers": [
                    {
                        "name": "app",
                        "image": "ghcr.io/x/app:1",
                        "command": ["/bin/app"],
                        "args": ["--port", "8080"],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "env": [
                            {"name": "TARGET", "value": "world"},
                            {
                                "name": "POD",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            },
                            {
                                "name": "KEY",
                                "valueFrom": {
                                    "secretKeyRef": {
                                        "name": "creds",
                                        "key": "password",
                                        "optional": True,
                                    }
                                },
                            },
                        ],
                        "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "settings"}}],
                        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
                        "volumeMounts": [
                            {"name": "cfg", "readOnly": True, "mountPath": "/etc/cfg"}
                        ],
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": 8080},
                            "periodSeconds": 5,
                        },
                        "livenessProbe": {"exec": {"command": ["true"]}},
                        "imagePullPolicy": "IfNotPresent",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 1000,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "nodeSelector": {"disk": "ssd"},
                "serviceAccountName": "robot",
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "enableServiceLinks": False,
            },
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    assert obj["status"] == {
        "observedGeneration": 2,
        "replicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": "1970-01-02T00:00:00Z"}
        ],
    }


@pytest.mark.parametrize("api_version", ["v1", "meta.k8s.io/v1", "apps/v1"])
def test_delete_options_in_any_group_version(api_version: str) -> None:
    raw = vint(1, 0) + msg(2, ld(1, "u-1")) + ld(4, "Foreground") + ld(5, "All")
    assert decode(envelope(api_version, "DeleteOptions", raw)) == {
        "kind": "DeleteOptions",
        "apiVersion": api_version,
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u-1"},
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }


def test_negative_and_packed_integers() -> None:
    pod = msg(2, msg(14, vint(2, -1), ld(4, varint(5) + varint(2**40))), vint(25, -7))
    template = msg(3, msg(1), pod)
    obj = decode(envelope("apps/v1", "Deployment", msg(2, template)))
    assert obj["spec"]["template"]["spec"] == {
        "securityContext": {"runAsUser": -1, "supplementalGroups": [5, 2**40]},
        "priority": -7,
    }


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (
        vint(99, 12345)
        + key(98, 1)
        + b"\x01" * 8
        + key(97, 5)
        + b"\x02" * 4
        + ld(96, b"\xff\xfe")
        + key(95, 3)
        + vint(1, 1)
        + key(94, 3)
        + key(94, 4)
        + key(95, 4)
    )
    raw = meta("x", unknown) + unknown + entry(2, "a", "b")
    body = envelope("v1", "ConfigMap", raw, ld(7, "future envelope field"))
    assert decode(body) == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "x"},
        "data": {"a": "b"},
    }


def test_last_value_of_a_repeated_scalar_field_wins() -> None:
    raw = meta("x", first=ld(1, "first"))
    assert decode(envelope("v1", "Namespace", raw))["metadata"] == {"name": "x"}


def test_invalid_utf8_in_strings_is_replaced_like_go_json() -> None:
    obj = decode(envelope("v1", "ConfigMap", meta("x") + entry(2, "k", b"a\xffb")))
    assert obj["data"] == {"k": "a\ufffdb"}


def test_schema_names_are_unique_per_message() -> None:
    for name, fields in protobuf.SCHEMA.items():
        names = [f.name for f in fields.values()]
        assert len(names) == len(set(names)), name


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("v1", "Pod"), ("serving.knative.dev/v1", "Service"), ("apps/v2", "Deployment")],
)
def test_unmodelled_kind(api_version: str, kind: str) -> None:
    with pytest.raises(UnsupportedKind) as err:
        decode(envelope(api_version, kind, b""))
    assert err.value.kind == kind and err.value.api_version == api_version


MALFORMED = {
    "no magic": b'{"kind": "Namespace"}',
    "magic only": MAGIC,
    "truncated varint": MAGIC + b"\x0a\x80",
    "length past the end": MAGIC + b"\x0a\x05ab",
    "field number zero": MAGIC + b"\x00\x01",
    "wire type 6": MAGIC + b"\x0e",
    "end group without start": MAGIC + b"\x0c",
    "unterminated group": MAGIC + b"\x0b\x08\x01",
    "varint longer than 10 bytes": MAGIC + b"\x08" + b"\xff" * 11 + b"\x01",
    "typeMeta as a varint": MAGIC + vint(1, 3),
    "kind missing": MAGIC + msg(1, ld(1, "v1")),
    "gzip content encoding": envelope("v1", "Namespace", b"", ld(3, "gzip")),
    "json content type": envelope("v1", "Namespace", b"", ld(4, "application/json")),
    "name as a varint": envelope("v1", "Namespace", msg(1, vint(1, 5))),
    "generation as a string": envelope("v1", "Namespace", msg(1, ld(7, "x"))),
    "labels as a varint": envelope("v1", "Namespace", msg(1, vint(11, 1))),
    "truncated raw": envelope("v1", "Namespace", meta("x"))[:-3],
    "bad IntOrString type": envelope(
        "v1", "Service", msg(2, msg(1, msg(4, vint(1, 7), vint(2, 1))))
    ),
    "time out of range": envelope("v1", "Namespace", msg(1, time_(8, 10**15))),
    "fieldsV1 not JSON": envelope("v1", "ConfigMap", msg(1, msg(17, msg(7, ld(1, "{"))))),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ProtobufError) as err:
        decode(body)
    assert not isinstance(err.value, UnsupportedKind)
    assert str(err.value)


def test_errors_in_an_object_name_the_kind() -> None:
    with pytest.raises(
        ProtobufError,
        match=r'^Namespace in version "v1" cannot be handled as a Namespace: wrong wire type 0 for field ObjectMeta.name$',
    ):
        decode(MALFORMED["name as a varint"])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_after_the_magic_raise_only_protobuf_errors(data: bytes) -> None:
    with contextlib.suppress(ProtobufError):
        decode(MAGIC + data)


KIND_ENVELOPES = [
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("v1", "DeleteOptions"),
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KIND_ENVELOPES), st.binary(max_size=300))
def test_random_objects_raise_only_protobuf_errors(gvk: tuple[str, str], raw: bytes) -> None:
    try:
        obj = decode(envelope(*gvk, raw))
    except ProtobufError:
        return
    json.dumps(obj)  # whatever decodes is plain JSON


@settings(max_examples=400)
@given(
    st.sampled_from([GOLDEN_NAMESPACE, GOLDEN_SERVICE, GOLDEN_DEPLOYMENT]),
    st.integers(min_value=4, max_value=10_000),
    st.integers(min_value=0, max_value=255),
    st.booleans(),
)
def test_mutated_kubectl_bodies_raise_only_protobuf_errors(
    body: bytes, at: int, byte: int, truncate: bool
) -> None:
    at %= len(body)
    mutated = body[:at] if truncate else body[:at] + bytes([byte]) + body[at + 1 :]
    try:
        obj = decode(mutated)
    except ProtobufError:
        return
    json.dumps(obj)


# --- end to end: the real kubectl against a sandbox --------------------------------------


def kubectl(sb: Sandbox, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = sb.env()
    env["KUBECACHEDIR"] = str(cache)
    return subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def ok(sb: Sandbox, cache: Path, *args: str) -> str:
    p = kubectl(sb, cache, *args)
    assert p.returncode == 0, f"kubectl {' '.join(args)} failed:\n{p.stderr}"
    return p.stdout


def get(sb: Sandbox, cache: Path, *args: str) -> Any:
    return json.loads(ok(sb, cache, "get", *args, "-o", "json"))


@pytest.fixture
def ns(sandbox: Sandbox, tmp_path: Path) -> str:
    """A namespace made by ``kubectl create namespace``: protobuf, like the rest."""
    name = "pb-" + uuid.uuid4().hex[:8]
    assert ok(sandbox, tmp_path, "create", "namespace", name) == f"namespace/{name} created\n"
    return name


@needs_kubectl
def test_kubectl_create_namespace(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    obj = get(sandbox, tmp_path, "namespace", ns)
    assert obj["kind"] == "Namespace" and obj["metadata"]["name"] == ns
    assert obj["metadata"]["uid"] and obj["metadata"]["creationTimestamp"]


@needs_kubectl
def test_kubectl_create_configmap(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\x01\xfe\xff")
    out = ok(
        sandbox,
        tmp_path,
        "create",
        "configmap",
        "settings",
        "-n",
        ns,
        "--from-literal=a=b",
        "--from-literal=empty=",
        f"--from-file=blob={blob}",
    )
    assert out == "configmap/settings created\n"
    obj = get(sandbox, tmp_path, "configmap", "settings", "-n", ns)
    assert obj["data"] == {"a": "b", "empty": ""}
    assert obj["binaryData"] == {"blob": "AAH+/w=="}


@needs_kubectl
def test_kubectl_create_secret_generic(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    out = ok(
        sandbox,
        tmp_path,
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        ns,
        "--from-literal=user=admin",
        "--from-literal=password=s3cr=t",
    )
    assert out == "secret/creds created\n"
    obj = get(sandbox, tmp_path, "secret", "creds", "-n", ns)
    assert obj.get("type", "Opaque") == "Opaque"  # kubectl leaves it to the server default
    assert obj["data"] == {"user": "YWRtaW4=", "password": "czNjcj10"}


@needs_kubectl
def test_kubectl_create_secret_docker_registry(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    out = ok(
        sandbox,
        tmp_path,
        "create",
        "secret",
        "docker-registry",
        "pull",
        "-n",
        ns,
        "--docker-server=registry.example.com",
        "--docker-username=u",
        "--docker-password=p",
    )
    assert out == "secret/pull created\n"
    obj = get(sandbox, tmp_path, "secret", "pull", "-n", ns)
    assert obj["type"] == "kubernetes.io/dockerconfigjson"
    assert list(obj["data"]) == [".dockerconfigjson"]


@needs_kubectl
def test_kubectl_create_serviceaccount(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    out = ok(sandbox, tmp_path, "create", "serviceaccount", "robot", "-n", ns)
    assert out == "serviceaccount/robot created\n"
    obj = get(sandbox, tmp_path, "serviceaccount", "robot", "-n", ns)
    assert obj["kind"] == "ServiceAccount" and obj["metadata"]["namespace"] == ns


@needs_kubectl
def test_kubectl_create_deployment(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    out = ok(
        sandbox,
        tmp_path,
        "create",
        "deployment",
        "web",
        "-n",
        ns,
        "--image=nginx:1.25",
        "--replicas=0",
        "--port=80",
        "--",
        "/bin/sh",
        "-c",
        "echo hi",
    )
    assert out == "deployment.apps/web created\n"
    obj = get(sandbox, tmp_path, "deployment", "web", "-n", ns)
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "nginx" and container["image"] == "nginx:1.25"
    assert container["command"] == ["/bin/sh", "-c", "echo hi"]
    assert container["ports"][0]["containerPort"] == 80


@needs_kubectl
def test_kubectl_create_service_clusterip(sandbox: Sandbox, tmp_path: Path, ns: str) -> None:
    out = ok(sandbox, tmp_path, "create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080")
    assert out == "service/web created\n"
    obj = get(sandbox, tmp_path, "service", "web", "-n", ns)
    assert obj["spec"]["type"] == "ClusterIP"
    assert obj["spec"]["selector"] == {"app": "web"}
    (port,) = obj["spec"]["ports"]
    assert port["name"] == "80-8080" and port["port"] == 80 and port["targetPort"] == 8080
    assert port["protocol"] == "TCP"


@needs_kubectl
def test_kubectl_create_service_nodeport_named_target(
    sandbox: Sandbox, tmp_path: Path, ns: str
) -> None:
    out = ok(sandbox, tmp_path, "create", "service", "nodeport", "np", "-n", ns, "--tcp=8080:http")
    assert out == "service/np created\n"
    (port,) = get(sandbox, tmp_path, "service", "np", "-n", ns)["spec"]["ports"]
    assert port["port"] == 8080 and port["targetPort"] == "http"


def _request_body(stderr: str) -> bytes:
    """The request body kubectl logged at -v=10, from its hex dump."""
    start = stderr.index('"Request Body"')
    end = stderr.index("\n >", start)
    hexes = re.findall(r"^\s+[0-9a-f]{8}\s+((?:[0-9a-f]{2}\s+)+)\|", stderr[start:end], re.M)
    return bytes.fromhex("".join(hexes))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


GENERATORS = {
    "namespace": ["create", "namespace", "NAME"],
    "configmap": ["create", "configmap", "NAME", "--from-literal=a=b", "--from-literal=c="],
    "secret": ["create", "secret", "generic", "NAME", "--from-literal=k=v", "--type=x/y"],
    "serviceaccount": ["create", "serviceaccount", "NAME"],
    "deployment": [
        "create",
        "deployment",
        "NAME",
        "--image=nginx:1.25",
        "--image=busybox",
        "--replicas=3",
        "--port=8080",
    ],
    "service": ["create", "service", "clusterip", "NAME", "--tcp=80:8080", "--tcp=443:https"],
    "headless": ["create", "service", "clusterip", "NAME", "--clusterip=None"],
    "externalname": ["create", "service", "externalname", "NAME", "--external-name=a.example"],
}


@needs_kubectl
@pytest.mark.parametrize("generator", GENERATORS)
def test_kubectl_protobuf_decodes_to_kubectl_json(
    sandbox: Sandbox, tmp_path: Path, ns: str, generator: str
) -> None:
    """kubectl's own protobuf bytes decode to the JSON it prints for --dry-run=client."""
    name = "gen-" + uuid.uuid4().hex[:6]
    args = [name if a == "NAME" else a for a in GENERATORS[generator]]
    scope = [] if generator == "namespace" else ["-n", ns]
    expected = json.loads(ok(sandbox, tmp_path, *args, *scope, "--dry-run=client", "-o", "json"))
    p = kubectl(sandbox, tmp_path, *args, *scope, "--dry-run=server", "-v=10")
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith("created (server dry run)\n")
    body = _request_body(p.stderr)
    assert body.startswith(MAGIC)
    assert decode(body) == _drop_nulls(expected)


def _http(sb: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.api,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=10,
        verify=ssl.create_default_context(cafile=sb.ca),
    )


PB = {"Content-Type": protobuf.CONTENT_TYPE, "Accept": "application/json"}


def test_http_malformed_protobuf_is_a_bad_request(sandbox: Sandbox, namespace: str) -> None:
    ns = namespace
    with _http(sandbox) as h:
        r = h.post(f"/api/v1/namespaces/{ns}/configmaps", content=MAGIC + b"\x0a\x05ab", headers=PB)
    assert r.status_code == 400
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == "BadRequest"
    assert "not a valid Kubernetes protobuf" in body["message"]


def test_http_unmodelled_kind_is_unsupported_media_type(sandbox: Sandbox, namespace: str) -> None:
    ns = namespace
    raw = meta("hello")
    with _http(sandbox) as h:
        r = h.post(
            f"/apis/serving.knative.dev/v1/namespaces/{ns}/services",
            content=envelope("serving.knative.dev/v1", "Service", raw),
            headers=PB,
        )
    assert r.status_code == 415
    body = r.json()
    assert body["reason"] == "UnsupportedMediaType"
    assert body["message"].startswith("the body of the request was in an unknown format")


def test_http_protobuf_create_and_delete_options(sandbox: Sandbox, namespace: str) -> None:
    ns = namespace
    cm = envelope("v1", "ConfigMap", meta("doomed") + entry(2, "a", "b"))
    with _http(sandbox) as h:
        r = h.post(f"/api/v1/namespaces/{ns}/configmaps", content=cm, headers=PB)
        assert r.status_code == 201, r.text
        assert r.json()["data"] == {"a": "b"}
        uid = r.json()["metadata"]["uid"]
        wrong = envelope("v1", "DeleteOptions", msg(2, ld(1, "not-" + uid)))
        r = h.request(
            "DELETE", f"/api/v1/namespaces/{ns}/configmaps/doomed", content=wrong, headers=PB
        )
        assert r.status_code == 409, r.text
        right = envelope("v1", "DeleteOptions", vint(1, 0) + msg(2, ld(1, uid)))
        r = h.request(
            "DELETE", f"/api/v1/namespaces/{ns}/configmaps/doomed", content=right, headers=PB
        )
        assert r.status_code == 200, r.text
        assert h.get(f"/api/v1/namespaces/{ns}/configmaps/doomed").status_code == 404
