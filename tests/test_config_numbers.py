"""Every numeric key of every config file is validated at load: finite and in range.

The test walks the config models themselves (fleetd, rigsim, the pool), so a key added
later is covered without being listed here. For each numeric key it sets values no real
file means (inf, -inf, nan, a value beyond the key's declared range, and for fleetd and
rigsim a boolean or a string) into a complete example document and expects the loader's
ConfigError naming the file, the key and the value. fleetd's and rigsim's keys must also
declare both bounds, so "in range" is a property of the model, not of this list.

The command line refuses such files with exit status 2 and one line per problem, never a
traceback (checked in-process for each daemon and once with a real `surplus fleetd`).
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from fleetd.config import ConfigError as FleetdConfigError
from fleetd.config import FleetdConfig, parse_config
from pool.config import ConfigError as PoolConfigError
from pool.config import PoolConfig
from pool.config import parse as parse_pool
from rigsim.config import ConfigError as RigsimConfigError
from rigsim.config import FleetConfig, parse_fleet_config

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = (int, float, Decimal)
Path_ = tuple[str | int, ...]


# ---------------------------------------------------------------------- walking a model


def _strip(ann: Any) -> Any:
    """The annotation without Annotated[...] and without None in a union."""
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return ann


def _models(ann: Any) -> list[type[BaseModel]]:
    """The model classes an annotation may hold (one, or the members of a union)."""
    ann = _strip(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(ann) for m in _models(a)]
    return []


def _pick(models: list[type[BaseModel]], doc: Any) -> type[BaseModel] | None:
    """The union member a document section belongs to: by its `kind`, else the first
    member that validates it."""
    if not isinstance(doc, dict):
        return None
    for m in models:
        kind = m.model_fields.get("kind")
        if kind is not None and typing.get_args(_strip(kind.annotation)) == (doc.get("kind"),):
            return m
    for m in models:
        try:
            m.model_validate(doc)
        except Exception:  # trying each member in turn
            continue
        return m
    return models[0] if len(models) == 1 else None


def numeric_keys(model: type[BaseModel], doc: dict[str, Any],
                 at_: Path_ = ()) -> Iterator[tuple[Path_, FieldInfo]]:  # fmt: skip
    """(path, field) of every numeric key under `model`, for the sections `doc` has (and
    the table-valued keys it leaves to their defaults)."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        ann = _strip(info.annotation)
        origin = typing.get_origin(ann)
        if ann in NUMERIC:
            yield (*at_, key), info
        elif origin in (list, tuple) and typing.get_args(ann) and _models(typing.get_args(ann)[0]):
            members = _models(typing.get_args(ann)[0])
            for i, item in enumerate(doc.get(key) or []):
                m = _pick(members, item)
                if m is not None:
                    yield from numeric_keys(m, item, (*at_, key, i))
        elif origin is dict and _models(typing.get_args(ann)[1]):
            members = _models(typing.get_args(ann)[1])
            for k, item in (doc.get(key) or {}).items():
                m = _pick(members, item)
                if m is not None:
                    yield from numeric_keys(m, item, (*at_, key, k))
        elif _models(ann):
            sub = doc.get(key)
            if sub is None and info.is_required():
                continue
            m = _pick(_models(ann), sub if sub is not None else {})
            if m is not None and (sub is not None or not info.is_required()):
                if sub is None and info.default is None:
                    continue  # an optional section the example leaves out
                yield from numeric_keys(m, sub or {}, (*at_, key))


def bounds(info: FieldInfo) -> tuple[float, float]:
    """The closed range a field's metadata admits (gt/lt are treated as closed: the
    values tried are far from any bound)."""
    lo, hi = -math.inf, math.inf
    for meta in info.metadata:
        if isinstance(meta, at.Ge | at.Gt):
            lo = float(meta.ge if isinstance(meta, at.Ge) else meta.gt)  # type: ignore[arg-type]
        if isinstance(meta, at.Le | at.Lt):
            hi = float(meta.le if isinstance(meta, at.Le) else meta.lt)  # type: ignore[arg-type]
    return lo, hi


