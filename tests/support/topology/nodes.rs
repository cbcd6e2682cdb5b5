//! What both topologies stand on: supervised redis-server processes, one-shot Redis
//! calls, polling, a temporary directory.

use std::collections::HashMap;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::Value;

/// How long a freshly spawned server gets to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Fresh ports tried per process if another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;
/// Poll interval while waiting for a topology to settle.
pub(super) const POLL: Duration = Duration::from_millis(50);
/// How long a topology gets to settle (replica in sync, sentinel aware of
/// everything, cluster state ok, slot owner agreed everywhere).
pub(super) const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running process and its watchdog. Dropping it kills and reaps both.
pub(super) struct Supervised {
    pub(super) child: Child,
    /// `sh` blocked reading its stdin (our pipe); on EOF it kills `child`.
    watchdog: Child,
}

impl Supervised {
    /// Puts a watchdog on `child` right away (so a test process killed while
    /// the server is still starting leaves nothing behind); kills `child` if
    /// that fails.
    pub(super) fn new(mut child: Child, dir: &Path) -> Result<Supervised, String> {
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
pub(super) struct Node {
    pub(super) port: u16,
    pub(super) log: PathBuf,
    pub(super) process: Supervised,
}

impl Node {
    /// The end of its log, to explain a failure.
    pub(super) fn log_tail(&self) -> String {
        format!("--- {} ---\n{}", self.log.display(), tail(&self.log))
    }
}

/// Starts `redis-server` with the config `conf(port)` on a port from `pick`,
/// retrying with fresh ports if one was taken meanwhile; waits for PING.
pub(super) fn spawn_node(
    dir: &TempDir,
    name: &str,
    sentinel: bool,
    pick: fn() -> u16,
    conf: impl Fn(u16) -> String,
) -> Node {
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

pub(super) fn try_spawn_node(
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
pub(super) fn spawn_watchdog(pid: u32, dir: &Path) -> Result<Child, String> {
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
pub(super) fn base_conf(dir: &TempDir, port: u16) -> String {
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
pub(super) fn conf_quote(s: &str) -> String {
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
pub(super) fn tail(path: &Path) -> String {
    let text = fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(4096);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// A port that was free a moment ago (the listener is dropped before returning).
pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

/// A free port whose cluster bus port (port + 10000) is free too.
pub(super) fn free_cluster_port() -> u16 {
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
pub(super) fn answers(port: u16) -> bool {
    crate::support::redis::inline_ping(port)
        .is_some_and(|reply| reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH"))
}

/// `redis://[:password@]127.0.0.1:<port>`, the password percent-encoded.
pub(super) fn redis_url(port: u16, password: Option<&str>) -> String {
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

pub(super) struct Conn(::redis::Connection);

impl Conn {
    pub(super) fn open(port: u16, password: Option<&str>) -> Result<Conn, String> {
        let url = redis_url(port, password);
        let con = ::redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
        let _ = con.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = con.set_write_timeout(Some(Duration::from_secs(10)));
        Ok(Conn(con))
    }

    pub(super) fn call(&mut self, cmd: &::redis::Cmd) -> Result<Value, String> {
        cmd.query::<Value>(&mut self.0).map_err(|e| e.to_string())
    }
}

/// One command on a fresh connection (cheap on loopback; keeps polling simple).
pub(super) fn call_once(port: u16, password: Option<&str>, cmd: &::redis::Cmd) -> Result<Value, String> {
    Conn::open(port, password)?
        .call(cmd)
        .map_err(|e| format!("127.0.0.1:{port}: {e}"))
}

/// A string-ish reply as text.
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(super) fn text_of(v: &Value) -> String {
    text(v).unwrap_or_else(|| format!("{v:?}"))
}

/// A flat `[k, v, k, v, ...]` array (RESP2) or a map (RESP3) as a HashMap.
pub(super) fn fields(v: &Value) -> HashMap<String, String> {
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
pub(super) fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => sleep(POLL),
        }
    }
}

/// A fresh directory under `std::env::temp_dir()`, removed on drop.
pub(super) struct TempDir {
    pub(super) path: PathBuf,
}

impl TempDir {
    pub(super) fn new(kind: &str) -> TempDir {
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
