//! Notifications (cronduct.toml(5) NOTIFICATIONS): email over SMTP, webhooks
//! and healthchecks.io pings.
//!
//! A [`Notice`] is one event of one job, carrying what that event knows:
//! a finished run's `failure`, `recovery` or `success` (the final finish
//! record, sent once per run after its last attempt), a `slow` run (the
//! running attempt), an `overdue` job (last success and window), the
//! `missed` instants found at start-up (at most [`MISSED_LISTED`], then a
//! count), a `skipped` start. The scheduler calls [`Notifier::send`] once
//! per event; `notify.on` filters them. Pings are separate:
//! [`Notifier::run_started`] and [`Notifier::run_finished`] once per run.
//!
//! This module owns two things: the pure decision of which notice a run
//! deserves ([`decide`], with the per-job [`NotifyState`] the daemon
//! keeps in its state file), and delivery ([`Notifier`]). It must never block or delay
//! scheduling: [`Notifier::send`] only enqueues, and a background task
//! delivers, retries and rate-limits. It reads the wall clock only to
//! stamp the latest delivery's outcome, and keeps no job state of its own
//! beyond the per-job flood counters.
//!
//! Delivery contract, as a careful sysadmin would expect it:
//!
//! - One notice per run: one mail to all of the job's recipients (one
//!   message, every address in `To`), and one webhook POST.
//! - Email and webhook are delivered independently: a dead mail server
//!   does not hold back the webhook, and each is retried on its own.
//! - A failed delivery is retried after each of
//!   [`DeliveryOptions::retry_delays`] (by default 10 s, 60 s and 5 min:
//!   four tries in all), then given up with an `error` log line naming the
//!   job, the channel and the last error. Errors that a retry cannot fix
//!   (a malformed address, an SMTP 5xx rejection, no `[smtp]` section) are
//!   given up at once.
//! - Order: a job's notices go out one at a time per channel, in the
//!   order the runs finished, so "recovered" never overtakes the "FAILED"
//!   it answers, even while that failure is being retried. Different jobs
//!   and channels deliver concurrently. Every mail's `Date` is the run's
//!   finish time, not the time of the try that got through.
//! - Flood cap: at most [`DeliveryOptions::rate_limit`] notices per job per
//!   [`DeliveryOptions::rate_window`] (by default 5 per hour). Notices over
//!   the cap are dropped with a `warn` log line and counted; the next
//!   notice that goes out for the job says how many were suppressed (a
//!   line in the mail, `"suppressed": N` in the webhook document). A
//!   `recovery` passes the cap when the last notice sent was a `failure`,
//!   so the last word in the inbox is never a stale failure.
//! - The queue between [`Notifier::send`] and the delivery task is
//!   bounded, and so is the number of deliveries in flight; when both are
//!   full a notice is dropped with an `error` log line rather than making
//!   the scheduler wait. Memory stays bounded however many jobs fail.
//! - At daemon exit, [`Notifier::shutdown`] stops waiting between retries:
//!   every pending delivery gets one last immediate try, all bounded by the
//!   caller's deadline; whatever is still undelivered then is logged and
//!   abandoned.
//! - Every outcome is counted ([`NotifyStats`]: deliveries delivered and
//!   failed, by channel; notices suppressed and dropped), and the admin
//!   API shows the counts in `GET /api/v1/status` (`notifications`) and
//!   `/metrics`, so a mail server that refuses every notice is seen without
//!   reading the log.
//!
//! - Pings (`notify.ping`, the healthchecks.io protocol) use the same
//!   retries and their own per-job queue, so a run's `URL/start` always
//!   arrives before its `URL` or `URL/fail`. They bypass the flood cap: a
//!   monitor counts runs, and a dropped success would page someone.
//!
//! The JSON webhook document (`format = "json"`, or a string webhook) is
//! `{"event":…,"job":…,"host":…,"suppressed":N,…}` plus the event's own
//! fields, posted with `Content-Type: application/json`:
//!
//! - `failure`, `recovery`, `success`: `"attempts":N,"record":<the run's final finish record>`;
//! - `slow`: `"run_id"`, `"attempt"`, `"started_at"`, `"elapsed_ms"`, `"warn_after_ms"`;
//! - `overdue`: `"last_success"` (RFC 3339 or null), `"expect_success_within_ms"`, `"due_at"`;
//! - `missed`: `"scheduled_at":[…]` (at most 100) and `"more":N`;
//! - `skipped`: `"scheduled_at"`, `"reason"`.
//!
//! The chat formats share one text (job, host, outcome, the event's facts
//! such as attempts and duration, the start of the output): `slack`
//! `{"text":…}`, `discord` `{"content":…}` within Discord's 2000
//! characters, `teams` an Adaptive Card 1.4 in a Teams-workflow message,
//! `ntfy` plain text with `Title`, `Priority` (`high` for failures and
//! overdue jobs) and `Tags`. Configured `headers` are added last (values
//! from files read at each try, never logged). Any 2xx answer is success,
//! anything else is retried.

