//! `meshsim up`: one mitigation's world in real mode, up until Ctrl-C,
//! SIGTERM or `meshsim ctl stop`; prints every address (and writes them
//! as JSON to `--state FILE`), then a `ready` line.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use meshsim_engine::{Scenario, UpOptions};

/// The line `up` prints once every address is bound (scripts and tests
/// wait for it).
pub(crate) const READY: &str = "meshsim up: ready";

/// `meshsim up` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct UpArgs {
    /// The scenario file (YAML).
    scenario: PathBuf,
    /// The mitigation whose world is built (default: the scenario's first).
    #[arg(long, short = 'm')]
    mitigation: Option<String>,
    /// Do not run the scenario's built-in application load (the world
    /// waits for real clients only).
    #[arg(long)]
    no_app: bool,
    /// Wall seconds per scenario second, e.g. 0.1 (every duration of the
    /// world scales: TTLs, timeouts, idle timers, back-off).
    #[arg(long, value_name = "F")]
    time_scale: Option<f64>,
    /// Seed for every random choice (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Also play the scenario's own timeline from the start (by default
    /// faults are fired by hand with `meshsim ctl`).
    #[arg(long)]
    timeline: bool,
    /// Write every address as JSON to this file (as `meshsim ctl
    /// endpoints` prints it) before the ready line.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

/// Runs `meshsim up` until it is stopped.
pub(crate) fn run(args: UpArgs) -> Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let opts = UpOptions {
        mitigation: args.mitigation,
        app: !args.no_app,
        time_scale: args.time_scale,
        seed: args.seed,
        timeline: args.timeline,
    };
    let up = meshsim_engine::up::start(scenario, opts)
        .with_context(|| format!("bringing up {}", args.scenario.display()))?;
    if let Some(path) = &args.state {
        write_state(path, up.endpoints())?;
    }
    watch_signals(up.stopper())?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(up.endpoints().render().as_bytes())?;
    writeln!(
        stdout,
        "{READY}; Ctrl-C, SIGTERM or `meshsim ctl stop` stops it"
    )?;
    stdout.flush()?;
    drop(stdout);
    let stats = up.wait()?;
    writeln!(std::io::stdout().lock(), "{}", stats.summary_line())?;
    Ok(())
}

/// The endpoints as JSON, written atomically (a reader never sees half).
fn write_state(path: &Path, endpoints: &meshsim_engine::up::Endpoints) -> Result<()> {
    let mut text = serde_json::to_string_pretty(endpoints)?;
    text.push('\n');
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Ctrl-C or SIGTERM stops the world (a second Ctrl-C quits at once). The
/// handlers are installed before this returns, so a signal sent as soon as
/// the ready line is read is never the default one (death by SIGINT).
fn watch_signals(stopper: meshsim_engine::up::Stopper) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut interrupt, mut terminate) = {
        let _in_rt = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                biased;
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        });
        eprintln!("meshsim up: stopping (Ctrl-C again to quit now)");
        stopper.stop();
        if rt.block_on(interrupt.recv()).is_some() {
            std::process::exit(130);
        }
    });
    Ok(())
}
