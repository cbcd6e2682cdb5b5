//! RSA signatures of logout tokens, checked with ring.
//!
//! The back-channel endpoint is public: anyone can post a token with the provider's `kid`
//! and a made-up signature, and the RSA operation is nearly all the work a refused token
//! costs. openidconnect checks RSA with the `rsa` crate: a refused token cost the service
//! 231 µs of CPU that way, 57 µs with ring (docs/DESIGN.md). Other key types keep
//! openidconnect's implementation.
//!
//! ring refuses moduli under 2048 bits, as RFC 7518 §3.3 and §3.5 require ("a key of size
//! 2048 bits or larger MUST be used"); such a key is reported as unusable, not as a bad
//! signature, so the operator learns that the provider's key is the problem.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use ring::signature::{self, RsaParameters, RsaPublicKeyComponents};
use serde_json::Value;

use super::LogoutTokenError;

const MIN_MODULUS_BITS: usize = 2048;

/// ring's parameters for an RSA `alg`; `None` for every other algorithm.
pub(super) fn parameters(alg: &CoreJwsSigningAlgorithm) -> Option<&'static RsaParameters> {
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

/// Checks `signature` over `input` with the RSA key `key` (already chosen for `alg`).
pub(super) fn verify(
    key: &CoreJsonWebKey,
    parameters: &'static RsaParameters,
    input: &[u8],
    signature: &[u8],
) -> Result<(), LogoutTokenError> {
    let (n, e) = components(key)?;
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < MIN_MODULUS_BITS {
        return Err(LogoutTokenError::UnusableKey(format!(
            "the RSA key has {bits} bits; RFC 7518 requires at least {MIN_MODULUS_BITS}"
        )));
    }
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(parameters, input, signature)
        .map_err(|_| LogoutTokenError::BadSignature)
}

/// The key's modulus and exponent, big-endian without leading zero octets (some JWKS
/// carry one; ring wants the minimal form). `CoreJsonWebKey` has no accessor for them:
/// they are read from its JSON form.
fn components(key: &CoreJsonWebKey) -> Result<(Vec<u8>, Vec<u8>), LogoutTokenError> {
    let json = serde_json::to_value(key).map_err(|_| unusable("cannot be read"))?;
    let member = |name: &'static str| -> Result<Vec<u8>, LogoutTokenError> {
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

fn unusable(what: &str) -> LogoutTokenError {
    LogoutTokenError::UnusableKey(format!("the RSA key {what}"))
}
