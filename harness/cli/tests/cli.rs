//! The `meshsim` binary: output and exit codes (0 held, 1 failed, 2 error).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("meshsim runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-cli-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
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
expect:
  - { mitigation: none, errors: \"== 0\", why: nothing fails }
";

#[test]
fn holding_expectations_exit_zero_and_print_the_table() {
    let f = temp("held", TINY);
    let out = meshsim(&["run", f.to_str().unwrap(), "--no-write"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tiny"), "{stdout}");
    assert!(stdout.contains("200"), "200 requests expected in: {stdout}");
}

#[test]
fn a_failed_expectation_exits_one() {
    let f = temp(
        "failed",
        &TINY.replace("errors: \"== 0\"", "errors: \"> 5\""),
    );
    let out = meshsim(&["run", f.to_str().unwrap(), "--no-write"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_typo_exits_two_naming_file_line_and_key() {
    let f = temp("typo", &TINY.replace("duration: 10s", "duraton: 10s"));
    let out = meshsim(&["run", f.to_str().unwrap(), "--no-write"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("typo.yaml:3:1"), "{stderr}");
    assert!(stderr.contains("duraton"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn usage_errors_and_missing_files_exit_two() {
    assert_eq!(meshsim(&["run"]).status.code(), Some(2));
    assert_eq!(
        meshsim(&["run", "no/such/file.yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(meshsim(&["frobnicate"]).status.code(), Some(2));
    let f = temp("unknown-mitigation", TINY);
    let out = meshsim(&[
        "run",
        f.to_str().unwrap(),
        "--mitigation",
        "nope",
        "--no-write",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn json_format_prints_the_run_result_and_reports_are_written() {
    let f = temp("json", TINY);
    let out_dir = f.parent().unwrap().join("out");
    let out = meshsim(&[
        "run",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--out",
        out_dir.to_str().unwrap(),
        "--run-id",
        "json-test",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scenario"], "tiny");
    assert_eq!(v["mitigations"][0]["requests"], 200);
    let run = out_dir.join("tiny").join("json-test");
    for name in ["result.json", "report.md", "report.txt"] {
        assert!(run.join(name).exists(), "{name} not written");
    }
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("result.json")).unwrap()).unwrap();
    assert_eq!(written, v, "the file holds what was printed");
}

#[test]
fn list_shows_the_catalogue_with_mitigations() {
    let out = meshsim(&["list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("alb-ip-rotation.yaml"), "{stdout}");
    assert!(stdout.contains("resolution-dns+retries"), "{stdout}");
    assert!(!stdout.contains("INVALID"), "{stdout}");
}

/// A DestinationRule alone, pasted by a user (`run --with`).
const MY_DR: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: partner-api }
spec:
  host: api.partner.example
  trafficPolicy:
    connectionPool:
      tcp: { tcpKeepalive: { time: 300s, interval: 75s } }
";

#[test]
fn a_with_file_runs_as_one_more_mitigation_beside_the_scenarios_own() {
    let f = temp("my-dr", MY_DR);
    let out = meshsim(&[
        "run",
        "scenarios/nat-idle-timeout.yaml",
        "--with",
        f.to_str().unwrap(),
        "-m",
        "none",
        "--no-write",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let none = stdout.lines().find(|l| l.trim_start().starts_with("none "));
    assert!(none.is_some_and(|l| l.contains("503 UC")), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("with:my-dr "));
    assert!(
        row.is_some_and(|l| l.contains("0.00%") && l.contains("76")),
        "{stdout}"
    );
    assert!(
        stderr.contains("my-dr.yaml over none: DestinationRule partner-api (adds)"),
        "{stderr}"
    );
}

#[test]
fn a_bad_with_file_exits_two_naming_file_line_and_key() {
    let f = temp("bad-dr", &MY_DR.replace("time: 300s", "time: 300"));
    let out = meshsim(&[
        "run",
        "scenarios/nat-idle-timeout.yaml",
        "--with",
        f.to_str().unwrap(),
        "--no-write",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad-dr.yaml:8:36"), "{stderr}");
    assert!(stderr.contains("tcpKeepalive.time"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = meshsim(&[
        "run",
        "scenarios/nat-idle-timeout.yaml",
        "--with",
        f.to_str().unwrap(),
        "--with-base",
        "nope",
        "--no-write",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("it has: none, passthrough"), "{stderr}");
}
