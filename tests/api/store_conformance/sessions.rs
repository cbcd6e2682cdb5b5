//! Sessions: round trip, idle and absolute expiry, update, remove, the gauge.

use std::time::Duration;

use oidc_session::session::{now, SessionId};

use super::{session, sleep, Store, LONG};

pub(super) async fn a_saved_session_loads_back_unchanged(store: Store) {
    let (key, record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    assert_eq!(
        store.load(&key, LONG, now()).await.unwrap(),
        Some(record.clone()),
        "load"
    );
    assert_eq!(store.peek(&key).await.unwrap(), Some(record), "peek");
}

pub(super) async fn unknown_sessions_read_as_absent(store: Store) {
    let key = SessionId::generate().key();
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), None, "load");
    assert_eq!(store.peek(&key).await.unwrap(), None, "peek");
    assert_eq!(store.remove(&key).await.unwrap(), None, "remove");
    let (_, record) = session(LONG);
    assert!(!store.update(&key, &record, LONG).await.unwrap(), "update");
    assert_eq!(store.peek(&key).await.unwrap(), None, "an update created nothing");
}

/// Idle timeouts are whole seconds in every backend; the margins below allow for that.
pub(super) async fn load_slides_the_idle_expiry_and_peek_does_not(store: Store) {
    let idle = Duration::from_secs(1);
    let (used, record) = session(LONG);
    store.save(&used, &record, idle).await.unwrap();
    let (peeked, record) = session(LONG);
    store.save(&peeked, &record, idle).await.unwrap();

    assert!(store
        .load(&used, Duration::from_secs(4), now())
        .await
        .unwrap()
        .is_some());
    assert!(store.peek(&peeked).await.unwrap().is_some());
    sleep(2.5).await;

    assert!(
        store.peek(&used).await.unwrap().is_some(),
        "a load slid the idle expiry"
    );
    assert_eq!(store.peek(&peeked).await.unwrap(), None, "a peek did not slide it");
    assert_eq!(
        store.load(&peeked, LONG, now()).await.unwrap(),
        None,
        "nor can a load revive it"
    );
}

pub(super) async fn load_never_slides_a_session_past_its_absolute_end(store: Store) {
    let (key, record) = session(Duration::from_secs(2));
    store.save(&key, &record, LONG).await.unwrap();
    assert!(store.load(&key, LONG, now()).await.unwrap().is_some());
    assert!(store.update(&key, &record, LONG).await.unwrap());
    sleep(2.5).await;

    assert_eq!(store.peek(&key).await.unwrap(), None, "peek");
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), None, "load");
    assert!(!store.update(&key, &record, LONG).await.unwrap(), "update");
}

pub(super) async fn a_session_past_its_absolute_end_reads_as_absent(store: Store) {
    let (key, record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    let end = record.expires_at;
    assert_eq!(
        store.load(&key, LONG, end).await.unwrap(),
        None,
        "load at its absolute end"
    );
    assert_eq!(store.peek(&key).await.unwrap(), None, "and it is gone");

    let (ended, mut record) = session(LONG);
    record.expires_at = now() - 10;
    store.save(&ended, &record, LONG).await.unwrap();
    assert_eq!(
        store.load(&ended, LONG, now()).await.unwrap(),
        None,
        "load of one saved ended"
    );
    assert_eq!(store.peek(&ended).await.unwrap(), None, "peek of one saved ended");
    assert!(
        !store.update(&ended, &record, LONG).await.unwrap(),
        "update of one saved ended"
    );
}

pub(super) async fn an_update_rewrites_a_live_session(store: Store) {
    let (key, mut record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    record.refreshed_at = 1_700_000_000_123;
    record.access_token_expires_at = Some(now() + 900);
    record.identity.groups = vec!["admins".into()];
    assert!(store.update(&key, &record, LONG).await.unwrap());
    assert_eq!(store.peek(&key).await.unwrap(), Some(record.clone()), "peek");
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), Some(record), "load");
}

pub(super) async fn an_update_after_remove_is_false_and_never_resurrects_the_session(store: Store) {
    let (key, mut record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    assert!(store.remove(&key).await.unwrap().is_some());

    record.refreshed_at = 42;
    assert!(!store.update(&key, &record, LONG).await.unwrap());
    assert_eq!(store.peek(&key).await.unwrap(), None, "peek");
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), None, "load");
    assert!(
        store.keys_by_sub(&record.identity.sub).await.unwrap().is_empty(),
        "not listed by sub"
    );
}

pub(super) async fn remove_returns_the_record_once(store: Store) {
    let (key, record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    assert_eq!(store.remove(&key).await.unwrap(), Some(record));
    assert_eq!(store.remove(&key).await.unwrap(), None, "the second time");
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), None, "and it is gone");
}

pub(super) async fn count_sessions_counts_live_sessions(store: Store) {
    let t = now();
    assert_eq!(store.count_sessions(t).await.unwrap(), 0, "a fresh store");
    let (short, short_record) = session(Duration::from_secs(60));
    store.save(&short, &short_record, LONG).await.unwrap();
    let (long, long_record) = session(LONG);
    store.save(&long, &long_record, LONG).await.unwrap();
    assert_eq!(store.count_sessions(t).await.unwrap(), 2);

    store.remove(&short).await.unwrap();
    store.remove(&short).await.unwrap();
    assert_eq!(store.count_sessions(t).await.unwrap(), 1, "a removal counts once");
    // An upper bound may keep counting until ten minutes past the absolute end, no longer.
    let past_the_end = long_record.expires_at + 600;
    assert_eq!(
        store.count_sessions(past_the_end).await.unwrap(),
        0,
        "past its absolute end"
    );
}

pub(super) async fn peek_many_reads_several_sessions_with_their_expiry_and_none_for_ended_ones(store: Store) {
    let idle = Duration::from_secs(600);
    let (a, record_a) = session(LONG);
    let (b, record_b) = session(LONG);
    let (gone, record_gone) = session(LONG);
    for (key, record) in [(&a, &record_a), (&b, &record_b), (&gone, &record_gone)] {
        store.save(key, record, idle).await.unwrap();
    }
    store.remove(&gone).await.unwrap();
    let before = now();
    let read = store.peek_many(&[a.clone(), gone, b.clone()]).await.unwrap();
    assert_eq!(read.len(), 3);
    let (first, until) = read[0].clone().expect("a is live");
    assert_eq!(first, record_a);
    assert!(
        (before + 598..=now() + 601).contains(&until),
        "expires after the idle timeout: {until}"
    );
    assert!(read[1].is_none(), "an ended session reads as None");
    assert_eq!(read[2].as_ref().map(|(r, _)| r), Some(&record_b));
    assert!(store.peek_many(&[]).await.unwrap().is_empty());
}
