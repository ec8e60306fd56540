//! Managed jobs over real HTTP on the real daemon: `PUT`, `DELETE`,
//! `enable` and `disable` write `<managed_dir>/<id>.toml` and reload; the
//! job runs on its schedule, the file holds the given keys; a stale
//! `If-Match` is a 412 that changes nothing; an invalid job is a 422 with
//! `(key, line)` items and no file; a hand-written job is a 409 with its
//! file:line; a kill -9 in the middle of a storm of PUTs leaves only whole
//! files, and the daemon restarts with them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::daemon::{Daemon, KEY, NEVER, SECS_20, http_with_headers};

/// The account the test runs as: when that is root, the daemon's
/// `managed_users` rule applies, so it is the one account listed.
fn me() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .expect("the test's own account")
}

/// A daemon with `managed_dir = "managed"`, one hand-written job (`hand`,
/// on line 1 of jobs.toml) and `extra` added to `[daemon]`.
fn managed_daemon(extra: &str) -> Daemon {
    let mut d = Daemon::new();
    let text = format!(
        "[jobs.hand]\nschedule = {NEVER:?}\ncommand = \"true\"\n\n{}managed_dir = \"managed\"\nmanaged_users = [{:?}]\n{extra}",
        d.daemon_table(),
        me()
    );
    d.write_file("jobs.toml", &text);
    d.start();
    d
}

fn put(d: &Daemon, id: &str, job: &Value, if_match: Option<&str>) -> crate::support::daemon::Reply {
    let headers: Vec<(&str, &str)> = if_match.map(|t| ("If-Match", t)).into_iter().collect();
    d.request(
        "PUT",
        &format!("/api/v1/jobs/{id}"),
        Some(KEY),
        &headers,
        &job.to_string(),
    )
}

