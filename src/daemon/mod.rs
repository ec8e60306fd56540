//! `cronduct run`: the scheduler task and everything it wires together.

pub mod control;

use std::path::Path;
use std::process::ExitCode;

pub fn main(config: &Path) -> anyhow::Result<ExitCode> {
    let _ = config;
    unimplemented!()
}
