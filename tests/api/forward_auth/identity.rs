//! What a live session's answer carries, and what it costs in Redis.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{header, send};
use crate::support::app::{spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn identity_headers_encode_group_names_and_carry_no_control_characters() {
    let app = spawn_app_with(Options {
        provider: json!({"accounts": {"odd": {
            "preferred_username": "o\u{7}dd\r\nX-Injected: 1",
            "email": "odd@example.test\u{85}",
            "groups": ["dev,admins", "100%", "ops\nteam", "plain"],
        }}}),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("odd").await;
    let ok = send(app.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(header(&ok, "x-auth-request-user"), "oddX-Injected: 1");
    assert_eq!(header(&ok, "x-auth-request-email"), "odd@example.test");
    assert_eq!(
        header(&ok, "x-auth-request-groups"),
        "dev%2Cadmins,100%25,opsteam,plain"
    );
    assert!(ok.headers().get("x-injected").is_none());
    let route = "/forward-auth?allowed_groups=dev%2Cadmins";
    assert_eq!(
        send(app.gate(Method::GET, route, Some(&session))).await.status(),
        StatusCode::OK
    );
    let split = "/forward-auth?allowed_groups=admins";
    assert_eq!(
        send(app.gate(Method::GET, split, Some(&session))).await.status(),
        StatusCode::FORBIDDEN,
        "`dev,admins` is one group, not `admins`"
    );
}

#[tokio::test]
async fn the_access_token_is_passed_on_only_when_exposing_tokens_is_enabled() {
    let hidden = spawn_app().await;
    let session = hidden.sign_in("alice").await;
    let ok = send(hidden.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().get("authorization").is_none());
    assert!(ok.headers().get("x-auth-request-access-token").is_none());

    let app = spawn_app_with(Options {
        env: vec![("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true".into())],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("alice").await;
    let ok = send(app.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let token = header(&ok, "x-auth-request-access-token");
    assert_eq!(header(&ok, "authorization"), format!("Bearer {token}"));
    assert_eq!(app.introspect(&session).await["access_token"], token.as_str());
    let userinfo = app
        .api
        .get(app.provider.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK, "the provider accepts the token");
}

#[tokio::test]
async fn forward_auth_reads_the_session_with_get_and_pttl_and_slides_a_due_idle_timeout_after_answering() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_SESSION_IDLE_TIMEOUT", "1h".into())],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("admin-carol").await;
    let key = crate::support::app::session_redis_key(&session);
    let mut redis = app.redis.connection();
    redis::cmd("EXPIRE").arg(&key).arg(60).query::<()>(&mut redis).unwrap();
    redis::cmd("CONFIG").arg("RESETSTAT").query::<()>(&mut redis).unwrap();

    let route = "/forward-auth?mode=redirect&allowed_groups=admins&allowed_email_domains=example.test";
    let ok = send(app.gate(Method::GET, route, Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);

    // The slide is sent after the answer: wait for it to land.
    let ttl = || {
        redis::cmd("TTL")
            .arg(&key)
            .query::<i64>(&mut app.redis.connection())
            .unwrap()
    };
    for _ in 0..250 {
        if ttl() > 3000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ttl() > 3000, "the idle timeout was slid back to an hour: {}", ttl());
    let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut redis).unwrap();
    let mut commands: Vec<&str> = stats
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter(|l| !["info", "config", "ttl"].iter().any(|c| l.starts_with(c)))
        .map(|l| l.split_once(",usec=").map_or(l, |(calls, _)| calls))
        .collect();
    commands.sort();
    assert_eq!(commands, ["expire:calls=1", "get:calls=1", "pttl:calls=1"]);
}
