"""Tests of the rendered oidc-session chart.

Run by .ci/deploy-checks on the manifests it rendered (OIDC_RENDERED_DIR), or alone
(`python -m pytest helm/tests`), when they render the chart themselves.
KNOWN_VARS and SECRET_VARS come from src/config/vars.rs, the service's own list.
"""

from __future__ import annotations

import itertools
import os
import pathlib
from typing import Any

import pytest
import yaml

import chart_tool

KNOWN_VARS, SECRET_VARS = chart_tool.known_vars()
FULLNAME = f"{chart_tool.RELEASE}-oidc-session"
REQUIRED = {
    "image": {"repository": "registry.example.com/oidc-session"},
    "config": {
        "issuerUrl": "https://id.example.com",
        "clientId": "app",
        "redirectUri": "https://app.example.com/auth/callback",
    }
}


# ---------------------------------------------------------------------------------------
# Rendering and lookup helpers


def render_docs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return chart_tool.documents(chart_tool.to_stream(chart_tool.render(values)))


def with_required(extra: dict[str, Any]) -> dict[str, Any]:
    return chart_tool.deep_merge(REQUIRED, extra)


@pytest.fixture(scope="session")
def scenarios() -> dict[str, list[dict[str, Any]]]:
    """Scenario name -> rendered objects, for every ci/*-values.yaml."""
    out: dict[str, list[dict[str, Any]]] = {}
    rendered_dir = os.environ.get("OIDC_RENDERED_DIR")
    for name, path in chart_tool.scenarios().items():
        if rendered_dir:
            stream = (pathlib.Path(rendered_dir) / f"{name}.yaml").read_text()
            out[name] = chart_tool.documents(stream)
        else:
            out[name] = render_docs(chart_tool.load_values(path))
    return out


