//! Pod deletion and Job completion as kubelet and pilot-agent do them (fact
//! sheet §6.4, §6.6; incidents.md INC-09, INC-11), in simulated time. The
//! pod holds its start until its proxy is ready (ready at 1.7 s), calls an
//! API 20 times a second, and is deleted at 10 s; its app keeps working 8 s
//! after SIGTERM.

#[path = "support/lifecycle.rs"]
mod support;
use support::{CALL, at, close, logged, pod, run, scenario};

/// The lifecycle block: hold, the app's 8 s of shutdown work, and `more`.
fn lifecycle(more: &str) -> String {
    format!(
        "        app_shutdown: 8s\n        annotations:\n          proxy.istio.io/config: \"{{ holdApplicationUntilProxyStarts: true{more} }}\""
    )
}

const DELETE_AT_10S: &str = "timeline:\n  - { at: 10s, pod.terminate: { name: app } }\n";

/// Fact sheet §6.6 / INC-09: on SIGTERM pilot-agent drains and kills Envoy
/// after terminationDrainDuration (5 s) whatever the app still does; from
/// then on the app's connects meet the redirect with nobody on 15001, while
/// the app works until 8 s after SIGTERM.
#[test]
fn envoy_exits_five_seconds_after_sigterm_while_the_app_still_works() {
    let text = scenario(
        "30s",
        &lifecycle(""),
        CALL,
        &format!("{DELETE_AT_10S}mitigations: [{{ name: none }}]"),
    );
    let ms = run(&text);
    let p = pod(&ms, "none");
    assert!(close(at(p, "istio-proxy: exited"), 15.0), "{:#?}", p.events);
    assert!(
        close(at(p, "container app exited"), 18.0),
        "{:#?}",
        p.events
    );
    // 20 calls/s from 15 s to 18 s fail (the first one in flight).
    assert!(
        (59..=61).contains(&p.termination_failures),
        "{}",
        p.termination_failures
    );
    assert!(close(p.completion_s.unwrap(), 18.0));
    assert!(
        ms[0]
            .errors_by_kind
            .iter()
            .any(|k| k.kind == "connect_refused")
    );
}

/// Fact sheet §6.6 `terminationDrainDuration`: raised above the app's
/// shutdown, Envoy outlives it and the pod is gone when Envoy exits.
#[test]
fn a_longer_termination_drain_duration_outlives_the_app() {
    let text = scenario(
        "30s",
        &lifecycle(", terminationDrainDuration: 12s"),
        CALL,
        &format!("{DELETE_AT_10S}mitigations: [{{ name: drain }}]"),
    );
    let p = pod(&run(&text), "drain").clone();
    assert_eq!(p.termination_failures, 0);
    assert!(close(p.completion_s.unwrap(), 22.0));
}

/// Fact sheet §6.6 `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`: after
/// `MINIMUM_DRAIN_DURATION` pilot-agent polls the active connections every
/// second; the app's keep-alive connection to 15001 keeps Envoy until the
/// app exits, then Envoy leaves at the next poll.
#[test]
fn exit_on_zero_active_connections_keeps_envoy_until_the_app_closed_its_connections() {
    let more = ", proxyMetadata: { EXIT_ON_ZERO_ACTIVE_CONNECTIONS: 'true' }";
    let text = scenario(
        "30s",
        &lifecycle(more),
        CALL,
        &format!("{DELETE_AT_10S}mitigations: [{{ name: zero }}]"),
    );
    let p = pod(&run(&text), "zero").clone();
    assert_eq!(p.termination_failures, 0);
    // Polls at 15, 16, 17, 18 s see the app's connection; 19 s sees none.
    assert!(close(p.completion_s.unwrap(), 19.0), "{:#?}", p.events);
}

/// INC-09 "a preStop hook on the proxy": kubelet sends SIGTERM to a
/// container only after its preStop hook returned.
#[test]
fn a_pre_stop_sleep_on_istio_proxy_delays_its_sigterm() {
    let tail = format!(
        "{DELETE_AT_10S}mitigations:\n  - {{ name: prestop, pod: {{ proxy_pre_stop: 5s }} }}"
    );
    let p = pod(
        &run(&scenario("30s", &lifecycle(""), CALL, &tail)),
        "prestop",
    )
    .clone();
    assert!(close(at(&p, "SIGTERM to istio-proxy"), 15.0));
    assert!(close(at(&p, "istio-proxy: exited"), 20.0));
    assert_eq!(p.termination_failures, 0);
}

