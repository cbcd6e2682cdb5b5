//! What a browser is told when the provider fails: a short message, never the error chain
//! with the provider's addresses (that goes to the log).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{browser, free_listener, spawn_app, start_service, TestApp, CLIENT_ID};
use crate::support::forging_provider::spawn_against_forger_prepared;
use crate::support::net::ClosedPort;
use crate::support::redis::TestRedis;

fn assert_short(page: &str, dead: &str) {
    assert!(
        !page.contains(dead),
        "the provider's address reached the browser: {page}"
    );
    for chain in ["error sending request", "tcp connect", "Connection refused"] {
        assert!(
            !page.contains(chain),
            "`{chain}`: the error chain reached the browser: {page}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_token_endpoint_gives_a_502_page_without_the_error_chain() {
    let closed = ClosedPort::new();
    let dead = closed.url();
    let token_endpoint = format!("{dead}/token");
    let app = spawn_against_forger_prepared(
        |forge| *forge.discovery_extra.lock().unwrap() = json!({ "token_endpoint": token_endpoint }),
        Vec::new(),
    )
    .await;
    let (status, cookie, page) = app
        .login(|f, nonce| f.signer.sign(f.header(), f.claims(CLIENT_ID, nonce)))
        .await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(cookie.is_none());
    assert!(page.contains("The identity provider could not be reached"), "{page}");
    assert_short(&page, &dead);
}

#[tokio::test]
async fn a_provider_not_yet_discovered_gives_a_503_page_without_the_error_chain() {
    let closed = ClosedPort::new();
    let dead = closed.url();
    let redis = TestRedis::start();
    let (public, internal) = (free_listener(), free_listener());
    let public_url = format!("http://127.0.0.1:{}", public.local_addr().unwrap().port());
    let internal_url = format!("http://127.0.0.1:{}", internal.local_addr().unwrap().port());
    let vars = [
        ("OIDC_ISSUER_URL", dead.clone()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_REDIRECT_URI", format!("{public_url}/auth/callback")),
        ("OIDC_REDIS_URL", redis.url.clone()),
        ("OIDC_LOG", "error".to_owned()),
    ];
    let _stop = start_service(vars.map(|(k, v)| (k.to_owned(), v)).to_vec(), public, internal);
    // Wait until readiness reports the failed discovery (its error is what a page could leak).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client.get(format!("{internal_url}/readyz")).send().await.unwrap();
        let text = ready.text().await.unwrap();
        if text.contains("cannot reach") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never reported the failed discovery: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let response = browser().get(format!("{public_url}/auth/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = response.text().await.unwrap();
    assert!(page.contains("not available yet"), "{page}");
    assert_short(&page, &dead);
}

/// The provider's error redirect for `state`, with `description`.
async fn error_callback(app: &TestApp, client: &reqwest::Client, state: &str, description: &str) -> reqwest::Response {
    client
        .get(format!("{}/auth/callback", app.public))
        .query(&[
            ("state", state),
            ("error", "access_denied"),
            ("error_description", description),
        ])
        .send()
        .await
        .unwrap()
}

/// Starts a login in `app.browser` and goes through the provider's forms; returns its
/// `state` (with PAR, only the provider's redirect back carries it).
async fn started_state(app: &TestApp) -> String {
    let callback = url::Url::parse(&app.provider_callback(&app.browser, "gus", "").await).unwrap();
    let state = callback.query_pairs().find(|(k, _)| k == "state").unwrap().1;
    state.into_owned()
}

#[tokio::test]
async fn provider_error_text_is_html_escaped() {
    let app = spawn_app().await;
    let state = started_state(&app).await;
    let response = error_callback(&app, &app.browser, &state, "<script>alert(1)</script>").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
}

#[tokio::test]
async fn provider_error_text_is_shown_only_to_the_browser_that_started_the_login() {
    let app = spawn_app().await;
    let phishing = "Your account is locked. Call +1-555-0100 to unlock it.";
    let state = started_state(&app).await;
    // A link someone else crafted: another browser, or a state this browser never started.
    for (client, state) in [(browser(), state.as_str()), (app.browser.clone(), "made-up-state")] {
        let response = error_callback(&app, &client, state, phishing).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(
            !page.contains("+1-555-0100") && !page.contains("access_denied"),
            "{page}"
        );
        assert!(page.contains("not completed"), "{page}");
    }
    let response = error_callback(&app, &app.browser, &state, phishing).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("+1-555-0100"));
}
