//! One conformance suite for every `SessionStore` backend: the in-memory store and the
//! Redis store against standalone Redis, Sentinel and Cluster. Each check is the
//! contract of the trait's doc comments, in a sentence; every backend runs every check
//! on a fresh, empty store (a new `MemoryStore`, or a new key prefix on the same Redis).
//!
//! A backend test runs all checks and names every one that failed, so a divergence
//! between backends reads as a list rather than the first panic.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use oidc_session::config::{RedisMode, RedisSettings, Secret};
use oidc_session::session::memory::MemoryStore;
use oidc_session::session::redis::RedisStore;
use oidc_session::session::{
    now, Claims, Identity, PendingLogin, SessionId, SessionKey, SessionRecord, SessionStore, StoredTokens, Tokens,
};
use oidc_session::telemetry::metrics::Metrics;
use serde_json::json;

use crate::common::redis::TestRedis;
use crate::common::topology::{TestCluster, TestSentinel, MASTER_NAME};

const LONG: Duration = Duration::from_secs(3600);

type Store = Arc<dyn SessionStore>;
type Check = fn(Store) -> BoxFuture<'static, ()>;

macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        const CHECKS: &[(&str, Check)] = &[$((stringify!($check), |store| Box::pin($check(store)))),*];
    };
}

checks![
    a_saved_session_loads_back_unchanged,
    unknown_sessions_read_as_absent,
    load_slides_the_idle_expiry_and_peek_does_not,
    load_never_slides_a_session_past_its_absolute_end,
    a_session_past_its_absolute_end_reads_as_absent,
    an_update_rewrites_a_live_session,
    an_update_after_remove_is_false_and_never_resurrects_the_session,
    remove_returns_the_record_once,
    a_lock_is_exclusive_until_its_owner_unlocks_it,
    only_the_owner_of_a_lock_can_unlock_it,
    a_lock_expires_by_itself,
    the_indexes_list_live_sessions_by_sid_and_by_sub_and_not_removed_ones,
    a_logout_token_id_is_remembered_until_forgotten,
    a_remembered_logout_token_id_expires_after_its_ttl,
    a_pending_login_is_taken_once,
    a_pending_login_expires_after_its_ttl,
    count_sessions_counts_live_sessions,
    ping_answers,
];

/// Runs every check, each on a fresh store from `fresh`, and fails naming those that failed.
async fn conforms(backend: &str, fresh: impl Fn() -> Store) {
    let mut failed = Vec::new();
    for (name, check) in CHECKS {
        if let Err(panic) = AssertUnwindSafe(check(fresh())).catch_unwind().await {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("  {name}: {message}"));
        }
    }
    assert!(
        failed.is_empty(),
        "the {backend} store fails {} of {} checks:\n{}",
        failed.len(),
        CHECKS.len(),
        failed.join("\n")
    );
}

#[tokio::test]
async fn the_memory_store_conforms() {
    conforms("memory", || Arc::new(MemoryStore::new())).await;
}

/// Fresh Redis stores on one deployment: each with a key prefix of its own.
struct RedisStores {
    mode: RedisMode,
    metrics: Arc<Metrics>,
    made: AtomicUsize,
}

impl RedisStores {
    fn new(mode: RedisMode) -> Self {
        Self {
            mode,
            metrics: Arc::new(Metrics::new()),
            made: AtomicUsize::new(0),
        }
    }

    fn fresh(&self) -> Store {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let settings = RedisSettings {
            mode: self.mode.clone(),
            key_prefix: format!("conformance-{n}:"),
        };
        Arc::new(RedisStore::new(&settings, self.metrics.clone()).expect("a Redis store"))
    }

    async fn conform(&self, backend: &str) {
        conforms(backend, || self.fresh()).await;
        assert_eq!(self.metrics.redis_errors.get(), 0, "no check met a Redis error");
    }
}

