use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::oidc::login::TokenError;
use crate::oidc::provider::OpenIdProvider;
use crate::oidc::test_server::{discovery_document, http_provider, serve};

#[tokio::test]
async fn sign_ins_beyond_the_bound_on_concurrent_pushed_requests_are_refused_as_busy_not_queued() {
    let issuer = Arc::new(std::sync::Mutex::new(String::new()));
    let base = issuer.clone();
    let url = serve(Arc::new(move |line: &str| {
        if line.starts_with("POST /par") {
            // A slow provider: every push is still in flight when the next one starts.
            let answer = json!({"request_uri": "urn:example:1", "expires_in": 60});
            (201, answer, Duration::from_millis(1500))
        } else if line.starts_with("GET /jwks") {
            (200, json!({"keys": []}), Duration::ZERO)
        } else {
            (200, discovery_document(&base.lock().unwrap()), Duration::ZERO)
        }
    }))
    .await;
    *issuer.lock().unwrap() = url.clone();
    let provider = http_provider(&url);
    provider.load().await.expect("discovery");

    let pushes = (0..super::super::client::ANONYMOUS_PROVIDER_CALLS + 8).map(|_| {
        let provider = provider.clone();
        tokio::spawn(async move {
            let request = provider.authorization_request().unwrap();
            provider.authorization_redirect(&request).await
        })
    });
    let mut busy = 0;
    for push in futures_util::future::join_all(pushes).await {
        match push.unwrap() {
            Ok(redirect) => assert!(redirect.as_str().contains("request_uri="), "{redirect}"),
            Err(TokenError::Busy) => busy += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(busy, 8);
}
