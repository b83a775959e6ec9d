//! Istio's mTLS settings (fact sheet §8): which PeerAuthentication applies
//! to a workload (pilot's `AuthnBetaPolicies`: workload over namespace over
//! mesh, `UNSET` inheriting), the TLS each outbound cluster originates (a
//! DestinationRule's `tls.mode`, else auto mTLS), and the endpoints istiod
//! marks plaintext (`mtlsChecker`: no sidecar, or PeerAuthentication
//! DISABLE at any level for the endpoint's port).
//!
//! Not modelled: mesh `enableAutoMtls: false` (accepted, ignored: auto mTLS
//! stays on), several policies of one level (the first in document order
//! wins, as Istio's oldest does only when creation times are equal).

use std::collections::BTreeMap;

use meshsim_sidecar::tls::{ClusterTls, PeerAuthn};

use crate::model::{ClientTlsMode, PeerAuthentication, Resources};

/// Istio's root namespace: a selector-less PeerAuthentication there is the
/// mesh-wide policy.
pub const ROOT_NAMESPACE: &str = "istio-system";

/// The namespace a resource lives in (`default` when unset).
fn namespace_of(pa: &PeerAuthentication) -> &str {
    pa.meta.namespace.as_deref().unwrap_or("default")
}

/// The policies that apply to one workload, one per level (the first in
/// document order at each).
pub(crate) struct Levels<'r> {
    /// A policy of the workload's namespace whose selector matches it.
    pub(crate) workload: Option<&'r PeerAuthentication>,
    /// The namespace's selector-less policy.
    pub(crate) namespace: Option<&'r PeerAuthentication>,
    /// The root namespace's selector-less policy.
    pub(crate) mesh: Option<&'r PeerAuthentication>,
}

/// The policies of each level for a workload in `namespace` with `labels`.
pub(crate) fn levels<'r>(
    res: &'r Resources,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Levels<'r> {
    let level = |ns: &str, select: bool| {
        res.peer_authentications.iter().find(|pa| {
            namespace_of(pa) == ns
                && match (&pa.selector, select) {
                    (None, false) => true,
                    (Some(sel), true) => sel.iter().all(|(k, v)| labels.get(k) == Some(v)),
                    _ => false,
                }
        })
    };
    Levels {
        workload: level(namespace, true),
        namespace: level(namespace, false),
        mesh: level(ROOT_NAMESPACE, false),
    }
}

/// The PeerAuthentication of a workload in `namespace` with `labels`.
pub fn peer_authn_for(
    res: &Resources,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> PeerAuthn {
    let l = levels(res, namespace, labels);
    let mode = (l.workload.and_then(|pa| pa.mode))
        .or(l.namespace.and_then(|pa| pa.mode))
        .or(l.mesh.and_then(|pa| pa.mode))
        .unwrap_or_default();
    let ports = l
        .workload
        .map(|pa| {
            (pa.port_level.iter())
                .map(|(port, m)| (*port, m.unwrap_or(mode)))
                .collect()
        })
        .unwrap_or_default();
    PeerAuthn { mode, ports }
}

/// The TLS of a cluster whose DestinationRule (for its port, subset merged)
/// sets `mode`: DISABLE plaintext, ISTIO_MUTUAL always mTLS, otherwise auto
/// mTLS (by endpoint label), with Istio's SNI.
pub(crate) fn cluster_tls(mode: Option<ClientTlsMode>, sni: String) -> ClusterTls {
    match mode {
        Some(ClientTlsMode::Disable) => ClusterTls::Plaintext,
        Some(ClientTlsMode::IstioMutual) => ClusterTls::IstioMutual { sni },
        _ => ClusterTls::Auto { sni },
    }
}

/// `tls` with its SNI replaced (a subset cluster's).
pub(crate) fn with_sni(tls: ClusterTls, sni: String) -> ClusterTls {
    match tls {
        ClusterTls::Plaintext => ClusterTls::Plaintext,
        ClusterTls::IstioMutual { .. } => ClusterTls::IstioMutual { sni },
        ClusterTls::Auto { .. } => ClusterTls::Auto { sni },
    }
}
