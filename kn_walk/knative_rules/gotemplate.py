"""The part of Go's ``text/template`` that Knative's host templates use.

``config-network``'s ``domain-template`` and ``tag-template`` are Go templates over a
struct (``DomainTemplateValues``: Name, Namespace, Domain, Annotations, Labels;
``TagTemplateValues``: Name, Tag). This renders what their documentation and
Knative's tests use, with Go's output and Go's error messages:

* text, and actions ``{{.Field}}``, ``{{.Map.key}}``, ``{{index .Map "key" ...}}``,
  string and number literals, ``{{.}}``, comments ``{{/* ... */}}`` and the trim
  markers ``{{-`` / ``-}}``;
* a missing map key prints ``<no value>`` (``.Map.key``) or nothing (``index``), a
  field the struct does not have fails as Go fails (``can't evaluate field``).

Anything else Go templates can do (``if``, ``range``, pipelines, variables, other
functions) is refused with a :class:`TemplateError` that says so: the sandbox does not
guess what a template it cannot run would produce.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from kn_walk.goformat import go_quote

#: Go's keywords and builtin functions this renderer does not run
_KEYWORDS = frozenset(
    [
        "block",
        "break",
        "continue",
        "define",
        "else",
        "end",
        "if",
        "nil",
        "range",
        "template",
        "with",
    ]
)
_BUILTINS = frozenset(
    [
        "and",
        "call",
        "eq",
        "ge",
        "gt",
        "html",
        "index",
        "js",
        "le",
        "len",
        "lt",
        "ne",
        "not",
        "or",
        "print",
        "printf",
        "println",
        "slice",
        "urlquery",
    ]
)
#: how Go prints a value that is not there (a missing map key)
NO_VALUE = "<no value>"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]+(?:[eE][+-]?[0-9]+)?)")
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a"}
_STRING_ESCAPES |= {"b": "\b", "f": "\f", "v": "\v"}

#: A value while executing: a string, a map (None: a nil map), or a struct (its Go
#: type name and fields, in order), or _MISSING.
Value = object


class TemplateError(ValueError):
    """What Go's template package says (``template: NAME:LINE: ...``), or why this
    renderer does not run the template."""


class _Missing:
    def __repr__(self) -> str:
        return NO_VALUE


_MISSING = _Missing()


@dataclass(frozen=True)
class Struct:
    """A Go struct value: its type (``config.DomainTemplateValues``) and its fields."""

    type_name: str
    fields: tuple[tuple[str, object], ...]

    def get(self, name: str) -> tuple[bool, object]:
        for key, value in self.fields:
            if key == name:
                return True, value
        return False, None


@dataclass(frozen=True)
class _Field:
    pos: int
    chain: tuple[str, ...]  # () is ``.``

    def __str__(self) -> str:
        return "." + ".".join(self.chain) if self.chain else "."


@dataclass(frozen=True)
class _Literal:
    pos: int
    value: str
    source: str

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class _Index:
    pos: int
    args: tuple[_Field | _Literal, ...]

    def __str__(self) -> str:
        return " ".join(["index", *(str(a) for a in self.args)])


_Node = str | _Field | _Literal | _Index


@dataclass(frozen=True)
class GoTemplate:
    name: str
    text: str
    nodes: tuple[_Node, ...]

    def execute(self, data: Struct) -> str:
        out: list[str] = []
        for node in self.nodes:
            if isinstance(node, str):
                out.append(node)
                continue
            out.append(_print(self._eval(node, data)))
        return "".join(out)

    def _eval(self, node: _Field | _Literal | _Index, dot: Struct) -> object:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Field):
            return self._field(node, dot)
        args = [self._eval(a, dot) for a in node.args]
        item, keys = args[0], args[1:]
        for key in keys:
            item = self._index(node, item, key)
        return item

    def _field(self, node: _Field, dot: Struct) -> object:
        value: object = dot
        for name in node.chain:
            if value is _MISSING:
                return _MISSING
            if isinstance(value, Struct):
                found, field = value.get(name)
                if not found:
                    raise self._exec_error(
                        node, f"can't evaluate field {name} in type {value.type_name}"
                    )
                value = field
            elif value is None or isinstance(value, Mapping):
                value = (value or {}).get(name, _MISSING)
            else:
                raise self._exec_error(node, f"can't evaluate field {name} in type string")
        return value

    def _index(self, node: _Index, item: object, key: object) -> object:
        if item is _MISSING:
            raise self._exec_error(node, "error calling index: index of untyped nil")
        if item is None or isinstance(item, Mapping):
            if not isinstance(key, str):
                raise self._exec_error(
                    node, "error calling index: value has type int; should be string"
                )
            return (item or {}).get(key, "")
        if isinstance(item, str):
            raise self._exec_error(
                node, "error calling index: cannot index slice/array with type string"
            )
        assert isinstance(item, Struct)
        raise self._exec_error(
            node, f"error calling index: can't index item of type {item.type_name}"
        )

    def _exec_error(self, node: _Field | _Literal | _Index, message: str) -> TemplateError:
        before = self.text[: node.pos]
        line = before.count("\n") + 1
        col = node.pos - (before.rfind("\n") + 1) if "\n" in before else node.pos
        context = str(node)
        if len(context) > 20:
            context = context[:20] + "..."
        return TemplateError(
            f"template: {self.name}:{line}:{col}: executing {go_quote(self.name)} at "
            f"<{context}>: {message}"
        )


def _print(value: object) -> str:
    """``fmt.Fprint`` of a value, as a template prints it."""
    if value is _MISSING:
        return NO_VALUE
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, Mapping):
        items = sorted((value or {}).items())
        return "map[" + " ".join(f"{k}:{v}" for k, v in items) + "]"
    if isinstance(value, Struct):
        return "{" + " ".join(_print(v) for _, v in value.fields) + "}"
    return str(value)


# ------------------------------------------------------------------------- parsing
class _Parser:
    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.nodes: list[_Node] = []

    def error(self, pos: int, message: str) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        return TemplateError(f"template: {self.name}:{line}: {message}")

    def unsupported(self, what: str) -> TemplateError:
        return TemplateError(
            f"{self.name} uses {what}, which the sandbox does not run: it renders "
            '{{.Field}}, {{.Map.key}} and {{index .Map "key"}} (Go text/template)'
        )

    def parse(self) -> tuple[_Node, ...]:
        pos, text = 0, self.text
        while True:
            start = text.find("{{", pos)
            if start < 0:
                self._text(text[pos:])
                break
            body = start + 2
            literal = text[pos:start]
            if text.startswith("- ", body) or text.startswith("-\t", body):
                literal = literal.rstrip(" \t\r\n")
                body += 2
            self._text(literal)
            pos = self._action(body)
        return tuple(self.nodes)

    def _text(self, literal: str) -> None:
        if literal:
            if self.nodes and isinstance(self.nodes[-1], str):
                self.nodes[-1] += literal
            else:
                self.nodes.append(literal)

    def _close(self, pos: int) -> int | None:
        """The position after ``}}`` (or `` -}}``, which trims what follows) at ``pos``."""
        text = self.text
        if text.startswith("}}", pos):
            return pos + 2
        if text[pos : pos + 1] in (" ", "\t", "\n", "\r") and text.startswith("-}}", pos + 1):
            end = pos + 4
            while end < len(text) and text[end] in " \t\r\n":
                end += 1
            return end
        return None

    def _action(self, pos: int) -> int:
        text = self.text
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise self.error(pos, "unclosed comment")
            close = self._close(end + 2)
            if close is None:
                raise self.error(end, "comment ends before closing delimiter")
            return close
        tokens: list[tuple[str, int, str]] = []  # (kind, pos, text)
        i = pos
        while True:
            if i >= len(text):
                raise self.error(i, "unclosed action")
            close = self._close(i)
            if close is not None:
                break
            ch = text[i]
            if ch in " \t\r\n":
                i += 1
                continue
            if ch == ".":
                j = i
                chain: list[str] = []
                while j < len(text) and text[j] == ".":
                    m = _IDENT.match(text, j + 1)
                    if not m:
                        break
                    chain.append(m.group())
                    j = m.end()
                if not chain:
                    j = i + 1
                    if j < len(text) and (text[j].isalnum() or text[j] == "_"):
                        raise self.error(i, f"bad character {_quote_rune(text[j])}")
                tokens.append(("field", i, text[i:j]))
                i = j
                continue
            if ch in '"`':
                j, value = self._string(i)
                tokens.append(("string", i, value))
                i = j
                continue
            m = _IDENT.match(text, i)
            if m:
                tokens.append(("ident", i, m.group()))
                i = m.end()
                continue
            m = _NUMBER.match(text, i)
            if m and (ch.isdigit() or text[i + 1 : i + 2].isdigit()):
                tokens.append(("number", i, m.group()))
                i = m.end()
                continue
            if ch == "$":
                raise self.unsupported("a variable ($)")
            if ch == "|":
                raise self.unsupported("a pipeline (|)")
            if ch in "()":
                raise self.unsupported("parentheses")
            raise self.error(i, f"unexpected {go_quote(ch)} in operand")
        self.nodes.append(self._command(tokens, pos))
        return close

    def _string(self, i: int) -> tuple[int, str]:
        text = self.text
        if text[i] == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise self.error(i, "unterminated raw quoted string")
            return end + 1, text[i + 1 : end]
        out: list[str] = []
        j = i + 1
        while True:
            if j >= len(text) or text[j] == "\n":
                raise self.error(i, "unterminated quoted string")
            ch = text[j]
            if ch == '"':
                return j + 1, "".join(out)
            if ch == "\\":
                esc = text[j + 1 : j + 2]
                if esc not in _STRING_ESCAPES:
                    raise self.unsupported(f"the string escape \\{esc}")
                out.append(_STRING_ESCAPES[esc])
                j += 2
                continue
            out.append(ch)
            j += 1

    def _operand(self, token: tuple[str, int, str]) -> _Field | _Literal:
        kind, pos, value = token
        if kind == "field":
            chain = tuple(part for part in value.split(".") if part)
            return _Field(pos, chain)
        if kind == "string":
            return _Literal(pos, value, self.text[pos : self._string(pos)[0]])
        if kind == "number":
            if not value.isdigit():
                raise self.unsupported(f"the number {value}")
            return _Literal(pos, str(int(value)), value)
        if value in ("true", "false"):
            return _Literal(pos, value, value)
        if value in _KEYWORDS:
            raise self.unsupported(f"{{{{{value}}}}}")
        if value in _BUILTINS:
            raise self.unsupported(f"the function {value}")
        raise self.error(pos, f"function {go_quote(value)} not defined")

    def _command(self, tokens: list[tuple[str, int, str]], pos: int) -> _Node:
        if not tokens:
            raise self.error(pos, "missing value for command")
        first = tokens[0]
        if first[0] == "ident" and first[2] == "index":
            if len(tokens) < 2:
                raise self.error(first[1], "wrong number of args for index: want at least 1 got 0")
            args = tuple(self._operand(t) for t in tokens[1:])
            return _Index(first[1], args)
        if first[0] == "ident" and first[2] in _KEYWORDS | _BUILTINS:
            self._operand(first)  # raises: what it is and that it is not run
        operands = [self._operand(t) for t in tokens]
        if len(operands) > 1:
            arg = tokens[1]
            if first[0] == "field":
                raise self.unsupported(f"method arguments ({first[2]} {arg[2]})")
            raise self.error(arg[1], f"can't give argument to non-function {tokens[0][2]}")
        return operands[0]


def _quote_rune(ch: str) -> str:
    return f"U+{ord(ch):04X} {ch!r}"


@lru_cache(maxsize=32)
def parse(name: str, text: str) -> GoTemplate:
    """Parse ``text`` as the template ``name`` (cached, as Knative caches its templates).

    Raises :class:`TemplateError` with Go's parse error, or why it is not supported.
    """
    return GoTemplate(name, text, _Parser(name, text).parse())
