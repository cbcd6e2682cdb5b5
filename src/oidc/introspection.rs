//! RFC 7662 token introspection at the provider, for opaque bearer tokens: a form POST
//! authenticated as this client (the same `authenticated_post` as the token, revocation
//! and PAR endpoints), whose answer is judged like a JWT's claims.

use openidconnect::reqwest;
use serde_json::{Map, Value};
use url::Url;

use super::access_token::{check_claims, AccessClaims, AccessTokenError};
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
    let body = response.bytes().await.map_err(|e| failed("reading", &e))?;
    let answer: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| failed("not JSON", &e))?;
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(AccessTokenError::Inactive);
    }
    check_claims(answer, audiences, false, settings.clock_skew, now)
}
