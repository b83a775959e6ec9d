//! pilot-agent's shutdown: drain, `terminationDrainDuration`,
//! `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`, `/quitquitquit` (fact sheet §6.4,
//! §6.6; INC-09, INC-11).

use std::time::Duration;

use meshsim_net::InboundCapture;
use meshsim_net::clock::{Instant, sleep, sleep_until};
use meshsim_sidecar::{Drain, InboundConfig, InboundPort, Phase, SidecarConfig, Startup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::boot::with_admin;
use crate::support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A booted pod, ready; returns it with the instant it became ready.
async fn ready_pod(config: SidecarConfig) -> (World, Instant) {
    let w = World::boot(with_admin(config), Startup::default()).await;
    w.sidecar.wait_for(Phase::Ready).await;
    (w, Instant::now())
}

fn exit_on_zero() -> Drain {
    Drain {
        exit_on_zero_active_connections: true,
        ..Drain::default()
    }
}

/// Fact sheet §6.6 (`terminationDrainDuration` 5 s; sidecars drain inbound
/// only, outbound keeps working) and INC-09: after SIGTERM the app's new
/// outbound calls still go through until Envoy is killed 5 s later.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sigterm_exits_after_termination_drain_duration_and_outbound_keeps_working_until_then() {
    let (w, t1) = ready_pod(SidecarConfig::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "out").await;
    w.sidecar.terminate(Drain::default());
    assert_eq!(
        w.sidecar.phase(),
        Phase::Ready,
        "the agent acts in its task"
    );
    sleep_until(t1 + Duration::from_millis(4900)).await;
    assert_eq!(w.sidecar.phase(), Phase::Draining);
    let resp = w.get("10.0.2.1:80", "api", 1).await;
    assert_eq!((resp.status, resp.header("connection")), (200, None));
    w.sidecar.exited().await;
    assert_eq!(t1.elapsed(), secs(5));
    let log = w.sidecar.phase_log();
    let tail: Vec<(Duration, Phase)> = log[log.len() - 2..]
        .iter()
        .map(|(at, p)| (*at - t1, *p))
        .collect();
    assert_eq!(
        tail,
        vec![(secs(0), Phase::Draining), (secs(5), Phase::Exited)]
    );
}

/// Fact sheet §6.6 "after Envoy exits": the iptables rules stay, so the
/// app's new connects are refused exactly as at start-up; admin, readiness
/// and the agent's port are gone too; `shutdown()` still works.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn after_exit_captured_connects_are_refused() {
    let (w, _) = ready_pod(SidecarConfig::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "out").await;
    assert_eq!(w.get("10.0.2.1:80", "api", 1).await.status, 200);
    w.sidecar.exit();
    w.sidecar.exited().await;
    assert_eq!(w.sidecar.phase(), Phase::Exited);
    for dst in [
        "10.0.2.1:80",
        "10.0.0.1:15000",
        "10.0.0.1:15020",
        "10.0.0.1:15021",
    ] {
        assert!(w.refused(dst).await, "{dst} refused after exit");
    }
    w.sidecar.shutdown().await;
}

/// INC-09 (the sidecar exits before the app): a request in flight on a
/// captured connection when Envoy is killed sees its connection closed
/// (FIN) before any response, at the exit's instant.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_in_flight_request_sees_the_connection_closed_when_envoy_exits() {
    let (w, _) = ready_pod(SidecarConfig::default()).await;
    let slow = Action::RespondAfter(secs(10), 200, "late");
    let _up = Upstream::spawn(&w.net, addr("10.0.2.1:80"), None, move |_, _| slow.clone()).await;
    let mut c = w.app.connect(addr("10.0.2.1:80"), secs(1)).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: api\r\n\r\n")
        .await
        .unwrap();
    let t1 = Instant::now();
    w.sidecar.terminate(Drain::default());
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).await.unwrap();
    assert_eq!(n, 0, "closed without a response byte");
    assert_eq!(t1.elapsed(), secs(5));
}

/// Fact sheet §6.6 (`EXIT_ON_ZERO_ACTIVE_CONNECTIONS`: after
/// `MINIMUM_DRAIN_DURATION` 5 s, `downstream_cx_active` every 1 s, exit at
/// 0; no other cap): the app's keep-alive connection to 15001 holds the
/// sidecar until the app closes it at 12.3 s; the check at 13 s exits.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn exit_on_zero_active_connections_waits_for_the_apps_connections_to_close() {
    let (w, _) = ready_pod(SidecarConfig::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "out").await;
    let mut c = w.dial("10.0.2.1:80").await;
    assert_eq!(c.get("api", "/", 1).await.status, 200);
    assert_eq!(w.sidecar.stats().downstream_cx_active, 1);
    let t1 = Instant::now();
    w.sidecar.terminate(exit_on_zero());
    sleep_until(t1 + Duration::from_millis(12_300)).await;
    assert_eq!(w.sidecar.phase(), Phase::Draining);
    drop(c);
    sleep_until(t1 + Duration::from_millis(12_900)).await;
    assert_eq!(w.sidecar.phase(), Phase::Draining);
    assert_eq!(w.sidecar.stats().downstream_cx_active, 0);
    w.sidecar.exited().await;
    assert_eq!(t1.elapsed(), secs(13));
}

