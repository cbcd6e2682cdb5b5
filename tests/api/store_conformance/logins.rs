//! Logins: a completed login's `state` is claimed once; the key that seals pending logins
//! is shared by every replica.

use std::time::Duration;

use super::{sleep, unique, Store, LONG};

pub(super) async fn a_login_state_is_claimed_once(store: Store) {
    let state = unique("state");
    assert!(!store.login_claimed(&state).await.unwrap(), "not claimed yet");
    assert!(store.claim_login(&state, LONG).await.unwrap(), "the first claim");
    assert!(store.login_claimed(&state).await.unwrap(), "claimed");
    assert!(!store.claim_login(&state, LONG).await.unwrap(), "a second claim");
    assert!(!store.login_claimed(&unique("state")).await.unwrap(), "another state");
}

pub(super) async fn a_login_claim_expires_after_its_ttl(store: Store) {
    let state = unique("state");
    assert!(store.claim_login(&state, Duration::from_secs(1)).await.unwrap());
    sleep(1.6).await;
    assert!(!store.login_claimed(&state).await.unwrap());
}

pub(super) async fn the_first_shared_key_written_is_the_one_every_caller_gets(store: Store) {
    let (first, second) = ([1u8; 32], [2u8; 32]);
    assert_eq!(store.shared_key("login-key", &first).await.unwrap(), first);
    assert_eq!(store.shared_key("login-key", &second).await.unwrap(), first, "kept");
    assert_eq!(
        store.shared_key("other-key", &second).await.unwrap(),
        second,
        "per name"
    );
}
