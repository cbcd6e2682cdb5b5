//! Header and signature checks.

use super::*;

#[test]
fn typ_at_jwt_is_refused() {
    for typ in ["at+jwt", "application/at+jwt", "id_token+jwt", ""] {
        let token = sign(with(header(), "typ", json!(typ)), claims());
        let err = verify(&token).unwrap_err();
        assert!(matches!(err, LogoutTokenError::WrongType), "{typ}: {err:?}");
    }
}

#[test]
fn a_typ_that_is_not_a_string_is_refused() {
    let token = sign(with(header(), "typ", json!(["logout+jwt"])), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidHeader(_)), "{err:?}");
}

#[test]
fn a_token_whose_payload_was_changed_after_signing_is_refused() {
    let token = sign(header(), claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64_json(&with(claims(), "sub", json!("admin")));
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let err = verify(&forged).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn a_token_with_a_corrupted_signature_is_refused() {
    let token = sign(header(), claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[10] ^= 0x01;
    let err = verify(&format!("{input}.{}", b64(&sig))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn a_token_with_an_empty_or_truncated_signature_is_refused() {
    let token = sign(header(), claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let err = verify(&format!("{input}.")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let err = verify(&format!("{input}.{}", b64(&sig[..sig.len() - 1]))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn a_token_with_alg_none_is_refused_even_if_the_provider_lists_none() {
    let header = json!({ "alg": "none", "typ": "logout+jwt" });
    let token = format!("{}.", signing_input(&header, &claims()));
    let algs = [CoreJwsSigningAlgorithm::None, RS256];
    let err = verify_logout_token(&token, &signer().jwks, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
    // "None" in another letter case is not a known algorithm at all.
    let header = json!({ "alg": "None", "typ": "logout+jwt" });
    let token = format!("{}.", signing_input(&header, &claims()));
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnrecognizedAlgorithm), "{err:?}");
}

#[test]
fn a_token_signed_with_hs256_using_the_rsa_modulus_is_refused() {
    let header = with(header(), "alg", json!("HS256"));
    let token = sign_hs256(&signer().modulus, header, claims());
    let algs = [CoreJwsSigningAlgorithm::HmacSha256, RS256];
    let err = verify_logout_token(&token, &signer().jwks, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
}

#[test]
fn a_token_signed_with_hs256_using_the_rsa_public_key_pem_is_refused() {
    let header = with(header(), "alg", json!("HS256"));
    let token = sign_hs256(signer().public_pem.as_bytes(), header, claims());
    let algs = [CoreJwsSigningAlgorithm::HmacSha256, RS256];
    let err = verify_logout_token(&token, &signer().jwks, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
}

#[test]
fn an_hs256_token_is_refused_even_when_the_jwks_holds_the_matching_symmetric_key() {
    let secret = b"a shared secret that leaked into the JWKS";
    let keys = jwks(json!([{ "kty": "oct", "kid": KID, "k": b64(secret) }]));
    let header = with(header(), "alg", json!("HS256"));
    let token = sign_hs256(secret, header, claims());
    let algs = [CoreJwsSigningAlgorithm::HmacSha256];
    let err = verify_logout_token(&token, &keys, &policy_with(&algs)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::ForbiddenAlgorithm { .. }), "{err:?}");
}

#[test]
fn an_algorithm_the_provider_does_not_advertise_is_refused() {
    let token = sign_as(
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        with(header(), "alg", json!("RS384")),
        claims(),
    );
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::AlgorithmNotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("RS384") && err.to_string().contains("RS256"));
}

#[test]
fn an_unrecognised_or_missing_alg_is_refused() {
    let token = sign(with(header(), "alg", json!("RS257")), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnrecognizedAlgorithm), "{err:?}");
    let token = sign(without(header(), "alg"), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidHeader(_)), "{err:?}");
}

#[test]
fn an_unknown_kid_is_reported_as_unknown_key_so_the_caller_can_refetch_the_jwks() {
    let token = sign(with(header(), "kid", json!("rotated-key")), claims());
    let err = verify(&token).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
    assert!(!LogoutTokenError::BadSignature.is_unknown_key());
}

#[test]
fn a_kid_whose_key_is_meant_for_another_algorithm_is_reported_as_unknown_key() {
    let keys = jwks(json!([with(public_jwk(), "alg", json!("RS384"))]));
    let token = sign(header(), claims());
    let err = verify_logout_token(&token, &keys, &policy_with(&[RS256])).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
}

#[test]
fn a_key_published_for_encryption_is_not_used_to_verify() {
    let keys = jwks(json!([with(public_jwk(), "use", json!("enc"))]));
    let token = sign(header(), claims());
    let err = verify_logout_token(&token, &keys, &policy_with(&[RS256])).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
}

#[test]
fn a_token_without_kid_is_refused_when_several_keys_could_have_signed_it() {
    let second = with(public_jwk(), "kid", json!("key-2"));
    let keys = jwks(json!([public_jwk(), second]));
    let token = sign(without(header(), "kid"), claims());
    let err = verify_logout_token(&token, &keys, &policy_with(&[RS256])).unwrap_err();
    assert!(matches!(err, LogoutTokenError::AmbiguousKey { count: 2 }), "{err:?}");
    // With its kid, the same token picks one key and passes.
    let token = sign(header(), claims());
    verify_logout_token(&token, &keys, &policy_with(&[RS256])).expect("valid");
}

#[test]
fn the_header_jwk_is_never_trusted() {
    // An attacker's key embedded in the header must not be used: the signature is made
    // with a key the JWKS does not hold.
    let other = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let pem = other.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    let attacker = CoreRsaPrivateSigningKey::from_pem(&pem, None).unwrap();
    let header = with(
        without(header(), "kid"),
        "jwk",
        serde_json::to_value(attacker.as_verification_key()).unwrap(),
    );
    let input = signing_input(&header, &claims());
    let sig = attacker.sign(&RS256, input.as_bytes()).unwrap();
    let err = verify(&format!("{input}.{}", b64(&sig))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::BadSignature), "{err:?}");
}

#[test]
fn elliptic_curve_keys_are_chosen_by_curve_and_es512_is_refused_without_panicking() {
    let coordinate = b64(&[7u8; 32]);
    let ec = |kid: &str, crv: &str| json!({ "kty": "EC", "use": "sig", "kid": kid, "crv": crv, "x": coordinate, "y": coordinate });
    let es256 = [CoreJwsSigningAlgorithm::EcdsaP256Sha256];
    let es256_header = json!({ "alg": "ES256", "typ": "logout+jwt", "kid": "ec" });
    let fake_signature = b64(&[1u8; 64]);
    let token = format!("{}.{fake_signature}", signing_input(&es256_header, &claims()));
    // The only key with that kid is on P-384: not usable for ES256.
    let keys = jwks(json!([ec("ec", "P-384")]));
    let err = verify_logout_token(&token, &keys, &policy_with(&es256)).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
    // Without kid, a P-256 and a P-384 key are not ambiguous for ES256: the P-256 one is
    // used (and, being made up, fails).
    let keys = jwks(json!([ec("a", "P-256"), ec("b", "P-384")]));
    let header = without(es256_header, "kid");
    let token = format!("{}.{fake_signature}", signing_input(&header, &claims()));
    let err = verify_logout_token(&token, &keys, &policy_with(&es256)).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::UnusableKey(_) | LogoutTokenError::BadSignature),
        "{err:?}"
    );
    // openidconnect 4.1.0 cannot verify ES512: an error, not a panic.
    let es512 = [CoreJwsSigningAlgorithm::EcdsaP521Sha512];
    let keys = jwks(json!([ec("ec", "P-521")]));
    let header = json!({ "alg": "ES512", "kid": "ec" });
    let token = format!("{}.{}", signing_input(&header, &claims()), b64(&[1u8; 132]));
    let err = verify_logout_token(&token, &keys, &policy_with(&es512)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnusableKey(_)), "{err:?}");
}

#[test]
fn a_jwks_key_that_declares_rs256_is_used_for_rs256() {
    let keys = jwks(json!([with(public_jwk(), "alg", json!("RS256"))]));
    let token = sign(header(), claims());
    verify_logout_token(&token, &keys, &policy_with(&[RS256])).expect("valid");
}

#[test]
fn a_crit_header_is_refused() {
    let header = with(header(), "crit", json!(["exp"]));
    let token = sign(with(header, "exp", json!(NOW + 60)), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnsupportedCriticalHeader), "{err:?}");
}

#[test]
fn a_kid_that_is_not_a_string_is_refused() {
    let token = sign(with(header(), "kid", json!(1)), claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidHeader(_)), "{err:?}");
}
