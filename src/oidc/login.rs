//! The authorization code flow with PKCE: building the request, exchanging the code,
//! refreshing, and reading userinfo.

use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreJsonWebKeySet, CoreTokenResponse,
};
use openidconnect::{
    reqwest, AsyncHttpClient, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, IssuerUrl, JsonWebKeySet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardErrorResponse, TokenResponse, TokenUrl,
};
use serde_json::{Map, Value};
use url::Url;

use super::client_auth::{assertion_params, authenticated_post, SignError};
use super::discovery::Endpoints;
use crate::config::{ClientAuthMethod, ProviderSettings};
use crate::domain::{now, Tokens};
use crate::session::store::Cause;

type OidcClient = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointNotSet>;

fn client(settings: &ProviderSettings, endpoints: &Endpoints) -> OidcClient {
    // Keys are handled by `Provider` (re-fetched on rotation), not by this client.
    let no_keys: CoreJsonWebKeySet = JsonWebKeySet::new(Vec::new());
    let issuer = IssuerUrl::from_url(Url::parse(&settings.issuer).expect("validated at start"));
    let mut client = CoreClient::new(ClientId::new(settings.client_id.clone()), issuer, no_keys)
        .set_auth_uri(AuthUrl::from_url(endpoints.authorization.clone()))
        .set_token_uri(TokenUrl::from_url(endpoints.token.clone()))
        .set_redirect_uri(RedirectUrl::from_url(settings.redirect_uri.clone()));
    if let Some(secret) = &settings.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    client.set_auth_type(match settings.auth_method {
        ClientAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
        // private_key_jwt: `client_id` in the body beside the assertion (see `assertion_params`).
        ClientAuthMethod::ClientSecretPost | ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt => {
            AuthType::RequestBody
        }
    })
}

/// A started login: where to send the browser, and what to remember until it returns.
pub(crate) struct AuthRequest {
    pub(crate) url: Url,
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
}

pub(crate) fn authorization_request(settings: &ProviderSettings, endpoints: &Endpoints) -> AuthRequest {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = client(settings, endpoints);
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(
            settings
                .scopes
                .iter()
                .filter(|s| *s != "openid")
                .cloned()
                .map(Scope::new),
        )
        .set_pkce_challenge(challenge);
    if let Some(prompt) = &settings.prompt {
        request = request.add_extra_param("prompt", prompt.clone());
    }
    for (k, v) in &settings.extra_auth_params {
        request = request.add_extra_param(k.clone(), v.clone());
    }
    let (url, state, nonce) = request.url();
    AuthRequest {
        url,
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error(transparent)]
    NotReady(#[from] super::provider::NotReady),
    #[error("the provider refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rejected { error: String, description: Option<String> },
    #[error("the provider could not be reached")]
    Unreachable(#[source] Cause),
    #[error("the provider's token response is invalid: {0}")]
    InvalidResponse(String),
    #[error("the provider's token response holds no ID token")]
    NoIdToken,
    #[error("cannot authenticate to the provider")]
    ClientAssertion(#[source] SignError),
}

impl TokenError {
    /// The provider no longer honours the grant (`invalid_grant`): the session is over.
    pub(crate) fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::Rejected { error, .. } if error == "invalid_grant")
    }
}

/// What a token response holds, ready to store.
pub(crate) struct TokenSet {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) access_token_expires_at: Option<u64>,
    pub(crate) id_token: Option<CoreIdToken>,
}

impl TokenSet {
    pub(crate) fn into_tokens(self, id_token: String) -> Tokens {
        Tokens {
            id_token,
            access_token: self.access_token,
            refresh_token: self.refresh_token,
        }
    }
}

fn map_token_error<RE: std::error::Error + Send + Sync + 'static>(
    e: RequestTokenError<RE, openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>>,
) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) => TokenError::Rejected {
            error: r.error().to_string(),
            description: r.error_description().cloned(),
        },
        RequestTokenError::Request(e) => TokenError::Unreachable(Box::new(e)),
        // Never the body: it may hold tokens.
        RequestTokenError::Parse(e, _) => TokenError::InvalidResponse(e.path().to_string()),
        RequestTokenError::Other(m) => TokenError::InvalidResponse(m),
    }
}

/// The longest access-token lifetime believed from `expires_in`: a provider's number is
/// capped (and added saturating), so `u64::MAX` cannot wrap into an expired token.
const MAX_EXPIRES_IN: u64 = 365 * 86_400;

fn expires_at(now: u64, expires_in: Duration) -> u64 {
    now.saturating_add(expires_in.as_secs().min(MAX_EXPIRES_IN))
}

fn token_set(response: CoreTokenResponse) -> TokenSet {
    TokenSet {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        access_token_expires_at: response.expires_in().map(|d| expires_at(now(), d)),
        id_token: response.id_token().cloned(),
    }
}

