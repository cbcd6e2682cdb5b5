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
