//! `oidc-session check` probes a provider configured wrong one way at a time — the real one,
//! or the forging one for what the real one cannot do — and each test runs its control: the
//! right configuration against the same provider reports no problem.

use serde_json::{json, Value};

use super::{base, check};
use crate::support::app::{CHECK_REDIRECT_URI, CLIENT_ID, CLIENT_SECRET};
use crate::support::forging_provider::{ClientAuth, ForgingProvider};
use crate::support::provider::TestProvider;
use crate::support::redis::TestRedis;

/// The real provider with one client, registered for the redirect URI `check` runs with.
async fn real_provider(client: Value, par: bool) -> TestProvider {
    let mut registration = json!({
        "client_id": CLIENT_ID,
        "token_endpoint_auth_method": "none",
        "redirect_uris": [CHECK_REDIRECT_URI],
    });
    for (k, v) in client.as_object().into_iter().flatten() {
        registration[k] = v.clone();
    }
    TestProvider::start(json!({"port": 0, "par": par, "clients": [registration]})).await
}

fn confidential(method: &str) -> Value {
    json!({"client_secret": CLIENT_SECRET, "token_endpoint_auth_method": method})
}

/// `check`'s variables for `issuer`, with some replaced or added.
fn vars(issuer: &str, redis: &TestRedis, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut vars = base(issuer, &redis.url);
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, (*v).to_owned()));
    }
    vars
}

fn problems(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("PROBLEM")).collect()
}

