//! The TOML reader and validator, through the entry `cronduct check` and
//! every reload use (`config::load` on a file): any bytes give a config or
//! errors, never a panic, and the report stays bounded however long the
//! input (docs/BEHAVIOUR.md, Configuration).
#![no_main]

use std::sync::LazyLock;

use cronduct::config::{self, MAX_PROBLEMS};
use libfuzzer_sys::fuzz_target;

/// One folder for the whole run: the file is rewritten for each input.
static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("a temp dir for the fuzzed config"));

/// Generous for one rendered problem: a 160-char line window, a 300-char
/// message, a few 1,000-char notes and help, up to 4 bytes a char.
const PER_PROBLEM: usize = 24 << 10;

fuzz_target!(|data: &[u8]| {
    let path = DIR.path().join("jobs.toml");
    std::fs::write(&path, data).expect("write the fuzzed config");
    if let Err(errors) = config::load(&path) {
        assert!(errors.items.len() <= MAX_PROBLEMS);
        assert_eq!(errors.items.len(), errors.errors.len());
        let rendered = errors.to_string();
        assert!(
            rendered.len() <= (errors.errors.len() + 1) * PER_PROBLEM,
            "{} bytes for {} problems",
            rendered.len(),
            errors.errors.len()
        );
    }
});
