//! Jobs: a bounded batch of requests, then exit (INC-11), and the
//! `/quitquitquit` call that lets the pod complete.

use meshsim_core::{ErrorKind, Outcome};

use super::*;

fn job(url: &str, rate: &str, count: u64) -> App {
    let mut app = App::new("go", url, rate);
    app.calls[0].count = Some(count);
    app.load_for = 3600 * SEC;
    app
}

/// INC-11: "the Job's main container exits 0" once its work is done, long
/// before any load duration.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_job_exits_after_its_last_counted_request() {
    let net = sim();
    let slow = Script {
        delay: SEC,
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), slow).await;
    let started = Instant::now();
    // Through the plain `drive` path: counts hold there too.
    let (records, stats) = run_app(&net, job("http://10.0.0.2/", "2/s", 3)).await;
    assert_eq!(stats.scheduled, 3);
    let at: Vec<Duration> = records.iter().map(|r| r.scheduled).collect();
    assert_eq!(at, vec![Duration::ZERO, ms(500), SEC]);
    // Three requests in flight together: three connections; the last is
    // answered at 1 s + 1 s.
    assert_eq!(stats.connections_opened, 3);
    assert_eq!(started.elapsed(), 2 * SEC + FRESH);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_job_drains_from_its_last_request_not_from_the_end_of_the_load() {
    let net = sim();
    let silent = Script {
        silent: true,
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), silent).await;
    let mut app = job("http://10.0.0.2/", "1/s", 2);
    app.drain_for = 5 * SEC;
    let (records, stats, exit) = run_lc(&net, app, Lifecycle::default()).await;
    assert_eq!(exit, SEC + 5 * SEC);
    assert_eq!((stats.scheduled, stats.completed), (2, 0));
    assert!(records.iter().all(|r| r.ended == exit));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_job_with_an_uncounted_call_runs_for_the_whole_load() {
    let net = sim();
    serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let mut app = job("http://10.0.0.2/", "1/s", 1);
    app.calls
        .push(call("http://10.0.0.2/", "1/s", crate::Arrival::Constant));
    app.load_for = 5 * SEC;
    let (records, stats, _) = run_lc(&net, app, Lifecycle::default()).await;
    assert_eq!(stats.scheduled, 1 + 5);
    assert_eq!(records.iter().filter(|r| r.call == 0).count(), 1);
}

/// INC-11: "The app calls `POST http://localhost:15020/quitquitquit` when
/// done (pilot-agent, Istio >= 1.3)": after its last response, once, to the
/// agent's port, which is never captured (fact sheet §6.1, 15020).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_job_posts_on_done_after_its_last_response() {
    let net = sim();
    let slow = Script {
        delay: SEC,
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), slow).await;
    let quit = agent(&net.stack(ip("10.0.0.1")), 15020).await;
    let lc = Lifecycle {
        on_done: Some("http://10.0.0.1:15020/quitquitquit".into()),
        ..Lifecycle::default()
    };
    let app = job("http://10.0.0.2/", "1/s", 2);
    let (records, stats, exit) = run_lc(&net, app, lc).await;
    let last_response = records.iter().map(|r| r.ended).max().unwrap();
    assert_eq!(last_response, 2 * SEC + FRESH);
    let quit = quit.lock().unwrap();
    assert_eq!(quit.len(), 1);
    let (at, head) = &quit[0];
    // The pod's own address is no network hop away: posted at once.
    assert_eq!(*at, last_response, "posted right after the last response");
    assert!(
        head.starts_with("POST /quitquitquit HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length: 1"),
        "{head}"
    );
    assert_eq!(stats.on_done, Some(Outcome::Ok { status: 200 }));
    assert_eq!(records.len(), 2, "the post is not a load record");
    assert_eq!(exit, last_response);
}

/// INC-11: with the agent already gone, the post fails; the Job still exits.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn on_done_to_a_closed_port_reports_connect_refused() {
    let net = sim();
    serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let lc = Lifecycle {
        on_done: Some("http://10.0.0.1:15020/quitquitquit".into()),
        ..Lifecycle::default()
    };
    let (records, stats, _) = run_lc(&net, job("http://10.0.0.2/", "1/s", 1), lc).await;
    assert_eq!(
        stats.on_done,
        Some(Outcome::Error(ErrorKind::ConnectRefused))
    );
    assert_eq!(records.len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_bad_on_done_url_is_an_error_before_any_request() {
    let net = sim();
    let seen = serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let app = job("http://10.0.0.2/", "1/s", 1);
    let mut app = app;
    app.seed = 1;
    app.load_for = SEC;
    app.drain_for = SEC;
    let (config, deps) = app.parts();
    let lc = Lifecycle {
        on_done: Some("http://localhost:15020/quitquitquit".into()),
        ..Lifecycle::default()
    };
    let (sink, _) = RecordSink::list();
    let stack = net.stack(ip("10.0.0.1"));
    let err = drive_lifecycle(config, stack, deps, RequestIds::new(), sink, lc)
        .await
        .unwrap_err();
    assert!(matches!(err, crate::AppError::NoDnsServers { ref host } if host == "localhost"));
    assert!(seen.lock().unwrap().heads.is_empty());
}
