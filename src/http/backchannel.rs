//! Back-channel logout's request and response, and the map from the service's error
//! kinds to its two failure statuses: 400 (the provider must not retry) and 503 (it may).

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::error::ErrorBody;
use crate::service::backchannel::BackchannelError;
use crate::service::error::{ErrorKind, Kind};
use crate::util::error_chain;

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

pub(crate) fn backchannel_bad_request(err: poem::Error) -> BackchannelResponse {
    tracing::warn!(error = %err, "back-channel logout refused: malformed request");
    BackchannelResponse::BadRequest(ErrorBody::new("invalid_request", err.to_string()))
}

impl From<BackchannelError> for BackchannelResponse {
    fn from(e: BackchannelError) -> Self {
        match e.kind() {
            ErrorKind::Unavailable => {
                tracing::warn!(error = %error_chain(&e), "back-channel logout deferred");
                Self::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
            }
            _ => {
                tracing::warn!(error = %e, "back-channel logout refused");
                Self::BadRequest(ErrorBody::new("invalid_request", e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::IntoResponse;

    use super::*;
    use crate::session::StoreError;

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
