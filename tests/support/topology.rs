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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::Value;

use super::tls::TestTls;

/// The master name the sentinel monitors.
pub const MASTER_NAME: &str = "mymaster";

/// How long a freshly spawned server gets to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a topology gets to settle (replica in sync, sentinel aware of
/// everything, cluster state ok, slot owner agreed everywhere).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `redis-cli --cluster create` may take.
const CLUSTER_CREATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Fresh ports tried per process if another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;
/// Poll interval while waiting for a topology to settle.
const POLL: Duration = Duration::from_millis(50);
/// Keys moved per MIGRATE call.
const MIGRATE_BATCH: usize = 100;

// ---------------------------------------------------------------------------
// Sentinel
// ---------------------------------------------------------------------------

/// A master, one replica and one sentinel (quorum 1) monitoring [`MASTER_NAME`]
/// with `down-after-milliseconds 1000`, `failover-timeout 3000`,
/// `parallel-syncs 1`. `start*()` returns once the replica is in sync and the
/// sentinel is connected to both data nodes.
pub struct TestSentinel {
    /// `127.0.0.1:<port>` of the sentinel.
    pub sentinel_addr: String,
    /// TLS mode: `127.0.0.1:<port>` of the sentinel's TLS listener.
    pub sentinel_tls_addr: Option<String>,
    sentinel_port: u16,
    data_password: Option<String>,
    sentinel_password: Option<String>,
    // Field order matters: processes are killed (in `drop`) before `_dir` is removed.
    sentinel: Option<Node>,
    /// The data nodes still running (master and replica; `stop_master` removes one).
    data: Vec<Node>,
    /// TLS mode: `(plain port, TLS port)` of each data node. The sentinel knows the data
    /// nodes by their TLS ports; this harness talks to them on the plain ones.
    tls_ports: Vec<(u16, u16)>,
    _dir: TempDir,
}

impl TestSentinel {
    /// Master, replica and sentinel, no passwords.
    pub fn start() -> TestSentinel {
        TestSentinel::start_with(None, None, None)
    }

    /// The data nodes also listen with TLS (certificates of `tls`'s CA), replicate over
    /// TLS, and are monitored and announced by the sentinel on their TLS ports: clients
    /// reach the master with `rediss://`. The sentinel listens with TLS too
    /// (`sentinel_tls_addr`), and in plain text for this harness.
    pub fn start_tls(tls: &TestTls) -> TestSentinel {
        TestSentinel::start_with(None, None, Some(tls))
    }

    /// `data_password`: `requirepass` + `masterauth` on both data nodes (and
    /// `sentinel auth-pass` so the sentinel can reach them);
    /// `sentinel_password`: `requirepass` on the sentinel itself.
    pub fn start_with_auth(data_password: Option<&str>, sentinel_password: Option<&str>) -> TestSentinel {
        TestSentinel::start_with(data_password, sentinel_password, None)
    }

