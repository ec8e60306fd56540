//! `cronduct import`: crontab files to an equivalent `jobs.toml`
//! (cronduct.toml(5), MIGRATION FROM CRON).
//!
//! Which files, in which format:
//! - no FILE and `--system`: `/etc/crontab` and the files of
//!   `/etc/cron.d`, in system format (with the user field);
//! - no FILE and `--user NAME`: `/var/spool/cron/crontabs/NAME`, else
//!   what `crontab -l -u NAME` prints, in user format;
//! - a FILE is in system format with `--system`, or when it is
//!   `/etc/crontab` or under `/etc/cron.d`; otherwise in user format, run
//!   as `--user NAME` when given; `-` is standard input, in user format;
//! - a FILE that is a folder is read as cron reads `/etc/cron.d`: its
//!   files in name order, those whose names Debian's cron ignores (a dot,
//!   or any character other than letters, digits, `_` and `-`) skipped
//!   with a note.
//!
//! Every line that cannot be converted is reported on stderr with its
//! place; then nothing is written and the exit status is 1, unless
//! `--partial` is given, which writes the rest and exits 0. Notes about
//! converted lines (a behaviour difference, a skipped file) go to stderr
//! too and never change the exit status. Writing `-o OUT` replaces the
//! file atomically.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};

use crate::config::{self, Machine};
use crate::crontab::{self, Format, Ids, Parsed, render};

const CRON_D: &str = "/etc/cron.d";
const SYSTEM_CRONTAB: &str = "/etc/crontab";
const SPOOL: &str = "/var/spool/cron/crontabs";

/// One crontab to convert.
struct Input {
    /// As messages name it.
    display: String,
    /// Starts the ids of its jobs.
    stem: String,
    format: Format,
    text: String,
}

pub fn run(args: &super::ImportArgs) -> anyhow::Result<ExitCode> {
    let machine = Machine::this();
    if let Some(user) = &args.user {
        match machine.has_account(config::machine::Account::User, user) {
            Ok(true) => {}
            Ok(false) => bail!("--user {user}: no such user on this machine"),
            Err(e) => bail!("--user {user}: cannot look the user up: {e}"),
        }
    }
    let mut err = std::io::stderr().lock();
    let inputs = gather(args, &mut err)?;
    let output = convert(&inputs, args, &machine, &mut err)?;
    let Some(text) = output else {
        return Ok(ExitCode::FAILURE);
    };
    match &args.output {
        Some(path) => write_atomically(path, &text)?,
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("cannot write to standard output")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses every input, reports its problems and notes on `err`, and
/// renders the jobs; `None` when some line could not be converted and
/// `--partial` was not given.
fn convert(
    inputs: &[Input],
    args: &super::ImportArgs,
    machine: &Machine,
    err: &mut dyn Write,
) -> anyhow::Result<Option<String>> {
    let me = &machine.user_name;
    let parsed: Vec<Parsed> = inputs
        .iter()
        .map(|i| crontab::parse(&i.text, i.format, machine))
        .collect();
    let mut problems = 0;
    for (input, p) in inputs.iter().zip(&parsed) {
        for problem in &p.problems {
            problems += 1;
            writeln!(
                err,
                "{}\n",
                config::render_problem(
                    &input.display,
                    &input.text,
                    problem.span.clone(),
                    &problem.message,
                    problem.help.as_deref(),
                )
            )?;
        }
        for note in &p.notes {
            writeln!(
                err,
                "note: {}:{}: {}",
                input.display, note.line, note.message
            )?;
        }
    }
    let mut ids = Ids::new();
    let mut jobs = Vec::new();
    for (input, p) in inputs.iter().zip(&parsed) {
        let run_as = match input.format {
            Format::User => args.user.as_deref(),
            Format::System => None,
        };
        let owner = args.user.as_deref().unwrap_or(me);
        jobs.extend(crontab::convert(
            p,
            &input.display,
            &input.stem,
            run_as,
            owner,
            &mut ids,
        ));
    }
    if problems > 0 {
        let s = if problems == 1 { "" } else { "s" };
        if !args.partial {
            writeln!(
                err,
                "error: {problems} line{s} cannot be converted; nothing was written \
                 (--partial writes the {} other job{})",
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" }
            )?;
            return Ok(None);
        }
        writeln!(
            err,
            "warning: {problems} line{s} left out (--partial); {} job{} converted",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" }
        )?;
    }
    let files: Vec<String> = inputs.iter().map(|i| i.display.clone()).collect();
    Ok(Some(render::render(
        &render::Header { files: &files },
        &jobs,
    )))
}

/// The crontabs the arguments name, read; notes on skipped files go to
/// `err`.
fn gather(args: &super::ImportArgs, err: &mut dyn Write) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    if args.files.is_empty() {
        if args.system {
            inputs.push(read_file(Path::new(SYSTEM_CRONTAB), Format::System)?);
            read_dir(Path::new(CRON_D), Format::System, &mut inputs, err)?;
        }
        if let Some(user) = &args.user {
            inputs.push(user_crontab(user)?);
        }
        if inputs.is_empty() {
            bail!("nothing to import: name crontab files, or give --system or --user NAME");
        }
        return Ok(inputs);
    }
    for file in &args.files {
        if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            inputs.push(Input {
                display: "-".to_string(),
                stem: args.user.clone().unwrap_or_else(|| "crontab".to_string()),
                format: Format::User,
                text,
            });
            continue;
        }
        let format = if args.system || is_system_path(file) {
            Format::System
        } else {
            Format::User
        };
        if file.is_dir() {
            read_dir(file, format, &mut inputs, err)?;
        } else {
            inputs.push(read_file(file, format)?);
        }
    }
    Ok(inputs)
}

