//! ID-token defects, produced by the forging provider: each one is refused at the
//! callback with a 4xx and no session.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::app::CLIENT_ID;
use crate::support::forge::TestSigner;
use crate::support::forging_provider::{spawn_against_forger, Forge};

fn signed(forge: &Forge, claims: Value) -> String {
    forge.signer.sign(forge.header(), claims)
}

#[tokio::test]
async fn a_correctly_signed_token_is_accepted_so_the_defect_tests_are_meaningful() {
    let app = spawn_against_forger().await;
    let (status, cookie, _) = app.login(|f, nonce| signed(f, f.claims(CLIENT_ID, nonce))).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(cookie.is_some());
    assert_eq!(app.sessions_in_redis(), 1);
}

#[tokio::test]
async fn every_forged_or_defective_id_token_is_refused_and_creates_no_session() {
    type Maker = Box<dyn Fn(&Forge, &str) -> String + Send + Sync>;
    let with = |change: fn(&mut Value)| -> Maker {
        Box::new(move |f: &Forge, nonce: &str| {
            let mut claims = f.claims(CLIENT_ID, nonce);
            change(&mut claims);
            signed(f, claims)
        })
    };
    let now = oidc_session::session::now();
    let defects: Vec<(&str, Maker)> = vec![
        (
            "bad signature",
            Box::new(|f: &Forge, n: &str| {
                let token = signed(f, f.claims(CLIENT_ID, n));
                let (head, sig) = token.rsplit_once('.').unwrap();
                let flipped = if sig.starts_with('A') { "B" } else { "A" };
                format!("{head}.{flipped}{}", &sig[1..])
            }),
        ),
        (
            "alg none",
            Box::new(|f: &Forge, n: &str| f.signer.unsigned(json!({"alg": "none"}), f.claims(CLIENT_ID, n))),
        ),
        (
            "HS256 keyed with the RSA public key",
            Box::new(|f: &Forge, n: &str| {
                let pem = f.signer.public_key_pem();
                f.signer.sign_hs256_with(
                    pem.as_bytes(),
                    json!({"alg": "HS256", "kid": f.signer.kid()}),
                    f.claims(CLIENT_ID, n),
                )
            }),
        ),
        (
            "unknown kid",
            // Generated here, not in the token endpoint: a debug-build key generation on a
            // loaded machine can outlast OIDC_HTTP_TIMEOUT and turn the refusal into a 502.
            Box::new({
                let stranger = TestSigner::new("not-published");
                move |f: &Forge, n: &str| {
                    stranger.sign(json!({"alg": "RS256", "kid": "not-published"}), f.claims(CLIENT_ID, n))
                }
            }),
        ),
        ("wrong iss", with(|c| c["iss"] = json!("https://evil.example"))),
        ("wrong aud", with(|c| c["aud"] = json!("another-client"))),
        (
            "extra audience without azp",
            with(|c| c["aud"] = json!([CLIENT_ID, "another-client"])),
        ),
        (
            "azp naming another client",
            with(|c| {
                c["aud"] = json!([CLIENT_ID, "another-client"]);
                c["azp"] = json!("another-client");
            }),
        ),
        (
            "expired",
            with(|c| {
                let now = oidc_session::session::now();
                c["exp"] = json!(now - 600);
                c["iat"] = json!(now - 1200);
            }),
        ),
        (
            "iat in the future",
            with(|c| {
                let now = oidc_session::session::now();
                c["iat"] = json!(now + 3600);
                c["exp"] = json!(now + 7200);
            }),
        ),
        ("wrong nonce", with(|c| c["nonce"] = json!("not-the-nonce"))),
        (
            "missing nonce",
            with(|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
        ),
        (
            "missing sub",
            with(|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
        ),
        ("not a JWT", Box::new(|_: &Forge, _: &str| "not.a.jwt".to_owned())),
    ];
    assert!(now > 0);
    let app = spawn_against_forger().await;
    for (name, maker) in defects {
        let (status, cookie, page) = app.login(maker).await;
        assert!(status.is_client_error(), "{name}: got {status}: {page}");
        assert!(cookie.is_none(), "{name}: a session cookie was set");
        assert_eq!(app.sessions_in_redis(), 0, "{name}: a session was stored");
    }
}

#[tokio::test]
async fn a_key_published_after_rotation_is_accepted_after_one_jwks_refetch() {
    let app = spawn_against_forger().await;
    // The provider rotates: the new key appears in its JWKS only after we loaded it.
    let rotated = TestSigner::new("key-2");
    app.provider.forge.extra_keys.lock().unwrap().push(rotated.public_jwk());
    let (status, cookie, page) = app
        .login(move |f, nonce| rotated.sign(json!({"alg": "RS256", "kid": "key-2"}), f.claims(CLIENT_ID, nonce)))
        .await;
    assert_eq!(status, StatusCode::FOUND, "{page}");
    assert!(cookie.is_some());
}
