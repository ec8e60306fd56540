//! The integration tests: one program, so the library and its test
//! dependencies are linked once instead of once per file. Each module is
//! one area as a user or a client meets it; `support` holds the fixtures
//! they share.

mod support;

mod action_command;
mod action_http;
mod api_audit;
mod api_cli;
mod api_http;
mod api_manage;
mod api_robustness;
mod api_roles;
mod check;
mod cluster;
mod cluster_faults;
mod cluster_history;
mod crontab_import;
mod crontab_inplace;
mod daemon_alerts;
mod daemon_cli;
mod daemon_containment;
mod daemon_faults;
mod daemon_journal;
mod daemon_lifecycle;
mod daemon_log_schema;
mod daemon_notify;
mod daemon_output;
mod daemon_pause;
mod daemon_reload;
mod daemon_results;
mod daemon_runs;
mod daemon_secrets;
mod daemon_stdin;
mod daemon_systemd;
mod log_history;
mod log_recover;
mod log_writer;
mod man_pages;
mod next_cli;
mod notify;
mod notify_formats;
mod schedule_reference;
mod ui_browser;
