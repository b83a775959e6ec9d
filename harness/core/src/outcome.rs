//! What happened to one application request, as a closed set of kinds.
//!
//! Errors are counted by [`ErrorKind`], never by message text. An HTTP response
//! counts as an error when its status is 5xx or when the sidecar set response
//! flags on it (a `404 NR` is the sidecar's, not the application's, 404).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Envoy's `%RESPONSE_FLAGS%` as a bit set.
///
/// Printed comma-separated in Envoy's enum order (`stream_info.h`), which is the
/// order Envoy's `ResponseFlagUtils::toShortString` walks: a retried connect
/// failure prints `UF,URX`, a retried termination `UC,URX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ResponseFlags(u32);

/// Flag letters in Envoy's enum order.
const FLAG_NAMES: &[(u32, &str)] = &[
    (1 << 0, "LH"),
    (1 << 1, "UH"),
    (1 << 2, "UT"),
    (1 << 3, "LR"),
    (1 << 4, "UR"),
    (1 << 5, "UF"),
    (1 << 6, "UC"),
    (1 << 7, "UO"),
    (1 << 8, "NR"),
    (1 << 17, "DI"),
    (1 << 18, "FI"),
    (1 << 9, "DC"),
    (1 << 10, "URX"),
    (1 << 11, "SI"),
    (1 << 12, "DPE"),
    (1 << 13, "UMSDR"),
    (1 << 14, "DT"),
    (1 << 15, "UPE"),
    (1 << 16, "NC"),
];

impl ResponseFlags {
    /// No flag (`-` in an access log).
    pub const NONE: ResponseFlags = ResponseFlags(0);
    /// FailedLocalHealthCheck.
    pub const LH: ResponseFlags = ResponseFlags(1 << 0);
    /// NoHealthyUpstream: the cluster had no host to pick (503 `no healthy upstream`).
    pub const UH: ResponseFlags = ResponseFlags(1 << 1);
    /// UpstreamRequestTimeout: route or last per-try timeout (504).
    pub const UT: ResponseFlags = ResponseFlags(1 << 2);
    /// LocalReset: Envoy reset the upstream stream.
    pub const LR: ResponseFlags = ResponseFlags(1 << 3);
    /// UpstreamRemoteReset: the upstream reset the stream (HTTP/2).
    pub const UR: ResponseFlags = ResponseFlags(1 << 4);
    /// UpstreamConnectionFailure: connect refused or timed out (503).
    pub const UF: ResponseFlags = ResponseFlags(1 << 5);
    /// UpstreamConnectionTermination: the upstream connection closed before the response (503).
    pub const UC: ResponseFlags = ResponseFlags(1 << 6);
    /// UpstreamOverflow: circuit breaker or retry overflow (503).
    pub const UO: ResponseFlags = ResponseFlags(1 << 7);
    /// NoRouteFound (404, or no filter chain matched).
    pub const NR: ResponseFlags = ResponseFlags(1 << 8);
    /// DownstreamConnectionTermination: the client went away mid-request.
    pub const DC: ResponseFlags = ResponseFlags(1 << 9);
    /// UpstreamRetryLimitExceeded: retries were exhausted.
    pub const URX: ResponseFlags = ResponseFlags(1 << 10);
    /// StreamIdleTimeout.
    pub const SI: ResponseFlags = ResponseFlags(1 << 11);
    /// DownstreamProtocolError.
    pub const DPE: ResponseFlags = ResponseFlags(1 << 12);
    /// UpstreamMaxStreamDurationReached.
    pub const UMSDR: ResponseFlags = ResponseFlags(1 << 13);
    /// DurationTimeout: max connection duration reached.
    pub const DT: ResponseFlags = ResponseFlags(1 << 14);
    /// UpstreamProtocolError: the upstream sent malformed HTTP (502).
    pub const UPE: ResponseFlags = ResponseFlags(1 << 15);
    /// NoClusterFound.
    pub const NC: ResponseFlags = ResponseFlags(1 << 16);
    /// DelayInjected: the fault filter delayed the request (the response
    /// itself may be the upstream's).
    pub const DI: ResponseFlags = ResponseFlags(1 << 17);
    /// FaultInjected: the fault filter aborted the request with a local reply.
    pub const FI: ResponseFlags = ResponseFlags(1 << 18);

    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every flag of `other` is set here.
    pub fn contains(self, other: ResponseFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: ResponseFlags) {
        self.0 |= other.0;
    }

