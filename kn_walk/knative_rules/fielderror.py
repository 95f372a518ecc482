"""Knative's ``apis.FieldError`` (knative.dev/pkg): a message, the fields it is about, details.

Knative's webhook denies a request with ``"validation failed: " + err.Error()``,
and ``Error()`` is :func:`error_text`: errors with the same message and details
are merged (their paths joined, without repeats), paths are sorted, errors are
sorted by message, then details, one per line as ``message: path, path`` (the
details on the next line).

The constructors below are Knative's helpers of the same names (``ErrMissingField``,
``ErrInvalidArrayValue``, ...), with their exact wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kn_walk.goformat import go_quote as go_quote


@dataclass(frozen=True)
class FieldError:
    """One error: ``message`` about the fields at ``paths`` (dotted, ``spec.traffic[0].tag``)."""

    message: str
    paths: tuple[str, ...]
    details: str = ""

    def text(self) -> str:
        """This error alone as ``Error()`` prints it."""
        line = f"{self.message}: {', '.join(self.paths)}"
        return f"{line}\n{self.details}" if self.details else line


def merged(errors: Iterable[FieldError]) -> list[FieldError]:
    """``WrappedErrors()``: equal message and details merged, paths and errors sorted."""
    by_key: dict[tuple[str, str], list[str]] = {}
    for e in errors:
        paths = by_key.setdefault((e.message, e.details), [])
        paths.extend(p for p in e.paths if p not in paths)
    return [
        FieldError(message, tuple(sorted(paths)), details)
        for (message, details), paths in sorted(by_key.items())
    ]


def error_text(errors: Iterable[FieldError]) -> str:
    """``FieldError.Error()`` of all of ``errors``."""
    return "\n".join(e.text() for e in merged(errors))


def validation_failed(errors: Iterable[FieldError]) -> str:
    """The message of the webhook's denial: ``validation failed: `` and :func:`error_text`."""
    return "validation failed: " + error_text(errors)


def json_type(value: object) -> str:
    """The JSON type of ``value`` by its OpenAPI name, as the API server's schema errors
    say it (``integer``, ``number``, ``object``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"


def go_sprint(value: object) -> str:
    """``fmt.Sprint`` of a value: strings as they are, booleans lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- constructors


def missing_field(*paths: str) -> FieldError:
    return FieldError("missing field(s)", paths)


def disallowed_fields(*paths: str) -> FieldError:
    return FieldError("must not set the field(s)", paths)


def invalid_value(value: object, path: str, *details: str) -> FieldError:
    return FieldError(f"invalid value: {go_sprint(value)}", (path,), ", ".join(details))


def invalid_array_value(value: object, field: str, index: int) -> FieldError:
    """``ErrInvalidArrayValue``: the index goes on the field's name, ``tag[0]``."""
    return invalid_value(value, f"{field}[{index}]")


def generic(message: str, *paths: str) -> FieldError:
    return FieldError(message, paths)


def missing_one_of(*paths: str) -> FieldError:
    return FieldError("expected exactly one, got neither", paths)


def multiple_one_of(*paths: str) -> FieldError:
    return FieldError("expected exactly one, got both", paths)


def invalid_key_name(key: str, path: str, *details: str) -> FieldError:
    return FieldError(f"invalid key name {go_quote(key)}", (path,), ", ".join(details))


def out_of_bounds(value: object, lower: object, upper: object, path: str) -> FieldError:
    return FieldError(f"expected {lower} <= {value} <= {upper}", (path,))


def via(prefix: str, errors: Iterable[FieldError]) -> list[FieldError]:
    """``ViaField(prefix)``: ``prefix`` goes in front of every path (``[0]`` joins the
    part before it, as Knative's flatten does: ``traffic`` + ``[0].tag``)."""

    def join(path: str) -> str:
        if not path:
            return prefix
        return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"

    return [FieldError(e.message, tuple(join(p) for p in e.paths), e.details) for e in errors]
