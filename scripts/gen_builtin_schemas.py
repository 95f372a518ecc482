#!/usr/bin/env python3
"""Write kn_walk/sandbox/data/builtin_schemas.json from Kubernetes' published definitions.

    .venv/bin/python scripts/gen_builtin_schemas.py          # rewrite the data file
    .venv/bin/python scripts/gen_builtin_schemas.py --check  # exit 1 if it is stale

Source: the ``_definitions.json`` that the PyPI package ``kubernetes-validate``
(a dev dependency) ships for the Kubernetes version the sandbox reports at
``/version`` (:data:`kn_walk.sandbox.apiserver.api.KUBE_VERSION`). That file is kube-apiserver's
Swagger definitions rewritten as JSON Schema 2020-12; this script turns it back
into the OpenAPI form kube-apiserver publishes and keeps only what the sandbox
serves:

* ``"type": ["string", "null"]`` → ``"type": "string"``;
* ``"$ref": "#/$defs/N"`` → ``"#/components/schemas/N"``, wrapped in a one-element
  ``allOf`` where a description (or another keyword) stands beside it;
* the ``enum`` injected into every kind's ``apiVersion`` and ``kind`` is dropped;
* IntOrString and Quantity, rewritten as ``oneOf`` of a string and a number, are
  again ``{"type": "string"}`` (IntOrString with ``"format": "int-or-string"``);
* descriptions, ``required``, ``format`` and every ``x-kubernetes-*`` marker stay.

The JSON Schema form lacks two things a running kube-apiserver publishes:
:data:`KEY_DEFAULTS` puts back the ``+default`` markers of k8s.io/api on the keys
of associative lists, which server-side apply needs to key items that omit them,
and :data:`ENUMS` the ``enum`` of the ``+enum`` fields the sandbox validates.

Only the closure of the definitions the sandbox needs is written: the built-in
kinds of :data:`kn_walk.sandbox.machinery.resourcetypes.BUILTIN_TYPES`, their List kinds, the
reviews of :data:`kn_walk.sandbox.machinery.resourcetypes.REVIEW_TYPES` (never listed, so without
one), and the meta/v1 types its OpenAPI documents name (:data:`META_TYPES`).
``tests/test_builtin_schemas.py`` fails when the data file differs from what this
script writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kn_walk.sandbox.apiserver.api import KUBE_VERSION  # noqa: E402
from kn_walk.sandbox.machinery.resourcetypes import BUILTIN_TYPES, REVIEW_TYPES  # noqa: E402

#: the release whose definitions are used: the one ``/version`` reports
KUBERNETES_VERSION = f"v{KUBE_VERSION['major']}.{KUBE_VERSION['minor']}.0"

OUTPUT = ROOT / "kn_walk" / "sandbox" / "data" / "builtin_schemas.json"
REF_PREFIX = "#/components/schemas/"
_SOURCE_PREFIX = "#/$defs/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."

#: meta/v1 types the OpenAPI documents name whatever kinds are served.
META_TYPES = tuple(
    _META + name
    for name in ("ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch", "WatchEvent")
)

#: ``+default`` markers of k8s.io/api on associative-list keys (core/v1 types.go:
#: ``ContainerPort.Protocol`` and ``ServicePort.Protocol`` carry ``+default="TCP"``).
KEY_DEFAULTS: Mapping[tuple[str, str], Any] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
}

#: ``enum`` of ``+enum`` fields that the sandbox validates. A running kube-apiserver
#: publishes them (the OpenAPIEnums feature, on by default); the checked-in swagger
#: that kubernetes-validate converts was written without them.
ENUMS: Mapping[tuple[str, str], list[str]] = {
    ("io.k8s.api.apps.v1.DeploymentStrategy", "type"): ["Recreate", "RollingUpdate"],
    ("io.k8s.api.core.v1.Container", "imagePullPolicy"): ["Always", "IfNotPresent", "Never"],
    ("io.k8s.api.core.v1.Container", "terminationMessagePolicy"): ["FallbackToLogsOnError", "File"],
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): ["SCTP", "TCP", "UDP"],
    ("io.k8s.api.core.v1.HTTPGetAction", "scheme"): ["HTTP", "HTTPS"],
    ("io.k8s.api.core.v1.NamespaceStatus", "phase"): ["Active", "Terminating"],
    ("io.k8s.api.core.v1.PodSpec", "restartPolicy"): ["Always", "Never", "OnFailure"],
    ("io.k8s.api.core.v1.SeccompProfile", "type"): ["Localhost", "RuntimeDefault", "Unconfined"],
    ("io.k8s.api.core.v1.ServicePort", "protocol"): ["SCTP", "TCP", "UDP"],
    ("io.k8s.api.core.v1.ServiceSpec", "externalTrafficPolicy"): ["Cluster", "Local"],
    ("io.k8s.api.core.v1.ServiceSpec", "internalTrafficPolicy"): ["Cluster", "Local"],
    ("io.k8s.api.core.v1.ServiceSpec", "ipFamilyPolicy"): [
        "PreferDualStack",
        "RequireDualStack",
        "SingleStack",
    ],
    ("io.k8s.api.core.v1.ServiceSpec", "sessionAffinity"): ["ClientIP", "None"],
    ("io.k8s.api.core.v1.ServiceSpec", "type"): [
        "ClusterIP",
        "ExternalName",
        "LoadBalancer",
        "NodePort",
    ],
}

#: the published forms of the two types the JSON Schema rewrites as ``oneOf``
_SCALARS: Mapping[str, dict[str, Any]] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "format": "int-or-string",
        "type": "string",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}


def source_path(version: str = KUBERNETES_VERSION) -> Path:
    """The installed kubernetes-validate's ``_definitions.json`` for ``version``."""
    base = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    return Path(str(base.joinpath(f"{version}-local", "_definitions.json")))


