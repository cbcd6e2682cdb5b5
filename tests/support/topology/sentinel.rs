//! A master, a replica and one sentinel.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use ::redis::Value;

use crate::support::tls::TestTls;

use super::nodes::*;

/// The master name the sentinel monitors.
pub const MASTER_NAME: &str = "mymaster";

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
