use reqwest::StatusCode;
use serde_json::json;
use url::Url;

use crate::support::app::{browser, location, session_cookie, set_cookies, spawn_app, spawn_app_with, Options};
use crate::support::provider::sign_in;
use crate::support::replica::start_replica;

#[tokio::test]
async fn a_public_client_signs_in_and_gets_an_httponly_session_cookie() {
    let app = spawn_app().await;
    let callback = app.provider_callback(&app.browser, "alice", "").await;
    let response = app.browser.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/");
    let cookies = set_cookies(response.headers());
    let session = cookies
        .iter()
        .find(|c| c.starts_with("oidc_session=") && !c.contains("Max-Age=0"))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(session.contains("Path=/"), "{session}");
    assert!(!session.contains("Secure"), "plain-http redirect URI: {session}");
    // The login-binding cookie is cleared on the way out.
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("oidc_session_login_") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let value = session_cookie(response.headers()).unwrap();
    assert_eq!(value.len(), 43, "256 random bits, base64url");
    assert!(app.is_active(&value).await);
}

#[tokio::test]
async fn a_confidential_client_signs_in_with_client_secret_basic() {
    let app = spawn_app_with(Options {
        confidential: Some("client_secret_basic"),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("bob").await;
    assert_eq!(app.introspect(&session).await["sub"], "bob");
}

#[tokio::test]
async fn a_confidential_client_signs_in_with_client_secret_post() {
    let app = spawn_app_with(Options {
        confidential: Some("client_secret_post"),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("carol").await;
    assert_eq!(app.introspect(&session).await["sub"], "carol");
}

#[tokio::test]
async fn the_authorization_request_carries_pkce_s256_state_nonce_and_the_scopes() {
    // Without PAR, so that the parameters travel in the browser's redirect to be read here.
    let app = spawn_app_with(Options {
        env: vec![("OIDC_PAR", "never".into())],
        ..Options::default()
    })
    .await;
    let response = app.get_login(&app.browser, "").await;
    let url = Url::parse(&location(&response)).unwrap();
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();

    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert!(query["state"].len() >= 22 && query["nonce"].len() >= 22);
    assert_eq!(query["scope"], "openid profile email offline_access");
    assert_eq!(query["prompt"], "consent");
    let binding = set_cookies(response.headers());
    assert!(
        binding
            .iter()
            .any(|c| c.starts_with("oidc_session_login_") && c.contains("HttpOnly") && c.contains("SameSite=Lax")),
        "{binding:?}"
    );
}

#[tokio::test]
async fn me_returns_the_signed_in_user_and_never_tokens() {
    let app = spawn_app().await;
    app.sign_in("admin-dave").await;
    let response = app.browser.get(format!("{}/auth/me", app.public)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: serde_json::Value = response.json().await.unwrap();

    assert_eq!(me["sub"], "admin-dave");
    assert_eq!(me["username"], "admin-dave");
    assert_eq!(me["email"], "admin-dave@example.test");
    assert_eq!(me["name"], "Admin-dave Test");
    assert_eq!(me["groups"], json!(["users", "admins"]));
    assert!(me["session_expires_at"].as_u64().unwrap() > 0);
    let text = me.to_string();
    assert!(!text.contains("token") && !text.contains("eyJ"), "{text}");
}

#[tokio::test]
async fn me_without_a_session_is_401() {
    let app = spawn_app().await;
    let response = app.browser.get(format!("{}/auth/me", app.public)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn a_used_state_is_refused_the_second_time() {
    let app = spawn_app().await;
    let callback = app.provider_callback(&app.browser, "erin", "").await;
    assert_eq!(
        app.browser.get(&callback).send().await.unwrap().status(),
        StatusCode::FOUND
    );

    let replay = app.browser.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(replay.headers()).is_none());
    assert!(replay.text().await.unwrap().contains("already used"));
}

#[tokio::test]
async fn an_unknown_state_is_refused_without_creating_a_session() {
    let app = spawn_app().await;
    let response = app
        .browser
        .get(format!("{}/auth/callback?code=abc&state=never-issued", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(response.headers()).is_none());
    assert!(!app.redis_dump().contains("session:"));
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused() {
    let app = spawn_app().await;
    let callback = app.provider_callback(&app.browser, "frank", "").await;
    // The attacker's browser has the code and state but not the victim's binding cookie.
    let response = browser().get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(response.headers()).is_none());
    assert!(response.text().await.unwrap().contains("another browser"));
    assert!(!app.redis_dump().contains("session:"));
}

#[tokio::test]
async fn a_callback_without_iss_from_a_provider_that_promises_it_is_refused_without_a_session() {
    let app = spawn_app().await;
    let discovery: serde_json::Value = app
        .browser
        .get(app.provider.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);
    let mut callback = Url::parse(&app.provider_callback(&app.browser, "iris", "").await).unwrap();
    let without_iss: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "iss")
        .collect();
    assert!(
        without_iss.len() < callback.query_pairs().count(),
        "the provider sent iss"
    );
    callback.query_pairs_mut().clear().extend_pairs(&without_iss);

    let response = app.browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(response.headers()).is_none());
    assert!(response.text().await.unwrap().contains("lacks `iss`"));
    assert!(!app.redis_dump().contains("session:"));
}

#[tokio::test]
async fn a_login_cancelled_at_the_provider_shows_access_denied_and_creates_no_session() {
    let app = spawn_app().await;
    let login = app.get_login(&app.browser, "").await;
    let mut next = location(&login);
    // Follow the provider to its login page, then press its "cancel" (abort) link.
    let callback = loop {
        let response = app.browser.get(&next).send().await.unwrap();
        let to = location(&response);
        let absolute = Url::parse(&next).unwrap().join(&to).unwrap().to_string();
        if absolute.starts_with(&format!("{}/auth/callback", app.public)) {
            break absolute;
        }
        next = match to.strip_prefix("/interaction/") {
            Some(uid) if !uid.contains('/') => {
                format!("{}/interaction/{uid}/abort", app.provider.issuer)
            }
            _ => absolute,
        };
    };
    assert!(callback.contains("error=access_denied"), "{callback}");
    let response = app.browser.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(response.headers()).is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("access_denied"), "{page}");
    assert!(!app.redis_dump().contains("session:"));
}

#[tokio::test]
async fn open_redirect_payloads_never_produce_an_off_site_location() {
    let app = spawn_app().await;
    let payloads = [
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "https://evil.example",
        "http://evil.example/",
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,hi",
        "%2F%2Fevil.example",
        "/%09/evil.example",
        "/\t/evil.example",
        "https:evil.example",
        &format!("{}@evil.example", app.public),
        "evil.example",
    ];
    for payload in payloads {
        let response = app
            .browser
            .get(format!("{}/auth/login", app.public))
            .query(&[("return_to", payload)])
            .send()
            .await
            .unwrap();
        let status = response.status();
        if status == StatusCode::FOUND {
            let to = location(&response);
            assert!(to.starts_with(&app.provider.issuer), "{payload:?} redirected to {to}");
            // The provider hop is fine; what matters is where the login lands afterwards.
            let callback = sign_in(&app.browser, &to, "mallory", &format!("{}/auth/callback", app.public)).await;
            let landed = app.browser.get(&callback).send().await.unwrap();
            let target = location(&landed);
            assert!(
                target.starts_with('/') && !target.starts_with("//"),
                "{payload:?} landed on {target}"
            );
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{payload:?}");
        }
    }
}

#[tokio::test]
async fn a_same_site_return_to_is_where_the_login_lands() {
    let app = spawn_app().await;
    let callback = app
        .provider_callback(&app.browser, "gina", "?return_to=%2Fdashboard%3Ftab%3D2")
        .await;
    let response = app.browser.get(&callback).send().await.unwrap();
    assert_eq!(location(&response), "/dashboard?tab=2");
}

#[tokio::test]
async fn a_return_to_with_dot_segments_is_judged_and_landed_on_as_resolved() {
    let app = spawn_app().await;
    // `/..//evil.test` resolves to `//evil.test`: another host for whoever follows it.
    let refused = app.get_login(&app.browser, "?return_to=%2F..%2F%2Fevil.test").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let callback = app
        .provider_callback(&app.browser, "ida", "?return_to=%2Fa%2F..%2Fdashboard%3Ftab%3D2")
        .await;
    let response = app.browser.get(&callback).send().await.unwrap();
    assert_eq!(location(&response), "/dashboard?tab=2");
}

#[tokio::test]
async fn a_return_to_on_an_allowed_origin_is_accepted() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_ALLOWED_RETURN_ORIGINS", "https://admin.example.com".into())],
        ..Options::default()
    })
    .await;
    let callback = app
        .provider_callback(&app.browser, "hank", "?return_to=https%3A%2F%2Fadmin.example.com%2Fx")
        .await;
    let response = app.browser.get(&callback).send().await.unwrap();
    assert_eq!(location(&response), "https://admin.example.com/x");
}

#[tokio::test]
async fn users_outside_the_allowed_groups_get_403_and_no_session() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_ALLOWED_GROUPS", "admins".into())],
        ..Options::default()
    })
    .await;
    let callback = app.provider_callback(&app.browser, "ivan", "").await;
    let response = app.browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(response.headers()).is_none());

    let admin = app.sign_in_with(&browser(), "admin-judy").await;
    assert!(app.is_active(&admin).await);
}