mod decide;
mod email;
mod limit;
mod notice;
mod ping;
mod webhook;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::zone::Zone;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use decide::{Event, NotifyState, decide};
pub use notice::{MISSED_LISTED, Missed, Notice, Overdue, Skipped, SlowRun};

use crate::action::http::LazyClient;
use crate::clock::{Clock, SystemClock};
use crate::config::model::{Action, Command, Job, SmtpSettings, Webhook};
use crate::record::FinishRecord;
use crate::wire::{ChannelStats, LastDelivery, NotifyStats};
use limit::{Admit, RateLimiter};

/// Tuning for delivery. The defaults suit production; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// The wait before each retry of a failed delivery; its length is the
    /// number of retries. Default: 10 s, 60 s, 5 min.
    pub retry_delays: Vec<Duration>,
    /// The limit on one delivery try: the whole SMTP conversation (connect,
    /// TLS, auth, data) or the whole webhook request. Default: 30 s.
    pub timeout: Duration,
    /// Notices waiting for the delivery task. Default: 256.
    pub queue_capacity: usize,
    /// Deliveries admitted and not yet ended (trying, waiting to retry,
    /// or waiting behind an earlier notice of the same job); beyond it the
    /// queue fills. Default: 64.
    pub max_in_flight: usize,
    /// Notices per job per `rate_window`; 0 lifts the cap. Default: 5.
    pub rate_limit: u32,
    /// Default: 1 hour.
    pub rate_window: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            retry_delays: vec![
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
            timeout: Duration::from_secs(30),
            queue_capacity: 256,
            max_in_flight: 64,
            rate_limit: 5,
            rate_window: Duration::from_secs(3600),
        }
    }
}

/// Deliveries over one channel since the notifier started, and how the
/// latest one ended (`components` in the status, `/health`'s warnings).
#[derive(Debug, Default)]
struct ChannelCounters {
    delivered: AtomicU64,
    failed: AtomicU64,
    last: Mutex<Option<LastDelivery>>,
}

