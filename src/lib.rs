//! cronduct: a declarative job runner for Linux servers.
//!
//! The binary is a thin shell over [`cli::main`]. Module map:
//! `config` (TOML → validated model), `crontab` (crontab files → jobs), `schedule` (pure: expression + zone →
//! next instant), `action` (command and HTTP attempts), `daemon` (the
//! scheduler task that owns all job state), `log` (the JSONL run log and
//! the history index), `record` (the run log's records), `state` (what
//! survives restarts), `health` (a job's health, pure), `notify` (email,
//! webhooks and pings), `api` (the admin HTTP API and its typed client),
//! `wire` (the API's JSON documents), `clock` (the only wall-clock
//! reader), `units` (durations and sizes as the config, the API and the
//! CLI write them); `testkit` (hidden) holds the record builder the tests
//! and benchmarks share.

pub mod action;
pub mod api;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod crontab;
pub mod daemon;
pub mod health;
pub mod log;
pub mod notify;
pub mod record;
pub mod schedule;
pub mod state;
#[doc(hidden)]
pub mod testkit;
pub mod units;
pub mod wire;
pub mod zone;
