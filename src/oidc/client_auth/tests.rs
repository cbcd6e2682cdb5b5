//! Client keys and assertions. Signatures are checked with openidconnect's own JWK code,
//! fed the JWK this module publishes: an independent verifier of both.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey as _;
use p256::elliptic_curve::Generate;
use p256::pkcs8::EncodePrivateKey as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::EncodePrivateKey as _;
use rsa::pkcs8::LineEnding;
use serde_json::Value;

use super::{assertion, ClientKeys};
use crate::crypto::client_key::{parse_pem, Alg, KeyError, PublicJwk};
use crate::crypto::client_keys::CertificateThumbprints;

fn rsa_key(bits: usize) -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).unwrap()
}

fn rsa_pkcs8(bits: usize) -> String {
    rsa_key(bits).to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

fn ec_pkcs8() -> String {
    p256::SecretKey::generate()
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

fn keys(pem: &str) -> ClientKeys {
    ClientKeys::new(parse_pem(pem).unwrap()).unwrap()
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Checks an assertion's signature against the published JWK; returns header and claims.
fn verify(keys: &ClientKeys, advertised: Option<&[String]>, jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header = b64_json(parts[0]);
    let jwk = serde_json::to_value(&keys.jwk_set(advertised)[0]).unwrap();
    let jwk: CoreJsonWebKey = serde_json::from_value(jwk).unwrap();
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let message = format!("{}.{}", parts[0], parts[1]);
    jwk.verify_signature(&alg, message.as_bytes(), &signature)
        .expect("the signature verifies with the published key");
    (header, b64_json(parts[1]))
}

#[test]
fn the_rfc_7638_example_key_has_the_rfc_thumbprint() {
    let jwk = PublicJwk::Rsa {
        n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into(),
        e: "AQAB".into(),
    };
    assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

#[test]
fn an_rsa_key_reads_the_same_from_pkcs8_and_pkcs1() {
    let key = rsa_key(2048);
    let pkcs8 = parse_pem(&key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
    let pkcs1 = parse_pem(&key.to_pkcs1_pem(LineEnding::CRLF).unwrap()).unwrap();
    assert_eq!(pkcs8[0].kid(), pkcs1[0].kid());
    assert_eq!(
        pkcs8[0].kid(),
        pkcs8[0].public_jwk().thumbprint(),
        "the kid defaults to the thumbprint"
    );
    assert_eq!(pkcs8[0].describe(), "RSA 2048");
}

#[test]
fn an_ec_key_reads_the_same_from_pkcs8_and_sec1_with_its_parameters_block() {
    let secret = p256::SecretKey::generate();
    let pkcs8 = parse_pem(&secret.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap()).unwrap();
    // What `openssl ecparam -name prime256v1 -genkey` writes: the curve, then the key.
    let sec1 = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
        secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap().as_str()
    );
    let sec1 = parse_pem(&sec1).unwrap();
    assert_eq!(sec1.len(), 1);
    assert_eq!(pkcs8[0].kid(), sec1[0].kid());
    assert_eq!(pkcs8[0].describe(), "EC P-256");
}

#[test]
fn an_rsa_key_under_2048_bits_is_refused_as_weak() {
    let err = parse_pem(&rsa_pkcs8(1024)).unwrap_err();
    assert!(matches!(err, KeyError::WeakRsa(1024)), "{err}");
    assert!(err.to_string().contains("at least 2048"), "{err}");
}

#[test]
fn an_ec_key_on_another_curve_is_refused_naming_p256() {
    let p384 = p384::SecretKey::generate();
    let pkcs8 = p384.to_pkcs8_pem(p384::pkcs8::LineEnding::LF).unwrap();
    let sec1 = p384.to_sec1_pem(p384::pkcs8::LineEnding::LF).unwrap();
    for pem in [pkcs8.as_str(), sec1.as_str()] {
        let err = parse_pem(pem).unwrap_err();
        assert!(matches!(err, KeyError::Unsupported(_)), "{err}");
        assert!(err.to_string().contains("P-256"), "{err}");
    }
}

#[test]
fn encrypted_public_and_missing_keys_are_refused_with_what_they_are() {
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(matches!(parse_pem(encrypted), Err(KeyError::Encrypted)));
    let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let err = parse_pem(public).unwrap_err();
    assert!(err.to_string().contains("public key, not a private key"), "{err}");
    assert!(matches!(parse_pem("not a key at all"), Err(KeyError::NoKey)));
    let broken = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
    assert!(matches!(parse_pem(broken), Err(KeyError::Pem(_))));
    let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(parse_pem(garbage), Err(KeyError::Invalid(..))));
}

#[test]
fn debug_output_names_the_key_but_holds_none_of_it() {
    let pem = rsa_pkcs8(2048);
    let keys = keys(&pem);
    let debug = format!("{keys:?}");
    assert!(debug.contains(keys.signing().kid()), "{debug}");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for chunk in body.as_bytes().chunks(16) {
        let chunk = std::str::from_utf8(chunk).unwrap();
        assert!(!debug.contains(chunk), "key material in Debug: {debug}");
    }
}

#[test]
fn an_rsa_assertion_is_rs256_with_the_claims_rfc_7523_asks_for() {
    let keys = keys(&rsa_pkcs8(2048));
    let jwt = assertion(&keys, "my-app", "https://id.example/realms/x", None).unwrap();
    let (header, claims) = verify(&keys, None, &jwt);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], keys.signing().kid());
    assert_eq!(claims["iss"], "my-app");
    assert_eq!(claims["sub"], "my-app");
    assert_eq!(claims["aud"], "https://id.example/realms/x");
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert!(exp > iat && exp - iat <= 60, "iat {iat}, exp {exp}");
    assert!(iat.abs_diff(crate::domain::now()) <= 5);
    assert!(claims["jti"].as_str().unwrap().len() >= 32);
}

#[test]
fn two_assertions_differ_in_jti() {
    let keys = keys(&ec_pkcs8());
    let a = assertion(&keys, "my-app", "https://id.example", None).unwrap();
    let b = assertion(&keys, "my-app", "https://id.example", None).unwrap();
    let jti = |jwt: &str| verify(&keys, None, jwt).1["jti"].clone();
    assert_ne!(jti(&a), jti(&b));
}

#[test]
fn an_rsa_key_signs_ps256_when_the_provider_lists_only_ps_algorithms() {
    let keys = keys(&rsa_pkcs8(2048));
    let advertised = vec!["PS256".to_owned(), "PS384".to_owned(), "ES256".to_owned()];
    let jwt = assertion(&keys, "my-app", "https://id.example", Some(&advertised)).unwrap();
    let (header, _) = verify(&keys, Some(&advertised), &jwt);
    assert_eq!(header["alg"], "PS256");
    assert_eq!(keys.jwk_set(Some(&advertised))[0].alg, "PS256", "published as it signs");
    let both = vec!["PS256".to_owned(), "RS256".to_owned()];
    assert_eq!(keys.signing().alg_for(Some(&both)), Alg::RS256);
}

#[test]
fn an_ec_key_signs_es256_and_knows_when_the_provider_does_not_take_it() {
    let keys = keys(&ec_pkcs8());
    let jwt = assertion(&keys, "my-app", "https://id.example", None).unwrap();
    let (header, _) = verify(&keys, None, &jwt);
    assert_eq!(header["alg"], "ES256");
    let rsa_only = vec!["RS256".to_owned()];
    assert!(!keys.signing().accepted_by(Some(&rsa_only)));
    assert!(keys.signing().accepted_by(None));
}

#[test]
fn two_keys_are_both_published_and_the_first_signs() {
    let pem = format!("{}\n{}", ec_pkcs8(), rsa_pkcs8(2048));
    let keys = keys(&pem);
    let set = keys.jwk_set(None);
    assert_eq!(set.len(), 2);
    assert_eq!((set[0].alg, set[1].alg), ("ES256", "RS256"));
    let jwt = assertion(&keys, "my-app", "https://id.example", None).unwrap();
    let (header, _) = verify(&keys, None, &jwt);
    assert_eq!(header["kid"], set[0].kid);
    let json = serde_json::to_value(&set[1]).unwrap();
    assert_eq!(json["kty"], "RSA");
    assert_eq!(json["use"], "sig");
    assert!(
        json.get("d").is_none() && json.get("p").is_none(),
        "no private member: {json}"
    );
}

#[test]
fn an_rsa_key_over_4096_bits_is_refused_naming_the_limit() {
    let err = parse_pem(&rsa_pkcs8(4104)).unwrap_err();
    assert!(matches!(err, KeyError::LargeRsa(4104)), "{err}");
    assert!(err.to_string().contains("at most 4096"), "{err}");
}

/// A self-signed certificate (made here) and its private key, PEM.
fn certified_key() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["app.example.com".into()]).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