    /// Parses Envoy's comma-separated letters (`UF,URX`) or `-`.
    pub fn parse(text: &str) -> Option<ResponseFlags> {
        if text == "-" || text.is_empty() {
            return Some(ResponseFlags::NONE);
        }
        let mut out = ResponseFlags::NONE;
        for part in text.split(',') {
            let (bit, _) = FLAG_NAMES.iter().find(|(_, n)| *n == part)?;
            out.0 |= bit;
        }
        Some(out)
    }
}

impl std::ops::BitOr for ResponseFlags {
    type Output = ResponseFlags;
    fn bitor(self, rhs: Self) -> Self {
        ResponseFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for ResponseFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (bit, name) in FLAG_NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl Serialize for ResponseFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResponseFlags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ResponseFlags::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown response flags {text:?}")))
    }
}

/// Why a DNS lookup made by the application failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DnsFailure {
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no record of the asked type (NOERROR, empty answer).
    NoData,
    /// No answer within the resolver's timeout and attempts.
    Timeout,
    /// The server answered SERVFAIL.
    ServFail,
    /// The server answered REFUSED.
    Refused,
    /// The answer could not be parsed, or another response code came back.
    Malformed,
}

/// Where a failure came from, as far as the application can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The upstream server, or the network path to it.
    Upstream,
    /// The sidecar: a local reply.
    Proxy,
    /// The application itself: its own timeout or its DNS lookup.
    Client,
}

/// The closed set of ways an application request can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An HTTP response that counts as an error: status 5xx, or any status
    /// carrying sidecar response flags.
    Http {
        /// The status the application received.
        status: u16,
        /// The sidecar's response flags (empty for a reply that came from the upstream).
        flags: ResponseFlags,
    },
    /// The TCP connect was refused (RST in answer to the SYN).
    ConnectRefused,
    /// The TCP connect did not complete within the client's connect timeout.
    ConnectTimeout,
    /// The connection was reset before a complete response arrived.
    ConnectionReset,
    /// The connection was closed (FIN) before a complete response arrived:
    /// Python's `RemoteDisconnected`, Node's `socket hang up`.
    ConnectionClosed,
    /// The application's own request timeout fired.
    RequestTimeout,
    /// The application's DNS lookup failed.
    Dns(DnsFailure),
    /// The response bytes were not valid HTTP.
    ProtocolError,
}

impl ErrorKind {
    /// Where the failure came from.
    pub fn source(self) -> Source {
        match self {
            ErrorKind::Http { flags, .. } if !flags.is_empty() => Source::Proxy,
            ErrorKind::Http { .. } => Source::Upstream,
            ErrorKind::RequestTimeout | ErrorKind::Dns(_) => Source::Client,
            _ => Source::Upstream,
        }
    }

