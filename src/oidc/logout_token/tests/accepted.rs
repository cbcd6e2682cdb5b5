//! Tokens that must be accepted.

use super::*;

#[test]
fn a_valid_token_with_sid_and_sub_is_accepted_and_its_claims_are_returned() {
    let claims = verify_claims(claims()).expect("valid");
    assert_eq!(
        claims,
        LogoutClaims {
            iss: ISSUER.into(),
            sub: Some("user-1".into()),
            sid: Some("session-1".into()),
            jti: "jti-1".into(),
            iat: NOW - 5,
            exp: Some(NOW + 120),
        }
    );
}

#[test]
fn a_token_with_only_sub_is_accepted() {
    let claims = verify_claims(without(claims(), "sid")).expect("valid");
    assert_eq!(claims.sub.as_deref(), Some("user-1"));
    assert_eq!(claims.sid, None);
}

#[test]
fn a_token_with_only_sid_is_accepted() {
    let claims = verify_claims(without(claims(), "sub")).expect("valid");
    assert_eq!(claims.sid.as_deref(), Some("session-1"));
    assert_eq!(claims.sub, None);
}

#[test]
fn typ_logout_jwt_is_accepted() {
    let token = sign(with(header(), "typ", json!("logout+jwt")), claims());
    verify(&token).expect("valid");
}

#[test]
fn typ_application_logout_jwt_is_accepted_in_any_letter_case() {
    for typ in ["application/logout+jwt", "Application/Logout+JWT"] {
        let token = sign(with(header(), "typ", json!(typ)), claims());
        verify(&token).expect(typ);
    }
}

#[test]
fn typ_jwt_as_sent_by_keycloak_before_25_and_authentik_is_accepted() {
    let token = sign(with(header(), "typ", json!("JWT")), claims());
    verify(&token).expect("valid");
}

#[test]
fn a_token_without_typ_is_accepted() {
    let token = sign(without(header(), "typ"), claims());
    verify(&token).expect("valid");
}

#[test]
fn a_token_without_exp_is_accepted() {
    let claims = verify_claims(without(claims(), "exp")).expect("valid");
    assert_eq!(claims.exp, None);
}

#[test]
fn an_aud_array_containing_the_client_id_is_accepted() {
    verify_claims(with(claims(), "aud", json!(["other-rp", CLIENT_ID]))).expect("valid");
}

#[test]
fn iat_and_exp_within_the_clock_skew_are_accepted() {
    let claims = with(claims(), "iat", json!(NOW + SKEW));
    let claims = with(claims, "exp", json!(NOW - SKEW + 1));
    verify_claims(claims).expect("valid");
}

#[test]
fn a_fractional_iat_is_accepted_and_truncated() {
    let claims = verify_claims(with(claims(), "iat", json!(1_799_999_990.75))).expect("valid");
    assert_eq!(claims.iat, 1_799_999_990);
}

#[test]
fn a_token_without_kid_is_verified_with_the_only_usable_key() {
    let token = sign(without(header(), "kid"), claims());
    verify(&token).expect("valid");
}

#[test]
fn a_ps256_token_is_accepted_when_the_provider_advertises_ps256() {
    let ps256 = [CoreJwsSigningAlgorithm::RsaSsaPssSha256];
    let token = sign_as(ps256[0].clone(), with(header(), "alg", json!("PS256")), claims());
    verify_logout_token(&token, &signer().jwks, &policy_with(&ps256)).expect("valid");
}

#[test]
fn an_empty_allowed_alg_list_means_rs256_only() {
    let token = sign(header(), claims());
    verify_logout_token(&token, &signer().jwks, &policy_with(&[])).expect("RS256");
    let token = sign_as(
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        with(header(), "alg", json!("PS256")),
        claims(),
    );
    let err = verify_logout_token(&token, &signer().jwks, &policy_with(&[])).unwrap_err();
    assert!(matches!(err, LogoutTokenError::AlgorithmNotAllowed { .. }), "{err:?}");
}

#[test]
fn an_exp_of_1e300_saturates_instead_of_overflowing() {
    let claims = verify_claims(with(claims(), "exp", json!(1e300))).expect("valid");
    assert_eq!(claims.exp, Some(u64::MAX));
    assert_eq!(
        claims.acceptable_until(),
        claims.iat + crate::oidc::logout_token::MAX_TOKEN_AGE
    );
}
