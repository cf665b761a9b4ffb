"""The configuration reference (configs/REFERENCE.md), rendered from the config models.

The loaders validate every TOML file against pydantic models, so the models are the
only honest source of what a key means: this module walks them (``model_fields``,
annotations, defaults, ``Field(description=...)``, ge/gt/le/lt and length limits,
``Literal`` choices, enums, nested models, dicts and lists of models, discriminated
unions) and renders one Markdown table per TOML table. A field without a description
is documented by the comment next to it in the model's source (a trailing ``# ...`` on
the field's line, or a comment block right above it), read with ``ast`` and
``tokenize`` so nothing has to be written twice. tests/test_reference.py keeps the
committed file equal to `render()`.

The module is pure: no I/O beyond reading the models' source, no global state, so the
same models always give the same text (defaults computed at run time, such as a thread
count from the CPU count, are shown as their expression, never as this machine's value).
"""

from __future__ import annotations

import ast
import enum
import inspect
import io
import json
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from coordinator.config import ControlConfig
from fleetd.config import FleetdConfig
from pool.config import PoolConfig
from rigsim.config import FleetConfig

# ------------------------------------------------------------------------ the files


@dataclass(frozen=True)
class FileKind:
    """One kind of TOML file Surplus reads: its model and where the examples live."""

    title: str
    model: type[BaseModel]
    pattern: str  # shipped examples, relative to the repository root
    intro: str


FILE_KINDS: tuple[FileKind, ...] = (
    FileKind(
        title="Pool configuration",
        model=PoolConfig,
        pattern="configs/pool-*.toml",
        intro=(
            "Read by `surplus pool --config FILE` and `surplus ledger ... --config FILE` "
            "(`pool/config.py`). `[node]` takes one of two forms: a real node over JSON-RPC, "
            "or `devnet = true` for the embedded chain. Pool mode needs a `[ledger]`; "
            "`[metrics]` and `[stats_api]` listen on loopback only and are off when absent."
        ),
    ),
    FileKind(
        title="fleetd configuration",
        model=FleetdConfig,
        pattern="configs/fleetd-*.toml",
        intro=(
            "Read by `surplus fleetd --config FILE` (`fleetd/config.py`). Each "
            "`[sites.<site>]` lists its allotment sources (the effective allotment is the "
            "lowest of them), its firm loads, overhead, meter and rigs. Relative file paths "
            "(schedules, the audit log) are relative to the config file."
        ),
    ),
    FileKind(
        title="Coordinator configuration",
        model=ControlConfig,
        pattern="configs/control.toml",
        intro=(
            "Read by `surplus control --config FILE` (`coordinator/config.py`): the "
            "portfolio policy, the operator's tokens, and each `[sites.<site>]` the "
            "coordinator splits the portfolio among (its fleetd API, its feed's signing key, "
            "licence, priority class, share, shed speed and ramp limits). Relative paths are "
            "relative to the config file."
        ),
    ),
    FileKind(
        title="rigsim fleet file",
        model=FleetConfig,
        pattern="configs/fleet-*.toml",
        intro=(
            "Read by `surplus rigsim --fleet FILE` and `surplus demo` (`rigsim/config.py`): "
            "the emulated rigs and the firmware each runs (LuxOS, Braiins OS+, stock Antminer, "
            "Whatsminer), the sites they stand on (whose meters rigsim serves) and the faults "
            "some of them have. Rig addresses are on loopback (127.0.0.0/8)."
        ),
    ),
)

HEADER = """\
# Configuration reference

Every key of the four TOML files Surplus reads, with its type, default and limits.
This file is rendered from the configuration models by
`surplus reference --output configs/REFERENCE.md`, and a test compares the two, so it
says exactly what the loaders accept. Unknown keys are errors in all four files.

Types: a float key accepts an integer (`30` for `30.0`); a decimal key accepts a number
or a string (`"0.0005"` stays exact); a path is a string. A default of *unset* means the
key may be left out and has no value; an *absent* table is off; *defaults* means the
table may be left out and every key in it takes its default. Checks that one limit
cannot express (addresses, URLs, loopback-only listeners, address ranges that must not
overlap, keys that exclude each other) run when the file is loaded, and their errors
name the key.

Every endpoint table (`[metrics]`, `[stats_api]`) has one shape: `enabled` and
`listen = "HOST:PORT"`. The previous release's spellings are still read, with a
deprecation message naming the file, the old key and the new: the pool's separate
`port` key beside a host-only `listen`, and fleetd's `listen = ""` for off.
"""


