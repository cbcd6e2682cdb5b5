//! RSA signatures of the provider's tokens (ID tokens, logout tokens), checked with ring.
//!
//! openidconnect checks RSA with the `rsa` crate. The back-channel endpoint is public: anyone
//! can post a token with the provider's `kid` and a made-up signature, and the RSA operation
//! is nearly all a refused token costs — 231 µs of service CPU with `rsa`, 57 µs with ring
//! (docs/DESIGN.md). An ID token's check is a tenth of a login's CPU. Other key types keep
//! openidconnect's implementation.
//!
//! ring refuses moduli under 2048 bits, as RFC 7518 §3.3 and §3.5 require ("a key of size
//! 2048 bits or larger MUST be used"); such a key is reported as unusable, not as a bad
//! signature, so the operator learns that the provider's key is the problem.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JsonWebKeyUse, SignatureVerificationError};
use ring::signature::{self, RsaParameters, RsaPublicKeyComponents};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const MIN_MODULUS_BITS: usize = 2048;

/// Verifies `signature` over `message` with the provider's `key`, as
/// `JsonWebKey::verify_signature` does, but with ring for RSA. What both token verifiers
/// call: openidconnect's (through [`RingJwk`]) and the logout token's.
pub(crate) fn verify_signature(
    key: &CoreJsonWebKey,
    alg: &CoreJwsSigningAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureVerificationError> {
    let Some(parameters) = parameters(alg).filter(|_| *key.key_type() == CoreJsonWebKeyType::RSA) else {
        // Not RSA (or a key of the wrong type, which openidconnect refuses).
        return key.verify_signature(alg, message, signature);
    };
    // What openidconnect checks before any signature: the key's `use` and `alg`.
    if key.key_use().is_some_and(|key_use| !key_use.allows_signature()) {
        return Err(unusable("is not for signatures"));
    }
    let alg_fits = match key.signing_alg() {
        JsonWebKeyAlgorithm::Unspecified => true,
        JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
        JsonWebKeyAlgorithm::Unsupported => false,
    };
    if !alg_fits {
        return Err(unusable("is for another algorithm"));
    }
    let (n, e) = components(key)?;
    // An empty (or all-zero) `n` has no first octet: 0 bits, refused below.
    let bits = n.first().map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
    if bits < MIN_MODULUS_BITS {
        return Err(SignatureVerificationError::InvalidKey(format!(
            "the RSA key has {bits} bits; RFC 7518 requires at least {MIN_MODULUS_BITS}"
        )));
    }
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(parameters, message, signature)
        .map_err(|_| SignatureVerificationError::CryptoError("bad signature".into()))
}

/// ring's parameters for an RSA `alg`; `None` for every other algorithm.
fn parameters(alg: &CoreJwsSigningAlgorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        CoreJwsSigningAlgorithm::RsaSsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        CoreJwsSigningAlgorithm::RsaSsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        CoreJwsSigningAlgorithm::RsaSsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The key's modulus and exponent, big-endian without leading zero octets (some JWKS
/// carry one; ring wants the minimal form). `CoreJsonWebKey` has no accessor for them:
/// they are read from its JSON form.
fn components(key: &CoreJsonWebKey) -> Result<(Vec<u8>, Vec<u8>), SignatureVerificationError> {
    let json = serde_json::to_value(key).map_err(|_| unusable("cannot be read"))?;
    let member = |name: &'static str| -> Result<Vec<u8>, SignatureVerificationError> {
        let text = json
            .get(name)
            .and_then(Value::as_str)
            .ok_or(unusable("has no `n` or `e`"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| unusable("has an `n` or `e` that is not base64url"))?;
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Ok(bytes[first..].to_vec())
    };
    Ok((member("n")?, member("e")?))
}

fn unusable(what: &str) -> SignatureVerificationError {
    SignatureVerificationError::InvalidKey(format!("the RSA key {what}"))
}

/// A provider's JWK for openidconnect's ID token verifier: itself in every respect, except
/// that signatures go through [`verify_signature`].
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub(crate) struct RingJwk(pub(crate) CoreJsonWebKey);

impl JsonWebKey for RingJwk {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.0.key_id()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.0.key_type()
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.0.key_use()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.0.signing_alg()
    }

    fn new_symmetric(key: Vec<u8>) -> Self {
        Self(CoreJsonWebKey::new_symmetric(key))
    }

    fn verify_signature(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        verify_signature(&self.0, alg, message, signature)
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.0.hash_bytes(bytes, alg)
    }
}

#[cfg(test)]
mod tests {
    use openidconnect::core::CoreRsaPrivateSigningKey;
    use openidconnect::PrivateSigningKey;
    use rsa::pkcs1::EncodeRsaPrivateKey;

    use super::*;

    const RS256: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;

    fn signing_key(bits: usize) -> CoreRsaPrivateSigningKey {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap();
        let pem = private.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        CoreRsaPrivateSigningKey::from_pem(&pem, None).unwrap()
    }

    /// The public JWK of `key` with `members` set (e.g. `use`, `alg`).
    fn jwk(key: &CoreRsaPrivateSigningKey, members: Value) -> RingJwk {
        let mut json = serde_json::to_value(key.as_verification_key()).unwrap();
        for (name, value) in members.as_object().unwrap() {
            json[name] = value.clone();
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_id_token_key_checks_a_good_signature_and_refuses_a_changed_message() {
        let key = signing_key(2048);
        let signature = key.sign(&RS256, b"header.payload").unwrap();
        let public = jwk(&key, serde_json::json!({}));
        public
            .verify_signature(&RS256, b"header.payload", &signature)
            .expect("valid");
        let err = public
            .verify_signature(&RS256, b"header.payloaD", &signature)
            .unwrap_err();
        assert!(matches!(err, SignatureVerificationError::CryptoError(_)), "{err:?}");
    }

    #[test]
    fn the_id_token_key_honours_the_jwks_use_and_alg_before_any_signature() {
        let key = signing_key(2048);
        let signature = key.sign(&RS256, b"m").unwrap();
        for members in [
            serde_json::json!({ "use": "enc" }),
            serde_json::json!({ "alg": "RS384" }),
        ] {
            let err = jwk(&key, members.clone())
                .verify_signature(&RS256, b"m", &signature)
                .unwrap_err();
            assert!(
                matches!(err, SignatureVerificationError::InvalidKey(_)),
                "{members}: {err:?}"
            );
        }
        jwk(&key, serde_json::json!({ "use": "sig", "alg": "RS256" }))
            .verify_signature(&RS256, b"m", &signature)
            .expect("use sig, alg RS256");
    }

    #[test]
    fn a_key_with_an_empty_or_all_zero_modulus_is_refused_as_unusable() {
        let key = signing_key(2048);
        let signature = key.sign(&RS256, b"m").unwrap();
        for n in ["", "AAAA"] {
            match jwk(&key, serde_json::json!({ "n": n })).verify_signature(&RS256, b"m", &signature) {
                Err(SignatureVerificationError::InvalidKey(reason)) => assert!(reason.contains("0 bits"), "{reason}"),
                other => panic!("n = {n:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_id_token_key_refuses_rsa_keys_under_2048_bits_naming_the_size() {
        let key = signing_key(1024);
        let signature = key.sign(&RS256, b"m").unwrap();
        match jwk(&key, serde_json::json!({})).verify_signature(&RS256, b"m", &signature) {
            Err(SignatureVerificationError::InvalidKey(reason)) => assert!(reason.contains("1024 bits"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
