//! `%START_TIME%` in Envoy's default format, `%Y-%m-%dT%H:%M:%E3SZ`
//! (e.g. `2026-01-01T00:00:05.000Z`), from the virtual clock: never the wall
//! clock, so that a run's lines are the same for the same seed.

use std::time::Duration;

/// Renders `since_unix_epoch` as Envoy's default `%START_TIME%` (UTC,
/// milliseconds).
pub fn format_start_time(since_unix_epoch: Duration) -> String {
    let ms = since_unix_epoch.as_millis();
    let secs = (ms / 1000) as u64;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fact sheet §5.4: `%START_TIME%` prints UTC with milliseconds and `Z`.
    #[test]
    fn start_time_is_envoys_default_utc_format_with_milliseconds() {
        assert_eq!(
            format_start_time(Duration::ZERO),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_start_time(Duration::from_millis(1_767_225_605_042)),
            "2026-01-01T00:00:05.042Z"
        );
        // A leap day.
        assert_eq!(
            format_start_time(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