    fn start_with(data_password: Option<&str>, sentinel_password: Option<&str>, tls: Option<&TestTls>) -> TestSentinel {
        // Declared first so that, on a panic below, it is removed after the processes.
        let dir = TempDir::new("sentinel");
        let tls_ports = RefCell::new(Vec::new());
        let sentinel_tls_port = Cell::new(None);
        let data_conf = |port: u16, replica_of: Option<u16>| {
            let mut conf = base_conf(&dir, port);
            if let Some(tls) = tls {
                let tls_port = free_port();
                tls_ports.borrow_mut().push((port, tls_port));
                conf.push_str(&tls.redis_conf(tls_port));
                conf.push_str("tls-replication yes\n");
            }
            // Without this a full sync waits 5 s for more replicas to come along.
            conf.push_str("repl-diskless-sync-delay 0\n");
            if let Some(pw) = data_password {
                conf.push_str(&format!("requirepass {0}\nmasterauth {0}\n", conf_quote(pw)));
            }
            if let Some(master) = replica_of {
                conf.push_str(&format!("replicaof 127.0.0.1 {master}\n"));
            }
            conf
        };

        // The port a node is known by: its TLS port in TLS mode.
        let announced = |plain: u16| {
            tls_ports
                .borrow()
                .iter()
                .rfind(|(p, _)| *p == plain)
                .map_or(plain, |(_, tls)| *tls)
        };
        let master = spawn_node(&dir, "master", false, free_port, |port| data_conf(port, None));
        let replica = spawn_node(&dir, "replica", false, free_port, |port| {
            data_conf(port, Some(announced(master.port)))
        });
        poll(SETTLE_TIMEOUT, || {
            let info = text_of(&call_once(
                replica.port,
                data_password,
                ::redis::cmd("INFO").arg("replication"),
            )?);
            if info.lines().any(|l| l.trim() == "master_link_status:up") {
                Ok(())
            } else {
                Err(format!("replica not in sync yet: {}", info.replace("\r\n", " ")))
            }
        })
        .unwrap_or_else(|e| {
            panic!(
                "replica on port {} did not sync with master on port {}: {e}\n{}\n{}",
                replica.port,
                master.port,
                master.log_tail(),
                replica.log_tail()
            )
        });

        // Started only now, so that its first INFO to the master already lists the replica.
        let sentinel = spawn_node(&dir, "sentinel", true, free_port, |port| {
            let mut conf = base_conf(&dir, port);
            if let Some(pw) = sentinel_password {
                conf.push_str(&format!("requirepass {}\n", conf_quote(pw)));
            }
            if let Some(tls) = tls {
                // Its own TLS port beside the plain one, and TLS to the data nodes.
                let port = free_port();
                sentinel_tls_port.set(Some(port));
                conf.push_str(&tls.redis_conf(port));
                conf.push_str("tls-replication yes\n");
            }
            conf.push_str(&format!(
                "sentinel monitor {MASTER_NAME} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 3000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                announced(master.port)
            ));
            if let Some(pw) = data_password {
                conf.push_str(&format!("sentinel auth-pass {MASTER_NAME} {}\n", conf_quote(pw)));
            }
            conf
        });

        let topology = TestSentinel {
            sentinel_addr: format!("127.0.0.1:{}", sentinel.port),
            sentinel_tls_addr: sentinel_tls_port.get().map(|port| format!("127.0.0.1:{port}")),
            sentinel_port: sentinel.port,
            data_password: data_password.map(str::to_owned),
            sentinel_password: sentinel_password.map(str::to_owned),
            sentinel: Some(sentinel),
            data: vec![master, replica],
            tls_ports: tls_ports.into_inner(),
            _dir: dir,
        };
        let (master_port, replica_port) = (
            topology.announced(topology.data[0].port),
            topology.announced(topology.data[1].port),
        );
        poll(SETTLE_TIMEOUT, || topology.sentinel_sees(master_port, replica_port))
            .unwrap_or_else(|e| panic!("sentinel did not settle: {e}\n{}", topology.logs()));
        topology
    }

    /// The port the sentinel knows a data node by (its TLS port in TLS mode).
    fn announced(&self, plain: u16) -> u16 {
        self.tls_ports
            .iter()
            .rfind(|(p, _)| *p == plain)
            .map_or(plain, |(_, tls)| *tls)
    }

    /// The plain port of the data node the sentinel knows by `announced`.
    fn plain(&self, announced: u16) -> u16 {
        self.tls_ports
            .iter()
            .find(|(_, tls)| *tls == announced)
            .map_or(announced, |(plain, _)| *plain)
    }

    /// The master's port, as the sentinel reports it (get-master-addr-by-name): its TLS
    /// port in TLS mode.
    pub fn master_port(&self) -> u16 {
        self.sentinel_master_port()
            .unwrap_or_else(|e| panic!("cannot ask the sentinel for the master: {e}"))
    }

    /// Waits until the replica has acknowledged every write the master has taken so far,
    /// from any client. (`WAIT` would not do: it only waits for the calling connection's
    /// own writes, and the service writes on connections of its own.)
    pub fn wait_until_replicated(&self, timeout: Duration) {
        let port = self.plain(self.master_port());
        poll(timeout, || {
            let info = call_once(
                port,
                self.data_password.as_deref(),
                ::redis::cmd("INFO").arg("replication"),
            )?;
            let info = text_of(&info);
            let field = |line: &str, name: &str| {
                line.split([',', ':'])
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
            };
            let master: u64 = info
                .lines()
                .find_map(|l| l.trim().strip_prefix("master_repl_offset:"))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no master_repl_offset in {info}"))?;
            let replica: u64 = info
                .lines()
                .find(|l| l.starts_with("slave0:"))
                .and_then(|l| field(l, "offset"))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no replica offset in {info}"))?;
            if replica >= master {
                Ok(())
            } else {
                Err(format!("replica at offset {replica}, master at {master}"))
            }
        })
        .unwrap_or_else(|e| panic!("the replica did not catch up within {timeout:?}: {e}\n{}", self.logs()));
    }

