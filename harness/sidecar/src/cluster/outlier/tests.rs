//! The detector as a pure state machine (fact sheet §9.1, §9.2, §13 item 10).

use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn hosts(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([10, 0, 1, i as u8], 80)))
        .collect()
}

/// Envoy's defaults with every host ejectable.
fn all_ejectable() -> OutlierDetection {
    OutlierDetection {
        max_ejection_percent: 100,
        ..OutlierDetection::default()
    }
}

fn detector(n: usize, config: OutlierDetection) -> (Detector, Vec<SocketAddr>) {
    let mut d = Detector::new(config);
    let hs = hosts(n);
    d.set_hosts(&hs);
    (d, hs)
}

fn report(d: &mut Detector, h: SocketAddr, r: HostResult, times: usize, now: Instant) {
    let mut rng = SimRng::new(1);
    for _ in 0..times {
        d.report(h, r, now, &mut rng);
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// §9.1: `consecutive_5xx` 5, enforcing 100 %, `base_ejection_time` 30 s,
/// checked by the `interval` (10 s) sweep.
#[test]
fn five_consecutive_5xx_eject_a_host_until_the_first_sweep_after_base_ejection_time() {
    let (mut d, hs) = detector(2, all_ejectable());
    let t0 = Instant::now();
    report(&mut d, hs[0], HostResult::Response(500), 4, t0);
    assert!(!d.is_ejected(hs[0]));
    report(&mut d, hs[0], HostResult::Response(500), 1, t0);
    assert!(d.is_ejected(hs[0]));
    assert_eq!(
        (
            d.stats.ejections_active,
            d.stats.ejections_enforced_consecutive_5xx
        ),
        (1, 1)
    );
    d.sweep(t0 + secs(29));
    assert!(d.is_ejected(hs[0]), "30 s not over yet");
    d.sweep(t0 + secs(30));
    assert!(!d.is_ejected(hs[0]));
    assert_eq!(d.stats.ejections_active, 0);
}

#[test]
fn a_non_5xx_response_resets_the_consecutive_count() {
    let (mut d, hs) = detector(2, all_ejectable());
    let t0 = Instant::now();
    report(&mut d, hs[0], HostResult::Response(503), 4, t0);
    report(&mut d, hs[0], HostResult::Response(404), 1, t0);
    report(&mut d, hs[0], HostResult::Response(503), 4, t0);
    assert!(!d.is_ejected(hs[0]));
}

/// §9.1: `consecutive_gateway_failure` is detected but enforcing 0 % by
/// default; 5xx still ejects.
#[test]
fn gateway_errors_are_detected_but_not_enforced_by_default() {
    let config = OutlierDetection {
        consecutive_5xx: 10,
        ..all_ejectable()
    };
    let (mut d, hs) = detector(2, config);
    report(&mut d, hs[0], HostResult::Response(502), 5, Instant::now());
    assert!(!d.is_ejected(hs[0]));
    assert_eq!(d.stats.ejections_detected_consecutive_gateway_failure, 1);
    assert_eq!(d.stats.ejections_enforced_total, 0);
}

/// §9.1 last row, §4.1 last row: without split, a reset or connect failure is
/// a 503 and a timeout a 504, so they count as 5xx and as gateway errors.
#[test]
fn local_origin_failures_count_as_5xx_and_gateway_errors_without_split() {
    let config = OutlierDetection {
        enforcing_consecutive_gateway_failure: 100,
        consecutive_5xx: 10,
        ..all_ejectable()
    };
    let (mut d, hs) = detector(2, config);
    let t0 = Instant::now();
    report(&mut d, hs[0], HostResult::ConnectFailed, 2, t0);
    report(&mut d, hs[0], HostResult::Reset, 1, t0);
    report(&mut d, hs[0], HostResult::ConnectTimeout, 1, t0);
    report(&mut d, hs[0], HostResult::PerTryTimeout, 1, t0);
    assert!(d.is_ejected(hs[0]));
    assert_eq!(d.stats.ejections_enforced_consecutive_gateway_failure, 1);
}

/// §9.2: with `split_external_local_origin_errors`, connect-phase failures
/// have their own counter, which a response (the connection worked) resets,
/// and they no longer count as 5xx.
#[test]
fn split_local_origin_failures_count_apart_and_a_response_resets_them() {
    let config = OutlierDetection {
        split_external_local_origin_errors: true,
        consecutive_5xx: 2,
        ..all_ejectable()
    };
    let (mut d, hs) = detector(2, config);
    let t0 = Instant::now();
    report(&mut d, hs[0], HostResult::ConnectFailed, 4, t0);
    report(&mut d, hs[0], HostResult::Response(200), 1, t0);
    report(&mut d, hs[0], HostResult::ConnectTimeout, 4, t0);
    assert!(!d.is_ejected(hs[0]), "4 + 4 with a reset in between");
    report(&mut d, hs[0], HostResult::ConnectTimeout, 1, t0);
    assert!(d.is_ejected(hs[0]));
    assert_eq!(
        d.stats.ejections_enforced_consecutive_local_origin_failure,
        1
    );
    assert_eq!(d.stats.ejections_detected_consecutive_5xx, 0);
}

/// Envoy's `onPoolReady` reports `LocalOriginConnectSuccess` for every
/// attempt that got a connection, so in split mode resets and per-try
/// timeouts after connecting never add up to the default threshold of 5.
#[test]
fn split_resets_after_a_connection_never_add_up_to_an_ejection() {
    let config = OutlierDetection {
        split_external_local_origin_errors: true,
        ..all_ejectable()
    };
    let (mut d, hs) = detector(2, config);
    report(&mut d, hs[0], HostResult::Reset, 10, Instant::now());
    report(&mut d, hs[0], HostResult::PerTryTimeout, 10, Instant::now());
    assert!(!d.is_ejected(hs[0]));
}

/// §9.1: ejection time is `base_ejection_time` × times ejected, capped by
/// `max_ejection_time` (300 s).
#[test]
fn ejection_time_grows_with_each_ejection_and_is_capped_by_max_ejection_time() {
    let config = OutlierDetection {
        interval: secs(1),
        ..all_ejectable()
    };
    let (mut d, hs) = detector(1, config);
    let mut now = Instant::now();
    let mut times = Vec::new();
    for _ in 0..12 {
        report(&mut d, hs[0], HostResult::Response(500), 5, now);
        let ejected_at = now;
        while d.is_ejected(hs[0]) {
            now += secs(1);
            d.sweep(now);
        }
        times.push((now - ejected_at).as_secs());
    }
    assert_eq!(&times[..4], &[30, 60, 90, 120]);
    assert_eq!(times[9], 300);
    assert_eq!(times[11], 300, "capped");
}

#[test]
fn the_back_off_decays_by_one_per_healthy_interval() {
    let (mut d, hs) = detector(1, all_ejectable());
    let t0 = Instant::now();
    report(&mut d, hs[0], HostResult::Response(500), 5, t0);
    d.sweep(t0 + secs(30));
    report(&mut d, hs[0], HostResult::Response(500), 5, t0 + secs(30));
    d.sweep(t0 + secs(90)); // second ejection lasted 60 s: back-off was 2
    assert!(!d.is_ejected(hs[0]));
    // Two healthy sweeps bring the back-off from 2 to 0: the next ejection lasts 30 s, not 90 s.
    d.sweep(t0 + secs(100));
    d.sweep(t0 + secs(110));
    let t = t0 + secs(110);
    report(&mut d, hs[0], HostResult::Response(500), 5, t);
    d.sweep(t + secs(30));
    assert!(!d.is_ejected(hs[0]));
}

/// §13 item 10, current Envoy (PR #27909): at 10 % a host is ejected only if
/// `100 × (active + 1) / hosts <= 10`, so a 1-host or 3-host cluster ejects
/// nothing (`ejections_overflow`).
#[test]
fn current_rule_ejects_nothing_from_a_cluster_under_ten_hosts_at_ten_percent() {
    for n in [1, 3, 9] {
        let (mut d, hs) = detector(n, OutlierDetection::default());
        report(&mut d, hs[0], HostResult::Response(500), 5, Instant::now());
        assert!(!d.is_ejected(hs[0]), "{n} hosts");
        assert_eq!(d.stats.ejections_overflow, 1);
    }
    let (mut d, hs) = detector(10, OutlierDetection::default());
    report(&mut d, hs[0], HostResult::Response(500), 5, Instant::now());
    report(&mut d, hs[1], HostResult::Response(500), 5, Instant::now());
    assert!(d.is_ejected(hs[0]) && !d.is_ejected(hs[1]), "1 of 10 only");
}

/// §13 item 10, Envoy before 2023 (issue #3263, #26877): the share before
/// the ejection is compared, so one host is always ejectable, even the only
/// one, and a second is refused in a 3-host cluster.
#[test]
fn legacy_rule_always_ejects_one_host_even_the_only_one() {
    let legacy = OutlierDetection {
        ejection_limit: EjectionLimit::Legacy,
        ..OutlierDetection::default()
    };
    let (mut d, hs) = detector(1, legacy.clone());
    report(&mut d, hs[0], HostResult::Response(500), 5, Instant::now());
    assert!(d.is_ejected(hs[0]));
    let (mut d, hs) = detector(3, legacy);
    report(&mut d, hs[0], HostResult::Response(500), 5, Instant::now());
    report(&mut d, hs[1], HostResult::Response(500), 5, Instant::now());
    assert!(d.is_ejected(hs[0]) && !d.is_ejected(hs[1]));
    assert_eq!(d.stats.ejections_overflow, 1);
}

/// Envoy PR #34796: `always_eject_one_host` brings the floor of one back.
#[test]
fn always_eject_one_host_ejects_the_first_host_under_the_current_rule() {
    let config = OutlierDetection {
        always_eject_one_host: true,
        ..OutlierDetection::default()
    };
    let (mut d, hs) = detector(3, config);
    report(&mut d, hs[0], HostResult::Response(500), 5, Instant::now());
    report(&mut d, hs[1], HostResult::Response(500), 5, Instant::now());
    assert!(d.is_ejected(hs[0]) && !d.is_ejected(hs[1]));
}

#[test]
fn a_removed_ejected_host_leaves_ejections_active() {
    let (mut d, hs) = detector(2, all_ejectable());
    report(&mut d, hs[0], HostResult::Response(500), 5, Instant::now());
    assert_eq!(d.stats.ejections_active, 1);
    d.set_hosts(&hs[1..]);
    assert_eq!(d.stats.ejections_active, 0);
    report(&mut d, hs[0], HostResult::Response(500), 5, Instant::now());
    assert_eq!(
        d.stats.ejections_active, 0,
        "results of gone hosts are ignored"
    );
}

proptest! {
    /// Never more hosts ejected than the current rule allows, whatever the
    /// results.
    #[test]
    fn ejections_never_exceed_max_ejection_percent(
        n in 1usize..12, percent in 0u32..=100,
        results in proptest::collection::vec((0usize..12, 0u16..3), 0..200),
    ) {
        let config = OutlierDetection { max_ejection_percent: percent, consecutive_5xx: 2, ..OutlierDetection::default() };
        let (mut d, hs) = detector(n, config);
        let now = Instant::now();
        for (h, r) in results {
            let r = [HostResult::Response(500), HostResult::Response(200), HostResult::ConnectFailed][usize::from(r)];
            report(&mut d, hs[h % n], r, 1, now);
            let ejected = hs.iter().filter(|h| d.is_ejected(**h)).count() as u64;
            prop_assert_eq!(ejected, d.stats.ejections_active);
            prop_assert!(100 * ejected <= u64::from(percent) * n as u64);
        }
    }
}
