//! One run of a job: its attempts and the waits between them, from the
//! first `start` line to the final `finish` line.
//!
//! A run task owns nothing the scheduler needs to read: it reports what
//! happens as [`RunEvent`]s and writes its log lines itself, so the
//! scheduler never waits on a child process or a socket.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::action::{ActionOutcome, AttemptInfo, Launcher};
use crate::clock::Clock;
use crate::config::Job;
use crate::log::LogSink;
use crate::record::{FinishRecord, LogEvent, StartRecord, Status, Trigger};

/// A way to stop a run, with the reason recorded in its finish record.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    token: CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl Cancel {
    /// Stops the run; the first reason given wins.
    pub fn cancel(&self, reason: &str) {
        let _ = self.reason.set(reason.to_string());
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    fn reason(&self) -> String {
        self.reason
            .get()
            .cloned()
            .unwrap_or_else(|| "cancelled".to_string())
    }
}

/// What a run tells the scheduler.
#[derive(Debug)]
pub enum RunEvent {
    /// An attempt has started (its `start` line is written).
    AttemptStarted {
        run_id: String,
        attempt: u32,
        pid: Option<u32>,
        started_at: DateTime<Utc>,
        timeout_at: Option<DateTime<Utc>>,
    },
    /// An attempt failed and the run now waits until `retry_at`.
    Retrying { run_id: String },
    /// The run is over; `record` is its last attempt's finish record.
    Finished {
        run_id: String,
        record: Box<FinishRecord>,
    },
}

/// What every run needs from the daemon.
#[derive(Clone)]
pub struct RunContext {
    pub clock: Arc<dyn Clock>,
    pub log: LogSink,
    /// Starts the attempts ([`crate::action::Actions`] in the daemon).
    pub launcher: Arc<dyn Launcher>,
    pub host: Arc<str>,
    pub events: mpsc::UnboundedSender<RunEvent>,
    /// Where command attempts get their `CRONDUCT_RESULT` directories.
    pub results_dir: std::path::PathBuf,
    /// Where whole output goes (`[daemon] output`); `None` for `"tail"`.
    pub output: Option<crate::log::output::Store>,
}

/// Which run to perform.
pub struct RunSpec {
    pub job: Arc<Job>,
    pub run_id: String,
    pub trigger: Trigger,
    pub scheduled_at: DateTime<Utc>,
    pub cancel: Cancel,
}

/// Performs the run: attempts until one succeeds, retries are used up,
/// or the run is cancelled. Retry delays follow the monotonic clock, so a
/// wall-clock step does not shorten or stretch them.
pub async fn perform(ctx: RunContext, spec: RunSpec) {
    let mut attempt = 1;
    loop {
        let record = attempt_once(&ctx, &spec, attempt).await;
        ctx.log.write(LogEvent::Finish(record.clone()));
        if !record.will_retry {
            finish(&ctx, &spec, record);
            return;
        }
        let _ = ctx.events.send(RunEvent::Retrying {
            run_id: spec.run_id.clone(),
        });
        let delay = spec.job.retry_delay_for(attempt);
        tokio::select! {
            () = tokio::time::sleep(delay) => attempt += 1,
            () = spec.cancel.token.cancelled() => {
                // No process runs while we wait, so there is no start line;
                // one finish line still closes the run for history and stats.
                let last = FinishRecord::never_started(
                    record.run_id,
                    record.job,
                    attempt + 1,
                    record.trigger,
                    record.scheduled_at,
                    ctx.clock.now(),
                    Status::Cancelled,
                    format!("{} while waiting to retry", spec.cancel.reason()),
                    record.host,
                );
                ctx.log.write(LogEvent::Finish(last.clone()));
                finish(&ctx, &spec, last);
                return;
            }
        }
    }
}

fn finish(ctx: &RunContext, spec: &RunSpec, record: FinishRecord) {
    let _ = ctx.events.send(RunEvent::Finished {
        run_id: spec.run_id.clone(),
        record: Box::new(record),
    });
}

async fn attempt_once(ctx: &RunContext, spec: &RunSpec, attempt: u32) -> FinishRecord {
    let job = &spec.job;
    let info = AttemptInfo {
        run_id: spec.run_id.clone(),
        attempt,
        scheduled_at: spec.scheduled_at,
        results_dir: ctx.results_dir.clone(),
        output: ctx
            .output
            .as_ref()
            .map(|store| store.target(&job.id, &spec.run_id, attempt)),
    };
    let announce = |pid: Option<u32>| {
        // The attempt starts when its process does, so `started_at` is
        // read after the spawn: with many jobs due at once, each start
        // line tells when that job really began.
        let started_at = ctx.clock.now();
        // Durations come from the monotonic clock: a wall-clock step during
        // the attempt must not make it look shorter or longer.
        let started = tokio::time::Instant::now();
        let timeout_at = job
            .timeout
            .and_then(|t| chrono::Duration::from_std(t).ok())
            .map(|t| started_at + t);
        ctx.log.write(LogEvent::Start(StartRecord {
            ts: started_at,
            run_id: spec.run_id.clone(),
            job: job.id.clone(),
            attempt,
            trigger: spec.trigger,
            scheduled_at: spec.scheduled_at,
            pid,
            host: ctx.host.to_string(),
        }));
        let _ = ctx.events.send(RunEvent::AttemptStarted {
            run_id: spec.run_id.clone(),
            attempt,
            pid,
            started_at,
            timeout_at,
        });
        (started_at, started)
    };
    let cancel = spec.cancel.token.child_token();
    let ((started_at, started), mut outcome) = match ctx.launcher.start(job, &info, cancel).await {
        Ok(running) => (announce(running.pid), running.ending.await),
        Err(e) => (announce(None), ActionOutcome::error(e.to_string())),
    };
    if outcome.status == Status::Cancelled {
        outcome.error = Some(spec.cancel.reason());
    }
    let finished_at = ctx.clock.now();
    let will_retry =
        outcome.status.is_retryable() && attempt <= job.retries && !spec.cancel.is_cancelled();
    let retry_at = will_retry
        .then(|| chrono::Duration::from_std(job.retry_delay_for(attempt)).ok())
        .flatten()
        .map(|d| finished_at + d);
    FinishRecord {
        ts: finished_at,
        run_id: spec.run_id.clone(),
        job: job.id.clone(),
        attempt,
        trigger: spec.trigger,
        scheduled_at: spec.scheduled_at,
        started_at,
        finished_at,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        status: outcome.status,
        exit_code: outcome.exit_code,
        signal: outcome.signal,
        http_status: outcome.http_status,
        error: outcome.error,
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        output_truncated: outcome.output_truncated,
        cpu_user_ms: outcome.usage.map(|u| u.cpu_user_ms),
        cpu_system_ms: outcome.usage.map(|u| u.cpu_system_ms),
        max_rss_kib: outcome.usage.map(|u| u.max_rss_kib),
        output_dropped_bytes: outcome.output_dropped_bytes,
        result: outcome.result.result,
        result_error: outcome.result.error,
        will_retry,
        retry_at,
        host: ctx.host.to_string(),
    }
}

/// A new run id: the start time in milliseconds and 32 random bits, in
/// hex, so ids sort by time and never collide in practice.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    format!(
        "{:011x}-{:08x}",
        now.timestamp_millis().max(0),
        rand::random::<u32>()
    )
}
