//! The OpenID Connect protocol: discovery and keys, the login flow, token validation,
//! claims, and logout.

pub(crate) mod access_token;
pub(crate) mod body;
pub(crate) mod claims;
pub(crate) mod client;
pub(crate) mod client_auth;
pub(crate) mod discovery;
pub(crate) mod id_token;
pub(crate) mod introspection;
pub(crate) mod keys;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod logout_token;
pub(crate) mod par;
pub(crate) mod probe;
pub(crate) mod provider;
pub(crate) mod rsa_signature;
#[cfg(test)]
pub(crate) mod test_server;
pub(crate) mod upkeep;
