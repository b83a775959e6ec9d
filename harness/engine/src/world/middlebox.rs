//! The report's view of `world.middleboxes`: each box's counters and event
//! log, read into [`MiddleboxResult`]s before the world is torn down (in the
//! scenario's order, so the same seed gives the same report).
//!
//! Every kind of box goes through [`box_result`], which fixes the counters'
//! order and caps the event log at [`MiddleboxResult::MAX_EVENTS`]; a kind
//! only says which counters it has, in its own order, and which events.

use meshsim_core::{MiddleboxEvent, MiddleboxResult};
use meshsim_net::clock::Instant;
use meshsim_net::{FirewallEvent, FirewallHandle, IdleTimerEvent, IdleTimerHandle, IdleTimerStats};

/// The `kind` of an idle-timer box, as the scenario writes it.
pub(crate) const IDLE_TIMER: &str = "idle_timer";

/// The `kind` of a DNS-learning firewall, as the scenario writes it.
pub(crate) const DNS_FIREWALL: &str = "dns_firewall";

/// One box's result: `counters` in the given order, the first
/// [`MiddleboxResult::MAX_EVENTS`] of `events` (oldest first) and the rest
/// counted, plus `omitted` events the box itself already left out of its log.
pub(crate) fn box_result(
    name: &str,
    kind: &str,
    counters: &[(&str, u64)],
    events: Vec<MiddleboxEvent>,
    omitted: u64,
) -> MiddleboxResult {
    let mut result = MiddleboxResult::new(name, kind, counters);
    result.keep_events(events);
    result.events_omitted += omitted;
    result
}

/// An idle timer's counters, in the order `tracked`, `expired`, `resets`,
/// `dropped`, and its log (when each forgotten flow expired and was reset or
/// dropped), with times from `start`.
pub(crate) fn idle_timer(name: &str, timer: &IdleTimerHandle, start: Instant) -> MiddleboxResult {
    let (log, omitted) = timer.events();
    let events: Vec<MiddleboxEvent> = log.iter().map(|e| idle_event(e, start)).collect();
    let mut r = idle_counters(name, &timer.stats());
    r.keep_events(events);
    r.events_omitted += omitted;
    r
}

fn idle_event(e: &IdleTimerEvent, start: Instant) -> MiddleboxEvent {
    let (inside, outside) = e.flow;
    MiddleboxEvent {
        at_s: e.at.saturating_duration_since(start).as_secs_f64(),
        event: e.kind.label().to_string(),
        addr: outside.ip().to_string(),
        name: None,
        flow: Some(format!("{inside} -> {outside}")),
    }
}

/// An idle timer's counters alone.
fn idle_counters(name: &str, stats: &IdleTimerStats) -> MiddleboxResult {
    let counters = [
        ("tracked", stats.tracked),
        ("expired", stats.expired),
        ("resets", stats.resets),
        ("dropped", stats.dropped),
    ];
    box_result(name, IDLE_TIMER, &counters, Vec::new(), 0)
}

/// A DNS-learning firewall's counters (`learned`, `refreshed`, `expired`,
/// `admitted`, `denied`, `flows_reset`, `flows_blackholed`, `flows_kept`) and
/// its log, with times from `start`.
pub(crate) fn dns_firewall(name: &str, fw: &FirewallHandle, start: Instant) -> MiddleboxResult {
    let s = fw.stats();
    let counters = [
        ("learned", s.learned),
        ("refreshed", s.refreshed),
        ("expired", s.expired),
        ("admitted", s.admitted),
        ("denied", s.denied),
        ("flows_reset", s.flows_reset),
        ("flows_blackholed", s.flows_blackholed),
        ("flows_kept", s.flows_kept),
    ];
    let (log, omitted) = fw.events();
    let events = log.iter().map(|e| firewall_event(e, start)).collect();
    box_result(name, DNS_FIREWALL, &counters, events, omitted)
}

fn firewall_event(e: &FirewallEvent, start: Instant) -> MiddleboxEvent {
    MiddleboxEvent {
        at_s: e.at.saturating_duration_since(start).as_secs_f64(),
        event: e.kind.label().to_string(),
        addr: e.addr.to_string(),
        name: e.name.clone(),
        flow: e.flow.map(|(client, outside)| {
            // A denied connection has no local port yet.
            if client.port() == 0 {
                format!("{} -> {outside}", client.ip())
            } else {
                format!("{client} -> {outside}")
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_s: f64) -> MiddleboxEvent {
        MiddleboxEvent {
            at_s,
            event: "denied".into(),
            addr: "52.1.1.12".into(),
            name: Some("api.partner.example".into()),
            flow: None,
        }
    }

    #[test]
    fn an_idle_timer_reports_its_four_counters_in_order() {
        let stats = IdleTimerStats {
            tracked: 5,
            expired: 3,
            resets: 2,
            dropped: 1,
        };
        let r = idle_counters("nat", &stats);
        let counters: Vec<(&str, u64)> = r
            .counters
            .iter()
            .map(|c| (c.name.as_str(), c.count))
            .collect();
        assert_eq!(
            counters,
            [
                ("tracked", 5),
                ("expired", 3),
                ("resets", 2),
                ("dropped", 1)
            ]
        );
        assert_eq!((r.name.as_str(), r.kind.as_str()), ("nat", IDLE_TIMER));
    }

    #[test]
    fn box_result_keeps_the_first_events_and_adds_the_box_own_omissions() {
        let events = (0..105).map(|i| event(f64::from(i))).collect();
        let r = box_result("fw", "dns_firewall", &[("denied", 112)], events, 7);
        assert_eq!(r.events.len(), MiddleboxResult::MAX_EVENTS);
        assert_eq!(r.events[0].at_s, 0.0);
        assert_eq!(r.events_omitted, 5 + 7);
    }
}
