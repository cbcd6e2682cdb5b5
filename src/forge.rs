//! Forged JWTs (back-channel logout tokens in particular) for tests: the unit tests'
//! scripted provider, and the black-box tests' forging provider (`tests/support/` includes
//! this file).
//!
//! `TestSigner` holds a fresh RSA key and its key ID; publish `public_jwk()` from a fake
//! provider's `jwks_uri`, then sign whatever header and claims a test needs, valid or not.
//! Needs `openidconnect`, `rsa` 0.9 (a dev-dependency), `serde_json` and `base64` 0.22.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreHmacKey, CoreJsonWebKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use serde_json::{json, Value};

/// The member a logout token's `events` claim must contain.
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// An RSA signing key with a key ID, standing in for an OpenID Provider's key.
pub struct TestSigner {
    kid: String,
    key: CoreRsaPrivateSigningKey,
    public: rsa::RsaPublicKey,
}

impl TestSigner {
    /// A fresh 2048-bit RSA key. Generation takes a few seconds in debug builds: create one
    /// per test binary (e.g. in a `OnceLock`) rather than one per test.
    pub fn new(kid: &str) -> Self {
        Self::with_bits(kid, 2048)
    }

    /// A fresh RSA key of `bits` bits (1024 is quicker for throwaway "attacker" keys).
    pub fn with_bits(kid: &str, bits: usize) -> Self {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).expect("generate RSA key");
        let pem = private
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("encode RSA key as PKCS#1 PEM");
        Self::from_pkcs1_pem(kid, &pem)
    }

    /// A signer from an existing PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`).
    fn from_pkcs1_pem(kid: &str, pem: &str) -> Self {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(pem).expect("parse PKCS#1 PEM");
        let key = CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into())))
            .expect("load PKCS#1 PEM into openidconnect");
        Self {
            kid: kid.into(),
            key,
            public: private.to_public_key(),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty` RSA, `use` sig, `kid`, `n`, `e`; no `alg`).
    pub fn public_jwk(&self) -> Value {
        serde_json::to_value(self.verification_key()).expect("serialize JWK")
    }

    pub fn verification_key(&self) -> CoreJsonWebKey {
        self.key.as_verification_key()
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), the other classic one.
    pub fn public_key_pem(&self) -> String {
        self.public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("encode public key PEM")
    }

    /// `{"alg": "RS256", "typ": "logout+jwt", "kid": <kid>}`.
    pub fn logout_header(&self) -> Value {
        json!({ "alg": "RS256", "typ": "logout+jwt", "kid": self.kid })
    }

    /// Signs with the algorithm named by `header["alg"]` (RS256/384/512, PS256/384/512; RS256
    /// when `alg` is absent, so header-less-alg tokens can be forged too). Header and claims
    /// are used exactly as given. Panics on any other `alg`: use `sign_hs256_with` or
    /// `unsigned` for those.
    pub fn sign(&self, header: Value, claims: Value) -> String {
        let alg = match header.get("alg") {
            None => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            Some(alg) => {
                serde_json::from_value(alg.clone()).unwrap_or_else(|_| panic!("TestSigner::sign: unknown alg {alg}"))
            }
        };
        self.sign_with_alg(alg, header, claims)
    }

    /// Signs with `alg` whatever `header["alg"]` says.
    fn sign_with_alg(&self, alg: CoreJwsSigningAlgorithm, header: Value, claims: Value) -> String {
        let input = signing_input(&header, &claims);
        let signature = self
            .key
            .sign(&alg, input.as_bytes())
            .unwrap_or_else(|err| panic!("TestSigner: cannot sign with {alg:?}: {err}"));
        format!("{input}.{}", b64url(&signature))
    }

    /// An HMAC-SHA-256 signature keyed with `key_bytes` (e.g.
    /// `self.public_key_pem().as_bytes()`); the header is used as given, so set `alg`
    /// yourself.
    pub fn sign_hs256_with(&self, key_bytes: &[u8], header: Value, claims: Value) -> String {
        let input = signing_input(&header, &claims);
        let signature = CoreHmacKey::new(key_bytes)
            .sign(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes())
            .expect("HMAC-SHA-256");
        format!("{input}.{}", b64url(&signature))
    }

    /// `header.claims.` with an empty signature, as for `alg: none`.
    pub fn unsigned(&self, header: Value, claims: Value) -> String {
        format!("{}.", signing_input(&header, &claims))
    }
}

/// Claims of a valid logout token for `issuer`/`client_id` at `now` (unix seconds):
/// `iat` now, `exp` now + 120, a fresh `jti`, the back-channel event, `sub` "test-subject"
/// and `sid` "test-session". Edit the object to forge variants.
pub fn logout_claims(issuer: &str, client_id: &str, now: u64) -> Value {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": format!("test-jti-{now}-{}-{n}", std::process::id()),
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        "sub": "test-subject",
        "sid": "test-session",
    })
}

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64url(json(header)).b64url(json(claims))`.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    let header = serde_json::to_vec(header).expect("serialize header");
    let claims = serde_json::to_vec(claims).expect("serialize claims");
    format!("{}.{}", b64url(&header), b64url(&claims))
}