#[test]
fn a_certificates_sha256_and_sha1_thumbprints_go_in_the_assertion_header() {
    let (cert_pem, key_pem) = certified_key();
    let der = crate::crypto::client_key::first_certificate(&cert_pem).expect("a certificate");
    let expected_s256 = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &der));
    let expected_sha1 = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der));
    let keys = keys(&key_pem).with_certificate(CertificateThumbprints::of_der(&der));
    let jwt = assertion(&keys, "my-app", "https://login.example/tenant/oauth2/v2.0/token", None).unwrap();
    let (header, claims) = verify(&keys, None, &jwt);
    assert_eq!(header["x5t#S256"], expected_s256.as_str());
    assert_eq!(header["x5t"], expected_sha1.as_str());
    assert_eq!(expected_s256.len(), 43, "SHA-256, base64url without padding");
    assert_eq!(claims["aud"], "https://login.example/tenant/oauth2/v2.0/token");
}

#[test]
fn without_a_certificate_the_header_names_the_key_by_kid_alone() {
    let keys = keys(&ec_pkcs8());
    let jwt = assertion(&keys, "my-app", "https://id.example", None).unwrap();
    let (header, _) = verify(&keys, None, &jwt);
    assert!(
        header.get("x5t#S256").is_none() && header.get("x5t").is_none(),
        "{header}"
    );
}

