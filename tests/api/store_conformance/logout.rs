//! What back-channel logout relies on: the indexes by `sid` and `sub`, and seen token ids.

use std::time::Duration;

use oidc_session::session::Mark;

use super::{session_of, sleep, sorted, unique, Store, LONG};

pub(super) async fn the_indexes_list_live_sessions_by_sid_and_by_sub_and_not_removed_ones(store: Store) {
    let (ann, bob) = (unique("ann"), unique("bob"));
    let (laptop_sid, phone_sid) = (unique("laptop"), unique("phone"));
    let (laptop, record) = session_of(&ann, &laptop_sid, LONG);
    store.save(&laptop, &record, LONG).await.unwrap();
    let (phone, record) = session_of(&ann, &phone_sid, LONG);
    store.save(&phone, &record, LONG).await.unwrap();
    let (bobs, record) = session_of(&bob, &unique("sid"), LONG);
    store.save(&bobs, &record, LONG).await.unwrap();

    assert_eq!(
        sorted(store.keys_by_sub(&ann).await.unwrap()),
        sorted(vec![laptop.clone(), phone.clone()])
    );
    assert_eq!(store.keys_by_sid(&laptop_sid).await.unwrap(), vec![laptop.clone()]);
    assert_eq!(store.keys_by_sub(&bob).await.unwrap(), vec![bobs]);
    assert!(store.keys_by_sub(&unique("nobody")).await.unwrap().is_empty());
    assert!(store.keys_by_sid(&unique("no-sid")).await.unwrap().is_empty());

    store.remove(&laptop).await.unwrap();
    assert_eq!(store.keys_by_sub(&ann).await.unwrap(), vec![phone]);
    assert!(store.keys_by_sid(&laptop_sid).await.unwrap().is_empty());
}

pub(super) async fn a_users_sessions_are_listed_oldest_first_by_absolute_end(store: Store) {
    // Saved in neither order of their ends nor of their keys: the per-user limit ends the
    // first ones listed, which must be the oldest.
    let ann = unique("ann");
    let mut saved = Vec::new();
    for minutes in [50, 10, 40, 20, 30] {
        let (key, record) = session_of(&ann, &unique("sid"), Duration::from_secs(60 * minutes));
        store.save(&key, &record, LONG).await.unwrap();
        saved.push((minutes, key));
    }
    saved.sort_by_key(|(minutes, _)| *minutes);
    let oldest_first: Vec<_> = saved.into_iter().map(|(_, key)| key).collect();
    assert_eq!(store.keys_by_sub(&ann).await.unwrap(), oldest_first);
}

pub(super) async fn a_logout_token_id_is_remembered_until_forgotten(store: Store) {
    let jti = unique("jti");
    assert!(
        store.mark_once(Mark::LogoutToken, &jti, LONG).await.unwrap(),
        "first seen"
    );
    assert!(
        !store.mark_once(Mark::LogoutToken, &jti, LONG).await.unwrap(),
        "a replay"
    );
    assert!(
        store.mark_once(Mark::LogoutToken, &unique("jti"), LONG).await.unwrap(),
        "another id"
    );
    store.unmark(Mark::LogoutToken, &jti).await.unwrap();
    assert!(
        store.mark_once(Mark::LogoutToken, &jti, LONG).await.unwrap(),
        "new again once forgotten"
    );
    store.unmark(Mark::LogoutToken, &unique("never-seen")).await.unwrap();
}

pub(super) async fn a_remembered_logout_token_id_expires_after_its_ttl(store: Store) {
    let jti = unique("jti");
    assert!(store
        .mark_once(Mark::LogoutToken, &jti, Duration::from_secs(1))
        .await
        .unwrap());
    sleep(1.6).await;
    assert!(
        store.mark_once(Mark::LogoutToken, &jti, LONG).await.unwrap(),
        "new again after its ttl"
    );
}
