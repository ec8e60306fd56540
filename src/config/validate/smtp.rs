//! `[smtp]`: the mail server for `notify.email`.

use super::Validator;
use crate::config::diagnostic::FileId;
use crate::config::model::{SmtpSettings, SmtpTls};
use crate::config::raw::{RawSmtp, Scope};

impl Validator<'_> {
    pub(crate) fn smtp(&mut self, raw: &RawSmtp) -> Option<SmtpSettings> {
        let f = FileId(0);
        let scope = Scope::Smtp;
        let mut ok = true;
        let host = match &raw.host {
            Some(v) if v.get_ref().trim().is_empty() => {
                ok = false;
                self.error_help(
                    f,
                    v.span(),
                    format!("{}: empty host", scope.key("host")),
                    "the mail server's name or address, like \"localhost\"",
                );
                String::new()
            }
            Some(v) => v.get_ref().clone(),
            None => "localhost".to_string(),
        };
        let tls = match &raw.tls {
            Some(v) => self
                .one_of(
                    f,
                    v,
                    scope.key("tls"),
                    "mode",
                    &[
                        ("none", SmtpTls::None),
                        ("starttls", SmtpTls::StartTls),
                        ("tls", SmtpTls::Tls),
                    ],
                    "one of \"none\", \"starttls\", \"tls\"",
                )
                .unwrap_or_else(|| {
                    ok = false;
                    SmtpTls::None
                }),
            None => SmtpTls::None,
        };
        let port = match &raw.port {
            Some(v) => match u16::try_from(*v.get_ref()) {
                Ok(p) if p > 0 => p,
                _ => {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: {} is not a port", scope.key("port"), v.get_ref()),
                        "a TCP port from 1 to 65535, like 25, 465 or 587",
                    );
                    0
                }
            },
            None => match tls {
                SmtpTls::None => 25,
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
            },
        };
        let from = match &raw.from {
            Some(v) => {
                if v.get_ref().parse::<lettre::message::Mailbox>().is_err() {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: not an email address: \"{}\"",
                            scope.key("from"),
                            v.get_ref()
                        ),
                        "an address like \"cronduct@myhost\" or \"Cron <cron@example.com>\"",
                    );
                }
                v.get_ref().clone()
            }
            None => format!("cronduct@{}", self.machine.host_name),
        };
        let password_file = match &raw.password_file {
            Some(v) => {
                let p = self.path(f, &scope, "password_file", v);
                ok &= p.is_some();
                p
            }
            None => None,
        };
        match (&raw.username, &raw.password_file) {
            (Some(u), None) => {
                ok = false;
                self.error_help(
                    f,
                    u.span(),
                    format!(
                        "{}: a username needs a password_file",
                        scope.key("username")
                    ),
                    "add `password_file = \"/etc/cronduct/smtp.pass\"`, or remove `username`",
                );
            }
            (None, Some(p)) => {
                ok = false;
                self.error_help(
                    f,
                    p.span(),
                    format!(
                        "{}: a password_file needs a username",
                        scope.key("password_file")
                    ),
                    "add `username = \"…\"`, or remove `password_file`",
                );
            }
            _ => {}
        }
        ok.then(|| SmtpSettings {
            host,
            port,
            tls,
            from,
            username: raw.username.as_ref().map(|u| u.get_ref().clone()),
            password_file,
        })
    }
}
