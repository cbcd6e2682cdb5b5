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
mod tests {
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    use super::*;
    use crate::crypto::KeyRing;
    use crate::session::{SessionKey, Tokens};

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    fn key() -> SessionKey {
        SessionKey("k".repeat(43))
    }

    fn record(keys: Option<&KeyRing>) -> SessionRecord {
        let tokens = Tokens {
            id_token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl".into(),
            access_token: "opaque-access".into(),
            refresh_token: Some("opaque-refresh".into()),
        };
        SessionRecord {
            identity: Identity {
                sub: "alice".into(),
                username: Some("älice".into()),
                email: None,
                email_verified: Some(true),
                name: None,
                groups: vec!["users".into()],
            },
            sid: Some("sid-1".into()),
            claims: Claims::new(json!({"sub": "alice", "nested": {"a": [1, 2]}}).as_object().unwrap()),
            created_at: 1_700_000_000,
            expires_at: 1_700_086_400,
            access_token_expires_at: None,
            refreshed_at: 1_700_000_000_123,
            refreshable: Some(true),
            authentication: Authentication {
                auth_time: Some(1_699_999_990),
                acr: Some("mfa".into()),
                amr: vec!["pwd".into(), "otp".into()],
            },
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()),
            tokens: StoredTokens::seal(&tokens, keys, &key()).unwrap(),
            tag: keys.map(|_| [7; 32]),
            stored: StoredMetadata::default(),
        }
    }

    #[test]
    fn a_record_comes_back_whole_plain_or_sealed() {
        let ring = KeyRing::parse(K1).unwrap();
        for keys in [None, Some(&ring)] {
            let original = record(keys);
            let value = original.encode();
            assert_eq!(value[0], FORMAT_VERSION);
            let decoded = SessionRecord::decode(&value).unwrap();
            assert_eq!(decoded, original);
            assert_eq!(decoded.tokens.open(keys, &key()).unwrap().access_token, "opaque-access");
        }
    }

    #[test]
    fn a_record_written_before_refreshability_was_recorded_reads_as_unknown_and_keeps_its_layout() {
        let mut legacy = record(None);
        legacy.refreshable = None;
        legacy.authentication = Authentication::default();
        legacy.user_agent = None;
        let metadata = legacy.metadata_bytes();
        let elements = serde_json::from_slice::<Vec<serde_json::Value>>(&metadata).unwrap();
        assert_eq!(
            elements.len(),
            7,
            "the older layout: {}",
            String::from_utf8_lossy(&metadata)
        );
        let value = legacy.encode();
        let decoded = SessionRecord::decode(&value).unwrap();
        assert_eq!(decoded.refreshable, None);
        assert_eq!(
            decoded.encode(),
            value,
            "written back byte for byte, so its tag still verifies"
        );

        let mut current = record(None);
        current.authentication = Authentication::default();
        current.user_agent = None;
        let elements = serde_json::from_slice::<Vec<serde_json::Value>>(&current.metadata_bytes()).unwrap();
        assert_eq!(elements.last(), Some(&json!(true)));
        assert_eq!(
            SessionRecord::decode(&current.encode()).unwrap().refreshable,
            Some(true)
        );
    }

    #[test]
    fn a_record_without_authentication_claims_keeps_the_eight_element_layout() {
        let mut older = record(None);
        older.authentication = Authentication::default();
        older.user_agent = None;
        let value = older.encode();
        let decoded = SessionRecord::decode(&value).unwrap();
        assert_eq!(decoded.authentication, Authentication::default());
        assert_eq!(decoded.encode(), value, "written back byte for byte");
    }

    #[test]
    fn authentication_claims_keep_their_place_even_when_refreshability_is_unknown() {
        let mut record = record(None);
        record.refreshable = None;
        record.user_agent = None;
        let metadata = record.metadata_bytes();
        let elements = serde_json::from_slice::<Vec<serde_json::Value>>(&metadata).unwrap();
        assert_eq!(elements.len(), 9);
        assert_eq!(elements[7], json!(null));
        let decoded = SessionRecord::decode(&record.encode()).unwrap();
        assert_eq!(decoded.refreshable, None);
        assert_eq!(decoded.authentication.auth_time, Some(1_699_999_990));
        assert_eq!(decoded.authentication.amr, ["pwd", "otp"]);
    }

    #[test]
    fn a_user_agent_alone_keeps_its_place_after_empty_earlier_elements() {
        let mut record = record(None);
        record.refreshable = None;
        record.authentication = Authentication::default();
        let elements = serde_json::from_slice::<Vec<serde_json::Value>>(&record.metadata_bytes()).unwrap();
        assert_eq!(elements.len(), 10);
        assert_eq!((&elements[7], &elements[8]), (&json!(null), &json!({})));
        let decoded = SessionRecord::decode(&record.encode()).unwrap();
        assert_eq!(decoded, record);
    }

    #[test]
    fn every_truncation_of_a_value_is_an_error_never_a_panic() {
        let ring = KeyRing::parse(K1).unwrap();
        for keys in [None, Some(&ring)] {
            let value = record(keys).encode();
            for end in 0..value.len() {
                let opened = SessionRecord::decode(&value[..end])
                    .map_err(|_| ())
                    .and_then(|r| r.tokens.open(keys, &key()).map_err(|_| ()));
                assert!(opened.is_err(), "cut at {end} of {}", value.len());
            }
        }
    }

    #[test]
    fn values_of_another_layout_or_damaged_ones_are_refused() {
        let value = record(None).encode();
        let old_json = br#"{"identity":{"sub":"alice"},"tokens":{"plain":{}}}"#;
        assert!(matches!(
            SessionRecord::decode(old_json),
            Err(RecordError::Version(Some(b'{')))
        ));
        assert!(matches!(SessionRecord::decode(b""), Err(RecordError::Version(None))));
        let mut future = value.clone();
        future[0] = 2;
        assert!(matches!(
            SessionRecord::decode(&future),
            Err(RecordError::Version(Some(2)))
        ));
        let mut huge = value.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(SessionRecord::decode(&huge), Err(RecordError::Truncated)));
        let mut mode = value.clone();
        let at = HEADER + u32::from_be_bytes(value[1..5].try_into().unwrap()) as usize;
        mode[at] = 7;
        assert!(matches!(SessionRecord::decode(&mode), Err(RecordError::TokenMode(7))));
        let mut metadata = value.clone();
        metadata[HEADER] = b'{';
        assert!(matches!(
            SessionRecord::decode(&metadata),
            Err(RecordError::Metadata(_))
        ));

        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..5000 {
            let mut bytes = value.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] = rng.gen();
            }
            if let Ok(r) = SessionRecord::decode(&bytes) {
                let _ = r.tokens.open(None, &key()); // Ok or Err; no panic
            }
        }
    }

    #[test]
    fn a_value_written_with_another_key_ring_does_not_open() {
        let value = record(Some(&KeyRing::parse(K1).unwrap())).encode();
        let decoded = SessionRecord::decode(&value).unwrap();
        assert!(decoded.tokens.is_sealed());
        assert!(decoded.tokens.open(Some(&KeyRing::parse(K2).unwrap()), &key()).is_err());
        assert!(decoded.tokens.open(None, &key()).is_err());
    }
}
