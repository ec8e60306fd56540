//! Keys with roles in the real daemon over real HTTP: every endpoint
//! against every role, 401 for no key or an unknown one, 403 naming the
//! role needed; `check` refuses bad `[[daemon.keys]]` tables; keys rotate
//! by reload, and a reload with a bad key file keeps the old keys.

use std::process::Command;

use nix::sys::signal::Signal;

use crate::support::daemon::{Daemon, NEVER, SECS_20};

pub(crate) const READ_KEY: &str = "read-secret-0123456789";
pub(crate) const OPERATE_KEY: &str = "operate-secret-0123456789";

pub(crate) fn daemon_with_roles() -> Daemon {
    let mut d = Daemon::new();
    d.write_file("read.key", &format!("{READ_KEY}\n"));
    d.write_file("operate.key", &format!("{OPERATE_KEY}\n"));
    // `[[daemon.keys]]` follows the fixture's `[daemon]` table.
    let text = format!(
        "[jobs.idle]\nschedule = {NEVER:?}\ncommand = \"sleep 30\"\nconcurrency = \"allow\"\n\n{}\n\
         [[daemon.keys]]\nname = \"dash\"\nfile = \"read.key\"\nrole = \"read\"\n\n\
         [[daemon.keys]]\nname = \"ops\"\nfile = \"operate.key\"\nrole = \"operate\"\n",
        d.daemon_table()
    );
    d.write_file("jobs.toml", &text);
    d.start();
    d
}

#[test]
fn every_endpoint_answers_by_the_keys_role() {
    let d = daemon_with_roles();
    let admin = d.key();
    // (method, path, least role: 0 read, 1 operate, 2 admin). Commands run
    // in an order that leaves each next one meaningful (cancel after run).
    // Job management is off here (no managed_dir): admin gets its 404.
    let matrix: &[(&str, &str, u8)] = &[
        ("GET", "/metrics", 0),
        ("GET", "/api/v1/status", 0),
        ("GET", "/api/v1/jobs", 0),
        ("GET", "/api/v1/jobs/idle", 0),
        ("GET", "/api/v1/jobs/idle/runs", 0),
        ("GET", "/api/v1/runs", 0),
        ("GET", "/api/v1/running", 0),
        ("GET", "/api/v1/stats", 0),
        ("GET", "/api/v1/audit", 0),
        ("GET", "/api/v1/cluster", 0),
        ("POST", "/api/v1/jobs/idle/pause", 1),
        ("POST", "/api/v1/jobs/idle/resume", 1),
        ("POST", "/api/v1/pause", 1),
        ("POST", "/api/v1/resume", 1),
        ("POST", "/api/v1/jobs/idle/run", 1),
        ("POST", "/api/v1/jobs/idle/cancel", 1),
        ("POST", "/api/v1/reload", 1),
        ("PUT", "/api/v1/jobs/idle", 2),
        ("DELETE", "/api/v1/jobs/idle", 2),
        ("POST", "/api/v1/jobs/idle/enable", 2),
        ("POST", "/api/v1/jobs/idle/disable", 2),
    ];
    for &(method, path, least) in matrix {
        for (name, key, role) in [
            ("dash", READ_KEY, 0u8),
            ("ops", OPERATE_KEY, 1),
            ("default", admin.as_str(), 2),
        ] {
            if method == "POST" && path.ends_with("/cancel") && role >= least {
                // Something must be running for cancel to succeed.
                let r = d.api_as("POST", "/api/v1/jobs/idle/run", Some(&admin));
                assert_eq!(r.status, 202, "{}", r.body);
            }
            let reply = d.api_as(method, path, Some(key));
            if role >= least && least == 2 {
                assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
                assert!(reply.body["error"].to_string().contains("managed_dir"));
            } else if role >= least {
                assert!(
                    reply.status < 300,
                    "{method} {path} with {name}: {} {}",
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status, 403,
                    "{method} {path} with {name}: {}",
                    reply.body
                );
                let error = reply.body["error"].as_str().expect("error text");
                let needed = ["read", "operate", "admin"][usize::from(least)];
                assert!(
                    error.contains(&format!("{name:?}"))
                        && error.contains(&format!("needs role {needed}")),
                    "{error}"
                );
                assert!(!error.contains(READ_KEY), "the key leaks: {error}");
            }
        }
        let none = d.api_as(method, path, None);
        assert_eq!(none.status, 401, "{method} {path} without a key");
        let wrong = d.api_as(method, path, Some("not-a-key-of-this-daemon"));
        assert_eq!(wrong.status, 401, "{method} {path} with an unknown key");
    }
    // A refused command changed nothing: the job is not paused.
    let r = d.api_as("POST", "/api/v1/jobs/idle/pause", Some(READ_KEY));
    assert_eq!(r.status, 403);
    assert_eq!(d.get("/api/v1/jobs/idle")["paused"], false);
    // /health stays open; unknown paths need any key, then 404.
    assert_eq!(d.health().status, 200);
    assert_eq!(d.api_as("GET", "/api/v1/nope", Some(READ_KEY)).status, 404);
    assert_eq!(d.api_as("GET", "/api/v1/nope", None).status, 401);
    let stderr = d.stderr();
    for secret in [READ_KEY, OPERATE_KEY, admin.as_str()] {
        assert!(!stderr.contains(secret), "a key in the daemon's log");
    }
}

