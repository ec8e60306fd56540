//! The status page in a real browser: headless Chromium (Debian's
//! `chromium`, driven over the DevTools protocol) against the real daemon
//! with real jobs, checked as a person using it would see it, plus the
//! browser's own network log and console. Chromium missing fails these
//! tests with the command that installs it (support/browser.rs).

use std::path::PathBuf;

use serde_json::Value;

use crate::support::browser::Chrome;
use crate::support::daemon::{Daemon, NEVER, SECS_20};
use crate::support::poll;

const JOBS: &str = r#"
[jobs.greet]
description = "says hello"
schedule = "17 4 * * *"
command = "echo hello-from-greet; echo warn-from-greet >&2"
timeout = "1m"

[jobs.nightly-report]
description = "the weekday report"
schedule = "30 2 * * MON-FRI"
timezone = "Europe/Berlin"
command = "true"

[jobs.six-fields]
schedule = "0 0 5 1 * *"
command = "true"
"#;

fn daemon() -> Daemon {
    let mut d = Daemon::new();
    d.write_config(JOBS);
    d.start();
    d
}

fn base(d: &Daemon) -> String {
    format!("http://127.0.0.1:{}", d.port())
}

/// Where the tests leave their screenshots (docs/ holds copies).
fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/ui-screenshots")
        .join(name)
}

/// Opens the page and answers the key prompt with `key`.
fn open_with_key(chrome: &Chrome, d: &Daemon, key: &str) {
    chrome.goto(&format!("{}/", base(d)));
    chrome.wait(
        "the key prompt",
        SECS_20,
        "document.getElementById('key-dialog').open",
    );
    chrome.type_into("#key-input", key);
    chrome.press("#key-input", "Enter");
}

fn rows(chrome: &Chrome) -> usize {
    chrome.eval::<usize>("document.querySelectorAll('#jobs-body tr').length")
}

