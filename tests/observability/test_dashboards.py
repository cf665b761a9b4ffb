"""The shipped Grafana dashboards, provisioning and Prometheus config, checked as files.

Whether every query actually returns data is proven against a real Prometheus in
test_stack.py; here: the JSON structure Grafana needs, datasource references to the one
provisioned datasource, template variables that are defined, used and resolvable, and
units that match the base units in the metric names.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.components.prometheus import check_config
from tests.observability.dashboards import (
    BUILTINS,
    EXPECTED,
    PROVIDERS,
    ROOT,
    datasource_uid,
    load_all,
    metric_names,
    panels,
    parse_label_values,
    targets,
    variable_query,
    variables,
)

KNOWN_UNITS = {
    "watt", "kwatt", "Hs", "KHs", "MHs", "GHs", "THs", "PHs", "s", "ms", "celsius", "joule",
    "kwatth", "percentunit", "short", "none", "ops", "bool_on_off",
}  # fmt: skip
# base unit in a metric name -> Grafana units a panel of it may use
UNIT_FAMILIES = {
    "_watts": {"watt", "kwatt"},
    "_hashes_per_second": {"Hs", "KHs", "MHs", "GHs", "THs", "PHs"},
    "_seconds": {"s", "ms"},
    "_celsius": {"celsius"},
    "_joules": {"joule", "kwatth"},
}
DASHBOARDS = load_all()


def family(metric: str) -> str | None:
    name = re.sub(r"_(total|bucket|sum|count)$", "", metric)
    for suffix in UNIT_FAMILIES:
        if name.endswith(suffix):
            return suffix
    return None


def test_the_three_dashboards_exist_with_distinct_uids() -> None:
    uids = {d["uid"] for d in DASHBOARDS.values()}
    assert len(uids) == len(EXPECTED) == 3
    for name, d in DASHBOARDS.items():
        assert d["title"].startswith("Surplus / "), name
        assert d["schemaVersion"] >= 36, name
        assert "surplus" in d["tags"], name
        assert list(panels(d)), f"{name} has no panels"


@pytest.mark.parametrize("name", EXPECTED)
def test_every_panel_and_target_uses_the_provisioned_datasource(name: str) -> None:
    uid = datasource_uid()
    for p in panels(DASHBOARDS[name]):
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        assert p["targets"], f"{p['title']}: no queries"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), f"{p['title']}: repeated refId"
        for t in p["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
            assert t["expr"].strip(), f"{p['title']} {t['refId']}: empty expression"
    for var in variables(DASHBOARDS[name]):
        assert var["datasource"] == {"type": "prometheus", "uid": uid}, var["name"]


@pytest.mark.parametrize("name", EXPECTED)
def test_variables_are_defined_used_and_label_values_queries(name: str) -> None:
    d = DASHBOARDS[name]
    defined = [v["name"] for v in variables(d)]
    used: set[str] = set()
    for t in targets(name, d):
        used |= t.variables
    for var in variables(d):
        selector, label = parse_label_values(variable_query(var))
        assert label, var["name"]
        if selector:
            used |= set(re.findall(r"\$(\w+)", selector)) - BUILTINS
            later = defined[defined.index(var["name"]):]
            assert not set(re.findall(r"\$(\w+)", selector)) & set(later), (
                f"${var['name']} depends on itself or a later variable"
            )
        assert var["refresh"] in (1, 2), f"${var['name']} never refreshes"
    assert used <= set(defined), f"{name}: undefined variables {used - set(defined)}"
    assert set(defined) <= used, f"{name}: unused variables {set(defined) - used}"


def test_rig_dashboard_drills_into_one_rig_chosen_by_variables() -> None:
    d = DASHBOARDS["rig"]
    by_name = {v["name"]: v for v in variables(d)}
    assert set(by_name) == {"site", "rig"}
    assert not by_name["rig"].get("multi") and not by_name["rig"].get("includeAll")
    assert "$site" in variable_query(by_name["rig"])
    for t in targets("rig", d):
        assert 'rig="$rig"' in t.expr and 'site="$site"' in t.expr, t


@pytest.mark.parametrize("name", EXPECTED)
def test_units_are_grafana_units_that_match_the_metric_names(name: str) -> None:
    for p in panels(DASHBOARDS[name]):
        unit = p["fieldConfig"]["defaults"].get("unit")
        assert unit in KNOWN_UNITS, f"{p['title']}: unit {unit!r}"
        families = set()
        for t in p["targets"]:
            families |= {family(m) for m in metric_names(t["expr"])} - {None}
        ratio = any(" / " in t["expr"] for t in p["targets"])
        if len(families) == 1:
            allowed = set(UNIT_FAMILIES[families.pop()])  # type: ignore[index]
            if ratio:
                allowed |= {"percentunit", "none"}
            assert unit in allowed, f"{name} / {p['title']}: unit {unit!r}, expected {allowed}"
        elif not families:
            assert unit in {"short", "none", "ops", "percentunit", "bool_on_off", "Hs"}, (
                f"{name} / {p['title']}: counts need a count unit, got {unit!r}"
            )


@pytest.mark.parametrize("name", EXPECTED)
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    seen: list[tuple[str, int, int, int, int]] = []
    for p in DASHBOARDS[name]["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        for title, x, y, w, h in seen:
            across = g["x"] < x + w and x < g["x"] + g["w"]
            overlap = across and g["y"] < y + h and y < g["y"] + g["h"]
            assert not overlap, f"{name}: {p['title']!r} overlaps {title!r}"
        seen.append((p["title"], g["x"], g["y"], g["w"], g["h"]))


def test_metric_names_in_dashboards_follow_the_conventions() -> None:
    for name, d in DASHBOARDS.items():
        for t in targets(name, d):
            for m in metric_names(t.expr):
                assert m.startswith(("surplus_pool_", "surplus_fleetd_", "surplus_rigsim_")), m
                if "rate(" in t.expr and m in t.expr.split("rate(", 1)[1]:
                    assert m.endswith(("_total", "_bucket", "_sum", "_count")), (
                        f"{t}: rate() of {m}, which is not a counter"
                    )


def test_dashboard_provider_points_at_files() -> None:
    providers = []
    for path in sorted(PROVIDERS.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        assert doc["apiVersion"] == 1
        providers += doc["providers"]
    assert len(providers) == 1
    p = providers[0]
    assert p["type"] == "file" and p["options"]["path"].startswith("/")


def test_shipped_prometheus_config_scrapes_the_three_components(promtool: None) -> None:
    path = ROOT / "configs" / "prometheus.yml"
    result = check_config(path)
    assert result.ok, result.output
    doc = yaml.safe_load(path.read_text())
    targets_by_job = {
        j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]]
        for j in doc["scrape_configs"]
    }
    assert targets_by_job == {
        "surplus-pool": ["127.0.0.1:9101"],
        "surplus-fleetd": ["127.0.0.1:9102"],
        "surplus-rigsim": ["127.0.0.1:9103"],
    }
