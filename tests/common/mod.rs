pub mod provider;
pub mod redis;
