//! Forged and malformed bearer tokens, which the real provider cannot produce, from the
//! hand-written forging provider: each a clear 401, no panic, no Redis write, and a storm of
//! unknown key ids costs the provider one JWKS fetch.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::forge::{b64url, signing_input};
use crate::support::forging_provider::{spawn_against_forger_with, ForgedApp};

const AUDIENCE: &str = "https://api.example.test";

async fn app() -> ForgedApp {
    spawn_against_forger_with(vec![("OIDC_BEARER_AUDIENCES".into(), AUDIENCE.into())]).await
}

fn claims(app: &ForgedApp) -> Value {
    let now = oidc_session::session::now();
    json!({"iss": app.provider.forge.issuer, "sub": "svc-1", "aud": AUDIENCE, "iat": now, "exp": now + 300})
}

fn header(app: &ForgedApp) -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": app.provider.forge.signer.kid()})
}

fn with(mut value: Value, name: &str, member: Value) -> Value {
    value[name] = member;
    value
}

fn redis_keys(app: &ForgedApp) -> usize {
    let mut conn = app.redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    keys.len()
}

/// Forward-auth's answer and its JSON error (if any) for `token`.
async fn gate(app: &ForgedApp, token: &str) -> (StatusCode, String, Value) {
    let answer = reqwest::Client::new()
        .get(format!("{}/forward-auth", app.internal))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = answer.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

#[tokio::test]
async fn aud_as_a_string_or_an_array_and_typ_at_jwt_are_accepted() {
    let app = app().await;
    let signer = &app.provider.forge.signer;
    for aud in [json!(AUDIENCE), json!(["other", AUDIENCE])] {
        let token = signer.sign(header(&app), with(claims(&app), "aud", aud.clone()));
        let (status, _, body) = gate(&app, &token).await;
        assert_eq!(status, StatusCode::OK, "{aud}: {body}");
    }
}

#[tokio::test]
async fn malformed_forged_and_expired_tokens_each_get_a_clear_401_and_write_nothing() {
    let app = app().await;
    let forge = &app.provider.forge;
    let signer = &forge.signer;
    let now = oidc_session::session::now();
    let good_claims = claims(&app);
    let padded = with(header(&app), "pad", json!("x".repeat(20_000)));
    let jwe_header = b64url(json!({"alg": "RSA-OAEP", "enc": "A256GCM"}).to_string().as_bytes());
    let hs256 = with(header(&app), "alg", json!("HS256"));
    let cases: Vec<(&str, String, &str)> = vec![
        ("bad base64", "eyJ!!.eyJ!!.c2ln".into(), "malformed"),
        ("a huge header", signer.sign(padded, good_claims.clone()), "longer than"),
        (
            "crit",
            signer.sign(with(header(&app), "crit", json!(["exp"])), good_claims.clone()),
            "crit",
        ),
        ("a nested JWE", format!("{jwe_header}.a.b.c.d"), "encrypted"),
        (
            "alg none",
            signer.unsigned(with(header(&app), "alg", json!("none")), good_claims.clone()),
            "algorithm",
        ),
        (
            "HS256 keyed with the public key",
            signer.sign_hs256_with(signer.public_key_pem().as_bytes(), hs256.clone(), good_claims.clone()),
            "algorithm",
        ),
        (
            "HS256 keyed with a client secret",
            signer.sign_hs256_with(b"the-client-secret", hs256, good_claims.clone()),
            "algorithm",
        ),
        (
            "expired one second past the skew",
            signer.sign(header(&app), with(good_claims.clone(), "exp", json!(now - 61))),
            "expired",
        ),
        (
            "another audience",
            signer.sign(header(&app), with(good_claims.clone(), "aud", json!(["other"]))),
            "audience",
        ),
        (
            "an ID token",
            signer.sign(header(&app), with(good_claims.clone(), "nonce", json!("n"))),
            "ID token",
        ),
        ("a 64 KiB token", format!("eyJ{}", "A".repeat(64 * 1024)), "longer than"),
        (
            "a signature over other claims",
            format!(
                "{}.{}",
                signing_input(&header(&app), &good_claims),
                b64url(b"not a signature of these bytes")
            ),
            "signature",
        ),
    ];
    let before = redis_keys(&app);
    for (case, token, reason) in cases {
        let (status, challenge, body) = gate(&app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{case}: {challenge}"
        );
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(reason), "{case}: {description}");
    }
    assert_eq!(redis_keys(&app), before, "refusing a token writes nothing to Redis");
}

#[tokio::test]
async fn a_storm_of_unknown_key_ids_costs_the_provider_one_jwks_fetch() {
    let app = app().await;
    let forge = &app.provider.forge;
    let before = forge.jwks_fetches.load(Ordering::SeqCst);
    for i in 0..20 {
        let kid = format!("made-up-{i}");
        let token = forge.signer.sign(with(header(&app), "kid", json!(kid)), claims(&app));
        let (status, _, body) = gate(&app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("key"), "{body}");
    }
    let fetched = forge.jwks_fetches.load(Ordering::SeqCst) - before;
    assert_eq!(fetched, 1, "the anonymous callers' re-fetch budget holds");
    let token = forge.signer.sign(header(&app), claims(&app));
    assert_eq!(
        gate(&app, &token).await.0,
        StatusCode::OK,
        "the provider's own key still works"
    );
}
