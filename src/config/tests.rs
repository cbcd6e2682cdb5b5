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
    assert_eq!(s.provider.auth_method, ClientAuthMethod::None);
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
    assert_eq!(s.provider.auth_method, ClientAuthMethod::ClientSecretBasic);
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
