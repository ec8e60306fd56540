//! A scripted [`Launcher`] for paused-time tests (after watchexec's
//! `TestChild`): each attempt takes a set time and ends with a set
//! status, or is cancelled, without any process.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{ActionOutcome, AttemptInfo, Launcher, StartError, Started};
use crate::config::Job;
use crate::record::Status;

/// How one scripted attempt goes.
#[derive(Debug, Clone)]
pub enum Script {
    /// Runs for the duration, then ends with the status.
    Ends(Duration, Status),
    /// Does not start.
    Refuses(StartError),
}

/// Plays `script` one attempt at a time; once it is used up, every
/// attempt is `then`.
#[derive(Debug)]
pub struct FakeLauncher {
    script: Mutex<VecDeque<Script>>,
    then: Script,
}

impl FakeLauncher {
    pub fn new(script: impl IntoIterator<Item = Script>, then: Script) -> Self {
        FakeLauncher {
            script: Mutex::new(script.into_iter().collect()),
            then,
        }
    }
}

impl Launcher for FakeLauncher {
    fn start<'a>(
        &'a self,
        _job: &'a Job,
        _info: &'a AttemptInfo,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<Started, StartError>> + Send + 'a>> {
        let next = self
            .script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_else(|| self.then.clone());
        Box::pin(async move {
            let (takes, status) = match next {
                Script::Ends(takes, status) => (takes, status),
                Script::Refuses(e) => return Err(e),
            };
            Ok(Started {
                pid: None,
                ending: Box::pin(async move {
                    let status = tokio::select! {
                        () = tokio::time::sleep(takes) => status,
                        () = cancel.cancelled() => Status::Cancelled,
                    };
                    ActionOutcome {
                        status,
                        exit_code: None,
                        signal: None,
                        http_status: None,
                        error: None,
                        stdout: String::new(),
                        stderr: String::new(),
                        output_truncated: false,
                        result: Default::default(),
                        usage: None,
                    }
                }),
            })
        })
    }
}
