//! The HTML report of a catalogue run, opened in a real browser: headless
//! Chromium (Debian's `chromium`, installed by `.ci/run`) loads the page
//! from a file, and the test reads back the DOM Chromium built and what it
//! logged.
//!
//! What counts as a browser error, from Chromium 156's log on stderr
//! (`--enable-logging=stderr --v=1`), found by loading a deliberately broken
//! page (see [`browser_check_catches_a_script_error_and_a_fetch_from_outside`]):
//! - a console message, e.g. a script error:
//!   `[pid:tid:date:INFO:CONSOLE:1] "Uncaught 1", source: file:///.../page.html (1)`.
//!   The page has no script, so any console line is a problem;
//! - a request the page makes, e.g. an image:
//!   `[...:VERBOSE1:net/base/network_delegate.cc:38] NetworkDelegate::NotifyBeforeURLRequest: http://127.0.0.1:9/x.png`.
//!   A failed load prints nothing more at `--v=0` (which is why this runs at
//!   `--v=1`), so every request is counted, failed or not: the page must
//!   fetch nothing. Chromium's own service requests (update, accounts and
//!   time checks on `*.google.com` / `*.googleapis.com`) are not the page's
//!   and are left out.
//!
//! Nothing leaves the machine: every host name resolves to nothing
//! (`--host-resolver-rules`) and every request goes to a proxy on
//! `127.0.0.1:9`, where nothing listens. A missing `chromium` fails the
//! test, never skips it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshsim_core::RunResult;
use meshsim_engine::{RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;

/// The charts the page draws, by `data-chart`.
const CHARTS: [&str; 4] = [
    "error-rate",
    "error-rate-linear",
    "latency",
    "errors-by-kind",
];

/// How long Chromium may take to load one page, in seconds (`timeout`).
const BROWSER_TIMEOUT_S: &str = "120";

/// Hosts of Chromium's own background requests (not the page's).
const CHROMIUM_SERVICE_HOSTS: [&str; 2] = [".google.com", ".googleapis.com"];

/// The ALB incident, three mitigations over seven minutes: the rotation at
/// 5m, errors without a fix, none with one.
fn alb_run() -> RunResult {
    let s = Scenario::load(&support::catalogue_path("alb-ip-rotation.yaml")).unwrap();
    let opts = RunOptions {
        mitigations: vec![
            "none".into(),
            "retries-only".into(),
            "resolution-dns+retries".into(),
        ],
        duration: Some(Duration::from_secs(420)),
        ..RunOptions::default()
    };
    meshsim_engine::run(&s, &opts, |_| {}).unwrap()
}

/// A directory under the system temp dir for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("meshsim-html-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What Chromium made of a page: the DOM it dumped, and its log.
struct Loaded {
    dom: String,
    log: String,
}

/// Loads `page` (written to `dir/page.html`) in headless Chromium with a
/// profile of its own in `dir`.
fn load(dir: &Path, page: &str) -> Loaded {
    let file = dir.join("page.html");
    std::fs::write(&file, page).unwrap();
    let out = Command::new("timeout")
        .arg(BROWSER_TIMEOUT_S)
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-features=NetworkTimeServiceQuerying",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            "--enable-logging=stderr",
            "--v=1",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium ({e}): .ci/run installs it with apt-get"));
    assert!(
        out.status.success(),
        "chromium failed or timed out ({:?}); is it installed? (.ci/run installs it)\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Loaded {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every line of Chromium's log that says the page misbehaved: a console
/// message, or a request the page made.
fn browser_problems(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            if line.contains(":CONSOLE") {
                return true;
            }
            let Some((_, url)) = line.split_once("NotifyBeforeURLRequest: ") else {
                return false;
            };
            let host = url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', ':', '?']).next())
                .unwrap_or("");
            !CHROMIUM_SERVICE_HOSTS.iter().any(|s| host.ends_with(s))
        })
        .collect()
}

#[test]
fn alb_report_loads_in_headless_chromium_without_errors_and_every_chart_has_every_mitigation() {
    let run = alb_run();
    let tmp = TempDir::new("alb");
    let loaded = load(&tmp.0, &meshsim_report::html(&run));
    assert_eq!(browser_problems(&loaded.log), Vec::<&str>::new());
    assert!(
        loaded.dom.contains("<h1>alb-ip-rotation</h1>"),
        "{}",
        loaded.dom
    );
    for chart in CHARTS {
        assert_eq!(
            loaded
                .dom
                .matches(&format!("<svg class=\"chart\" data-chart=\"{chart}\""))
                .count(),
            1,
            "{chart}"
        );
        for m in &run.mitigations {
            let series = format!(
                "<g class=\"series\" data-chart=\"{chart}\" data-mitigation=\"{}\"",
                m.name
            );
            assert!(loaded.dom.contains(&series), "no {series} in the DOM");
        }
    }
    assert_eq!(
        loaded.dom.matches("<g class=\"timeline-mark\"").count(),
        run.events.len()
    );
}

#[test]
fn browser_check_catches_a_script_error_and_a_fetch_from_outside() {
    let tmp = TempDir::new("broken");
    let broken = "<!DOCTYPE html><html><body><p>broken</p>\
                  <img src=\"http://127.0.0.1:9/x.png\"><script>throw 1</script></body></html>";
    let loaded = load(&tmp.0, broken);
    let problems = browser_problems(&loaded.log);
    assert!(
        problems
            .iter()
            .any(|l| l.contains(":CONSOLE") && l.contains("Uncaught 1")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|l| l.ends_with("NotifyBeforeURLRequest: http://127.0.0.1:9/x.png")),
        "{problems:?}"
    );
    assert!(loaded.dom.contains("<p>broken</p>"));
}
