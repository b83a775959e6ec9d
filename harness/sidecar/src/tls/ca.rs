//! The mesh CA and workload identities.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ED25519, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::verify::MeshServerVerifier;
use crate::error::SidecarError;

/// The instant every certificate check uses (2026-01-01T00:00:00Z): the
/// mesh's clock is fixed, so no wall clock feeds a handshake's outcome.
const MESH_EPOCH_SECS: u64 = 1_767_225_600;

/// The fixed clock of every TLS configuration of the mesh.
#[derive(Debug)]
pub(super) struct MeshClock;

impl TimeProvider for MeshClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(
            MESH_EPOCH_SECS,
        )))
    }
}

/// The one crypto backend (ring), shared by every configuration.
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn cert_error(e: impl std::fmt::Display) -> SidecarError {
    SidecarError::Certificate {
        reason: e.to_string(),
    }
}

/// A mesh certificate authority: a self-signed root that issues workload
/// certificates (istiod's CA, or a plugged-in one: each [`MeshCa`] is a
/// distinct root, so two meshes' workloads do not trust each other).
pub struct MeshCa {
    trust_domain: String,
    issuer: Issuer<'static, KeyPair>,
    root: CertificateDer<'static>,
}

impl std::fmt::Debug for MeshCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshCa")
            .field("trust_domain", &self.trust_domain)
            .finish_non_exhaustive()
    }
}

impl MeshCa {
    /// A new root for `trust_domain` (Istio's default is `cluster.local`).
    ///
    /// # Errors
    /// [`SidecarError::Certificate`] when the key or certificate cannot be
    /// made.
    pub fn new(trust_domain: &str) -> Result<MeshCa, SidecarError> {
        let key = KeyPair::generate_for(&PKCS_ED25519).map_err(cert_error)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, trust_domain);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root = params.self_signed(&key).map_err(cert_error)?;
        Ok(MeshCa {
            trust_domain: trust_domain.to_string(),
            issuer: Issuer::new(params, key),
            root: root.der().clone(),
        })
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The root certificate (DER).
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root
    }

    /// A workload certificate for `service_account` in `namespace`, with its
    /// client and server TLS configurations.
    ///
    /// # Errors
    /// [`SidecarError::Certificate`] when the certificate cannot be made.
    pub fn issue(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<Arc<WorkloadIdentity>, SidecarError> {
        let spiffe = format!(
            "spiffe://{}/ns/{namespace}/sa/{service_account}",
            self.trust_domain
        );
        let key = KeyPair::generate_for(&PKCS_ED25519).map_err(cert_error)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let uri = spiffe.clone().try_into().map_err(cert_error)?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).map_err(cert_error)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        WorkloadIdentity::new(spiffe, vec![cert.der().clone()], key, &self.root).map(Arc::new)
    }
}

/// One workload's certificate and the TLS configurations its sidecar uses.
pub struct WorkloadIdentity {
    spiffe_id: String,
    pub(super) client_http1: Arc<ClientConfig>,
    pub(super) client_h2: Arc<ClientConfig>,
    pub(super) client_tcp: Arc<ClientConfig>,
    pub(super) server_http: Arc<ServerConfig>,
    pub(super) server_tcp: Arc<ServerConfig>,
}

impl std::fmt::Debug for WorkloadIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentity")
            .field("spiffe_id", &self.spiffe_id)
            .finish_non_exhaustive()
    }
}

/// Istio's client ALPN lists (fact sheet §8).
const ALPN_HTTP1: &[&[u8]] = &[b"istio-http/1.1", b"istio", b"http/1.1"];
const ALPN_H2: &[&[u8]] = &[b"istio-h2", b"istio", b"h2"];
const ALPN_TCP: &[&[u8]] = &[b"istio-peer-exchange", b"istio"];
/// What an inbound HTTP chain's TLS context negotiates.
const ALPN_SERVER_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

fn alpn(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|p| p.to_vec()).collect()
}

impl WorkloadIdentity {
    fn new(
        spiffe_id: String,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        root: &CertificateDer<'static>,
    ) -> Result<WorkloadIdentity, SidecarError> {
        let mut roots = RootCertStore::empty();
        roots.add(root.clone()).map_err(cert_error)?;
        let roots = Arc::new(roots);
        let client = |list: &[&[u8]]| -> Result<Arc<ClientConfig>, SidecarError> {
            let verifier = MeshServerVerifier::new(&roots, provider()).map_err(cert_error)?;
            let mut c = ClientConfig::builder_with_details(provider(), Arc::new(MeshClock))
                .with_safe_default_protocol_versions()
                .map_err(cert_error)?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(cert_error)?;
            c.alpn_protocols = alpn(list);
            Ok(Arc::new(c))
        };
        let server = |list: &[&[u8]]| -> Result<Arc<ServerConfig>, SidecarError> {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .map_err(cert_error)?;
            let mut s = ServerConfig::builder_with_details(provider(), Arc::new(MeshClock))
                .with_safe_default_protocol_versions()
                .map_err(cert_error)?
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(cert_error)?;
            s.alpn_protocols = alpn(list);
            Ok(Arc::new(s))
        };
        Ok(WorkloadIdentity {
            client_http1: client(ALPN_HTTP1)?,
            client_h2: client(ALPN_H2)?,
            client_tcp: client(ALPN_TCP)?,
            server_http: server(ALPN_SERVER_HTTP)?,
            server_tcp: server(&[])?,
            spiffe_id,
        })
    }

    /// The SPIFFE ID in the certificate's URI SAN.
    pub fn spiffe_id(&self) -> &str {
        &self.spiffe_id
    }
}
