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
use crate::cluster::Write;
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
    /// With `[cluster]`: this node, which records every finish in the
    /// cluster database too.
    pub cluster: Option<crate::cluster::Node>,
}

/// Which run to perform.
pub struct RunSpec {
    pub job: Arc<Job>,
    pub run_id: String,
    pub trigger: Trigger,
    pub scheduled_at: DateTime<Utc>,
    pub cancel: Cancel,
    /// In a cluster, the epoch this node claimed the run's instant with;
    /// `None` for a run nobody claims (`run_on = "all"`, manual runs,
    /// no cluster).
    pub claim: Option<i64>,
    /// A run taken over from a lost node: where it picks up.
    pub resume: Option<Resume>,
}

/// Where a run taken over from a lost node picks up.
pub struct Resume {
    /// The attempt the lost node had.
    pub after: u32,
    /// Its `lost` record, when that attempt was running (rather than
    /// finished and waiting to retry); recorded first. With `will_retry`
    /// false the run ends with it.
    pub lost: Option<FinishRecord>,
}

/// The error of an attempt that was running on a node declared lost.
pub fn lost_on(node: &str) -> String {
    format!("node {node} lost")
}

/// Performs the run: attempts until one succeeds, retries are used up,
/// or the run is cancelled. Retry delays follow the monotonic clock, so a
/// wall-clock step does not shorten or stretch them.
///
/// In a cluster every finish record is written to the database as well,
/// and a claimed run's retry starts only once the database has taken the
/// failed attempt's record and confirmed the claim is still this node's:
/// a node declared lost neither records over the survivor's records nor
/// retries what the survivor now runs. The last record is written after
/// the run's end is reported, so a database outage never holds up the
/// job's next runs (those of `run_on = "all"` go on without it).
pub async fn perform(ctx: RunContext, spec: RunSpec) {
    let mut attempt = match &spec.resume {
        None => 1,
        Some(resume) => {
            if let Some(lost) = &resume.lost {
                ctx.log.write(LogEvent::Finish(lost.clone()));
                if !lost.will_retry {
                    finish(&ctx, &spec, lost.clone());
                    in_cluster(&ctx, &spec, lost).await;
                    return;
                }
                if !in_cluster(&ctx, &spec, lost).await {
                    finish(&ctx, &spec, lost.clone());
                    return;
                }
            }
            resume.after + 1
        }
    };
    if attempt > 1 && !wait_to_retry(&ctx, &spec, attempt).await {
        return;
    }
    loop {
        let record = attempt_once(&ctx, &spec, attempt).await;
        ctx.log.write(LogEvent::Finish(record.clone()));
        if !record.will_retry {
            finish(&ctx, &spec, record.clone());
            in_cluster(&ctx, &spec, &record).await;
            return;
        }
        if !in_cluster(&ctx, &spec, &record).await {
            finish(&ctx, &spec, record);
            return;
        }
        attempt += 1;
        if !wait_to_retry(&ctx, &spec, attempt).await {
            return;
        }
    }
}

/// Waits the retry delay before `attempt` and, for a claimed run, has the
/// database confirm that the claim is still this node's. Answers whether
/// the attempt may start; when not, the run is closed with a finish line
/// for the attempt that never started (no process ran, so there is no
/// start line; one finish line still closes the run for history, stats
/// and notices).
async fn wait_to_retry(ctx: &RunContext, spec: &RunSpec, attempt: u32) -> bool {
    let _ = ctx.events.send(RunEvent::Retrying {
        run_id: spec.run_id.clone(),
    });
    let delay = spec.job.retry_delay_for(attempt - 1);
    let why = tokio::select! {
        () = tokio::time::sleep(delay) => match (&ctx.cluster, spec.claim) {
            (Some(node), Some(epoch)) => {
                match node.begin_attempt(&spec.job.id, spec.scheduled_at, attempt, epoch).await {
                    Write::Written => return true,
                    Write::Fenced => {
                        tracing::warn!(job = %spec.job.id, run_id = %spec.run_id, "not retrying: this node was declared lost and another node took the run over");
                        "not retried: another node took the run over".to_string()
                    }
                    Write::Unreachable(e) => {
                        tracing::warn!(job = %spec.job.id, run_id = %spec.run_id, "not retrying: {e}");
                        format!("not retried: {}", crate::daemon::scheduler::CLUSTER_UNREACHABLE)
                    }
                }
            }
            _ => return true,
        },
        () = spec.cancel.token.cancelled() => format!("{} while waiting to retry", spec.cancel.reason()),
    };
    let last = FinishRecord::never_started(
        spec.run_id.clone(),
        spec.job.id.clone(),
        attempt,
        spec.trigger,
        spec.scheduled_at,
        ctx.clock.now(),
        Status::Cancelled,
        why,
        ctx.host.to_string(),
    );
    ctx.log.write(LogEvent::Finish(last.clone()));
    finish(ctx, spec, last.clone());
    in_cluster(ctx, spec, &last).await;
    false
}

/// Writes `record` into the cluster database, if there is one, fenced by
/// the run's claim. Answers false when the write was refused because this
/// node no longer owns the run: the record then stays in the local log
/// only, with a warning. A database that cannot be reached for long (or
/// a run cancelled meanwhile, as at a forced shutdown) leaves the record
/// in the local log only too.
async fn in_cluster(ctx: &RunContext, spec: &RunSpec, record: &FinishRecord) -> bool {
    let Some(node) = &ctx.cluster else {
        return true;
    };
    let written = tokio::select! {
        w = node.record_finish(record, spec.claim) => w,
        () = spec.cancel.token.cancelled(), if record.status != Status::Cancelled => {
            Write::Unreachable("the run was cancelled".to_string())
        }
    };
    match written {
        Write::Written => true,
        Write::Fenced => {
            tracing::warn!(
                job = %record.job,
                run_id = %record.run_id,
                attempt = record.attempt,
                "the finish record is kept in the local log only: this node was declared lost and the run belongs to another node now"
            );
            false
        }
        Write::Unreachable(e) => {
            tracing::warn!(
                job = %record.job,
                run_id = %record.run_id,
                attempt = record.attempt,
                "the finish record is kept in the local log only, not in the cluster database: {e}"
            );
            true
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
        node: None,
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
