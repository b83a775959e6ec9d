//! `world.services[].versions`: one Deployment per version, and the
//! `version:` of `service.scale` / `app.set`.

use std::collections::{BTreeMap, BTreeSet};

use serde_saphyr::Spanned;

use super::super::Ctx;
use super::{CallIds, MAX_REPLICAS, app_parts, dns_label, replicas};
use crate::error::EngineError;
use crate::scenario::file::{ServiceFile, VersionFile};
use crate::scenario::{ServiceSpec, ServiceVersion};

/// The versions of `f`, which must not also set its own `replicas` or `app`.
pub(super) fn versions(
    cx: &Ctx<'_>,
    f: &ServiceFile,
    list: &Spanned<Vec<VersionFile>>,
    calls: &mut CallIds<'_>,
) -> Result<Vec<ServiceVersion>, EngineError> {
    let both = match (&f.replicas, &f.app) {
        (Some(_), _) => Some("replicas"),
        (None, Some(_)) => Some("app"),
        (None, None) => None,
    };
    if let Some(key) = both {
        let msg = format!(
            "service {} sets both `versions` and its own `{key}`: with versions, each version has its own replicas and app",
            f.name.value
        );
        return Err(cx.err(Some(&list.referenced), "", msg));
    }
    if list.value.is_empty() {
        let msg = "`versions` needs at least one version";
        return Err(cx.err(Some(&list.referenced), "", msg));
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for v in &list.value {
        let name = dns_label(cx, &v.name.value, &v.name.referenced)?;
        if !names.insert(name.clone()) {
            let msg = format!("duplicate version {name:?}");
            return Err(cx.err(Some(&v.name.referenced), "", msg));
        }
        let labels = labels(cx, v, &name)?;
        let app = app_parts(cx, &v.app, &v.name, calls)?;
        out.push(ServiceVersion {
            name,
            replicas: replicas(cx, v.replicas.as_ref())?,
            labels,
            profile: app.profile,
            keepalive_timeout: app.keepalive_timeout,
            listen: app.listen,
            routes: app.routes,
        });
    }
    let total: u32 = out.iter().map(|v| v.replicas).sum();
    if total > MAX_REPLICAS {
        let msg = format!("the versions have {total} replicas in all: at most {MAX_REPLICAS}");
        return Err(cx.err(Some(&list.referenced), "", msg));
    }
    Ok(out)
}

/// A version's pod labels (default `version: <name>`); `app` is the
/// service's own and may not be set.
fn labels(
    cx: &Ctx<'_>,
    v: &VersionFile,
    name: &str,
) -> Result<BTreeMap<String, String>, EngineError> {
    let Some(labels) = &v.labels else {
        return Ok(BTreeMap::from([("version".to_string(), name.to_string())]));
    };
    if labels.value.contains_key("app") {
        let msg = "the `app` label is the service's (`app: <service>` on every pod): leave it out";
        return Err(cx.err(Some(&labels.referenced), "", msg));
    }
    if let Some(k) = labels.value.keys().find(|k| k.is_empty() || k.len() > 63) {
        let msg = format!("label key {k:?} must be 1 to 63 characters");
        return Err(cx.err(Some(&labels.referenced), "", msg));
    }
    Ok(labels.value.clone())
}

/// The `version:` of a timeline event on `svc`. A versioned service's
/// `service.scale` (`required`) must name one (Deployments scale one by one);
/// its `app.set` may (without: every pod of the service). An unversioned
/// service has none to name.
pub(super) fn event_version(
    cx: &Ctx<'_>,
    svc: &ServiceSpec,
    version: Option<&Spanned<String>>,
    service: &Spanned<String>,
    required: bool,
) -> Result<Option<String>, EngineError> {
    let known: Vec<&str> = svc.versions.iter().map(|v| v.name.as_str()).collect();
    let name = &svc.service.name;
    match version {
        None if required && !known.is_empty() => {
            let msg = format!(
                "service {name} has versions ({}): name the one to scale with `version:`",
                known.join(", ")
            );
            Err(cx.err(Some(&service.referenced), "", msg))
        }
        None => Ok(None),
        Some(v) if known.is_empty() => {
            let msg = format!("service {name} has no `versions`: drop `version:`");
            Err(cx.err(Some(&v.referenced), "", msg))
        }
        Some(v) if !known.contains(&v.value.as_str()) => {
            let msg = format!(
                "service {name} has no version {:?}; known: {}",
                v.value,
                known.join(", ")
            );
            Err(cx.err(Some(&v.referenced), "", msg))
        }
        Some(v) => Ok(Some(v.value.clone())),
    }
}
