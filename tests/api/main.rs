//! Black-box tests of the service against a real Redis and a real OpenID Provider.

#[path = "../common/mod.rs"]
mod common;

mod helpers;
mod login;
mod sessions;
