//! The client's connection pool, keyed by (host name, port).
//!
//! A connection remembers the IP it was dialled to and keeps using it for as
//! long as it lives, whatever DNS says later: this is the incident of a load
//! balancer rotating its IPs under pooled keep-alive connections. Checkout
//! takes the most recently returned idle connection (LIFO, as Go and urllib3
//! do) that is still usable, and closes the unusable ones it meets. Idle
//! connections are closed lazily, at checkout or return, not by a timer.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1::SendRequest;
use meshsim_net::clock::Instant;
use tokio::task::AbortHandle;

use crate::profile::{CheckoutOrder, ClientProfile, IdleOverflow};

/// The pool key: host name (or IP literal) and port, as in the URL.
pub(crate) type PoolKey = (String, u16);

/// One HTTP/1.1 connection of the client.
///
/// Dropping it closes the socket at once (the connection task is aborted), the
/// way a client closes a connection it discards.
#[derive(Debug)]
pub(crate) struct PooledConn {
    pub(crate) sender: SendRequest<Empty<Bytes>>,
    /// The address it was dialled to (the original destination when a sidecar
    /// captures it).
    pub(crate) addr: SocketAddr,
    pub(crate) opened_at: Instant,
    /// The task driving the connection.
    pub(crate) task: AbortHandle,
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Idle {
    conn: PooledConn,
    since: Instant,
}

/// Why a pooled connection may or may not be reused: a pure decision.
pub(crate) fn reusable(
    profile: &ClientProfile,
    now: Instant,
    opened_at: Instant,
    idle_since: Instant,
    closed: bool,
) -> bool {
    let too_old = profile
        .max_connection_age
        .is_some_and(|max| now - opened_at >= max);
    let idle_too_long = profile
        .idle_timeout
        .is_some_and(|max| now - idle_since > max);
    let seen_closed = closed && profile.notices_server_close();
    !(too_old || idle_too_long || seen_closed)
}

/// Closes (drops) the idle connections that may no longer be reused.
fn prune(list: &mut Vec<Idle>, profile: &ClientProfile, now: Instant) {
    list.retain(|i| {
        let closed = i.conn.sender.is_closed();
        reusable(profile, now, i.conn.opened_at, i.since, closed)
    });
}

/// Idle connections per key.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: BTreeMap<PoolKey, Vec<Idle>>,
}

impl Pool {
    /// A usable idle connection for `key`, in the profile's checkout order
    /// (most recently returned, or oldest first); unusable ones met on the way
    /// are closed.
    pub(crate) fn checkout(
        &mut self,
        key: &PoolKey,
        profile: &ClientProfile,
        now: Instant,
    ) -> Option<PooledConn> {
        let list = self.idle.get_mut(key)?;
        // Unusable connections are closed whatever the order.
        prune(list, profile, now);
        // `list` is in return order: the back was returned last, the front has
        // been idle longest.
        let pick = match profile.checkout_order {
            CheckoutOrder::MostRecentlyReturned => list.len().checked_sub(1),
            CheckoutOrder::OldestFirst => (0..list.len()).min_by_key(|&i| list[i].conn.opened_at),
        };
        let found = pick.map(|i| list.remove(i).conn);
        if list.is_empty() {
            self.idle.remove(key);
        }
        found
    }

    /// Puts `conn` back after a complete exchange, unless it is too old, the
    /// key's idle list is full, or hyper already closed it. Returns whether it
    /// was kept.
    pub(crate) fn give_back(
        &mut self,
        key: PoolKey,
        conn: PooledConn,
        profile: &ClientProfile,
        now: Instant,
    ) -> bool {
        let too_old = profile
            .max_connection_age
            .is_some_and(|max| now - conn.opened_at >= max);
        let list = self.idle.entry(key.clone()).or_default();
        prune(list, profile, now);
        let mut keep = !too_old && !conn.sender.is_closed() && profile.max_idle_per_host > 0;
        if keep && list.len() >= profile.max_idle_per_host {
            match profile.idle_overflow {
                IdleOverflow::CloseReturned => keep = false,
                // The list is in return order: the front has been idle longest.
                IdleOverflow::EvictLongestIdle => drop(list.remove(0)),
            }
        }
        if keep {
            list.push(Idle { conn, since: now });
        }
        if list.is_empty() {
            self.idle.remove(&key);
        }
        keep
    }

    /// Idle connections for `key`.
    #[cfg(test)]
    pub(crate) fn idle_count(&self, key: &PoolKey) -> usize {
        self.idle.get(key).map_or(0, Vec::len)
    }

    /// Closes every idle connection.
    pub(crate) fn clear(&mut self) {
        self.idle.clear();
    }
}

#[cfg(test)]
mod tests;
