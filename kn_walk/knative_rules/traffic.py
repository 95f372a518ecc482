"""Knative's rules for a traffic block: ``spec.traffic`` of a Service or a Route.

* :func:`follows_latest`: whether a target follows the latest ready Revision
  (``latestRevision: true``, or no ``latestRevision`` and no ``revisionName``).
* :func:`default_block` and :func:`set_defaults`: ``RouteSpec.SetDefaults``.
* :func:`type_errors`: fields of the wrong JSON type, which the API server refuses
  (the CRD's schema) before the webhook sees the object.
* :func:`validate`: ``validateTrafficList`` and ``TrafficTarget.Validate`` in a
  spec (``pkg/apis/serving/v1/route_validation.go``), returning
  :class:`~kn_walk.knative_rules.fielderror.FieldError` s with Knative's paths
  and messages, e.g. ``invalid value: not a DNS 1035 label: [...]`` at
  ``spec.traffic.tag[0]`` (``apis.ErrInvalidArrayValue``).

knwalk checks the blocks it computes with these before sending them, and the
sandbox's webhook answers with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kn_walk.knative_rules import fielderror as fe
from kn_walk.knative_rules.fielderror import FieldError, json_type
from kn_walk.knative_rules.names import dns1035_label_errors, go_list, qualified_name_errors

FIELD = "spec.traffic"
#: the JSON type of each field of a traffic target (the CRD's schema)
TARGET_TYPES = {
    "tag": "string",
    "revisionName": "string",
    "configurationName": "string",
    "latestRevision": "boolean",
    "percent": "integer",
    "url": "string",
}


def default_block() -> list[dict[str, Any]]:
    """A Service's traffic when it names none: everything to the latest ready Revision."""
    return [{"latestRevision": True, "percent": 100}]


def follows_latest(target: Mapping[str, Any]) -> bool:
    """Whether the target routes to the latest ready Revision (Knative's defaulting:
    an absent ``latestRevision`` is true exactly when there is no ``revisionName``)."""
    latest = target.get("latestRevision")
    if latest is None:
        return not target.get("revisionName")
    return latest is True


def revision_ref(latest: bool, revision: str | None) -> str:
    """How a resolved target's Revision reads: ``@latest (NAME)`` when it follows the
    latest ready Revision (``@latest (none ready)`` before there is one), else its name."""
    if latest:
        return f"@latest ({revision or 'none ready'})"
    return revision or "?"


def set_defaults(spec: dict[str, Any], *, in_service: bool) -> None:
    """``RouteSpec.SetDefaults``: a Service without traffic gets :func:`default_block`;
    every target gets ``latestRevision`` (:func:`follows_latest`) and ``percent`` (0)."""
    traffic = spec.get("traffic")
    if not traffic and in_service:
        spec["traffic"] = default_block()
        return
    for target in traffic if isinstance(traffic, list) else []:
        if isinstance(target, dict):
            if target.get("latestRevision") is None:
                target["latestRevision"] = follows_latest(target)
            if target.get("percent") is None:
                target["percent"] = 0


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class SchemaError:
    """A field of the wrong JSON type, as the API server's structural schema reports it."""

    path: str
    expected: str
    actual: str

    @property
    def message(self) -> str:
        return (
            f'Invalid value: "{self.actual}": {self.path} in body must be of type '
            f'{self.expected}: "{self.actual}"'
        )

    def text(self) -> str:
        """As in the API server's answer: ``path: Invalid value: ...``."""
        return f"{self.path}: {self.message}"


def _of_type(value: object, expected: str) -> bool:
    """Whether the schema takes ``value`` as ``expected`` (an integral number is an integer)."""
    if isinstance(value, float) and expected == "integer":
        return value.is_integer()
    return json_type(value) == expected


