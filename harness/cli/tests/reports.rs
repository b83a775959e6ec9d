//! Run directories, `meshsim report` and `meshsim diff` through the real
//! binary: where a run writes, that a re-render is byte-identical, and the
//! diff's exit codes (0 no regression, 1 worse, 2 bad input).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("meshsim runs")
}

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "meshsim-reports-test-{}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const TINY: &str = "\
version: 1
name: tiny
duration: 10s
world:
  external:
    - { name: api, address: 10.1.0.1:80 }
  pods:
    - name: app
      app: { client: go, calls: [{ url: \"http://10.1.0.1/\", rate: 20/s, arrival: constant }] }
mitigations:
  - name: none
  - name: retries
expect:
  - { mitigation: none, errors: \"== 0\", why: nothing fails }
  - { mitigation: retries, error_rate: \"< 1%\" }
";

/// Runs TINY into `<dir>/out` with the given run id; returns the run directory.
fn run_tiny(dir: &Path, id: &str) -> PathBuf {
    let scenario = dir.join("tiny.yaml");
    fs::write(&scenario, TINY).unwrap();
    let out_root = dir.join("out");
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out_root.to_str().unwrap(),
        "--run-id",
        id,
    ];
    let out = meshsim(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    out_root.join("tiny").join(id)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_run_writes_a_timestamped_run_directory_per_scenario_and_latest_names_it() {
    let d = dir("default-id");
    let scenario = d.join("tiny.yaml");
    fs::write(&scenario, TINY).unwrap();
    let root = d.join("out");
    let out = meshsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        root.to_str().unwrap(),
        "--seed",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let runs = names(&root.join("tiny"));
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (id, latest) = (&runs[0], &runs[1]);
    assert_eq!(latest, "latest");
    // 20261123T083015Z-seed4-sim
    assert_eq!(id.len(), "20261123T083015Z-seed4-sim".len(), "{id}");
    assert!(
        id.ends_with("Z-seed4-sim") && id.as_bytes()[8] == b'T',
        "{id}"
    );
    assert_eq!(
        fs::read_to_string(root.join("tiny/latest")).unwrap(),
        format!("{id}\n")
    );
    assert_eq!(
        names(&root.join("tiny").join(id)),
        [
            "junit.xml",
            "report.html",
            "report.md",
            "report.txt",
            "result.json"
        ]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.ends_with(&format!(
            "reports: {}/\n",
            root.join("tiny").join(id).display()
        )),
        "{stdout}"
    );
}

/// The progress bar draws only on a terminal: with stderr a pipe, a run
/// that warns about nothing prints nothing there.
#[test]
fn nothing_but_reports_appears_on_stderr_when_it_is_not_a_terminal() {
    let d = dir("quiet-stderr");
    let scenario = d.join("tiny.yaml");
    fs::write(&scenario, TINY).unwrap();
    let root = d.join("out");
    let out = meshsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        root.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn a_second_run_with_the_same_id_gets_its_own_directory() {
    let d = dir("same-id");
    let first = run_tiny(&d, "nightly");
    run_tiny(&d, "nightly");
    let parent = first.parent().unwrap();
    assert_eq!(names(parent), ["latest", "nightly", "nightly-2"]);
    assert_eq!(
        fs::read_to_string(parent.join("latest")).unwrap(),
        "nightly-2\n"
    );
}

#[test]
fn a_run_id_that_is_not_a_plain_file_name_exits_two() {
    for bad in ["../escape", "latest", ".hidden"] {
        let out = meshsim(&["run", "scenarios/nat-idle-timeout.yaml", "--run-id", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(text(&out).contains("bad run id"), "{}", text(&out));
    }
}

#[test]
fn report_re_renders_every_format_byte_identical_to_what_run_wrote() {
    let d = dir("rerender");
    let run = run_tiny(&d, "r1");
    let originals: Vec<(String, Vec<u8>)> = names(&run)
        .into_iter()
        .map(|n| (n.clone(), fs::read(run.join(&n)).unwrap()))
        .collect();
    for (name, _) in &originals {
        if name != "result.json" {
            fs::remove_file(run.join(name)).unwrap();
        }
    }
    let out = meshsim(&["report", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for (name, bytes) in &originals {
        assert!(
            &fs::read(run.join(name)).unwrap() == bytes,
            "{name} differs after re-rendering"
        );
    }
    let only_md = meshsim(&[
        "report",
        run.parent().unwrap().join("latest").to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&only_md.stdout),
        format!("{}\n", run.join("report.md").display())
    );
}

#[test]
fn report_of_broken_json_exits_two_naming_file_line_and_column() {
    let d = dir("rerender-bad");
    let run = run_tiny(&d, "r1");
    let json = run.join("result.json");
    let text_before = fs::read_to_string(&json).unwrap();
    fs::write(
        &json,
        text_before.replacen("\"seed\": ", "\"seed\": \"seven\", \"was\": ", 1),
    )
    .unwrap();
    let out = meshsim(&["report", run.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5:", json.display())),
        "{stderr}"
    );
    fs::write(
        &json,
        text_before.replacen("\"schema_version\": 1", "\"schema_version\": 2", 1),
    )
    .unwrap();
    let out = meshsim(&["report", run.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("schema_version 2, but this meshsim reads version 1"),
        "{stderr}"
    );
}

/// Two runs of the same scenario and seed, and a copy of the second one
/// edited to be worse in `retries`.
fn two_runs_and_a_worse_copy(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = dir(name);
    let (old, new) = (run_tiny(&d, "old"), run_tiny(&d, "new"));
    let mut v: serde_json::Value =
        serde_json::from_slice(&fs::read(new.join("result.json")).unwrap()).unwrap();
    v["mitigations"][1]["error_rate"] = serde_json::json!(0.05);
    v["mitigations"][1]["expectations"][0]["passed"] = serde_json::json!(false);
    let worse = d.join("worse.json");
    fs::write(&worse, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    (old, new, worse)
}

#[test]
fn diff_of_identical_runs_exits_zero() {
    let (old, new, _) = two_runs_and_a_worse_copy("diff-same");
    let out = meshsim(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.contains("  none        same"), "{stdout}");
    assert!(stdout.contains("\nno regression (thresholds:"), "{stdout}");
}

#[test]
fn diff_of_a_worsened_run_exits_one_naming_the_mitigation_and_metric() {
    let (old, _, worse) = two_runs_and_a_worse_copy("diff-worse");
    let out = meshsim(&["diff", old.to_str().unwrap(), worse.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout.contains("  retries: error rate 0.00% -> 5.00%\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  retries: expectation \"error_rate < 1%\" now fails"),
        "{stdout}"
    );
    assert!(stdout.contains("REGRESSION: retries worse"), "{stdout}");
    let json = meshsim(&[
        "diff",
        old.to_str().unwrap(),
        worse.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["mitigations"][1]["verdict"], "worse");
    assert_eq!(json.status.code(), Some(1));
}

#[test]
fn diff_thresholds_loosen_a_worse_error_rate_back_to_exit_zero() {
    let (old, new, _) = two_runs_and_a_worse_copy("diff-loose");
    let mut v: serde_json::Value =
        serde_json::from_slice(&fs::read(new.join("result.json")).unwrap()).unwrap();
    v["mitigations"][1]["error_rate"] = serde_json::json!(0.05);
    let worse = new.parent().unwrap().join("rate-only.json");
    fs::write(&worse, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let (old, worse) = (old.to_str().unwrap(), worse.to_str().unwrap());
    assert_eq!(meshsim(&["diff", old, worse]).status.code(), Some(1));
    let out = meshsim(&["diff", old, worse, "--threshold", "error-rate=6"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn diff_of_a_missing_or_broken_file_or_a_bad_threshold_exits_two_naming_it() {
    let (old, _, _) = two_runs_and_a_worse_copy("diff-bad");
    let broken = old.parent().unwrap().join("broken.json");
    fs::write(&broken, "{ \"schema_version\": 1, \"scenario\": [] }").unwrap();
    let old = old.to_str().unwrap();
    for (new, extra, needle) in [
        (
            broken.to_str().unwrap(),
            None,
            format!("{}:1:", broken.display()),
        ),
        ("no/such/run", None, "cannot read no/such/run".to_string()),
        (
            old,
            Some("latency=5"),
            "unknown key \"latency\"".to_string(),
        ),
    ] {
        let mut args = vec!["diff", old, new];
        if let Some(t) = extra {
            args.extend(["--threshold", t]);
        }
        let out = meshsim(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(&needle), "{needle}: {}", text(&out));
    }
}
