//! Input that is not a JWT at all.

use super::*;

#[test]
fn garbage_is_not_a_jwt() {
    for garbage in ["", "garbage", "....", "\u{0}\u{ffff}", "a.b.c.d"] {
        let err = verify(garbage).unwrap_err();
        assert!(
            matches!(err, LogoutTokenError::NotCompactJws { .. }),
            "{garbage:?}: {err:?}"
        );
    }
}

#[test]
fn a_token_with_two_parts_is_not_a_jwt() {
    let token = signing_input(&header(), &claims());
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::NotCompactJws { parts: 2 }), "{err:?}");
}

#[test]
fn a_five_part_token_is_refused_as_encrypted() {
    let jwe_header = b64_json(&json!({ "alg": "RSA-OAEP", "enc": "A256GCM" }));
    let err = verify(&format!("{jwe_header}.a.b.c.d")).unwrap_err();
    assert!(matches!(err, LogoutTokenError::Encrypted), "{err:?}");
    // Five parts without a JWE header are just not a JWT.
    let err = verify("....").unwrap_err();
    assert!(matches!(err, LogoutTokenError::NotCompactJws { parts: 5 }), "{err:?}");
}

#[test]
fn bad_base64_in_any_part_is_refused() {
    let token = sign(header(), claims());
    let parts: Vec<String> = token.split('.').map(String::from).collect();
    let cases = [
        (format!("{}=.{}.{}", parts[0], parts[1], parts[2]), "header"),
        (format!("{}.{}.{}", "eyJ+", parts[1], parts[2]), "header"),
        (format!("{}.{}.{}", parts[0], parts[1], "a b"), "signature"),
        (format!("{}.{}.{}", parts[0], parts[1], "A"), "signature"),
    ];
    for (token, part) in cases {
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(err, LogoutTokenError::InvalidBase64 { part: p } if p == part),
            "{part}: {err:?}"
        );
    }
}

#[test]
fn a_header_that_is_not_a_json_object_is_refused() {
    for header in [b"not json".as_slice(), b"[]", b"\"RS256\""] {
        let token = format!("{}.{}.c2ln", b64(header), b64_json(&claims()));
        let err = verify(&token).unwrap_err();
        assert!(matches!(err, LogoutTokenError::HeaderNotJsonObject), "{err:?}");
    }
}

#[test]
fn an_oversized_token_is_refused_before_decoding() {
    let token = format!("{}..", "A".repeat(MAX_LOGOUT_TOKEN_BYTES));
    let err = verify(&token).unwrap_err();
    assert!(matches!(err, LogoutTokenError::TooLarge { .. }), "{err:?}");
    // A real, valid token padded up to the limit with an extra claim still passes.
    let base = sign(header(), claims()).len();
    let filler = "x".repeat((MAX_LOGOUT_TOKEN_BYTES - base) * 3 / 4 - 40);
    let token = sign(header(), with(claims(), "filler", json!(filler)));
    assert!(token.len() <= MAX_LOGOUT_TOKEN_BYTES);
    verify(&token).expect("valid");
}
