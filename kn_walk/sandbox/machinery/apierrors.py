"""Kubernetes ``metav1.Status`` errors, shaped as kube-apiserver sends them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kn_walk.knative_rules.fielderror import go_quote
from kn_walk.sandbox.machinery.resourcetypes import ResourceType


class StatusError(Exception):
    """An API error carried to the client as a ``Status`` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The ``Status`` body, its fields in the order kube-apiserver writes them."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # StatusReasonUnknown ("") is left out (omitempty)
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = ordered_details(self.details)
        body["code"] = self.code
        return body


#: ``metav1.StatusDetails`` and ``metav1.StatusCause`` fields, in the order of their Go structs
#: (encoding/json writes a struct's fields in that order)
_DETAIL_FIELDS = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
_CAUSE_FIELDS = ("reason", "message", "field")


def _in_order(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: obj[k] for k in order if k in obj}
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


def ordered_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` (and its causes) with their fields in kube-apiserver's order."""
    out = _in_order(details, _DETAIL_FIELDS)
    causes = out.get("causes")
    if isinstance(causes, list):
        out["causes"] = [_in_order(c, _CAUSE_FIELDS) if isinstance(c, dict) else c for c in causes]
    return out


def resource_name(rt: ResourceType) -> str:
    """``services.serving.knative.dev`` or ``configmaps``: the group-qualified resource."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def qualified_kind(rt: ResourceType) -> str:
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        d["group"] = rt.group
    return d


def not_found(rt: ResourceType, name: str) -> StatusError:
    return StatusError(
        404, "NotFound", f"{resource_name(rt)} {go_quote(name)} not found", _details(rt, name)
    )


def already_exists(rt: ResourceType, name: str) -> StatusError:
    return StatusError(
        409,
        "AlreadyExists",
        f"{resource_name(rt)} {go_quote(name)} already exists",
        _details(rt, name),
    )


def conflict(rt: ResourceType, name: str, why: str) -> StatusError:
    return StatusError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {resource_name(rt)} {go_quote(name)}: {why}",
        _details(rt, name),
    )


MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(rt: ResourceType, name: str, causes: list[dict[str, str]]) -> StatusError:
    """422 Invalid; each cause has reason, message (``Invalid value: ...``) and field."""
    text = ", ".join(
        f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes
    )
    if len(causes) > 1:
        text = "[" + text + "]"
    details = _details(rt, name)
    details["kind"] = rt.kind
    details["causes"] = causes
    return StatusError(
        422, "Invalid", f"{qualified_kind(rt)} {go_quote(name)} is invalid: {text}", details
    )


def options_invalid(kind: str, name: str, errors: list[tuple[str, str, str]]) -> StatusError:
    """422 for request options (``DeleteOptions``, ``PodLogOptions``) that fail validation.

    ``errors`` are ``(field, reason, message)``; like ``field.Error`` the text is
    ``<field>: <message>`` (an empty field too), several in brackets.
    """
    texts = [f"{f}: {m}" for f, _, m in errors]
    text = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    causes = [{"reason": r, "message": m, **({"field": f} if f else {})} for f, r, m in errors]
    details: dict[str, Any] = {"name": name} if name else {}
    group, _, short = kind.rpartition("/")
    if group:
        details["group"] = group
    details["kind"] = short
    details["causes"] = causes
    shown = f"{short}.{group}" if group else short
    return StatusError(422, "Invalid", f"{shown} {go_quote(name)} is invalid: {text}", details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def admission_denied(webhook: str, message: str) -> StatusError:
    return StatusError(
        400, "BadRequest", f'admission webhook "{webhook}" denied the request: {message}'
    )


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def unsupported_media_type(accepted: Sequence[str]) -> StatusError:
    """415, as kube-apiserver refuses a body in a format the endpoint does not take."""
    return StatusError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


UNAUTHORIZED = StatusError(401, "Unauthorized", "Unauthorized")


def _quote(text: str) -> str:
    """The inside of an RFC 7230 quoted-string, as Warning headers carry it.

    Control characters (a field name from the request may hold any) cannot go in a
    header at all: they are written as ``\\xHH`` rather than break the response.
    """
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(c if " " <= c != "\x7f" else f"\\x{ord(c):02x}" for c in text)


def warning_header(warnings: Sequence[str]) -> str:
    """The ``Warning`` header value kube-apiserver sends for ``warnings`` (code 299)."""
    return ", ".join(f'299 - "{_quote(w)}"' for w in warnings)