def _convert(node: Any, *, prop: str = "") -> Any:
    """One JSON Schema node in kube-apiserver's OpenAPI form (``prop``: its property name)."""
    if isinstance(node, list):
        return [_convert(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "enum" and prop in ("apiVersion", "kind"):
            continue  # injected by the JSON Schema conversion, not published
        if key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "$ref":
            out[key] = REF_PREFIX + str(value).removeprefix(_SOURCE_PREFIX)
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {name: _convert(sub, prop=name) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _convert(value)
        else:
            out[key] = value  # descriptions, formats and markers, as they are
    if "$ref" in out and len(out) > 1:
        out["allOf"] = [{"$ref": out.pop("$ref")}]
    return out


def _definition(name: str, node: Mapping[str, Any]) -> dict[str, Any]:
    if name in _SCALARS:
        return dict(_SCALARS[name])
    out: dict[str, Any] = _convert(node)
    props: dict[str, Any] = out.get("properties") or {}
    for marker, table in (("default", KEY_DEFAULTS), ("enum", ENUMS)):
        for (owner, key), value in table.items():
            if owner == name:
                props[key][marker] = value
    return out


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix(_SOURCE_PREFIX)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _kind_index(defs: Mapping[str, Any]) -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, node in defs.items():
        for gvk in node.get("x-kubernetes-group-version-kind") or ():
            out.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return out


def roots(defs: Mapping[str, Any]) -> list[str]:
    """The definitions the sandbox serves directly: its built-in kinds, their Lists, meta types."""
    index = _kind_index(defs)
    names: list[str] = []
    for rt in (*BUILTIN_TYPES, *REVIEW_TYPES):
        for kind in (rt.kind, rt.kind_list) if "list" in rt.verbs else (rt.kind,):
            name = index.get((rt.group, rt.version, kind))
            if name is None:
                raise SystemExit(f"no definition of {rt.group}/{rt.version} {kind} upstream")
            names.append(name)
    return [*names, *META_TYPES]


def generate(path: Path | None = None) -> dict[str, Any]:
    """The data file's document, from the installed kubernetes-validate (or ``path``)."""
    source = json.loads((path or source_path()).read_text("utf-8"))["$defs"]
    keep: dict[str, Any] = {}
    pending = roots(source)
    while pending:
        name = pending.pop()
        if name in keep:
            continue
        keep[name] = _definition(name, source[name])
        pending.extend(_refs(source[name]))
    return {"definitions": keep, "kubernetesVersion": KUBERNETES_VERSION}


def render(doc: Mapping[str, Any]) -> str:
    """The data file's text: sorted keys, one key or item a line, so diffs stay readable."""
    return json.dumps(doc, indent=0, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        current = OUTPUT.read_text("utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run {Path(__file__).name}")
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, "utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
