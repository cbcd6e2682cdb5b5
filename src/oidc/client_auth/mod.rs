//! Client authentication at the provider's token, revocation, pushed-authorization and
//! introspection endpoints, as [`ClientAuth`] says: a client secret (Basic or in the body),
//! nothing (public client), or a `private_key_jwt` client assertion (RFC 7523 §2.2, OIDC
//! Core §9) signed fresh for every request. Every such request goes through
//! [`authenticated_post`]; the keys themselves are in `crate::crypto`.

#[cfg(test)]
mod tests;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::reqwest;
use serde_json::json;

pub(crate) use crate::crypto::client_key::SignError;
pub(crate) use crate::crypto::client_keys::{ClientKeys, Jwk};

use super::discovery::Endpoints;
use crate::config::{AssertionAudience, ClientAuth, ProviderSettings};
use crate::domain::now;
use crate::util::random_token;

/// RFC 7523 §3 lets the provider bound an assertion's lifetime; a minute is the common
/// ceiling, and a fresh one is signed for every request anyway.
const ASSERTION_LIFETIME_SECS: u64 = 60;

pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client assertion: `iss` = `sub` = the client id, `aud` as configured (the issuer by
/// default), a unique `jti`, valid for [`ASSERTION_LIFETIME_SECS`], signed by the first of
/// `keys`; with a certificate, its thumbprints in the header (`x5t#S256`, `x5t`).
pub(crate) fn assertion(
    keys: &ClientKeys,
    client_id: &str,
    audience: &str,
    advertised: Option<&[String]>,
) -> Result<String, SignError> {
    let key = keys.signing();
    let alg = key.alg_for(advertised);
    let mut header = json!({ "alg": alg.as_str(), "kid": key.kid(), "typ": "JWT" });
    if let Some(certificate) = keys.certificate() {
        header["x5t#S256"] = certificate.s256.clone().into();
        header["x5t"] = certificate.sha1.clone().into();
    }
    let issued_at = now();
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": random_token(),
        "iat": issued_at,
        "exp": issued_at + ASSERTION_LIFETIME_SECS,
    });
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let signature = key.sign(alg, signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A form POST to one of the provider's endpoints (token, revocation, pushed
/// authorization, introspection), authenticated as this client: the one place where each
/// method's rules are applied. A client assertion is signed on the blocking pool: an RSA
/// signature takes milliseconds, which would stall every request sharing the worker.
pub(crate) async fn authenticated_post(
    http: &reqwest::Client,
    url: &url::Url,
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    mut form: Vec<(String, String)>,
) -> Result<reqwest::RequestBuilder, SignError> {
    let mut request = http
        .post(url.clone())
        .header("accept", "application/json")
        .headers(crate::telemetry::trace::outgoing_headers());
    let set = |form: &mut Vec<(String, String)>, name: &str, value: String| {
        form.retain(|(k, _)| k != name);
        form.push((name.to_owned(), value));
    };
    let client_id = &settings.client_id;
    match &settings.client_auth {
        ClientAuth::SecretBasic(secret) => {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
            let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(client_id), Some(enc(secret.expose())));
        }
        ClientAuth::SecretPost(secret) => {
            set(&mut form, "client_id", client_id.clone());
            set(&mut form, "client_secret", secret.expose().to_owned());
        }
        ClientAuth::None => set(&mut form, "client_id", client_id.clone()),
        ClientAuth::PrivateKeyJwt(keys) => {
            let audience = match &settings.assertion_audience {
                AssertionAudience::Issuer => settings.issuer.clone(),
                AssertionAudience::TokenEndpoint => endpoints.token.to_string(),
                AssertionAudience::Url(url) => url.to_string(),
            };
            let (keys, id) = (keys.clone(), client_id.clone());
            let advertised = endpoints.client_assertion_algs.clone();
            let kid = keys.signing().kid().to_owned();
            let signed = tokio::task::spawn_blocking(move || assertion(&keys, &id, &audience, advertised.as_deref()))
                .await
                .map_err(|e| SignError::interrupted(kid, e))??;
            set(&mut form, "client_id", client_id.clone());
            set(&mut form, "client_assertion_type", ASSERTION_TYPE.to_owned());
            set(&mut form, "client_assertion", signed);
        }
    }
    Ok(request.form(&form))
}
