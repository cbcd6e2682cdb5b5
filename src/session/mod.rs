//! Sessions: what a signed-in browser maps to, how it is stored, and its cookie.

pub mod memory;
mod pending;
mod persist;
pub mod record;
pub mod redis;
pub mod store;
pub mod tokens;
mod traced;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub use crate::domain::access::StepUp;
pub use crate::domain::{now, now_millis, Authentication, Claims, Identity, Secret, Tokens};
pub use crate::util::random_token;
use crate::util::sha256_base64url;
pub use pending::PendingLogins;
pub use persist::{NewSession, SaveError, Sessions};
pub use record::{RecordError, StoredMetadata};
pub use store::{Mark, SessionStore, StoreError};
pub use tokens::{StoredTokens, TooLarge};

use std::sync::Arc;

use crate::config::StoreSettings;
use crate::telemetry::metrics::Metrics;

/// The session store the settings describe (Redis: standalone, Sentinel or Cluster). It
/// connects lazily: a store that is down at start is not an error here.
pub fn open_store(settings: &StoreSettings, metrics: Arc<Metrics>) -> Result<Arc<dyn SessionStore>, redis::SetupError> {
    let store: Arc<dyn SessionStore> = Arc::new(redis::RedisStore::new(
        &settings.redis,
        settings.extra_ca_file.as_deref(),
        metrics,
    )?);
    Ok(match settings.traced {
        true => Arc::new(traced::TracedStore(store)),
        false => store,
    })
}

/// The opaque value in the browser's cookie: 256 random bits, base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(***)")
    }
}

impl SessionId {
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// Accepts only values this service could have issued, so garbage never reaches Redis.
    pub fn parse(value: &str) -> Option<Self> {
        // Decoded into a buffer of exactly 32 bytes: a value that decodes to more fails.
        let ok = value.len() == 43 && URL_SAFE_NO_PAD.decode_slice(value, &mut [0; 32]).is_ok_and(|n| n == 32);
        ok.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What Redis knows the session by: a hash, so a dump yields no usable cookie.
    pub fn key(&self) -> SessionKey {
        SessionKey(sha256_base64url(self.0.as_bytes()))
    }
}

/// SHA-256 of a session id, base64url (43 characters); safe to store and to log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionKey(pub String);

impl SessionKey {
    /// The public handle of this session of `sub` (`GET /auth/sessions`, the operator API):
    /// the user's `sub` (base64url), a dot, and a one-way hash of the key, so that neither
    /// the cookie value nor the store key can be had from it, and the user's index is found
    /// from the handle alone.
    pub fn handle(&self, sub: &str) -> String {
        let hash = sha256_base64url(format!("oidc-session handle\0{}", self.0).as_bytes());
        format!("{}.{hash}", URL_SAFE_NO_PAD.encode(sub))
    }
}

/// The `sub` a session handle names; `None` for anything that is not a handle.
pub fn sub_of_handle(handle: &str) -> Option<String> {
    let (sub, hash) = handle.split_once('.')?;
    if hash.len() != 43 {
        return None;
    }
    String::from_utf8(URL_SAFE_NO_PAD.decode(sub).ok()?).ok()
}

/// One signed-in browser. Stored as [`SessionRecord::encode`] lays it out.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub identity: Identity,
    /// The provider's session id (`sid`), for back-channel logout.
    pub sid: Option<String>,
    pub claims: Claims,
    pub created_at: u64,
    /// Absolute end (unix seconds); never moved by use or refresh.
    pub expires_at: u64,
    pub access_token_expires_at: Option<u64>,
    /// When the tokens were last refreshed (unix milliseconds); 0 before the first refresh.
    /// Concurrent refreshers compare it to see whether someone else already refreshed.
    pub refreshed_at: u64,
    /// Whether the tokens include a refresh token, so that the hot path need not open them
    /// to know whether a session outlives its access token. `None` for records written
    /// before this was recorded: their tokens are opened to find out.
    pub refreshable: Option<bool>,
    /// `auth_time`, `acr` and `amr` of the latest ID token; empty for records written
    /// before they were kept.
    pub authentication: Authentication,
    /// The browser's `User-Agent` at sign-in (at most 256 characters, no control
    /// characters), for the user's list of sessions.
    pub user_agent: Option<String>,
    pub tokens: StoredTokens,
    /// With `OIDC_SESSION_ENCRYPTION_KEY`: the metadata's authentication tag (keyed
    /// BLAKE3), so that a record changed in the store reads as no session.
    pub tag: Option<[u8; 32]>,
    /// The metadata as read from the store, which the tag is checked against.
    pub stored: StoredMetadata,
}

/// A login that has been started and not yet finished, as its sealed cookie carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub nonce: Secret,
    pub pkce_verifier: Secret,
    pub return_to: String,
    /// Unix seconds; `OIDC_LOGIN_TIMEOUT` after the login started.
    pub expires_at: u64,
    /// The step-up this login asked the provider for (`max_age`, `acr_values`), checked at
    /// the callback; empty for a plain login.
    #[serde(default, skip_serializing_if = "StepUp::is_empty")]
    pub step_up: StepUp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_session_ids_are_accepted() {
        for _ in 0..100 {
            let id = SessionId::generate();
            assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        }
        // The last: 43 characters whose final one carries bits past the 32 bytes.
        let stray_bits = format!("{}B", "A".repeat(42));
        for bad in [
            "",
            "x",
            "../../etc/passwd",
            &"A".repeat(44),
            &"!".repeat(43),
            &stray_bits,
        ] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_pending_login_debug_output_shows_neither_its_nonce_nor_its_pkce_verifier() {
        let pending = PendingLogin {
            nonce: Secret::new("nonce-value-123".into()),
            pkce_verifier: Secret::new("verifier-value-456".into()),
            return_to: "/".into(),
            expires_at: 0,
            step_up: StepUp::default(),
        };
        let debug = format!("{pending:?}");
        assert!(
            !debug.contains("nonce-value-123") && !debug.contains("verifier-value-456"),
            "{debug}"
        );
        let json = serde_json::to_string(&pending).unwrap();
        assert!(json.contains("nonce-value-123"), "stored as before: {json}");
    }

    #[test]
    fn a_session_id_debug_output_hides_the_cookie_value() {
        let id = SessionId::generate();
        assert!(!format!("{id:?}").contains(id.as_str()));
    }

    #[test]
    fn a_session_key_does_not_contain_the_cookie_value() {
        let id = SessionId::generate();
        assert!(!id.key().0.contains(id.as_str()));
        assert_eq!(id.key().0.len(), 43);
        assert_eq!(id.key(), id.key(), "stable");
    }
}