    /// A short stable label used as the key when errors are counted:
    /// `503 UC`, `503 UF,URX`, `504 UT`, `connect_refused`, `dns_nxdomain`...
    pub fn label(self) -> String {
        match self {
            ErrorKind::Http { status, flags } if flags.is_empty() => format!("{status}"),
            ErrorKind::Http { status, flags } => format!("{status} {flags}"),
            ErrorKind::ConnectRefused => "connect_refused".into(),
            ErrorKind::ConnectTimeout => "connect_timeout".into(),
            ErrorKind::ConnectionReset => "connection_reset".into(),
            ErrorKind::ConnectionClosed => "connection_closed".into(),
            ErrorKind::RequestTimeout => "request_timeout".into(),
            ErrorKind::ProtocolError => "protocol_error".into(),
            ErrorKind::Dns(DnsFailure::NxDomain) => "dns_nxdomain".into(),
            ErrorKind::Dns(DnsFailure::NoData) => "dns_nodata".into(),
            ErrorKind::Dns(DnsFailure::Timeout) => "dns_timeout".into(),
            ErrorKind::Dns(DnsFailure::ServFail) => "dns_servfail".into(),
            ErrorKind::Dns(DnsFailure::Refused) => "dns_refused".into(),
            ErrorKind::Dns(DnsFailure::Malformed) => "dns_malformed".into(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The outcome of one application request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response that is not an error (status below 500, no sidecar flags).
    Ok {
        /// The status received.
        status: u16,
    },
    /// A failure of one closed kind.
    Error(ErrorKind),
}

impl Outcome {
    /// Classifies a received HTTP response. An injected delay (`DI`) alone
    /// does not make a response an error: the request went on to the upstream.
    pub fn from_status(status: u16, flags: ResponseFlags) -> Outcome {
        let significant = ResponseFlags(flags.0 & !ResponseFlags::DI.0);
        if status >= 500 || !significant.is_empty() {
            Outcome::Error(ErrorKind::Http { status, flags })
        } else {
            Outcome::Ok { status }
        }
    }

    /// The error kind, if this is an error.
    pub fn error_kind(self) -> Option<ErrorKind> {
        match self {
            Outcome::Ok { .. } => None,
            Outcome::Error(k) => Some(k),
        }
    }

    /// True for [`Outcome::Ok`].
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_in_envoy_enum_order_comma_separated() {
        assert_eq!(
            (ResponseFlags::URX | ResponseFlags::UF).to_string(),
            "UF,URX"
        );
        assert_eq!(
            (ResponseFlags::URX | ResponseFlags::UC).to_string(),
            "UC,URX"
        );
        assert_eq!(ResponseFlags::NONE.to_string(), "-");
        // Envoy's enum puts DelayInjected and FaultInjected right after NoRouteFound.
        assert_eq!(
            (ResponseFlags::URX | ResponseFlags::FI | ResponseFlags::DI | ResponseFlags::NR)
                .to_string(),
            "NR,DI,FI,URX"
        );
    }

    #[test]
    fn a_delay_alone_is_not_an_error_but_an_injected_abort_is() {
        assert_eq!(
            Outcome::from_status(200, ResponseFlags::DI),
            Outcome::Ok { status: 200 }
        );
        assert!(
            Outcome::from_status(400, ResponseFlags::DI | ResponseFlags::FI)
                .error_kind()
                .is_some()
        );
    }

    #[test]
    fn flags_parse_back() {
        let f = ResponseFlags::UF | ResponseFlags::URX;
        assert_eq!(ResponseFlags::parse(&f.to_string()), Some(f));
        assert_eq!(ResponseFlags::parse("XX"), None);
    }

    #[test]
    fn status_classification_counts_5xx_and_flagged_replies_as_errors() {
        assert!(Outcome::from_status(200, ResponseFlags::NONE).is_ok());
        assert!(Outcome::from_status(404, ResponseFlags::NONE).is_ok());
        assert!(!Outcome::from_status(404, ResponseFlags::NR).is_ok());
        assert!(!Outcome::from_status(503, ResponseFlags::NONE).is_ok());
    }

    #[test]
    fn labels_name_status_and_flags() {
        let k = ErrorKind::Http {
            status: 503,
            flags: ResponseFlags::UF | ResponseFlags::URX,
        };
        assert_eq!(k.label(), "503 UF,URX");
        assert_eq!(k.source(), Source::Proxy);
        assert_eq!(ErrorKind::Dns(DnsFailure::NxDomain).label(), "dns_nxdomain");
    }
}
