use super::*;

use std::sync::OnceLock;

use openidconnect::core::CoreHmacKey;
use openidconnect::core::CoreRsaPrivateSigningKey;
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;

const ISSUER: &str = "https://op.example.com/realms/main";
const CLIENT_ID: &str = "oidc-session";
const KID: &str = "key-1";
const NOW: u64 = 1_800_000_000;
const SKEW: u64 = 60;
const RS256: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;

struct Signer {
    key: CoreRsaPrivateSigningKey,
    modulus: Vec<u8>,
    public_pem: String,
    jwks: CoreJsonWebKeySet,
}

/// One RSA key for the whole test binary (key generation is slow in debug builds).
fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("generate RSA key");
        let pem = private.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).expect("encode PEM");
        let key = CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(KID.into()))).expect("load PEM");
        let public = private.to_public_key();
        let public_pem = public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("encode public PEM");
        let jwks = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
        Signer {
            key,
            modulus: public.n().to_bytes_be(),
            public_pem,
            jwks,
        }
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(&serde_json::to_vec(value).expect("serialize"))
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64_json(header), b64_json(claims))
}

fn sign_as(alg: CoreJwsSigningAlgorithm, header: Value, claims: Value) -> String {
    let input = signing_input(&header, &claims);
    let sig = signer().key.sign(&alg, input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(&sig))
}

fn sign(header: Value, claims: Value) -> String {
    sign_as(RS256, header, claims)
}

fn sign_hs256(key: &[u8], header: Value, claims: Value) -> String {
    let input = signing_input(&header, &claims);
    let sig = CoreHmacKey::new(key)
        .sign(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes())
        .expect("hmac");
    format!("{input}.{}", b64(&sig))
}

fn header() -> Value {
    json!({ "alg": "RS256", "typ": "logout+jwt", "kid": KID })
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": NOW - 5,
        "exp": NOW + 120,
        "jti": "jti-1",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        "sid": "session-1",
        "sub": "user-1",
    })
}

fn with(mut value: Value, name: &str, member: Value) -> Value {
    value.as_object_mut().expect("object").insert(name.into(), member);
    value
}

fn without(mut value: Value, name: &str) -> Value {
    value.as_object_mut().expect("object").remove(name);
    value
}

fn policy_with(algs: &[CoreJwsSigningAlgorithm]) -> LogoutTokenPolicy<'_> {
    LogoutTokenPolicy {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        allowed_algs: algs,
        clock_skew: Duration::from_secs(SKEW),
        now: NOW,
    }
}

fn verify(token: &str) -> Result<LogoutClaims, LogoutTokenError> {
    verify_logout_token(token, &signer().jwks, &policy_with(&[RS256]))
}

fn verify_claims(claims: Value) -> Result<LogoutClaims, LogoutTokenError> {
    verify(&sign(header(), claims))
}

fn jwks(keys: Value) -> CoreJsonWebKeySet {
    serde_json::from_value(json!({ "keys": keys })).expect("jwks")
}

fn public_jwk() -> Value {
    serde_json::to_value(signer().key.as_verification_key()).expect("jwk")
}

// ---- accepted ----

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

// ---- header and signature ----

#[test]
fn typ_at_jwt_is_refused() {
    for typ in ["at+jwt", "application/at+jwt", "id_token+jwt", ""] {
        let token = sign(with(header(), "typ", json!(typ)), claims());
        let err = verify(&token).unwrap_err();
        assert!(matches!(err, LogoutTokenError::WrongType), "{typ}: {err:?}");
    }
}

#[test]
fn a_typ_that_is_not_a_string_is_refused() {
    let token = sign(with(header(), "typ", json!(["logout+jwt"])), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidHeader(_)), "{err:?}");
}

