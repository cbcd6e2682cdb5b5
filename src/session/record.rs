//! A session's value in Redis: one binary string.
//!
//! ```text
//! version (1 byte) | metadata length (u32, big-endian) | metadata (a JSON array) | token mode (1 byte) | tokens
//! ```
//!
//! The version byte comes first so that a value of another layout (or not ours) is refused,
//! never mis-read. The metadata is everything the hot path needs (identity, `sid`, claims,
//! times); the tokens after it stay as bytes until someone opens them (see [`super::tokens`]).

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::tokens::StoredTokens;
use super::{Claims, SessionRecord};
use crate::domain::{Authentication, Identity};

/// The layout written today. A change of layout gets a new number.
pub const FORMAT_VERSION: u8 = 1;

const PLAIN: u8 = 0;
const SEALED: u8 = 1;
/// Sealed tokens, preceded by the metadata's 32-byte authentication tag.
const SEALED_TAGGED: u8 = 2;
const TAG: usize = 32;
/// Version byte and metadata length.
const HEADER: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the stored value is not a session of format {FORMAT_VERSION} (first byte {0:?})")]
    Version(Option<u8>),
    #[error("the stored session is truncated")]
    Truncated,
    #[error("the stored session's metadata is not valid")]
    Metadata(#[source] serde_json::Error),
    #[error("the stored session's tokens have an unknown mode ({0})")]
    TokenMode(u8),
}

/// The metadata exactly as a record was read from the store, so that its authentication
/// tag is checked against the stored bytes rather than a re-serialization of the parsed
/// fields (once per request on the hot path). Not part of the record's value: any two are
/// equal. Empty for a record built here, and emptied when a read record is written back
/// (`Sessions::update`), whose metadata may have changed.
#[derive(Clone, Default)]
pub struct StoredMetadata(Option<Bytes>);

impl StoredMetadata {
    pub fn bytes(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }
}

impl PartialEq for StoredMetadata {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for StoredMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredMetadata({} bytes)", self.0.as_ref().map_or(0, Bytes::len))
    }
}

/// [`SessionRecord`] without its tokens, borrowed when written and owned when read: a JSON
/// array (identity, sid, claims, created_at, expires_at, access_token_expires_at,
/// refreshed_at, refreshable, authentication, user_agent), since field names would cost
/// every session about 150 bytes. The last three came later: records written before them
/// have seven to nine elements, and keep them when written back without them, so that their
/// authentication tag still verifies. An element is written (as `null` or `{}` when it is
/// empty) whenever a later one is, so each element keeps its place.
#[derive(Serialize, Deserialize)]
struct Metadata<'a>(
    IdentityRow<'a>,
    Cow<'a, Option<String>>,
    Cow<'a, Claims>,
    u64,
    u64,
    Option<u64>,
    u64,
    #[serde(default, skip_serializing_if = "Option::is_none")] Option<Option<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")] Option<Cow<'a, Authentication>>,
    #[serde(default, skip_serializing_if = "Option::is_none")] Option<Cow<'a, str>>,
);

/// [`Identity`] as an array too: sub, username, email, email_verified, name, groups.
type IdentityRow<'a> = (
    Cow<'a, str>,
    Option<Cow<'a, str>>,
    Option<Cow<'a, str>>,
    Option<bool>,
    Option<Cow<'a, str>>,
    Cow<'a, [String]>,
);

fn identity_row(identity: &Identity) -> IdentityRow<'_> {
    let Identity {
        sub,
        username,
        email,
        email_verified,
        name,
        groups,
    } = identity;
    fn borrow(v: &Option<String>) -> Option<Cow<'_, str>> {
        v.as_deref().map(Cow::Borrowed)
    }
    (
        Cow::Borrowed(sub),
        borrow(username),
        borrow(email),
        *email_verified,
        borrow(name),
        Cow::Borrowed(groups),
    )
}

fn identity_from((sub, username, email, email_verified, name, groups): IdentityRow<'_>) -> Identity {
    Identity {
        sub: sub.into_owned(),
        username: username.map(Cow::into_owned),
        email: email.map(Cow::into_owned),
        email_verified,
        name: name.map(Cow::into_owned),
        groups: groups.into_owned(),
    }
}