impl ChannelCounters {
    fn read(&self) -> ChannelStats {
        ChannelStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    fn succeeded(&self) {
        Counters::bump(&self.delivered);
        self.set_last(None);
    }

    /// `n` deliveries given up, the last of them because of `error`.
    fn gave_up(&self, n: u64, error: String) {
        Counters::add(&self.failed, n);
        self.set_last(Some(error));
    }

    fn set_last(&self, error: Option<String>) {
        // The time is for people reading the status; deliveries are not
        // scheduled by it, so the system clock is the right one.
        let at = SystemClock.now();
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(LastDelivery {
            ok: error.is_none(),
            at,
            error,
        });
    }

    fn last(&self) -> Option<LastDelivery> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What [`NotifyStats`] reports, counted as it happens.
#[derive(Debug, Default)]
struct Counters {
    email: ChannelCounters,
    webhook: ChannelCounters,
    ping: ChannelCounters,
    suppressed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        Self::add(counter, 1);
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn channel(&self, channel: Channel) -> &ChannelCounters {
        match channel {
            Channel::Email => &self.email,
            Channel::Webhook => &self.webhook,
            Channel::Ping => &self.ping,
        }
    }

    fn read(&self) -> NotifyStats {
        let (email, webhook, ping) = (self.email.read(), self.webhook.read(), self.ping.read());
        NotifyStats {
            delivered: email.delivered + webhook.delivered + ping.delivered,
            failed: email.failed + webhook.failed + ping.failed,
            suppressed: self.suppressed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            email,
            webhook,
            ping,
        }
    }
}

/// A read-only view of a [`Notifier`]'s counters, for the admin API's
/// status and metrics: it can read them from any thread and cannot send.
#[derive(Debug, Clone)]
pub struct NotifyCounters(Arc<Counters>);

impl NotifyCounters {
    /// The counters so far.
    pub fn stats(&self) -> NotifyStats {
        self.0.read()
    }

    /// How the latest email delivery ended; `None` before any.
    pub fn last_email(&self) -> Option<LastDelivery> {
        self.0.email.last()
    }

    /// How the latest webhook delivery ended; `None` before any.
    pub fn last_webhook(&self) -> Option<LastDelivery> {
        self.0.webhook.last()
    }
}

/// What the delivery side shares with every handle.
#[derive(Debug)]
struct Shared {
    /// Read at every delivery try, so a reload fixes pending retries too.
    smtp: Mutex<Option<Arc<SmtpSettings>>>,
    host: String,
    http: LazyClient,
    options: DeliveryOptions,
    counters: Arc<Counters>,
}

impl Shared {
    fn smtp(&self) -> Option<Arc<SmtpSettings>> {
        self.smtp.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A request to stop: the deadline, and who to tell when done.
type Stop = (Instant, oneshot::Sender<()>);

/// A handle on the delivery task. Cheap to clone; every clone feeds the
/// same queue. Create it with [`Notifier::start`] inside a Tokio runtime.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Box<Queued>>,
    shared: Arc<Shared>,
    stop: Arc<Mutex<Option<oneshot::Sender<Stop>>>>,
}

/// Everything a delivery needs, copied out of the job and the run so the
/// job may be reloaded or removed while the notice is in flight.
#[derive(Debug, Clone)]
struct Queued {
    job: String,
    description: String,
    schedule: String,
    timezone: Zone,
    /// The command or request, for the reader.
    action: String,
    is_http: bool,
    email: Vec<String>,
    webhook: Option<Webhook>,
    what: What,
    /// Notices suppressed by the rate limit since the last one sent.
    suppressed: u32,
}

/// A notice (mail and webhook, rate-limited) or a monitor ping (never
/// rate-limited: the monitor counts runs).
#[derive(Debug, Clone)]
enum What {
    Notice(Notice),
    Ping(ping::Ping),
}

impl Queued {
    /// The event name for log lines.
    fn event(&self) -> &'static str {
        match &self.what {
            What::Notice(n) => n.event().as_str(),
            What::Ping(p) => p.kind.as_str(),
        }
    }

    fn run_id(&self) -> Option<&str> {
        match &self.what {
            What::Notice(n) => n.run_id(),
            What::Ping(p) => Some(&p.run_id),
        }
    }
}

/// Where one notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Channel {
    Email,
    Webhook,
    Ping,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
            Channel::Ping => "ping",
        }
    }
}

/// Why one delivery try failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum DeliveryError {
    /// Worth another try: the server may come back.
    #[error("{0}")]
    Transient(String),
    /// No retry can fix it (a bad address, a 5xx rejection).
    #[error("{0}")]
    Permanent(String),
}

impl Notifier {
    /// Starts the delivery task. `smtp` is the config's `[smtp]` (may be
    /// replaced later with [`Notifier::set_smtp`]), `host` names this
    /// machine in subjects and webhook documents, `http` posts webhooks
    /// (its own defaults apply, except the timeout, which is
    /// `options.timeout`; a [`LazyClient`] is built at the first webhook).
    /// Must be called inside a Tokio runtime.
    pub fn start(
        smtp: Option<SmtpSettings>,
        host: String,
        http: impl Into<LazyClient>,
        options: DeliveryOptions,
    ) -> Notifier {
        // lettre's TLS transports need a process-wide rustls provider;
        // installing it twice is harmless, so the result is ignored.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let (stop_tx, stop_rx) = oneshot::channel();
        let limiter = RateLimiter::new(options.rate_limit, options.rate_window);
        let shared = Arc::new(Shared {
            smtp: Mutex::new(smtp.map(Arc::new)),
            host,
            http: http.into(),
            options,
            counters: Arc::default(),
        });
        tokio::spawn(run(rx, stop_rx, Arc::clone(&shared), limiter));
        Notifier {
            tx,
            shared,
            stop: Arc::new(Mutex::new(Some(stop_tx))),
        }
    }

    /// Replaces the `[smtp]` settings after a reload. Deliveries waiting to
    /// retry use the new settings on their next try.
    pub fn set_smtp(&self, smtp: Option<SmtpSettings>) {
        *self.shared.smtp.lock().unwrap_or_else(|e| e.into_inner()) = smtp.map(Arc::new);
    }

