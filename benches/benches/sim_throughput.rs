//! Simulated requests per wall-second through app -> sidecar -> upstream.
//!
//! Run: `cargo bench -p meshsim-benches --bench sim_throughput`
//!
//! Each iteration runs one mitigation of a scenario in a fresh simulated world
//! (seeded, so every iteration does the same work); criterion's throughput is
//! the number of application requests completed per wall-clock second. Shapes:
//! the ALB incident as written (50 req/s, the fix mitigation); a steady
//! 2000 req/s load through a sidecar with resolution DNS, which is the hot path
//! with little idle time, alone and behind a DNS-learning firewall and an idle
//! timer (the middleboxes' cost per packet); and a three-hop mesh (client -> a -> b -> c, each pod
//! with its sidecar, so one entry request is three outbound and three inbound
//! sidecar passes), with 2 pods per service, with 24 pods per service plus
//! two timeline events per simulated second, and with 2 pods per service plus
//! 60 idle services in the mesh, each for 10 s and for 30 s of simulated time. The difference between the 30 s and the 10 s run is the
//! marginal cost of 10,000 entry requests with the world build and teardown
//! taken out: equal marginal costs mean the cost per request does not grow
//! with the number of pods, services or timeline events.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshsim_engine::Scenario;
use meshsim_engine::run::run_mitigation;

const STEADY: &str = r#"
version: 1
name: steady
duration: 30s
world:
  dns: { zones: { api.example: { a: [10.1.0.1, 10.1.0.2], ttl: 30s } } }
  external:
    - { name: a, address: 10.1.0.1:80 }
    - { name: b, address: 10.1.0.2:80 }
  pods:
    - name: app
      sidecar: true
      app: { client: go, calls: [{ url: "http://api.example/x", rate: 2000/s, arrival: constant }] }
mitigations:
  - name: resolution-dns
    istio: |
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: { name: api }
      spec:
        hosts: [api.example]
        ports: [{ number: 80, name: http, protocol: HTTP }]
        resolution: DNS
"#;

/// `STEADY` with both middleboxes on the app pod's path: a DNS-learning
/// firewall that snoops the sidecar's look-ups (every packet and every DNS
/// answer checked) and a 350 s idle timer, so the difference with `STEADY` is
/// their cost per packet.
fn steady_behind_middleboxes() -> String {
    STEADY.replace(
        "  pods:\n",
        "  middleboxes:\n    - { kind: dns_firewall, name: fw, inside: [10.0.0.0/24, 10.96.0.0/16] }\n    - { kind: idle_timer, name: nat, idle: 350s }\n  pods:\n",
    )
}

/// A three-service chain at 500 entry requests per second: `pods` per
/// service, `idle` more services (one pod each, never called: every sidecar
/// still gets their clusters and virtual hosts), and `events_per_s` app.set
/// windows per simulated second on the last service for `secs` seconds.
fn three_hop(pods: usize, idle: usize, events_per_s: usize, secs: usize) -> String {
    let service = |name: &str, next: Option<&str>| {
        let calls = next.map_or(String::new(), |n| {
            format!(", calls: [{{ url: \"http://{n}.default.svc.cluster.local/\" }}]")
        });
        format!(
            "    - name: {name}\n      replicas: {pods}\n      app: {{ routes: [{{ prefix: /, latency: 1ms{calls} }}] }}\n"
        )
    };
    let mut timeline = String::new();
    let events = events_per_s * secs;
    if events > 0 {
        timeline.push_str("timeline:\n");
        let step = 1000 / events_per_s;
        for i in 0..events {
            // Short latency bumps on c: each event is real work for the timeline.
            let at = 250 + i * step;
            timeline.push_str(&format!(
                "  - at: {at}ms\n    app.set: {{ service: c, latency: 3ms, for: 100ms }}\n"
            ));
        }
    }
    let idle: String = (0..idle)
        .map(|i| {
            format!(
                "    - name: idle-{i}\n      app: {{ routes: [{{ prefix: /, latency: 1ms }}] }}\n"
            )
        })
        .collect();
    format!(
        "version: 1\nname: three-hop\nduration: {secs}s\nworld:\n  services:\n{}{}{}{idle}  pods:\n    - name: client\n      sidecar: true\n      app: {{ client: go, calls: [{{ url: \"http://a.default.svc.cluster.local/\", rate: 500/s, arrival: constant }}] }}\n{timeline}mitigations:\n  - name: none\n",
        service("a", Some("b")),
        service("b", Some("c")),
        service("c", None),
    )
}

fn bench_one(
    c: &mut Criterion,
    id: &str,
    scenario: &Scenario,
    mitigation: &str,
    duration: Duration,
) {
    let m = scenario.mitigation(mitigation).expect("mitigation exists");
    let probe = run_mitigation(scenario, m, scenario.seed, duration).expect("runs");
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.throughput(Throughput::Elements(probe.requests));
    group.bench_function(id, |b| {
        b.iter(|| run_mitigation(scenario, m, scenario.seed, duration).expect("runs"));
    });
    group.finish();
}

fn sim_throughput(c: &mut Criterion) {
    let steady = Scenario::parse(STEADY, Path::new("steady.yaml")).expect("valid scenario");
    bench_one(
        c,
        "steady-2000rps-30s/resolution-dns",
        &steady,
        "resolution-dns",
        Duration::from_secs(30),
    );
    let boxed = Scenario::parse(&steady_behind_middleboxes(), Path::new("steady-boxed.yaml"))
        .expect("valid scenario");
    assert_eq!(boxed.middleboxes.len(), 2);
    bench_one(
        c,
        "steady-2000rps-30s-behind-firewall-and-nat/resolution-dns",
        &boxed,
        "resolution-dns",
        Duration::from_secs(30),
    );
    let shapes = [
        ("2-pods", 2, 0, 0),
        ("24-pods-2-events-per-s", 24, 0, 2),
        ("2-pods-60-idle-services", 2, 60, 0),
    ];
    for (shape, pods, idle, events_per_s) in shapes {
        for secs in [10, 30] {
            let text = three_hop(pods, idle, events_per_s, secs);
            let mesh = Scenario::parse(&text, Path::new("three-hop.yaml")).expect("valid scenario");
            let id = format!("three-hop-500rps/{shape}/{secs}s");
            bench_one(c, &id, &mesh, "none", mesh.duration);
        }
    }
    let alb_text = include_str!("../../scenarios/alb-ip-rotation.yaml");
    let alb = Scenario::parse(alb_text, Path::new("alb-ip-rotation.yaml")).expect("valid scenario");
    bench_one(
        c,
        "alb-ip-rotation-15m/resolution-dns+retries",
        &alb,
        "resolution-dns+retries",
        alb.duration,
    );
}

criterion_group!(benches, sim_throughput);
criterion_main!(benches);
