//! Refresh locks: exclusive, released only by their owner, expiring by themselves.

use std::time::Duration;

use oidc_session::session::SessionId;

use super::{sleep, Store, LONG};

pub(super) async fn a_lock_is_exclusive_until_its_owner_unlocks_it(store: Store) {
    let key = SessionId::generate().key();
    assert!(
        store.try_lock(&key, "tab-a", LONG).await.unwrap(),
        "a free lock is taken"
    );
    assert!(
        !store.try_lock(&key, "tab-b", LONG).await.unwrap(),
        "a held lock is not"
    );

    let other = SessionId::generate().key();
    assert!(
        store.try_lock(&other, "tab-b", LONG).await.unwrap(),
        "locks are per session"
    );

    store.unlock(&key, "tab-a").await.unwrap();
    assert!(
        store.try_lock(&key, "tab-b", LONG).await.unwrap(),
        "free again after unlock"
    );
}

pub(super) async fn only_the_owner_of_a_lock_can_unlock_it(store: Store) {
    let key = SessionId::generate().key();
    assert!(store.try_lock(&key, "tab-a", LONG).await.unwrap());
    store.unlock(&key, "tab-b").await.unwrap();
    assert!(
        !store.try_lock(&key, "tab-c", LONG).await.unwrap(),
        "still held after another owner's unlock"
    );
    store.unlock(&key, "tab-a").await.unwrap();
    assert!(store.try_lock(&key, "tab-c", LONG).await.unwrap());
}

pub(super) async fn a_lock_expires_by_itself(store: Store) {
    let key = SessionId::generate().key();
    assert!(store
        .try_lock(&key, "crashed", Duration::from_millis(300))
        .await
        .unwrap());
    sleep(0.8).await;
    assert!(
        store.try_lock(&key, "next", LONG).await.unwrap(),
        "taken after it expired"
    );
    store.unlock(&key, "crashed").await.unwrap();
    assert!(
        !store.try_lock(&key, "third", LONG).await.unwrap(),
        "the expired owner's unlock frees nothing"
    );
}
