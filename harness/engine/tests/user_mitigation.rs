//! `meshsim run --with FILE`: Istio YAML a user pastes becomes one more
//! mitigation, layered over the scenario's own (`Scenario::add_user_mitigation`).

use std::path::Path;

use meshsim_core::MitigationResult;
use meshsim_engine::{EngineError, RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;
use support::{NAT_WORLD, SE_NONE, run_seeded};

/// One request every 400 s (9/h) through a 350 s reset-flavour idle timer
/// (an AWS NAT gateway), to a server that never closes an idle connection;
/// `none` declares the host with a resolution NONE ServiceEntry (upstream
/// pool idle timeout 1 h), `keepalive` adds a DestinationRule.
fn nat_text() -> String {
    format!(
        "\
version: 1
name: nat
{NAT_WORLD}mitigations:
  - name: none
    app: {{ connect_timeout: 2s }}
{SE_NONE}  - name: keepalive
{SE_NONE}      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {{ name: api }}
      spec:
        host: api.partner.example
        trafficPolicy:
          connectionPool:
            tcp: {{ tcpKeepalive: {{ time: 300s, interval: 75s }} }}
expect:
  - {{ mitigation: none, errors: \"> 0\" }}
"
    )
}

/// A DestinationRule alone, as an SRE would paste it.
const DR_IDLE: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: api
spec:
  host: api.partner.example
  trafficPolicy:
    connectionPool:
      http:
        idleTimeout: 300s
";

fn nat() -> Scenario {
    Scenario::parse(&nat_text(), Path::new("nat.yaml")).unwrap()
}

fn mitigation<'a>(r: &'a meshsim_core::RunResult, name: &str) -> &'a MitigationResult {
    r.mitigations.iter().find(|m| m.name == name).unwrap()
}

/// `(file, line, column, key path, message)` of a file rejected as invalid.
fn rejected(text: &str) -> (String, usize, usize, String, String) {
    let mut s = nat();
    match s.add_user_mitigation(Path::new("my-dr.yaml"), text, None) {
        Err(EngineError::Invalid {
            file,
            line,
            column,
            path,
            message,
        }) => (file.display().to_string(), line, column, path, message),
        Err(e) => panic!("unexpected error kind: {e}"),
        Ok(m) => panic!("accepted: {m:?}"),
    }
}

/// Fact sheet §4.1 (Envoy's upstream pool keeps an idle connection 1 h by
/// default) and §4.2 (DR `connectionPool.http.idleTimeout` closes idle pooled
/// connections): a DestinationRule-only file layered over `none` keeps
/// `none`'s ServiceEntry, and its 300 s idle timeout retires the pooled
/// connection before the NAT's 350 s timer resets it, so the 503 UCs of
/// `none` are gone; the file's mitigation runs after the scenario's own and
/// no expectation applies to it.
#[test]
fn a_destination_rule_file_layered_over_none_keeps_its_service_entry_and_ends_the_resets() {
    let mut s = nat();
    let m = s
        .add_user_mitigation(Path::new("dir/my-dr.yaml"), DR_IDLE, None)
        .unwrap();
    assert_eq!(m.name, "with:my-dr");
    assert_eq!(m.istio.service_entries.len(), 1);
    assert_eq!(m.istio.destination_rules.len(), 1);
    assert_eq!(
        m.description.as_deref(),
        Some("my-dr.yaml over none: DestinationRule api (adds)")
    );
    assert_eq!(
        m.app.connect_timeout,
        Some(std::time::Duration::from_secs(2))
    );
    let r = run_seeded(&s, 1);
    let names: Vec<&str> = r.mitigations.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["none", "keepalive", "with:my-dr"]);
    let (none, user) = (mitigation(&r, "none"), mitigation(&r, "with:my-dr"));
    assert_eq!(none.errors, 3);
    assert_eq!(user.requests, none.requests);
    assert_eq!(user.errors, 0, "{:?}", user.errors_by_kind);
    assert!(user.expectations.is_empty());
    assert!(r.all_expectations_passed());
}

