//! The Redis store on its own: expiry, updates, the active-sessions gauge, and keys left
//! by the earlier layout.

use std::sync::Arc;
use std::time::Duration;

use oidc_session::config::{RedisMode, RedisSettings, Secret};
use oidc_session::session::redis::RedisStore;
use oidc_session::session::{now, Identity, SessionId, SessionKey, SessionRecord, SessionStore, StoredTokens, Tokens};
use oidc_session::telemetry::metrics::Metrics;

use crate::support::app::{browser, session_redis_key, spawn_app_with, Options};
use crate::support::redis::TestRedis;

const IDLE: Duration = Duration::from_secs(60);

struct Store {
    redis: TestRedis,
    store: RedisStore,
    metrics: Arc<Metrics>,
}

fn start() -> Store {
    let redis = TestRedis::start();
    let settings = RedisSettings {
        mode: RedisMode::Standalone {
            url: Secret::new(redis.url.clone()),
        },
        key_prefix: "oidc:".into(),
    };
    let metrics = Arc::new(Metrics::new());
    let store = RedisStore::new(&settings, None, metrics.clone()).unwrap();
    Store { redis, store, metrics }
}

/// A session of `sub` that ends `lifetime` seconds from now.
pub(crate) fn session(sub: &str, lifetime: u64) -> (SessionKey, SessionRecord) {
    let key = SessionId::generate().key();
    let tokens = Tokens {
        id_token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.".into(),
        access_token: "access".into(),
        refresh_token: None,
    };
    let record = SessionRecord {
        identity: Identity {
            sub: sub.into(),
            ..Identity::default()
        },
        sid: Some(format!("sid-{sub}")),
        claims: Default::default(),
        created_at: now(),
        expires_at: now() + lifetime,
        access_token_expires_at: None,
        refreshed_at: 0,
        refreshable: Some(false),
        authentication: Default::default(),
        user_agent: None,
        tokens: StoredTokens::seal(&tokens, None, &key).unwrap(),
        tag: None,
        stored: Default::default(),
    };
    (key, record)
}

fn redis_key(key: &SessionKey) -> String {
    format!("oidc:session:{{{}}}", key.0)
}

impl Store {
    fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        args[1..].iter().for_each(|a| {
            cmd.arg(*a);
        });
        cmd.query(&mut self.redis.connection()).unwrap()
    }

    /// When the key expires, unix milliseconds.
    fn expires_at_ms(&self, key: &SessionKey) -> i64 {
        self.query(&["PEXPIRETIME", &redis_key(key)])
    }
}

#[tokio::test]
async fn near_its_absolute_end_a_sessions_expiry_never_passes_it() {
    let s = start();
    let (key, record) = session("ann", 5);
    let end_ms = record.expires_at as i64 * 1000;
    s.store.save(&key, &record, IDLE).await.unwrap();
    assert_eq!(s.expires_at_ms(&key), end_ms, "written with its absolute end");

    assert!(s.store.load(&key, IDLE, now()).await.unwrap().is_some());
    assert_eq!(s.expires_at_ms(&key), end_ms, "sliding stopped at the absolute end");
    assert!(s.store.update(&key, &record, IDLE).await.unwrap());
    assert_eq!(s.expires_at_ms(&key), end_ms, "and so did a rewrite");

    let (far, record) = session("ann", 3600);
    s.store.save(&far, &record, IDLE).await.unwrap();
    assert!(s.store.load(&far, IDLE, now()).await.unwrap().is_some());
    let left_ms = s.expires_at_ms(&far) - now() as i64 * 1000;
    assert!(
        (55_000..=61_000).contains(&left_ms),
        "slid by the idle timeout: {left_ms} ms"
    );
}

#[tokio::test]
async fn a_session_past_its_absolute_end_is_deleted_when_read() {
    let s = start();
    let (key, record) = session("bea", 30);
    s.store.save(&key, &record, IDLE).await.unwrap();
    assert!(s.store.load(&key, IDLE, record.expires_at).await.unwrap().is_none());
    assert_eq!(s.query::<i64>(&["EXISTS", &redis_key(&key)]), 0);
}