#[test]
fn the_page_shows_the_jobs_and_runs_and_pauses_them() {
    let d = daemon();
    let chrome = Chrome::launch(1280, 900);
    open_with_key(&chrome, &d, &d.key());
    chrome.wait(
        "the jobs table",
        SECS_20,
        "document.querySelectorAll('#jobs-body tr').length === 3",
    );
    assert!(!chrome.eval::<bool>("document.getElementById('key-dialog').open"));
    assert_eq!(
        chrome.eval::<Option<String>>("sessionStorage.getItem('cronduct.admin-key')"),
        Some(d.key()),
        "the key is kept in the tab's sessionStorage"
    );

    // Every job, with the daemon's next run, written in the job's zone.
    let listed = d.get("/api/v1/jobs");
    for job in listed["jobs"].as_array().expect("jobs") {
        let id = job["id"].as_str().expect("id");
        let row: Value = chrome.eval(&format!(
            "(() => {{ const r = document.querySelector('#jobs-body tr[data-job=\"{id}\"]');
                return r && {{ next: r.querySelector('.next-run time').getAttribute('datetime'),
                  shown: r.querySelector('.next-run time').firstChild.textContent,
                  words: r.querySelector('.schedule-text').textContent, text: r.innerText }}; }})()"
        ));
        assert_eq!(row["next"], job["next_run"], "{id}: {row}");
        assert_eq!(row["words"], job["schedule_text"], "{id}: {row}");
        assert!(row["text"].as_str().expect("text").contains(id));
    }
    let nightly: Value = chrome.eval(
        "document.querySelector('#jobs-body tr[data-job=\"nightly-report\"] .next-run time').firstChild.textContent",
    );
    let nightly = nightly.as_str().expect("text");
    assert!(
        nightly.contains("02:30:00") && (nightly.contains("CET") || nightly.contains("CEST")),
        "Berlin's 02:30 is shown as such, not in UTC: {nightly}"
    );
    assert_eq!(
        chrome.eval::<String>("document.getElementById('health-status').textContent"),
        "healthy"
    );

    // The filter narrows the table; clearing it brings every job back.
    chrome.type_into("#filter", "berlin");
    chrome.wait(
        "the filtered table",
        SECS_20,
        "document.querySelectorAll('#jobs-body tr').length === 1",
    );
    assert_eq!(
        chrome.eval::<String>("document.querySelector('#jobs-body tr').dataset.job"),
        "nightly-report"
    );
    chrome.eval::<Value>("(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()");
    assert_eq!(rows(&chrome), 3);
    chrome.screenshot(&screenshot_path("ui-1280.png"));

    // Run now, confirmed: the new run and its output appear on the job page.
    chrome.click("#jobs-body tr[data-job=\"greet\"] a");
    chrome.wait(
        "the job page",
        SECS_20,
        "document.getElementById('job-title').textContent === 'greet'",
    );
    assert_eq!(
        chrome.eval::<String>("document.getElementById('job-schedule-text').textContent"),
        "At 04:17 every day, Etc/UTC"
    );
    chrome.click("button[data-action=run]");
    chrome.wait(
        "the confirmation",
        SECS_20,
        "document.getElementById('confirm-dialog').open",
    );
    chrome.click("#confirm-ok");
    let finished = d.wait_finishes("greet", 1, SECS_20);
    let run_id = &finished[0].run_id;
    let stdout = chrome.wait(
        "the new run's output",
        SECS_20,
        &format!(
            "document.querySelector('details[data-run-id=\"{run_id}\"][open] .stdout')?.textContent"
        ),
    );
    assert_eq!(stdout, "hello-from-greet\n");
    assert_eq!(
        chrome.eval::<String>(&format!(
            "document.querySelector('details[data-run-id=\"{run_id}\"] .stderr').textContent"
        )),
        "warn-from-greet\n"
    );

    // Pause with a reason and a duration: shown on the page, and true in the API.
    chrome.click("button[data-action=pause]");
    chrome.wait(
        "the pause dialog",
        SECS_20,
        "document.getElementById('confirm-dialog').open",
    );
    chrome.type_into("#pause-reason", "disk swap on sdb");
    chrome.type_into("#pause-until", "2h");
    chrome.click("#confirm-ok");
    let shown = chrome.wait(
        "the job shown paused",
        SECS_20,
        "document.getElementById('job-paused')?.textContent",
    );
    assert!(
        shown.as_str().expect("text").contains("disk swap on sdb"),
        "{shown}"
    );
    let job = d.listed_job("greet").expect("greet");
    assert_eq!(job["paused"], true);
    assert_eq!(job["pause"]["reason"], "disk swap on sdb");
    assert!(job["pause"]["until"].is_string(), "{job}");
    assert!(chrome.eval::<bool>("!!document.querySelector('button[data-action=resume]')"));

    // The chart of outcomes per day has today's success in it.
    chrome.click(".period button:nth-child(2)");
    chrome.wait(
        "the 30-day chart",
        SECS_20,
        "document.querySelectorAll('#chart svg g').length === 30",
    );
    assert_eq!(
        chrome.eval::<usize>("document.querySelectorAll('#chart rect.bar-success').length"),
        1
    );

    // Back to the table: the pause and its reason are in greet's row.
    chrome.click("a.brand");
    let cell = chrome.wait(
        "the paused row",
        SECS_20,
        "document.querySelector('#jobs-body tr[data-job=\"greet\"] td.pause')?.textContent",
    );
    assert!(
        cell.as_str().expect("text").contains("disk swap on sdb"),
        "{cell}"
    );

    // At 360 px: the table becomes cards and nothing is wider than the screen.
    chrome.resize(360, 800, true);
    chrome.wait(
        "the narrow layout",
        SECS_20,
        "getComputedStyle(document.querySelector('table.jobs thead')).display === 'none'",
    );
    assert!(
        chrome.eval::<f64>("document.documentElement.scrollWidth") <= 360.0,
        "no horizontal scrolling at 360 px"
    );
    chrome.screenshot(&screenshot_path("ui-360.png"));

    // A refresh with nothing changed is one conditional request, a 304.
    let before = chrome.requests().len();
    let refresh = poll::within(SECS_20, || {
        chrome
            .requests()
            .into_iter()
            .skip(before)
            .find(|r| r.transferred.is_some() && r.url.ends_with("/api/v1/jobs"))
    })
    .unwrap_or_else(|| panic!("no refresh within 20 s: {:#?}", chrome.requests()));
    assert_eq!(refresh.status, Some(304), "{refresh:?}");
    let during: Vec<_> = chrome
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| r.transferred.is_some())
        .collect();
    assert_eq!(
        during.len(),
        1,
        "one request per unchanged refresh: {during:#?}"
    );
    let bytes = refresh.transferred.expect("size") + refresh.sent as f64;
    assert!(bytes <= 1024.0, "{bytes} bytes: {refresh:?}");

    // The page talked to the daemon only, the shell came with the policy,
    // and nothing went wrong in the console.
    let origin = format!("{}/", base(&d));
    let requests = chrome.requests();
    assert!(requests.len() > 5, "{requests:#?}");
    for r in &requests {
        assert!(
            r.url.starts_with(&origin),
            "a request to another host: {r:?}"
        );
    }
    let shell = requests
        .iter()
        .find(|r| r.url == origin)
        .expect("the shell's request");
    let csp = shell.headers["content-security-policy"]
        .as_str()
        .or_else(|| shell.headers["Content-Security-Policy"].as_str())
        .unwrap_or_else(|| panic!("no CSP header on {shell:?}"));
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert_eq!(
        chrome.errors(),
        Vec::<String>::new(),
        "the browser reported errors"
    );
}