#[test]
fn a_pause_records_the_name_of_the_key_that_made_it() {
    let d = daemon_with_roles();
    let r = d.api_as("POST", "/api/v1/jobs/idle/pause", Some(OPERATE_KEY));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["pause"]["by"], "ops", "{}", r.body);
}

#[test]
fn a_reload_rotates_the_key_files() {
    let mut d = daemon_with_roles();
    assert_eq!(d.api_as("GET", "/api/v1/jobs", Some(READ_KEY)).status, 200);

    // Rotation through the API, by a key the rotation leaves alone.
    const NEW_READ_KEY: &str = "read-secret-rotated-1";
    d.write_file("read.key", &format!("{NEW_READ_KEY}\n"));
    let r = d.api_as("POST", "/api/v1/reload", Some(OPERATE_KEY));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(d.api_as("GET", "/api/v1/jobs", Some(READ_KEY)).status, 401);
    assert_eq!(
        d.api_as("GET", "/api/v1/jobs", Some(NEW_READ_KEY)).status,
        200
    );

    // A file that cannot be read: the old ring stays, /health says why.
    d.write_file("operate.key", "two words\n");
    d.signal(Signal::SIGHUP);
    let warning = d.poll("a key warning in /health", SECS_20, || {
        let h = d.health();
        let warnings = h.body["warnings"].as_array()?.clone();
        warnings
            .iter()
            .filter_map(|w| w.as_str())
            .find(|w| w.contains("API keys were not reloaded"))
            .map(str::to_string)
    });
    assert!(warning.contains("operate.key"), "{warning}");
    assert!(!warning.contains("two words"), "the key leaks: {warning}");
    assert_eq!(d.health().body["status"], "degraded");
    assert_eq!(
        d.api_as("POST", "/api/v1/jobs/idle/pause", Some(OPERATE_KEY))
            .status,
        200
    );
    assert_eq!(
        d.api_as("GET", "/api/v1/jobs", Some(NEW_READ_KEY)).status,
        200
    );

    // Fixed: the new operate key works, the warning is gone.
    const NEW_OPERATE_KEY: &str = "operate-secret-rotated-2";
    d.write_file("operate.key", &format!("{NEW_OPERATE_KEY}\n"));
    d.signal(Signal::SIGHUP);
    d.poll("the rotated operate key accepted", SECS_20, || {
        (d.api_as("GET", "/api/v1/status", Some(NEW_OPERATE_KEY))
            .status
            == 200)
            .then_some(())
    });
    assert_eq!(
        d.api_as("POST", "/api/v1/jobs/idle/resume", Some(OPERATE_KEY))
            .status,
        401
    );
    assert_eq!(d.health().body["status"], "healthy", "{}", d.health().body);
    let stderr = d.stderr();
    for secret in [
        READ_KEY,
        NEW_READ_KEY,
        OPERATE_KEY,
        NEW_OPERATE_KEY,
        "two words",
    ] {
        assert!(!stderr.contains(secret), "a key in the daemon's log");
    }
    d.stop(SECS_20);
}

#[test]
fn check_reports_every_bad_key_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = "[daemon]\nlisten = \"127.0.0.1:0\"\n\n\
        [[daemon.keys]]\nname = \"default\"\nfile = \"a.key\"\nrole = \"admin\"\n\n\
        [[daemon.keys]]\nname = \"ci\"\nfile = \"b.key\"\nrole = \"root\"\n\n\
        [[daemon.keys]]\nname = \"ci\"\nfile = \"c.key\"\nrole = \"read\"\n\n\
        [[daemon.keys]]\nname = \"nofile\"\nrole = \"read\"\n\n\
        [jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\n";
    std::fs::write(dir.path().join("jobs.toml"), config).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(["check", "-c", "jobs.toml"])
        .current_dir(dir.path())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("CRONDUCT_CONFIG")
        .output()
        .expect("run cronduct");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for expected in [
        "`default` is reserved",
        "unknown role \"root\"",
        "a second key named `ci`",
        "this entry has no `file`",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}
