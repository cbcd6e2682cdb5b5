//! The identity assertion forward-auth hands upstreams (README, "Verifying the identity
//! assertion"): a short-lived JWT signed with `OIDC_ASSERTION_KEY`, so an upstream can check
//! who the user is instead of trusting whoever can reach it.
//!
//! Signing is not per request: an assertion for one session (or bearer token) and audience
//! is handed out again while at least half of its lifetime remains. The cache is bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::config::AssertionSettings;
use crate::crypto::client_keys::{ClientKeys, Jwk};
use crate::domain::Identity;
use crate::util::{error_chain, random_token};

/// Assertions kept for reuse; past this, stale ones are dropped, then all of them.
const MAX_CACHED: usize = 10_000;

struct Issued {
    jwt: Arc<str>,
    identity: Identity,
    iat: u64,
    exp: u64,
}

impl Issued {
    /// At least half of its lifetime remains at `now`.
    fn reusable_at(&self, now: u64) -> bool {
        self.exp > now && 2 * (self.exp - now) >= self.exp - self.iat
    }
}

pub(crate) struct Assertions {
    keys: ClientKeys,
    lifetime: u64,
    /// The service's own origin (of `OIDC_REDIRECT_URI`).
    issuer: String,
    cache: Mutex<HashMap<(String, String), Issued>>,
}

impl Assertions {
    pub(crate) fn new(settings: &AssertionSettings, issuer: String) -> Self {
        Self {
            keys: settings.keys.clone(),
            lifetime: settings.lifetime.as_secs().max(1),
            issuer,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public keys, each with the `alg` it signs with, for `/.well-known/jwks.json`.
    pub(crate) fn jwks(&self) -> Vec<Jwk> {
        self.keys.jwk_set(None)
    }

    /// The assertion for `identity` at `audience`. `holder` names the session or token it is
    /// reused for; `not_after` caps `exp` (a bearer token's own `exp`). `None` only when
    /// signing fails (logged).
    pub(crate) fn issue(
        &self,
        holder: &str,
        identity: &Identity,
        audience: &str,
        not_after: Option<u64>,
        now: u64,
    ) -> Option<Arc<str>> {
        let slot = (holder.to_owned(), audience.to_owned());
        {
            let cache = self.cache.lock().expect("not poisoned");
            if let Some(issued) = cache.get(&slot) {
                if issued.reusable_at(now) && issued.identity == *identity {
                    return Some(issued.jwt.clone());
                }
            }
        }
        let exp = now.saturating_add(self.lifetime).min(not_after.unwrap_or(u64::MAX));
        let jwt: Arc<str> = match self.sign(identity, audience, now, exp) {
            Ok(jwt) => jwt.into(),
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "signing the identity assertion failed");
                return None;
            }
        };
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, issued| issued.reusable_at(now));
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        let issued = Issued {
            jwt: jwt.clone(),
            identity: identity.clone(),
            iat: now,
            exp,
        };
        cache.insert(slot, issued);
        Some(jwt)
    }

    fn sign(
        &self,
        identity: &Identity,
        audience: &str,
        iat: u64,
        exp: u64,
    ) -> Result<String, crate::crypto::client_key::SignError> {
        let key = self.keys.signing();
        let alg = key.alg_for(None);
        let header = json!({ "alg": alg.as_str(), "kid": key.kid(), "typ": "JWT" });
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), audience.into());
        claims.insert("sub".into(), identity.sub.clone().into());
        // Claims the user lacks are left out, never sent as null.
        let optional = [
            ("email", identity.email.clone().map(Value::from)),
            ("email_verified", identity.email_verified.map(Value::from)),
            ("name", identity.name.clone().map(Value::from)),
            ("preferred_username", identity.username.clone().map(Value::from)),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                claims.insert(name.into(), value);
            }
        }
        claims.insert("groups".into(), identity.groups.clone().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), random_token().into());
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signing_input = format!("{}.{}", b64(&header), b64(&Value::Object(claims)));
        let signature = key.sign(alg, signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests;