    /// Kills the current master process (whichever data node that is) and waits
    /// for it to exit. Abrupt, like a crash: writes not yet replicated are lost
    /// (a test that needs them on the replica calls `wait_until_replicated` first).
    pub fn stop_master(&mut self) {
        let port = self.plain(self.master_port());
        let index = self
            .data
            .iter()
            .position(|node| node.port == port)
            .unwrap_or_else(|| panic!("the master (port {port}) is not a running data node"));
        drop(self.data.remove(index)); // kills and reaps it (see `Supervised`)
    }

    /// Polls the sentinel until it reports a master other than `old_master_port`
    /// and that node answers `ROLE` as master. Panics after `timeout`.
    pub fn wait_for_failover(&self, old_master_port: u16, timeout: Duration) {
        poll(timeout, || {
            let port = self.sentinel_master_port()?;
            if port == old_master_port {
                return Err(format!("sentinel still reports the old master (port {port})"));
            }
            let role = call_once(self.plain(port), self.data_password.as_deref(), &::redis::cmd("ROLE"))?;
            match &role {
                Value::Array(items) if items.first().and_then(text).as_deref() == Some("master") => Ok(()),
                other => Err(format!("new master on port {port} answers ROLE with {other:?}")),
            }
        })
        .unwrap_or_else(|e| {
            let state = self
                .sentinel_call(::redis::cmd("SENTINEL").arg("master").arg(MASTER_NAME))
                .map(|v| format!("{:?}", fields(&v)))
                .unwrap_or_else(|e| e);
            panic!(
                "no failover away from port {old_master_port} within {timeout:?}: {e}\n\
                 sentinel's view: {state}\n{}",
                self.logs()
            )
        });
    }

    fn sentinel_call(&self, cmd: &::redis::Cmd) -> Result<Value, String> {
        call_once(self.sentinel_port, self.sentinel_password.as_deref(), cmd)
    }

