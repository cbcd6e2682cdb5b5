//! One conformance suite for every `SessionStore` backend: the in-memory store and the
//! Redis store against standalone Redis, Sentinel and Cluster. Each check is the
//! contract of the trait's doc comments, in a sentence; every backend runs every check
//! on a fresh, empty store (a new `MemoryStore`, or a new key prefix on the same Redis).
//!
//! A backend test runs all checks and names every one that failed, so a divergence
//! between backends reads as a list rather than the first panic.
//!
//! Left open by the contract, so not checked: whether `keys_by_sid`/`keys_by_sub` list a
//! session that expired by idleness (the memory store drops it; the Redis store lists it
//! until the user's next login prunes the index), and whether `count_sessions` counts one (both may: an
//! upper bound). The service reads each listed session before ending it.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use oidc_session::config::{RedisMode, RedisSettings, Secret};
use oidc_session::crypto::KeyRing;
use oidc_session::session::memory::MemoryStore;
use oidc_session::session::redis::RedisStore;
use oidc_session::session::{
    now, Claims, Identity, SessionId, SessionKey, SessionRecord, SessionStore, StoredTokens, Tokens,
};
use oidc_session::telemetry::metrics::Metrics;
use serde_json::json;

use crate::support::redis::TestRedis;
use crate::support::topology::{TestCluster, TestSentinel, MASTER_NAME};

const LONG: Duration = Duration::from_secs(3600);

type Store = Arc<dyn SessionStore>;
type Check = fn(Store) -> BoxFuture<'static, ()>;

mod locks;
mod logins;
mod logout;
mod sessions;

macro_rules! checks {
    ($($module:ident::$check:ident),* $(,)?) => {
        const CHECKS: &[(&str, Check)] = &[$((stringify!($check), |store| Box::pin($module::$check(store)))),*];
    };
}

checks![
    sessions::a_saved_session_loads_back_unchanged,
    sessions::unknown_sessions_read_as_absent,
    sessions::load_slides_the_idle_expiry_and_peek_does_not,
    sessions::load_never_slides_a_session_past_its_absolute_end,
    sessions::a_session_past_its_absolute_end_reads_as_absent,
    sessions::an_update_rewrites_a_live_session,
    sessions::an_update_after_remove_is_false_and_never_resurrects_the_session,
    sessions::remove_returns_the_record_once,
    sessions::count_sessions_counts_live_sessions,
    sessions::peek_many_reads_several_sessions_with_their_expiry_and_none_for_ended_ones,
    locks::a_lock_is_exclusive_until_its_owner_unlocks_it,
    locks::only_the_owner_of_a_lock_can_unlock_it,
    locks::a_lock_expires_by_itself,
    logout::the_indexes_list_live_sessions_by_sid_and_by_sub_and_not_removed_ones,
    logout::a_users_sessions_are_listed_oldest_first_by_absolute_end,
    logout::a_logout_token_id_is_remembered_until_forgotten,
    logout::a_remembered_logout_token_id_expires_after_its_ttl,
    logins::a_login_state_is_claimed_once,
    logins::a_login_claim_expires_after_its_ttl,
    logins::marks_of_different_kinds_do_not_see_each_other,
    logins::the_first_shared_key_written_is_the_one_every_caller_gets,
    self::ping_answers,
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
        Arc::new(RedisStore::new(&settings, None, self.metrics.clone()).expect("a Redis store"))
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
    let (host, port) = sentinel.sentinel_addr.rsplit_once(':').expect("host:port");
    let mode = RedisMode::Sentinel {
        sentinels: vec![(host.to_owned(), port.parse().expect("a port"))],
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

/// A name no other check (or earlier run on the same server) uses.
fn unique(what: &str) -> String {
    format!("{what}-{}", &SessionId::generate().as_str()[..12])
}

/// Records are stored as with `OIDC_SESSION_ENCRYPTION_KEY`: tokens sealed, metadata tagged.
fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::from_bytes(&[7; 32]).expect("a 32-byte key"))
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
    let mut record = SessionRecord {
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
        refreshable: Some(true),
        authentication: oidc_session::session::Authentication {
            auth_time: Some(now() - 30),
            acr: Some("mfa".into()),
            amr: vec!["otp".into()],
        },
        user_agent: Some("Mozilla/5.0 (conformance)".into()),
        tokens: StoredTokens::seal(&tokens, Some(ring()), &key).expect("small tokens"),
        tag: None,
        stored: Default::default(),
    };
    record.tag = Some(ring().tag(&[key.0.as_bytes(), &record.metadata_bytes()]));
    (key, record)
}

fn session(lifetime: Duration) -> (SessionKey, SessionRecord) {
    session_of(&unique("sub"), &unique("sid"), lifetime)
}

fn sorted(mut keys: Vec<SessionKey>) -> Vec<String> {
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.into_iter().map(|k| k.0).collect()
}

async fn sleep(seconds: f64) {
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}

/// The readiness probe's question.
pub(super) async fn ping_answers(store: Store) {
    store.ping().await.unwrap();
}
