"""The chart's Grafana dashboard and PrometheusRule: rendered, checked and unit-tested with
promtool (Debian's `prometheus` package; .ci/deploy-checks installs it). Queries against a
real Prometheus scraping the real service: live_prometheus.py."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

import chart_tool
import observability as obs

UNIT_TESTS = pathlib.Path(__file__).resolve().parent / "prometheus" / "alerts_test.yaml"
DASHBOARD_DOC = chart_tool.REPO / "docs" / "DASHBOARD.md"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: apt-get install prometheus (.ci/deploy-checks does)")
    return path


def kinds(docs):
    return sorted(d["kind"] for d in docs)


def test_the_dashboard_and_the_rules_are_off_by_default():
    docs = obs.rendered({})
    assert "PrometheusRule" not in kinds(docs)
    assert not [d for d in docs if d["metadata"]["name"].endswith("-dashboard")]


def test_the_dashboard_configmap_carries_the_sidecar_label_and_the_dashboard_file():
    docs = obs.rendered({"grafanaDashboard": {
        "enabled": True, "namespace": "monitoring", "annotations": {"grafana_folder": "Identity"}}})
    cm = next(d for d in docs if d["metadata"]["name"] == f"{chart_tool.RELEASE}-oidc-session-dashboard")
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Identity"}
    assert json.loads(cm["data"]["oidc-session.json"]) == obs.dashboard()


def test_the_sidecar_label_can_be_renamed():
    docs = obs.rendered({"grafanaDashboard": {"enabled": True, "label": "dashboards", "labelValue": "oidc"}})
    cm = next(d for d in docs if d["metadata"]["name"].endswith("-dashboard"))
    assert cm["metadata"]["labels"]["dashboards"] == "oidc"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]


def test_the_rule_carries_the_selector_labels_and_every_alert_the_extra_alert_labels():
    docs = obs.rendered({"prometheusRule": {
        "enabled": True, "labels": {"release": "kps"}, "alertLabels": {"team": "identity"}}})
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert alerts and all(a["labels"]["team"] == "identity" for a in alerts)


def test_the_alerts_are_the_five_the_docs_promise():
    assert sorted(a["alert"] for a in obs.alerts()) == sorted([
        "OidcSessionSignInsFailing", "OidcSessionRedisErrors", "OidcSessionProviderUnreachable",
        "OidcSessionRefreshesRefused", "OidcSessionForwardAuthSlow"])


def test_every_alert_has_a_severity_and_a_runbook_url_to_a_troubleshooting_section():
    anchors = obs.runbook_anchors()
    for alert in obs.alerts():
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        url = alert["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/TROUBLESHOOTING.md", url
        assert anchor in anchors, f"{alert['alert']}: no heading for #{anchor} in docs/TROUBLESHOOTING.md"


def test_thresholds_from_values_reach_the_expressions():
    rule = obs.rendered({"prometheusRule": {"enabled": True, "forwardAuthSlow": {"p99Seconds": 0.25, "for": "15m"}}})
    slow = next(r for d in rule if d["kind"] == "PrometheusRule"
                for g in d["spec"]["groups"] for r in g["rules"] if r["alert"] == "OidcSessionForwardAuthSlow")
    assert slow["expr"].strip().endswith("> 0.25")
    assert slow["for"] == "15m"


@pytest.mark.parametrize("bad", [
    {"prometheusRule": {"signInsFailing": {"ratio": 2}}},
    {"prometheusRule": {"redisErrors": {"for": "five minutes"}}},
    {"prometheusRule": {"enabeld": True}},
    {"grafanaDashboard": {"enabled": "yes"}},
])
def test_the_schema_refuses_bad_observability_values(bad):
    with pytest.raises(Exception, match="schema|values"):
        obs.rendered(bad)


@pytest.mark.parametrize("fire_on_any", [False, True])
def test_promtool_accepts_the_rendered_rules(tmp_path, fire_on_any):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(obs.prometheus_rule(fire_on_any)["spec"], sort_keys=False))
    run = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 5 rules found" in run.stdout


def test_promtool_unit_tests_fire_and_resolve_every_alert(tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(obs.prometheus_rule()["spec"], sort_keys=False))
    shutil.copy(UNIT_TESTS, tmp_path / "alerts_test.yaml")
    run = subprocess.run([promtool(), "test", "rules", "alerts_test.yaml"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    # Each alert is expected to fire somewhere in the unit tests, and to be absent somewhere.
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    checks = [c for t in tests for c in t["alert_rule_test"]]
    for alert in obs.alerts():
        mine = [c for c in checks if c["alertname"] == alert["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{alert['alert']} never fires in the unit tests"
        assert any(not c["exp_alerts"] for c in mine), f"{alert['alert']} never resolves in the unit tests"


# Failed-sign-in reasons that are the service's, the provider's or the store's fault: they
# count towards OidcSessionSignInsFailing. Every other reason the service emits is one of the
# chart's user reasons ($userReasons in templates/prometheusrule.yaml), left out of it.
FAULT_REASONS = {
    "store",                 # Redis
    "provider_not_ready",    # discovery or keys not loaded
    "provider_unreachable",  # the token or PAR endpoint cannot be reached
    "provider_error",        # the provider redirected back with an error to a login of this browser
    "wrong_issuer",          # `iss` names another issuer: a misconfigured issuer, or a mix-up
    "par",                   # the provider refused the pushed authorization request
    "token_exchange",        # the provider refused the code (client credentials, redirect URI)
    "id_token",              # the ID token fails verification (keys, algorithm, audience, clock)
    "userinfo",              # the userinfo call failed
    "tokens_too_large",      # the provider's tokens do not fit a session record
}


def emitted_login_reasons() -> set[str]:
    """The labels the `reason()` functions in src/ return (LoginError::reason, and
    Refusal::reason it passes the claim rules' refusals to)."""
    reasons = set()
    for f in sorted((chart_tool.REPO / "src").rglob("*.rs")):
        text = f.read_text()
        for m in re.finditer(r"\bfn reason\(", text):
            start = text.index("{", m.end())
            depth, end = 0, start
            for end in range(start, len(text)):
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                if depth == 0:
                    break
            reasons |= set(re.findall(r'=>\s*"(\w+)"', text[start:end]))
    return reasons


def user_reasons() -> set[str]:
    """The reasons OidcSessionSignInsFailing leaves out, as rendered (both sides alike)."""
    expr = next(a["expr"] for a in obs.alerts() if a["alert"] == "OidcSessionSignInsFailing")
    excluded = re.findall(r'reason!~"([^"]*)"', expr)
    assert len(excluded) == 2 and excluded[0] == excluded[1], expr
    return set(excluded[0].split("|"))


def test_every_sign_in_failure_reason_is_either_the_users_or_a_fault():
    emitted = emitted_login_reasons()
    assert {"token_exchange", "unbound_provider_error", "group_not_allowed"} <= emitted, emitted
    users = user_reasons()
    assert not users & FAULT_REASONS, f"both the user's and a fault: {sorted(users & FAULT_REASONS)}"
    unclassified = emitted - users - FAULT_REASONS
    assert not unclassified, (
        f"reasons emitted by src/ in neither $userReasons (prometheusrule.yaml) nor FAULT_REASONS: "
        f"{sorted(unclassified)}")
    stale = (users | FAULT_REASONS) - emitted
    assert not stale, f"reasons no reason() in src/ returns any more: {sorted(stale)}"


def test_every_sign_in_failure_reason_is_described_in_docs():
    doc = DASHBOARD_DOC.read_text()
    missing = sorted(r for r in emitted_login_reasons() if f"`{r}`" not in doc)
    assert not missing, f"docs/DASHBOARD.md does not name these sign-in failure reasons: {missing}"


def test_every_dashboard_panel_is_described_in_docs():
    doc = DASHBOARD_DOC.read_text()
    for panel in obs.panels(obs.dashboard()):
        assert f"### {panel['title']}" in doc, f"docs/DASHBOARD.md does not describe panel {panel['title']!r}"


def test_every_dashboard_query_reads_only_metrics_the_service_exports():
    """A typo in a metric name fails here already; live_prometheus.py proves the rest."""
    exported = {name for f in (chart_tool.REPO / "src").rglob("*.rs")
                for name in re.findall(r'\.register\(\s*"(\w+)"', f.read_text())}
    assert exported, "no metric registrations (registry.register(\"name\", …)) found in src/"
    queries = [q for _, q in obs.panel_queries(obs.dashboard())] + [a["expr"] for a in obs.alerts()]
    for query in queries:
        names = re.findall(r"\boidc_session_(\w+?)(?:_total|_bucket|_count|_sum)?(?!\w)", query)
        assert names, f"no oidc_session_ metric found in {query}"
        for name in names:
            assert name in exported, f"oidc_session_{name} is not registered: {query}"


def test_the_rendered_prometheus_rule_has_the_shape_the_operator_accepts():
    """No bundled schema for the CRD in kubernetes-validate: its shape is checked here."""
    docs = obs.rendered(chart_tool.load_values(chart_tool.scenarios()["observability"]))
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(rule["spec"]) == {"groups"}
    duration = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
    for group in rule["spec"]["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"]
        for r in group["rules"]:
            assert set(r) == {"alert", "expr", "for", "labels", "annotations"}, r.get("alert")
            assert isinstance(r["expr"], str) and duration.match(r["for"])
            for mapping in (r["labels"], r["annotations"]):
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
