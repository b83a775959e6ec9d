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
