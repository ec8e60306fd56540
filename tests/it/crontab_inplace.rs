//! `crontabs = [...]` through the real daemon: crontab files read in
//! place run as jobs with cron's behaviour (`%` input on stdin, the user
//! field honoured when root, MAILTO as a failure mail), are listed with
//! `source = "crontab"` and their file:line, follow edits like includes,
//! and a bad line keeps the old jobs and turns `/health` degraded with
//! the crontab's file:line:col. Debian's packaged crontabs all load.

use std::path::Path;

use crate::support::daemon::{Daemon, NEVER, SECS_20};
use crate::support::smtp_sink::{Behaviour, SmtpSink};
use cronduct::record::{FinishRecord, Status};
use serde_json::Value;

const NOTICE: std::time::Duration = std::time::Duration::from_secs(10);

fn run(d: &Daemon, job: &str) -> FinishRecord {
    let reply = d.post(&format!("/api/v1/jobs/{job}/run?wait=true"));
    serde_json::from_value(reply).expect("a finish record")
}

fn jobs(d: &Daemon) -> Vec<Value> {
    d.get("/api/v1/jobs")["jobs"]
        .as_array()
        .expect("jobs")
        .clone()
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The config: the crontabs of `d`'s folder `cron.d/*` in system format,
/// and `alice`'s user crontab run as the test's own user.
fn config(d: &Daemon, extra: &str) -> String {
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .expect("passwd")
        .expect("the test's user")
        .name;
    format!(
        "crontabs = [{:?}, {{ path = {:?}, user = {me:?} }}]\n{extra}\n[jobs.own]\nschedule = {NEVER:?}\ncommand = \"true\"\n",
        d.path("cron.d/*").display().to_string(),
        d.path("spool/alice").display().to_string(),
    )
}

#[test]
fn crontab_lines_run_in_place_with_crons_behaviour() {
    let sink = SmtpSink::start_on_thread(Behaviour::default());
    let mut d = Daemon::new();
    let user = if root() { "nobody" } else { "root" };
    let who = if root() {
        "nobody"
    } else {
        // Not root: the user field must still exist; the run as another
        // user is then an error attempt, checked below.
        "root"
    };
    d.write_file(
        "cron.d/app",
        &format!(
            "SHELL=/bin/bash\n\
             MAILTO=ops\n\
             GREETING = hello there\n\
             # input after the first %\n\
             0 0 1 1 * {who} cat%line one%50\\% done\n\
             0 0 1 1 * {user} echo \"$GREETING $SHELL $PATH\"; id -un\n\
             0 0 1 1 * root exit 3\n"
        ),
    );
    // Debian's cron skips these names, and so does the glob.
    d.write_file("cron.d/app.dpkg-old", "0 0 1 1 * root echo old\n");
    d.write_file("spool/alice", "MAILTO=\"\"\n@reboot echo rebooted\n");
    d.write_config(&config(
        &d,
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"cronduct@e2e.test\"\n",
            sink.port
        ),
    ));
    d.start();

    let listed = jobs(&d);
    let ids: Vec<&str> = listed
        .iter()
        .map(|j| j["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "alice-rebooted",
            "app-cat",
            "app-exit-3",
            "app-greeting-shell-path",
            "own"
        ],
        "{listed:#?}"
    );
    let app = d.path("cron.d/app").display().to_string();
    let by_id = |id: &str| {
        listed
            .iter()
            .find(|j| j["id"] == id)
            .expect("listed")
            .clone()
    };
    assert_eq!(by_id("app-cat")["source"], "crontab");
    assert_eq!(by_id("app-cat")["origin"], format!("{app}:5"));
    assert_eq!(by_id("own")["source"], "config");
    assert_eq!(by_id("app-cat")["schedule"], "0 0 1 1 *");
    assert_eq!(by_id("alice-rebooted")["schedule"], "@reboot");
    let detail = d.get("/api/v1/jobs/app-cat");
    assert_eq!(detail["concurrency"], "allow", "{detail}");
    assert_eq!(detail["source"], "crontab", "{detail}");
    assert_eq!(detail["origin"], format!("{app}:5"), "{detail}");
    assert_eq!(detail["stdin"], "line one\n50% done", "{detail}");

    // `%` input reaches the command's standard input.
    let r = run(&d, "app-cat");
    if root() {
        assert_eq!(r.status, Status::Success, "{r:?}");
        assert_eq!(r.stdout, "line one\n50% done");
    }

    // The file's variables, its shell, cron's PATH, and the user field.
    let r = run(&d, "app-greeting-shell-path");
    if root() {
        assert_eq!(r.status, Status::Success, "{r:?}");
        assert_eq!(r.stdout, "hello there /bin/bash /usr/bin:/bin\nnobody\n");
    } else {
        assert_eq!(r.status, Status::Error, "not root, another user: {r:?}");
    }

    // MAILTO=ops: a failed run is mailed to ops@localhost.
    let r = run(&d, "app-exit-3");
    assert_eq!((r.status, r.exit_code), (Status::Failed, Some(3)));
    let mails = d.poll("the failure mail", SECS_20, || {
        let m = sink.mails();
        (!m.is_empty()).then_some(m)
    });
    assert!(
        mails[0].rcpt_to.iter().any(|to| to == "ops@localhost"),
        "{:?}",
        mails[0].rcpt_to
    );

    // @reboot ran once at this first start after the boot.
    let reboots = d.wait_finishes("alice-rebooted", 1, SECS_20);
    assert_eq!(reboots[0].stdout, "rebooted\n");

    // An edit of the crontab is picked up like an include's.
    let at = d.health().body["last_reload"]["at"].clone();
    d.write_file("cron.d/app", "MAILTO=\"\"\n0 0 1 1 * root echo added\n");
    d.poll("the edited crontab's job", NOTICE, || {
        d.listed_job("app-added")
    });
    assert!(d.listed_job("app-cat").is_none());
    assert_ne!(d.health().body["last_reload"]["at"], at);

    // A new file in the folder too.
    d.write_file("cron.d/second", "MAILTO=\"\"\n*/5 * * * * root echo two\n");
    d.poll("the new crontab's job", NOTICE, || {
        d.listed_job("second-two")
    });
}

