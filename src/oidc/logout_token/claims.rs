//! The claims checks of Back-Channel Logout 1.0 §2.4 and §2.6, after the signature is good.

use serde_json::{Map, Value};

use super::{LogoutClaims, LogoutTokenError, LogoutTokenPolicy, BACKCHANNEL_LOGOUT_EVENT};

/// A NumericDate (RFC 7519 §2): a non-negative JSON number, fractions allowed (truncated).
pub(super) fn numeric_date(claims: &Map<String, Value>, claim: &'static str) -> Result<Option<u64>, LogoutTokenError> {
    let invalid = LogoutTokenError::InvalidClaim {
        claim,
        reason: "not a non-negative number of seconds",
    };
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(secs) = n.as_u64() {
                Ok(Some(secs))
            } else {
                match n.as_f64() {
                    // `as` saturates: no overflow for huge values.
                    Some(secs) if secs.is_finite() && secs >= 0.0 => Ok(Some(secs as u64)),
                    _ => Err(invalid),
                }
            }
        }
        Some(_) => Err(invalid),
    }
}

/// `Ok(None)` when absent; a present value must be a non-empty string.
pub(super) fn optional_identifier(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<String>, LogoutTokenError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(LogoutTokenError::InvalidClaim {
            claim,
            reason: "empty string",
        }),
        Some(_) => Err(LogoutTokenError::InvalidClaim {
            claim,
            reason: "not a string",
        }),
    }
}

pub(super) fn check_claims(
    claims: &Map<String, Value>,
    policy: &LogoutTokenPolicy,
) -> Result<LogoutClaims, LogoutTokenError> {
    // iss, aud, iat, exp: as for ID tokens (§2.6 step 4, Core §3.1.3.7).
    let iss = match claims.get("iss") {
        None => return Err(LogoutTokenError::MissingClaim("iss")),
        Some(Value::String(iss)) => iss,
        Some(_) => {
            return Err(LogoutTokenError::InvalidClaim {
                claim: "iss",
                reason: "not a string",
            })
        }
    };
    if iss != policy.issuer {
        return Err(LogoutTokenError::WrongIssuer {
            expected: policy.issuer.to_owned(),
        });
    }

    let aud_invalid = LogoutTokenError::InvalidClaim {
        claim: "aud",
        reason: "neither a string nor an array of strings",
    };
    let audience_matches = match claims.get("aud") {
        None => return Err(LogoutTokenError::MissingClaim("aud")),
        Some(Value::String(aud)) => aud == policy.client_id,
        Some(Value::Array(auds)) => {
            let mut found = false;
            for aud in auds {
                match aud {
                    Value::String(aud) => found |= aud == policy.client_id,
                    _ => return Err(aud_invalid),
                }
            }
            found
        }
        Some(_) => return Err(aud_invalid),
    };
    if !audience_matches {
        return Err(LogoutTokenError::WrongAudience {
            client_id: policy.client_id.to_owned(),
        });
    }

    let skew_secs = policy.clock_skew.as_secs();
    let iat = numeric_date(claims, "iat")?.ok_or(LogoutTokenError::MissingClaim("iat"))?;
    if iat > policy.now.saturating_add(skew_secs) {
        return Err(LogoutTokenError::IssuedInFuture { skew_secs });
    }
    // `exp` is absent from tokens of older providers (drafts before 1.0 final): accepted.
    let exp = numeric_date(claims, "exp")?;
    if let Some(exp) = exp {
        if policy.now >= exp.saturating_add(skew_secs) {
            return Err(LogoutTokenError::Expired { skew_secs });
        }
    }

    let jti = match optional_identifier(claims, "jti")? {
        Some(jti) => jti,
        None => return Err(LogoutTokenError::MissingClaim("jti")),
    };

    // §2.6 step 6.
    let events = match claims.get("events") {
        None => return Err(LogoutTokenError::MissingLogoutEvent),
        Some(Value::Object(events)) => events,
        Some(_) => return Err(LogoutTokenError::InvalidEvents("not a JSON object")),
    };
    match events.get(BACKCHANNEL_LOGOUT_EVENT) {
        None => return Err(LogoutTokenError::MissingLogoutEvent),
        Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(LogoutTokenError::InvalidEvents(
                "the back-channel logout member is not a JSON object",
            ))
        }
    }

    // §2.6 step 7: present at all, whatever its value.
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::NoncePresent);
    }

    // §2.6 step 5.
    let sub = optional_identifier(claims, "sub")?;
    let sid = optional_identifier(claims, "sid")?;
    if sub.is_none() && sid.is_none() {
        return Err(LogoutTokenError::MissingSubjectAndSession);
    }

    Ok(LogoutClaims {
        iss: iss.clone(),
        sub,
        sid,
        jti,
        iat,
        exp,
    })
}
