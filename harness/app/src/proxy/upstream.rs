//! The proxy's upstream side: dialling as the application would (resolve
//! through the pod's DNS, connect through the captured stack), and the
//! upstream connections of one client connection, keyed by (host, port) as
//! the built-in client's pool is and reused under the same rules
//! ([`crate::pool::reusable`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use meshsim_net::NetStream;
use meshsim_net::clock::Instant;

use crate::classify::{Stage, classify};
use crate::pool::{PoolKey, reusable};
use crate::profile::ClientProfile;
use crate::proxy::reply::Failure;
use crate::proxy::{Proxy, bump};
use crate::tasks::stopped;

/// The address literal in a URI host, brackets of an IPv6 literal removed.
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Resolves `host` (unless it is an IP literal) through the pod's DNS, first
/// address, and connects to it on `port` through the captured stack, within
/// the profile's connect timeout.
pub(crate) async fn dial(
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<(NetStream, SocketAddr), Failure> {
    let ip = match ip_literal(host) {
        Some(ip) => ip,
        None => resolve(proxy, host).await?,
    };
    let addr = SocketAddr::new(ip, port);
    let timeout = proxy.profile.connect_timeout;
    let stream = proxy
        .stack
        .connect(addr, timeout)
        .await
        .map_err(|e| Failure::Connect {
            addr,
            kind: classify(Stage::Connect, &e),
            timeout,
        })?;
    bump(&proxy.counters.upstream_connections);
    Ok((stream, addr))
}

/// The first address of `host` from the pod's DNS, through the profile's
/// cache policy.
async fn resolve(proxy: &Proxy, host: &str) -> Result<IpAddr, Failure> {
    let names = proxy.names.as_ref().ok_or_else(|| Failure::NoDnsServer {
        host: host.to_string(),
    })?;
    let answer = names.resolve(host).await.map_err(|failure| Failure::Dns {
        host: host.to_string(),
        failure,
    })?;
    Ok(answer.addr)
}

/// One HTTP/1.1 connection to the sidecar (through the capture). Dropping an
/// idle one closes it: hyper's connection task ends when its sender is gone.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) sender: SendRequest<Incoming>,
    /// The address dialled (the original destination the sidecar sees).
    pub(crate) addr: SocketAddr,
    opened_at: Instant,
    idle_since: Instant,
}

/// Dials `key` and starts hyper's client on the connection, driven by a task
/// of the proxy that ends with the connection or at the proxy's stop.
pub(crate) async fn open(proxy: &Proxy, key: &PoolKey) -> Result<Upstream, Failure> {
    let (stream, addr) = dial(proxy, &key.0, key.1).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Upstream {
            addr,
            kind: classify(Stage::Exchange, &e),
        })?;
    let mut stop = proxy.stop.clone();
    proxy.tasks.spawn(async move {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => {}
            _ = connection => {}
        }
    });
    let now = Instant::now();
    Ok(Upstream {
        sender,
        addr,
        opened_at: now,
        idle_since: now,
    })
}

/// The idle upstream connections of one client connection: at most one per
/// (host, port), since the client's requests are served one at a time.
#[derive(Debug, Default)]
pub(crate) struct Upstreams {
    // A short std critical section, never held across an await.
    idle: Mutex<BTreeMap<PoolKey, Upstream>>,
}

impl Upstreams {
    /// The idle connection to `key`, if it may still be reused (else it is
    /// closed).
    pub(crate) fn checkout(&self, key: &PoolKey, profile: &ClientProfile) -> Option<Upstream> {
        let found = self.lock().remove(key)?;
        let closed = found.sender.is_closed();
        reusable(
            profile,
            Instant::now(),
            found.opened_at,
            found.idle_since,
            closed,
        )
        .then_some(found)
    }

    /// Keeps `up` for the next request to `key`, once its response head has
    /// arrived (hyper holds the next request until the body is read).
    pub(crate) fn give_back(&self, key: PoolKey, mut up: Upstream) {
        up.idle_since = Instant::now();
        self.lock().insert(key, up);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<PoolKey, Upstream>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_used_as_they_are_and_names_are_not() {
        assert_eq!(ip_literal("10.0.0.9"), Some("10.0.0.9".parse().unwrap()));
        assert_eq!(ip_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("api.partner.example"), None);
    }
}
