//! Containment of command attempts in cgroups (cronduct.toml(5), RUNNING A
//! JOB, Containment; docs/BEHAVIOUR.md).
//!
//! Decided once per process, at the first use: where the daemon can
//! create cgroup v2 groups (root, or a subtree delegated to its user), each
//! attempt runs in a cgroup of its own, `<jobs>/<job>-<run_id>-<attempt>`,
//! which its process joins before `exec`. `<jobs>` is `<own>/jobs` below
//! the daemon's own cgroup, or `/cronduct` when the daemon sits in the
//! root of the hierarchy. A timeout or cancel then ends every process of
//! the cgroup (`cgroup.kill`), also those that left the process group with
//! `setsid`; the cgroup is removed once empty. Elsewhere attempts run in
//! process groups only, and [`Containment::reason`] says why.
//!
//! `memory_max` and `cpu_max` need the `memory` and `cpu` controllers in
//! the attempts' cgroups. Enabling a controller for children is refused
//! in a cgroup that holds processes (cgroup v2's "no internal processes"
//! rule, which exempts only the root), so when the daemon's cgroup offers
//! them the daemon first moves itself into the leaf `<own>/daemon`: under
//! systemd with `Delegate=yes` its unit's cgroup then holds only the
//! `daemon` and `jobs` subtrees.
//!
//! This module never touches a cgroup it did not create, except for that
//! one move of the daemon itself.

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How attempts are contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A cgroup v2 group per attempt.
    Cgroup,
    /// The attempt's process group only.
    ProcessGroup,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Cgroup => "cgroup",
            Mode::ProcessGroup => "process-group",
        }
    }
}

/// What the daemon decided about containment, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containment {
    pub mode: Mode,
    /// For people: where the cgroups are made, or why they are not.
    pub reason: String,
    /// The parent of the attempts' cgroups, in `Cgroup` mode.
    jobs: Option<PathBuf>,
    /// Whether attempts' cgroups have the memory controller
    /// (`memory_max`, `memory.peak`).
    pub memory: bool,
    /// Whether they have the cpu controller (`cpu_max`).
    pub cpu: bool,
}

static CONTAINMENT: OnceLock<Containment> = OnceLock::new();

/// The process's containment, set up on the first call: the jobs'
/// parent cgroup is created and, where limits need it, the daemon moves
/// itself into its leaf. Never fails: what cannot be done is the reason
/// of process-group mode.
pub fn containment() -> &'static Containment {
    CONTAINMENT.get_or_init(|| {
        let facts = Facts::read();
        let plan = decide(&facts);
        set_up(plan)
    })
}

/// What [`containment`] would decide, without creating or moving
/// anything: for `cronduct check`, which runs as the daemon would but is
/// not the daemon.
pub fn probe() -> Containment {
    if let Some(c) = CONTAINMENT.get() {
        return c.clone();
    }
    let plan = decide(&Facts::read());
    match plan {
        Plan::ProcessGroup(reason) => process_group(reason),
        Plan::Cgroup {
            jobs,
            controllers,
            hierarchy,
            ..
        } => Containment {
            mode: Mode::Cgroup,
            reason: cgroup_reason(&hierarchy, &jobs, &controllers, None),
            memory: controllers.iter().any(|c| c == "memory"),
            cpu: controllers.iter().any(|c| c == "cpu"),
            jobs: Some(jobs),
        },
    }
}

