//! RSA signatures, checked with ring: every RSA `alg`, the forms of `n` seen in JWKS, and
//! keys too short for RFC 7518.

use super::*;

#[test]
fn rs384_rs512_ps384_and_ps512_tokens_are_accepted_when_allowed() {
    for (alg, name) in [
        (CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384, "RS384"),
        (CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512, "RS512"),
        (CoreJwsSigningAlgorithm::RsaSsaPssSha384, "PS384"),
        (CoreJwsSigningAlgorithm::RsaSsaPssSha512, "PS512"),
    ] {
        let allowed = [alg.clone()];
        let token = sign_as(alg, with(header(), "alg", json!(name)), claims());
        verify_logout_token(&token, &signer().jwks, &policy_with(&allowed)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn a_token_signed_with_one_rsa_scheme_is_refused_under_another() {
    // A PKCS#1 v1.5 signature presented as PS256, and a PSS signature presented as RS256,
    // are bad signatures: each scheme is checked as its `alg` says.
    let allowed = [RS256, CoreJwsSigningAlgorithm::RsaSsaPssSha256];
    let pkcs1 = sign(header(), claims());
    let pss = sign_as(
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        with(header(), "alg", json!("PS256")),
        claims(),
    );
    for (token, claimed) in [(pkcs1, "PS256"), (pss, "RS256")] {
        let (_, payload_and_sig) = token.split_once('.').unwrap();
        let relabelled = format!("{}.{payload_and_sig}", b64_json(&with(header(), "alg", json!(claimed))));
        let err = verify_logout_token(&relabelled, &signer().jwks, &policy_with(&allowed)).unwrap_err();
        assert!(matches!(err, LogoutTokenError::BadSignature), "as {claimed}: {err:?}");
    }
}

#[test]
fn a_modulus_with_a_leading_zero_octet_in_the_jwks_still_verifies() {
    let mut jwk = public_jwk();
    let mut n = vec![0u8];
    n.extend_from_slice(&signer().modulus);
    jwk["n"] = json!(b64(&n));
    let keys = jwks(json!([jwk]));
    verify_logout_token(&sign(header(), claims()), &keys, &policy_with(&[RS256])).expect("valid");
}

#[test]
fn a_1024_bit_rsa_key_is_unusable_even_for_a_token_it_signed() {
    let short = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let pem = short.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    let key = CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(KID.into()))).unwrap();
    let keys = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
    let input = signing_input(&header(), &claims());
    let sig = key.sign(&RS256, input.as_bytes()).unwrap();
    let err = verify_logout_token(&format!("{input}.{}", b64(&sig)), &keys, &policy_with(&[RS256])).unwrap_err();
    match err {
        LogoutTokenError::UnusableKey(reason) => {
            assert!(reason.contains("1024 bits") && reason.contains("RFC 7518"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_rsa_key_without_its_modulus_is_unusable_not_a_panic() {
    let keys = jwks(json!([without(public_jwk(), "n")]));
    let err = verify_logout_token(&sign(header(), claims()), &keys, &policy_with(&[RS256])).unwrap_err();
    assert!(matches!(err, LogoutTokenError::UnusableKey(_)), "{err:?}");
}