#[test]
fn a_bad_crontab_line_keeps_the_old_jobs_and_degrades_health() {
    let mut d = Daemon::new();
    d.write_file("cron.d/app", "MAILTO=\"\"\n0 0 1 1 * root echo good\n");
    d.write_file("spool/alice", "");
    d.write_config(&config(&d, ""));
    d.start();
    assert_eq!(d.health().body["status"], "healthy");
    assert!(d.listed_job("app-good").is_some());

    d.write_file(
        "cron.d/app",
        "MAILTO=\"\"\n0 0 1 1 * root echo good\n0 25 * * * root echo bad hour\n",
    );
    let health = d.poll("/health to turn degraded", NOTICE, || {
        let h = d.health();
        (h.body["status"] == "degraded").then_some(h)
    });
    let error = health.body["last_reload"]["error"].as_str().expect("error");
    let app = d.path("cron.d/app").display().to_string();
    assert!(error.contains(&format!("{app}:3:3")), "{error}");
    assert!(
        error.contains("hour field: 25 is out of range 0-23"),
        "{error}"
    );
    assert!(
        error.contains("0 25 * * * root echo bad hour"),
        "the line is quoted: {error}"
    );
    // The old jobs are still there; the bad file's good line is not added
    // twice or dropped.
    assert!(d.listed_job("app-good").is_some());
    assert!(d.listed_job("own").is_some());
    let check = d.cli(&["check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(
        check.stderr.contains(&format!("--> {app}:3:3")),
        "{}",
        check.stderr
    );

    // A fix recovers.
    d.write_file("cron.d/app", "MAILTO=\"\"\n0 0 1 1 * root echo good\n");
    d.poll("/health healthy again", NOTICE, || {
        (d.health().body["status"] == "healthy").then_some(())
    });
}

#[test]
fn debian_packaged_crontabs_load_in_place() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/debian/etc");
    let mut d = Daemon::new();
    // Copied so that the files are owned by the test's user, as root's
    // packaged files are root's.
    std::fs::create_dir_all(d.path("etc/cron.d")).expect("mkdir");
    std::fs::copy(etc.join("crontab"), d.path("etc/crontab")).expect("copy");
    for entry in std::fs::read_dir(etc.join("cron.d")).expect("cron.d") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), d.path("etc/cron.d").join(entry.file_name())).expect("copy");
    }
    let sink = SmtpSink::start_on_thread(Behaviour::default());
    d.write_config(&format!(
        "crontabs = [{:?}, {:?}]\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\n",
        d.path("etc/crontab").display().to_string(),
        d.path("etc/cron.d/*").display().to_string(),
        sink.port
    ));
    let check = d.cli(&["check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    d.start();
    let listed = jobs(&d);
    assert_eq!(listed.len(), 12, "{listed:#?}");
    assert!(listed.iter().all(|j| j["source"] == "crontab"));
    let php = d.path("etc/cron.d/php").display().to_string();
    let job = d.listed_job("php-sessionclean").expect("php's line");
    assert_eq!(job["origin"], format!("{php}:14"));
    assert_eq!(job["schedule"], "09,39 * * * *");
    // Its command only checks for a PHP that is not installed here: a
    // harmless run, as root, of a packaged line.
    let r = run(&d, "php-sessionclean");
    assert_eq!(r.exit_code, Some(1), "{r:?}");
}

#[test]
fn bad_crontabs_entries_are_config_errors() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::new();
    d.write_file("cron.d/open", "MAILTO=\"\"\n0 0 1 1 * root echo x\n");
    let open = d.path("cron.d/open");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    d.write_config(&format!(
        "crontabs = [{:?}, 7, {{ user = \"root\" }}, {{ path = \"x\", usr = \"root\" }}, {{ path = \"y\", user = \"no-such-user-h14\" }}]\n",
        d.path("cron.d/*").display().to_string()
    ));
    let check = d.cli(&["check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    let e = &check.stderr;
    let open = open.display().to_string();
    assert!(
        e.contains(&format!("{open} is writable by its group or others")),
        "a world-writable system crontab is refused: {e}"
    );
    assert!(
        e.contains("key `crontabs`: expected an array of paths or { path, user } tables, found a whole number"),
        "{e}"
    );
    assert!(e.contains("a table entry needs a `path`"), "{e}");
    assert!(
        e.contains("unknown key `crontabs.usr`") && e.contains("did you mean `crontabs.user`?"),
        "{e}"
    );
    assert!(e.contains("unknown user \"no-such-user-h14\""), "{e}");
    assert!(
        e.contains("jobs.toml:1:"),
        "errors point into the config: {e}"
    );
}

/// `crontab -e` for a user who had no crontab: the spool file appears
/// after the daemon started, and its lines load.
#[test]
fn a_user_crontab_created_later_is_loaded() {
    let mut d = Daemon::new();
    std::fs::create_dir_all(d.path("cron.d")).expect("mkdir");
    std::fs::create_dir_all(d.path("spool")).expect("mkdir");
    d.write_config(&config(&d, ""));
    d.start();
    assert!(d.listed_job("alice-later").is_none());
    d.write_file("spool/alice", "MAILTO=\"\"\n0 0 1 1 * echo later\n");
    let job = d.poll("alice's new crontab line", NOTICE, || {
        d.listed_job("alice-later")
    });
    assert_eq!(job["source"], "crontab");
}
