//! Refresh and session lifecycle against the real provider (rotation on unless said).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{introspect_at, spawn_app, spawn_app_with, Options};
use crate::support::replica::start_replica;

async fn sleep_secs(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_the_old_one_is_dead() {
    let app = spawn_app().await;
    let session = app.sign_in("alice").await;
    let before = app.stored_tokens(&session)["refresh_token"]
        .as_str()
        .expect("offline_access gave a refresh token")
        .to_owned();

    let response = app.post_refresh(&session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["access_token_expires_at"].as_u64().unwrap() > oidc_session::session::now());
    assert_eq!(app.provider.refresh_grants().await, 1);

    let after = app.stored_tokens(&session)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(before, after, "rotated");
    assert!(app.is_active(&session).await);
    assert_eq!(
        app.use_refresh_token_at_provider(&before).await,
        StatusCode::BAD_REQUEST,
        "the old token is dead"
    );
}

#[tokio::test]
async fn twenty_parallel_refreshes_send_one_grant_and_the_session_survives() {
    let app = spawn_app().await;
    let session = app.sign_in("bob").await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..20 {
        burst.spawn(app.refresh_request(&session).send());
    }
    for response in burst.join_all().await {
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(app.provider.refresh_grants().await, 1);
    assert!(app.is_active(&session).await);

    // Had two grants raced, the provider would have revoked the grant: prove it is alive.
    sleep_secs(5.2).await;
    assert_eq!(app.post_refresh(&session).await.status(), StatusCode::OK);
    assert_eq!(app.provider.refresh_grants().await, 2);
    assert!(app.is_active(&session).await);
}

#[tokio::test]
async fn a_refresh_the_provider_refuses_ends_the_session() {
    let app = spawn_app_with(Options {
        provider: json!({"refresh_token_ttl": 2}),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("carol").await;
    sleep_secs(3.0).await;

    let response = app.post_refresh(&session).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn without_a_refresh_token_the_session_ends_with_its_access_token() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_SCOPES", "openid profile email".into())],
        provider: json!({"access_token_ttl": 2}),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("dan").await;
    assert!(app.stored_tokens(&session)["refresh_token"].is_null());
    assert!(app.is_active(&session).await);
    sleep_secs(3.0).await;
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn an_exposed_access_token_is_refreshed_first_when_it_expires_within_the_leeway() {
    let app = spawn_app_with(Options {
        env: vec![
            ("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true".into()),
            ("OIDC_REFRESH_LEEWAY", "60s".into()),
        ],
        provider: json!({"access_token_ttl": 30}),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("erin").await;
    let original = app.stored_tokens(&session)["access_token"].as_str().unwrap().to_owned();

    let body = app.introspect(&session).await;
    let handed_out = body["access_token"].as_str().unwrap();
    assert_ne!(handed_out, original, "refreshed before being handed out");
    assert_eq!(app.provider.refresh_grants().await, 1);
}

#[tokio::test]
async fn the_idle_timeout_ends_an_unused_session_and_use_extends_it() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_SESSION_IDLE_TIMEOUT", "2s".into())],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("fay").await;
    for _ in 0..3 {
        sleep_secs(1.2).await;
        assert!(app.is_active(&session).await, "use slides the idle timeout");
    }
    sleep_secs(3.0).await;
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn the_absolute_lifetime_is_never_extended_by_use() {
    let app = spawn_app_with(Options {
        env: vec![
            ("OIDC_SESSION_IDLE_TIMEOUT", "30s".into()),
            ("OIDC_SESSION_MAX_LIFETIME", "3s".into()),
        ],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("gus").await;
    assert!(app.is_active(&session).await);
    sleep_secs(1.5).await;
    assert!(app.is_active(&session).await);
    sleep_secs(2.5).await;
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_at_the_provider() {
    let app = spawn_app().await;
    let session = app.sign_in("hal").await;
    let refresh_token = app.stored_tokens(&session)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.browser
        .get(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.use_refresh_token_at_provider(&refresh_token).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_session_sealed_under_an_old_key_is_read_after_key_rotation() {
    let old = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let new = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let app = spawn_app_with(Options {
        env: vec![
            ("OIDC_SESSION_ENCRYPTION_KEY", old.into()),
            ("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true".into()),
        ],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("ivy").await;

    // A replica configured with the rotated key list (new first) reads the old session.
    let keys = format!("{new},{old}");
    let env = [
        ("OIDC_SESSION_ENCRYPTION_KEY", keys.as_str()),
        ("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true"),
    ];
    let replica = start_replica(&app.provider.issuer, &app.public, &app.redis.url, &env).await;
    let body = introspect_at(&replica.internal, &session).await;
    assert_eq!(body["active"], true);
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
}

#[tokio::test]
async fn after_the_access_token_expires_the_next_use_revalidates_the_session_and_it_lives() {
    let app = spawn_app_with(Options {
        provider: json!({"access_token_ttl": 2}),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("ken").await;
    sleep_secs(3.0).await;
    assert!(app.is_active(&session).await, "a refresh token keeps the session alive");
    assert_eq!(
        app.provider.refresh_grants().await,
        1,
        "revalidated first (OIDC_REVALIDATE=expiry)"
    );
    let response = app.post_refresh(&session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["access_token_expires_at"].as_u64().unwrap() >= oidc_session::session::now());
    assert_eq!(app.provider.refresh_grants().await, 2);
}