# ------------------------------------------------------------------------ the tables


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    constraints: str
    description: str


@dataclass
class Table:
    """One TOML table; a model used at several paths (a meter for the site and for a
    firm load) is one table with every path in its heading."""

    paths: list[str]
    variant: str
    doc: str
    rows: list[Row] = field(default_factory=list)

    @property
    def heading(self) -> str:
        if self.paths == [""]:
            return "Top level"
        names = ", ".join(f"`{p}`" for p in self.paths)
        return f"{names} with {self.variant}" if self.variant else names


def tables(model: type[BaseModel]) -> list[Table]:
    """Every table of a file whose top level is `model`, parents before children."""
    out: dict[tuple[type[BaseModel], str], Table] = {}
    _walk(model, (), None, out)
    return list(out.values())


def render() -> str:
    """The whole reference, as committed in configs/REFERENCE.md."""
    parts = [HEADER]
    for kind in FILE_KINDS:
        parts.append(f"## {kind.title} (`{kind.pattern}`)\n\n{kind.intro}\n")
        for table in tables(kind.model):
            parts.append(_render_table(table))
    return "\n".join(parts)


# ------------------------------------------------------------------------ walking the models

# A TOML table path: (name, is an array of tables) per segment; names in <> stand for
# any key (the site's name, the model's name).
Segments = tuple[tuple[str, bool], ...]


def _toml_path(segments: Segments) -> str:
    if not segments:
        return ""
    dotted = ".".join(name for name, _ in segments)
    return f"[[{dotted}]]" if segments[-1][1] else f"[{dotted}]"


def _walk(
    model: type[BaseModel],
    segments: Segments,
    tag: str | None,
    out: dict[tuple[type[BaseModel], str], Table],
) -> None:
    """Add `model`'s table at `segments` (and its sub-tables) to `out`; `tag` is the key
    that picks this member of a union of tables, if it is one."""
    variant = _variant_label(model, tag) if tag else ""
    path = _toml_path(segments)
    key = (model, variant)
    table = out.get(key)
    if table is not None:
        if path not in table.paths:
            table.paths.append(path)
            table.paths.sort(key=lambda p: (p.count("."), p))
    else:
        table = Table([path], variant, _docstring(model))
        out[key] = table
    fresh = not table.rows
    notes = _source_notes(model)
    children: list[tuple[type[BaseModel], Segments, str | None]] = []
    for name, info in _ordered_fields(model, tag):
        shape = _shape(info.annotation)
        description = info.description or notes.get(name, Note()).comment
        if shape.models:
            sub = (*segments, (name, shape.container == "list"))
            if shape.container == "dict":
                sub = (*segments, (name, False), (f"<{name.removesuffix('s')}>", False))
            union_tag = _union_tag(shape.models)
            children += [(m, sub, union_tag) for m in shape.models]
            row = _table_row(name, info, shape, sub, description)
        else:
            row = Row(
                key=name,
                type=shape.type_name,
                default=_default(info, notes.get(name, Note())),
                constraints=_constraints(info, shape),
                description=description,
            )
        if fresh:
            table.rows.append(row)
    for child, sub, child_tag in children:
        _walk(child, sub, child_tag, out)


def _ordered_fields(model: type[BaseModel], tag: str | None) -> list[tuple[str, FieldInfo]]:
    """Fields in declaration order, except that a union member's tag (`kind`) comes first."""
    items = list(model.model_fields.items())
    if tag:
        items.sort(key=lambda item: item[0] != tag)
    return items


def _table_row(name: str, info: FieldInfo, shape: _Shape, sub: Segments, description: str) -> Row:
    if shape.container == "list":
        kind, where = "array of tables", _toml_path(sub)
    elif shape.container == "dict":
        kind, where = f"tables, one per `{sub[-1][0]}`", _toml_path(sub)
    else:
        kind, where = "table", _toml_path(sub)
    if len(shape.models) > 1:
        kind += f" ({len(shape.models)} forms)"
    see = f"see `{where}`"
    return Row(
        key=name,
        type=kind,
        default=_table_default(info),
        constraints=_constraints(info, shape),
        description=f"{description}; {see}" if description else see,
    )


def _table_default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        return "*none*" if info.default_factory in (list, dict) else "*defaults*"
    if info.default is None:
        return "*absent*"
    return "*defaults*"


# ------------------------------------------------------------------------ annotations