#[test]
fn a_token_whose_payload_was_changed_after_signing_is_refused() {
    let token = sign(header(), claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64_json(&with(claims(), "sub", json!("admin")));
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let err = verify(&forged).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn a_token_with_a_corrupted_signature_is_refused() {
    let token = sign(header(), claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[10] ^= 0x01;
    let err = verify(&format!("{input}.{}", b64(&sig))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn a_token_with_an_empty_or_truncated_signature_is_refused() {
    let token = sign(header(), claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let err = verify(&format!("{input}.")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let err = verify(&format!("{input}.{}", b64(&sig[..sig.len() - 1]))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn a_token_with_alg_none_is_refused_even_if_the_provider_lists_none() {
    let header = json!({ "alg": "none", "typ": "logout+jwt" });
    let token = format!("{}.", signing_input(&header, &claims()));
    let algs = [CoreJwsSigningAlgorithm::None, RS256];
    let err = verify_logout_token(&token, &signer().jwks, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
    // "None" in another letter case is not a known algorithm at all.
    let header = json!({ "alg": "None", "typ": "logout+jwt" });
    let token = format!("{}.", signing_input(&header, &claims()));
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnrecognizedAlgorithm), "{err:?}");
}

#[test]
fn a_token_signed_with_hs256_using_the_rsa_modulus_is_refused() {
    let header = with(header(), "alg", json!("HS256"));
    let token = sign_hs256(&signer().modulus, header, claims());
    let algs = [CoreJwsSigningAlgorithm::HmacSha256, RS256];
    let err = verify_logout_token(&token, &signer().jwks, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
}

#[test]
fn a_token_signed_with_hs256_using_the_rsa_public_key_pem_is_refused() {
    let header = with(header(), "alg", json!("HS256"));
    let token = sign_hs256(signer().public_pem.as_bytes(), header, claims());
    let algs = [CoreJwsSigningAlgorithm::HmacSha256, RS256];
    let err = verify_logout_token(&token, &signer().jwks, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
}

#[test]
fn an_hs256_token_is_refused_even_when_the_jwks_holds_the_matching_symmetric_key() {
    let secret = b"a shared secret that leaked into the JWKS";
    let keys = jwks(json!([{ "kty": "oct", "kid": KID, "k": b64(secret) }]));
    let header = with(header(), "alg", json!("HS256"));
    let token = sign_hs256(secret, header, claims());
    let algs = [CoreJwsSigningAlgorithm::HmacSha256];
    let err = verify_logout_token(&token, &keys, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
}

#[test]
fn an_algorithm_the_provider_does_not_advertise_is_refused() {
    let token = sign_as(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        with(header(), "alg", json!("RS384")),
        claims(),
    );
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::AlgorithmNotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("RS384") && err.to_string().contains("RS256"));
}

#[test]
fn an_unrecognised_or_missing_alg_is_refused() {
    let token = sign(with(header(), "alg", json!("RS257")), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnrecognizedAlgorithm), "{err:?}");
    let token = sign(without(header(), "alg"), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidHeader(_)), "{err:?}");
}

#[test]
fn an_unknown_kid_is_reported_as_unknown_key_so_the_caller_can_refetch_the_jwks() {
    let token = sign(with(header(), "kid", json!("rotated-key")), claims());
    let err = verify(&token).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
    assert!(!LogoutTokenError::BadSignature.is_unknown_key());
}

#[test]
fn a_kid_whose_key_is_meant_for_another_algorithm_is_reported_as_unknown_key() {
    let keys = jwks(json!([with(public_jwk(), "alg", json!("RS384"))]));
    let token = sign(header(), claims());
    let err = verify_logout_token(&token, &keys, &policy_with(&[RS256])).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
}

#[test]
fn a_key_published_for_encryption_is_not_used_to_verify() {
    let keys = jwks(json!([with(public_jwk(), "use", json!("enc"))]));
    let token = sign(header(), claims());
    let err = verify_logout_token(&token, &keys, &policy_with(&[RS256])).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
}

#[test]
fn a_token_without_kid_is_refused_when_several_keys_could_have_signed_it() {
    let second = with(public_jwk(), "kid", json!("key-2"));
    let keys = jwks(json!([public_jwk(), second]));
    let token = sign(without(header(), "kid"), claims());
    let err = verify_logout_token(&token, &keys, &policy_with(&[RS256])).unwrap_err();
    assert!(matches!(err, LogoutTokenError::AmbiguousKey { count: 2 }), "{err:?}");
    // With its kid, the same token picks one key and passes.
    let token = sign(header(), claims());
    verify_logout_token(&token, &keys, &policy_with(&[RS256])).expect("valid");
}

#[test]
fn the_header_jwk_is_never_trusted() {
    // An attacker's key embedded in the header must not be used: the signature is made
    // with a key the JWKS does not hold.
    let other = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let pem = other.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    let attacker = CoreRsaPrivateSigningKey::from_pem(&pem, None).unwrap();
    let header = with(
        without(header(), "kid"),
        "jwk",
        serde_json::to_value(attacker.as_verification_key()).unwrap(),
    );
    let input = signing_input(&header, &claims());
    let sig = attacker.sign(&RS256, input.as_bytes()).unwrap();
    let err = verify(&format!("{input}.{}", b64(&sig))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn elliptic_curve_keys_are_chosen_by_curve_and_es512_is_refused_without_panicking() {
    let coordinate = b64(&[7u8; 32]);
    let ec = |kid: &str, crv: &str| json!({ "kty": "EC", "use": "sig", "kid": kid, "crv": crv, "x": coordinate, "y": coordinate });
    let es256 = [CoreJwsSigningAlgorithm::EcdsaP256Sha256];
    let es256_header = json!({ "alg": "ES256", "typ": "logout+jwt", "kid": "ec" });
    let fake_signature = b64(&[1u8; 64]);
    let token = format!("{}.{fake_signature}", signing_input(&es256_header, &claims()));
    // The only key with that kid is on P-384: not usable for ES256.
    let keys = jwks(json!([ec("ec", "P-384")]));
    let err = verify_logout_token(&token, &keys, &policy_with(&es256)).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
    // Without kid, a P-256 and a P-384 key are not ambiguous for ES256: the P-256 one is
    // used (and, being made up, fails).
    let keys = jwks(json!([ec("a", "P-256"), ec("b", "P-384")]));
    let header = without(es256_header, "kid");
    let token = format!("{}.{fake_signature}", signing_input(&header, &claims()));
    let err = verify_logout_token(&token, &keys, &policy_with(&es256)).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::UnusableKey(_) | LogoutTokenError::BadSignature),
        "{err:?}"
    );
    // openidconnect 4.1.0 cannot verify ES512: an error, not a panic.
    let es512 = [CoreJwsSigningAlgorithm::EcdsaP521Sha512];
    let keys = jwks(json!([ec("ec", "P-521")]));
    let header = json!({ "alg": "ES512", "kid": "ec" });
    let token = format!("{}.{}", signing_input(&header, &claims()), b64(&[1u8; 132]));
    let err = verify_logout_token(&token, &keys, &policy_with(&es512)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnusableKey(_)), "{err:?}");
}

#[test]
fn a_jwks_key_that_declares_rs256_is_used_for_rs256() {
    let keys = jwks(json!([with(public_jwk(), "alg", json!("RS256"))]));
    let token = sign(header(), claims());
    verify_logout_token(&token, &keys, &policy_with(&[RS256])).expect("valid");
}

#[test]
fn a_crit_header_is_refused() {
    let header = with(header(), "crit", json!(["exp"]));
    let token = sign(with(header, "exp", json!(NOW + 60)), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnsupportedCriticalHeader), "{err:?}");
}

#[test]
fn a_kid_that_is_not_a_string_is_refused() {
    let token = sign(with(header(), "kid", json!(1)), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidHeader(_)), "{err:?}");
}

// ---- claims ----

#[test]
fn a_wrong_issuer_is_refused_even_if_it_differs_only_by_a_trailing_slash() {
    for iss in [
        "https://evil.example.com/realms/main",
        "https://op.example.com/realms/main/",
    ] {
        let err = verify_claims(with(claims(), "iss", json!(iss))).unwrap_err();
        assert!(matches!(err, LogoutTokenError::WrongIssuer { .. }), "{iss}: {err:?}");
    }
    let err = verify_claims(without(claims(), "iss")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("iss")), "{err:?}");
}

#[test]
fn a_wrong_audience_is_refused() {
    let err = verify_claims(with(claims(), "aud", json!("other-rp"))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::WrongAudience { .. }), "{err:?}");
}

#[test]
fn an_aud_array_without_the_client_id_is_refused() {
    let err = verify_claims(with(claims(), "aud", json!(["a", "b"]))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::WrongAudience { .. }), "{err:?}");
    let err = verify_claims(with(claims(), "aud", json!([]))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::WrongAudience { .. }), "{err:?}");
}

#[test]
fn a_missing_or_malformed_aud_is_refused() {
    let err = verify_claims(without(claims(), "aud")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("aud")), "{err:?}");
    let err = verify_claims(with(claims(), "aud", json!([CLIENT_ID, 7]))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "aud", .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_iat_is_refused() {
    let err = verify_claims(without(claims(), "iat")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("iat")), "{err:?}");
}

#[test]
fn a_non_numeric_or_negative_iat_is_refused() {
    for iat in [json!("1799999995"), json!(-1), json!(null)] {
        let err = verify_claims(with(claims(), "iat", iat.clone())).unwrap_err();
        assert!(
            matches!(err, LogoutTokenError::InvalidClaim { claim: "iat", .. }),
            "{iat}: {err:?}"
        );
    }
}

#[test]
fn an_iat_in_the_future_beyond_the_clock_skew_is_refused() {
    let err = verify_claims(with(claims(), "iat", json!(NOW + SKEW + 1))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::IssuedInFuture { .. }), "{err:?}");
}

