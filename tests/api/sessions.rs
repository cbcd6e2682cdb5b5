use oidc_session::crypto::{KeyRing, Purpose};
use oidc_session::session::SessionId;
use reqwest::StatusCode;
use serde_json::json;
use url::Url;

use crate::support::app::{browser, location, session_redis_key, set_cookies, spawn_app, spawn_app_with, Options};

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
async fn redis_holds_no_usable_cookie_value() {
    let app = spawn_app().await;
    let session = app.sign_in("gil").await;
    let dump = app.redis_dump();
    assert!(dump.contains("oidc:session:"), "{dump}");
    assert!(!dump.contains(&session));
}

#[tokio::test]
async fn with_an_encryption_key_redis_holds_no_token_in_clear() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
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

#[tokio::test]
async fn a_session_record_changed_in_redis_reads_as_no_session_when_an_encryption_key_is_set() {
    let app = spawn_app_with(Options {
        env: vec![(
            "OIDC_SESSION_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        )],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("ivy").await;
    let untouched = app.stored_record(&session);
    assert!(untouched.tag.is_some(), "the metadata carries a tag");
    assert!(app.is_active(&session).await);

    // Someone with write access to Redis grants the session a group.
    let mut forged = untouched.clone();
    forged.identity.groups.push("admins".into());
    let mut conn = app.redis.connection();
    redis::cmd("SET")
        .arg(session_redis_key(&session))
        .arg(forged.encode())
        .query::<()>(&mut conn)
        .unwrap();
    assert_eq!(app.introspect(&session).await, json!({"active": false}));
    let me = app.browser.get(format!("{}/auth/me", app.public)).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    // The record as the service wrote it is still accepted: the check is what refused.
    redis::cmd("SET")
        .arg(session_redis_key(&session))
        .arg(untouched.encode())
        .query::<()>(&mut conn)
        .unwrap();
    assert!(app.is_active(&session).await);
}

#[tokio::test]
async fn a_session_record_with_its_tag_removed_reads_as_no_session_when_an_encryption_key_is_set() {
    let app = spawn_app_with(Options {
        env: vec![(
            "OIDC_SESSION_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        )],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("jay").await;
    let mut stripped = app.stored_record(&session);
    stripped.tag = None;
    let mut conn = app.redis.connection();
    redis::cmd("SET")
        .arg(session_redis_key(&session))
        .arg(stripped.encode())
        .query::<()>(&mut conn)
        .unwrap();
    assert!(!app.is_active(&session).await);
}
