//! The sidecar's start-up phases (`meshsim_sidecar::boot`): fact sheet §6.1,
//! §6.2 and INC-07 (the start-up race).

use std::time::Duration;

use meshsim_net::clock::{Instant, sleep_until};
use meshsim_sidecar::{AdminConfig, Discovery, Endpoint, Phase, SidecarConfig, Startup};

use crate::support::*;

const API: &str = "outbound|80||api.partner.example";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A pod with admin, readiness and the agent's status port, every host
/// through `PassthroughCluster`.
pub(crate) fn with_admin(config: SidecarConfig) -> SidecarConfig {
    SidecarConfig {
        admin: Some(AdminConfig::default()),
        ..config
    }
}

/// A sidecar with admin whose one route goes to an EDS cluster: not ready
/// until that cluster gets its first assignment.
pub(crate) fn eds_routed() -> SidecarConfig {
    let eds = cluster(
        API,
        Discovery::Eds {
            service: API.into(),
        },
    );
    with_admin(routed("api.partner.example", eds, None, None))
}

/// Fact sheet §6.2 "Window of failure" and §6.1 (15001 is an LDS listener):
/// until Envoy starts its workers, nothing listens on 15001 and the app's
/// captured connects are refused; from the instant the workers start
/// (admin 300 ms + xDS 700 ms + warming 100 ms) they are proxied.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn captured_connects_are_refused_until_envoy_starts_its_workers() {
    let t0 = Instant::now();
    let w = World::boot(with_admin(SidecarConfig::default()), Startup::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "hello").await;
    assert_eq!(w.sidecar.phase(), Phase::Starting);
    assert!(w.refused("10.0.2.1:80").await, "refused at pod start");
    sleep_until(t0 + ms(1099)).await;
    assert!(w.refused("10.0.2.1:80").await, "refused 1 ms before");
    w.sidecar.wait_for(Phase::Ready).await;
    assert_eq!(t0.elapsed(), ms(1100));
    let resp = w.get("10.0.2.1:80", "api.partner.example", 1).await;
    assert_eq!((resp.status, resp.body_text().as_str()), (200, "hello"));
    let log: Vec<(Duration, Phase)> = w
        .sidecar
        .phase_log()
        .into_iter()
        .map(|(at, p)| (at - t0, p))
        .collect();
    let expected = vec![
        (ms(0), Phase::Starting),
        (ms(300), Phase::AdminUp),
        (ms(1000), Phase::ConfigReceived),
        (ms(1100), Phase::Ready),
    ];
    assert_eq!(log, expected);
}

/// Fact sheet §6.2 (readiness needs `workers_started`) and istio#41086
/// (`15021/healthz/ready: connection refused` while waiting): 15021 is a
/// worker listener, refused until the workers start, then `200`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn readiness_listener_refuses_until_workers_start() {
    let t0 = Instant::now();
    let w = World::boot(with_admin(SidecarConfig::default()), Startup::default()).await;
    assert_eq!(w.sidecar.readiness_addr(), Some(addr("10.0.0.1:15021")));
    w.sidecar.wait_for(Phase::ConfigReceived).await;
    assert!(w.refused("10.0.0.1:15021").await);
    sleep_until(t0 + ms(1099)).await;
    assert!(w.refused("10.0.0.1:15021").await);
    w.sidecar.wait_for(Phase::Ready).await;
    assert_eq!(t0.elapsed(), ms(1100));
    assert_eq!(w.pod_get(15021, "/healthz/ready").await.status, 200);
}

/// INC-07 (istio#11130: "the admin port comes up before the proxy can
/// route, so waiting on it is not enough") and fact sheet §6.2: admin
/// answers from 300 ms on, `/ready` saying `INITIALIZING` until the workers
/// start, then `LIVE`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn admin_answers_before_the_sidecar_is_ready() {
    let t0 = Instant::now();
    let w = World::boot(with_admin(SidecarConfig::default()), Startup::default()).await;
    assert!(w.refused("10.0.0.1:15000").await, "Envoy not launched yet");
    w.sidecar.wait_for(Phase::AdminUp).await;
    assert_eq!(t0.elapsed(), ms(300));
    let ready = w.pod_get(15000, "/ready").await;
    assert_eq!(
        (ready.status, ready.body_text().as_str()),
        (503, "INITIALIZING\n")
    );
    assert!(w.refused("10.0.2.1:80").await, "no route yet");
    w.sidecar.wait_for(Phase::ConfigReceived).await;
    assert_eq!(
        w.pod_get(15000, "/ready").await.body_text(),
        "INITIALIZING\n"
    );
    w.sidecar.wait_for(Phase::Ready).await;
    let ready = w.pod_get(15000, "/ready").await;
    assert_eq!((ready.status, ready.body_text().as_str()), (200, "LIVE\n"));
}

