//! What Redis holds of a session: no usable cookie value, no token in clear, a record
//! changed there refused, and the key prefix all an ACL user needs.

use oidc_session::crypto::{KeyRing, Purpose};
use oidc_session::session::SessionId;
use reqwest::StatusCode;
use serde_json::json;

use oidc_session::session::SessionRecord;

use crate::support::app::{session_redis_key, spawn_app, spawn_app_with, Options, TestApp};

/// `OIDC_SESSION_ENCRYPTION_KEY` of the tests that set one.
const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The service with an encryption key: its records carry a tag.
async fn with_encryption_key() -> TestApp {
    spawn_app_with(Options {
        env: vec![("OIDC_SESSION_ENCRYPTION_KEY", ENCRYPTION_KEY.into())],
        ..Options::default()
    })
    .await
}

/// Writes `record` over the session's, as someone with write access to Redis could.
fn overwrite(app: &TestApp, session: &str, record: &SessionRecord) {
    redis::cmd("SET")
        .arg(session_redis_key(session))
        .arg(record.encode())
        .query::<()>(&mut app.redis.connection())
        .unwrap();
}

#[tokio::test]
async fn redis_holds_no_usable_cookie_value() {
    let app = spawn_app().await;
    let session = app.sign_in("gil").await;
    let dump = app.redis_dump();
    assert!(dump.contains("oidc:session:"), "{dump}");
    assert!(!dump.contains(&session));
}

#[tokio::test]
async fn with_an_encryption_key_redis_holds_no_token_in_clear() {
    let key = ENCRYPTION_KEY;
    let app = spawn_app_with(Options {
        env: vec![
            ("OIDC_SESSION_ENCRYPTION_KEY", key.into()),
            ("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true".into()),
        ],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("hal").await;
    let access_token = app.introspect(&session).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dump = app.redis_dump();
    assert!(!dump.contains(&access_token));
    assert!(!dump.contains("eyJ"), "no JWT in clear: {dump}");

    // Tokens are stored deflated, which hides their text even in clear: what matters is
    // that they are sealed, and open with the key derived for tokens from the configured
    // one only.
    let record = app.stored_record(&session);
    let session_key = SessionId::parse(&session).unwrap().key();
    assert!(record.tokens.is_sealed());
    assert!(record.tokens.open(None, &session_key).is_err());
    let other = KeyRing::parse("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=").unwrap();
    assert!(record.tokens.open(Some(&other), &session_key).is_err());
    let ring = KeyRing::parse(key).unwrap();
    assert!(
        record.tokens.open(Some(&ring), &session_key).is_err(),
        "not the configured key itself"
    );
    let opened = record
        .tokens
        .open(Some(&ring.for_purpose(Purpose::Tokens)), &session_key);
    assert_eq!(opened.unwrap().access_token, access_token);
}

#[tokio::test]
async fn a_session_key_holding_another_type_of_value_reads_as_inactive_without_an_error() {
    let app = spawn_app().await;
    let session = app.sign_in("kim").await;
    let key = session_redis_key(&session);
    let mut conn = app.redis.connection();
    redis::cmd("DEL").arg(&key).query::<()>(&mut conn).unwrap();
    redis::cmd("HSET")
        .arg(&key)
        .arg("v")
        .arg(r#"{"identity":{"sub":"kim"}}"#)
        .arg("exp")
        .arg(99_999_999_999u64)
        .query::<()>(&mut conn)
        .unwrap();

    assert_eq!(app.introspect(&session).await, json!({"active": false}));
    assert_eq!(
        app.forward_auth(Some(&session)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let me = app.browser.get(format!("{}/auth/me", app.public)).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let logout = app
        .browser
        .get(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert!(app.metrics().await.contains("oidc_session_redis_errors_total 0"));
}

#[tokio::test]
async fn a_redis_acl_user_limited_to_the_key_prefix_is_enough_for_every_flow() {
    let app = spawn_app_with(Options {
        redis_user: Some(("oidc-app", "app-password")),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("lou").await;
    assert!(app.is_active(&session).await);
    assert_eq!(app.post_refresh(&session).await.status(), StatusCode::OK);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("oidc_session_redis_errors_total 0"),
        "no NOPERM anywhere:\n{metrics}"
    );
    app.browser
        .get(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn a_session_record_changed_in_redis_reads_as_no_session_when_an_encryption_key_is_set() {
    let app = with_encryption_key().await;
    let session = app.sign_in("ivy").await;
    let untouched = app.stored_record(&session);
    assert!(untouched.tag.is_some(), "the metadata carries a tag");
    assert!(app.is_active(&session).await);

    // Someone with write access to Redis grants the session a group.
    let mut forged = untouched.clone();
    forged.identity.groups.push("admins".into());
    overwrite(&app, &session, &forged);
    assert_eq!(app.introspect(&session).await, json!({"active": false}));
    let me = app.browser.get(format!("{}/auth/me", app.public)).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    // The record as the service wrote it is still accepted: the check is what refused.
    overwrite(&app, &session, &untouched);
    assert!(app.is_active(&session).await);
}

#[tokio::test]
async fn a_session_record_with_its_tag_removed_reads_as_no_session_when_an_encryption_key_is_set() {
    let app = with_encryption_key().await;
    let session = app.sign_in("jay").await;
    let mut stripped = app.stored_record(&session);
    stripped.tag = None;
    overwrite(&app, &session, &stripped);
    assert!(!app.is_active(&session).await);
}
