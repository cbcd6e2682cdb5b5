//! A read is not a write: with a replica attached, reading a session does not reach the
//! replica once per read; the idle expiry slides at most once per interval
//! (README, "Sessions"), and a session left idle still ends.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use oidc_session::config::{RedisMode, RedisSettings, Secret};
use oidc_session::session::redis::RedisStore;
use oidc_session::session::{now, SessionKey, SessionStore};
use oidc_session::telemetry::metrics::Metrics;

use crate::store::session;
use crate::support::redis::TestRedis;

const HOUR: Duration = Duration::from_secs(3600);

/// Commands a replica runs that are not the master's writes: the master's pings, the
/// replication handshake, and this test's own reads.
const NOT_WRITES: &[&str] = &[
    "info", "ping", "replconf", "select", "exists", "pttl", "command", "hello", "client",
];

struct Replicated {
    master: TestRedis,
    replica: TestRedis,
    store: Arc<RedisStore>,
    metrics: Arc<Metrics>,
}

fn start() -> Replicated {
    let master = TestRedis::start();
    let replica = TestRedis::start_replica_of(&master);
    let settings = RedisSettings {
        mode: RedisMode::Standalone {
            url: Secret::new(master.url.clone()),
        },
        key_prefix: "oidc:".into(),
    };
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(RedisStore::new(&settings, None, metrics.clone()).unwrap());
    Replicated {
        master,
        replica,
        store,
        metrics,
    }
}

fn info(redis: &TestRedis, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(&mut redis.connection()).unwrap()
}

fn field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

impl Replicated {
    /// Waits until the replica has applied everything the master has written so far.
    async fn in_sync(&self) {
        for _ in 0..500 {
            let master = field(&info(&self.master, "replication"), "master_repl_offset");
            let replica = info(&self.replica, "replication");
            if field(&replica, "master_link_status").as_deref() == Some("up")
                && field(&replica, "slave_repl_offset") == master
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the replica did not catch up with the master");
    }

    /// Every write the replica has applied so far (`INFO commandstats`: `cmdstat_<name>:calls=N,…`).
    fn writes_on_replica(&self) -> u64 {
        info(&self.replica, "commandstats")
            .lines()
            .filter_map(|line| line.strip_prefix("cmdstat_")?.split_once(':'))
            .filter(|(name, _)| !NOT_WRITES.contains(name))
            .filter_map(|(_, stats)| stats.strip_prefix("calls=")?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    fn pttl(&self, key: &SessionKey) -> i64 {
        redis::cmd("PTTL")
            .arg(format!("oidc:session:{{{}}}", key.0))
            .query(&mut self.master.connection())
            .unwrap()
    }
}

/// Reads `key` `n` times, 32 at a time (as many as the benchmark's connections).
async fn read(store: &Arc<RedisStore>, key: &SessionKey, idle: Duration, n: usize) {
    for _ in 0..n / 32 {
        let reads = (0..32).map(|_| store.load(key, idle, now()));
        for loaded in join_all(reads).await {
            assert!(loaded.unwrap().is_some(), "the session is live");
        }
    }
}

#[tokio::test]
async fn ten_thousand_reads_of_one_session_send_the_replica_a_handful_of_writes_at_most() {
    let r = start();
    // Attached before the save, so that the save reaches it as commands, not in its first sync.
    r.in_sync().await;
    let (key, record) = session("reader", 24 * 3600);
    r.store.save(&key, &record, HOUR).await.unwrap();
    r.in_sync().await;
    let before = r.writes_on_replica();
    assert!(before > 0, "the save reached the replica, so its writes are counted");

    read(&r.store, &key, HOUR, 10_016).await;
    r.in_sync().await;
    let writes = r.writes_on_replica() - before;
    assert!(writes <= 5, "10 016 reads sent the replica {writes} writes");
    assert_eq!(r.metrics.redis_errors.get(), 0);
}

#[tokio::test]
async fn a_read_that_finds_the_slide_due_slides_the_expiry_once_for_every_read_in_flight() {
    let r = start();
    let (key, record) = session("reader", 24 * 3600);
    r.store.save(&key, &record, HOUR).await.unwrap();
    // As if the session had last been used ten minutes ago.
    let _: () = redis::cmd("EXPIRE")
        .arg(format!("oidc:session:{{{}}}", key.0))
        .arg(50 * 60)
        .query(&mut r.master.connection())
        .unwrap();
    r.in_sync().await;
    let before = r.writes_on_replica();

    read(&r.store, &key, HOUR, 320).await;
    for _ in 0..500 {
        if r.pttl(&key) > 59 * 60 * 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(r.pttl(&key) > 59 * 60 * 1000, "slid back to the idle timeout");
    r.in_sync().await;
    let writes = r.writes_on_replica() - before;
    assert!((1..=3).contains(&writes), "320 reads sent the replica {writes} writes");
}

#[tokio::test]
async fn a_session_read_often_stays_alive_and_then_ends_when_left_idle() {
    let r = start();
    let idle = Duration::from_secs(2);
    let (key, record) = session("reader", 3600);
    r.store.save(&key, &record, idle).await.unwrap();

    // Read for longer than the idle timeout: the slides keep it alive.
    for _ in 0..30 {
        assert!(
            r.store.load(&key, idle, now()).await.unwrap().is_some(),
            "live while used"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(idle + Duration::from_millis(500)).await;
    assert!(
        r.store.load(&key, idle, now()).await.unwrap().is_none(),
        "ended when left idle"
    );
    assert_eq!(r.pttl(&key), -2, "and its key is gone");
}