/// INC-09: a preStop sleep on the app delays the app's SIGTERM, not the
/// proxy's: the app works longer while Envoy still leaves at 5 s.
#[test]
fn a_pre_stop_sleep_on_the_app_delays_only_the_apps_sigterm() {
    let tail = format!(
        "{DELETE_AT_10S}mitigations:\n  - {{ name: prestop, pod: {{ app_pre_stop: 4s }} }}"
    );
    let p = pod(
        &run(&scenario("30s", &lifecycle(""), CALL, &tail)),
        "prestop",
    )
    .clone();
    assert!(close(at(&p, "SIGTERM to app"), 14.0));
    assert!(close(at(&p, "container app exited"), 22.0));
    assert!(close(at(&p, "istio-proxy: exited"), 15.0));
    assert!(p.termination_failures > 120, "{}", p.termination_failures);
}

/// kubelet: whatever runs at the end of terminationGracePeriodSeconds is
/// killed; requests in flight then are abandoned (no one sees an outcome).
/// Envoy is kept past the grace period so the app's requests are in flight.
#[test]
fn the_grace_period_ends_in_sigkill_and_abandons_in_flight_requests() {
    let slow = "url: \"http://slow.partner.example/\", rate: 20/s, arrival: constant";
    let more = ", terminationDrainDuration: 60s";
    let life = format!("{}\n        termination_grace_period: 5s", lifecycle(more));
    let p = pod(
        &run(&scenario(
            "40s",
            &life,
            slow,
            &format!("{DELETE_AT_10S}mitigations: [{{ name: none }}]"),
        )),
        "none",
    )
    .clone();
    assert!(
        close(at(&p, "grace period over: SIGKILL"), 15.0),
        "{:#?}",
        p.events
    );
    // Each request takes 10 s: those started in the 10 s before 15 s.
    assert!((195..=201).contains(&p.abandoned), "{}", p.abandoned);
    assert!(close(p.completion_s.unwrap(), 15.0));
}

/// Fact sheet §6.4: a native sidecar starts draining when the deletion
/// begins (its preStop) and gets SIGTERM only after the app exited.
#[test]
fn a_native_sidecar_drains_at_deletion_and_exits_after_the_app() {
    let life = "        app_shutdown: 8s\n        annotations: { sidecar.istio.io/nativeSidecar: \"true\" }";
    let p = pod(
        &run(&scenario(
            "30s",
            life,
            CALL,
            &format!("{DELETE_AT_10S}mitigations: [{{ name: native }}]"),
        )),
        "native",
    )
    .clone();
    assert!(close(at(&p, "pilot-agent request POST drain"), 10.0));
    assert!(
        close(at(&p, "istio-proxy: exited"), 18.0),
        "{:#?}",
        p.events
    );
    assert_eq!(p.termination_failures, 0);
    assert!(close(p.completion_s.unwrap(), 18.0));
}

/// INC-11: a Job's pod completes only when every container exited; a
/// classic istio-proxy never exits on its own, `/quitquitquit` makes
/// pilot-agent exit, and kubelet stops a native sidecar itself.
#[test]
fn a_job_completes_only_when_its_sidecar_exits() {
    let job = "url: \"http://api.partner.example/\", rate: 20/s, arrival: constant, count: 40";
    let tail = "\
mitigations:
  - name: none
  - name: quit
    pod: { quit_sidecar_when_done: true }
  - name: native
    pod: { annotations: { sidecar.istio.io/nativeSidecar: \"true\" } }";
    let ms = run(&scenario(
        "30s",
        "        app_waits_for_sidecar: true",
        job,
        tail,
    ));
    let none = pod(&ms, "none");
    assert!(logged(none, "container app exited (its work done)"));
    assert_eq!(none.completion_s, None);
    assert!(logged(none, "never completes"));
    let quit = pod(&ms, "quit");
    let done = at(quit, "container app exited");
    assert!(
        close(at(quit, "istio-proxy: exited"), done),
        "{:#?}",
        quit.events
    );
    assert!(close(quit.completion_s.unwrap(), done));
    let native = pod(&ms, "native");
    assert!(native.completion_s.is_some());
    for m in &ms {
        assert_eq!((m.requests, m.errors), (40, 0), "{}", m.name);
    }
}

/// INC-11: a Job pod stuck `1/2 Running` on its sidecar is still deleted
/// the usual way: SIGTERM to istio-proxy, which exits after
/// terminationDrainDuration.
#[test]
fn deleting_a_job_pod_stuck_on_its_sidecar_stops_the_sidecar() {
    let job = "url: \"http://api.partner.example/\", rate: 20/s, arrival: constant, count: 40";
    let tail =
        "timeline:\n  - { at: 20s, pod.terminate: { name: app } }\nmitigations: [{ name: none }]";
    let p = pod(
        &run(&scenario(
            "40s",
            "        app_waits_for_sidecar: true",
            job,
            tail,
        )),
        "none",
    )
    .clone();
    assert!(logged(&p, "never completes"));
    assert!(
        close(at(&p, "istio-proxy: exited"), 25.0),
        "{:#?}",
        p.events
    );
    assert!(close(p.completion_s.unwrap(), 25.0));
}
