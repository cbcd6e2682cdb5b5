//! Three cluster masters.

use std::cell::RefCell;
use std::fs::{self, File};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ::redis::Value;

use crate::support::tls::TestTls;

use super::nodes::*;

/// How long `redis-cli --cluster create` may take.
const CLUSTER_CREATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys moved per MIGRATE call.
const MIGRATE_BATCH: usize = 100;

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
