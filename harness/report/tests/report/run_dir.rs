//! Run directories: one per run, fixed file names, `latest`, and reading a
//! run back.

use std::fs;

use meshsim_core::RunMode;
use meshsim_report::{
    Format, ReportError, RunId, create_run_dir, read_run, render, write_latest, write_run,
};

use crate::fixture::sample;
use crate::write::{TempDir, names};

fn id() -> RunId {
    RunId::new(1_798_014_615, 7, RunMode::Sim)
}

#[test]
fn a_taken_run_directory_gets_a_numbered_sibling_never_shared() {
    let tmp = TempDir::new("run_dir_suffix");
    let first = create_run_dir(&tmp.0, "alb-ip-rotation", &id()).unwrap();
    let second = create_run_dir(&tmp.0, "alb-ip-rotation", &id()).unwrap();
    let third = create_run_dir(&tmp.0, "alb-ip-rotation", &id()).unwrap();
    let parent = tmp.0.join("alb-ip-rotation");
    assert_eq!(first, parent.join("20261223T083015Z-seed7-sim"));
    assert_eq!(second, parent.join("20261223T083015Z-seed7-sim-2"));
    assert_eq!(third, parent.join("20261223T083015Z-seed7-sim-3"));
}

#[test]
fn a_run_directory_holds_one_fixed_name_per_format_and_latest_names_it() {
    let tmp = TempDir::new("run_dir_files");
    let dir = create_run_dir(&tmp.0, "alb-ip-rotation", &id()).unwrap();
    let written = write_run(&sample(), &dir, Format::all()).unwrap();
    assert_eq!(written.len(), Format::all().len());
    assert_eq!(
        names(&dir),
        [
            "junit.xml",
            "report.html",
            "report.md",
            "report.txt",
            "result.json"
        ]
    );
    for format in Format::all() {
        let text = fs::read_to_string(dir.join(format.file_name())).unwrap();
        assert_eq!(text, render(&sample(), *format), "{format}");
    }
    let latest = write_latest(&dir).unwrap();
    assert_eq!(latest, tmp.0.join("alb-ip-rotation").join("latest"));
    assert_eq!(
        fs::read_to_string(&latest).unwrap(),
        "20261223T083015Z-seed7-sim\n"
    );
}

#[test]
fn a_run_reads_back_from_its_json_its_directory_its_scenario_directory_or_latest() {
    let tmp = TempDir::new("run_dir_read_back");
    let dir = create_run_dir(&tmp.0, "alb-ip-rotation", &id()).unwrap();
    write_run(&sample(), &dir, &[Format::Json]).unwrap();
    write_latest(&dir).unwrap();
    let scenario_dir = tmp.0.join("alb-ip-rotation");
    for path in [
        dir.join("result.json"),
        dir.clone(),
        scenario_dir.clone(),
        scenario_dir.join("latest"),
    ] {
        let run = read_run(&path, 1).unwrap();
        assert_eq!(run.result, sample(), "{}", path.display());
        assert_eq!(run.dir(), dir, "{}", path.display());
    }
}

#[test]
fn bad_json_names_file_line_and_column() {
    let tmp = TempDir::new("run_dir_bad_json");
    fs::create_dir_all(&tmp.0).unwrap();
    let file = tmp.0.join("broken.json");
    fs::write(&file, "{\n  \"schema_version\": 1,\n  \"scenario\": 7\n}\n").unwrap();
    let err = read_run(&file, 1).unwrap_err();
    assert!(
        matches!(&err, ReportError::BadJson { line: 3, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:3:", file.display())),
        "{text}"
    );
    assert!(text.contains("invalid type: integer `7`"), "{text}");
}

#[test]
fn another_schema_version_is_refused_naming_both_versions() {
    let tmp = TempDir::new("run_dir_version");
    fs::create_dir_all(&tmp.0).unwrap();
    let file = tmp.0.join("old.json");
    let mut run = sample();
    run.schema_version = 9;
    fs::write(&file, render(&run, Format::Json)).unwrap();
    let err = read_run(&file, 1).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: schema_version 9, but this meshsim reads version 1",
            file.display()
        )
    );
}

#[test]
fn a_missing_run_is_a_read_error_naming_the_path() {
    let tmp = TempDir::new("run_dir_missing");
    let err = read_run(&tmp.0.join("nope"), 1).unwrap_err();
    assert!(
        matches!(&err, ReportError::Read { path, .. } if path.ends_with("nope")),
        "{err}"
    );
}

#[test]
fn a_scenario_named_like_a_tracked_entry_of_reports_is_refused() {
    let tmp = TempDir::new("run_dir_reserved");
    for name in ["README.md", "schema", "examples"] {
        let err = create_run_dir(&tmp.0, name, &id()).unwrap_err();
        assert!(
            matches!(err, ReportError::ReservedScenarioName { .. }),
            "{name}: {err}"
        );
        assert!(!tmp.0.join(name).exists(), "{name} was created");
    }
}

#[test]
fn a_latest_file_naming_a_path_outside_its_directory_is_refused() {
    let tmp = TempDir::new("run_dir_latest_escape");
    let scenario = tmp.0.join("alb-ip-rotation");
    fs::create_dir_all(&scenario).unwrap();
    fs::write(scenario.join("latest"), "../../elsewhere\n").unwrap();
    let err = read_run(&scenario.join("latest"), 1).unwrap_err();
    assert!(matches!(err, ReportError::BadRunId { .. }), "{err}");
}
