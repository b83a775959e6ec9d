//! Service versions (a Deployment per version behind one Service, as
//! bookinfo's `reviews` v1/v2/v3) in simulated time: DestinationRule subsets
//! select the versions' pods by label, a weighted VirtualService splits the
//! traffic, and timeline events act on one version.

use std::path::Path;

use meshsim_core::MitigationResult;
use meshsim_engine::{RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;
use support::invalid;

/// `reviews` with versions v1 (`v1` lines of YAML) and v2, a client calling
/// it at 50/s for `duration`, the timeline, and one mitigation `m` with a
/// DestinationRule (subsets v1, v2) and a VirtualService weighting them
/// `w1`/`w2`.
fn scenario(duration: &str, v1: &str, v2: &str, timeline: &str, (w1, w2): (u32, u32)) -> String {
    let timeline = match timeline {
        "" => "timeline: []\n".to_string(),
        t => format!("timeline:\n{t}"),
    };
    format!(
        "version: 1
name: versions
duration: {duration}
world:
  control_plane: {{ eds_delay: 1s }}
  services:
    - name: reviews
      versions:
        - {{ name: v1, {v1} }}
        - {{ name: v2, {v2} }}
  pods:
    - name: client
      sidecar: true
      app:
        client: go
        calls: [{{ url: \"http://reviews.default.svc.cluster.local/\", rate: 50/s, arrival: constant }}]
{timeline}mitigations:
  - name: m
    istio: |
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {{ name: reviews }}
      spec:
        host: reviews.default.svc.cluster.local
        subsets:
        - {{ name: v1, labels: {{ version: v1 }} }}
        - {{ name: v2, labels: {{ version: v2 }} }}
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {{ name: reviews }}
      spec:
        hosts: [reviews.default.svc.cluster.local]
        http:
        - route:
          - {{ destination: {{ host: reviews.default.svc.cluster.local, subset: v1 }}, weight: {w1} }}
          - {{ destination: {{ host: reviews.default.svc.cluster.local, subset: v2 }}, weight: {w2} }}
"
    )
}

const OK: &str = "app: { routes: [{ prefix: /, latency: 2ms }] }";
const FAILING: &str = "app: { routes: [{ prefix: /, latency: 2ms, status: 503 }] }";

fn run(text: &str, seed: u64) -> MitigationResult {
    let s = Scenario::parse(text, Path::new("versions.yaml")).unwrap();
    let opts = RunOptions {
        seed: Some(seed),
        ..RunOptions::default()
    };
    meshsim_engine::run(&s, &opts, |_| {})
        .unwrap()
        .mitigations
        .remove(0)
}

/// Requests and errors of the time buckets starting in `[from, to)` seconds.
fn window(m: &MitigationResult, from: f64, to: f64) -> (u64, u64) {
    m.timeseries
        .iter()
        .filter(|b| b.start_s >= from && b.start_s < to)
        .fold((0, 0), |(r, e), b| (r + b.requests, e + b.errors))
}

/// Fact sheet §2.2 (Istio ≥ 1.24's default retry policy does not retry a
/// real upstream 503) makes v2's 503 a per-request marker: the errors are
/// exactly the requests the entry sidecar's weighted-cluster pick sent to
/// v2. 3000 requests at p = 0.1 give a binomial standard deviation of
/// sqrt(3000 · 0.1 · 0.9) ≈ 16.4 requests, 0.55 % of the total; the pick
/// draws from the run's seeded RNG, so any seed lands within ±2.5 % (4.5
/// standard deviations) and a given seed always lands on the same count.
#[test]
fn a_90_10_virtual_service_sends_about_a_tenth_of_requests_to_the_v2_subset() {
    let v1 = format!("replicas: 3, {OK}");
    let v2 = format!("replicas: 1, {FAILING}");
    let m = run(&scenario("60s", &v1, &v2, "", (90, 10)), 7);
    assert_eq!(m.requests, 3000);
    let share = m.errors as f64 / m.requests as f64;
    assert!((0.075..=0.125).contains(&share), "v2 share {share}");
    assert_eq!(m.errors_by_kind.len(), 1, "{:?}", m.errors_by_kind);
    assert_eq!(m.errors_by_kind[0].kind, "503");
    // Each v2 request was sent once: the 503 is an upstream answer.
    assert!(m.upstream_attempts_per_request < 1.001, "{m:?}");
}

/// Fact sheet §5.1/§5.3: a cluster with no host answers 503 `no healthy
/// upstream`, flag `UH`. Scaling v2 to 0 leaves its subset cluster empty once
/// the EDS push lands (1 s): the tenth of requests the VirtualService still
/// sends there fail with `503 UH`; v1 keeps serving the rest.
#[test]
fn a_subset_whose_pods_are_all_gone_answers_503_uh_no_healthy_upstream() {
    let timeline = "  - at: 10s\n    service.scale: { name: reviews, version: v2, replicas: 0 }\n";
    let v1 = format!("replicas: 2, {OK}");
    let v2 = format!("replicas: 2, {OK}");
    let m = run(&scenario("40s", &v1, &v2, timeline, (90, 10)), 3);
    let (before, before_errors) = window(&m, 0.0, 10.0);
    assert_eq!((before, before_errors), (500, 0));
    let (after, after_errors) = window(&m, 12.0, 40.0);
    let share = after_errors as f64 / after as f64;
    // 1400 requests: sd ≈ sqrt(1400 · 0.09) ≈ 11 = 0.8 %; ±4 % is 5 sd.
    assert!((0.06..=0.14).contains(&share), "share {share}");
    let uh = m.errors_by_kind.iter().find(|k| k.kind == "503 UH");
    let uh = uh.map_or(0, |k| k.count);
    assert!(uh >= after_errors, "{:?}", m.errors_by_kind);
}

/// `service.scale` with `version:` scales that Deployment only: v1 going to
/// 0 empties the v1 subset (503 UH for its half of a 50/50 split), while
/// every request sent to v2 still succeeds on its two untouched pods.
#[test]
fn scaling_one_version_leaves_the_other_alone() {
    let timeline = "  - at: 10s\n    service.scale: { name: reviews, version: v1, replicas: 0 }\n";
    let v1 = format!("replicas: 2, {OK}");
    let v2 = format!("replicas: 2, {OK}");
    let m = run(&scenario("30s", &v1, &v2, timeline, (50, 50)), 5);
    let (after, errors) = window(&m, 12.0, 30.0);
    let share = errors as f64 / after as f64;
    // 900 requests at p = 0.5: sd ≈ 15 = 1.7 %; ±8 % is about 5 sd.
    assert!((0.42..=0.58).contains(&share), "share {share}");
    let kinds: Vec<&str> = m.errors_by_kind.iter().map(|k| k.kind.as_str()).collect();
    assert!(kinds.contains(&"503 UH"), "{kinds:?}");
}

/// `app.set` with `version:` changes only that version's pods: from 10 s
/// v2's pods answer 503, v1's keep answering 200.
#[test]
fn app_set_with_a_version_changes_only_that_versions_pods() {
    let timeline = "  - at: 10s\n    app.set: { service: reviews, version: v2, status: 503 }\n";
    let v1 = format!("replicas: 1, {OK}");
    let v2 = format!("replicas: 1, {OK}");
    let m = run(&scenario("30s", &v1, &v2, timeline, (50, 50)), 5);
    assert_eq!(window(&m, 0.0, 10.0).1, 0);
    let (after, errors) = window(&m, 10.0, 30.0);
    let share = errors as f64 / after as f64;
    // 1000 requests at p = 0.5: sd ≈ 16 = 1.6 %; ±8 % is 5 sd.
    assert!((0.42..=0.58).contains(&share), "share {share}");
}

/// A deleted versioned pod is found by its name, `<service>-<version>-<n>`,
/// and its replacement joins the same version: after `pod_start` (5 s) and
/// the EDS delay v2 serves again instead of answering 503 UH.
#[test]
fn a_deleted_versioned_pod_is_replaced_in_its_own_version() {
    let timeline = "  - at: 10s\n    pod.delete: { name: reviews-v2-0 }\n";
    let v1 = format!("replicas: 1, {OK}");
    let v2 = format!("replicas: 1, {OK}");
    let m = run(&scenario("30s", &v1, &v2, timeline, (50, 50)), 5);
    let (mid, mid_errors) = window(&m, 12.0, 15.0);
    assert!(mid_errors > mid / 4, "{mid_errors} of {mid}");
    assert_eq!(window(&m, 17.0, 30.0).1, 0);
}

#[test]
fn a_service_with_both_versions_and_its_own_app_is_rejected_at_the_versions_key() {
    let text = scenario("10s", OK, OK, "", (90, 10)).replace(
        "      versions:\n",
        "      app: { routes: [{ prefix: / }] }\n      versions:\n",
    );
    let (line, _, path, message) = invalid(&text);
    // The error points at the versions list (its first entry).
    assert_eq!(line, 10, "{path}: {message}");
    assert!(path.starts_with("world.services[0].versions"), "{path}");
    assert!(
        message.contains("`versions` and its own `app`"),
        "{message}"
    );
}

#[test]
fn scaling_a_versioned_service_without_a_version_is_rejected_naming_the_versions() {
    let timeline = "  - at: 5s\n    service.scale: { name: reviews, replicas: 0 }\n";
    let (_, _, path, message) = invalid(&scenario("10s", OK, OK, timeline, (90, 10)));
    assert!(path.starts_with("timeline[0]"), "{path}");
    assert!(message.contains("versions (v1, v2)"), "{message}");
}

#[test]
fn an_unknown_version_on_an_event_is_rejected_listing_the_known_ones() {
    let timeline = "  - at: 5s\n    app.set: { service: reviews, version: v3, status: 503 }\n";
    let (_, _, _, message) = invalid(&scenario("10s", OK, OK, timeline, (90, 10)));
    assert!(
        message.contains("no version \"v3\"; known: v1, v2"),
        "{message}"
    );
}

#[test]
fn a_version_may_not_set_the_app_label_which_is_the_services() {
    let v2 = format!("labels: {{ app: other }}, {OK}");
    let (_, _, _, message) = invalid(&scenario("10s", OK, &v2, "", (90, 10)));
    assert!(message.contains("`app` label"), "{message}");
}

/// Hop attribution stays per service: both versions of `reviews` call
/// `ratings`, and the report has one `reviews -> ratings` row carrying
/// every entry request, whichever version served it.
#[test]
fn versions_making_the_same_call_share_one_hop_row() {
    let text = "version: 1
name: hops
duration: 10s
world:
  services:
    - name: reviews
      versions:
        - name: v1
          app: { routes: [{ prefix: /, calls: [{ url: \"http://ratings.default.svc.cluster.local/\" }] }] }
        - name: v2
          app: { routes: [{ prefix: /, latency: 1ms, calls: [{ url: \"http://ratings.default.svc.cluster.local/\" }] }] }
    - name: ratings
      app: { routes: [{ prefix: / }] }
  pods:
    - name: client
      sidecar: true
      app:
        client: go
        calls: [{ url: \"http://reviews.default.svc.cluster.local/\", rate: 20/s, arrival: constant }]
mitigations:
  - name: m
";
    let s = Scenario::parse(text, Path::new("hops.yaml")).unwrap();
    let froms: Vec<String> = s
        .call_labels()
        .into_iter()
        .map(|(from, url, _)| format!("{from} -> {url}"))
        .collect();
    assert_eq!(
        froms,
        [
            "client -> http://reviews.default.svc.cluster.local/",
            "reviews -> http://ratings.default.svc.cluster.local/"
        ]
    );
    let m = meshsim_engine::run(&s, &RunOptions::default(), |_| {})
        .unwrap()
        .mitigations
        .remove(0);
    assert_eq!(m.calls.len(), 2);
    assert_eq!(m.calls[1].requests, m.requests);
    assert_eq!(m.requests, 200);
}

/// Same seed, same result: versioned pods, their addresses and the
/// weighted pick add no unseeded state.
#[test]
fn a_versioned_run_is_deterministic() {
    let timeline = "  - at: 5s\n    service.scale: { name: reviews, version: v2, replicas: 2 }\n";
    let v2 = format!("replicas: 1, {FAILING}");
    let text = scenario("15s", OK, &v2, timeline, (80, 20));
    assert_eq!(run(&text, 9), run(&text, 9));
}

/// An `app.set` is the Deployment's behaviour (a bad build, a slow
/// dependency), not only its running pods': pods a `service.scale` starts
/// inside the window answer as the set says, and go back with the others
/// when it ends.
#[test]
fn pods_started_during_an_app_set_window_behave_as_it_says() {
    let timeline = "  - at: 2s
    app.set: { service: reviews, version: v2, status: 503, for: 10s }
  - at: 4s
    service.scale: { name: reviews, version: v2, replicas: 4 }
";
    let text = scenario("20s", OK, &format!("replicas: 1, {OK}"), timeline, (0, 100));
    let m = run(&text, 5);
    let (during, during_errors) = window(&m, 6.0, 11.0);
    assert!(during > 200, "{during} requests");
    assert_eq!(during_errors, during, "the new v2 pods answer 503 too");
    assert_eq!(window(&m, 13.0, 20.0).1, 0, "all four recover at 12 s");
}
