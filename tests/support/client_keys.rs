//! Client keys for `private_key_jwt`, made per test.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::elliptic_curve::Generate;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A client key as an operator would hold it: the PEM, and the public JWK (with its
/// RFC 7638 thumbprint as `kid`) computed here, apart from the service's own code.
pub struct TestKey {
    pub pem: String,
    pub jwk: Value,
    pub kid: String,
}

pub fn rsa_key() -> TestKey {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
    TestKey {
        pem: key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string(),
        jwk: json!({"kty": "RSA", "n": n, "e": e, "kid": kid, "use": "sig"}),
        kid,
    }
}

/// An EC P-256 key in SEC1 (`EC PRIVATE KEY`) form, as `openssl ecparam -genkey` writes it.
pub fn ec_key() -> TestKey {
    let key = p256::SecretKey::generate();
    let point = key.public_key().to_sec1_point(false);
    let x = URL_SAFE_NO_PAD.encode(point.x().unwrap());
    let y = URL_SAFE_NO_PAD.encode(point.y().unwrap());
    let kid = thumbprint(&format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#));
    TestKey {
        pem: key.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap().to_string(),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig"}),
        kid,
    }
}

fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}
