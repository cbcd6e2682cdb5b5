//! Failing dependencies: Redis killed and restarted, the provider down at start and
//! while sessions are in use.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{browser, free_listener, spawn_app, start_service, CLIENT_ID};
use crate::support::net::ClosedPort;
use crate::support::provider::TestProvider;
use crate::support::redis::TestRedis;

/// Requests in these tests fail rather than hang: a hang is a failure too.
fn bounded() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn with_redis_down_every_endpoint_answers_503_and_recovers_without_a_restart() {
    let mut app = spawn_app().await;
    let session = app.sign_in("alice").await;
    app.redis.stop();

    let client = bounded();
    let introspect = client
        .post(format!("{}/introspect", app.internal))
        .json(&json!({ "session": session }))
        .send()
        .await
        .unwrap();
    assert_eq!(introspect.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = introspect.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let me = client
        .get(format!("{}/auth/me", app.public))
        .header("cookie", format!("oidc_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    let login = client.get(format!("{}/auth/login", app.public)).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready = client.get(format!("{}/readyz", app.internal)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("redis"));
    let live = client.get(format!("{}/healthz", app.internal)).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);

    // Back, empty, on the same address: the service heals by itself.
    app.redis.restart();
    app.wait_until_ready().await;
    assert!(!app.is_active(&session).await, "the restarted Redis is empty");
    let fresh = app.sign_in_with(&browser(), "bob").await;
    assert!(app.is_active(&fresh).await);
}

#[tokio::test]
async fn a_provider_down_at_start_leaves_the_service_live_but_unready_until_it_answers() {
    let redis = TestRedis::start();
    // Held until the provider starts, so that no other test's server takes the port.
    let op = ClosedPort::new();
    let op_port = op.port();
    let (public, internal) = (free_listener(), free_listener());
    let public_url = format!("http://127.0.0.1:{}", public.local_addr().unwrap().port());
    let internal_url = format!("http://127.0.0.1:{}", internal.local_addr().unwrap().port());
    let vars = vec![
        ("OIDC_ISSUER_URL".to_owned(), format!("http://127.0.0.1:{op_port}")),
        ("OIDC_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
        ("OIDC_REDIRECT_URI".to_owned(), format!("{public_url}/auth/callback")),
        ("OIDC_REDIS_URL".to_owned(), redis.url.clone()),
        ("OIDC_PROMPT".to_owned(), "consent".to_owned()),
        ("OIDC_LOG".to_owned(), "error".to_owned()),
    ];
    let _stop = start_service(vars, public, internal);
    let client = bounded();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let live = client.get(format!("{internal_url}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = client.get(format!("{internal_url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("provider"));
    let login = client.get(format!("{public_url}/auth/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);

    drop(op);
    let provider = TestProvider::start(json!({
        "port": op_port,
        "clients": [{"client_id": CLIENT_ID, "token_endpoint_auth_method": "none",
                     "redirect_uris": [format!("{public_url}/auth/callback")]}],
    }))
    .await;
    // Discovery retries with backoff (1 s, 2 s, 4 s, …).
    for _ in 0..30 {
        if client
            .get(format!("{internal_url}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        client
            .get(format!("{internal_url}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let login = browser().get(format!("{public_url}/auth/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::FOUND);
    drop(provider);
}

#[tokio::test]
async fn introspection_keeps_working_while_the_provider_is_down() {
    let mut app = spawn_app().await;
    let session = app.sign_in("carol").await;
    app.provider.stop().await;

    assert!(app.is_active(&session).await);
    let forward = bounded()
        .get(format!("{}/forward-auth", app.internal))
        .header("cookie", format!("oidc_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forward.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_logins_requests_and_sessions() {
    let app = spawn_app().await;
    app.sign_in("dave").await;
    let text = app.metrics().await;

    for line in [
        "oidc_session_logins_total{outcome=\"started\",reason=\"\"} 1",
        "oidc_session_logins_total{outcome=\"completed\",reason=\"\"} 1",
        "oidc_session_http_requests_total{listener=\"public\",route=\"/auth/callback\",status=\"302\"} 1",
        "oidc_session_active_sessions 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
    assert!(
        text.contains("oidc_session_provider_request_duration_seconds_count{endpoint=\"token\"} 1"),
        "{text}"
    );
    assert!(text.contains("oidc_session_redis_errors_total 0"), "{text}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_echoed() {
    let app = spawn_app().await;
    let generated = app.api.get(format!("{}/healthz", app.internal)).send().await.unwrap();
    assert!(generated.headers()["x-request-id"].len() >= 16);
    let echoed = app
        .api
        .get(format!("{}/auth/me", app.public))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-123");
}
