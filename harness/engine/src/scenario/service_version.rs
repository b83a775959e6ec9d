//! Service versions: one Deployment per version behind one Service, the way
//! Istio's bookinfo runs `reviews` v1/v2/v3. Every pod carries
//! `app: <service>` plus its version's labels, so DestinationRule subsets
//! select them; pods are named `<service>-<version>-<ordinal>`.

use std::collections::BTreeMap;
use std::time::Duration;

use meshsim_app::ClientProfile;

use super::{ServeRouteSpec, ServiceSpec};

/// One version (Deployment) of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceVersion {
    /// `name` (`v1`): pods are `<service>-<name>-<ordinal>`; empty for the
    /// one implicit Deployment of an unversioned service.
    pub name: String,
    /// Pods at the start of the run (default 1).
    pub replicas: u32,
    /// The pod labels besides `app: <service>` (default `version: <name>`;
    /// empty for an unversioned service).
    pub labels: BTreeMap<String, String>,
    /// The client profile of the calls its application makes while serving.
    pub profile: ClientProfile,
    /// The application server's keep-alive idle timeout (`None`: never).
    pub keepalive_timeout: Option<Duration>,
    /// `app.listen`: the addresses the application binds.
    pub listen: meshsim_net::Bind,
    /// The application's routes, first prefix match wins.
    pub routes: Vec<ServeRouteSpec>,
}

impl ServiceSpec {
    /// The service's Deployments: its `versions`, or for an unversioned
    /// service one unnamed Deployment made of its own `replicas` and app.
    pub fn deployments(&self) -> Vec<ServiceVersion> {
        if !self.versions.is_empty() {
            return self.versions.clone();
        }
        vec![ServiceVersion {
            name: String::new(),
            replicas: self.replicas,
            labels: BTreeMap::new(),
            profile: self.profile.clone(),
            keepalive_timeout: self.keepalive_timeout,
            listen: self.listen,
            routes: self.routes.clone(),
        }]
    }

    /// The name of a pod: `<service>-<version>-<ordinal>` for a version,
    /// `<service>-<ordinal>` ([`ServiceSpec::pod_name`]) without one.
    pub fn version_pod_name(&self, version: &str, ordinal: u32) -> String {
        if version.is_empty() {
            return self.pod_name(ordinal);
        }
        format!("{}-{version}-{ordinal}", self.service.name)
    }

    /// The labels of every pod of `version`: `app: <service>` plus the
    /// version's own.
    pub fn pod_labels(&self, version: &ServiceVersion) -> BTreeMap<String, String> {
        let mut labels = version.labels.clone();
        labels.insert("app".to_string(), self.service.name.clone());
        if self.sidecar {
            // Injection labels the pod so that auto mTLS reaches it.
            let (key, value) = (
                meshsim_sidecar::tls::TLS_MODE_LABEL,
                meshsim_sidecar::tls::TLS_MODE_ISTIO,
            );
            labels.insert(key.to_string(), value.to_string());
        }
        labels
    }
}
