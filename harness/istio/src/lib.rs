//! The control plane as a library: parse real Istio resources (pasted
//! unchanged into scenario files), validate them the way Istio's admission
//! webhook does, and translate them into the sidecar's configuration
//! ([`meshsim_sidecar::config`]) under an Istio version profile, the way pilot
//! builds a sidecar's outbound clusters and routes.
//!
//! Three steps, each its own function:
//! 1. [`parse_resources()`]: multi-document YAML -> [`Resources`]. Unknown keys
//!    are rejected with the nearest valid key suggested; every error carries
//!    the document, line, column and key path ([`IstioError`]).
//! 2. [`validate()`]: Istio's validation rules, with Istio's messages.
//! 3. [`translate()`]: clusters, virtual hosts and routes for one sidecar.
//!
//! Modules:
//! - [`model`]: the parsed resources (ServiceEntry, VirtualService, DestinationRule);
//! - `yaml` / `decode`: YAML -> positioned node tree -> typed resources;
//! - [`mod@validate`]: the webhook's rules;
//! - [`retry`]: Istio's default retry policy per version, `HTTPRetry` conversion;
//! - [`mod@translate`]: registry, clusters, routes;
//! - [`version`]: [`IstioVersion`] and [`MeshConfig`] (version-dependent defaults);
//! - [`error`]: [`IstioError`] and its [`Problem`];
//! - [`mod@lint`]: `istioctl analyze`-style findings with stable codes, on
//!   the resources and what a scenario knows ([`LintContext`]);
//! - [`unmodelled()`] / [`unmodelled_at()`]: what a resource sets that the
//!   simulation does not act on (at all, or under the chosen Istio version).
//!
//! ```
//! use meshsim_istio::{parse_resources, translate, validate, IstioVersion, MeshConfig};
//! use meshsim_sidecar::config::Discovery;
//!
//! let yaml = "\
//! apiVersion: networking.istio.io/v1
//! kind: ServiceEntry
//! metadata: { name: partner }
//! spec:
//!   hosts: [api.partner.example]
//!   ports: [{ number: 80, name: http, protocol: HTTP }]
//!   resolution: DNS
//! ";
//! let res = parse_resources(yaml).unwrap();
//! validate(&res).unwrap();
//! let v: IstioVersion = "1.24".parse().unwrap();
//! let cfg = translate(&res, v, &MeshConfig::for_version(v), vec![]);
//! assert_eq!(cfg.clusters[0].name, "outbound|80||api.partner.example");
//! assert!(matches!(cfg.clusters[0].discovery, Discovery::StrictDns { .. }));
//! // Istio 1.24 dropped 503 from the default retriable status codes.
//! let retry = cfg.virtual_hosts[0].routes[0].retry_policy.as_ref().unwrap();
//! assert!(retry.retriable_status_codes.is_empty());
//! ```

mod decode;
mod duration;
pub mod error;
pub mod inject;
pub mod kube;
pub mod lint;
pub mod model;
pub mod retry;
mod suggest;
pub mod translate;
mod unmodelled;
pub mod validate;
pub mod version;
mod yaml;

pub use error::{IstioError, Problem};
pub use kube::{KubeService, KubeServicePort, WELL_KNOWN_TCP_PORTS, port_protocol};
pub use lint::{Finding, LintContext, Severity, lint};
pub use model::{
    DestinationRule, HttpRetry, MeshConfigOverrides, ProxyDefaults, Resources, ServiceEntry,
    Subset, VirtualService,
};
pub use retry::default_retry_policy;
pub use translate::inbound::translate_inbound;
pub use translate::mtls::peer_authn_for;
pub use translate::subsets::{PodEndpoint, ServiceEndpoints, eds_assignments, unknown_subsets};
pub use translate::telemetry::mesh_unmodelled;
pub use translate::translate;
pub use unmodelled::{unmodelled, unmodelled_at};
pub use validate::{validate, validate_all};
pub use version::{IstioVersion, MeshConfig, inbound_forward, protocol_detection_timeout};

/// Parses a multi-document (`---`-separated) YAML stream of Istio resources.
///
/// Accepted: kinds `ServiceEntry`, `VirtualService`, `DestinationRule` with
/// `apiVersion` `networking.istio.io/v1`, `v1beta1` or `v1alpha3`. Empty
/// documents are skipped and not counted in document indexes.
///
/// # Errors
/// The first [`IstioError`]: invalid YAML, an unsupported kind or apiVersion,
/// an unknown key (with the nearest valid key), a wrong value type, a bad
/// duration, or a valid Istio field meshsim cannot model.
pub fn parse_resources(yaml: &str) -> Result<Resources, IstioError> {
    let docs = yaml::load_documents(yaml).map_err(|fault| {
        let document = yaml::document_at_line(yaml, fault.pos.line);
        IstioError::new(document, fault)
    })?;
    let mut out = Resources::default();
    for doc in &docs {
        let document = yaml::document_at_line(yaml, doc.pos.line);
        decode::envelope::decode_document(doc, document, &mut out)?;
    }
    Ok(out)
}