/// Why the job's `memory_max` or `cpu_max` cannot be applied under `c`;
/// `None` when they can (or the job sets neither).
pub fn unmet_limits(job: &crate::config::Job, c: &Containment) -> Option<String> {
    let mut missing = Vec::new();
    if job.memory_max.is_some() && !c.memory {
        missing.push(("memory_max", "memory"));
    }
    if job.cpu_max.is_some() && !c.cpu {
        missing.push(("cpu_max", "cpu"));
    }
    if missing.is_empty() {
        return None;
    }
    let keys: Vec<&str> = missing.iter().map(|(k, _)| *k).collect();
    let why = match c.mode {
        Mode::ProcessGroup => format!("attempts do not run in cgroups: {}", c.reason),
        Mode::Cgroup => {
            let controllers: Vec<&str> = missing.iter().map(|(_, c)| *c).collect();
            format!(
                "the cgroup v2 {} {} not available to the attempts' cgroups",
                controllers.join(" and "),
                if controllers.len() == 1 {
                    "controller is"
                } else {
                    "controllers are"
                }
            )
        }
    };
    Some(format!(
        "job `{}`: {} cannot be applied and {} ignored: {why}",
        job.id,
        keys.join(" and "),
        if keys.len() == 1 { "is" } else { "are" }
    ))
}

/// Logs what [`unmet_limits`] finds, once per job and message: at start
/// and after each reload, so a job whose limits cannot be applied is
/// never silently run without them, and a reload does not repeat it.
pub fn log_unmet_limits<'a>(jobs: impl IntoIterator<Item = &'a crate::config::Job>) {
    static WARNED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let c = containment();
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for job in jobs {
        if let Some(message) = unmet_limits(job, c) {
            if warned.insert(message.clone()) {
                tracing::warn!(job = %job.id, "{message}");
            }
        }
    }
}

fn process_group(reason: String) -> Containment {
    Containment {
        mode: Mode::ProcessGroup,
        reason,
        jobs: None,
        memory: false,
        cpu: false,
    }
}

fn cgroup_reason(
    hierarchy: &Path,
    jobs: &Path,
    controllers: &[String],
    problem: Option<&str>,
) -> String {
    let limits = match (controllers.is_empty(), problem) {
        (_, Some(problem)) => format!("; memory_max and cpu_max cannot be applied: {problem}"),
        (true, None) => {
            "; no memory or cpu controller is available, so memory_max and cpu_max cannot be applied"
                .to_string()
        }
        (false, None) => format!("; controllers for limits: {}", controllers.join(", ")),
    };
    format!(
        "cgroup v2 at {}: each attempt runs in a cgroup under {}{limits}",
        hierarchy.display(),
        jobs.display()
    )
}

/// What containment is decided from, read from `/proc` and the cgroup
/// file system.
#[derive(Debug, Clone, Default)]
struct Facts {
    /// The mount point of the cgroup v2 hierarchy.
    hierarchy: Option<PathBuf>,
    /// The daemon's cgroup, as `/proc/self/cgroup` names it.
    own: Option<String>,
    euid: u32,
    /// Whether the daemon may create cgroups in its own and move
    /// processes there (its directory and `cgroup.procs` are writable).
    writable: bool,
    /// Whether the own cgroup is the hierarchy's real root, which has no
    /// `cgroup.type` (inside a cgroup namespace `/` is not the real root).
    real_root: bool,
    /// The own cgroup's `cgroup.controllers`.
    controllers: String,
}

impl Facts {
    fn read() -> Facts {
        let hierarchy = fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|m| hierarchy(&m));
        let own = fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|c| own_cgroup(&c));
        let euid = nix::unistd::geteuid().as_raw();
        let mut facts = Facts {
            euid,
            ..Facts::default()
        };
        if let (Some(h), Some(o)) = (&hierarchy, &own) {
            let dir = join(h, o);
            facts.writable = writable(&dir) && writable(&dir.join("cgroup.procs"));
            facts.real_root = !dir.join("cgroup.type").exists();
            facts.controllers =
                fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        }
        facts.hierarchy = hierarchy;
        facts.own = own;
        facts
    }
}

/// What to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    ProcessGroup(String),
    Cgroup {
        hierarchy: PathBuf,
        /// The daemon's cgroup directory.
        own: PathBuf,
        jobs: PathBuf,
        /// Where the daemon moves itself before enabling controllers;
        /// `None` in the real root or when there is nothing to enable.
        daemon_leaf: Option<PathBuf>,
        /// The controllers to enable for the attempts (memory, cpu).
        controllers: Vec<String>,
    },
}

