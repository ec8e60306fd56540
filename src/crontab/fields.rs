//! The five time fields of a crontab line, judged by Debian cron's own
//! grammar before the schedule engine reads them.
//!
//! cronduct's engine accepts more than cron does (`L`, `W`, `#`, `a/n`,
//! seconds), so a line cron would refuse, or read differently, must be
//! caught here: converting it would change when it runs. What cron's
//! parser accepts (`get_list`, `get_range`, `get_number` in its
//! `entry.c`):
//!
//! - a field is a comma-separated list of items;
//! - an item is `*`, `*/step`, `a`, `a-b` or `a-b/step`;
//! - a value is digits, or a three-letter month or day name in any case
//!   (`jan`, `Mon`), in month and day-of-week only;
//! - minute 0–59, hour 0–23, day of month 1–31, month 1–12, day of week
//!   0–7 (0 and 7 are Sunday).
//!
//! Where cron's reading is surprising, the line is refused with the reason
//! rather than converted: `5/10` (cron skips what follows a single value,
//! so it means `5`, where other crons read `5-59/10`), a range that runs
//! backwards (`fri-sun`: cron sets no day at all), a zero step, and text
//! cron silently ignores after a valid item.

use std::ops::Range;

/// One of the five fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    low: u32,
    high: u32,
    names: &'static [&'static str],
    help: &'static str,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

pub(crate) const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        low: 0,
        high: 59,
        names: &[],
        help: "a minute from 0 to 59",
    },
    Field {
        name: "hour",
        low: 0,
        high: 23,
        names: &[],
        help: "an hour from 0 to 23",
    },
    Field {
        name: "day of month",
        low: 1,
        high: 31,
        names: &[],
        help: "a day of the month from 1 to 31",
    },
    Field {
        name: "month",
        low: 1,
        high: 12,
        names: MONTHS,
        help: "a month from 1 to 12, or jan to dec",
    },
    Field {
        name: "day of week",
        low: 0,
        high: 7,
        names: DAYS,
        help: "a day of the week from 0 to 7 (0 and 7 are Sunday), or sun to sat",
    },
];

/// Why a field is refused: the byte range within the field, the message
/// and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub span: Range<usize>,
    pub message: String,
    pub help: String,
}

impl Field {
    /// Checks `text` (one whitespace-free field) against cron's grammar.
    pub(crate) fn check(&self, text: &str) -> Result<(), FieldError> {
        let mut at = 0;
        for item in text.split(',') {
            self.item(item).map_err(|mut e| {
                e.span = e.span.start + at..e.span.end + at;
                e
            })?;
            at += item.len() + 1;
        }
        Ok(())
    }

    fn error(&self, span: Range<usize>, message: String) -> FieldError {
        FieldError {
            span,
            message: format!("{} field: {message}", self.name),
            help: format!(
                "{}; ranges a-b, steps */n or a-b/n, lists with commas",
                self.help
            ),
        }
    }

    fn item(&self, item: &str) -> Result<(), FieldError> {
        let whole = 0..item.len();
        if item.is_empty() {
            return Err(self.error(whole, "empty list item".to_string()));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some((base.len() + 1, step))),
            None => (item, None),
        };
        let ranged = if base == "*" {
            true
        } else {
            match base.split_once('-') {
                Some((a, b)) => {
                    let lo = self.value(a, 0)?;
                    let hi = self.value(b, a.len() + 1)?;
                    if lo > hi {
                        return Err(self.error(
                            0..base.len(),
                            format!(
                                "the range {base} runs backwards, and Debian's cron sets no \
                                 value from it"
                            ),
                        ));
                    }
                    true
                }
                None => {
                    self.value(base, 0)?;
                    false
                }
            }
        };
        if let Some((offset, step)) = step {
            let span = offset..offset + step.len();
            if !ranged {
                return Err(self.error(
                    whole,
                    format!(
                        "{item}: a step after a single value is not cron syntax (Debian's cron \
                         ignores it and reads {base}, other crons read {base}-{}/{step})",
                        self.high
                    ),
                ));
            }
            if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.error(span, format!("the step {step:?} is not a number")));
            }
            match step.parse::<u32>() {
                Ok(0) => return Err(self.error(span, "a step of 0".to_string())),
                Ok(_) => {}
                Err(_) => return Err(self.error(span, format!("the step {step} is too large"))),
            }
        }
        Ok(())
    }

    /// The number a value stands for; `offset` is where it starts in the
    /// item, for the error's span.
    fn value(&self, text: &str, offset: usize) -> Result<u32, FieldError> {
        let span = offset..offset + text.len().max(1);
        if text.is_empty() {
            return Err(self.error(span, "a value is missing".to_string()));
        }
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            return Ok(self.low + i as u32);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            let what = if self.names.is_empty() {
                format!("{text:?} is not a number")
            } else {
                format!("{text:?} is not a number or a three-letter name")
            };
            return Err(self.error(span, what));
        }
        match text.parse::<u32>() {
            Ok(n) if (self.low..=self.high).contains(&n) => Ok(n),
            _ => Err(self.error(
                span,
                format!("{text} is out of range {}-{}", self.low, self.high),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cron_accepts() {
        let [minute, hour, dom, month, dow] = FIELDS;
        for ok in ["*", "*/5", "0", "0-59", "0-59/7", "1,2,5-9", "*/100"] {
            assert_eq!(minute.check(ok), Ok(()), "{ok}");
        }
        assert_eq!(hour.check("23"), Ok(()));
        assert_eq!(dom.check("1-31/2"), Ok(()));
        for ok in ["JAN", "jan-Mar", "1,feb,12", "*/3"] {
            assert_eq!(month.check(ok), Ok(()), "{ok}");
        }
        for ok in ["0", "7", "mon-fri", "SUN", "5-7", "sat,sun"] {
            assert_eq!(dow.check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_cron_refuses_or_misreads() {
        let [minute, hour, dom, month, dow] = FIELDS;
        let cases: &[(Field, &str, Range<usize>, &str)] = &[
            (minute, "60", 0..2, "60 is out of range 0-59"),
            (minute, "5/10", 0..4, "a step after a single value"),
            (minute, "*/0", 2..3, "a step of 0"),
            (minute, "*/x", 2..3, "is not a number"),
            (minute, "1,,2", 2..2, "empty list item"),
            (minute, "1-", 2..3, "a value is missing"),
            (hour, "24", 0..2, "out of range 0-23"),
            (hour, "L", 0..1, "\"L\" is not a number"),
            (dom, "0", 0..1, "out of range 1-31"),
            (dom, "15W", 0..3, "not a number"),
            (month, "13", 0..2, "out of range 1-12"),
            (
                month,
                "january",
                0..7,
                "not a number or a three-letter name",
            ),
            (dow, "fri-sun", 0..7, "runs backwards"),
            (dow, "5#2", 0..3, "not a number"),
            (dow, "1,8", 2..3, "out of range 0-7"),
        ];
        for (field, text, span, message) in cases {
            let e = field.check(text).expect_err(text);
            assert_eq!(&e.span, span, "{text}: {e:?}");
            assert!(e.message.contains(message), "{text}: {}", e.message);
            assert!(e.message.starts_with(field.name), "{}", e.message);
        }
    }
}
