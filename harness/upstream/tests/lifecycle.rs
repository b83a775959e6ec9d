//! Stop modes, start and shutdown over the simulated network (paused clock),
//! and one request over real loopback sockets.

#[path = "support/client.rs"]
mod client;

use std::io::ErrorKind;
use std::time::Duration;

use client::{CONNECT_TIMEOUT, Client, sim};
use meshsim_net::Net;
use meshsim_net::clock::Instant;
use meshsim_upstream::{RouteSpec, StopMode, UpstreamConfig, spawn};

fn slow(latency: Duration) -> UpstreamConfig {
    UpstreamConfig {
        routes: vec![RouteSpec {
            latency,
            ..RouteSpec::default()
        }],
        ..UpstreamConfig::default()
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_reset_gives_blocked_reader_connection_reset_and_refuses_new_connects() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    // The pooled connection sits idle, its owner blocked reading.
    let reader = tokio::spawn(async move { c.read_response().await });
    meshsim_net::clock::sleep(Duration::from_secs(1)).await;
    server.stop(StopMode::Reset).await;
    let err = reader.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let refused = client_stack
        .connect(server.addr(), CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(server.stats().active_connections, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_reset_fails_a_request_in_flight_with_connection_reset() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(slow(Duration::from_secs(5)), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    let request = tokio::spawn(async move { c.get("/").await });
    meshsim_net::clock::sleep(Duration::from_secs(1)).await;
    server.stop(StopMode::Reset).await;
    assert_eq!(
        request.await.unwrap().unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(server.stats().requests, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_close_gives_client_eof_and_refuses_new_connects() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    server.stop(StopMode::Close).await;
    assert_eq!(c.read_to_close().await.unwrap(), b"", "FIN, no bytes");
    let refused = client_stack
        .connect(server.addr(), CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_close_mid_latency_closes_without_a_response() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(slow(Duration::from_secs(5)), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    let request = tokio::spawn(async move { c.get("/").await });
    meshsim_net::clock::sleep(Duration::from_secs(1)).await;
    let stopped_at = Instant::now();
    server.stop(StopMode::Close).await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(1),
        "stop does not wait for the response"
    );
    assert_eq!(
        request.await.unwrap().unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_blackhole_times_out_new_connects_then_start_answers_again() {
    let (net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    server.stop(StopMode::Blackhole).await;
    assert!(net.is_blackholed(server.addr().ip()));
    let before = Instant::now();
    let err = client_stack
        .connect(server.addr(), CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(
        before.elapsed(),
        CONNECT_TIMEOUT,
        "silent drop: only the connect timeout ends it"
    );
    server.start().await.unwrap();
    assert!(!net.is_blackholed(server.addr().ip()));
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    assert_eq!(c.get("/").await.unwrap().status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn blackholed_connection_stalls_and_resumes_after_start() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    server.stop(StopMode::Blackhole).await;
    c.send(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("writes succeed across a drop");
    let stalled = meshsim_net::clock::timeout(Duration::from_secs(10), c.read_response()).await;
    assert!(stalled.is_err(), "nothing arrives while black-holed");
    server.start().await.unwrap();
    assert_eq!(c.read_response().await.unwrap().status, 200);
    assert_eq!(
        server.stats().connections,
        1,
        "the connection survived the blackhole"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn start_after_stop_rebinds_the_same_address() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 0)
        .await
        .unwrap();
    let addr = server.addr();
    assert_ne!(addr.port(), 0, "an ephemeral port was chosen");
    for how in [StopMode::Reset, StopMode::Close] {
        server.stop(how).await;
        server.stop(how).await; // stopping twice is harmless
        server.start().await.unwrap();
        server.start().await.unwrap(); // so is starting twice
        assert_eq!(server.addr(), addr);
        let mut c = Client::connect(&client_stack, addr).await.unwrap();
        assert_eq!(c.get("/").await.unwrap().status, 200);
    }
    assert_eq!(server.stats().connections, 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_leaves_no_task_running_and_closes_connections() {
    let (_net, server_stack, client_stack) = sim();
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let server = spawn(slow(Duration::from_secs(5)), server_stack, 443)
        .await
        .unwrap();
    let mut idle = Client::connect(&client_stack, server.addr()).await.unwrap();
    let mut busy = Client::connect(&client_stack, server.addr()).await.unwrap();
    busy.send(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    meshsim_net::clock::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        metrics.num_alive_tasks(),
        baseline + 3,
        "accept loop and two connections"
    );
    server.shutdown().await;
    assert_eq!(metrics.num_alive_tasks(), baseline);
    assert_eq!(idle.read_to_close().await.unwrap(), b"");
    assert_eq!(busy.read_to_close().await.unwrap(), b"");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_lifts_the_blackhole_it_set() {
    let (net, server_stack, _) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let ip = server.addr().ip();
    server.stop(StopMode::Blackhole).await;
    server.shutdown().await;
    assert!(!net.is_blackholed(ip));
}

#[tokio::test]
async fn real_socket_server_answers_over_loopback() {
    let net = Net::real();
    let stack = net.stack("127.0.0.1".parse().unwrap());
    let server = spawn(UpstreamConfig::default(), stack.clone(), 0)
        .await
        .unwrap();
    let mut c = meshsim_net::clock::timeout(
        Duration::from_secs(10),
        Client::connect(&stack, server.addr()),
    )
    .await
    .expect("connect in time")
    .unwrap();
    let r = meshsim_net::clock::timeout(Duration::from_secs(10), c.get("/"))
        .await
        .expect("answer in time")
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(server.stats().requests, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_the_handle_aborts_every_task() {
    let (_net, server_stack, client_stack) = sim();
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    drop(server);
    // Aborted tasks are released at the runtime's next turn.
    meshsim_net::clock::sleep(Duration::from_millis(1)).await;
    assert_eq!(metrics.num_alive_tasks(), baseline);
    assert_eq!(c.read_to_close().await.unwrap(), b"");
}

#[test]
fn handle_and_its_control_futures_can_move_across_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<meshsim_upstream::UpstreamHandle>();
    let _ = |h: &'static meshsim_upstream::UpstreamHandle| {
        send(&h.stop(StopMode::Reset));
        send(&h.start());
    };
    let _ = |h: meshsim_upstream::UpstreamHandle| send(&h.shutdown());
}

#[test]
fn stop_modes_parse_from_scenario_words_and_print_back() {
    for how in [StopMode::Close, StopMode::Reset, StopMode::Blackhole] {
        assert_eq!(how.to_string().parse::<StopMode>().unwrap(), how);
    }
    let err = "kill".parse::<StopMode>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown stop mode \"kill\" (expected close, reset or blackhole)"
    );
}
