//! The client's key set for `private_key_jwt`: the first key signs, all are published at
//! `/auth/jwks.json`, so a new key can be announced before it takes over.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::client_key::{ClientKey, PublicJwk};

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

    /// The RFC 7638 thumbprints of the public keys: the same key under another `kid` is
    /// still the same key.
    pub(crate) fn thumbprints(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|key| key.public_jwk().thumbprint())
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
}
