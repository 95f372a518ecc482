"""Explicit ``null`` fields in request bodies, read as kube-apiserver reads them.

Typed clients (cloudcoil's pydantic models, lightkube, client-go's unstructured objects
built from structs) send ``"field": null`` for every optional field they leave unset.
kube-apiserver does not refuse those:

* a custom resource's body goes through apiextensions' ``PruneNonNullableNullsWithoutDefaults``
  (since 1.20) before it is validated: a ``null`` whose schema is neither ``nullable`` nor
  carries a ``default`` is dropped; one with a ``default`` is then defaulted; a ``nullable``
  one stays ``null``. A field the schema does not know is left to pruning.
* a built-in kind is decoded into its Go struct, where ``null`` is the zero value, which
  encodes as an absent field: the same as dropping it (built-in schemas have no
  ``nullable`` and no ``default``).
* ``metadata`` is decoded into ObjectMeta, a Go struct, for every kind.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def _field_schema(schema: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    if schema is None:
        return None
    props = schema.get("properties")
    if isinstance(props, Mapping) and isinstance(props.get(key), Mapping):
        sub: Mapping[str, Any] = props[key]
        return sub
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def _drop(value: Any, schema: Mapping[str, Any] | None, *, root: bool = False) -> None:
    if isinstance(value, dict):
        for key in list(value):
            if root and key == "metadata":
                continue
            sub = _field_schema(schema, key)
            if value[key] is None and sub is not None and sub.get("nullable") is not True:
                if "default" in sub:
                    value[key] = copy.deepcopy(sub["default"])
                else:
                    del value[key]
                continue
            _drop(value[key], sub)
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        for item in value:
            _drop(item, items if isinstance(items, Mapping) else None)


def _drop_all(value: Any) -> None:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for v in value.values():
            _drop_all(v)
    elif isinstance(value, list):
        for item in value:
            _drop_all(item)


def drop_nulls(schema: Mapping[str, Any] | None, obj: dict[str, Any]) -> None:
    """Drop (or default) in place the ``null`` fields of ``obj`` that kube-apiserver drops:
    those ``schema`` declares neither nullable nor defaulted, and every ``null`` of the
    root ``metadata``."""
    try:
        _drop_all(obj.get("metadata"))
        _drop(obj, schema, root=True)
    except RecursionError:  # a body nested beyond Python's stack: validation reports it
        return
