//! The client commands: they call the daemon's admin API.

use std::process::ExitCode;

use super::{ClientArgs, JobArgs, RunsArgs, TriggerArgs};

pub fn jobs(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!()
}
pub fn status(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!()
}
pub fn reload(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!()
}
pub fn trigger(args: &TriggerArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!()
}
pub fn pause(args: &JobArgs, paused: bool) -> anyhow::Result<ExitCode> {
    let _ = (args, paused);
    unimplemented!()
}
pub fn cancel(args: &JobArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!()
}
pub fn runs(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    unimplemented!()
}
