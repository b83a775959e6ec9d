//! Durations and rates as people write them in scenario files.
//!
//! A duration is one or more `<integer><unit>` groups with units `ns`, `us`,
//! `ms`, `s`, `m`, `h`, `d` (`250ms`, `5m`, `1h30m`); `0` alone is zero. A rate
//! is `<number>/<unit>` with unit `s`, `m` or `h` (`50/s`, `3000/m`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a duration or rate string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// The text is not `<integer><unit>...`.
    #[error("invalid duration {text:?}: expected groups like 250ms, 5s, 5m, 1h30m")]
    Duration {
        /// The rejected text.
        text: String,
    },
    /// The text is not `<number>/<unit>`.
    #[error("invalid rate {text:?}: expected <number>/s, <number>/m or <number>/h, like 50/s")]
    Rate {
        /// The rejected text.
        text: String,
    },
}

/// Parses `250ms`, `5m`, `1h30m`, `0`.
///
/// # Errors
/// [`UnitError::Duration`] when the text is empty, has a group without a unit
/// or with an unknown unit, or overflows.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::Duration {
        text: text.to_string(),
    };
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ns" => Duration::from_nanos(value),
            "us" | "µs" => Duration::from_micros(value),
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(err)?),
            "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(err)?),
            "d" => Duration::from_secs(value.checked_mul(86_400).ok_or_else(err)?),
            _ => return Err(err()),
        };
        total = total.checked_add(part).ok_or_else(err)?;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it, using the largest
/// units that divide it exactly (`90s` is written `1m30s`).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    let mut out = String::new();
    let nanos = d.subsec_nanos();
    let mut secs = d.as_secs();
    for (unit, size) in [("d", 86_400u64), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{}", secs / size, unit));
            secs %= size;
        }
    }
    if nanos != 0 {
        if nanos.is_multiple_of(1_000_000) {
            out.push_str(&format!("{}ms", nanos / 1_000_000));
        } else if nanos.is_multiple_of(1000) {
            out.push_str(&format!("{}us", nanos / 1000));
        } else {
            out.push_str(&format!("{nanos}ns"));
        }
    }
    out
}

/// A [`Duration`] that reads and writes as `250ms` / `5m` in scenario files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl From<HumanDuration> for Duration {
    fn from(h: HumanDuration) -> Self {
        h.0
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = StringOrNumber::deserialize(d)?.0;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Accepts `5s` as well as a bare `0` (YAML reads `0` as an integer).
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 250ms, 5s or 5m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if v == 0 {
                    Ok(StringOrNumber("0".into()))
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: a unit is required, like {v}s or {v}ms"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if v >= 0 {
                    self.visit_u64(v.unsigned_abs())
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: must not be negative"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Requests per second, written `50/s`, `3000/m` or `10/h`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate {
    per_second: f64,
}

impl Rate {
    /// One event per second.
    pub const ONE_PER_SECOND: Rate = Rate { per_second: 1.0 };

    /// A rate of `per_second` events per second.
    ///
    /// # Errors
    /// [`UnitError::Rate`] unless the rate is finite and positive.
    pub fn try_per_second(per_second: f64) -> Result<Self, UnitError> {
        if per_second.is_finite() && per_second > 0.0 {
            Ok(Rate { per_second })
        } else {
            Err(UnitError::Rate {
                text: per_second.to_string(),
            })
        }
    }

    /// Events per second.
    pub fn per_second(self) -> f64 {
        self.per_second
    }

    /// The mean gap between two events.
    pub fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }
}

impl FromStr for Rate {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitError::Rate {
            text: s.to_string(),
        };
        let (num, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let n: f64 = num.trim().parse().map_err(|_| err())?;
        let div = match unit.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        Rate::try_per_second(n / div).map_err(|_| err())
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
    }

    #[test]
    fn durations_without_unit_or_with_unknown_unit_are_rejected() {
        for bad in ["", "5", "5x", "ms", "1.5s", "-1s", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rates_parse_per_second_minute_hour() {
        assert_eq!("50/s".parse::<Rate>().unwrap().per_second(), 50.0);
        assert_eq!("120/m".parse::<Rate>().unwrap().per_second(), 2.0);
        assert!("0/s".parse::<Rate>().is_err());
        assert!("5/d".parse::<Rate>().is_err());
    }

    proptest! {
        #[test]
        fn formatted_durations_parse_back(ms in 0u64..10_000_000_000) {
            let d = Duration::from_micros(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }

        #[test]
        fn parse_duration_never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }
    }
}
