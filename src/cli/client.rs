//! The client commands (`jobs`, `status`, `trigger`, `pause`, `resume`,
//! `cancel`, `runs`, `reload`, `cluster`): each is one call of the typed
//! [`api::client::Client`](crate::api::client::Client), printed for people
//! by [`super::format`] or, with `--json`, as the API's document
//! pretty-printed (its fields in the order the API sends them).
//!
//! Where the daemon is: `--url`, else `http://<[daemon].listen>` from the
//! config (a wildcard listen address is reached through loopback). The
//! key: `CRONDUCT_ADMIN_KEY`, else what [`crate::api::read_key`] finds. The
//! config is only read when one of these needs it, so `--url` plus the
//! variable work without any config file, and only its `[daemon]` table
//! is read, so a mistake in a job does not cut the client off from the
//! daemon that refused it.
//!
//! Exit status: 0 ok; 1 when the daemon cannot be reached, answers with an
//! error (its `error` message is printed), or a `trigger --wait` run ends
//! in anything but success.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, bail};
use reqwest::Url;
use serde::Serialize;

use super::format;
use super::{
    ApplyArgs, ClientArgs, JobArgs, LogsArgs, PauseArgs, ResumeArgs, RunsArgs, TriggerArgs,
};
use crate::api::client::{Client, ClientError, RunQuery, job_id};
use crate::clock::{Clock, SystemClock};
use crate::record::Status;
use crate::wire::PauseRequest;