#[test]
fn put_creates_a_live_job_whose_file_holds_its_keys() {
    let d = managed_daemon("");
    let job = json!({
        "schedule": "* * * * * *",
        "command": "echo managed",
        "user": me(),
        "retries": 1,
        "env": {"GREETING": "hi"},
    });
    let r = put(&d, "tick", &job, None);
    assert_eq!(r.status, 201, "{}", r.body);
    let tag = r.etag.clone().expect("an ETag");
    assert_eq!(r.body["id"], "tick");
    assert!(
        !r.body["next_run"].is_null(),
        "live with its next run: {}",
        r.body
    );

    let text = std::fs::read_to_string(d.path("managed/tick.toml")).expect("the file");
    let doc: toml::Table = text.parse().expect("valid TOML");
    let written = doc["jobs"]["tick"]
        .as_table()
        .expect("one [jobs.tick] table");
    assert_eq!(doc.len(), 1, "{text}");
    assert_eq!(written["command"].as_str(), Some("echo managed"));
    assert_eq!(written["retries"].as_integer(), Some(1));
    assert_eq!(written["env"]["GREETING"].as_str(), Some("hi"));

    // It runs on its schedule, with what the file says.
    let runs = d.wait_finishes("tick", 1, SECS_20);
    assert_eq!(runs[0].stdout, "managed\n", "{:?}", runs[0]);

    // The ETag is the definition's: the same on a read, whatever ran.
    let read = d.request("GET", "/api/v1/jobs/tick", Some(KEY), &[], "");
    assert_eq!(read.etag.as_deref(), Some(tag.as_str()));

    // A replacement with the current tag is a 200 and a new tag.
    let mut changed = job.clone();
    changed["command"] = json!("echo replaced");
    let r = put(&d, "tick", &changed, Some(&tag));
    assert_eq!(r.status, 200, "{}", r.body);
    let new_tag = r.etag.clone().expect("an ETag");
    assert_ne!(new_tag, tag);

    // A lost update: the old tag is refused and nothing changes.
    let before = std::fs::read(d.path("managed/tick.toml")).expect("the file");
    let mut stale = job.clone();
    stale["command"] = json!("echo lost");
    let r = put(&d, "tick", &stale, Some(&tag));
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(
        std::fs::read(d.path("managed/tick.toml")).expect("the file"),
        before
    );
    let r = d.request(
        "DELETE",
        "/api/v1/jobs/tick",
        Some(KEY),
        &[("If-Match", &tag)],
        "",
    );
    assert_eq!(r.status, 412, "{}", r.body);

    // disable/enable set `enabled` in the file; the tag follows.
    let r = d.request("POST", "/api/v1/jobs/tick/disable", Some(KEY), &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["enabled"], false);
    assert_ne!(r.etag.as_deref(), Some(new_tag.as_str()));
    let text = std::fs::read_to_string(d.path("managed/tick.toml")).expect("the file");
    assert!(text.contains("enabled = false"), "{text}");
    let r = d.request("POST", "/api/v1/jobs/tick/enable", Some(KEY), &[], "");
    assert_eq!(r.body["enabled"], true, "{}", r.body);

    // Only whole files are ever in the folder: no temporary is left.
    let names: Vec<String> = std::fs::read_dir(d.path("managed"))
        .expect("the folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["tick.toml"]);
}

#[test]
fn an_invalid_job_is_a_422_with_every_error_and_no_file() {
    let d = managed_daemon("");
    let job = json!({
        "schedule": "61 * * * *",
        "command": "true",
        "user": me(),
        "retries": "three",
        "timout": "1m",
    });
    let r = put(&d, "bad", &job, None);
    assert_eq!(r.status, 422, "{}", r.body);
    let items = r.body["diagnostics"].as_array().expect("diagnostics");
    let keys: Vec<&str> = items.iter().filter_map(|i| i["key"].as_str()).collect();
    for key in ["schedule", "retries", "timout"] {
        assert!(keys.contains(&key), "no item for {key}: {}", r.body);
    }
    assert!(
        items.iter().all(|i| i["line"].as_u64().is_some()),
        "every item has its line: {}",
        r.body
    );
    assert!(!d.path("managed/bad.toml").exists());
    assert_eq!(d.api("GET", "/api/v1/jobs/bad").status, 404);
    let r = put(
        &d,
        "bad",
        &json!({"schedule": "@daily", "command": null}),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = put(&d, "no/such", &json!({}), None);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = put(
        &d,
        "-x",
        &json!({"schedule": "@daily", "command": "true"}),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

/// A value as long as a request body may be (64 KiB) is refused in a
/// 422 of a few kilobytes: the quoted line and the message are clipped,
/// not repeated whole for each rendering.
#[test]
fn a_huge_refused_value_is_a_small_422() {
    let d = managed_daemon("");
    let job = json!({
        "schedule": "@daily",
        "command": "true",
        "user": me(),
        "timeout": format!("1{}", "x".repeat(60_000)),
    });
    let r = put(&d, "big", &job, None);
    assert_eq!(r.status, 422, "{}", r.body);
    let size = r.body.to_string().len();
    assert!(size < 16 << 10, "the 422 is {size} bytes");
    let items = r.body["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(items.len(), 1, "{}", r.body);
    assert_eq!(items[0]["key"], "timeout", "{}", r.body);
    assert!(!d.path("managed/big.toml").exists());
}

#[test]
fn a_hand_written_job_is_refused_with_its_file_and_line() {
    let d = managed_daemon("");
    let job = json!({"schedule": "@daily", "command": "true", "user": me()});
    for (method, path, body) in [
        ("PUT", "/api/v1/jobs/hand", job.to_string()),
        ("DELETE", "/api/v1/jobs/hand", String::new()),
        ("POST", "/api/v1/jobs/hand/disable", String::new()),
    ] {
        let r = d.request(method, path, Some(KEY), &[], &body);
        assert_eq!(r.status, 409, "{method} {path}: {}", r.body);
        let error = r.body["error"].as_str().expect("error");
        assert!(error.contains("jobs.toml:1"), "{error}");
    }
    assert_eq!(d.get("/api/v1/jobs/hand")["enabled"], true);
}

#[test]
fn delete_removes_the_job_and_its_running_attempt_finishes() {
    let mut d = managed_daemon("");
    let job = json!({"schedule": NEVER, "command": "sleep 1; echo done", "user": me()});
    assert_eq!(put(&d, "slow", &job, None).status, 201);
    let keep = json!({"schedule": NEVER, "command": "true", "user": me()});
    assert_eq!(put(&d, "kept", &keep, None).status, 201);
    let run_id = d.trigger("slow");
    d.wait_start(&run_id, 1, SECS_20);
    let r = d.request("DELETE", "/api/v1/jobs/slow", Some(KEY), &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"job": "slow", "removed": true}));
    assert!(d.listed_job("slow").is_none());
    assert!(!d.path("managed/slow.toml").exists());
    let finish = d.wait_finish(&run_id, SECS_20);
    assert_eq!(finish.stdout, "done\n", "{finish:?}");
    let r = d.request("DELETE", "/api/v1/jobs/slow", Some(KEY), &[], "");
    assert_eq!(r.status, 404, "{}", r.body);

    // The files are the truth: a restart has the managed job back.
    d.stop(SECS_20);
    d.start();
    assert!(d.listed_job("kept").is_some());
    assert!(d.listed_job("slow").is_none());
}

#[test]
fn as_root_a_managed_job_runs_only_as_a_listed_user() {
    if !nix::unistd::geteuid().is_root() {
        // The rule is about root's daemon; an ordinary user's cannot run
        // jobs as anyone else anyway.
        return;
    }
    let d = managed_daemon("");
    let r = put(
        &d,
        "j",
        &json!({"schedule": "@daily", "command": "true"}),
        None,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("managed_users"), "{}", r.body);
    let r = put(
        &d,
        "j",
        &json!({"schedule": "@daily", "command": "true", "user": "nobody"}),
        None,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("managed_users"), "{}", r.body);
    assert!(!d.path("managed/j.toml").exists());
}

#[test]
fn management_needs_the_admin_role_and_managed_dir() {
    let d = crate::api_roles::daemon_with_roles();
    let job = json!({"schedule": "@daily", "command": "true"}).to_string();
    let r = d.request(
        "PUT",
        "/api/v1/jobs/x",
        Some(crate::api_roles::OPERATE_KEY),
        &[],
        &job,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("needs role admin")
    );
    // Without managed_dir the admin key gets a 404 saying how to turn it on.
    let r = d.request("PUT", "/api/v1/jobs/x", Some(&d.key()), &[], &job);
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("managed_dir")
    );
}

/// kill -9 while PUTs keep coming: every file left in the folder is whole
/// and valid, and the daemon starts with them.
#[test]
fn a_crash_during_a_put_storm_leaves_only_whole_files() {
    let mut d = managed_daemon("");
    let port = cronduct::api::read_bound_address(&d.state_dir())
        .expect("the address")
        .port();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(0usize));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let stop = Arc::clone(&stop);
            let accepted = Arc::clone(&accepted);
            let user = me();
            std::thread::spawn(move || {
                let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // A long value makes each write take more than one block.
                    let job = json!({
                        "schedule": NEVER,
                        "command": format!("echo {w} {n}"),
                        "description": "x".repeat(20_000),
                        "user": user,
                    });
                    let id = format!("storm-{w}-{}", n % 5);
                    match http_with_headers(
                        addr,
                        "PUT",
                        &format!("/api/v1/jobs/{id}"),
                        Some(KEY),
                        &[],
                        &job.to_string(),
                    ) {
                        Ok(r) if r.status < 300 => {
                            *accepted.lock().expect("lock") += 1;
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    d.poll("some PUTs accepted", SECS_20, || {
        (*accepted.lock().expect("lock") >= 10).then_some(())
    });
    d.crash();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }

    let mut ids = Vec::new();
    for entry in std::fs::read_dir(d.path("managed")).expect("the folder") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            // A temporary file of the interrupted write: never included.
            continue;
        }
        let id = name
            .strip_suffix(".toml")
            .expect("a .toml file")
            .to_string();
        let text = std::fs::read_to_string(entry.path()).expect("read");
        let doc: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not whole: {e}"));
        assert!(
            doc["jobs"][id.as_str()]["command"].as_str().is_some(),
            "{name}"
        );
        ids.push(id);
    }
    assert!(!ids.is_empty());
    d.start();
    for id in &ids {
        assert!(
            d.listed_job(id).is_some(),
            "{id} not loaded after the restart"
        );
    }
}

#[test]
fn check_warns_when_managed_users_lists_root() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = "[daemon]\nlisten = \"127.0.0.1:0\"\nmanaged_dir = \"managed\"\nmanaged_users = [\"root\"]\n";
    std::fs::write(dir.path().join("jobs.toml"), config).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(["check", "-q", "-c", "jobs.toml"])
        .current_dir(dir.path())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("CRONDUCT_CONFIG")
        .output()
        .expect("run cronduct");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: [daemon] managed_users lists root"),
        "{stderr}"
    );
}

