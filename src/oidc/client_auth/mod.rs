//! Client authentication at the provider's token, revocation and pushed-authorization
//! endpoints: a client secret (Basic or in the body), nothing (public client), or a
//! `private_key_jwt` client assertion (RFC 7523 §2.2, OIDC Core §9) signed fresh for every
//! request.

mod key;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::reqwest;
use serde::Serialize;
use serde_json::json;

pub(crate) use key::{parse_pem, ClientKey, PublicJwk, SignError};

use super::discovery::Endpoints;
use crate::config::{ClientAuthMethod, ProviderSettings};
use crate::domain::now;
use crate::util::random_token;

/// RFC 7523 §3 lets the provider bound an assertion's lifetime; a minute is the common
/// ceiling, and a fresh one is signed for every request anyway.
const ASSERTION_LIFETIME_SECS: u64 = 60;

pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client's keys: the first signs, all are published at `/auth/jwks.json` (so a new key
/// can be announced before it takes over).
#[derive(Clone)]
pub struct ClientKeys(Arc<Vec<ClientKey>>);

impl fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// One entry of the published JWK Set.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Jwk {
    #[serde(rename = "use")]
    pub(crate) use_: &'static str,
    pub(crate) alg: &'static str,
    pub(crate) kid: String,
    #[serde(flatten)]
    pub(crate) public: PublicJwk,
}

impl ClientKeys {
    /// Keys in signing order; at least one.
    pub(crate) fn new(keys: Vec<ClientKey>) -> Option<Self> {
        (!keys.is_empty()).then(|| Self(Arc::new(keys)))
    }

    pub(crate) fn signing(&self) -> &ClientKey {
        &self.0[0]
    }

    #[cfg(test)]
    pub(crate) fn all(&self) -> &[ClientKey] {
        &self.0
    }

    /// The public JWK Set; each key's `alg` is the one it signs with for this provider.
    pub(crate) fn jwk_set(&self, advertised: Option<&[String]>) -> Vec<Jwk> {
        self.0
            .iter()
            .map(|key| Jwk {
                use_: "sig",
                alg: key.alg_for(advertised).as_str(),
                kid: key.kid().to_owned(),
                public: key.public_jwk().clone(),
            })
            .collect()
    }

    /// A client assertion: `iss` = `sub` = the client id, `aud` = the issuer, a unique `jti`,
    /// valid for [`ASSERTION_LIFETIME_SECS`].
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        advertised: Option<&[String]>,
    ) -> Result<String, SignError> {
        let key = self.signing();
        let alg = key.alg_for(advertised);
        let header = json!({ "alg": alg.as_str(), "kid": key.kid(), "typ": "JWT" });
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
}

/// `client_assertion_type` and `client_assertion` for one request, when the client
/// authenticates with a private key; nothing otherwise.
pub(crate) fn assertion_params(
    settings: &ProviderSettings,
    endpoints: &Endpoints,
) -> Result<Vec<(&'static str, String)>, SignError> {
    match (&settings.private_keys, settings.auth_method) {
        (Some(keys), ClientAuthMethod::PrivateKeyJwt) => {
            let assertion = keys.assertion(
                &settings.client_id,
                &settings.issuer,
                endpoints.client_assertion_algs.as_deref(),
            )?;
            Ok(vec![
                ("client_assertion_type", ASSERTION_TYPE.to_owned()),
                ("client_assertion", assertion),
            ])
        }
        _ => Ok(Vec::new()),
    }
}

/// A form POST to one of the provider's endpoints, authenticated as this client
/// (the revocation and pushed-authorization endpoints; the token endpoint goes through
/// openidconnect with [`assertion_params`]).
pub(crate) fn authenticated_post(
    http: &reqwest::Client,
    url: &url::Url,
    settings: &ProviderSettings,
    endpoints: &Endpoints,
    mut form: Vec<(String, String)>,
) -> Result<reqwest::RequestBuilder, SignError> {
    let mut request = http.post(url.clone());
    let set = |form: &mut Vec<(String, String)>, name: &str, value: &str| {
        form.retain(|(k, _)| k != name);
        form.push((name.to_owned(), value.to_owned()));
    };
    match (&settings.client_secret, settings.auth_method) {
        (Some(secret), ClientAuthMethod::ClientSecretBasic) => {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
            let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(&settings.client_id), Some(enc(secret.expose())));
        }
        (Some(secret), ClientAuthMethod::ClientSecretPost) => {
            set(&mut form, "client_id", &settings.client_id);
            set(&mut form, "client_secret", secret.expose());
        }
        _ => {
            set(&mut form, "client_id", &settings.client_id);
            for (name, value) in assertion_params(settings, endpoints)? {
                set(&mut form, name, &value);
            }
        }
    }
    Ok(request.form(&form))
}
