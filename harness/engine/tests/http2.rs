//! HTTP/2 external hosts from scenario files (`protocol: http2`, the
//! `http2` knobs, `host.set` / `host.goaway`), reached through a sidecar
//! whose Istio resources decide whether it speaks h2c upstream (fact sheet
//! §4.2, §7.1), with refused streams and GOAWAY on the timeline (§1.1,
//! §2.2, §5.1).
//!
//! The host speaks only h2c (prior knowledge): a request that reaches it
//! over HTTP/1.1 fails, so a run without errors proves the sidecar spoke
//! HTTP/2, and `503 UR` (`remote refused stream reset`) exists only for
//! HTTP/2 streams.

use std::path::Path;

use meshsim_core::MitigationResult;
use meshsim_engine::{RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;
use support::invalid;

/// A checkout pod calling the h2c host `orders` (one address, 10 ms per
/// request) at 50/s for 10 s through its sidecar; `http2` is the host's
/// `http2` table, `timeline` the timeline entries, `istio` the only
/// mitigation's resources.
fn text(http2: &str, timeline: &str, istio: &str) -> String {
    let istio: String = istio.lines().map(|l| format!("      {l}\n")).collect();
    let timeline = if timeline.is_empty() {
        " []\n".to_owned()
    } else {
        format!("\n{timeline}")
    };
    format!(
        "version: 1
name: h2
duration: 10s
world:
  dns:
    zones:
      orders.grpc.internal: {{ a: [10.20.0.11], ttl: 30s }}
  external:
    - name: orders
      address: 10.20.0.11:50051
      protocol: http2
      http2: {http2}
      routes: [{{ prefix: /, latency: 10ms }}]
  pods:
    - name: checkout
      sidecar: true
      app:
        client: go
        calls: [{{ url: \"http://orders.grpc.internal:50051/orders.v1.Orders/Get\", method: POST, rate: 50/s, arrival: constant }}]
timeline:{timeline}mitigations:
  - name: m
    istio: |
{istio}"
    )
}

fn scenario(http2: &str, timeline: &str, istio: &str) -> Scenario {
    Scenario::parse(&text(http2, timeline, istio), Path::new("h2.yaml")).unwrap()
}

fn run(s: &Scenario) -> MitigationResult {
    let opts = RunOptions {
        seed: Some(5),
        ..RunOptions::default()
    };
    meshsim_engine::run(s, &opts, |_| {})
        .unwrap()
        .mitigations
        .remove(0)
}

/// The ServiceEntry of `orders` with its port's `protocol`.
fn service_entry(protocol: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{ name: orders }}
spec:
  hosts: [orders.grpc.internal]
  ports: [{{ number: 50051, name: grpc, protocol: {protocol} }}]
  resolution: DNS
"
    )
}

/// `service_entry(GRPC)` plus a VirtualService with `retries`.
fn with_retries(retries: &str) -> String {
    format!(
        "{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{ name: orders }}
spec:
  hosts: [orders.grpc.internal]
  http:
  - route: [{{ destination: {{ host: orders.grpc.internal }} }}]
    retries: {retries}
",
        service_entry("GRPC")
    )
}

fn kinds(m: &MitigationResult) -> Vec<&str> {
    m.errors_by_kind.iter().map(|k| k.kind.as_str()).collect()
}

/// Fact sheet §7.1 (`http2`/`grpc` ports make Envoy speak h2c upstream) and
/// §7.3's mismatch row: a `GRPC` ServiceEntry port reaches the h2c-only
/// host without an error; the same port declared `HTTP` speaks HTTP/1.1 to
/// it and every request fails.
#[test]
fn a_grpc_service_entry_port_makes_the_sidecar_speak_h2c_to_an_http2_host() {
    let m = run(&scenario("{}", "", &service_entry("GRPC")));
    assert_eq!(m.requests, 500);
    assert_eq!(m.errors, 0, "{:?}", m.errors_by_kind);
    let m = run(&scenario("{}", "", &service_entry("HTTP2")));
    assert_eq!(m.errors, 0, "{:?}", m.errors_by_kind);
    let m = run(&scenario("{}", "", &service_entry("HTTP")));
    assert_eq!(m.errors, m.requests, "HTTP/1.1 to an h2c-only host fails");
}

/// Fact sheet §4.2 (`h2UpgradePolicy`, `useClientProtocol`): a
/// DestinationRule with `h2UpgradePolicy: UPGRADE` makes an `HTTP` port's
/// cluster speak HTTP/2; `useClientProtocol: true` keeps the application's
/// HTTP/1.1 even on a `GRPC` port.
#[test]
fn h2_upgrade_policy_upgrade_reaches_an_http2_host_and_use_client_protocol_does_not() {
    let dr = |http: &str| {
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{ name: orders }}
spec:
  host: orders.grpc.internal
  trafficPolicy: {{ connectionPool: {{ http: {http} }} }}
"
        )
    };
    let upgrade = service_entry("HTTP") + &dr("{ h2UpgradePolicy: UPGRADE }");
    let m = run(&scenario("{}", "", &upgrade));
    assert_eq!((m.requests, m.errors), (500, 0), "{:?}", m.errors_by_kind);
    let client = service_entry("GRPC") + &dr("{ useClientProtocol: true }");
    let m = run(&scenario("{}", "", &client));
    assert_eq!(m.errors, m.requests, "HTTP/1.1 to an h2c-only host fails");
}

