//! Writing reports to disk, atomically.
//!
//! Each file is written to a temporary file in the same directory, flushed to
//! disk, then renamed over its final name: a reader (a CI job, a browser that
//! reloads, a second `meshsim run`) sees the old report or the new one, never
//! half of one, even when the run is stopped by Ctrl-C mid-write. A rename is
//! atomic only within one file system, hence the same directory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use meshsim_core::RunResult;

use crate::error::ReportError;
use crate::format::Format;

/// Tries at a free temporary name before giving up.
const TEMP_TRIES: u32 = 64;

/// Distinguishes temporary files of one process. Only names files that are
/// renamed away at once; never feeds a report.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes one file per result and format, `<dir>/<scenario>.<ext>` (`txt`,
/// `json`, `md`, `html`, `xml`: [`Format::extension`]), creating `dir` if needed, and returns the paths written in
/// order (results outer, formats inner; a format listed twice is written once).
///
/// When several results share a scenario name (one run per seed), their files
/// are named `<scenario>-seed<seed>.<ext>` instead so none overwrites another.
///
/// # Errors
///
/// [`ReportError::UnsafeScenarioName`] when a scenario name is empty, `.`,
/// `..` or contains a path separator or NUL; [`ReportError::DuplicateOutput`]
/// when two results have the same scenario and seed (both checked before any
/// file is written); [`ReportError::CreateDir`] and [`ReportError::Write`] on
/// I/O failure. Files written before a failure stay; no temporary file does.
pub fn write_all(
    results: &[RunResult],
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, ReportError> {
    let stems = stems(results, dir)?;
    if results.is_empty() || formats.is_empty() {
        return Ok(Vec::new());
    }
    let mut formats_once: Vec<Format> = Vec::new();
    for f in formats {
        if !formats_once.contains(f) {
            formats_once.push(*f);
        }
    }
    fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (result, stem) in results.iter().zip(&stems) {
        for format in &formats_once {
            let path = dir.join(format!("{stem}.{}", format.extension()));
            write_atomic(&path, crate::render(result, *format).as_bytes())?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The file name stem of every result, checked for safety and collisions.
fn stems(results: &[RunResult], dir: &Path) -> Result<Vec<String>, ReportError> {
    let mut per_name: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        if !safe_file_stem(&r.scenario) {
            return Err(ReportError::UnsafeScenarioName {
                scenario: r.scenario.clone(),
            });
        }
        *per_name.entry(r.scenario.as_str()).or_default() += 1;
    }
    let mut stems: Vec<String> = Vec::with_capacity(results.len());
    for r in results {
        let stem = if per_name[r.scenario.as_str()] > 1 {
            format!("{}-seed{}", r.scenario, r.seed)
        } else {
            r.scenario.clone()
        };
        if stems.contains(&stem) {
            return Err(ReportError::DuplicateOutput {
                path: dir.join(stem),
            });
        }
        stems.push(stem);
    }
    Ok(stems)
}

pub(crate) fn safe_file_stem(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Writes `contents` to `path` through a temporary sibling and a rename; on any
/// failure the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let fail = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (temp, mut file) = create_temp(dir, &name).map_err(fail)?;
    let flushed = file.write_all(contents).and_then(|()| file.sync_all());
    drop(file);
    let done = flushed.and_then(|()| fs::rename(&temp, path));
    if let Err(source) = done {
        // Best effort: the write already failed, and that is the error to report.
        let _ = fs::remove_file(&temp);
        return Err(fail(source));
    }
    // Persist the rename itself; a failure here does not undo a complete write.
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

/// A new, exclusively created `.<name>.<pid>-<n>.tmp` in `dir`.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..TEMP_TRIES {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}
