//! A service's (or a version's) serving application, and the call ids of a
//! service's apps.

use std::collections::BTreeMap;
use std::time::Duration;

use meshsim_app::ClientProfile;
use meshsim_net::Bind;
use serde_saphyr::Spanned;

use super::super::{Ctx, optional_duration};
use super::route;
use crate::error::EngineError;
use crate::scenario::file::ServeAppFile;
use crate::scenario::{ServeRouteSpec, ServiceVersion};

/// A serving application, validated.
pub(super) struct AppParts {
    pub(super) profile: ClientProfile,
    pub(super) keepalive_timeout: Option<Duration>,
    pub(super) listen: Bind,
    pub(super) routes: Vec<ServeRouteSpec>,
}

impl From<ServiceVersion> for AppParts {
    fn from(v: ServiceVersion) -> Self {
        AppParts {
            profile: v.profile,
            keepalive_timeout: v.keepalive_timeout,
            listen: v.listen,
            routes: v.routes,
        }
    }
}

/// A serving app: its client profile, keep-alive timeout and routes;
/// `owner` (the service's or version's name) locates errors.
pub(super) fn app_parts(
    cx: &Ctx<'_>,
    app: &ServeAppFile,
    owner: &Spanned<String>,
    calls: &mut CallIds<'_>,
) -> Result<AppParts, EngineError> {
    let profile_name = app.client.as_ref().map_or("go", |c| c.value.as_str());
    let profile = ClientProfile::named(profile_name).ok_or_else(|| {
        let known = ClientProfile::names().join(", ");
        let msg = format!("unknown client profile {profile_name:?}; known: {known}");
        cx.err(app.client.as_ref().map(|c| &c.referenced), "", msg)
    })?;
    let keepalive_timeout = match &app.keepalive_timeout {
        Some(k) => optional_duration(cx, k)?,
        None => None,
    };
    let listen = match &app.listen {
        Some(l) => listen(cx, l)?,
        None => Bind::Any,
    };
    if app.routes.is_empty() {
        let msg = "a serving app needs at least one route";
        return Err(cx.err(Some(&owner.referenced), "", msg));
    }
    calls.start_app();
    let routes = app
        .routes
        .iter()
        .map(|r| route(cx, r, calls))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AppParts {
        profile,
        keepalive_timeout,
        listen,
        routes,
    })
}

/// `app.listen`: `0.0.0.0` (every address of the pod), `localhost` (only
/// `127.0.0.1`) or `pod-ip` (only the pod's address).
fn listen(cx: &Ctx<'_>, value: &Spanned<String>) -> Result<Bind, EngineError> {
    match value.value.as_str() {
        "0.0.0.0" => Ok(Bind::Any),
        "localhost" => Ok(Bind::Loopback),
        "pod-ip" => Ok(Bind::Host),
        other => {
            let msg =
                format!("unknown listen address {other:?}; known: 0.0.0.0, localhost, pod-ip");
            Err(cx.err(Some(&value.referenced), "", msg))
        }
    }
}

/// Call ids of one service's apps. Each call gets the next id, except that
/// a version repeating a call an earlier version makes (same url and method,
/// same occurrence) shares its id: hops are attributed per service.
pub(super) struct CallIds<'a> {
    next: &'a mut usize,
    known: BTreeMap<(String, String), Vec<usize>>,
    used: BTreeMap<(String, String), usize>,
}

impl<'a> CallIds<'a> {
    pub(super) fn new(next: &'a mut usize) -> Self {
        CallIds {
            next,
            known: BTreeMap::new(),
            used: BTreeMap::new(),
        }
    }

    /// A new app (version) starts: its calls may share earlier apps' ids.
    fn start_app(&mut self) {
        self.used.clear();
    }

    pub(super) fn id(&mut self, url: &str, method: &http::Method) -> usize {
        let key = (url.to_string(), method.to_string());
        let nth = self.used.entry(key.clone()).or_insert(0);
        let ids = self.known.entry(key).or_default();
        let id = match ids.get(*nth) {
            Some(id) => *id,
            None => {
                let id = *self.next;
                *self.next += 1;
                ids.push(id);
                id
            }
        };
        *nth += 1;
        id
    }
}
