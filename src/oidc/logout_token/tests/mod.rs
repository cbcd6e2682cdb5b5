use super::*;

use std::sync::OnceLock;

use openidconnect::core::CoreHmacKey;
use openidconnect::core::CoreRsaPrivateSigningKey;
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;

pub(crate) const ISSUER: &str = "https://op.example.com/realms/main";
pub(crate) const CLIENT_ID: &str = "oidc-session";
pub(crate) const KID: &str = "key-1";
pub(crate) const NOW: u64 = 1_800_000_000;
pub(crate) const SKEW: u64 = 60;
pub(crate) const RS256: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;

pub(crate) struct Signer {
    key: CoreRsaPrivateSigningKey,
    modulus: Vec<u8>,
    pub(crate) public_pem: String,
    pub(crate) jwks: CoreJsonWebKeySet,
}

/// One RSA key for the whole test binary (key generation is slow in debug builds).
pub(crate) fn signer() -> &'static Signer {
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

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64_json(value: &Value) -> String {
    b64(&serde_json::to_vec(value).expect("serialize"))
}

pub(crate) fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64_json(header), b64_json(claims))
}

pub(crate) fn sign_as(alg: CoreJwsSigningAlgorithm, header: Value, claims: Value) -> String {
    let input = signing_input(&header, &claims);
    let sig = signer().key.sign(&alg, input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(&sig))
}

pub(crate) fn sign(header: Value, claims: Value) -> String {
    sign_as(RS256, header, claims)
}

pub(crate) fn sign_hs256(key: &[u8], header: Value, claims: Value) -> String {
    let input = signing_input(&header, &claims);
    let sig = CoreHmacKey::new(key)
        .sign(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes())
        .expect("hmac");
    format!("{input}.{}", b64(&sig))
}

pub(crate) fn header() -> Value {
    json!({ "alg": "RS256", "typ": "logout+jwt", "kid": KID })
}

pub(crate) fn claims() -> Value {
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

pub(crate) fn with(mut value: Value, name: &str, member: Value) -> Value {
    value.as_object_mut().expect("object").insert(name.into(), member);
    value
}

pub(crate) fn without(mut value: Value, name: &str) -> Value {
    value.as_object_mut().expect("object").remove(name);
    value
}

pub(crate) fn policy_with(algs: &[CoreJwsSigningAlgorithm]) -> LogoutTokenPolicy<'_> {
    LogoutTokenPolicy {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        allowed_algs: algs,
        clock_skew: Duration::from_secs(SKEW),
        now: NOW,
    }
}

pub(crate) fn verify(token: &str) -> Result<LogoutClaims, LogoutTokenError> {
    verify_logout_token(token, &signer().jwks, &policy_with(&[RS256]))
}

pub(crate) fn verify_claims(claims: Value) -> Result<LogoutClaims, LogoutTokenError> {
    verify(&sign(header(), claims))
}

pub(crate) fn jwks(keys: Value) -> CoreJsonWebKeySet {
    serde_json::from_value(json!({ "keys": keys })).expect("jwks")
}

pub(crate) fn public_jwk() -> Value {
    serde_json::to_value(signer().key.as_verification_key()).expect("jwk")
}

mod accepted;
mod claims;
mod header;
mod malformed;
mod robustness;
mod rsa_keys;
