use super::*;
use crate::config::machine::Account;

fn machine() -> Machine {
    Machine::fake(true, |kind, name| {
        Ok(kind == Account::User && ["root", "alice", "www-data"].contains(&name))
    })
}

fn user(text: &str) -> Parsed {
    parse(text, Format::User, &machine())
}

fn system(text: &str) -> Parsed {
    parse(text, Format::System, &machine())
}

#[test]
fn environment_lines_as_cron_reads_them() {
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("A=b", Some(("A", "b"))),
        ("A = b c  ", Some(("A", "b c"))),
        ("A=\" b \"", Some(("A", " b "))),
        ("A=' b '  ", Some(("A", " b "))),
        ("\"A B\"=x", Some(("A B", "x"))),
        ("A=\"\"", Some(("A", ""))),
        ("A=b # not a comment", Some(("A", "b # not a comment"))),
        ("A=\"b\" c", None),
        ("A=\"b", None),
        ("A=", None),
        ("A =   ", None),
        ("=b", None),
        ("0 2 * * * a=b", None),
        ("@daily x=y", None),
    ];
    for (line, want) in cases {
        let got = env_line(line);
        assert_eq!(
            got.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
            *want,
            "{line:?}"
        );
    }
}

#[test]
fn percent_signs() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("date +%F", "date +", Some("F")),
        (r"date +\%F", "date +%F", None),
        (
            "mail joe%Joe,%%Where?%",
            "mail joe",
            Some("Joe,\n\nWhere?\n"),
        ),
        ("cat%", "cat", None),
        (r"cat%a\%b%c", "cat", Some("a%b\nc")),
        (r"echo \\%x", r"echo \\", Some("x")),
        (r"echo a\b", r"echo a\b", None),
        (r"cat%a\b\\%", "cat", Some(r"a\b\%")),
    ];
    for (text, command, stdin) in cases {
        let (c, s) = split_percent(text);
        assert_eq!((c.as_str(), s.as_deref()), (*command, *stdin), "{text:?}");
    }
}

#[test]
fn each_line_gets_the_variables_above_it() {
    let p = user(
        "# comment\n\
         \n\
         0 1 * * * before\n\
         SHELL=/bin/bash\n\
         PATH=/opt/bin:/usr/bin\n\
         MAILTO=ops,dev@example.com\n\
         MAILFROM=cron@host\n\
         TZ=Asia/Tokyo\n\
         LOGNAME=mallory\n\
         \x20 FOO = bar baz\n\
         0 2 * * * after\n\
         MAILTO=\"\"\n\
         CRON_TZ=Europe/Berlin\n\
         @weekly last\n",
    );
    assert_eq!(p.problems, vec![]);
    let [before, after, last] = &p.entries[..] else {
        panic!("{:?}", p.entries)
    };
    assert_eq!(before.line, 3);
    assert_eq!(
        before.env,
        BTreeMap::from([("PATH".into(), DEFAULT_PATH.into())])
    );
    assert_eq!(before.shell, None);
    assert_eq!(before.mail, Mail::Owner);
    assert_eq!(before.mail_to("alice"), vec!["alice@localhost"]);
    assert_eq!(after.shell.as_deref(), Some("/bin/bash"));
    assert_eq!(
        after.env,
        BTreeMap::from([
            ("FOO".into(), "bar baz".into()),
            ("PATH".into(), "/opt/bin:/usr/bin".into()),
            ("TZ".into(), "Asia/Tokyo".into()),
        ])
    );
    assert_eq!(
        after.mail_to("alice"),
        vec!["ops@localhost", "dev@example.com"]
    );
    assert_eq!(after.mail_from.as_deref(), Some("cron@host"));
    assert_eq!(after.cron_tz, None);
    assert_eq!(last.mail, Mail::Off);
    assert_eq!(last.mail_to("alice"), Vec::<String>::new());
    assert_eq!(last.schedule_text, "@weekly");
    assert_eq!(
        last.cron_tz.as_ref().map(|(_, tz)| tz.name()),
        Some("Europe/Berlin")
    );
    let notes: Vec<usize> = p.notes.iter().map(|n| n.line).collect();
    assert_eq!(notes, vec![9, 13], "{:?}", p.notes);
}

#[test]
fn job_lines() {
    let p = system(
        "17 *\t* * *  root    cd / && run-parts --report /etc/cron.hourly\n\
         @reboot www-data /usr/bin/warm-cache\n\
         */5 9-17 * jan-mar mon-fri alice echo %hello\n",
    );
    assert_eq!(p.problems, vec![]);
    let e = &p.entries;
    assert_eq!(e[0].schedule_text, "17 * * * *");
    assert_eq!(e[0].user.as_deref(), Some("root"));
    assert_eq!(e[0].command, "cd / && run-parts --report /etc/cron.hourly");
    assert!(e[1].schedule.is_reboot());
    assert_eq!(e[1].user.as_deref(), Some("www-data"));
    assert_eq!(e[2].schedule_text, "*/5 9-17 * jan-mar mon-fri");
    assert_eq!(e[2].command, "echo ");
    assert_eq!(e[2].stdin.as_deref(), Some("hello"));

    // The same line in a user crontab: "root" is the command.
    let p = user("17 * * * * root x\n");
    assert_eq!(p.entries[0].user, None);
    assert_eq!(p.entries[0].command, "root x");
}

#[test]
fn problems_name_the_line_and_the_place() {
    let text = "0 2 * * *\n\
                61 * * * * x\n\
                @DAILY x\n\
                0 0 30 2 * x\n\
                0 2 * * * nobody-here x\n\
                0 2 * * * root\n\
                0 2 * * 1\n\
                CRON_TZ=Mars/Olympus\n\
                5/10 * * * * root x\n\
                A=\n";
    let p = system(text);
    let got: Vec<(usize, &str, &str)> = p
        .problems
        .iter()
        .map(|pr| {
            (
                pr.line,
                &text[pr.span.start..pr.span.end.min(text.len())],
                pr.message.as_str(),
            )
        })
        .collect();
    let want_lines = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        want_lines,
        "{got:#?}"
    );
    assert!(got[0].2.contains("user field"), "{:?}", got[0]);
    assert_eq!(got[1].1, "61");
    assert!(got[1].2.starts_with("minute field: 61 is out of range"));
    assert_eq!(got[2].1, "@DAILY");
    assert!(got[3].2.contains("cannot be converted"), "{:?}", got[3]);
    assert_eq!(got[4].1, "nobody-here");
    assert!(got[4].2.contains("unknown user"));
    assert!(got[5].2.contains("no command"));
    assert!(got[6].2.contains("user field"));
    assert!(got[7].2.contains("unknown time zone"));
    assert_eq!(got[8].1, "5/10");
    assert!(got[9].2.contains("A has an empty value"), "{:?}", got[9]);
    assert!(p.entries.is_empty());
}

#[test]
fn a_missing_final_newline_is_noted() {
    let p = user("0 1 * * * a\n0 2 * * * b");
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.notes.len(), 1);
    assert_eq!(p.notes[0].line, 2);
}

#[test]
fn cron_d_names() {
    for ok in ["sysstat", "php", "e2scrub_all", "certbot", "a-b_C9"] {
        assert!(cron_d_name_ok(ok), "{ok}");
    }
    for bad in ["php.dpkg-old", ".placeholder", "x~", "", "a b", "ré"] {
        assert!(!cron_d_name_ok(bad), "{bad}");
    }
}
