//! `cronduct check`.

use std::process::ExitCode;

pub fn run(args: &super::CheckArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!("check")
}