/// The decision, from the facts alone.
fn decide(f: &Facts) -> Plan {
    let Some(hierarchy) = &f.hierarchy else {
        return Plan::ProcessGroup("no cgroup v2 hierarchy is mounted".to_string());
    };
    let Some(own) = &f.own else {
        return Plan::ProcessGroup(
            "/proc/self/cgroup names no cgroup v2 group for the daemon".to_string(),
        );
    };
    let own_dir = join(hierarchy, own);
    if !f.writable {
        return Plan::ProcessGroup(format!(
            "the daemon's cgroup {} is not writable by uid {}: run cronduct as root, or under \
             systemd with Delegate=yes",
            own_dir.display(),
            f.euid
        ));
    }
    let controllers: Vec<String> = f
        .controllers
        .split_whitespace()
        .filter(|c| matches!(*c, "memory" | "cpu"))
        .map(str::to_string)
        .collect();
    let jobs = if f.real_root {
        own_dir.join("cronduct")
    } else {
        own_dir.join("jobs")
    };
    let daemon_leaf = (!f.real_root && !controllers.is_empty()).then(|| own_dir.join("daemon"));
    Plan::Cgroup {
        hierarchy: hierarchy.clone(),
        own: own_dir,
        jobs,
        daemon_leaf,
        controllers,
    }
}

fn set_up(plan: Plan) -> Containment {
    let (hierarchy, own, jobs, daemon_leaf, controllers) = match plan {
        Plan::ProcessGroup(reason) => return process_group(reason),
        Plan::Cgroup {
            hierarchy,
            own,
            jobs,
            daemon_leaf,
            controllers,
        } => (hierarchy, own, jobs, daemon_leaf, controllers),
    };
    if let Err(e) = mkdir(&jobs) {
        return process_group(format!("cannot create the cgroup {}: {e}", jobs.display()));
    }
    let enabled = enable(&own, &jobs, daemon_leaf.as_deref(), &controllers);
    let (controllers, problem) = match enabled {
        Ok(()) => (controllers, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Containment {
        mode: Mode::Cgroup,
        reason: cgroup_reason(&hierarchy, &jobs, &controllers, problem.as_deref()),
        memory: controllers.iter().any(|c| c == "memory"),
        cpu: controllers.iter().any(|c| c == "cpu"),
        jobs: Some(jobs),
    }
}

/// Moves the daemon into its leaf (when there is one) and enables the
/// controllers in its cgroup and in the jobs' parent.
fn enable(
    own: &Path,
    jobs: &Path,
    leaf: Option<&Path>,
    controllers: &[String],
) -> Result<(), String> {
    if controllers.is_empty() {
        return Ok(());
    }
    if let Some(leaf) = leaf {
        mkdir(leaf).map_err(|e| format!("cannot create {}: {e}", leaf.display()))?;
        write(&leaf.join("cgroup.procs"), "0")
            .map_err(|e| format!("cannot move the daemon into {}: {e}", leaf.display()))?;
    }
    let line: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
    let line = line.join(" ");
    for dir in [own, jobs] {
        let file = dir.join("cgroup.subtree_control");
        write(&file, &line)
            .map_err(|e| format!("cannot write {line:?} to {}: {e}", file.display()))?;
    }
    Ok(())
}

/// The mount point of the cgroup v2 hierarchy in `/proc/self/mountinfo`
/// (on a hybrid system `/sys/fs/cgroup/unified`).
fn hierarchy(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, rest) = line.split_once(" - ")?;
        (rest.split_whitespace().next()? == "cgroup2")
            .then(|| mount.split_whitespace().nth(4).map(unescape))?
            .map(PathBuf::from)
    })
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The v2 group of `/proc/self/cgroup`: the `0::/path` line.
fn own_cgroup(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end().to_string())
        .filter(|p| p.starts_with('/'))
}

/// `hierarchy` + the cgroup path (which starts with `/`).
fn join(hierarchy: &Path, cgroup: &str) -> PathBuf {
    hierarchy.join(cgroup.trim_start_matches('/'))
}