#[test]
fn a_wrong_key_shows_the_401_message_and_the_prompt_again() {
    let d = daemon();
    let chrome = Chrome::launch(1280, 900);
    open_with_key(&chrome, &d, "not-the-key");
    let message = chrome.wait(
        "the refusal",
        SECS_20,
        "(() => { const e = document.getElementById('key-error'); return !e.hidden && e.textContent; })()",
    );
    let message = message.as_str().expect("text");
    assert!(
        message.contains("401") && message.contains("wrong admin key"),
        "{message}"
    );
    assert!(chrome.eval::<bool>("document.getElementById('key-dialog').open"));
    assert_eq!(rows(&chrome), 0, "nothing is shown without the key");
    assert_eq!(
        chrome.eval::<Option<String>>("sessionStorage.getItem('cronduct.admin-key')"),
        None,
        "a refused key is not kept"
    );
    // The right key then works without reloading.
    chrome.type_into("#key-input", &d.key());
    chrome.press("#key-input", "Enter");
    chrome.wait(
        "the jobs table",
        SECS_20,
        "document.querySelectorAll('#jobs-body tr').length === 3",
    );
    // The only errors the browser saw are the refused requests themselves.
    for e in chrome.errors() {
        assert!(e.contains("401"), "an unexpected browser error: {e}");
    }
}

/// Opens `job`'s page from the jobs table (as a person would) once the
/// table shows `rows` jobs.
fn open_job_page(chrome: &Chrome, rows: usize, job: &str) {
    chrome.wait(
        "the jobs table",
        SECS_20,
        &format!("document.querySelectorAll('#jobs-body tr').length === {rows}"),
    );
    // A refresh may redraw the table between finding the link and
    // clicking it; a person would click again.
    let link = format!("#jobs-body tr[data-job=\"{job}\"] a");
    poll::until("a click on the job's link", SECS_20, || {
        chrome.try_click(&link).ok()
    });
    chrome.wait(
        "the job page",
        SECS_20,
        &format!("document.getElementById('job-title')?.textContent === '{job}'"),
    );
}

/// Opens the run's details on the job page and asks for attempt 1's
/// whole output.
fn ask_whole_output(chrome: &Chrome, run_id: &str) {
    let run = format!("details[data-run-id=\"{run_id}\"]");
    chrome.wait(
        "the run in the history",
        SECS_20,
        &format!("document.querySelector('{run}')"),
    );
    chrome.click(&format!("{run} summary"));
    chrome.click(&format!("{run} button[data-output=\"{run_id}.1\"]"));
}

#[test]
fn the_job_page_shows_the_whole_output_that_the_tail_lost_and_a_running_one_live() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.chatty]
description = "<i>not markup</i> & co"
schedule = "{NEVER}"
command = "echo first-line-of-chatty; seq 1 20000; echo '<b>not markup</b>' >&2"
output_limit = "1KiB"