/// Fact sheet §5.1 (`remote refused stream reset` -> 503 `UR`) and §2.1
/// (`attempts: 0` removes the retry policy): `host.set` refusing every
/// stream for 2 s fails exactly the requests of that window, with 503 UR.
#[test]
fn host_set_refusing_every_stream_for_a_window_fails_that_window_with_503_ur() {
    let timeline = "  - at: 4s
    host.set: { name: orders, http2: { refuse_every_nth: 1 }, for: 2s }
";
    let m = run(&scenario("{}", timeline, &with_retries("{ attempts: 0 }")));
    assert_eq!(kinds(&m), ["503 UR"]);
    assert!((99..=101).contains(&m.errors), "{} errors", m.errors);
    let (first, last) = (m.first_error_s.unwrap(), m.last_error_s.unwrap());
    assert!((4.0..4.05).contains(&first), "first error at {first}");
    assert!((5.95..6.05).contains(&last), "last error at {last}");
}

/// Fact sheet §2.2 (Istio's default retry policy has `refused-stream`, 2
/// retries) and §1.1: with no VirtualService retries, refused streams are
/// retried: against a host refusing every other stream, most requests
/// succeed on a retry (extra attempts); without retries, half fail.
#[test]
fn istio_default_retries_hide_refused_streams_behind_extra_attempts() {
    let timeline = "  - at: 4s
    host.set: { name: orders, http2: { refuse_every_nth: 2 }, for: 2s }
";
    let none = run(&scenario("{}", timeline, &with_retries("{ attempts: 0 }")));
    assert!((45..=55).contains(&none.errors), "{} errors", none.errors);
    let m = run(&scenario("{}", timeline, &service_entry("GRPC")));
    assert!(m.errors * 4 < none.errors, "{:?}", m.errors_by_kind);
    assert!(
        m.upstream_attempts_per_request > 1.05,
        "{}",
        m.upstream_attempts_per_request
    );
}

/// Fact sheet §1.1 (a stream above GOAWAY's last stream id is refused) and
/// §4.1 (a GOAWAY drains the connection): `host.goaway` under load makes
/// the streams the sidecar sent before it saw the GOAWAY fail as refused
/// streams without retries, and only around the event; Istio's default
/// policy retries them on a new connection.
#[test]
fn host_goaway_under_load_refuses_the_streams_in_flight_to_it_and_defaults_retry_them() {
    let timeline = "  - at: 5s
    host.goaway: { name: orders }
";
    let s = Scenario::parse(
        &text("{}", timeline, &with_retries("{ attempts: 0 }")).replace("50/s", "2000/s"),
        Path::new("h2.yaml"),
    )
    .unwrap();
    let m = run(&s);
    assert!(m.errors > 0, "the GOAWAY race refused streams");
    assert_eq!(kinds(&m), ["503 UR"]);
    let (first, last) = (m.first_error_s.unwrap(), m.last_error_s.unwrap());
    assert!(first >= 5.0 && last < 5.1, "errors from {first} to {last}");
    let s = Scenario::parse(
        &text("{}", timeline, &service_entry("GRPC")).replace("50/s", "2000/s"),
        Path::new("h2.yaml"),
    )
    .unwrap();
    assert_eq!(run(&s).errors, 0, "Istio's defaults retry refused streams");
}

