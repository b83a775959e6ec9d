//! Originating Istio mTLS on an upstream connection.

use std::io;
use std::sync::Arc;

use meshsim_net::NetStream;
use meshsim_net::clock::Instant;
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, ClientConfig};
use tokio_rustls::TlsConnector;

use super::{ClusterTls, TLS_MODE_ISTIO, TLS_MODE_LABEL, UpstreamIo, WorkloadIdentity};
use crate::attempt::{AttemptFailure, ResetReason};
use crate::config::Endpoint;

/// How a host's connections are secured: the client configuration (the
/// workload's certificate, Istio's ALPN list for the cluster's protocol)
/// and the SNI.
#[derive(Clone)]
pub(crate) struct Connector {
    config: Arc<ClientConfig>,
    sni: ServerName<'static>,
}

/// The protocol a connection carries, which picks the ALPN list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carried {
    Http1,
    Http2,
    Tcp,
}

impl Connector {
    /// The connector for a host of a cluster with `tls`, whose endpoint is
    /// `endpoint` (EDS; `None` for other discovery types): `None` means
    /// plaintext. A sidecar without an identity (no certificate, as a
    /// sidecar SDS never served) originates plaintext.
    pub(crate) fn for_host(
        tls: &ClusterTls,
        endpoint: Option<&Endpoint>,
        identity: Option<&WorkloadIdentity>,
        carried: Carried,
    ) -> Option<Connector> {
        let sni = match tls {
            ClusterTls::Plaintext => return None,
            ClusterTls::IstioMutual { sni } => sni,
            ClusterTls::Auto { sni } => {
                let labelled = endpoint
                    .and_then(|e| e.labels.get(TLS_MODE_LABEL))
                    .is_some_and(|m| m == TLS_MODE_ISTIO);
                if !labelled {
                    return None;
                }
                sni
            }
        };
        let identity = identity?;
        let config = match carried {
            Carried::Http1 => &identity.client_http1,
            Carried::Http2 => &identity.client_h2,
            Carried::Tcp => &identity.client_tcp,
        };
        let sni = ServerName::try_from(sni.clone()).ok()?;
        Some(Connector {
            config: config.clone(),
            sni,
        })
    }

    /// Runs the client handshake on `stream`, by `deadline` (what is left
    /// of the connect timeout, which covers the handshake in Envoy).
    pub(crate) async fn handshake(
        &self,
        stream: NetStream,
        deadline: Instant,
    ) -> Result<UpstreamIo, AttemptFailure> {
        let connect = TlsConnector::from(self.config.clone()).connect(self.sni.clone(), stream);
        match meshsim_net::clock::timeout_at(deadline, connect).await {
            Ok(Ok(tls)) => Ok(UpstreamIo::Tls(Box::new(tls))),
            Ok(Err(e)) => Err(AttemptFailure {
                reason: failure_reason(&e),
                transport_failure: tls_error(&e),
                request_sent: false,
                per_try_timeout: false,
            }),
            Err(_) => Err(AttemptFailure {
                reason: ResetReason::ConnectionTimeout,
                transport_failure: None,
                request_sent: false,
                per_try_timeout: false,
            }),
        }
    }
}

/// Who ended a failed handshake: the sidecar itself when it rejected the
/// server's certificate (Envoy closes the connection: `local connection
/// failure`), the peer otherwise (an alert, a close, bytes that are not TLS).
fn failure_reason(e: &io::Error) -> ResetReason {
    let rejected = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    match rejected {
        true => ResetReason::LocalConnectionFailure,
        false => ResetReason::RemoteConnectionFailure,
    }
}

/// Envoy's `%UPSTREAM_TRANSPORT_FAILURE_REASON%` for a failed handshake:
/// BoringSSL's packed error (library SSL = 16 << 24, plus the reason) in
/// Envoy's `TLS_error:|CODE:SSL routines:OPENSSL_internal:NAME:TLS_error_end`
/// form. `None` when the peer just closed or reset the connection.
pub(crate) fn tls_error(e: &io::Error) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let (reason, name): (u32, String) = match inner {
        rustls::Error::InvalidCertificate(_) => (125, "CERTIFICATE_VERIFY_FAILED".into()),
        rustls::Error::AlertReceived(alert) => alert_reason(*alert),
        rustls::Error::NoApplicationProtocol => {
            (1120, "TLSV1_ALERT_NO_APPLICATION_PROTOCOL".into())
        }
        // Bytes that are no TLS record (an HTTP answer to a ClientHello).
        _ => (247, "WRONG_VERSION_NUMBER".into()),
    };
    Some(format!(
        "TLS_error:|{}:SSL routines:OPENSSL_internal:{name}:TLS_error_end",
        (16u32 << 24) + reason
    ))
}

/// BoringSSL's reason for a received alert: 1000 + the alert's number, named
/// `SSLV3_ALERT_*` or `TLSV1_ALERT_*`.
fn alert_reason(alert: AlertDescription) -> (u32, String) {
    let number = u32::from(u8::from(alert));
    let snake: String = format!("{alert:?}")
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
            sep.into_iter()
                .chain(std::iter::once(c.to_ascii_uppercase()))
        })
        .collect();
    let snake = match alert {
        AlertDescription::UnknownCA => "UNKNOWN_CA".to_string(),
        _ => snake,
    };
    let family = if number <= 46 { "SSLV3" } else { "TLSV1" };
    (1000 + number, format!("{family}_ALERT_{snake}"))
}

/// Secures a connected `stream` with `tls`, if any, by `deadline`: the
/// handshake is counted (`ssl.handshake`, or `ssl.connection_error` plus
/// `upstream_cx_connect_fail`: Envoy raises `Connected` only after it).
pub(crate) async fn secure(
    env: &crate::runtime::Env,
    tls: Option<&Connector>,
    stream: NetStream,
    deadline: Instant,
) -> Result<UpstreamIo, AttemptFailure> {
    let Some(connector) = tls else {
        return Ok(UpstreamIo::Plain(stream));
    };
    let result = connector.handshake(stream, deadline).await;
    env.stats.bump(|s| match &result {
        Ok(_) => s.ssl_handshake += 1,
        Err(_) => {
            s.ssl_connection_error += 1;
            s.upstream_cx_connect_fail += 1;
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_named_as_boringssl_names_them() {
        assert_eq!(
            alert_reason(AlertDescription::BadCertificate),
            (1042, "SSLV3_ALERT_BAD_CERTIFICATE".to_string())
        );
        assert_eq!(
            alert_reason(AlertDescription::UnknownCA),
            (1048, "TLSV1_ALERT_UNKNOWN_CA".to_string())
        );
        assert_eq!(
            alert_reason(AlertDescription::CertificateRequired),
            (1116, "TLSV1_ALERT_CERTIFICATE_REQUIRED".to_string())
        );
    }

    #[test]
    fn a_certificate_failure_reads_as_envoys_verify_failure() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            tls_error(&e).as_deref(),
            Some(
                "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
            )
        );
    }

    #[test]
    fn a_plain_close_has_no_tls_reason() {
        let e = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(tls_error(&e), None);
    }
}