#[tokio::test]
async fn an_update_of_a_removed_session_returns_false_and_writes_nothing() {
    let s = start();
    let (key, mut record) = session("cid", 3600);
    s.store.save(&key, &record, IDLE).await.unwrap();
    record.refreshed_at = 1;
    assert!(s.store.update(&key, &record, IDLE).await.unwrap());
    assert_eq!(s.store.peek(&key).await.unwrap().unwrap().refreshed_at, 1);

    assert!(s.store.remove(&key).await.unwrap().is_some());
    assert!(!s.store.update(&key, &record, IDLE).await.unwrap());
    assert_eq!(s.query::<i64>(&["EXISTS", &redis_key(&key)]), 0, "not brought back");
    assert!(s.store.load(&key, IDLE, now()).await.unwrap().is_none());
    assert!(
        s.store.keys_by_sub("cid").await.unwrap().is_empty(),
        "its index entry went with it"
    );
}

#[tokio::test]
async fn the_gauge_counts_saves_and_removals_and_drops_passed_buckets() {
    let s = start();
    let (a, record_a) = session("dan", 3600);
    let (b, record_b) = session("dan", 3600);
    let (c, record_c) = session("eli", 60);
    for (key, record) in [(&a, &record_a), (&b, &record_b), (&c, &record_c)] {
        s.store.save(key, record, IDLE).await.unwrap();
    }
    let t = now();
    assert_eq!(s.store.count_sessions(t).await.unwrap(), 3);
    assert_eq!(s.store.keys_by_sub("dan").await.unwrap().len(), 2);

    assert!(s.store.remove(&a).await.unwrap().is_some());
    assert!(s.store.remove(&a).await.unwrap().is_none());
    assert_eq!(s.store.count_sessions(t).await.unwrap(), 2, "one removal counts once");
    assert_eq!(s.store.keys_by_sub("dan").await.unwrap(), vec![b.clone()]);

    // The short session's bucket ends at most 10 minutes after it does.
    assert_eq!(s.store.count_sessions(t + 60 + 600).await.unwrap(), 1);
    assert_eq!(s.store.count_sessions(t + 3600 + 600).await.unwrap(), 0);
    assert_eq!(
        s.query::<i64>(&["HLEN", "oidc:session-ends"]),
        0,
        "passed buckets are deleted"
    );
}

#[tokio::test]
async fn keys_holding_another_type_of_value_read_as_absent_never_as_errors() {
    let s = start();
    let (key, record) = session("fay", 3600);
    let old = redis_key(&key);
    let _: () = s.query(&["HSET", &old, "v", "{\"identity\":{}}", "exp", "99999999999"]);
    assert!(s.store.load(&key, IDLE, now()).await.unwrap().is_none());
    assert!(s.store.peek(&key).await.unwrap().is_none());
    assert!(s.store.remove(&key).await.unwrap().is_none());
    assert_eq!(s.query::<i64>(&["EXISTS", &old]), 0, "a logout clears it");

    // The earlier layout's gauge, still written by not-yet-updated replicas, is another key.
    let _: () = s.query(&["ZADD", "oidc:sessions", "99999999999", "old-member"]);
    s.store.save(&key, &record, IDLE).await.unwrap();
    assert_eq!(s.store.count_sessions(now()).await.unwrap(), 1);
    assert_eq!(
        s.query::<i64>(&["ZCARD", "oidc:sessions"]),
        1,
        "left to the earlier replicas"
    );
    assert_eq!(s.metrics.redis_errors.get(), 0);
}

