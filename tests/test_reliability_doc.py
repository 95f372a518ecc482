"""docs/reliability.md makes no claim without a test behind it.

Every table row names its tests as ``file.py::name`` (later names in a cell may
be ``::name``, meaning the same file). This test resolves each reference to a
test function that exists, so a renamed or deleted test cannot leave a claim
standing on nothing, and a row with no test at all is found too.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
_REF = re.compile(r"`([A-Za-z_0-9/]*\.py)?::([A-Za-z_0-9]+)")


@cache
def _functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def _rows() -> list[tuple[int, str, str]]:
    """(line number, section heading, last cell) of every table body row."""
    rows: list[tuple[int, str, str]] = []
    heading = ""
    for number, line in enumerate(DOC.read_text().splitlines(), 1):
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append((number, heading, cells[-1]))
    return rows


def _references(cell: str) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    current = ""
    for file, name in _REF.findall(cell):
        current = file or current
        refs.append((current, name))
    return refs


def test_every_row_names_a_test_that_exists() -> None:
    missing: list[str] = []
    checked = 0
    for number, heading, cell in _rows():
        if cell in ("test", "tests"):
            continue  # the header row
        refs = _references(cell)
        if not refs:
            missing.append(f"line {number} ({heading}): no test named in {cell!r}")
            continue
        for file, name in refs:
            path = ROOT / "tests" / file if file else None
            if path is None or not path.is_file():
                missing.append(f"line {number}: {file or '?'}::{name}: no such test file")
            elif name not in _functions(path):
                missing.append(f"line {number}: {file}::{name}: no such test")
            else:
                checked += 1
    assert not missing, "\n".join(missing)
    assert checked > 50  # the document is read, not skipped


def test_the_reference_reader_finds_a_wrong_name(tmp_path: Path) -> None:
    refs = _references("`test_security.py::test_a`, `::test_b`")
    assert refs == [("test_security.py", "test_a"), ("test_security.py", "test_b")]
    assert "no_such_test" not in _functions(ROOT / "tests" / "test_security.py")