/// gRPC's `MAX_CONNECTION_AGE` (`http2.max_connection_age`) sends a GOAWAY
/// on a connection that old: under load, the streams that cross it are
/// refused (fact sheet §1.1), so without retries the first errors come at
/// the connection's age, as 503 UR.
#[test]
fn max_connection_age_goaway_under_load_refuses_the_streams_that_cross_it() {
    let s = Scenario::parse(
        &text(
            "{ max_connection_age: 2s }",
            "",
            &with_retries("{ attempts: 0 }"),
        )
        .replace("50/s", "2000/s"),
        Path::new("h2.yaml"),
    )
    .unwrap();
    let m = run(&s);
    assert_eq!(kinds(&m), ["503 UR"]);
    let first = m.first_error_s.unwrap();
    assert!((2.0..2.1).contains(&first), "first error at {first}");
}

#[test]
fn bad_http2_hosts_and_events_are_rejected_with_their_line() {
    let good = text("{ max_connection_age: 30s }", "", &service_entry("GRPC"));
    Scenario::parse(&good, Path::new("h2.yaml")).unwrap();
    let (line, _, _, message) = invalid(&good.replace("protocol: http2", "protocol: http3"));
    assert_eq!(line, 11);
    assert!(
        message.contains("unsupported protocol \"http3\""),
        "{message}"
    );
    let (line, _, _, message) = invalid(&good.replace("protocol: http2", "protocol: http"));
    assert_eq!(line, 12);
    assert!(message.contains("needs `protocol: http2`"), "{message}");
    let (line, _, path, message) =
        invalid(&good.replace("max_connection_age: 30s", "refuse_every_nth: 0"));
    assert_eq!(
        (line, path.as_str()),
        (12, "world.external[0].http2.refuse_every_nth")
    );
    assert!(message.contains("at least 1"), "{message}");
    let (line, _, path, message) =
        invalid(&good.replace("max_connection_age: 30s", "max_conection_age: 30s"));
    assert_eq!(line, 12, "{path}");
    assert!(
        message.contains("did you mean `max_connection_age`"),
        "{message}"
    );
    let (line, _, _, message) =
        invalid(&good.replace("      http2:", "      keepalive_timeout: 5s\n      http2:"));
    assert_eq!(line, 11);
    assert!(message.contains("apply to HTTP/1.1 hosts"), "{message}");
}

#[test]
fn host_set_needs_an_http2_host_and_a_knob() {
    let with = |timeline: &str| text("{}", timeline, &service_entry("GRPC"));
    let (_, _, _, message) = invalid(&with(
        "  - at: 1s\n    host.set: { name: orders, http2: {} }\n",
    ));
    assert!(message.contains("at least one http2 knob"), "{message}");
    let (_, _, _, message) = invalid(&with("  - at: 1s\n    host.goaway: { name: nope }\n"));
    assert!(
        message.contains("no external host named \"nope\""),
        "{message}"
    );
    let http1 = with("  - at: 1s\n    host.goaway: { name: orders }\n")
        .replace("      protocol: http2\n      http2: {}\n", "");
    let (line, _, _, message) = invalid(&http1);
    assert_eq!(line, 20);
    assert!(message.contains("is not `protocol: http2`"), "{message}");
}

/// Fact sheet §7.2: `protocol: mysql` makes an external host server-first
/// (a MySQL greeting, then echo); HTTP knobs are rejected on it.
#[test]
fn a_mysql_external_host_is_server_first_and_rejects_http_knobs() {
    let good = text("{ max_connection_age: 30s }", "", &service_entry("GRPC"));
    let mysql = good.replace("      protocol: http2\n      http2: { max_connection_age: 30s }\n      routes: [{ prefix: /, latency: 10ms }]\n", "      protocol: mysql\n");
    assert_ne!(mysql, good, "the host's lines were replaced");
    let s = Scenario::parse(&mysql, Path::new("mysql.yaml")).unwrap();
    assert!(s.external[0].upstream.server_first);
    assert!(
        !Scenario::parse(&good, Path::new("h2.yaml"))
            .unwrap()
            .external[0]
            .upstream
            .server_first
    );
    let with_routes = good.replace(
        "protocol: http2\n      http2: { max_connection_age: 30s }\n",
        "protocol: mysql\n",
    );
    let (line, _, _, message) = invalid(&with_routes);
    assert_eq!(line, 11);
    assert!(
        message.contains("a mysql host greets and echoes"),
        "{message}"
    );
}
