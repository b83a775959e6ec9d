//! MS0301: a PeerAuthentication makes a workload STRICT while callers
//! without a sidecar reach it (fact sheet §8; incidents.md INC-13): every
//! one of their connections is closed without a response.

use std::collections::BTreeMap;

use meshsim_sidecar::tls::MtlsMode;

use super::{Finding, LintContext};
use crate::model::{PeerAuthentication, Resources};
use crate::translate::mtls::{levels, peer_authn_for};

/// Every STRICT policy in force for a service of the scenario that has
/// callers without a sidecar, on a port those callers use.
pub(crate) fn strict_with_plaintext_callers(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in &ctx.services {
        let Some(facts) = ctx.hosts.get(&svc.fqdn()) else {
            continue;
        };
        if facts.plaintext_callers.is_empty() {
            continue;
        }
        // The service's pods carry `app: <service>` (scenario convention).
        let labels = BTreeMap::from([("app".to_string(), svc.name.clone())]);
        let authn = peer_authn_for(res, &svc.namespace, &labels);
        let strict: Vec<u16> = (svc.ports.iter())
            .map(|p| p.target_port)
            .filter(|port| authn.mode_for(*port) == MtlsMode::Strict)
            .collect();
        if strict.is_empty() {
            continue;
        }
        let Some(pa) = deciding(res, &svc.namespace, &labels) else {
            continue;
        };
        let callers: Vec<&str> = facts.plaintext_callers.iter().map(String::as_str).collect();
        let message = format!(
            "{} is STRICT on port(s) {strict:?} while {} call(s) it without a sidecar: their plaintext finds no filter chain, every connection is reset (NR filter_chain_not_found)",
            svc.fqdn(),
            callers.join(", ")
        );
        out.push(Finding::at(
            "MS0301",
            "PeerAuthentication",
            &pa.meta,
            "spec.mtls.mode",
            message,
        ));
    }
    out
}

/// The policy whose mode decides (workload, else namespace, else mesh).
pub(super) fn deciding<'r>(
    res: &'r Resources,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Option<&'r PeerAuthentication> {
    let l = levels(res, namespace, labels);
    let has_mode = |pa: &&PeerAuthentication| pa.mode.is_some();
    (l.workload
        .filter(|pa| pa.mode.is_some() || !pa.port_level.is_empty()))
    .or(l.namespace.filter(has_mode))
    .or(l.mesh.filter(has_mode))
}