/// The token request of the callback. Generic over the HTTP client so that `check` can send
/// the very same request and read the provider's answer itself.
/// `assertion`: the client-assertion parameters ([`assertion_params`]), signed by the caller.
pub(crate) async fn request_code_grant<C, E>(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &C,
    code: &str,
    pkce_verifier: &str,
    assertion: Vec<(&'static str, String)>,
) -> Result<CoreTokenResponse, RequestTokenError<E, StandardErrorResponse<CoreErrorResponseType>>>
where
    C: for<'c> AsyncHttpClient<'c, Error = E>,
    E: std::error::Error + 'static,
{
    let client = client(settings, endpoints);
    let mut request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
    for (name, value) in assertion {
        request = request.add_extra_param(name, value);
    }
    request.request_async(http).await
}

pub(crate) async fn exchange_code(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    code: &str,
    pkce_verifier: &str,
) -> Result<TokenSet, TokenError> {
    let assertion = assertion_params(settings, endpoints).map_err(TokenError::ClientAssertion)?;
    let response = request_code_grant(settings, endpoints, http, code, pkce_verifier, assertion)
        .await
        .map_err(map_token_error)?;
    let set = token_set(response);
    if set.id_token.is_none() {
        return Err(TokenError::NoIdToken);
    }
    Ok(set)
}

pub(crate) async fn refresh(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    refresh_token: &str,
) -> Result<TokenSet, TokenError> {
    let token = RefreshToken::new(refresh_token.to_owned());
    let client = client(settings, endpoints);
    let mut request = client.exchange_refresh_token(&token);
    for (name, value) in assertion_params(settings, endpoints).map_err(TokenError::ClientAssertion)? {
        request = request.add_extra_param(name, value);
    }
    let response = request.request_async(http).await.map_err(map_token_error)?;
    Ok(token_set(response))
}

/// RFC 7009 revocation of a refresh token, authenticated as at the token endpoint.
/// Done by hand: openidconnect refuses revocation endpoints that are not https, which
/// would leave offline grants alive behind an http provider on a private network.
pub(crate) async fn revoke(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    refresh_token: &str,
) -> Result<(), TokenError> {
    let Some(url) = &endpoints.revocation else {
        return Ok(());
    };
    let form = vec![
        ("token".to_owned(), refresh_token.to_owned()),
        ("token_type_hint".to_owned(), "refresh_token".to_owned()),
    ];
    let response = authenticated_post(http, url, settings, endpoints, form)
        .map_err(TokenError::ClientAssertion)?
        .send()
        .await
        .map_err(|e| TokenError::Unreachable(Box::new(e)))?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    Err(error_response("revocation", status, &body))
}

/// An OAuth error response (`{"error", "error_description"}`), or the status when the body
/// is not one. Never the body itself.
pub(crate) fn error_response(endpoint: &str, status: u16, body: &[u8]) -> TokenError {
    #[derive(serde::Deserialize)]
    struct ErrorResponse {
        error: String,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => TokenError::Rejected {
            error: e.error,
            description: e.error_description,
        },
        Err(_) => TokenError::InvalidResponse(format!("{endpoint} answered {status}")),
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum UserinfoError {
    #[error(transparent)]
    NotReady(#[from] super::provider::NotReady),
    #[error("the userinfo endpoint could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the userinfo endpoint answered {0}")]
    Status(u16),
    #[error(
        "the userinfo response is not a JSON object (signed userinfo is not supported; set OIDC_FETCH_USERINFO=false)"
    )]
    NotJson,
    #[error("the userinfo `sub` differs from the ID token's")]
    SubjectMismatch,
}

/// Userinfo claims; their `sub` must equal the ID token's (OIDC Core §5.3.2).
pub(crate) async fn userinfo(
    http: &reqwest::Client,
    url: &Url,
    access_token: &str,
    expected_sub: &str,
) -> Result<Map<String, Value>, UserinfoError> {
    let response = http
        .get(url.clone())
        .bearer_auth(access_token)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(UserinfoError::Unreachable)?;
    if !response.status().is_success() {
        return Err(UserinfoError::Status(response.status().as_u16()));
    }
    let body = response.bytes().await.map_err(UserinfoError::Unreachable)?;
    let claims: Map<String, Value> = serde_json::from_slice(&body).map_err(|_| UserinfoError::NotJson)?;
    if claims.get("sub").and_then(Value::as_str) != Some(expected_sub) {
        return Err(UserinfoError::SubjectMismatch);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_expires_in_is_capped_and_never_wraps() {
        let now = 1_800_000_000;
        assert_eq!(expires_at(now, Duration::from_secs(300)), now + 300);
        assert_eq!(expires_at(now, Duration::from_secs(u64::MAX)), now + MAX_EXPIRES_IN);
        assert_eq!(expires_at(u64::MAX, Duration::from_secs(u64::MAX)), u64::MAX);
    }
}
