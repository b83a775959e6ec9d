//! The report's access-log sample (fact sheet §5.4): per sidecar hop, the
//! first Istio TEXT line of each failure (code, flags, details) and the first
//! success, whether or not the mesh turns the file access log on.

use std::path::Path;

use meshsim_core::{HopAccessLog, MitigationResult};
use meshsim_engine::{RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;
use support::run_seeded;

/// An entry pod calling an external host at 200/s through its sidecar (no
/// retry); the host is stopped with resets at 10 s while requests are in
/// flight (50 ms each), then refuses connections. `mesh` is the
/// mitigation's extra Istio block (indented below `istio: |`), if any.
fn reset_scenario(istio: &str) -> Scenario {
    let istio: String = istio.lines().map(|l| format!("      {l}\n")).collect();
    let text = format!(
        "version: 1
name: upstream-reset
duration: 20s
world:
  dns:
    zones:
      api.partner.example: {{ a: [52.1.1.10], ttl: 60s }}
  external:
    - {{ name: api, address: 52.1.1.10:80, routes: [{{ prefix: /, status: 200, latency: 50ms }}] }}
  pods:
    - name: checkout
      sidecar: true
      app:
        client: go
        calls: [{{ url: \"http://api.partner.example/charge\", rate: 200/s, arrival: constant }}]
timeline:
  - at: 10s
    host.stop: {{ name: api, how: reset }}
mitigations:
  - name: m
    istio: |
{istio}"
    );
    Scenario::parse(&text, Path::new("upstream-reset.yaml")).unwrap()
}

fn hop<'a>(m: &'a MitigationResult, name: &str) -> &'a HopAccessLog {
    m.access_log
        .iter()
        .find(|h| h.hop == name)
        .unwrap_or_else(|| panic!("no sample for hop {name}: {:?}", m.access_log))
}

/// An IstioOperator turning the mesh's file access log on.
const ACCESS_LOG_ON: &str = "apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig: { accessLogFile: /dev/stdout }
";

/// Fact sheet §5.1, §5.4: requests in flight when the upstream resets its
/// connections get `503 UC` with
/// `upstream_reset_before_response_started{...}`; the report shows that
/// line (JSON, Markdown and terminal), next to a success line, with the
/// file access log off as in Istio's default.
#[test]
fn an_upstream_reset_shows_a_503_uc_line_with_its_reset_details_in_the_report() {
    let result = run_seeded(&reset_scenario(""), 7);
    let m = &result.mitigations[0];
    let sample = hop(m, "checkout");
    assert!(sample.entry);
    assert!(sample.lines.len() <= HopAccessLog::MAX_LINES);
    let uc = sample
        .lines
        .iter()
        .find(|l| l.response_code == 503 && l.flags.to_string() == "UC")
        .unwrap_or_else(|| panic!("no 503 UC line: {sample:#?}"));
    let details = uc.details.as_deref().unwrap();
    assert!(
        details.starts_with("upstream_reset_before_response_started{"),
        "{details}"
    );
    assert!(
        uc.line.contains(&format!(" 503 UC {details} ")),
        "{}",
        uc.line
    );
    assert!(
        uc.line.contains("\"52.1.1.10:80\" PassthroughCluster"),
        "{}",
        uc.line
    );
    let success = sample.lines.iter().find(|l| !l.failure).unwrap();
    assert!(
        success.line.contains(" 200 - via_upstream "),
        "{}",
        success.line
    );
    let json = meshsim_report::json(&result);
    assert!(json.contains("upstream_reset_before_response_started{"));
    for text in [
        meshsim_report::markdown(&result),
        meshsim_report::table(&result),
    ] {
        assert!(text.contains(&uc.line), "{text}");
    }
}

/// Fact sheet §5.4: the sample is the same with the mesh's file access log
/// on (`accessLogFile: /dev/stdout`) as off: the report shows the lines the
/// sidecar writes, and turning the log on changes nothing else.
#[test]
fn the_sample_is_the_same_with_the_mesh_access_log_on_or_off() {
    let off = run_seeded(&reset_scenario(""), 3);
    let on = run_seeded(&reset_scenario(ACCESS_LOG_ON), 3);
    assert!(!off.mitigations[0].access_log.is_empty());
    assert_eq!(off.mitigations[0], on.mitigations[0]);
}

/// Fact sheet §5.4: Envoy logs the inbound listener too: in a chain, each
/// service's sample holds its sidecars' inbound lines (`inbound|8080||`) and
/// the outage's 503 from the last service's app (`via_upstream`).
#[test]
fn every_sidecar_hop_of_a_chain_has_its_own_sample() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/mesh-chain-scale-down.yaml");
    let s = Scenario::load(&path).unwrap();
    let opts = RunOptions {
        mitigations: vec!["none".into()],
        ..RunOptions::default()
    };
    let m = meshsim_engine::run(&s, &opts, |_| {})
        .unwrap()
        .mitigations
        .remove(0);
    let hops: Vec<(&str, bool)> = m
        .access_log
        .iter()
        .map(|h| (h.hop.as_str(), h.entry))
        .collect();
    assert_eq!(
        hops,
        [
            ("client", true),
            ("frontend", false),
            ("catalog", false),
            ("inventory", false)
        ]
    );
    let inventory = hop(&m, "inventory");
    assert!(
        inventory
            .lines
            .iter()
            .any(|l| l.response_code == 503 && l.line.contains("inbound|8080||")),
        "{inventory:#?}"
    );
    for h in &m.access_log {
        assert!(h.lines.iter().any(|l| !l.failure), "{h:#?}");
    }
}
