//! Pushed Authorization Requests (RFC 9126): the authorization parameters go to the
//! provider over the back channel, authenticated as the client, so the browser's redirect
//! carries only `client_id` and the `request_uri` the provider hands back.

use openidconnect::reqwest;
use url::Url;

use super::client_auth::authenticated_post;
use super::discovery::Endpoints;
use super::login::{error_response, read_answer, TokenError};
use crate::config::ProviderSettings;

/// Pushes the parameters of `authorize_url` (built for the authorization endpoint) to
/// `par_endpoint` and returns the URL the browser is sent to instead.
pub(crate) async fn push(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    http: &reqwest::Client,
    par_endpoint: &Url,
    authorize_url: &Url,
) -> Result<Url, TokenError> {
    // The request's own parameters follow any the endpoint URL already has.
    let own = endpoints.authorization.query_pairs().count();
    let params: Vec<(String, String)> = authorize_url
        .query_pairs()
        .skip(own)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let response = authenticated_post(http, par_endpoint, settings, endpoints, params)
        .await
        .map_err(TokenError::ClientAssertion)?
        .send()
        .await
        .map_err(|e| TokenError::Unreachable(Box::new(e)))?;
    let status = response.status();
    let body = read_answer(response, "the pushed authorization request endpoint").await?;
    if !status.is_success() {
        return Err(error_response(
            "the pushed authorization request endpoint",
            status.as_u16(),
            &body,
        ));
    }
    #[derive(serde::Deserialize)]
    struct Pushed {
        request_uri: String,
    }
    let request_uri = serde_json::from_slice::<Pushed>(&body)
        .ok()
        .map(|p| p.request_uri)
        .filter(|uri| !uri.is_empty())
        .ok_or_else(|| TokenError::InvalidResponse("the pushed authorization response holds no request_uri".into()))?;
    let mut url = endpoints.authorization.clone();
    url.query_pairs_mut()
        .append_pair("client_id", &settings.client_id)
        .append_pair("request_uri", &request_uri);
    Ok(url)
}

#[cfg(test)]
mod tests;
