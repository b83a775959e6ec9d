//! The inbound listener's transport choice (fact sheet §8): Envoy's
//! `tls_inspector` and Istio's per-mode filter chains on 15006.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshsim_net::NetStream;
use tokio::io::AsyncReadExt;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::MtlsMode;
use super::hello::{Hello, inspect, offers_istio};
use crate::access_log::tcp as log;
use crate::runtime::Sidecar;
use crate::sniff::Rewind;

/// The chain an inbound connection takes.
pub(crate) enum Accepted {
    /// A plaintext chain, with the bytes the inspector read given back.
    Plain(Rewind<NetStream>),
    /// The mTLS chain: the handshake is done, the client's certificate
    /// chains to the mesh root.
    Mtls(Box<TlsStream<Rewind<NetStream>>>),
    /// TLS that is not Istio's, under PERMISSIVE: passed to the
    /// application untouched (Istio's passthrough TLS chain).
    Passthrough(Rewind<NetStream>),
    /// Closed: the client left, no chain matched, or the handshake failed.
    Closed,
}

/// Picks the chain of a connection to the application's port `dst`, by
/// the workload's PeerAuthentication mode for it and the client's first
/// bytes, waited for until the listener filter timeout (`timeout`: none
/// waits forever; on expiry the connection is plaintext, as Envoy's
/// `continue_on_listener_filters_timeout` makes it).
pub(crate) async fn accept(
    mut stream: NetStream,
    dst: SocketAddr,
    http: bool,
    sc: &Arc<Sidecar>,
    timeout: Option<Duration>,
) -> Accepted {
    let authn = sc.config.inbound.as_ref().map(|i| &i.peer_authn);
    let mode = authn.map_or(MtlsMode::Permissive, |a| a.mode_for(dst.port()));
    if mode == MtlsMode::Disable {
        return Accepted::Plain(Rewind::new(Vec::new(), stream));
    }
    let Some((bytes, hello)) = first_flight(&mut stream, timeout).await else {
        return Accepted::Closed;
    };
    let identity = sc.env.identity.get();
    match (hello, mode, identity) {
        (Hello::Tls { alpn }, _, Some(id)) if offers_istio(&alpn) => {
            let config = if http {
                &id.server_http
            } else {
                &id.server_tcp
            };
            let acceptor = TlsAcceptor::from(config.clone());
            match acceptor.accept(Rewind::new(bytes, stream)).await {
                Ok(tls) => {
                    sc.env.stats.bump(|s| s.inbound_ssl_handshake += 1);
                    Accepted::Mtls(Box::new(tls))
                }
                Err(e) => {
                    tracing::debug!(error = %e, "inbound mTLS handshake failed");
                    sc.env.stats.bump(|s| s.inbound_ssl_connection_error += 1);
                    Accepted::Closed
                }
            }
        }
        (Hello::Tls { .. }, MtlsMode::Permissive, _) => {
            Accepted::Passthrough(Rewind::new(bytes, stream))
        }
        (Hello::NotTls, MtlsMode::Permissive, _) => Accepted::Plain(Rewind::new(bytes, stream)),
        _ => {
            no_filter_chain(sc, dst, stream.peer_addr());
            // Closed with the client's bytes unread: the kernel answers
            // with a RST (curl: "connection reset by peer", exit 56).
            stream.reset();
            Accepted::Closed
        }
    }
}

/// Reads until the first bytes tell TLS from plaintext. `None` when the
/// client closed first.
async fn first_flight(
    stream: &mut NetStream,
    timeout: Option<Duration>,
) -> Option<(Vec<u8>, Hello)> {
    let deadline = timeout.map(|t| meshsim_net::clock::Instant::now() + t);
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match inspect(&bytes) {
            Hello::Partial => {}
            hello => return Some((bytes, hello)),
        }
        let read = stream.read(&mut chunk);
        let read = match deadline {
            Some(at) => match meshsim_net::clock::timeout_at(at, read).await {
                Ok(r) => r,
                Err(_) => return Some((bytes, Hello::NotTls)),
            },
            None => read.await,
        };
        match read {
            Ok(n) if n > 0 => bytes.extend_from_slice(&chunk[..n]),
            _ if bytes.is_empty() => return None,
            _ => return Some((bytes, Hello::NotTls)),
        }
    }
}

/// Envoy's `no_filter_chain_match`: counted, and logged with flag `NR` and
/// details `filter_chain_not_found` when the access log is on.
fn no_filter_chain(sc: &Sidecar, dst: SocketAddr, peer: SocketAddr) {
    sc.env.stats.bump(|s| s.no_filter_chain_match += 1);
    let sinks = sc.log_sinks();
    let sampling = sinks.sample.as_ref().is_some_and(|s| s.open());
    if sinks.writer.is_some() || sampling {
        let mut line = log::start(sinks, dst, peer, "-");
        log::no_filter_chain(&mut line);
    }
}
