//! Pushes made before Envoy's first CDS/LDS: istiod would have put them in
//! its first push, so they are kept, checked as a push would be, and in force
//! from `ConfigReceived` on.

use crate::agent::Phase;
use crate::agent::lifecycle::Held;
use crate::config::{Discovery, Endpoint, SidecarConfig};
use crate::error::SidecarError;
use crate::runtime::Sidecar;
use crate::xds::{Live, all_clusters, check_listeners};

/// Holds `config` when the first push has not come yet (`Ok(None)`), or
/// gives it back to be applied now.
///
/// # Errors
/// What `SidecarHandle::apply` refuses.
pub(crate) fn hold_config(
    live: &Live,
    config: SidecarConfig,
) -> Result<Option<SidecarConfig>, SidecarError> {
    let sc = live.current();
    let mut held = sc.env.lifecycle.held();
    let Some(held) = held.as_mut() else {
        return Ok(Some(config));
    };
    config.validate()?;
    check_listeners(latest(held).unwrap_or(&sc.config), &config)?;
    held.push(Held::Config(Box::new(config)));
    Ok(None)
}

/// Holds an EDS assignment when the first push has not come yet
/// (`Ok(None)`), or gives it back to be applied now.
///
/// # Errors
/// What `SidecarHandle::update_endpoints` refuses, against the latest
/// configuration held.
pub(crate) fn hold_endpoints(
    live: &Live,
    cluster: &str,
    endpoints: Vec<Endpoint>,
) -> Result<Option<Vec<Endpoint>>, SidecarError> {
    let sc = live.current();
    let mut held = sc.env.lifecycle.held();
    let Some(held) = held.as_mut() else {
        return Ok(Some(endpoints));
    };
    let config = latest(held).unwrap_or(&sc.config);
    match all_clusters(config).iter().find(|c| c.name == cluster) {
        None => {
            return Err(SidecarError::UnknownCluster {
                cluster: cluster.to_string(),
            });
        }
        Some(c) if !matches!(c.discovery, Discovery::Eds { .. }) => {
            return Err(SidecarError::NotEdsCluster {
                cluster: cluster.to_string(),
            });
        }
        Some(_) => {}
    }
    held.push(Held::Endpoints {
        cluster: cluster.to_string(),
        endpoints,
    });
    Ok(None)
}

/// The latest configuration held, if any.
fn latest(held: &[Held]) -> Option<&SidecarConfig> {
    held.iter().rev().find_map(|h| match h {
        Held::Config(c) => Some(&**c),
        Held::Endpoints { .. } => None,
    })
}

/// The first CDS/LDS: the phase becomes `ConfigReceived`, the latest held
/// configuration (if any) replaces the bootstrap one, clusters start (DNS
/// resolution, outlier sweeps), then the held assignments are delivered in
/// order.
pub(crate) fn release(live: &Live) {
    let sc = live.current();
    let held = {
        let mut guard = sc.env.lifecycle.held();
        sc.env.lifecycle.advance(Phase::ConfigReceived);
        guard.take().unwrap_or_default()
    };
    if let Some(config) = latest(&held) {
        let next = Sidecar::new(config.clone(), sc.env.clone(), sc.proxy_log.clone());
        live.replace_unstarted(next);
    }
    live.start_all();
    let now = live.current();
    for h in held {
        if let Held::Endpoints { cluster, endpoints } = h
            && let Some(state) = now.clusters.get(&cluster)
        {
            // An EDS cluster when held; a later held push that removed or
            // retyped it drops the assignment, as istiod would not send it.
            let _ = state.update_endpoints(endpoints);
        }
    }
}
