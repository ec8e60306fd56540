//! The command line: clap definitions (also the source of the man pages)
//! and dispatch to the code that owns each command.
//!
//! Exit codes (cronduct(1) EXIT STATUS): 0 ok, 1 failure, 2 usage (clap's own).

mod check;
mod client;
mod format;
mod import;
mod next;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// A declarative job runner for Linux servers: cron with time zones,
/// timeouts, retries, a JSON run log and an admin API.
#[derive(Debug, Parser)]
#[command(name = "cronduct", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration file is.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "CRONDUCT_CONFIG",
        default_value = "/etc/cronduct/jobs.toml",
        value_name = "FILE"
    )]
    pub config: PathBuf,
}

/// How a client command reaches the daemon.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Base URL of the admin API (default: `[daemon].listen` from the config).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Print JSON for scripts instead of tables for people.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground.
    Run(RunArgs),
    /// Validate the configuration; show each job's next run and schedule in words.
    Check(CheckArgs),
    /// Print the next fire instants of a schedule or a configured job.
    Next(NextArgs),
    /// List the jobs the daemon runs.
    Jobs(ClientArgs),
    /// Show the daemon's status.
    Status(ClientArgs),
    /// Start a run of a job now.
    Trigger(TriggerArgs),
    /// Stop scheduling a job, or every job, until it is resumed or for a while.
    ///
    /// With --for or --until the job resumes by itself at that time, also
    /// when the daemon was restarted (or stopped) meanwhile. Pausing a
    /// paused job replaces its pause. The reason, the end, who paused and
    /// when show in `cronduct jobs` and the API's job list.
    Pause(PauseArgs),
    /// Schedule a paused job, or every paused job, again.
    ///
    /// Resuming a job that is not paused does nothing; `--all` lists the
    /// jobs it resumed.
    Resume(ResumeArgs),
    /// Cancel a job's running attempts.
    Cancel(JobArgs),
    /// Show recent runs, of one job or of all.
    ///
    /// In cluster mode, the runs of every node, with a NODE column; while
    /// the cluster database cannot be read, the daemon answers with its
    /// own runs only, and a note on stderr says so.
    Runs(RunsArgs),
    /// Print the whole output of a run, or follow a running one.
    ///
    /// The latest run of JOB and its last attempt by default. With -f a
    /// running attempt is followed live until it ends; the exit status is
    /// then 0 whatever the run's outcome. Reads the output file
    /// (`[daemon] output = "files"`, kept for `output_keep`) or, with
    /// `output = "journal"`, the journal through journalctl on the
    /// daemon's machine; there is none with `output = "tail"`.
    Logs(LogsArgs),
    /// Make the daemon re-read its configuration.
    Reload(ClientArgs),
    /// Show the cluster's nodes and the jobs they define differently.
    ///
    /// The nodes as the daemon asked read them from the database at its
    /// last heartbeat: name, state (alive, or gone when silent longer than
    /// node_timeout), admin API address, version, last heartbeat, running
    /// runs, clock offset from the database, number of jobs, and the jobs
    /// whose definition on that node differs from the other live nodes'.
    /// A daemon without [cluster] answers that cluster mode is off.
    Cluster(ClientArgs),
    /// Create or replace managed jobs from a file of [jobs.*] tables.
    ///
    /// Each job is sent to the daemon (PUT /api/v1/jobs/ID), which checks
    /// it as `cronduct check` does and writes it to <managed_dir>/ID.toml,
    /// in file order; the first refused job stops the command (the ones
    /// before it are applied). Needs an admin key and [daemon] managed_dir.
    /// A job defined in a hand-edited file is refused. With --dry-run
    /// nothing is written: each job's change is checked and shown as a
    /// diff of its managed file.
    Apply(ApplyArgs),
    /// Remove a managed job (its file in managed_dir); a run in progress
    /// finishes.
    Delete(JobArgs),
    /// Convert crontab files into an equivalent jobs.toml.
    ///
    /// Every line keeps cron's schedule, user, shell, PATH and other
    /// variables, standard input (`%`) and mail (MAILTO becomes a failure
    /// notice); comments name each line's file:line and how cronduct's
    /// behaviour differs. With no FILE, --system reads /etc/crontab and
    /// /etc/cron.d, --user NAME that user's crontab. A FILE is read with
    /// the user field when --system is given or it is /etc/crontab or
    /// under /etc/cron.d; a folder is read as cron reads /etc/cron.d.
    /// Lines that cannot be converted are reported on standard error, and
    /// then nothing is written unless --partial is given.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Crontab files or folders to convert; `-` is standard input, in
    /// user-crontab format.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Read /etc/crontab and /etc/cron.d (with no FILE), or read every FILE
    /// with the user field after the time.
    #[arg(long)]
    pub system: bool,
    /// Read this user's crontab (with no FILE), or run the jobs of user-format
    /// FILEs as this user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Write the jobs.toml to this file (replaced atomically) instead of
    /// standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Write the jobs of the lines that convert, and exit 0, even when some
    /// lines cannot be converted (they are still reported).
    #[arg(long)]
    pub partial: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print only errors; exit status says whether the file is valid.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// A configured job whose schedule to use.
    #[arg(
        value_name = "JOB",
        conflicts_with = "schedule",
        required_unless_present = "schedule"
    )]
    pub job: Option<String>,
    /// A cron expression or macro, instead of a job. Any value is taken as
    /// the expression, even one starting with `-`, so a malformed one is
    /// reported as such (exit 1).
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    pub schedule: Option<String>,
    /// IANA time zone for --schedule (default: the system zone).
    #[arg(long, value_name = "TZ", requires = "schedule", conflicts_with = "job")]
    pub timezone: Option<String>,
    /// Print instants strictly after this RFC 3339 time (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// How many instants to print.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub count: usize,
    /// Print the schedule in plain English first ("At 02:30 on Monday to
    /// Friday, Europe/Berlin"), then the instants.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A TOML file of [jobs.ID] tables.
    pub file: PathBuf,
    /// Check each job and show what would change, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job id.
    pub job: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The job id.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub job: Option<String>,
    /// Pause every configured job.
    #[arg(long)]
    pub all: bool,
    /// Resume by itself after this long (e.g. 30m, 2h, 1h30m).
    #[arg(
        long = "for",
        value_name = "DURATION",
        value_parser = duration_arg,
        conflicts_with = "until"
    )]
    pub for_: Option<String>,
    /// Resume by itself at this RFC 3339 time (e.g. 2026-12-24T08:00:00+01:00).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub until: Option<String>,
    /// Why: shown by `jobs` and in the API's job list.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The job id.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub job: Option<String>,
    /// Resume every paused job.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `--for`: a duration in the config's syntax, checked here so a typo is
