//! What a service error means to whoever called, whatever the wire: a small kind that each
//! response shape (HTML page, JSON error, back-channel answer, forward-auth answer) maps to
//! its status once (`http/error.rs`, `http/backchannel.rs`, `http/internal/forward_auth.rs`).

use super::backchannel::BackchannelError;
use super::login::LoginError;
use super::refresh::RefreshError;
use crate::oidc::login::{TokenError, UserinfoError};
use crate::session::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The request itself is wrong (or stale): asking again the same way will not help.
    BadRequest,
    /// No (valid) credentials: no session, a failed sign-in.
    Unauthorized,
    /// Known, and not allowed.
    Forbidden,
    /// The provider failed or refused what this service sent it.
    Upstream,
    /// A dependency is not available now; try again shortly.
    Unavailable,
}

pub(crate) trait Kind {
    fn kind(&self) -> ErrorKind;
}

impl Kind for StoreError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }
}

impl Kind for LoginError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(_) | Self::ProviderNotReady(_) | Self::Par(TokenError::Busy) => ErrorKind::Unavailable,
            Self::Token(TokenError::Unreachable(_) | TokenError::TooLarge(..))
            | Self::Userinfo(UserinfoError::Unreachable(_) | UserinfoError::TooLarge(_))
            | Self::Par(_)
            | Self::TokensTooLarge(_) => ErrorKind::Upstream,
            Self::Refused(_) | Self::Provider { .. } | Self::StepUp(_) => ErrorKind::Forbidden,
            Self::IdToken(_) | Self::Userinfo(_) | Self::Token(_) => ErrorKind::Unauthorized,
            Self::ReturnTo(_)
            | Self::StepUpParameters(_)
            | Self::UnboundProviderError
            | Self::TooLargeForCookie
            | Self::MissingParameter(_)
            | Self::UnknownState
            | Self::NotBoundToBrowser
            | Self::WrongIssuer => ErrorKind::BadRequest,
        }
    }
}

impl Kind for RefreshError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Ended => ErrorKind::Unauthorized,
            Self::NoRefreshToken => ErrorKind::BadRequest,
            Self::Provider(_) => ErrorKind::Upstream,
            Self::ProviderNotReady(_) | Self::Busy | Self::Store(_) => ErrorKind::Unavailable,
        }
    }
}

impl Kind for BackchannelError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(_) | Self::ProviderNotReady(_) => ErrorKind::Unavailable,
            Self::Invalid(_) | Self::Stale | Self::Replayed => ErrorKind::BadRequest,
        }
    }
}
