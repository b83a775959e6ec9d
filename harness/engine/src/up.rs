//! `meshsim up`: one mitigation's world in real mode that stays up, so real
//! clients can join it, and a control endpoint that fires timeline actions
//! by hand.
//!
//! [`start`] builds the world on kernel sockets on loopback (the same
//! `World::build` as `meshsim run --real`), on its own thread and
//! current-thread runtime with the wall clock (scaled by `--time-scale`),
//! then adds what a person at a terminal needs:
//! - a forward HTTP proxy per meshed pod ([`meshsim_app::serve_proxy`] on the
//!   pod's captured stack, the `Capture` its application has): `curl -x`
//!   and any client honouring `HTTP_PROXY` go through the pod's sidecar as
//!   captured traffic, the original destination taken from the request;
//! - the built-in application load, optional ([`UpOptions::app`]), for as
//!   long as the world is up;
//! - a control endpoint (HTTP/1.1 + JSON, module `control`) on
//!   `127.0.0.1`, port 0, bound through the Net seam: `POST /apply` (one
//!   timeline action in the scenario's YAML syntax, validated as the loader
//!   validates a timeline entry: [`Scenario::parse_action`]), `GET /stats`,
//!   `GET /endpoints`, `POST /stop`;
//! - [`Endpoints`]: every address with its real loopback address, as a
//!   table ([`Endpoints::render`]) and as JSON (the `--state` file).
//!
//! The world lives in one task (module `session`) that owns it: the control
//! endpoint's connections send it commands over a channel, so the world
//! needs no lock and every action runs in the order it arrived. [`Up::stop`]
//! (Ctrl-C, SIGTERM, `POST /stop`) ends it: the control endpoint, the
//! proxies, the application and the world are shut down, every task and
//! socket closed, and [`Up::wait`] returns the last figures.
//!
//! The scenario's own timeline is not played unless
//! [`UpOptions::timeline`] asks for it: in `up` the faults are fired by
//! hand.
//!
//! Module map:
//! - `endpoints`: the table of addresses;
//! - `control`: the control endpoint's server;
//! - [`client`]: its blocking client (`meshsim ctl`, tests);
//! - `session`: the world's life: build, load, commands, shutdown.

pub mod client;
mod control;
mod endpoints;
mod session;

pub use endpoints::{AddressPair, Endpoints, HostEndpoint, PodEndpoint};
pub use session::{AppliedAction, UpStats};

use std::sync::Arc;

use crate::error::EngineError;
use crate::scenario::Scenario;

/// Knobs of `meshsim up`. `Default`: the scenario's first mitigation and
/// seed, the built-in application on, the wall clock unscaled, the
/// scenario's timeline not played.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// The mitigation whose world is built (default: the scenario's first).
    pub mitigation: Option<String>,
    /// Runs the built-in application load of the scenario's pods (`meshsim
    /// up` default on; `--no-app` turns it off).
    pub app: bool,
    /// Wall seconds per scenario second (`--time-scale`); `None` = 1.
    pub time_scale: Option<f64>,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Plays the scenario's timeline from the start, as `run` does.
    pub timeline: bool,
}

/// Stops a running world from anywhere (a signal handler's thread, the
/// control endpoint). Cloning shares the same world.
#[derive(Debug, Clone)]
pub struct Stopper(Arc<tokio::sync::watch::Sender<bool>>);

impl Stopper {
    /// Asks the world to shut down; [`Up::wait`] returns once it has.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// A world that is up: its addresses, and the way to stop it.
#[derive(Debug)]
pub struct Up {
    endpoints: Endpoints,
    stopper: Stopper,
    thread: std::thread::JoinHandle<Result<UpStats, EngineError>>,
}

impl Up {
    /// Every address of the world (scenario and real).
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// A handle that stops the world.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Asks the world to shut down (same as `POST /stop`).
    pub fn stop(&self) {
        self.stopper.stop();
    }

    /// Waits until the world has stopped and every task and socket is
    /// gone; the figures measured until then.
    ///
    /// # Errors
    /// [`EngineError::World`] when the world's thread failed.
    pub fn wait(self) -> Result<UpStats, EngineError> {
        self.thread.join().unwrap_or_else(|_| {
            Err(EngineError::World {
                scenario: self.endpoints.scenario.clone(),
                mitigation: self.endpoints.mitigation.clone(),
                message: "the world's thread panicked".into(),
            })
        })
    }
}

/// Builds `scenario`'s world (one mitigation) in real mode on its own
/// thread and returns once every address is bound.
///
/// # Errors
/// [`EngineError::UnknownMitigation`], [`EngineError::InvalidOption`] (a
/// time scale out of range), [`EngineError::World`] when the world cannot be
/// built, [`EngineError::Runtime`].
pub fn start(scenario: Scenario, opts: UpOptions) -> Result<Up, EngineError> {
    let mitigation = match &opts.mitigation {
        Some(name) => scenario
            .mitigation(name)
            .ok_or_else(|| unknown_mitigation(&scenario, name))?,
        None => scenario
            .mitigations
            .first()
            .ok_or_else(|| EngineError::InvalidOption {
                message: format!("scenario {} has no mitigation to bring up", scenario.name),
            })?,
    }
    .clone();
    // Checked here; the scale itself starts on the world's thread.
    crate::run::real_clock(opts.time_scale)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopper = Stopper(Arc::new(stop_tx));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let setup = session::Setup {
        scenario: Arc::new(scenario),
        mitigation,
        opts,
        stopper: stopper.clone(),
        stop: stop_rx,
    };
    let thread = std::thread::Builder::new()
        .name("meshsim-up".into())
        .spawn(move || session::run(setup, ready_tx))
        .map_err(EngineError::Runtime)?;
    match ready_rx.recv() {
        Ok(endpoints) => Ok(Up {
            endpoints,
            stopper,
            thread,
        }),
        // The thread ended before the world was up: its error says why.
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(EngineError::Runtime(std::io::Error::other(
                "the world's thread ended before the world was up",
            ))),
        },
    }
}

fn unknown_mitigation(scenario: &Scenario, name: &str) -> EngineError {
    let known: Vec<&str> = scenario
        .mitigations
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    EngineError::UnknownMitigation {
        scenario: scenario.name.clone(),
        name: name.to_string(),
        known: known.join(", "),
    }
}