/// a usage error; sent as written, the daemon counts it from its clock.
fn duration_arg(s: &str) -> Result<String, String> {
    match crate::units::parse_duration(s)? {
        d if d.is_zero() => Err("the pause must last longer than 0s".to_string()),
        _ => Ok(s.to_string()),
    }
}

/// `--until`: an RFC 3339 time (whether it is still to come is the
/// daemon's to say, by its clock).
fn time_arg(s: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{e}; expected an RFC 3339 time like 2026-12-24T08:00:00Z"))
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The job id.
    pub job: String,
    /// Wait for the run to finish; exit 1 unless it succeeded.
    #[arg(long)]
    pub wait: bool,
    /// In cluster mode, start it on this node (which takes the request at
    /// its next heartbeat) rather than on the one asked.
    #[arg(long, value_name = "NAME", conflicts_with = "wait")]
    pub node: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this job's runs.
    pub job: Option<String>,
    /// Only runs with this status.
    #[arg(long)]
    pub status: Option<String>,
    /// How many runs to show, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The job.
    pub job: String,
    /// The run (an id from `cronduct runs`); the job's latest by default.
    pub run_id: Option<String>,
    /// Which attempt, from 1; the run's last by default.
    #[arg(long)]
    pub attempt: Option<u32>,
    /// Follow a running attempt until it ends.
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Parses the command line and runs the command; what `main` calls.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cronduct: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => crate::daemon::main(&args.config.config),
        Command::Check(args) => check::run(&args),
        Command::Next(args) => next::run(&args),
        Command::Jobs(args) => client::jobs(&args),
        Command::Status(args) => client::status(&args),
        Command::Trigger(args) => client::trigger(&args),
        Command::Pause(args) => client::pause(&args),
        Command::Resume(args) => client::resume(&args),
        Command::Cancel(args) => client::cancel(&args),
        Command::Runs(args) => client::runs(&args),
        Command::Logs(args) => client::logs(&args),
        Command::Reload(args) => client::reload(&args),
        Command::Cluster(args) => client::cluster(&args),
        Command::Apply(args) => client::apply(&args),
        Command::Delete(args) => client::delete(&args),
        Command::Import(args) => import::run(&args),
    }
}