/// A file resource with the base's kind, namespace and name replaces it in
/// place (no duplicate DestinationRule for the host); other names, or the
/// same name in another namespace, are added.
#[test]
fn a_file_resource_with_the_base_kind_and_name_replaces_it_instead_of_duplicating() {
    let mut s = nat();
    let text = format!(
        "{DR_IDLE}---\n{}",
        DR_IDLE
            .replace("name: api", "name: api\n  namespace: billing")
            .replace("idleTimeout: 300s", "idleTimeout: 200s")
    );
    let m = s
        .add_user_mitigation(Path::new("idle.yaml"), &text, Some("keepalive"))
        .unwrap();
    assert_eq!(
        m.description.as_deref(),
        Some(
            "idle.yaml over keepalive: DestinationRule api (replaces), DestinationRule billing/api (adds)"
        )
    );
    let drs = &m.istio.destination_rules;
    assert_eq!(drs.len(), 2);
    assert_eq!(drs[0].meta.namespace, None);
    let pool = drs[0].traffic_policy.as_ref().unwrap();
    let pool = pool.connection_pool.as_ref().unwrap();
    assert!(pool.tcp.is_none(), "the base's tcpKeepalive is replaced");
    assert_eq!(
        pool.http.as_ref().unwrap().idle_timeout,
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(m.istio.service_entries.len(), 1);
}

/// With `-m` filters, user mitigations still run.
#[test]
fn a_user_mitigation_runs_whatever_the_mitigation_filter_selects() {
    let mut s = nat();
    s.add_user_mitigation(Path::new("my-dr.yaml"), DR_IDLE, None)
        .unwrap();
    let opts = RunOptions {
        mitigations: vec!["keepalive".into()],
        ..RunOptions::default()
    };
    let r = meshsim_engine::run(&s, &opts, |_| {}).unwrap();
    let names: Vec<&str> = r.mitigations.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["keepalive", "with:my-dr"]);
}

#[test]
fn a_yaml_syntax_error_names_the_file_line_and_column() {
    let (file, line, column, _, message) =
        rejected(&DR_IDLE.replace("  host: api.partner.example", "  host: [api"));
    assert_eq!(file, "my-dr.yaml");
    assert_eq!(line, 7, "{message}");
    assert!(column > 0);
    assert!(message.contains("invalid yaml"), "{message}");
}

#[test]
fn an_unknown_kind_names_its_line_and_the_nearest_kind() {
    let (_, line, _, path, message) =
        rejected(&DR_IDLE.replace("kind: DestinationRule", "kind: DestinationRul"));
    assert_eq!(line, 2, "{path}: {message}");
    assert!(path.contains("kind"), "{path}");
    assert!(
        message.contains("did you mean `DestinationRule`"),
        "{message}"
    );
}

#[test]
fn an_unknown_key_names_its_line_and_key_path() {
    let (_, line, _, path, message) =
        rejected(&DR_IDLE.replace("idleTimeout: 300s", "idleTimeot: 300s"));
    assert_eq!(line, 10, "{path}: {message}");
    assert!(path.contains("DestinationRule api"), "{path}");
    assert!(message.contains("idleTimeout"), "{message}");
}

/// Istio's validation runs on the file as on a scenario's own `istio` block
/// (Istio rejects a duration under 1 ms).
#[test]
fn an_istio_validation_failure_names_its_line_and_key_path() {
    let (_, line, _, path, message) =
        rejected(&DR_IDLE.replace("idleTimeout: 300s", "idleTimeout: 100us"));
    assert_eq!(line, 10, "{path}: {message}");
    assert!(
        path.contains("spec.trafficPolicy.connectionPool.http.idleTimeout"),
        "{path}"
    );
}

#[test]
fn a_file_repeating_a_resource_or_holding_none_is_rejected() {
    let (_, line, _, _, message) = rejected(&format!("{DR_IDLE}---\n{DR_IDLE}"));
    assert_eq!(line, 15, "{message}");
    assert!(
        message.contains("DestinationRule api appears twice"),
        "{message}"
    );
    let (_, _, _, _, message) = rejected("# nothing yet\n");
    assert!(message.contains("no Istio resource"), "{message}");
}

#[test]
fn an_unknown_base_or_a_taken_name_or_a_missing_file_is_an_error() {
    let mut s = nat();
    let e = s
        .add_user_mitigation(Path::new("my-dr.yaml"), DR_IDLE, Some("nope"))
        .unwrap_err();
    assert!(matches!(e, EngineError::UnknownMitigation { .. }), "{e}");
    assert!(e.to_string().contains("none, keepalive"), "{e}");
    s.add_user_mitigation(Path::new("a/my-dr.yaml"), DR_IDLE, None)
        .unwrap();
    let e = s
        .add_user_mitigation(Path::new("b/my-dr.yaml"), DR_IDLE, None)
        .unwrap_err();
    assert!(e.to_string().contains("with:my-dr"), "{e}");
    let e = s
        .add_user_mitigation_file(Path::new("no/such/dr.yaml"), None)
        .unwrap_err();
    assert!(matches!(e, EngineError::Read { .. }), "{e}");
}
