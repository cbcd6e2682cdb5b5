//! Hostile sizes and numbers from outside: bodies however framed, time values from the
//! provider and from logout tokens, durations at their configured maximum.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{introspect_at, spawn_app_with, Options, CLIENT_ID};
use crate::support::forge::logout_claims;
use crate::support::forging_provider::{spawn_against_forger, ForgedApp};

/// A day: the longest a logout token is accepted after its `iat` (and its `jti` remembered).
const MAX_TOKEN_AGE: i64 = 86_400;
const CLOCK_SKEW: i64 = 60;

fn jti_ttls(app: &ForgedApp) -> Vec<i64> {
    let mut conn = app.redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("oidc:jti:*").query(&mut conn).unwrap();
    keys.iter()
        .map(|k| redis::cmd("TTL").arg(k).query(&mut conn).unwrap())
        .collect()
}

#[tokio::test]
async fn a_logout_token_with_exp_1e300_is_remembered_for_its_capped_lifetime_and_not_replayable() {
    let app = spawn_against_forger().await;
    let session = app.session_for("ann", "sid-ann-1").await;
    let forge = &app.provider.forge;
    let mut claims = logout_claims(&forge.issuer, CLIENT_ID, oidc_session::session::now());
    claims["sub"] = json!("ann");
    claims["sid"] = json!("sid-ann-1");
    claims["exp"] = json!(1e300);
    let token = forge.signer.sign(forge.signer.logout_header(), claims);

    let first = app.post_logout_token(&token).await;
    assert_eq!(first.status(), StatusCode::OK, "{}", first.text().await.unwrap());
    assert!(!app.is_active(&session).await);
    let ttls = jti_ttls(&app);
    assert_eq!(ttls.len(), 1, "one jti remembered");
    // Remembered as long as the token is acceptable (a day after iat, plus the skew),
    // not the 60 s a wrapped `exp + skew` gave.
    assert!(
        ttls[0] > MAX_TOKEN_AGE - 600 && ttls[0] <= MAX_TOKEN_AGE + CLOCK_SKEW,
        "jti TTL {}",
        ttls[0]
    );

    let replay = app.post_logout_token(&token).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = replay.json().await.unwrap();
    assert!(
        body["error_description"].as_str().unwrap().contains("already used"),
        "{body}"
    );
}

#[tokio::test]
async fn a_token_response_with_expires_in_u64_max_gives_a_live_session_not_an_expired_one() {
    let app = spawn_against_forger().await;
    *app.provider.forge.token_extra.lock().unwrap() = json!({ "expires_in": u64::MAX });
    let session = app.session_for("ann", "sid-ann-1").await;

    let now = oidc_session::session::now();
    let introspection = introspect_at(&app.internal, &session).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    let expires_at = introspection["access_token_expires_at"].as_u64().unwrap();
    // Capped at a year from now; a wrapped sum would lie in the past.
    assert!(expires_at > now, "{expires_at} is in the past");
    assert!(expires_at <= now + 365 * 86_400 + 5, "{expires_at} is not capped");
}

#[tokio::test]
async fn a_token_response_over_256_kib_fails_the_sign_in_with_502_naming_the_limit_and_creates_no_session() {
    let app = spawn_against_forger().await;
    *app.provider.forge.token_extra.lock().unwrap() = json!({ "padding": "x".repeat(300 * 1024) });
    let (status, cookie, page) = app
        .login(|f, nonce| f.signer.sign(f.header(), f.claims(CLIENT_ID, nonce)))
        .await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("larger than the 262144 bytes accepted"), "{page}");
    assert!(cookie.is_none());
    assert_eq!(app.sessions_in_redis(), 0);
}

#[tokio::test]
async fn an_h2c_body_without_a_length_is_refused_with_413_and_cut_off_near_the_limit() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 256 * 1024 * 1024;
    let app = spawn_against_forger().await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    // Neither Content-Length nor Transfer-Encoding: HTTP/2 frames the body itself.
    let body = futures_util::stream::unfold(0, move |sent| {
        let counter = counter.clone();
        async move {
            (sent < TOTAL).then(|| {
                counter.fetch_add(CHUNK, Ordering::Relaxed);
                (Ok::<_, std::io::Error>(vec![b'x'; CHUNK]), sent + CHUNK)
            })
        }
    });
    let h2c = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let response = h2c
        .post(format!("{}/auth/backchannel-logout", app.public))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The service stopped reading just past 64 KiB; the client could push only what the
    // HTTP/2 flow-control windows allow (about a MiB) beyond that, not the 256 MiB.
    let pulled = pulled.load(Ordering::Relaxed);
    assert!(pulled < 8 * 1024 * 1024, "{pulled} bytes were pulled from the body");
}

#[tokio::test]
async fn an_h2c_body_within_the_limit_is_read_as_usual() {
    let app = spawn_against_forger().await;
    let h2c = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("logout_token="), Ok("not-a-jwt")];
    let response = h2c
        .post(format!("{}/auth/backchannel-logout", app.public))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    // Read and parsed: refused as a malformed token, not as a malformed request.
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        !body["error_description"].as_str().unwrap().contains("too large"),
        "{body}"
    );
}

#[tokio::test]
async fn every_duration_at_its_maximum_works_through_login_refresh_and_logout() {
    // Each variable at the largest value it accepts: no clock or Duration sum may overflow.
    let app = spawn_app_with(Options {
        env: vec![
            ("OIDC_HTTP_TIMEOUT", "5m".into()),
            ("OIDC_CLOCK_SKEW", "10m".into()),
            ("OIDC_SESSION_IDLE_TIMEOUT", "365d".into()),
            ("OIDC_SESSION_MAX_LIFETIME", "365d".into()),
            ("OIDC_LOGIN_TIMEOUT", "1d".into()),
            ("OIDC_REFRESH_LEEWAY", "1d".into()),
        ],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("max").await;
    let introspection = app.introspect(&session).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    let forward = app.forward_auth(Some(&session)).await;
    assert_eq!(forward.status(), StatusCode::OK);
    let refreshed = app.post_refresh(&session).await;
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "{}",
        refreshed.text().await.unwrap()
    );
    let logout = app
        .browser
        .get(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert!(!app.is_active(&session).await);
}
