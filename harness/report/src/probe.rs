//! The kubelet's readiness probes in the text formats: per mitigation and
//! probed pod, the probe as `kubectl describe` shows it (after Istio's
//! injector), how many probes ran and failed, when the pod first went
//! NotReady and how long it stayed out of the endpoints; in Markdown, the
//! kubelet's messages too.

use meshsim_core::{MitigationResult, ProbeResult, RunResult};

use crate::figure;
use crate::grid::{Align, Grid};

const COLUMNS: [(&str, Align); 7] = [
    ("mitigation", Align::Left),
    ("pod", Align::Left),
    ("probe", Align::Left),
    ("probes", Align::Right),
    ("failed", Align::Right),
    ("first NotReady", Align::Right),
    ("NotReady for", Align::Right),
];

fn row(m: &str, p: &ProbeResult) -> Vec<String> {
    let check = match p.rewritten {
        true => format!("{} (rewritten)", p.check),
        false => p.check.clone(),
    };
    vec![
        m.to_string(),
        p.pod.clone(),
        check,
        p.probes.to_string(),
        p.failures.to_string(),
        p.first_not_ready_s
            .map_or_else(|| "never".into(), figure::at),
        figure::at(p.not_ready_for_s),
    ]
}

/// Every probed pod of every mitigation, `None` when none has a probe.
pub(crate) fn grid(result: &RunResult) -> Option<Grid> {
    let mut grid = Grid::new(&COLUMNS);
    let mut any = false;
    for m in &result.mitigations {
        for p in &m.probes {
            any = true;
            grid.push(row(&m.name, p));
        }
    }
    any.then_some(grid)
}

/// The terminal section.
pub(crate) fn text(result: &RunResult, indent: &str) -> Option<String> {
    grid(result).map(|g| {
        format!(
            "readiness probes (the kubelet's; NotReady pods are not endpoints)\n{}",
            g.text(indent)
        )
    })
}

/// The Markdown overview across mitigations.
pub(crate) fn markdown_overview(result: &RunResult) -> Option<String> {
    grid(result).map(|g| {
        format!(
            "## Readiness probes\n\nThe kubelet's probes of the services' pods; a NotReady pod is not an endpoint. \"NotReady for\" counts until the end of the run or the pod's stop.\n\n{}",
            g.markdown()
        )
    })
}

/// One mitigation's kubelet messages, `None` without a probed pod or
/// without any event.
pub(crate) fn markdown(m: &MitigationResult) -> Option<String> {
    if m.probes.iter().all(|p| p.events.is_empty()) {
        return None;
    }
    let mut out = String::from("#### Readiness probe events\n\n");
    for p in m.probes.iter().filter(|p| !p.events.is_empty()) {
        out.push_str(&crate::pod::event_log(&p.pod, &p.events));
    }
    Some(out)
}