@dataclass(frozen=True)
class _Shape:
    """What an annotation means in TOML terms."""

    type_name: str  # for scalars and arrays of scalars
    models: tuple[type[BaseModel], ...] = ()  # nested table(s); several: a union
    container: str = ""  # "list" or "dict" around the model(s)
    choices: tuple[Any, ...] = ()  # Literal values or enum members


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return tuple(_strip(a) for a in typing.get_args(tp) if a is not type(None))
    return None


def _flatten(tp: Any) -> tuple[Any, ...]:
    """The non-None members of a (possibly nested, possibly Annotated) union."""
    tp = _strip(tp)
    args = _union_args(tp)
    if args is None:
        return (tp,)
    return tuple(member for a in args for member in _flatten(a))


_NAMES: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    Decimal: "decimal",
}


def _shape(annotation: Any) -> _Shape:
    members = _flatten(annotation)
    if all(_is_model(m) for m in members):
        return _Shape("table", models=members)
    if len(members) == 1:
        tp = members[0]
        origin = typing.get_origin(tp)
        if origin is list:
            inner = _flatten(typing.get_args(tp)[0])
            if all(_is_model(m) for m in inner):
                return _Shape("array of tables", models=inner, container="list")
            return _Shape(f"array of {_scalar_shape(inner).type_name}")
        if origin is dict:
            inner = _flatten(typing.get_args(tp)[1])
            if all(_is_model(m) for m in inner):
                return _Shape("tables", models=inner, container="dict")
            return _Shape(f"inline table of {_scalar_shape(inner).type_name}")
    return _scalar_shape(members)


def _scalar_shape(members: tuple[Any, ...]) -> _Shape:
    names: list[str] = []
    choices: list[Any] = []
    for tp in members:
        if typing.get_origin(tp) is Literal:
            values = typing.get_args(tp)
            choices += values
            name = _NAMES.get(type(values[0]), "string")
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            choices += [m.value for m in tp]
            name = "string"
        elif isinstance(tp, type) and issubclass(tp, PurePath):
            name = "path"
        elif typing.get_origin(tp) is list:
            name = f"array of {_scalar_shape(_flatten(typing.get_args(tp)[0])).type_name}"
        else:
            name = _NAMES.get(tp, getattr(tp, "__name__", str(tp)))
        if name not in names:
            names.append(name)
    return _Shape(" or ".join(names), choices=tuple(choices))


def _tag_value(model: type[BaseModel], name: str) -> tuple[Any, ...]:
    tp = _strip(model.model_fields[name].annotation)
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else ()


def _union_tag(models: tuple[type[BaseModel], ...]) -> str | None:
    """The key that picks a member of a union of tables (`kind`): a field every member
    has, each with its own single-value Literal. The discriminator may be a callable
    (the pool's `[node]`), so the fields are read rather than the union's metadata."""
    if len(models) < 2:
        return None
    common = set.intersection(*(set(m.model_fields) for m in models))
    for name in sorted(common):
        values = [_tag_value(m, name) for m in models]
        if all(len(v) == 1 for v in values) and len(set(values)) == len(models):
            return name
    return None


def _variant_label(model: type[BaseModel], tag: str) -> str:
    """How the heading names one member of a union: `kind = "zmq"`."""
    (value,) = _tag_value(model, tag)
    label = f"`{tag} = {_toml(value)}`"
    return label if model.model_fields[tag].is_required() else f"{label} (the default)"


# ------------------------------------------------------------------------ defaults, limits


def _toml(value: Any) -> str:
    """A value as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _toml(value.value)
    if isinstance(value, str | PurePath):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_toml(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return str(value)


def _default(info: FieldInfo, note: Note) -> str:
    if info.default_factory is not None:
        if info.default_factory is list:
            return "`[]`"
        if info.default_factory is dict:
            return "`{}`"
        if note.factory:
            return f"computed: `{note.factory}`"
        return "computed"
    if info.default is PydanticUndefined:
        return "**required**"
    if info.default is None:
        return "*unset*"
    return f"`{_toml(info.default)}`"


def _constraints(info: FieldInfo, shape: _Shape) -> str:
    parts: list[str] = []
    if len(shape.choices) == 1 and not shape.models:
        parts.append(f"must be `{_toml(shape.choices[0])}`")
    elif shape.choices:
        parts.append("one of " + ", ".join(f"`{_toml(c)}`" for c in shape.choices))
    for item in info.metadata:
        parts += _limit(item, counted="tables" if shape.models else "items")
    return ", ".join(parts)


def _limit(item: Any, counted: str) -> list[str]:
    out: list[str] = []
    for attr, text in (("gt", "> {}"), ("ge", "≥ {}"), ("lt", "< {}"), ("le", "≤ {}"),
                       ("multiple_of", "multiple of {}")):  # fmt: skip
        value = getattr(item, attr, None)
        if value is not None and isinstance(item, at.BaseMetadata):
            out.append(text.format(_toml(value)))
    if isinstance(item, at.MinLen):
        out.append(f"at least {item.min_length}" if counted == "tables"
                   else f"length ≥ {item.min_length}")  # fmt: skip
    if isinstance(item, at.MaxLen):
        out.append(f"length ≤ {item.max_length}")
    pattern = getattr(item, "pattern", None)
    if isinstance(pattern, str):
        out.append(f"matches `{pattern}`")
    return out


# ------------------------------------------------------------------------ the source's words


@dataclass(frozen=True)
class Note:
    """What a field's source line says beyond its annotation."""

    comment: str = ""
    factory: str = ""  # the default_factory expression, for computed defaults


