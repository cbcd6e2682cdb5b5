//! A throwaway `redis-server` per test: free port, no persistence, killed on drop.
//!
//! `stop()` / `restart()` simulate a Redis outage on the same address, so a
//! client configured with `url` sees the very same server come back.
//!
//! Drop kills the server; a small `sh` watchdog whose stdin we hold also kills
//! it if the test process dies without unwinding (SIGKILL, abort), since
//! redis-server, unlike the test OP, does not watch its parent.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::tls::TestTls;

/// How long a freshly spawned server gets to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Fresh ports tried by `start()` if another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;

pub struct TestRedis {
    pub port: u16,
    /// `redis://127.0.0.1:<port>`, or `rediss://` in TLS mode.
    pub url: String,
    /// TLS mode: the server listens with TLS only, with a certificate of this CA.
    tls: Option<Tls>,
    /// More `redis-server` arguments, kept for `restart()` (e.g. `--replicaof`).
    args: Vec<String>,
    running: Option<Running>,
}

/// What a TLS-only server is started with, and how its clients trust it.
#[derive(Clone)]
struct Tls {
    args: Vec<String>,
    ca_pem: String,
}

impl Tls {
    fn client(&self, url: &str) -> ::redis::RedisResult<::redis::Client> {
        ::redis::Client::build_with_tls(
            url,
            ::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(self.ca_pem.clone().into_bytes()),
            },
        )
    }
}

struct Running {
    server: Child,
    /// `sh` blocked reading its stdin (our pipe); on EOF it kills the server.
    watchdog: Child,
}

impl TestRedis {
    /// Starts `redis-server` on a free loopback port and waits until it answers PING.
    pub fn start() -> TestRedis {
        TestRedis::start_with(None, Vec::new())
    }

    /// Starts a replica of `master` (`--replicaof`): it answers PING at once, and takes
    /// the master's data in the background (`wait_in_sync` in the tests that need it).
    /// The replica loads the master's data from the socket (`swapdb`), not by way of a
    /// `dump.rdb` in the working directory, which every later server started there would load.
    pub fn start_replica_of(master: &TestRedis) -> TestRedis {
        let port = master.port.to_string();
        let args = ["--replicaof", "127.0.0.1", &port, "--repl-diskless-load", "swapdb"];
        TestRedis::start_with(None, args.map(str::to_owned).to_vec())
    }

    /// Starts `redis-server` with TLS only (`--port 0`), its certificate signed by `tls`'s
    /// CA; `url` is `rediss://127.0.0.1:<port>`.
    pub fn start_tls(tls: &TestTls) -> TestRedis {
        let args = vec![
            "--tls-cert-file".to_owned(),
            tls.cert_file.display().to_string(),
            "--tls-key-file".to_owned(),
            tls.key_file.display().to_string(),
            "--tls-ca-cert-file".to_owned(),
            tls.ca_file.display().to_string(),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ];
        let tls = Tls {
            args,
            ca_pem: tls.ca_pem.clone(),
        };
        TestRedis::start_with(Some(tls), Vec::new())
    }

