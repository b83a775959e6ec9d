//! The application model: the app container of a pod (or a non-mesh client)
//! calling HTTP/1.1 services the way a real client library does, under
//! open-loop load, with one [`meshsim_core::RequestRecord`] per request; and
//! the same container as a *server* of a mesh service, answering its routes
//! and calling further services while it serves (chains, fan-outs).
//!
//! What decides most incidents is *when the client dials*: it resolves a name
//! only for a new connection, and a kept-alive connection stays pinned to the
//! IP it was dialled to whatever DNS says later. [`ClientProfile`]s copy the
//! pool and DNS-cache defaults of real runtimes (Go, JVM, python-requests).
//! Requests start at their scheduled time whatever happens to earlier ones,
//! and latency is measured from that time (no coordinated omission). A
//! serving app's downstream calls go through the same client machinery, and
//! a pod's load and its routes draw `x-request-id`s from one [`RequestIds`].
//!
//! Module map:
//! - [`profile`]: [`ClientProfile`] and the named profiles;
//! - [`proxy`]: [`serve_proxy()`], the pod's forward HTTP proxy (`curl -x`)
//!   dialling through the pod's captured stack, and its [`ProxyHandle`];
//! - [`target`]: [`parse_url`] and [`Target`];
//! - [`schedule`]: [`Arrival`] and the merged open-loop schedule;
//! - [`config`]: [`AppConfig`], [`CallSpec`], [`AppDeps`];
//! - [`drive`](mod@drive): [`drive()`] / [`drive_with()`], the load loop, and [`DriveStats`];
//! - [`serve`](mod@serve): [`serve()`], [`ServeConfig`] / [`RouteSpec`], the
//!   [`ServerHandle`] (overrides, stats, stop), capacity queues, downstream calls;
//! - [`init`](mod@init): [`run_once()`], an init container's calls, and [`InitFailure`];
//! - [`lifecycle`]: [`drive_lifecycle()`] under kubelet's control: [`Lifecycle`]
//!   (late start, on-done hook) and [`AppControl`] (SIGTERM, SIGKILL);
//! - `ids`: [`RequestIds`] (a pod's `x-request-id` source) and [`RecordSink`];
//! - `request`: one request, `checkout_or_dial -> send -> read body -> give back -> record`;
//! - `pool`: idle connections per (host, port), pinned to their dialled IP;
//! - [`classify`](mod@classify): transport errors to [`meshsim_core::ErrorKind`] by walking causes;
//! - `resolve`: name resolution through `meshsim_dns` with the profile's cache;
//! - [`retry`]: [`AppRetry`], the application's own retry of connect failures;
//! - `tasks`: counted tasks and the stop signal, so a run leaves nothing behind.
//!
//! ```
//! use std::time::Duration;
//! use meshsim_app::{parse_url, serve, ClientProfile, RecordSink, RequestIds, RouteSpec, ServeConfig, ServeDeps};
//! use meshsim_core::{ProxyLog, SimRng};
//! use meshsim_net::{Net, SimConfig};
//!
//! let target = parse_url("http://api.partner.example:8080/charge").unwrap();
//! assert_eq!((target.host.as_str(), target.port), ("api.partner.example", 8080));
//! assert!(parse_url("https://api.partner.example/").is_err());
//!
//! let python = ClientProfile::named("python-requests").unwrap();
//! assert_eq!(python.idle_timeout, None); // a server-closed connection stays pooled
//! assert_eq!(ClientProfile::names().len(), 4);
//!
//! // Service B's pod: one route answering 503 after 100 ms.
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
//! rt.block_on(async {
//!     let net = Net::sim(SimConfig::default());
//!     let route = RouteSpec { status: 503, latency: Duration::from_millis(100), ..RouteSpec::default() };
//!     let config = ServeConfig { ports: vec![8080], routes: vec![route], ..ServeConfig::default() };
//!     let deps = ServeDeps {
//!         rng: SimRng::new(7),
//!         proxy_log: ProxyLog::new(),
//!         ids: RequestIds::new(),
//!         start: meshsim_net::clock::Instant::now(),
//!         sink: RecordSink::new(|_| {}),
//!     };
//!     let b = serve(config, net.stack("10.0.0.2".parse().unwrap()), deps).await.unwrap();
//!     assert_eq!(b.local_addrs(), ["10.0.0.2:8080".parse().unwrap()]);
//!     let stats = b.shutdown().await;
//!     assert_eq!(stats.served, 0);
//! });
//! ```

