//! Redis over TLS (`rediss://`) for real: redis-server listening with TLS only, its
//! certificate signed by a CA made in the test and trusted through `OIDC_EXTRA_CA_FILE`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::app::{spawn_app_with, Options, CLIENT_ID};
use crate::support::child::reserve_port;
use crate::support::flows::core_flows;
use crate::support::redis::TestRedis;
use crate::support::tls::TestTls;
use crate::support::topology::{TestCluster, TestSentinel, MASTER_NAME};

fn trusting(redis: &TestRedis, tls: &TestTls) -> Vec<(&'static str, String)> {
    vec![
        ("OIDC_REDIS_URL", redis.url.clone()),
        ("OIDC_EXTRA_CA_FILE", tls.ca_file.display().to_string()),
    ]
}

#[tokio::test]
async fn the_core_flows_work_against_standalone_redis_over_tls_signed_by_a_private_ca() {
    let tls = TestTls::generate("private");
    let redis = TestRedis::start_tls(&tls);
    assert!(redis.url.starts_with("rediss://"));
    core_flows(trusting(&redis, &tls)).await;
    // Sessions have all ended by now; the gauge's counters they left show where they lived.
    let keys: Vec<String> = redis::cmd("KEYS").arg("oidc:*").query(&mut redis.connection()).unwrap();
    assert!(
        keys.iter().any(|k| k == "oidc:session-ends"),
        "the sessions went to the TLS server: {keys:?}"
    );
}

/// The binary's exit status and its stderr, against a TLS Redis with `extra_ca` (if any).
async fn start_against(redis: &TestRedis, extra_ca: Option<&std::path::Path>) -> (Option<i32>, String) {
    let (public, internal) = (reserve_port(), reserve_port());
    let (public_port, internal_port) = (
        public.local_addr().unwrap().port(),
        internal.local_addr().unwrap().port(),
    );
    drop((public, internal));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_oidc-session"));
    command.env_clear().envs([
        ("OIDC_ISSUER_URL", "http://127.0.0.1:9".to_owned()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        (
            "OIDC_REDIRECT_URI",
            format!("http://127.0.0.1:{public_port}/auth/callback"),
        ),
        ("OIDC_REDIS_URL", redis.url.clone()),
        ("OIDC_LISTEN_ADDR", format!("127.0.0.1:{public_port}")),
        ("OIDC_INTERNAL_LISTEN_ADDR", format!("127.0.0.1:{internal_port}")),
    ]);
    if let Some(ca) = extra_ca {
        command.env("OIDC_EXTRA_CA_FILE", ca);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("the process stops by itself")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_redis_certificate_from_an_untrusted_ca_stops_the_start_with_status_2_naming_oidc_extra_ca_file() {
    let tls = TestTls::generate("private");
    let redis = TestRedis::start_tls(&tls);
    let other = TestTls::generate("other");
    for extra_ca in [None, Some(other.ca_file.as_path())] {
        let (status, stderr) = start_against(&redis, extra_ca).await;
        assert_eq!(status, Some(2), "with {extra_ca:?}: {stderr}");
        assert!(
            stderr.contains("TLS certificate that is not trusted") && stderr.contains("OIDC_EXTRA_CA_FILE"),
            "with {extra_ca:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn an_oidc_extra_ca_file_without_a_certificate_stops_the_start_with_status_2_naming_it() {
    let tls = TestTls::generate("private");
    let redis = TestRedis::start_tls(&tls);
    let garbage = tls.dir().join("not-a-certificate.pem");
    std::fs::write(&garbage, "this is not a PEM certificate\n").unwrap();
    let (status, stderr) = start_against(&redis, Some(&garbage)).await;
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("OIDC_EXTRA_CA_FILE"), "{stderr}");
}

#[tokio::test]
async fn the_core_flows_and_a_failover_work_against_redis_sentinel_over_tls() {
    let tls = TestTls::generate("private");
    let mut sentinel = TestSentinel::start_tls(&tls);
    let env = vec![
        (
            "OIDC_REDIS_SENTINELS",
            format!("rediss://{}", sentinel.sentinel_tls_addr.as_ref().unwrap()),
        ),
        ("OIDC_REDIS_SENTINEL_MASTER", MASTER_NAME.to_owned()),
        ("OIDC_EXTRA_CA_FILE", tls.ca_file.display().to_string()),
    ];
    core_flows(env.clone()).await;

    let app = spawn_app_with(Options {
        env,
        ..Options::default()
    })
    .await;
    let session = app.sign_in("dora").await;
    sentinel.wait_until_replicated(Duration::from_secs(10));
    let old = sentinel.master_port();
    sentinel.stop_master();
    sentinel.wait_for_failover(old, Duration::from_secs(40));
    let mut active = false;
    for _ in 0..60 {
        let response = app
            .api
            .post(format!("{}/introspect", app.internal))
            .json(&json!({ "session": session }))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("answers after the failover");
        if response.status() == StatusCode::OK && response.json::<Value>().await.unwrap()["active"] == true {
            active = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(active, "the session is active on the new master, reached over TLS");
}

#[tokio::test]
async fn the_core_flows_work_against_a_redis_cluster_over_tls() {
    let tls = TestTls::generate("private");
    let cluster = TestCluster::start_tls(&tls);
    assert!(cluster.nodes.iter().all(|n| n.starts_with("rediss://")));
    core_flows(vec![
        ("OIDC_REDIS_CLUSTER_NODES", cluster.node_urls_csv()),
        ("OIDC_EXTRA_CA_FILE", tls.ca_file.display().to_string()),
    ])
    .await;
}
