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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// The sending task is running (it clears this when it ends, however it ends).
    running: AtomicBool,
}

/// Owns the task that sends the queued reads; the task ends when this is dropped.
#[derive(Default)]
pub(super) struct Batcher {
    queue: Arc<Queue>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Batcher {
    fn drop(&mut self) {
        if let Some(task) = self.sender.get_mut().expect("not poisoned").take() {
            task.abort();
        }
    }
}

impl Batcher {
    /// `GET key` and `PTTL key`, sent with whatever other reads are queued meanwhile. Each
    /// read gets its own answer: an error reply to one (a key of another type) is that
    /// read's alone. Bounded by the connection's command timeout, as any command on it.
    pub(super) async fn lookup(&self, conn: Conn, key: String) -> RedisResult<Lookup> {
        self.ensure_sender();
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

    /// Starts the sending task here, inside the runtime, rather than when the store is
    /// built; and again if it is gone (its runtime shut down), so that no read waits for a
    /// task that will never come. One atomic load while it runs.
    fn ensure_sender(&self) {
        if self.queue.running.load(Ordering::Acquire) {
            return;
        }
        let mut sender = self.sender.lock().expect("not poisoned");
        if !self.queue.running.load(Ordering::Acquire) {
            self.queue.running.store(true, Ordering::Release);
            *sender = Some(tokio::spawn(send_queued(Running(self.queue.clone()))));
        }
    }

    /// How many pipelines have carried the reads so far.
    pub(super) fn pipelines_sent(&self) -> u64 {
        self.queue.sent.load(Ordering::Relaxed)
    }
}

/// The sending task's hold on the queue; says the task is gone when dropped.
struct Running(Arc<Queue>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// The sending task: woken by the first read queued, it yields once, so that the requests
/// already ready on its worker queue theirs, then sends all of them. Pipelines in flight are
/// awaited here together, so a slow answer does not hold back the next batch.
async fn send_queued(running: Running) {
    let queue = &running.0;
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
    // Every read carries the shared connection it was given; they differ only around a
    // reconnect, and the one queued last is the newest. Should it fail after all, every read
    // of the batch gets the error and the store drops the connection, as for one read.
    let mut conn = batch[batch.len() - 1].conn.clone();
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
