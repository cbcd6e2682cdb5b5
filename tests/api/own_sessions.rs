//! `GET /auth/sessions`, `DELETE /auth/sessions/{id}` and logout with `everywhere=true`,
//! on two replicas sharing Redis, against the real provider.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::app::{session_redis_key, spawn_app, spawn_app_with, Options, TestApp};
use crate::support::replica::start_replica;

/// A browser with its own cookies and `User-Agent`.
fn browser_as(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .unwrap()
}

/// A plain client sending `session` as the cookie: any replica's public listener.
fn with_cookie(method: reqwest::Method, url: String, session: &str) -> reqwest::RequestBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .request(method, url)
        .header("cookie", format!("oidc_session={session}"))
}

async fn list(public: &str, session: &str) -> Vec<Value> {
    let response = with_cookie(reqwest::Method::GET, format!("{public}/auth/sessions"), session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn delete(public: &str, session: &str, id: &str) -> StatusCode {
    with_cookie(reqwest::Method::DELETE, format!("{public}/auth/sessions/{id}"), session)
        .send()
        .await
        .unwrap()
        .status()
}

/// `grace` signs in on a laptop and a phone, `henry` on his own.
async fn three_sessions(app: &TestApp) -> (String, String, String) {
    let laptop = app.sign_in_with(&browser_as("Laptop/1.0 Firefox"), "grace").await;
    let phone = app
        .sign_in_with(&browser_as(&format!("Phone/2.0 {}", "x".repeat(400))), "grace")
        .await;
    let henry = app.sign_in_with(&browser_as("Henry/1.0"), "henry").await;
    (laptop, phone, henry)
}

#[tokio::test]
async fn the_list_shows_the_users_own_live_sessions_with_opaque_ids_and_user_agents() {
    let app = spawn_app().await;
    let (laptop, phone, _henry) = three_sessions(&app).await;
    let sessions = list(&app.public, &laptop).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Laptop/1.0 Firefox");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    let agent = other["user_agent"].as_str().unwrap();
    assert!(
        agent.starts_with("Phone/2.0 ") && agent.chars().count() == 256,
        "cut to 256: {agent}"
    );
    for session in &sessions {
        let id = session["id"].as_str().unwrap();
        assert!(id != laptop && id != phone, "never the cookie value");
        let store_key = session_redis_key(&laptop);
        assert!(
            !store_key.contains(id) && !session_redis_key(&phone).contains(id),
            "never the store key"
        );
        let (created, seen, expires) = (
            session["created_at"].as_u64().unwrap(),
            session["last_seen_at"].as_u64().unwrap(),
            session["expires_at"].as_u64().unwrap(),
        );
        assert!(created <= seen && seen < expires, "{session}");
    }
    let anonymous = reqwest::get(format!("{}/auth/sessions", app.public)).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_one_of_ones_own_sessions_ends_it_on_every_replica_and_nothing_else_can_be_deleted() {
    let app = spawn_app().await;
    let replica = start_replica(&app.provider.issuer, &app.public, &app.redis.url, &[]).await;
    let (laptop, phone, henry) = three_sessions(&app).await;
    let phone_id = list(&app.public, &laptop)
        .await
        .into_iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let henrys_id = list(&app.public, &henry).await[0]["id"].as_str().unwrap().to_owned();

    // Another user's session, an id of nothing, no session, another site: refused.
    assert_eq!(
        delete(&replica.public, &laptop, &henrys_id).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&replica.public, &laptop, "not-an-id").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(delete(&replica.public, "", &phone_id).await, StatusCode::UNAUTHORIZED);
    let cross_site = with_cookie(
        reqwest::Method::DELETE,
        format!("{}/auth/sessions/{phone_id}", replica.public),
        &laptop,
    )
    .header("origin", "https://evil.example")
    .header("sec-fetch-site", "cross-site")
    .send()
    .await
    .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    for session in [&laptop, &phone, &henry] {
        assert!(app.is_active(session).await, "nothing changed");
    }

    assert_eq!(
        delete(&replica.public, &laptop, &phone_id).await,
        StatusCode::NO_CONTENT
    );
    assert!(!app.is_active(&phone).await, "ended, seen on the other replica");
    assert!(app.is_active(&laptop).await && app.is_active(&henry).await);
    assert_eq!(
        delete(&app.public, &laptop, &phone_id).await,
        StatusCode::NOT_FOUND,
        "once"
    );
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_of_the_user_and_a_get_only_asks() {
    let app = spawn_app().await;
    let (laptop, phone, henry) = three_sessions(&app).await;
    let asked = with_cookie(
        reqwest::Method::GET,
        format!("{}/auth/logout?everywhere=true", app.public),
        &laptop,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(asked
        .text()
        .await
        .unwrap()
        .contains("name=\"everywhere\" value=\"true\""));
    assert!(
        app.is_active(&laptop).await && app.is_active(&phone).await,
        "a GET ends nothing"
    );

    let response = with_cookie(reqwest::Method::POST, format!("{}/auth/logout", app.public), &laptop)
        .form(&[("everywhere", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(!app.is_active(&laptop).await);
    assert!(!app.is_active(&phone).await, "the user's other session ended too");
    assert!(app.is_active(&henry).await, "another user's did not");
    assert!(app.metrics().await.contains("kind=\"everywhere\""));
}

#[tokio::test]
async fn a_sign_in_beyond_the_per_user_limit_ends_the_oldest_session_and_revokes_its_token() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_MAX_SESSIONS_PER_USER", "2".into())],
        ..Options::default()
    })
    .await;
    let laptop = app.sign_in_with(&browser_as("Laptop/1.0"), "alice").await;
    let laptops_token = app.stored_tokens(&laptop)["refresh_token"]
        .as_str()
        .expect("offline_access gave a refresh token")
        .to_owned();
    // Sessions are ordered by their absolute end, to the second: the laptop's is the oldest.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let phone_browser = browser_as("Phone/1.0");
    let old_phone = app.sign_in_with(&phone_browser, "alice").await;
    let henry = app.sign_in_with(&browser_as("Henry/1.0"), "henry").await;
    assert!(app.is_active(&laptop).await, "within the limit");

    // Signing in again from the phone replaces its session: no other ends.
    let phone = app.sign_in_with(&phone_browser, "alice").await;
    assert!(!app.is_active(&old_phone).await, "replaced");
    assert!(app.is_active(&laptop).await, "a re-sign-in does not count twice");

    let tablet = app.sign_in_with(&browser_as("Tablet/1.0"), "alice").await;
    assert!(!app.is_active(&laptop).await, "the oldest ended");
    let me = with_cookie(reqwest::Method::GET, format!("{}/auth/me", app.public), &laptop)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    for live in [&phone, &tablet, &henry] {
        assert!(app.is_active(live).await, "the others stay");
    }
    assert_eq!(list(&app.public, &tablet).await.len(), 2);
    // Revoked off the response path: wait for the provider to see the revocation (using
    // the token to find out would spend it), then the token is refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.provider.stats().await["revocations"] == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the ended session's token is never revoked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.use_refresh_token_at_provider(&laptops_token).await,
        StatusCode::BAD_REQUEST,
        "the revoked token is refused"
    );
}
