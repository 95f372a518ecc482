"""A pod template's ``pod-template-hash`` and whether two templates are the same but for it.

``pod-template-hash`` is computed as the controller's ``ComputeHash`` does
(FNV-32a, salted with ``status.collisionCount`` as 4 little-endian bytes and 4
zero bytes, the decimal value mapped onto ``bcdfghjklmnpqrstvwxz2456789``) but
over the template as canonical JSON: the controller hashes a Go dump of the
typed ``PodTemplateSpec`` of its own release, which a Python process cannot
reproduce, so the hashes have the same form but not the same value as a
cluster's.
"""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

L_POD_TEMPLATE_HASH = "pod-template-hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes, h: int = 0x811C9DC5) -> int:
    """Go's ``hash/fnv`` New32a over ``data`` (from ``h``, to continue a hash)."""
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _normalized(value: Any) -> Any:
    """``value`` without nulls and empty maps and lists: what a typed decode would not
    tell apart (``creationTimestamp: null``, ``resources: {}``, ...)."""
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def template_hash(template: Any, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a pod template (see the module's docstring)."""
    text = json.dumps(_normalized(template), sort_keys=True, separators=(",", ":"))
    h = fnv32a(text.encode())
    if collision_count is not None:
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF) + bytes(4), h)
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(h))


def _without_hash(template: Any) -> Any:
    out = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(L_POD_TEMPLATE_HASH, None)
    return _normalized(out)


def same_template(rs_template: Any, template: Any) -> bool:
    """EqualIgnoreHash: the templates are equal but for ``pod-template-hash``."""
    return bool(_without_hash(rs_template) == _without_hash(template))