/// Runs the control: exit 0 and not a single problem.
async fn assert_no_problem(vars: &[(&'static str, String)]) -> String {
    let (code, out) = check(vars).await;
    assert!(problems(&out).is_empty(), "the control reports a problem:\n{out}");
    assert_eq!(code, Some(0), "{out}");
    out
}

/// Runs a wrong configuration: exit 1 and exactly one problem, which is returned.
async fn the_one_problem(vars: &[(&'static str, String)]) -> String {
    let (code, out) = check(vars).await;
    assert_eq!(code, Some(1), "{out}");
    let found = problems(&out);
    assert_eq!(found.len(), 1, "one problem expected:\n{out}");
    found[0].to_owned()
}

const SECRET_BASIC: &[(&str, &str)] = &[
    ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
    ("OIDC_CLIENT_AUTH_METHOD", "client_secret_basic"),
];

#[tokio::test]
async fn a_wrong_client_secret_is_a_problem_naming_the_secret_the_method_and_what_the_provider_advertises() {
    let provider = real_provider(confidential("client_secret_basic"), true).await;
    let redis = TestRedis::start();
    let wrong = [
        ("OIDC_CLIENT_SECRET", "not-the-secret"),
        ("OIDC_CLIENT_AUTH_METHOD", "client_secret_basic"),
    ];
    let line = the_one_problem(&vars(&provider.issuer, &redis, &wrong)).await;
    assert!(
        line.contains("refuses the client credentials (401 invalid_client"),
        "{line}"
    );
    for named in ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_CLIENT_AUTH_METHOD"] {
        assert!(line.contains(named), "{named} missing: {line}");
    }
    assert!(
        line.contains(
            "the provider advertises client_secret_basic, client_secret_jwt, client_secret_post, private_key_jwt, none"
        ),
        "{line}"
    );

    let out = assert_no_problem(&vars(&provider.issuer, &redis, SECRET_BASIC)).await;
    assert!(
        out.contains("ok       client credentials: accepted by the token endpoint (client_secret_basic; a made-up code got 400 invalid_grant"),
        "{out}"
    );
}

/// oidc-provider answers a client without the code grant `invalid_request`; others answer
/// `unauthorized_client`, as they may answer wrong credentials, which the forging provider
/// imitates.
#[tokio::test]
async fn a_client_refused_as_unauthorized_client_is_told_its_credentials_or_its_grant_may_be_the_cause() {
    let provider = ForgingProvider::start().await;
    let redis = TestRedis::start();
    *provider.forge.client_auth.lock().unwrap() = Some((ClientAuth::Basic, CLIENT_SECRET.into()));
    *provider.forge.code_grant_refused.lock().unwrap() = Some((400, "unauthorized_client"));
    let line = the_one_problem(&vars(&provider.forge.issuer, &redis, SECRET_BASIC)).await;
    assert!(line.contains("(400 unauthorized_client"), "{line}");
    let (credentials, grant) = (line.find("OIDC_CLIENT_SECRET"), line.find("authorization_code grant"));
    assert!(
        credentials.is_some() && grant.is_some() && credentials < grant,
        "the credentials first, then the grant: {line}"
    );

    *provider.forge.code_grant_refused.lock().unwrap() = None;
    assert_no_problem(&vars(&provider.forge.issuer, &redis, SECRET_BASIC)).await;
}

#[tokio::test]
async fn a_secret_sent_for_a_client_registered_as_public_says_to_unset_it() {
    let provider = real_provider(json!({}), true).await;
    let redis = TestRedis::start();
    let line = the_one_problem(&vars(&provider.issuer, &redis, SECRET_BASIC)).await;
    assert!(
        line.contains("refuses client `rp` with a secret") && line.contains("unset OIDC_CLIENT_SECRET"),
        "{line}"
    );

    let out = assert_no_problem(&vars(&provider.issuer, &redis, &[])).await;
    assert!(
        out.contains("ok       client credentials: accepted by the token endpoint (none;"),
        "{out}"
    );
}

#[tokio::test]
async fn a_confidential_client_configured_as_public_says_to_set_the_secret() {
    let provider = real_provider(confidential("client_secret_post"), true).await;
    let redis = TestRedis::start();
    let line = the_one_problem(&vars(&provider.issuer, &redis, &[])).await;
    assert!(
        line.contains("refuses client `rp` without a secret") && line.contains("set OIDC_CLIENT_SECRET"),
        "{line}"
    );

    let post = [
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_CLIENT_AUTH_METHOD", "client_secret_post"),
    ];
    assert_no_problem(&vars(&provider.issuer, &redis, &post)).await;
}

/// oidc-provider takes client_secret_basic and client_secret_post alike; providers such as
/// Authelia hold a client to its registered method, which the forging provider imitates.
#[tokio::test]
async fn basic_where_post_is_registered_and_post_where_basic_is_name_the_exact_method_to_set() {
    let provider = ForgingProvider::start().await;
    let redis = TestRedis::start();
    let both = json!({"token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]});
    *provider.forge.discovery_extra.lock().unwrap() = both;
    let issuer = provider.forge.issuer.clone();
    let post = [
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_CLIENT_AUTH_METHOD", "client_secret_post"),
    ];

    *provider.forge.client_auth.lock().unwrap() = Some((ClientAuth::Post, CLIENT_SECRET.into()));
    let line = the_one_problem(&vars(&issuer, &redis, SECRET_BASIC)).await;
    assert!(
        line.contains("refuses client_secret_basic for client `rp`")
            && line.ends_with("set OIDC_CLIENT_AUTH_METHOD=client_secret_post"),
        "{line}"
    );
    assert_no_problem(&vars(&issuer, &redis, &post)).await;

    *provider.forge.client_auth.lock().unwrap() = Some((ClientAuth::Basic, CLIENT_SECRET.into()));
    let line = the_one_problem(&vars(&issuer, &redis, &post)).await;
    assert!(
        line.ends_with("set OIDC_CLIENT_AUTH_METHOD=client_secret_basic"),
        "{line}"
    );
    let out = assert_no_problem(&vars(&issuer, &redis, SECRET_BASIC)).await;
    assert!(out.contains("ok       client credentials: accepted"), "{out}");
}

#[tokio::test]
async fn with_par_an_unregistered_redirect_uri_is_a_problem_printing_the_exact_uri_to_register() {
    let provider = real_provider(json!({}), true).await;
    let redis = TestRedis::start();
    let wrong_port = [("OIDC_REDIRECT_URI", "https://app.example.com:8443/auth/callback")];
    let line = the_one_problem(&vars(&provider.issuer, &redis, &wrong_port)).await;
    assert!(line.contains("pushed authorization request: invalid_request"), "{line}");
    assert!(
        line.contains("register exactly https://app.example.com:8443/auth/callback for client `rp`"),
        "{line}"
    );

    let out = assert_no_problem(&vars(&provider.issuer, &redis, &[])).await;
    assert!(
        out.contains("ok       redirect URI https://app.example.com/auth/callback: registered (the pushed authorization request was accepted)"),
        "{out}"
    );
}

#[tokio::test]
async fn without_par_an_unregistered_redirect_uri_is_found_at_the_authorization_endpoint() {
    let provider = real_provider(json!({}), false).await;
    let redis = TestRedis::start();
    let wrong_scheme = [("OIDC_REDIRECT_URI", "http://app.example.com/auth/callback")];
    let line = the_one_problem(&vars(&provider.issuer, &redis, &wrong_scheme)).await;
    assert!(
        line.contains("the authorization endpoint answered 400, invalid_redirect_uri"),
        "{line}"
    );
    assert!(
        line.contains("register exactly http://app.example.com/auth/callback for client `rp`"),
        "{line}"
    );

    let out = assert_no_problem(&vars(&provider.issuer, &redis, &[])).await;
    assert!(
        out.contains("ok       redirect URI https://app.example.com/auth/callback: registered (the provider redirects to its sign-in)"),
        "{out}"
    );
}

#[tokio::test]
async fn an_unsupported_scope_is_a_problem_naming_it_and_the_value_to_set() {
    let provider = real_provider(json!({}), true).await;
    let redis = TestRedis::start();
    let scopes = [("OIDC_SCOPES", "openid profile email offline_access roles")];
    let line = the_one_problem(&vars(&provider.issuer, &redis, &scopes)).await;
    assert!(
        line.contains("scope `roles` of OIDC_SCOPES is not in the provider's scopes_supported"),
        "{line}"
    );
    assert!(
        line.contains("set OIDC_SCOPES=\"openid profile email offline_access\""),
        "{line}"
    );

    let out = assert_no_problem(&vars(
        &provider.issuer,
        &redis,
        &[("OIDC_SCOPES", "openid email groups")],
    ))
    .await;
    assert!(out.contains("ok       scopes: openid email groups supported"), "{out}");
}

#[tokio::test]
async fn a_provider_answering_every_probe_with_500_gets_warnings_never_ok() {
    let provider = ForgingProvider::start().await;
    let redis = TestRedis::start();
    *provider.forge.client_auth.lock().unwrap() = Some((ClientAuth::Basic, CLIENT_SECRET.into()));
    let vars = vars(&provider.forge.issuer, &redis, SECRET_BASIC);

    *provider.forge.fail_with.lock().unwrap() = Some(500);
    let (_, out) = check(&vars).await;
    for expected in [
        "warning  cannot tell whether the client credentials are right: a token request with a made-up code got HTTP 500",
        "warning  cannot tell whether the redirect URI https://app.example.com/auth/callback is registered: the authorization endpoint answered 500",
        "warning  the userinfo endpoint answered 500",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
    for never in [
        "ok       client credentials",
        "ok       redirect URI",
        "ok       userinfo",
    ] {
        assert!(!out.contains(never), "`{never}` in:\n{out}");
    }

    *provider.forge.fail_with.lock().unwrap() = None;
    let out = assert_no_problem(&vars).await;
    assert!(out.contains("ok       client credentials: accepted"), "{out}");
    // The forging provider accepts any redirect URI, and check says it cannot tell.
    assert!(
        out.contains("warning  cannot tell whether the redirect URI https://app.example.com/auth/callback is registered: the provider accepted an unregistered one"),
        "{out}"
    );
}

#[tokio::test]
async fn a_self_signed_provider_is_a_problem_naming_oidc_extra_ca_file_and_passes_with_it() {
    let (provider, certificate) = ForgingProvider::start_tls().await;
    let redis = TestRedis::start();
    *provider.forge.client_auth.lock().unwrap() = Some((ClientAuth::Basic, CLIENT_SECRET.into()));
    let issuer = provider.forge.issuer.clone();
    let line = the_one_problem(&vars(&issuer, &redis, SECRET_BASIC)).await;
    assert_eq!(
        line,
        format!("PROBLEM  cannot reach the provider at {issuer}/.well-known/openid-configuration: its TLS certificate is not trusted (self-signed or signed by a private CA): set OIDC_EXTRA_CA_FILE to a PEM file holding that CA's certificate (or the self-signed certificate)")
    );

    let ca_file = std::env::temp_dir().join(format!(
        "oidc-session-test-ca-{}-{}.pem",
        std::process::id(),
        issuer.rsplit(':').next().unwrap()
    ));
    std::fs::write(&ca_file, certificate).unwrap();
    let mut trusting = SECRET_BASIC.to_vec();
    let path = ca_file.to_str().unwrap().to_owned();
    trusting.push(("OIDC_EXTRA_CA_FILE", &path));
    let out = assert_no_problem(&vars(&issuer, &redis, &trusting)).await;
    std::fs::remove_file(&ca_file).unwrap();
    assert!(out.contains(&format!("ok       discovery: {issuer}/")), "{out}");
    assert!(out.contains("ok       client credentials: accepted"), "{out}");
}
