//! Route selection: `Host` and path to a route, as Envoy's route table does it.
//!
//! Virtual hosts are looked up among those of the listener port (the
//! destination port the application dialled). Domain matching follows Envoy's
//! order: an exact domain wins over a `*.` suffix wildcard (longest suffix
//! first), which wins over `*`. Within a virtual host the first route whose
//! path prefix matches wins. Hosts compare case-insensitively, and the port in
//! `Host` is ignored unless a domain spells it.

use crate::config::{OutboundTrafficPolicy, Route, SidecarConfig, VirtualHost};

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
/// `host` (may carry a port) and path `path`.
pub fn select<'a>(config: &'a SidecarConfig, port: u16, host: &str, path: &str) -> RouteMatch<'a> {
    let Some(vh) = select_virtual_host(&config.virtual_hosts, port, host) else {
        return match config.outbound_traffic_policy {
            OutboundTrafficPolicy::AllowAny => RouteMatch::Passthrough,
            OutboundTrafficPolicy::RegistryOnly => RouteMatch::BlockAll,
        };
    };
    match vh
        .routes
        .iter()
        .find(|r| path.starts_with(r.prefix.as_str()))
    {
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(name: &str, prefix: &str) -> Route {
        Route {
            name: name.into(),
            prefix: prefix.into(),
            cluster: format!("c-{name}"),
            timeout: None,
            retry_policy: None,
        }
    }

    fn vh(name: &str, port: u16, domains: &[&str], routes: Vec<Route>) -> VirtualHost {
        VirtualHost {
            name: name.into(),
            port,
            domains: domains.iter().map(|d| d.to_string()).collect(),
            routes,
        }
    }

    fn config(vhosts: Vec<VirtualHost>) -> SidecarConfig {
        SidecarConfig {
            virtual_hosts: vhosts,
            ..SidecarConfig::default()
        }
    }

    #[test]
    fn host_port_is_stripped_before_matching() {
        let c = config(vec![vh("a", 80, &["api.example"], vec![route("r", "/")])]);
        assert!(matches!(
            select(&c, 80, "API.example:80", "/x"),
            RouteMatch::Route { .. }
        ));
    }

    #[test]
    fn virtual_hosts_only_match_their_own_listener_port() {
        let c = config(vec![vh("a", 8080, &["api.example"], vec![route("r", "/")])]);
        assert_eq!(select(&c, 80, "api.example", "/"), RouteMatch::Passthrough);
    }

    #[test]
    fn exact_domain_beats_wildcards_and_longer_suffix_beats_shorter() {
        let c = config(vec![
            vh("star", 80, &["*"], vec![route("star", "/")]),
            vh("short", 80, &["*.example"], vec![route("short", "/")]),
            vh("long", 80, &["*.api.example"], vec![route("long", "/")]),
            vh("exact", 80, &["v1.api.example"], vec![route("exact", "/")]),
        ]);
        let name = |h: &str| match select(&c, 80, h, "/") {
            RouteMatch::Route { virtual_host, .. } => virtual_host.name.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name("v1.api.example"), "exact");
        assert_eq!(name("v2.api.example"), "long");
        assert_eq!(name("www.example"), "short");
        assert_eq!(name("other.test"), "star");
    }

    #[test]
    fn wildcard_needs_a_label_before_the_suffix() {
        let c = config(vec![vh("w", 80, &["*.example"], vec![route("r", "/")])]);
        assert_eq!(select(&c, 80, "example", "/"), RouteMatch::Passthrough);
    }

    #[test]
    fn first_matching_prefix_wins_and_no_prefix_is_404() {
        let c = config(vec![vh(
            "a",
            80,
            &["api"],
            vec![route("v1", "/v1"), route("v", "/v"), route("all", "/x")],
        )]);
        let route_name = |p: &str| match select(&c, 80, "api", p) {
            RouteMatch::Route { route, .. } => route.name.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(route_name("/v1/a"), "v1");
        assert_eq!(route_name("/v2"), "v");
        assert_eq!(route_name("/zzz"), "NoRoute");
    }

    #[test]
    fn unknown_host_goes_to_passthrough_under_allow_any_and_block_all_under_registry_only() {
        let mut c = config(vec![]);
        assert_eq!(select(&c, 80, "unknown", "/"), RouteMatch::Passthrough);
        c.outbound_traffic_policy = OutboundTrafficPolicy::RegistryOnly;
        assert_eq!(select(&c, 80, "unknown", "/"), RouteMatch::BlockAll);
    }

    #[test]
    fn strip_port_keeps_ipv6_literals_and_bare_names() {
        assert_eq!(strip_port("a.b:8080"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
    }

    proptest! {
        #[test]
        fn an_exact_domain_always_matches_its_own_host_with_any_port(
            name in "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}", port in 1u16..,
        ) {
            let c = config(vec![
                vh("star", 80, &["*"], vec![route("star", "/")]),
                vh("exact", 80, &[name.as_str()], vec![route("exact", "/")]),
            ]);
            let host = format!("{name}:{port}");
            match select(&c, 80, &host, "/") {
                RouteMatch::Route { virtual_host, .. } => prop_assert_eq!(&virtual_host.name, "exact"),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