def type_errors(traffic: object, base: str = FIELD) -> list[SchemaError]:
    """The fields of a traffic block whose JSON type is wrong (nulls count as absent)."""
    if traffic is None:
        return []
    if not isinstance(traffic, list):
        return [SchemaError(base, "array", json_type(traffic))]
    errors = []
    for i, target in enumerate(traffic):
        at = f"{base}[{i}]"
        if not isinstance(target, Mapping):
            if target is not None:
                errors.append(SchemaError(at, "object", json_type(target)))
            continue
        for key, expected in TARGET_TYPES.items():
            value = target.get(key)
            if value is not None and not _of_type(value, expected):
                errors.append(SchemaError(f"{at}.{key}", expected, json_type(value)))
    return errors


def _typed(target: Mapping[str, Any], key: str) -> Any:
    """A field as Knative's typed struct holds it: absent (None) when of the wrong type."""
    value = target.get(key)
    if value is None or not _of_type(value, TARGET_TYPES[key]):
        return None
    return int(value) if TARGET_TYPES[key] == "integer" else value


# --------------------------------------------------------------------------- validation


def validate_target(target: Mapping[str, Any], *, in_service: bool) -> list[FieldError]:
    """``TrafficTarget.Validate`` within a spec; paths relative to the target."""
    errors: list[FieldError] = []
    revision = _typed(target, "revisionName") or ""
    configuration = _typed(target, "configurationName") or ""
    latest = _typed(target, "latestRevision")
    if latest is not None and bool(revision) == latest:
        errors.append(
            fe.generic(
                f"may not set revisionName {fe.go_quote(revision)} when latestRevision is "
                f"{fe.go_sprint(latest)}",
                "latestRevision",
            )
        )
    if in_service and configuration:
        errors.append(fe.disallowed_fields("configurationName"))
    elif revision and configuration:
        errors.append(fe.multiple_one_of("revisionName", "configurationName"))
    elif revision:
        messages = qualified_name_errors(revision)
        if messages:
            errors.append(fe.invalid_key_name(revision, "revisionName", *messages))
    elif configuration:
        messages = qualified_name_errors(configuration)
        if messages:
            errors.append(fe.invalid_key_name(configuration, "configurationName", *messages))
    elif not in_service:
        errors.append(fe.missing_one_of("revisionName", "configurationName"))
    percent = _typed(target, "percent")
    if percent is not None and not 0 <= percent <= 100:
        errors.append(fe.out_of_bounds(percent, 0, 100, "percent"))
    if _typed(target, "url"):
        errors.append(fe.disallowed_fields("url"))
    return errors


def tag_error(tag: str, index: int) -> FieldError | None:
    """The error for a tag that is no DNS-1035 label, at ``tag[index]`` (else None)."""
    messages = dns1035_label_errors(tag)
    if not messages:
        return None
    return fe.invalid_array_value(f"not a DNS 1035 label: {go_list(messages)}", "tag", index)


def validate(traffic: object, *, in_service: bool = True, base: str = FIELD) -> list[FieldError]:
    """``validateTrafficList`` of ``traffic`` (a Service's when ``in_service``: its targets
    may not name a ``configurationName``), with paths below ``base``.

    Each target's own errors, its tag (a DNS-1035 label, once in the block), and the
    percents' sum (exactly 100). Fields of the wrong type are left out, as the webhook
    never sees them: :func:`type_errors` reports those. Empty: Knative accepts it.
    """
    errors: list[FieldError] = []
    first_with_tag: dict[str, int] = {}
    total = 0
    for i, target in enumerate(traffic if isinstance(traffic, list) else []):
        if not isinstance(target, Mapping):
            continue
        errors += fe.via(f"[{i}]", validate_target(target, in_service=in_service))
        total += _typed(target, "percent") or 0
        tag = _typed(target, "tag") or ""
        if not tag:
            continue
        bad = tag_error(tag, i)
        if bad is not None:
            errors.append(bad)
        if tag in first_with_tag:
            errors.append(
                fe.generic(
                    f"Multiple definitions for {fe.go_quote(tag)}",
                    f"[{i}].tag",
                    f"[{first_with_tag[tag]}].tag",
                )
            )
        else:
            first_with_tag[tag] = i
    if total != 100:
        errors.append(fe.generic(f"Traffic targets sum to {total}, want 100", ""))
    return fe.via(base, errors)