#[test]
fn cronduct_apply_and_delete_manage_jobs_from_a_file() {
    let d = managed_daemon("");
    let me = me();
    d.write_file(
        "deploy.toml",
        &format!(
            "[jobs.one]\nschedule = \"@daily\"\ncommand = \"echo one\"\nuser = {me:?}\n\n\
             [jobs.two]\nschedule = \"@hourly\"\ncommand = \"echo two\"\nuser = {me:?}\n"
        ),
    );
    let deploy = d.path("deploy.toml");
    let deploy = deploy.to_str().expect("utf-8 path");

    // A dry run shows the files to be, writes nothing.
    let out = d.cli(&["apply", "--dry-run", deploy]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("create one\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("+ command = \"echo two\""),
        "{}",
        out.stdout
    );
    assert!(!d.path("managed/one.toml").exists());

    let out = d.cli(&["apply", deploy]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "created one\ncreated two\n");
    assert!(d.listed_job("one").is_some() && d.listed_job("two").is_some());

    // A change shows as a diff of the one line that changes.
    let changed = std::fs::read_to_string(d.path("deploy.toml"))
        .expect("read")
        .replace("echo two", "echo 2");
    d.write_file("deploy.toml", &changed);
    let out = d.cli(&["apply", "--dry-run", deploy]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("unchanged one\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("- command = \"echo two\"\n+ command = \"echo 2\"\n"),
        "{}",
        out.stdout
    );
    let out = d.cli(&["apply", deploy]);
    assert_eq!(out.stdout, "replaced one\nreplaced two\n", "{}", out.stderr);

    // An invalid job: exit 1 with the checker's errors, nothing written.
    d.write_file(
        "bad.toml",
        "[jobs.three]\nschedule = \"99 * * * *\"\ncommand = \"true\"\n",
    );
    let out = d.cli(&["apply", d.path("bad.toml").to_str().expect("utf-8")]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("schedule"), "{}", out.stderr);
    assert!(!d.path("managed/three.toml").exists());
    d.write_file("not-jobs.toml", "[daemon]\nlisten = \"127.0.0.1:1\"\n");
    let out = d.cli(&["apply", d.path("not-jobs.toml").to_str().expect("utf-8")]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("apply sends jobs only"),
        "{}",
        out.stderr
    );

    let out = d.cli(&["delete", "two"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "deleted two\n"),
        "{}",
        out.stderr
    );
    assert!(d.listed_job("two").is_none());
    let out = d.cli(&["delete", "hand"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("jobs.toml:1"), "{}", out.stderr);
}
