//! The section-1 man pages under `man/` are generated from the clap
//! definitions (`cronduct::cli::Cli`), so `--help` and the man pages come
//! from one source. This test renders every page in memory and fails when
//! the committed files differ; `UPDATE_MAN=1 cargo test --test it man_pages`
//! rewrites them instead.
//!
//! `man/cronduct.toml.5` is written by hand and is not touched here beyond
//! checking that it documents every configuration key of
//! `cronduct::config::keys`, with its default.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use cronduct::cli::Cli;
use cronduct::config::keys::{Table, Unset, keys};

const STALE: &str = "man pages are stale: run `UPDATE_MAN=1 cargo test --test it man_pages`";

/// The `.TH` date: the last non-trivial change to the command line. A
/// constant, not today, so that the rendering is reproducible; bump it when
/// regenerating the pages for a CLI change.
const MAN_DATE: &str = "2026-12-02";

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

/// A `name(section)` cross reference in bold, the man-pages(7) convention.
fn see_also(roff: &mut Roff, pages: &[&str]) {
    roff.control("SH", ["SEE ALSO"]);
    // No hyphenation: "cron-duct-resume(1)" split over two lines reads as
    // a different page name.
    roff.control("nh", []);
    let mut line = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        let (name, section) = page.split_once('(').unwrap_or((page, ""));
        line.push(bold(name));
        line.push(roman(format!("({section}")));
    }
    roff.text(line);
    roff.control("hy", []);
}

fn exit_status(roff: &mut Roff, command: &str) {
    roff.control("SH", ["EXIT STATUS"]);
    let mut codes = vec![
        ("0", "Success."),
        ("1", failure_meaning(command)),
        (
            "2",
            "Usage error: unknown option, missing or invalid argument.",
        ),
    ];
    if command == "run" {
        codes.push((
            "78",
            "The configuration is invalid (EX_CONFIG); the unit does not restart on it.",
        ));
    }
    for (code, meaning) in codes {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
}

/// What exit status 1 means for each command (cronduct(1) EXIT STATUS).
fn failure_meaning(command: &str) -> &'static str {
    match command {
        "run" => {
            "The daemon could not start: address in use, unreadable files, a failing state or log directory."
        }
        "check" => "The configuration is invalid; every problem is printed on standard error.",
        "next" => "The expression, time zone, job or configuration is invalid.",
        "import" => {
            "A line could not be converted (without --partial; every such line is printed on standard error), or a file could not be read or written."
        }
        "trigger" => {
            "The daemon answered with an error, could not be reached, or, with --wait, the run did not succeed."
        }
        "" => {
            "Failure: invalid configuration, an error from the daemon, or a job that failed with trigger --wait."
        }
        _ => "The daemon answered with an error or could not be reached.",
    }
}

