//! The client's private keys for `private_key_jwt`: PEM parsing (PKCS#8, PKCS#1, SEC1),
//! the public JWK with its RFC 7638 thumbprint, and signing. The cryptography is ring's
//! (RSA: constant-time, unlike the `rsa` crate, RUSTSEC-2023-0071) and RustCrypto `p256`'s;
//! nothing here computes a signature by hand.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::pkcs8::der::pem;
use p256::pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use ring::rand::SystemRandom;
use ring::signature::RsaKeyPair;
use serde::Serialize;
use sha2::{Digest, Sha256};

const MIN_RSA_BITS: usize = 2048;
/// ring's limit for RSA private keys.
const MAX_RSA_BITS: usize = 4096;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A JWS algorithm a client key signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Alg {
    RS256,
    PS256,
    ES256,
}

impl Alg {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }
}

/// Why a PEM text is not a usable client key. Never quotes the key itself.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")]
    NoKey,
    #[error("holds a PEM block that cannot be read")]
    Pem(#[source] p256::pkcs8::der::Error),
    #[error("holds an encrypted private key; store it unencrypted (openssl pkcs8 -topk8 -nocrypt) and protect it as a Secret instead")]
    Encrypted,
    #[error("holds a {0}, not a private key")]
    NotPrivate(String),
    #[error("holds an RSA key of {0} bits; at least 2048 are required")]
    WeakRsa(usize),
    #[error("holds an RSA key of {0} bits; at most 4096 are supported")]
    LargeRsa(usize),
    #[error("holds a key of an unsupported type ({0}); use RSA (2048 bits or more) or EC P-256")]
    Unsupported(String),
    #[error("holds an invalid {0} private key")]
    Invalid(&'static str, #[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
#[error("signing the client assertion with key `{kid}` failed")]
pub(crate) struct SignError {
    kid: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SignError {
    /// The signing task did not finish (the runtime is shutting down).
    pub(crate) fn interrupted(kid: String, e: tokio::task::JoinError) -> Self {
        Self {
            kid,
            source: Box::new(e),
        }
    }
}

#[derive(Clone)]
enum Private {
    /// Shared, not copied: ring's key pair holds precomputed values and is not `Clone`.
    Rsa {
        key: Arc<RsaKeyPair>,
        bits: usize,
    },
    P256(p256::ecdsa::SigningKey),
}

/// The public half as a JWK (RFC 7517): `kty` and the key's own members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kty")]
pub(crate) enum PublicJwk {
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
    #[serde(rename = "EC")]
    Ec { crv: &'static str, x: String, y: String },
}

impl PublicJwk {
    /// RFC 7638: SHA-256 over the required members, in lexicographic order, no whitespace.
    pub(crate) fn thumbprint(&self) -> String {
        let canonical = match self {
            Self::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            Self::Ec { crv, x, y } => format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// One private key of the client, with the `kid` it signs under.
#[derive(Clone)]
pub(crate) struct ClientKey {
    kid: String,
    private: Private,
    public: PublicJwk,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("type", &self.describe())
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn set_kid(&mut self, kid: String) {
        self.kid = kid;
    }

    pub(crate) fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// `RSA 2048` or `EC P-256`, for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.private {
            Private::Rsa { bits, .. } => format!("RSA {bits}"),
            Private::P256(_) => "EC P-256".to_owned(),
        }
    }

    /// What this key can sign with, preferred first.
    fn algs(&self) -> &'static [Alg] {
        match self.private {
            Private::Rsa { .. } => &[Alg::RS256, Alg::PS256],
            Private::P256(_) => &[Alg::ES256],
        }
    }

    /// The algorithm to sign with, given the provider's
    /// `token_endpoint_auth_signing_alg_values_supported` (`None`: not advertised). An RSA key
    /// signs RS256 unless the provider lists only PS256 of the two.
    pub(crate) fn alg_for(&self, advertised: Option<&[String]>) -> Alg {
        let own = self.algs();
        advertised
            .and_then(|list| own.iter().copied().find(|a| list.iter().any(|s| s == a.as_str())))
            .unwrap_or(own[0])
    }

    /// Whether the provider's list (if it has one) names an algorithm this key signs with.
    pub(crate) fn accepted_by(&self, advertised: Option<&[String]>) -> bool {
        advertised.is_none_or(|list| self.algs().iter().any(|a| list.iter().any(|s| s == a.as_str())))
    }

    /// A JWS signature over `message` (RS256/PS256: PKCS#1 v1.5 or PSS with SHA-256;
    /// ES256: deterministic ECDSA, `r || s`).
    pub(crate) fn sign(&self, alg: Alg, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| SignError {
            kid: self.kid.clone(),
            source,
        };
        match (&self.private, alg) {
            (Private::Rsa { key, .. }, Alg::RS256 | Alg::PS256) => {
                let padding: &'static dyn ring::signature::RsaEncoding = if alg == Alg::RS256 {
                    &ring::signature::RSA_PKCS1_SHA256
                } else {
                    &ring::signature::RSA_PSS_SHA256
                };
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(padding, &SystemRandom::new(), message, &mut signature)
                    .map_err(|e| failed(e.to_string().into()))?;
                Ok(signature)
            }
            (Private::P256(key), Alg::ES256) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.try_sign(message).map_err(|e| failed(e.into()))?;
                Ok(signature.to_bytes().to_vec())
            }
            (_, alg) => Err(failed(
                format!("{} cannot sign {}", self.describe(), alg.as_str()).into(),
            )),
        }
    }
}

/// Every private key in a PEM text (blocks such as `EC PARAMETERS` or `CERTIFICATE` that
/// tools write beside a key are skipped).
pub(crate) fn parse_pem(text: &str) -> Result<Vec<ClientKey>, KeyError> {
    let mut keys = Vec::new();
    for block in pem_blocks(text) {
        let (label, der) = pem::decode_vec(block.as_bytes()).map_err(|e| KeyError::Pem(e.into()))?;
        let private = match label {
            "PRIVATE KEY" => pkcs8(&der)?,
            "RSA PRIVATE KEY" => rsa(&der, &der, RsaKeyPair::from_der, "RSA (PKCS#1)")?,
            "EC PRIVATE KEY" => Private::P256(
                p256::SecretKey::from_sec1_der(&der)
                    .map_err(|_| KeyError::Unsupported("an EC key that is not P-256, or is malformed".into()))?
                    .into(),
            ),
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            "EC PARAMETERS" | "CERTIFICATE" | "TRUSTED CERTIFICATE" => continue,
            other if other.contains("PUBLIC KEY") => return Err(KeyError::NotPrivate(other.to_lowercase())),
            other => return Err(KeyError::Unsupported(format!("PEM label `{other}`"))),
        };
        keys.push(ClientKey::new(private)?);
    }
    if keys.is_empty() {
        return Err(KeyError::NoKey);
    }
    Ok(keys)
}

/// The `-----BEGIN …-----` to `-----END …-----` blocks of a text, in order.
/// The DER of the first `CERTIFICATE` block of a PEM text.
pub(crate) fn first_certificate(text: &str) -> Option<Vec<u8>> {
    pem_blocks(text)
        .into_iter()
        .find_map(|block| match pem::decode_vec(block.as_bytes()) {
            Ok(("CERTIFICATE", der)) => Some(der),
            _ => None,
        })
}

fn pem_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let Some(end) = after.find("-----END ") else {
            blocks.push(after.trim_end()); // let the PEM decoder say what is wrong
            break;
        };
        let tail = &after[end + "-----END ".len()..];
        let close = tail.find("-----").map_or(tail.len(), |i| i + "-----".len());
        let len = end + "-----END ".len() + close;
        blocks.push(&after[..len]);
        rest = &after[len..];
    }
    blocks
}

