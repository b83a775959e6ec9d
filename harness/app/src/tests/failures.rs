//! Failures the application sees, by kind, with their timing.

use std::time::Duration;

use meshsim_core::outcome::DnsFailure;
use meshsim_core::{ErrorKind, Outcome, ResponseFlags};

use super::fixture::*;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn request_timeout_is_recorded_at_exactly_the_timeout() {
    let net = sim();
    serve(
        &net,
        "10.0.0.2:80".parse().unwrap(),
        Script {
            silent: true,
            ..Script::default()
        },
    )
    .await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.profile.request_timeout = Some(2 * SEC);
    app.load_for = 3 * SEC;
    let (records, stats) = run_app(&net, app).await;
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(r.outcome, Outcome::Error(ErrorKind::RequestTimeout));
        assert_eq!(r.latency(), 2 * SEC);
        assert_eq!(r.upstream_attempts, 1, "the request was written");
        assert!(!r.reused_connection, "a timed-out connection is discarded");
    }
    assert_eq!(stats.completed, 3);
    assert_eq!(stats.connections_opened, 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_unfinished_at_the_end_of_the_drain_are_request_timeouts() {
    let net = sim();
    serve(
        &net,
        "10.0.0.2:80".parse().unwrap(),
        Script {
            silent: true,
            ..Script::default()
        },
    )
    .await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = 2 * SEC;
    app.drain_for = 5 * SEC;
    let started = meshsim_net::clock::Instant::now();
    let (records, stats) = run_app(&net, app).await;
    assert_eq!(started.elapsed(), 7 * SEC, "the drain bounds the run");
    assert_eq!((stats.scheduled, stats.completed), (2, 0));
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::Error(ErrorKind::RequestTimeout))
    );
    assert!(records.iter().all(|r| r.ended == 7 * SEC));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_to_a_port_nobody_listens_on_is_connect_refused_with_no_attempt() {
    let net = sim();
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = SEC;
    let (records, stats) = run_app(&net, app).await;
    assert_eq!(
        records[0].outcome,
        Outcome::Error(ErrorKind::ConnectRefused)
    );
    assert_eq!(records[0].upstream_attempts, 0);
    assert_eq!(
        records[0].upstream_host,
        Some("10.0.0.2:80".parse().unwrap())
    );
    assert_eq!(stats.connections_opened, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_across_a_silent_drop_fails_at_the_profile_connect_timeout() {
    let net = sim();
    serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    let mut app = App::new("jvm", "http://10.0.0.2/", "1/s");
    app.load_for = SEC;
    let (records, _) = run_app(&net, app).await;
    assert_eq!(
        records[0].outcome,
        Outcome::Error(ErrorKind::ConnectTimeout)
    );
    assert_eq!(records[0].latency(), 10 * SEC, "jvm connect timeout");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failed_lookup_is_a_dns_error_with_no_attempt() {
    let net = sim();
    let mut app = App::new("go", "http://missing.example/", "1/s");
    app.load_for = SEC;
    let (records, stats) = run_app(&net, app).await;
    assert_eq!(
        records[0].outcome,
        Outcome::Error(ErrorKind::Dns(DnsFailure::NxDomain))
    );
    assert_eq!(records[0].upstream_attempts, 0);
    assert_eq!(records[0].upstream_host, None);
    assert_eq!(stats.dns_lookups, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_sidecar_reply_takes_flags_attempts_and_host_from_the_proxy_log() {
    let net = sim();
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = SEC;
    let log = app.proxy_log.clone();
    let script = Script {
        status: 503,
        proxy: Some((log.clone(), ResponseFlags::UC | ResponseFlags::URX, 3)),
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), script).await;
    let (records, _) = run_app(&net, app).await;
    let flags = ResponseFlags::UC | ResponseFlags::URX;
    assert_eq!(
        records[0].outcome,
        Outcome::Error(ErrorKind::Http { status: 503, flags })
    );
    assert_eq!(records[0].upstream_attempts, 3);
    assert_eq!(
        records[0].upstream_host,
        Some("10.9.9.9:80".parse().unwrap())
    );
    assert!(log.is_empty(), "the entry was taken");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_upstream_503_without_a_sidecar_is_an_http_error_without_flags() {
    let net = sim();
    serve(
        &net,
        "10.0.0.2:80".parse().unwrap(),
        Script {
            status: 503,
            ..Script::default()
        },
    )
    .await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = SEC;
    let (records, _) = run_app(&net, app).await;
    let kind = ErrorKind::Http {
        status: 503,
        flags: ResponseFlags::NONE,
    };
    assert_eq!(records[0].outcome, Outcome::Error(kind));
    assert!(
        records[0].latency() < Duration::from_millis(10),
        "{:?}",
        records[0].latency()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reset_is_connection_reset_and_the_connection_is_discarded() {
    let net = sim();
    serve(
        &net,
        "10.0.0.2:80".parse().unwrap(),
        Script {
            reset: true,
            ..Script::default()
        },
    )
    .await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = 2 * SEC;
    let (records, stats) = run_app(&net, app).await;
    for r in &records {
        assert_eq!(r.outcome, Outcome::Error(ErrorKind::ConnectionReset));
        assert_eq!(r.upstream_attempts, 1);
        assert!(!r.reused_connection);
    }
    assert_eq!(
        stats.connections_opened, 2,
        "the reset connection was not pooled"
    );
}

/// A server-first call (`mysql://`): a new connection that succeeds once the
/// server's greeting packet (3-byte length, sequence id, payload) arrived,
/// and times out when the server never speaks (fact sheet §7.2: what a
/// MySQL driver sees behind a sidecar that waits for the client to speak).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_server_first_call_succeeds_on_the_greeting_and_times_out_without_one() {
    use tokio::io::AsyncWriteExt;
    let net = sim();
    let greeter = net.stack(ip("10.0.0.2")).listen(3306).await.unwrap();
    let _silent = net.stack(ip("10.0.0.3")).listen(3306).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = greeter.accept().await {
            let _ = s.write_all(&[3, 0, 0, 0, b'5', b'.', b'7']).await;
        }
    });
    let mut app = App::new("go", "mysql://10.0.0.2", "1/s");
    app.calls
        .push(call("mysql://10.0.0.3", "1/s", crate::Arrival::Constant));
    app.load_for = 3 * SEC;
    app.profile.request_timeout = Some(2 * SEC);
    let (records, stats) = run_app(&net, app).await;
    let (greeted, silent): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.call == 0);
    assert_eq!(greeted.len(), 3);
    assert!(
        greeted
            .iter()
            .all(|r| r.outcome == Outcome::Ok { status: 0 }),
        "{greeted:?}"
    );
    assert!(
        silent
            .iter()
            .all(|r| r.outcome == Outcome::Error(ErrorKind::RequestTimeout)),
        "{silent:?}"
    );
    assert_eq!(stats.connections_opened, 6);
}
