//! Which account a command runs as (`user`, `group`), resolved in the
//! daemon before the fork so the child only makes plain system calls.
//!
//! Rules:
//! - No `user`/`group`: the daemon's own account, no switch.
//! - `user` naming the daemon's own account: no switch either (works
//!   without root).
//! - `user` naming another account: needs root; the child calls
//!   `setgroups` (the user's groups, from `getgrouplist`) → `setgid` (the
//!   user's primary group, or `group` when set) → `setuid`. std's
//!   `Command::uid()` is not used because it drops supplementary groups.
//! - `group` alone: only the gid changes (root only, unless it is already
//!   the daemon's gid); the supplementary groups stay the daemon's.

use std::ffi::CString;
use std::io;
use std::path::PathBuf;

use nix::unistd::{Gid, Group, Uid, User, getegid, geteuid, getgrouplist};

/// The account a command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    /// For `USER` and `LOGNAME`.
    pub(super) name: String,
    /// For `HOME` and the default working directory.
    pub(super) home: PathBuf,
    pub(super) switch: Switch,
}

/// What the child must change before `exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Switch {
    None,
    Group(libc::gid_t),
    User {
        uid: libc::uid_t,
        gid: libc::gid_t,
        groups: Vec<libc::gid_t>,
    },
}

impl Identity {
    /// Resolves the job's `user` and `group`. `Err` says why the job
    /// cannot run as that account.
    pub(super) fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Identity, String> {
        let euid = geteuid();
        let egid = getegid();
        let gid = group.map(lookup_group).transpose()?;
        let account = match user {
            Some(name) => Some(lookup_user(name)?),
            None => User::from_uid(euid).ok().flatten(),
        };
        let (name, home) = match &account {
            Some(u) => (u.name.clone(), u.dir.clone()),
            // A daemon uid without a passwd entry (common in containers).
            None => (euid.to_string(), PathBuf::from("/")),
        };
        let switch = match account.filter(|u| user.is_some() && u.uid != euid) {
            Some(u) => {
                if !euid.is_root() {
                    return Err(format!(
                        "running as user {:?} needs root (cronduct runs as {})",
                        u.name,
                        describe_self(euid)
                    ));
                }
                let gid = gid.unwrap_or(u.gid);
                let cname = CString::new(u.name.as_bytes())
                    .map_err(|_| format!("user name {:?} contains a NUL byte", u.name))?;
                let groups = getgrouplist(&cname, gid)
                    .map_err(|e| format!("cannot list the groups of user {:?}: {e}", u.name))?;
                Switch::User {
                    uid: u.uid.as_raw(),
                    gid: gid.as_raw(),
                    groups: groups.into_iter().map(Gid::as_raw).collect(),
                }
            }
            None => match gid.filter(|g| *g != egid) {
                Some(g) => {
                    if !euid.is_root() {
                        return Err(format!(
                            "running as group {:?} needs root (cronduct runs as {})",
                            group.unwrap_or_default(),
                            describe_self(euid)
                        ));
                    }
                    Switch::Group(g.as_raw())
                }
                None => Switch::None,
            },
        };
        Ok(Identity { name, home, switch })
    }

    /// Applies the switch in the forked child. Only async-signal-safe
    /// system calls: everything was prepared before the fork.
    pub(super) fn apply_in_child(&self) -> io::Result<()> {
        match &self.switch {
            Switch::None => Ok(()),
            Switch::Group(gid) => {
                // SAFETY: plain system call.
                check(unsafe { libc::setgid(*gid) })
            }
            Switch::User { uid, gid, groups } => {
                // SAFETY: `groups` is a live slice of `groups.len()` gids.
                check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })?;
                // SAFETY: plain system calls.
                check(unsafe { libc::setgid(*gid) })?;
                check(unsafe { libc::setuid(*uid) })
            }
        }
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn lookup_user(name: &str) -> Result<User, String> {
    User::from_name(name)
        .map_err(|e| format!("cannot look up user {name:?}: {e}"))?
        .ok_or_else(|| format!("unknown user {name:?}"))
}

fn lookup_group(name: &str) -> Result<Gid, String> {
    Group::from_name(name)
        .map_err(|e| format!("cannot look up group {name:?}: {e}"))?
        .map(|g| g.gid)
        .ok_or_else(|| format!("unknown group {name:?}"))
}

fn describe_self(euid: Uid) -> String {
    match User::from_uid(euid) {
        Ok(Some(u)) => format!("user {:?}", u.name),
        _ => format!("uid {euid}"),
    }
}
