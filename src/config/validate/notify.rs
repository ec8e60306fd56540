//! `notify = { … }`: where notices go and which outcomes send them, and
//! its webhook table. A header read from a file is only resolved here: the
//! file holds a secret and is read when sending, never by `check`.

use std::collections::BTreeMap;

use super::Validator;
use crate::config::diagnostic::FileId;
use crate::config::model::{HeaderValue, Notify, NotifyOn, Webhook, WebhookFormat};
use crate::config::raw::{RawHeaderValue, RawNotify, RawWebhook, RawWebhookForm, Scope, Sp};

const EVENTS: &str =
    "\"failure\", \"recovery\", \"success\", \"slow\", \"overdue\", \"missed\", \"skipped\"";

impl Validator<'_> {
    /// `Some(None)` for `notify = {}`, which switches off a `[defaults]`
    /// notify table: a job's table replaces that one as a whole. A table
    /// with `on` or `after` but nowhere to send is refused; `ping` alone
    /// is somewhere.
    pub(crate) fn notify(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        n: &Sp<RawNotify>,
    ) -> Option<Option<Notify>> {
        let raw = n.get_ref();
        let mut ok = true;
        let mut email = Vec::new();
        if let Some(list) = &raw.email {
            for addr in list.get_ref() {
                if addr.get_ref().parse::<lettre::message::Mailbox>().is_ok() {
                    email.push(addr.get_ref().clone());
                } else {
                    ok = false;
                    self.error_help(
                        f,
                        addr.span(),
                        format!(
                            "{}: not an email address: \"{}\"",
                            scope.key("notify.email"),
                            addr.get_ref()
                        ),
                        "an address like \"admin@example.com\" or \"Ops <ops@example.com>\"",
                    );
                }
            }
            if !list.get_ref().is_empty() && !self.has_smtp {
                ok = false;
                self.error_help(
                    f,
                    list.span(),
                    format!(
                        "{}: email needs an [smtp] section",
                        scope.key("notify.email")
                    ),
                    "add [smtp] with at least `from = \"cronduct@myhost\"` to the main file \
                     (host defaults to localhost, port to 25)",
                );
            }
        }
        let webhook = raw.webhook.as_ref().map(|w| self.webhook(f, scope, w));
        let ping = raw
            .ping
            .as_ref()
            .map(|v| self.url(f, scope, "notify.ping", v));
        // `Some(None)`: written but not valid (reported).
        ok &= webhook.as_ref().is_none_or(Option::is_some)
            && ping.as_ref().is_none_or(Option::is_some);
        let (webhook, ping) = (webhook.flatten(), ping.flatten());
        let mut on = NotifyOn {
            failure: true,
            ..NotifyOn::default()
        };
        if let Some(list) = &raw.on {
            on = NotifyOn::default();
            if list.get_ref().is_empty() {
                ok = false;
                self.error_help(
                    f,
                    list.span(),
                    format!("{}: empty list", scope.key("notify.on")),
                    &format!("list one or more of {EVENTS}"),
                );
            }
            for item in list.get_ref() {
                let event = self.one_of::<fn(&mut NotifyOn)>(
                    f,
                    item,
                    scope.key("notify.on"),
                    "event",
                    &[
                        ("failure", |on| on.failure = true),
                        ("recovery", |on| on.recovery = true),
                        ("success", |on| on.success = true),
                        ("slow", |on| on.slow = true),
                        ("overdue", |on| on.overdue = true),
                        ("missed", |on| on.missed = true),
                        ("skipped", |on| on.skipped = true),
                    ],
                    &format!("one of {EVENTS}"),
                );
                match event {
                    Some(set) => set(&mut on),
                    None => ok = false,
                }
            }
        }
        let mut after = 1;
        if let Some(v) = &raw.after {
            match u32::try_from(*v.get_ref()) {
                Ok(n) if n >= 1 => after = n,
                _ => {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: must be 1 or more", scope.key("notify.after")),
                        "the number of consecutive failed runs before the first failure notice; \
                         1 = notify on the first failure",
                    );
                }
            }
        }
        if raw.email.is_none() && raw.webhook.is_none() && raw.ping.is_none() {
            if raw.on.is_some() || raw.after.is_some() {
                self.error_help(
                    f,
                    n.span(),
                    format!("{}: nowhere to send notifications", scope.key(key)),
                    "add `email = [\"admin@example.com\"]`, `webhook = \"https://…\"` or \
                     `ping = \"https://…\"`; `notify = {}` switches notifications off",
                );
                return None;
            }
            return Some(None);
        }
        if !ok {
            return None;
        }
        if email.is_empty() && webhook.is_none() && ping.is_none() {
            return Some(None);
        }
        Some(Some(Notify {
            email,
            webhook,
            ping,
            on,
            after,
        }))
    }

    /// A URL alone is the JSON document with no extra headers.
    fn webhook(&mut self, f: FileId, scope: &Scope, w: &Sp<RawWebhookForm>) -> Option<Webhook> {
        let table = match w.get_ref() {
            RawWebhookForm::Url(url) => {
                return self.url(f, scope, "notify.webhook", url).map(Webhook::json);
            }
            RawWebhookForm::Table(table) => table,
        };
        let url = match &table.url {
            Some(v) => self.url(f, scope, "notify.webhook.url", v),
            None => {
                self.error_help(
                    f,
                    w.span(),
                    format!("{}: missing `url`", scope.key("notify.webhook")),
                    "for example: webhook = { url = \"https://hooks.slack.com/services/…\", \
                     format = \"slack\" }",
                );
                None
            }
        };
        let format = match &table.format {
            Some(v) => self.webhook_format(f, scope, v),
            None => Some(WebhookFormat::Json),
        };
        let headers = self.webhook_headers(f, scope, table);
        Some(Webhook {
            url: url?,
            format: format?,
            headers: headers?,
        })
    }

    fn webhook_format(
        &mut self,
        f: FileId,
        scope: &Scope,
        v: &Sp<String>,
    ) -> Option<WebhookFormat> {
        self.one_of(
            f,
            v,
            scope.key("notify.webhook.format"),
            "format",
            &[
                ("json", WebhookFormat::Json),
                ("slack", WebhookFormat::Slack),
                ("discord", WebhookFormat::Discord),
                ("teams", WebhookFormat::Teams),
                ("ntfy", WebhookFormat::Ntfy),
            ],
            "one of \"json\" (cronduct's own document), \"slack\" (also Mattermost and \
             Rocket.Chat), \"discord\", \"teams\" (a Teams workflow), \"ntfy\"",
        )
    }

    /// The headers, or `None` when one is not valid (each reported). A
    /// file's path is resolved against the folder of this config file.
    fn webhook_headers(
        &mut self,
        f: FileId,
        scope: &Scope,
        table: &RawWebhook,
    ) -> Option<BTreeMap<String, HeaderValue>> {
        let mut headers = BTreeMap::new();
        let mut ok = true;
        for (name, value) in table.headers.iter().flatten() {
            let key = format!("notify.webhook.headers.{}", name.get_ref());
            if reqwest::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_err() {
                ok = false;
                self.error_help(
                    f,
                    name.span(),
                    format!("{}: invalid header name", scope.key(&key)),
                    "a header name is letters, digits and `-`, like \"Authorization\"",
                );
                continue;
            }
            let checked = match value.get_ref() {
                RawHeaderValue::Text(text) => {
                    if reqwest::header::HeaderValue::from_str(text).is_ok() {
                        Some(HeaderValue::Text(text.clone()))
                    } else {
                        self.error_help(
                            f,
                            value.span(),
                            format!("{}: invalid header value", scope.key(&key)),
                            "a header value is one line of visible ASCII text; \
                             a secret can come from { file = \"/path\" }",
                        );
                        None
                    }
                }
                RawHeaderValue::File(path) => {
                    self.path(f, scope, &key, path).map(HeaderValue::File)
                }
            };
            match checked {
                Some(v) => {
                    headers.insert(name.get_ref().clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(headers)
    }
}
