//! Values read from files through the real daemon (cronduct.toml(5) `env`,
//! `env_file`): each reaches the command, and none of them appears in
//! anything the daemon writes or answers — its log and stderr, the run
//! log, every GET endpoint of the API, a webhook notice, `cronduct check`.

use cronduct::api::paths::{self, Segment, Verb};
use cronduct::record::{FinishRecord, Status};

use crate::support::daemon::{Daemon, NEVER, SECS_20};
use crate::support::webhook::webhook_receiver;

/// Distinct tokens, so a leak is found whichever value leaked.
const FROM_FILE: &str = "sEcReT-from-file-7d1f0c";
const FROM_CREDENTIAL: &str = "sEcReT-from-credential-93be2a";
const FROM_ENV_FILE: &str = "sEcReT-from-env-file-5a40e1";
const QUOTED: &str = "sEcReT-quoted-c2d9b7";

#[test]
fn values_from_files_reach_the_command_and_nothing_else() {
    let (port, received) = webhook_receiver();
    let mut d = Daemon::new();
    d.write_file("secrets/token", &format!("{FROM_FILE}\n"));
    d.write_file("creds/api-token", FROM_CREDENTIAL);
    d.write_file(
        "app.env",
        &format!(
            "# the app's settings\nENV_FILE_VALUE={FROM_ENV_FILE}\n\
             QUOTED_VALUE=\"{QUOTED} \\\"in quotes\\\" $HOME\"\n\
             not an assignment {FROM_ENV_FILE}\nOVERRIDDEN=from-env-file\n"
        ),
    );
    // Debug logging too: nothing at any level may carry a value.
    d.env.push(("RUST_LOG".into(), "debug".into()));
    d.env.push((
        "CREDENTIALS_DIRECTORY".into(),
        d.path("creds").display().to_string(),
    ));
    let seen = d.path("seen");
    d.write_config(&format!(
        r#"
[jobs.uses]
schedule = "{NEVER}"
env_file = ["app.env", "-optional-and-absent.env"]
env = {{ TOKEN = {{ file = "secrets/token" }}, CRED = {{ credential = "api-token" }}, OVERRIDDEN = "from-env" }}
command = "printf '%s\n' \"$TOKEN\" \"$CRED\" \"$ENV_FILE_VALUE\" \"$QUOTED_VALUE\" \"$OVERRIDDEN\" > {seen}; echo done; exit 3"
notify = {{ webhook = "http://127.0.0.1:{port}/hook", on = ["failure"] }}

[jobs.missing-file]
schedule = "{NEVER}"
env_file = ["absent.env"]
command = "echo never"

[jobs.missing-credential]
schedule = "{NEVER}"
env = {{ X = {{ credential = "not-loaded" }} }}
command = "echo never"
"#,
        seen = seen.display()
    ));
    d.start();

    let run = |job: &str| -> FinishRecord {
        serde_json::from_value(d.post(&format!("/api/v1/jobs/{job}/run?wait=true")))
            .expect("a finish record")
    };
    let rec = run("uses");
    assert_eq!(
        (rec.status, rec.exit_code, rec.stdout.as_str()),
        (Status::Failed, Some(3), "done\n"),
        "{rec:?}"
    );
    // The command had every value, the env file's quoting undone, and the
    // job's own `env` over the env file's.
    let got = std::fs::read_to_string(&seen).expect("the command wrote what it saw");
    assert_eq!(
        got,
        format!(
            "{FROM_FILE}\n{FROM_CREDENTIAL}\n{FROM_ENV_FILE}\n{QUOTED} \"in quotes\" $HOME\nfrom-env\n"
        )
    );

    // An unreadable source is the attempt's `error`, naming the path.
    let missing = run("missing-file");
    assert_eq!(missing.status, Status::Error, "{missing:?}");
    let error = missing.error.clone().unwrap_or_default();
    assert!(
        error.contains(&d.path("absent.env").display().to_string()),
        "{error}"
    );
    let missing = run("missing-credential");
    assert_eq!(missing.status, Status::Error, "{missing:?}");
    let error = missing.error.clone().unwrap_or_default();
    assert!(
        error.contains(&d.path("creds/not-loaded").display().to_string()),
        "{error}"
    );

    d.poll("the failure webhook", SECS_20, || {
        (!received.lock().expect("lock").is_empty()).then_some(())
    });

    // Everything the daemon said: every GET endpoint with this job and run
    // filled in, the notice, the run log, its own log, `check`.
    let mut everything = String::new();
    for endpoint in paths::ALL.iter().filter(|e| e.verb == Verb::Get) {
        let path: Vec<String> = endpoint
            .segments()
            .map(|s| match s {
                Segment::Literal(l) => l.to_string(),
                Segment::Param("run_id") => rec.run_id.clone(),
                // The status page's static files hold no data; one is enough.
                Segment::Param("file") => "app.js".to_string(),
                Segment::Param(_) => "uses".to_string(),
            })
            .collect();
        let path = format!("/{}", path.join("/"));
        let reply = d.api("GET", &path);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        everything.push_str(&format!("GET {path}\n{}\n", reply.body));
    }
    for hook in received.lock().expect("lock").iter() {
        everything.push_str(&format!("webhook\n{}\n", hook.body));
    }
    everything.push_str(&d.log_lines().join("\n"));
    everything.push_str(&d.stderr());
    let check = d.cli(&["check"]);
    everything.push_str(&check.stdout);
    everything.push_str(&check.stderr);
    // It did gather what was said about this run: its id, the notice, the
    // path that replaces the value.
    for said in [
        rec.run_id.as_str(),
        "\"event\":\"failure\"",
        "secrets/token",
    ] {
        assert!(
            everything.contains(said),
            "{said} missing in:\n{everything}"
        );
    }
    for secret in [FROM_FILE, FROM_CREDENTIAL, FROM_ENV_FILE, QUOTED] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked in:\n{everything}"
        );
    }

    // What the job detail shows instead: where each value comes from.
    let detail = d.get("/api/v1/jobs/uses");
    let settings = &detail["settings"];
    let env = if settings.is_null() {
        &detail["env"]
    } else {
        &settings["env"]
    };
    assert_eq!(
        env["TOKEN"]["file"],
        d.path("secrets/token").display().to_string(),
        "{detail}"
    );
    assert_eq!(env["CRED"]["credential"], "api-token", "{detail}");
    // The env file's bad line is logged by place, not by content.
    assert!(
        d.stderr().contains(&format!(
            "env_file {}:4: not a valid assignment",
            d.path("app.env").display()
        )),
        "{}",
        d.stderr()
    );
}
