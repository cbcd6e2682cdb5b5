//! The encrypting persistence layer: what the service stores and reads, above any
//! [`SessionStore`] backend. Tokens go in and come out in clear; in between they are
//! packed and sealed here, so neither the service nor a backend ever handles ciphertext
//! (oauth2-proxy's persistence layer works the same way).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::store::Mark;
use super::tokens::{TooLarge, MAX_RECORD_BYTES};
use super::{
    Authentication, Claims, Identity, SessionKey, SessionRecord, SessionStore, StoreError, StoredMetadata,
    StoredTokens, Tokens,
};
use crate::crypto::{KeyRing, Purpose};

/// A session about to be created: everything but the sealed form of its tokens.
pub struct NewSession {
    pub identity: Identity,
    pub sid: Option<String>,
    pub claims: Claims,
    pub created_at: u64,
    pub expires_at: u64,
    pub access_token_expires_at: Option<u64>,
    /// The ID token's `auth_time`, `acr` and `amr`.
    pub authentication: Authentication,
    /// The browser's `User-Agent` at sign-in, already cleaned and shortened.
    pub user_agent: Option<String>,
    pub tokens: Tokens,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The session store as the service sees it.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    keys: Option<KeyRing>,
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, keys: Option<KeyRing>) -> Self {
        let keys = keys.map(|ring| ring.for_purpose(Purpose::Tokens));
        Self { store, keys }
    }

    /// Ends a session, returning what it held (its tokens for revocation).
    pub async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.store.remove(key).await
    }

    /// Takes the session's refresh lock for `ttl`; false when another holder has it.
    pub async fn lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.store.try_lock(key, owner, ttl).await
    }

    /// Releases the refresh lock if `owner` still holds it.
    pub async fn unlock(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        self.store.unlock(key, owner).await
    }

    /// Keys of the sessions created with the provider session `sid` (some may have ended).
    pub async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.store.keys_by_sid(sid).await
    }

    /// Keys of the sessions of user `sub` (some may have ended).
    pub async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.store.keys_by_sub(sub).await
    }

    /// Remembers a logout token (`iss` and `jti`) for `ttl`; false for a replay.
    pub async fn remember_logout_token(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.store.mark_once(Mark::LogoutToken, id, ttl).await
    }

    /// Forgets a logout token, so that a logout which did not complete can be retried.
    pub async fn forget_logout_token(&self, id: &str) -> Result<(), StoreError> {
        self.store.unmark(Mark::LogoutToken, id).await
    }

    /// Whether a revalidation of this session failed recently (a provider outage).
    pub async fn revalidation_backed_off(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.store.is_marked(Mark::RevalidationBackoff, &key.0).await
    }

    /// No revalidation of this session for `ttl`; best effort (a store failure only means
    /// an earlier retry).
    pub async fn back_off_revalidation(&self, key: &SessionKey, ttl: Duration) {
        if let Err(e) = self.store.mark_once(Mark::RevalidationBackoff, &key.0, ttl).await {
            tracing::debug!(error = %crate::util::error_chain(&e), "recording a revalidation back-off failed");
        }
    }

    /// Live sessions (an upper bound), for the metrics gauge.
    pub async fn count(&self, now: u64) -> Result<u64, StoreError> {
        self.store.count_sessions(now).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    pub async fn create(&self, key: &SessionKey, new: NewSession, idle: Duration) -> Result<(), SaveError> {
        let mut record = SessionRecord {
            tokens: StoredTokens::seal(&new.tokens, self.keys.as_ref(), key)?,
            identity: new.identity,
            sid: new.sid,
            claims: new.claims,
            created_at: new.created_at,
            expires_at: new.expires_at,
            access_token_expires_at: new.access_token_expires_at,
            refreshed_at: 0,
            refreshable: Some(new.tokens.refresh_token.is_some()),
            authentication: new.authentication,
            user_agent: new.user_agent,
            tag: None,
            stored: StoredMetadata::default(),
        };
        record.tag = self.tag(key, &record);
        within_limit(&record)?;
        Ok(self.store.save(key, &record, idle).await?)
    }

    /// Rewrites a live session with new tokens; false when it ended meanwhile.
    pub async fn update(
        &self,
        key: &SessionKey,
        mut record: SessionRecord,
        tokens: &Tokens,
        idle: Duration,
    ) -> Result<(SessionRecord, bool), SaveError> {
        record.tokens = StoredTokens::seal(tokens, self.keys.as_ref(), key)?;
        record.refreshable = Some(tokens.refresh_token.is_some());
        record.stored = StoredMetadata::default();
        record.tag = self.tag(key, &record);
        within_limit(&record)?;
        let updated = self.store.update(key, &record, idle).await?;
        Ok((record, updated))
    }

    /// Reads a live session and slides its idle timeout (one store round trip).
    pub async fn load(&self, key: &SessionKey, idle: Duration, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        let record = self.store.load(key, idle, now).await?;
        Ok(record.filter(|r| self.authentic(key, r)))
    }

    /// Reads several sessions without touching them, each with when it expires (Unix
    /// seconds), in one round trip; sessions that ended or do not verify are left out.
    pub async fn peek_many(&self, keys: &[SessionKey]) -> Result<Vec<(SessionKey, SessionRecord, u64)>, StoreError> {
        let found = self.store.peek_many(keys).await?;
        Ok(keys
            .iter()
            .zip(found)
            .filter_map(|(key, found)| found.map(|(record, until)| (key.clone(), record, until)))
            .filter(|(key, record, _)| self.authentic(key, record))
            .collect())
    }

    /// Reads a session without touching it.
    pub async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let record = self.store.peek(key).await?;
        Ok(record.filter(|r| self.authentic(key, r)))
    }

    /// The metadata's tag, bound to the session key, when a key ring is configured.
    fn tag(&self, key: &SessionKey, record: &SessionRecord) -> Option<[u8; 32]> {
        let ring = self.keys.as_ref()?;
        Some(ring.tag(&[key.0.as_bytes(), &record.metadata_bytes()]))
    }

    /// With a key ring, a record whose metadata was changed in the store (or moved to
    /// another session's key) is no session: whoever can write to Redis cannot grant
    /// themselves groups. Without one there is nothing to check against.
    fn authentic(&self, key: &SessionKey, record: &SessionRecord) -> bool {
        let Some(ring) = &self.keys else {
            return true;
        };
        let metadata = match record.stored.bytes() {
            Some(stored) => Cow::Borrowed(stored),
            None => Cow::Owned(record.metadata_bytes()),
        };
        let valid = record
            .tag
            .is_some_and(|tag| ring.verify(&tag, &[key.0.as_bytes(), &metadata]));
        if !valid {
            tracing::warn!("a stored session failed its integrity check: treated as no session");
        }
        valid
    }

    /// The session's tokens; `None` when they cannot be opened with any configured key
    /// (written under a key since removed, or damaged).
    pub fn tokens(&self, key: &SessionKey, record: &SessionRecord) -> Option<Tokens> {
        record.tokens.open(self.keys.as_ref(), key).ok()
    }
}