#[tokio::test]
async fn the_redis_store_conforms_on_a_standalone_server() {
    let redis = TestRedis::start();
    let url = Secret::new(redis.url.clone());
    RedisStores::new(RedisMode::Standalone { url })
        .conform("standalone Redis")
        .await;
}

#[tokio::test]
async fn the_redis_store_conforms_on_sentinel() {
    let sentinel = TestSentinel::start();
    let mode = RedisMode::Sentinel {
        sentinels: vec![sentinel.sentinel_addr.clone()],
        master: MASTER_NAME.to_owned(),
        sentinel_password: None,
        node_username: None,
        node_password: None,
        db: 0,
        tls: false,
    };
    RedisStores::new(mode).conform("Sentinel").await;
}

#[tokio::test]
async fn the_redis_store_conforms_on_a_cluster() {
    let cluster = TestCluster::start();
    let nodes = cluster.nodes.iter().cloned().map(Secret::new).collect();
    RedisStores::new(RedisMode::Cluster { nodes }).conform("Cluster").await;
}

// ---------------------------------------------------------------------------
// What the checks store
// ---------------------------------------------------------------------------

/// A name no other check (or earlier run on the same server) uses.
fn unique(what: &str) -> String {
    format!("{what}-{}", &SessionId::generate().as_str()[..12])
}

/// A session of `sub` in provider session `sid`, ending `lifetime` from now.
fn session_of(sub: &str, sid: &str, lifetime: Duration) -> (SessionKey, SessionRecord) {
    let key = SessionId::generate().key();
    let tokens = Tokens {
        id_token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl".into(),
        access_token: "access-token".into(),
        refresh_token: Some("refresh-token".into()),
    };
    let claims = json!({"sub": sub, "email": "ann@example.com", "groups": ["staff", "dev,ops"], "nested": {"a": 1}});
    let record = SessionRecord {
        identity: Identity {
            sub: sub.into(),
            username: Some("ann".into()),
            email: Some("ann@example.com".into()),
            email_verified: Some(true),
            name: Some("Ann Example".into()),
            groups: vec!["staff".into(), "dev,ops".into()],
        },
        sid: Some(sid.into()),
        claims: Claims::new(claims.as_object().expect("an object")),
        created_at: now(),
        expires_at: now() + lifetime.as_secs(),
        access_token_expires_at: Some(now() + 300),
        refreshed_at: 0,
        tokens: StoredTokens::seal(&tokens, None, &key).expect("small tokens"),
    };
    (key, record)
}

fn session(lifetime: Duration) -> (SessionKey, SessionRecord) {
    session_of(&unique("sub"), &unique("sid"), lifetime)
}

fn pending_login() -> PendingLogin {
    PendingLogin {
        nonce: unique("nonce"),
        pkce_verifier: unique("verifier"),
        return_to: "/after?x=1".into(),
        binding_hash: unique("binding"),
    }
}

fn sorted(mut keys: Vec<SessionKey>) -> Vec<String> {
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.into_iter().map(|k| k.0).collect()
}

async fn sleep(seconds: f64) {
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

async fn a_saved_session_loads_back_unchanged(store: Store) {
    let (key, record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    assert_eq!(
        store.load(&key, LONG, now()).await.unwrap(),
        Some(record.clone()),
        "load"
    );
    assert_eq!(store.peek(&key).await.unwrap(), Some(record), "peek");
}

async fn unknown_sessions_read_as_absent(store: Store) {
    let key = SessionId::generate().key();
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), None, "load");
    assert_eq!(store.peek(&key).await.unwrap(), None, "peek");
    assert_eq!(store.remove(&key).await.unwrap(), None, "remove");
    let (_, record) = session(LONG);
    assert!(!store.update(&key, &record, LONG).await.unwrap(), "update");
    assert_eq!(store.peek(&key).await.unwrap(), None, "an update created nothing");
}

