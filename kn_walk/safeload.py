"""Reading the files users name (manifests, kubeconfigs) with bounds, and YAML without bombs.

:func:`read_text` reads a regular file (or stdin, for ``-``) of at most
:data:`MAX_BYTES`; a device, a pipe, a directory or anything larger is
refused before it is read whole, so ``-f /dev/zero`` or ``--kubeconfig
/dev/zero`` ends with a one-line error instead of filling memory.

:func:`load_all` parses YAML the way ``yaml.safe_load_all`` does, but first
composes each document's node graph (where an alias is the very node it
names, not a copy) and measures what expanding its aliases would give, without
expanding anything. Like go-yaml (behind kubectl's ``sigs.k8s.io/yaml``),
which stops with "document contains excessive aliasing", a document whose
alias-driven share of the expanded nodes is too high is refused; so is a
recursive alias (a node that contains itself) and nesting deeper than Python
can compose. The thresholds are go-yaml's (``allowedAliasRatio``).

Errors are :class:`~kn_walk.errors.KnwalkError` (exit 1), or
:class:`~kn_walk.errors.UsageError` (exit 2) when ``usage`` is set, the file
being a command-line argument; ``label`` names the file in messages (``-f
ksvc.yaml``, ``kubeconfig ~/.kube/config``) and ``hint`` says what to do.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from kn_walk.errors import KnwalkError, UsageError
from kn_walk.yamlbounds import excessive_aliasing

#: the most a manifest or kubeconfig may hold (kube-apiserver takes 3 MiB request bodies)
MAX_BYTES = 4 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def _fail(message: str, hint: str, usage: bool) -> KnwalkError:
    return UsageError(message, hint) if usage else KnwalkError(message, hint)


def shown(path: object) -> str:
    """A path for a message: whole, unless absurdly long."""
    text = str(path)
    return text if len(text) <= 200 else text[:197] + "..."


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_text(
    path: str | os.PathLike[str],
    *,
    label: str,
    hint: str,
    usage: bool = False,
    stdin: bool = False,
    limit: int = MAX_BYTES,
) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes (``-`` is stdin if ``stdin``).

    Raises :class:`FileNotFoundError` for a missing file (callers decide what
    that means); every other refusal is a one-line error naming ``label``.
    """
    if stdin and os.fspath(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise _fail(f"{label}: stdin holds more than {_size(limit)}", hint, usage)
        return _decode(data, label, hint, usage)
    fd = _open(path, label, hint, usage)
    try:
        _check_open(fd, label, hint, usage, limit)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise _fail(f"cannot read {label}: {exc.strerror or exc}", hint, usage) from None
    finally:
        os.close(fd)
    if total > limit:
        raise _fail(f"{label} is larger than {_size(limit)}", hint, usage)
    return _decode(b"".join(chunks), label, hint, usage)


def check_file(
    path: str | os.PathLike[str],
    *,
    label: str,
    hint: str,
    usage: bool = False,
    limit: int = MAX_BYTES,
) -> None:
    """Refuse a file :func:`read_text` would refuse, without reading it; a missing one passes."""
    try:
        fd = _open(path, label, hint, usage)
    except FileNotFoundError:
        return
    try:
        _check_open(fd, label, hint, usage, limit)
    finally:
        os.close(fd)


def _open(path: str | os.PathLike[str], label: str, hint: str, usage: bool) -> int:
    try:
        # O_NONBLOCK: opening a pipe nobody writes to must not hang before it is refused
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _fail(f"cannot read {label}: {reason}", hint, usage) from None


def _check_open(fd: int, label: str, hint: str, usage: bool, limit: int) -> None:
    try:
        info = os.fstat(fd)
    except OSError as exc:
        raise _fail(f"cannot read {label}: {exc.strerror or exc}", hint, usage) from None
    if not stat.S_ISREG(info.st_mode):
        raise _fail(f"{label} is {_kind(info.st_mode)}, not a regular file", hint, usage)
    if info.st_size > limit:
        raise _fail(f"{label} is larger than {_size(limit)}", hint, usage)


def _decode(data: bytes, label: str, hint: str, usage: bool) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            f"{label} is not UTF-8 text (byte {exc.start + 1} is {data[exc.start]:#04x})",
            hint,
            usage,
        ) from None


# --------------------------------------------------------------------------- YAML


class _Recursive(Exception):
    """A node reachable from itself: an alias inside the value of its own anchor."""


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expansion(root: Any) -> tuple[int, int]:
    """(nodes written, nodes once every alias is expanded) of a composed YAML node graph.

    Counted bottom-up over the graph, each distinct node once, so a bomb is
    measured without being expanded. Raises :class:`_Recursive` on a cycle.
    """
    expanded: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            expanded[key] = 1 + sum(expanded[id(c)] for c in _children(node))
            continue
        if key in expanded:
            continue
        if key in active:
            raise _Recursive
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise _Recursive
            if id(child) not in expanded:
                stack.append((child, False))
    return len(expanded), expanded[id(root)]


def load_all(
    text: str, *, label: str, hint: str, usage: bool = False, fast: bool = False
) -> list[Any]:
    """Every document of ``text`` as ``yaml.safe_load_all`` gives them, refusing bombs.

    Each document's aliases are measured before it is constructed (see
    :func:`expansion`): refused when their expansion exceeds go-yaml's bound.
    ``fast`` parses with libyaml where it is available (release manifests of
    megabytes), at the price of coarser messages for broken text.
    """
    import yaml

    docs: list[Any] = []
    loader: Any = None
    try:
        # the pure-Python reader refuses non-printable characters at once
        make = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if fast else yaml.SafeLoader
        loader = make(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_aliases(node, label, hint, usage)
            docs.append(loader.construct_document(node))
    except yaml.reader.ReaderError as exc:
        raise _fail(
            f"{label} is not valid YAML: character U+{exc.character:04X} at position "
            f"{exc.position} is not allowed",
            hint,
            usage,
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        detail = f": {problem}" if isinstance(problem, str) and problem else ""
        raise _fail(f"{label} is not valid YAML{where}{detail}", hint, usage) from None
    except RecursionError:
        raise _fail(f"{label} is nested too deeply to read", hint, usage) from None
    finally:
        if loader is not None:
            loader.dispose()
    return docs


def _check_aliases(node: Any, label: str, hint: str, usage: bool) -> None:
    try:
        written, expanded = expansion(node)
    except _Recursive:
        raise _fail(
            f"{label} is not valid YAML: an alias refers to a value that contains it",
            hint,
            usage,
        ) from None
    aliased = expanded - written
    if excessive_aliasing(aliased, expanded):
        raise _fail(
            f"{label}: the YAML document contains excessive aliasing "
            f"({written} nodes written expand to {expanded:,})",
            hint,
            usage,
        )


def load_one(text: str, *, label: str, hint: str, usage: bool = False) -> Any:
    """``yaml.safe_load`` with the bounds of :func:`load_all`: the one document, or None."""
    docs = load_all(text, label=label, hint=hint, usage=usage)
    if len(docs) > 1:
        raise _fail(f"{label} holds {len(docs)} YAML documents, not one", hint, usage)
    return docs[0] if docs else None


def read_yaml_all(
    path: str | os.PathLike[str] | Path,
    *,
    label: str,
    hint: str,
    usage: bool = False,
    stdin: bool = False,
) -> list[Any]:
    """:func:`read_text` then :func:`load_all`."""
    text = read_text(path, label=label, hint=hint, usage=usage, stdin=stdin)
    return load_all(text, label=label, hint=hint, usage=usage)