    fn sentinel_master_port(&self) -> Result<u16, String> {
        let reply = self.sentinel_call(::redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(MASTER_NAME))?;
        match &reply {
            Value::Array(items) if items.len() == 2 => text(&items[1])
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("unexpected get-master-addr-by-name reply {reply:?}")),
            _ => Err(format!("unexpected get-master-addr-by-name reply {reply:?}")),
        }
    }

    /// Ok once the sentinel is connected to the master and the (in sync) replica.
    fn sentinel_sees(&self, master_port: u16, replica_port: u16) -> Result<(), String> {
        let port = self.sentinel_master_port()?;
        if port != master_port {
            return Err(format!("sentinel reports master port {port}, expected {master_port}"));
        }
        let master = fields(&self.sentinel_call(::redis::cmd("SENTINEL").arg("master").arg(MASTER_NAME))?);
        if master.get("flags").map(String::as_str) != Some("master") {
            return Err(format!("master flags are {:?}", master.get("flags")));
        }
        let replicas = self.sentinel_call(::redis::cmd("SENTINEL").arg("replicas").arg(MASTER_NAME))?;
        let replicas: Vec<HashMap<String, String>> = match &replicas {
            Value::Array(items) => items.iter().map(fields).collect(),
            other => return Err(format!("unexpected SENTINEL replicas reply {other:?}")),
        };
        let ready = replicas.iter().any(|r| {
            r.get("port").map(String::as_str) == Some(replica_port.to_string().as_str())
                && r.get("flags").map(String::as_str) == Some("slave")
                && r.get("master-link-status").map(String::as_str) == Some("ok")
        });
        if ready {
            Ok(())
        } else {
            Err(format!(
                "sentinel does not see replica {replica_port} ready yet: {replicas:?}"
            ))
        }
    }

    fn logs(&self) -> String {
        self.sentinel
            .iter()
            .chain(&self.data)
            .map(Node::log_tail)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestSentinel {
    fn drop(&mut self) {
        // The sentinel first, so it does not start a failover while the data nodes go.
        self.sentinel.take();
        self.data.clear();
        // `_dir` is removed after this, when the fields are dropped.
    }
}

// ---------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------

/// Three cluster masters (no replicas) covering all 16384 slots.
/// `start()` returns once every node says `cluster_state:ok` and all agree on
/// the slot map.
pub struct TestCluster {
    /// `redis://127.0.0.1:<port>` of each master (`rediss://` and the TLS port in TLS mode).
    pub nodes: Vec<String>,
    ports: Vec<u16>,
    // Field order matters: processes are killed (in `drop`) before `dir` is removed.
    servers: Vec<Node>,
    dir: TempDir,
}

impl TestCluster {
    pub fn start() -> TestCluster {
        TestCluster::start_with(None)
    }

    /// The nodes also listen with TLS (certificates of `tls`'s CA) and talk to each other
    /// over TLS; `nodes` are their `rediss://` URLs. Redis answers a TLS client with the
    /// nodes' TLS ports (CLUSTER SLOTS, MOVED) and this harness, in plain text, with the
    /// plain ones.
    pub fn start_tls(tls: &TestTls) -> TestCluster {
        TestCluster::start_with(Some(tls))
    }

    fn start_with(tls: Option<&TestTls>) -> TestCluster {
        let dir = TempDir::new("cluster");
        let tls_ports = RefCell::new(Vec::new());
        let servers: Vec<Node> = (0..3)
            .map(|_| {
                spawn_node(&dir, "cluster", false, free_cluster_port, |port| {
                    let mut conf = base_conf(&dir, port);
                    if let Some(tls) = tls {
                        let tls_port = free_port();
                        tls_ports.borrow_mut().push((port, tls_port));
                        conf.push_str(&tls.redis_conf(tls_port));
                        conf.push_str("tls-cluster yes\n");
                    }
                    conf.push_str(&format!(
                        "cluster-enabled yes\n\
                         cluster-config-file {}\n\
                         cluster-node-timeout 2000\n",
                        conf_quote(&dir.path.join(format!("nodes-{port}.conf")).to_string_lossy())
                    ));
                    conf
                })
            })
            .collect();
        let ports: Vec<u16> = servers.iter().map(|n| n.port).collect();
        let tls_ports = tls_ports.into_inner();
        let url = |port: &u16| match tls_ports.iter().rfind(|(plain, _)| plain == port) {
            Some((_, tls)) => format!("rediss://127.0.0.1:{tls}"),
            None => redis_url(*port, None),
        };
        let cluster = TestCluster {
            nodes: ports.iter().map(url).collect(),
            ports,
            servers,
            dir,
        };

        cluster.create();
        poll(SETTLE_TIMEOUT, || {
            for &port in &cluster.ports {
                let info = text_of(&call_once(port, None, ::redis::cmd("CLUSTER").arg("INFO"))?);
                if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
                    return Err(format!("node {port} is not ok yet: {}", info.replace("\r\n", " ")));
                }
            }
            cluster.agreed_slot_map().map(drop)
        })
        .unwrap_or_else(|e| panic!("cluster did not settle: {e}\n{}", cluster.logs()));
        cluster
    }

    /// The node URLs, comma-separated.
    pub fn node_urls_csv(&self) -> String {
        self.nodes.join(",")
    }

    /// Port of the master that owns `key`'s hash slot (as the first node sees it).
    pub fn owner_port_of(&self, key: &str) -> u16 {
        let slot = self.slot_of(key);
        let slots = slot_map(self.ports[0]).unwrap_or_else(|e| panic!("CLUSTER SLOTS on port {}: {e}", self.ports[0]));
        owner(&slots, slot).unwrap_or_else(|| panic!("no owner for slot {slot} in {slots:?}"))
    }

    /// Moves the hash slot of `key`, with all its keys, from its owner to
    /// another master, like `redis-cli --cluster reshard` does: SETSLOT
    /// IMPORTING on the target, MIGRATING on the source, GETKEYSINSLOT +
    /// MIGRATE ... KEYS until the slot is empty on the source, then SETSLOT
    /// NODE on all masters (target, source, others). Returns once every node
    /// reports the new owner.
    pub fn migrate_slot_of(&self, key: &str) {
        let slot = self.slot_of(key);
        let source = self.owner_port_of(key);
        let target = *self
            .ports
            .iter()
            .find(|&&p| p != source)
            .expect("a cluster has more than one master");
        let id = |port: u16| -> String {
            call_once(port, None, ::redis::cmd("CLUSTER").arg("MYID"))
                .map(|v| text_of(&v))
                .unwrap_or_else(|e| panic!("CLUSTER MYID on port {port}: {e}"))
        };
        let (source_id, target_id) = (id(source), id(target));
        let mut src = Conn::open(source, None).unwrap_or_else(|e| panic!("{e}"));
        let mut dst = Conn::open(target, None).unwrap_or_else(|e| panic!("{e}"));
        let step = |con: &mut Conn, cmd: &::redis::Cmd, what: &str| {
            con.call(cmd)
                .unwrap_or_else(|e| panic!("migrating slot {slot} ({source} -> {target}): {what}: {e}"))
        };

        step(
            &mut dst,
            ::redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("IMPORTING")
                .arg(&source_id),
            "SETSLOT IMPORTING",
        );
        step(
            &mut src,
            ::redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("MIGRATING")
                .arg(&target_id),
            "SETSLOT MIGRATING",
        );
        loop {
            let keys = step(
                &mut src,
                ::redis::cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(slot)
                    .arg(MIGRATE_BATCH),
                "GETKEYSINSLOT",
            );
            let keys: Vec<Vec<u8>> = match keys {
                Value::Array(items) => items
                    .into_iter()
                    .map(|k| match k {
                        Value::BulkString(b) => b,
                        other => panic!("GETKEYSINSLOT returned {other:?}"),
                    })
                    .collect(),
                other => panic!("GETKEYSINSLOT returned {other:?}"),
            };
            if keys.is_empty() {
                break;
            }
            // host port "" db timeout-ms KEYS k...; fails (no REPLACE) if the target
            // already has one of the keys, which would be a bug worth seeing.
            step(
                &mut src,
                ::redis::cmd("MIGRATE")
                    .arg("127.0.0.1")
                    .arg(target)
                    .arg("")
                    .arg(0)
                    .arg(5000)
                    .arg("KEYS")
                    .arg(&keys),
                "MIGRATE",
            );
        }
        // Target first (it bumps its config epoch), then the source, then the rest.
        let mut order = vec![target, source];
        order.extend(self.ports.iter().filter(|&&p| p != source && p != target));
        for port in order {
            let mut con = Conn::open(port, None).unwrap_or_else(|e| panic!("{e}"));
            step(
                &mut con,
                ::redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("NODE")
                    .arg(&target_id),
                &format!("SETSLOT NODE on port {port}"),
            );
        }

        poll(SETTLE_TIMEOUT, || {
            for &port in &self.ports {
                let owner = owner(&slot_map(port)?, slot);
                if owner != Some(target) {
                    return Err(format!("node {port} says slot {slot} is on {owner:?}"));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| {
            panic!(
                "nodes did not agree that slot {slot} moved to {target}: {e}\n{}",
                self.logs()
            )
        });
    }

    fn slot_of(&self, key: &str) -> u16 {
        match call_once(self.ports[0], None, ::redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)) {
            Ok(Value::Int(slot)) => slot as u16,
            other => panic!("CLUSTER KEYSLOT {key:?}: {other:?}"),
        }
    }

    /// `redis-cli --cluster create` on the three nodes, killed if it hangs.
    fn create(&self) {
        let out_path = self.dir.path.join("cluster-create.log");
        let out = File::create(&out_path).expect("create the redis-cli log file");
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        cmd.args(self.ports.iter().map(|p| format!("127.0.0.1:{p}")));
        cmd.args(["--cluster-replicas", "0", "--cluster-yes"]);
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone log file handle"))
            .stderr(out);
        let cli = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-cli (is redis-tools installed?): {e}"));
        let mut cli = Supervised::new(cli, &self.dir.path).unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + CLUSTER_CREATE_TIMEOUT;
        let status = loop {
            match cli.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => sleep(POLL),
                _ => break None,
            }
        };
        drop(cli); // kills it if still running
        let output = fs::read_to_string(&out_path).unwrap_or_default();
        match status {
            Some(s) if s.success() => {}
            Some(s) => panic!("redis-cli --cluster create failed ({s}):\n{output}\n{}", self.logs()),
            None => panic!("redis-cli --cluster create did not finish within {CLUSTER_CREATE_TIMEOUT:?}:\n{output}"),
        }
    }

    /// The slot map, if every node reports the same one.
    fn agreed_slot_map(&self) -> Result<Vec<(u16, u16, u16)>, String> {
        let first = slot_map(self.ports[0])?;
        for &port in &self.ports[1..] {
            let other = slot_map(port)?;
            if other != first {
                return Err(format!(
                    "slot maps differ: {} says {first:?}, {port} says {other:?}",
                    self.ports[0]
                ));
            }
        }
        Ok(first)
    }

    fn logs(&self) -> String {
        self.servers.iter().map(Node::log_tail).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.servers.clear();
        // `dir` is removed after this, when the fields are dropped.
    }
}

/// `CLUSTER SLOTS` of one node as sorted `(first, last, master port)` ranges.
fn slot_map(port: u16) -> Result<Vec<(u16, u16, u16)>, String> {
    let reply = call_once(port, None, ::redis::cmd("CLUSTER").arg("SLOTS"))?;
    let bad = || format!("unexpected CLUSTER SLOTS reply from {port}: {reply:?}");
    let Value::Array(ranges) = &reply else {
        return Err(bad());
    };
    let mut map = Vec::new();
    for range in ranges {
        let Value::Array(parts) = range else {
            return Err(bad());
        };
        let master = match parts.get(2) {
            Some(Value::Array(node)) => node.get(1),
            _ => None,
        };
        match (parts.first(), parts.get(1), master) {
            (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Int(port))) => {
                map.push((*first as u16, *last as u16, *port as u16))
            }
            _ => return Err(bad()),
        }
    }
    map.sort_unstable();
    Ok(map)
}

