//! Istio version profiles and the mesh-wide settings (`MeshConfig`) that
//! translation reads.
//!
//! Defaults moved between releases (DNS refresh 5 s -> 60 s in 1.14, the
//! default retry policy in 1.6 and 1.24, ...); every such switch is keyed on an
//! [`IstioVersion`], compared as `(major, minor)`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use meshsim_sidecar::config::{AccessLogEncoding, InboundForward, OutboundTrafficPolicy};

use crate::error::Problem;
use crate::model::{HttpRetry, TcpKeepalive};

/// An Istio release line, e.g. `1.24`. Ordered by `(major, minor)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IstioVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version (24 for 1.24).
    pub minor: u32,
}

impl IstioVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> IstioVersion {
        IstioVersion { major, minor }
    }

    /// Whether this version is `major.minor` or later.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= IstioVersion::new(major, minor)
    }
}

impl FromStr for IstioVersion {
    type Err = Problem;

    /// Parses `1.24`; a patch part (`1.24.3`) is accepted and dropped, since
    /// profiles only change per minor release.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || Problem::InvalidVersion {
            text: s.to_string(),
        };
        let mut parts = s.trim().split('.');
        let mut number = |required: bool| -> Result<Option<u32>, Problem> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map(Some).map_err(|_| err())
                }
                None if !required => Ok(None),
                _ => Err(err()),
            }
        };
        let major = number(true)?.ok_or_else(err)?;
        let minor = number(true)?.ok_or_else(err)?;
        let _patch = number(false)?;
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(IstioVersion { major, minor })
    }
}

impl fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The parts of Istio's `MeshConfig` that shape sidecar configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshConfig {
    /// `connectTimeout`: cluster connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// `dnsRefreshRate`: DNS refresh for TTL-0 answers and after failures.
    /// Default 60 s from Istio 1.14, 5 s before.
    pub dns_refresh_rate: Duration,
    /// `PILOT_DNS_JITTER_DURATION`: random extra delay on each DNS refresh.
    /// Default 100 ms.
    pub dns_jitter: Duration,
    /// `outboundTrafficPolicy.mode`. Default `AllowAny`.
    pub outbound_traffic_policy: OutboundTrafficPolicy,
    /// Ports that have an HTTP outbound listener even without a ServiceEntry
    /// (the mesh's Kubernetes HTTP services). Default `[80]`.
    pub http_ports: Vec<u16>,
    /// `defaultHttpRetryPolicy` (Istio >= 1.12; ignored before): replaces the
    /// built-in default on routes without VirtualService retries. Default none.
    pub default_http_retry_policy: Option<HttpRetry>,
    /// `accessLogFile`: non-empty (e.g. `/dev/stdout`) turns the sidecar's
    /// access log on. Default empty (off).
    pub access_log_file: String,
    /// `accessLogEncoding`: TEXT (default) or JSON.
    pub access_log_encoding: AccessLogEncoding,
    /// `accessLogFormat`: a custom format. Not modelled: lines keep Istio's
    /// default format, and [`crate::mesh_unmodelled`] says so. Default empty.
    pub access_log_format: String,
    /// `tcpKeepalive`: keepalive on every outbound cluster's upstream
    /// connections, applied before a DestinationRule's `tcp.tcpKeepalive`,
    /// which overrides it field by field. Default none (no `SO_KEEPALIVE`).
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `h2UpgradePolicy: UPGRADE`: HTTP/1.1 ports' clusters speak HTTP/2
    /// upstream unless a DestinationRule says `DO_NOT_UPGRADE`. Default
    /// false (`DO_NOT_UPGRADE`).
    pub h2_upgrade: bool,
    /// `protocolDetectionTimeout`: how long a sniffed port waits for the
    /// client's first bytes before taking the connection as TCP; zero waits
    /// forever. Default by version (fact sheet §7.2,
    /// [`protocol_detection_timeout`]).
    pub protocol_detection_timeout: Duration,
}

/// Istio's default `protocolDetectionTimeout` for `v` (fact sheet §7.2):
/// 100 ms when sniffing came (1.3-1.6; 1.6.5+ patches had 5 s, not
/// modelled: profiles are per minor release), 5 s in 1.7, and 0 (wait
/// forever) from 1.8, where istio/istio#28119 ("Disable protocol detection
/// timeout by default", cherry-picked to release-1.8 before 1.8.0) landed.
/// The fact sheet says 1.9; the pull request's branch says 1.8.
pub fn protocol_detection_timeout(v: IstioVersion) -> Duration {
    if v.at_least(1, 8) {
        Duration::ZERO
    } else if v.at_least(1, 7) {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(100)
    }
}

/// Where `v`'s inbound sidecar reaches the application (incidents.md
/// INC-15, Istio 1.10 upgrade notes): the pod's address from 1.10 (the
/// inbound passthrough change), `127.0.0.1` before. The 1.10+ escape hatch
/// `PILOT_ENABLE_INBOUND_PASSTHROUGH=false` is not modelled.
pub fn inbound_forward(v: IstioVersion) -> InboundForward {
    if v.at_least(1, 10) {
        InboundForward::PodIp
    } else {
        InboundForward::Localhost
    }
}

