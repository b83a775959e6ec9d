//! HTTP/2 external hosts (`protocol: http2`): the knobs a `host.set` changes
//! mid-run.

use std::time::Duration;

use meshsim_core::units::format_duration;
use meshsim_upstream::Http2Mode;

/// The HTTP/2 knobs a `host.set` gives; `None` keeps the host's current one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Http2Change {
    /// `max_concurrent_streams`: advertised in SETTINGS (new connections).
    pub max_concurrent_streams: Option<u32>,
    /// `refuse_every_nth`: every Nth stream refused (1 = every stream).
    pub refuse_every_nth: Option<u32>,
    /// `refuse_over_in_flight`: streams refused over this many in flight on
    /// their connection.
    pub refuse_over_in_flight: Option<u32>,
    /// `goaway_after_streams`: GOAWAY after this many streams on a connection.
    pub goaway_after_streams: Option<u32>,
    /// `max_connection_age`: GOAWAY once a connection is this old.
    pub max_connection_age: Option<Duration>,
}

impl Http2Change {
    /// `mode` with the given knobs replaced.
    pub fn apply(&self, mode: &Http2Mode) -> Http2Mode {
        let mut out = mode.clone();
        if let Some(v) = self.max_concurrent_streams {
            out.max_concurrent_streams = Some(v);
        }
        if let Some(v) = self.refuse_every_nth {
            out.refuse_every_nth = Some(v);
        }
        if let Some(v) = self.refuse_over_in_flight {
            out.refuse_over_in_flight = Some(v);
        }
        if let Some(v) = self.goaway_after_streams {
            out.goaway_after_streams = Some(v);
        }
        if let Some(v) = self.max_connection_age {
            out.max_connection_age = Some(v);
        }
        out
    }

    /// `key value` of every knob given, for reports.
    pub fn describe(&self) -> Vec<String> {
        let counts = [
            ("max_concurrent_streams", self.max_concurrent_streams),
            ("refuse_every_nth", self.refuse_every_nth),
            ("refuse_over_in_flight", self.refuse_over_in_flight),
            ("goaway_after_streams", self.goaway_after_streams),
        ];
        let mut out: Vec<String> = counts
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
            .collect();
        if let Some(age) = self.max_connection_age {
            out.push(format!("max_connection_age {}", format_duration(age)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_replaces_only_the_knobs_it_gives() {
        let before = Http2Mode {
            max_connection_age: Some(Duration::from_secs(30)),
            refuse_every_nth: Some(5),
            ..Http2Mode::default()
        };
        let change = Http2Change {
            refuse_over_in_flight: Some(2),
            refuse_every_nth: Some(1),
            ..Http2Change::default()
        };
        let after = change.apply(&before);
        assert_eq!(after.refuse_over_in_flight, Some(2));
        assert_eq!(after.refuse_every_nth, Some(1));
        assert_eq!(after.max_connection_age, Some(Duration::from_secs(30)));
        assert_eq!(
            change.describe(),
            vec!["refuse_every_nth 1", "refuse_over_in_flight 2"]
        );
    }
}
