//! Pending logins, carried by the browser instead of stored.
//!
//! `GET /auth/login` is anonymous: anything it wrote to Redis, anyone could make Redis hold
//! (a flood of logins would fill it, or evict live sessions). So the pending login (PKCE
//! verifier, nonce, `return_to`, expiry) travels in the login-binding cookie itself,
//! sealed (XChaCha20-Poly1305) and bound to its `state`, and `/auth/login` writes nothing.
//! The cookie is HttpOnly and sent only by the browser that started the login, which is
//! what binds the login to it. Single use: the first callback that completes the code
//! exchange claims the state in the store (a write that only a login the provider
//! accepted can cause); any later use of it is refused.
//!
//! The sealing key is derived for this purpose from `OIDC_SESSION_ENCRYPTION_KEY` when
//! that is configured; otherwise a random key that the first replica creates in the store
//! and every replica reads (one 32-byte value), so any replica can finish a login that
//! another started. Whoever can read the store can then seal a login of their own, which is
//! why the callback checks the sealed `return_to` again.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use super::store::Mark;
use super::{PendingLogin, SessionStore, StoreError};
use crate::crypto::{KeyRing, Purpose};
use crate::domain::now;

/// Binds a sealed login to its purpose as well as its state.
const AAD_PREFIX: &str = "oidc-session pending login ";

pub struct PendingLogins {
    configured: Option<KeyRing>,
    store: Arc<dyn SessionStore>,
    shared: RwLock<Option<KeyRing>>,
}

impl PendingLogins {
    pub fn new(store: Arc<dyn SessionStore>, configured: Option<KeyRing>) -> Self {
        Self {
            configured: configured.map(|ring| ring.for_purpose(Purpose::PendingLogins)),
            store,
            shared: RwLock::new(None),
        }
    }

    /// The cookie value that carries `login` for `state`.
    pub async fn seal(&self, state: &str, login: &PendingLogin) -> Result<String, StoreError> {
        let ring = self.ring(false).await?;
        let json = serde_json::to_vec(login).expect("a pending login serializes");
        Ok(URL_SAFE_NO_PAD.encode(ring.seal(&json, aad(state).as_bytes())))
    }

    /// The login a cookie value carries for `state`; `None` when it is not one we sealed
    /// for that state, or it has expired.
    pub async fn open(&self, state: &str, value: &str) -> Result<Option<PendingLogin>, StoreError> {
        let Ok(sealed) = URL_SAFE_NO_PAD.decode(value) else {
            return Ok(None);
        };
        let mut opened = self.ring(false).await?.open(&sealed, aad(state).as_bytes()).ok();
        if opened.is_none() && self.configured.is_none() {
            // The shared key may have been replaced (a flushed store): read it once more.
            opened = self.ring(true).await?.open(&sealed, aad(state).as_bytes()).ok();
        }
        let login = opened.and_then(|json| serde_json::from_slice::<PendingLogin>(&json).ok());
        Ok(login.filter(|l| l.expires_at > now()))
    }

    /// Claims `state` for the callback that completes it; false when it was claimed before.
    pub async fn claim(&self, state: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        self.store.mark_once(Mark::Login, state, ttl).await
    }

    /// Whether `state` was claimed by a completed callback.
    pub async fn claimed(&self, state: &str) -> Result<bool, StoreError> {
        self.store.is_marked(Mark::Login, state).await
    }

    async fn ring(&self, reload: bool) -> Result<KeyRing, StoreError> {
        if let Some(ring) = &self.configured {
            return Ok(ring.clone());
        }
        if !reload {
            if let Some(ring) = self.shared.read().expect("not poisoned").clone() {
                return Ok(ring);
            }
        }
        let mut candidate = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut candidate);
        let key = self.store.shared_key("login-key", &candidate).await?;
        let ring = KeyRing::from_bytes(&key).map_err(|e| StoreError::Corrupt(e.into()))?;
        *self.shared.write().expect("not poisoned") = Some(ring.clone());
        Ok(ring)
    }
}

fn aad(state: &str) -> String {
    format!("{AAD_PREFIX}{state}")
}