/// An RSA signature takes milliseconds; made inline it would stall every request sharing
/// the worker thread (the internal hot path included). Polled once, the request is not
/// ready: the signature is being made on the blocking pool. Awaited, it carries a valid
/// assertion.
#[tokio::test(flavor = "current_thread")]
async fn a_client_assertion_is_signed_on_the_blocking_pool_not_on_the_worker_thread() {
    use std::future::Future as _;
    use std::task::Poll;

    let vars = [
        ("OIDC_ISSUER_URL", "https://id.example".to_owned()),
        ("OIDC_CLIENT_ID", "my-app".to_owned()),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback".to_owned()),
        ("OIDC_CLIENT_AUTH_METHOD", "private_key_jwt".to_owned()),
        ("OIDC_CLIENT_PRIVATE_KEY", rsa_pkcs8(2048)),
    ];
    let settings = crate::config::Settings::from_vars(vars.map(|(k, v)| (k.to_owned(), v)))
        .expect("valid settings")
        .provider;
    let url = |path: &str| url::Url::parse(&format!("https://id.example{path}")).unwrap();
    let endpoints = super::Endpoints {
        authorization: url("/authorize"),
        token: url("/token"),
        userinfo: None,
        jwks: url("/jwks"),
        end_session: None,
        revocation: None,
        introspection: None,
        pushed_authorization: None,
        client_assertion_algs: None,
    };
    let http = openidconnect::reqwest::Client::new();
    let form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
    let mut post = std::pin::pin!(super::authenticated_post(
        &http,
        &endpoints.token,
        &settings,
        &endpoints,
        form
    ));

    let first = std::future::poll_fn(|cx| Poll::Ready(post.as_mut().poll(cx))).await;
    assert!(
        first.is_pending(),
        "the assertion was signed inline, on the worker thread"
    );

    let request = post.await.expect("signed").build().unwrap();
    let body = std::str::from_utf8(request.body().and_then(|b| b.as_bytes()).expect("a form body")).unwrap();
    let assertion = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "client_assertion")
        .expect("a client assertion")
        .1
        .into_owned();
    let crate::config::ClientAuth::PrivateKeyJwt(keys) = &settings.client_auth else {
        panic!("private_key_jwt settings")
    };
    let (header, claims) = verify(keys, None, &assertion);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["aud"], "https://id.example");
}