/// A page's `.TH` metadata. All fields are set because roff drops empty
/// `.TH` arguments, which would shift the source into the date's place.
fn man(cmd: &clap::Command) -> Man {
    Man::new(cmd.clone())
        .date(MAN_DATE)
        .source(format!("cronduct {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands")
}

/// The environment variables a command reads: the clap `env` of its
/// arguments, and the admin key for the commands that talk to the daemon.
fn environment(roff: &mut Roff, cmd: &clap::Command) {
    let mut vars: Vec<(String, String)> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_hide_env_set())
        .filter_map(|a| {
            let var = a.get_env()?.to_string_lossy().into_owned();
            let long = a.get_long()?;
            Some((
                var,
                format!("The value of --{long} when the option is not given."),
            ))
        })
        .collect();
    if cmd.get_arguments().any(|a| a.get_long() == Some("url")) {
        vars.push((
            "CRONDUCT_ADMIN_KEY".into(),
            "The admin API key; without it the key is read from [daemon].admin_key_file, \
             else from <state dir>/admin.key."
                .into(),
        ));
    }
    if vars.is_empty() {
        return;
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (var, meaning) in vars {
        roff.control("TP", []);
        roff.text([bold(var)]);
        roff.text([roman(meaning)]);
    }
}

/// The root page: what clap knows, plus the sections a sysadmin looks for
/// in a daemon's page (environment, files, exit status).
fn render_root(cmd: &clap::Command, subcommands: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    render_clap_sections(&man(cmd), cmd, &mut out);

    let mut roff = Roff::default();
    exit_status(&mut roff, "");
    roff.control("SH", ["ENVIRONMENT"]);
    for (var, meaning) in [
        (
            "CRONDUCT_CONFIG",
            "The configuration file, when -c/--config is not given.",
        ),
        (
            "CRONDUCT_ADMIN_KEY",
            "The admin API key. Client commands send it instead of reading a key file; \
             the daemon uses it when [daemon].admin_key_file is not set.",
        ),
        (
            "NOTIFY_SOCKET, WATCHDOG_USEC",
            "Set by systemd: the daemon reports readiness and sends watchdog pings.",
        ),
        (
            "RUST_LOG",
            "Filter for the daemon's own log on standard error, e.g. cronduct=debug.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(var)]);
        roff.text([roman(meaning)]);
    }
    roff.control("SH", ["FILES"]);
    for (file, meaning) in [
        ("/etc/cronduct/jobs.toml", "The default configuration file."),
        (
            "/var/lib/cronduct/",
            "State kept across restarts (pause flags, last runs) and the generated admin.key; \
             $XDG_STATE_HOME/cronduct for other users.",
        ),
        (
            "/var/log/cronduct/runs.jsonl",
            "The execution log, one JSON object per line; \
             <state dir>/runs.jsonl for other users.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(file)]);
        roff.text([roman(meaning)]);
    }
    let mut pages: Vec<String> = vec!["cronduct.toml(5)".into(), "systemd.service(5)".into()];
    pages.splice(0..0, subcommands.iter().map(|s| format!("cronduct-{s}(1)")));
    let refs: Vec<&str> = pages.iter().map(String::as_str).collect();
    see_also(&mut roff, &refs);
    roff.to_writer(&mut out).expect("render to memory");
    out
}

fn render_subcommand(sub: &clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    render_clap_sections(&man(sub), sub, &mut out);
    let mut roff = Roff::default();
    exit_status(&mut roff, sub.get_name());
    environment(&mut roff, sub);
    see_also(&mut roff, &["cronduct(1)", "cronduct.toml(5)"]);
    roff.to_writer(&mut out).expect("render to memory");
    out
}

/// Title, name, synopsis, description, options and subcommands as
/// clap_mangen renders them; its VERSION section is left out because the
/// version is already in the page footer.
fn render_clap_sections(man: &Man, cmd: &clap::Command, out: &mut Vec<u8>) {
    man.render_title(out).expect("render to memory");
    man.render_name_section(out).expect("render to memory");
    man.render_synopsis_section(out).expect("render to memory");
    man.render_description_section(out)
        .expect("render to memory");
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out).expect("render to memory");
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(out)
            .expect("render to memory");
    }
}

/// Every generated page by file name: `cronduct.1` and `cronduct-<sub>.1`.
fn render_all() -> BTreeMap<String, Vec<u8>> {
    // Like clap_mangen::generate_to: no page for the implicit `help`
    // subcommand, and subcommands get their `cronduct-<sub>` display names.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    let names: Vec<String> = subs.iter().map(|s| s.get_name().to_owned()).collect();
    let mut pages = BTreeMap::new();
    for sub in &subs {
        pages.insert(man(sub).get_filename(), render_subcommand(sub));
    }
    pages.insert("cronduct.1".to_owned(), render_root(&cmd, &names));
    pages
}

/// The generated pages now on disk: `cronduct.1` and `cronduct-*.1`.
fn committed_pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut pages = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return pages;
    };
    for entry in entries {
        let entry = entry.expect("read man/");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "cronduct.1" || (name.starts_with("cronduct-") && name.ends_with(".1")) {
            pages.insert(name, fs::read(entry.path()).expect("read a man page"));
        }
    }
    pages
}

