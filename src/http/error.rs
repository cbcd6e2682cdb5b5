//! The one error shape of the JSON endpoints, the HTML page a browser lands on, and for
//! each response shape the one map from a service error's kind to a status code
//! (`JsonError::of`, `PageError::of`; forward-auth's in `internal/forward_auth.rs`,
//! back-channel logout's in `backchannel.rs`).

use std::sync::LazyLock;
use std::time::Duration;

use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, Object};

use crate::oidc::login::{TokenError, UserinfoError};
use crate::service::error::{ErrorKind, Kind};
use crate::service::login::LoginError;
use crate::service::refresh::RefreshError;
use crate::session::StoreError;
use crate::util::error_chain;
use crate::util::throttle::Throttle;

/// `{"error": "<code>", "error_description": "<text>"}`
#[derive(Debug, Clone, Object)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    pub(crate) error_description: String,
}

impl ErrorBody {
    pub(crate) fn new(error: &str, description: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: error.to_owned(),
            error_description: description.into(),
        })
    }
}

/// Errors of the JSON endpoints.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "json_bad_request")]
pub(crate) enum JsonError {
    /// The request is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No live session, or a wrong internal API secret.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A cross-site request to a state-changing endpoint.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such thing (a session id that is not one of the caller's).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The provider failed.
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// Redis or the provider is unavailable; try again.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl JsonError {
    pub(crate) fn no_session() -> Self {
        Self::Unauthorized(ErrorBody::new("unauthorized", "no live session"))
    }
}

pub(crate) fn json_bad_request(err: poem::Error) -> JsonError {
    JsonError::BadRequest(ErrorBody::new("invalid_request", err.to_string()))
}

impl JsonError {
    /// The one map from a service error's kind to this shape's status.
    pub(crate) fn of(kind: ErrorKind, body: Json<ErrorBody>) -> Self {
        match kind {
            ErrorKind::BadRequest => Self::BadRequest(body),
            ErrorKind::Unauthorized => Self::Unauthorized(body),
            ErrorKind::Forbidden => Self::Forbidden(body),
            ErrorKind::Upstream => Self::BadGateway(body),
            ErrorKind::Unavailable => Self::Unavailable(body),
        }
    }
}

/// How often one identical "session store failed" line is written: during an outage every
/// request fails the same way.
const STORE_FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

static STORE_FAILURES: LazyLock<Throttle> = LazyLock::new(|| Throttle::new(STORE_FAILURE_LOG_EVERY));

/// The ERROR line of a failed store call, at most one per distinct error each
/// [`STORE_FAILURE_LOG_EVERY`]; the next one written says how many were held back.
pub(crate) fn log_store_failure(e: &StoreError) {
    let error = error_chain(e);
    if let Some(suppressed) = STORE_FAILURES.allow(&error) {
        tracing::error!(%error, suppressed, "session store failed");
    }
}

impl From<StoreError> for JsonError {
    fn from(e: StoreError) -> Self {
        log_store_failure(&e);
        Self::of(e.kind(), ErrorBody::new("temporarily_unavailable", e.to_string()))
    }
}

/// Errors a browser lands on: a small HTML page with the reason, escaped.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "page_bad_request")]
pub(crate) enum PageError {
    #[oai(status = 400)]
    BadRequest(Html<String>),
    #[oai(status = 401)]
    Unauthorized(Html<String>),
    #[oai(status = 403)]
    Forbidden(Html<String>),
    #[oai(status = 502)]
    BadGateway(Html<String>),
    #[oai(status = 503)]
    Unavailable(Html<String>),
    /// Too much at once: try again after `Retry-After` seconds.
    #[oai(status = 503)]
    Busy(Html<String>, #[oai(header = "Retry-After")] u32),
}

/// What a refused anonymous request is told to wait, in seconds.
const BUSY_RETRY_AFTER_SECS: u32 = 2;

pub(crate) fn page_bad_request(err: poem::Error) -> PageError {
    PageError::BadRequest(page("Bad request", &err.to_string()))
}

pub(crate) fn page(title: &str, detail: &str) -> Html<String> {
    let title = html_escape::encode_text(title);
    let detail = html_escape::encode_text(detail);
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em\">\
         <h1>{title}</h1><p>{detail}</p><p><a href=\"/auth/login\">Sign in again</a></p></body></html>"
    ))
}

