//! The report's access-log sample (`AccessLogSample`): the first line of
//! each failure (code, flags, details) and the first success, in Istio's
//! TEXT format (fact sheet §5.4), with or without the file log.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_sidecar::{AccessLogConfig, AccessLogSample, Discovery, SidecarConfig};

use crate::support::*;

const API: &str = "api.partner.example";
const CLUSTER: &str = "outbound|80||api.partner.example";
/// 2026-01-01T00:00:00Z.
const EPOCH: Duration = Duration::from_secs(1_767_225_600);

/// What the upstream does with the n-th request: 200, close (503 UC), 200,
/// close again, 404, 200, the upstream's own 503.
const SCRIPT: [Action; 7] = [
    Action::Respond(200, "ok"),
    Action::Close,
    Action::Respond(200, "ok"),
    Action::Close,
    Action::Respond(404, "no"),
    Action::Respond(200, "ok"),
    Action::Respond(503, "busy"),
];

fn config(file_log: bool) -> SidecarConfig {
    let endpoints = vec![addr("10.0.2.1:80")];
    let mut config = routed(
        API,
        cluster(CLUSTER, Discovery::Static { endpoints }),
        None,
        None,
    );
    config.access_log = file_log.then(|| AccessLogConfig {
        epoch: EPOCH,
        ..AccessLogConfig::default()
    });
    config
}

/// Sends the script's seven requests one after another, 1 s apart, and
/// returns the sidecar's file log and its sample.
async fn run_script(file_log: bool) -> (Vec<String>, AccessLogSample) {
    let w = World::start(config(file_log)).await;
    let sample = AccessLogSample::with_epoch(Instant::now(), EPOCH);
    assert!(w.sidecar.sample_access_log(sample.clone()));
    let n = Arc::new(AtomicUsize::new(0));
    let _up = Upstream::spawn(&w.net, addr("10.0.2.1:80"), None, move |_, _| {
        SCRIPT[n.fetch_add(1, Ordering::SeqCst)].clone()
    })
    .await;
    let mut statuses = Vec::new();
    for id in 1..=7 {
        statuses.push(w.get("10.0.2.1:80", API, id).await.status);
        meshsim_net::clock::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(statuses, [200, 503, 200, 503, 404, 200, 503]);
    (w.sidecar.access_log(), sample)
}

fn texts(sample: &AccessLogSample) -> Vec<String> {
    sample.lines().into_iter().map(|l| l.line).collect()
}

/// Fact sheet §5.4: the sample is made of the file log's own lines: the
/// first of each failure key (503 UC, 404, the upstream's 503) and the
/// first success, in log order, byte for byte.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_is_the_file_logs_first_line_of_each_failure_kind_and_first_success() {
    let (log, sample) = run_script(true).await;
    assert_eq!(log.len(), 7);
    let expected: Vec<String> = [0, 1, 4, 6]
        .iter()
        .map(|&i| log[i].trim_end().to_string())
        .collect();
    assert_eq!(texts(&sample), expected);
    let keys: Vec<(u16, String, Option<String>)> = sample
        .lines()
        .into_iter()
        .map(|l| (l.response_code, l.flags.to_string(), l.details))
        .collect();
    let d = |s: &str| Some(s.to_string());
    assert_eq!(
        keys,
        [
            (200, "-".into(), d("via_upstream")),
            (
                503,
                "UC".into(),
                d("upstream_reset_before_response_started{connection_termination}")
            ),
            (404, "-".into(), d("via_upstream")),
            (503, "-".into(), d("via_upstream")),
        ]
    );
}

/// Fact sheet §5.4: with the file log off (Istio's default) the sample still
/// holds the lines the file log would have written, byte for byte.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_is_kept_with_the_file_log_off_and_matches_the_file_logs_lines() {
    let (with_log, on) = run_script(true).await;
    let (without_log, off) = run_script(false).await;
    assert_eq!(with_log.len(), 7);
    assert!(without_log.is_empty(), "the file log stays off");
    assert_eq!(texts(&off), texts(&on));
}

/// A sidecar keeps the first sample it is given.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_sidecar_takes_one_sample_only() {
    let w = World::start(config(false)).await;
    assert!(
        w.sidecar
            .sample_access_log(AccessLogSample::new(Instant::now()))
    );
    assert!(
        !w.sidecar
            .sample_access_log(AccessLogSample::new(Instant::now()))
    );
}

/// Fact sheet §5.3, §5.4 (TCP proxy): a refused connect's `UF,URX` line is
/// sampled with the file log off.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_keeps_a_refused_tcp_connections_uf_urx_line_with_the_file_log_off() {
    let w = World::start(SidecarConfig::default()).await;
    let sample = AccessLogSample::with_epoch(Instant::now(), EPOCH);
    w.sidecar.sample_access_log(sample.clone());
    w.connect_and_see_it_closed("10.0.5.1:5432").await;
    for _ in 0..100 {
        if !sample.lines().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        texts(&sample),
        [
            "[2026-01-01T00:00:00.000Z] \"- - -\" 0 UF,URX - - \"delayed connect error: 111\" 0 0 1 - \
          \"-\" \"-\" \"-\" \"-\" \"10.0.5.1:5432\" PassthroughCluster - 10.0.5.1:5432 10.0.0.1:32768 - -"
        ]
    );
    assert!(sample.lines()[0].failure);
}
