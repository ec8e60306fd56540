//! The action of a job: a command or an HTTP request.

use std::collections::BTreeMap;

use super::Validator;
use crate::config::diagnostic::FileId;
use crate::config::model::{Command, HttpRequest};
use crate::config::raw::{RawCommand, RawHttp, Scope, Sp};

impl Validator<'_> {
    pub(crate) fn command(
        &mut self,
        f: FileId,
        scope: &Scope,
        c: &Sp<RawCommand>,
    ) -> Option<Command> {
        match c.get_ref() {
            RawCommand::Shell(s) => {
                if s.trim().is_empty() {
                    self.error_help(
                        f,
                        c.span(),
                        format!("{}: empty command", scope.key("command")),
                        "a shell command line like \"backup.sh --full\"",
                    );
                    None
                } else if s.contains('\0') {
                    self.error(
                        f,
                        c.span(),
                        format!(
                            "{}: a command cannot contain a NUL byte",
                            scope.key("command")
                        ),
                    );
                    None
                } else {
                    Some(Command::Shell(s.clone()))
                }
            }
            RawCommand::Argv(argv) => {
                let Some(program) = argv.first() else {
                    self.error_help(
                        f,
                        c.span(),
                        format!("{}: empty command", scope.key("command")),
                        "the program and its arguments, like [\"/usr/bin/backup\", \"--full\"]",
                    );
                    return None;
                };
                if program.get_ref().is_empty() {
                    self.error_help(
                        f,
                        program.span(),
                        format!("{}: empty program name", scope.key("command")),
                        "the first element is the program to run, like \"/usr/bin/backup\"",
                    );
                    return None;
                }
                if let Some(bad) = argv.iter().find(|a| a.get_ref().contains('\0')) {
                    self.error(
                        f,
                        bad.span(),
                        format!(
                            "{}: an argument cannot contain a NUL byte",
                            scope.key("command")
                        ),
                    );
                    return None;
                }
                Some(Command::Argv(
                    argv.iter().map(|a| a.get_ref().clone()).collect(),
                ))
            }
        }
    }

    pub(crate) fn http(
        &mut self,
        f: FileId,
        scope: &Scope,
        h: &Sp<RawHttp>,
    ) -> Option<HttpRequest> {
        let raw = h.get_ref();
        let mut ok = true;
        let url = match &raw.url {
            Some(v) => self.url(f, scope, "http.url", v),
            None => {
                self.error_help(
                    f,
                    h.span(),
                    format!("{}: missing `url`", scope.key("http")),
                    "for example: http = { url = \"http://127.0.0.1:8080/health\" }",
                );
                None
            }
        };
        let method = match &raw.method {
            Some(v) => {
                let upper = v.get_ref().to_ascii_uppercase();
                if !upper.is_empty() && reqwest::Method::from_bytes(upper.as_bytes()).is_ok() {
                    upper
                } else {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: invalid method \"{}\"",
                            scope.key("http.method"),
                            v.get_ref()
                        ),
                        "an HTTP method like \"GET\", \"POST\", \"PUT\" or \"DELETE\"",
                    );
                    String::new()
                }
            }
            None => "GET".to_string(),
        };
        let mut headers = BTreeMap::new();
        for (name, value) in raw.headers.iter().flatten() {
            let key = format!("http.headers.{}", name.get_ref());
            if reqwest::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_err() {
                ok = false;
                self.error_help(
                    f,
                    name.span(),
                    format!("{}: invalid header name", scope.key(&key)),
                    "a header name is letters, digits and `-`, like \"Authorization\"",
                );
            } else if reqwest::header::HeaderValue::from_str(value.get_ref()).is_err() {
                ok = false;
                self.error_help(
                    f,
                    value.span(),
                    format!("{}: invalid header value", scope.key(&key)),
                    "a header value is one line of visible ASCII text",
                );
            } else {
                headers.insert(name.get_ref().clone(), value.get_ref().clone());
            }
        }
        let mut expect_status = Vec::new();
        for v in raw.expect_status.iter().flat_map(|list| list.get_ref()) {
            match u16::try_from(*v.get_ref()) {
                Ok(code) if (100..=599).contains(&code) => expect_status.push(code),
                _ => {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: {} is not an HTTP status",
                            scope.key("http.expect_status"),
                            v.get_ref()
                        ),
                        "status codes from 100 to 599, like [200, 204]",
                    );
                }
            }
        }
        let url = url?;
        ok.then(|| HttpRequest {
            url,
            method,
            headers,
            body: raw
                .body
                .as_ref()
                .map(|b| b.get_ref().clone())
                .unwrap_or_default(),
            expect_status,
            result: raw.result.as_ref().is_some_and(|r| *r.get_ref()),
        })
    }
}
