//! Requests that ask the provider what it thinks of this client without signing anyone in
//! (`oidc-session check`). Each sends what the login flow sends, built by the same code, and
//! hands back the provider's answer unjudged: interpreting it is `check`'s business.

use openidconnect::{reqwest, CsrfToken, PkceCodeChallenge};
use serde::Deserialize;
use url::Url;

use super::body::{read_limited, ANSWER_LIMIT};
use super::client_auth::{authenticated_post, SignError};
use super::discovery::Endpoints;
use super::login;
use crate::config::ProviderSettings;

/// Never read more of a page than this: an error page fits, a provider streaming
/// garbage does not make `check` hang or grow.
const PAGE_LIMIT: usize = 256 * 1024;

/// The provider's answer to a back-channel request (token endpoint, PAR endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A success status (and, for the token endpoint, tokens).
    Accepted,
    /// An OAuth 2.0 error response (RFC 6749 §5.2).
    Refused {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// Anything else: no OAuth error, no success.
    Unreadable { status: u16 },
}

/// Why a probe got no answer to read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("no HTTP answer")]
    Unreachable(#[source] reqwest::Error),
    #[error("cannot sign a client assertion")]
    Sign(#[source] SignError),
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// The callback's token request with a made-up authorization code and the configured client
/// authentication. `Err` only when no HTTP answer came back (or no assertion could be signed).
pub(crate) async fn made_up_code_grant(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
) -> Result<Answer, ProbeError> {
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = format!("oidc-session-check-{}", CsrfToken::new_random().secret());
    let form = login::code_grant_form(settings, &code, verifier.secret());
    let response = authenticated_post(http, &endpoints.token, settings, endpoints, form)
        .await
        .map_err(ProbeError::Sign)?
        .send()
        .await
        .map_err(ProbeError::Unreachable)?;
    Ok(read_answer(response).await)
}

/// A pushed authorization request (RFC 9126) carrying the parameters of `authorize_url` —
/// the login's own authorization request — authenticated as the login's push is.
pub(crate) async fn push_authorization_request(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    par_endpoint: &Url,
    authorize_url: &Url,
) -> Result<Answer, ProbeError> {
    // The request's own parameters follow any the endpoint URL already has.
    let own = endpoints.authorization.query_pairs().count();
    let params: Vec<(String, String)> = authorize_url
        .query_pairs()
        .skip(own)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let response = authenticated_post(http, par_endpoint, settings, endpoints, params)
        .await
        .map_err(ProbeError::Sign)?
        .send()
        .await
        .map_err(ProbeError::Unreachable)?;
    Ok(read_answer(response).await)
}

/// The answer of a back-channel endpoint, unjudged. A body that cannot be read counts as
/// unreadable: the status has arrived, so the provider did answer.
async fn read_answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Answer::Accepted;
    }
    let body = read_limited(response, ANSWER_LIMIT).await.unwrap_or_default();
    match serde_json::from_slice::<OAuthError>(&body) {
        Ok(e) => Answer::Refused {
            status,
            error: e.error,
            description: e.error_description,
        },
        Err(_) => Answer::Unreadable { status },
    }
}

/// What the authorization endpoint answers a browser, redirects not followed.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub status: u16,
    /// `Location`, resolved against the request URL.
    pub location: Option<Url>,
    /// The start of the body, lossily decoded.
    pub body: String,
}

pub(crate) async fn open(http: &reqwest::Client, url: &Url) -> Result<Page, reqwest::Error> {
    let mut response = http.get(url.clone()).header("accept", "text/html").send().await?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url.join(v).ok());
    let mut body = Vec::new();
    while body.len() < PAGE_LIMIT {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    body.truncate(PAGE_LIMIT);
    Ok(Page {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
