//! `world.middleboxes` of `kind: dns_firewall` (incidents.md INC-04: an
//! egress firewall that admits only DNS-learned addresses and forgets them at
//! TTL expiry; INC-05: a firewall resolving on its own schedule or view),
//! through the engine, in simulated time.

use std::path::Path;

use meshsim_core::{MitigationResult, RunResult};
use meshsim_engine::Scenario;

#[path = "support/engine.rs"]
mod support;
use support::{invalid, run_seeded};

/// A no-keepalive app (one dial and one look-up per request, 1/s) behind an
/// own-resolver firewall refreshing every 60 s; the partner moves from
/// 52.1.1.10 to 52.1.1.11 at 90 s (both serve).
const OWN: &str = "\
version: 1
name: own
duration: 3m
world:
  network: { latency: 1ms }
  dns:
    zones:
      api.partner.example: { a: [52.1.1.10], ttl: 5s }
  external:
    - { name: old, address: 52.1.1.10:80, routes: [{ prefix: /, status: 200 }] }
    - { name: new, address: 52.1.1.11:80, routes: [{ prefix: /, status: 200 }] }
  middleboxes:
    - { kind: dns_firewall, name: fortigate, learn: own, refresh: 60s }
  pods:
    - name: app
      app:
        client: go
        connect_timeout: 2s
        calls:
          - { url: \"http://api.partner.example/\", rate: 1/s, arrival: constant }
timeline:
  - at: 90s
    dns.set: { api.partner.example: { a: [52.1.1.11] } }
mitigations:
  - name: none
    app: { keep_alive: false }
";

fn mitigation<'a>(r: &'a RunResult, name: &str) -> &'a MitigationResult {
    r.mitigations.iter().find(|m| m.name == name).unwrap()
}

fn counter(m: &MitigationResult, name: &str) -> u64 {
    m.middleboxes[0].counter(name).unwrap()
}

fn catalogue(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    Scenario::load(&path).unwrap()
}

/// incidents.md INC-05: the firewall resolves on its own schedule (FortiGate
/// refreshes FQDN objects at most every 60 s); after the answer changes, the
/// client's connects to the new address are dropped until the firewall's
/// next look-up (at 120 s), and pass afterwards.
#[test]
fn a_firewall_resolving_on_its_own_schedule_drops_the_new_address_until_its_next_look_up() {
    let s = Scenario::parse(OWN, Path::new("t.yaml")).unwrap();
    let r = run_seeded(&s, 1);
    let m = mitigation(&r, "none");
    let first = m.first_error_s.unwrap();
    let last = m.last_error_s.unwrap();
    // Error times are when the request ended: its 2 s connect timeout later.
    assert!((92.0..93.0).contains(&first), "first error at {first}");
    assert!((117.0..123.0).contains(&last), "last error at {last}");
    // Calls at 90..=119 s wait for their 2 s connect timeout; the calls
    // from 118 s on have a SYN retransmission after the 120 s look-up.
    assert!(
        (26..=30).contains(&m.errors),
        "{} errors, last at {last}",
        m.errors
    );
    assert!(counter(m, "denied") >= m.errors);
}

/// incidents.md INC-05: a firewall whose resolver view gives another address
/// than the client's admits none of the client's connections.
#[test]
fn a_firewall_with_another_view_of_the_name_admits_none_of_the_clients_connections() {
    let text = OWN.replace(
        "refresh: 60s }",
        "refresh: 60s, view: { api.partner.example: [52.1.1.99] } }",
    );
    let s = Scenario::parse(&text, Path::new("t.yaml")).unwrap();
    let r = run_seeded(&s, 1);
    let m = mitigation(&r, "none");
    assert_eq!(m.errors, m.requests);
    assert_eq!(counter(m, "admitted"), 0);
}

/// The reset flavour fails a request on an expired flow in milliseconds
/// (503 UC, fact sheet §11 (b)); the black-hole flavour leaves it hanging
/// until the governing timeout (Linux's 924.6 s retransmission give-up with
/// Istio's route timeout off).
#[test]
fn the_reset_flavour_fails_fast_where_the_blackhole_flavour_hangs() {
    let reset = run_seeded(&catalogue("firewall-dns-ttl.yaml"), 7);
    let blackhole = run_seeded(&catalogue("firewall-dns-ttl-blackhole.yaml"), 7);
    let (r, b) = (mitigation(&reset, "none"), mitigation(&blackhole, "none"));
    assert!(
        r.latency_ms.max < 15_000.0,
        "reset max {}",
        r.latency_ms.max
    );
    assert!(
        b.latency_ms.max > 900_000.0,
        "blackhole max {}",
        b.latency_ms.max
    );
    assert!(counter(r, "flows_reset") > 0 && counter(r, "flows_blackholed") == 0);
    assert!(counter(b, "flows_blackholed") > 0 && counter(b, "flows_reset") == 0);
    for run in [&reset, &blackhole] {
        let failed: Vec<String> = run
            .mitigations
            .iter()
            .flat_map(|m| m.expectations.iter().filter(|e| !e.passed))
            .map(|e| format!("{e:?}"))
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }
}

