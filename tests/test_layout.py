"""The layout's rules, checked on the source (ast): short functions, unique module names, no import cycles.

They cover the four homes of code (``feedvault/``, ``spiders/``, ``pipelines/``, ``dags/``); tests and benches
are free of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.crawl import REPO

HOMES = ("feedvault", "spiders", "pipelines", "dags")
MAX_FUNCTION_LINES = 60


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for home in HOMES:
        for path in sorted((REPO / home).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method with its qualified name (``Class.method``, ``outer.inner``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def long_functions() -> dict[str, int]:
    """``path:qualified name`` -> lines, for every function over the limit (docstring included)."""
    found = {}
    for path, tree in _sources():
        for name, node in _functions(tree):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1  # from `def` (decorators are settings)
            if lines > MAX_FUNCTION_LINES:
                found[f"{path.relative_to(REPO)}:{name}"] = lines
    return found


def test_no_function_is_over_60_lines() -> None:
    """A function a reader cannot hold in their head is split into named steps."""
    long = long_functions()
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: split them into named steps: {long}"


def test_the_length_check_counts_from_def_to_the_last_line() -> None:
    """The check above can fail: a 61-line function is found, with its class in its name."""
    body = "\n".join(f"        x = {n}" for n in range(59))
    tree = ast.parse(f"class C:\n    def long(self):\n{body}\n        return x\n")
    [(name, node)] = list(_functions(tree))
    assert (name, node.end_lineno - node.lineno + 1) == ("C.long", 61)


def test_no_module_name_is_repeated() -> None:
    """One name, one module: a reader (and a traceback) never has to ask which ``storage`` is meant. (Python's own
    names, a package's ``__init__`` and ``__main__``, say which package they belong to.)"""
    seen: dict[str, list[str]] = {}
    for path, _tree in _sources():
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.stem, []).append(str(path.relative_to(REPO)))
    repeated = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not repeated, f"module names used more than once: {repeated}"


def _is_type_checking_block(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import the module can run: at top level, in functions and classes; not under ``TYPE_CHECKING``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif _is_type_checking_block(child):
            for branch in child.orelse:  # type: ignore[attr-defined]  (an ast.If)
                yield from _imports(ast.Module(body=[branch], type_ignores=[]))
        else:
            yield from _imports(child)


def import_graph() -> dict[str, set[str]]:
    """First-party module -> the first-party modules it imports (a package's submodule when one is named)."""
    trees = {_module_name(path): (path, tree) for path, tree in _sources()}
    graph: dict[str, set[str]] = {name: set() for name in trees}
    for name, (path, tree) in trees.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in trees else base for alias in node.names]
            for target in targets:
                while target and target not in trees:  # `import a.b.c` of a module: the nearest known one
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None: a depth-first walk that meets a module on its own path."""
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for child in sorted(graph.get(node, ())):
            cycle = walk(child, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = walk(start, [])
        if cycle:
            return cycle
    return None


def test_no_import_cycle_among_first_party_modules() -> None:
    """Modules form layers; a cycle (even through an import inside a function) means two of them are one."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_reports_a_cycle_through_a_function_level_import() -> None:
    """The checks above can fail: a cycle hidden in a function body is found and named."""
    a = ast.parse("def f():\n    from pkg import b\n")
    assert [node.module for node in _imports(a)] == ["pkg"]
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n")
    assert [node.module for node in _imports(guarded)] == ["typing"]
    assert find_cycle({"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}) == [
        "pkg.a",
        "pkg.b",
        "pkg.c",
        "pkg.a",
    ]
    assert find_cycle({"pkg.a": {"pkg.b"}, "pkg.b": set()}) is None


def test_every_data_file_of_the_package_is_shipped_in_its_wheel() -> None:
    """A file the code reads at run time (bundled registry, rule and notice lexicons, templates) but that no
    package-data pattern names works from a checkout and is missing from an installed wheel."""
    import subprocess
    import tomllib

    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["feedvault"]
    shipped = {path for pattern in patterns for path in (REPO / "feedvault").glob(pattern) if path.is_file()}
    tracked = subprocess.run(["git", "ls-files", "feedvault"], cwd=REPO, capture_output=True, text=True, check=True)
    data = {REPO / name for name in tracked.stdout.split() if not name.endswith(".py")}
    assert data, "git ls-files found the package's files"
    assert sorted(str(p.relative_to(REPO)) for p in data - shipped) == []
