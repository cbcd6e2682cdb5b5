//! A minimal HTTP/1.1 provider for unit tests of the provider client: each request is
//! answered by `answer(request line)` with a status, a JSON body and a delay.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) type Answer = Arc<dyn Fn(&str) -> (u16, Value, Duration) + Send + Sync>;

/// Serves until the test ends; returns the issuer (`http://127.0.0.1:port`).
pub(crate) async fn serve(answer: Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 8192];
                let n = conn.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]).into_owned();
                let (status, body, delay) = answer(head.lines().next().unwrap_or_default());
                tokio::time::sleep(delay).await;
                let body = body.to_string();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncache-control: max-age=600\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    });
    issuer
}

/// A discovery document for `issuer`, served at the paths this module's tests use.
pub(crate) fn discovery_document(i: &str) -> Value {
    json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "pushed_authorization_request_endpoint": format!("{i}/par"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// An `HttpProvider` for `issuer`, with a client secret.
pub(crate) fn http_provider(issuer: &str) -> Arc<super::client::HttpProvider> {
    let vars = [
        ("OIDC_ISSUER_URL", issuer),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_CLIENT_SECRET", "secret"),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let settings = crate::config::Settings::from_vars(vars)
        .expect("valid test settings")
        .provider;
    let http = super::client::http_client(&settings).unwrap();
    let metrics = Arc::new(crate::telemetry::metrics::Metrics::new());
    Arc::new(super::client::HttpProvider::new(settings, http, metrics))
}
