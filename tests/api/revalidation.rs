//! Revalidation against the real provider: a user removed or changed at the provider loses
//! access within one access-token lifetime, without back-channel logout (README,
//! "Revalidation").

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{spawn_app_with, Options, TestApp};

/// Access tokens that live two seconds; sign-in rules as `env` says.
async fn app_with_short_tokens(env: Vec<(&'static str, String)>) -> TestApp {
    spawn_app_with(Options {
        provider: json!({"access_token_ttl": 2}),
        env,
        ..Options::default()
    })
    .await
}

async fn past_the_access_token() {
    tokio::time::sleep(Duration::from_millis(3_000)).await;
}

#[tokio::test]
async fn a_user_removed_at_the_provider_loses_access_once_the_access_token_expires() {
    let app = app_with_short_tokens(Vec::new()).await;
    let session = app.sign_in("gus").await;
    assert!(app.is_active(&session).await);
    app.provider.set_account("gus", json!({"disabled": true})).await;
    assert!(app.is_active(&session).await, "until the access token expires");
    past_the_access_token().await;
    assert_eq!(
        app.forward_auth(Some(&session)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(!app.is_active(&session).await, "ended on every replica");
    assert_eq!(app.provider.refresh_grants().await, 1, "one refresh decided it");
}

#[tokio::test]
async fn a_user_moved_out_of_the_allowed_groups_loses_access_once_the_access_token_expires() {
    let app = app_with_short_tokens(vec![("OIDC_ALLOWED_GROUPS", "users".into())]).await;
    let session = app.sign_in("hal").await;
    app.provider
        .set_account("hal", json!({"groups": ["former-users"]}))
        .await;
    past_the_access_token().await;
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn a_user_still_admitted_keeps_the_session_with_fresh_claims_after_revalidation() {
    let app = app_with_short_tokens(vec![("OIDC_ALLOWED_GROUPS", "users".into())]).await;
    let session = app.sign_in("ida").await;
    app.provider
        .set_account("ida", json!({"groups": ["users", "ops"]}))
        .await;
    past_the_access_token().await;
    let body = app.introspect(&session).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["groups"], json!(["users", "ops"]), "the provider's current groups");
}

#[tokio::test]
async fn with_revalidation_off_a_removed_user_keeps_access_until_the_session_ends() {
    let app = app_with_short_tokens(vec![("OIDC_REVALIDATE", "never".into())]).await;
    let session = app.sign_in("jo").await;
    app.provider.set_account("jo", json!({"disabled": true})).await;
    past_the_access_token().await;
    assert!(
        app.is_active(&session).await,
        "as configured: only an explicit refresh checks"
    );
    assert_eq!(app.provider.refresh_grants().await, 0);
}