fn writable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

fn mkdir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Writes a cgroup control file in one `write`, as the kernel wants.
fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}

/// The cgroup limits of one attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct CgroupLimits {
    pub(super) memory_max: Option<u64>,
    pub(super) cpu_max: Option<f64>,
}

/// The period of `cpu.max`: the kernel's default.
const CPU_PERIOD_US: u64 = 100_000;

/// One attempt's cgroup.
#[derive(Debug)]
pub(super) struct AttemptCgroup {
    dir: PathBuf,
    /// `memory_max` as configured, for the out-of-memory message.
    memory_max: Option<u64>,
}

/// What an attempt's cgroup accounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct CgroupUsage {
    pub(super) cpu_user_ms: u64,
    pub(super) cpu_system_ms: u64,
    /// `memory.peak` in KiB, where the memory controller gives one.
    pub(super) memory_peak_kib: Option<u64>,
    /// `oom_kill` of `memory.events`: processes the OOM killer ended.
    pub(super) oom_kills: u64,
}

impl AttemptCgroup {
    /// Creates the attempt's cgroup with its limits, and opens its
    /// `cgroup.procs` for the child to join before `exec`. `Ok(None)` in
    /// process-group mode. The limits whose controller is missing are
    /// not written (the daemon warned about them once, at load).
    pub(super) fn create(
        job: &str,
        run_id: &str,
        attempt: u32,
        limits: CgroupLimits,
    ) -> io::Result<Option<(AttemptCgroup, OwnedFd)>> {
        let c = containment();
        let Some(jobs) = &c.jobs else {
            return Ok(None);
        };
        let dir = leaf(jobs, &format!("{job}-{run_id}-{attempt}"))?;
        let group = AttemptCgroup {
            dir,
            memory_max: limits.memory_max.filter(|_| c.memory),
        };
        let applied = group.apply(c, limits);
        let procs = applied.and_then(|()| {
            fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(group.dir.join("cgroup.procs"))
        });
        match procs {
            Ok(file) => Ok(Some((group, OwnedFd::from(file)))),
            Err(e) => {
                let _ = fs::remove_dir(&group.dir);
                Err(e)
            }
        }
    }

    fn apply(&self, c: &Containment, limits: CgroupLimits) -> io::Result<()> {
        if let (Some(max), true) = (limits.memory_max, c.memory) {
            write(&self.dir.join("memory.max"), &max.to_string())?;
            // Without swap the limit is what the attempt gets; with it a
            // job over its limit would crawl through swap instead of
            // ending. Absent where the kernel has no swap accounting.
            let swap = self.dir.join("memory.swap.max");
            if swap.exists() {
                write(&swap, "0")?;
            }
        }
        if let (Some(fraction), true) = (limits.cpu_max, c.cpu) {
            write(&self.dir.join("cpu.max"), &cpu_max_line(fraction))?;
        }
        Ok(())
    }

