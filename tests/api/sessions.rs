use reqwest::StatusCode;
use serde_json::json;
use url::Url;

use crate::support::app::{browser, location, set_cookies, spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn introspection_by_body_returns_the_user_and_no_token_by_default() {
    let app = spawn_app().await;
    let session = app.sign_in("alice").await;
    let body = app.introspect(&session).await;

    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email"], "alice@example.test");
    assert_eq!(body["email_verified"], true);
    assert_eq!(body["name"], "Alice Test");
    assert_eq!(body["groups"], json!(["users"]));
    assert!(body["sid"].is_string(), "the provider's session id: {body}");
    assert_eq!(body["claims"]["preferred_username"], "alice");
    assert!(body["session_expires_at"].as_u64().unwrap() > 0);
    assert!(body["access_token_expires_at"].as_u64().unwrap() > 0);
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn introspection_reads_a_forwarded_cookie_header_when_there_is_no_body() {
    let app = spawn_app().await;
    let session = app.sign_in("bob").await;
    let response = app
        .api
        .post(format!("{}/introspect", app.internal))
        .header("cookie", format!("theme=dark; oidc_session={session}; other=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], "bob");
}

#[tokio::test]
async fn garbage_and_unknown_sessions_are_inactive_never_an_error() {
    let app = spawn_app().await;
    let unknown = "A".repeat(43);
    for session in ["", "garbage", "../../etc/passwd", &unknown, &"x".repeat(10_000)] {
        assert_eq!(app.introspect(session).await, json!({"active": false}), "{session:.20}");
    }
    for body in ["not json", "{\"session\": 42}", "[]", "{}"] {
        let response = app
            .api
            .post(format!("{}/introspect", app.internal))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{body}");
        assert_eq!(
            response.json::<serde_json::Value>().await.unwrap(),
            json!({"active": false})
        );
    }
}

#[tokio::test]
async fn forward_auth_answers_200_with_user_headers_or_401() {
    let app = spawn_app().await;
    let session = app.sign_in("admin-carol").await;
    let ok = app.forward_auth(Some(&session)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let header = |name: &str| ok.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("x-auth-request-user"), "admin-carol");
    assert_eq!(header("x-auth-request-email"), "admin-carol@example.test");
    assert_eq!(header("x-auth-request-groups"), "users,admins");
    assert_eq!(header("x-auth-request-sub"), "admin-carol");

    let denied = app.forward_auth(None).await;
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let garbage = app.forward_auth(Some("nonsense")).await;
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_redirects_to_the_provider_with_the_hint_and_ends_the_session() {
    let app = spawn_app().await;
    let session = app.sign_in("dora").await;
    let response = app
        .browser
        .get(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FOUND);
    let to = Url::parse(&location(&response)).unwrap();
    assert!(to.as_str().starts_with(&app.provider.issuer), "{to}");
    let query: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert!(query["id_token_hint"].starts_with("eyJ"));
    assert_eq!(query["client_id"], "rp");
    assert_eq!(query["post_logout_redirect_uri"], format!("{}/bye", app.public));
    assert!(query["state"].len() >= 22);
    assert!(set_cookies(response.headers())
        .iter()
        .any(|c| c.starts_with("oidc_session=;") && c.contains("Max-Age=0")));
    assert!(!app.is_active(&session).await);
    assert_eq!(
        app.browser
            .get(format!("{}/auth/me", app.public))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_without_a_session_still_clears_the_cookie_and_redirects() {
    let app = spawn_app().await;
    let response = browser()
        .post(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let query: std::collections::HashMap<String, String> = Url::parse(&location(&response))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(!query.contains_key("id_token_hint"));
    assert!(set_cookies(response.headers()).iter().any(|c| c.contains("Max-Age=0")));
}

#[tokio::test]
async fn a_cross_site_logout_post_is_refused_and_the_session_lives_on() {
    let app = spawn_app().await;
    let session = app.sign_in("eve").await;
    let response = app
        .browser
        .post(format!("{}/auth/logout", app.public))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.is_active(&session).await);

    let same_site = app
        .browser
        .post(format!("{}/auth/logout", app.public))
        .header("origin", &app.public)
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::FOUND);
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn the_internal_api_requires_the_secret_when_one_is_set() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_INTROSPECTION_SECRET", "s3cret-value".into())],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("fay").await;
    let url = format!("{}/introspect", app.internal);
    let body = json!({ "session": session });

    let missing = app.api.post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let wrong = app.api.post(&url).bearer_auth("nope").json(&body).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app
        .api
        .post(&url)
        .bearer_auth("s3cret-value")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(right.json::<serde_json::Value>().await.unwrap()["active"], true);
}

#[tokio::test]
async fn the_provider_ending_its_session_ends_ours_through_back_channel_logout() {
    let app = spawn_app().await;
    let session = app.sign_in("ivy").await;
    let other_user = browser();
    let other = app.sign_in_with(&other_user, "jack").await;

    let ended =
        crate::support::provider::end_session_at_provider(&app.browser, &app.provider.issuer, &[("client_id", "rp")])
            .await;
    assert!(!ended.is_empty());
    assert_eq!(app.provider.stats().await["backchannel_logout_errors"], 0);

    assert!(!app.is_active(&session).await);
    assert!(app.is_active(&other).await, "another user's session is untouched");
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_of_both_listeners() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .api
        .get(format!("{}/openapi.json", app.internal))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/auth/login",
        "/auth/callback",
        "/auth/me",
        "/auth/logout",
        "/auth/backchannel-logout",
        "/auth/refresh",
        "/auth/sessions",
        "/auth/sessions/{id}",
        "/introspect",
        "/forward-auth",
        "/.well-known/jwks.json",
        "/metrics",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys());
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_whether_declared_or_streamed() {
    let app = spawn_app().await;
    let big = "x".repeat(200 * 1024);
    let declared = app
        .api
        .post(format!("{}/auth/backchannel-logout", app.public))
        .form(&[("logout_token", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![b'x'; 16 * 1024])).collect();
    let streamed = app
        .api
        .post(format!("{}/introspect", app.internal))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn forward_auth_passes_non_ascii_claims_as_utf8_headers() {
    let app = spawn_app_with(Options {
        provider: json!({"accounts": {"jurgen": {"preferred_username": "jürgen", "email": "jürgen@example.test"}}}),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("jurgen").await;
    let ok = app.forward_auth(Some(&session)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["x-auth-request-user"].as_bytes(), "jürgen".as_bytes());
    assert_eq!(
        ok.headers()["x-auth-request-email"].as_bytes(),
        "jürgen@example.test".as_bytes()
    );
}
