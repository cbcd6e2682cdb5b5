//! RFC 7662 token introspection at the provider, for opaque bearer tokens: a form POST
//! authenticated as this client (the same `authenticated_post` as the token, revocation
//! and PAR endpoints), whose answer is judged like a JWT's claims.

use openidconnect::reqwest;
use serde_json::{Map, Value};
use url::Url;

use super::access_token::{check_claims, AccessClaims, AccessTokenError};
use super::body::{read_limited, ANSWER_LIMIT};
use super::client_auth::authenticated_post;
use super::discovery::Endpoints;
use crate::config::ProviderSettings;
use crate::util::error_chain;

/// Asks `url` about `token`: accepted when `active` is true, `aud` (when present) names one of
/// `audiences`, `exp` is present and in the future.
pub(crate) async fn introspect(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    url: &Url,
    token: &str,
    audiences: &[String],
    now: u64,
) -> Result<AccessClaims, AccessTokenError> {
    let form = vec![
        ("token".to_owned(), token.to_owned()),
        ("token_type_hint".to_owned(), "access_token".to_owned()),
    ];
    let failed = |what: &str, e: &dyn std::error::Error| {
        tracing::warn!(error = %error_chain(e), "token introspection at the provider failed: {what}");
        AccessTokenError::IntrospectionFailed
    };
    let request = authenticated_post(http, url, settings, endpoints, form)
        .await
        .map_err(|e| failed("signing", &e))?;
    let response = request.send().await.map_err(|e| failed("unreachable", &e))?;
    let status = response.status();
    if !status.is_success() {
        tracing::warn!(
            status = status.as_u16(),
            "the provider's introspection endpoint refused the request"
        );
        return Err(AccessTokenError::IntrospectionFailed);
    }
    let body = read_limited(response, ANSWER_LIMIT)
        .await
        .map_err(|e| failed("reading", &e))?;
    let answer: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| failed("not JSON", &e))?;
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(AccessTokenError::Inactive);
    }
    check_claims(answer, audiences, false, settings.clock_skew, now)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::json;

    use crate::oidc::access_token::AccessTokenError;
    use crate::oidc::provider::OpenIdProvider;
    use crate::oidc::test_server::{discovery_document, http_provider, serve};

    /// A provider whose introspection answer for an active token carries `padding` bytes.
    async fn provider_answering_with(padding: usize) -> Arc<crate::oidc::client::HttpProvider> {
        let issuer = Arc::new(Mutex::new(String::new()));
        let base = issuer.clone();
        let url = serve(Arc::new(move |line: &str| {
            let i = base.lock().unwrap().clone();
            if line.starts_with("POST /introspect") {
                let answer = json!({"active": true, "sub": "alice", "iss": i, "exp": crate::domain::now() + 300,
                    "padding": "x".repeat(padding)});
                (200, answer, Duration::ZERO)
            } else if line.starts_with("GET /jwks") {
                (200, json!({"keys": []}), Duration::ZERO)
            } else {
                let mut document = discovery_document(&i);
                document["introspection_endpoint"] = json!(format!("{i}/introspect"));
                (200, document, Duration::ZERO)
            }
        }))
        .await;
        *issuer.lock().unwrap() = url.clone();
        let provider = http_provider(&url);
        provider.load().await.expect("discovery");
        provider
    }

    #[tokio::test]
    async fn an_introspection_answer_past_the_size_limit_is_refused_and_one_within_it_is_judged() {
        let small = provider_answering_with(10).await;
        let claims = small
            .introspect_token("opaque", &[])
            .await
            .expect("a small answer is read");
        assert_eq!(claims.sub, "alice");

        let large = provider_answering_with(super::ANSWER_LIMIT).await;
        let refused = large.introspect_token("opaque", &[]).await.unwrap_err();
        assert!(matches!(refused, AccessTokenError::IntrospectionFailed), "{refused:?}");
    }
}
