//! A real browser (headless Chromium) through a real proxy (Caddy, from `examples/`) and
//! the real provider's own login, consent and logout pages.

use serde_json::Value;

use crate::support::proxy::Kind;
use crate::support::site::{site, Site};
use crate::support::webdriver::Browser;

/// Signs in at the provider's own pages, from wherever the browser was sent to sign in.
async fn sign_in_at_the_provider(browser: &Browser, site: &Site, user: &str) {
    let issuer = &site.app.provider.issuer;
    browser
        .wait_for_url("the provider's login page", |u| {
            u.starts_with(issuer.as_str()) && u.contains("/interaction/")
        })
        .await;
    browser.find("input[name=prompt][value=login]").await;
    browser.type_into("input[name=login]", user).await;
    browser.type_into("input[name=password]", "any-password").await;
    browser.click("button[type=submit]").await;
    // The consent page has the same URL as the login page: wait for its form.
    browser.find("input[name=prompt][value=consent]").await;
    browser.click("button[type=submit]").await;
}

/// The session cookie as the browser stored it, if any.
async fn session_cookie(browser: &Browser) -> Option<Value> {
    browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "oidc_session")
}

#[tokio::test]
async fn a_browser_signs_in_through_the_proxy_sees_who_it_is_signs_out_and_must_sign_in_again() {
    let site = site(Kind::Caddy, vec![]).await;
    let browser = Browser::start().await;
    let page = format!("{}/reports/2026?q=1&view=full", site.url);

    browser.goto(&page).await;
    sign_in_at_the_provider(&browser, &site, "admin-carol").await;
    browser.wait_for_url("the page it asked for", |u| u == page).await;
    let seen: Value = serde_json::from_str(&browser.text().await).expect("the app's echo");
    assert_eq!(seen["uri"], "/reports/2026?q=1&view=full");
    assert_eq!(seen["headers"]["x-auth-request-user"], "admin-carol");
    assert_eq!(seen["headers"]["x-auth-request-groups"], "users,admins");

    let cookies = browser.cookies().await;
    let session = session_cookie(&browser).await.expect("a session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Lax", "{session}");
    assert_eq!(session["path"], "/", "{session}");
    assert_eq!(session["secure"], false, "plain-http site: {session}");
    let value = session["value"].as_str().unwrap().to_owned();
    assert_eq!(value.len(), 43);
    assert!(
        !cookies
            .iter()
            .any(|c| c["name"].as_str().unwrap_or("").starts_with("oidc_session_login_")),
        "no login-binding cookie is left: {cookies:?}"
    );
    assert!(site.app.is_active(&value).await);

    // The single-page app of examples/spa shows who is signed in, from /auth/me.
    browser.goto(&format!("{}/app/", site.url)).await;
    browser.wait_for_text("#name", |t| t == "Admin-carol Test").await;
    browser
        .wait_for_text("#email", |t| t == "admin-carol@example.test")
        .await;
    browser.wait_for_text("#groups", |t| t == "users, admins").await;
    assert!(!browser.wait_for_text("#expires", |t| !t.is_empty()).await.is_empty());
    let expires = browser
        .script("return Number(document.getElementById('expires').dataset.unix)")
        .await;
    let introspected = site.app.introspect(&value).await["session_expires_at"].clone();
    let drift = expires.as_i64().unwrap() - introspected.as_i64().unwrap();
    assert!(
        drift.abs() <= 5,
        "the page shows the session's expiry: {expires} vs {introspected}"
    );

    // Sign out with the page's button, confirm at the provider's own logout page.
    browser.click("#sign-out button").await;
    let issuer = site.app.provider.issuer.clone();
    browser
        .wait_for_url("the provider's logout page", |u| u.starts_with(&issuer))
        .await;
    browser.click("button[name=logout][value=yes]").await;
    browser
        .wait_for_url("the login page again", |u| {
            u.starts_with(&issuer) && u.contains("/interaction/")
        })
        .await;
    assert!(session_cookie(&browser).await.is_none(), "the cookie is gone");
    assert!(!site.app.is_active(&value).await, "the session has ended");

    // The next visit is sent to sign in.
    browser.goto(&page).await;
    browser.find("input[name=prompt][value=login]").await;
    let url = browser.url().await;
    assert!(url.starts_with(&issuer) && url.contains("/interaction/"), "{url}");
}