#[test]
fn an_expired_token_is_refused() {
    let err = verify_claims(with(claims(), "exp", json!(NOW - SKEW))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::Expired { .. }), "{err:?}");
    let err = verify_claims(with(claims(), "exp", json!("tomorrow"))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "exp", .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_or_empty_jti_is_refused() {
    let err = verify_claims(without(claims(), "jti")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("jti")), "{err:?}");
    let err = verify_claims(with(claims(), "jti", json!(""))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "jti", .. }),
        "{err:?}"
    );
    let err = verify_claims(with(claims(), "jti", json!(42))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "jti", .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_events_claim_is_refused() {
    let err = verify_claims(without(claims(), "events")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingLogoutEvent), "{err:?}");
}

#[test]
fn events_without_the_backchannel_logout_member_is_refused() {
    let events = json!({ "http://schemas.openid.net/event/other": {} });
    let err = verify_claims(with(claims(), "events", events)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingLogoutEvent), "{err:?}");
}

#[test]
fn an_events_member_that_is_not_a_json_object_is_refused() {
    for member in [json!(true), json!("{}"), json!(null), json!([])] {
        let events = json!({ BACKCHANNEL_LOGOUT_EVENT: member });
        let err = verify_claims(with(claims(), "events", events)).unwrap_err();
        assert!(matches!(err, LogoutTokenError::InvalidEvents(_)), "{err:?}");
    }
}

