//! A small fixed run: two mitigations, two timeline events, one failed expectation.

use meshsim_core::{
    AccessLogLine, ExpectationResult, HopAccessLog, HostCount, KindCount, LatencySummary,
    MiddleboxEvent, MiddleboxResult, MitigationResult, PodEvent, PodLifecycleResult, ResponseFlags,
    RunMode, RunResult, Source, TimeBucket, TimelineMark,
};

fn kind(kind: &str, source: Source, count: u64) -> KindCount {
    KindCount {
        kind: kind.to_string(),
        source,
        count,
        sample: None,
    }
}

fn expect(text: &str, actual: &str, passed: bool, reason: Option<&str>) -> ExpectationResult {
    ExpectationResult {
        text: text.to_string(),
        reason: reason.map(str::to_string),
        actual: actual.to_string(),
        passed,
    }
}

fn bucket(start_s: f64, requests: u64, errors: u64) -> TimeBucket {
    TimeBucket {
        start_s,
        requests,
        errors,
    }
}

fn host(host: &str, count: u64) -> HostCount {
    HostCount {
        host: host.to_string(),
        count,
    }
}

fn none() -> MitigationResult {
    MitigationResult {
        name: "none".into(),
        requests: 45_000,
        errors: 1_234,
        error_rate: 0.027_422,
        errors_by_kind: vec![
            kind("503 UC", Source::Proxy, 1_000),
            kind("503 UF,URX", Source::Proxy, 200),
            kind("connection_reset", Source::Upstream, 30),
            kind("dns_nxdomain", Source::Client, 4),
        ],
        latency_ms: LatencySummary {
            p50: 1.2,
            p90: 2.5,
            p99: 30.0,
            p999: 120.5,
            max: 1_000.0,
        },
        upstream_attempts: 45_400,
        upstream_attempts_per_request: 1.009,
        first_error_s: Some(360.2),
        last_error_s: Some(421.75),
        timeseries: vec![
            bucket(0.0, 15_000, 0),
            bucket(300.0, 15_000, 1_234),
            bucket(600.0, 15_000, 0),
        ],
        served_by: vec![host("52.1.1.10:443", 20_000), host("52.1.1.11:443", 23_766)],
        calls: Vec::new(),
        access_log: Vec::new(),
        middleboxes: Vec::new(),
        pods: Vec::new(),
        probes: Vec::new(),
        expectations: vec![expect(
            "error_rate > 1%",
            "2.74%",
            true,
            Some("the incident reproduces"),
        )],
    }
}

fn retries() -> MitigationResult {
    MitigationResult {
        name: "retries".into(),
        requests: 45_000,
        errors: 9,
        error_rate: 0.000_2,
        errors_by_kind: vec![kind("503 UF,URX", Source::Proxy, 9)],
        latency_ms: LatencySummary {
            p50: 1.3,
            p90: 2.6,
            p99: 45.1,
            p999: 210.0,
            max: 1_500.25,
        },
        upstream_attempts: 46_350,
        upstream_attempts_per_request: 1.03,
        first_error_s: Some(360.5),
        last_error_s: Some(361.0),
        timeseries: vec![
            bucket(0.0, 15_000, 0),
            bucket(300.0, 15_000, 9),
            bucket(600.0, 15_000, 0),
        ],
        served_by: vec![host("52.1.1.11:443", 30_000), host("52.1.1.12:443", 14_991)],
        calls: Vec::new(),
        access_log: Vec::new(),
        middleboxes: Vec::new(),
        pods: Vec::new(),
        probes: Vec::new(),
        expectations: vec![
            expect(
                "error_rate < 0.01%",
                "0.02%",
                false,
                Some("retries should hide the rotation"),
            ),
            expect("p99 < 100ms", "45.1ms", true, None),
        ],
    }
}

/// The fixed run every snapshot renders.
pub(crate) fn sample() -> RunResult {
    RunResult {
        schema_version: 1,
        scenario: "alb-ip-rotation".into(),
        summary: "ALB rotates its IPs while the app keeps pooled connections".into(),
        seed: 7,
        mode: RunMode::Sim,
        duration_s: 900.0,
        events: vec![
            TimelineMark {
                at_s: 300.0,
                what: "dns.set api.partner.example -> 52.1.1.11, 52.1.1.12".into(),
            },
            TimelineMark {
                at_s: 360.0,
                what: "host.stop alb-node-a (reset)".into(),
            },
        ],
        mitigations: vec![none(), retries()],
        partial: false,
        time_scale: None,
    }
}

const OK_LINE: &str = "[1970-01-01T00:00:00.012Z] \"GET /charge HTTP/1.1\" 200 - via_upstream - \"-\" 0 64 25 25 \"-\" \"-\" \"1\" \"api.partner.example\" \"52.1.1.10:80\" PassthroughCluster 10.0.0.1:32770 52.1.1.10:80 10.0.0.1:32769 - allow_any";
const UC_LINE: &str = "[1970-01-01T00:05:19.990Z] \"GET /charge HTTP/1.1\" 503 UC upstream_reset_before_response_started{connection_termination} - \"-\" 0 95 11 - \"-\" \"-\" \"15999\" \"api.partner.example\" \"52.1.1.10:80\" PassthroughCluster - 52.1.1.10:80 10.0.0.1:32787 - allow_any";
const UF_LINE: &str = "[1970-01-01T00:05:20.005Z] \"GET /charge HTTP/1.1\" 503 UF upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_111} - \"delayed connect error: 111\" 0 152 1 - \"-\" \"-\" \"16002\" \"api.partner.example\" \"52.1.1.10:80\" PassthroughCluster - 52.1.1.10:80 10.0.0.1:32796 - allow_any";

