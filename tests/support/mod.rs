//! What the black-box tests stand on: the service in-process or as a process, real Redis
//! deployments, the real provider (npm) and a forging one, reverse proxies, a browser.

pub mod app;
pub mod child;
pub mod client_keys;
pub mod flows;
// The JWT forger is the unit tests' too; it lives in src/ so that src/ includes nothing
// from tests/.
#[path = "../../src/forge.rs"]
pub mod forge;
pub mod forging_provider;
pub mod header_echo;
pub mod net;
pub mod otlp;
pub mod provider;
pub mod proxy;
pub mod redis;
pub mod replica;
pub mod site;
pub mod tls;
pub mod topology;
pub mod upstream;
pub mod webdriver;
