//! Pods with a lifecycle in the text formats: per mitigation, what the
//! pod's start-up and termination cost (when the app started, when the
//! sidecar was ready, the first success, failed calls during start-up and
//! termination, completion) and, in Markdown, the pod's event log.
//!
//! The terminal shows one line per pod and mitigation; "+1.2s" next to the
//! app's start is its delay against the first mitigation (the baseline,
//! usually `none`): what the mitigation costs in start-up time.

use meshsim_core::{MitigationResult, PodEvent, PodLifecycleResult, RunResult};

use crate::figure;
use crate::grid::{Align, Grid, escape};

/// Seconds as `1.234s`, or `never`.
fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "never".to_string(), |s| format!("{s:.3}s"))
}

/// `1.234s (+0.500s)`: a start time and its delay against `base`.
fn with_delta(s: Option<f64>, base: Option<f64>) -> String {
    match (s, base) {
        (Some(s), Some(b)) if (s - b).abs() >= 0.0005 => format!("{s:.3}s ({:+.3}s)", s - b),
        _ => secs(s),
    }
}

/// The columns both formats show.
const COLUMNS: [(&str, Align); 10] = [
    ("mitigation", Align::Left),
    ("pod", Align::Left),
    ("app start", Align::Right),
    ("sidecar ready", Align::Right),
    ("first success", Align::Right),
    ("start-up failures", Align::Right),
    ("termination failures", Align::Right),
    ("abandoned", Align::Right),
    ("init runs (failed)", Align::Right),
    ("completed", Align::Right),
];

fn row(m: &str, p: &PodLifecycleResult, base: Option<&PodLifecycleResult>) -> Vec<String> {
    vec![
        m.to_string(),
        p.pod.clone(),
        with_delta(p.app_start_s, base.and_then(|b| b.app_start_s)),
        secs(p.sidecar_ready_s),
        secs(p.first_success_s),
        p.startup_failures.to_string(),
        p.termination_failures.to_string(),
        p.abandoned.to_string(),
        format!("{} ({})", p.init_runs, p.init_failures),
        secs(p.completion_s),
    ]
}

/// The same pod in the first mitigation: the baseline of start-up delays.
fn baseline<'a>(result: &'a RunResult, pod: &str) -> Option<&'a PodLifecycleResult> {
    let first = result.mitigations.first()?;
    first.pods.iter().find(|p| p.pod == pod)
}

/// Every pod of every mitigation, `None` when no pod has a lifecycle.
pub(crate) fn grid(result: &RunResult) -> Option<Grid> {
    let mut grid = Grid::new(&COLUMNS);
    let mut any = false;
    for m in &result.mitigations {
        for p in &m.pods {
            any = true;
            grid.push(row(&m.name, p, baseline(result, &p.pod)));
        }
    }
    any.then_some(grid)
}

/// The terminal section.
pub(crate) fn text(result: &RunResult, indent: &str) -> Option<String> {
    grid(result).map(|g| {
        format!(
            "pod lifecycle (times from the pod's creation)\n{}",
            g.text(indent)
        )
    })
}

/// The Markdown overview across mitigations.
pub(crate) fn markdown_overview(result: &RunResult) -> Option<String> {
    grid(result).map(|g| {
        format!(
            "## Pod lifecycle\n\nTimes from the pod's creation; the app's start-up delay against `{}` in brackets.\n\n{}",
            escape(&result.mitigations[0].name),
            g.markdown()
        )
    })
}

/// One mitigation's pod event logs, `None` without a lifecycle pod.
pub(crate) fn markdown(m: &MitigationResult) -> Option<String> {
    if m.pods.is_empty() {
        return None;
    }
    let mut out = String::from("#### Pod lifecycle events\n\n");
    for p in &m.pods {
        out.push_str(&event_log(&p.pod, &p.events));
    }
    Some(out)
}

/// One pod's events as a Markdown table under its name.
pub(crate) fn event_log(pod: &str, events: &[PodEvent]) -> String {
    let mut grid = Grid::new(&[("at", Align::Right), ("event", Align::Left)]);
    for e in events {
        grid.push(vec![figure::at(e.at_s), e.what.clone()]);
    }
    format!("Pod `{}`:\n\n{}\n", escape(pod), grid.markdown())
}
