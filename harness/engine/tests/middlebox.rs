//! `world.middleboxes`: an idle-timer box (incidents.md A4: AWS NLB / NAT
//! gateway 350 s, RST on the next packet) on the path of an entry pod whose
//! sidecar keeps a pooled upstream connection, in simulated time.

use std::path::Path;

use meshsim_core::MitigationResult;
use meshsim_engine::{MiddleboxKind, Scenario};
use meshsim_net::OnExpiry;

#[path = "support/engine.rs"]
mod support;
use support::{NAT_WORLD, SE_NONE, invalid, run_seeded};

/// One request every 400 s (9/h) through a 350 s reset-flavour idle timer,
/// to a server that never closes an idle connection itself.
/// Every mitigation but `passthrough` declares the host with a resolution
/// NONE ServiceEntry (upstream pool idle timeout 1 h).
fn idle() -> String {
    format!(
        "\
version: 1
name: idle
{NAT_WORLD}mitigations:
  - name: none
{SE_NONE}  - name: passthrough
  - name: tcp-keepalive
{SE_NONE}      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {{ name: api }}
      spec:
        host: api.partner.example
        trafficPolicy:
          connectionPool:
            tcp: {{ tcpKeepalive: {{ time: 300s, interval: 75s }} }}
  - name: http-idle-timeout
{SE_NONE}      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {{ name: api }}
      spec:
        host: api.partner.example
        trafficPolicy:
          connectionPool:
            http: {{ idleTimeout: 300s }}
"
    )
}

fn mitigation<'a>(r: &'a meshsim_core::RunResult, name: &str) -> &'a MitigationResult {
    r.mitigations.iter().find(|m| m.name == name).unwrap()
}

fn labels(m: &MitigationResult) -> Vec<String> {
    m.errors_by_kind.iter().map(|k| k.kind.clone()).collect()
}

/// incidents.md A4 (AWS NLB / NAT gateway: RST on a packet after 350 s idle)
/// and fact sheet §4.1/§4.2 (Envoy's upstream pool keeps an idle connection
/// 1 h by default; DR `tcp.tcpKeepalive` sets `SO_KEEPALIVE`, `http.idleTimeout`
/// closes idle pooled connections): the sidecar's pooled connection reused
/// after 400 s meets the box's RST, a 503 UC; keepalive probes or an idle
/// timeout below 350 s avoid it, and so does `PassthroughCluster`'s 5 min
/// upstream idle timeout (fact sheet §3.4).
#[test]
fn a_pooled_connection_idle_past_a_reset_middlebox_fails_with_503_uc_unless_kept_alive_or_retired()
{
    let s = Scenario::parse(&idle(), Path::new("t.yaml")).unwrap();
    let r = run_seeded(&s, 1);
    let none = mitigation(&r, "none");
    // Requests at 0, 400, ..., 2000 s: every reuse (400, 1200, 2000 s) is
    // reset; the failed connection is gone, so the next request dials anew.
    assert_eq!(none.requests, 6);
    assert_eq!(none.errors, 3, "{:?}", labels(none));
    let details = none.access_log[0]
        .lines
        .iter()
        .filter_map(|l| l.details.as_deref());
    assert!(
        details
            .clone()
            .any(|d| d == "upstream_reset_before_response_started{connection_termination}"),
        "{:?}",
        details.collect::<Vec<_>>()
    );
    assert!(
        labels(none).iter().all(|l| l.starts_with("503 UC")),
        "{:?}",
        labels(none)
    );
    for fixed in ["passthrough", "tcp-keepalive", "http-idle-timeout"] {
        let m = mitigation(&r, fixed);
        assert_eq!(m.requests, none.requests, "{fixed}");
        assert_eq!(m.errors, 0, "{fixed}: {:?}", labels(m));
    }
}

#[test]
fn middleboxes_default_to_every_entry_pod_and_reset() {
    let text = idle().replace(
        "{ kind: idle_timer, name: nat, idle: 350s, on_expiry: reset }",
        "{ kind: idle_timer, name: nlb, idle: 4m }",
    );
    let s = Scenario::parse(&text, Path::new("t.yaml")).unwrap();
    let m = &s.middleboxes[0];
    assert_eq!(m.pods, vec!["app".to_string()]);
    assert_eq!(m.clients, vec![s.pods[0].address]);
    assert_eq!(
        m.kind,
        MiddleboxKind::IdleTimer {
            idle: std::time::Duration::from_secs(240),
            on_expiry: OnExpiry::Reset
        }
    );
}

