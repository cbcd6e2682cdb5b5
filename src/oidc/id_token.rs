//! ID token validation, OIDC Core §3.1.3.7: signature (advertised algorithms only,
//! never `none`, HMAC only with the client secret), `iss`, `aud`, `azp`, `exp` and `iat`
//! with the configured clock skew, and `nonce`.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreIdToken, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{
    ClaimsVerificationError, ClientId, ClientSecret, IdTokenVerifier, IssuerUrl, JsonWebKeySet, Nonce,
    SignatureVerificationError,
};
use serde_json::{Map, Value};

use super::rsa_signature::RingJwk;

pub(crate) struct IdTokenPolicy<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) algs: &'a [CoreJwsSigningAlgorithm],
    pub(crate) clock_skew: Duration,
}

impl<'a> IdTokenPolicy<'a> {
    /// The configured client and issuer, and the algorithms the provider advertises.
    pub(crate) fn new(settings: &'a crate::config::ProviderSettings, algs: &'a [CoreJwsSigningAlgorithm]) -> Self {
        Self {
            issuer: &settings.issuer,
            client_id: &settings.client_id,
            client_secret: settings.client_auth.secret().map(|s| s.expose()),
            algs,
            clock_skew: settings.clock_skew,
        }
    }
}

/// A validated ID token: its subject, provider session and every claim as sent.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedIdToken {
    pub(crate) sub: String,
    pub(crate) sid: Option<String>,
    pub(crate) issuer: String,
    pub(crate) claims: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum IdTokenError {
    #[error("the identity provider's keys are not loaded yet")]
    ProviderNotReady(#[source] super::discovery::NotReady),
    #[error("the ID token is signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token failed validation")]
    Invalid(#[source] ClaimsVerificationError),
    #[error("the ID token has several audiences but no `azp` claim")]
    MissingAzp,
    #[error("the ID token's `azp` claim names another client")]
    WrongAzp,
    #[error("the ID token's `iat` lies in the future")]
    IssuedInFuture,
    #[error("the ID token's payload is not a JSON object")]
    Payload,
}

impl super::keys::KeyError for IdTokenError {
    fn is_unknown_key(&self) -> bool {
        IdTokenError::is_unknown_key(self)
    }
}

impl IdTokenError {
    pub(crate) fn is_unknown_key(&self) -> bool {
        matches!(self, Self::UnknownKey)
    }
}

/// Validates `token`; `nonce` is the one sent with the authorization request, or `None`
/// for a token from a refresh (OIDC Core §12.2: no nonce check there).
pub(crate) fn verify(
    token: &CoreIdToken,
    keys: &CoreJsonWebKeySet,
    policy: &IdTokenPolicy<'_>,
    nonce: Option<&str>,
) -> Result<VerifiedIdToken, IdTokenError> {
    let client_id = ClientId::new(policy.client_id.to_owned());
    let issuer = IssuerUrl::new(policy.issuer.to_owned()).map_err(|_| IdTokenError::Payload)?;
    // The provider's keys, with RSA signatures checked by ring (`rsa_signature`).
    let keys = JsonWebKeySet::new(keys.keys().iter().cloned().map(RingJwk).collect());
    let verifier = match policy.client_secret {
        Some(secret) => IdTokenVerifier::<RingJwk>::new_confidential_client(
            client_id,
            ClientSecret::new(secret.to_owned()),
            issuer,
            keys,
        ),
        None => IdTokenVerifier::<RingJwk>::new_public_client(client_id, issuer, keys),
    };
    let skew = chrono::Duration::from_std(policy.clock_skew).unwrap_or_default();
    let verifier = verifier
        .set_allowed_algs(policy.algs.iter().cloned())
        // exp: still valid up to `skew` after it passed.
        .set_time_fn(move || chrono::Utc::now() - skew)
        // Extra audiences are allowed only with a matching azp, checked below (§3.1.3.7 4–5).
        .set_other_audience_verifier_fn(|_| true);
    let now = chrono::Utc::now();
    let verifier = verifier.set_issue_time_verifier_fn(move |iat| {
        if iat > now + skew {
            Err("issued in the future".into())
        } else {
            Ok(())
        }
    });
    let claims = match nonce {
        Some(n) => token.claims(&verifier, &Nonce::new(n.to_owned())),
        None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|e| match e {
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
            IdTokenError::UnknownKey
        }
        ClaimsVerificationError::Expired(m) if m == "issued in the future" => IdTokenError::IssuedInFuture,
        other => IdTokenError::Invalid(other),
    })?;
    if claims.audiences().len() > 1 && claims.authorized_party().is_none() {
        return Err(IdTokenError::MissingAzp);
    }
    if claims
        .authorized_party()
        .is_some_and(|azp| azp.as_str() != policy.client_id)
    {
        return Err(IdTokenError::WrongAzp);
    }
    // The signature is good, so the payload can be read as sent, with every claim.
    let raw = token.to_string();
    let payload = raw.split('.').nth(1).ok_or(IdTokenError::Payload)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| IdTokenError::Payload)?;
    let raw_claims: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| IdTokenError::Payload)?;
    Ok(VerifiedIdToken {
        sub: claims.subject().to_string(),
        sid: raw_claims.get("sid").and_then(Value::as_str).map(str::to_owned),
        issuer: claims.issuer().to_string(),
        claims: raw_claims,
    })
}
