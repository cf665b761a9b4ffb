"""One way to read a daemon's TOML file, and one way to say what is wrong with it.

Every daemon (pool, fleetd, rigsim) validates its file against a pydantic model through
`load_file` / `validate`, and every problem reads the same::

    pool.toml: metrics.listen: expected a loopback address (127.0.0.0/8 or ::1), got '0.0.0.0'
    site.toml: sites.a.allotment[0].mw: expected a number greater than or equal to 0 (got -2)
    fleet.toml: rigs[0].cuont: unknown key (check the spelling; configs/REFERENCE.md lists …)

one line per problem: the file, the key path (union tags pydantic adds are left out), what
was expected and, where the key held a value, what was given. Whatever the file said is
shown through `plumbing.redact`, so a password in a URL or a DSN never reaches a terminal.

Checks that span keys (a rig listed twice, a ledger in the wrong mode) raise or return
`Problem`s with their own key; `Problems` carries them out of a pydantic validator.

Old spellings of a key are read for one release: an `Upgrade` rewrites the parsed
document before validation and returns what it changed as `Deprecated` notes; each is
logged once per file and key (``... is deprecated; write ... instead``).
"""

from __future__ import annotations

import logging
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from plumbing.redact import redact, shown

log = logging.getLogger("plumbing.config")

M = TypeVar("M", bound=BaseModel)
UNKNOWN_KEY = "unknown key (check the spelling; configs/REFERENCE.md lists every key)"


class ConfigError(ValueError):
    """A configuration that cannot be used: one line per problem, each naming the file,
    the key, what was expected and what was given (credentials masked)."""


class StrictModel(BaseModel):
    """A table of a config file: unknown keys are errors, values are frozen, and a number
    must be a finite TOML number (not a string, not a boolean)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file that a single field's check cannot see."""

    key: str  # dotted key path, "sites.a.rigs[1]"
    message: str  # what was expected (and what was found)


class Problems(ValueError):
    """Problems that span keys, raised from a model validator or an Upgrade; the loader
    reports each under its own key."""

    def __init__(self, problems: Sequence[Problem | tuple[str, str]]) -> None:
        self.problems = [p if isinstance(p, Problem) else Problem(*p) for p in problems]
        super().__init__("; ".join(f"{p.key}: {p.message}" for p in self.problems))


@dataclass(frozen=True)
class Deprecated:
    """An old spelling an Upgrade rewrote: `old` as the file wrote it, `new` what to write."""

    old: str
    new: str


# Rewrites a parsed document in place (old spellings to new); returns what it changed.
Upgrade = Callable[[dict[str, Any]], list[Deprecated]]
# Checks a validated config as a whole; returns what is wrong with it.
Check = Callable[[Any], Iterable[Problem]]

_warned: set[tuple[str, str]] = set()


def warn_deprecated(source: str, notes: Iterable[Deprecated]) -> None:
    """Log each note once per (file, old key) for the life of the process."""
    for note in notes:
        if (source, note.old) in _warned:
            continue
        _warned.add((source, note.old))
        log.warning(
            "%s: %s is deprecated (read until the next release); write %s instead",
            source, note.old, note.new,
        )  # fmt: skip


# ---------------------------------------------------------------------- loading


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The parsed document at `path`; ConfigError naming the file when it cannot be read
    or is not TOML. `what` says what the file is ("pool configuration")."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    return parse_toml(text, str(path))


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def validate(
    model: type[M],
    data: Mapping[str, Any],
    source: str,
    *,
    upgrades: Sequence[Upgrade] = (),
    checks: Sequence[Check] = (),
    context: dict[str, Any] | None = None,
) -> M:
    """`data` (a parsed document) as a `model`, or ConfigError with every problem found.

    `upgrades` rewrite old spellings first (each logged once as deprecated); `checks` run
    on the validated config and may add problems that span keys."""
    document = dict(data)
    notes: list[Deprecated] = []
    try:
        for upgrade in upgrades:
            notes += upgrade(document)
    except Problems as exc:
        raise ConfigError(_lines(source, exc.problems)) from None
    warn_deprecated(source, notes)
    try:
        config = model.model_validate(document, context=context)
    except ValidationError as exc:
        raise ConfigError(_lines(source, problems(exc, model, document))) from None
    found = [p for check in checks for p in check(config)]
    if found:
        raise ConfigError(_lines(source, found))
    return config


def load_file(
    path: str | Path,
    model: type[M],
    what: str,
    *,
    upgrades: Sequence[Upgrade] = (),
    checks: Sequence[Check] = (),
    context: dict[str, Any] | None = None,
) -> M:
    """Read, parse and validate a TOML file (see `validate`); errors name the file."""
    data = read_toml(path, what)
    return validate(model, data, str(path), upgrades=upgrades, checks=checks, context=context)


def _lines(source: str, found: Iterable[Problem]) -> str:
    return "\n".join(redact(f"{source}: {p.key}: {p.message}") for p in found)


# ---------------------------------------------------------------------- pydantic's errors


