"""Which way imports point, read from the source (tests/imports/graph.py).

The layers (DESIGN.md): `hashing` and `plumbing` import none of the others; `pool` only
those two; `fleetd` neither `pool` nor `rigsim`; `rigsim` may use `pool` (the Stratum
codec, the bitcoin package) but not `fleetd`; only the front door `surplus` composes
them all. Within a package, the sub-packages (and top-level modules) form no cycle: a
cycle means two parts that can only be read, tested and changed together.
"""

from __future__ import annotations

import pytest

from tests.imports.graph import cycles, graph

PACKAGES = ["hashing", "plumbing", "pool", "fleetd", "coordinator", "rigsim", "surplus"]

# what each top-level package may import, besides itself
ALLOWED = {
    "hashing": set(),
    "plumbing": set(),
    "pool": {"hashing", "plumbing"},
    "fleetd": {"plumbing"},
    "coordinator": {"plumbing"},  # reaches each fleetd over its HTTP API and the signed feed
    "rigsim": {"hashing", "plumbing", "pool"},
    "surplus": {"hashing", "plumbing", "pool", "fleetd", "coordinator", "rigsim"},
}

def test_top_level_packages_import_only_the_layers_below() -> None:
    edges = graph(PACKAGES, depth=1)
    wrong = {p: sorted(edges.get(p, set()) - ALLOWED[p]) for p in PACKAGES}
    assert not any(wrong.values()), {p: w for p, w in wrong.items() if w}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_cycle_between_the_parts_of_a_package(package: str) -> None:
    """Every import counts here: top level, in a function, under TYPE_CHECKING."""
    assert cycles(graph([package], depth=2)) == []


def test_no_module_cycle_at_import_time() -> None:
    """Module by module, the imports that run at import time form no cycle anywhere."""
    assert cycles(graph(PACKAGES, depth=99, runtime_only=True)) == []


@pytest.mark.parametrize(
    "package", ["hashing", "plumbing", "pool", "fleetd", "coordinator", "surplus"]
)
def test_no_cycle_between_modules(package: str) -> None:
    """Finer still where it holds: no two modules of these packages import each other,
    even for a type (a Stratum session reaches its server through a narrow Protocol; a
    fleetd site is built from its config by fleetd.build, above both)."""
    assert cycles(graph([package], depth=99)) == []


def test_the_checks_can_see_a_cycle() -> None:
    """The graph sees relative and `from package import module` imports, and a cycle."""
    edges = graph(["pool", "rigsim"], depth=99)
    assert "pool.protocol" in edges["pool.shares.checks"]
    assert "pool.stratum.codec" in edges["rigsim.miner"]
    assert "pool.serve" in edges["pool.cli"]  # imported inside run()
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# of pool, rigsim (an emulated fleet that mines) uses the wire format and bitcoin only
RIGSIM_MAY_USE_OF_POOL = ("pool.stratum.codec", "pool.protocol", "pool.bitcoin")


def test_rigsim_uses_only_the_codec_and_bitcoin_of_the_pool() -> None:
    edges = graph(["rigsim", "pool"], depth=99)
    wrong = sorted(
        f"{m} imports {n}" for m, targets in edges.items() if m.startswith("rigsim")
        for n in targets if n.startswith("pool")
        and not any(n == ok or n.startswith(ok + ".") for ok in RIGSIM_MAY_USE_OF_POOL)
    )  # fmt: skip
    assert wrong == []


def test_nothing_imports_the_front_door() -> None:
    edges = graph(PACKAGES, depth=99)
    wrong = sorted(f"{m} imports {n}" for m, targets in edges.items()
                   if not m.startswith("surplus") for n in targets if n.startswith("surplus"))
    assert wrong == []
