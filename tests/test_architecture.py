"""ARCHITECTURE.md's ownership table names every module of the code, and only modules that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE_HOMES = ("feedvault", "spiders", "pipelines", "dags")


def _is_package_marker(path: Path) -> bool:
    """An ``__init__.py`` holding nothing but a docstring only marks a package: it owns nothing."""
    if path.name != "__init__.py":
        return False
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def modules_in_tree() -> set[str]:
    found = set()
    for home in CODE_HOMES:
        for path in (REPO / home).rglob("*.py"):
            if not _is_package_marker(path):
                found.add(path.relative_to(REPO).as_posix())
    return found


def modules_in_table() -> set[str]:
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Who owns what", 1)[1].split("\n## ", 1)[0]
    named = set()
    for line in section.splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2:
            named.update(re.findall(r"`([\w/]+\.py)`", cells[1]))
    return named


def test_every_module_has_a_row():
    missing = sorted(modules_in_tree() - modules_in_table())
    assert not missing, f"add a row to ARCHITECTURE.md's 'Who owns what' table for: {missing}"


def test_every_row_names_a_module_that_exists():
    stale = sorted(modules_in_table() - modules_in_tree())
    assert not stale, f"ARCHITECTURE.md's table names modules that do not exist (moved or removed?): {stale}"


def test_the_table_reader_sees_rows():
    # Guards the check itself: a table format the reader no longer understands must fail, not pass empty.
    assert len(modules_in_table()) >= len(modules_in_tree()) // 2
