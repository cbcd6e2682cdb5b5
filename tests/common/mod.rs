pub mod child;
pub mod forge;
pub mod provider;
pub mod proxy;
pub mod redis;
pub mod topology;
pub mod upstream;
pub mod webdriver;
