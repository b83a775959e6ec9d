//! Simulated requests per wall-second through app -> sidecar -> upstream.
//!
//! Run: `cargo bench -p meshsim-benches --bench sim_throughput`
//!
//! Each iteration runs one mitigation of a scenario in a fresh simulated world
//! (seeded, so every iteration does the same work); criterion's throughput is
//! the number of application requests completed per wall-clock second. Two
//! shapes: the ALB incident as written (50 req/s, the fix mitigation), and a
//! steady 2000 req/s load through a sidecar with resolution DNS, which is the
//! hot path with little idle time.

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
