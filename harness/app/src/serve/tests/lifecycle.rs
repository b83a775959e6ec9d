//! Starting and stopping: validation before sockets, shutdown and reset,
//! nothing left behind, real loopback.

use std::io;

use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::clock::Instant;

use super::support::*;
use crate::AppError;
use crate::ids::{RecordSink, RequestIds};
use crate::serve::{ServeConfig, ServeDeps, StopMode, serve};

fn deps() -> ServeDeps {
    ServeDeps {
        rng: SimRng::new(1),
        proxy_log: ProxyLog::new(),
        ids: RequestIds::new(),
        start: Instant::now(),
        sink: RecordSink::new(|_| {}),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_bad_config_is_an_error_before_any_port_is_bound() {
    let net = sim();
    let stack = net.stack("10.0.0.2".parse().unwrap());
    let mut bad = config(vec![route("/", 200, SEC)]);
    bad.ports = vec![80, 81];
    bad.routes[0].status = 1;
    let err = serve(bad, stack.clone(), deps()).await.unwrap_err();
    assert!(matches!(err, AppError::InvalidStatus { .. }), "{err}");
    // Nothing was bound: both ports are still free.
    assert!(stack.listen(80).await.is_ok() && stack.listen(81).await.is_ok());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_taken_port_is_a_listen_error_and_leaves_nothing_bound() {
    let net = sim();
    let stack = net.stack("10.0.0.2".parse().unwrap());
    let _taken = stack.listen(81).await.unwrap();
    let two = ServeConfig {
        ports: vec![80, 81],
        ..ServeConfig::default()
    };
    let err = serve(two, stack.clone(), deps()).await.unwrap_err();
    assert_eq!(
        err,
        AppError::Listen {
            port: 81,
            kind: io::ErrorKind::AddrInUse
        }
    );
    assert!(stack.listen(80).await.is_ok());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_listed_port_is_served() {
    let net = sim();
    let mut two = config(vec![route("/", 200, SEC)]);
    two.ports = vec![80, 8080];
    let app = start(&net, "10.0.0.2", two).await;
    assert_eq!(
        app.handle.local_addrs(),
        [addr("10.0.0.2:80"), addr("10.0.0.2:8080")]
    );
    assert_eq!(get(&net, addr("10.0.0.2:8080"), "/").await.0.status, 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_closes_listeners_and_connections_and_leaves_no_task() {
    let net = sim();
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let app = start(&net, "10.0.0.2", config(vec![route("/", 200, 10 * SEC)])).await;
    let mut idle = connect(&net, addr("10.0.0.2:80")).await;
    send(&mut idle, "/", "").await;
    read_reply(&mut idle).await.unwrap();
    let mut busy = connect(&net, addr("10.0.0.2:80")).await;
    send(&mut busy, "/", "").await;
    meshsim_net::clock::sleep(SEC).await;
    assert_eq!(app.handle.stats().in_flight, 1);
    let started = Instant::now();
    let stats = app.handle.shutdown().await;
    assert_eq!(started.elapsed(), std::time::Duration::ZERO);
    assert_eq!(stats.served, 1);
    read_to_end(&mut idle)
        .await
        .expect("FIN on the idle connection");
    read_to_end(&mut busy)
        .await
        .expect("FIN on the in-flight one");
    let stack = net.stack("10.0.0.1".parse().unwrap());
    let refused = stack.connect(addr("10.0.0.2:80"), SEC).await.unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        baseline
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_with_reset_resets_every_open_connection() {
    let net = sim();
    let app = start(&net, "10.0.0.2", config(vec![route("/", 200, 10 * SEC)])).await;
    let mut busy = connect(&net, addr("10.0.0.2:80")).await;
    send(&mut busy, "/", "").await;
    meshsim_net::clock::sleep(SEC).await;
    app.handle.stop(StopMode::Reset).await;
    let err = read_to_end(&mut busy).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_modes_parse_from_their_scenario_words() {
    assert_eq!("close".parse::<StopMode>(), Ok(StopMode::Close));
    assert_eq!("reset".parse::<StopMode>(), Ok(StopMode::Reset));
    assert!(matches!(
        "blackhole".parse::<StopMode>(),
        Err(AppError::UnknownStopMode { .. })
    ));
}

/// The same server over kernel sockets on loopback (real mode).
#[tokio::test(flavor = "current_thread")]
async fn an_app_server_answers_over_real_loopback_sockets() {
    let net = meshsim_net::Net::real();
    let stack = net.stack("127.0.0.1".parse().unwrap());
    let mut cfg = config(vec![route("/", 204, std::time::Duration::ZERO)]);
    cfg.ports = vec![0];
    let app = start_on(stack.clone(), cfg, RequestIds::new()).await;
    let to = app.handle.local_addrs()[0];
    let mut s = stack.connect(to, SEC).await.unwrap();
    send(&mut s, "/", "").await;
    assert_eq!(read_reply(&mut s).await.unwrap().status, 204);
    app.handle.shutdown().await;
}

/// incidents.md INC-15: an app listening on `localhost` answers its own pod
/// at `127.0.0.1` and refuses connects to the pod's address; one bound to
/// the pod's address answers those and refuses its own `127.0.0.1`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_app_bound_to_localhost_answers_only_at_127_0_0_1_of_its_own_pod() {
    let net = sim();
    let pod = net.stack("10.0.0.2".parse().unwrap());
    let mut local = config(vec![route("/", 200, MS)]);
    local.bind = meshsim_net::Bind::Loopback;
    let app = start_on(pod.clone(), local, RequestIds::new()).await;
    assert_eq!(app.handle.local_addrs(), &[addr("127.0.0.1:80")]);
    let mut s = pod.connect(addr("127.0.0.1:80"), SEC).await.unwrap();
    send(&mut s, "/", "").await;
    assert_eq!(read_reply(&mut s).await.unwrap().status, 200);
    for from in [&pod, &net.stack("10.0.0.1".parse().unwrap())] {
        let err = from.connect(addr("10.0.0.2:80"), SEC).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
    let mut host_only = config(vec![route("/", 200, MS)]);
    host_only.bind = meshsim_net::Bind::Host;
    let other = net.stack("10.0.0.3".parse().unwrap());
    let _app = start_on(other.clone(), host_only, RequestIds::new()).await;
    assert_eq!(get(&net, addr("10.0.0.3:80"), "/").await.0.status, 200);
    let err = other.connect(addr("127.0.0.1:80"), SEC).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}
