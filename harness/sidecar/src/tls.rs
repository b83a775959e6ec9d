//! Istio mutual TLS between sidecars (fact sheet §8).
//!
//! - [`MeshCa`]: the mesh's certificate authority (istiod's), made once per
//!   run, before a simulated run starts: key generation and signing draw OS
//!   randomness, which must not feed the run. It issues each workload a
//!   [`WorkloadIdentity`]: a certificate whose only subject alternative name
//!   is the SPIFFE URI `spiffe://<trust domain>/ns/<namespace>/sa/<account>`,
//!   for both client and server authentication, as Istio's are. Keys are
//!   Ed25519: fixed-size signatures keep every handshake the same length.
//! - Outbound ([`ClusterTls`]): a cluster's `transport_socket` as Istio
//!   builds it. `IstioMutual` originates mTLS to every host; `Auto` (auto
//!   mTLS, mesh `enableAutoMtls`) only to endpoints labelled
//!   [`TLS_MODE_LABEL`]` = istio` (the label injection puts on pods, which
//!   istiod turns to `disabled` when a DestinationRule or PeerAuthentication
//!   disables mTLS for that endpoint). The client offers Istio's ALPN values
//!   (`istio-http/1.1`, `istio`, `http/1.1`; HTTP/2 `istio-h2`, `istio`, `h2`;
//!   TCP `istio-peer-exchange`, `istio`), sends the SNI
//!   `outbound_.PORT_._.HOST`, presents its certificate and checks the
//!   server's chain against the mesh root. The handshake counts against the
//!   cluster's `connect_timeout`; its failure is a connect failure (`UF`)
//!   with Envoy's `TLS_error:|...` transport failure reason.
//! - Inbound ([`PeerAuthn`]): the `tls_inspector` reads the client's first
//!   bytes. A ClientHello offering an Istio ALPN value takes the mTLS chain
//!   (the handshake requires a client certificate from the mesh root); under
//!   STRICT nothing else has a chain, so a plaintext client (or TLS without
//!   Istio's ALPN) is closed with no response: `NR`,
//!   `filter_chain_not_found`, and a RST, since the socket is closed with
//!   the client's bytes unread (curl's exit 56, "connection reset by peer").
//!   PERMISSIVE (the default) also serves plaintext, and passes other TLS to
//!   the application untouched. DISABLE builds plaintext chains only: a
//!   ClientHello reaches the plaintext chain, whose HTTP parser rejects it.
//!
//! Not modelled: certificate rotation (Istio's 24 h workload certificates),
//! the subject alternative names a client checks against the service's
//! accounts (any certificate of the mesh root is accepted), `SIMPLE` and
//! `MUTUAL` origination with user certificates, TLS session resumption
//! counters.

mod ca;
mod connect;
mod hello;
pub(crate) mod inbound;
mod io;
mod verify;

pub use ca::{MeshCa, WorkloadIdentity};
pub(crate) use connect::{Carried, Connector, secure};
pub(crate) use io::UpstreamIo;

use std::collections::BTreeMap;

/// The pod label naming a workload's TLS mode (`istio`: it has a sidecar and
/// takes mTLS), which Istio's EDS endpoints carry.
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
/// The [`TLS_MODE_LABEL`] value of a workload with a sidecar.
pub const TLS_MODE_ISTIO: &str = "istio";

/// A PeerAuthentication `mtls.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum MtlsMode {
    /// mTLS and plaintext both accepted (Istio's default with no policy).
    #[default]
    Permissive,
    /// Only Istio mTLS: anything else finds no filter chain.
    Strict,
    /// Plaintext chains only.
    Disable,
}

impl MtlsMode {
    /// The mode's name as PeerAuthentication spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Strict => "STRICT",
            MtlsMode::Disable => "DISABLE",
        }
    }
}

/// The peer authentication of one workload's inbound listener: the mode
/// PeerAuthentication gives it (workload over namespace over mesh) and the
/// workload policy's `portLevelMtls`, keyed by container port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerAuthn {
    /// The workload's mode. Default PERMISSIVE.
    pub mode: MtlsMode,
    /// Per container port (the application's, `targetPort`). Default none.
    pub ports: BTreeMap<u16, MtlsMode>,
}

impl PeerAuthn {
    /// The mode of connections to the application's `port`.
    pub fn mode_for(&self, port: u16) -> MtlsMode {
        self.ports.get(&port).copied().unwrap_or(self.mode)
    }
}

/// The TLS a cluster originates toward its hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClusterTls {
    /// Plaintext (default; DestinationRule `tls.mode: DISABLE`, the
    /// passthrough clusters, hosts outside the mesh).
    #[default]
    Plaintext,
    /// Istio mTLS to every host (DestinationRule `tls.mode: ISTIO_MUTUAL`).
    IstioMutual {
        /// The SNI, `outbound_.PORT_.SUBSET_.HOST`.
        sni: String,
    },
    /// Auto mTLS: Istio mTLS to hosts whose endpoint carries
    /// [`TLS_MODE_LABEL`]` = istio`, plaintext to the others.
    Auto {
        /// The SNI, `outbound_.PORT_.SUBSET_.HOST`.
        sni: String,
    },
}

impl ClusterTls {
    /// The SNI of a cluster for `host`'s `port` and `subset` (empty for the
    /// default cluster), as Istio builds it.
    pub fn sni(port: u16, subset: &str, host: &str) -> String {
        format!("outbound_.{port}_.{subset}_.{host}")
    }
}
