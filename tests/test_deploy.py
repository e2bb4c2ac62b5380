"""The dashboards and alert rules in deploy/ query only metrics the code really exports, and show all of ours."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import onestop.engine.metrics  # noqa: F401 - defines every onestop_* metric on the registry

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
RULES = sorted((ROOT / "deploy" / "prometheus").glob("*.yaml"))
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "summary": ("_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",)}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end():].lstrip().startswith("(") or match.group().lower() in _KEYWORDS:
            continue  # a function or aggregation, or an operator
        names.add(match.group())
    return names


def exported() -> dict[str, str]:
    """Every sample name the process's registry exposes, mapped to its metric family."""
    names: dict[str, str] = {}
    for family in REGISTRY.collect():
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names[family.name + suffix] = family.name
    return names


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel.get("targets", ()):
                yield f"{path.name}: {panel['title']}", target["expr"]


def rule_exprs() -> Iterator[tuple[str, str]]:
    for path in RULES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                yield f"{path.name}: {rule['alert']}", rule["expr"]


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.95, sum by (le, route) (rate(a_seconds_bucket{x="y"}[5m])))', {"a_seconds_bucket"}),
    ("sum(rate(a_total[5m])) / clamp_min(sum(rate(b_total[5m])), 1) > 0.02", {"a_total", "b_total"}),
    ('max(c) and on (job) d{code=~"5.."}', {"c", "d"}),
])
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_there_is_a_dashboard_and_there_are_alert_rules() -> None:
    assert DASHBOARDS
    assert RULES
    assert len(list(rule_exprs())) >= 5


@pytest.mark.parametrize(("where", "expr"), [*dashboard_exprs(), *rule_exprs()])
def test_every_queried_metric_is_exported(where: str, expr: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    missing = names - set(exported())
    assert not missing, f"{where} queries {sorted(missing)}, which onestop does not export"


def test_the_dashboard_shows_every_onestop_metric() -> None:
    families = exported()
    shown = {families[name] for _, expr in dashboard_exprs() for name in metric_names(expr) if name in families}
    ours = {family for family in families.values() if family.startswith("onestop_")}
    assert ours - shown == set(), "add a panel for each new metric"
