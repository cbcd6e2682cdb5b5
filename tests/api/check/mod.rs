//! `oidc-session check` against the real provider, a provider lacking features (the
//! forging one), an unreachable provider and an unreachable Redis; one wrong setting at a
//! time in `one_wrong_setting.rs`.

mod one_wrong_setting;

use serde_json::json;

use crate::support::app::{spawn_app_with, Options, CLIENT_ID};
use crate::support::forging_provider::ForgingProvider;
use crate::support::net::ClosedPort;
use crate::support::redis::TestRedis;

pub(crate) async fn check(vars: &[(&str, String)]) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oidc-session"))
        .arg("check")
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

pub(crate) fn base(issuer: &str, redis: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OIDC_ISSUER_URL", issuer.to_owned()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback".to_owned()),
        ("OIDC_POST_LOGOUT_REDIRECT_URI", "https://app.example.com/".to_owned()),
        ("OIDC_REDIS_URL", redis.to_owned()),
    ]
}

#[tokio::test]
async fn against_the_real_provider_check_prints_what_to_register_and_passes() {
    let app = spawn_app_with(Options::default()).await;
    let (code, out) = check(&base(&app.provider.issuer, &app.redis.url)).await;
    assert_eq!(code, Some(0), "{out}");
    for expected in [
        "redirect URI               https://app.example.com/auth/callback",
        "post-logout redirect URI   https://app.example.com/",
        "back-channel logout URI    https://app.example.com/auth/backchannel-logout (backchannel_logout_session_required: true)",
        "ok       PKCE S256: supported",
        "ok       offline_access: supported",
        "ok       end_session_endpoint:",
        "ok       back-channel logout: supported, with sid",
        "ok       client authentication none: supported",
        "ok       redis: standalone, reachable",
        "login can work",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
}

#[tokio::test]
async fn without_offline_access_check_warns_and_says_that_is_expected_with_keycloak_and_google() {
    let app = spawn_app_with(Options::default()).await;
    let mut vars = base(&app.provider.issuer, &app.redis.url);
    vars.push(("OIDC_SCOPES", "openid profile email".into()));
    let (code, out) = check(&vars).await;
    assert_eq!(code, Some(0), "a warning, not a problem: {out}");
    let expected = "warning  offline_access is not requested (OIDC_SCOPES): expected with providers that \
                    issue refresh tokens without it (Keycloak; Google with access_type=offline)";
    assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
}

#[tokio::test]
async fn a_provider_lacking_features_gets_one_line_each_and_a_wrong_auth_method_fails() {
    let provider = ForgingProvider::start().await;
    *provider.forge.discovery_extra.lock().unwrap() = json!({
        "code_challenge_methods_supported": null,
        "scopes_supported": ["openid", "email"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    });
    let redis = TestRedis::start();
    let (code, out) = check(&base(&provider.forge.issuer, &redis.url)).await;
    assert_eq!(
        code,
        Some(1),
        "a public client where the provider wants a secret: {out}"
    );
    for expected in [
        "warning  PKCE S256 is not advertised",
        "warning  offline_access is requested but not in scopes_supported",
        "warning  no end_session_endpoint",
        "warning  back-channel logout is not supported",
        "PROBLEM  client authentication none is not advertised by the provider (client_secret_basic): set OIDC_CLIENT_SECRET",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }

    let mut post = base(&provider.forge.issuer, &redis.url);
    post.push(("OIDC_CLIENT_SECRET", "s".into()));
    post.push(("OIDC_CLIENT_AUTH_METHOD", "client_secret_post".into()));
    let (code, out) = check(&post).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("set OIDC_CLIENT_AUTH_METHOD to one of client_secret_basic"),
        "{out}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_names_the_variable_and_hints_at_the_discovery_url() {
    let redis = TestRedis::start();
    let closed = ClosedPort::new();
    let (code, out) = check(&base(&closed.url(), &redis.url)).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("PROBLEM  cannot reach the provider"), "{out}");
    assert!(
        out.contains("check OIDC_ISSUER_URL") && out.contains("set OIDC_DISCOVERY_URL"),
        "{out}"
    );
}

#[tokio::test]
async fn an_issuer_differing_by_a_trailing_slash_says_exactly_what_to_set() {
    let provider = ForgingProvider::start().await;
    let redis = TestRedis::start();
    let with_slash = format!("{}/", provider.forge.issuer);
    let mut vars = base(&with_slash, &redis.url);
    vars.push((
        "OIDC_DISCOVERY_URL",
        format!("{}/.well-known/openid-configuration", provider.forge.issuer),
    ));
    let (code, out) = check(&vars).await;
    assert_eq!(code, Some(1), "{out}");
    let expected = format!("set OIDC_ISSUER_URL={} exactly", provider.forge.issuer);
    assert!(out.contains("trailing slash") && out.contains(&expected), "{out}");
}

#[tokio::test]
async fn an_unreachable_redis_names_oidc_redis_url() {
    let provider = ForgingProvider::start().await;
    let closed = ClosedPort::new();
    let (code, out) = check(&base(
        &provider.forge.issuer,
        &format!("redis://127.0.0.1:{}", closed.port()),
    ))
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Redis is unreachable: check OIDC_REDIS_URL"), "{out}");
}

#[tokio::test]
async fn check_names_the_assertion_kid_and_alg_and_whether_opaque_bearer_tokens_can_be_introspected() {
    let key = crate::support::client_keys::ec_key();
    let app = spawn_app_with(Options::default()).await;
    let mut vars = base(&app.provider.issuer, &app.redis.url);
    vars.push(("OIDC_ASSERTION_KEY", key.pem.clone()));
    vars.push(("OIDC_BEARER_AUDIENCES", "https://api.example.test".into()));
    let (code, out) = check(&vars).await;
    assert_eq!(code, Some(0), "{out}");
    let assertion = format!("ok       identity assertions: signed ES256 with kid `{}`", key.kid);
    assert!(out.contains(&assertion), "`{assertion}` missing from:\n{out}");
    let introspection = format!(
        "ok       bearer tokens for https://api.example.test: JWTs verified with the provider's keys, \
         opaque tokens at the introspection_endpoint {}",
        app.provider.url("/token/introspection")
    );
    assert!(out.contains(&introspection), "`{introspection}` missing from:\n{out}");

    let provider = ForgingProvider::start().await;
    let mut vars = base(&provider.forge.issuer, &app.redis.url);
    vars.push(("OIDC_BEARER_AUDIENCES", "https://api.example.test".into()));
    let (_, out) = check(&vars).await;
    assert!(
        out.contains(
            "warning  bearer tokens for https://api.example.test: the provider advertises no introspection_endpoint"
        ),
        "{out}"
    );
}
