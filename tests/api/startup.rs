//! Start-up and stop: the background discovery never outlives the application, and a
//! Redis problem names the variables of the Redis mode in use.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oidc_session::config::Settings;
use oidc_session::startup::{Application, StartupError};
use tokio::sync::oneshot;

use crate::support::app::{free_listener, CLIENT_ID};
use crate::support::child::reserve_port;
use crate::support::topology::{TestSentinel, MASTER_NAME};

/// A provider that is never ready: it counts connections and hangs up on each, so the
/// service keeps retrying discovery (after 1 s, then 2 s, 4 s…) for as long as it runs.
async fn counting_provider() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(connection);
        }
    });
    (issuer, count)
}

fn settings(issuer: &str) -> Settings {
    let vars = [
        ("OIDC_ISSUER_URL", issuer.to_owned()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_REDIRECT_URI", "http://127.0.0.1:9/auth/callback".to_owned()),
        ("OIDC_REDIS_URL", "redis://127.0.0.1:9".to_owned()),
        ("OIDC_LOG", "error".to_owned()),
    ];
    Settings::from_vars(vars.map(|(k, v)| (k.to_owned(), v))).unwrap()
}

/// Longer than the first two discovery retries (1 s and 2 s after a failure).
const RETRIES_WINDOW: Duration = Duration::from_millis(3500);

#[cfg(unix)]
#[tokio::test]
async fn a_start_up_error_leaves_no_discovery_running() {
    let (issuer, calls) = counting_provider().await;
    // A "listener" that the runtime cannot register (a file, not a socket): serving
    // fails at start-up, after the application was built.
    let not_a_socket = std::os::fd::OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let public = std::net::TcpListener::from(not_a_socket);
    let app = Application::with_listeners(settings(&issuer), public, free_listener()).unwrap();

    let result = app.run(std::future::pending()).await;
    assert!(matches!(result, Err(StartupError::Serve(_))), "{result:?}");
    tokio::time::sleep(RETRIES_WINDOW).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0, "discovery ran after a failed start");
}

#[tokio::test]
async fn once_the_application_stops_discovery_stops_too() {
    let (issuer, calls) = counting_provider().await;
    let app = Application::with_listeners(settings(&issuer), free_listener(), free_listener()).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let after_stop = calls.load(Ordering::SeqCst);
    tokio::time::sleep(RETRIES_WINDOW).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        after_stop,
        "discovery retried after the stop"
    );
}

/// The binary with these variables (and `args`); its exit status and output.
async fn binary(args: &[&str], vars: &[(&str, String)]) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oidc-session"))
        .args(args)
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

fn base_vars() -> Vec<(&'static str, String)> {
    let (public, internal) = (reserve_port(), reserve_port());
    let port = |l: std::net::TcpListener| l.local_addr().unwrap().port();
    let (public, internal) = (port(public), port(internal));
    vec![
        ("OIDC_ISSUER_URL", "http://127.0.0.1:9".to_owned()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_REDIRECT_URI", format!("http://127.0.0.1:{public}/auth/callback")),
        ("OIDC_LISTEN_ADDR", format!("127.0.0.1:{public}")),
        ("OIDC_INTERNAL_LISTEN_ADDR", format!("127.0.0.1:{internal}")),
    ]
}

#[tokio::test]
async fn an_unusable_cluster_configuration_names_the_cluster_variable() {
    let mut vars = base_vars();
    // The cluster client refuses seed nodes with different passwords.
    vars.push((
        "OIDC_REDIS_CLUSTER_NODES",
        "redis://:pw-one@127.0.0.1:7001,redis://:pw-two@127.0.0.1:7002".to_owned(),
    ));
    for args in [&[][..], &["check"][..]] {
        let (code, out) = binary(args, &vars).await;
        assert_ne!(code, Some(0), "{args:?}: {out}");
        assert!(out.contains("OIDC_REDIS_CLUSTER_NODES"), "{args:?}: {out}");
        assert!(!out.contains("OIDC_REDIS_URL"), "{args:?}: {out}");
        assert!(!out.contains("pw-one") && !out.contains("pw-two"), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn wrong_data_node_credentials_in_sentinel_mode_name_the_sentinel_variables() {
    let sentinel = TestSentinel::start_with_auth(Some("right-password"), None);
    let mut vars = base_vars();
    vars.push((
        "OIDC_REDIS_SENTINELS",
        format!("redis://:wrong-password@{}", sentinel.sentinel_addr),
    ));
    vars.push(("OIDC_REDIS_SENTINEL_MASTER", MASTER_NAME.to_owned()));

    let (code, out) = binary(&[], &vars).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("Redis refuses the credentials: fix OIDC_REDIS_SENTINELS"),
        "{out}"
    );
    assert!(!out.contains("OIDC_REDIS_URL"), "{out}");
    assert!(!out.contains("wrong-password"), "the password is not echoed: {out}");

    let (code, out) = binary(&["check"], &vars).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("fix the user/password in OIDC_REDIS_SENTINELS"), "{out}");
}