    /// Queues `notice` for `job`'s mail and webhook. Call it for each
    /// event: a finished run's [`decide`] outcome, a run found slow, a job
    /// found overdue, the missed instants found at start-up, a skip. A
    /// notice whose event `notify.on` does not list is not sent, nor is
    /// anything for a job without email or webhook. Never waits: a full
    /// queue, or a notifier that has shut down, drops the notice with an
    /// `error` log line. Every notice counts against the job's rate limit.
    pub fn send(&self, job: &Job, notice: Notice) {
        let Some(notify) = &job.notify else {
            return;
        };
        if (notify.email.is_empty() && notify.webhook.is_none())
            || !notice.event().wanted(&notify.on)
        {
            return;
        }
        self.enqueue(job, notify.email.clone(), What::Notice(notice));
    }

    /// Pings `notify.ping` with `URL/start` for a run whose first attempt
    /// has just started (call it once per run, not per retry). Ordered
    /// before the run's [`Notifier::run_finished`] ping.
    pub fn run_started(&self, job: &Job, run_id: &str) {
        self.ping(job, ping::Kind::Start, run_id, String::new());
    }

    /// Pings `notify.ping` once a run is over, with `record` its final
    /// attempt: `URL` on success, `URL/fail` on a failure, with the
    /// output tail as the body; whatever `notify.on` says. A cancelled
    /// run pings nothing (nobody should be paged for a run stopped on
    /// purpose; the monitor's grace time still notices a run that never
    /// ends). The notice itself goes through [`Notifier::send`].
    pub fn run_finished(&self, job: &Job, record: &FinishRecord) {
        let kind = if record.status == crate::record::Status::Success {
            ping::Kind::Success
        } else if record.status.is_failure() {
            ping::Kind::Fail
        } else {
            return;
        };
        self.ping(job, kind, &record.run_id, ping::body(record));
    }

    fn ping(&self, job: &Job, kind: ping::Kind, run_id: &str, body: String) {
        let Some(url) = job.notify.as_ref().and_then(|n| n.ping.clone()) else {
            return;
        };
        let p = ping::Ping {
            url,
            kind,
            run_id: run_id.to_string(),
            body,
        };
        self.enqueue(job, Vec::new(), What::Ping(p));
    }

    fn enqueue(&self, job: &Job, email: Vec<String>, what: What) {
        let (action, is_http) = match &job.action {
            Action::Command(Command::Shell(s)) => (s.clone(), false),
            Action::Command(Command::Argv(argv)) => (argv.join(" "), false),
            Action::Http(req) => (format!("{} {}", req.method, req.url), true),
        };
        let queued = Queued {
            job: job.id.clone(),
            description: job.description.clone(),
            schedule: job.schedule.to_string(),
            timezone: job.timezone.clone(),
            action,
            is_http,
            email,
            webhook: job.notify.as_ref().and_then(|n| n.webhook.clone()),
            what,
            suppressed: 0,
        };
        if let Err(e) = self.tx.try_send(Box::new(queued)) {
            Counters::bump(&self.shared.counters.dropped);
            let (why, q) = match e {
                mpsc::error::TrySendError::Full(q) => ("the notification queue is full", q),
                mpsc::error::TrySendError::Closed(q) => ("the notifier has shut down", q),
            };
            tracing::error!(
                job = %job.id,
                event = q.event(),
                run_id = q.run_id().map(tracing::field::display),
                "dropping notification: {why}"
            );
        }
    }

    /// The delivery counters so far.
    pub fn stats(&self) -> NotifyStats {
        self.shared.counters.read()
    }

    /// A handle on the counters that outlives no delivery and sends
    /// nothing, for the admin API.
    pub fn counters(&self) -> NotifyCounters {
        NotifyCounters(Arc::clone(&self.shared.counters))
    }

    /// Flushes at daemon exit: every queued notice and every delivery
    /// waiting to retry gets one immediate try, and this returns when all
    /// are done or at `deadline`, whichever comes first (undelivered ones
    /// are then logged and abandoned). Later [`Notifier::send`] calls on
    /// any clone drop their notice. Calling it again (on another clone)
    /// returns at once.
    pub async fn shutdown(self, deadline: Instant) {
        let stop = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(stop) = stop else {
            return;
        };
        let (done_tx, done_rx) = oneshot::channel();
        if stop.send((deadline, done_tx)).is_err() {
            return;
        }
        // The task enforces the deadline itself; the margin lets it log what
        // it abandons before we return.
        let _ = tokio::time::timeout_at(deadline + Duration::from_millis(500), done_rx).await;
    }
}

