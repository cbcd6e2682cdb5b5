//! Back-Channel Logout 1.0 with tokens the tests sign themselves (the forging provider's
//! key), so that every defect of §2.6 can be sent. The real provider's own back-channel
//! logout is covered in `sessions.rs`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::app::CLIENT_ID;
use crate::support::forge::{logout_claims, TestSigner};
use crate::support::forging_provider::{spawn_against_forger, ForgedApp};

fn token(app: &ForgedApp, change: impl FnOnce(&mut Value)) -> String {
    let forge = &app.provider.forge;
    let mut claims = logout_claims(&forge.issuer, CLIENT_ID, oidc_session::session::now());
    claims["sub"] = json!("ann");
    claims["sid"] = json!("sid-ann-1");
    change(&mut claims);
    forge.signer.sign(forge.signer.logout_header(), claims)
}

async fn assert_refused(app: &ForgedApp, response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
    assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{what}");
    assert!(
        body["error_description"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}"
    );
    let _ = app;
}

#[tokio::test]
async fn a_sid_token_ends_that_session_and_a_sub_token_ends_all_of_the_users_sessions() {
    let app = spawn_against_forger().await;
    let ann_laptop = app.session_for("ann", "sid-ann-1").await;
    let ann_phone = app.session_for("ann", "sid-ann-2").await;
    let ben = app.session_for("ben", "sid-ben-1").await;

    let by_sid = app.post_logout_token(&token(&app, |_| {})).await;
    assert_eq!(by_sid.status(), StatusCode::OK);
    assert_eq!(by_sid.headers()["cache-control"], "no-store");
    assert!(!app.is_active(&ann_laptop).await);
    assert!(
        app.is_active(&ann_phone).await,
        "another provider session of the same user"
    );

    let by_sub = app
        .post_logout_token(&token(&app, |c| {
            c.as_object_mut().unwrap().remove("sid");
        }))
        .await;
    assert_eq!(by_sub.status(), StatusCode::OK);
    assert!(!app.is_active(&ann_phone).await);
    assert!(app.is_active(&ben).await, "other users are untouched");
}

