"""The chart as a new user meets it: required values, the values table of its README,
probes and shutdown, the internal Service, the schema's refusals, the NetworkPolicy peers of
the full scenario, and the name the examples expect."""

from __future__ import annotations

import re

import pytest
import yaml

import chart_tool
from test_chart import container, one, render_docs, scenarios, with_required  # noqa: F401 (fixture)

REPO = chart_tool.REPO


def test_a_bare_install_fails_naming_every_required_value_the_image_included():
    with pytest.raises(Exception) as failure:
        chart_tool.render({})
    message = str(failure.value)
    for path in ("/image/repository", "/config/issuerUrl", "/config/clientId", "/config/redirectUri"):
        assert path in message, f"{path} is not named in:\n{message}"


def test_the_readme_values_table_is_the_one_values_yaml_makes():
    readme = chart_tool.README.read_text()
    assert readme == chart_tool.readme_with_table(readme), (
        "helm/oidc-session/README.md's values table is out of date: "
        "run `python helm/tests/chart_tool.py readme`"
    )
    defaults = yaml.safe_load((chart_tool.CHART / "values.yaml").read_text())
    assert f"| `{next(iter(defaults))}` |" in readme
    assert "| `image.repository` | `\"\"` | REQUIRED." in readme


def test_the_startup_probe_guards_healthz_and_a_pre_stop_sleep_precedes_sigterm():
    docs = render_docs(with_required({}))
    c = container(docs)
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "internal"}
    budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    assert budget >= 30, "a slow start gets at least 30 s before liveness counts"
    sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = one(docs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert 0 < sleep < grace
    assert "startupProbe" not in container(render_docs(with_required({"startupProbe": {"enabled": False}})))


def test_an_existing_secret_revision_rolls_the_pods_and_is_absent_without_one():
    def annotations(revision):
        values = with_required({"config": {"existingSecret": "s", "existingSecretRevision": revision}})
        return one(render_docs(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]

    assert "checksum/existing-secret" not in annotations("")
    assert annotations("1")["checksum/existing-secret"] != annotations("2")["checksum/existing-secret"]


@pytest.mark.parametrize("bad", [
    {"service": {"internal": {"type": "LoadBalancer"}}},
    {"service": {"internal": {"type": "NodePort"}}},
    {"imagePullSecret": [{"name": "typo"}]},
    {"startupProbes": {"enabled": False}},
])
def test_the_schema_refuses_an_exposed_internal_service_and_unknown_top_level_keys(bad):
    with pytest.raises(Exception, match="schema"):
        chart_tool.render(with_required(bad))


def test_the_full_scenario_admits_the_ingress_controller_and_prometheus_to_the_internal_port(scenarios):
    policy = one(scenarios["full"], "NetworkPolicy")
    internal = [rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "internal"]
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in internal
        for peer in rule["from"]
    }
    assert {"ingress-nginx", "monitoring"} <= namespaces


def test_the_readme_the_chart_readme_and_the_examples_agree_on_release_namespace_and_services():
    # The examples address the Services of release `oidc-session` in namespace `auth`.
    for doc in ("README.md", "helm/oidc-session/README.md"):
        text = (REPO / doc).read_text()
        installs = re.findall(r"helm install (\S+) \./helm/oidc-session --namespace (\S+)", text)
        assert installs, f"{doc} shows no `helm install … --namespace …`"
        assert set(installs) == {("oidc-session", "auth")}, f"{doc}: {installs}"
        assert "image.repository=" in text, f"{doc}'s helm install sets no image"
    # chart_tool renders as release `demo`; a release named `oidc-session` gets the fullname
    # `oidc-session`, which fullnameOverride reproduces here.
    services = {
        d["metadata"]["name"]: d["spec"]["ports"][0]["port"]
        for d in render_docs(with_required({"fullnameOverride": "oidc-session"}))
        if d["kind"] == "Service"
    }
    assert services == {"oidc-session": 80, "oidc-session-internal": 9090}
    hosts = set()
    for path in sorted((REPO / "examples").glob("*/*.y*ml")):
        hosts |= set(re.findall(r"oidc-session(?:-internal)?\.[a-z-]+\.svc\.cluster\.local", path.read_text()))
    assert hosts == {"oidc-session-internal.auth.svc.cluster.local"}, hosts
