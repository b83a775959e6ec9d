//! The TCP proxy's configuration: Envoy's `tcp_proxy` network filter on the
//! outbound TCP listeners (fact sheet §7.3, §4.2, §3.4).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Envoy's `tcp_proxy` filter settings of one TCP listener (or of the
/// catch-all passthrough chain).
#[derive(Debug, Clone, PartialEq)]
pub struct TcpProxySettings {
    /// `max_connect_attempts`: connects tried before the downstream
    /// connection is closed; each attempt picks a host again. Envoy's
    /// default 1; Istio never sets it. Default 1.
    pub max_connect_attempts: u32,
    /// `idle_timeout`: the connection pair is closed after no byte moved
    /// either way for this long (`None` = disabled, Envoy's `0s`). Envoy's
    /// default 1 h; Istio sets DestinationRule `tcp.idleTimeout` when given.
    /// Default 1 h.
    pub idle_timeout: Option<Duration>,
    /// `max_downstream_connection_duration`: the downstream connection is
    /// closed this long after it was accepted (`None` = unlimited). Istio:
    /// DestinationRule `tcp.maxConnectionDuration`. Default `None`.
    pub max_downstream_connection_duration: Option<Duration>,
}

impl Default for TcpProxySettings {
    fn default() -> Self {
        TcpProxySettings {
            max_connect_attempts: 1,
            idle_timeout: Some(Duration::from_secs(3600)),
            max_downstream_connection_duration: None,
        }
    }
}

/// One outbound TCP listener of a service port (Istio's `VIP:port`
/// listener, or `0.0.0.0:port` for a service without addresses): captured
/// connections to a matching destination go to `cluster`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpRoute {
    /// Destination port.
    pub port: u16,
    /// Destination addresses; empty matches any address on `port`. A route
    /// naming the destination's address wins over a wildcard one.
    pub addresses: Vec<IpAddr>,
    /// The cluster upstream connections go to.
    pub cluster: String,
    /// The `tcp_proxy` settings of this listener.
    pub settings: TcpProxySettings,
}

impl TcpRoute {
    /// Whether the route matches `dst` exactly (`Some(true)`), as a wildcard
    /// (`Some(false)`), or not at all.
    pub(crate) fn matches(&self, dst: SocketAddr) -> Option<bool> {
        if self.port != dst.port() {
            return None;
        }
        if self.addresses.is_empty() {
            return Some(false);
        }
        self.addresses.contains(&dst.ip()).then_some(true)
    }
}

/// The TCP route for `dst`: an exact address match first, else a wildcard
/// on its port (Envoy's listener match: the most specific address wins).
pub(crate) fn select(routes: &[TcpRoute], dst: SocketAddr) -> Option<&TcpRoute> {
    routes
        .iter()
        .find(|r| r.matches(dst) == Some(true))
        .or_else(|| routes.iter().find(|r| r.matches(dst) == Some(false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(port: u16, addresses: &[&str], cluster: &str) -> TcpRoute {
        TcpRoute {
            port,
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            cluster: cluster.to_string(),
            settings: TcpProxySettings::default(),
        }
    }

    #[test]
    fn an_exact_address_beats_a_wildcard_on_the_same_port() {
        let routes = [route(5432, &[], "any"), route(5432, &["10.96.0.20"], "db")];
        let pick = |d: &str| select(&routes, d.parse().unwrap()).map(|r| r.cluster.as_str());
        assert_eq!(pick("10.96.0.20:5432"), Some("db"));
        assert_eq!(pick("10.96.0.21:5432"), Some("any"));
        assert_eq!(pick("10.96.0.20:5433"), None);
    }
}
