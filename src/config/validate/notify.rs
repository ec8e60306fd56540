//! `notify = { … }`: where notices go and which outcomes send them.

use super::Validator;
use crate::config::diagnostic::FileId;
use crate::config::model::{Notify, NotifyOn};
use crate::config::raw::{RawNotify, Scope, Sp};

impl Validator<'_> {
    /// `Some(None)` for `notify = {}`, which switches off a `[defaults]`
    /// notify table: a job's table replaces that one as a whole. A table
    /// with `on` or `after` but nowhere to send is refused.
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
        let webhook = match &raw.webhook {
            Some(v) => match self.url(f, scope, "notify.webhook", v) {
                Some(url) => Some(url),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
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
                    "list one or more of \"failure\", \"recovery\", \"success\"",
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
                    ],
                    "one of \"failure\", \"recovery\", \"success\"",
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
        if raw.email.is_none() && raw.webhook.is_none() {
            if raw.on.is_some() || raw.after.is_some() {
                self.error_help(
                    f,
                    n.span(),
                    format!("{}: nowhere to send notifications", scope.key(key)),
                    "add `email = [\"admin@example.com\"]` or `webhook = \"https://…\"`; \
                     `notify = {}` switches notifications off",
                );
                return None;
            }
            return Some(None);
        }
        if !ok {
            return None;
        }
        if email.is_empty() && webhook.is_none() {
            return Some(None);
        }
        Some(Some(Notify {
            email,
            webhook: webhook.map(crate::config::model::Webhook::json),
            ping: None,
            on,
            after,
        }))
    }
}
