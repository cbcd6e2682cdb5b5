//! The operator API on the internal listener: only with `OIDC_ADMIN_SECRET`, only for that
//! secret, on two replicas sharing Redis.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::app::{spawn_app, spawn_app_with, Options, TestApp};
use crate::support::replica::start_replica;

const ADMIN: &str = "admin-secret-for-the-operator-api";
const INTROSPECTION: &str = "introspection-secret-for-proxies";

fn admin_options() -> Options {
    Options {
        env: vec![
            ("OIDC_ADMIN_SECRET", ADMIN.into()),
            ("OIDC_INTROSPECTION_SECRET", INTROSPECTION.into()),
        ],
        ..Options::default()
    }
}

async fn call(method: Method, url: String, secret: Option<&str>) -> reqwest::Response {
    let request = reqwest::Client::new().request(method, url);
    let request = match secret {
        Some(secret) => request.bearer_auth(secret),
        None => request,
    };
    request.send().await.unwrap()
}

/// Whether `session` is live, asked with the introspection secret.
async fn is_active(app: &TestApp, session: &str) -> bool {
    let response = reqwest::Client::new()
        .post(format!("{}/introspect", app.internal))
        .bearer_auth(INTROSPECTION)
        .json(&json!({ "session": session }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["active"] == true
}

#[tokio::test]
async fn without_an_admin_secret_the_operator_api_is_not_there() {
    let app = spawn_app().await;
    let session = app.sign_in("ivy").await;
    for (method, path) in [
        (Method::GET, "/admin/sessions?sub=ivy"),
        (Method::DELETE, "/admin/sessions?sub=ivy"),
        (Method::DELETE, "/admin/sessions/aXZ5.x"),
    ] {
        let response = call(method.clone(), format!("{}{path}", app.internal), Some("anything")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    assert!(app.is_active(&session).await);
}

#[tokio::test]
async fn only_the_admin_secret_opens_the_operator_api_and_bad_input_changes_nothing() {
    let app = spawn_app_with(admin_options()).await;
    let session = app.sign_in("ivy").await;
    let list = format!("{}/admin/sessions?sub=ivy", app.internal);
    for secret in [
        None,
        Some(INTROSPECTION),
        Some("wrong"),
        Some(&ADMIN[..ADMIN.len() - 1]),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let response = call(method.clone(), list.clone(), secret).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} with {secret:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
        }
    }
    let without_sub = call(Method::DELETE, format!("{}/admin/sessions", app.internal), Some(ADMIN)).await;
    assert_eq!(without_sub.status(), StatusCode::BAD_REQUEST);
    for id in ["garbage", "aXZ5.short", "%2E%2E"] {
        let response = call(
            Method::DELETE,
            format!("{}/admin/sessions/{id}", app.internal),
            Some(ADMIN),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    assert!(is_active(&app, &session).await, "nothing changed");
    let unknown = call(
        Method::GET,
        format!("{}/admin/sessions?sub=nobody", app.internal),
        Some(ADMIN),
    )
    .await;
    assert_eq!(unknown.json::<Value>().await.unwrap(), json!({"sessions": []}));
}

#[tokio::test]
async fn an_operator_ends_one_session_or_all_of_a_users_and_every_replica_sees_it_at_once() {
    let app = spawn_app_with(admin_options()).await;
    let env = [
        ("OIDC_ADMIN_SECRET", ADMIN),
        ("OIDC_INTROSPECTION_SECRET", INTROSPECTION),
    ];
    let replica = start_replica(&app.provider.issuer, &app.public, &app.redis.url, &env).await;
    let first = app.sign_in_with(&crate::support::app::browser(), "jack").await;
    let second = app.sign_in_with(&crate::support::app::browser(), "jack").await;
    let third = app.sign_in_with(&crate::support::app::browser(), "jack").await;
    let other = app.sign_in_with(&crate::support::app::browser(), "kate").await;

    let listed = call(
        Method::GET,
        format!("{}/admin/sessions?sub=jack", replica.internal),
        Some(ADMIN),
    )
    .await;
    assert_eq!(listed.status(), StatusCode::OK);
    let sessions = listed.json::<Value>().await.unwrap()["sessions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(sessions.len(), 3);
    assert!(sessions.iter().all(|s| s["sub"] == "jack" && s["id"].is_string()));

    // One session, by its id, ended through the replica: gone on the first instance too.
    let id = sessions[0]["id"].as_str().unwrap();
    let one = format!("{}/admin/sessions/{id}", replica.internal);
    assert_eq!(
        call(Method::DELETE, one.clone(), Some(ADMIN)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(Method::DELETE, one, Some(ADMIN)).await.status(),
        StatusCode::NOT_FOUND
    );
    let live = [&first, &second, &third];
    let mut still = 0;
    for session in live {
        if is_active(&app, session).await {
            still += 1;
        }
    }
    assert_eq!(still, 2, "exactly the one session ended");

    let all = call(
        Method::DELETE,
        format!("{}/admin/sessions?sub=jack", replica.internal),
        Some(ADMIN),
    )
    .await;
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(all.json::<Value>().await.unwrap(), json!({"ended": 2}));
    for session in live {
        assert!(!is_active(&app, session).await, "ended on every replica");
    }
    assert!(is_active(&app, &other).await, "another user's session is untouched");
    let metrics = call(Method::GET, format!("{}/metrics", replica.internal), None).await;
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("kind=\"admin\"") && l.ends_with(" 3")),
        "three admin logouts counted"
    );
}
