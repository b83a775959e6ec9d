//! `meshsim check` on the catalogue: each scenario's mitigations are linted
//! with what the scenario knows, and the rules' demo scenarios really show
//! their findings where the incident is, and not where it is fixed.

use std::path::{Path, PathBuf};

use meshsim_engine::{CheckFinding, FileCheck, check_file, check_text};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

#[path = "support/engine.rs"]
mod support;
use support::catalogue;

fn of<'a>(check: &'a FileCheck, mitigation: &str) -> Vec<&'a CheckFinding> {
    check
        .findings
        .iter()
        .filter(|f| f.mitigation.as_deref() == Some(mitigation))
        .collect()
}

fn codes(check: &FileCheck, mitigation: &str) -> Vec<&'static str> {
    of(check, mitigation)
        .iter()
        .map(|f| f.finding.code)
        .collect()
}

#[test]
fn every_catalogue_scenario_is_checked_without_error() {
    for f in catalogue() {
        let check = check_file(&f);
        assert!(check.scenario, "{}", f.display());
        assert!(
            check.errors.is_empty(),
            "{}: {:?}",
            f.display(),
            check.errors
        );
        for finding in &check.findings {
            assert!(finding.finding.line.is_some(), "{finding:?}");
        }
    }
}

/// Fact sheet §3.1, §3.4: without a ServiceEntry the sidecar forwards
/// through PassthroughCluster (ORIGINAL_DST), pinned to the dialled address.
#[test]
fn alb_ip_rotation_none_is_found_pinned_to_a_rotating_address_and_resolution_dns_is_not() {
    let check = check_file(&scenario("alb-ip-rotation.yaml"));
    let none = of(&check, "none");
    let pinned: Vec<_> = none.iter().filter(|f| f.finding.code == "MS0201").collect();
    assert_eq!(pinned.len(), 1, "{none:?}");
    let f = &pinned[0].finding;
    assert_eq!(f.resource, "host api.partner.example");
    assert!(
        f.message.contains("dns.set api.partner.example at 5m17s"),
        "{}",
        f.message
    );
    assert_eq!(f.demo, Some("scenarios/alb-ip-rotation.yaml"));
    assert_eq!(
        (f.line, f.column),
        (Some(41), Some(11)),
        "the `name: none` value"
    );
    for fixed in ["resolution-dns", "resolution-dns+retries"] {
        assert!(
            !codes(&check, fixed).contains(&"MS0201"),
            "{fixed}: {:?}",
            of(&check, fixed)
        );
    }
    let nailed: Vec<_> = of(&check, "max-connection-duration")
        .into_iter()
        .filter(|f| f.finding.code == "MS0201")
        .collect();
    assert_eq!(nailed.len(), 1);
    assert_eq!(
        nailed[0].finding.line,
        Some(62),
        "the block's `resolution: NONE` line"
    );
    assert_eq!(nailed[0].finding.column, Some(21));
}

/// Fact sheet §1.2: a hung attempt without perTryTimeout is never retried.
#[test]
fn firewall_blackhole_retries_without_per_try_timeout_are_found_and_with_it_are_not() {
    let check = check_file(&scenario("firewall-dns-ttl-blackhole.yaml"));
    assert!(codes(&check, "retries-no-per-try-timeout").contains(&"MS0106"));
    assert!(!codes(&check, "retries").contains(&"MS0106"));
}

/// Fact sheet §4.1, §4.2: the NAT forgets flows idle 350 s; Envoy pools 1 h.
#[test]
fn nat_idle_timeout_none_is_found_and_the_idle_timeout_and_keepalive_fixes_are_not() {
    let check = check_file(&scenario("nat-idle-timeout.yaml"));
    assert!(
        codes(&check, "none").contains(&"MS0204"),
        "{:?}",
        of(&check, "none")
    );
    for fixed in ["passthrough", "tcp-keepalive", "http-idle-timeout"] {
        assert!(
            !codes(&check, fixed).contains(&"MS0204"),
            "{fixed}: {:?}",
            of(&check, fixed)
        );
    }
}

