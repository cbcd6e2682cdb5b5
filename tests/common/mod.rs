pub mod forge;
pub mod provider;
pub mod redis;
pub mod tls;
pub mod topology;