/// The report's event log shows the firewall learning, admitting, the entry
/// expiring and the flow it then reset, oldest first.
#[test]
fn the_report_logs_the_firewalls_learned_admitted_expired_and_reset_events_in_order() {
    let s = catalogue("firewall-dns-ttl.yaml");
    let opts = meshsim_engine::RunOptions {
        mitigations: vec!["none".into()],
        ..Default::default()
    };
    let r = meshsim_engine::run(&s, &opts, |_| {}).unwrap();
    let b = &r.mitigations[0].middleboxes[0];
    assert_eq!(
        (b.name.as_str(), b.kind.as_str()),
        ("egress-fw", "dns_firewall")
    );
    let first: Vec<&str> = b.events.iter().map(|e| e.event.as_str()).collect();
    let pos = |what: &str| first.iter().position(|e| *e == what).unwrap();
    assert!(pos("learned") < pos("admitted"));
    assert!(pos("admitted") < pos("expired"));
    assert!(pos("expired") < pos("reset"));
    assert!(b.events.windows(2).all(|w| w[0].at_s <= w[1].at_s));
    let reset = &b.events[pos("reset")];
    assert_eq!(reset.name.as_deref(), Some("api.partner.example"));
    assert!(
        reset
            .flow
            .as_deref()
            .is_some_and(|f| f.ends_with("-> 52.1.1.10:80"))
    );
}

#[test]
fn a_bad_firewall_is_rejected_with_its_line_and_reason() {
    let cases = [
        ("learn: own,", "learn: always,", "use snoop, own"),
        ("learn: own,", "learn: snoop,", "learn: own"),
        ("refresh: 60s", "refresh: 60s, idle: 5m", "idle_timer key"),
        (
            "refresh: 60s",
            "refresh: 60s, on_expiry: drop",
            "use reset, blackhole, keep",
        ),
        (
            "refresh: 60s",
            "refresh: 60s, on_unknown: reject",
            "use drop, reset",
        ),
        (
            "refresh: 60s",
            "refresh: 60s, inside: [10.0.0.0/40]",
            "not an address range",
        ),
        (
            "refresh: 60s",
            "refresh: 60s, min_ttl: 60s, max_ttl: 30s",
            "shorter than min_ttl",
        ),
    ];
    for (from, to, want) in cases {
        let (line, _, path, message) = invalid(&OWN.replace(from, to));
        assert_eq!(line, 13, "{to}");
        assert!(path.starts_with("world.middleboxes"), "{to}: {path}");
        assert!(message.contains(want), "{to}: {message}");
    }
}

#[test]
fn an_external_host_in_the_default_inside_range_asks_for_inside() {
    let text = OWN.replace("52.1.1.11:80", "10.1.1.11:80");
    let (line, _, _, message) = invalid(&text);
    assert_eq!(line, 13);
    assert!(message.contains("set `inside`"), "{message}");
    let fixed = text.replace("refresh: 60s }", "refresh: 60s, inside: [10.0.0.0/24] }");
    assert!(Scenario::parse(&fixed, Path::new("t.yaml")).is_ok());
}

#[test]
fn an_idle_timer_refuses_the_firewalls_keys() {
    let text = OWN.replace(
        "{ kind: dns_firewall, name: fortigate, learn: own, refresh: 60s }",
        "{ kind: idle_timer, name: nat, idle: 350s, grace: 5s }",
    );
    let (line, _, _, message) = invalid(&text);
    assert_eq!(line, 13);
    assert!(
        message.contains("`grace` is a dns_firewall key"),
        "{message}"
    );
}

#[test]
fn a_run_through_a_firewall_is_byte_identical_for_the_same_seed() {
    let s = catalogue("firewall-dns-ttl.yaml");
    let a = serde_json::to_string(&run_seeded(&s, 3)).unwrap();
    let b = serde_json::to_string(&run_seeded(&s, 3)).unwrap();
    assert_eq!(a, b);
}
