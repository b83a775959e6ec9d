//! Pod start-up as kubelet and Istio do it (fact sheet §6.2-§6.5,
//! incidents.md INC-07 and INC-08), in simulated time. The world: one pod
//! calling an API 20 times a second from its first moment; containers take
//! 300 ms each to start; Envoy is ready 300 ms + xds + 100 ms after its
//! container started.

#[path = "support/lifecycle.rs"]
mod support;
use support::{CALL, at, close, logged, pod, run, scenario};

/// Fact sheet §6.2 "window of failure": until Envoy listens on 15001 every
/// captured connect is refused by the kernel, so the burst of `connection
/// refused` lasts from the app's first call to the sidecar's readiness, and
/// grows with the sidecar's start-up (here its xDS delay).
#[test]
fn the_refused_burst_lasts_as_long_as_the_sidecar_takes_to_start() {
    for (xds_ms, ready) in [(210, 1.51), (730, 2.03), (2010, 3.31), (5010, 6.31)] {
        let lifecycle = format!("        sidecar_startup: {{ xds: {xds_ms}ms }}");
        let text = scenario("20s", &lifecycle, CALL, "mitigations: [{ name: none }]");
        let p = pod(&run(&text), "none").clone();
        assert!(close(p.sidecar_ready_s.unwrap(), ready), "{p:?}");
        // istio-init 300 ms, then the app container 300 ms: first call at 0.6 s,
        // then one every 50 ms until Envoy listens.
        let expected = ((ready - 0.6) / 0.05).ceil() as u64;
        assert_eq!(p.startup_failures, expected, "xds {xds_ms}ms");
        let first = p.first_success_s.unwrap();
        assert!(first > ready && first < ready + 0.06, "{first} vs {ready}");
    }
}

/// Fact sheet §6.2 "classic ordering": istio-init runs before any
/// container; the injector puts istio-proxy last and kubelet does not wait
/// for readiness between containers, so the app starts first.
#[test]
fn classic_injection_starts_the_app_before_istio_proxy() {
    let text = scenario(
        "10s",
        "        container_start: 300ms",
        CALL,
        "mitigations: [{ name: none }]",
    );
    let p = pod(&run(&text), "none").clone();
    assert!(close(at(&p, "istio-init: redirect"), 0.3));
    assert!(close(at(&p, "container app started"), 0.6));
    assert!(close(at(&p, "container istio-proxy started"), 0.9));
    assert!(close(p.app_start_s.unwrap(), 0.6));
    assert!(close(p.first_request_s.unwrap(), 0.6));
}

/// Fact sheet §6.3: with holdApplicationUntilProxyStarts istio-proxy is
/// first, and its postStart `pilot-agent wait` polls `/healthz/ready`
/// every 500 ms: the app container starts after the first poll that sees
/// the proxy ready, and nothing fails.
#[test]
fn hold_application_starts_the_app_after_pilot_agent_wait_sees_ready() {
    let lifecycle = "        annotations:\n          proxy.istio.io/config: \"{ holdApplicationUntilProxyStarts: true }\"";
    let text = scenario("10s", lifecycle, CALL, "mitigations: [{ name: hold }]");
    let p = pod(&run(&text), "hold").clone();
    // Proxy started at 0.6 s, ready at 1.7 s; polls at 0.6, 1.1, 1.6, 2.1 s.
    assert!(close(p.sidecar_ready_s.unwrap(), 1.7));
    assert!(close(at(&p, "postStart `pilot-agent wait` returned"), 2.1));
    assert!(close(p.app_start_s.unwrap(), 2.4));
    assert_eq!(p.startup_failures, 0);
}

/// Fact sheet §6.3: `pilot-agent wait` gives up after 60 s and exits
/// non-zero; the failed postStart hook kills istio-proxy, which kubelet
/// restarts after its back-off (10 s), and the app never starts meanwhile.
#[test]
fn a_post_start_wait_that_gives_up_after_60s_restarts_istio_proxy() {
    let lifecycle = "        sidecar_startup: { xds: 65s }\n        annotations:\n          proxy.istio.io/config: \"{ holdApplicationUntilProxyStarts: true }\"";
    let text = scenario("100s", lifecycle, CALL, "mitigations: [{ name: hold }]");
    let p = pod(&run(&text), "hold").clone();
    let failed = at(&p, "FailedPostStartHook");
    assert!(close(failed, 60.6), "{failed}");
    let starts: Vec<f64> = p
        .events
        .iter()
        .filter(|e| e.what.contains("container istio-proxy started"))
        .map(|e| e.at_s)
        .collect();
    assert_eq!(starts.len(), 2, "{:#?}", p.events);
    assert!(close(starts[1], 60.6 + 10.0 + 0.3), "{starts:?}");
    assert_eq!(p.app_start_s, None);
}

