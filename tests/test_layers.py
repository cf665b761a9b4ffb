"""The layers of DEVELOPING.md, read from the source: no import cycle between units, and
every import points the way the layers allow.

A unit is a sub-package (pool.stratum, fleetd.control, ...) or a top-level module of a
package (pool.config, rigsim.fleet, ...). Every import counts: at module level, inside a
function (a lazy import is still a dependency) and under `if TYPE_CHECKING:` (a type is
a dependency too). An import of a package's __init__ (`from pool import x` where x is not
a module) counts as an import of the package itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hashing", "plumbing", "pool", "fleetd", "rigsim", "surplus")

# Cycles that still exist, each as the set of units it joins. This list only shrinks: a
# new cycle fails the test, and so does an entry here that no longer is one (delete it).
ALLOWED_CYCLES: list[frozenset[str]] = [
    # pool.shares takes Stratum's error codes from pool.stratum.codec, and
    # pool.stratum.config its version mask from pool.shares.checks (issue 13: a leaf
    # module for the protocol constants)
    frozenset({"pool.shares", "pool.stratum"}),
    # fleetd.config validates schedule files with fleetd.allotment, which reads the
    # feed settings of fleetd.config (issue 13, the fleetd step)
    frozenset({"fleetd.config", "fleetd.allotment"}),
    # fleetd.site builds what fleetd.control runs, and fleetd.control reads the site's
    # types (issue 13: the shared types move down)
    frozenset({"fleetd.site", "fleetd.control"}),
    # hashing.kernels reads the recorded choice of hashing.choice (inside choose()), which
    # measures the kernels of hashing.kernels and hashing.single: the record's reading
    # belongs in a leaf module of its own
    frozenset({"hashing.choice", "hashing.kernels", "hashing.single"}),
]

# What each package may import besides itself and the standard library / third parties.
MAY_IMPORT: dict[str, set[str]] = {
    "hashing": set(),
    "plumbing": set(),
    "pool": {"hashing", "plumbing"},
    "fleetd": {"plumbing"},
    "rigsim": {"hashing", "plumbing", "pool"},  # of pool: the codec and bitcoin only
    "surplus": {"hashing", "plumbing", "pool", "fleetd", "rigsim"},
}
RIGSIM_MAY_USE_OF_POOL = ("pool.stratum.codec", "pool.bitcoin")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def unit_of(module: str) -> str:
    """pool.stratum.server -> pool.stratum (a sub-package); pool.config -> pool.config (a
    top-level module); pool -> pool (the package's own __init__)."""
    return ".".join(module.split(".")[:2])


def imports(module: str) -> Iterator[str]:
    """The project modules `module` imports, each as precisely as the import names it."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                yield sub if sub in modules() else source


def project(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


@cache
def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in modules():
        unit = unit_of(module)
        targets = graph.setdefault(unit, set())
        for name in imports(module):
            if project(name) and unit_of(name) != unit:
                targets.add(unit_of(name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_the_tree() -> None:
    graph = unit_graph()
    assert {"pool.stratum", "pool.config", "fleetd.control", "rigsim.fleet",
            "plumbing.config"} <= set(graph)  # fmt: skip
    assert "pool.stratum" in graph["pool.app"] and "plumbing.catalog" in graph["fleetd.models"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_no_import_cycle_between_units_beyond_the_listed_ones() -> None:
    found = cycles(unit_graph())
    new = [sorted(c) for c in found if c not in ALLOWED_CYCLES]
    gone = [sorted(c) for c in ALLOWED_CYCLES if c not in found]
    assert not new, f"import cycles between units: {new}"
    assert not gone, f"these cycles are gone: delete them from ALLOWED_CYCLES: {gone}"


def allowed(package: str, name: str) -> bool:
    """May `package` import the project module `name`?"""
    top = name.split(".")[0]
    if top == package:
        return True
    if top not in MAY_IMPORT[package]:
        return False
    return not (package == "rigsim" and top == "pool") or name.startswith(RIGSIM_MAY_USE_OF_POOL)


def _offending(package: str) -> list[str]:
    return [f"{module} imports {name}" for module in modules()
            if module.split(".")[0] == package
            for name in imports(module) if project(name) and not allowed(package, name)]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_the_way_the_layers_allow(package: str) -> None:
    assert _offending(package) == []


def test_nothing_imports_the_front_door() -> None:
    importers = [f"{m} imports {n}" for m in modules() for n in imports(m)
                 if n.split(".")[0] == "surplus" and m.split(".")[0] != "surplus"]  # fmt: skip
    assert importers == []