fn pkcs8(der: &[u8]) -> Result<Private, KeyError> {
    let info = PrivateKeyInfoRef::try_from(der).map_err(|e| KeyError::Invalid("PKCS#8", e.into()))?;
    let oid = info.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        return rsa(der, info.private_key.as_bytes(), RsaKeyPair::from_pkcs8, "RSA (PKCS#8)");
    }
    if oid == EC_PUBLIC_KEY {
        let curve = info.algorithm.parameters_oid().ok();
        if curve != Some(PRIME256V1) {
            let name = curve.map_or_else(|| "unnamed".to_owned(), |c| c.to_string());
            return Err(KeyError::Unsupported(format!("EC curve {name}, not P-256")));
        }
        use p256::pkcs8::DecodePrivateKey as _;
        let key = p256::SecretKey::from_pkcs8_der(der).map_err(|e| KeyError::Invalid("EC P-256 (PKCS#8)", e.into()))?;
        return Ok(Private::P256(key.into()));
    }
    Err(KeyError::Unsupported(format!("algorithm {oid}")))
}

impl ClientKey {
    fn new(private: Private) -> Result<Self, KeyError> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let public = match &private {
            Private::Rsa { key, .. } => {
                let (n, e) = rsa_public_parts(key.public().as_ref())
                    .ok_or(KeyError::Invalid("RSA", "unreadable public key".into()))?;
                PublicJwk::Rsa { n: b64(n), e: b64(e) }
            }
            Private::P256(key) => {
                let point = key.verifying_key().as_affine().to_sec1_point(false);
                let coordinate = |c: Option<&[u8]>| c.map(b64).unwrap_or_default();
                PublicJwk::Ec {
                    crv: "P-256",
                    x: coordinate(point.x().map(|x| x.as_slice())),
                    y: coordinate(point.y().map(|y| y.as_slice())),
                }
            }
        };
        Ok(Self {
            kid: public.thumbprint(),
            private,
            public,
        })
    }
}