#[tokio::test]
async fn a_back_channel_logout_from_the_providers_own_logout_page_ends_the_browsers_access() {
    let site = site(Kind::Caddy, vec![]).await;
    let browser = Browser::start().await;
    let page = format!("{}/inbox", site.url);
    browser.goto(&page).await;
    sign_in_at_the_provider(&browser, &site, "alice").await;
    browser.wait_for_url("the page it asked for", |u| u == page).await;
    let value = session_cookie(&browser).await.expect("a session cookie")["value"]
        .as_str()
        .unwrap()
        .to_owned();

    // Sign out at the provider only: it tells the service through the proxy.
    let issuer = site.app.provider.issuer.clone();
    browser.goto(&format!("{issuer}/session/end")).await;
    browser.click("button[name=logout][value=yes]").await;
    browser
        .wait_for_url("the provider's signed-out page", |u| u.contains("/session/end/success"))
        .await;
    let stats = site.app.provider.stats().await;
    assert_eq!(stats["backchannel_logout_ok"], 1, "{stats}");
    assert!(!site.app.is_active(&value).await, "the session has ended");

    // The browser still holds its cookie (cookies ignore ports: the provider's page sees
    // the site's), yet its next visit is sent to sign in.
    let kept = session_cookie(&browser).await.expect("the cookie is still stored");
    assert_eq!(kept["value"], value.as_str());
    browser.goto(&page).await;
    browser.find("input[name=prompt][value=login]").await;
    let url = browser.url().await;
    assert!(url.starts_with(&issuer) && url.contains("/interaction/"), "{url}");
}

#[tokio::test]
async fn behind_caddy_a_route_that_needs_a_recent_sign_in_sends_the_browser_back_to_the_provider_and_a_script_gets_the_401(
) {
    recent_sign_in_route(Kind::Caddy).await;
}

#[tokio::test]
async fn behind_nginx_a_route_that_needs_a_recent_sign_in_sends_the_browser_back_to_the_provider_and_a_script_gets_the_401(
) {
    recent_sign_in_route(Kind::Nginx).await;
}

/// `/admin/security/` of the example configuration: `admins` who signed in within 5 minutes.
async fn recent_sign_in_route(kind: Kind) {
    let site = site(kind, vec![]).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/reports", site.url)).await;
    sign_in_at_the_provider(&browser, &site, "admin-dana").await;
    browser
        .wait_for_url("the page it asked for", |u| u.ends_with("/reports"))
        .await;
    let first = session_cookie(&browser).await.expect("a session")["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        site.app.introspect(&first).await.get("auth_time").is_none(),
        "this provider sends auth_time only when max_age is asked for"
    );

    // The same route from a script: the RFC 9470 answer, nothing else changes.
    let answer = browser
        .script(
            "return fetch('/admin/security/keys', {headers: {accept: 'application/json'}})
               .then(r => [r.status, r.headers.get('www-authenticate')])",
        )
        .await;
    assert_eq!(answer[0], 401, "{answer}");
    let challenge = answer[1].as_str().unwrap_or_default();
    assert!(challenge.contains("insufficient_user_authentication") && challenge.contains("max_age=300"));
    assert!(site.app.is_active(&first).await);

    // A page load: to the provider with max_age (its own session is recent, so it asks only
    // to confirm, as every sign-in with prompt=consent) and back, with a new session that
    // shows the sign-in time.
    let page = format!("{}/admin/security/keys?tab=2", site.url);
    browser.goto(&page).await;
    browser.find("input[name=prompt][value=consent]").await;
    assert!(
        browser.url().await.starts_with(&site.app.provider.issuer),
        "at the provider"
    );
    browser.click("button[type=submit]").await;
    browser.wait_for_url("the guarded page", |u| u == page).await;
    let seen: Value = serde_json::from_str(&browser.text().await).expect("the app's echo");
    assert_eq!(seen["headers"]["x-auth-request-user"], "admin-dana");
    let second = session_cookie(&browser).await.expect("a session")["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, first, "a new session");
    assert!(!site.app.is_active(&first).await, "the old session ended");
    assert!(site.app.introspect(&second).await["auth_time"].is_u64());
}

#[tokio::test]
async fn the_demo_page_lists_the_users_sessions_and_signs_out_another_device() {
    let site = site(Kind::Caddy, vec![]).await;
    // The same user on another device first, through the proxy.
    let phone = crate::support::app::browser();
    let page = site.sign_in_at(&phone, "/reports", "erin").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);

    let browser = Browser::start().await;
    // The page is behind the proxy's gatekeeper: the browser is sent to sign in first.
    browser.goto(&format!("{}/app/", site.url)).await;
    sign_in_at_the_provider(&browser, &site, "erin").await;
    browser.wait_for_url("the demo page", |u| u.contains("/app/")).await;
    browser
        .wait_for_text("#sessions", |t| {
            t.contains("(this device)") && t.contains("Sign out this device")
        })
        .await;
    browser.click("#sessions .sign-out-device").await;
    browser
        .wait_for_text("#sessions", |t| !t.contains("Sign out this device"))
        .await;
    let phone_again = site.load(&phone, "/reports").await;
    assert_eq!(
        phone_again.status(),
        reqwest::StatusCode::FOUND,
        "the other device's session ended: it is sent to sign in"
    );
    let mine = session_cookie(&browser).await.expect("a session")["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(site.app.is_active(&mine).await, "this one did not");

    browser.click("#sign-out-everywhere button").await;
    browser
        .wait_for_url("the provider's logout page", |u| {
            u.starts_with(&site.app.provider.issuer)
        })
        .await;
    assert!(!site.app.is_active(&mine).await, "signed out everywhere");
}
