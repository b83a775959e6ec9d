//! The container's life under kubelet: late start, SIGTERM, SIGKILL
//! (INC-07 start, INC-09 shutdown).

mod jobs;
mod retry;
mod run_once;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{ErrorKind, Outcome, RequestRecord};
use meshsim_net::clock::Instant;
use meshsim_net::{Net, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fixture::*;
use crate::drive::DriveStats;
use crate::ids::{RecordSink, RequestIds};
use crate::lifecycle::{AppControl, Lifecycle, drive_lifecycle};

/// One hop on `SimConfig::default()`: its 50 µs one-way latency is a tokio
/// timer, and tokio's timers have a 1 ms resolution.
const HOP: Duration = Duration::from_millis(1);
/// A connect refused: the SYN's hop (the RST comes back with it).
const REFUSED: Duration = HOP;
/// A request on a pooled connection: request and response hops.
const POOLED: Duration = Duration::from_millis(2);
/// A request on a fresh connection: the connect, then as [`POOLED`].
const FRESH: Duration = Duration::from_millis(3);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `app` from 10.0.0.1 through the public [`drive_lifecycle`]; records
/// in schedule order, and the virtual time the drive returned (the exit).
async fn run_lc(net: &Net, app: App, lc: Lifecycle) -> (Vec<RequestRecord>, DriveStats, Duration) {
    let (config, deps) = app.parts();
    let start = deps.start;
    let (sink, list) = RecordSink::list();
    let stack = net.stack(ip("10.0.0.1"));
    let stats = drive_lifecycle(config, stack, deps, RequestIds::new(), sink, lc)
        .await
        .unwrap();
    let mut records = std::mem::take(&mut *list.lock().unwrap());
    records.sort_by_key(|r| (r.scheduled, r.call));
    (records, stats, start.elapsed())
}

/// Signals `control` at `at` from now: `Some(keep)` SIGTERM, `None` SIGKILL.
fn signal_at(control: &AppControl, at: Duration, term: Option<Duration>) {
    let control = control.clone();
    tokio::spawn(async move {
        meshsim_net::clock::sleep(at).await;
        match term {
            Some(keep) => control.terminate(keep),
            None => control.kill(),
        }
    });
}

fn controlled(control: &AppControl) -> Lifecycle {
    Lifecycle {
        control: Some(control.clone()),
        ..Lifecycle::default()
    }
}

/// A one-shot HTTP server on `port` of `stack`: answers every request `200`
/// with `connection: close`; returns the (virtual time from now, head) of
/// each request.
async fn agent(stack: &Stack, port: u16) -> Arc<Mutex<Vec<(Duration, String)>>> {
    let listener = stack.listen(port).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let fill = seen.clone();
    let start = Instant::now();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            fill.lock().unwrap().push((start.elapsed(), text));
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(reply).await;
        }
    });
    seen
}

/// Fact sheet §6.3/§6.4: with `holdApplicationUntilProxyStarts` or native
/// sidecars the app container starts only once the proxy is ready (INC-07);
/// its calls start then, at their rate, with no catch-up burst.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_first_request_is_at_begin_not_a_burst_of_missed_ones() {
    let net = sim();
    serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = 5 * SEC;
    let lc = Lifecycle {
        begin: 2 * SEC,
        ..Lifecycle::default()
    };
    let (records, stats, _) = run_lc(&net, app, lc).await;
    let at: Vec<Duration> = records.iter().map(|r| r.scheduled).collect();
    assert_eq!(at, vec![2 * SEC, 3 * SEC, 4 * SEC]);
    assert!(records.iter().all(|r| r.started == r.scheduled));
    assert_eq!(stats.scheduled, 3);
}

/// INC-09 (fact sheet §6.6: the proxy drains for `terminationDrainDuration`
/// while the app still works): after SIGTERM the app finishes its work for
/// a while, then exits once its last requests are answered.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sigterm_keeps_working_for_the_given_time_then_exits_after_in_flight_finish() {
    let net = sim();
    let slow = Script {
        delay: ms(1500),
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), slow).await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = 60 * SEC;
    let control = AppControl::new();
    signal_at(&control, ms(10_500), Some(2 * SEC));
    let (records, stats, exit) = run_lc(&net, app, controlled(&control)).await;
    // Scheduled before 12.5 s: 0 s ..= 12 s.
    assert_eq!((stats.scheduled, stats.completed), (13, 13));
    assert_eq!(records.last().unwrap().scheduled, 12 * SEC);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::Ok { status: 200 })
    );
    // The last one (12 s, on a pooled connection) answered 1.5 s later.
    assert_eq!(exit, ms(13_500) + POOLED);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sigterm_without_time_to_keep_working_stops_scheduling_at_once() {
    let net = sim();
    serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let mut app = App::new("go", "http://10.0.0.2/", "10/s");
    app.load_for = 60 * SEC;
    let control = AppControl::new();
    control.terminate(Duration::ZERO);
    let (records, stats, exit) = run_lc(&net, app, controlled(&control)).await;
    assert_eq!(
        stats.scheduled, 0,
        "a request due at the signal is not made"
    );
    assert!(records.is_empty());
    assert_eq!(exit, Duration::ZERO);
}

