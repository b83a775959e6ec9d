//! `meshsim run`'s progress bar on a terminal: scenario i/n, mitigation j/m
//! with its name, simulated time reached against the load's duration, and
//! the wall time spent. Hidden when stderr is not a terminal (CI logs, tests,
//! pipes), so nothing is added to what they read.
//!
//! Everything else meshsim prints to stderr while a bar may be drawn (log
//! lines such as the real run's lag warning, the Ctrl-C notice) goes through
//! [`eprint_line`] or the log writer [`StderrAroundBar`], which lift the bar,
//! print, and draw it again: the bar never cuts a line in two.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meshsim_engine::{Progress, RunEvent};

/// The bar being drawn, if any: where stderr writers find it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The bar of one `meshsim run` invocation.
pub(crate) struct Bar {
    bar: ProgressBar,
    scenarios: usize,
}

impl Bar {
    /// A bar for `scenarios` scenarios, drawn on stderr only when it is a
    /// terminal.
    pub(crate) fn on_stderr(scenarios: usize) -> Bar {
        Bar::new(scenarios, std::io::stderr().is_terminal())
    }

    /// A bar drawn on stderr when `visible`, else hidden.
    fn new(scenarios: usize, visible: bool) -> Bar {
        let bar = if visible {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{prefix} {wide_msg} [{bar:16}] {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
            *active() = Some(bar.clone());
        }
        Bar { bar, scenarios }
    }

    /// Scenario `index` (from 0) named `name` starts.
    pub(crate) fn scenario(&self, index: usize, name: &str) {
        self.bar
            .set_prefix(format!("[{}/{}] {name}", index + 1, self.scenarios));
        self.bar.set_message("building");
        self.bar.set_length(1);
        self.bar.set_position(0);
    }

    /// The engine's hook feeding this bar, or `None` when it is hidden (the
    /// run is then told nothing at all).
    pub(crate) fn hook(&self) -> Option<Progress> {
        if self.bar.is_hidden() {
            return None;
        }
        let bar = self.bar.clone();
        let state = Mutex::new(String::new());
        Some(Progress::new(move |event| {
            let mut label = state.lock().unwrap_or_else(|e| e.into_inner());
            show(&bar, &mut label, event);
        }))
    }

    /// Runs `f` (which prints to stdout) with the bar lifted.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        *active() = None;
        self.bar.finish_and_clear();
    }
}

/// Updates the bar for one engine event, as `[j/m] sim 5m/15m name` (the
/// time first: a narrow terminal cuts the end); `label` keeps `[j/m]` and the
/// name.
fn show(bar: &ProgressBar, label: &mut String, event: &RunEvent) {
    match event {
        RunEvent::MitigationStarted {
            index,
            count,
            name,
            duration,
        } => {
            *label = format!("[{}/{count}]\t{name}", index + 1);
            bar.set_length(duration.as_secs().max(1));
            bar.set_position(0);
            bar.set_message(message(label, 0, duration.as_secs()));
        }
        RunEvent::SimulatedTime { reached, .. } => {
            let total = bar.length().unwrap_or(0);
            bar.set_position(reached.as_secs());
            bar.set_message(message(label, reached.as_secs(), total));
        }
        RunEvent::MitigationFinished { .. } => {
            bar.set_message(label.replacen('\t', " done ", 1));
        }
        _ => {}
    }
}

/// `[2/4] sim 5m/15m resolution-dns` from the label `[2/4]\tresolution-dns`.
fn message(label: &str, reached: u64, total: u64) -> String {
    let sim = format!(" sim {}/{} ", secs(reached), secs(total));
    label.replacen('\t', &sim, 1)
}

/// `1h2m3s`, `15m`, `42s`.
fn secs(s: u64) -> String {
    let (h, m, s) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn active() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `bytes` to stderr, lifting the bar around it when one is drawn.
fn to_stderr(bytes: &[u8]) {
    let bar = active().clone();
    let write = || {
        let _ = std::io::stderr().lock().write_all(bytes);
    };
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// `eprintln!` that does not fight with the bar.
pub(crate) fn eprint_line(line: &str) {
    to_stderr(format!("{line}\n").as_bytes());
}

/// The log writer (`tracing_subscriber`'s `MakeWriter`): collects one log
/// event and writes it to stderr in one piece, around the bar.
#[derive(Default)]
pub(crate) struct StderrAroundBar(Vec<u8>);

impl Write for StderrAroundBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.0.is_empty() {
            to_stderr(&std::mem::take(&mut self.0));
        }
        Ok(())
    }
}

impl Drop for StderrAroundBar {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_like_scenario_durations() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(42), "42s");
        assert_eq!(secs(900), "15m");
        assert_eq!(secs(3723), "1h2m3s");
    }

    #[test]
    fn the_message_puts_simulated_time_before_the_mitigation_name() {
        assert_eq!(
            message("[2/4]\tresolution-dns", 300, 900),
            "[2/4] sim 5m/15m resolution-dns"
        );
    }

    #[test]
    fn a_hidden_bar_gives_the_engine_no_hook() {
        let bar = Bar::new(2, false);
        assert!(bar.hook().is_none());
    }
}
