//! A user's own sessions (`GET /auth/sessions`, `DELETE /auth/sessions/{id}`, logout with
//! `everywhere=true`) and the operator's view of anyone's (`/admin/sessions`): listed by
//! an opaque handle, read together in one round trip, ended with their refresh tokens
//! revoked off the request.

use super::sessions::Revocation;
use super::Service;
use crate::domain::now;
use crate::session::{sub_of_handle, SessionKey, SessionRecord, StoreError};

/// One live session as its owner (or an operator) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionInfo {
    /// The opaque handle: neither the cookie value nor the store key.
    pub(crate) id: String,
    pub(crate) sub: String,
    pub(crate) created_at: u64,
    /// When it was last used, to the second (its idle timeout counted back from when it
    /// expires); in a session's last idle period, the start of that period at the latest.
    pub(crate) last_seen_at: u64,
    /// When it ends if it is not used again.
    pub(crate) expires_at: u64,
    pub(crate) user_agent: Option<String>,
    /// The session of the request that asked.
    pub(crate) current: bool,
}

impl Service {
    /// The live sessions of `sub`, oldest first; `current` marks the asking one.
    pub(crate) async fn sessions_of(
        &self,
        sub: &str,
        current: Option<&SessionKey>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let keys = self.sessions.keys_by_sub(sub).await?;
        let idle = self.settings.session.idle_timeout.as_secs();
        let found = self.sessions.peek_many(&keys).await?;
        Ok(found
            .into_iter()
            // The index is the user's; a record of another user there is not shown.
            .filter(|(_, record, _)| record.identity.sub == sub)
            .map(|(key, record, until)| info(&key, record, until, idle, current == Some(&key)))
            .collect())
    }

    /// The key of the session of `sub` whose handle is `id`, if it is live.
    async fn session_by_handle(&self, sub: &str, id: &str) -> Result<Option<SessionKey>, StoreError> {
        if sub_of_handle(id).as_deref() != Some(sub) {
            return Ok(None);
        }
        let keys = self.sessions.keys_by_sub(sub).await?;
        Ok(keys.into_iter().find(|key| key.handle(sub) == id))
    }

    /// Ends the session of `sub` whose handle is `id` (its refresh token revoked off the
    /// request); false when `sub` has no such live session.
    /// `kind` labels the logout in the metrics.
    pub(crate) async fn end_by_handle(&self, sub: &str, id: &str, kind: &'static str) -> Result<bool, StoreError> {
        let Some(key) = self.session_by_handle(sub, id).await? else {
            return Ok(false);
        };
        let ended = self.end(&key, Revocation::Later).await?.is_some();
        if ended {
            self.metrics.logout(kind);
        }
        Ok(ended)
    }

    /// Ends every session of `sub`, each refresh token revoked off the request; how many.
    /// `kind` labels the logouts in the metrics; `except` is left alone (the session of a
    /// logout everywhere, which then ends as a logout does, with `id_token_hint`).
    pub(crate) async fn end_all_of(
        &self,
        sub: &str,
        except: Option<&SessionKey>,
        kind: &'static str,
    ) -> Result<usize, StoreError> {
        let mut ended = 0;
        let keys = self.sessions.keys_by_sub(sub).await?;
        for key in keys.iter().filter(|k| Some(*k) != except) {
            if self.end(key, Revocation::Later).await?.is_some() {
                self.metrics.logout(kind);
                ended += 1;
            }
        }
        Ok(ended)
    }
}

fn info(key: &SessionKey, record: SessionRecord, until: u64, idle: u64, current: bool) -> SessionInfo {
    let now = now();
    let last_seen_at = until
        .saturating_sub(idle)
        .clamp(record.created_at, now.max(record.created_at));
    SessionInfo {
        id: key.handle(&record.identity.sub),
        sub: record.identity.sub,
        created_at: record.created_at,
        last_seen_at,
        expires_at: until,
        user_agent: record.user_agent,
        current,
    }
}