def put(doc: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    cur: Any = out
    for part in path[:-1]:
        cur = cur.setdefault(part, {}) if isinstance(cur, dict) else cur[part]
    cur[path[-1]] = value
    return out


def dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# ---------------------------------------------------------------------- example documents


def fleetd_doc(tmp: Path) -> dict[str, Any]:
    """A fleetd file with every section and every kind of allotment source and meter."""
    day = tmp / "day.csv"
    day.write_text("start,mw\n2025-06-21T00:00:00Z,1.0\n")
    meter = {"kind": "http_json", "url": "http://127.0.0.1:1/meter"}
    prom = {"kind": "prometheus", "url": "http://127.0.0.1:9090", "query": "up"}
    return {
        "api": {"listen": "127.0.0.1:8470", "token": "0123456789abcdef0123"},
        "drivers": {}, "audit": {"path": str(tmp / "audit.jsonl")}, "metrics": {},
        "sites": {
            "a": {
                "allotment": [
                    {"kind": "constant", "mw": 1.0},
                    {"kind": "schedule", "file": str(day)},
                    {"kind": "http_json", "url": "http://127.0.0.1:1/", "floor_mw": 0.5},
                    {"kind": "zmq", "name": "bus", "endpoint": "tcp://127.0.0.1:5556",
                     "floor_mw": 0.5},
                ],
                "firm_loads": [{"name": "hall", "kw": 10.0},
                               {"name": "ai", "meter": meter, "max_kw": 20.0},
                               {"name": "office", "meter": prom, "max_kw": 1.0}],
                "overhead": {}, "meter": meter,
                "rigs": [{"host": "127.0.0.1", "model": "S19"}],
            },
            "b": {"allotment": [{"kind": "constant", "mw": 1.0}], "meter": prom,
                  "rigs": [{"host": "127.0.0.2", "model": "S21"}]},
        },
    }  # fmt: skip


def rigsim_doc(tmp: Path) -> dict[str, Any]:
    tuning = {"boot_s": 1.0}
    return {
        "fleet": {},
        "sites": {"s": {"firm_loads": [{"name": "hall", "kw": 10.0}]}},
        "models": {"S19": tuning},
        "rigs": [{"model": "S19", "count": 2, "site": "s", "addresses": "127.0.0.1",
                  "faults": {"fraction": 0.5}}],
    }  # fmt: skip


def pool_doc(name: str) -> Callable[[Path], dict[str, Any]]:
    def make(tmp: Path) -> dict[str, Any]:
        import tomllib

        return tomllib.loads((ROOT / "configs" / name).read_text())

    return make


FAMILIES: dict[str, tuple[type[BaseModel], Callable[[Path], dict[str, Any]],
                          Callable[[dict[str, Any]], Any], type[Exception], bool]] = {
    # name: (model, example document, loader, its error, strict numbers and both bounds)
    "fleetd": (FleetdConfig, fleetd_doc, lambda d: parse_config(d, "site.toml"),
               FleetdConfigError, True),
    "rigsim": (FleetConfig, rigsim_doc, lambda d: parse_fleet_config(d, "fleet.toml"),
               RigsimConfigError, True),
    "pool-devnet": (PoolConfig, pool_doc("pool-devnet.toml"),
                    lambda d: parse_pool(d, "pool.toml"), PoolConfigError, False),
    "pool-regtest": (PoolConfig, pool_doc("pool-regtest.toml"),
                     lambda d: parse_pool(d, "pool.toml"), PoolConfigError, False),
}  # fmt: skip


def bad_values(info: FieldInfo, strict: bool) -> list[Any]:
    """Values the key must refuse."""
    lo, hi = bounds(info)
    is_int = _strip(info.annotation) is int
    out: list[Any] = [math.inf, -math.inf, math.nan]
    if strict:
        out += [True, "1"]
        out.append(2**63 - 1 if is_int and hi < 2**63 - 1 else 1e300)
        if lo > -1:
            out.append(-1)
    return out


def cases() -> Iterator[Any]:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "surplus-config-numbers"
    tmp.mkdir(parents=True, exist_ok=True)
    for family, (model, make, _load, _err, strict) in FAMILIES.items():
        doc = make(tmp)
        for path, info in numeric_keys(model, doc):
            yield pytest.param(family, doc, path, info, strict, id=f"{family}:{dotted(path)}")


CASES = list(cases())


def test_the_walk_reaches_the_keys_of_the_issue() -> None:
    """inf in these keys once ended in a traceback or a daemon failing every cycle."""
    keys = {c.id for c in CASES}
    for key in ("sites.a.allotment[0].mw", "sites.a.allotment[2].floor_mw",
                "sites.a.allotment[2].stale_after_s", "sites.a.margin_kw",
                "sites.a.overhead.aux_kw", "sites.a.firm_loads[0].kw"):  # fmt: skip
        assert f"fleetd:{key}" in keys
    assert len([k for k in keys if k.startswith("fleetd:")]) >= 45
    assert len([k for k in keys if k.startswith("rigsim:")]) >= 25
    assert len([k for k in keys if k.startswith("pool-regtest:")]) >= 20


@pytest.mark.parametrize(("family", "doc", "path", "info", "strict"), CASES)
def test_every_numeric_key_refuses_values_out_of_range(
    family: str, doc: dict[str, Any], path: Path_, info: FieldInfo, strict: bool
) -> None:
    _model, _make, load, error, _ = FAMILIES[family]
    load(doc)  # the example itself is valid
    if strict:
        lo, hi = bounds(info)
        assert math.isfinite(lo) and math.isfinite(hi), (
            f"{dotted(path)} declares no {'upper' if math.isfinite(lo) else 'lower'} bound"
        )
    for value in bad_values(info, strict):
        with pytest.raises(error) as caught:
            load(put(doc, path, value))
        msg = str(caught.value)
        line = next((ln for ln in msg.splitlines() if str(path[-1]) in ln), "")
        assert line, f"{dotted(path)} = {value!r}: the error does not name the key:\n{msg}"
        assert line.split(":")[0].endswith(".toml"), f"no file named: {line}"
        assert repr(value) in line or str(value) in line, f"value not shown: {line}"
        assert "Traceback" not in msg


# ---------------------------------------------------------------------- the command line


def _write(tmp: Path, text: str) -> Path:
    p = tmp / "bad.toml"
    p.write_text(text)
    return p


FLEETD_BAD = {
    "mw": '[sites.a]\nallotment = [{kind = "constant", mw = inf}]\n',
    "floor_mw": '[sites.a]\nallotment = [{kind = "http_json", url = "http://127.0.0.1:1/", '
                'floor_mw = inf}]\n',
    "stale_after_s": '[sites.a]\nallotment = [{kind = "http_json", url = "http://127.0.0.1:1/", '
                     'floor_mw = 1, stale_after_s = inf}]\n',
    "margin_kw": '[sites.a]\nmargin_kw = inf\nallotment = [{kind = "constant", mw = 1}]\n',
    "aux_kw": '[sites.a]\noverhead = {aux_kw = inf}\nallotment = [{kind = "constant", mw = 1}]\n',
    "kw": '[sites.a]\nfirm_loads = [{name = "ai", kw = inf}]\n'
          'allotment = [{kind = "constant", mw = 1}]\n',
}  # fmt: skip
RIGS = '[[sites.a.rigs]]\nhost = "127.0.0.1"\nmodel = "S19"\n'


def test_the_daemons_refuse_infinite_values_without_a_traceback(tmp_path: Path) -> None:
    """Real `surplus fleetd`, `surplus rigsim` and `surplus pool` processes, one per file
    (run side by side); a file that was accepted would run its daemon until the deadline."""
    runs: dict[str, tuple[list[str], list[str]]] = {}  # name: (arguments, expected in stderr)
    for key, text in FLEETD_BAD.items():
        (tmp_path / key).mkdir()
        path = _write(tmp_path / key, text + RIGS)
        runs[f"fleetd {key}"] = (["fleetd", "--config", str(path)],
                                 [f"{path}: sites.a.", f"{key}: ", "inf"])  # fmt: skip
    (tmp_path / "rigsim").mkdir()
    fleet = _write(tmp_path / "rigsim", '[sites.s]\naux_kw = inf\n[[rigs]]\nmodel = "S19"\n'
                   'count = 1\nsite = "s"\naddresses = "127.0.0.1"\n')  # fmt: skip
    runs["rigsim aux_kw"] = (["rigsim", "--fleet", str(fleet), "--metrics", "off"],
                             [f"{fleet}: sites.s.aux_kw: ", "inf"])  # fmt: skip
    (tmp_path / "pool").mkdir()
    pool = (ROOT / "configs" / "pool-devnet.toml").read_text()
    pool_path = _write(tmp_path / "pool",
                       pool.replace("poll_interval = 0.1", "poll_interval = nan"))  # fmt: skip
    runs["pool poll_interval"] = (["pool", "--config", str(pool_path)],
                                  [f"{pool_path}: node.poll_interval", "nan"])  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "surplus.cli", *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for name, (argv, _) in runs.items()
    }  # fmt: skip
    failures = []
    for name, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures.append(f"{name} = inf/nan: the daemon started instead of refusing the file")
            continue
        wanted = runs[name][1]
        if proc.returncode != 2 or "Traceback" in err or not all(w in err for w in wanted):
            failures.append(f"{name}: exit {proc.returncode}, expected 2 and {wanted}: "
                            f"{err[-1500:]}")
    assert not failures, "\n".join(failures)
