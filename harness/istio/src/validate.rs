//! Validation like Istio's admission webhook (`pkg/config/validation`): the
//! same rules and, where it has one, Istio's own message. Runs on parsed
//! [`Resources`]; every error points at the offending value's line and key path.
//!
//! - `names`: host names, DNS labels, IPs, ports, percentages;
//! - `service_entry`, `virtual_service`, `destination_rule`: per kind.
//!
//! Rules meshsim adds on top of Istio's (because it cannot model the
//! alternative) say so in their message.

pub(crate) mod destination_rule;
pub(crate) mod names;
pub(crate) mod service_entry;
pub(crate) mod virtual_service;

use std::time::Duration;

use crate::duration;
use crate::error::{Fault, IstioError, Problem};
use crate::model::{ResourceMeta, Resources};

/// Collects the errors of one resource.
pub(crate) struct Check<'m> {
    meta: &'m ResourceMeta,
    kind: &'static str,
    pub(crate) errors: Vec<IstioError>,
}

impl<'m> Check<'m> {
    pub(crate) fn new(meta: &'m ResourceMeta, kind: &'static str) -> Check<'m> {
        Check {
            meta,
            kind,
            errors: Vec::new(),
        }
    }

    /// Records `problem` at `path` (positioned at `path` or its nearest ancestor).
    pub(crate) fn problem(&mut self, path: &str, problem: Problem) {
        let fault = Fault::new(path, self.meta.nearest_pos(path), problem);
        let error = IstioError::new(self.meta.document, fault)
            .with_resource(Some(self.kind), Some(&self.meta.name));
        self.errors.push(error);
    }

    /// Records Istio's `message` at `path`.
    pub(crate) fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.problem(
            path,
            Problem::Invalid {
                message: message.into(),
            },
        );
    }

    /// Records `result`'s error, if any.
    pub(crate) fn check(&mut self, path: &str, result: Result<(), String>) {
        if let Err(message) = result {
            self.fail(path, message);
        }
    }

    /// Istio's `ValidateDuration` on an optional duration.
    pub(crate) fn duration(&mut self, path: &str, d: Option<Duration>) {
        if let Some(message) = d.and_then(duration::istio_check) {
            self.fail(path, message);
        }
    }
}

/// Every validation error, ordered by document, line and column.
pub fn validate_all(res: &Resources) -> Vec<IstioError> {
    let mut errors = Vec::new();
    for se in &res.service_entries {
        errors.extend(service_entry::validate(se));
    }
    for vs in &res.virtual_services {
        errors.extend(virtual_service::validate(vs));
    }
    for dr in &res.destination_rules {
        errors.extend(destination_rule::validate(dr));
    }
    if let Some(mesh) = &res.mesh_config {
        errors.extend(mesh_config(mesh));
    }
    errors.sort_by_key(|e| (e.document(), e.line(), e.column()));
    errors
}

/// Istio's `ValidateMeshConfig` for the fields meshsim decodes: durations
/// (`ValidateDuration`, the connect timeout at least 1 ms) and the default
/// retry policy (`validateHTTPRetry`).
fn mesh_config(m: &crate::model::MeshConfigOverrides) -> Vec<IstioError> {
    let mut c = Check::new(&m.meta, "IstioOperator");
    let base = "spec.meshConfig";
    c.duration(&format!("{base}.connectTimeout"), m.connect_timeout);
    c.duration(&format!("{base}.dnsRefreshRate"), m.dns_refresh_rate);
    if let Some(ka) = &m.tcp_keepalive {
        c.duration(&format!("{base}.tcpKeepalive.time"), ka.time);
        c.duration(&format!("{base}.tcpKeepalive.interval"), ka.interval);
    }
    if let Some(r) = &m.default_http_retry_policy {
        virtual_service::http_retry(&mut c, r, &format!("{base}.defaultHttpRetryPolicy"));
    }
    c.errors
}

/// Validates like Istio's webhook; the first error (in document order) wins.
///
/// # Errors
/// The first [`IstioError`] of [`validate_all`].
pub fn validate(res: &Resources) -> Result<(), IstioError> {
    match validate_all(res).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
