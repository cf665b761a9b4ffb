"""The import graph of the tree, read from the source (nothing is imported).

An edge A -> B says module A names module B in an import statement: at the top of the
file, inside a function, or under `if TYPE_CHECKING:` (a type is a dependency too).
`runtime_only=True` keeps only the imports that run when the module is imported (top
level, not under TYPE_CHECKING): the ones that can make an import fail half-way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

Graph = dict[str, set[str]]


def modules(packages: Iterable[str], root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the top-level `packages`."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.Module, runtime_only: bool) -> Iterable[ast.stmt]:
    if not runtime_only:
        yield from (n for n in ast.walk(tree) if isinstance(n, ast.stmt))
        return
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and not _is_type_checking(node.test):
            todo.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            todo.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                todo.extend(handler.body)


def imported(name: str, path: Path, known: dict[str, Path], runtime_only: bool) -> set[str]:
    """The modules of `known` that module `name` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")), runtime_only):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                keep = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*keep, base] if base else keep)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        found.update(t for t in targets if t in known)
    return found


def graph(packages: Iterable[str], depth: int, runtime_only: bool = False) -> Graph:
    """Edges between units: a module name cut to its first `depth` parts (depth 2 gives
    the sub-packages and top-level modules of each package)."""
    known = modules(packages)
    edges: Graph = {}
    for name, path in known.items():
        unit = ".".join(name.split(".")[:depth])
        for target in imported(name, path, known, runtime_only):
            other = ".".join(target.split(".")[:depth])
            if other != unit:
                edges.setdefault(unit, set()).add(other)
    return edges


def cycles(edges: Graph) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)
