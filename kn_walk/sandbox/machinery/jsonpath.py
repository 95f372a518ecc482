"""The Kubernetes JSONPath dialect, as used by CRD ``additionalPrinterColumns``.

Supports what client-go's ``util/jsonpath`` accepts in a single expression:
``.field`` (backslash escapes a dot), ``..`` recursive descent, ``.*`` and
``[*]`` wildcards, ``[n]`` / ``[start:end:step]`` (negative indexes count from
the end), ``['key']`` (parsed like ``.key``, so ``'a\\.b'`` names one key and
``'a.b'`` names two), unions ``[a,b]`` and filters ``[?(@.type=='Ready')]``
with ``== != < > <= >=`` or plain existence ``[?(@.x)]``.

Missing keys are not errors (the API server evaluates printer columns with
``AllowMissingKeys``); anything the Go implementation would reject at run time
(index out of range, comparing a string with a number, filtering a non-list)
makes the whole evaluation come back empty, which is how such a column prints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JSONPathError", "compile_path", "evaluate"]


class JSONPathError(ValueError):
    """A path that cannot be parsed."""


class _EvalError(Exception):
    """A run-time failure; ``evaluate`` turns it into an empty result."""


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recursive:
    pass


@dataclass(frozen=True)
class _Root:
    pass


@dataclass(frozen=True)
class _Current:
    pass


@dataclass(frozen=True)
class _Slice:
    start: int | None
    end: int | None
    step: int | None
    #: ``[n]``: the end was derived as ``n + 1``
    derived_end: bool = False


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Filter:
    left: tuple[Any, ...]
    op: str  # "exists" or a comparison operator
    right: tuple[Any, ...] | _Literal | None = None


@dataclass(frozen=True)
class _Union:
    branches: tuple[tuple[Any, ...], ...] = field(default_factory=tuple)


_TERMINATORS = frozenset(" \t.,[]$@{}")
_SLICE_RE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_DICT_KEY_RE = re.compile(r"""^'([^']*)'$|^"([^"]*)"$""")
_FILTER_RE = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$", re.DOTALL)
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> tuple[Any, ...]:
        steps: list[Any] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\n":
                self.pos += 1
            elif ch == "$":
                steps.append(_Root())
                self.pos += 1
            elif ch == "@":
                steps.append(_Current())
                self.pos += 1
            elif ch == ".":
                if text.startswith("..", self.pos):
                    steps.append(_Recursive())
                    self.pos += 1  # the second dot starts the field that follows
                    continue
                self.pos += 1
                if self.pos < len(text) and text[self.pos] in "[.":
                    continue
                steps.append(self._field())
            elif ch == "[":
                if text.startswith("[?(", self.pos):
                    steps.append(self._filter())
                else:
                    steps.extend(self._bracket())
            elif ch in "'\"":
                steps.append(_Literal(self._quoted()))
            elif ch in "{}":
                self.pos += 1
            elif ch in _TERMINATORS:
                raise JSONPathError(f"unexpected {ch!r} at position {self.pos}")
            else:
                # A bare identifier: lenient, treated as a field name.
                steps.append(self._field())
        return tuple(steps)

    def _field(self) -> _Field | _Wildcard:
        text = self.text
        out: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\" and self.pos + 1 < len(text):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch in _TERMINATORS:
                break
            out.append(ch)
            self.pos += 1
        name = "".join(out)
        if name == "*":
            return _Wildcard()
        return _Field(name)

    def _quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if ch == quote:
                return "".join(out)
            out.append(ch)
        raise JSONPathError("unterminated quoted string")

    def _bracket(self) -> list[Any]:
        end = self.text.find("]", self.pos)
        if end < 0:
            raise JSONPathError("unterminated array")
        inner = self.text[self.pos + 1 : end].strip()
        self.pos = end + 1
        if inner == "*":
            inner = ":"
        parts = inner.split(",")
        if len(parts) > 1:
            branches = tuple(_Parser(f"[{p.strip()}]").parse() for p in parts)
            return [_Union(branches)]
        key = _DICT_KEY_RE.match(inner)
        if key is not None:
            raw = key.group(1) if key.group(1) is not None else key.group(2)
            return list(_Parser("." + raw).parse())
        m = _SLICE_RE.match(inner)
        if m is None:
            raise JSONPathError(f"invalid array index {inner}")
        start_s, end_s, step_s = m.group(1), m.group(2), m.group(3)
        start = int(start_s) if start_s else None
        if end_s is None:
            if start is None:
                return [_Slice(None, None, None)]
            return [_Slice(start, start + 1, None, derived_end=True)]
        stop = int(end_s[1:]) if len(end_s) > 1 else None
        step = int(step_s[1:]) if step_s is not None and len(step_s) > 1 else None
        return [_Slice(start, stop, step)]

    def _filter(self) -> _Filter:
        text = self.text
        i = self.pos + 3
        quote: str | None = None
        while True:
            if i >= len(text):
                raise JSONPathError("unterminated filter")
            ch = text[i]
            if quote is not None:
                if ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == ")":
                break
            i += 1
        if i + 1 >= len(text) or text[i + 1] != "]":
            raise JSONPathError("unclosed array expect ]")
        body = text[self.pos + 3 : i]
        self.pos = i + 2
        m = _FILTER_RE.match(body)
        if m is None:
            return _Filter(_Parser(body.strip()).parse(), "exists")
        left = _Parser(m.group(1).strip()).parse()
        op = m.group(2)
        if op not in ("==", "!=", "<", ">", "<=", ">="):
            raise JSONPathError(f"unrecognized filter operator {op}")
        right_text = m.group(3).strip()
        return _Filter(left, op, _parse_operand(right_text))