pub mod classify;
pub mod config;
pub mod drive;
mod ids;
pub mod init;
pub mod lifecycle;
mod pool;
pub mod profile;
pub mod proxy;
mod request;
mod resolve;
pub mod retry;
pub mod schedule;
pub mod serve;
pub mod target;
mod tasks;

#[cfg(test)]
mod tests;

pub use classify::{Stage, classify};
pub use config::{AppConfig, AppDeps, CallSpec};
pub use drive::{DriveStats, drive, drive_with};
pub use ids::{RecordSink, RequestIds};
pub use init::{InitFailure, run_once};
pub use lifecycle::{AppControl, Lifecycle, drive_lifecycle};
pub use profile::{CheckoutOrder, ClientProfile, IdleOverflow};
pub use proxy::{ProxyConfig, ProxyHandle, ProxyStats, serve_proxy};
pub use retry::{AppRetry, RetryOn};
pub use schedule::Arrival;
pub use serve::{
    BehaviourOverride, CallMode, Capacity, DownstreamCall, OnError, RouteSpec, ServeConfig,
    ServeDeps, ServeStats, ServerHandle, StopMode, serve,
};
pub use target::{CallKind, Target, parse_call_url, parse_url};

/// Why the application could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A call's URL is not `http://host[:port]/path`.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A call's URL has a scheme other than `http`.
    #[error("unsupported scheme {scheme:?} in url {url:?}: only http is modelled")]
    UnsupportedScheme {
        /// The URL as written.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// A call names a host but the application has no DNS server.
    #[error("call to {host} needs dns but no dns server is configured")]
    NoDnsServers {
        /// The host name.
        host: String,
    },
    /// A serving application lists no port.
    #[error("a serving application needs at least one port")]
    NoPorts,
    /// A serving application lists a port twice.
    #[error("port {port} is listed twice")]
    DuplicatePort {
        /// The port.
        port: u16,
    },
    /// A route prefix does not start with `/`.
    #[error("route prefix {prefix:?} must start with '/'")]
    InvalidRoutePrefix {
        /// The prefix as written.
        prefix: String,
    },
    /// A route (or an override) answers a status outside 200..=599.
    #[error("route {route}: status {status} is not a final status in 200..=599")]
    InvalidStatus {
        /// The route's prefix (`*` for an every-route override).
        route: String,
        /// The status.
        status: u16,
    },
    /// A route (or an override) has a capacity of 0: it could serve nothing.
    #[error("route {route}: capacity must be at least 1")]
    ZeroCapacity {
        /// The route's prefix (`*` for an every-route override).
        route: String,
    },
    /// An override names a route prefix the application does not have.
    #[error("no route has prefix {prefix:?}")]
    UnknownRoute {
        /// The prefix asked for.
        prefix: String,
    },
    /// A serving port could not be bound.
    #[error("cannot listen on port {port}: {kind}")]
    Listen {
        /// The port.
        port: u16,
        /// Why (`AddrInUse`...).
        kind: std::io::ErrorKind,
    },
    /// An app-side retry whose back-off cap is below its first wait.
    #[error("retry max_backoff {max_backoff:?} is below its first backoff {backoff:?}")]
    InvalidRetryBackoff {
        /// The first wait.
        backoff: std::time::Duration,
        /// The cap.
        max_backoff: std::time::Duration,
    },
    /// A stop mode other than `close` or `reset`.
    #[error("unknown stop mode {value:?}: expected close or reset")]
    UnknownStopMode {
        /// The text.
        value: String,
    },
}
