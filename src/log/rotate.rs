//! The rotated files next to the log: `runs.jsonl.1` (newest) …
//! `runs.jsonl.N` (oldest), and how rotation shifts them.
//!
//! The history index names files by *generation*, a number that grows by
//! one at each rotation: the current file is generation `current`, and
//! `runs.jsonl.i` is generation `current - i`. A record's generation never
//! changes, while its file name does.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// More rotated files than this are never looked for: a guard against a
/// directory full of unrelated `runs.jsonl.<n>` names.
const MAX_ROTATED: u32 = 10_000;

/// `runs.jsonl.<i>`; `i = 0` is the log file itself.
pub(crate) fn rotated_path(base: &Path, i: u32) -> PathBuf {
    if i == 0 {
        return base.to_path_buf();
    }
    let mut name = OsString::from(base.as_os_str());
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

/// The file that holds generation `seg` while the current file is
/// generation `current`.
pub(crate) fn segment_path(base: &Path, current: u32, seg: u32) -> PathBuf {
    rotated_path(base, current.saturating_sub(seg))
}

/// How many rotated files exist: `runs.jsonl.1` … `runs.jsonl.<n>` without
/// a gap (a file after a gap is not part of the sequence and is ignored).
pub(crate) fn count_rotated(base: &Path) -> u32 {
    (1..=MAX_ROTATED)
        .take_while(|&i| rotated_path(base, i).exists())
        .count() as u32
}

/// Removes `path`; a file that is already gone is fine.
fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Shifts the files one place: `.keep` (and any older file left over from
/// a larger `log_keep`) is deleted, `.i` becomes `.i+1`, and the log file
/// becomes `.1`, so the log path is free for a new file. `keep` is at
/// least 1 (the config refuses `log_keep = 0`; it is treated as 1 here).
/// Renames go oldest first, so a failure part-way never overwrites a file
/// that has not been moved yet.
pub(crate) fn shift(base: &Path, keep: u32) -> io::Result<()> {
    let keep = keep.max(1);
    let mut i = keep;
    while i <= MAX_ROTATED && rotated_path(base, i).exists() {
        remove_if_exists(&rotated_path(base, i))?;
        i += 1;
    }
    for i in (1..keep).rev() {
        match fs::rename(rotated_path(base, i), rotated_path(base, i + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fs::rename(base, rotated_path(base, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<(String, String)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .expect("read dir")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read_to_string(e.path()).expect("read"),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn shift_moves_every_file_and_deletes_beyond_keep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("runs.jsonl");
        for (i, body) in ["cur", "one", "two", "three", "four"].iter().enumerate() {
            fs::write(rotated_path(&base, i as u32), body).expect("write");
        }
        shift(&base, 3).expect("shift");
        assert_eq!(
            names(dir.path()),
            vec![
                ("runs.jsonl.1".into(), "cur".into()),
                ("runs.jsonl.2".into(), "one".into()),
                ("runs.jsonl.3".into(), "two".into()),
            ]
        );
        assert_eq!(count_rotated(&base), 3);
    }

    #[test]
    fn generations_map_to_names() {
        let base = Path::new("/l/runs.jsonl");
        assert_eq!(segment_path(base, 7, 7), Path::new("/l/runs.jsonl"));
        assert_eq!(segment_path(base, 7, 5), Path::new("/l/runs.jsonl.2"));
    }
}
