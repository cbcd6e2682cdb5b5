//! Bearer tokens from API clients (README, "API clients with bearer tokens"): the
//! provider's access tokens, judged by the token alone. What a verification proved is kept,
//! keyed by a hash of the token: a JWT until its `exp` (no Redis round trip, and no second
//! signature check), an introspection answer for at most a minute (so a token revoked at
//! the provider is refused within one), with one provider call per token at a time. The
//! cache is bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::Service;
use crate::domain::{now, Claims, Identity};
use crate::oidc::access_token::{looks_like_jwt, AccessTokenError, MAX_ACCESS_TOKEN_BYTES};

/// How long an introspection answer (accepted or refused) is reused at most.
const INTROSPECTION_REUSE_SECS: u64 = 60;
/// Tokens remembered at most; past this, expired entries go, then all of them.
const MAX_CACHED: usize = 10_000;
/// Opaque tokens are introspected under one of these locks (by hash), so that concurrent
/// requests with one token make one provider call.
const STRIPES: usize = 64;

/// An accepted bearer token: who it speaks for, until when.
#[derive(Debug)]
pub(crate) struct Bearer {
    pub(crate) identity: Identity,
    pub(crate) claims: Claims,
    /// The token's `exp`.
    pub(crate) exp: u64,
    /// A hash of the token, naming it where it must be remembered (assertion reuse).
    pub(crate) holder: String,
}

type Judged = Result<Arc<Bearer>, AccessTokenError>;

struct Entry {
    judged: Judged,
    until: u64,
}

pub(crate) struct BearerCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl Default for BearerCache {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }
}

impl BearerCache {
    fn get(&self, hash: &[u8; 32], now: u64) -> Option<Judged> {
        let entries = self.entries.lock().expect("not poisoned");
        entries.get(hash).filter(|e| e.until > now).map(|e| e.judged.clone())
    }

    fn put(&self, hash: [u8; 32], judged: Judged, until: u64, now: u64) {
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= MAX_CACHED {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(hash, Entry { judged, until });
    }
}

impl Service {
    /// Whether API clients may present access tokens (`OIDC_BEARER_AUDIENCES` is set).
    pub(crate) fn accepts_bearer_tokens(&self) -> bool {
        !self.settings.bearer_audiences.is_empty()
    }

    /// The token's identity when the provider vouches for it; the refusal's reason otherwise.
    pub(crate) async fn bearer(&self, token: &str) -> Judged {
        // Neither hashed, nor cached, nor sent to the provider.
        if token.len() > MAX_ACCESS_TOKEN_BYTES {
            return Err(AccessTokenError::TooLarge);
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(judged) = self.bearers.get(&hash, now()) {
            return judged;
        }
        if looks_like_jwt(token) {
            let judged = self.verify_bearer(token, &hash, false).await;
            if let Ok(bearer) = &judged {
                self.bearers.put(hash, judged.clone(), bearer.exp, now());
            }
            return judged;
        }
        let _one_call = self.bearers.stripes[usize::from(hash[0]) % STRIPES].lock().await;
        // Another request may have asked while this one waited.
        if let Some(judged) = self.bearers.get(&hash, now()) {
            return judged;
        }
        let judged = self.verify_bearer(token, &hash, true).await;
        let now = now();
        let reuse_until = now + INTROSPECTION_REUSE_SECS;
        match &judged {
            Ok(bearer) => self.bearers.put(hash, judged.clone(), reuse_until.min(bearer.exp), now),
            // The provider could not be asked: nothing was learnt about the token.
            Err(AccessTokenError::IntrospectionFailed | AccessTokenError::ProviderNotReady) => {}
            Err(_) => self.bearers.put(hash, judged.clone(), reuse_until, now),
        }
        judged
    }

    async fn verify_bearer(&self, token: &str, hash: &[u8; 32], opaque: bool) -> Judged {
        let audiences = &self.settings.bearer_audiences;
        let proved = if opaque {
            self.provider.introspect_token(token, audiences).await?
        } else {
            self.provider.verify_access_token(token, audiences).await?
        };
        let identity = self.mapping.identity(&proved.sub, &proved.claims);
        Ok(Arc::new(Bearer {
            identity,
            claims: Claims::new(&proved.claims),
            exp: proved.exp,
            holder: hash.iter().map(|b| format!("{b:02x}")).collect(),
        }))
    }

    /// `/introspect` with `{"token": …}`: the token's identity when it is accepted and its
    /// user may sign in.
    pub(crate) async fn introspect_bearer(&self, token: &str) -> Option<Arc<Bearer>> {
        if !self.accepts_bearer_tokens() {
            return None;
        }
        let bearer = self.bearer(token).await.ok()?;
        self.admits(&bearer.identity).is_ok().then_some(bearer)
    }
}