#[test]
fn an_events_claim_that_is_not_a_json_object_is_refused() {
    let events = json!([BACKCHANNEL_LOGOUT_EVENT]);
    let err = verify_claims(with(claims(), "events", events)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidEvents(_)), "{err:?}");
}

#[test]
fn a_nonce_claim_is_refused_whatever_its_value() {
    for nonce in [json!("n-0S6_WzA2Mj"), json!(null)] {
        let err = verify_claims(with(claims(), "nonce", nonce)).unwrap_err();
        assert!(matches!(err, LogoutTokenError::NoncePresent), "{err:?}");
    }
}

#[test]
fn a_token_with_neither_sid_nor_sub_is_refused() {
    let err = verify_claims(without(without(claims(), "sid"), "sub")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingSubjectAndSession), "{err:?}");
}

#[test]
fn an_empty_or_non_string_sid_or_sub_is_refused() {
    let err = verify_claims(with(without(claims(), "sub"), "sid", json!(""))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "sid", .. }),
        "{err:?}"
    );
    let err = verify_claims(with(claims(), "sub", json!(12))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "sub", .. }),
        "{err:?}"
    );
}

#[test]
fn a_signed_payload_that_is_not_a_json_object_is_refused() {
    for payload in [b"[1,2]".as_slice(), b"not json", b""] {
        let input = format!("{}.{}", b64_json(&header()), b64(payload));
        let sig = signer().key.sign(&RS256, input.as_bytes()).unwrap();
        let err = verify(&format!("{input}.{}", b64(&sig))).unwrap_err();
        assert!(matches!(err, LogoutTokenError::PayloadNotJsonObject), "{err:?}");
    }
}

// ---- not a JWT at all ----

#[test]
fn garbage_is_not_a_jwt() {
    for garbage in ["", "garbage", "....", "\u{0}\u{ffff}", "a.b.c.d"] {
        let err = verify(garbage).unwrap_err();
        assert!(
            matches!(err, LogoutTokenError::NotCompactJws { .. }),
            "{garbage:?}: {err:?}"
        );
    }
}

#[test]
fn a_token_with_two_parts_is_not_a_jwt() {
    let token = signing_input(&header(), &claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::NotCompactJws { parts: 2 }), "{err:?}");
}

#[test]
fn a_five_part_token_is_refused_as_encrypted() {
    let jwe_header = b64_json(&json!({ "alg": "RSA-OAEP", "enc": "A256GCM" }));
    let err = verify(&format!("{jwe_header}.a.b.c.d")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::Encrypted), "{err:?}");
    // Five parts without a JWE header are just not a JWT.
    let err = verify("....").unwrap_err();
    assert!(matches!(err, LogoutTokenError::NotCompactJws { parts: 5 }), "{err:?}");
}

#[test]
fn bad_base64_in_any_part_is_refused() {
    let token = sign(header(), claims());
    let parts: Vec<String> = token.split('.').map(String::from).collect();
    let cases = [
        (format!("{}=.{}.{}", parts[0], parts[1], parts[2]), "header"),
        (format!("{}.{}.{}", "eyJ+", parts[1], parts[2]), "header"),
        (format!("{}.{}.{}", parts[0], parts[1], "a b"), "signature"),
        (format!("{}.{}.{}", parts[0], parts[1], "A"), "signature"),
    ];
    for (token, part) in cases {
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(err, LogoutTokenError::InvalidBase64 { part: p } if p == part),
            "{part}: {err:?}"
        );
    }
}

