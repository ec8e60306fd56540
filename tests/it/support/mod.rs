//! Fixtures shared by the integration tests.

pub mod api_fake;
pub mod browser;
pub mod daemon;
pub mod journald;
pub mod log;
pub mod poll;
pub mod postgres;
pub mod procfs;
pub mod proxy;
pub mod smtp_sink;
pub mod webhook;
