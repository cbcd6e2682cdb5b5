//! `GET /auth/jwks.json`: the public half of the client's `private_key_jwt` keys, for the
//! provider's `jwks_uri` registration.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::error::ErrorBody;
use crate::crypto::client_key::PublicJwk;
use crate::oidc::client_auth::Jwk;
use crate::service::Service;

#[derive(Tags)]
enum Tag {
    /// Browser sign-in and sign-out.
    Auth,
}

pub(crate) struct JwksApi {
    pub(crate) service: Arc<Service>,
}

/// A JSON Web Key (RFC 7517): RSA (`n`, `e`) or EC (`crv`, `x`, `y`).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct JsonWebKey {
    pub(crate) kty: String,
    #[oai(rename = "use")]
    pub(crate) use_: String,
    pub(crate) alg: String,
    pub(crate) kid: String,
    pub(crate) n: Option<String>,
    pub(crate) e: Option<String>,
    pub(crate) crv: Option<String>,
    pub(crate) x: Option<String>,
    pub(crate) y: Option<String>,
}

impl From<Jwk> for JsonWebKey {
    fn from(jwk: Jwk) -> Self {
        let mut key = Self {
            kty: String::new(),
            use_: jwk.use_.to_owned(),
            alg: jwk.alg.to_owned(),
            kid: jwk.kid,
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        };
        match jwk.public {
            PublicJwk::Rsa { n, e } => (key.kty, key.n, key.e) = ("RSA".into(), Some(n), Some(e)),
            PublicJwk::Ec { crv, x, y } => {
                (key.kty, key.crv, key.x, key.y) = ("EC".into(), Some(crv.into()), Some(x), Some(y))
            }
        }
        key
    }
}

#[derive(Debug, Object)]
pub(crate) struct JsonWebKeySet {
    pub(crate) keys: Vec<JsonWebKey>,
}

#[derive(ApiResponse)]
pub(crate) enum JwksResponse {
    #[oai(status = 200)]
    Ok(Json<JsonWebKeySet>),
    /// No private key is configured (`OIDC_CLIENT_PRIVATE_KEY`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
}

#[OpenApi(tag = "Tag::Auth")]
impl JwksApi {
    /// The client's public keys for `private_key_jwt` (register this URL as its `jwks_uri`).
    #[oai(path = "/auth/jwks.json", method = "get")]
    async fn jwks(&self) -> JwksResponse {
        match self.service.client_jwks() {
            Some(keys) => JwksResponse::Ok(Json(JsonWebKeySet {
                keys: keys.into_iter().map(JsonWebKey::from).collect(),
            })),
            None => JwksResponse::NotFound(ErrorBody::new(
                "not_found",
                "no private key is configured (OIDC_CLIENT_PRIVATE_KEY)",
            )),
        }
    }
}