/// Fact sheet §6.2 "Envoy init order" (Istio sets `initial_fetch_timeout`
/// 0: wait forever for EDS): an EDS cluster without its first assignment
/// keeps the workers stopped, 15001 and 15021 refused; the assignment ends
/// the wait at once.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_eds_cluster_without_its_first_assignment_keeps_the_sidecar_unready() {
    let t0 = Instant::now();
    let w = World::boot(eds_routed(), Startup::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "eds").await;
    sleep_until(t0 + Duration::from_secs(30)).await;
    assert_eq!(w.sidecar.phase(), Phase::ConfigReceived);
    assert!(w.refused("10.0.2.1:80").await);
    assert!(w.refused("10.0.0.1:15021").await);
    w.sidecar
        .update_endpoints(API, vec![Endpoint::new(addr("10.0.2.1:80"))])
        .unwrap();
    w.sidecar.wait_for(Phase::Ready).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(30));
    let resp = w.get("10.0.9.9:80", "api.partner.example", 1).await;
    assert_eq!(resp.body_text(), "eds");
}

/// Fact sheet §6.2 (the first CDS/LDS carries what istiod knows): an EDS
/// assignment and a configuration push made before the first push are kept
/// and in force from it on; the held push is the first configuration, not
/// an update.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pushes_made_before_the_first_config_are_in_force_from_it() {
    let t0 = Instant::now();
    let w = World::boot(with_admin(SidecarConfig::default()), Startup::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "pushed").await;
    w.sidecar.apply(eds_routed()).unwrap();
    w.sidecar
        .update_endpoints(API, vec![Endpoint::new(addr("10.0.2.1:80"))])
        .unwrap();
    assert!(w.sidecar.update_endpoints("nope", Vec::new()).is_err());
    w.sidecar.wait_for(Phase::Ready).await;
    assert_eq!(t0.elapsed(), ms(1100));
    let resp = w.get("10.0.9.9:80", "api.partner.example", 1).await;
    assert_eq!(resp.body_text(), "pushed");
    assert_eq!(w.sidecar.stats().cds_update_success, 0);
}

/// `spawn` keeps its behaviour: listening and ready at once.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn spawn_is_ready_at_once() {
    let w = World::start(with_admin(SidecarConfig::default())).await;
    assert_eq!(w.sidecar.phase(), Phase::Ready);
    assert_eq!(w.sidecar.phase_log().len(), 1);
    assert_eq!(w.sidecar.status_addr(), None);
    assert_eq!(w.pod_get(15021, "/healthz/ready").await.status, 200);
}

/// Fact sheet §6.6 with §6.2: a SIGTERM before the workers start drains and
/// exits after `terminationDrainDuration` as usual, and the workers never
/// start: every captured connect of the pod's life is refused.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_sigterm_during_start_up_exits_without_ever_starting_the_workers() {
    let t0 = Instant::now();
    let w = World::boot(with_admin(SidecarConfig::default()), Startup::default()).await;
    w.sidecar.wait_for(Phase::AdminUp).await;
    w.sidecar.terminate(meshsim_sidecar::Drain::default());
    sleep_until(t0 + ms(2000)).await;
    assert_eq!(w.sidecar.phase(), Phase::Draining);
    assert!(w.refused("10.0.2.1:80").await);
    w.sidecar.exited().await;
    assert_eq!(t0.elapsed(), ms(5300));
    let phases: Vec<Phase> = w.sidecar.phase_log().iter().map(|(_, p)| *p).collect();
    let expected = [
        Phase::Starting,
        Phase::AdminUp,
        Phase::Draining,
        Phase::Exited,
    ];
    assert_eq!(phases, expected);
}