/// Fact sheet §6.4: a native sidecar runs as an init container after
/// istio-init and before the user's init containers; kubelet moves on when
/// its startup probe (every 1 s) passes, so user init containers are
/// redirected through a running proxy and succeed, even with CNI.
#[test]
fn a_native_sidecar_starts_before_user_init_containers_and_carries_their_traffic() {
    let lifecycle = "        capture: cni\n        init_containers:\n          - { name: fetch, calls: [\"http://config.corp.example:8080/\"] }\n        annotations: { sidecar.istio.io/nativeSidecar: \"true\" }";
    let text = scenario("10s", lifecycle, CALL, "mitigations: [{ name: native }]");
    let p = pod(&run(&text), "native").clone();
    // istio-validation 0.3 s, istio-proxy 0.6 s, ready 1.7 s, probes 0.6, 1.6, 2.6 s.
    assert!(close(at(&p, "startup probe passed"), 2.6));
    assert!(close(at(&p, "init container fetch started"), 2.9));
    assert!(logged(&p, "init container fetch completed"));
    assert_eq!((p.init_runs, p.init_failures), (1, 0));
    assert_eq!(p.startup_failures, 0);
}

/// Fact sheet §6.5: with the Istio CNI plugin the redirect exists before
/// any init container, while a classic sidecar starts only after them all:
/// the init container's connect is redirected to an empty 15001 and
/// refused; kubelet restarts it after 10 s, 20 s, 40 s... and the pod never
/// starts.
#[test]
fn with_cni_init_containers_are_redirected_before_any_proxy_runs_and_restarted_with_back_off() {
    let lifecycle = "        capture: cni\n        init_containers:\n          - { name: fetch, calls: [\"http://config.corp.example:8080/\"] }";
    let text = scenario("80s", lifecycle, CALL, "mitigations: [{ name: none }]");
    let p = pod(&run(&text), "none").clone();
    let runs: Vec<f64> = p
        .events
        .iter()
        .filter(|e| e.what.contains("init container fetch started"))
        .map(|e| e.at_s)
        .collect();
    // istio-validation 0.3 s; each run starts 300 ms after its back-off.
    let want = [0.6, 10.9, 31.2, 71.5];
    assert_eq!(runs.len(), want.len(), "{runs:?}");
    for (got, want) in runs.iter().zip(want) {
        // Each failed run takes 2 ms (its DNS look-up and refused connect).
        assert!((got - want).abs() < 0.01, "{runs:?}");
    }
    assert!(
        logged(
            &p,
            "failed: http://config.corp.example:8080/ -> connect_refused"
        ),
        "{:#?}",
        p.events
    );
    assert_eq!((p.init_runs, p.init_failures), (4, 4));
    assert_eq!(p.app_start_s, None);
    assert!(!logged(&p, "container istio-proxy started"));
}

/// Fact sheet §6.5: without CNI, istio-init is moved last among the init
/// containers: the user's run first, in order, unredirected.
#[test]
fn without_cni_init_containers_run_in_order_before_istio_init_unredirected() {
    let lifecycle = "        init_containers:\n          - { name: first, calls: [\"http://config.corp.example:8080/a\"] }\n          - { name: second, calls: [\"http://config.corp.example:8080/b\"] }";
    let text = scenario("10s", lifecycle, CALL, "mitigations: [{ name: none }]");
    let p = pod(&run(&text), "none").clone();
    let first = at(&p, "init container first completed");
    let second = at(&p, "init container second started");
    let init = at(&p, "istio-init: redirect");
    let app = at(&p, "container app started");
    assert!(
        first < second && second < init && init < app,
        "{:#?}",
        p.events
    );
    assert!(close(
        second,
        at(&p, "init container first started")
            + (first - at(&p, "init container first started"))
            + 0.3
    ));
    assert_eq!(p.init_failures, 0);
}

