//! Back-channel logout's request and response, and the map from the service's error
//! kinds to its two failure statuses: 400 (the provider must not retry) and 503 (it may).

use std::sync::LazyLock;
use std::time::Duration;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::error::ErrorBody;
use crate::service::backchannel::BackchannelError;
use crate::service::error::{ErrorKind, Kind};
use crate::util::error_chain;
use crate::util::throttle::Throttle;

/// `application/x-www-form-urlencoded` body of a back-channel logout.
#[derive(Object, serde::Deserialize)]
pub(crate) struct BackchannelForm {
    pub(crate) logout_token: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "backchannel_bad_request")]
pub(crate) enum BackchannelResponse {
    /// The token was valid; its sessions (if any) have ended.
    #[oai(status = 200)]
    Ok,
    /// The token (or the request) is invalid; nothing was ended.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The provider's keys or the session store are unavailable; try again.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// How often one reason's warning is written: anyone can post forged logout tokens, one
/// line each would let them fill the log (the `logouts` metric counts every refusal).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Static because poem-openapi calls the bad-request handler as a plain function.
static REFUSALS: LazyLock<Throttle> = LazyLock::new(|| Throttle::new(REFUSAL_LOG_EVERY));

/// The throttle's key: the reason's kind (the error variant's name), never its text, which
/// can carry what the sender wrote, so that the keys stay few whatever is sent.
fn reason_of(e: &impl std::fmt::Debug) -> String {
    let debug = format!("{e:?}");
    let end = debug.find(|c: char| !c.is_alphanumeric()).unwrap_or(debug.len());
    let mut kind = debug;
    kind.truncate(end);
    kind
}

pub(crate) fn backchannel_bad_request(err: poem::Error) -> BackchannelResponse {
    if let Some(suppressed) = REFUSALS.allow("malformed request") {
        tracing::warn!(error = %err, suppressed, "back-channel logout refused: malformed request");
    }
    BackchannelResponse::BadRequest(ErrorBody::new("invalid_request", err.to_string()))
}

impl From<BackchannelError> for BackchannelResponse {
    fn from(e: BackchannelError) -> Self {
        match e.kind() {
            ErrorKind::Unavailable => {
                if let Some(suppressed) = REFUSALS.allow(&format!("deferred {}", reason_of(&e))) {
                    tracing::warn!(error = %error_chain(&e), suppressed, "back-channel logout deferred");
                }
                Self::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
            }
            _ => {
                let reason = match &e {
                    BackchannelError::Invalid(invalid) => reason_of(invalid),
                    other => reason_of(other),
                };
                if let Some(suppressed) = REFUSALS.allow(&reason) {
                    tracing::warn!(error = %e, suppressed, "back-channel logout refused");
                }
                Self::BadRequest(ErrorBody::new("invalid_request", e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use poem::IntoResponse;

    use super::*;
    use crate::oidc::logout_token::LogoutTokenError;
    use crate::session::StoreError;

    #[test]
    fn a_flood_of_refused_logout_tokens_writes_one_warning_per_reason_and_the_next_counts_the_rest() {
        let forged = |alg: &str| {
            BackchannelError::Invalid(LogoutTokenError::AlgorithmNotAllowed {
                alg: alg.into(),
                allowed: "RS256".into(),
            })
        };
        let lines = crate::util::test_log::logged(|| {
            for i in 0..50 {
                // The text differs with what the sender wrote; the reason does not.
                drop(BackchannelResponse::from(forged(&format!("X{i}"))));
                drop(BackchannelResponse::from(BackchannelError::Invalid(
                    LogoutTokenError::HeaderNotJsonObject,
                )));
            }
        });
        assert_eq!(lines.matches("back-channel logout refused").count(), 2, "{lines}");
        assert!(
            lines.contains("signed with `X0`"),
            "the first of each reason is written whole: {lines}"
        );
        assert!(!lines.contains("`X1`"), "{lines}");
        let later = Instant::now() + REFUSAL_LOG_EVERY;
        assert_eq!(REFUSALS.allow_at("AlgorithmNotAllowed", later), Some(49));
        assert_eq!(reason_of(&BackchannelError::Replayed), "Replayed");
        assert_eq!(reason_of(&LogoutTokenError::UnusableKey("x y".into())), "UnusableKey");
    }

    #[test]
    fn a_back_channel_logout_is_deferred_only_when_a_dependency_is_unavailable() {
        let cases = [
            (BackchannelError::Replayed, 400),
            (BackchannelError::Stale, 400),
            (
                BackchannelError::Store(StoreError::Timeout(std::time::Duration::from_secs(2))),
                503,
            ),
        ];
        for (error, status) in cases {
            let response = BackchannelResponse::from(error).into_response();
            assert_eq!(response.status().as_u16(), status);
        }
    }
}
