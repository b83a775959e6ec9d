//! The pod's forward HTTP proxy: how real clients (`curl -x`, anything
//! honouring `HTTP_PROXY`) join a pod of a running world through its sidecar.
//!
//! The proxy runs *inside the pod's application container*: it gets the pod's
//! captured [`Stack`], exactly what the built-in application gets, and does
//! for each proxied request what an application would have done. For
//! `GET http://name:port/path HTTP/1.1` (absolute form, RFC 9112 §3.2.2) it
//! resolves `name` through the pod's DNS servers (first address; an IP
//! literal is used as is), dials `ip:port` through the captured stack (so the
//! connect reaches the sidecar's 15001 with the original destination, carried
//! by a PROXY v2 header in real mode), sends the request in origin form with
//! `Host` set to the URI's authority and the hop-by-hop headers removed
//! (RFC 9110 §7.6.1), and relays the answer back: status, headers (the
//! sidecar's `server: envoy`, `x-envoy-*`) and body bytes, both bodies
//! streamed. `CONNECT host:port` (RFC 9110 §9.3.6) dials the same way,
//! answers `200`, then splices bytes both ways, half-close included. The
//! sidecar is not changed: it sees ordinary captured traffic.
//!
//! Errors the proxy meets itself (no such name, nothing listening on 15001, a
//! connect timeout, an upstream connection lost before its response) answer
//! `502` with a one-line text body naming the cause and `x-meshsim-proxy:
//! error`, so they are never mistaken for the sidecar's local replies; a
//! request that is not in absolute form gets `400`, bytes that are not HTTP
//! get hyper's `400`. One connection's failure never stops the accept loop.
//!
//! Why upstream connections are kept *per client connection*, keyed by
//! (host, port) as the built-in client's pool is: the sidecar then sees the
//! connections the client made, one for one per destination. A client that
//! keeps its proxy connection keeps its upstream connection, pinned to the
//! address it was dialled to whatever DNS says later (the same pinning as a
//! pooled application, which is the incident most scenarios reproduce); a
//! client that closes its proxy connection closes its upstream connections,
//! as an application process exiting would. It also bounds every socket to a
//! task that the client's connection owns, and needs no lock shared between
//! clients. Requests on one client connection are served one after the other
//! (HTTP/1.1), so one upstream connection per destination is enough.
//!
//! Module map:
//! - `conn`: the accept loop and one client connection (hyper's server);
//! - `forward`: one absolute-form request: target, header rewrite, send;
//! - `upstream`: dialling (resolve through the pod's DNS, connect through the
//!   captured stack) and the per-connection upstream connections;
//! - `tunnel`: `CONNECT` and the byte splice;
//! - `reply`: the proxy's own `400` / `502` answers.

mod conn;
mod forward;
mod reply;
mod tunnel;
mod upstream;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use meshsim_core::SimRng;
use meshsim_net::{NetListener, Stack};
use tokio::sync::watch;

use crate::profile::ClientProfile;
use crate::resolve::{Resolve, dns_resolver};
use crate::tasks::Tracker;

/// How the pod's forward proxy behaves as a client of its sidecar.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The resolvers of the pod's `resolv.conf` (the scenario's DNS server).
    /// Default: none, so only IP literals can be proxied; a host name then
    /// gets `502`.
    pub dns_servers: Vec<SocketAddr>,
    /// The client library the proxy behaves as, for its upstream side: its
    /// `connect_timeout` bounds every dial, its `dns_cache` is the resolver's
    /// cache policy, and `keep_alive`, `idle_timeout` and
    /// `max_connection_age` decide whether an upstream connection is reused.
    /// Default: `go` (`net/http`'s `DefaultTransport`: 30 s connect timeout,
    /// no DNS cache, 90 s idle timeout).
    pub profile: ClientProfile,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            dns_servers: Vec::new(),
            profile: ClientProfile::go(),
        }
    }
}

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub connections: u64,
    /// Absolute-form requests whose answer came from upstream (the sidecar,
    /// whatever it answered).
    pub forwarded: u64,
    /// `CONNECT` tunnels established.
    pub tunnels: u64,
    /// Upstream connections dialled (through the captured stack).
    pub upstream_connections: u64,
    /// The proxy's own `502`s (resolve, connect or upstream failures).
    pub bad_gateway: u64,
    /// The proxy's own `400`s (a request not in absolute form).
    pub bad_request: u64,
}

/// The proxy's counters, shared by its tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    forwarded: AtomicU64,
    tunnels: AtomicU64,
    upstream_connections: AtomicU64,
    bad_gateway: AtomicU64,
    bad_request: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyStats {
            connections: get(&self.connections),
            forwarded: get(&self.forwarded),
            tunnels: get(&self.tunnels),
            upstream_connections: get(&self.upstream_connections),
            bad_gateway: get(&self.bad_gateway),
            bad_request: get(&self.bad_request),
        }
    }
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What every task of one proxy shares.
pub(crate) struct Proxy {
    pub(crate) profile: ClientProfile,
    /// The pod's captured stack: every dial goes through it.
    pub(crate) stack: Stack,
    /// `None` without DNS servers.
    pub(crate) names: Option<Arc<dyn Resolve>>,
    pub(crate) counters: Counters,
    /// Client connections, tunnels and upstream connection drivers.
    pub(crate) tasks: Tracker,
    /// Raised once by [`ProxyHandle::shutdown`] or its drop.
    pub(crate) stop: watch::Receiver<bool>,
}

/// A running proxy. Dropping it stops every task without waiting;
/// [`ProxyHandle::shutdown`] waits until they are gone.
pub struct ProxyHandle {
    proxy: Arc<Proxy>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts the pod's forward proxy: accepts on `listener` (bound by the
/// caller, on the pod's stack or any other) and dials through `stack` (the
/// pod's captured stack, so every upstream connection goes through the
/// pod's sidecar). `rng` seeds the DNS query ids (draw it from the run's
/// seeded RNG).
pub fn serve_proxy(
    listener: NetListener,
    stack: Stack,
    config: ProxyConfig,
    rng: SimRng,
) -> ProxyHandle {
    let names = (!config.dns_servers.is_empty())
        .then(|| dns_resolver(&config.profile, &config.dns_servers, &stack, rng));
    let (stop, stop_rx) = watch::channel(false);
    let proxy = Arc::new(Proxy {
        profile: config.profile,
        stack,
        names,
        counters: Counters::default(),
        tasks: Tracker::new(),
        stop: stop_rx,
    });
    let addr = listener.local_addr();
    proxy
        .tasks
        .spawn(conn::accept_loop(listener, proxy.clone()));
    ProxyHandle { proxy, addr, stop }
}

impl ProxyHandle {
    /// The listener's address (a scenario address; in real mode
    /// [`meshsim_net::Net::real_addr`] gives the loopback address clients
    /// connect to).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> ProxyStats {
        self.proxy.counters.snapshot()
    }

    /// Stops the proxy: the listener closes, every client connection,
    /// tunnel and upstream connection is closed. Returns the final counters
    /// once every task and socket of the proxy is gone.
    pub async fn shutdown(self) -> ProxyStats {
        self.stop.send_replace(true);
        self.proxy.tasks.idle().await;
        self.proxy.counters.snapshot()
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
