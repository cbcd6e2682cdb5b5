//! Logins: a completed login's `state` is claimed once; the key that seals pending logins
//! is shared by every replica.

use std::time::Duration;

use oidc_session::session::Mark;

use super::{sleep, unique, Store, LONG};

pub(super) async fn a_login_state_is_claimed_once(store: Store) {
    let state = unique("state");
    assert!(!store.is_marked(Mark::Login, &state).await.unwrap(), "not claimed yet");
    assert!(
        store.mark_once(Mark::Login, &state, LONG).await.unwrap(),
        "the first claim"
    );
    assert!(store.is_marked(Mark::Login, &state).await.unwrap(), "claimed");
    assert!(
        !store.mark_once(Mark::Login, &state, LONG).await.unwrap(),
        "a second claim"
    );
    assert!(
        !store.is_marked(Mark::Login, &unique("state")).await.unwrap(),
        "another state"
    );
}

pub(super) async fn a_login_claim_expires_after_its_ttl(store: Store) {
    let state = unique("state");
    assert!(store
        .mark_once(Mark::Login, &state, Duration::from_secs(1))
        .await
        .unwrap());
    sleep(1.6).await;
    assert!(!store.is_marked(Mark::Login, &state).await.unwrap());
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

pub(super) async fn marks_of_different_kinds_do_not_see_each_other(store: Store) {
    let id = unique("id");
    assert!(store.mark_once(Mark::Login, &id, LONG).await.unwrap());
    assert!(
        !store.is_marked(Mark::LogoutToken, &id).await.unwrap(),
        "a login is no logout token"
    );
    assert!(
        store.mark_once(Mark::LogoutToken, &id, LONG).await.unwrap(),
        "its own key space"
    );
    store.unmark(Mark::LogoutToken, &id).await.unwrap();
    assert!(
        store.is_marked(Mark::Login, &id).await.unwrap(),
        "unmarking one kind leaves the other"
    );
}
