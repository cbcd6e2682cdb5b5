//! Step-up per route against the real provider, through its forms: a session that fails
//! only `max_age` or `acr_values` is sent to sign in again (302 for a browser page load
//! with `mode=redirect`, else the RFC 9470 401); the provider is asked for `max_age` and
//! `acr_values` (pushed with PAR, as the provider advertises it), the callback checks what
//! comes back, and only a sign-in that shows it replaces the session.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{error_of, header, send, PAGE};
use crate::support::app::{location, session_cookie, spawn_app_with, Options, TestApp};
use crate::support::provider;

fn with_acr_values() -> Options {
    Options {
        provider: json!({"acr_values": ["pwd", "mfa"]}),
        ..Options::default()
    }
}

/// The browser loading `{public}/admin` behind a route with `query`.
async fn load_admin(app: &TestApp, query: &str, session: &str, page_load: bool) -> reqwest::Response {
    let request = app
        .gate(Method::GET, &format!("/forward-auth?{query}"), Some(session))
        .header("x-forwarded-uri", "/admin");
    let request = if page_load {
        request.header("accept", PAGE)
    } else {
        request.header("accept", "application/json")
    };
    send(request).await
}

/// Follows a login URL with the browser, through the provider's forms, to the callback's
/// answer.
async fn sign_in_again(app: &TestApp, login_url: &str, user: &str) -> reqwest::Response {
    let login = app.browser.get(login_url).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::FOUND, "{}", login.text().await.unwrap());
    let callback_prefix = format!("{}/auth/callback", app.public);
    let callback = provider::sign_in(&app.browser, &location(&login), user, &callback_prefix).await;
    app.browser.get(&callback).send().await.unwrap()
}

#[tokio::test]
async fn a_sign_in_older_than_max_age_is_sent_to_sign_in_again_and_gets_a_new_session() {
    let app = spawn_app_with(Options::default()).await;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Without `max_age` this provider sends no `auth_time`: the rule fails such a session too.
    let old = app.sign_in("carol").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let script = load_admin(&app, "mode=redirect&max_age=1", &old, false).await;
    assert_eq!(script.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&script, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.contains("max_age=1"), "{challenge}");
    assert_eq!(error_of(script).await["error"], "insufficient_user_authentication");

    let page = load_admin(&app, "mode=redirect&max_age=1", &old, true).await;
    assert_eq!(page.status(), StatusCode::FOUND);
    let login_url = location(&page);
    assert_eq!(
        login_url,
        format!("{}/auth/login?return_to=%2Fadmin&max_age=1", app.public)
    );

    let pushed_before = app.provider.stats().await["par_requests"].as_u64().unwrap();
    let landed = sign_in_again(&app, &login_url, "carol").await;
    assert_eq!(landed.status(), StatusCode::FOUND, "{}", landed.text().await.unwrap());
    assert_eq!(location(&landed), "/admin");
    let new = session_cookie(landed.headers()).expect("a new session cookie");
    assert_ne!(new, old);
    assert!(!app.is_active(&old).await, "the old session ended");
    let stepped_up = app.introspect(&new).await;
    let auth_time = stepped_up["auth_time"].as_u64().expect("introspection shows auth_time");
    assert!(
        auth_time >= started + 2,
        "a new authentication at the provider: {stepped_up}"
    );
    assert!(
        app.provider.stats().await["par_requests"].as_u64().unwrap() > pushed_before,
        "max_age went to the provider in a pushed request"
    );
    let passes = load_admin(&app, "mode=redirect&max_age=60", &new, true).await;
    assert_eq!(passes.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sign_in_without_the_required_acr_is_refused_and_one_with_it_replaces_the_session() {
    let app = spawn_app_with(with_acr_values()).await;
    app.provider.set_account("dave", json!({"acr": "pwd"})).await;
    let old = app.sign_in("dave").await;
    assert_eq!(app.introspect(&old).await["acr"], "pwd");

    let script = load_admin(&app, "acr_values=mfa", &old, true).await;
    assert_eq!(script.status(), StatusCode::UNAUTHORIZED, "no mode=redirect: the 401");
    assert!(header(&script, "www-authenticate").contains("acr_values=\"mfa\""));

    // The provider's session still says `pwd`: the callback refuses, the session stays.
    let refused = sign_in_again(&app, &format!("{}/auth/login?acr_values=mfa", app.public), "dave").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(refused.headers()).is_none());
    assert!(refused.text().await.unwrap().contains("acr"));
    assert!(
        app.is_active(&old).await,
        "a failed step-up leaves the session as it was"
    );

    // The user signs in again with a second factor (max_age=0 makes the provider ask).
    app.provider
        .set_account("dave", json!({"acr": "mfa", "amr": ["pwd", "otp"]}))
        .await;
    let url = format!("{}/auth/login?acr_values=mfa&max_age=0", app.public);
    let landed = sign_in_again(&app, &url, "dave").await;
    assert_eq!(landed.status(), StatusCode::FOUND, "{}", landed.text().await.unwrap());
    let new = session_cookie(landed.headers()).expect("a new session cookie");
    assert!(!app.is_active(&old).await);
    let introspection = app.introspect(&new).await;
    assert_eq!(introspection["acr"], "mfa");
    assert_eq!(introspection["amr"], json!(["pwd", "otp"]));
    assert_eq!(
        load_admin(&app, "acr_values=mfa", &new, true).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_step_up_parameters_get_a_400_and_change_nothing() {
    let app = spawn_app_with(Options::default()).await;
    let session = app.sign_in("erin").await;
    let before = app.stored_record(&session);
    let eleven = (1..=11).map(|i| format!("a{i}")).collect::<Vec<_>>().join("%20");
    for query in [
        "max_age=abc".to_owned(),
        "max_age=-5".to_owned(),
        "max_age=99999999999999999999".to_owned(),
        "max_age=604801".to_owned(),
        "acr_values=".to_owned(),
        format!("acr_values={eleven}"),
        "acr_values=mfa%01".to_owned(),
    ] {
        let response = app.get_login(&app.browser, &format!("?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{query}: no login binding"
        );
        assert!(response.text().await.unwrap().contains("max_age") || query.starts_with("acr"));
        // A week and a second is a fine rule for a route; everything else is not.
        if query != "max_age=604801" {
            let rule = send(app.gate(Method::GET, &format!("/forward-auth?{query}"), Some(&session))).await;
            assert_eq!(rule.status(), StatusCode::BAD_REQUEST, "forward-auth {query}");
        }
    }
    assert_eq!(app.stored_record(&session), before, "the session is unchanged");
}
