//! The audience of `private_key_jwt` assertions (`OIDC_CLIENT_ASSERTION_AUDIENCE`) against
//! the real provider: what it accepts is what its version accepts, and the test says so.

use serde_json::{json, Value};

use crate::support::app::{spawn_app_with, Options, TestApp};
use crate::support::client_keys::ec_key;

async fn app_with_audience(audience: &str) -> TestApp {
    let key = ec_key();
    spawn_app_with(Options {
        client: json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.jwk]}}),
        env: vec![
            ("OIDC_CLIENT_PRIVATE_KEY", key.pem.clone()),
            ("OIDC_CLIENT_ASSERTION_AUDIENCE", audience.to_owned()),
            // One endpoint to look at: the token endpoint.
            ("OIDC_PAR", "never".to_owned()),
        ],
        ..Options::default()
    })
    .await
}

async fn token_assertions(app: &TestApp) -> Vec<Value> {
    let all = app.provider.stats().await["client_assertions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    all.into_iter().filter(|a| a["route"] == "token").collect()
}

#[tokio::test]
async fn the_issuer_is_the_default_audience_and_the_provider_accepts_it() {
    let app = app_with_audience("issuer").await;
    let session = app.sign_in("amy").await;
    assert!(app.is_active(&session).await);
    let seen = token_assertions(&app).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["claims"]["aud"], app.provider.issuer.as_str());
}

#[tokio::test]
async fn with_the_token_endpoint_as_audience_the_assertion_names_that_endpoint() {
    let app = app_with_audience("token_endpoint").await;
    let token_endpoint = format!("{}/token", app.provider.issuer.trim_end_matches('/'));
    let session = app.sign_in("ben").await;
    assert!(
        app.is_active(&session).await,
        "panva's oidc-provider accepts its token endpoint URL as aud"
    );
    let seen = token_assertions(&app).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["claims"]["aud"], token_endpoint.as_str());
}
