//! What the run's middleboxes (idle timers, DNS-learning firewalls) counted
//! and logged, per mitigation: the evidence that a box, not the sidecar or the
//! upstream, made a connection fail.

use serde::{Deserialize, Serialize};

/// One middlebox's counters and event log at the end of a mitigation.
///
/// A producer keeps the first [`MiddleboxResult::MAX_EVENTS`] events, in the
/// order they happened, and counts the rest in `events_omitted`
/// ([`MiddleboxResult::keep_events`] does both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiddleboxResult {
    /// The box's `name` in the scenario, e.g. `nat-gateway`.
    pub name: String,
    /// The box's `kind` in the scenario: `idle_timer` or `dns_firewall`.
    pub kind: String,
    /// The box's counters, in the box's own fixed order (an idle timer:
    /// `tracked`, `expired`, `resets`, `dropped`).
    pub counters: Vec<MiddleboxCounter>,
    /// What the box did, oldest first, at most [`MiddleboxResult::MAX_EVENTS`].
    pub events: Vec<MiddleboxEvent>,
    /// Events that happened after the first [`MiddleboxResult::MAX_EVENTS`]
    /// and are not in `events`.
    pub events_omitted: u64,
}

impl MiddleboxResult {
    /// The most events a box's log keeps: enough to read an incident's first
    /// minutes, small enough for a Markdown report.
    pub const MAX_EVENTS: usize = 100;

    /// A box with these counters (in order) and no event yet.
    pub fn new(name: &str, kind: &str, counters: &[(&str, u64)]) -> Self {
        MiddleboxResult {
            name: name.to_string(),
            kind: kind.to_string(),
            counters: counters
                .iter()
                .map(|(name, count)| MiddleboxCounter {
                    name: (*name).to_string(),
                    count: *count,
                })
                .collect(),
            events: Vec::new(),
            events_omitted: 0,
        }
    }

    /// Appends `events` (oldest first) while the log has room and counts the
    /// rest in `events_omitted`.
    pub fn keep_events(&mut self, events: impl IntoIterator<Item = MiddleboxEvent>) {
        for e in events {
            if self.events.len() < Self::MAX_EVENTS {
                self.events.push(e);
            } else {
                self.events_omitted += 1;
            }
        }
    }

    /// The value of the counter named `name`, `None` when the box has none.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.count)
    }
}

/// One named counter of a middlebox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiddleboxCounter {
    /// What it counts, e.g. `expired`, `admitted`, `denied`.
    pub name: String,
    /// How many, since the world was built.
    pub count: u64,
}

/// One thing a middlebox did, on the run's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiddleboxEvent {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// What it did: `learned`, `expired`, `admitted`, `denied`, `reset`,
    /// `blackholed`, `kept`...
    pub event: String,
    /// The outside address concerned: an IP, or `ip:port`.
    pub addr: String,
    /// The DNS name the box knows the address by, when it knows one.
    pub name: Option<String>,
    /// The connection concerned, `10.0.0.5:40000 -> 52.1.1.10:80`, when the
    /// event is about one connection.
    pub flow: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> MiddleboxEvent {
        MiddleboxEvent {
            at_s: i as f64,
            event: "admitted".into(),
            addr: "52.1.1.10".into(),
            name: None,
            flow: None,
        }
    }

    #[test]
    fn keep_events_keeps_the_first_max_events_and_counts_the_rest() {
        let mut b = MiddleboxResult::new("fw", "dns_firewall", &[("admitted", 130)]);
        b.keep_events((0..70).map(event));
        b.keep_events((70..130).map(event));
        assert_eq!(b.events.len(), MiddleboxResult::MAX_EVENTS);
        assert_eq!(b.events.last(), Some(&event(99)));
        assert_eq!(b.events_omitted, 30);
    }

    #[test]
    fn counters_keep_the_given_order_and_are_found_by_name() {
        let b = MiddleboxResult::new("nat", "idle_timer", &[("tracked", 4), ("expired", 2)]);
        let names: Vec<&str> = b.counters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tracked", "expired"]);
        assert_eq!(b.counter("expired"), Some(2));
        assert_eq!(b.counter("denied"), None);
    }
}
