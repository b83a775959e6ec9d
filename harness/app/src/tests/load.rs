//! Open-loop load: schedules, request ids, reproducibility.

use std::time::Duration;

use meshsim_core::Outcome;

use super::fixture::*;
use crate::schedule::Arrival;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn constant_rate_schedules_exactly_rate_times_duration_requests() {
    let net = sim();
    serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let (records, stats) = run_app(&net, App::new("go", "http://10.0.0.2/", "20/s")).await;
    assert_eq!(stats.scheduled, 200);
    assert_eq!(stats.completed, 200);
    assert_eq!(records.len(), 200);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::Ok { status: 200 })
    );
    assert_eq!(records[1].scheduled, Duration::from_millis(50));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_slow_response_never_delays_the_next_request() {
    let net = sim();
    let slow = Script {
        delay: 5 * SEC,
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), slow).await;
    let started = meshsim_net::clock::Instant::now();
    let (records, stats) = run_app(&net, App::new("go", "http://10.0.0.2/", "10/s")).await;
    assert_eq!(stats.scheduled, 100);
    for r in &records {
        assert_eq!(r.started, r.scheduled, "request started late");
        assert!(r.latency() >= 5 * SEC && r.latency() < 5 * SEC + Duration::from_millis(5));
    }
    // The first 5 s of requests each needed a new connection: none was free.
    assert!(
        (50..=52).contains(&stats.connections_opened),
        "{}",
        stats.connections_opened
    );
    // Load 10 s, the last response 5 s later: the run ends with it, not at the drain bound.
    assert!(
        started.elapsed() < 15 * SEC + Duration::from_millis(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_carry_host_and_a_run_wide_request_id_from_one() {
    let net = sim();
    let seen = serve(&net, "10.0.0.2:8080".parse().unwrap(), Script::default()).await;
    let mut app = App::new("go", "http://10.0.0.2:8080/charge?x=1", "1/s");
    app.calls
        .push(call("http://10.0.0.2:8080/other", "1/s", Arrival::Constant));
    app.load_for = 2 * SEC;
    run_app(&net, app).await;
    let heads = &seen.lock().unwrap().heads;
    assert_eq!(heads.len(), 4);
    assert!(
        heads[0].starts_with("GET /charge?x=1 HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].contains("host: 10.0.0.2:8080\r\n"));
    assert!(
        heads[1].starts_with("GET /other HTTP/1.1\r\n"),
        "{}",
        heads[1]
    );
    for (n, head) in heads.iter().enumerate() {
        assert!(
            head.contains(&format!("x-request-id: {}\r\n", n + 1)),
            "{head}"
        );
        assert!(!head.contains("connection: close"));
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn poisson_arrivals_with_a_seed_are_reproducible() {
    async fn once(seed: u64) -> Vec<meshsim_core::RequestRecord> {
        let net = sim();
        serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
        let mut app = App::new("go", "http://10.0.0.2/", "50/s");
        app.calls[0].arrival = Arrival::Poisson;
        app.seed = seed;
        run_app(&net, app).await.0
    }
    let a = once(7).await;
    assert_eq!(a, once(7).await);
    assert_ne!(a, once(8).await);
    assert!((400..600).contains(&a.len()), "{} requests", a.len());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn drive_leaves_no_task_or_connection_behind() {
    let net = sim();
    let pooled = serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let stuck = serve(
        &net,
        "10.0.0.3:80".parse().unwrap(),
        Script {
            silent: true,
            ..Script::default()
        },
    )
    .await;
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let mut app = App::new("go", "http://10.0.0.2/", "5/s");
    app.calls
        .push(call("http://10.0.0.3/", "1/s", Arrival::Constant));
    app.load_for = 3 * SEC;
    app.drain_for = SEC;
    let (records, stats) = run_app(&net, app).await;
    assert_eq!(records.len(), 18);
    assert_eq!(stats.completed, 15);
    // The pooled connection and the three stuck ones are closed by the app.
    wait_closed(&pooled, 1).await;
    wait_closed(&stuck, 3).await;
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        baseline
    );
}

/// The same client over kernel sockets on loopback (real mode).
#[tokio::test(flavor = "current_thread")]
async fn keep_alive_works_over_real_loopback_sockets() {
    let net = meshsim_net::Net::real();
    let stack = net.stack(ip("127.0.0.1"));
    let (addr, seen) = serve_on(&stack, 0, Script::default()).await;
    let mut app = App::new("go", &format!("http://{addr}/"), "20/s");
    app.load_for = Duration::from_millis(200);
    let (records, stats) = run_app_from(stack, app).await;
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| r.outcome.is_ok()), "{records:?}");
    assert_eq!(stats.connections_opened, 1);
    assert_eq!(seen.lock().unwrap().heads.len(), 4);
}
