//! Fixtures shared by the integration tests.

pub mod api_fake;
pub mod daemon;
pub mod log;
pub mod poll;
pub mod postgres;
pub mod procfs;
pub mod smtp_sink;
pub mod webhook;