#[tokio::test]
async fn an_unverified_email_is_refused_when_verification_is_required() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_REQUIRE_EMAIL_VERIFIED", "true".into())],
        ..Options::default()
    })
    .await;
    let callback = app.provider_callback(&app.browser, "unverified-kim", "").await;
    let response = app.browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("not verified"));
}

#[tokio::test]
async fn signing_in_again_in_the_same_browser_replaces_the_old_session() {
    let app = spawn_app().await;
    let first = app.sign_in("lena").await;
    let second = app.sign_in("lena").await;
    assert_ne!(first, second, "a fresh id on every login");
    assert!(!app.is_active(&first).await);
    assert!(app.is_active(&second).await);
}

#[tokio::test]
async fn anonymous_logins_make_redis_hold_nothing_but_the_shared_sealing_key() {
    let app = spawn_app().await;
    let long_path = format!("/{}", "a".repeat(2000));
    for _ in 0..200 {
        let response = browser()
            .get(format!("{}/auth/login?return_to={long_path}", app.public))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
    }
    let mut conn = app.redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(
        keys,
        vec!["oidc:login-key".to_owned()],
        "anonymous requests wrote {keys:?}"
    );
}

#[tokio::test]
async fn a_login_started_on_one_replica_finishes_on_another_without_an_encryption_key() {
    let app = spawn_app().await;
    let other = start_replica(&app.provider.issuer, &app.public, &app.redis.url, &[]).await;
    // The login starts at the second replica; the provider sends the browser back to the first.
    let login = app
        .browser
        .get(format!("{}/auth/login", other.public))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FOUND);
    let back = format!("{}/auth/callback", app.public);
    let callback = sign_in(&app.browser, &location(&login), "gina", &back).await;
    let finished = app.browser.get(&callback).send().await.unwrap();
    assert_eq!(finished.status(), StatusCode::FOUND);
    assert!(session_cookie(finished.headers()).is_some());
}