/// incidents.md A4 (Azure LB "TCP reset on idle" resets both ends at
/// expiry, so the pool drops the connection before reusing it): MS0204 is
/// not raised for such a box, as the run shows no error for it
/// (`engine::middlebox::a_box_resetting_both_ends_at_expiry_closes_the_pooled_connection_before_it_is_reused`).
#[test]
fn a_box_resetting_both_ends_at_expiry_raises_no_idle_timeout_finding() {
    let path = scenario("nat-idle-timeout.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let reset = text.replace("on_expiry: reset", "on_expiry: reset_at_expiry");
    assert_ne!(reset, text, "the scenario names its on_expiry");
    let check = check_text(&reset, &path);
    assert!(check.errors.is_empty(), "{:?}", check.errors);
    assert!(
        !codes(&check, "none").contains(&"MS0204"),
        "{:?}",
        of(&check, "none")
    );
}

/// Fact sheet §8, INC-13: STRICT while `legacy-batch` has no sidecar is
/// found where it is in force, not under PERMISSIVE or the port exception.
#[test]
fn strict_mtls_none_is_found_with_its_plaintext_caller_and_the_fixes_are_not() {
    let check = check_file(&scenario("strict-mtls-non-mesh-client.yaml"));
    let strict: Vec<_> = of(&check, "none")
        .into_iter()
        .filter(|f| f.finding.code == "MS0301")
        .collect();
    assert_eq!(strict.len(), 1, "{:?}", of(&check, "none"));
    assert!(strict[0].finding.message.contains("legacy-batch"));
    for fixed in ["permissive", "port-exception"] {
        assert!(
            !codes(&check, fixed).contains(&"MS0301"),
            "{fixed}: {:?}",
            of(&check, fixed)
        );
    }
}

/// INC-14, §8: the probe rewrite is off and the namespace STRICT: the
/// kubelet's probe is found (MS0302, at the PeerAuthentication), not with
/// the rewrite, PERMISSIVE or an exec probe; the `tcp_socket` probe is
/// found as one the sidecar answers (MS0303).
#[test]
fn strict_mtls_probes_none_is_found_with_its_probe_and_the_fixes_are_not() {
    let check = check_file(&scenario("strict-mtls-probes.yaml"));
    assert_eq!(
        codes(&check, "none"),
        ["MS0302"],
        "{:?}",
        of(&check, "none")
    );
    for fixed in ["probe-rewrite", "permissive", "exec-probe"] {
        assert!(
            codes(&check, fixed).is_empty(),
            "{fixed}: {:?}",
            of(&check, fixed)
        );
    }
    assert_eq!(codes(&check, "tcp-probe"), ["MS0303"]);
}

/// Fact sheet §2.1, §2.2: the gRPC team's retryOn replaces Istio's default.
#[test]
fn http2_refused_streams_grpc_status_retries_are_found_dropping_refused_stream() {
    let check = check_file(&scenario("http2-refused-streams.yaml"));
    assert!(codes(&check, "grpc-status-retries").contains(&"MS0108"));
}

const SCENARIO: &str = "\
version: 1
name: broken
duration: 10s
world:
  external:
    - { name: api, address: 10.1.0.1:80 }
  pods:
    - name: app
      sidecar: true
      app: { client: go, calls: [{ url: \"http://10.1.0.1/\", rate: 20/s }] }
mitigations:
  - name: typo
    istio: |
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: { name: api }
      spec:
        hosts: [api.example]
        http:
          - route: [{ destination: { host: api.example } }]
            retries: { attempts: 2, retryOn: \"5xx,gateway-eror\" }
  - name: not-yaml
    istio: |
      kind: VirtualService
      spec: { hosts: [
";

/// Istio rejects unknown tokens (§2.1); `run` stops at the first error,
/// `check` reports it with its line and goes on with the other blocks.
#[test]
fn a_block_istio_rejects_is_still_linted_and_a_block_that_does_not_parse_is_an_error() {
    let check = check_text(SCENARIO, Path::new("broken.yaml"));
    let typo: Vec<_> = of(&check, "typo")
        .into_iter()
        .filter(|f| f.finding.document > 0)
        .collect();
    assert_eq!(typo.len(), 1, "{typo:?}");
    assert_eq!(typo[0].finding.code, "MS0102");
    assert_eq!(
        (typo[0].finding.line, typo[0].finding.column),
        (Some(21), Some(46))
    );
    assert_eq!(check.errors.len(), 1);
    let e = check.errors[0].to_string();
    assert!(e.starts_with("broken.yaml:2"), "{e}");
}

#[test]
fn a_plain_istio_file_is_linted_with_no_scenario_context() {
    let yaml = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api }
spec:
  hosts: [api.example]
  http:
    - route: [{ destination: { host: api.example } }]
      timeout: 1s
      retries: { attempts: 2, perTryTimeout: 2s }
";
    let check = check_text(yaml, Path::new("vs.yaml"));
    assert!(!check.scenario);
    let codes: Vec<&str> = check.findings.iter().map(|f| f.finding.code).collect();
    assert_eq!(codes, vec!["MS0104"]);
    assert_eq!(check.findings[0].finding.line, Some(8));
    assert!(check.has_warnings());
}

const WORLD: &str = "\
version: 1
name: context
duration: 10s
world:
  dns:
    zones:
      api.partner.example: { a: [52.1.1.10], ttl: 60s }
  external:
    - { name: partner, address: 52.1.1.10:80 }
  services:
    - name: inventory
      ports: [{ name: web, port: 80 }]
      app: { client: go, routes: [{ prefix: / }] }
  pods:
    - name: app
      sidecar: true
      app:
        client: go
        calls:
          - { url: \"http://api.partner.example/pay\", method: POST, rate: 1/s }
          - { url: \"http://inventory.default.svc.cluster.local/\", rate: 1/s }
timeline:
  - at: 5s
    host.stop: { name: partner, how: blackhole }
mitigations:
  - name: retries
    istio: |
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: { name: partner }
      spec:
        hosts: [api.partner.example]
        http:
          - route: [{ destination: { host: api.partner.example } }]
            retries: { attempts: 2, retryOn: \"5xx\" }
";

/// Fact sheet §1.1, §1.2, §7.2: the world says the partner black-holes
/// (host.stop blackhole) and the app POSTs to it; the Service's port name
/// has no protocol, but only plain HTTP reaches it, which sniffing finds.
#[test]
fn the_context_comes_from_the_world_and_timeline() {
    let check = check_text(WORLD, Path::new("context.yaml"));
    assert!(check.errors.is_empty(), "{:?}", check.errors);
    let world: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.mitigation.is_none())
        .collect();
    assert!(world.is_empty(), "{world:?}");
    let retries = of(&check, "retries");
    let blackhole = retries.iter().find(|f| f.finding.code == "MS0106").unwrap();
    assert!(
        blackhole
            .finding
            .message
            .contains("host.stop partner blackhole at 5s"),
        "{}",
        blackhole.finding.message
    );
    assert!(codes(&check, "retries").contains(&"MS0107"), "{retries:?}");
}

/// Fact sheet §7.1, §7.3: `tcp-web` makes the port TCP, so the
/// VirtualService's retries never apply; the fixes bring the HTTP chain back.
#[test]
fn port_naming_none_is_found_with_http_rules_on_a_tcp_port_and_the_fixes_are_not() {
    let check = check_file(&scenario("port-naming.yaml"));
    let none = of(&check, "none");
    let tcp: Vec<_> = none.iter().filter(|f| f.finding.code == "MS0109").collect();
    assert_eq!(tcp.len(), 1, "{none:?}");
    assert!(tcp[0].finding.message.contains("\"tcp-web\""));
    for fixed in ["rename-port", "app-protocol", "unprefixed-name"] {
        assert!(
            codes(&check, fixed).is_empty(),
            "{fixed}: {:?}",
            of(&check, fixed)
        );
    }
}

/// Fact sheet §3.4: REGISTRY_ONLY blocks the undeclared vendor and ledger,
/// and the vendor's port 80 when its ServiceEntry lists 443 only.
#[test]
fn registry_only_none_is_found_per_undeclared_host_and_port_and_the_service_entries_are_not() {
    let check = check_file(&scenario("registry-only-egress.yaml"));
    let hosts: Vec<&str> = of(&check, "none")
        .iter()
        .filter(|f| f.finding.code == "MS0205")
        .map(|f| f.finding.resource.as_str())
        .collect();
    assert_eq!(
        hosts,
        vec![
            "host ledger.legacy.example",
            "host telemetry.vendor.example"
        ]
    );
    let f = &of(&check, "none")[0].finding;
    assert_eq!(
        f.path,
        "mitigations[0].istio: spec.meshConfig.outboundTrafficPolicy.mode"
    );
    assert_eq!(f.line, Some(47), "the block's meshConfig line");
    let only_443 = codes(&check, "service-entry-443-only");
    assert!(only_443.contains(&"MS0206"), "{only_443:?}");
    for fixed in ["service-entry", "allow-any"] {
        let loud: Vec<_> = of(&check, fixed)
            .into_iter()
            .filter(|f| f.finding.severity <= meshsim_istio::Severity::Warning)
            .collect();
        assert!(loud.is_empty(), "{fixed}: {loud:?}");
    }
}

fn listening(listen: &str, istio: &str) -> String {
    format!(
        "\
version: 1
name: listen
duration: 10s
istio: \"{istio}\"
world:
  services:
    - name: ratings
      ports: [{{ name: http-api, port: 8080 }}]
      app: {{ listen: {listen}, routes: [{{ prefix: / }}] }}
  pods:
    - name: app
      sidecar: true
      app: {{ client: go, calls: [{{ url: \"http://ratings.default.svc.cluster.local:8080/\", rate: 1/s }}] }}
mitigations:
  - name: none
"
    )
}

/// Incidents INC-15 (istioctl analyze IST0143): Istio 1.10 moved the
/// inbound forward from 127.0.0.1 to the pod's address.
#[test]
fn an_app_bound_to_the_address_the_inbound_sidecar_does_not_forward_to_is_found_at_its_service() {
    let check = check_text(&listening("localhost", "1.24"), Path::new("l.yaml"));
    assert!(check.errors.is_empty(), "{:?}", check.errors);
    let world: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.mitigation.is_none())
        .collect();
    assert_eq!(world.len(), 1, "{world:?}");
    let f = &world[0].finding;
    assert_eq!(
        (f.code, f.resource.as_str()),
        ("MS0401", "Service default/ratings")
    );
    assert_eq!((f.line, f.path.as_str()), (Some(7), "world.services[0]"));
    assert!(
        codes(&check, "none").is_empty(),
        "reported once, for the world"
    );
    let old = check_text(&listening("localhost", "1.9"), Path::new("l.yaml"));
    assert!(old.findings.is_empty(), "{:?}", old.findings);
    let pod_ip = check_text(&listening("pod-ip", "1.9"), Path::new("l.yaml"));
    let codes: Vec<&str> = pod_ip.findings.iter().map(|f| f.finding.code).collect();
    assert_eq!(codes, vec!["MS0402"]);
    let any = check_text(&listening("0.0.0.0", "1.24"), Path::new("l.yaml"));
    assert!(any.findings.is_empty(), "{:?}", any.findings);
}

const REDECLARED: &str = "\
version: 1
name: redeclared
duration: 10s
world:
  services:
    - name: ratings
      ports: [{ name: http-api, port: 8080 }]
      app: { routes: [{ prefix: / }] }
    - name: ledger
      ports: [{ name: tcp-db, port: 5000 }]
      app: { routes: [{ prefix: / }] }
  pods:
    - name: app
      sidecar: true
      app: { client: go, calls: [{ url: \"http://ratings.default.svc.cluster.local:8080/\", rate: 1/s }] }
mitigations:
  - name: grpc
    services:
      - { name: ratings, ports: [{ name: grpc-api, port: 8080 }] }
  - name: unnamed
    services:
      - { name: ledger, ports: [{ name: db, port: 5000 }] }
";

/// Fact sheet §7.1: the ports a mitigation declares anew are linted like
/// the world's, at the mitigation's declaration: `grpc-` in front of an
/// HTTP/1.1 app (h2c), and an unprefixed port nothing known calls.
#[test]
fn the_ports_a_mitigation_declares_anew_are_linted_at_its_declaration() {
    let check = check_text(REDECLARED, Path::new("r.yaml"));
    assert!(check.errors.is_empty(), "{:?}", check.errors);
    assert!(
        check.findings.iter().all(|f| f.mitigation.is_some()),
        "{:?}",
        check.findings
    );
    let grpc = of(&check, "grpc");
    assert_eq!(grpc.len(), 1, "{grpc:?}");
    let f = &grpc[0].finding;
    assert_eq!((f.code, f.line), ("MS0110", Some(19)));
    assert_eq!(f.path, "mitigations[0].services[0].ports[0]");
    let unnamed = of(&check, "unnamed");
    assert_eq!(unnamed.len(), 1, "{unnamed:?}");
    assert_eq!(
        (
            unnamed[0].finding.code,
            unnamed[0].finding.resource.as_str()
        ),
        ("MS0101", "Service default/ledger")
    );
}
