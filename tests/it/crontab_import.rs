//! `cronduct import` through the real binary: crontab files in a temp dir
//! → a jobs.toml that `cronduct check` accepts, whose jobs' `cronduct
//! next` instants equal Debian cron's for the original lines
//! (tests/data/crontab_cases.json, from cronsim: tools/gen_crontab_cases.py),
//! whose commands, input, variables, shell, user and mail follow cron's
//! rules (the same table's "files"), and the crontab files Debian packages
//! ship (tests/data/debian, tools/gen_debian_crontabs.sh).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

use crate::support::daemon::BIN;

#[derive(Deserialize)]
struct Table {
    schedules: Vec<ScheduleCase>,
    files: Vec<FileCase>,
}

#[derive(Deserialize)]
struct ScheduleCase {
    group: String,
    zone: String,
    from: String,
    schedule: String,
    next: Vec<String>,
}

#[derive(Deserialize)]
struct FileCase {
    name: String,
    format: String,
    owner: String,
    text: String,
    jobs: BTreeMap<String, BTreeMap<String, Value>>,
}

fn table() -> Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/crontab_cases.json");
    let text = std::fs::read_to_string(path).expect("read the crontab table");
    serde_json::from_str(&text).expect("parse the crontab table")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args`, `TZ=tz`, and `stdin` on its input.
pub fn cronduct(args: &[&str], tz: &str, stdin: &str) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .env("TZ", tz)
        .env_remove("CRONDUCT_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cronduct");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("cronduct ran");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).expect("utf-8"),
        stderr: String::from_utf8(out.stderr).expect("utf-8"),
    }
}

/// Imports `args`, writing `out`; panics unless it succeeds and the
/// output passes `check` (in zone `tz`). The parsed output.
pub fn import_checked(args: &[&str], out: &Path, tz: &str) -> toml::Table {
    let out_s = out.to_str().expect("utf-8 path");
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.extend(["-o", out_s]);
    let r = cronduct(&all, tz, "");
    assert_eq!(r.code, 0, "import {args:?}: {}", r.stderr);
    assert_eq!(r.stdout, "", "with -o nothing goes to stdout");
    let check = cronduct(&["check", "-c", out_s], tz, "");
    assert_eq!(check.code, 0, "check of the import: {}", check.stderr);
    let text = std::fs::read_to_string(out).expect("read the output");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The job ids of `doc` by their command.
fn ids_by_command(doc: &toml::Table) -> BTreeMap<String, String> {
    let jobs = doc["jobs"].as_table().expect("jobs");
    jobs.iter()
        .map(|(id, job)| {
            (
                job["command"].as_str().expect("command").to_string(),
                id.clone(),
            )
        })
        .collect()
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn imported_jobs_fire_when_debian_cron_fires_the_lines() {
    let t = table();
    let mut zones: BTreeMap<&str, Vec<(usize, &ScheduleCase)>> = BTreeMap::new();
    for (i, case) in t.schedules.iter().enumerate() {
        zones.entry(&case.zone).or_default().push((i, case));
    }
    let dir = temp();
    let mut checked = 0;
    for (zone, cases) in zones {
        // One user crontab per zone: the lines carry no zone, cron runs
        // them in the system's, which `TZ` sets for import, check and next.
        let mut text = String::new();
        for (i, case) in &cases {
            text.push_str(&format!("{} echo case-{i}\n", case.schedule));
        }
        let file = dir.path().join(format!("zone-{}", zone.replace('/', "-")));
        std::fs::write(&file, &text).expect("write crontab");
        let out = file.with_extension("toml");
        let doc = import_checked(&[file.to_str().expect("utf-8")], &out, zone);
        let ids = ids_by_command(&doc);
        for (i, case) in cases {
            let id = &ids[&format!("echo case-{i}")];
            let job = &doc["jobs"][id.as_str()];
            assert_eq!(job["schedule"].as_str(), Some(case.schedule.as_str()));
            assert!(job.get("timezone").is_none(), "no CRON_TZ, no zone");
            let count = case.next.len().to_string();
            let r = cronduct(
                &[
                    "next",
                    id,
                    "-c",
                    out.to_str().expect("utf-8"),
                    "--from",
                    &case.from,
                    "--count",
                    &count,
                ],
                zone,
                "",
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            let got: Vec<&str> = r.stdout.lines().collect();
            assert_eq!(
                got, case.next,
                "{} ({}): `{}` in {zone} from {}",
                case.group, id, case.schedule, case.from
            );
            checked += 1;
        }
    }
    assert_eq!(checked, t.schedules.len());
    assert!(checked >= 70, "the table covers every syntax element");
}

/// A job's value of `key`: its own, else the one in `[defaults]`.
fn setting<'a>(doc: &'a toml::Table, id: &str, key: &str) -> Option<&'a toml::Value> {
    doc["jobs"][id]
        .get(key)
        .or_else(|| doc.get("defaults").and_then(|d| d.get(key)))
}

#[test]
fn commands_input_variables_and_mail_follow_cron() {
    for case in table().files {
        let dir = temp();
        let file = dir.path().join(&case.name);
        std::fs::write(&file, &case.text).expect("write crontab");
        let out = dir.path().join("jobs.toml");
        let file_s = file.to_str().expect("utf-8");
        let args: Vec<&str> = match case.format.as_str() {
            "system" => vec!["--system", file_s],
            _ => vec!["--user", &case.owner, file_s],
        };
        let doc = import_checked(&args, &out, "UTC");
        let text = std::fs::read_to_string(&out).expect("output");
        let jobs = doc["jobs"].as_table().expect("jobs");
        assert_eq!(jobs.len(), case.jobs.len(), "{}: {text}", case.name);
        for (line, want) in &case.jobs {
            // Each job sits under the comment naming its file and line.
            let marker = format!("# {file_s}:{line}\n");
            let after = text
                .split_once(&marker)
                .unwrap_or_else(|| panic!("{marker:?} in {text}"))
                .1;
            let header = after
                .lines()
                .find(|l| l.starts_with("[jobs."))
                .expect("a job table after the comment");
            let id = header
                .trim_start_matches("[jobs.")
                .trim_end_matches(']')
                .to_string();
            let what = format!("{} line {line} ({id})", case.name);
            let job = &doc["jobs"][id.as_str()];
            assert_eq!(job["command"].as_str(), want["command"].as_str(), "{what}");
            if let Some(stdin) = want.get("stdin") {
                assert_eq!(
                    job.get("stdin").and_then(|s| s.as_str()),
                    stdin.as_str(),
                    "{what}"
                );
            }
            if let Some(shell) = want.get("shell") {
                assert_eq!(
                    setting(&doc, &id, "shell").and_then(|s| s.as_str()),
                    shell.as_str(),
                    "{what}"
                );
            }
            if let Some(env) = want.get("env") {
                let got: BTreeMap<String, String> = setting(&doc, &id, "env")
                    .and_then(|e| e.as_table())
                    .expect("env")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_string()))
                    .collect();
                let want: BTreeMap<String, String> =
                    serde_json::from_value(env.clone()).expect("env map");
                assert_eq!(got, want, "{what}");
            }
            let user = want.get("user").and_then(Value::as_str).or(
                // A user crontab runs as the --user it was imported for.
                (case.format == "user").then_some(case.owner.as_str()),
            );
            assert_eq!(job.get("user").and_then(|u| u.as_str()), user, "{what}");
            if let Some(mail) = want.get("mail") {
                let got: Vec<&str> = setting(&doc, &id, "notify")
                    .map(|n| {
                        assert_eq!(n["on"].as_array().expect("on")[0].as_str(), Some("failure"));
                        n["email"]
                            .as_array()
                            .expect("email")
                            .iter()
                            .map(|e| e.as_str().expect("address"))
                            .collect()
                    })
                    .unwrap_or_default();
                let want: Vec<String> = serde_json::from_value(mail.clone()).expect("mail");
                assert_eq!(got, want, "{what}");
            }
            assert_eq!(
                setting(&doc, &id, "concurrency").and_then(|c| c.as_str()),
                Some("allow"),
                "cron never prevents overlap"
            );
        }
        if text.contains("email = [") {
            assert_eq!(doc["smtp"]["host"].as_str(), Some("localhost"));
            assert_eq!(doc["smtp"]["port"].as_integer(), Some(25));
        }
    }
}

fn debian() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/debian")
}

#[test]
fn the_crontabs_debian_packages_ship_all_convert() {
    let dir = temp();
    let out = dir.path().join("jobs.toml");
    let etc = debian().join("etc");
    let crontab = etc.join("crontab");
    let cron_d = etc.join("cron.d");
    let r = cronduct(
        &[
            "import",
            "--system",
            crontab.to_str().expect("utf-8"),
            cron_d.to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ],
        "UTC",
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // cron skips the package's .placeholder by its name, and so does import.
    assert!(r.stderr.contains(".placeholder skipped"), "{}", r.stderr);
    let doc = import_checked(
        &[
            "--system",
            crontab.to_str().expect("utf-8"),
            cron_d.to_str().expect("utf-8"),
        ],
        &out,
        "UTC",
    );
    let jobs = doc["jobs"].as_table().expect("jobs");
    let ids: Vec<&str> = jobs.keys().map(String::as_str).collect();
    // /etc/crontab 4, anacron 1, certbot 1, e2scrub_all 2, mdadm 1, php 1,
    // sysstat 2.
    assert_eq!(ids.len(), 12, "{ids:?}");
    for want in [
        "crontab-run-parts-cron-hourly",
        "crontab-anacron-run-parts-cron-daily",
        "sysstat-debian-sa1-1",
        "sysstat-debian-sa1-60-2",
        "php-sessionclean",
        "certbot-certbot-perl-sleep",
        "anacron-anacron-invoke-rc-d-start",
    ] {
        assert!(jobs.contains_key(want), "{want} in {ids:?}");
    }
    let mdadm = jobs
        .values()
        .find(|j| {
            j["command"]
                .as_str()
                .is_some_and(|c| c.contains("checkarray"))
        })
        .expect("the mdadm job");
    // `\%` in the file is a literal % for the shell.
    assert!(
        mdadm["command"]
            .as_str()
            .expect("command")
            .contains("$(date +%d) -le 7"),
        "{mdadm}"
    );
    assert_eq!(mdadm["schedule"].as_str(), Some("57 0 * * 0"));
    let sysstat = &jobs["sysstat-debian-sa1-1"];
    assert_eq!(sysstat["schedule"].as_str(), Some("5-55/10 * * * *"));
    assert_eq!(
        sysstat["env"]["PATH"].as_str(),
        Some("/usr/lib/sysstat:/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin")
    );
    // e2scrub_all sets no PATH: cron's default.
    let e2 = jobs
        .iter()
        .find(|(id, _)| id.starts_with("e2scrub_all"))
        .expect("e2scrub_all")
        .1;
    assert_eq!(e2["env"]["PATH"].as_str(), Some("/usr/bin:/bin"));
    assert!(jobs.values().all(|j| j["user"].as_str() == Some("root")));
}

#[test]
fn lines_that_cannot_be_converted_are_reported_and_nothing_is_dropped() {
    let dir = temp();
    let file = dir.path().join("mixed");
    std::fs::write(
        &file,
        "0 2 * * * echo good\n\
         61 2 * * * echo bad minute\n\
         0 2 * * * echo also good\n\
         */5 * * * 1#2 echo quartz\n",
    )
    .expect("write");
    let file_s = file.to_str().expect("utf-8");
    let out = dir.path().join("jobs.toml");
    let out_s = out.to_str().expect("utf-8");

    let r = cronduct(&["import", file_s, "-o", out_s], "UTC", "");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!out.exists(), "nothing is written without --partial");
    assert!(
        r.stderr.contains(&format!("--> {file_s}:2:1")),
        "file:line:col of the bad minute: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("minute field: 61 is out of range 0-59"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("--> {file_s}:4:11")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("2 lines cannot be converted"),
        "{}",
        r.stderr
    );

    let r = cronduct(&["import", "--partial", file_s, "-o", out_s], "UTC", "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("minute field: 61"),
        "still reported: {}",
        r.stderr
    );
    let doc: toml::Table =
        toml::from_str(&std::fs::read_to_string(&out).expect("output")).expect("toml");
    let commands: Vec<String> = ids_by_command(&doc).into_keys().collect();
    assert_eq!(commands, vec!["echo also good", "echo good"]);

    // An unknown user in a system file is a line that cannot be converted.
    let sys = dir.path().join("sys");
    std::fs::write(&sys, "0 2 * * * no-such-user-h14 echo x\n").expect("write");
    let r = cronduct(
        &["import", "--system", sys.to_str().expect("utf-8")],
        "UTC",
        "",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("unknown user \"no-such-user-h14\""),
        "{}",
        r.stderr
    );
}

#[test]
fn standard_input_folders_and_cron_d_names() {
    // `-` is a user crontab on standard input.
    let r = cronduct(
        &["import", "-"],
        "UTC",
        "MAILTO=\"\"\n@hourly echo from-stdin\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("command = \"echo from-stdin\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("# -:2"), "{}", r.stdout);
    assert!(!r.stdout.contains("[smtp]"), "MAILTO=\"\" mails nobody");

    // A folder is read as cron reads /etc/cron.d.
    let dir = temp();
    let d = dir.path().join("cron.d");
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::write(d.join("keep_me-1"), "0 1 * * * root echo kept\n").expect("write");
    std::fs::write(d.join("old.dpkg-old"), "0 1 * * * root echo old\n").expect("write");
    std::fs::write(d.join("backup~"), "0 1 * * * root echo tilde\n").expect("write");
    let r = cronduct(
        &["import", "--system", d.to_str().expect("utf-8")],
        "UTC",
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("echo kept"), "{}", r.stdout);
    assert!(!r.stdout.contains("echo old") && !r.stdout.contains("echo tilde"));
    assert!(r.stderr.contains("old.dpkg-old skipped"), "{}", r.stderr);
    assert!(r.stderr.contains("backup~ skipped"), "{}", r.stderr);

    // CRON_TZ: honoured as cronie does, with a note that Debian ignores it.
    let r = cronduct(
        &["import", "-"],
        "UTC",
        "CRON_TZ=Europe/Berlin\n30 2 * * * echo tz\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("timezone = \"Europe/Berlin\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Debian's cron ignores it"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("-:1: CRON_TZ=Europe/Berlin"),
        "{}",
        r.stderr
    );
}
