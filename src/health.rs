//! A job's health (cronduct.toml(5) JOBS, `health`): one word for "does this
//! job need attention", shown in the job list and detail, the CLI `jobs`
//! table and `/metrics`, and behind `/health`'s verdict on critical jobs.
//!
//! A pure function of what the scheduler knows (enabled, paused, slow,
//! overdue) and what the history index knows (the last finished run's
//! final status); it reads no clock and holds no state, so every caller
//! gets the same word for the same inputs.

use serde::{Deserialize, Serialize};

use crate::record::Status;

/// The health of one job. Several may apply at once; [`Health::of`]
/// picks one by the precedence written in docs/BEHAVIOUR.md (Job health),
/// the order of the variants here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// `enabled = false`: it never runs, so nothing else about it matters.
    Disabled,
    /// Paused by an operator, who knows it is not running.
    Paused,
    /// A run is still going past the job's `warn_after`.
    Slow,
    /// The last run's final status is a failure.
    Failing,
    /// No successful run within `expect_success_within`.
    Overdue,
    /// Configured, but no run has finished yet.
    NeverRun,
    /// The last run succeeded (or was cancelled), and nothing above applies.
    Ok,
}

impl Health {
    /// Every state, in order of precedence: the label values of
    /// `cronduct_job_health{state}` and the keys of the status counts.
    pub const ALL: [Health; 7] = [
        Health::Disabled,
        Health::Paused,
        Health::Slow,
        Health::Failing,
        Health::Overdue,
        Health::NeverRun,
        Health::Ok,
    ];

    /// The health of a job from its inputs: the first state of
    /// [`Health::ALL`] that applies. `last` is the final status of the
    /// job's latest finished run (a run waiting for its retry has not
    /// finished). A cancelled run is no failure (an operator ended it), so
    /// it leaves the job `ok`.
    pub fn of(inputs: HealthInputs) -> Health {
        let HealthInputs {
            enabled,
            paused,
            slow,
            overdue,
            last,
        } = inputs;
        if !enabled {
            Health::Disabled
        } else if paused {
            Health::Paused
        } else if slow {
            Health::Slow
        } else if last.is_some_and(Status::is_failure) {
            Health::Failing
        } else if overdue {
            Health::Overdue
        } else if last.is_none() {
            Health::NeverRun
        } else {
            Health::Ok
        }
    }

    /// The snake_case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Disabled => "disabled",
            Health::Paused => "paused",
            Health::Slow => "slow",
            Health::Failing => "failing",
            Health::Overdue => "overdue",
            Health::NeverRun => "never_run",
            Health::Ok => "ok",
        }
    }

    /// Whether a `critical` job in this state turns `/health` `degraded`.
    pub fn alarms_when_critical(self) -> bool {
        matches!(self, Health::Failing | Health::Overdue)
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Health::of`] decides from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthInputs {
    pub enabled: bool,
    pub paused: bool,
    /// A run of the job is past its `warn_after`.
    pub slow: bool,
    /// The job has had no success within its `expect_success_within`.
    pub overdue: bool,
    /// The final status of the latest finished run; `None` before any.
    pub last: Option<Status>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> HealthInputs {
        HealthInputs {
            enabled: true,
            ..HealthInputs::default()
        }
    }

    #[test]
    fn each_state_and_the_precedence_between_them() {
        let failed = Some(Status::Failed);
        let cases = [
            (on(), Health::NeverRun),
            (
                HealthInputs {
                    last: Some(Status::Success),
                    ..on()
                },
                Health::Ok,
            ),
            (
                HealthInputs {
                    last: Some(Status::Cancelled),
                    ..on()
                },
                Health::Ok,
            ),
            (
                HealthInputs {
                    last: failed,
                    ..on()
                },
                Health::Failing,
            ),
            (
                HealthInputs {
                    last: Some(Status::Timeout),
                    ..on()
                },
                Health::Failing,
            ),
            (
                HealthInputs {
                    last: Some(Status::Lost),
                    ..on()
                },
                Health::Failing,
            ),
            (
                HealthInputs {
                    last: Some(Status::Error),
                    ..on()
                },
                Health::Failing,
            ),
            (
                HealthInputs {
                    overdue: true,
                    ..on()
                },
                Health::Overdue,
            ),
            (
                HealthInputs {
                    overdue: true,
                    last: Some(Status::Success),
                    ..on()
                },
                Health::Overdue,
            ),
            (
                HealthInputs {
                    overdue: true,
                    last: failed,
                    ..on()
                },
                Health::Failing,
            ),
            (
                HealthInputs {
                    slow: true,
                    last: failed,
                    overdue: true,
                    ..on()
                },
                Health::Slow,
            ),
            (
                HealthInputs {
                    paused: true,
                    slow: true,
                    last: failed,
                    ..on()
                },
                Health::Paused,
            ),
            (
                HealthInputs {
                    paused: true,
                    ..HealthInputs::default()
                },
                Health::Disabled,
            ),
            (
                HealthInputs {
                    last: failed,
                    ..HealthInputs::default()
                },
                Health::Disabled,
            ),
        ];
        for (inputs, want) in cases {
            assert_eq!(Health::of(inputs), want, "{inputs:?}");
        }
    }

    #[test]
    fn serialised_in_snake_case_as_named() {
        for h in Health::ALL {
            let json = serde_json::to_value(h).expect("serialise");
            assert_eq!(json, h.as_str());
            assert_eq!(serde_json::from_value::<Health>(json).expect("parse"), h);
        }
    }
}
