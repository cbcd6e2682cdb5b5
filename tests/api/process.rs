//! The real binary as a process: what it logs, and how it stops on SIGTERM.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oidc_session::session::{SessionKey, SessionRecord};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::app::{browser, location, session_cookie, set_cookies, wait_until_ready, CLIENT_ID, CLIENT_SECRET};
use crate::support::child::reserve_port;
use crate::support::provider::{code_in, sign_in, TestProvider};
use crate::support::redis::TestRedis;

struct Binary {
    child: Child,
    public: String,
    internal: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    fn start(issuer: &str, redis: &TestRedis, public_port: u16, internal_port: u16) -> Self {
        let public = format!("http://127.0.0.1:{public_port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_oidc-session"))
            .env_clear()
            .envs([
                ("OIDC_ISSUER_URL", issuer.to_owned()),
                ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
                ("OIDC_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
                ("OIDC_REDIRECT_URI", format!("{public}/auth/callback")),
                ("OIDC_REDIS_URL", redis.url.clone()),
                ("OIDC_PROMPT", "consent".to_owned()),
                ("OIDC_LISTEN_ADDR", format!("127.0.0.1:{public_port}")),
                ("OIDC_INTERNAL_LISTEN_ADDR", format!("127.0.0.1:{internal_port}")),
                // The strictest level: even debug output must not carry secrets.
                ("OIDC_LOG", "debug".to_owned()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            public,
            internal: format!("http://127.0.0.1:{internal_port}"),
            log,
        }
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (bounded) and returns its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the process did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn ports() -> (u16, u16) {
    let (a, b) = (reserve_port(), reserve_port());
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

async fn provider_for(public_port: u16) -> TestProvider {
    let public = format!("http://127.0.0.1:{public_port}");
    TestProvider::start(json!({"port": 0, "clients": [{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": [format!("{public}/auth/callback")], "post_logout_redirect_uris": [format!("{public}/bye")],
    }]}))
    .await
}

/// Every token stored in Redis (in clear: the binary runs without an encryption key).
fn stored_tokens(redis: &TestRedis) -> Vec<String> {
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("oidc:session:*").query(&mut conn).unwrap();
    let mut tokens = Vec::new();
    for key in keys.iter().filter(|k| !k.ends_with(":lock")) {
        let raw: Vec<u8> = redis::cmd("GET").arg(key).query(&mut conn).unwrap();
        let record = SessionRecord::decode(&raw).unwrap();
        let hash = SessionKey(key["oidc:session:{".len()..key.len() - 1].to_owned());
        let stored = record.tokens.open(None, &hash).unwrap();
        tokens.extend([stored.id_token, stored.access_token]);
        tokens.extend(stored.refresh_token);
    }
    assert!(!tokens.is_empty(), "a session is stored");
    tokens
}

#[tokio::test]
async fn the_logs_of_a_full_login_refresh_and_logout_hold_no_token_code_cookie_or_secret() {
    let redis = TestRedis::start();
    let (public_port, internal_port) = ports();
    let provider = provider_for(public_port).await;
    let mut binary = Binary::start(&provider.issuer, &redis, public_port, internal_port);
    wait_until_ready(&binary.internal).await;

    let browser = browser();
    let login = browser
        .get(format!("{}/auth/login", binary.public))
        .send()
        .await
        .unwrap();
    let binding = set_cookies(login.headers()).join(" ");
    let callback = sign_in(
        &browser,
        &location(&login),
        "alice",
        &format!("{}/auth/callback", binary.public),
    )
    .await;
    let code = code_in(&callback);
    let landed = browser.get(&callback).send().await.unwrap();
    let session = session_cookie(landed.headers()).unwrap();
    let mut secrets = stored_tokens(&redis);
    let refreshed = reqwest::Client::new()
        .post(format!("{}/auth/refresh", binary.public))
        .header("cookie", format!("oidc_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    secrets.extend(stored_tokens(&redis));
    let logout = browser
        .get(format!("{}/auth/logout", binary.public))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    binary.sigterm();
    assert_eq!(binary.exit_code(), Some(0));

    let log = binary.log.lock().unwrap().clone();
    assert!(
        log.contains("login completed") && log.contains("tokens refreshed"),
        "the log is not empty:\n{log}"
    );
    assert!(
        secrets.len() >= 5,
        "id, access and refresh tokens before and after: {secrets:?}"
    );
    let binding_value = binding.split(';').next().unwrap().split('=').nth(1).unwrap().to_owned();
    for (what, secret) in [
        ("session cookie", &session),
        ("authorization code", &code),
        ("client secret", &CLIENT_SECRET.to_owned()),
        ("binding cookie", &binding_value),
    ]
    .into_iter()
    .chain(secrets.iter().map(|t| ("token", t)))
    {
        assert!(!secret.is_empty());
        assert!(!log.contains(secret.as_str()), "the {what} appears in the logs");
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_and_exits_0() {
    let redis = TestRedis::start();
    let (public_port, internal_port) = ports();
    let provider = provider_for(public_port).await;
    let mut binary = Binary::start(&provider.issuer, &redis, public_port, internal_port);
    wait_until_ready(&binary.internal).await;

    // Pause Redis' clients so that an introspection is in flight when SIGTERM arrives.
    let url = redis.url.clone();
    let sleeper = std::thread::spawn(move || {
        let mut conn = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(400)
            .arg("ALL")
            .query::<()>(&mut conn)
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let in_flight = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{}/introspect", binary.internal))
            .json(&json!({"session": "A".repeat(43)}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    binary.sigterm();

    let response = in_flight.await.unwrap().expect("the in-flight request completes");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"active": false}));
    assert_eq!(binary.exit_code(), Some(0));
    sleeper.join().unwrap();
}

#[tokio::test]
async fn sigterm_during_a_refresh_whose_caller_gave_up_keeps_the_rotated_tokens() {
    let redis = TestRedis::start();
    let (public_port, internal_port) = ports();
    let public = format!("http://127.0.0.1:{public_port}");
    // The provider rotates the refresh token at once and answers 1.5 s later.
    let provider = TestProvider::start(json!({"port": 0, "refresh_delay_ms": 1500, "clients": [{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": [format!("{public}/auth/callback")],
    }]}))
    .await;
    let mut binary = Binary::start(&provider.issuer, &redis, public_port, internal_port);
    wait_until_ready(&binary.internal).await;
    let browser = browser();
    let login = browser.get(format!("{public}/auth/login")).send().await.unwrap();
    let callback = sign_in(&browser, &location(&login), "alice", &format!("{public}/auth/callback")).await;
    let landed = browser.get(&callback).send().await.unwrap();
    let session = session_cookie(landed.headers()).unwrap();
    let before = stored_tokens(&redis);

    // The caller gives up while the provider has rotated the tokens but not yet answered;
    // then SIGTERM. The grant's answer must still be stored before the process exits, or
    // the session's next refresh presents a refresh token the provider has replaced.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(format!("{public}/auth/refresh"))
        .header("cookie", format!("oidc_session={session}"))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()), "the caller hangs up first");
    binary.sigterm();

    assert_eq!(binary.exit_code(), Some(0));
    assert_eq!(provider.refresh_grants().await, 1);
    // One session: its ID, access and refresh token, in that order (the provider may keep
    // the ID token on a refresh).
    let after = stored_tokens(&redis);
    assert_eq!((before.len(), after.len()), (3, 3));
    assert!(
        !after.contains(&before[1]) && !after.contains(&before[2]),
        "the rotated access and refresh tokens are stored, not lost with the process"
    );
}

#[tokio::test]
async fn a_wrong_redis_password_stops_the_start_naming_the_variable() {
    let redis = TestRedis::start();
    let mut conn = redis.connection();
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">right")
        .arg("~*")
        .arg("+@all")
        .query::<()>(&mut conn)
        .unwrap();
    let (public_port, internal_port) = ports();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oidc-session"))
        .env_clear()
        .envs([
            ("OIDC_ISSUER_URL", "http://127.0.0.1:9".to_owned()),
            ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
            (
                "OIDC_REDIRECT_URI",
                format!("http://127.0.0.1:{public_port}/auth/callback"),
            ),
            ("OIDC_REDIS_URL", format!("redis://app:wrong@127.0.0.1:{}", redis.port)),
            ("OIDC_LISTEN_ADDR", format!("127.0.0.1:{public_port}")),
            ("OIDC_INTERNAL_LISTEN_ADDR", format!("127.0.0.1:{internal_port}")),
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Redis refuses the credentials: fix OIDC_REDIS_URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong"), "the password is not echoed: {stderr}");
}

/// The binary's log of one sign-in with `username_claim`.
async fn sign_in_log(username_claim: &str) -> String {
    let redis = TestRedis::start();
    let (public, internal) = (reserve_port(), reserve_port());
    let (public_port, internal_port) = (
        public.local_addr().unwrap().port(),
        internal.local_addr().unwrap().port(),
    );
    drop((public, internal));
    let public = format!("http://127.0.0.1:{public_port}");
    let provider = TestProvider::start(json!({"port": 0, "par": true, "clients": [{
        "client_id": CLIENT_ID, "token_endpoint_auth_method": "none",
        "redirect_uris": [format!("{public}/auth/callback")],
    }]}))
    .await;
    let log_file = std::env::temp_dir().join(format!("oidc-session-test-log-{}-{public_port}", std::process::id()));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oidc-session"))
        .env_clear()
        .envs([
            ("OIDC_ISSUER_URL", provider.issuer.clone()),
            ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
            ("OIDC_REDIRECT_URI", format!("{public}/auth/callback")),
            ("OIDC_REDIS_URL", redis.url.clone()),
            ("OIDC_USERNAME_CLAIM", username_claim.to_owned()),
            ("OIDC_LISTEN_ADDR", format!("127.0.0.1:{public_port}")),
            ("OIDC_INTERNAL_LISTEN_ADDR", format!("127.0.0.1:{internal_port}")),
            ("OIDC_LOG", "warn".to_owned()),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_until_ready(&format!("http://127.0.0.1:{internal_port}")).await;
    let browser = browser();
    let login = browser.get(format!("{public}/auth/login")).send().await.unwrap();
    let callback = sign_in(&browser, &location(&login), "alice", &format!("{public}/auth/callback")).await;
    let landed = browser.get(&callback).send().await.unwrap();
    assert_eq!(landed.status(), reqwest::StatusCode::FOUND, "the sign-in succeeds");
    // Stopped with SIGTERM, not killed: log lines go out through a background writer, and
    // only an orderly exit is sure to have written them all.
    drop(browser);
    let pid = child.id().expect("running").to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exited = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    assert!(exited.is_ok(), "the process did not exit after SIGTERM");
    let log = std::fs::read_to_string(&log_file).unwrap();
    std::fs::remove_file(&log_file).unwrap();
    log
}

#[tokio::test]
async fn a_claim_path_that_finds_nothing_is_logged_at_sign_in_with_the_names_sent_but_no_values() {
    let log = sign_in_log("$.realm_access.username").await;
    let warning = log
        .lines()
        .find(|l| l.contains("OIDC_USERNAME_CLAIM"))
        .unwrap_or_else(|| panic!("no warning about OIDC_USERNAME_CLAIM in:\n{log}"));
    assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
    assert!(warning.contains("$.realm_access.username"), "{warning}");
    for name in ["email", "email_verified", "groups", "name", "preferred_username", "sub"] {
        assert!(warning.contains(name), "`{name}` missing: {warning}");
    }
    for value in ["alice@example.test", "Alice Test", "users"] {
        assert!(!warning.contains(value), "the value `{value}` is logged: {warning}");
    }

    let log = sign_in_log("preferred_username").await;
    assert!(!log.contains("finds nothing"), "{log}");
}
