//! The client's key set for `private_key_jwt`: the first key signs, all are published at
//! `/auth/jwks.json`, so a new key can be announced before it takes over.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use super::client_key::{ClientKey, PublicJwk};

/// The client's keys: the first signs, all are published at `/auth/jwks.json` (so a new key
/// can be announced before it takes over).
#[derive(Clone)]
pub struct ClientKeys {
    keys: Arc<Vec<ClientKey>>,
    /// The signing key's X.509 certificate (`OIDC_CLIENT_CERTIFICATE`), for providers that
    /// identify the key by its certificate (Microsoft Entra ID).
    certificate: Option<Arc<CertificateThumbprints>>,
}

/// The thumbprints of a certificate's DER encoding, base64url, as a JWS header names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateThumbprints {
    /// `x5t#S256`: SHA-256 (RFC 7515 §4.1.8).
    pub s256: String,
    /// `x5t`: SHA-1 (RFC 7515 §4.1.7), for providers that still ask for it.
    pub sha1: String,
}

impl CertificateThumbprints {
    pub fn of_der(der: &[u8]) -> Self {
        let b64 = |d: ring::digest::Digest| URL_SAFE_NO_PAD.encode(d.as_ref());
        Self {
            s256: b64(ring::digest::digest(&ring::digest::SHA256, der)),
            sha1: b64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)),
        }
    }
}

impl fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter()).finish()
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
        (!keys.is_empty()).then(|| Self {
            keys: Arc::new(keys),
            certificate: None,
        })
    }

    /// The signing key's certificate thumbprints go in every assertion's header.
    pub(crate) fn with_certificate(mut self, certificate: CertificateThumbprints) -> Self {
        self.certificate = Some(Arc::new(certificate));
        self
    }

    pub(crate) fn certificate(&self) -> Option<&CertificateThumbprints> {
        self.certificate.as_deref()
    }

    pub(crate) fn signing(&self) -> &ClientKey {
        &self.keys[0]
    }

    /// The RFC 7638 thumbprints of the public keys: the same key under another `kid` is
    /// still the same key.
    pub(crate) fn thumbprints(&self) -> impl Iterator<Item = String> + '_ {
        self.keys.iter().map(|key| key.public_jwk().thumbprint())
    }

    #[cfg(test)]
    pub(crate) fn all(&self) -> &[ClientKey] {
        &self.keys
    }

    /// The public JWK Set; each key's `alg` is the one it signs with for this provider.
    pub(crate) fn jwk_set(&self, advertised: Option<&[String]>) -> Vec<Jwk> {
        self.keys
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
