//! Scale-out: the core flows against Redis Sentinel and a 3-master Redis Cluster,
//! failover, slot migration, and several replicas sharing one session space.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{browser, introspect_at, session_redis_key, spawn_app_with, Options, CLIENT_ID};
use crate::support::flows::core_flows;
use crate::support::forge::logout_claims;
use crate::support::forging_provider::spawn_against_forger;
use crate::support::replica::start_replica;
use crate::support::topology::{TestCluster, TestSentinel, MASTER_NAME};

fn sentinel_env(sentinel: &TestSentinel) -> Vec<(&'static str, String)> {
    vec![
        ("OIDC_REDIS_SENTINELS", sentinel.sentinel_addr.clone()),
        ("OIDC_REDIS_SENTINEL_MASTER", MASTER_NAME.to_owned()),
    ]
}

fn cluster_env(cluster: &TestCluster) -> Vec<(&'static str, String)> {
    vec![("OIDC_REDIS_CLUSTER_NODES", cluster.node_urls_csv())]
}

#[tokio::test]
async fn the_core_flows_work_against_redis_sentinel() {
    let sentinel = TestSentinel::start();
    core_flows(sentinel_env(&sentinel)).await;
}

#[tokio::test]
async fn the_core_flows_work_against_a_three_master_redis_cluster() {
    let cluster = TestCluster::start();
    core_flows(cluster_env(&cluster)).await;
}

#[tokio::test]
async fn after_a_sentinel_failover_sessions_survive_and_new_logins_work() {
    let mut sentinel = TestSentinel::start();
    let app = spawn_app_with(Options {
        env: sentinel_env(&sentinel),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("dora").await;
    // Make sure the replica has the session before the master dies.
    sentinel.wait_until_replicated(Duration::from_secs(10));

    let old = sentinel.master_port();
    sentinel.stop_master();
    // During the switch every request answers (200 or 503) within its bound; none hangs.
    let bounded = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let introspect = || {
        bounded
            .post(format!("{}/introspect", app.internal))
            .json(&json!({ "session": session }))
            .send()
    };
    let status = introspect().await.expect("answers while the master is down").status();
    assert!(
        status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
        "{status}"
    );
    sentinel.wait_for_failover(old, Duration::from_secs(40));

    let mut active = false;
    for _ in 0..60 {
        let response = introspect().await.expect("answers after the failover");
        if response.status() == StatusCode::OK && response.json::<serde_json::Value>().await.unwrap()["active"] == true
        {
            active = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        active,
        "the session created before the failover is active on the new master"
    );
    let fresh = app.sign_in_with(&browser(), "eve").await;
    assert!(app.is_active(&fresh).await, "new logins write to the new master");
}

#[tokio::test]
async fn a_session_is_still_found_after_its_cluster_slot_migrates() {
    let cluster = TestCluster::start();
    let app = spawn_app_with(Options {
        env: cluster_env(&cluster),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("finn").await;
    let key = session_redis_key(&session);
    let before = cluster.owner_port_of(&key);
    cluster.migrate_slot_of(&key);
    assert_ne!(cluster.owner_port_of(&key), before);

    assert!(app.is_active(&session).await);
    assert_eq!(
        app.post_refresh(&session).await.status(),
        StatusCode::OK,
        "the lock shares the slot"
    );
}

#[tokio::test]
async fn three_replicas_share_one_session_space() {
    let first = spawn_against_forger().await;
    let session = first.session_for("gail", "sid-g").await;
    let forge = &first.provider.forge;
    let second = start_replica(&forge.issuer, &first.public, &first.redis.url, &[]).await;
    let third = start_replica(&forge.issuer, &first.public, &first.redis.url, &[]).await;
    for internal in [&first.internal, &second.internal, &third.internal] {
        assert_eq!(
            introspect_at(internal, &session).await["active"],
            true,
            "seen by every replica"
        );
    }
    let client = reqwest::Client::new();
    let refreshed = client
        .post(format!("{}/auth/refresh", second.public))
        .header("cookie", format!("oidc_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK, "refreshed through the second");

    let mut claims = logout_claims(&first.provider.forge.issuer, CLIENT_ID, oidc_session::session::now());
    claims["sub"] = json!("gail");
    claims["sid"] = json!("sid-g");
    let signer = &first.provider.forge.signer;
    let response = client
        .post(format!("{}/auth/backchannel-logout", third.public))
        .form(&[("logout_token", signer.sign(signer.logout_header(), claims))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "ended through the third");
    assert!(!first.is_active(&session).await);
}
