//! `cronduct next`.

use std::process::ExitCode;

pub fn run(args: &super::NextArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!("next")
}