/// Fact sheet §6.6: with no connection open (one was, and closed), the
/// first check after `MINIMUM_DRAIN_DURATION` (5 s + 1 s) exits; with none
/// ever (pilot-agent's `ac == -1`: no `downstream_cx_active` stat), the same
/// check exits too.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn exit_on_zero_exits_after_minimum_drain_when_no_connection_is_open() {
    let (w, _) = ready_pod(SidecarConfig::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "out").await;
    let mut c = w.dial("10.0.2.1:80").await;
    assert_eq!(c.get("api", "/", 1).await.status, 200);
    drop(c);
    let t1 = Instant::now();
    w.sidecar.terminate(exit_on_zero());
    w.sidecar.exited().await;
    assert_eq!(t1.elapsed(), secs(6));

    let (never, t2) = ready_pod(SidecarConfig::default()).await;
    assert_eq!(never.sidecar.stats().downstream_cx_total, 0);
    never.sidecar.terminate(exit_on_zero());
    never.sidecar.exited().await;
    assert_eq!(t2.elapsed(), secs(6));
}

/// INC-11 and Istio's status server (`handleQuit`): `POST
/// localhost:15020/quitquitquit` answers `200 OK` and the agent exits at
/// once, without draining; a `GET` gets 405 and changes nothing.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn quitquitquit_exits_at_once() {
    let (w, t1) = ready_pod(SidecarConfig::default()).await;
    assert_eq!(w.sidecar.status_addr(), Some(addr("10.0.0.1:15020")));
    let get = w.pod_get(15020, "/quitquitquit").await;
    assert_eq!(
        (get.status, get.body_text().as_str()),
        (405, "Method Not Allowed\n")
    );
    assert_eq!(w.sidecar.phase(), Phase::Ready);
    let quit = w.pod_request("POST", 15020, "/quitquitquit").await;
    assert_eq!((quit.status, quit.body_text().as_str()), (200, "OK"));
    w.sidecar.exited().await;
    assert_eq!(t1.elapsed(), Duration::ZERO);
    let phases: Vec<Phase> = w.sidecar.phase_log().iter().map(|(_, p)| *p).collect();
    assert!(!phases.contains(&Phase::Draining), "{phases:?}");
    assert!(w.refused("10.0.2.1:80").await);
}

/// Fact sheet §6.4 (native sidecars: preStop `pilot-agent request POST
/// drain`, then SIGTERM after the app stopped exits at once): `/drain`
/// starts the drain and the later SIGTERM exits without waiting.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn drain_then_sigterm_exits_at_once() {
    let (w, t1) = ready_pod(SidecarConfig::default()).await;
    let drain = w.pod_request("POST", 15020, "/drain").await;
    assert_eq!(drain.status, 200);
    assert_eq!(w.sidecar.phase(), Phase::Draining);
    let ready = w.pod_get(15021, "/healthz/ready").await;
    assert_eq!(
        (ready.status, ready.body_text().as_str()),
        (503, "server is not live, current state is: DRAINING")
    );
    sleep(secs(30)).await;
    assert_eq!(
        w.sidecar.phase(),
        Phase::Draining,
        "drains until told to exit"
    );
    w.sidecar.terminate(Drain::default());
    w.sidecar.exited().await;
    assert_eq!(t1.elapsed(), secs(30));
}

/// A pod serving HTTP on 8080 behind its sidecar's inbound listener.
fn serving() -> SidecarConfig {
    SidecarConfig {
        inbound: Some(InboundConfig {
            ports: vec![InboundPort {
                port: 8080,
                http: true,
                retry_policy: None,
            }],
            ..InboundConfig::default()
        }),
        ..SidecarConfig::default()
    }
}

/// Fact sheet §6.6 (`drain_listeners?inboundonly&graceful`, drain strategy
/// `immediate`): while draining, every inbound HTTP/1.1 response carries
/// `connection: close` and its connection closes after it; new inbound
/// connections are still accepted (listeners close only at the 45 s drain
/// time, which the agent never waits for); outbound responses are untouched.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn draining_inbound_responses_carry_connection_close() {
    let (w, _) = ready_pod(serving()).await;
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let _app = Upstream::ok(&w.net, addr("10.0.0.1:8080"), "hello").await;
    let _out = Upstream::ok(&w.net, addr("10.0.2.1:80"), "out").await;
    let peer = w.net.stack(ip("10.0.9.9"));
    let dial = || peer.connect(addr("10.0.0.1:8080"), secs(1));
    let mut kept = AppConnExt::wrap(dial().await.unwrap());
    assert_eq!(kept.get("b", "/", 1).await.header("connection"), None);
    w.sidecar.drain();
    let during = kept.get("b", "/", 2).await;
    assert_eq!(
        (during.status, during.header("connection")),
        (200, Some("close"))
    );
    assert!(kept.try_get("b", "/", 3).await.is_none(), "closed after it");
    let fresh = AppConnExt::wrap(dial().await.unwrap())
        .get("b", "/", 4)
        .await;
    assert_eq!(
        (fresh.status, fresh.header("connection")),
        (200, Some("close"))
    );
    let out = w.get("10.0.2.1:80", "api", 5).await;
    assert_eq!((out.status, out.header("connection")), (200, None));
}
