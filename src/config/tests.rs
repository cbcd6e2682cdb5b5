//! Settings built from variables: defaults, warnings, derived values.

use std::time::Duration;

use super::settings::*;

fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("OIDC_ISSUER_URL", "https://id.example.com/realms/main"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    v
}

#[test]
fn defaults_follow_the_contract() {
    let s = Settings::from_vars(vars(&[])).unwrap();
    assert_eq!(s.cookie.name, "__Host-oidc_session");
    assert!(s.cookie.secure);
    assert_eq!(s.session.idle_timeout, Duration::from_secs(8 * 3600));
    assert_eq!(s.session.max_lifetime, Duration::from_secs(7 * 86_400));
    assert_eq!(s.provider.scopes, ["openid", "profile", "email", "offline_access"]);
    assert_eq!(s.provider.client_auth.method(), ClientAuthMethod::None);
    assert_eq!(s.redis.key_prefix, "oidc:");
    assert_eq!(s.listen_addr.port(), 8080);
    assert_eq!(s.internal_listen_addr.port(), 9090);
}

#[test]
fn an_unknown_oidc_variable_is_a_warning_not_an_error() {
    // A typo of OIDC_CLIENT_SECRET, spelled so that no tool mistakes it for a real variable.
    let typo = format!("OIDC_{}", "CLIENT_SECERT");
    let s = Settings::from_vars(vars(&[(typo.as_str(), "x")])).unwrap();
    assert!(s.warnings.iter().any(|w| w.contains(&typo)), "{:?}", s.warnings);
}

#[test]
fn openid_is_always_requested_and_a_secret_means_basic_auth() {
    let s = Settings::from_vars(vars(&[("OIDC_SCOPES", "email,profile"), ("OIDC_CLIENT_SECRET", "s")])).unwrap();
    assert_eq!(s.provider.scopes, ["openid", "email", "profile"]);
    assert_eq!(s.provider.client_auth.method(), ClientAuthMethod::ClientSecretBasic);
    assert!(!format!("{s:?}").contains("\"s\""), "secrets stay out of Debug");
}

#[test]
fn a_cookie_domain_drops_the_host_prefix() {
    let s = Settings::from_vars(vars(&[("OIDC_COOKIE_DOMAIN", "example.com")])).unwrap();
    assert_eq!(s.cookie.name, "oidc_session");
}

#[test]
fn an_issuer_with_control_characters_is_a_problem_naming_it_not_a_panic() {
    // Found by the `settings` fuzz target (fuzz/regressions/settings/): the URL parser
    // ignored the control characters, the discovery URL made of the raw value did not parse.
    let issuer = "http://[::2]\u{1}\u{0}\u{0}\u{10}";
    let mut v = vars(&[]);
    v.retain(|(k, _)| k != "OIDC_ISSUER_URL");
    v.push(("OIDC_ISSUER_URL".into(), issuer.into()));
    let problems = Settings::from_vars(v).unwrap_err().problems;
    assert!(problems.iter().any(|p| p.var == "OIDC_ISSUER_URL"), "{problems:?}");
}

#[test]
fn an_admin_secret_equal_to_the_introspection_secret_is_a_problem_naming_both() {
    let same = vars(&[
        ("OIDC_ADMIN_SECRET", "same-value"),
        ("OIDC_INTROSPECTION_SECRET", "same-value"),
    ]);
    let problems = Settings::from_vars(same).unwrap_err().problems;
    let problem = problems
        .iter()
        .find(|p| p.var == "OIDC_ADMIN_SECRET")
        .expect("a problem");
    assert!(problem.message.contains("OIDC_INTROSPECTION_SECRET"), "{problem:?}");
    let apart = vars(&[("OIDC_ADMIN_SECRET", "one"), ("OIDC_INTROSPECTION_SECRET", "two")]);
    let settings = Settings::from_vars(apart).unwrap();
    assert_eq!(settings.admin_secret.as_ref().map(|s| s.expose()), Some("one"));
    assert!(
        !format!("{settings:?}").contains("\"one\""),
        "secrets stay out of Debug"
    );
}

/// Every duration variable and its documented maximum.
const DURATION_MAXIMUMS: &[(&str, &str, Duration)] = &[
    ("OIDC_HTTP_TIMEOUT", "5m", Duration::from_secs(300)),
    ("OIDC_CLOCK_SKEW", "10m", Duration::from_secs(600)),
    ("OIDC_SESSION_IDLE_TIMEOUT", "365d", Duration::from_secs(365 * 86_400)),
    ("OIDC_SESSION_MAX_LIFETIME", "365d", Duration::from_secs(365 * 86_400)),
    ("OIDC_LOGIN_TIMEOUT", "1d", Duration::from_secs(86_400)),
    ("OIDC_REFRESH_LEEWAY", "1d", Duration::from_secs(86_400)),
];

#[test]
fn an_absurd_duration_is_a_configuration_error_naming_its_variable() {
    for (var, max, _) in DURATION_MAXIMUMS {
        let err = Settings::from_vars(vars(&[(var, "1000000000d")])).unwrap_err();
        let problem = err.problems.iter().find(|p| p.var == *var);
        let problem = problem.unwrap_or_else(|| panic!("{var} not named: {err}"));
        assert!(
            problem.message.contains(&format!("maximum, {max}")),
            "{var}: {}",
            problem.message
        );
    }
}