#[test]
fn an_unknown_middlebox_key_is_rejected_with_its_line() {
    let (line, _, path, message) = invalid(&idle().replace("on_expiry: reset", "on_expiri: reset"));
    assert_eq!(line, 12);
    assert!(path.contains("middleboxes[0]"), "{path}");
    assert!(message.contains("on_expiry"), "{message}");
}

#[test]
fn a_bad_middlebox_is_rejected_with_its_line_and_reason() {
    let cases = [
        (
            "kind: idle_timer",
            "kind: firewall",
            "unknown middlebox kind",
        ),
        (
            "on_expiry: reset",
            "on_expiry: close",
            "use reset, drop, reset_at_expiry",
        ),
        (
            "idle: 350s",
            "preset: aws-elb",
            "unknown preset \"aws-elb\"",
        ),
        ("idle: 350s", "idle: 0s", "out of range"),
        (
            "name: nat,",
            "name: nat, pods: [web],",
            "unknown pod \"web\"",
        ),
    ];
    for (from, to, want) in cases {
        let (line, _, path, message) = invalid(&idle().replace(from, to));
        assert_eq!(line, 12, "{to}");
        assert!(path.starts_with("world.middleboxes"), "{to}: {path}");
        assert!(message.contains(want), "{to}: {message}");
    }
}

/// incidents.md A4 (Azure Load Balancer: silent drop after 4 min idle by
/// default) and fact sheet §11 (b) (silent drops: Envoy only notices through
/// TCP keepalive, an idle timeout or the kernel's retransmission give-up;
/// Istio's route timeout is 0): the request on the reused connection hangs
/// until the kernel gives up; `tcp.tcpKeepalive` (time 200 s) below 4 min
/// keeps the flow.
#[test]
fn a_request_on_a_flow_a_dropping_middlebox_forgot_hangs_until_the_kernel_gives_up() {
    let text = idle()
        .replace("idle: 350s, on_expiry: reset", "idle: 4m, on_expiry: drop")
        .replace("time: 300s", "time: 200s");
    let s = Scenario::parse(&text, Path::new("t.yaml")).unwrap();
    let r = run_seeded(&s, 1);
    let none = mitigation(&r, "none");
    // The request of 400 s waits for the retransmission give-up (924.6 s),
    // then gets Envoy's 503 UC; the next reuse (1200 s) fails the same way;
    // the last one (2000 s) is still waiting when the run ends.
    assert_eq!((none.requests, none.errors), (6, 3), "{:?}", labels(none));
    assert_eq!(none.first_error_s, Some(1324.6));
    assert!(
        labels(none).contains(&"503 UC".to_string()),
        "{:?}",
        labels(none)
    );
    let m = mitigation(&r, "tcp-keepalive");
    assert_eq!(m.errors, 0, "{:?}", labels(m));
}

#[test]
fn a_run_through_a_middlebox_is_the_same_for_the_same_seed() {
    let text = idle().replace("on_expiry: reset", "on_expiry: drop");
    let s = Scenario::parse(&text, Path::new("t.yaml")).unwrap();
    let a = format!("{:?}", run_seeded(&s, 5));
    let b = format!("{:?}", run_seeded(&s, 5));
    assert_eq!(a, b);
}

#[test]
fn the_nat_idle_timeout_catalogue_scenario_meets_its_expectations() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/nat-idle-timeout.yaml");
    let s = Scenario::load(&path).unwrap();
    let r = run_seeded(&s, s.seed);
    assert_eq!(r.mitigations.len(), 5);
    for m in &r.mitigations {
        assert!(!m.expectations.is_empty(), "{}", m.name);
        for e in &m.expectations {
            assert!(e.passed, "{}: {e:?}", m.name);
        }
    }
}

