//! Route selection: `Host`, path and headers to a route, as Envoy's route
//! table does it.
//!
//! Virtual hosts are looked up among those of the listener port (the
//! destination port the application dialled). Domain matching follows Envoy's
//! order: an exact domain wins over a `*.` suffix wildcard (longest suffix
//! first), which wins over `*`. Within a virtual host the first route whose
//! match ([`route_matches`]: path specifier and header matchers) accepts the
//! request wins; none is a 404 `NR`. Hosts compare case-insensitively, and the
//! port in `Host` is ignored unless a domain spells it.
//!
//! - `matcher`: Envoy's per-route `RouteMatch` (pure);
//! - `weighted`: Envoy's `weighted_clusters` choice (pure).

mod index;
mod matcher;
mod weighted;

pub use index::VirtualHostIndex;
pub use matcher::{
    HeaderMatch, HeaderMatcher, PathMatch, RequestView, RouteMatcher, SafeRegex, header_matches,
    path_matches, route_matches,
};
pub use weighted::{ClusterWeight, pick_weighted};

use crate::config::{OutboundTrafficPolicy, Route, SidecarConfig, VirtualHost};
use crate::error::SidecarError;

/// What the route table decided for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RouteMatch<'a> {
    /// A configured route.
    Route {
        /// The virtual host that matched.
        virtual_host: &'a VirtualHost,
        /// The route that matched.
        route: &'a Route,
    },
    /// A virtual host matched but none of its routes: 404 `NR`.
    NoRoute,
    /// No virtual host matched under `ALLOW_ANY`: Istio's `allow_any` catch-all
    /// to `PassthroughCluster` (no retry policy, no timeout).
    Passthrough,
    /// No virtual host matched under `REGISTRY_ONLY`: Istio's `block_all`
    /// direct response (502, empty body).
    BlockAll,
}

/// Selects the route for a request to listener `port` with `Host` header
/// `host` (may carry a port) and path `path`, as a request with no method and
/// no headers (routes that match on them do not match). The router uses
/// [`select_request`].
pub fn select<'a>(config: &'a SidecarConfig, port: u16, host: &str, path: &str) -> RouteMatch<'a> {
    let headers = http::HeaderMap::new();
    let req = RequestView {
        method: "",
        authority: host,
        path,
        headers: &headers,
    };
    select_request(config, port, &req)
}

/// Selects the route for `req` arriving on listener `port` (the reference
/// path: the virtual host by a scan of the configuration).
pub fn select_request<'a>(
    config: &'a SidecarConfig,
    port: u16,
    req: &RequestView<'_>,
) -> RouteMatch<'a> {
    let vh = select_virtual_host(&config.virtual_hosts, port, req.authority);
    route_in(config, vh, req)
}

/// [`select_request`] with the virtual host looked up in `index`, which must
/// have been built from `config.virtual_hosts` (the router's path).
pub fn select_indexed<'a>(
    config: &'a SidecarConfig,
    index: &VirtualHostIndex,
    port: u16,
    req: &RequestView<'_>,
) -> RouteMatch<'a> {
    let vh = index
        .select(port, req.authority)
        .and_then(|i| config.virtual_hosts.get(i));
    route_in(config, vh, req)
}

/// The route of `vh` that matches `req`, or what Istio does without a
/// virtual host.
fn route_in<'a>(
    config: &'a SidecarConfig,
    vh: Option<&'a VirtualHost>,
    req: &RequestView<'_>,
) -> RouteMatch<'a> {
    let Some(vh) = vh else {
        return match config.outbound_traffic_policy {
            OutboundTrafficPolicy::AllowAny => RouteMatch::Passthrough,
            OutboundTrafficPolicy::RegistryOnly => RouteMatch::BlockAll,
        };
    };
    match vh.routes.iter().find(|r| route_matches(r, req)) {
        Some(route) => RouteMatch::Route {
            virtual_host: vh,
            route,
        },
        None => RouteMatch::NoRoute,
    }
}

/// The virtual host of listener `port` that best matches `host`.
pub fn select_virtual_host<'a>(
    vhosts: &'a [VirtualHost],
    port: u16,
    host: &str,
) -> Option<&'a VirtualHost> {
    let host = host.to_ascii_lowercase();
    let bare = strip_port(&host);
    vhosts
        .iter()
        .filter(|vh| vh.port == port)
        .filter_map(|vh| best_domain_score(vh, &host, bare).map(|score| (score, vh)))
        // max_by_key keeps the last maximum; reverse so the first listed wins ties.
        .rev()
        .max_by_key(|(score, _)| *score)
        .map(|(_, vh)| vh)
}

/// How well `domain` matches: exact beats suffix wildcard (longer first) beats `*`.
fn best_domain_score(vh: &VirtualHost, host: &str, bare: &str) -> Option<usize> {
    vh.domains
        .iter()
        .filter_map(|d| domain_score(&d.to_ascii_lowercase(), host, bare))
        .max()
}

fn domain_score(domain: &str, host: &str, bare: &str) -> Option<usize> {
    const EXACT: usize = usize::MAX;
    if domain == host || domain == bare {
        return Some(EXACT);
    }
    if domain == "*" {
        return Some(0);
    }
    let suffix = domain.strip_prefix('*')?;
    // `*.example.com` needs at least one character before the suffix.
    let matches = |h: &str| h.len() > suffix.len() && h.ends_with(suffix);
    (matches(host) || matches(bare)).then_some(suffix.len())
}

/// The cluster a request on `route` goes to: `cluster`, or for weighted
/// clusters the one `random` picks.
pub fn route_cluster(route: &Route, random: u64) -> &str {
    pick_weighted(&route.weighted_clusters, random).unwrap_or(&route.cluster)
}

/// What Envoy rejects in one route: weighted cluster weights summing to 0, a
/// fault abort status outside 200..=599.
///
/// # Errors
/// The first problem found.
pub fn validate_route(route: &Route) -> Result<(), SidecarError> {
    let total: u64 = route
        .weighted_clusters
        .iter()
        .map(|c| u64::from(c.weight))
        .sum();
    if !route.weighted_clusters.is_empty() && total == 0 {
        return Err(SidecarError::ZeroTotalWeight {
            route: route.name.clone(),
        });
    }
    let abort = route.fault.as_ref().and_then(|f| f.abort.as_ref());
    if let Some(a) = abort.filter(|a| !(200..=599).contains(&a.http_status)) {
        return Err(SidecarError::InvalidFaultStatus {
            route: route.name.clone(),
            status: a.http_status,
        });
    }
    Ok(())
}

/// `host` without a trailing `:port` (IPv6 literals keep their brackets).
pub fn strip_port(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        return &host[..end + 2];
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests;
