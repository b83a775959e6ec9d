//! The pod's application as a *server*: what a mesh service's pods run behind
//! their sidecar's inbound port.
//!
//! A request to service B goes A-app -> A-sidecar (15001) -> B-sidecar
//! (15006) -> B-app on `B-pod-ip:port`; this module is the last hop. Each
//! [`RouteSpec`] answers with a status and body after a latency, within a
//! capacity (a worker pool with a FIFO queue, optionally bounded: a
//! saturated app answers 503 at once), and may make downstream calls while
//! serving, through the same client machinery as [`crate::drive()`] (pool,
//! profile, DNS cache) on the pod's stack, which is captured in a pod: the
//! calls go through the pod's own sidecar, so chains A -> B -> C and
//! fan-outs are possible. Each downstream call yields one
//! [`meshsim_core::RequestRecord`] with its own call id and a fresh
//! `x-request-id` from the pod's [`RequestIds`](crate::RequestIds) (the
//! incoming id is not propagated: the pod's sidecar keys its log per pod).
//!
//! Why hyper's server rather than an `httparse` loop like the fake upstreams:
//! an app server is a well-behaved HTTP/1.1 server (keep-alive, pipelining,
//! `connection: close`, chunked request bodies) and hyper is that, with the
//! same settings the sidecar's listener uses; the byte-level misbehaviours
//! belong to `meshsim-upstream`. The one timer an app server adds, the
//! keep-alive idle timeout, is hyper's header-read timeout (see `conn`).
//!
//! Module map:
//! - [`config`](mod@config): [`ServeConfig`], [`RouteSpec`], [`ServeDeps`],
//!   [`BehaviourOverride`];
//! - `plan`: validation before any socket;
//! - `gate`: a route's capacity and FIFO queue;
//! - `handler`: one request, `route -> gate -> latency -> calls -> answer`;
//! - `conn`: accept loops and connections, close or reset on stop;
//! - `preface`: an HTTP/1.1 server's `400` to the HTTP/2 preface;
//! - [`state`]: counters ([`ServeStats`]) and overrides.

pub mod config;
mod conn;
mod gate;
mod handler;
mod plan;
mod preface;
pub mod state;

#[cfg(test)]
pub(crate) mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use meshsim_core::SimRng;
use meshsim_net::{NetListener, Stack};
use tokio::sync::watch;

use crate::AppError;
use crate::drive::{Counters, Shared};
use crate::pool::Pool;
use crate::resolve::dns_resolver;
use crate::tasks::Tracker;

pub use config::{
    BehaviourOverride, CallMode, Capacity, DownstreamCall, OnError, RouteSpec, ServeConfig,
    ServeDeps,
};
pub use state::ServeStats;

use plan::{ServePlan, check_override};
use state::Server;

/// How [`ServerHandle::stop`] takes the application down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Like a process exit: listeners close (new connects are refused) and
    /// every connection is closed with a FIN, even with a request in service.
    Close,
    /// Listeners close and every connection is reset (RST): the peer's next
    /// read or write fails with `ConnectionReset`.
    Reset,
}

impl std::str::FromStr for StopMode {
    type Err = AppError;

    /// Parses `close` and `reset`.
    fn from_str(s: &str) -> Result<StopMode, AppError> {
        match s {
            "close" => Ok(StopMode::Close),
            "reset" => Ok(StopMode::Reset),
            _ => Err(AppError::UnknownStopMode {
                value: s.to_string(),
            }),
        }
    }
}

/// A running serving application. Dropping it stops it like
/// [`StopMode::Close`] without waiting; [`ServerHandle::shutdown`] waits.
pub struct ServerHandle {
    server: Arc<Server>,
    addrs: Vec<SocketAddr>,
    /// Accept loops and connections.
    tasks: Tracker,
    stop: watch::Sender<Option<StopMode>>,
    /// Stops the downstream calls' client (pool connections).
    client_stop: watch::Sender<bool>,
}

