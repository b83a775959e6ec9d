//! `meshsim`: reproduce service-mesh network incidents and compare mitigations.
//!
//! `main` only parses, calls [`run`] and maps the outcome to an exit code:
//! 0 = every expectation held, 1 = an expectation failed, 2 = usage, input or
//! internal error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod check;
mod ctl;
mod diff;
mod output;
mod progress;
mod rerender;
mod up;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use meshsim_core::RunResult;
use meshsim_core::units::parse_duration;
use meshsim_engine::{RunOptions, Scenario};
use meshsim_report::Format;

/// Reproduce service-mesh network incidents on one machine and measure what
/// each mitigation buys.
#[derive(Debug, Parser)]
#[command(name = "meshsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios: each mitigation replays the incident in a fresh simulated
    /// world with the same seed; prints the comparison and writes reports.
    Run {
        /// Scenario files (YAML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Run only this mitigation (repeatable).
        #[arg(long = "mitigation", short = 'm')]
        mitigations: Vec<String>,
        /// Seed for every random choice (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override the scenario's duration, e.g. 2m.
        #[arg(long, value_parser = parse_human_duration)]
        duration: Option<std::time::Duration>,
        /// What to print: table, json or markdown.
        #[arg(long, default_value = "table")]
        format: Format,
        /// Root of the run directories: each scenario run writes every
        /// format (result.json, report.txt, report.md...) to
        /// OUT/<scenario>/<run-id>/, atomically, after every mitigation, and
        /// OUT/<scenario>/latest names the newest run.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Name of the run directory (a plain file name; default:
        /// <UTC time>-seed<seed>-<mode>, e.g. 20261123T083015Z-seed1-sim).
        /// `-2`, `-3`... is appended when it exists.
        #[arg(long, value_name = "ID", conflicts_with = "no_write")]
        run_id: Option<String>,
        /// Write no report files.
        #[arg(long)]
        no_write: bool,
        /// Istio YAML (ServiceEntry, VirtualService, DestinationRule,
        /// IstioOperator) to try as one more mitigation, `with:<file stem>`,
        /// layered over the base mitigation (repeatable). It always runs,
        /// whatever `-m` selects.
        #[arg(long = "with", value_name = "FILE")]
        with: Vec<PathBuf>,
        /// The mitigation `--with` files are layered over (default: each
        /// scenario's first).
        #[arg(long, value_name = "NAME", requires = "with")]
        with_base: Option<String>,
        /// Run over kernel TCP/UDP sockets on 127.0.0.0/8 with the wall
        /// clock instead of the simulated network (not deterministic).
        #[arg(long)]
        real: bool,
        /// With --real: wall seconds per scenario second, e.g. 0.02 plays a
        /// 15-minute incident in 18 s. Every duration scales (timeline,
        /// TTLs, timeouts, idle timers, back-off; rates inversely); reports
        /// stay in scenario units and state the scale.
        #[arg(long, value_name = "F", requires = "real")]
        time_scale: Option<f64>,
        /// With --real: also run each scenario simulated (same seed,
        /// mitigations and duration) and print, per mitigation, whether the
        /// two agree (verdict, dominant error kind, error rate within 3
        /// points or 25 %); exit 1 if any does not.
        #[arg(long, requires = "real")]
        agree: bool,
    },
    /// Lint scenario files and Istio YAML before rollout, like `istioctl
    /// analyze`: each finding has a stable code, a severity, the resource,
    /// file:line:column, a fix and the catalogue scenario that shows it.
    /// Exit 0: no warning or error; 1: at least one; 2: a file could not be
    /// read or parsed (the others are still checked).
    Check {
        /// Scenario files (linted with what their world and timeline know)
        /// or Istio YAML files (ServiceEntry, VirtualService,
        /// DestinationRule, IstioOperator).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// What to print: text (one line per finding) or json.
        #[arg(long, value_enum, default_value = "text")]
        format: check::CheckFormat,
    },
    /// Start one mitigation's world in real mode on loopback and keep it up:
    /// prints the DNS server, each pod's forward proxy (`curl -x`), each
    /// upstream, the sidecars' admin and readiness ports and the control
    /// endpoint, so dig, curl or a real app can join; faults are fired with
    /// `meshsim ctl`. Stops on Ctrl-C, SIGTERM or `meshsim ctl stop`.
    Up(up::UpArgs),
    /// Fire timeline actions into a world `meshsim up` keeps running, read
    /// its figures, stop it. Exit 0: done; 1: refused by the world; 2:
    /// cannot reach it.
    Ctl(ctl::CtlArgs),
    /// Re-render every format of a run (or those given with --format) from
    /// its result.json into its directory, without running anything. Exit 0:
    /// written; 2: the JSON cannot be read or is not a run of this version.
    Report(rerender::ReportArgs),
    /// Compare two runs mitigation by mitigation (error rate, p50/p99,
    /// attempts per request, expectations) for regression suites. Exit 0:
    /// nothing got worse beyond the thresholds; 1: a mitigation got worse
    /// or is gone; 2: bad input or usage.
    Diff(diff::DiffArgs),
    /// List the scenarios of a catalogue folder with their mitigations.
    List {
        /// The folder.
        #[arg(default_value = "scenarios")]
        dir: PathBuf,
    },
}

