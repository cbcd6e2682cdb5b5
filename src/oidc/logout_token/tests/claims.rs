//! Claims checks (§2.4, §2.6).

use super::*;

#[test]
fn a_wrong_issuer_is_refused_even_if_it_differs_only_by_a_trailing_slash() {
    for iss in [
        "https://evil.example.com/realms/main",
        "https://op.example.com/realms/main/",
    ] {
        let err = verify_claims(with(claims(), "iss", json!(iss))).unwrap_err();
        assert!(matches!(err, LogoutTokenError::WrongIssuer { .. }), "{iss}: {err:?}");
    }
    let err = verify_claims(without(claims(), "iss")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("iss")), "{err:?}");
}

#[test]
fn a_wrong_audience_is_refused() {
    let err = verify_claims(with(claims(), "aud", json!("other-rp"))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::WrongAudience { .. }), "{err:?}");
}

#[test]
fn an_aud_array_without_the_client_id_is_refused() {
    let err = verify_claims(with(claims(), "aud", json!(["a", "b"]))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::WrongAudience { .. }), "{err:?}");
    let err = verify_claims(with(claims(), "aud", json!([]))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::WrongAudience { .. }), "{err:?}");
}

#[test]
fn a_missing_or_malformed_aud_is_refused() {
    let err = verify_claims(without(claims(), "aud")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("aud")), "{err:?}");
    let err = verify_claims(with(claims(), "aud", json!([CLIENT_ID, 7]))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "aud", .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_iat_is_refused() {
    let err = verify_claims(without(claims(), "iat")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("iat")), "{err:?}");
}

#[test]
fn a_non_numeric_or_negative_iat_is_refused() {
    for iat in [json!("1799999995"), json!(-1), json!(null)] {
        let err = verify_claims(with(claims(), "iat", iat.clone())).unwrap_err();
        assert!(
            matches!(err, LogoutTokenError::InvalidClaim { claim: "iat", .. }),
            "{iat}: {err:?}"
        );
    }
}

#[test]
fn an_iat_in_the_future_beyond_the_clock_skew_is_refused() {
    let err = verify_claims(with(claims(), "iat", json!(NOW + SKEW + 1))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::IssuedInFuture { .. }), "{err:?}");
}

#[test]
fn an_expired_token_is_refused() {
    let err = verify_claims(with(claims(), "exp", json!(NOW - SKEW))).unwrap_err();
    assert!(matches!(err, LogoutTokenError::Expired { .. }), "{err:?}");
    let err = verify_claims(with(claims(), "exp", json!("tomorrow"))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "exp", .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_or_empty_jti_is_refused() {
    let err = verify_claims(without(claims(), "jti")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingClaim("jti")), "{err:?}");
    let err = verify_claims(with(claims(), "jti", json!(""))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "jti", .. }),
        "{err:?}"
    );
    let err = verify_claims(with(claims(), "jti", json!(42))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "jti", .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_events_claim_is_refused() {
    let err = verify_claims(without(claims(), "events")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingLogoutEvent), "{err:?}");
}

#[test]
fn events_without_the_backchannel_logout_member_is_refused() {
    let events = json!({ "http://schemas.openid.net/event/other": {} });
    let err = verify_claims(with(claims(), "events", events)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingLogoutEvent), "{err:?}");
}

#[test]
fn an_events_member_that_is_not_a_json_object_is_refused() {
    for member in [json!(true), json!("{}"), json!(null), json!([])] {
        let events = json!({ BACKCHANNEL_LOGOUT_EVENT: member });
        let err = verify_claims(with(claims(), "events", events)).unwrap_err();
        assert!(matches!(err, LogoutTokenError::InvalidEvents(_)), "{err:?}");
    }
}

#[test]
fn an_events_claim_that_is_not_a_json_object_is_refused() {
    let events = json!([BACKCHANNEL_LOGOUT_EVENT]);
    let err = verify_claims(with(claims(), "events", events)).unwrap_err();
    assert!(matches!(err, LogoutTokenError::InvalidEvents(_)), "{err:?}");
}

#[test]
fn a_nonce_claim_is_refused_whatever_its_value() {
    for nonce in [json!("n-0S6_WzA2Mj"), json!(null)] {
        let err = verify_claims(with(claims(), "nonce", nonce)).unwrap_err();
        assert!(matches!(err, LogoutTokenError::NoncePresent), "{err:?}");
    }
}

#[test]
fn a_token_with_neither_sid_nor_sub_is_refused() {
    let err = verify_claims(without(without(claims(), "sid"), "sub")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::MissingSubjectAndSession), "{err:?}");
}

#[test]
fn an_empty_or_non_string_sid_or_sub_is_refused() {
    let err = verify_claims(with(without(claims(), "sub"), "sid", json!(""))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "sid", .. }),
        "{err:?}"
    );
    let err = verify_claims(with(claims(), "sub", json!(12))).unwrap_err();
    assert!(
        matches!(err, LogoutTokenError::InvalidClaim { claim: "sub", .. }),
        "{err:?}"
    );
}

#[test]
fn a_signed_payload_that_is_not_a_json_object_is_refused() {
    for payload in [b"[1,2]".as_slice(), b"not json", b""] {
        let input = format!("{}.{}", b64_json(&header()), b64(payload));
        let sig = signer().key.sign(&RS256, input.as_bytes()).unwrap();
        let err = verify(&format!("{input}.{}", b64(&sig))).unwrap_err();
        assert!(matches!(err, LogoutTokenError::PayloadNotJsonObject), "{err:?}");
    }
}