_SKIP_COMMENT = re.compile(r"^(fmt:|noqa|type:|pragma)")


@cache
def _source_notes(model: type[BaseModel]) -> dict[str, Note]:
    """Per field: the comments beside or above it and its default_factory expression,
    from the class (in the MRO) that declares it."""
    notes: dict[str, Note] = {}
    for cls in reversed(model.__mro__):
        if _is_model(cls) and cls is not BaseModel and "__annotations__" in cls.__dict__:
            notes.update(_class_notes(cls))
    return notes


def _class_notes(cls: type) -> dict[str, Note]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments: dict[int, str] = {}  # line number -> comment text
    full_line: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            row = tok.start[0]
            comments[row] = text
            if not lines[row - 1][: tok.start[1]].strip():
                full_line.add(row)
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    fields: list[tuple[str, str, str]] = []  # name, comment, factory
    for stmt in body.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        end = stmt.end_lineno or stmt.lineno
        above: list[str] = []
        row = stmt.lineno - 1
        while row in full_line:
            above.insert(0, comments[row])
            row -= 1
        beside = [comments[r] for r in range(stmt.lineno, end + 1) if r in comments]
        text = " ".join(c for c in above + beside if c and not _SKIP_COMMENT.match(c))
        fields.append((stmt.target.id, text, _factory_source(stmt.value)))
    return {name: Note(comment, factory) for name, comment, factory in _join_continued(fields)}


def _join_continued(fields: list[tuple[str, str, str]]) -> Iterable[tuple[str, str, str]]:
    """Comments that run on from one field to the next, as written in the source: one
    that opens a parenthesis the next field's comment closes is one sentence (kept on the
    first field), and one that starts with "..." continues the previous field's."""
    out: list[tuple[str, str, str]] = []
    skip = False
    for i, (name, text, factory) in enumerate(fields):
        if skip:
            out.append((name, "", factory))
            skip = False
            continue
        nxt = fields[i + 1][1] if i + 1 < len(fields) else ""
        if text.count("(") > text.count(")") and nxt.count(")") > nxt.count("("):
            text = f"{text} {nxt}"
            skip = True
        elif text.startswith("...") and out and out[-1][1]:
            text = f"{out[-1][1]} {text}"
        out.append((name, text, factory))
    return out


def _factory_source(value: ast.expr | None) -> str:
    if not isinstance(value, ast.Call):
        return ""
    for kw in value.keywords:
        if kw.arg == "default_factory":
            expr = kw.value.body if isinstance(kw.value, ast.Lambda) else kw.value
            return ast.unparse(expr)
    return ""


def _docstring(model: type[BaseModel]) -> str:
    """The model's own docstring as Markdown, up to the first example block."""
    doc = model.__dict__.get("__doc__")
    if not doc:
        return ""
    paragraphs = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        if para.startswith(" ") or para.rstrip().endswith("::"):
            break
        paragraphs.append(" ".join(line.strip() for line in para.splitlines()))
    return "\n\n".join(paragraphs).replace("``", "`")


# ------------------------------------------------------------------------ Markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _render_table(table: Table) -> str:
    lines = [f"### {table.heading}", ""]
    if table.doc:
        lines += [table.doc, ""]
    lines += [
        "| Key | Type | Default | Constraints | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        "| " + " | ".join(_cell(c) for c in (f"`{r.key}`", r.type, r.default,
                                            r.constraints, r.description)) + " |"
        for r in table.rows
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
