//! Black-box tests of the service against a real Redis and a real OpenID Provider.

#[path = "../support/mod.rs"]
mod support;

mod admin;
mod backchannel;
mod bearer;
mod browser;
mod check;
mod client_assertion;
mod client_auth;
mod client_auth_check;
mod connections;
mod error_pages;
mod forward_auth;
mod header_aliases;
mod id_token;
mod limits;
mod login;
mod logout;
mod outages;
mod own_sessions;
mod process;
mod proxies;
mod proxy_identity;
mod redis_tls;
mod refresh;
mod revalidation;
mod scale;
mod sessions;
mod startup;
mod store;
mod store_conformance;
mod store_replica;
mod stored;
mod traces;
