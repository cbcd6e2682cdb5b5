"""The chart's Grafana dashboard and PrometheusRule, as Prometheus sees them.

    python observability.py rules OUT.yaml [--fire-on-any]   # the rule groups, for promtool
    python observability.py queries                          # every PromQL query, one per line

`--fire-on-any` renders every alert threshold as 0, so each alert expression returns data
as soon as its signal is present at all (what live_prometheus.py checks against real
metrics; the default thresholds are covered by promtool's unit tests).
"""

from __future__ import annotations

import json
import pathlib
import re
import sys
from typing import Any

import yaml

import chart_tool

DASHBOARD = chart_tool.CHART / "dashboards" / "oidc-session.json"
TROUBLESHOOTING = chart_tool.REPO / "docs" / "TROUBLESHOOTING.md"

REQUIRED = {
    "image": {"repository": "registry.example.com/oidc-session"},
    "config": {
        "issuerUrl": "https://id.example.com",
        "clientId": "app",
        "redirectUri": "https://app.example.com/auth/callback",
    }
}

ZERO_THRESHOLDS = {
    "signInsFailing": {"ratio": 0},
    "redisErrors": {"perSecond": 0},
    "refreshesRefused": {"ratio": 0, "minimum": 0},
    "forwardAuthSlow": {"p99Seconds": 0},
}


def rendered(values: dict[str, Any]) -> list[dict[str, Any]]:
    merged = chart_tool.deep_merge(REQUIRED, values)
    return chart_tool.documents(chart_tool.to_stream(chart_tool.render(merged)))


def prometheus_rule(fire_on_any: bool = False) -> dict[str, Any]:
    rule: dict[str, Any] = {"enabled": True}
    if fire_on_any:
        rule.update(ZERO_THRESHOLDS)
    found = [d for d in rendered({"prometheusRule": rule}) if d["kind"] == "PrometheusRule"]
    assert len(found) == 1, f"expected one PrometheusRule, rendered {len(found)}"
    return found[0]


def alerts(fire_on_any: bool = False) -> list[dict[str, Any]]:
    spec = prometheus_rule(fire_on_any)["spec"]
    return [r for g in spec["groups"] for r in g["rules"] if "alert" in r]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p.get("type") != "row"]


def panel_queries(dash: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables left in) for every target."""
    return [(p["title"], t["expr"]) for p in panels(dash) for t in p.get("targets", [])]


def variable_queries(dash: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, metric selector, label) for every `label_values(selector, label)` variable."""
    out = []
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert m, f"variable {v['name']}: only label_values(selector, label) is supported: {query}"
        out.append((v["name"], m.group(1), m.group(2)))
    return out


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the headings in docs/TROUBLESHOOTING.md."""
    anchors = set()
    for line in TROUBLESHOOTING.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "rules":
        spec = prometheus_rule(fire_on_any="--fire-on-any" in argv[2:])["spec"]
        pathlib.Path(argv[1]).write_text(yaml.safe_dump(spec, sort_keys=False))
        return 0
    if argv == ["queries"]:
        for title, expr in panel_queries(dashboard()):
            print(f"{title}: {expr}")
        for rule in alerts():
            print(f"{rule['alert']}: {' '.join(rule['expr'].split())}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
