//! Black-box tests of the service against a real Redis and a real OpenID Provider.

#[path = "../common/mod.rs"]
mod common;

mod backchannel;
mod bearer;
mod browser;
mod check;
mod client_auth;
mod client_auth_check;
mod connections;
mod doctor;
mod error_pages;
mod forging_provider;
mod forward_auth;
mod header_aliases;
mod helpers;
mod id_token;
mod limits;
mod login;
mod logout;
mod outages;
mod process;
mod proxies;
mod proxy_identity;
mod redis_tls;
mod refresh;
mod scale;
mod sessions;
mod site;
mod startup;
mod store;
mod store_conformance;
mod tls;