fn line(text: &str, code: u16, flags: ResponseFlags, details: &str) -> AccessLogLine {
    AccessLogLine {
        response_code: code,
        flags,
        details: Some(details.to_string()),
        failure: code >= 400 || !flags.is_empty(),
        line: text.to_string(),
    }
}

/// The access-log sample of one entry hop: a success, a 503 UC, a 503 UF.
fn checkout_sample() -> HopAccessLog {
    HopAccessLog {
        hop: "checkout".into(),
        entry: true,
        lines: vec![
            line(OK_LINE, 200, ResponseFlags::NONE, "via_upstream"),
            line(
                UC_LINE,
                503,
                ResponseFlags::UC,
                "upstream_reset_before_response_started{connection_termination}",
            ),
            line(
                UF_LINE,
                503,
                ResponseFlags::UF,
                "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_111}",
            ),
        ],
    }
}

/// The fixed run with access-log samples: `none` (errors) has the entry
/// hop's three lines; a third mitigation without errors has only a success.
pub(crate) fn sample_with_access_log() -> RunResult {
    let mut run = sample();
    run.mitigations[0].access_log = vec![checkout_sample()];
    let mut clean = run.mitigations[1].clone();
    clean.name = "clean".into();
    clean.errors = 0;
    clean.error_rate = 0.0;
    clean.errors_by_kind.clear();
    clean.expectations.clear();
    let mut hop = checkout_sample();
    hop.lines.truncate(1);
    clean.access_log = vec![hop];
    run.mitigations.push(clean);
    run
}

fn event(
    at_s: f64,
    event: &str,
    addr: &str,
    name: Option<&str>,
    flow: Option<&str>,
) -> MiddleboxEvent {
    MiddleboxEvent {
        at_s,
        event: event.to_string(),
        addr: addr.to_string(),
        name: name.map(str::to_string),
        flow: flow.map(str::to_string),
    }
}

/// The fixed run with middleboxes: `none` has an idle timer with one event
/// and a DNS firewall with three events and one omitted; `retries` has the
/// idle timer alone, with no event.
pub(crate) fn sample_with_middleboxes() -> RunResult {
    let mut run = sample();
    let nat = MiddleboxResult::new(
        "nat",
        "idle_timer",
        &[
            ("tracked", 4),
            ("expired", 2),
            ("resets", 2),
            ("dropped", 0),
        ],
    );
    let mut fw = MiddleboxResult::new("fw", "dns_firewall", &[("admitted", 3), ("denied", 1)]);
    fw.events = vec![
        event(
            12.25,
            "admitted",
            "52.1.1.10:443",
            None,
            Some("10.0.0.5:39999 -> 52.1.1.10:443"),
        ),
        event(
            300.0,
            "learned",
            "52.1.1.11",
            Some("api.partner.example"),
            None,
        ),
        event(
            360.5,
            "denied",
            "52.1.1.12:443",
            Some("api.partner.example"),
            Some("10.0.0.5:40000 -> 52.1.1.12:443"),
        ),
    ];
    fw.events_omitted = 1;
    let mut nat_none = nat.clone();
    nat_none.events = vec![event(
        320.0,
        "expired",
        "52.1.1.10:443",
        None,
        Some("10.0.0.5:39999 -> 52.1.1.10:443"),
    )];
    run.mitigations[0].middleboxes = vec![nat_none, fw];
    run.mitigations[1].middleboxes = vec![nat];
    run
}

/// The fixed run with a lifecycle pod: `none` starts its app at 0.6 s and
/// fails 28 calls before the sidecar is ready; `retries` starts it 1.8 s
/// later, fails none, and its Job completes at 12.5 s.
pub(crate) fn sample_with_pods() -> RunResult {
    let mut run = sample();
    let pod = |app_start: f64, failures: u64, completion: Option<f64>| PodLifecycleResult {
        pod: "orders".into(),
        app_start_s: Some(app_start),
        sidecar_ready_s: Some(2.0),
        first_request_s: Some(app_start),
        first_success_s: Some(2.01),
        startup_failures: failures,
        termination_failures: 0,
        abandoned: 0,
        init_runs: 1,
        init_failures: 0,
        completion_s: completion,
        events: vec![
            PodEvent {
                at_s: 0.3,
                what: "istio-init: redirect to 15001 installed".into(),
            },
            PodEvent {
                at_s: app_start,
                what: "container app started".into(),
            },
        ],
    };
    run.mitigations[0].pods = vec![pod(0.6, 28, None)];
    run.mitigations[1].pods = vec![pod(2.4, 0, Some(12.5))];
    run
}

/// Everything at once, for the file snapshots: the fixed run with
/// middleboxes, `none`'s access-log sample, the lifecycle pod, a sample
/// body for the dominant kind, and a summary and a reason carrying markup
/// and quotes that every format must escape.
pub(crate) fn full() -> RunResult {
    let mut run = sample_with_middleboxes();
    run.summary = "ALB rotates its IPs while the app keeps pooled connections <b>\"&'</b>".into();
    run.mitigations[0].access_log = vec![checkout_sample()];
    let pods = sample_with_pods();
    for (m, p) in run.mitigations.iter_mut().zip(pods.mitigations) {
        m.pods = p.pods;
    }
    run.mitigations[0].errors_by_kind[0].sample = Some(
        "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
            .into(),
    );
    run.mitigations[0].errors_by_kind[3].sample =
        Some("dns lookup api.partner.example: NXDOMAIN".into());
    run.mitigations[1].expectations[0].reason = Some("retries <should> hide it".into());
    run
}
