"""No test synchronises with a fixed sleep: a sleep of 0.1 s or more outside a loop (a
poll with a deadline, or the pacing of a slow sender) must say why it is not waiting on
something ("observation window": a span in which nothing may happen; "real time must
pass": a timeout of the thing under test that only real seconds can reach, such as an
emulated rig's API session expiring, which rigsim runs on real time as pyasic does)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REASONS = ("observation window", "real time must pass")


def fixed_sleeps(path: Path, root: Path = TESTS) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[str] = []

    def visit(node: ast.AST, in_loop: bool) -> None:
        if isinstance(node, ast.For | ast.AsyncFor | ast.While):
            in_loop = True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "sleep" and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, int | float)
                and node.args[0].value >= 0.1 and not in_loop
                and not any(r in lines[node.lineno - 1] for r in REASONS)):  # fmt: skip
            line = lines[node.lineno - 1].strip()
            found.append(f"{path.relative_to(root)}:{node.lineno}: {line}")
        for child in ast.iter_child_nodes(node):
            visit(child, in_loop)

    visit(ast.parse(source), False)
    return found


def test_no_fixed_sleep_synchronises_a_test() -> None:
    files = list(TESTS.rglob("*.py"))
    assert len(files) > 150 and any(p.parent.name == "fleetd" for p in files)
    assert [s for p in files for s in fixed_sleeps(p)] == []


def test_the_scan_finds_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio\nasync def f():\n    await asyncio.sleep(0.3)\n"
                      "    while True:\n        await asyncio.sleep(0.5)\n")  # fmt: skip
    assert fixed_sleeps(sample, tmp_path) == ["sample.py:3: await asyncio.sleep(0.3)"]
