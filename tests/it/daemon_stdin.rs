//! The `stdin` job key through the real daemon: the text reaches the
//! command's standard input, also when the job switches user (the fork
//! path) and when the command stops reading early; without it standard
//! input is `/dev/null`, so a reading command never waits.

use crate::support::daemon::{Daemon, NEVER};
use cronduct::record::{FinishRecord, Status};

fn run(d: &Daemon, job: &str) -> FinishRecord {
    let reply = d.post(&format!("/api/v1/jobs/{job}/run?wait=true"));
    serde_json::from_value(reply).expect("a finish record")
}

#[test]
fn stdin_text_reaches_the_command() {
    let root = nix::unistd::geteuid().is_root();
    let mut d = Daemon::new();
    let as_nobody = if root {
        format!(
            "[jobs.as-nobody]\nschedule = \"{NEVER}\"\nuser = \"nobody\"\nstdin = \"from %\\n\"\ncommand = \"cat; id -un\"\n"
        )
    } else {
        String::new()
    };
    d.write_config(&format!(
        r#"
[jobs.reads]
schedule = "{NEVER}"
stdin = "line one\nline 2 % \\ end"
command = "cat"

[jobs.stops-early]
schedule = "{NEVER}"
stdin = """{big}"""
command = "head -c 3"

[jobs.no-input]
schedule = "{NEVER}"
command = "cat; echo done"
{as_nobody}"#,
        big = "x".repeat(1 << 20),
    ));
    d.start();

    let r = run(&d, "reads");
    assert_eq!(r.status, Status::Success, "{r:?}");
    assert_eq!(r.stdout, "line one\nline 2 % \\ end");

    // 1 MiB is far more than a pipe holds: the writer meets EPIPE once
    // `head` is gone, and the run is still the command's success.
    let r = run(&d, "stops-early");
    assert_eq!(r.status, Status::Success, "{r:?}");
    assert_eq!(r.stdout, "xxx");

    let r = run(&d, "no-input");
    assert_eq!((r.status, r.stdout.as_str()), (Status::Success, "done\n"));

    if root {
        let r = run(&d, "as-nobody");
        assert_eq!(r.status, Status::Success, "{r:?}");
        assert_eq!(r.stdout, "from %\nnobody\n");
    }
    // The daemon is still there and answering after the EPIPE.
    assert_eq!(d.health().status, 200);
}