def problems(exc: ValidationError, model: type[BaseModel], data: Any) -> list[Problem]:
    """Pydantic's errors as Problems: key paths as the file writes them, messages that say
    what was expected and what was given."""
    out: list[Problem] = []
    for error in exc.errors(include_url=False):
        inner = (error.get("ctx") or {}).get("error")
        if isinstance(inner, Problems):  # raised by a model validator across keys
            prefix = key_path(error["loc"], data)
            for p in inner.problems:
                key = p.key if prefix == "(top level)" else f"{prefix}.{p.key}"
                out.append(Problem(key, p.message))
            continue
        missing = error["type"] == "missing"
        out.append(Problem(key_path(error["loc"], data, missing=missing), _message(error, model)))
    return out


def key_path(loc: Sequence[Any], data: Any, *, missing: bool = False) -> str:
    """'node.urls' from pydantic's ('node', 'rpc', 'urls'): a part of the location that is
    not a table of the document there (the union member pydantic tried, even when a
    key of the same name holds a value, as `devnet = true` does) is left out; the last
    part is kept when it is a key in the document, or the key found `missing`."""
    out = ""
    here = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(part, int) and isinstance(here, list) and 0 <= part < len(here):
            out += f"[{part}]"
            here = here[part]
        elif isinstance(here, dict) and part in here and (last or isinstance(here[part], dict
                                                                             | list)):
            out += f".{part}" if out else str(part)
            here = here[part]
        elif (last and (missing or not isinstance(here, dict))) or not isinstance(here,
                                                                                  dict | list):
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
            here = None
    return out or "(top level)"


_TYPES = {
    "model_type": "a table", "model_attributes_type": "a table", "dict_type": "a table",
    "list_type": "an array", "tuple_type": "an array", "set_type": "an array",
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
    "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "finite_number": "a finite number", "decimal_type": "a number or a string of digits",
    "decimal_parsing": "a number or a string of digits", "path_type": "a path (a string)",
}  # fmt: skip
_LIMITS = {
    "greater_than": ("a number greater than", "gt"),
    "greater_than_equal": ("a number greater than or equal to", "ge"),
    "less_than": ("a number less than", "lt"),
    "less_than_equal": ("a number less than or equal to", "le"),
}
_LENGTHS = {
    "too_short": ("at least", "min_length", "item"),
    "too_long": ("at most", "max_length", "item"),
    "string_too_short": ("at least", "min_length", "character"),
    "string_too_long": ("at most", "max_length", "character"),
}
_NO_VALUE = {"missing", "extra_forbidden", "union_tag_not_found"}


def _message(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return UNKNOWN_KEY
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        name = str(ctx.get("discriminator", "kind")).strip("'")
        tags = ", ".join(union_tags(model, error["loc"], name)) or str(ctx.get("expected_tags"))
        if kind == "union_tag_not_found":
            return f"missing '{name}'; expected one of {tags}"
        return f"expected {name} = one of {tags} (got {shown(ctx.get('tag'), name)})"
    elif kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
        if "got " in message or repr(error.get("input")) in message:
            return message  # our own checks say what they found
    elif kind in _TYPES:
        message = f"expected {_TYPES[kind]}"
    elif kind in _LIMITS:
        words, key = _LIMITS[kind]
        message = f"expected {words} {_number(ctx.get(key))}"
    elif kind in _LENGTHS:
        words, key, unit = _LENGTHS[kind]
        n = ctx.get(key)
        message = f"expected {words} {n} {unit}{'' if n == 1 else 's'}"
    elif kind in ("literal_error", "enum"):
        message = f"expected one of {ctx.get('expected')}"
    elif kind == "string_pattern_mismatch":
        message = f"expected text matching {ctx.get('pattern')}"
    else:
        message = str(error["msg"])
        if message.startswith("Input should be "):
            message = "expected " + message.removeprefix("Input should be ")
    value = error.get("input")
    if kind in _NO_VALUE or (isinstance(value, dict) and kind not in _TYPES):
        return message  # a whole table is not repeated back
    last = next((p for p in reversed(error["loc"]) if isinstance(p, str)), None)
    return f"{message} (got {shown(value, last)})"


def _number(value: Any) -> Any:
    """A limit as the file would write it: 0 rather than 0.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[Any]:
    """The non-None members of a (possibly nested or annotated) union, else [tp]."""
    tp = _strip(tp)
    if typing.get_origin(tp) in (typing.Union, type(int | str)):
        return [m for a in typing.get_args(tp) if a is not type(None) for m in _members(a)]
    return [tp]


def union_tags(model: type[BaseModel], loc: Sequence[Any], field: str) -> list[str]:
    """The values of `field` (the `kind` key) that pick a member of the union at `loc`,
    found by walking the model's annotations ([] when the walk does not find one)."""
    here: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in (m for t in here for m in _members(t)):
            origin = typing.get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                if part in tp.model_fields:
                    nxt.append(tp.model_fields[part].annotation)
                elif _tag_of(tp, field) == part:
                    nxt.append(tp)
            elif origin is list and isinstance(part, int):
                nxt.append(typing.get_args(tp)[0])
            elif origin is dict:
                nxt.append(typing.get_args(tp)[1])
        here = nxt
    tags = [_tag_of(m, field) for t in here for m in _members(t)]
    return [t for t in dict.fromkeys(tags) if t is not None]


def _tag_of(tp: Any, field: str) -> str | None:
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)) or field not in tp.model_fields:
        return None
    annotation = _strip(tp.model_fields[field].annotation)
    values = typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()
    return str(values[0]) if len(values) == 1 else None