/// An RSA key read from `der` by ring's `parse` (PKCS#1 or PKCS#8), its size taken from the
/// PKCS#1 structure first, so that a weak key is reported as weak rather than as invalid.
fn rsa(
    der: &[u8],
    pkcs1: &[u8],
    parse: fn(&[u8]) -> Result<RsaKeyPair, ring::error::KeyRejected>,
    what: &'static str,
) -> Result<Private, KeyError> {
    let bits = rsa_modulus_bits(pkcs1)?;
    let key = parse(der).map_err(|e| KeyError::Invalid(what, e.to_string().into()))?;
    Ok(Private::Rsa {
        key: Arc::new(key),
        bits,
    })
}

/// The modulus size of a PKCS#1 `RSAPrivateKey`, refused outside 2048..=4096 bits.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<usize, KeyError> {
    let n = der_integers(pkcs1)
        .and_then(|ints| ints.get(1).copied())
        .ok_or(KeyError::Invalid("RSA", "not an RSAPrivateKey structure".into()))?;
    let bits = bit_length(n);
    if bits < MIN_RSA_BITS {
        return Err(KeyError::WeakRsa(bits));
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyError::LargeRsa(bits));
    }
    Ok(bits)
}

/// `n` and `e` of a PKCS#1 `RSAPublicKey` (what ring's public key serialises to).
fn rsa_public_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    match der_integers(der)?.as_slice() {
        [n, e] => Some((n, e)),
        _ => None,
    }
}

/// The bits of a big-endian unsigned integer without leading zero octets.
fn bit_length(minimal: &[u8]) -> usize {
    minimal
        .first()
        .map_or(0, |b| minimal.len() * 8 - b.leading_zeros() as usize)
}

/// The leading INTEGERs of a DER SEQUENCE, each without leading zero octets. Only as much
/// DER as RSA keys use; ring checks the structure in full.
fn der_integers(der: &[u8]) -> Option<Vec<&[u8]>> {
    let (0x30, mut rest, _) = der_element(der)? else {
        return None;
    };
    let mut integers = Vec::new();
    while let Some((0x02, value, tail)) = der_element(rest) {
        let first = value.iter().position(|b| *b != 0).unwrap_or(value.len());
        integers.push(&value[first..]);
        rest = tail;
    }
    Some(integers)
}

/// One DER element: its tag, its content and what follows it.
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (len, tail) = rest.split_at(octets);
        rest = tail;
        len.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}
