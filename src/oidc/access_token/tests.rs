//! Access tokens signed with the logout-token tests' RSA key, and forged ones.

use std::time::Duration;

use serde_json::{json, Value};

use super::{verify, AccessTokenError, AccessTokenPolicy, MAX_ACCESS_TOKEN_BYTES};
use crate::oidc::logout_token::tests::{
    b64, b64_json, sign, sign_hs256, signer, with, without, ISSUER, KID, NOW, RS256, SKEW,
};

fn audiences() -> Vec<String> {
    vec!["https://api.example.com".into(), "cli".into()]
}

fn header() -> Value {
    json!({ "alg": "RS256", "typ": "at+jwt", "kid": KID })
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": "https://api.example.com",
        "sub": "user-1",
        "client_id": "cli",
        "iat": NOW - 5,
        "exp": NOW + 300,
        "jti": "at-1",
        "scope": "openid",
    })
}

fn check(token: &str) -> Result<super::AccessClaims, AccessTokenError> {
    let audiences = audiences();
    let policy = AccessTokenPolicy {
        issuer: ISSUER,
        audiences: &audiences,
        allowed_algs: &[RS256],
        clock_skew: Duration::from_secs(SKEW),
        now: NOW,
    };
    verify(token, &signer().jwks, &policy)
}

#[test]
fn an_rfc_9068_token_for_a_configured_audience_is_accepted_as_string_or_array() {
    let ok = check(&sign(header(), claims())).expect("accepted");
    assert_eq!(ok.sub, "user-1");
    assert_eq!(ok.exp, NOW + 300);
    let array = with(claims(), "aud", json!(["other", "cli"]));
    assert!(check(&sign(header(), array)).is_ok());
    let plain_jwt = with(header(), "typ", json!("JWT"));
    assert!(check(&sign(plain_jwt, claims())).is_ok(), "typ JWT is accepted");
    assert!(
        check(&sign(without(header(), "typ"), claims())).is_ok(),
        "typ may be absent"
    );
}

#[test]
fn audience_issuer_and_type_must_match() {
    let other = with(claims(), "aud", json!(["other"]));
    assert_eq!(
        check(&sign(header(), other)).unwrap_err(),
        AccessTokenError::WrongAudience
    );
    assert_eq!(
        check(&sign(header(), without(claims(), "aud"))).unwrap_err(),
        AccessTokenError::WrongAudience
    );
    let issuer = with(claims(), "iss", json!(format!("{ISSUER}/")));
    assert_eq!(
        check(&sign(header(), issuer)).unwrap_err(),
        AccessTokenError::WrongIssuer
    );
    let logout = with(header(), "typ", json!("logout+jwt"));
    assert_eq!(check(&sign(logout, claims())).unwrap_err(), AccessTokenError::WrongType);
}

#[test]
fn an_id_token_is_not_an_access_token() {
    let id_token = with(claims(), "nonce", json!("n-1"));
    assert_eq!(check(&sign(header(), id_token)).unwrap_err(), AccessTokenError::IdToken);
}

#[test]
fn exp_is_mandatory_and_one_second_past_the_skew_is_expired() {
    assert_eq!(
        check(&sign(header(), without(claims(), "exp"))).unwrap_err(),
        AccessTokenError::MissingClaim("exp")
    );
    let at_skew = with(claims(), "exp", json!(NOW - SKEW));
    assert!(check(&sign(header(), at_skew)).is_ok(), "within the clock skew");
    let past = with(claims(), "exp", json!(NOW - SKEW - 1));
    assert_eq!(check(&sign(header(), past)).unwrap_err(), AccessTokenError::Expired);
    let future = with(claims(), "nbf", json!(NOW + SKEW + 1));
    assert_eq!(
        check(&sign(header(), future)).unwrap_err(),
        AccessTokenError::NotYetValid
    );
    let fraction = with(claims(), "exp", json!((NOW + 300) as f64 + 0.5));
    assert_eq!(
        check(&sign(header(), fraction)).unwrap().exp,
        NOW + 300,
        "a NumericDate may have a fraction"
    );
    let text = with(claims(), "exp", json!("tomorrow"));
    assert!(matches!(
        check(&sign(header(), text)),
        Err(AccessTokenError::Malformed(_))
    ));
}

#[test]
fn unsigned_hmac_critical_and_encrypted_tokens_are_refused() {
    let body = b64_json(&claims());
    let none = format!("{}.{body}.", b64_json(&json!({"alg": "none", "typ": "at+jwt"})));
    assert_eq!(check(&none).unwrap_err(), AccessTokenError::Algorithm);
    let hs_header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": KID });
    let with_public_key = sign_hs256(signer().public_pem.as_bytes(), hs_header.clone(), claims());
    assert_eq!(check(&with_public_key).unwrap_err(), AccessTokenError::Algorithm);
    let with_secret = sign_hs256(b"the-client-secret", hs_header, claims());
    assert_eq!(check(&with_secret).unwrap_err(), AccessTokenError::Algorithm);
    let critical = with(header(), "crit", json!(["exp"]));
    assert_eq!(
        check(&sign(critical, claims())).unwrap_err(),
        AccessTokenError::CriticalHeader
    );
    let jwe_header = b64_json(&json!({"alg": "RSA-OAEP", "enc": "A256GCM"}));
    let jwe = format!("{jwe_header}.a.b.c.d");
    assert_eq!(check(&jwe).unwrap_err(), AccessTokenError::Encrypted);
}

#[test]
fn malformed_oversized_and_unknown_key_tokens_are_refused_without_panicking() {
    let good = sign(header(), claims());
    let (input, _) = good.rsplit_once('.').unwrap();
    let cases = [
        "not-a-jwt".to_owned(),
        "a.b".to_owned(),
        format!("{input}.!!!"),
        format!("{input}.{}", b64(b"wrong signature")),
        format!("{}.{}.{}", b64(&[b'{'; 9000]), b64_json(&claims()), b64(b"x")),
        "x".repeat(64 * 1024),
    ];
    for token in &cases {
        let refused = check(token).expect_err("refused");
        assert!(!refused.to_string().is_empty());
    }
    assert_eq!(
        check(&"a".repeat(MAX_ACCESS_TOKEN_BYTES + 1)).unwrap_err(),
        AccessTokenError::TooLarge
    );
    assert_eq!(
        check(&format!("{input}.{}", b64(b"sig"))).unwrap_err(),
        AccessTokenError::BadSignature
    );
    let unknown = with(header(), "kid", json!("rotated-in"));
    assert_eq!(
        check(&sign(unknown, claims())).unwrap_err(),
        AccessTokenError::UnknownKey
    );
}