pub fn jobs(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(args)?;
    let list = api.block(api.client.jobs())?;
    if args.json {
        return print_json(&list);
    }
    let colour = colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    print!(
        "{}",
        format::jobs_table(&list.jobs, SystemClock.now(), colour)
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether to colour output: only for a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (no-color.org).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

pub fn status(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(args)?;
    let report = api.block(api.client.status())?;
    if args.json {
        return print_json(&report);
    }
    print!("{}", format::status_text(&report, SystemClock.now()));
    Ok(ExitCode::SUCCESS)
}

/// `cronduct cluster`: the nodes as the daemon asked last read them.
pub fn cluster(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(args)?;
    let view = api.block(api.client.cluster())?;
    if args.json {
        return print_json(&view);
    }
    print!("{}", format::cluster_text(&view, SystemClock.now()));
    Ok(ExitCode::SUCCESS)
}

pub fn reload(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(args)?;
    let diff = api.block(api.client.reload())?;
    if args.json {
        return print_json(&diff);
    }
    println!("{}", format::reload_text(&diff));
    Ok(ExitCode::SUCCESS)
}

/// `cronduct apply FILE [--dry-run]`.
pub fn apply(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let jobs = jobs_of(&text).with_context(|| format!("{} holds no jobs", args.file.display()))?;
    for (id, _) in &jobs {
        job_id(id)?;
    }
    let api = Api::connect(&args.client)?;
    let mut answers = Vec::new();
    for (id, keys) in &jobs {
        if args.dry_run {
            let plan = api.block(api.client.plan_job(id, keys))?;
            if !args.client.json {
                print!("{}", format::plan_text(&plan));
            }
            answers.push(serde_json::to_value(&plan)?);
        } else {
            let (created, view) = api.block(api.client.put_job(id, keys))?;
            if !args.client.json {
                println!("{} {id}", if created { "created" } else { "replaced" });
            }
            answers.push(serde_json::to_value(&view)?);
        }
    }
    if args.client.json {
        return print_json(&answers);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `[jobs.*]` tables of a file, in file order, each as JSON keys.
/// Anything else in the file is an error: `apply` sends jobs only.
fn jobs_of(
    text: &str,
) -> anyhow::Result<Vec<(String, serde_json::Map<String, serde_json::Value>)>> {
    let doc: toml::Table = text.parse().context("not valid TOML")?;
    if let Some(other) = doc.keys().find(|k| *k != "jobs") {
        anyhow::bail!("`{other}` is not a [jobs.ID] table; apply sends jobs only");
    }
    let Some(toml::Value::Table(jobs)) = doc.get("jobs") else {
        anyhow::bail!("no [jobs.ID] table");
    };
    jobs.iter()
        .map(|(id, job)| match serde_json::to_value(job)? {
            serde_json::Value::Object(keys) => Ok((id.clone(), keys)),
            _ => anyhow::bail!("`jobs.{id}` is not a table"),
        })
        .collect()
}

/// `cronduct delete JOB`.
pub fn delete(args: &JobArgs) -> anyhow::Result<ExitCode> {
    job_id(&args.job)?;
    let api = Api::connect(&args.client)?;
    let removed = api.block(api.client.delete_job(&args.job))?;
    if args.client.json {
        return print_json(&removed);
    }
    println!("deleted {}", removed.job);
    Ok(ExitCode::SUCCESS)
}

pub fn trigger(args: &TriggerArgs) -> anyhow::Result<ExitCode> {
    job_id(&args.job)?;
    let api = Api::connect(&args.client)?;
    if let Some(node) = &args.node {
        let t = api.block(api.client.trigger_on(&args.job, node))?;
        if args.client.json {
            return print_json(&t);
        }
        println!("started {} run {} on {node}", t.job, t.run_id);
        return Ok(ExitCode::SUCCESS);
    }
    if !args.wait {
        let t = api.block(api.client.trigger(&args.job))?;
        if args.client.json {
            return print_json(&t);
        }
        println!("started {} run {}", t.job, t.run_id);
        return Ok(ExitCode::SUCCESS);
    }
    let record = api.block(api.client.trigger_and_wait(&args.job))?;
    if args.client.json {
        print_json(&record)?;
    } else {
        print!("{}", format::finish_text(&record));
    }
    Ok(if record.status == Status::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn pause(args: &PauseArgs) -> anyhow::Result<ExitCode> {
    let request = PauseRequest {
        reason: args.reason.clone(),
        until: args.for_.clone().or_else(|| args.until.clone()),
    };
    let job = args.job.as_deref().map(job_id).transpose()?;
    let api = Api::connect(&args.client)?;
    let Some(job) = job else {
        let all = api.block(api.client.pause_all(&request))?;
        if args.client.json {
            return print_json(&all);
        }
        let what = format!("{} jobs", all.paused.len());
        println!("{}", format::paused_text(&what, &all.pause));
        return Ok(ExitCode::SUCCESS);
    };
    let p = api.block(api.client.pause(job, &request))?;
    if args.client.json {
        return print_json(&p);
    }
    match &p.pause {
        Some(pause) => println!("{}", format::paused_text(&p.job, pause)),
        None => println!("paused {}", p.job),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn resume(args: &ResumeArgs) -> anyhow::Result<ExitCode> {
    let job = args.job.as_deref().map(job_id).transpose()?;
    let api = Api::connect(&args.client)?;
    let Some(job) = job else {
        let all = api.block(api.client.resume_all())?;
        if args.client.json {
            return print_json(&all);
        }
        match all.resumed.len() {
            0 => println!("no job was paused"),
            n => println!("resumed {n} jobs: {}", all.resumed.join(", ")),
        }
        return Ok(ExitCode::SUCCESS);
    };
    let p = api.block(api.client.resume(job))?;
    if args.client.json {
        return print_json(&p);
    }
    println!("resumed {}", p.job);
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(args: &JobArgs) -> anyhow::Result<ExitCode> {
    job_id(&args.job)?;
    let api = Api::connect(&args.client)?;
    let c = api.block(api.client.cancel(&args.job))?;
    if args.client.json {
        return print_json(&c);
    }
    println!(
        "cancelling {} run{} of {}: {}",
        c.cancelled.len(),
        if c.cancelled.len() == 1 { "" } else { "s" },
        args.job,
        c.cancelled.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

pub fn runs(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    if let Some(job) = &args.job {
        job_id(job)?;
    }
    let status = args
        .status
        .as_deref()
        .map(str::parse::<Status>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let api = Api::connect(&args.client)?;
    let (list, history) = match &args.job {
        // The job's own endpoint, which says so when the job is unknown.
        Some(job) => api.block(api.client.job_runs_from(job, status, Some(args.limit)))?,
        None => api.block(api.client.runs_from(&RunQuery {
            status,
            limit: Some(args.limit),
            ..RunQuery::default()
        }))?,
    };
    if history.as_deref() == Some("local") {
        eprintln!(
            "cronduct: the daemon cannot read the cluster database: these are its own runs only"
        );
    }
    if args.client.json {
        return print_json(&list);
    }
    if list.runs.is_empty() {
        println!("no runs");
    } else {
        print!("{}", format::runs_table(&list.runs));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn logs(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    job_id(&args.job)?;
    let api = Api::connect(&args.client)?;
    let run_id = match &args.run_id {
        Some(id) => id.clone(),
        None => {
            // A running run is the latest; else the newest finished one.
            let running = api.block(api.client.running())?;
            match running.running.into_iter().find(|r| r.job == args.job) {
                Some(r) => r.run_id,
                None => api
                    .block(api.client.job_runs(&args.job, None, Some(1)))?
                    .runs
                    .into_iter()
                    .next()
                    .map(|r| r.run_id)
                    .ok_or_else(|| anyhow::anyhow!("job {:?} has no runs yet", args.job))?,
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed = None;
    api.block(
        api.client
            .run_output(&run_id, args.attempt, args.follow, |bytes| {
                use std::io::Write;
                if failed.is_none() {
                    // Flushed at once, so `-f | grep` sees lines live.
                    failed = stdout.write_all(bytes).and_then(|()| stdout.flush()).err();
                }
            }),
    )?;
    match failed {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write the output"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `--json`: the document as the API sent it, indented. The wire types
/// serialise their fields in the order the server wrote them.
fn print_json(doc: &impl Serialize) -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(doc).context("cannot print the answer as JSON")?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The typed client, and a runtime to wait for its answers on.
struct Api {
    client: Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn connect(args: &ClientArgs) -> anyhow::Result<Api> {
        // Read at most once, and only if --url or the key variable is missing.
        // Only `[daemon]` is read: a typo in a job must not stop `status` or
        // `reload` from reaching the daemon that refused it.
        let mut daemon: Option<crate::config::DaemonSettings> = None;
        let mut settings = || -> anyhow::Result<crate::config::DaemonSettings> {
            if let Some(d) = &daemon {
                return Ok(d.clone());
            }
            let path = &args.config.config;
            let loaded = crate::config::load_daemon_settings(path).with_context(|| {
                format!(
                    "cannot read {} to find the daemon (or give --url and set {})",
                    path.display(),
                    crate::api::KEY_ENV
                )
            })?;
            daemon = Some(loaded.clone());
            Ok(loaded)
        };
        let base = match &args.url {
            Some(u) => parse_base_url(u)?,
            None => {
                let settings = settings()?;
                match settings.listen.port() {
                    0 => listen_url(crate::api::read_bound_address(&settings.state_dir)?)?,
                    _ => listen_url(settings.listen)?,
                }
            }
        };
        let key = match crate::api::env_key()? {
            Some(k) => k,
            None => crate::api::read_key(&settings()?)?,
        };
        let client = Client::new(base, key)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the I/O runtime")?;
        Ok(Api { client, rt })
    }

    /// Waits for one call's answer.
    fn block<T>(&self, call: impl Future<Output = Result<T, ClientError>>) -> anyhow::Result<T> {
        Ok(self.rt.block_on(call)?)
    }
}

fn parse_base_url(given: &str) -> anyhow::Result<Url> {
    let with_scheme = if given.contains("://") {
        given.to_string()
    } else {
        format!("http://{given}")
    };
    let url = Url::parse(&with_scheme).with_context(|| format!("invalid --url {given:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("invalid --url {given:?}: the scheme must be http or https");
    }
    Ok(url)
}

/// The URL that reaches a daemon listening on `listen`: a wildcard
/// address is reached through the loopback of the same family.
fn listen_url(listen: std::net::SocketAddr) -> anyhow::Result<Url> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, listen.port());
    Url::parse(&format!("http://{addr}")).with_context(|| format!("bad listen address {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_default_to_http_and_wildcards_to_loopback() {
        assert_eq!(
            parse_base_url("127.0.0.1:9780").expect("url").as_str(),
            "http://127.0.0.1:9780/"
        );
        assert!(parse_base_url("ftp://x").is_err());
        assert_eq!(
            listen_url("0.0.0.0:9780".parse().expect("addr"))
                .expect("url")
                .as_str(),
            "http://127.0.0.1:9780/"
        );
        assert_eq!(
            listen_url("[::]:9780".parse().expect("addr"))
                .expect("url")
                .as_str(),
            "http://[::1]:9780/"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
