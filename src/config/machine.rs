//! What validation asks of the machine it runs on: whether it runs as
//! root, which accounts exist, the host name, the system time zone and
//! the per-user state folder.
//!
//! Gathered here so that validation itself is pure: the daemon and
//! `cronduct check` pass [`Machine::this`], unit tests a made-up machine.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::zone::{Database, Zone};

/// A user or a group, for an account lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    User,
    Group,
}

/// Whether an account of that kind and name exists, or why the lookup
/// failed.
type Lookup = Box<dyn Fn(Account, &str) -> Result<bool, String> + Send + Sync>;

/// The facts about a machine that decide whether a configuration is valid
/// there and what its defaults are.
pub struct Machine {
    /// Root gets the system paths as defaults (`/var/lib/cronduct`).
    pub is_root: bool,
    /// The host name, for `[smtp] from`'s default.
    pub host_name: String,
    /// The name of the effective user: whom cron would mail about a
    /// crontab with no owner named.
    pub user_name: String,
    /// The zone of jobs with no `timezone` anywhere.
    pub time_zone: Zone,
    /// Where zone names are looked up.
    pub zones: Database,
    /// The state folder of a user other than root
    /// (`$XDG_STATE_HOME/cronduct`), `None` when there is none.
    pub user_state_dir: Option<PathBuf>,
    lookup: Lookup,
}

impl Machine {
    /// The machine this process runs on, as the effective user sees it.
    pub fn this() -> Machine {
        Machine {
            is_root: nix::unistd::geteuid().is_root(),
            host_name: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_string()),
            user_name: nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map_or_else(|| "root".to_string(), |u| u.name),
            time_zone: Database::global().system_zone(),
            zones: Database::global().clone(),
            user_state_dir: user_state_dir(),
            lookup: Box::new(|account, name| {
                match account {
                    Account::User => nix::unistd::User::from_name(name).map(|u| u.is_some()),
                    Account::Group => nix::unistd::Group::from_name(name).map(|g| g.is_some()),
                }
                .map_err(|e| e.to_string())
            }),
        }
    }

    /// A made-up machine whose accounts are those `lookup` knows; the
    /// other facts are public fields, to be set as a test needs.
    #[cfg(test)]
    pub fn fake(
        is_root: bool,
        lookup: impl Fn(Account, &str) -> Result<bool, String> + Send + Sync + 'static,
    ) -> Machine {
        Machine {
            is_root,
            host_name: "testhost".to_string(),
            user_name: "test".to_string(),
            time_zone: Zone::utc(),
            zones: Database::compiled_in(),
            user_state_dir: Some(PathBuf::from("/home/test/.local/state/cronduct")),
            lookup: Box::new(lookup),
        }
    }

    /// Whether the account exists, or why that cannot be told.
    pub fn has_account(&self, account: Account, name: &str) -> Result<bool, String> {
        (self.lookup)(account, name)
    }
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("is_root", &self.is_root)
            .field("host_name", &self.host_name)
            .field("time_zone", &self.time_zone)
            .field("user_state_dir", &self.user_state_dir)
            .finish_non_exhaustive()
    }
}

/// The per-user state directory: `$XDG_STATE_HOME/cronduct` (only when
/// absolute, as the XDG spec says), else `~/.local/state/cronduct` with
/// `~` from `HOME` or the password database.
fn user_state_dir() -> Option<PathBuf> {
    state_dir_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")).or_else(|| {
        let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok()??;
        Some(user.dir.join(".local/state/cronduct"))
    })
}

fn state_dir_from(xdg_state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg_state_home)
        .map(|xdg| xdg.join("cronduct"))
        .or_else(|| absolute(home).map(|home| home.join(".local/state/cronduct")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_user_state_dir() {
        let s = |v: &str| Some(OsString::from(v));
        assert_eq!(
            state_dir_from(s("/x/state"), s("/home/u")),
            Some(PathBuf::from("/x/state/cronduct"))
        );
        assert_eq!(
            state_dir_from(None, s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/cronduct"))
        );
        // A relative XDG_STATE_HOME is ignored, as the XDG spec says.
        assert_eq!(
            state_dir_from(s("rel"), s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/cronduct"))
        );
        assert_eq!(state_dir_from(None, None), None);
    }
}