    fn start_with(tls: Option<Tls>, args: Vec<String>) -> TestRedis {
        let mut last_error = String::new();
        let scheme = if tls.is_some() { "rediss" } else { "redis" };
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match spawn_and_wait(port, tls.as_ref(), &args) {
                Ok(running) => {
                    return TestRedis {
                        port,
                        url: format!("{scheme}://127.0.0.1:{port}"),
                        tls,
                        args,
                        running: Some(running),
                    }
                }
                // Most likely the port was taken between probing and binding: retry.
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server after {PORT_ATTEMPTS} attempts: {last_error}");
    }

    /// Kills the server and waits for it to exit (an outage). Idempotent.
    pub fn stop(&mut self) {
        if let Some(Running {
            mut server,
            mut watchdog,
        }) = self.running.take()
        {
            // Watchdog first, so it never signals a pid that was reaped and reused.
            let _ = watchdog.kill();
            let _ = watchdog.wait();
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// A plain synchronous client connection, for tests that inspect or prepare Redis.
    pub fn connection(&self) -> ::redis::Connection {
        self.client()
            .and_then(|client| client.get_connection())
            .unwrap_or_else(|e| panic!("cannot connect to the test Redis at {}: {e}", self.url))
    }

    fn client(&self) -> ::redis::RedisResult<::redis::Client> {
        match &self.tls {
            Some(tls) => tls.client(&self.url),
            None => ::redis::Client::open(self.url.as_str()),
        }
    }

    /// Starts a new, empty server on the same port (data is not kept).
    pub fn restart(&mut self) {
        self.stop();
        // The port was ours a moment ago; retry briefly in case the kernel
        // has not released it yet.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match spawn_and_wait(self.port, self.tls.as_ref(), &self.args) {
                Ok(running) => {
                    self.running = Some(running);
                    return;
                }
                Err(e) if Instant::now() >= deadline => {
                    panic!("could not restart redis-server on port {}: {e}", self.port)
                }
                Err(_) => sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago (the listener is dropped before returning).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

fn spawn_and_wait(port: u16, tls: Option<&Tls>, args: &[String]) -> Result<Running, String> {
    let port_args = match tls {
        None => vec!["--port".to_owned(), port.to_string()],
        Some(tls) => [
            vec![
                "--port".to_owned(),
                "0".to_owned(),
                "--tls-port".to_owned(),
                port.to_string(),
            ],
            tls.args.clone(),
        ]
        .concat(),
    };
    let mut child = Command::new("redis-server")
        .args(port_args)
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .args(["--loglevel", "warning"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run redis-server (is it installed?): {e}"))?;

    // Drain its log on a thread (a full pipe would stall the server) and keep
    // the beginning of it to explain an early exit, e.g. "Address already in use".
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let sink = Arc::clone(&log);
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            let mut kept = sink.lock().unwrap();
            if kept.len() < 16 * 1024 {
                kept.extend_from_slice(&buf[..n]);
            }
        }
    });

    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let _ = drain.join();
            let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
            return Err(format!(
                "redis-server on port {port} exited early ({status}): {}",
                log.trim()
            ));
        }
        if answers(port, tls) {
            return match spawn_watchdog(child.id()) {
                Ok(watchdog) => Ok(Running {
                    server: child,
                    watchdog,
                }),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(e)
                }
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-server on port {port} did not answer PING within {READY_TIMEOUT:?}"
            ));
        }
        sleep(Duration::from_millis(25));
    }
}

/// `sh` that kills `pid` once its stdin reaches EOF, i.e. when the pipe's
/// write end (held in `Running`) is closed by our exit, however we exit.
fn spawn_watchdog(pid: u32) -> Result<Child, String> {
    Command::new("sh")
        .args(["-c", r#"read -r _ ; kill -KILL "$1" 2>/dev/null"#, "redis-watchdog"])
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh for the redis-server watchdog: {e}"))
}

/// The first reply line to an inline `PING` over a raw socket (no Redis client needed),
/// or `None` when nothing answers.
pub(crate) fn inline_ping(port: u16) -> Option<Vec<u8>> {
    let addr = ([127, 0, 0, 1], port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    stream.write_all(b"PING\r\n").ok()?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Some(got)
}

fn ping(port: u16) -> bool {
    inline_ping(port).is_some_and(|reply| reply.starts_with(b"+PONG"))
}

/// PING in plain text, or over TLS with the redis crate.
fn answers(port: u16, tls: Option<&Tls>) -> bool {
    let Some(tls) = tls else { return ping(port) };
    let pong = || -> ::redis::RedisResult<String> {
        let mut conn = tls
            .client(&format!("rediss://127.0.0.1:{port}"))?
            .get_connection_with_timeout(Duration::from_millis(500))?;
        ::redis::cmd("PING").query(&mut conn)
    };
    pong().is_ok_and(|reply| reply == "PONG")
}
