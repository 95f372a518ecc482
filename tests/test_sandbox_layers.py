"""The sandbox's sub-packages import one way only (issue 12, section 4).

    machinery <- registry <- {apiserver, knative} <- node <- dataplane <- server, control, certs

A module may import from its own layer and from the layers below it; apiserver and
knative stand side by side and do not import each other. Every import counts, wherever
it is written: at the top, inside a function, under ``if TYPE_CHECKING``. The check
reads the source (no module is imported), so it also holds for code no test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent.parent / "kn_walk" / "sandbox"
PACKAGE = "kn_walk.sandbox"

#: layer -> rank; a module may import a layer of lower rank, or its own layer
RANKS = {
    "machinery": 0,
    "registry": 1,
    "apiserver": 2,
    "knative": 2,
    "node": 3,
    "dataplane": 4,
}
#: the modules that stay at kn_walk/sandbox/ (the process): above every layer
TOP = {"__init__", "server", "control", "certs"}
TOP_RANK = max(RANKS.values()) + 1


def _modules() -> list[Path]:
    return sorted(p for p in SANDBOX.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(path: Path) -> str:
    parts = path.relative_to(SANDBOX).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _layer(dotted: str) -> str | None:
    """The layer a ``kn_walk.sandbox...`` name belongs to: a sub-package, ``"top"`` for
    the process's modules and the package itself, None outside the sandbox."""
    if dotted != PACKAGE and not dotted.startswith(PACKAGE + "."):
        return None
    rest = dotted[len(PACKAGE) + 1 :].split(".")[0] if dotted != PACKAGE else ""
    return rest if rest in RANKS else "top"


def _rank(layer: str) -> int:
    return RANKS.get(layer, TOP_RANK)


def _imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every sandbox name imported anywhere in ``tree``;
    ``from kn_walk.sandbox import x`` counts as importing ``kn_walk.sandbox.x``."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return [(line, name) for line, name in out if _layer(name) is not None]


def violations(path: Path, source: str) -> list[str]:
    """What in ``source`` (the text of ``path``) imports against the layer rule."""
    module = _dotted(path)
    own = _layer(module)
    assert own is not None
    found = []
    for line, name in _imported(ast.parse(source), module, path.name == "__init__.py"):
        target = _layer(name)
        assert target is not None
        if target == own:
            continue
        if _rank(target) < _rank(own):
            continue
        why = "is its sibling" if _rank(target) == _rank(own) else "is above it"
        found.append(
            f"{path.relative_to(SANDBOX.parent.parent)}:{line} ({own}) imports {name}: {target} {why}"
        )
    return found


def test_every_module_is_in_a_layer() -> None:
    """A new module goes into one of the layers, or is one of the process's modules."""
    stray = []
    for path in _modules():
        parts = path.relative_to(SANDBOX).parts
        if len(parts) == 1 and path.stem not in TOP:
            stray.append(str(path))
        if len(parts) > 1 and parts[0] not in RANKS:
            stray.append(str(path))
    assert not stray, f"not in a layer (add it to one, or to RANKS): {stray}"


def test_imports_go_down_the_layers_only() -> None:
    found = [v for path in _modules() for v in violations(path, path.read_text("utf-8"))]
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_layer_packages_import_nothing() -> None:
    """Importing ``kn_walk.sandbox.node.helloworld`` (``python -S``, import-free) runs
    ``node/__init__.py`` first, and every sub-package's ``__init__`` is only a docstring."""
    for layer in RANKS:
        tree = ast.parse((SANDBOX / layer / "__init__.py").read_text("utf-8"))
        assert [type(n).__name__ for n in tree.body] in ([], ["Expr"]), layer


def test_the_check_sees_every_kind_of_import() -> None:
    """The rule fires on an import at the top, in a function, under TYPE_CHECKING and
    relative, and between the two sibling layers; it lets a downward import pass."""
    admission = SANDBOX / "knative" / "admission.py"
    bad = (
        "from typing import TYPE_CHECKING\n"
        "from kn_walk.sandbox.node import pods\n"
        "import kn_walk.sandbox.dataplane.gateway\n"
        "from kn_walk.sandbox import server\n"
        "if TYPE_CHECKING:\n"
        "    from kn_walk.sandbox.apiserver.api import ApiState\n"
        "def f():\n"
        "    from ..node.workloads import Workloads\n"
    )
    found = violations(admission, bad)
    assert [v.split(" imports ")[1].split(":")[0] for v in found] == [
        "kn_walk.sandbox.node.pods",
        "kn_walk.sandbox.dataplane.gateway",
        "kn_walk.sandbox.server",
        "kn_walk.sandbox.apiserver.api.ApiState",
        "kn_walk.sandbox.node.workloads.Workloads",
    ]
    good = "from kn_walk.sandbox.machinery import apierrors\nfrom . import serving\n"
    assert violations(admission, good) == []
