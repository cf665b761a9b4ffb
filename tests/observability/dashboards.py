"""Reading the shipped Grafana dashboards: panels, PromQL targets, template variables.

Grafana's own substitution rules, reduced to what the dashboards use: `$var` / `${var}`
become the chosen value, a multi-value variable inside a regex matcher (`=~"$var"`)
becomes `(a|b)` with regex characters escaped, and `$__rate_interval` becomes a window.
`label_values(selector, label)` variables are resolved the way Grafana resolves them,
through Prometheus's label-values API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "configs" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
DATASOURCES = GRAFANA / "provisioning" / "datasources"
PROVIDERS = GRAFANA / "provisioning" / "dashboards"
EXPECTED = ("pool", "site-power", "rig")

BUILTINS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}
_VAR = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_LABEL_VALUES = re.compile(r"^label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)$", re.S)
_REGEX_CHARS = re.compile(r"([.+*?^$()\[\]{}|\\])")


def datasource_uid() -> str:
    """The uid of the provisioned Prometheus datasource (every panel must use it)."""
    sources = []
    for path in sorted(DATASOURCES.glob("*.yml")):
        sources += yaml.safe_load(path.read_text())["datasources"]
    prometheus = [s for s in sources if s["type"] == "prometheus"]
    assert len(prometheus) == 1, f"expected one provisioned Prometheus datasource: {sources}"
    return str(prometheus[0]["uid"])


def load(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / f"{name}.json").read_text())


def load_all() -> dict[str, dict[str, Any]]:
    return {name: load(name) for name in EXPECTED}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows' nested panels included, rows themselves not)."""
    for p in dashboard.get("panels", []):
        if p.get("type") == "row":
            yield from p.get("panels", [])
        else:
            yield p


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    unit: str
    ref: str
    expr: str
    legend: str

    @property
    def legend_labels(self) -> set[str]:
        return set(_LEGEND.findall(self.legend))

    @property
    def variables(self) -> set[str]:
        return {a or b for a, b in _VAR.findall(self.expr)} - BUILTINS

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}: {self.expr}"


def targets(name: str, dashboard: dict[str, Any]) -> list[Target]:
    out = []
    for p in panels(dashboard):
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        for t in p.get("targets", []):
            out.append(Target(name, p["title"], unit, t["refId"], t["expr"],
                              t.get("legendFormat", "")))  # fmt: skip
    return out


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return list(dashboard.get("templating", {}).get("list", []))


def variable_query(var: dict[str, Any]) -> str:
    q = var.get("query")
    return q.get("query", "") if isinstance(q, dict) else str(q or "")


def parse_label_values(query: str) -> tuple[str | None, str]:
    """label_values(selector, label) -> (selector or None, label)."""
    m = _LABEL_VALUES.match(query.strip())
    if m is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    return m.group(1), m.group(2)


def _regex_escape(value: str) -> str:
    # PromQL string literal of a regex: each regex escape needs its backslash doubled
    return _REGEX_CHARS.sub(r"\\\\\1", value)


def substitute(expr: str, values: dict[str, list[str]], rate_interval: str) -> str:
    """Grafana's interpolation of `expr` with the chosen variable values."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "__rate_interval" or name == "__interval":
            return rate_interval
        if name not in values:
            raise KeyError(f"variable ${name} has no value")
        chosen = values[name]
        before = expr[: match.start()]
        in_regex = re.search(r'=~\s*"[^"]*$', before) is not None
        if in_regex:
            escaped = [_regex_escape(v) for v in chosen]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        if len(chosen) != 1:
            raise ValueError(f"${name} has {len(chosen)} values outside a regex matcher")
        return chosen[0]

    return _VAR.sub(one, expr)


LabelValues = Callable[[str | None, str], list[str]]


def resolve_variables(
    dashboard: dict[str, Any],
    label_values: LabelValues,
    rate_interval: str,
    choose: Callable[[str, list[str], dict[str, list[str]]], list[str]] | None = None,
) -> dict[str, list[str]]:
    """Values for every variable, in order (later ones may use earlier ones): all values
    for a multi/All variable, else what `choose(name, options, chosen_so_far)` picks
    (default: the first option)."""
    chosen: dict[str, list[str]] = {}
    for var in variables(dashboard):
        selector, label = parse_label_values(variable_query(var))
        if selector is not None:
            selector = substitute(selector, chosen, rate_interval)
        options = sorted(set(label_values(selector, label)))
        if not options:
            raise AssertionError(f"variable ${var['name']} ({variable_query(var)}) has no values")
        if var.get("multi") or var.get("includeAll"):
            chosen[var["name"]] = options
        elif choose is not None:
            chosen[var["name"]] = choose(var["name"], options, chosen)
        else:
            chosen[var["name"]] = options[:1]
    return chosen


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads (identifiers starting with surplus_)."""
    return set(re.findall(r"\b(surplus_[a-z0-9_]+)", expr))
