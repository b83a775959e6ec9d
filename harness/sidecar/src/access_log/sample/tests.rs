use super::*;

fn entry(code: u16, flags: ResponseFlags, details: &str, path: &str) -> AccessLogEntry {
    AccessLogEntry {
        start_time: "1970-01-01T00:00:01.000Z".into(),
        method: "GET".into(),
        path: path.into(),
        protocol: "HTTP/1.1".into(),
        response_code: code,
        flags,
        details: Some(details.into()),
        ..AccessLogEntry::default()
    }
}

fn paths(s: &AccessLogSample) -> Vec<String> {
    s.lines()
        .iter()
        .map(|l| l.line.split(' ').nth(2).unwrap().to_string())
        .collect()
}

const RESET: &str = "upstream_reset_before_response_started{connection_termination}";

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_keeps_the_first_line_of_each_failure_key_and_one_success_in_log_order() {
    let s = AccessLogSample::new(Instant::now());
    s.offer(&entry(200, ResponseFlags::NONE, "via_upstream", "/ok1"));
    s.offer(&entry(503, ResponseFlags::UC, RESET, "/uc1"));
    s.offer(&entry(200, ResponseFlags::NONE, "via_upstream", "/ok2"));
    s.offer(&entry(503, ResponseFlags::UC, RESET, "/uc2"));
    s.offer(&entry(
        503,
        ResponseFlags::UF | ResponseFlags::URX,
        "x",
        "/uf1",
    ));
    assert_eq!(paths(&s), ["/ok1", "/uc1", "/uf1"]);
    let lines = s.lines();
    assert!(!lines[0].failure && lines[1].failure);
    assert_eq!(lines[1].details.as_deref(), Some(RESET));
    assert!(!lines[1].line.ends_with('\n'), "the newline is left out");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_is_capped_with_a_slot_kept_for_the_success() {
    let s = AccessLogSample::new(Instant::now());
    for code in 500..520 {
        s.offer(&entry(code, ResponseFlags::NONE, "via_upstream", "/e"));
    }
    assert!(!s.wants(521, ResponseFlags::NONE, "via_upstream"));
    assert!(s.wants(200, ResponseFlags::NONE, "via_upstream"));
    s.offer(&entry(200, ResponseFlags::NONE, "via_upstream", "/ok"));
    assert_eq!(s.lines().len(), HopAccessLog::MAX_LINES);
    assert!(!s.open(), "every slot is used");
    assert_eq!(s.lines().iter().filter(|l| !l.failure).count(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_wants_only_keys_it_has_no_line_for() {
    let s = AccessLogSample::new(Instant::now());
    assert!(s.wants(200, ResponseFlags::NONE, "via_upstream"));
    s.offer(&entry(200, ResponseFlags::NONE, "via_upstream", "/ok"));
    s.offer(&entry(503, ResponseFlags::UC, RESET, "/uc"));
    assert!(!s.wants(200, ResponseFlags::NONE, "via_upstream"));
    assert!(!s.wants(503, ResponseFlags::UC, RESET));
    assert!(s.wants(503, ResponseFlags::UC | ResponseFlags::URX, RESET));
    assert!(s.wants(0, ResponseFlags::DC, "downstream_remote_disconnect"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_tcp_proxy_line_without_flags_is_a_success_and_with_flags_a_failure() {
    let s = AccessLogSample::new(Instant::now());
    let tcp = |flags| AccessLogEntry {
        method: "-".into(),
        path: "-".into(),
        protocol: "-".into(),
        flags,
        ..AccessLogEntry::default()
    };
    s.offer(&tcp(ResponseFlags::NONE));
    s.offer(&tcp(ResponseFlags::UF | ResponseFlags::URX));
    let failures: Vec<bool> = s.lines().iter().map(|l| l.failure).collect();
    assert_eq!(failures, [false, true]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_start_time_counts_virtual_time_from_its_origin() {
    let s = AccessLogSample::new(Instant::now());
    meshsim_net::clock::sleep(Duration::from_millis(5_042)).await;
    assert_eq!(s.start_time(Instant::now()), "1970-01-01T00:00:05.042Z");
}
