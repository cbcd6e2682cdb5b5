//! A child process that cannot outlive the test: killed on drop, and by a small `sh`
//! watchdog (whose stdin we hold) if the test process dies without unwinding. Its output
//! goes to a log file, shown when it fails to start.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Guarded {
    name: String,
    child: Child,
    watchdog: Child,
    log: PathBuf,
}

impl Guarded {
    /// Spawns `command` with its stdout and stderr in `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Guarded {
        let out = File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out.try_clone().expect("a second handle on the log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name} (is it installed? scripts/test.sh installs it): {e}"));
        let watchdog = Command::new("sh")
            .args(["-c", r#"read -r _ ; kill -KILL "$1" 2>/dev/null"#, "watchdog"])
            .arg(child.id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh for the watchdog");
        Guarded {
            name: name.to_owned(),
            child,
            watchdog,
            log: log.to_owned(),
        }
    }

    /// Waits until `port` on loopback accepts connections; an error (with the log) if the
    /// process exits first or the port stays closed.
    pub fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let addr = ([127, 0, 0, 1], port).into();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited early ({status}):\n{}", self.name, self.log()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not listen on port {port} within {timeout:?}:\n{}",
                    self.name,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// What the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM to {}", self.name);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Watchdog first, so it never signals a pid that was reaped and reused.
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "oidc-session-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port for a server that cannot be handed an open socket (nginx, caddy),
/// held until just before that server starts. It is picked below the kernel's ephemeral
/// range, so no `bind(…:0)` elsewhere (Redis, providers, other listeners) can take it in
/// the moment between. Ports are handed out in turn from a random start, so two tests of
/// this process never get the same one while either waits to use it.
pub fn reserve_port() -> std::net::TcpListener {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new(rand::random::<u32>() % 12_000));
    for _ in 0..200 {
        let port = 20_000 + (next.fetch_add(1, Ordering::Relaxed) % 12_000) as u16;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return listener;
        }
    }
    panic!("no free port found between 20000 and 32000");
}
