//! The core flows as one scenario, run against each Redis deployment.

use reqwest::StatusCode;
use serde_json::json;

use super::app::{browser, spawn_app_with, Options, CLIENT_ID};
use super::forge::logout_claims;
use super::forging_provider::spawn_against_forger_with;
use super::provider::end_session_at_provider;

fn owned(env: &[(&'static str, String)]) -> Vec<(String, String)> {
    env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Login, introspection, refresh, RP logout and back-channel logout (by `sid` through the
/// real provider, by `sub` with a signed token) against one Redis deployment.
pub async fn core_flows(redis_env: Vec<(&'static str, String)>) {
    let app = spawn_app_with(Options {
        env: redis_env.clone(),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("alice").await;
    assert!(app.is_active(&session).await);
    assert_eq!(app.post_refresh(&session).await.status(), StatusCode::OK);
    assert_eq!(app.provider.refresh_grants().await, 1);
    app.browser
        .get(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();
    assert!(!app.is_active(&session).await, "RP logout");

    let second = browser();
    let session = app.sign_in_with(&second, "bob").await;
    end_session_at_provider(&second, &app.provider.issuer, &[("client_id", CLIENT_ID)]).await;
    assert!(!app.is_active(&session).await, "back-channel logout by sid");

    let forged = spawn_against_forger_with(owned(&redis_env)).await;
    let laptop = forged.session_for("carol", "sid-1").await;
    let phone = forged.session_for("carol", "sid-2").await;
    let mut claims = logout_claims(&forged.provider.forge.issuer, CLIENT_ID, oidc_session::session::now());
    claims["sub"] = json!("carol");
    claims.as_object_mut().unwrap().remove("sid");
    let signer = &forged.provider.forge.signer;
    let response = forged
        .post_logout_token(&signer.sign(signer.logout_header(), claims))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !forged.is_active(&laptop).await && !forged.is_active(&phone).await,
        "back-channel logout by sub"
    );
}
