//! The virtual-host lookup of one configuration generation, built once so a
//! request does not scan every virtual host (Envoy's `RouteMatcher` keeps
//! exact domains in a hash map and wildcards grouped by suffix length).
//!
//! It decides exactly as [`super::select_virtual_host`] (the reference): an
//! exact domain (matching the `Host` as sent or without its port) beats the
//! longest `*.` suffix wildcard, which beats `*`; among equals the first
//! listed virtual host wins. Only virtual hosts of the listener `port` count.

use std::borrow::Cow;
use std::collections::HashMap;

use super::strip_port;
use crate::config::VirtualHost;

/// Virtual hosts by listener port and domain, as indexes into the
/// configuration's `virtual_hosts`.
#[derive(Debug, Clone, Default)]
pub struct VirtualHostIndex {
    /// Per port, lowercase domain -> the first virtual host listing it.
    exact: HashMap<u16, HashMap<String, usize>>,
    /// Per port, `*.suffix` wildcards as `(suffix, virtual host)`, longest
    /// suffix first, then in listing order.
    suffixes: HashMap<u16, Vec<(String, usize)>>,
    /// Per port, the first virtual host listing `*`.
    any: HashMap<u16, usize>,
}

impl VirtualHostIndex {
    /// Indexes `vhosts` (lookups only: no iteration order feeds a decision).
    pub fn new(vhosts: &[VirtualHost]) -> VirtualHostIndex {
        let mut index = VirtualHostIndex::default();
        for (i, vh) in vhosts.iter().enumerate() {
            for domain in &vh.domains {
                let domain = domain.to_ascii_lowercase();
                if domain == "*" {
                    index.any.entry(vh.port).or_insert(i);
                } else if let Some(suffix) = domain.strip_prefix('*') {
                    let list = index.suffixes.entry(vh.port).or_default();
                    list.push((suffix.to_string(), i));
                } else {
                    let exact = index.exact.entry(vh.port).or_default();
                    exact.entry(domain).or_insert(i);
                }
            }
        }
        for list in index.suffixes.values_mut() {
            // Stable: equal lengths keep listing order; the same virtual host
            // may appear twice, which changes nothing.
            list.sort_by_key(|(suffix, i)| (std::cmp::Reverse(suffix.len()), *i));
        }
        index
    }

    /// The index of the virtual host of listener `port` that best matches
    /// `host` (which may carry a port).
    pub fn select(&self, port: u16, host: &str) -> Option<usize> {
        let host = lowercase(host);
        let bare = strip_port(&host);
        let exact = |h: &str| self.exact.get(&port)?.get(h).copied();
        let found = match (exact(&host), (bare != host).then(|| exact(bare)).flatten()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if found.is_some() {
            return found;
        }
        let wildcard = self.suffixes.get(&port).and_then(|list| {
            let matches = |h: &str, s: &str| h.len() > s.len() && h.ends_with(s);
            let first = list
                .iter()
                .find(|(s, _)| matches(&host, s) || matches(bare, s))?;
            // The longest matching suffix; among its equals, the first listed.
            list.iter()
                .filter(|(s, _)| {
                    s.len() == first.0.len() && (matches(&host, s) || matches(bare, s))
                })
                .map(|(_, i)| *i)
                .min()
        });
        wildcard.or_else(|| self.any.get(&port).copied())
    }
}

/// `host` in ASCII lowercase, borrowed when it already is.
fn lowercase(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::route::select_virtual_host;

    fn vhost(port: u16, domains: &[&str]) -> VirtualHost {
        VirtualHost {
            name: domains.first().copied().unwrap_or("none").to_string(),
            port,
            domains: domains.iter().map(|d| (*d).to_string()).collect(),
            routes: Vec::new(),
        }
    }

    /// Envoy's domain order: exact, then the longest suffix wildcard, then
    /// `*`; the port in `Host` is ignored unless a domain spells it.
    #[test]
    fn exact_beats_the_longest_suffix_which_beats_the_catch_all() {
        let vhosts = [
            vhost(80, &["*"]),
            vhost(80, &["*.example.com"]),
            vhost(80, &["*.api.example.com"]),
            vhost(80, &["pay.api.example.com", "pay.api.example.com:80"]),
            vhost(8080, &["pay.api.example.com"]),
        ];
        let index = VirtualHostIndex::new(&vhosts);
        assert_eq!(index.select(80, "PAY.api.example.com:80"), Some(3));
        assert_eq!(index.select(80, "eu.api.example.com"), Some(2));
        assert_eq!(index.select(80, "www.example.com:80"), Some(1));
        assert_eq!(index.select(80, "other.org"), Some(0));
        assert_eq!(index.select(8080, "pay.api.example.com"), Some(4));
        assert_eq!(index.select(9090, "pay.api.example.com"), None);
    }

    fn domain() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_string()),
            "[ab]{1,2}(\\.[ab]{1,2}){0,2}",
            "\\*\\.[ab]{1,2}(\\.[ab]{1,2}){0,1}",
            "[ab]{1,2}\\.[ab]{1,2}:(80|81)",
        ]
    }

    fn host() -> impl Strategy<Value = String> {
        (
            "[aAbB]{1,2}(\\.[ab]{1,2}){0,3}",
            prop::option::of("(80|81)"),
        )
            .prop_map(|(h, p)| p.map_or(h.clone(), |p| format!("{h}:{p}")))
    }

    proptest! {
        /// The index picks the same virtual host as the reference linear
        /// scan, for any domains, ports and `Host` values.
        #[test]
        fn the_index_agrees_with_the_linear_scan(
            hosts in prop::collection::vec((0u16..2, prop::collection::vec(domain(), 1..4)), 0..8),
            port in 0u16..2,
            request_host in host(),
        ) {
            let vhosts: Vec<VirtualHost> = hosts
                .iter()
                .map(|(p, ds)| {
                    let ds: Vec<&str> = ds.iter().map(String::as_str).collect();
                    vhost(80 + p, &ds)
                })
                .collect();
            let index = VirtualHostIndex::new(&vhosts);
            let linear = select_virtual_host(&vhosts, 80 + port, &request_host)
                .map(|vh| vhosts.iter().position(|v| std::ptr::eq(v, vh)).unwrap());
            prop_assert_eq!(index.select(80 + port, &request_host), linear);
        }
    }
}