impl MeshConfig {
    /// Istio's defaults for `version`: 10 s connect timeout, DNS refresh 60 s
    /// (>= 1.14, else 5 s), 100 ms jitter, `AllowAny`, HTTP port 80, no mesh
    /// retry policy, the version's protocol detection timeout.
    pub fn for_version(v: IstioVersion) -> MeshConfig {
        let dns_refresh = if v.at_least(1, 14) { 60 } else { 5 };
        MeshConfig {
            connect_timeout: Duration::from_secs(10),
            dns_refresh_rate: Duration::from_secs(dns_refresh),
            dns_jitter: Duration::from_millis(100),
            outbound_traffic_policy: OutboundTrafficPolicy::AllowAny,
            http_ports: vec![80],
            default_http_retry_policy: None,
            tcp_keepalive: None,
            access_log_file: String::new(),
            access_log_encoding: AccessLogEncoding::Text,
            access_log_format: String::new(),
            h2_upgrade: false,
            protocol_detection_timeout: protocol_detection_timeout(v),
        }
    }

    /// The version's defaults with `res`'s `IstioOperator` `meshConfig`
    /// fields on top.
    pub fn for_resources(v: IstioVersion, res: &crate::Resources) -> MeshConfig {
        let mut mesh = MeshConfig::for_version(v);
        if let Some(o) = &res.mesh_config {
            mesh.apply(o);
        }
        mesh
    }

    /// Sets every field `o` sets.
    pub fn apply(&mut self, o: &crate::model::MeshConfigOverrides) {
        if let Some(d) = o.connect_timeout {
            self.connect_timeout = d;
        }
        if let Some(d) = o.dns_refresh_rate {
            self.dns_refresh_rate = d;
        }
        if let Some(p) = o.outbound_traffic_policy {
            self.outbound_traffic_policy = p;
        }
        if let Some(r) = &o.default_http_retry_policy {
            self.default_http_retry_policy = Some(r.clone());
        }
        if let Some(f) = &o.access_log_file {
            self.access_log_file = f.clone();
        }
        if let Some(e) = o.access_log_encoding {
            self.access_log_encoding = e;
        }
        if let Some(k) = &o.tcp_keepalive {
            self.tcp_keepalive = Some(k.clone());
        }
        if let Some(d) = o.protocol_detection_timeout {
            self.protocol_detection_timeout = d;
        }
        if let Some(p) = o.h2_upgrade_policy {
            self.h2_upgrade = p == crate::model::H2UpgradePolicy::Upgrade;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parses_major_minor_and_drops_patch() {
        assert_eq!(
            "1.24".parse::<IstioVersion>().unwrap(),
            IstioVersion::new(1, 24)
        );
        assert_eq!(
            "1.24.3".parse::<IstioVersion>().unwrap(),
            IstioVersion::new(1, 24)
        );
        assert_eq!(IstioVersion::new(1, 9).to_string(), "1.9");
    }

    #[test]
    fn version_rejects_garbage() {
        for bad in ["", "1", "1.", "x.2", "1.2.3.4", "1.-2"] {
            assert!(bad.parse::<IstioVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_order_numerically_not_lexically() {
        assert!(IstioVersion::new(1, 9) < IstioVersion::new(1, 10));
    }

    /// Fact sheet §7.2: 100 ms when introduced, 5 s in 1.7, none from 1.8
    /// (the sheet says 1.9: see [`protocol_detection_timeout`]).
    #[test]
    fn protocol_detection_timeout_follows_the_version_profile() {
        let t =
            |minor| MeshConfig::for_version(IstioVersion::new(1, minor)).protocol_detection_timeout;
        assert_eq!(t(4), Duration::from_millis(100));
        assert_eq!(t(6), Duration::from_millis(100));
        assert_eq!(t(7), Duration::from_secs(5));
        assert_eq!(t(8), Duration::ZERO);
        assert_eq!(t(9), Duration::ZERO);
        assert_eq!(t(24), Duration::ZERO);
    }

    /// incidents.md INC-15: Istio 1.10 moved the inbound forward from
    /// `127.0.0.1` to the pod's address.
    #[test]
    fn the_inbound_sidecar_forwards_to_the_pod_ip_from_1_10_and_to_localhost_before() {
        assert_eq!(
            inbound_forward(IstioVersion::new(1, 9)),
            InboundForward::Localhost
        );
        assert_eq!(
            inbound_forward(IstioVersion::new(1, 10)),
            InboundForward::PodIp
        );
        assert_eq!(
            inbound_forward(IstioVersion::new(1, 24)),
            InboundForward::PodIp
        );
    }

    #[test]
    fn dns_refresh_rate_is_60s_from_1_14_and_5s_before() {
        assert_eq!(
            MeshConfig::for_version(IstioVersion::new(1, 14))
                .dns_refresh_rate
                .as_secs(),
            60
        );
        assert_eq!(
            MeshConfig::for_version(IstioVersion::new(1, 13))
                .dns_refresh_rate
                .as_secs(),
            5
        );
        let m = MeshConfig::for_version(IstioVersion::new(1, 24));
        assert_eq!(m.connect_timeout.as_secs(), 10);
        assert_eq!(m.http_ports, vec![80]);
    }
}
