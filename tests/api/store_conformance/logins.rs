//! Pending logins: single use, expiring.

use std::time::Duration;

use super::{pending_login, sleep, unique, Store, LONG};

pub(super) async fn a_pending_login_is_taken_once(store: Store) {
    let (state, login) = (unique("state"), pending_login());
    store.put_pending(&state, &login, LONG).await.unwrap();
    assert!(store.take_pending(&unique("other-state")).await.unwrap().is_none());
    let taken = store.take_pending(&state).await.unwrap().expect("taken");
    assert_eq!(
        (taken.nonce, taken.pkce_verifier, taken.return_to, taken.binding_hash),
        (login.nonce, login.pkce_verifier, login.return_to, login.binding_hash)
    );
    assert!(store.take_pending(&state).await.unwrap().is_none(), "single use");
}

pub(super) async fn a_pending_login_expires_after_its_ttl(store: Store) {
    let state = unique("state");
    store
        .put_pending(&state, &pending_login(), Duration::from_secs(1))
        .await
        .unwrap();
    sleep(1.6).await;
    assert!(store.take_pending(&state).await.unwrap().is_none());
}