/// incidents.md A4 and issue 4 (the report shows what a middlebox did):
/// each mitigation's result carries the idle timer's counters, in its fixed
/// order, read at the end of the mitigation. Without a mitigation every
/// reuse after 400 s meets a forgotten flow (expired, answered with a RST);
/// keepalive probes every 300 s keep the one flow fresh.
#[test]
fn each_mitigation_reports_the_idle_timer_counters_and_log_with_expired_flows_only_without_a_fix() {
    let s = Scenario::parse(&idle(), Path::new("t.yaml")).unwrap();
    let opts = meshsim_engine::RunOptions {
        seed: Some(1),
        mitigations: vec!["none".into(), "tcp-keepalive".into()],
        duration: Some(std::time::Duration::from_secs(1300)),
        interrupted: None,
        ..meshsim_engine::RunOptions::default()
    };
    let r = meshsim_engine::run(&s, &opts, |_| {}).unwrap();
    let counters = |name: &str| {
        let m = mitigation(&r, name);
        assert_eq!(m.middleboxes.len(), 1, "{name}");
        let b = &m.middleboxes[0];
        assert_eq!((b.name.as_str(), b.kind.as_str()), ("nat", "idle_timer"));
        // Every forgotten flow logs when it expired and when it was reset.
        let expired = b.events.iter().filter(|e| e.event == "expired").count();
        let reset = b.events.iter().filter(|e| e.event == "reset").count();
        assert_eq!(expired, reset, "{b:?}");
        assert_eq!(expired as u64, b.counter("expired").unwrap(), "{b:?}");
        assert!(b.events.windows(2).all(|w| w[0].at_s <= w[1].at_s));
        b.counters
            .iter()
            .map(|c| (c.name.clone(), c.count))
            .collect::<Vec<_>>()
    };
    let want = |tracked, expired, resets| {
        [
            ("tracked", tracked),
            ("expired", expired),
            ("resets", resets),
            ("dropped", 0),
        ]
        .map(|(n, c)| (n.to_string(), c))
        .to_vec()
    };
    // Requests at 0, 400, 800, 1200 s: flows dialled at 0 and 800 s, both
    // forgotten when reused at 400 and 1200 s. The box answers every
    // non-RST packet of a forgotten flow with a RST: the request's, and one
    // more per flow (the net crate's `IdleTimerStats::resets`).
    assert_eq!(counters("none"), want(2, 2, 4));
    assert_eq!(counters("tcp-keepalive"), want(1, 0, 0));
}

/// incidents.md A4: each product's default idle time and behaviour at
/// expiry, by name; `idle` and `on_expiry` written next to a preset win.
#[test]
fn a_preset_fills_the_products_idle_time_and_expiry_and_explicit_keys_override_it() {
    let cases = [
        ("preset: aws-nat-gateway", 350, OnExpiry::Reset),
        ("preset: aws-network-firewall", 350, OnExpiry::Drop),
        ("preset: azure-lb", 240, OnExpiry::Drop),
        ("preset: azure-lb-tcp-reset", 240, OnExpiry::ResetAtExpiry),
        ("preset: gcp-cloud-nat", 1200, OnExpiry::Drop),
        ("preset: gcp-cloud-nat, idle: 10m", 600, OnExpiry::Drop),
        ("preset: azure-lb, on_expiry: reset", 240, OnExpiry::Reset),
    ];
    for (keys, secs, on_expiry) in cases {
        let text = idle().replace("idle: 350s, on_expiry: reset", keys);
        let s = Scenario::parse(&text, Path::new("t.yaml")).unwrap();
        let want = MiddleboxKind::IdleTimer {
            idle: std::time::Duration::from_secs(secs),
            on_expiry,
        };
        assert_eq!(s.middleboxes[0].kind, want, "{keys}");
    }
}

#[test]
fn an_idle_timer_without_idle_or_preset_is_rejected_naming_the_presets() {
    let (line, _, _, message) = invalid(&idle().replace("idle: 350s, ", ""));
    assert_eq!(line, 12);
    assert!(
        message.contains("`idle` (e.g. 350s) or a `preset`"),
        "{message}"
    );
    assert!(message.contains("aws-nat-gateway") && message.contains("gcp-cloud-nat"));
}

/// incidents.md A4 (Azure Load Balancer's optional "TCP reset on idle":
/// RST to both ends when the flow expires) and fact sheet §4.1 (Envoy's
/// pool drops a connection its peer reset while idle): the pooled
/// connection is closed at 350 s, before the next request at 400 s, which
/// dials anew, so nothing fails where the silent and reset-on-next-packet
/// flavours fail every reuse.
#[test]
fn a_box_resetting_both_ends_at_expiry_closes_the_pooled_connection_before_it_is_reused() {
    let text = idle().replace("on_expiry: reset", "on_expiry: reset_at_expiry");
    let s = Scenario::parse(&text, Path::new("t.yaml")).unwrap();
    let r = run_seeded(&s, 1);
    let none = mitigation(&r, "none");
    assert_eq!((none.requests, none.errors), (6, 0), "{:?}", labels(none));
    let boxes = &none.middleboxes[0];
    let count = |name: &str| {
        boxes
            .counters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.count)
    };
    // Every request dials anew: the connections of the requests at 0, 400,
    // ..., 1600 s expire 350 s later (the last one's lies past the run's
    // end), each with a RST to both ends, logged at the moment of expiry.
    assert_eq!(count("tracked"), Some(6), "{boxes:?}");
    assert_eq!(count("expired"), Some(5), "{boxes:?}");
    assert_eq!(count("resets"), Some(10), "{boxes:?}");
    let first = &boxes.events[..2];
    assert!(
        first.iter().all(|e| (e.at_s - 350.0).abs() < 0.01),
        "{first:?}"
    );
}