/// The delivery task: admits queued notices through the rate limit and
/// hands them to the [`Dispatcher`].
async fn run(
    mut rx: mpsc::Receiver<Box<Queued>>,
    mut stop_rx: oneshot::Receiver<Stop>,
    shared: Arc<Shared>,
    mut limiter: RateLimiter,
) {
    let max_in_flight = shared.options.max_in_flight.max(1);
    let mut d = Dispatcher::new(shared);
    let mut stop_open = true;
    loop {
        tokio::select! {
            stop = &mut stop_rx, if stop_open => {
                stop_open = false;
                if let Ok((deadline, done)) = stop {
                    rx.close();
                    d.closing.cancel();
                    while let Ok(notice) = rx.try_recv() {
                        d.admit(*notice, &mut limiter);
                    }
                    d.drain(Some(deadline)).await;
                    let _ = done.send(());
                    return;
                }
            }
            notice = rx.recv(), if d.pending < max_in_flight => match notice {
                Some(notice) => d.admit(*notice, &mut limiter),
                // Every handle is gone without a shutdown: let the
                // deliveries in progress finish on their own schedule.
                None => {
                    d.drain(None).await;
                    return;
                }
            },
            Some(joined) = d.running.join_next_with_id(), if !d.running.is_empty() => {
                d.finished(joined);
            }
        }
    }
}

/// One delivery queue: a job's notices over one channel go out one at a
/// time, in order, so a reader never gets "recovered" before the
/// "FAILED" it answers, even when that failure needed retries.
type Key = (String, Channel);

/// Runs deliveries: concurrently across jobs and channels, one at a time
/// within each [`Key`].
struct Dispatcher {
    shared: Arc<Shared>,
    /// Fired at shutdown: waits between retries end early.
    closing: CancellationToken,
    running: JoinSet<()>,
    /// Which queue each running delivery belongs to.
    keys: HashMap<tokio::task::Id, Key>,
    /// Queues with a delivery running, and what waits behind it.
    waiting: HashMap<Key, VecDeque<Arc<Queued>>>,
    /// Deliveries running or waiting: what `max_in_flight` bounds.
    pending: usize,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            closing: CancellationToken::new(),
            running: JoinSet::new(),
            keys: HashMap::new(),
            waiting: HashMap::new(),
            pending: 0,
        }
    }

    /// Applies the rate limit to a notice and queues its deliveries; a
    /// ping goes straight to its queue.
    fn admit(&mut self, mut q: Queued, limiter: &mut RateLimiter) {
        let event = match &q.what {
            What::Ping(_) => {
                self.enqueue((q.job.clone(), Channel::Ping), Arc::new(q));
                return;
            }
            What::Notice(n) => n.event(),
        };
        match limiter.admit(&q.job, event, Instant::now()) {
            Admit::Suppress => {
                Counters::bump(&self.shared.counters.suppressed);
                tracing::warn!(
                    job = %q.job,
                    event = %event,
                    run_id = q.run_id().map(tracing::field::display),
                    "notification suppressed: more than {} notices for this job within {:?}",
                    self.shared.options.rate_limit,
                    self.shared.options.rate_window,
                );
            }
            Admit::Send { suppressed } => {
                q.suppressed = suppressed;
                let q = Arc::new(q);
                let channels = [
                    (!q.email.is_empty()).then_some(Channel::Email),
                    q.webhook.is_some().then_some(Channel::Webhook),
                ];
                for channel in channels.into_iter().flatten() {
                    self.enqueue((q.job.clone(), channel), Arc::clone(&q));
                }
            }
        }
    }

    fn enqueue(&mut self, key: Key, notice: Arc<Queued>) {
        self.pending += 1;
        match self.waiting.get_mut(&key) {
            Some(queue) => queue.push_back(notice),
            None => {
                self.waiting.insert(key.clone(), VecDeque::new());
                self.spawn(key, notice);
            }
        }
    }

    fn spawn(&mut self, key: Key, notice: Arc<Queued>) {
        let task = self.running.spawn(deliver(
            Arc::clone(&self.shared),
            notice,
            key.1,
            self.closing.clone(),
        ));
        self.keys.insert(task.id(), key);
    }

    /// A delivery ended: start the next one in its queue.
    fn finished(&mut self, joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match joined {
            Ok((id, ())) => id,
            Err(e) => {
                if e.is_panic() {
                    if let Some((_, channel)) = self.keys.get(&e.id()) {
                        self.shared
                            .counters
                            .channel(*channel)
                            .gave_up(1, "the delivery task panicked".to_string());
                    }
                    tracing::error!("a notification delivery task panicked: {e}");
                }
                e.id()
            }
        };
        self.pending = self.pending.saturating_sub(1);
        let Some(key) = self.keys.remove(&id) else {
            return;
        };
        let next = self.waiting.get_mut(&key).and_then(VecDeque::pop_front);
        match next {
            Some(notice) => self.spawn(key, notice),
            None => {
                self.waiting.remove(&key);
            }
        }
    }

    /// Runs every pending delivery to its end, or until `deadline`; what
    /// is left then is abandoned, counted and logged.
    async fn drain(&mut self, deadline: Option<Instant>) {
        loop {
            let next = self.running.join_next_with_id();
            let joined = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, next).await {
                    Ok(joined) => joined,
                    Err(_) => break,
                },
                None => next.await,
            };
            match joined {
                Some(joined) => self.finished(joined),
                None => return,
            }
        }
        let abandoned = self.pending;
        self.running.abort_all();
        // What is abandoned: the deliveries running now and those waiting
        // behind them, counted on their channels.
        let running = self.keys.values().map(|(_, channel)| (*channel, 1));
        let waiting = self
            .waiting
            .iter()
            .map(|((_, channel), queue)| (*channel, queue.len()));
        for (channel, n) in running.chain(waiting).filter(|&(_, n)| n > 0) {
            self.shared
                .counters
                .channel(channel)
                .gave_up(n as u64, "undelivered at the shutdown deadline".to_string());
        }
        tracing::error!(
            "shutdown deadline reached: abandoning {abandoned} undelivered notification(s)"
        );
    }
}

