//! The OpenID Connect protocol: discovery and keys, the login flow, token validation,
//! claims, and logout.

pub mod claims;
pub mod client;
pub mod client_auth;
pub mod discovery;
pub mod id_token;
pub mod login;
pub mod logout;
pub mod logout_token;
pub mod par;
pub mod provider;