fn owner(map: &[(u16, u16, u16)], slot: u16) -> Option<u16> {
    map.iter()
        .find(|(first, last, _)| (*first..=*last).contains(&slot))
        .map(|(_, _, port)| *port)
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A running process and its watchdog. Dropping it kills and reaps both.
struct Supervised {
    child: Child,
    /// `sh` blocked reading its stdin (our pipe); on EOF it kills `child`.
    watchdog: Child,
}

impl Supervised {
    /// Puts a watchdog on `child` right away (so a test process killed while
    /// the server is still starting leaves nothing behind); kills `child` if
    /// that fails.
    fn new(mut child: Child, dir: &Path) -> Result<Supervised, String> {
        match spawn_watchdog(child.id(), dir) {
            Ok(watchdog) => Ok(Supervised { child, watchdog }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Watchdog first, so it never signals a pid that was reaped and reused.
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A redis-server (data node, sentinel or cluster node) on `port`.
struct Node {
    port: u16,
    log: PathBuf,
    process: Supervised,
}

impl Node {
    /// The end of its log, to explain a failure.
    fn log_tail(&self) -> String {
        format!("--- {} ---\n{}", self.log.display(), tail(&self.log))
    }
}

/// Starts `redis-server` with the config `conf(port)` on a port from `pick`,
/// retrying with fresh ports if one was taken meanwhile; waits for PING.
fn spawn_node(dir: &TempDir, name: &str, sentinel: bool, pick: fn() -> u16, conf: impl Fn(u16) -> String) -> Node {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        match try_spawn_node(dir, name, sentinel, pick(), &conf) {
            Ok(node) => return node,
            // Most likely the port was taken between probing and binding: retry.
            Err(e) => last_error = e,
        }
    }
    panic!("could not start redis-server ({name}) after {PORT_ATTEMPTS} attempts: {last_error}");
}

fn try_spawn_node(
    dir: &TempDir,
    name: &str,
    sentinel: bool,
    port: u16,
    conf: &impl Fn(u16) -> String,
) -> Result<Node, String> {
    let conf_path = dir.path.join(format!("{name}-{port}.conf"));
    let log = dir.path.join(format!("{name}-{port}.log"));
    fs::write(&conf_path, conf(port)).map_err(|e| format!("cannot write {}: {e}", conf_path.display()))?;
    let log_file = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let log_file2 = log_file.try_clone().map_err(|e| format!("clone log handle: {e}"))?;

    let mut cmd = Command::new("redis-server");
    cmd.arg(&conf_path);
    if sentinel {
        cmd.arg("--sentinel");
    }
    // Its log goes to a file: no pipe to drain, and it is there to explain failures.
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_file2)
        .spawn()
        .map_err(|e| format!("cannot run redis-server (is it installed?): {e}"))?;
    let mut node = Node {
        port,
        log,
        process: Supervised::new(child, &dir.path)?,
    };

    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = node.process.child.try_wait() {
            return Err(format!(
                "redis-server ({name}) on port {port} exited early ({status}): {}",
                tail(&node.log).trim()
            ));
        }
        if answers(port) {
            return Ok(node);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "redis-server ({name}) on port {port} did not answer PING within {READY_TIMEOUT:?}: {}",
                tail(&node.log).trim()
            )); // dropping `node` kills it
        }
        sleep(Duration::from_millis(25));
    }
}

