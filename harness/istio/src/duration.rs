//! Go's `time.ParseDuration`, which is how Istio reads durations (`2s`,
//! `500ms`, `1h30m`, `0.5s`), and Istio's `ValidateDuration` rules.

use std::time::Duration;

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's largest duration: `i64::MAX` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses Go duration syntax. Returns the sign (`true` = negative) and the
/// magnitude, or why the text is invalid.
pub(crate) fn parse_go(text: &str) -> Result<(bool, Duration), &'static str> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err("empty duration");
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = parse_segment(rest)?;
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or("duration out of range")?;
        rest = after;
    }
    Ok((negative, Duration::from_nanos(total as u64)))
}

/// One `<number><unit>` segment: its nanoseconds and the text after it.
fn parse_segment(s: &str) -> Result<(u128, &str), &'static str> {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, after_int) = s.split_at(int_len);
    let (frac_part, after_num) = match after_int.strip_prefix('.') {
        Some(f) => {
            let n = f.bytes().take_while(u8::is_ascii_digit).count();
            f.split_at(n)
        }
        None => ("", after_int),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err("expected a number");
    }
    let unit_len = after_num
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after_num.len());
    let (unit, rest) = after_num.split_at(unit_len);
    if unit.is_empty() {
        return Err("missing unit (use ns, us, ms, s, m or h)");
    }
    let scale = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, n)| *n)
        .ok_or("unknown unit (use ns, us, ms, s, m or h)")?;
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| "duration out of range")?
    };
    let mut nanos = int
        .checked_mul(scale)
        .filter(|n| *n <= MAX_NANOS)
        .ok_or("duration out of range")?;
    // The fraction is scaled digit by digit, truncating like Go does.
    let mut place = scale;
    for d in frac_part.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos += u128::from(d - b'0') * place;
    }
    Ok((nanos, rest))
}

/// Istio's `ValidateDuration`: at least 1 ms and a whole number of milliseconds.
/// Returns Istio's message when the duration is rejected.
pub(crate) fn istio_check(d: Duration) -> Option<&'static str> {
    if d < Duration::from_millis(1) {
        Some("duration must be greater than 1ms")
    } else if !d.subsec_nanos().is_multiple_of(1_000_000) {
        Some("only durations to ms precision are supported")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        let (neg, d) = parse_go(s).unwrap();
        assert!(!neg);
        d
    }

    #[test]
    fn go_syntax_durations_parse() {
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("0.5s"), Duration::from_millis(500));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.5us"), Duration::from_nanos(1500));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+3m"), Duration::from_secs(180));
        assert_eq!(parse_go("-1s").unwrap(), (true, Duration::from_secs(1)));
    }

    #[test]
    fn go_rejects_what_go_rejects() {
        for bad in [
            "",
            "2",
            "s",
            "1x",
            "1.s.",
            ".s",
            "2 s",
            "1sec",
            "-",
            "9999999999h",
        ] {
            assert!(parse_go(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn istio_requires_at_least_one_millisecond_at_ms_precision() {
        assert_eq!(
            istio_check(Duration::from_micros(999)),
            Some("duration must be greater than 1ms")
        );
        assert_eq!(
            istio_check(Duration::from_micros(1500)),
            Some("only durations to ms precision are supported")
        );
        assert_eq!(istio_check(Duration::from_millis(1)), None);
    }
}