#[test]
fn every_duration_at_its_maximum_is_accepted() {
    let at_max: Vec<(&str, &str)> = DURATION_MAXIMUMS.iter().map(|(var, max, _)| (*var, *max)).collect();
    let s = Settings::from_vars(vars(&at_max)).unwrap();
    let got = [
        s.provider.http_timeout,
        s.provider.clock_skew,
        s.session.idle_timeout,
        s.session.max_lifetime,
        s.session.login_timeout,
        s.session.refresh_leeway,
    ];
    let expected: Vec<Duration> = DURATION_MAXIMUMS.iter().map(|(_, _, d)| *d).collect();
    assert_eq!(got.to_vec(), expected);
}

#[test]
fn rediss_sentinel_entries_mean_tls_with_decoded_credentials_and_bare_ipv6_hosts() {
    let s = Settings::from_vars(vars(&[
        (
            "OIDC_REDIS_SENTINELS",
            "rediss://app:p%40ss@sentinel-0:26379/2,[::1]:26380",
        ),
        ("OIDC_REDIS_SENTINEL_MASTER", "mymaster"),
    ]))
    .unwrap();
    let RedisMode::Sentinel {
        sentinels,
        node_username,
        node_password,
        db,
        tls,
        ..
    } = &s.redis.mode
    else {
        panic!("not sentinel mode");
    };
    assert!(*tls);
    assert_eq!(
        sentinels,
        &[("sentinel-0".to_owned(), 26379), ("::1".to_owned(), 26380)]
    );
    assert_eq!(node_username.as_deref(), Some("app"));
    assert_eq!(node_password.as_ref().map(|p| p.expose()), Some("p@ss"));
    assert_eq!(*db, 2);
}

#[test]
fn each_redis_mode_names_its_own_variables_in_errors() {
    let mode = |extra: &[(&str, &str)]| Settings::from_vars(vars(extra)).unwrap().redis.mode;
    assert_eq!(mode(&[]).vars(), "OIDC_REDIS_URL");
    let sentinel = mode(&[("OIDC_REDIS_SENTINELS", "s:26379"), ("OIDC_REDIS_SENTINEL_MASTER", "m")]);
    assert!(sentinel.vars().contains("OIDC_REDIS_SENTINELS"), "{}", sentinel.vars());
    assert!(!sentinel.vars().contains("OIDC_REDIS_URL"));
    let cluster = mode(&[("OIDC_REDIS_CLUSTER_NODES", "redis://a:6379")]);
    assert_eq!(cluster.vars(), "OIDC_REDIS_CLUSTER_NODES");
}

#[test]
fn the_sign_in_variables_become_rules_and_an_empty_group_list_is_no_rule() {
    use crate::domain::access::{Rule, Values};
    use crate::domain::SignInRules;

    let s = Settings::from_vars(vars(&[
        ("OIDC_ALLOWED_GROUPS", "staff, ops"),
        ("OIDC_REQUIRE_EMAIL_VERIFIED", "true"),
    ]))
    .unwrap();
    let groups = Rule::Groups(Values::Listed(vec!["staff".into(), "ops".into()]));
    assert_eq!(
        s.claims.sign_in_rules,
        SignInRules::new(vec![groups, Rule::EmailVerified])
    );
    for unset in [vec![], vec![("OIDC_ALLOWED_GROUPS", " , ")]] {
        let s = Settings::from_vars(vars(&unset)).unwrap();
        assert_eq!(s.claims.sign_in_rules, SignInRules::default());
    }
}

#[test]
fn requiring_a_verified_email_with_a_custom_email_claim_is_a_problem_naming_both() {
    let v = vars(&[("OIDC_EMAIL_CLAIM", "upn"), ("OIDC_REQUIRE_EMAIL_VERIFIED", "true")]);
    let problems = Settings::from_vars(v).unwrap_err().problems;
    let problem = problems
        .iter()
        .find(|p| p.var == "OIDC_REQUIRE_EMAIL_VERIFIED")
        .expect("a problem");
    assert!(problem.message.contains("OIDC_EMAIL_CLAIM=upn"), "{problem:?}");
    let nested = vars(&[
        ("OIDC_EMAIL_CLAIM", "$.profile.email"),
        ("OIDC_REQUIRE_EMAIL_VERIFIED", "true"),
    ]);
    assert!(Settings::from_vars(nested).is_ok());
}

#[test]
fn the_otel_variables_switch_tracing_on_and_a_wrong_one_is_reported_with_the_rest() {
    assert!(Settings::from_vars(vars(&[])).unwrap().tracing.is_none());
    let on = Settings::from_vars(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")])).unwrap();
    assert_eq!(on.tracing.unwrap().endpoint.as_str(), "http://collector:4318/v1/traces");
    let wrong = Settings::from_vars(vars(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OIDC_COOKIE_SAMESITE", "sometimes"),
    ]))
    .unwrap_err();
    let named: Vec<&str> = wrong.problems.iter().map(|p| p.var).collect();
    assert!(
        named.contains(&"OTEL_EXPORTER_OTLP_PROTOCOL") && named.contains(&"OIDC_COOKIE_SAMESITE"),
        "{named:?}"
    );
}