    /// The pids in the cgroup.
    pub(super) fn pids(&self) -> Vec<libc::pid_t> {
        fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Sends `signal` to every process of the cgroup.
    pub(super) fn signal(&self, signal: nix::sys::signal::Signal) {
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }

    /// Kills every process of the cgroup with `cgroup.kill` (Linux 5.14),
    /// which also catches processes forked meanwhile; on older kernels
    /// SIGKILL to each member until none is left.
    pub(super) fn kill(&self) {
        if write(&self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// Whether any process is left in the cgroup (`cgroup.events`);
    /// `true` when it cannot be read but the directory is there.
    pub(super) fn populated(&self) -> bool {
        match fs::read_to_string(self.dir.join("cgroup.events")) {
            Ok(events) => events
                .lines()
                .any(|l| l.split_whitespace().eq(["populated", "1"])),
            Err(_) => self.dir.exists() && !self.pids().is_empty(),
        }
    }

    /// The cgroup's accounting so far.
    pub(super) fn usage(&self) -> CgroupUsage {
        let stat = fs::read_to_string(self.dir.join("cpu.stat")).unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == name).then(|| v.trim().parse::<u64>().ok())?
            })
        };
        let peak = fs::read_to_string(self.dir.join("memory.peak"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let events = fs::read_to_string(self.dir.join("memory.events")).unwrap_or_default();
        CgroupUsage {
            cpu_user_ms: field(&stat, "user_usec").unwrap_or(0) / 1000,
            cpu_system_ms: field(&stat, "system_usec").unwrap_or(0) / 1000,
            memory_peak_kib: peak.map(|b| b / 1024),
            oom_kills: field(&events, "oom_kill").unwrap_or(0),
        }
    }

    /// The `error` of an attempt the OOM killer ended.
    pub(super) fn oom_message(&self) -> String {
        match self.memory_max {
            Some(max) => format!(
                "out of memory (memory_max {})",
                crate::units::format_size(max)
            ),
            None => "out of memory".to_string(),
        }
    }

    /// Removes the cgroup, now if it is empty, else (background processes
    /// the attempt left, which are left alone as cron leaves them) as soon
    /// as its last process has ended. Needs a tokio runtime for the
    /// latter; without one the empty directory stays behind.
    pub(super) fn remove(self) {
        if !self.populated() && fs::remove_dir(&self.dir).is_ok() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            // No event to wait for short of inotify on cgroup.events;
            // leftovers are rare and a check every few seconds is cheap.
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                if !self.dir.exists() {
                    return;
                }
                if !self.populated() {
                    match fs::remove_dir(&self.dir) {
                        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                        _ => return,
                    }
                }
            }
        });
    }
}

/// Creates the attempt's cgroup `<jobs>/<name>`, never one that exists:
/// another process with the same name there (a second daemon on the
/// same state, or a test) gets `<name>.<n>`, so no attempt joins or
/// removes another's.
fn leaf(jobs: &Path, name: &str) -> io::Result<PathBuf> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut dir = jobs.join(name);
    loop {
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                dir = jobs.join(format!("{name}.{n}"));
            }
            Err(e) => return Err(e),
        }
    }
}