/// `sh` that kills `pid` once its stdin reaches EOF, i.e. when the pipe's
/// write end (held in `Supervised`) is closed by our exit, however we exit;
/// then removes the topology's directory (once `pid` is gone, at most ~2 s).
/// Drop kills the watchdog first, so on a normal drop it does neither.
fn spawn_watchdog(pid: u32, dir: &Path) -> Result<Child, String> {
    Command::new("sh")
        .args([
            "-c",
            r#"read -r _ ; kill -KILL "$1" 2>/dev/null
               i=0; while [ $i -lt 20 ] && kill -0 "$1" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
               rm -rf -- "$2""#,
            "redis-topology-watchdog",
        ])
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh for the redis-server watchdog: {e}"))
}

/// The config lines every node shares.
fn base_conf(dir: &TempDir, port: u16) -> String {
    format!(
        "port {port}\n\
         bind 127.0.0.1\n\
         dir {}\n\
         save \"\"\n\
         appendonly no\n\
         loglevel notice\n",
        conf_quote(&dir.path.to_string_lossy())
    )
}

/// A double-quoted redis.conf argument.
fn conf_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The last few KiB of a log file.
fn tail(path: &Path) -> String {
    let text = fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(4096);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// A port that was free a moment ago (the listener is dropped before returning).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

/// A free port whose cluster bus port (port + 10000) is free too.
fn free_cluster_port() -> u16 {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
        let port = listener.local_addr().expect("local address").port();
        if port <= u16::MAX - 10000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("found no free port p with p + 10000 free too");
}

/// True once the server answers an inline PING, with PONG or a demand to
/// authenticate (a password-protected server is up too).
fn answers(port: u16) -> bool {
    super::redis::inline_ping(port).is_some_and(|reply| reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH"))
}

// ---------------------------------------------------------------------------
// Redis calls
// ---------------------------------------------------------------------------

/// `redis://[:password@]127.0.0.1:<port>`, the password percent-encoded.
fn redis_url(port: u16, password: Option<&str>) -> String {
    match password {
        None => format!("redis://127.0.0.1:{port}"),
        Some(pw) => {
            let mut enc = String::new();
            for b in pw.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    enc.push(b as char);
                } else {
                    enc.push_str(&format!("%{b:02X}"));
                }
            }
            format!("redis://:{enc}@127.0.0.1:{port}")
        }
    }
}

