use std::sync::{Arc, Mutex};

use openidconnect::JsonWebKey;
use serde_json::{json, Value};

use super::*;
use crate::oidc::provider::OpenIdProvider;
use crate::oidc::test_server::{discovery_document, http_provider, serve};

/// What the provider publishes at `/jwks`: a status and the key ids.
struct Published {
    status: u16,
    kids: Vec<&'static str>,
}

/// A provider whose JWKS (`Cache-Control: max-age=600`) the test changes as it goes.
async fn provider(published: Arc<Mutex<Published>>) -> Arc<HttpProvider> {
    let issuer = Arc::new(Mutex::new(String::new()));
    let base = issuer.clone();
    let url = serve(Arc::new(move |line: &str| {
        if line.starts_with("GET /jwks") {
            let p = published.lock().unwrap();
            let keys: Vec<Value> = p
                .kids
                .iter()
                .map(|kid| json!({"kty": "RSA", "kid": kid, "use": "sig", "n": "sXch", "e": "AQAB"}))
                .collect();
            (p.status, json!({ "keys": keys }), Duration::ZERO)
        } else {
            let doc = discovery_document(&base.lock().unwrap());
            (200, doc, Duration::ZERO)
        }
    }))
    .await;
    *issuer.lock().unwrap() = url.clone();
    http_provider(&url)
}

fn kids(provider: &HttpProvider) -> Vec<String> {
    let keys = provider.current_keys().expect("keys loaded");
    keys.keys()
        .iter()
        .filter_map(|k| k.key_id().map(|id| id.as_str().to_owned()))
        .collect()
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn a_withdrawn_key_stops_being_trusted_at_the_next_scheduled_refresh_and_a_failed_refresh_keeps_the_last_good_set(
) {
    let published = Arc::new(Mutex::new(Published {
        status: 200,
        kids: vec!["k1", "k2"],
    }));
    let provider = provider(published.clone()).await;
    let running = provider.clone();
    let task = tokio::spawn(async move {
        running
            .keep_current_on(|_| Duration::from_millis(50), Duration::from_millis(50))
            .await
    });
    eventually("the first discovery", || provider.ready().is_ok()).await;
    assert_eq!(kids(&provider), ["k1", "k2"]);

    // The provider withdraws k2 (a compromise): no restart, no token naming it.
    published.lock().unwrap().kids = vec!["k1"];
    eventually("k2 withdrawn", || kids(&provider) == ["k1"]).await;

    // The JWKS fails for a while: the last good set stays in use.
    published.lock().unwrap().status = 500;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kids(&provider), ["k1"]);
    assert!(provider.ready().is_ok());
    task.abort();
}

#[tokio::test]
async fn the_key_set_s_max_age_is_read_from_its_answer() {
    let published = Arc::new(Mutex::new(Published {
        status: 200,
        kids: vec!["k1"],
    }));
    let provider = provider(published).await;
    assert_eq!(provider.load().await.unwrap(), Some(Duration::from_secs(600)));
}

#[test]
fn max_age_is_honoured_within_five_minutes_and_an_hour_and_an_hour_is_the_default() {
    assert_eq!(next_refresh(None), MAX_REFRESH);
    assert_eq!(next_refresh(Some(Duration::from_secs(600))), Duration::from_secs(600));
    assert_eq!(next_refresh(Some(Duration::ZERO)), MIN_REFRESH);
    assert_eq!(next_refresh(Some(Duration::from_secs(86_400 * 365))), MAX_REFRESH);
}