/// `cpu.max` for a fraction of one CPU: "<quota> <period>" in µs.
fn cpu_max_line(fraction: f64) -> String {
    // Validation keeps the fraction within 0.01..=1024.
    let quota = (fraction * CPU_PERIOD_US as f64).round().max(1000.0) as u64;
    format!("{quota} {CPU_PERIOD_US}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hierarchy_is_found_in_mountinfo() {
        let hybrid = "\
25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        assert_eq!(
            hierarchy(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified =
            "30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(hierarchy(unified), Some(PathBuf::from("/sys/fs/cgroup")));
        let spaced = "30 25 0:26 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(hierarchy(spaced), Some(PathBuf::from("/mnt/my cg")));
        assert_eq!(
            hierarchy("42 31 0:39 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n"),
            None
        );
    }

    #[test]
    fn the_own_group_is_the_v2_line() {
        assert_eq!(
            own_cgroup("4:memory:/x\n0::/system.slice/cronduct.service\n"),
            Some("/system.slice/cronduct.service".to_string())
        );
        assert_eq!(own_cgroup("0::/\n"), Some("/".to_string()));
        assert_eq!(own_cgroup("4:memory:/x\n"), None);
    }

    fn facts() -> Facts {
        Facts {
            hierarchy: Some(PathBuf::from("/sys/fs/cgroup")),
            own: Some("/system.slice/cronduct.service".to_string()),
            euid: 0,
            writable: true,
            real_root: false,
            controllers: "cpuset cpu io memory pids".to_string(),
        }
    }

    /// The decision for root, a delegated subtree, an unprivileged user
    /// and machines without cgroup v2.
    #[test]
    fn containment_is_decided_from_what_the_daemon_may_do() {
        let unit = PathBuf::from("/sys/fs/cgroup/system.slice/cronduct.service");
        // Delegated (or root) in a unit with controllers: the daemon moves
        // into its leaf so that memory and cpu can be enabled.
        assert_eq!(
            decide(&facts()),
            Plan::Cgroup {
                hierarchy: PathBuf::from("/sys/fs/cgroup"),
                own: unit.clone(),
                jobs: unit.join("jobs"),
                daemon_leaf: Some(unit.join("daemon")),
                controllers: vec!["cpu".to_string(), "memory".to_string()],
            }
        );
        // The real root (this hybrid machine): no move, jobs under
        // /cronduct, and no controllers to enable.
        let root = Facts {
            hierarchy: Some(PathBuf::from("/sys/fs/cgroup/unified")),
            own: Some("/".to_string()),
            real_root: true,
            controllers: "hugetlb".to_string(),
            ..facts()
        };
        assert_eq!(
            decide(&root),
            Plan::Cgroup {
                hierarchy: PathBuf::from("/sys/fs/cgroup/unified"),
                own: PathBuf::from("/sys/fs/cgroup/unified"),
                jobs: PathBuf::from("/sys/fs/cgroup/unified/cronduct"),
                daemon_leaf: None,
                controllers: vec![],
            }
        );
        // No controllers offered: nothing to enable, so no move either.
        let bare = Facts {
            controllers: String::new(),
            ..facts()
        };
        assert!(matches!(
            decide(&bare),
            Plan::Cgroup {
                daemon_leaf: None,
                ..
            }
        ));
        // Not root, not delegated.
        let user = Facts {
            euid: 1000,
            writable: false,
            own: Some("/user.slice/user-1000.slice/session-2.scope".to_string()),
            ..facts()
        };
        assert_eq!(
            decide(&user),
            Plan::ProcessGroup(
                "the daemon's cgroup /sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope \
                 is not writable by uid 1000: run cronduct as root, or under systemd with \
                 Delegate=yes"
                    .to_string()
            )
        );
        let none = Facts {
            hierarchy: None,
            ..facts()
        };
        assert_eq!(
            decide(&none),
            Plan::ProcessGroup("no cgroup v2 hierarchy is mounted".to_string())
        );
        let v1_only = Facts {
            own: None,
            ..facts()
        };
        assert!(
            matches!(decide(&v1_only), Plan::ProcessGroup(r) if r.contains("/proc/self/cgroup"))
        );
    }

    #[test]
    fn cpu_max_is_a_quota_of_the_period() {
        assert_eq!(cpu_max_line(0.5), "50000 100000");
        assert_eq!(cpu_max_line(2.0), "200000 100000");
        assert_eq!(cpu_max_line(0.01), "1000 100000");
    }

    #[test]
    fn limits_without_controllers_are_named() {
        let mut job = crate::config::Job::new(
            "big",
            "@hourly".parse().expect("schedule"),
            crate::zone::Zone::utc(),
            crate::config::Action::Command(crate::config::Command::Shell("true".into())),
            "jobs.toml",
        );
        let pg = process_group("no cgroup v2 hierarchy is mounted".to_string());
        assert_eq!(unmet_limits(&job, &pg), None);
        job.memory_max = Some(1 << 30);
        assert_eq!(
            unmet_limits(&job, &pg).as_deref(),
            Some(
                "job `big`: memory_max cannot be applied and is ignored: attempts do not run in \
                 cgroups: no cgroup v2 hierarchy is mounted"
            )
        );
        job.cpu_max = Some(0.5);
        let cg = Containment {
            mode: Mode::Cgroup,
            reason: String::new(),
            jobs: None,
            memory: false,
            cpu: false,
        };
        assert_eq!(
            unmet_limits(&job, &cg).as_deref(),
            Some(
                "job `big`: memory_max and cpu_max cannot be applied and are ignored: the cgroup \
                 v2 memory and cpu controllers are not available to the attempts' cgroups"
            )
        );
        let full = Containment {
            memory: true,
            cpu: true,
            ..cg
        };
        assert_eq!(unmet_limits(&job, &full), None);
    }
}
