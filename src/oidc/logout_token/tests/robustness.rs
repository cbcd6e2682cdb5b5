//! No input panics; messages are for operators and carry no token content.

use super::*;

#[test]
fn mutated_and_truncated_tokens_never_panic_and_are_refused() {
    let token = sign(header(), claims());
    for end in 0..token.len() {
        assert!(verify(&token[..end]).is_err(), "prefix {end}");
    }
    let bytes = token.as_bytes();
    // Every position gets a character that base64url or the dot structure refuses; every
    // fifth also gets a valid base64url character, which costs an RSA verification
    // (milliseconds in a debug build).
    for (i, &original) in bytes.iter().enumerate() {
        let odd = [b'.', b'=', b' ', b'+', b'/'][i % 5];
        let other = if original == b'A' { b'_' } else { b'A' };
        let replacements = if i % 5 == 0 { vec![odd, other] } else { vec![odd] };
        for replacement in replacements {
            if original == replacement {
                continue;
            }
            let mut mutated = bytes.to_vec();
            mutated[i] = replacement;
            let mutated = String::from_utf8(mutated).unwrap();
            // Every change must be caught: by the shape, base64 (including its
            // canonical-trailing-bits check), the header checks or the signature.
            assert!(verify(&mutated).is_err(), "mutation at {i} to {replacement}");
        }
    }
}

#[test]
fn odd_claim_values_never_panic_and_are_refused() {
    let odd = [
        json!(u64::MAX),
        json!(1e300),
        json!(-0.0),
        json!(f64::MIN_POSITIVE),
        json!({}),
        json!([[[]]]),
    ];
    for value in odd {
        for claim in ["iat", "exp", "iss", "aud", "jti", "sid", "sub", "events"] {
            match (claim, verify_claims(with(claims(), claim, value.clone()))) {
                (_, Err(_)) => {}
                // A far `exp` is honoured for at most MAX_TOKEN_AGE after `iat` (replay.rs).
                ("exp", Ok(token)) => {
                    assert_eq!(token.acceptable_until(), NOW - 5 + MAX_TOKEN_AGE, "`exp`: {value}");
                }
                // Age is the replay guard's to judge: an `iat` at the epoch is stale there.
                ("iat", Ok(token)) => {
                    let window = token.replay_window(NOW, Duration::from_secs(SKEW));
                    assert_eq!(window, None, "`iat`: {value} is not refused as stale");
                }
                (claim, Ok(_)) => panic!("`{claim}`: {value} is accepted"),
            }
        }
    }
    let policy = LogoutTokenPolicy {
        clock_skew: Duration::MAX,
        now: u64::MAX,
        ..policy_with(&[RS256])
    };
    // A clock at the end of time: the token is long expired, whatever the skew.
    let result = verify_logout_token(&sign(header(), claims()), &signer().jwks, &policy);
    assert!(result.is_err(), "accepted at the end of time");
}

#[test]
fn error_messages_name_the_problem_for_an_operator() {
    let message = LogoutTokenError::MissingLogoutEvent.to_string();
    assert!(message.contains(BACKCHANNEL_LOGOUT_EVENT), "{message}");
    let message = LogoutTokenError::WrongIssuer {
        expected: ISSUER.into(),
    }
    .to_string();
    assert!(
        message.contains(ISSUER) && message.contains("trailing slash"),
        "{message}"
    );
    let message = verify(&format!("{}..", "A".repeat(MAX_LOGOUT_TOKEN_BYTES)))
        .unwrap_err()
        .to_string();
    assert!(message.contains("16384"), "{message}");
}

#[test]
fn error_messages_do_not_repeat_token_content() {
    const MARK: &str = "SECRET-MARK";
    let cases = [
        verify_claims(with(claims(), "iss", json!(format!("https://{MARK}")))),
        verify_claims(with(claims(), "aud", json!(MARK))),
        verify(&sign(with(header(), "typ", json!(MARK)), claims())),
        verify(&sign(with(header(), "alg", json!(MARK)), claims())),
        verify(&sign(with(header(), "kid", json!(MARK)), claims())),
    ];
    for result in cases {
        let message = result.unwrap_err().to_string();
        assert!(!message.contains(MARK), "{message}");
    }
}