/// `/etc/crontab` and what is under `/etc/cron.d` have the user field.
fn is_system_path(path: &Path) -> bool {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute == Path::new(SYSTEM_CRONTAB) || absolute.starts_with(CRON_D)
}

fn read_file(path: &Path, format: Format) -> anyhow::Result<Input> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Input {
        display: path.display().to_string(),
        stem: stem(path),
        format,
        text,
    })
}

/// The files of a cron.d-like folder, in name order, as Debian's cron
/// picks them.
fn read_dir(
    dir: &Path,
    format: Format,
    inputs: &mut Vec<Input>,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // No /etc/cron.d is an empty one.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir == Path::new(CRON_D) => {
            return Ok(());
        }
        Err(e) => return Err(anyhow!("cannot read the folder {}: {e}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read the folder {}", dir.display()))?;
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.is_file() {
            continue;
        }
        if !crontab::cron_d_name_ok(&name) {
            writeln!(
                err,
                "note: {} skipped: Debian's cron ignores files whose names hold anything \
                 but letters, digits, `_` and `-`",
                path.display()
            )?;
            continue;
        }
        inputs.push(read_file(&path, format)?);
    }
    Ok(())
}

/// A user's crontab: the spool file, else `crontab -l -u NAME`.
fn user_crontab(user: &str) -> anyhow::Result<Input> {
    let spool = Path::new(SPOOL).join(user);
    match std::fs::read_to_string(&spool) {
        Ok(text) => {
            return Ok(Input {
                display: spool.display().to_string(),
                stem: user.to_string(),
                format: Format::User,
                text,
            });
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(anyhow!("cannot read {}: {e}", spool.display()));
        }
        Err(_) => {}
    }
    let out = std::process::Command::new("crontab")
        .args(["-l", "-u", user])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "no {} and cannot run `crontab -l -u {user}`",
                spool.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "`crontab -l -u {user}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Input {
        display: format!("crontab -l -u {user}"),
        stem: user.to_string(),
        format: Format::User,
        text: String::from_utf8(out.stdout)
            .map_err(|_| anyhow!("`crontab -l -u {user}` printed text that is not UTF-8"))?,
    })
}

/// The file name, for ids; `/etc/crontab` gives `crontab`.
fn stem(path: &Path) -> String {
    path.file_name().map_or_else(
        || "crontab".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Writes `text` to a temporary file next to `path`, then renames it over
/// `path`, so a reader never sees half a file.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("-o {}: not a file name", path.display()))?;
    let tmp = dir.join(format!(".{}.import-tmp", name.to_string_lossy()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow!("cannot write {}: {e}", path.display())
    })
}