/// The whole record is measured, as stored: the tokens' own check leaves out the claims
/// and the parts of tokens kept raw.
fn within_limit(record: &SessionRecord) -> Result<(), TooLarge> {
    let len = record.encode().len();
    if len > MAX_RECORD_BYTES {
        return Err(TooLarge(len));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::memory::MemoryStore;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn record() -> SessionRecord {
        let tokens = Tokens {
            id_token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln".into(),
            access_token: "access".into(),
            refresh_token: None,
        };
        SessionRecord {
            identity: Identity {
                sub: "alice".into(),
                groups: vec!["users".into()],
                ..Identity::default()
            },
            sid: None,
            claims: Claims::default(),
            created_at: 1_700_000_000,
            expires_at: 1_700_086_400,
            access_token_expires_at: None,
            refreshed_at: 0,
            refreshable: Some(false),
            authentication: Authentication::default(),
            user_agent: None,
            tokens: StoredTokens::seal(&tokens, Some(&KeyRing::parse(KEY).unwrap()), &key()).unwrap(),
            tag: None,
            stored: StoredMetadata::default(),
        }
    }

    fn key() -> SessionKey {
        SessionKey("k".repeat(43))
    }

    #[test]
    fn a_record_read_from_the_store_is_checked_against_the_bytes_read_not_a_rewrite_of_its_fields() {
        let sessions = Sessions::new(Arc::new(MemoryStore::new()), Some(KeyRing::parse(KEY).unwrap()));
        let mut built = record();
        built.tag = sessions.tag(&key(), &built);
        assert!(
            sessions.authentic(&key(), &built),
            "built here: checked against its fields"
        );
        let value = built.encode();
        let read = SessionRecord::decode(&value).unwrap();
        assert!(sessions.authentic(&key(), &read), "read as written");

        // The same metadata with a space added: it reads back as the same fields, but it is
        // not what was tagged.
        let length = u32::from_be_bytes(value[1..5].try_into().unwrap()) as usize;
        let metadata = std::str::from_utf8(&value[5..5 + length])
            .unwrap()
            .replacen(',', ", ", 1);
        let mut respaced = vec![value[0]];
        respaced.extend_from_slice(&u32::try_from(metadata.len()).unwrap().to_be_bytes());
        respaced.extend_from_slice(metadata.as_bytes());
        respaced.extend_from_slice(&value[5 + length..]);
        let changed = SessionRecord::decode(&respaced).unwrap();
        assert_eq!(changed, read, "the same fields");
        assert!(!sessions.authentic(&key(), &changed));
    }
}
