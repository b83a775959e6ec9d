//! The report's access-log sample: one [`AccessLogSample`] per sidecar hop
//! (an entry pod's sidecar; every pod of a service sharing its service's),
//! kept whether or not the mesh turns the file access log on, read into
//! [`HopAccessLog`]s before the world is torn down (teardown lines are not
//! part of the incident).

use std::collections::BTreeMap;

use meshsim_core::HopAccessLog;
use meshsim_net::clock::Instant;
use meshsim_sidecar::{AccessLogSample, SidecarHandle};

use crate::scenario::Scenario;

/// One hop's sample.
pub(crate) struct HopSample {
    hop: String,
    entry: bool,
    sample: AccessLogSample,
}

/// Every sidecar hop's sample, entry pods first, then services, in the
/// scenario's order.
pub(crate) struct Samples {
    hops: Vec<HopSample>,
}

impl Samples {
    /// An empty sample per entry pod and per service with a sidecar, timed
    /// from the run's `start` like the file log.
    pub(crate) fn new(scenario: &Scenario, start: Instant) -> Samples {
        let entry = scenario
            .pods
            .iter()
            .filter(|p| p.sidecar)
            .map(|p| (p.name.clone(), true));
        let services = scenario
            .services
            .iter()
            .filter(|s| s.sidecar)
            .map(|s| (s.service.name.clone(), false));
        let hops = entry
            .chain(services)
            .map(|(hop, entry)| HopSample {
                hop,
                entry,
                sample: AccessLogSample::new(start),
            })
            .collect();
        Samples { hops }
    }

    /// The services' samples by service name, for their pods' sidecars.
    pub(crate) fn services(&self) -> BTreeMap<String, AccessLogSample> {
        self.hops
            .iter()
            .filter(|h| !h.entry)
            .map(|h| (h.hop.clone(), h.sample.clone()))
            .collect()
    }

    /// Gives entry pod `pod`'s sidecar its sample.
    pub(crate) fn attach_entry(&self, pod: &str, sidecar: &SidecarHandle) {
        if let Some(sample) = self.entry(pod) {
            sidecar.sample_access_log(sample);
        }
    }

    /// Entry pod `pod`'s sample (for a sidecar started later).
    pub(crate) fn entry(&self, pod: &str) -> Option<AccessLogSample> {
        let hop = self.hops.iter().find(|h| h.entry && h.hop == pod)?;
        Some(hop.sample.clone())
    }

    /// The lines so far of every hop that has any.
    pub(crate) fn collect(&self) -> Vec<HopAccessLog> {
        self.hops
            .iter()
            .map(|h| HopAccessLog {
                hop: h.hop.clone(),
                entry: h.entry,
                lines: h.sample.lines(),
            })
            .filter(|h| !h.lines.is_empty())
            .collect()
    }
}
