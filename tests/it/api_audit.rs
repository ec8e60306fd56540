//! The audit trail over real HTTP on the real daemon: every command
//! request, refused ones included, is one `admin` line in the execution
//! log and one item of `GET /api/v1/audit`, newest first, with the key's
//! name (never the key); reads are not audited; the trail survives a
//! restart.

use cronduct::record::{AdminAction, AdminRecord, LogEvent};
use serde_json::Value;

use crate::api_roles::{OPERATE_KEY, READ_KEY, daemon_with_roles};
use crate::support::daemon::{Daemon, SECS_20};

/// (key, action, job, status) of one audited request.
type Seen = (Option<String>, AdminAction, Option<String>, u16);

fn seen(r: &AdminRecord) -> Seen {
    (r.key.clone(), r.action, r.job.clone(), r.status)
}

fn audit(d: &Daemon, query: &str) -> Vec<AdminRecord> {
    let r = d.api_as("GET", &format!("/api/v1/audit{query}"), Some(READ_KEY));
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_value(r.body["audit"].clone()).expect("audit items")
}

/// Waits until the audit trail holds `n` items (each line reaches the
/// index once the log writer has written it).
fn audit_of(d: &Daemon, n: usize) -> Vec<AdminRecord> {
    d.poll(&format!("{n} audit items"), SECS_20, || {
        let items = audit(d, "?limit=1000");
        (items.len() >= n).then_some(items)
    })
}

#[test]
fn every_command_is_audited_in_order_and_survives_a_restart() {
    let mut d = daemon_with_roles();
    let admin = d.key();
    let some = |s: &str| Some(s.to_string());
    let requests: &[(&str, &str, Option<&str>)] = &[
        ("POST", "/api/v1/jobs/idle/pause", Some(OPERATE_KEY)),
        ("POST", "/api/v1/jobs/idle/resume", Some(READ_KEY)),
        ("POST", "/api/v1/jobs/idle/resume", None),
        ("POST", "/api/v1/jobs/idle/resume", Some("a-key-nobody-has")),
        ("GET", "/api/v1/jobs", Some(READ_KEY)),
        ("POST", "/api/v1/jobs/idle/run", Some(&admin)),
        ("POST", "/api/v1/jobs/idle/cancel", Some(OPERATE_KEY)),
        ("POST", "/api/v1/jobs/nosuch/pause", Some(OPERATE_KEY)),
        ("POST", "/api/v1/pause", Some(OPERATE_KEY)),
        ("POST", "/api/v1/resume", Some(OPERATE_KEY)),
        ("POST", "/api/v1/reload", Some(OPERATE_KEY)),
    ];
    let mut statuses = Vec::new();
    for &(method, path, key) in requests {
        let r = d.api_as(method, path, key);
        if path.ends_with("/cancel") {
            assert_eq!(r.status, 200, "{}", r.body);
        }
        statuses.push(r.status);
    }
    let idle = some("idle");
    let expected: Vec<Seen> = vec![
        (some("ops"), AdminAction::Pause, idle.clone(), 200),
        (some("dash"), AdminAction::Resume, idle.clone(), 403),
        (None, AdminAction::Resume, idle.clone(), 401),
        (None, AdminAction::Resume, idle.clone(), 401),
        (some("default"), AdminAction::Run, idle.clone(), 202),
        (some("ops"), AdminAction::Cancel, idle.clone(), 200),
        (some("ops"), AdminAction::Pause, some("nosuch"), 404),
        (some("ops"), AdminAction::Pause, None, 200),
        (some("ops"), AdminAction::Resume, None, 200),
        (some("ops"), AdminAction::Reload, None, 200),
    ];
    // The statuses the clients got are the ones recorded (the GET aside).
    let mut got = statuses.clone();
    got.remove(4);
    assert_eq!(
        got,
        expected.iter().map(|e| e.3).collect::<Vec<_>>(),
        "{statuses:?}"
    );

    let items = audit_of(&d, expected.len());
    let newest_first: Vec<Seen> = items.iter().map(seen).collect();
    let mut want = expected.clone();
    want.reverse();
    assert_eq!(newest_first, want);
    for item in &items {
        assert_eq!(item.ok, (200..300).contains(&item.status), "{item:?}");
    }
    assert!(items.windows(2).all(|w| w[0].ts >= w[1].ts), "{items:?}");

    // The same records, oldest first, as `admin` lines of the run log.
    let logged: Vec<Seen> = d.records(|e| match e {
        LogEvent::Admin(a) => Some(seen(&a)),
        _ => None,
    });
    assert_eq!(logged, expected);
    let lines: Vec<String> = d
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("\"event\":\"admin\""))
        .collect();
    // The fields in the documented order, as written.
    let at = |f: &str| lines[0].find(&format!("\"{f}\":")).expect(f);
    let order = [
        "event", "ts", "key", "action", "job", "ok", "status", "host",
    ];
    assert!(
        order.windows(2).all(|w| at(w[0]) < at(w[1])),
        "{}",
        lines[0]
    );
    let raw: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(raw[2]["key"], Value::Null, "{}", raw[2]);

    // `limit` and `since` narrow the list; a bad value is a 400.
    let two: Vec<Seen> = audit(&d, "?limit=2").iter().map(seen).collect();
    assert_eq!(two, want[..2].to_vec());
    let since = cronduct::record::ts::format(&items[2].ts);
    let recent = audit(&d, &format!("?since={since}"));
    assert!(recent.len() >= 3 && recent.iter().all(|r| r.ts >= items[2].ts));
    assert_eq!(
        d.api_as("GET", "/api/v1/audit?limit=0", Some(READ_KEY))
            .status,
        400
    );

    // No key material anywhere: log, answers, the daemon's own log.
    let everything = format!(
        "{}\n{}\n{}",
        d.log_lines().join("\n"),
        serde_json::to_string(&items).expect("json"),
        d.stderr()
    );
    for secret in [READ_KEY, OPERATE_KEY, admin.as_str(), "a-key-nobody-has"] {
        assert!(!everything.contains(secret), "a key leaks: {secret}");
    }

    // Rebuilt from the log at the next start.
    d.stop(SECS_20);
    d.start();
    let after: Vec<Seen> = audit(&d, "").iter().map(seen).collect();
    assert_eq!(after, want);
}