@pytest.fixture(scope="session")
def scenario_values() -> dict[str, dict[str, Any]]:
    return {name: chart_tool.load_values(p) for name, p in chart_tool.scenarios().items()}


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str = FULLNAME) -> dict[str, Any]:
    found = [d for d in objects(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "oidc-session")


def container_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Variable name -> ("value", str) | ("configmap", value) | ("secret", ref) as the
    container sees it, resolving envFrom ConfigMaps rendered by the chart."""
    c = container(docs)
    env: dict[str, Any] = {}
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in objects(docs, "ConfigMap")}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            assert name in configmaps, f"envFrom names ConfigMap {name}, which the chart does not make"
            for k, v in configmaps[name].items():
                env[k] = ("configmap", v)
        else:
            raise AssertionError(f"unexpected envFrom source {source}")
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = ("value", e["value"])
        elif "secretKeyRef" in e.get("valueFrom", {}):
            env[e["name"]] = ("secret", e["valueFrom"]["secretKeyRef"])
        else:
            env[e["name"]] = ("other", e.get("valueFrom"))
    return env


def plain_value(docs: list[dict[str, Any]], var: str) -> str:
    how, value = container_env(docs)[var]
    assert how in ("configmap", "value"), f"{var} is not a plain value but {how}"
    return value


def secret_value(docs: list[dict[str, Any]], var: str) -> str:
    how, ref = container_env(docs)[var]
    assert how == "secret", f"{var} does not come from a Secret"
    secret = one(docs, "Secret", ref["name"])
    return secret["stringData"][ref["key"]]


def leaves(tree: Any) -> list[str]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in leaves(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in leaves(v)]
    return [str(tree)] if tree not in (None, "") else []


# ---------------------------------------------------------------------------------------
# Every variable is reachable, and only known ones are set


def test_every_known_variable_reaches_the_container_env_in_some_scenario(scenarios):
    seen = set()
    for docs in scenarios.values():
        seen |= {k for k in container_env(docs) if k.startswith("OIDC_")}
    missing = sorted(set(KNOWN_VARS) - seen)
    assert not missing, f"no scenario gives the container these variables: {missing}"


def test_the_container_env_holds_no_unknown_oidc_variable(scenarios):
    for name, docs in scenarios.items():
        unknown = sorted(k for k in container_env(docs) if k.startswith("OIDC_") and k not in KNOWN_VARS)
        assert not unknown, f"{name}: the service does not know {unknown}"


def test_values_arrive_as_the_strings_the_service_parses(scenarios, scenario_values):
    docs = scenarios["full"]
    config = scenario_values["full"]["config"]
    assert plain_value(docs, "OIDC_ISSUER_URL") == config["issuerUrl"]
    assert plain_value(docs, "OIDC_REDIRECT_URI") == config["redirectUri"]
    assert plain_value(docs, "OIDC_SCOPES") == ",".join(config["scopes"])
    assert plain_value(docs, "OIDC_ALLOWED_GROUPS") == "shop-users,shop-admins"
    # Form-URL-encoded: the service decodes OIDC_EXTRA_AUTH_PARAMS as a query string.
    assert plain_value(docs, "OIDC_EXTRA_AUTH_PARAMS") == "acr_values=urn%3Aexample%3Aloa+2%26b&audience=shop-api"
    assert plain_value(docs, "OIDC_REQUIRE_EMAIL_VERIFIED") == "true"
    assert plain_value(docs, "OIDC_FETCH_USERINFO") == "false"
    assert plain_value(docs, "OIDC_CLOCK_SKEW") == "30"
    assert secret_value(docs, "OIDC_REDIS_SENTINELS").count(",") == 2
    assert plain_value(docs, "OIDC_REDIS_SENTINEL_MASTER") == "mymaster"
    assert plain_value(docs, "OIDC_EXTRA_CA_FILE") == "/etc/oidc-session/ca/ca-bundle.pem"
    assert plain_value(docs, "OIDC_LOG") == "info,oidc_session=debug"
    assert secret_value(docs, "OIDC_SESSION_ENCRYPTION_KEY") == ",".join(config["sessionEncryptionKey"])
    assert secret_value(docs, "OIDC_REDIS_SENTINEL_PASSWORD") == "s3cr3t-sentinel"


def test_unset_values_leave_the_variable_unset_so_the_service_default_applies(scenarios):
    env = container_env(scenarios["required"])
    for var in ("OIDC_SCOPES", "OIDC_PROMPT", "OIDC_COOKIE_NAME", "OIDC_SESSION_IDLE_TIMEOUT",
                "OIDC_REDIS_KEY_PREFIX", "OIDC_CLIENT_SECRET", "OIDC_REDIS_URL"):
        assert var not in env, f"{var} is set although its value is empty"


def test_every_secret_value_given_reaches_the_env_through_a_secret_key_ref(scenarios):
    for name, docs in scenarios.items():
        for var, (how, _) in container_env(docs).items():
            if var in SECRET_VARS:
                assert how == "secret", f"{name}: {var} reaches the container as {how}, not from a Secret"


# ---------------------------------------------------------------------------------------
# Secrets


def test_secrets_are_never_in_a_configmap(scenarios, scenario_values):
    for name, docs in scenarios.items():
        secret_strings = set()
        cfg = scenario_values[name].get("config", {})
        for path in (("clientSecret",), ("clientPrivateKey",), ("introspectionSecret",), ("sessionEncryptionKey",),
                     ("redis", "url"), ("redis", "sentinel", "password"), ("redis", "cluster", "nodes")):
            node: Any = cfg
            for p in path:
                node = node.get(p) if isinstance(node, dict) else None
            secret_strings |= set(leaves(node))
        for cm in objects(docs, "ConfigMap"):
            data = cm.get("data") or {}
            leaked = sorted(set(data) & set(SECRET_VARS))
            assert not leaked, f"{name}: ConfigMap {cm['metadata']['name']} holds secret variables {leaked}"
            for key, value in data.items():
                for s in secret_strings:
                    assert s not in str(value), f"{name}: a secret value shows up in ConfigMap key {key}"


def test_the_existing_secret_variant_makes_no_secret_and_reads_every_secret_variable_from_it(scenarios):
    docs = scenarios["existing-secret"]
    assert not objects(docs, "Secret")
    env = container_env(docs)
    for var in SECRET_VARS:
        how, ref = env[var]
        assert how == "secret" and ref["name"] == "app-oidc-secrets" and ref["key"] == var
        assert ref.get("optional") is True


def test_an_existing_secret_only_fills_in_what_values_do_not_set():
    docs = render_docs(with_required({"config": {
        "existingSecret": "ext", "clientSecret": "given",
        "redis": {"cluster": {"nodes": ["redis://a:6379"]}},
    }}))
    env = container_env(docs)
    assert env["OIDC_CLIENT_SECRET"][1]["name"] == FULLNAME
    assert env["OIDC_SESSION_ENCRYPTION_KEY"][1]["name"] == "ext"
    assert env["OIDC_REDIS_CLUSTER_NODES"][1]["name"] == FULLNAME
    # Cluster mode was chosen in values: the other modes' variables are not read from it.
    assert "OIDC_REDIS_URL" not in env and "OIDC_REDIS_SENTINEL_PASSWORD" not in env


# A PEM as an operator pastes it (not a real key: the chart never parses it).
PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def test_a_private_key_in_values_reaches_the_env_from_the_charts_secret_only():
    docs = render_docs(with_required({"config": {"clientPrivateKey": PEM, "par": "always"}}))
    assert secret_value(docs, "OIDC_CLIENT_PRIVATE_KEY") == PEM
    assert plain_value(docs, "OIDC_PAR") == "always"
    for cm in objects(docs, "ConfigMap"):
        assert "MIGHAgEAMBMG" not in str(cm.get("data")), "the key shows up in a ConfigMap"
    notes = chart_tool.render(with_required({"config": {"clientPrivateKey": PEM}}))["oidc-session/templates/NOTES.txt"]
    assert "https://app.example.com/auth/jwks.json" in notes


def test_an_assertion_key_goes_to_the_charts_secret_and_its_settings_to_the_configmap():
    docs = render_docs(with_required({"config": {
        "assertionKey": PEM, "assertionLifetime": "2m", "bearerAudiences": "https://api.example.com",
    }}))
    assert secret_value(docs, "OIDC_ASSERTION_KEY") == PEM
    assert plain_value(docs, "OIDC_ASSERTION_LIFETIME") == "2m"
    assert plain_value(docs, "OIDC_BEARER_AUDIENCES") == "https://api.example.com"
    for cm in objects(docs, "ConfigMap"):
        assert "MIGHAgEAMBMG" not in str(cm.get("data")), "the key shows up in a ConfigMap"


def test_a_private_key_secret_is_mounted_read_only_and_the_key_file_variable_points_at_it(scenarios, scenario_values):
    docs = scenarios["private-key"]
    mounted = scenario_values["private-key"]["clientPrivateKeySecret"]
    env = container_env(docs)
    assert plain_value(docs, "OIDC_CLIENT_PRIVATE_KEY_FILE") == f"/etc/oidc-session/client-key/{mounted['key']}"
    assert "OIDC_CLIENT_PRIVATE_KEY" not in env, "a mounted key file and a key variable would conflict"
    mount = next(m for m in container(docs)["volumeMounts"] if m["name"] == "client-key")
    assert mount == {"name": "client-key", "mountPath": "/etc/oidc-session/client-key", "readOnly": True}
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "client-key")
    assert volume["secret"]["secretName"] == mounted["name"]
    assert volume["secret"]["defaultMode"] == 0o440
    assert all(v["name"] != "client-key" or "configMap" not in v for v in pod["volumes"])


@pytest.mark.parametrize("extra", [
    {"config": {"clientSecret": "s", "clientPrivateKey": PEM}},
    {"config": {"clientSecret": "s"}, "clientPrivateKeySecret": {"name": "k"}},
    {"config": {"clientPrivateKey": PEM, "clientPrivateKeyFile": "/keys/k.pem"}},
])
def test_rendering_fails_when_client_credentials_are_given_twice(extra):
    with pytest.raises(Exception, match="not both|only one"):
        chart_tool.render(with_required(extra))


def test_changing_config_or_a_secret_changes_the_pod_checksums():
    def annotations(values):
        return one(render_docs(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]

    base = annotations(with_required({"config": {"clientSecret": "a"}}))
    config_changed = annotations(with_required({"config": {"clientSecret": "a", "prompt": "login"}}))
    secret_changed = annotations(with_required({"config": {"clientSecret": "b"}}))
    assert base["checksum/config"] != config_changed["checksum/config"]
    assert base["checksum/secret"] == config_changed["checksum/secret"]
    assert base["checksum/secret"] != secret_changed["checksum/secret"]
    assert base["checksum/config"] == secret_changed["checksum/config"]


# ---------------------------------------------------------------------------------------
# Pod


def test_probes_hit_healthz_and_readyz_on_the_internal_port(scenarios):
    for name, docs in scenarios.items():
        c = container(docs)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "internal"}, name
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "internal"}, name
        internal_addr = plain_value(docs, "OIDC_INTERNAL_LISTEN_ADDR")
        public_addr = plain_value(docs, "OIDC_LISTEN_ADDR")
        assert internal_addr.rsplit(":", 1)[1] == str(ports["internal"]), name
        assert public_addr.rsplit(":", 1)[1] == str(ports["public"]), name


def test_the_listen_addresses_follow_the_container_ports():
    docs = render_docs(with_required({"containerPorts": {"public": 8443, "internal": 9443}, "listenHost": "[::]"}))
    assert plain_value(docs, "OIDC_LISTEN_ADDR") == "[::]:8443"
    assert plain_value(docs, "OIDC_INTERNAL_LISTEN_ADDR") == "[::]:9443"
    svc = one(docs, "Service", f"{FULLNAME}-internal")
    assert svc["spec"]["ports"][0]["targetPort"] == "internal"


def test_rendering_fails_when_the_public_and_internal_ports_are_the_same():
    with pytest.raises(Exception, match="must differ"):
        chart_tool.render(with_required({"containerPorts": {"public": 8080, "internal": 8080}}))


def test_pod_and_container_security_contexts_lock_the_service_down(scenarios):
    for name, docs in scenarios.items():
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        psc, csc = pod["securityContext"], container(docs)["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 65532, name
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert csc["runAsNonRoot"] is True and csc["runAsUser"] == 65532, name
        assert csc["readOnlyRootFilesystem"] is True, name
        assert csc["allowPrivilegeEscalation"] is False, name
        assert csc["capabilities"]["drop"] == ["ALL"], name
        assert csc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name


def test_the_default_install_runs_two_spread_replicas_with_a_drain_period(scenarios):
    docs = scenarios["required"]
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 2
    assert pod["terminationGracePeriodSeconds"] >= 10
    keys = {t["topologyKey"] for t in pod["topologySpreadConstraints"]}
    assert "kubernetes.io/hostname" in keys
    for t in pod["topologySpreadConstraints"]:
        assert t["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert container(docs)["resources"]["requests"]
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_with_autoscaling_the_deployment_leaves_replicas_to_the_hpa(scenarios):
    docs = scenarios["full"]
    assert "replicas" not in one(docs, "Deployment")["spec"]
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == FULLNAME
    assert hpa["spec"]["minReplicas"] == 3


# ---------------------------------------------------------------------------------------
# Network exposure


def rules_for_port(policy: dict[str, Any], port: str) -> list[dict[str, Any]]:
    return [r for r in policy["spec"].get("ingress", [])
            if not r.get("ports") or any(p.get("port") == port for p in r["ports"])]


def test_the_network_policy_admits_the_internal_port_only_from_the_configured_peers(scenarios, scenario_values):
    docs = scenarios["full"]
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    for rule in policy["spec"]["ingress"]:
        assert rule.get("ports"), "a rule without ports would open the internal port to its peers"
    internal = rules_for_port(policy, "internal")
    assert internal, "the configured peers get no rule for the internal port"
    for rule in internal:
        assert rule.get("from") == scenario_values["full"]["networkPolicy"]["internal"]["from"]
    public = rules_for_port(policy, "public")
    assert any("from" not in r for r in public), "the public port should stay open"


def test_without_configured_peers_nothing_may_reach_the_internal_port(scenarios):
    policy = one(scenarios["dev-redis"], "NetworkPolicy")
    assert rules_for_port(policy, "internal") == []


def test_ingress_and_httproute_expose_only_the_public_auth_paths(scenarios):
    docs = scenarios["full"]
    ingress = one(docs, "Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["path"] == "/auth" and path["pathType"] == "Prefix"
            assert path["backend"]["service"] == {"name": FULLNAME, "port": {"name": "public"}}
    route = one(docs, "HTTPRoute")
    public_port = one(docs, "Service")["spec"]["ports"][0]["port"]
    for rule in route["spec"]["rules"]:
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/auth"}}]
        assert rule["backendRefs"] == [{"name": FULLNAME, "port": public_port}]
    assert route["spec"]["parentRefs"]


def test_the_public_and_internal_services_target_their_own_ports(scenarios):
    docs = scenarios["required"]
    public = one(docs, "Service", FULLNAME)
    internal = one(docs, "Service", f"{FULLNAME}-internal")
    assert [p["targetPort"] for p in public["spec"]["ports"]] == ["public"]
    assert [p["targetPort"] for p in internal["spec"]["ports"]] == ["internal"]


def test_the_service_monitor_scrapes_metrics_on_the_internal_service(scenarios):
    docs = scenarios["full"]
    sm = one(docs, "ServiceMonitor")
    internal = one(docs, "Service", f"{FULLNAME}-internal")
    public = one(docs, "Service", FULLNAME)
    selector = sm["spec"]["selector"]["matchLabels"]
    assert all(internal["metadata"]["labels"].get(k) == v for k, v in selector.items())
    assert not all(public["metadata"]["labels"].get(k) == v for k, v in selector.items())
    assert [(e["port"], e["path"]) for e in sm["spec"]["endpoints"]] == [("internal", "/metrics")]
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"


# ---------------------------------------------------------------------------------------
# Redis


REDIS_MODES = {
    "url": {"config": {"redis": {"url": "redis://r:6379"}}},
    "sentinel": {"config": {"redis": {"sentinel": {"sentinels": ["s:26379"], "masterName": "m"}}}},
    "cluster": {"config": {"redis": {"cluster": {"nodes": ["redis://c:6379"]}}}},
    "dev redis": {"redis": {"enabled": True}},
}


@pytest.mark.parametrize("first,second", [p for p in itertools.combinations(REDIS_MODES, 2)
                                          if set(p) != {"url", "dev redis"}])
def test_rendering_fails_when_two_redis_modes_are_set(first, second):
    values = chart_tool.deep_merge(with_required(REDIS_MODES[first]), REDIS_MODES[second])
    with pytest.raises(Exception, match="configure exactly one mode"):
        chart_tool.render(values)


def test_an_explicit_redis_url_wins_over_the_dev_redis_url():
    docs = render_docs(with_required({"redis": {"enabled": True}, "config": {"redis": {"url": "redis://mine:6379"}}}))
    assert secret_value(docs, "OIDC_REDIS_URL") == "redis://mine:6379"


def test_sentinel_mode_needs_a_master_name():
    with pytest.raises(Exception, match="masterName"):
        chart_tool.render(with_required({"config": {"redis": {"sentinel": {"sentinels": ["s:26379"]}}}}))


def test_each_redis_mode_sets_only_its_own_variables(scenarios):
    redis_vars = {"OIDC_REDIS_URL", "OIDC_REDIS_SENTINELS", "OIDC_REDIS_SENTINEL_MASTER",
                  "OIDC_REDIS_SENTINEL_PASSWORD", "OIDC_REDIS_CLUSTER_NODES"}
    expected = {
        "full": {"OIDC_REDIS_SENTINELS", "OIDC_REDIS_SENTINEL_MASTER", "OIDC_REDIS_SENTINEL_PASSWORD"},
        "cluster": {"OIDC_REDIS_CLUSTER_NODES"},
        "dev-redis": {"OIDC_REDIS_URL"},
    }
    for name, want in expected.items():
        assert set(container_env(scenarios[name])) & redis_vars == want, name


def test_the_dev_redis_is_marked_not_for_production_and_no_service_selects_it(scenarios):
    docs = scenarios["dev-redis"]
    redis = one(docs, "Deployment", f"{FULLNAME}-redis")
    assert "NOT FOR PRODUCTION" in redis["metadata"]["annotations"]["oidc-session/warning"]
    assert redis["spec"]["replicas"] == 1
    pod_labels = redis["spec"]["template"]["metadata"]["labels"]
    for svc in objects(docs, "Service"):
        if svc["metadata"]["name"] == f"{FULLNAME}-redis":
            continue
        sel = svc["spec"]["selector"]
        assert not all(pod_labels.get(k) == v for k, v in sel.items()), svc["metadata"]["name"]
    assert secret_value(docs, "OIDC_REDIS_URL") == f"redis://{FULLNAME}-redis.auth.svc:6379"
    csc = redis["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert csc["runAsNonRoot"] and csc["readOnlyRootFilesystem"] and not csc["allowPrivilegeEscalation"]
    notes = chart_tool.render(chart_tool.load_values(chart_tool.scenarios()["dev-redis"]))
    assert "NOT FOR PRODUCTION" in notes["oidc-session/templates/NOTES.txt"]


def test_the_dev_redis_is_off_by_default(scenarios):
    assert not [d for d in scenarios["required"] if "redis" in d["metadata"]["name"]]


# ---------------------------------------------------------------------------------------
# Schema and NOTES


@pytest.mark.parametrize("bad", [
    {},
    {"config": {"issuerUrl": "", "clientId": "a", "redirectUri": "https://a/auth/callback"}},
    {"config": {"issuerUrl": "https://id", "clientId": "a", "redirectUri": "/auth/callback"}},
    with_required({"config": {"cookieSameSite": "sometimes"}}),
    with_required({"config": {"clientAuthMethod": "tls_client_auth"}}),
    with_required({"config": {"par": "sometimes"}}),
    with_required({"clientPrivateKeySecret": {"name": "k", "key": ""}}),
    with_required({"config": {"logFormat": "xml"}}),
    with_required({"config": {"sessionIdleTimeout": "8 hours"}}),
    with_required({"config": {"issuerURL": "typo"}}),
])
def test_the_schema_refuses_missing_required_values_bad_enums_and_typos(bad):
    with pytest.raises(Exception, match="schema"):
        chart_tool.render(bad)


def test_notes_print_what_to_register_at_the_provider():
    notes = chart_tool.render(with_required({"config": {
        "redirectUri": "https://app.example.com:8443/auth/callback",
        "postLogoutRedirectUri": "https://app.example.com:8443/bye",
    }}))["oidc-session/templates/NOTES.txt"]
    assert "https://app.example.com:8443/auth/callback" in notes
    assert "https://app.example.com:8443/bye" in notes
    assert "https://app.example.com:8443/auth/backchannel-logout" in notes
    assert "backchannel_logout_session_required=true" in notes


def test_the_chart_values_file_maps_every_known_variable_in_its_header():
    header = (chart_tool.CHART / "values.yaml").read_text()
    missing = [v for v in KNOWN_VARS if v not in header]
    assert not missing, f"values.yaml's mapping table lacks {missing}"