/// INC-09: requests still in flight when `drain_for` after the end of the
/// grace work is over are the app's timeouts, and the container exits then.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn after_sigterm_in_flight_requests_get_the_drain_and_no_more() {
    let net = sim();
    let silent = Script {
        silent: true,
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), silent).await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = 60 * SEC;
    app.drain_for = 5 * SEC;
    let control = AppControl::new();
    signal_at(&control, ms(2500), Some(SEC));
    let (records, stats, exit) = run_lc(&net, app, controlled(&control)).await;
    assert_eq!(exit, ms(3500) + 5 * SEC);
    assert_eq!((stats.scheduled, stats.completed), (4, 0));
    for r in &records {
        assert_eq!(r.outcome, Outcome::Error(ErrorKind::RequestTimeout));
        assert_eq!(r.ended, exit);
    }
}

/// INC-09: kubelet's SIGKILL at the end of `terminationGracePeriodSeconds`:
/// the process is gone; nobody observed the in-flight requests' outcome, and
/// every connection closes with it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sigkill_abandons_in_flight_requests_without_recording_them() {
    let net = sim();
    let slow = Script {
        delay: 2 * SEC,
        ..Script::default()
    };
    let seen = serve(&net, "10.0.0.2:80".parse().unwrap(), slow).await;
    let baseline = alive_tasks();
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = 60 * SEC;
    let control = AppControl::new();
    signal_at(&control, ms(3500), None);
    let (records, stats, exit) = run_lc(&net, app, controlled(&control)).await;
    assert_eq!(exit, ms(3500), "the drive returns at the kill");
    // 0 s and 1 s were answered; 2 s and 3 s were in flight.
    assert_eq!(stats.scheduled, 4);
    assert_eq!((stats.completed, stats.abandoned), (2, 2));
    let at: Vec<Duration> = records.iter().map(|r| r.scheduled).collect();
    assert_eq!(at, vec![Duration::ZERO, SEC]);
    // Every connection the app opened is closed; no task of it is left.
    let opened = seen.lock().unwrap().connections;
    assert_eq!(opened, stats.connections_opened as usize);
    wait_closed(&seen, opened).await;
    assert_eq!(alive_tasks(), baseline);
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sigkill_during_the_sigterm_drain_cuts_it_short() {
    let net = sim();
    let silent = Script {
        silent: true,
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), silent).await;
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.load_for = 60 * SEC;
    app.drain_for = 30 * SEC;
    app.profile.request_timeout = None;
    let control = AppControl::new();
    signal_at(&control, ms(1500), Some(Duration::ZERO));
    signal_at(&control, ms(11_500), None);
    let mut lc = controlled(&control);
    lc.on_done = Some("http://10.0.0.1:15020/quitquitquit".into());
    let quit = agent(&net.stack(ip("10.0.0.1")), 15020).await;
    let (records, stats, exit) = run_lc(&net, app, lc).await;
    assert_eq!(exit, ms(11_500));
    assert!(records.is_empty());
    assert_eq!((stats.scheduled, stats.abandoned), (2, 2));
    assert_eq!(stats.on_done, None);
    assert!(
        quit.lock().unwrap().is_empty(),
        "a killed app posts nothing"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn signalled_runs_with_one_seed_are_identical() {
    async fn once(seed: u64) -> (Vec<RequestRecord>, DriveStats, Duration) {
        let net = sim();
        let slow = Script {
            delay: ms(300),
            ..Script::default()
        };
        serve(&net, "10.0.0.2:80".parse().unwrap(), slow).await;
        let mut app = App::new("go", "http://10.0.0.2/", "50/s");
        app.calls[0].arrival = crate::Arrival::Poisson;
        app.seed = seed;
        app.load_for = 60 * SEC;
        let control = AppControl::new();
        signal_at(&control, SEC, Some(SEC));
        signal_at(&control, ms(2100), None);
        run_lc(&net, app, controlled(&control)).await
    }
    let a = once(7).await;
    assert!(a.1.abandoned > 0 && a.1.completed > 50, "{:?}", a.1);
    assert_eq!(a.2, ms(2100));
    assert_eq!(a, once(7).await);
    assert_ne!(a.0, once(8).await.0);
}
