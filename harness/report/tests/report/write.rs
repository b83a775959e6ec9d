//! `write_all`: one file per scenario and format, written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use meshsim_report::{Format, ReportError, html, json, junit, markdown, table, write_all};

use crate::fixture::sample;

/// A fresh directory under the system temp dir, named after the test, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("meshsim-report-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The names in `dir`, sorted.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn write_all_writes_one_file_per_scenario_and_format_and_no_temp_file() {
    let tmp = TempDir::new("one_file_per_scenario_and_format");
    let mut other = sample();
    other.scenario = "dns-firewall".into();
    let results = [sample(), other.clone()];
    let paths = write_all(&results, &tmp.0, &Format::ALL).unwrap();
    let expected: Vec<PathBuf> = ["alb-ip-rotation", "dns-firewall"]
        .iter()
        .flat_map(|s| ["txt", "json", "md", "html", "xml"].map(|e| tmp.0.join(format!("{s}.{e}"))))
        .collect();
    assert_eq!(paths, expected);
    assert_eq!(
        names(&tmp.0),
        [
            "alb-ip-rotation.html",
            "alb-ip-rotation.json",
            "alb-ip-rotation.md",
            "alb-ip-rotation.txt",
            "alb-ip-rotation.xml",
            "dns-firewall.html",
            "dns-firewall.json",
            "dns-firewall.md",
            "dns-firewall.txt",
            "dns-firewall.xml"
        ]
    );
    assert_eq!(fs::read_to_string(&paths[0]).unwrap(), table(&sample()));
    assert_eq!(fs::read_to_string(&paths[1]).unwrap(), json(&sample()));
    assert_eq!(fs::read_to_string(&paths[7]).unwrap(), markdown(&other));
    assert_eq!(fs::read_to_string(&paths[3]).unwrap(), html(&sample()));
    assert_eq!(fs::read_to_string(&paths[9]).unwrap(), junit(&other));
}

#[test]
fn write_all_replaces_an_existing_report_and_leaves_no_temp_file() {
    let tmp = TempDir::new("replaces_existing");
    fs::create_dir_all(&tmp.0).unwrap();
    let target = tmp.0.join("alb-ip-rotation.json");
    fs::write(&target, "stale").unwrap();
    let paths = write_all(&[sample()], &tmp.0, &[Format::Json, Format::Json]).unwrap();
    assert_eq!(
        paths,
        std::slice::from_ref(&target),
        "a format listed twice is written once"
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), json(&sample()));
    assert_eq!(names(&tmp.0), ["alb-ip-rotation.json"]);
}

#[test]
fn write_all_creates_missing_directories() {
    let tmp = TempDir::new("creates_missing_dirs");
    let nested = tmp.0.join("a").join("b");
    let paths = write_all(&[sample()], &nested, &[Format::Markdown]).unwrap();
    assert_eq!(paths, [nested.join("alb-ip-rotation.md")]);
    assert!(paths[0].is_file());
}

#[test]
fn failed_rename_reports_the_path_and_removes_the_temp_file() {
    let tmp = TempDir::new("failed_rename");
    // A directory where the report should go: the rename over it fails.
    fs::create_dir_all(tmp.0.join("alb-ip-rotation.txt").join("occupied")).unwrap();
    let err = write_all(&[sample()], &tmp.0, &[Format::Table]).unwrap_err();
    assert!(
        matches!(&err, ReportError::Write { path, .. } if path == &tmp.0.join("alb-ip-rotation.txt")),
        "{err}"
    );
    assert_eq!(names(&tmp.0), ["alb-ip-rotation.txt"]);
    assert_eq!(names(&tmp.0.join("alb-ip-rotation.txt")), ["occupied"]);
}

#[test]
fn directory_that_is_a_file_is_a_create_dir_error() {
    let tmp = TempDir::new("dir_is_a_file");
    fs::create_dir_all(&tmp.0).unwrap();
    let file = tmp.0.join("plain");
    fs::write(&file, "x").unwrap();
    let err = write_all(&[sample()], &file, &[Format::Json]).unwrap_err();
    assert!(
        matches!(&err, ReportError::CreateDir { dir, .. } if dir == &file),
        "{err}"
    );
}

#[test]
fn results_sharing_a_scenario_name_are_told_apart_by_seed() {
    let tmp = TempDir::new("same_scenario_two_seeds");
    let mut second = sample();
    second.seed = 8;
    let paths = write_all(&[sample(), second], &tmp.0, &[Format::Json]).unwrap();
    assert_eq!(
        paths,
        [
            tmp.0.join("alb-ip-rotation-seed7.json"),
            tmp.0.join("alb-ip-rotation-seed8.json")
        ]
    );
}

#[test]
fn same_scenario_and_seed_twice_is_an_error_before_any_file_is_written() {
    let tmp = TempDir::new("same_scenario_same_seed");
    let err = write_all(&[sample(), sample()], &tmp.0, &[Format::Json]).unwrap_err();
    assert!(matches!(err, ReportError::DuplicateOutput { .. }), "{err}");
    assert!(!tmp.0.exists());
}

#[test]
fn scenario_name_with_a_path_separator_is_rejected_before_any_file_is_written() {
    let tmp = TempDir::new("unsafe_name");
    for bad in ["../escape", "a/b", "", "..", "a\\b"] {
        let mut run = sample();
        run.scenario = bad.into();
        let err = write_all(&[run], &tmp.0, &[Format::Json]).unwrap_err();
        assert!(
            matches!(&err, ReportError::UnsafeScenarioName { scenario } if scenario == bad),
            "{err}"
        );
    }
    assert!(!tmp.0.exists());
}

#[test]
fn no_format_writes_nothing() {
    let tmp = TempDir::new("no_format");
    assert_eq!(
        write_all(&[sample()], &tmp.0, &[]).unwrap(),
        Vec::<PathBuf>::new()
    );
}
