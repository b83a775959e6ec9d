//! Expectations on a pod's lifecycle figures (`app_start: "< 3s"`,
//! `startup_failures: "== 0"`, `completion: never`...), read from the
//! pod's [`PodLifecycleResult`].

use meshsim_core::units::parse_duration;
use meshsim_core::{MitigationResult, PodLifecycleResult};

use super::Cmp;

/// A lifecycle figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodFigure {
    /// `app_start`: when the application container started.
    AppStart,
    /// `sidecar_ready`: when the sidecar became ready.
    SidecarReady,
    /// `first_success`: the end of the first successful request.
    FirstSuccess,
    /// `completion`: when every container had exited.
    Completion,
    /// `startup_failures`.
    StartupFailures,
    /// `termination_failures`.
    TerminationFailures,
    /// `abandoned`: requests in flight at SIGKILL.
    Abandoned,
    /// `init_failures`.
    InitFailures,
}

impl PodFigure {
    /// The expectation keys, in the order reports list them.
    pub const KEYS: [(&'static str, PodFigure); 8] = [
        ("app_start", PodFigure::AppStart),
        ("sidecar_ready", PodFigure::SidecarReady),
        ("first_success", PodFigure::FirstSuccess),
        ("completion", PodFigure::Completion),
        ("startup_failures", PodFigure::StartupFailures),
        ("termination_failures", PodFigure::TerminationFailures),
        ("abandoned", PodFigure::Abandoned),
        ("init_failures", PodFigure::InitFailures),
    ];

    fn is_time(self) -> bool {
        matches!(
            self,
            PodFigure::AppStart
                | PodFigure::SidecarReady
                | PodFigure::FirstSuccess
                | PodFigure::Completion
        )
    }

    /// The figure in `r`: seconds for times (`None`: never), a count otherwise.
    fn read(self, r: &PodLifecycleResult) -> Option<f64> {
        match self {
            PodFigure::AppStart => r.app_start_s,
            PodFigure::SidecarReady => r.sidecar_ready_s,
            PodFigure::FirstSuccess => r.first_success_s,
            PodFigure::Completion => r.completion_s,
            PodFigure::StartupFailures => Some(r.startup_failures as f64),
            PodFigure::TerminationFailures => Some(r.termination_failures as f64),
            PodFigure::Abandoned => Some(r.abandoned as f64),
            PodFigure::InitFailures => Some(r.init_failures as f64),
        }
    }
}

/// What the figure must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PodBound {
    /// A comparison (seconds for times).
    Cmp(Cmp, f64),
    /// `never`: the time never came within the run.
    Never,
}

/// A check of one pod's lifecycle figure.
#[derive(Debug, Clone, PartialEq)]
pub struct PodCheck {
    /// The pod (a `world.pods` entry with a lifecycle).
    pub pod: String,
    /// Which figure.
    pub figure: PodFigure,
    /// Its bound.
    pub bound: PodBound,
}

impl PodCheck {
    /// Parses `value` for `figure`: `< 3s` / `never` for times, `== 0` for
    /// counts.
    ///
    /// # Errors
    /// A message saying what is wrong with the value.
    pub fn parse(pod: &str, figure: PodFigure, value: &str) -> Result<PodCheck, String> {
        let bound = if figure.is_time() && value.trim() == "never" {
            PodBound::Never
        } else {
            let (c, v) = Cmp::split(value)?;
            let n = if figure.is_time() {
                parse_duration(v)
                    .map_err(|e| format!("{e}, or never"))?
                    .as_secs_f64()
            } else {
                v.parse::<u64>()
                    .map_err(|_| format!("{v:?} is not a whole number"))? as f64
            };
            PodBound::Cmp(c, n)
        };
        Ok(PodCheck {
            pod: pod.to_string(),
            figure,
            bound,
        })
    }

    /// Whether it holds in `m`, and the figure as reports show it.
    pub(super) fn judge(&self, m: &MitigationResult) -> (bool, String) {
        let Some(r) = m.pods.iter().find(|p| p.pod == self.pod) else {
            return (false, format!("no lifecycle figures for pod {}", self.pod));
        };
        let value = self.figure.read(r);
        let shown = match value {
            None => "never".to_string(),
            Some(v) if self.figure.is_time() => format!("{v:.3}s"),
            Some(v) => format!("{v}"),
        };
        let passed = match (self.bound, value) {
            (PodBound::Never, v) => v.is_none(),
            (PodBound::Cmp(..), None) => false,
            (PodBound::Cmp(c, b), Some(v)) => c.holds(v, b),
        };
        (passed, shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(app_start: Option<f64>, failures: u64) -> MitigationResult {
        MitigationResult {
            pods: vec![PodLifecycleResult {
                pod: "job".into(),
                app_start_s: app_start,
                startup_failures: failures,
                ..PodLifecycleResult::default()
            }],
            ..MitigationResult::default()
        }
    }

    #[test]
    fn a_time_bound_reads_seconds_and_never_means_it_did_not_happen() {
        let c = PodCheck::parse("job", PodFigure::AppStart, "< 2s").unwrap();
        assert_eq!(c.judge(&result(Some(1.5), 0)), (true, "1.500s".into()));
        assert!(!c.judge(&result(None, 0)).0);
        let never = PodCheck::parse("job", PodFigure::AppStart, "never").unwrap();
        assert!(never.judge(&result(None, 0)).0);
        assert!(!never.judge(&result(Some(0.3), 0)).0);
    }

    #[test]
    fn a_count_bound_is_a_whole_number_and_never_is_refused_for_counts() {
        let c = PodCheck::parse("job", PodFigure::StartupFailures, "== 0").unwrap();
        assert!(c.judge(&result(None, 0)).0);
        assert!(!c.judge(&result(None, 3)).0);
        assert!(PodCheck::parse("job", PodFigure::StartupFailures, "never").is_err());
        assert!(PodCheck::parse("job", PodFigure::StartupFailures, "< 1.5").is_err());
    }
}
