"""The OpenAPI definitions of the built-in kinds the sandbox serves, from upstream data.

``data/builtin_schemas.json`` holds kube-apiserver's own ``io.k8s.…``
definitions (``$ref`` between them, Kubernetes' descriptions and the
``x-kubernetes-*`` list and merge markers) for every built-in kind of
:data:`kn_walk.sandbox.machinery.resourcetypes.BUILTIN_TYPES`, their Lists and the meta/v1
types around them. ``scripts/gen_builtin_schemas.py`` writes it from the
definitions that the ``kubernetes-validate`` package ships;
``tests/test_builtin_schemas.py`` fails when the two drift apart.

:func:`builtin_definitions` is what :mod:`kn_walk.sandbox.apiserver.openapi` publishes,
what :func:`kn_walk.sandbox.machinery.schema.schema_for` validates built-in objects
against, and where server-side apply (:mod:`kn_walk.sandbox.machinery.fields`) and
strategic merge patch (:mod:`kn_walk.sandbox.machinery.patch`) read their list keys.
It is read once, when first needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "API_VERSION_DESCRIPTION",
    "KIND_DESCRIPTION",
    "LIST_METADATA_DESCRIPTION",
    "OBJECT_METADATA_DESCRIPTION",
    "REF_PREFIX",
    "builtin_definition_name",
    "builtin_definitions",
]

REF_PREFIX = "#/components/schemas/"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_INTSTR = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

# What kube-apiserver's CRD OpenAPI builder writes for every custom resource's
# apiVersion / kind / metadata (the built-in kinds carry the same texts in the data).
API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
OBJECT_METADATA_DESCRIPTION = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
LIST_METADATA_DESCRIPTION = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)


def _gvk(group: str, version: str, kind: str) -> list[dict[str, str]]:
    return [{"group": group, "kind": kind, "version": version}]


@cache
def builtin_definitions() -> Mapping[str, Mapping[str, Any]]:
    """Named OpenAPI v3 definitions (``io.k8s.…``) of the built-in kinds and meta types.

    Shared by every caller: copy before changing anything.
    """
    text = resources.files("kn_walk.sandbox").joinpath("data", "builtin_schemas.json")
    definitions: dict[str, dict[str, Any]] = json.loads(text.read_text("utf-8"))["definitions"]
    return definitions


@cache
def _kinds() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, schema in builtin_definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            out.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return out


def builtin_definition_name(group: str, version: str, kind: str) -> str | None:
    """The ``io.k8s.…`` definition name of a built-in kind, or None."""
    return _kinds().get((group, version, kind))
