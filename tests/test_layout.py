"""The house rules of the layout (issue 11), read from the source with `ast`, nothing imported:
no import cycle between the project's modules, SQL only in the run store, no module over 500 lines,
the dashboard reaching neither torch nor the trainer, and pyproject's pins equal to requirements*.txt.

The checkers are plain functions, each first shown to find what it looks for in a small made-up
package, so a green run means "nothing found", not "nothing looked at"."""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mtlcore", "dashboard")
SQL_HOME = "mtlcore/runs/store.py"  # the one module allowed to hold SQL (the run store)
MAX_LINES = 500
# SQL as this project writes it: upper-case keywords in the shape of a statement (prose such as
# "Select runs to compare" in a caption is not upper case, and docstrings are skipped anyway)
SQL = re.compile(r"\b(SELECT\b[\s\S]+?\bFROM|INSERT\s+(OR\s+[A-Z]+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
                 r"|CREATE\s+(TABLE|(UNIQUE\s+)?INDEX|VIEW|TRIGGER)|ALTER\s+TABLE|DROP\s+(TABLE|INDEX)|PRAGMA\s+\w+)\b")


@dataclass
class Module:
    """One source file of the tree: its dotted name, where it lies, and what it imports."""

    name: str
    path: Path
    is_package: bool
    imports: set[str] = field(default_factory=set)  # every import, also those inside functions
    top_imports: set[str] = field(default_factory=set)  # the ones run when the module is imported


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _for_type_checkers(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Under `if TYPE_CHECKING:`: never run, so neither a load nor a cycle."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _targets(node: ast.Import | ast.ImportFrom, module: Module, known: set[str]) -> set[str]:
    """Dotted names an import statement loads: `from a.b import c` is the module a.b.c when c is one
    of the tree's modules, else a.b; relative imports are resolved against the importing module."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        anchor = module.name.split(".")
        if not module.is_package:
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    found = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known}
    return found | ({base} if len(found) < len(node.names) else set())


def scan(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    """Every module of `packages` under `root`, with its imports."""
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name, is_package = module_name(path, root)
            modules[name] = Module(name, path, is_package)
    known = set(modules)
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not _for_type_checkers(node, parents):
                targets = _targets(node, module, known)
                module.imports |= targets
                if not _in_function(node, parents):
                    module.top_imports |= targets
    return modules


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Groups of the tree's modules that import each other, directly or round a loop (Tarjan's
    strongly connected components; an import inside a function counts: it is still a dependency)."""
    graph = {name: sorted(t for t in m.imports if t in modules and t != name) for name, m in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


def loaded_on_import(modules: dict[str, Module], start: str) -> set[str]:
    """What importing `start` runs, following module-level imports only (a function's own import
    runs when it is called). Importing a.b.c runs a and a.b first, so those count too."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        if name in modules:
            todo += sorted(modules[name].top_imports)
    return seen


def import_chain(modules: dict[str, Module], start: str, target: str) -> list[str]:
    """The shortest chain of module-level imports by which loading `start` loads `target` (for messages)."""
    came_from: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        name = todo.pop(0)
        if name == target:
            chain = [name]
            while came_from[chain[-1]]:
                chain.append(came_from[chain[-1]])
            return chain[::-1]
        parts = name.split(".")
        following = [".".join(parts[:i]) for i in range(1, len(parts))]
        following += sorted(modules[name].top_imports) if name in modules else []
        for nxt in following:
            if nxt not in came_from:
                came_from[nxt] = name
                todo.append(nxt)
    return []


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def sql_strings(path: Path) -> list[str]:
    """String literals of a file that read as SQL statements (docstrings excluded); adjacent literals
    are one constant to `ast`, so a statement split over lines is seen whole."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            and SQL.search(node.value)]


def long_modules(modules: dict[str, Module], limit: int = MAX_LINES) -> dict[str, int]:
    counts = {str(m.path): len(m.path.read_text(encoding="utf-8").splitlines()) for m in modules.values()}
    return {path: n for path, n in counts.items() if n > limit}


# -- the checkers find what they look for -----------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> dict[str, Module]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return scan(root, ("pkg",))


def test_checkers_find_cycles_heavy_imports_sql_and_long_files(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "pkg/__init__.py": '"""A package."""\n',
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def late():\n    from pkg.c import x\n",  # a lazy import still closes a loop
        "pkg/c.py": "from . import a\nx = 1\n",
        "pkg/light.py": "import json\nif TYPE_CHECKING:\n    import torch\n\ndef heavy():\n    import torch\n",
        "pkg/sub/__init__.py": "import torch.nn\n",
        "pkg/sub/leaf.py": "Q = 'SELECT id FROM runs WHERE x=?'\nP = 'Select runs from the table'\n",
        "pkg/uses_leaf.py": "from pkg.sub.leaf import Q\n" + "\n" * 600,
    })
    assert cycles(modules) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert "torch" not in loaded_on_import(modules, "pkg.light")  # only inside a function
    assert "torch.nn" in loaded_on_import(modules, "pkg.uses_leaf")  # through the parent package
    chain = ["pkg.uses_leaf", "pkg.sub.leaf", "pkg.sub", "torch.nn"]
    assert import_chain(modules, "pkg.uses_leaf", "torch.nn") == chain
    assert sql_strings(tmp_path / "pkg/sub/leaf.py") == ["SELECT id FROM runs WHERE x=?"]
    assert list(long_modules(modules)) == [str(tmp_path / "pkg/uses_leaf.py")]


def test_sql_pattern_knows_the_statements_and_not_the_prose() -> None:
    statements = ["SELECT step, value FROM metrics", "INSERT OR IGNORE INTO runs(id) VALUES (?)",
                  "UPDATE runs SET status='stopped'", "DELETE FROM metrics WHERE run_id=?",
                  "CREATE TABLE IF NOT EXISTS runs (id TEXT)", "CREATE UNIQUE INDEX i ON runs(id)",
                  "PRAGMA journal_mode=WAL", "ALTER TABLE runs ADD COLUMN tags TEXT"]
    prose = ["Select runs (click rows in the table) to compare", "delete from the store", "Update the table"]
    assert all(SQL.search(s) for s in statements)
    assert not any(SQL.search(s) for s in prose)


# -- the project's own tree ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> dict[str, Module]:
    return scan(ROOT)


def test_no_import_cycles(project: dict[str, Module]) -> None:
    assert cycles(project) == []


@pytest.mark.xfail(not (ROOT / SQL_HOME).exists(), strict=False,
                   reason=f"the run store is not yet at {SQL_HOME} (issue 11 moves mtlcore/store.py there)")
def test_sql_only_in_the_run_store(project: dict[str, Module]) -> None:
    offenders = {str(m.path.relative_to(ROOT)): sql_strings(m.path) for m in project.values()}
    offenders = {path: found for path, found in offenders.items() if found and path != SQL_HOME}
    assert offenders == {}


def test_no_module_over_500_lines(project: dict[str, Module]) -> None:
    assert long_modules(project) == {}


@pytest.mark.parametrize("banned", ["torch", "mtlcore.trainer"])
def test_dashboard_never_loads_torch_or_the_trainer(project: dict[str, Module], banned: str) -> None:
    """Neither in its own imports (any level) nor through what its modules load on import."""
    dashboard = [m for name, m in project.items() if name.split(".")[0] == "dashboard"]
    hits = lambda names: sorted(n for n in names if n == banned or n.startswith(banned + "."))  # noqa: E731
    direct = {m.name: hits(m.imports) for m in dashboard if hits(m.imports)}
    assert direct == {}, f"dashboard modules import {banned}"
    chains = {m.name: " -> ".join(import_chain(project, m.name, banned)) for m in dashboard
              if hits(loaded_on_import(project, m.name))}
    assert chains == {}, f"loading these pulls in {banned}"


# -- the install -------------------------------------------------------------------------------------


def requirement_lines(path: Path) -> list[str]:
    """Pins of a requirements file, without comments, blank lines and `-r` includes."""
    lines = (line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def test_pyproject_pins_are_the_requirements_files() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert project["dependencies"] == requirement_lines(ROOT / "requirements.txt")
    assert extras["ray"] == requirement_lines(ROOT / "requirements-ray.txt")
    assert [pin for pin in extras["dev"] if not pin.startswith(project["name"] + "[")] == \
        requirement_lines(ROOT / "requirements-dev.txt")
    assert project["scripts"]["mtl"] == "mtlcore.cli:main"
