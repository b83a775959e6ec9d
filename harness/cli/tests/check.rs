//! `meshsim check`: findings printed like `istioctl analyze`, and exit codes
//! like `run` (0 nothing to warn about, 1 a warning or error, 2 a file could
//! not be read or parsed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("meshsim runs")
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-check-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const CLEAN: &str = "\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: partner }
spec:
  hosts: [api.partner.example]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: DNS
";

const TIMEOUT_BELOW_PER_TRY: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: inventory, namespace: default }
spec:
  hosts: [inventory]
  http:
    - route: [{ destination: { host: inventory } }]
      timeout: 1s
      retries: { attempts: 2, perTryTimeout: 2s }
";

#[test]
fn a_file_without_findings_exits_zero() {
    let f = temp("clean", CLEAN);
    let out = meshsim(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("no findings"), "{}", text(&out));
}

#[test]
fn a_warning_exits_one_and_prints_code_resource_file_line_and_fix() {
    let f = temp("timeout", TIMEOUT_BELOW_PER_TRY);
    let out = meshsim(&["check", f.to_str().unwrap()]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    let expected = format!(
        "Warning [MS0104] (VirtualService default/inventory) {}:8:16 route timeout 1s <= perTryTimeout 2s",
        f.display()
    );
    assert!(printed.contains(&expected), "{printed}");
    assert!(printed.contains(". Fix: "), "{printed}");
    assert!(
        printed.contains("1 file checked: 0 errors, 1 warnings"),
        "{printed}"
    );
}

#[test]
fn a_catalogue_scenario_names_the_mitigation_and_the_demo() {
    let out = meshsim(&["check", "scenarios/alb-ip-rotation.yaml"]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("Warning [MS0201] (host api.partner.example) scenarios/alb-ip-rotation.yaml:41:11 mitigation none:"), "{printed}");
    assert!(
        printed.contains("(see scenarios/alb-ip-rotation.yaml)"),
        "{printed}"
    );
}

#[test]
fn a_file_that_does_not_parse_exits_two_and_the_others_are_still_checked() {
    let bad = temp("bad", "kind: VirtualService\nspec: { hosts: [\n");
    let good = temp("good", TIMEOUT_BELOW_PER_TRY);
    let out = meshsim(&["check", bad.to_str().unwrap(), good.to_str().unwrap()]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(
        printed.contains(&format!("{}:", bad.display())),
        "{printed}"
    );
    assert!(
        printed.contains("[MS0104]"),
        "the good file is checked: {printed}"
    );
    assert!(!printed.contains("panicked"), "{printed}");
    let missing = meshsim(&["check", "no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
}

#[test]
fn json_output_lists_the_findings_with_their_mitigation() {
    let out = meshsim(&[
        "check",
        "--format",
        "json",
        "scenarios/nat-idle-timeout.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["files"][0]["findings"].as_array().unwrap();
    let nat = findings
        .iter()
        .find(|f| f["code"] == "MS0204" && f["mitigation"] == "none")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(nat["severity"], "Warning");
    assert_eq!(nat["demo"], "scenarios/nat-idle-timeout.yaml");
    assert!(nat["line"].as_u64().is_some());
    assert!(v["summary"]["warnings"].as_u64().unwrap() >= 1);
}

/// Istio documents that are not what Istio accepts, each with the line,
/// column, key and message a user needs: `(name, yaml, "line:column", key,
/// message)`.
const BAD_ISTIO: &[(&str, &str, &str, &str, &str)] = &[
    (
        "unterminated-flow",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: a }\nspec:\n  hosts: [a.example\n",
        "5:10",
        "spec.hosts",
        "unclosed bracket",
    ),
    (
        "tab-indentation",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n\tname: a\nspec:\n  hosts: [a.example]\n",
        "4:2",
        "(document 1)",
        "tabs disallowed",
    ),
    (
        "unknown-kind",
        "apiVersion: networking.istio.io/v1\nkind: VirtualSerivce\nmetadata: { name: a }\nspec:\n  hosts: [a.example]\n",
        "2:7",
        "kind",
        "did you mean `VirtualService`",
    ),
    (
        "nested-unknown-field",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: a }\nspec:\n  hosts: [a.example]\n  http:\n  - route: [{ destination: { host: a.example } }]\n    retries:\n      attempts: 2\n      perTryTimout: 2s\n",
        "10:7",
        "spec.http[0].retries.perTryTimout",
        "unknown key `perTryTimout`, did you mean `perTryTimeout`?",
    ),
    (
        "wrong-type",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: a }\nspec:\n  hosts: [a.example]\n  http:\n  - route: [{ destination: { host: a.example } }]\n    retries: { attempts: many }\n",
        "8:26",
        "spec.http[0].retries.attempts",
        "expected an integer, found a string",
    ),
];

fn assert_names(printed: &str, file: &Path, at: &str, key: &str, message: &str) {
    assert!(
        printed.contains(&format!("{}:{at}", file.display())),
        "{printed}"
    );
    assert!(printed.contains(key), "{key}: {printed}");
    assert!(printed.contains(message), "{message}: {printed}");
    assert!(!printed.contains("panicked"), "{printed}");
}

/// Issue 6: bad YAML, unknown kinds, unknown (nested) fields and wrong types
/// are errors naming the file, line, column and key; never a panic.
#[test]
fn check_reports_bad_istio_yaml_with_file_line_column_and_key_and_exits_two() {
    for (name, yaml, at, key, message) in BAD_ISTIO {
        let f = temp(name, yaml);
        let out = meshsim(&["check", f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert_names(&text(&out), &f, at, key, message);
    }
}

/// The same documents given to `run --with` stop before any run, with the
/// same file, line, column and key.
#[test]
fn run_with_bad_istio_yaml_exits_two_naming_file_line_column_and_key() {
    for (name, yaml, at, key, message) in BAD_ISTIO {
        let f = temp(&format!("with-{name}"), yaml);
        let out = meshsim(&[
            "run",
            "scenarios/port-naming.yaml",
            "--with",
            f.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert_names(&text(&out), &f, at, key, message);
    }
}

/// A scenario whose mitigation block has a nested typo: `run` and `check`
/// both point at the scenario file's own line and column.
#[test]
fn a_bad_istio_block_in_a_scenario_is_reported_at_the_scenario_files_line_by_run_and_check() {
    let scenario = "\
version: 1
name: typo
duration: 1s
world:
  pods:
    - { name: app, sidecar: true, app: { client: go, calls: [{ url: \"http://10.1.0.1/\", rate: 1/s }] } }
mitigations:
  - name: typo
    istio: |
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: { name: a }
      spec:
        hosts: [a.example]
        http:
        - route: [{ destination: { host: a.example } }]
          retries: { attempts: 2, perTryTimout: 2s }
";
    let f = temp("scenario-typo", scenario);
    for cmd in ["check", "run"] {
        let out = meshsim(&[cmd, f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out));
        assert_names(
            &text(&out),
            &f,
            "17:",
            "spec.http[0].retries.perTryTimout",
            "did you mean `perTryTimeout`?",
        );
    }
}