[jobs.slow]
schedule = "{NEVER}"
command = "echo live-line-one; sleep 120"
timeout = "5m"
"#
    ));
    d.start();
    let run_id = d.trigger("chatty");
    let rec = d.wait_finish(&run_id, SECS_20);
    assert!(
        rec.output_truncated,
        "the record keeps only a tail: {rec:?}"
    );
    assert!(!rec.stdout.contains("first-line-of-chatty"));

    let chrome = Chrome::launch(1280, 900);
    let downloads = tempfile::tempdir().expect("a download dir");
    chrome.download_into(downloads.path());
    open_with_key(&chrome, &d, &d.key());
    // The table is built as one HTML string: the daemon's text stays text.
    let description = chrome.wait(
        "the description",
        SECS_20,
        "(() => { const r = document.querySelector('#jobs-body tr[data-job=\"chatty\"]');
            return r && { text: r.querySelector('td.id .sub').textContent, markup: r.querySelectorAll('i').length }; })()",
    );
    assert_eq!(description["text"], "<i>not markup</i> & co");
    assert_eq!(description["markup"], 0);
    open_job_page(&chrome, 2, "chatty");
    ask_whole_output(&chrome, &run_id);
    let run = format!("details[data-run-id=\"{run_id}\"]");
    let whole = chrome.wait(
        "the whole output",
        SECS_20,
        &format!(
            "(() => {{ const b = document.querySelector('{run} .whole-output');
                return b && !b.querySelector('button[data-output]').disabled
                  && {{ text: b.querySelector('pre.output').textContent,
                        state: b.querySelector('.output-state').textContent,
                        markup: b.querySelectorAll('pre.output *').length }}; }})()"
        ),
    );
    let text = whole["text"].as_str().expect("text");
    assert!(
        text.starts_with("first-line-of-chatty\n1\n2\n"),
        "the head the tail lost: {:?}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains("\n20000\n"), "and the end");
    assert!(
        text.contains("[stderr] <b>not markup</b>\n"),
        "stderr, as text"
    );
    assert_eq!(whole["markup"], 0, "the output is text, never HTML");
    assert_eq!(
        text.len(),
        21 + 108_894 + 27,
        "all of it: {}",
        whole["state"]
    );
    let tail: String = chrome.eval(&format!(
        "document.querySelector('{run} .stdout').textContent"
    ));
    assert!(!tail.contains("first-line-of-chatty") && tail.ends_with("20000\n"));

    // The download is the same text, saved as a file.
    chrome.click(&format!("{run} button[data-download=\"{run_id}.1\"]"));
    let saved = downloads.path().join(format!("chatty-{run_id}.1.log"));
    let file = poll::until("the downloaded file", SECS_20, || {
        std::fs::read_to_string(&saved)
            .ok()
            .filter(|t| t.len() == text.len())
    });
    assert_eq!(file, text);

    // A running attempt's output, live, on its job page.
    let slow = d.trigger("slow");
    chrome.click("a.brand");
    open_job_page(&chrome, 2, "slow");
    chrome.wait(
        "the running run",
        SECS_20,
        &format!("document.querySelector('#running tr[data-run-id=\"{slow}\"]')"),
    );
    chrome.click(&format!(".live button[data-output=\"{slow}.1\"]"));
    let live = chrome.wait(
        "the live output",
        SECS_20,
        &format!(
            "(() => {{ const b = document.querySelector('.live [data-output-for=\"{slow}.1\"]');
                const t = b && b.querySelector('pre.output')?.textContent;
                return t && t.includes('live-line-one') ? {{ text: t, state: b.querySelector('.output-state').textContent }} : null; }})()"
        ),
    );
    assert_eq!(live["text"], "live-line-one\n", "{live}");
    assert!(
        live["state"].as_str().expect("state").contains("following"),
        "{live}"
    );
    let cancelled = d.api("POST", "/api/v1/jobs/slow/cancel");
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    // The attempt ended, so the followed answer did too.
    chrome.wait(
        "the end of the live output",
        SECS_20,
        &format!(
            "(() => {{ const s = document.querySelector('[data-output-for=\"{slow}.1\"] .output-state');
                return s && !s.textContent.includes('following'); }})()"
        ),
    );
    assert_eq!(
        chrome.errors(),
        Vec::<String>::new(),
        "the browser reported errors"
    );
}

#[test]
fn without_kept_output_the_job_page_says_why() {
    let mut d = Daemon::new();
    let config = format!(
        "[jobs.quiet]\nschedule = \"{NEVER}\"\ncommand = \"echo hello\"\n\n{}output = \"tail\"\n",
        d.daemon_table()
    );
    d.write_file("jobs.toml", &config);
    d.start();
    let run_id = d.trigger("quiet");
    d.wait_finish(&run_id, SECS_20);

    let chrome = Chrome::launch(1280, 900);
    open_with_key(&chrome, &d, &d.key());
    open_job_page(&chrome, 1, "quiet");
    ask_whole_output(&chrome, &run_id);
    let reason = chrome.wait(
        "the reason",
        SECS_20,
        &format!(
            "document.querySelector('details[data-run-id=\"{run_id}\"] .output-reason')?.textContent"
        ),
    );
    let reason = reason.as_str().expect("text");
    assert!(
        reason.contains("404")
            && reason.contains("output = \"tail\" keeps only the record's tails"),
        "{reason}"
    );
    // The tail in the record is still shown.
    assert_eq!(
        chrome.eval::<String>(&format!(
            "document.querySelector('details[data-run-id=\"{run_id}\"] .stdout').textContent"
        )),
        "hello\n"
    );
    // The browser logs the 404 itself as a failed load; nothing else.
    for e in chrome.errors() {
        assert!(
            e.contains("404") && e.contains(&format!("/api/v1/runs/{run_id}/output")),
            "an unexpected browser error: {e}"
        );
    }
}