/// Fact sheet §6.1 / incidents.md INC-08 mitigations: traffic of UID 1337
/// and to excluded ranges or ports returns before the redirect, so an init
/// container reaches its server while no proxy runs.
#[test]
fn uid_1337_and_exclusions_let_init_containers_past_the_redirect() {
    let lifecycle = "        capture: cni\n        init_containers:\n          - { name: fetch, calls: [\"http://config.corp.example:8080/\"] }";
    let tail = "\
mitigations:
  - name: none
  - name: uid-1337
    pod: { init_run_as_user: 1337 }
  - name: exclude-range
    pod: { annotations: { traffic.sidecar.istio.io/excludeOutboundIPRanges: \"10.20.0.0/16\" } }
  - name: exclude-port
    pod: { annotations: { traffic.sidecar.istio.io/excludeOutboundPorts: \"8080\" } }";
    let ms = run(&scenario("15s", lifecycle, CALL, tail));
    assert!(pod(&ms, "none").init_failures > 0);
    for m in ["uid-1337", "exclude-range", "exclude-port"] {
        let p = pod(&ms, m);
        assert_eq!((p.init_runs, p.init_failures), (1, 0), "{m}");
        assert!(p.app_start_s.is_some(), "{m}");
    }
}

/// incidents.md INC-07 "app-side: wait on /healthz/ready": the container
/// starts at once, its first call waits for the sidecar (polled every
/// second), so nothing fails.
#[test]
fn an_app_that_waits_for_readiness_delays_its_first_call_not_its_container() {
    let text = scenario(
        "10s",
        "        app_waits_for_sidecar: true",
        CALL,
        "mitigations: [{ name: wait }]",
    );
    let p = pod(&run(&text), "wait").clone();
    // Ready at 2.0 s; the app polls at 0.6, 1.6, 2.6 s.
    assert!(close(p.app_start_s.unwrap(), 0.6));
    assert!(close(p.first_request_s.unwrap(), 2.6));
    assert_eq!(p.startup_failures, 0);
}

/// The application's own warm-up delays its first call: a JVM app that
/// takes 2 s before calling never meets the 1.4 s window.
#[test]
fn app_warmup_delays_the_first_call() {
    let text = scenario(
        "10s",
        "        app_warmup: 2s",
        CALL,
        "mitigations: [{ name: none }]",
    );
    let p = pod(&run(&text), "none").clone();
    assert!(close(p.first_request_s.unwrap(), 2.6));
    assert_eq!(p.startup_failures, 0);
}

/// incidents.md INC-07 "retry with back-off": connect failures retried
/// long enough turn the refused burst into latency.
#[test]
fn app_retries_on_connect_failure_turn_the_burst_into_latency() {
    let tail = "\
mitigations:
  - name: none
  - name: retries
    app: { retry: { attempts: 6, backoff: 100ms, max_backoff: 1s } }";
    let ms = run(&scenario(
        "10s",
        "        container_start: 300ms",
        CALL,
        tail,
    ));
    assert!(pod(&ms, "none").startup_failures > 20);
    let r = ms.iter().find(|m| m.name == "retries").unwrap();
    assert_eq!(r.pods[0].startup_failures, 0);
    assert_eq!(r.errors, 0);
    // The first call waits from 0.6 s until the sidecar listens at 2.0 s.
    assert!(r.latency_ms.max >= 1400.0, "{:?}", r.latency_ms);
}

#[path = "support/engine.rs"]
mod engine;

/// An annotation meshsim does not model is refused with the known ones,
/// so nobody believes it was applied.
#[test]
fn an_unmodelled_annotation_is_an_error_naming_the_known_ones() {
    let lifecycle = "        annotations: { sidecar.istio.io/proxyCPU: \"2\" }";
    let text = scenario("10s", lifecycle, CALL, "mitigations: [{ name: none }]");
    let (line, _, _, message) = engine::invalid(&text);
    assert_eq!(line, 23, "{message}");
    assert!(message.contains("sidecar.istio.io/proxyCPU"), "{message}");
    assert!(
        message.contains("sidecar.istio.io/nativeSidecar"),
        "{message}"
    );
}

/// `pod.terminate` and `count` need kubelet's model of the pod.
#[test]
fn terminate_and_job_counts_need_a_lifecycle_block() {
    let text = scenario(
        "10s",
        "        container_start: 300ms",
        CALL,
        "timeline:\n  - { at: 5s, pod.terminate: { name: nope } }\nmitigations: [{ name: none }]",
    );
    let (_, _, _, message) = engine::invalid(&text);
    assert!(message.contains("no pod \"nope\""), "{message}");
    let no_lifecycle = text.replace("      lifecycle:\n        container_start: 300ms\n", "");
    let (_, _, _, message) = engine::invalid(&no_lifecycle.replace("nope", "app"));
    assert!(message.contains("has no `lifecycle` block"), "{message}");
    let job = no_lifecycle
        .replace("arrival: constant", "arrival: constant, count: 5")
        .replace(
            "timeline:\n  - { at: 5s, pod.terminate: { name: nope } }\n",
            "",
        );
    let (_, _, _, message) = engine::invalid(&job);
    assert!(
        message.contains("`count` (a Job's work) needs the pod's `lifecycle`"),
        "{message}"
    );
}

/// A ProxyConfig field meshsim does not model is refused, naming it.
#[test]
fn an_unmodelled_proxy_config_field_is_an_error() {
    let lifecycle = "        annotations:\n          proxy.istio.io/config: \"{ concurrency: 2 }\"";
    let text = scenario("10s", lifecycle, CALL, "mitigations: [{ name: none }]");
    let (_, _, _, message) = engine::invalid(&text);
    assert!(
        message.contains("proxy.istio.io/config") && message.contains("concurrency"),
        "{message}"
    );
}

/// Fact sheet §6.2 and §5.1: once Envoy listens, a service whose
/// endpoints have not been pushed yet (its pods still starting) gets
/// Envoy's own reply, `503 UH` `no healthy upstream`, not a refused connect.
#[test]
fn once_envoy_listens_a_service_without_endpoints_gets_503_uh_not_a_refused_connect() {
    let text = "\
version: 1
name: uh
duration: 10s
world:
  network: { latency: 100us }
  control_plane: { eds_delay: 1s }
  services:
    - { name: inventory, replicas: 0, app: { routes: [{ prefix: /, latency: 5ms }] } }
  pods:
    - name: app
      sidecar: true
      app:
        client: go
        calls:
          - { url: \"http://inventory.default.svc.cluster.local/\", rate: 20/s, arrival: constant }
      lifecycle:
        container_start: 300ms
timeline:
  - { at: 4s, service.scale: { name: inventory, replicas: 1 } }
mitigations: [{ name: none }]
";
    let ms = run(text);
    let kinds: Vec<(&str, u64)> = ms[0]
        .errors_by_kind
        .iter()
        .map(|k| (k.kind.as_str(), k.count))
        .collect();
    // Refused from 0.6 s until Envoy listens at 2.0 s (28 calls); then 503 UH
    // until the endpoint arrives over EDS at 5 s (60 calls).
    assert!(kinds.contains(&("connect_refused", 28)), "{kinds:?}");
    assert!(kinds.contains(&("503 UH", 60)), "{kinds:?}");
    assert!(close(
        pod(&ms, "none").first_success_s.unwrap().floor(),
        5.0
    ));
}

/// Fact sheet §6.3: holdApplicationUntilProxyStarts set mesh-wide in
/// `meshConfig.defaultConfig` holds every pod; a pod's
/// `proxy.istio.io/config` annotation overrides it.
#[test]
fn mesh_default_config_holds_the_app_and_a_pod_annotation_overrides_it() {
    let operator = [
        "    istio: |",
        "      apiVersion: install.istio.io/v1alpha1",
        "      kind: IstioOperator",
        "      spec:",
        "        meshConfig:",
        "          defaultConfig: { holdApplicationUntilProxyStarts: true }",
    ]
    .join("\n");
    let tail = format!(
        "mitigations:\n  - name: mesh-hold\n{operator}\n  - name: pod-says-no\n{operator}\n    pod: {{ annotations: {{ proxy.istio.io/config: \"{{ holdApplicationUntilProxyStarts: false }}\" }} }}"
    );
    let ms = run(&scenario(
        "10s",
        "        container_start: 300ms",
        CALL,
        &tail,
    ));
    assert!(close(pod(&ms, "mesh-hold").app_start_s.unwrap(), 2.4));
    assert_eq!(pod(&ms, "mesh-hold").startup_failures, 0);
    assert!(close(pod(&ms, "pod-says-no").app_start_s.unwrap(), 0.6));
}
