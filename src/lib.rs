//! oidc-session: sign in with one OpenID Connect provider; sessions in Redis; an
//! introspection API for backends. See README.md.

pub mod check;
pub mod config;
pub mod crypto;
pub mod domain;
/// Forged JWTs for the unit tests (the black-box tests include the file too).
#[cfg(test)]
pub mod forge;
/// Entry points for the fuzz targets (`fuzz/`) and their replay (`tests/fuzz_replay.rs`).
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod http;
pub(crate) mod oidc;
pub(crate) mod service;
pub mod session;
pub mod startup;
pub mod telemetry;
pub mod util;

pub use util::error_chain;
