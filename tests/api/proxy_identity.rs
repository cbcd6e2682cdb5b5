//! The identity assertion and bearer tokens through real nginx and Caddy configured from
//! `examples/`: what reaches the app, and what the README's verifiers make of it.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::bearer::{api_provider, audiences, client_credentials, API};
use crate::forward_auth::assertion::ec_pem;
use crate::forward_auth::verifiers::{installed, verifier, verify};
use crate::support::app::browser;
use crate::support::proxy::Kind;
use crate::support::site::{echo, site_for, Backend, Site};

async fn identity_site(kind: Kind) -> Site {
    let env = vec![("OIDC_ASSERTION_KEY", ec_pem()), ("OIDC_BEARER_AUDIENCES", audiences())];
    site_for(kind, env, Backend::Echo, api_provider()).await
}

pub(crate) async fn a_page_load_brings_the_app_an_assertion_both_readme_verifiers_accept_never_a_client_sent_one(
    kind: Kind,
) {
    let dir = tokio::task::spawn_blocking(installed).await.unwrap();
    let site = identity_site(kind).await;
    let browser = browser();
    site.sign_in_at(&browser, "/", "alice").await;
    let spoofed = browser
        .get(format!("{}/orders", site.url))
        .header("x-auth-request-assertion", "forged.assertion.value")
        .header("x-auth-request-user", "root")
        .send()
        .await
        .unwrap();
    let seen = echo(spoofed).await;
    let headers = &seen["headers"];
    assert_eq!(headers["x-auth-request-user"], "alice", "{seen}");
    let assertion = headers["x-auth-request-assertion"]
        .as_str()
        .expect("an assertion")
        .to_owned();
    assert_ne!(assertion, "forged.assertion.value");
    for language in ["python", "js"] {
        // No `audience=` in the examples: the assertion is for the site's own origin.
        let script = verifier(&dir, language, &site.app.internal, &site.url, &site.url);
        let claims = verify(&dir, &script, &assertion)
            .await
            .unwrap_or_else(|why| panic!("{language} refused the app's assertion: {why}"));
        assert_eq!(claims["sub"], "alice");
    }
}

pub(crate) async fn without_a_key_a_client_sent_assertion_never_reaches_the_app(kind: Kind) {
    let site = site_for(kind, Vec::new(), Backend::Echo, json!({})).await;
    let browser = browser();
    site.sign_in_at(&browser, "/", "alice").await;
    let seen = echo(
        browser
            .get(format!("{}/orders", site.url))
            .header("x-auth-request-assertion", "forged.assertion.value")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(seen["headers"].get("x-auth-request-assertion").is_none(), "{seen}");
}

pub(crate) async fn an_api_call_with_a_bearer_token_passes_and_a_forged_one_gets_401(kind: Kind) {
    let site = identity_site(kind).await;
    let token = client_credentials(&site.app, API).await;
    let api = reqwest::Client::new();
    let call = |token: String| {
        api.get(format!("{}/api/orders", site.url))
            .header("accept", "application/json")
            .bearer_auth(token)
            .send()
    };
    let seen: Value = echo(call(token.clone()).await.unwrap()).await;
    assert!(
        !seen["headers"]["x-auth-request-sub"].as_str().unwrap_or("").is_empty(),
        "{seen}"
    );
    assert!(seen["headers"]["x-auth-request-assertion"].is_string(), "{seen}");
    // The signature's last character changed: a token nobody signed.
    let last = if token.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    let refused = call(forged).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{}", site.proxy.log());
    let challenge = refused
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}