/// Idle timeouts are whole seconds in every backend; the margins below allow for that.
async fn load_slides_the_idle_expiry_and_peek_does_not(store: Store) {
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

async fn load_never_slides_a_session_past_its_absolute_end(store: Store) {
    let (key, record) = session(Duration::from_secs(2));
    store.save(&key, &record, LONG).await.unwrap();
    assert!(store.load(&key, LONG, now()).await.unwrap().is_some());
    assert!(store.update(&key, &record, LONG).await.unwrap());
    sleep(2.5).await;

    assert_eq!(store.peek(&key).await.unwrap(), None, "peek");
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), None, "load");
    assert!(!store.update(&key, &record, LONG).await.unwrap(), "update");
}

async fn a_session_past_its_absolute_end_reads_as_absent(store: Store) {
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

async fn an_update_rewrites_a_live_session(store: Store) {
    let (key, mut record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    record.refreshed_at = 1_700_000_000_123;
    record.access_token_expires_at = Some(now() + 900);
    record.identity.groups = vec!["admins".into()];
    assert!(store.update(&key, &record, LONG).await.unwrap());
    assert_eq!(store.peek(&key).await.unwrap(), Some(record.clone()), "peek");
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), Some(record), "load");
}

async fn an_update_after_remove_is_false_and_never_resurrects_the_session(store: Store) {
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

async fn remove_returns_the_record_once(store: Store) {
    let (key, record) = session(LONG);
    store.save(&key, &record, LONG).await.unwrap();
    assert_eq!(store.remove(&key).await.unwrap(), Some(record));
    assert_eq!(store.remove(&key).await.unwrap(), None, "the second time");
    assert_eq!(store.load(&key, LONG, now()).await.unwrap(), None, "and it is gone");
}

// ---------------------------------------------------------------------------
// Refresh locks
// ---------------------------------------------------------------------------

async fn a_lock_is_exclusive_until_its_owner_unlocks_it(store: Store) {
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

async fn only_the_owner_of_a_lock_can_unlock_it(store: Store) {
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

async fn a_lock_expires_by_itself(store: Store) {
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

// ---------------------------------------------------------------------------
// Back-channel logout indexes and logout token ids
// ---------------------------------------------------------------------------

async fn the_indexes_list_live_sessions_by_sid_and_by_sub_and_not_removed_ones(store: Store) {
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

async fn a_logout_token_id_is_remembered_until_forgotten(store: Store) {
    let jti = unique("jti");
    assert!(store.remember_jti(&jti, LONG).await.unwrap(), "first seen");
    assert!(!store.remember_jti(&jti, LONG).await.unwrap(), "a replay");
    assert!(store.remember_jti(&unique("jti"), LONG).await.unwrap(), "another id");
    store.forget_jti(&jti).await.unwrap();
    assert!(
        store.remember_jti(&jti, LONG).await.unwrap(),
        "new again once forgotten"
    );
    store.forget_jti(&unique("never-seen")).await.unwrap();
}

async fn a_remembered_logout_token_id_expires_after_its_ttl(store: Store) {
    let jti = unique("jti");
    assert!(store.remember_jti(&jti, Duration::from_secs(1)).await.unwrap());
    sleep(1.6).await;
    assert!(store.remember_jti(&jti, LONG).await.unwrap(), "new again after its ttl");
}

// ---------------------------------------------------------------------------
// Pending logins, the gauge, the connection
// ---------------------------------------------------------------------------

async fn a_pending_login_is_taken_once(store: Store) {
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

async fn a_pending_login_expires_after_its_ttl(store: Store) {
    let state = unique("state");
    store
        .put_pending(&state, &pending_login(), Duration::from_secs(1))
        .await
        .unwrap();
    sleep(1.6).await;
    assert!(store.take_pending(&state).await.unwrap().is_none());
}

async fn count_sessions_counts_live_sessions(store: Store) {
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

async fn ping_answers(store: Store) {
    store.ping().await.unwrap();
}