impl SessionRecord {
    /// The metadata block as stored: what the authentication tag covers.
    pub fn metadata_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&Metadata(
            identity_row(&self.identity),
            Cow::Borrowed(&self.sid),
            Cow::Borrowed(&self.claims),
            self.created_at,
            self.expires_at,
            self.access_token_expires_at,
            self.refreshed_at,
            // Each of the later elements is written when it or one after it has a value.
            (self.refreshable.is_some() || !self.authentication.is_empty() || self.user_agent.is_some())
                .then_some(self.refreshable),
            (!self.authentication.is_empty() || self.user_agent.is_some())
                .then_some(Cow::Borrowed(&self.authentication)),
            self.user_agent.as_deref().map(Cow::Borrowed),
        ))
        .expect("session metadata serializes")
    }

    pub fn encode(&self) -> Vec<u8> {
        let metadata = self.metadata_bytes();
        let length = u32::try_from(metadata.len()).expect("session metadata under 4 GiB");
        let mode = match (self.tokens.is_sealed(), self.tag) {
            (false, _) => PLAIN,
            (true, None) => SEALED,
            (true, Some(_)) => SEALED_TAGGED,
        };
        let tokens = self.tokens.as_bytes();
        let mut value = Vec::with_capacity(HEADER + metadata.len() + 1 + TAG + tokens.len());
        value.push(FORMAT_VERSION);
        value.extend_from_slice(&length.to_be_bytes());
        value.extend_from_slice(&metadata);
        value.push(mode);
        if let (SEALED_TAGGED, Some(tag)) = (mode, &self.tag) {
            value.extend_from_slice(tag);
        }
        value.extend_from_slice(tokens);
        value
    }

    /// Parses the metadata only; the tokens are kept as they are.
    pub fn decode(value: &[u8]) -> Result<Self, RecordError> {
        Self::decode_owned(Bytes::copy_from_slice(value))
    }

    /// As [`Self::decode`], without copying: the tokens and the stored metadata are slices
    /// of `value`.
    pub fn decode_owned(value: Bytes) -> Result<Self, RecordError> {
        match value.first() {
            Some(&FORMAT_VERSION) => {}
            other => return Err(RecordError::Version(other.copied())),
        }
        let length = value.get(1..HEADER).ok_or(RecordError::Truncated)?;
        let length = u32::from_be_bytes(length.try_into().expect("four bytes")) as usize;
        let (metadata, rest) = value[HEADER..].split_at_checked(length).ok_or(RecordError::Truncated)?;
        let (&mode, tokens) = rest.split_first().ok_or(RecordError::Truncated)?;
        // Where the tokens start in `value`, after the mode byte (and the tag).
        let start = value.len() - tokens.len();
        let (tag, tokens) = match mode {
            PLAIN => (None, StoredTokens::Plain(value.slice(start..))),
            SEALED => (None, StoredTokens::Sealed(value.slice(start..))),
            SEALED_TAGGED => {
                let (tag, _) = tokens.split_first_chunk::<TAG>().ok_or(RecordError::Truncated)?;
                (Some(*tag), StoredTokens::Sealed(value.slice(start + TAG..)))
            }
            other => return Err(RecordError::TokenMode(other)),
        };
        let stored = StoredMetadata(Some(value.slice(HEADER..HEADER + length)));
        let Metadata(
            identity,
            sid,
            claims,
            created_at,
            expires_at,
            access_token_expires_at,
            refreshed_at,
            refreshable,
            authentication,
            user_agent,
        ) = serde_json::from_slice(metadata).map_err(RecordError::Metadata)?;
        Ok(Self {
            identity: identity_from(identity),
            sid: sid.into_owned(),
            claims: claims.into_owned(),
            created_at,
            expires_at,
            access_token_expires_at,
            refreshed_at,
            refreshable: refreshable.flatten(),
            authentication: authentication.map(Cow::into_owned).unwrap_or_default(),
            user_agent: user_agent.map(Cow::into_owned),
            tokens,
            tag,
            stored,
        })
    }
}

#[cfg(test)]
mod tests;
