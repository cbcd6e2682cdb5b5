use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::Generate;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::Value;

use super::Assertions;
use crate::config::AssertionSettings;
use crate::crypto::client_key::{parse_pem, PublicJwk};
use crate::crypto::client_keys::ClientKeys;
use crate::domain::Identity;

const NOW: u64 = 1_800_000_000;

fn ec_pem() -> String {
    p256::SecretKey::generate()
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap()
        .to_string()
}

fn assertions(pems: &[String], lifetime_secs: u64) -> Assertions {
    let keys = pems.iter().flat_map(|pem| parse_pem(pem).unwrap()).collect();
    let settings = AssertionSettings {
        keys: ClientKeys::new(keys).unwrap(),
        lifetime: Duration::from_secs(lifetime_secs),
    };
    Assertions::new(&settings, "https://app.example.com".into())
}

fn jane() -> Identity {
    Identity {
        sub: "u-1".into(),
        username: Some("jane".into()),
        email: Some("jane@example.com".into()),
        email_verified: Some(true),
        name: None,
        groups: vec!["dev".into()],
    }
}

fn part(jwt: &str, index: usize) -> Value {
    let segment = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// Verifies an ES256 JWT with the published JWK of that `kid`, as an upstream would.
fn verifies_with(jwt: &str, published: &[crate::crypto::client_keys::Jwk]) -> bool {
    let kid = part(jwt, 0)["kid"].as_str().unwrap().to_owned();
    let Some(jwk) = published.iter().find(|k| k.kid == kid) else {
        return false;
    };
    let PublicJwk::Ec { x, y, .. } = &jwk.public else {
        return false;
    };
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(x).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(y).unwrap());
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    key.verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
        .is_ok()
}

#[test]
fn an_assertion_carries_the_users_claims_and_verifies_with_the_published_key() {
    let a = assertions(&[ec_pem()], 60);
    let jwt = a
        .issue("session-1", &jane(), "https://api.example.com", None, NOW)
        .unwrap();
    let header = part(&jwt, 0);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], a.jwks()[0].kid.as_str());
    let claims = part(&jwt, 1);
    assert_eq!(claims["iss"], "https://app.example.com");
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(claims["sub"], "u-1");
    assert_eq!(claims["preferred_username"], "jane");
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["groups"], serde_json::json!(["dev"]));
    assert!(
        claims.get("name").is_none(),
        "a claim the user lacks is left out: {claims}"
    );
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 60, "exp - iat is the configured lifetime");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert!(verifies_with(&jwt, &a.jwks()));
}

#[test]
fn an_assertion_is_reused_while_half_its_lifetime_remains_and_fresh_after() {
    let a = assertions(&[ec_pem()], 60);
    let first = a.issue("session-1", &jane(), "aud", None, NOW).unwrap();
    let half = a.issue("session-1", &jane(), "aud", None, NOW + 30).unwrap();
    assert_eq!(first, half, "30 of 60 seconds remain: reused");
    let later = a.issue("session-1", &jane(), "aud", None, NOW + 31).unwrap();
    assert_ne!(first, later, "less than half remains: a fresh one");
    assert_eq!(part(&later, 1)["iat"], NOW + 31);
    assert_ne!(part(&first, 1)["jti"], part(&later, 1)["jti"]);
}

#[test]
fn another_audience_another_session_or_changed_claims_get_their_own_assertion() {
    let a = assertions(&[ec_pem()], 60);
    let first = a.issue("session-1", &jane(), "aud", None, NOW).unwrap();
    assert_ne!(first, a.issue("session-1", &jane(), "other", None, NOW).unwrap());
    assert_ne!(first, a.issue("session-2", &jane(), "aud", None, NOW).unwrap());
    let renamed = Identity {
        groups: vec!["ops".into()],
        ..jane()
    };
    let fresh = a.issue("session-1", &renamed, "aud", None, NOW).unwrap();
    assert_eq!(part(&fresh, 1)["groups"], serde_json::json!(["ops"]));
}

#[test]
fn a_bearer_tokens_expiry_caps_the_assertions() {
    let a = assertions(&[ec_pem()], 60);
    let jwt = a.issue("token-hash", &jane(), "aud", Some(NOW + 10), NOW).unwrap();
    assert_eq!(part(&jwt, 1)["exp"], NOW + 10);
}

#[test]
fn during_a_rotation_the_first_key_signs_and_both_are_published() {
    let (old, new) = (ec_pem(), ec_pem());
    let before = assertions(std::slice::from_ref(&old), 60);
    let old_jwt = before.issue("s", &jane(), "aud", None, NOW).unwrap();
    let during = assertions(&[new, old], 60);
    assert_eq!(during.jwks().len(), 2);
    let new_jwt = during.issue("s", &jane(), "aud", None, NOW).unwrap();
    assert_eq!(part(&new_jwt, 0)["kid"], during.jwks()[0].kid.as_str());
    assert!(
        verifies_with(&new_jwt, &during.jwks()),
        "the new key verifies with the published set"
    );
    assert!(
        verifies_with(&old_jwt, &during.jwks()),
        "an assertion of the old key still verifies during the rotation"
    );
    assert!(
        !verifies_with(&new_jwt, &before.jwks()),
        "a set without the new key does not verify it"
    );
}