/// Delivers `notice` over `channel`, retrying transient failures after
/// each of the configured delays. Once `closing` fires, the wait before a
/// retry is skipped and a failed try is the last.
async fn deliver(
    shared: Arc<Shared>,
    notice: Arc<Queued>,
    channel: Channel,
    closing: CancellationToken,
) {
    let delays = &shared.options.retry_delays;
    let mut tries = 0usize;
    loop {
        tries += 1;
        let result = match channel {
            Channel::Email => {
                email::send(
                    shared.smtp().as_deref(),
                    &shared.host,
                    &notice,
                    shared.options.timeout,
                )
                .await
            }
            Channel::Webhook => {
                webhook::post(&shared.http, &shared.host, &notice, shared.options.timeout).await
            }
            Channel::Ping => ping::post(&shared.http, &notice, shared.options.timeout).await,
        };
        let error = match result {
            Ok(()) => {
                shared.counters.channel(channel).succeeded();
                tracing::info!(
                    job = %notice.job,
                    event = notice.event(),
                    run_id = notice.run_id().map(tracing::field::display),
                    channel = channel.as_str(),
                    tries,
                    "notification sent"
                );
                return;
            }
            Err(e) => e,
        };
        let next_delay = delays.get(tries - 1).copied();
        match (&error, next_delay) {
            (DeliveryError::Transient(_), Some(delay)) if !closing.is_cancelled() => {
                tracing::warn!(
                    job = %notice.job,
                    event = notice.event(),
                    run_id = notice.run_id().map(tracing::field::display),
                    channel = channel.as_str(),
                    tries,
                    error = %error,
                    "notification failed; retrying in {delay:?}"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = closing.cancelled() => {}
                }
            }
            _ => {
                shared
                    .counters
                    .channel(channel)
                    .gave_up(1, error.to_string());
                tracing::error!(
                    job = %notice.job,
                    event = notice.event(),
                    run_id = notice.run_id().map(tracing::field::display),
                    channel = channel.as_str(),
                    tries,
                    error = %error,
                    "giving up on notification"
                );
                return;
            }
        }
    }
}

/// Renders an error and its sources as one line: `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // Some errors already print their source; don't repeat it.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