impl PageError {
    /// The one map from a service error's kind to this shape's status.
    pub(crate) fn of(kind: ErrorKind, page: Html<String>) -> Self {
        match kind {
            ErrorKind::BadRequest => Self::BadRequest(page),
            ErrorKind::Unauthorized => Self::Unauthorized(page),
            ErrorKind::Forbidden => Self::Forbidden(page),
            ErrorKind::Upstream => Self::BadGateway(page),
            ErrorKind::Unavailable => Self::Unavailable(page),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        log_store_failure(&e);
        let text = "The session store is unavailable. Please try again shortly.";
        Self::of(e.kind(), page("Temporarily unavailable", text))
    }
}

impl From<LoginError> for PageError {
    fn from(e: LoginError) -> Self {
        let detail = error_chain(&e);
        if matches!(e, LoginError::Par(TokenError::Busy)) {
            tracing::debug!(reason = e.reason(), "login refused: too many starting at once");
            let text = "Too many sign-ins are starting at once. Please try again in a moment.";
            return Self::Busy(page("Busy", text), BUSY_RETRY_AFTER_SECS);
        }
        // Anyone can send a browser to such a link: one warn line each would be theirs to write.
        if matches!(e, LoginError::UnboundProviderError) {
            tracing::debug!(reason = e.reason(), error = %detail, "login failed");
        } else {
            tracing::warn!(reason = e.reason(), error = %detail, "login failed");
        }
        // What the browser is told: the causes (provider URLs among them) are for the log.
        let (title, text) = match &e {
            LoginError::Store(_) => (
                "Temporarily unavailable",
                "The session store is unavailable. Please try again shortly.",
            ),
            LoginError::ProviderNotReady(_) => (
                "Sign-in unavailable",
                "The identity provider is not available yet. Please try again shortly.",
            ),
            LoginError::Token(TokenError::Unreachable(_))
            | LoginError::Userinfo(UserinfoError::Unreachable(_))
            | LoginError::Par(TokenError::Unreachable(_)) => (
                "Sign-in failed",
                "The identity provider could not be reached. Please try again shortly.",
            ),
            // The provider refused our pushed request: a configuration matter for the log.
            LoginError::Par(_) => (
                "Sign-in failed",
                "The identity provider refused this service's sign-in request. Please contact the administrator.",
            ),
            LoginError::TokensTooLarge(_) => (
                "Sign-in failed",
                "The identity provider issued tokens too large for a session. Please contact the administrator.",
            ),
            LoginError::Refused(_) => ("Access denied", detail.as_str()),
            LoginError::Provider { .. } => ("Sign-in was not completed", detail.as_str()),
            LoginError::UnboundProviderError => (
                "Sign-in was not completed",
                "The sign-in was not completed. Please try again.",
            ),
            _ => ("Sign-in failed", detail.as_str()),
        };
        Self::of(e.kind(), page(title, text))
    }
}

impl From<RefreshError> for JsonError {
    fn from(e: RefreshError) -> Self {
        let body = match &e {
            RefreshError::Ended => ErrorBody::new("unauthorized", "no live session"),
            RefreshError::NoRefreshToken => ErrorBody::new(
                "invalid_request",
                "the session holds no refresh token (the provider issued none: see OIDC_SCOPES and OIDC_PROMPT)",
            ),
            RefreshError::Store(store) => {
                log_store_failure(store);
                ErrorBody::new("temporarily_unavailable", store.to_string())
            }
            RefreshError::Provider(_) => {
                tracing::warn!(error = %error_chain(&e), "refresh failed");
                ErrorBody::new("bad_gateway", "the identity provider could not refresh the tokens")
            }
            // Its message only: the causes (provider URLs among them) are for the log.
            RefreshError::ProviderNotReady(_) | RefreshError::Busy => {
                tracing::warn!(error = %error_chain(&e), "refresh not possible now");
                ErrorBody::new("temporarily_unavailable", e.to_string())
            }
        };
        Self::of(e.kind(), body)
    }
}

#[cfg(test)]
mod tests {
    use poem::IntoResponse;
    use std::time::Instant;

    use super::*;

    #[test]
    fn repeated_identical_store_failures_write_one_error_line_and_the_next_counts_the_rest() {
        let down = || StoreError::Unavailable("connection refused: a unique test outage".into());
        let lines = crate::util::test_log::logged(|| {
            for _ in 0..50 {
                drop(JsonError::from(down()));
                drop(PageError::from(down()));
            }
        });
        assert_eq!(lines.matches("session store failed").count(), 1, "{lines}");
        assert!(lines.contains("suppressed=0"), "{lines}");
        // The next line after the interval carries the count of those held back.
        let later = Instant::now() + STORE_FAILURE_LOG_EVERY;
        let key = error_chain(&down());
        assert_eq!(STORE_FAILURES.allow_at(&key, later), Some(99));
    }

    #[test]
    fn each_error_kind_has_one_status_per_response_shape() {
        let table = [
            (ErrorKind::BadRequest, 400),
            (ErrorKind::Unauthorized, 401),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::Upstream, 502),
            (ErrorKind::Unavailable, 503),
        ];
        for (kind, status) in table {
            let json = JsonError::of(kind, ErrorBody::new("e", "d")).into_response();
            let page = PageError::of(kind, page("t", "d")).into_response();
            assert_eq!(json.status().as_u16(), status, "JSON, {kind:?}");
            assert_eq!(page.status().as_u16(), status, "page, {kind:?}");
        }
    }

    #[test]
    fn a_sign_in_refused_for_too_many_at_once_is_a_503_page_with_retry_after() {
        let busy = PageError::from(LoginError::Par(TokenError::Busy)).into_response();
        assert_eq!(busy.status().as_u16(), 503);
        assert_eq!(busy.headers().get("retry-after").unwrap(), "2");
        let down = PageError::from(LoginError::Par(TokenError::Unreachable("down".into()))).into_response();
        assert!(
            down.headers().get("retry-after").is_none(),
            "only the busy answer says when"
        );
    }
}
