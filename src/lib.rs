//! oidc-session: sign in with one OpenID Connect provider; sessions in Redis; an
//! introspection API for backends. See README.md.

pub mod check;
pub mod config;
pub mod http;
pub mod oidc;
pub mod service;
pub mod session;
pub mod startup;
pub mod telemetry;
