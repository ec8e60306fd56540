//! The crontab importer (`cronduct import`): any text, read as a system
//! crontab and as a user's, gives jobs and problems without a panic; the
//! problems render, and the `jobs.toml` written for the jobs is TOML.
#![no_main]

use cronduct::config::{self, Machine};
use cronduct::crontab::{self, Format, Ids, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let machine = Machine::this();
    for format in [Format::System, Format::User] {
        let parsed = crontab::parse(text, format, &machine);
        for problem in &parsed.problems {
            let _ = config::render_problem(
                "crontab",
                text,
                problem.span.clone(),
                &problem.message,
                problem.help.as_deref(),
            );
        }
        let mut ids = Ids::new();
        let jobs = crontab::convert(&parsed, "crontab", "cron", Some("root"), "root", &mut ids);
        let files = ["crontab".to_string()];
        let out = render::render(&render::Header { files: &files }, &jobs);
        if let Err(e) = out.parse::<toml::Table>() {
            panic!("the import of {text:?} is not TOML: {e}\n{out}");
        }
    }
});
