//! The middleboxes in the text formats: per mitigation, what each box
//! (idle timer, DNS-learning firewall) counted and the events it logged.
//!
//! Markdown shows, per mitigation, a counters table (one row per box, one
//! column per counter name in first-seen order, since boxes of different
//! kinds count different things) and every logged event on the run's
//! timeline, the boxes' logs merged by time. The terminal shows one compact
//! counters line per box and mitigation; the events are only in Markdown and
//! JSON, where there is room for them.

use meshsim_core::{MiddleboxEvent, MiddleboxResult, MitigationResult, RunResult};

use crate::figure;
use crate::grid::{Align, Grid, escape, one_line};

/// The Markdown block of one mitigation's middleboxes, `None` without one.
pub(crate) fn markdown(m: &MitigationResult) -> Option<String> {
    if m.middleboxes.is_empty() {
        return None;
    }
    let mut out = format!(
        "#### Middleboxes\n\nWhat each box on the path counted.\n\n{}",
        counters(&m.middleboxes).markdown()
    );
    let logged = m
        .middleboxes
        .iter()
        .any(|b| !b.events.is_empty() || b.events_omitted > 0);
    if logged {
        out.push_str(&format!(
            "\nMiddlebox events, by time:\n\n{}",
            events(&m.middleboxes).markdown()
        ));
        for b in m.middleboxes.iter().filter(|b| b.events_omitted > 0) {
            out.push_str(&format!(
                "\n... and {} more events of {} (a box's log keeps its first {}).\n",
                b.events_omitted,
                escape(&b.name),
                MiddleboxResult::MAX_EVENTS,
            ));
        }
    }
    Some(out)
}

/// The counter names of every box, each once, in first-seen order.
fn counter_names(boxes: &[MiddleboxResult]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for c in boxes.iter().flat_map(|b| &b.counters) {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    names
}

/// One row per box: name, kind, then every counter (`-` where the box has
/// no counter of that name).
pub(crate) fn counters(boxes: &[MiddleboxResult]) -> Grid {
    let names = counter_names(boxes);
    let mut columns = vec![("box", Align::Left), ("kind", Align::Left)];
    columns.extend(names.iter().map(|n| (*n, Align::Right)));
    let mut grid = Grid::new(&columns);
    for b in boxes {
        let mut row = vec![b.name.clone(), b.kind.clone()];
        row.extend(names.iter().map(|n| {
            b.counter(n)
                .map_or_else(|| "-".to_string(), |c| c.to_string())
        }));
        grid.push(row);
    }
    grid
}

/// Every logged event of every box, by time; events at the same time keep
/// the boxes' order, then each log's own order.
pub(crate) fn events(boxes: &[MiddleboxResult]) -> Grid {
    let mut all: Vec<(&str, &MiddleboxEvent)> = boxes
        .iter()
        .flat_map(|b| b.events.iter().map(move |e| (b.name.as_str(), e)))
        .collect();
    // Stable: ties keep box order, then log order.
    all.sort_by(|a, b| a.1.at_s.total_cmp(&b.1.at_s));
    let mut grid = Grid::new(&[
        ("at", Align::Right),
        ("box", Align::Left),
        ("event", Align::Left),
        ("address", Align::Left),
        ("name", Align::Left),
        ("flow", Align::Left),
    ]);
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_string());
    for (name, e) in all {
        grid.push(vec![
            figure::at(e.at_s),
            name.to_string(),
            e.event.clone(),
            e.addr.clone(),
            or_dash(&e.name),
            or_dash(&e.flow),
        ]);
    }
    grid
}

/// `tracked 4, expired 2, resets 2, dropped 0`, or `-` without counters.
fn counters_line(b: &MiddleboxResult) -> String {
    if b.counters.is_empty() {
        return "-".to_string();
    }
    let parts: Vec<String> = b
        .counters
        .iter()
        .map(|c| format!("{} {}", one_line(&c.name), c.count))
        .collect();
    parts.join(", ")
}

/// The terminal section: one counters line per box and mitigation, `None`
/// when no mitigation had a box.
pub(crate) fn text(result: &RunResult, indent: &str) -> Option<String> {
    let mut grid = Grid::new(&[
        ("mitigation", Align::Left),
        ("box", Align::Left),
        ("kind", Align::Left),
        ("counters", Align::Left),
    ]);
    let mut any = false;
    for m in &result.mitigations {
        for b in &m.middleboxes {
            any = true;
            grid.push(vec![
                m.name.clone(),
                b.name.clone(),
                b.kind.clone(),
                counters_line(b),
            ]);
        }
    }
    any.then(|| format!("middleboxes\n{}", grid.text(indent)))
}