/// Starts serving `config` on `stack` (the pod's stack): binds every port,
/// then accepts on each in its own task.
///
/// # Errors
/// Before any socket: [`AppError::NoPorts`], [`AppError::DuplicatePort`],
/// [`AppError::InvalidRoutePrefix`], [`AppError::InvalidStatus`],
/// [`AppError::ZeroCapacity`], a call's [`AppError::InvalidUrl`] /
/// [`AppError::UnsupportedScheme`] / [`AppError::NoDnsServers`]. Then
/// [`AppError::Listen`] when a port cannot be bound (nothing is left bound).
pub async fn serve(
    config: ServeConfig,
    stack: Stack,
    mut deps: ServeDeps,
) -> Result<ServerHandle, AppError> {
    let plan = ServePlan::new(&config)?;
    let listeners = bind(&stack, &plan.ports, config.bind).await?;
    let (client_stop, client_stop_rx) = watch::channel(false);
    let names_rng = SimRng::new(deps.rng.next_u64());
    let names = dns_resolver(&config.profile, &config.dns_servers, &stack, names_rng);
    let client = Arc::new(Shared {
        profile: config.profile,
        calls: plan.calls.clone(),
        stack,
        names,
        proxy_log: deps.proxy_log,
        start: deps.start,
        pool: Mutex::new(Pool::default()),
        conn_tasks: Tracker::new(),
        stop: client_stop_rx,
        counters: Counters::default(),
        sink: deps.sink.0,
    });
    let jitter_rng = SimRng::new(deps.rng.next_u64());
    let server = Server::new(plan, config.idle_timeout, client, deps.ids, jitter_rng);
    let server = Arc::new(server);
    let (stop, stop_rx) = watch::channel(None);
    let tasks = Tracker::new();
    let addrs = listeners.iter().map(NetListener::local_addr).collect();
    for l in listeners {
        let accept = conn::accept_loop(l, server.clone(), tasks.clone(), stop_rx.clone());
        tasks.spawn(accept);
    }
    Ok(ServerHandle {
        server,
        addrs,
        tasks,
        stop,
        client_stop,
    })
}

/// Binds every port, or none.
async fn bind(
    stack: &Stack,
    ports: &[u16],
    how: meshsim_net::Bind,
) -> Result<Vec<NetListener>, AppError> {
    let mut listeners = Vec::with_capacity(ports.len());
    for &port in ports {
        let l = stack
            .listen_bound(port, how)
            .await
            .map_err(|e| AppError::Listen {
                port,
                kind: e.kind(),
            })?;
        listeners.push(l);
    }
    Ok(listeners)
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The bound addresses, in `ports` order (ephemeral ports resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Changes the behaviour of the route whose prefix is `route_prefix`
    /// (`None`: every route) until [`ServerHandle::clear_override`]. A route's
    /// own override wins over the every-route one, field by field. Requests
    /// already in service keep the behaviour they started with; a capacity
    /// change applies at once to the queue.
    ///
    /// # Errors
    /// [`AppError::UnknownRoute`] when no route has that prefix;
    /// [`AppError::InvalidStatus`] / [`AppError::ZeroCapacity`] for bad values.
    pub fn set_override(
        &self,
        route_prefix: Option<&str>,
        o: BehaviourOverride,
    ) -> Result<(), AppError> {
        let route = self.route(route_prefix)?;
        check_override(route_prefix.unwrap_or("*"), &o)?;
        self.server.set_override(route, o);
        Ok(())
    }

    /// Ends the override set for `route_prefix` (`None`: the every-route one).
    ///
    /// # Errors
    /// [`AppError::UnknownRoute`] when no route has that prefix.
    pub fn clear_override(&self, route_prefix: Option<&str>) -> Result<(), AppError> {
        let route = self.route(route_prefix)?;
        self.server.clear_override(route);
        Ok(())
    }

    fn route(&self, prefix: Option<&str>) -> Result<Option<usize>, AppError> {
        prefix.map(|p| self.server.plan.route_named(p)).transpose()
    }

    /// What the application has done so far.
    pub fn stats(&self) -> ServeStats {
        self.server.stats()
    }

    /// [`ServerHandle::stop`] with [`StopMode::Close`].
    pub async fn shutdown(self) -> ServeStats {
        self.stop(StopMode::Close).await
    }

    /// Stops serving: listeners close, every connection is closed or reset as
    /// `how` says (in-service requests included: their downstream calls are
    /// dropped and leave no record), then the downstream client's pooled
    /// connections close. Returns the final counters once every task and
    /// socket of the application is gone.
    pub async fn stop(self, how: StopMode) -> ServeStats {
        self.stop.send_replace(Some(how));
        self.tasks.idle().await;
        self.client_stop.send_replace(true);
        let client = &self.server.client;
        client
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        client.conn_tasks.idle().await;
        self.server.stats()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        // Idempotent after `stop`: the first mode sent stays.
        self.stop.send_if_modified(|s| {
            let unset = s.is_none();
            s.get_or_insert(StopMode::Close);
            unset
        });
        self.client_stop.send_replace(true);
    }
}
