//! The OpenID Connect protocol: discovery and keys, the login flow, token validation,
//! claims, and logout.

pub mod claims;
pub mod discovery;
pub mod id_token;
pub mod login;
pub mod logout;
pub mod logout_token;
pub(crate) mod probe;
pub mod provider;