#[test]
fn a_header_that_is_not_a_json_object_is_refused() {
    for header in [b"not json".as_slice(), b"[]", b"\"RS256\""] {
        let token = format!("{}.{}.c2ln", b64(header), b64_json(&claims()));
        let err = verify(&token).unwrap_err();
        assert!(matches!(err, LogoutTokenError::HeaderNotJsonObject), "{err:?}");
    }
}

#[test]
fn an_oversized_token_is_refused_before_decoding() {
    let token = format!("{}..", "A".repeat(MAX_LOGOUT_TOKEN_BYTES));
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::TooLarge { .. }), "{err:?}");
    // A real, valid token padded up to the limit with an extra claim still passes.
    let base = sign(header(), claims()).len();
    let filler = "x".repeat((MAX_LOGOUT_TOKEN_BYTES - base) * 3 / 4 - 40);
    let token = sign(header(), with(claims(), "filler", json!(filler)));
    assert!(token.len() <= MAX_LOGOUT_TOKEN_BYTES);
    verify(&token).expect("valid");
}

// ---- robustness ----

#[test]
fn mutated_and_truncated_tokens_never_panic_and_are_refused() {
    let token = sign(header(), claims());
    for end in 0..token.len() {
        assert!(verify(&token[..end]).is_err(), "prefix {end}");
    }
    let bytes = token.as_bytes();
    // Every position gets a character that base64url or the dot structure refuses; every
    // fifth also gets a valid base64url character, which costs an RSA verification
    // (milliseconds in a debug build).
    for (i, &original) in bytes.iter().enumerate() {
        let odd = [b'.', b'=', b' ', b'+', b'/'][i % 5];
        let other = if original == b'A' { b'_' } else { b'A' };
        let replacements = if i % 5 == 0 { vec![odd, other] } else { vec![odd] };
        for replacement in replacements {
            if original == replacement {
                continue;
            }
            let mut mutated = bytes.to_vec();
            mutated[i] = replacement;
            let mutated = String::from_utf8(mutated).unwrap();
            // Every change must be caught: by the shape, base64 (including its
            // canonical-trailing-bits check), the header checks or the signature.
            assert!(verify(&mutated).is_err(), "mutation at {i} to {replacement}");
        }
    }
}

#[test]
fn odd_claim_values_never_panic() {
    let odd = [
        json!(u64::MAX),
        json!(1e300),
        json!(-0.0),
        json!(f64::MIN_POSITIVE),
        json!({}),
        json!([[[]]]),
    ];
    for value in odd {
        for claim in ["iat", "exp", "iss", "aud", "jti", "sid", "sub", "events"] {
            let _ = verify_claims(with(claims(), claim, value.clone()));
        }
    }
    let policy = LogoutTokenPolicy {
        clock_skew: Duration::MAX,
        now: u64::MAX,
        ..policy_with(&[RS256])
    };
    let _ = verify_logout_token(&sign(header(), claims()), &signer().jwks, &policy);
}

#[test]
fn error_messages_name_the_problem_for_an_operator() {
    let message = LogoutTokenError::MissingLogoutEvent.to_string();
    assert!(message.contains(BACKCHANNEL_LOGOUT_EVENT), "{message}");
    let message = LogoutTokenError::WrongIssuer {
        expected: ISSUER.into(),
    }
    .to_string();
    assert!(
        message.contains(ISSUER) && message.contains("trailing slash"),
        "{message}"
    );
    let message = verify(&format!("{}..", "A".repeat(MAX_LOGOUT_TOKEN_BYTES)))
        .unwrap_err()
        .to_string();
    assert!(message.contains("16384"), "{message}");
}

#[test]
fn error_messages_do_not_repeat_token_content() {
    const MARK: &str = "SECRET-MARK";
    let cases = [
        verify_claims(with(claims(), "iss", json!(format!("https://{MARK}")))),
        verify_claims(with(claims(), "aud", json!(MARK))),
        verify(&sign(with(header(), "typ", json!(MARK)), claims())),
        verify(&sign(with(header(), "alg", json!(MARK)), claims())),
        verify(&sign(with(header(), "kid", json!(MARK)), claims())),
    ];
    for result in cases {
        let message = result.unwrap_err().to_string();
        assert!(!message.contains(MARK), "{message}");
    }
}
