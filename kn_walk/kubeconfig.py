"""Read and write kubeconfig files the way kubectl and gcloud do.

Writing goes to one file: an explicit path, else the first non-empty entry of
``KUBECONFIG``, else ``~/.kube/config`` (gcloud's rule). Reading the current
context or a context's namespace without an explicit path follows kubectl's
merge rule instead: every file in ``KUBECONFIG`` is consulted and the first one
that defines the value wins.

Writes are atomic (temp file in the same directory, fsync, ``os.replace``), the
result is always mode 0600, and every entry and key this module was not asked
to touch is kept as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from kn_walk.errors import KnwalkError

StrPath = str | os.PathLike[str]

DEFAULT_PATH = Path("~") / ".kube" / "config"

_SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}

READ_HINT = (
    "fix or move the file, or pass another one with --kubeconfig (a regular file; "
    "$KUBECONFIG lists the files used without it)"
)


def empty_config() -> dict[str, Any]:
    """A fresh, empty ``kind: Config`` document."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": "",
        "preferences": {},
    }


def _env_paths(environ: Mapping[str, str]) -> list[Path]:
    raw = environ.get("KUBECONFIG", "")
    return [Path(entry).expanduser() for entry in raw.split(os.pathsep) if entry]


def resolve_path(
    explicit: StrPath | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The one file to write: explicit path, first ``KUBECONFIG`` entry, or ``~/.kube/config``."""
    if explicit is not None and os.fspath(explicit):
        return Path(explicit).expanduser()
    paths = _env_paths(os.environ if environ is None else environ)
    if paths:
        return paths[0]
    return DEFAULT_PATH.expanduser()


def read_paths(
    explicit: StrPath | None = None, *, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """The files kubectl reads, in precedence order (explicit path alone, else ``KUBECONFIG``)."""
    if explicit is not None and os.fspath(explicit):
        return [Path(explicit).expanduser()]
    paths = _env_paths(os.environ if environ is None else environ)
    return paths or [DEFAULT_PATH.expanduser()]


def load(path: StrPath, *, origin: str | None = None) -> dict[str, Any]:
    """Parse a kubeconfig file; a missing or empty file gives :func:`empty_config`.

    Read with :mod:`kn_walk.safeload`'s bounds: a regular file of at most a few
    MiB, no YAML alias bomb (``KUBECONFIG=/dev/zero`` is refused, not read).
    ``origin`` names where the path came from in errors (``--kubeconfig``: a
    usage error, exit 2; ``$KUBECONFIG``).
    """
    from kn_walk import safeload

    file = Path(path)
    label = f"{origin or 'kubeconfig'} {safeload.shown(file)}"
    usage = origin == "--kubeconfig"
    try:
        text = safeload.read_text(file, label=label, hint=READ_HINT, usage=usage)
    except FileNotFoundError:
        return empty_config()
    data = safeload.load_one(text, label=label, hint=READ_HINT, usage=usage)
    if data is None:
        return empty_config()
    if not isinstance(data, dict):
        raise KnwalkError(
            f"kubeconfig {file} is not a mapping (found {type(data).__name__})",
            "fix or move the file, or pass another one with --kubeconfig",
        )
    for section in _SECTIONS:
        value = data.get(section)
        if value is not None and not isinstance(value, list):
            raise KnwalkError(
                f"kubeconfig {file}: '{section}' must be a list",
                "fix or move the file, or pass another one with --kubeconfig",
            )
    return data


def _entries(config: dict[str, Any], section: str) -> list[Any]:
    """The section's list, created if missing or null (kubectl writes ``clusters: null``)."""
    value = config.get(section)
    if value is None:
        value = []
        config[section] = value
    assert isinstance(value, list)
    return value


def _named(entry: object, name: str) -> bool:
    return isinstance(entry, dict) and entry.get("name") == name


def _upsert(config: dict[str, Any], section: str, name: str, body: Mapping[str, Any]) -> None:
    entries = _entries(config, section)
    new = {"name": name, _SECTIONS[section]: dict(body)}
    positions = [i for i, entry in enumerate(entries) if _named(entry, name)]
    if not positions:
        entries.append(new)
        return
    entries[positions[0]] = new
    for i in reversed(positions[1:]):
        del entries[i]


def _remove(config: dict[str, Any], section: str, name: str) -> bool:
    entries = config.get(section)
    if not isinstance(entries, list):
        return False
    kept = [entry for entry in entries if not _named(entry, name)]
    if len(kept) == len(entries):
        return False
    config[section] = kept
    return True


def _discard(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


def private_dirs(directory: Path) -> None:
    """``mkdir -p`` whose every new directory is 0700, whatever the umask (not just the last)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        with contextlib.suppress(FileExistsError):
            new.mkdir(mode=0o700)
        os.chmod(new, 0o700)


def _write(path: Path, config: Mapping[str, Any]) -> None:
    """Serialise first, then replace the file atomically with a 0600 copy."""
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)
    target = Path(os.path.realpath(path))
    parent = target.parent
    try:
        private_dirs(parent)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise KnwalkError(
            f"cannot write kubeconfig {path}: {exc}",
            "check the directory's permissions, or pass another file with --kubeconfig",
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        _discard(tmp_name)
        raise KnwalkError(
            f"cannot write kubeconfig {path}: {exc}",
            "check the disk and the directory's permissions",
        ) from exc
    except BaseException:
        _discard(tmp_name)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def merge_entry(
    path: StrPath,
    *,
    name_cluster: str,
    cluster: Mapping[str, Any],
    name_user: str,
    user: Mapping[str, Any],
    name_context: str,
    context: Mapping[str, Any],
    make_current: bool = True,
) -> None:
    """Insert or replace one cluster, user and context; keep everything else as it was."""
    file = Path(path)
    config = load(file)
    _upsert(config, "clusters", name_cluster, cluster)
    _upsert(config, "users", name_user, user)
    _upsert(config, "contexts", name_context, context)
    if make_current:
        config["current-context"] = name_context
    _write(file, config)


def remove_entries(
    path: StrPath,
    *,
    cluster: str | None = None,
    user: str | None = None,
    context: str | None = None,
) -> bool:
    """Remove the named entries; clear ``current-context`` if it named ``context``.

    Returns whether anything changed. A missing file is left missing.
    """
    file = Path(path)
    if not file.exists():
        return False
    config = load(file)
    changed = False
    for section, name in (("clusters", cluster), ("users", user), ("contexts", context)):
        if name is not None and _remove(config, section, name):
            changed = True
    if context is not None and config.get("current-context") == context:
        config["current-context"] = ""
        changed = True
    if changed:
        _write(file, config)
    return changed


def current_context(path: StrPath | None = None) -> str | None:
    """The current context of ``path``, or kubectl's merged view when ``path`` is None."""
    return current_context_of(load(file) for file in read_paths(path))


def current_context_of(configs: Iterable[Mapping[str, Any]]) -> str | None:
    """The current context of loaded kubeconfigs, in precedence order: the first one set."""
    for config in configs:
        value = config.get("current-context")
        if isinstance(value, str) and value:
            return value
    return None


def context_namespace(path: StrPath | None = None, context: str | None = None) -> str | None:
    """The namespace set on ``context`` (default: the current context), or None if unset."""
    name = context if context is not None else current_context(path)
    if not name:
        return None
    return context_namespace_of((load(file) for file in read_paths(path)), name)


def context_namespace_of(configs: Iterable[Mapping[str, Any]], context: str) -> str | None:
    """The namespace set on ``context`` in loaded kubeconfigs (the first file naming the
    context wins), or None if unset."""
    for config in configs:
        for entry in config.get("contexts") or []:
            if _named(entry, context):
                body = entry.get("context")
                namespace = body.get("namespace") if isinstance(body, dict) else None
                return namespace if isinstance(namespace, str) and namespace else None
    return None
