//! Redis Sentinel and Redis Cluster on loopback, for integration tests.
//!
//! * [`TestSentinel`]: a master, one replica and ONE sentinel (quorum 1) with
//!   fast failover, optionally with passwords on the data nodes and/or on the
//!   sentinel. `stop_master()` + `wait_for_failover()` simulate losing the master.
//! * [`TestCluster`]: three cluster masters, no replicas, created with
//!   `redis-cli --cluster create`. `migrate_slot_of()` moves a hash slot (and
//!   its keys) to another master, so clients see MOVED/ASK on the way.
//!
//! Like `redis.rs`: every process is killed on drop, and a small `sh` watchdog
//! per process, whose stdin we hold, kills it if the test process dies without
//! unwinding (SIGKILL, abort); the watchdog also removes the topology's
//! temporary directory then. Config files and logs (`<name>-<port>.log`, shown
//! in panic messages) live in a fresh directory under `std::env::temp_dir()`,
//! removed on drop. Only std and the `redis` crate's sync API are used.

mod cluster;
mod nodes;
mod sentinel;

pub use cluster::TestCluster;
pub use sentinel::{TestSentinel, MASTER_NAME};