#[tokio::test]
async fn a_token_whose_sid_matches_but_whose_sub_is_another_users_ends_nothing() {
    let app = spawn_against_forger().await;
    let ann = app.session_for("ann", "sid-ann-1").await;
    let response = app.post_logout_token(&token(&app, |c| c["sub"] = json!("ben"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(app.is_active(&ann).await);
}

#[tokio::test]
async fn a_token_matching_no_session_is_still_accepted() {
    let app = spawn_against_forger().await;
    let response = app
        .post_logout_token(&token(&app, |c| c["sid"] = json!("unknown-sid")))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_defective_logout_token_is_refused_with_400_and_ends_nothing() {
    let app = spawn_against_forger().await;
    let ann = app.session_for("ann", "sid-ann-1").await;
    let forge = &app.provider.forge;
    let valid = |change: fn(&mut Value)| token(&app, change);
    let claims = || {
        let mut c = logout_claims(&forge.issuer, CLIENT_ID, oidc_session::session::now());
        c["sub"] = json!("ann");
        c["sid"] = json!("sid-ann-1");
        c
    };
    let now = oidc_session::session::now();
    let bad_signature = {
        let t = valid(|_| {});
        let (head, sig) = t.rsplit_once('.').unwrap();
        format!("{head}.{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..])
    };
    let defects: Vec<(&str, String)> = vec![
        ("bad signature", bad_signature),
        (
            "alg none",
            forge
                .signer
                .unsigned(json!({"alg": "none", "typ": "logout+jwt"}), claims()),
        ),
        (
            "HS256 keyed with the RSA public key",
            forge.signer.sign_hs256_with(
                forge.signer.public_key_pem().as_bytes(),
                json!({"alg": "HS256", "typ": "logout+jwt", "kid": forge.signer.kid()}),
                claims(),
            ),
        ),
        (
            "unknown kid",
            TestSigner::new("stranger").sign(
                json!({"alg": "RS256", "typ": "logout+jwt", "kid": "stranger"}),
                claims(),
            ),
        ),
        ("wrong iss", valid(|c| c["iss"] = json!("https://evil.example"))),
        ("wrong aud", valid(|c| c["aud"] = json!("another-client"))),
        (
            "missing iat",
            valid(|c| {
                c.as_object_mut().unwrap().remove("iat");
            }),
        ),
        (
            "iat far in the future",
            valid(|c| c["iat"] = json!(oidc_session::session::now() + 3600)),
        ),
        (
            "expired exp",
            valid(|c| c["exp"] = json!(oidc_session::session::now() - 600)),
        ),
        (
            "missing jti",
            valid(|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "missing events",
            valid(|c| {
                c.as_object_mut().unwrap().remove("events");
            }),
        ),
        (
            "events without the back-channel member",
            valid(|c| c["events"] = json!({"http://example.com/other": {}})),
        ),
        ("nonce present", valid(|c| c["nonce"] = json!("n"))),
        (
            "neither sid nor sub",
            valid(|c| {
                let o = c.as_object_mut().unwrap();
                o.remove("sid");
                o.remove("sub");
            }),
        ),
        (
            "typ at+jwt",
            forge.signer.sign(
                json!({"alg": "RS256", "typ": "at+jwt", "kid": forge.signer.kid()}),
                claims(),
            ),
        ),
        ("not a JWT", "definitely-not-a-jwt".to_owned()),
    ];
    assert!(now > 0);
    for (what, bad) in &defects {
        let response = app.post_logout_token(bad).await;
        assert_refused(&app, response, what).await;
        assert!(app.is_active(&ann).await, "{what} ended the session");
    }

    let client = reqwest::Client::new();
    let url = format!("{}/auth/backchannel-logout", app.public);
    let missing = client.post(&url).form(&[("other", "x")]).send().await.unwrap();
    assert_refused(&app, missing, "missing logout_token").await;
    let json_body = client
        .post(&url)
        .json(&json!({"logout_token": valid(|_| {})}))
        .send()
        .await
        .unwrap();
    assert_refused(&app, json_body, "JSON body instead of a form").await;
    assert!(app.is_active(&ann).await);
}

#[tokio::test]
async fn a_replayed_jti_is_refused() {
    let app = spawn_against_forger().await;
    let first = token(&app, |c| c["sid"] = json!("sid-nobody"));
    assert_eq!(app.post_logout_token(&first).await.status(), StatusCode::OK);
    let replay = app.post_logout_token(&first).await;
    assert_refused(&app, replay, "replayed jti").await;
}

#[tokio::test]
async fn typ_jwt_as_older_keycloak_sends_is_accepted() {
    let app = spawn_against_forger().await;
    let ann = app.session_for("ann", "sid-ann-1").await;
    let forge = &app.provider.forge;
    let mut claims = logout_claims(&forge.issuer, CLIENT_ID, oidc_session::session::now());
    claims["sub"] = json!("ann");
    claims["sid"] = json!("sid-ann-1");
    let keycloak_style = forge
        .signer
        .sign(json!({"alg": "RS256", "typ": "JWT", "kid": forge.signer.kid()}), claims);
    assert_eq!(app.post_logout_token(&keycloak_style).await.status(), StatusCode::OK);
    assert!(!app.is_active(&ann).await);
}

#[tokio::test]
async fn a_logout_sent_to_one_replica_ends_a_session_created_through_another() {
    let app = spawn_against_forger().await;
    let ann = app.session_for("ann", "sid-ann-1").await;
    // A second replica: same provider, same Redis, its own listeners.
    let replica =
        crate::support::replica::start_replica(&app.provider.forge.issuer, &app.public, &app.redis.url, &[]).await;
    let replica = replica.public.clone();
    let response = reqwest::Client::new()
        .post(format!("{replica}/auth/backchannel-logout"))
        .form(&[("logout_token", token(&app, |_| {}))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!app.is_active(&ann).await);
}
