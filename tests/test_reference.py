"""configs/REFERENCE.md: current with the config models, and complete for the shipped configs.

The reference is rendered from the pydantic models (surplus/reference.py). These tests
keep the committed copy equal to a fresh rendering, check that every key the shipped
example configs use is documented in it (under the table it is written in), and pin the
renderer's reading of a model: types, defaults, limits, choices, source comments,
computed defaults, nested tables and discriminated unions.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from surplus.cli import main
from surplus.reference import FILE_KINDS, render, tables

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "configs" / "REFERENCE.md"
REFRESH = "run `.venv/bin/surplus reference --output configs/REFERENCE.md` and commit the result"


def test_committed_reference_is_current(tmp_path: Path) -> None:
    fresh = tmp_path / "REFERENCE.md"
    assert main(["reference", "--output", str(fresh)]) == 0
    assert fresh.read_text(encoding="utf-8") == render()
    committed = REFERENCE.read_text(encoding="utf-8")
    assert committed == fresh.read_text(encoding="utf-8"), (
        f"configs/REFERENCE.md is out of date with the config models; {REFRESH}"
    )


# ------------------------------------------------------------------------ shipped keys

Segments = tuple[str, ...]
Section = list[tuple[Segments, set[str]]]  # per table: its path(s) and its keys


def _sections(markdown: str) -> dict[str, Section]:
    """Per file kind (by its pattern): the tables of its section of the reference."""
    out: dict[str, Section] = {}
    section: Section | None = None
    keys: set[str] = set()
    for line in markdown.splitlines():
        if line.startswith("## "):
            match = re.search(r"\(`([^`]+)`\)", line)
            assert match, f"a file section names its files: {line!r}"
            section = out.setdefault(match.group(1), [])
        elif line.startswith("### "):
            assert section is not None
            keys = set()
            paths = re.findall(r"`\[\[?([^\]`]+)\]\]?`", line)
            if line == "### Top level":
                section.append(((), keys))
            for path in paths:
                section.append((tuple(path.split(".")), keys))
        elif line.startswith("| `") and section is not None:
            keys.add(line.split("`")[1])
    return out


def _matches(table: Segments, path: Segments) -> bool:
    return len(table) == len(path) and all(
        t == p or t.startswith("<") for t, p in zip(table, path, strict=True)
    )


def _undocumented(node: dict[str, Any], path: Segments, section: Section) -> tuple[list[str], int]:
    """Keys of a parsed TOML table missing from the reference, and how many were checked."""
    missing: list[str] = []
    checked = 0
    for key, value in node.items():
        here = (*path, key)
        checked += 1
        as_row = any(_matches(t, path) and key in keys for t, keys in section)
        as_name = any(_matches(t, here) and t[-1].startswith("<") for t, _ in section)
        if not (as_row or as_name):
            missing.append(".".join(here))
            continue
        if not any(_matches(t[: len(here)], here) for t, _ in section):
            continue  # a value (an inline table such as headers = {...}), not a table
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                more, n = _undocumented(item, here, section)
                missing += more
                checked += n
    return missing, checked


def test_every_shipped_key_is_in_the_reference() -> None:
    sections = _sections(REFERENCE.read_text(encoding="utf-8"))
    assert set(sections) == {kind.pattern for kind in FILE_KINDS}
    for kind in FILE_KINDS:
        files = sorted(ROOT.glob(kind.pattern))
        assert files, f"no shipped config matches {kind.pattern}"
        for file in files:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
            missing, checked = _undocumented(data, (), sections[kind.pattern])
            assert not missing, f"{file.name}: keys not in configs/REFERENCE.md: {missing}"
            assert checked >= 15, f"{file.name}: only {checked} keys walked"


def test_the_key_check_finds_a_key_the_reference_lacks() -> None:
    sections = _sections(REFERENCE.read_text(encoding="utf-8"))
    pool = sections["configs/pool-*.toml"]
    doc = {"stratum": {"port": 3333, "vardiff": {"initial": 1.0, "no_such_key": 1}}}
    assert _undocumented(doc, (), pool)[0] == ["stratum.vardiff.no_such_key"]
    fleet = sections["configs/fleetd-*.toml"]
    doc = {"sites": {"a": {"allotment": [{"kind": "zmq", "topic": "x"}, {"colour": 1}]}}}
    assert _undocumented(doc, (), fleet)[0] == ["sites.a.allotment.colour"]


# ------------------------------------------------------------------------ how a model reads


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Inner(_Strict):
    """Inner table.

    Example::

        [outer.inner]
    """

    depth: int = Field(3, ge=1, le=9)  # how deep it goes


class _Red(_Strict):
    kind: Literal["red"]
    # a comment above the field,
    # on two lines
    shade: float = Field(0.5, gt=0, lt=1)


class _Blue(_Strict):
    kind: Literal["blue"]
    depth: int = Field(default_factory=lambda: max(1, 2), ge=1)


class _Outer(_Strict):
    name: str = Field(..., min_length=1, description="a described name")
    mode: Literal["a", "b"] = "a"
    zone: str | None = None  # the time zone (kept (on this
    tag: str = "x"  # line) for the next one)
    inner: _Inner = Field(default_factory=_Inner)
    colours: list[Annotated[_Red | _Blue, Field(discriminator="kind")]] = Field(min_length=1)
    groups: dict[str, _Inner] = Field(default_factory=dict)


def test_a_model_reads_as_tables() -> None:
    by_heading = {t.heading: t for t in tables(_Outer)}
    assert list(by_heading) == [
        "Top level",
        "`[inner]`, `[groups.<group>]`",
        '`[[colours]]` with `kind = "red"`',
        '`[[colours]]` with `kind = "blue"`',
    ]
    top = {r.key: r for r in by_heading["Top level"].rows}
    assert (top["name"].default, top["name"].constraints, top["name"].description) == (
        "**required**",
        "length ≥ 1",
        "a described name",
    )
    assert (top["mode"].type, top["mode"].default, top["mode"].constraints) == (
        "string",
        '`"a"`',
        'one of `"a"`, `"b"`',
    )
    assert top["zone"].default == "*unset*"
    assert top["zone"].description == "the time zone (kept (on this line) for the next one)"
    assert top["tag"].description == ""
    assert (top["colours"].type, top["colours"].constraints) == (
        "array of tables (2 forms)",
        "at least 1",
    )
    assert top["groups"].type == "tables, one per `<group>`"
    assert top["inner"].description == "see `[inner]`"

    inner = by_heading["`[inner]`, `[groups.<group>]`"]
    assert inner.doc == "Inner table."
    assert [(r.key, r.default, r.constraints, r.description) for r in inner.rows] == [
        ("depth", "`3`", "≥ 1, ≤ 9", "how deep it goes"),
    ]
    red = by_heading['`[[colours]]` with `kind = "red"`'].rows
    assert [r.key for r in red] == ["kind", "shade"]
    assert red[0].constraints == 'must be `"red"`'
    assert red[1].description == "a comment above the field, on two lines"
    assert red[1].constraints == "> 0, < 1"
    blue = by_heading['`[[colours]]` with `kind = "blue"`'].rows
    assert blue[1].default == "computed: `max(1, 2)`"