struct Conn(::redis::Connection);

impl Conn {
    fn open(port: u16, password: Option<&str>) -> Result<Conn, String> {
        let url = redis_url(port, password);
        let con = ::redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
        let _ = con.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = con.set_write_timeout(Some(Duration::from_secs(10)));
        Ok(Conn(con))
    }

    fn call(&mut self, cmd: &::redis::Cmd) -> Result<Value, String> {
        cmd.query::<Value>(&mut self.0).map_err(|e| e.to_string())
    }
}

/// One command on a fresh connection (cheap on loopback; keeps polling simple).
fn call_once(port: u16, password: Option<&str>, cmd: &::redis::Cmd) -> Result<Value, String> {
    Conn::open(port, password)?
        .call(cmd)
        .map_err(|e| format!("127.0.0.1:{port}: {e}"))
}

/// A string-ish reply as text.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn text_of(v: &Value) -> String {
    text(v).unwrap_or_else(|| format!("{v:?}"))
}

/// A flat `[k, v, k, v, ...]` array (RESP2) or a map (RESP3) as a HashMap.
fn fields(v: &Value) -> HashMap<String, String> {
    let pairs: Vec<(&Value, &Value)> = match v {
        Value::Array(items) => items.chunks_exact(2).map(|kv| (&kv[0], &kv[1])).collect(),
        Value::Map(kvs) => kvs.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect()
}

/// Calls `check` every [`POLL`] until it is Ok; its last error after `timeout`.
fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => sleep(POLL),
        }
    }
}

// ---------------------------------------------------------------------------
// Temporary directory
// ---------------------------------------------------------------------------

/// A fresh directory under `std::env::temp_dir()`, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(kind: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for _ in 0..100 {
            let path = std::env::temp_dir().join(format!(
                "oidc-session-{kind}-{}-{nanos}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
        panic!(
            "cannot find a fresh directory name under {}",
            std::env::temp_dir().display()
        );
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
