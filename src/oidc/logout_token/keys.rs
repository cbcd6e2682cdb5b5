//! Choosing the JWKS key that may verify a logout token, and mapping signature errors.

use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyUse, JwsSigningAlgorithm, SignatureVerificationError};
use serde_json::Value;

use super::LogoutTokenError;

/// The `crv` a key must have for `alg`, for the algorithms that fix one.
pub(super) fn required_curve(alg: &CoreJwsSigningAlgorithm) -> Option<&'static str> {
    match alg {
        CoreJwsSigningAlgorithm::EcdsaP256Sha256 => Some("P-256"),
        CoreJwsSigningAlgorithm::EcdsaP384Sha384 => Some("P-384"),
        CoreJwsSigningAlgorithm::EcdsaP521Sha512 => Some("P-521"),
        // openidconnect verifies EdDSA with Ed25519 keys only.
        CoreJwsSigningAlgorithm::EdDsa => Some("Ed25519"),
        _ => None,
    }
}

/// `CoreJsonWebKey` has no public accessor for `crv`: read it from the key's JSON form.
pub(super) fn key_curve(key: &CoreJsonWebKey) -> Option<String> {
    match serde_json::to_value(key).ok()?.get("crv")? {
        Value::String(crv) => Some(crv.clone()),
        _ => None,
    }
}

/// Whether `key` may verify a signature made with `alg`: use `sig` (or unspecified), the
/// key type of the algorithm, the key's own `alg` (if any) equal to it, and the right curve.
pub(super) fn key_usable_for(key: &CoreJsonWebKey, alg: &CoreJwsSigningAlgorithm) -> bool {
    if let Some(key_use) = key.key_use() {
        if !key_use.allows_signature() {
            return false;
        }
    }
    if alg.key_type().as_ref() != Some(key.key_type()) {
        return false;
    }
    match key.signing_alg() {
        JsonWebKeyAlgorithm::Unspecified => {}
        JsonWebKeyAlgorithm::Algorithm(key_alg) if key_alg == alg => {}
        _ => return false,
    }
    match required_curve(alg) {
        Some(crv) => key_curve(key).as_deref() == Some(crv),
        None => true,
    }
}

pub(super) fn select_key<'k>(
    jwks: &'k CoreJsonWebKeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Result<&'k CoreJsonWebKey, LogoutTokenError> {
    let candidates: Vec<&CoreJsonWebKey> = jwks
        .keys()
        .iter()
        .filter(|key| match kid {
            Some(kid) => key.key_id().map(|id| id.as_str()) == Some(kid),
            None => true,
        })
        .filter(|key| key_usable_for(key, alg))
        .collect();
    match candidates.as_slice() {
        [] => Err(LogoutTokenError::UnknownKey),
        [key] => Ok(key),
        several => Err(LogoutTokenError::AmbiguousKey { count: several.len() }),
    }
}

pub(super) fn signature_error(err: SignatureVerificationError) -> LogoutTokenError {
    match err {
        SignatureVerificationError::CryptoError(_) => LogoutTokenError::BadSignature,
        // These describe the JWKS key or the algorithm, never the token.
        SignatureVerificationError::InvalidKey(reason)
        | SignatureVerificationError::UnsupportedAlg(reason)
        | SignatureVerificationError::Other(reason) => LogoutTokenError::UnusableKey(reason),
        other => LogoutTokenError::UnusableKey(other.to_string()),
    }
}
