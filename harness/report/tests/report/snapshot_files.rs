//! File snapshots: every format of [`fixture::full`] (the fixed run with
//! middleboxes, an access-log sample, a lifecycle pod, sample bodies and
//! text to escape) against a committed file under
//! `harness/report/tests/snapshots/`, byte for byte.
//!
//! After an intended change of a writer, rewrite the files and review the
//! diff like code:
//!
//! ```text
//! MESHSIM_BLESS=1 cargo test -p meshsim-report --test report snapshot_files
//! git diff harness/report/tests/snapshots/
//! ```
//!
//! The HTML snapshot can be opened in a browser to look at the charts.

use std::path::PathBuf;

use meshsim_report::{Format, render};

use crate::fixture;

/// The environment variable that rewrites the snapshots instead of
/// comparing.
const BLESS: &str = "MESHSIM_BLESS";

fn snapshot_path(format: Format) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("full.{}", format.extension()))
}

/// Compares (or, blessing, writes) the snapshot of `format`.
fn check(format: Format) {
    let got = render(&fixture::full(), format);
    let path = snapshot_path(format);
    if std::env::var_os(BLESS).is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with {BLESS}=1 to create it", path.display()));
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .map_or_else(|| "the end".to_string(), |n| format!("line {}", n + 1));
        panic!(
            "{format} differs from {} at {line}; if the change is intended, rerun with {BLESS}=1 and review the diff",
            path.display()
        );
    }
}

#[test]
fn table_snapshot_matches_the_committed_file() {
    check(Format::Table);
}

#[test]
fn json_snapshot_matches_the_committed_file() {
    check(Format::Json);
}

#[test]
fn markdown_snapshot_matches_the_committed_file() {
    check(Format::Markdown);
}

#[test]
fn html_snapshot_matches_the_committed_file() {
    check(Format::Html);
}

#[test]
fn junit_snapshot_matches_the_committed_file() {
    check(Format::Junit);
}
