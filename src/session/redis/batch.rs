//! The hot path's reads, sent to Redis together. Each `/introspect` and `/forward-auth`
//! needs one `GET` + `PTTL`; sent one request at a time, each is a write to the Redis socket
//! and a wake-up of Redis, which cost more CPU than the commands themselves. Tokio runs a
//! woken task next (its LIFO slot), so the multiplexed connection's writer would wake after
//! every request's command and send it alone. Here the requests queue their keys, and one
//! task, after letting the other requests ready on its worker run first, sends everything
//! queued as one pipeline: one write and one wake-up of Redis for all of them
//! (docs/DESIGN.md, "Where the hot path's time goes").
//!
//! Only for a connection to one node: a Cluster pipeline cannot span hash slots, so Cluster
//! reads go out one by one as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use redis::{FromRedisValue, RedisError, RedisResult, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use super::connection::Conn;

/// A session's value and its `PTTL`.
pub(super) type Lookup = (Option<Vec<u8>>, i64);

struct Waiting {
    conn: Conn,
    key: String,
    reply: oneshot::Sender<RedisResult<Lookup>>,
}

#[derive(Default)]
struct Queue {
    waiting: Mutex<Vec<Waiting>>,
    queued: Notify,
    /// Pipelines sent, for [`Batcher::pipelines_sent`].
    sent: AtomicU64,
}

/// Owns the task that sends the queued reads; the task ends when this is dropped.
#[derive(Default)]
pub(super) struct Batcher {
    queue: Arc<Queue>,
    sender: OnceLock<JoinHandle<()>>,
}

impl Drop for Batcher {
    fn drop(&mut self) {
        if let Some(task) = self.sender.get() {
            task.abort();
        }
    }
}

impl Batcher {
    /// `GET key` and `PTTL key`, sent with whatever other reads are queued meanwhile. Each
    /// read gets its own answer: an error reply to one (a key of another type) is that
    /// read's alone. Bounded by the connection's command timeout, as any command on it.
    pub(super) async fn lookup(&self, conn: Conn, key: String) -> RedisResult<Lookup> {
        // Started here, inside the runtime, rather than when the store is built.
        self.sender
            .get_or_init(|| tokio::spawn(send_queued(self.queue.clone())));
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut waiting = self.queue.waiting.lock().expect("not poisoned");
            waiting.push(Waiting { conn, key, reply });
            waiting.len() == 1
        };
        if first {
            self.queue.queued.notify_one();
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    /// How many pipelines have carried the reads so far.
    pub(super) fn pipelines_sent(&self) -> u64 {
        self.queue.sent.load(Ordering::Relaxed)
    }
}

/// The sending task: woken by the first read queued, it yields once, so that the requests
/// already ready on its worker queue theirs, then sends all of them. Pipelines in flight are
/// awaited here together, so a slow answer does not hold back the next batch.
async fn send_queued(queue: Arc<Queue>) {
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            () = queue.queued.notified() => {
                tokio::task::yield_now().await;
                let batch = std::mem::take(&mut *queue.waiting.lock().expect("not poisoned"));
                if !batch.is_empty() {
                    queue.sent.fetch_add(1, Ordering::Relaxed);
                    in_flight.push(send(batch));
                }
            }
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
}

async fn send(batch: Vec<Waiting>) {
    // Every read carries the shared connection it was given; a read given a newer one
    // (after a reconnect) rides with the others on the first's, which is as good.
    let mut conn = batch[0].conn.clone();
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for waiting in &batch {
        pipe.get(&waiting.key).cmd("PTTL").arg(&waiting.key);
    }
    match pipe.query_async::<Vec<RedisResult<Value>>>(&mut conn).await {
        Ok(answers) => {
            let mut answers = answers.into_iter();
            for waiting in batch {
                let value = answers.next().unwrap_or_else(|| Err(gone()));
                let ttl = answers.next().unwrap_or_else(|| Err(gone()));
                let _ = waiting.reply.send(lookup(value, ttl));
            }
        }
        Err(e) => {
            for waiting in batch {
                let _ = waiting.reply.send(Err(e.clone()));
            }
        }
    }
}

fn lookup(value: RedisResult<Value>, ttl: RedisResult<Value>) -> RedisResult<Lookup> {
    Ok((
        Option::<Vec<u8>>::from_redis_value(value?)?,
        i64::from_redis_value(ttl?)?,
    ))
}

/// The sending task is gone or an answer is missing: as a dropped connection, which the
/// store replaces.
fn gone() -> RedisError {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the batched read was not answered").into()
}