fn parse_human_duration(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// What a successful invocation concluded.
enum Verdict {
    Held,
    Failed,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logs();
    match run(cli) {
        Ok(Verdict::Held) => ExitCode::SUCCESS,
        Ok(Verdict::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("meshsim: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MESHSIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::StderrAroundBar::default)
        .try_init();
}

fn run(cli: Cli) -> Result<Verdict> {
    match cli.command {
        Command::Run {
            scenarios,
            mitigations,
            seed,
            duration,
            format,
            out,
            run_id,
            no_write,
            with,
            with_base,
            real,
            time_scale,
            agree,
        } => {
            let interrupted = watch_ctrl_c();
            let opts = RunOptions {
                seed,
                mitigations,
                duration,
                interrupted: Some(interrupted),
                real,
                time_scale,
                progress: None,
            };
            let out = match no_write {
                true => None,
                false => Some(output::Output::new(&out, run_id.as_deref())?),
            };
            let scenarios = load_all(&scenarios, &with, with_base.as_deref())?;
            let (verdict, results) = run_scenarios(&scenarios, &opts, format, out.as_ref())?;
            if !agree {
                return Ok(verdict);
            }
            agree_with_sim(&scenarios, &results, &opts)
        }
        Command::Up(args) => up::run(args).map(|()| Verdict::Held),
        Command::Ctl(args) => ctl::run(args),
        Command::Report(args) => rerender::run(args).map(|()| Verdict::Held),
        Command::Diff(args) => Ok(if diff::run(args)? {
            Verdict::Failed
        } else {
            Verdict::Held
        }),
        Command::List { dir } => list(&dir).map(|()| Verdict::Held),
        Command::Check { files, format } => Ok(if check::run(&files, format)? {
            Verdict::Failed
        } else {
            Verdict::Held
        }),
    }
}

/// Loads every scenario and adds each `--with` file to each, before any run:
/// a typo in the third file fails at once.
fn load_all(paths: &[PathBuf], with: &[PathBuf], base: Option<&str>) -> Result<Vec<Scenario>> {
    let mut scenarios = Vec::new();
    for p in paths {
        let mut scenario = Scenario::load(p)?;
        for w in with {
            let m = scenario.add_user_mitigation_file(w, base)?;
            let what = m.description.as_deref().unwrap_or_default();
            progress::eprint_line(&format!(
                "meshsim: {}: {} = {what}",
                scenario_name(p),
                m.name
            ));
        }
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

fn scenario_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or(p.as_os_str())
        .to_string_lossy()
        .into_owned()
}

fn run_scenarios(
    scenarios: &[Scenario],
    opts: &RunOptions,
    format: Format,
    out: Option<&output::Output>,
) -> Result<(Verdict, Vec<RunResult>)> {
    let mut all_held = true;
    let mut results = Vec::new();
    let bar = progress::Bar::on_stderr(scenarios.len());
    let opts = RunOptions {
        progress: bar.hook(),
        ..opts.clone()
    };
    for (i, scenario) in scenarios.iter().enumerate() {
        bar.scenario(i, &scenario.name);
        let (result, dir) = run_one(scenario, &opts, out)?;
        bar.suspend(|| print_result(&result, format, dir.as_deref()))?;
        all_held &= result.all_expectations_passed();
        if result.partial {
            anyhow::bail!("interrupted: reports hold the mitigations that finished");
        }
        results.push(result);
    }
    let verdict = if all_held {
        Verdict::Held
    } else {
        Verdict::Failed
    };
    Ok((verdict, results))
}

/// Runs one scenario, writing its run directory after every mitigation and
/// pointing `latest` at it at the end; returns the result and the directory.
fn run_one(
    scenario: &Scenario,
    opts: &RunOptions,
    out: Option<&output::Output>,
) -> Result<(RunResult, Option<PathBuf>)> {
    let mut dir = out.map(output::Output::scenario);
    let mut write_err = None;
    let result = meshsim_engine::run(scenario, opts, |so_far| {
        if let Some(d) = dir.as_mut()
            && write_err.is_none()
            && let Err(e) = d.write(so_far)
        {
            write_err = Some(e);
        }
    })
    .with_context(|| format!("running {}", scenario.path.display()))?;
    if let Some(e) = write_err {
        return Err(e.context("writing reports"));
    }
    let written = match &dir {
        Some(d) => d.finish()?.map(Path::to_path_buf),
        None => None,
    };
    Ok((result, written))
}

/// Prints the result in `format`, and, under a table, where it was written.
fn print_result(result: &RunResult, format: Format, dir: Option<&Path>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(meshsim_report::render(result, format).as_bytes())?;
    if let Some(dir) = dir
        && format == Format::Table
    {
        writeln!(stdout, "reports: {}/", dir.display())?;
    }
    Ok(())
}

/// Runs every scenario simulated with the options of its real run and
/// prints how the two agree.
fn agree_with_sim(
    scenarios: &[Scenario],
    reals: &[RunResult],
    real_opts: &RunOptions,
) -> Result<Verdict> {
    let sim_opts = RunOptions {
        real: false,
        time_scale: None,
        ..real_opts.clone()
    };
    let mut all_agree = true;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "\n## Agreement of the real run with the simulation\n"
    )?;
    for (scenario, real) in scenarios.iter().zip(reals) {
        let sim = meshsim_engine::run(scenario, &sim_opts, |_| {})
            .with_context(|| format!("running {} (sim)", scenario.path.display()))?;
        if sim.partial || real.partial {
            anyhow::bail!("interrupted: no agreement for {}", sim.scenario);
        }
        let rows = meshsim_engine::agree::compare(&sim, real, Default::default());
        if rows.len() != real.mitigations.len() || rows.len() != sim.mitigations.len() {
            anyhow::bail!(
                "{}: the simulated and real runs do not have the same mitigations",
                sim.scenario
            );
        }
        all_agree &= rows.iter().all(|r| r.agrees());
        writeln!(
            stdout,
            "{}",
            meshsim_engine::agree::markdown(&sim.scenario, &rows)
        )?;
    }
    Ok(if all_agree {
        Verdict::Held
    } else {
        Verdict::Failed
    })
}

fn list(dir: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut stdout = std::io::stdout().lock();
    for f in files {
        match Scenario::load(&f) {
            Ok(s) => {
                let names: Vec<&str> = s.mitigations.iter().map(|m| m.name.as_str()).collect();
                writeln!(stdout, "{}  {}", f.display(), s.summary)?;
                writeln!(stdout, "    mitigations: {}", names.join(", "))?;
            }
            Err(e) => writeln!(stdout, "{}  INVALID: {e}", f.display())?,
        }
    }
    Ok(())
}

/// A flag set by Ctrl-C: the run stops after the mitigation in progress and
/// still writes what it has, marked partial.
fn watch_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_err() {
            return;
        }
        f.store(true, Ordering::SeqCst);
        progress::eprint_line(
            "meshsim: interrupted; finishing the mitigation in progress (Ctrl-C again to quit now)",
        );
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            std::process::exit(130);
        }
    });
    flag
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