def _parse_operand(text: str) -> tuple[Any, ...] | _Literal:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return _Literal(_Parser(text)._quoted())
    if _NUMBER_RE.match(text):
        if re.match(r"^-?\d+$", text):
            return _Literal(int(text))
        return _Literal(float(text))
    if text in ("true", "false"):
        return _Literal(text == "true")
    return _Parser(text).parse()


_CACHE: dict[str, tuple[Any, ...]] = {}


def compile_path(path: str) -> tuple[Any, ...]:
    """Parse ``path`` (with or without the surrounding ``{}``); raises JSONPathError."""
    cached = _CACHE.get(path)
    if cached is not None:
        return cached
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    steps = _Parser(text).parse()
    if len(_CACHE) < 512:
        _CACHE[path] = steps
    return steps


# --------------------------------------------------------------------- evaluation


def evaluate(path: str, obj: Any) -> list[Any]:
    """All values ``path`` selects in ``obj``; empty when missing, invalid or failing."""
    try:
        steps = compile_path(path)
    except (JSONPathError, ValueError, RecursionError):
        return []
    try:
        return _run(steps, [obj], obj)
    except (_EvalError, RecursionError):
        return []


def _run(steps: Sequence[Any], values: list[Any], root: Any) -> list[Any]:
    current = values
    for step in steps:
        if isinstance(step, _Root):
            current = [root]
        elif isinstance(step, _Current):
            continue
        elif isinstance(step, _Field):
            if not step.name:
                continue  # ``{.}``: the current object itself
            current = [v[step.name] for v in current if isinstance(v, Mapping) and step.name in v]
        elif isinstance(step, _Wildcard):
            current = _wildcard(current)
        elif isinstance(step, _Recursive):
            current = _recursive(current)
        elif isinstance(step, _Slice):
            current = _slice(current, step)
        elif isinstance(step, _Filter):
            current = _filter(current, step, root)
        elif isinstance(step, _Union):
            out: list[Any] = []
            for branch in step.branches:
                out.extend(_run(branch, current, root))
            current = out
        elif isinstance(step, _Literal):
            current = [step.value]
    return current


def _wildcard(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, Mapping):
            out.extend(v[k] for k in sorted(v, key=str))
        elif isinstance(v, list | tuple):
            out.extend(v)
    return out


def _recursive(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack = list(reversed(values))
    while stack:
        v = stack.pop()
        if isinstance(v, Mapping):
            children = [v[k] for k in sorted(v, key=str)]
        elif isinstance(v, list | tuple):
            children = list(v)
        else:
            continue
        if not children:
            continue
        out.append(v)
        stack.extend(reversed(children))
    return out


def _slice(values: list[Any], step: _Slice) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is None:
            continue
        if not isinstance(v, list | tuple):
            raise _EvalError("not an array or slice")
        n = len(v)
        start = step.start if step.start is not None else 0
        if start < 0:
            start += n
        end = step.end if step.end is not None else n
        if end < 0 or (end == 0 and step.derived_end):
            end += n
        if end == start:
            continue
        if start >= n or start < 0:
            raise _EvalError("array index out of bounds")
        if end > n or end < 0:
            raise _EvalError("array index out of bounds")
        if start > end:
            raise _EvalError("starting index is greater than ending index")
        stride = 1
        if step.step is not None:
            if step.step <= 0:
                raise _EvalError("step must be > 0")
            stride = step.step
        out.extend(v[start:end:stride])
    return out


def _filter(values: list[Any], flt: _Filter, root: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not isinstance(v, list | tuple):
            raise _EvalError("cannot filter a non-list")
        for item in v:
            lefts = _run(flt.left, [item], root)
            if flt.op == "exists":
                if lefts:
                    out.append(item)
                continue
            if not lefts:
                continue
            if len(lefts) > 1:
                raise _EvalError("can only compare one element at a time")
            if isinstance(flt.right, _Literal):
                rights = [flt.right.value]
            elif flt.right is None:
                rights = []
            else:
                rights = _run(flt.right, [item], root)
            if not rights:
                continue
            if len(rights) > 1:
                raise _EvalError("can only compare one element at a time")
            if _compare(lefts[0], flt.op, rights[0]):
                out.append(item)
    return out


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    raise _EvalError("invalid type for comparison")


def _compare(left: Any, op: str, right: Any) -> bool:
    lk, rk = _kind(left), _kind(right)
    if lk != rk:
        raise _EvalError("incompatible types for comparison")
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if lk == "bool":
        raise _EvalError("invalid type for comparison")
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)
