//! The authorization code flow with PKCE: building the request, exchanging the code,
//! refreshing, and reading userinfo.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJsonWebKeySet, CoreTokenResponse};
use openidconnect::{
    reqwest, AuthUrl, ClientId, CsrfToken, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Map, Value};
use url::Url;

use super::body::{read_limited, BodyError, ANSWER_LIMIT};
use super::client_auth::{authenticated_post, SignError};
use super::discovery::Endpoints;
use crate::config::ProviderSettings;
use crate::domain::{now, Tokens};

/// openidconnect builds the authorization request; the back-channel requests are sent by
/// [`authenticated_post`], the one place that applies the client's authentication.
type OidcClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet>;

fn client(settings: &ProviderSettings, endpoints: &Endpoints) -> OidcClient {
    // Keys are handled by the provider (re-fetched on rotation), not by this client.
    let no_keys: CoreJsonWebKeySet = JsonWebKeySet::new(Vec::new());
    let issuer = IssuerUrl::from_url(Url::parse(&settings.issuer).expect("validated at start"));
    CoreClient::new(ClientId::new(settings.client_id.clone()), issuer, no_keys)
        .set_auth_uri(AuthUrl::from_url(endpoints.authorization.clone()))
        .set_redirect_uri(RedirectUrl::from_url(settings.redirect_uri.clone()))
}

/// A started login: where to send the browser, and what to remember until it returns.
#[derive(Clone)]
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
    NotReady(#[from] super::discovery::NotReady),
    #[error("the provider refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rejected { error: String, description: Option<String> },
    #[error("the provider could not be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the provider's token response is invalid: {0}")]
    InvalidResponse(String),
    #[error("{0}'s answer is larger than the {1} bytes accepted")]
    TooLarge(&'static str, usize),
    #[error("the provider's token response holds no ID token")]
    NoIdToken,
    #[error("cannot authenticate to the provider")]
    ClientAssertion(#[source] SignError),
    /// Too many anonymous requests are calling the provider at once (sign-ins starting
    /// with a pushed authorization request): refused rather than queued.
    #[error("too many sign-ins are starting at once")]
    Busy,
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

/// The form of the callback's token request (the client's authentication is added by
/// [`authenticated_post`]). `check` sends the very same request with a made-up code.
pub(crate) fn code_grant_form(settings: &ProviderSettings, code: &str, pkce_verifier: &str) -> Vec<(String, String)> {
    vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code.to_owned()),
        ("redirect_uri".into(), settings.redirect_uri.to_string()),
        ("code_verifier".into(), pkce_verifier.to_owned()),
    ]
}

/// A grant at the token endpoint, authenticated as this client: the tokens, or the
/// provider's OAuth error. Neither the body nor any part of it ever reaches an error text
/// (it may hold tokens).
async fn token_request(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    form: Vec<(String, String)>,
) -> Result<CoreTokenResponse, TokenError> {
    let unreachable = |e: reqwest::Error| TokenError::Unreachable(Box::new(e));
    let response = authenticated_post(http, &endpoints.token, settings, endpoints, form)
        .await
        .map_err(TokenError::ClientAssertion)?
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let body = read_answer(response, "the token endpoint").await?;
    if !status.is_success() {
        return Err(error_response("the token endpoint", status.as_u16(), &body));
    }
    serde_json::from_slice(&body).map_err(|e| {
        TokenError::InvalidResponse(format!(
            "the token endpoint's answer is not a token response (at line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

pub(crate) async fn exchange_code(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    code: &str,
    pkce_verifier: &str,
) -> Result<TokenSet, TokenError> {
    let form = code_grant_form(settings, code, pkce_verifier);
    let set = token_set(token_request(settings, endpoints, http, form).await?);
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
    let form = vec![
        ("grant_type".into(), "refresh_token".into()),
        ("refresh_token".into(), refresh_token.to_owned()),
    ];
    Ok(token_set(token_request(settings, endpoints, http, form).await?))
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
        .await
        .map_err(TokenError::ClientAssertion)?
        .send()
        .await
        .map_err(|e| TokenError::Unreachable(Box::new(e)))?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status().as_u16();
    let body = read_answer(response, "the revocation endpoint").await?;
    Err(error_response("the revocation endpoint", status, &body))
}

/// A back-channel answer's body, at most [`ANSWER_LIMIT`] bytes.
pub(crate) async fn read_answer(response: reqwest::Response, endpoint: &'static str) -> Result<Vec<u8>, TokenError> {
    read_limited(response, ANSWER_LIMIT).await.map_err(|e| match e {
        BodyError::Read(e) => TokenError::Unreachable(Box::new(e)),
        BodyError::TooLarge { limit } => TokenError::TooLarge(endpoint, limit),
    })
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
    NotReady(#[from] super::discovery::NotReady),
    #[error("the userinfo endpoint could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the userinfo endpoint answered {0}")]
    Status(u16),
    #[error(
        "the userinfo response is not a JSON object (signed userinfo is not supported; set OIDC_FETCH_USERINFO=false)"
    )]
    NotJson,
    #[error("the userinfo answer is larger than the {0} bytes accepted")]
    TooLarge(usize),
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
        .headers(crate::telemetry::trace::outgoing_headers())
        .send()
        .await
        .map_err(UserinfoError::Unreachable)?;
    if !response.status().is_success() {
        return Err(UserinfoError::Status(response.status().as_u16()));
    }
    let body = read_limited(response, ANSWER_LIMIT).await.map_err(|e| match e {
        BodyError::Read(e) => UserinfoError::Unreachable(e),
        BodyError::TooLarge { limit } => UserinfoError::TooLarge(limit),
    })?;
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
