//! The one error shape of the JSON endpoints, the HTML page a browser lands on, and
//! the mapping of service errors to status codes — all in one place.

use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, Object};

use super::public::BackchannelResponse;
use crate::oidc::login::{TokenError, UserinfoError};
use crate::service::backchannel::BackchannelError;
use crate::service::login::LoginError;
use crate::service::refresh::RefreshError;
use crate::session::StoreError;
use crate::util::error_chain;

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

impl From<StoreError> for JsonError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %error_chain(&e), "session store failed");
        JsonError::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
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
}

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

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %error_chain(&e), "session store failed");
        PageError::Unavailable(page(
            "Temporarily unavailable",
            "The session store is unavailable. Please try again shortly.",
        ))
    }
}

impl From<LoginError> for PageError {
    fn from(e: LoginError) -> Self {
        let detail = error_chain(&e);
        // Anyone can send a browser to such a link: one warn line each would be theirs to write.
        if matches!(e, LoginError::UnboundProviderError) {
            tracing::debug!(reason = e.reason(), error = %detail, "login failed");
        } else {
            tracing::warn!(reason = e.reason(), error = %detail, "login failed");
        }
        match e {
            LoginError::Store(store) => store.into(),
            // The browser learns that the provider is unavailable, not its addresses or the
            // error chain: that is for the log.
            LoginError::ProviderNotReady(_) => PageError::Unavailable(page(
                "Sign-in unavailable",
                "The identity provider is not available yet. Please try again shortly.",
            )),
            LoginError::Token(TokenError::Unreachable(_))
            | LoginError::Userinfo(UserinfoError::Unreachable(_))
            | LoginError::Par(TokenError::Unreachable(_)) => PageError::BadGateway(page(
                "Sign-in failed",
                "The identity provider could not be reached. Please try again shortly.",
            )),
            // The provider refused our pushed request: a configuration matter for the log.
            LoginError::Par(_) => PageError::BadGateway(page(
                "Sign-in failed",
                "The identity provider refused this service's sign-in request. Please contact the administrator.",
            )),
            LoginError::Refused(_) => PageError::Forbidden(page("Access denied", &detail)),
            LoginError::TokensTooLarge(_) => PageError::BadGateway(page(
                "Sign-in failed",
                "The identity provider issued tokens too large for a session. Please contact the administrator.",
            )),
            LoginError::Provider { .. } => PageError::Forbidden(page("Sign-in was not completed", &detail)),
            LoginError::UnboundProviderError => PageError::BadRequest(page(
                "Sign-in was not completed",
                "The sign-in was not completed. Please try again.",
            )),
            LoginError::IdToken(_) | LoginError::Userinfo(_) | LoginError::Token(_) => {
                PageError::Unauthorized(page("Sign-in failed", &detail))
            }
            LoginError::ReturnTo(_)
            | LoginError::MissingParameter(_)
            | LoginError::UnknownState
            | LoginError::NotBoundToBrowser
            | LoginError::WrongIssuer => PageError::BadRequest(page("Sign-in failed", &detail)),
        }
    }
}

impl From<RefreshError> for JsonError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Ended => Self::no_session(),
            RefreshError::NoRefreshToken => Self::BadRequest(ErrorBody::new(
                "invalid_request",
                "the session holds no refresh token (the provider issued none: see OIDC_SCOPES and OIDC_PROMPT)",
            )),
            RefreshError::Store(e) => e.into(),
            e @ RefreshError::Provider(_) => {
                tracing::warn!(error = %error_chain(&e), "refresh failed");
                Self::BadGateway(ErrorBody::new(
                    "bad_gateway",
                    "the identity provider could not refresh the tokens",
                ))
            }
            // Its message only: the causes (provider URLs among them) are for the log.
            e @ (RefreshError::ProviderNotReady(_) | RefreshError::Busy) => {
                tracing::warn!(error = %error_chain(&e), "refresh not possible now");
                Self::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
            }
        }
    }
}

impl From<BackchannelError> for BackchannelResponse {
    fn from(e: BackchannelError) -> Self {
        let unavailable =
            |e: &BackchannelError| Self::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()));
        match e {
            BackchannelError::Store(_) => {
                tracing::error!(error = %error_chain(&e), "back-channel logout failed: session store");
                unavailable(&e)
            }
            BackchannelError::ProviderNotReady(_) => {
                tracing::warn!(error = %error_chain(&e), "back-channel logout deferred: provider not ready");
                unavailable(&e)
            }
            _ => {
                tracing::warn!(error = %e, "back-channel logout refused");
                Self::BadRequest(ErrorBody::new("invalid_request", e.to_string()))
            }
        }
    }
}