#[test]
fn generated_man_pages_match_the_cli() {
    let dir = man_dir();
    let rendered = render_all();
    let committed = committed_pages(&dir);

    if std::env::var_os("UPDATE_MAN").is_some_and(|v| !v.is_empty()) {
        fs::create_dir_all(&dir).expect("create man/");
        for name in committed.keys().filter(|n| !rendered.contains_key(*n)) {
            fs::remove_file(dir.join(name)).expect("remove a page for a removed subcommand");
        }
        for (name, text) in &rendered {
            fs::write(dir.join(name), text).expect("write a man page");
        }
        return;
    }

    let mut problems = Vec::new();
    for (name, text) in &rendered {
        match committed.get(name) {
            None => problems.push(format!("man/{name} is missing")),
            Some(old) if old != text => problems.push(format!("man/{name} differs")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|n| !rendered.contains_key(*n)) {
        problems.push(format!("man/{name} has no subcommand any more"));
    }
    assert!(problems.is_empty(), "{STALE}\n{}", problems.join("\n"));
}

#[test]
fn every_subcommand_has_a_page_listed_in_cronduct_1() {
    let pages = render_all();
    let root = String::from_utf8(pages["cronduct.1"].clone()).expect("roff is UTF-8");
    for sub in [
        "run", "check", "next", "jobs", "status", "trigger", "pause", "resume", "cancel", "runs",
        "reload",
    ] {
        let page = format!("cronduct-{sub}.1");
        let text = String::from_utf8(pages.get(&page).cloned().unwrap_or_default())
            .expect("roff is UTF-8");
        assert!(
            text.contains("\\-\\-config"),
            "{page} documents -c/--config"
        );
        assert!(
            root.contains(&format!("cronduct\\-{sub}(1)")),
            "cronduct.1 refers to {page}"
        );
    }
}

/// The section of cronduct.toml(5) that documents the keys of `table`.
fn section_of(table: Table) -> &'static str {
    match table {
        Table::Top => "TOP-LEVEL KEYS",
        Table::Daemon => "THE [daemon] TABLE",
        Table::ApiKey => "API KEYS",
        Table::Smtp => "THE [smtp] TABLE",
        Table::Cluster => "THE [cluster] TABLE",
        Table::Defaults | Table::Job => "JOBS",
        Table::Http => "HTTP REQUESTS",
        Table::Notify | Table::Webhook => "NOTIFICATIONS",
    }
}

/// The page's sections (`.SH` and `.SS`) by title, each as its lines.
fn sections(page: &str) -> BTreeMap<String, Vec<&str>> {
    let mut out: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut title = String::new();
    for line in page.lines() {
        if let Some(t) = line.strip_prefix(".SH ").or(line.strip_prefix(".SS ")) {
            title = t.trim_matches('"').to_string();
            continue;
        }
        out.entry(title.clone()).or_default().push(line);
    }
    out
}

/// The `.TP` entry whose tag names `key` in bold, as plain text.
fn entry(lines: &[&str], key: &str) -> Option<String> {
    let tag = (1..lines.len()).find(|&i| {
        lines[i - 1].starts_with(".TP")
            && lines[i].starts_with(".B")
            && lines[i].split_whitespace().nth(1) == Some(key)
    })?;
    let body = lines[tag + 1..]
        .iter()
        .take_while(|line| !line.starts_with(".TP"));
    Some(plain(body.copied()))
}

/// roff as a reader sees it: font macros applied (`.BR a b` is `ab`),
/// other requests dropped, escapes for quotes and dashes resolved.
fn plain<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut words = Vec::new();
    for line in lines {
        let Some(request) = line.strip_prefix('.') else {
            words.push(line.to_string());
            continue;
        };
        let (name, args) = request.split_once(' ').unwrap_or((request, ""));
        let args = quoted_args(args);
        match name {
            "B" | "I" => words.push(args.join(" ")),
            "BR" | "RB" | "IR" | "RI" | "BI" | "IB" => words.push(args.concat()),
            _ => {}
        }
    }
    let text = words
        .join(" ")
        .replace("\\(dq", "\"")
        .replace("\\(em", "\u{2014}")
        .replace("\\-", "-")
        .replace("\\&", "")
        .replace("\\c", "");
    let text = ["\\fI", "\\fB", "\\fR", "\\fP"]
        .iter()
        .fold(text, |t, font| t.replace(font, ""));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A request's arguments: words, or "quoted strings" with spaces.
fn quoted_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = args.trim_start();
    while !rest.is_empty() {
        let (arg, tail) = match rest.strip_prefix('"') {
            Some(q) => q.split_once('"').unwrap_or((q, "")),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        out.push(arg.to_string());
        rest = tail.trim_start();
    }
    out
}

/// The hand-written `cronduct.toml(5)` keeps up with the key table: every
/// key has an entry in its table's section (a `.TP` tag naming it in
/// bold) that states its default (`Default: …`) or that it is required.
/// A key added to `config::keys` without documentation fails here.
#[test]
fn config_page_documents_every_key_with_its_default() {
    let path = man_dir().join("cronduct.toml.5");
    let text = fs::read_to_string(&path).expect("man/cronduct.toml.5 exists");
    let sections = sections(&text);
    let mut problems = Vec::new();
    for key in keys() {
        let section = section_of(key.table);
        let lines = sections.get(section).map(Vec::as_slice).unwrap_or(&[]);
        let Some(entry) = entry(lines, key.name) else {
            problems.push(format!("{section}: no .TP entry for `{}`", key.path));
            continue;
        };
        let stated = match key.unset {
            Unset::Required => entry.to_lowercase().contains("required"),
            Unset::Default(value) => entry.contains(&format!("Default: {value}")),
        };
        if !stated {
            problems.push(format!(
                "{section}, `{}`: the entry does not say {:?}:\n  {entry}",
                key.path, key.unset
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "cronduct.toml.5 is behind src/config/keys.rs:\n{}",
        problems.join("\n")
    );
}