#[tokio::test]
async fn a_login_drops_the_users_sessions_that_ended_by_idle_timeout_from_the_logout_indexes() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_SESSION_IDLE_TIMEOUT", "1s".into())],
        ..Options::default()
    })
    .await;
    let first = app.sign_in_with(&browser(), "kim").await;
    let index_fields = || {
        let mut conn = app.redis.connection();
        let indexes: Vec<String> = redis::cmd("KEYS").arg("oidc:sub:*").query(&mut conn).unwrap();
        assert_eq!(indexes.len(), 1, "one user, one sub index: {indexes:?}");
        let fields: Vec<String> = redis::cmd("HKEYS").arg(&indexes[0]).query(&mut conn).unwrap();
        fields
    };
    assert_eq!(index_fields().len(), 1);
    // The first session ends by idle timeout: Redis expires it, nothing else happens.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!app.is_active(&first).await);

    let second = app.sign_in_with(&browser(), "kim").await;
    let fields = index_fields();
    assert_eq!(fields.len(), 1, "the ended session's field is gone: {fields:?}");
    assert_eq!(
        fields[0],
        session_redis_key(&second)
            .trim_start_matches("oidc:session:{")
            .trim_end_matches('}')
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_concurrent_requests_go_to_redis_together_and_each_gets_its_own_answer() {
    let s = Arc::new(start());
    let mut reads = Vec::new();
    for i in 0..32 {
        let (key, record) = session(&format!("user-{i}"), 3600);
        if i % 4 == 3 {
            // A key of another type among them: its read alone is absent.
            let _: () = s.query(&["HSET", &redis_key(&key), "v", "x"]);
            reads.push((key, None));
        } else {
            s.store.save(&key, &record, IDLE).await.unwrap();
            reads.push((key, Some(record.identity.sub)));
        }
    }
    let before = s.store.read_pipelines_sent();
    // 32 requests in flight at once, each in its own task. They start together: spawned one
    // by one from the test's thread, each could finish before the next is spawned when the
    // machine is busy, and the reads would be sequential, not concurrent.
    let together = Arc::new(tokio::sync::Barrier::new(reads.len()));
    let requests = tokio::task::JoinSet::from_iter(reads.into_iter().map(|(key, sub)| {
        let s = s.clone();
        let together = together.clone();
        async move {
            together.wait().await;
            let read = s.store.load(&key, IDLE, now()).await.unwrap();
            assert_eq!(read.map(|r| r.identity.sub), sub);
        }
    }));
    requests.join_all().await;
    let pipelines = s.store.read_pipelines_sent() - before;
    assert!(
        (1..=16).contains(&pipelines),
        "32 reads went out in {pipelines} pipelines"
    );
    assert_eq!(s.metrics.redis_errors.get(), 0);
}

#[test]
fn a_read_after_the_runtime_that_started_the_reads_task_has_shut_down_is_still_answered() {
    let s = start();
    let (key, record) = session("kim", 3600);
    let first = tokio::runtime::Runtime::new().unwrap();
    first.block_on(async {
        s.store.save(&key, &record, IDLE).await.unwrap();
        assert!(s.store.load(&key, IDLE, now()).await.unwrap().is_some());
    });
    // Its tasks (the reads' sender, the connection's driver) are gone with it.
    drop(first);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        // The connection opened on the first runtime may fail once; no read waits forever.
        let once = tokio::time::timeout(Duration::from_secs(5), s.store.load(&key, IDLE, now())).await;
        assert!(once.is_ok(), "a read waited for a task that is gone");
        let again = tokio::time::timeout(Duration::from_secs(5), s.store.load(&key, IDLE, now())).await;
        assert!(again.expect("answered").unwrap().is_some());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_shared_connection_breaks_concurrent_requests_open_one_new_connection_not_one_each() {
    let s = Arc::new(start());
    let (key, record) = session("lee", 3600);
    s.store.save(&key, &record, IDLE).await.unwrap();
    let wave = || {
        tokio::task::JoinSet::from_iter((0..32).map(|_| {
            let (s, key) = (s.clone(), key.clone());
            async move { s.store.load(&key, IDLE, now()).await.map(|r| r.is_some()) }
        }))
        .join_all()
    };
    let opened = || {
        let info: String = s.query(&["INFO", "stats"]);
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .expect("INFO stats has total_connections_received")
    };
    let before = opened();
    // Redis closes the store's connection, as a restart or a failover would. The requests
    // then on their way fail (and the store lets the connection go), or find it gone; all
    // that need a new one need it at the same moment.
    let _: u64 = s.query(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    wave().await;
    let answers = wave().await;
    assert!(answers.iter().all(|a| matches!(a, Ok(true))), "{answers:?}");
    // Less the connections of `CLIENT KILL` and of the second `INFO`.
    let new = opened() - before - 2;
    assert_eq!(new, 1, "64 requests opened {new} connections to replace one");
}
