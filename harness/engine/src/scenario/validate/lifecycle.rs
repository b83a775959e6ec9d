//! Validation of `world.pods[].lifecycle` and `mitigations[].pod`: durations
//! in range, init containers, and the Istio pod annotations meshsim models
//! (any other annotation is an error: silently ignoring one would let a user
//! believe it was applied).

use std::time::Duration;

use meshsim_core::HumanDuration;
use meshsim_core::units::parse_duration;
use serde_saphyr::Spanned;

use super::Ctx;
use super::world::bounded;
use crate::error::EngineError;
use crate::expect::{Expectation, PodCheck, PodFigure};
use crate::scenario::file::{
    ExpectFile, InitContainerFile, LifecycleFile, PodSettingsFile, ProxyConfigFile,
    SidecarStartupFile,
};
use crate::scenario::lifecycle::{
    CaptureInstall, InitContainerSpec, LifecycleSpec, PodSettings, SidecarStartup,
};

/// The longest any lifecycle duration may be.
const MAX: Duration = Duration::from_secs(3600);

/// The annotations meshsim reads, as Istio spells them.
const KNOWN: [&str; 5] = [
    "proxy.istio.io/config",
    "sidecar.istio.io/nativeSidecar",
    "sidecar.istio.io/inject",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    "traffic.sidecar.istio.io/excludeOutboundPorts",
];

fn opt(
    cx: &Ctx<'_>,
    d: &Option<Spanned<HumanDuration>>,
    default: Duration,
) -> Result<Duration, EngineError> {
    d.as_ref()
        .map_or(Ok(default), |d| bounded(cx, d, true, MAX))
}

/// `world.pods[].lifecycle`.
pub(super) fn lifecycle(cx: &Ctx<'_>, f: &LifecycleFile) -> Result<LifecycleSpec, EngineError> {
    let capture = match f.capture.as_ref().map(|c| (c.value.as_str(), c)) {
        None | Some(("istio-init", _)) => CaptureInstall::IstioInit,
        Some(("cni", _)) => CaptureInstall::Cni,
        Some((other, c)) => {
            let msg = format!("unknown capture {other:?}; use istio-init or cni");
            return Err(cx.err(Some(&c.referenced), "", msg));
        }
    };
    let init_containers = f
        .init_containers
        .iter()
        .map(|i| init_container(cx, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LifecycleSpec {
        container_start: opt(cx, &f.container_start, Duration::from_millis(300))?,
        sidecar_startup: startup(cx, f.sidecar_startup.as_ref())?,
        app_warmup: opt(cx, &f.app_warmup, Duration::ZERO)?,
        capture,
        init_containers,
        app_shutdown: opt(cx, &f.app_shutdown, Duration::ZERO)?,
        settings: settings(cx, &f.settings())?,
    })
}

fn startup(cx: &Ctx<'_>, f: Option<&SidecarStartupFile>) -> Result<SidecarStartup, EngineError> {
    let d = SidecarStartup::default();
    let Some(f) = f else { return Ok(d) };
    Ok(SidecarStartup {
        admin: opt(cx, &f.admin, d.admin)?,
        xds: opt(cx, &f.xds, d.xds)?,
        warm: opt(cx, &f.warm, d.warm)?,
    })
}

fn init_container(cx: &Ctx<'_>, f: &InitContainerFile) -> Result<InitContainerSpec, EngineError> {
    if f.calls.is_empty() {
        let msg = format!("init container {} has no calls", f.name.value);
        return Err(cx.err(Some(&f.name.referenced), "", msg));
    }
    for c in &f.calls {
        meshsim_app::parse_url(&c.value)
            .map_err(|e| cx.err(Some(&c.referenced), "", format!("invalid url: {e}")))?;
    }
    Ok(InitContainerSpec {
        name: f.name.value.clone(),
        calls: f.calls.iter().map(|c| c.value.clone()).collect(),
        run_as_user: f.run_as_user.as_ref().map(|u| u.value),
        retries: f.retries.as_ref().map_or(0, |r| r.value),
    })
}

/// `mitigations[].pod`, or the settings of a `lifecycle` block.
pub(super) fn settings(cx: &Ctx<'_>, f: &PodSettingsFile) -> Result<PodSettings, EngineError> {
    let mut s = PodSettings {
        termination_grace_period: f
            .termination_grace_period
            .as_ref()
            .map(|d| bounded(cx, d, true, MAX))
            .transpose()?,
        app_pre_stop: f
            .app_pre_stop
            .as_ref()
            .map(|d| bounded(cx, d, true, MAX))
            .transpose()?,
        proxy_pre_stop: f
            .proxy_pre_stop
            .as_ref()
            .map(|d| bounded(cx, d, true, MAX))
            .transpose()?,
        init_run_as_user: f.init_run_as_user.as_ref().map(|u| u.value),
        app_waits_for_sidecar: f.app_waits_for_sidecar,
        quit_sidecar_when_done: f.quit_sidecar_when_done,
        ..PodSettings::default()
    };
    for (key, value) in &f.annotations {
        annotation(cx, key, value, &mut s)?;
    }
    Ok(s)
}

/// One pod annotation into `s`.
fn annotation(
    cx: &Ctx<'_>,
    key: &str,
    value: &Spanned<String>,
    s: &mut PodSettings,
) -> Result<(), EngineError> {
    let err = |msg: String| cx.err(Some(&value.referenced), "", format!("{key}: {msg}"));
    match key {
        "proxy.istio.io/config" => proxy_config(&value.value, s).map_err(err),
        "sidecar.istio.io/nativeSidecar" => {
            s.native_sidecar = Some(boolean(&value.value).map_err(err)?);
            Ok(())
        }
        "sidecar.istio.io/inject" => {
            s.inject = Some(boolean(&value.value).map_err(err)?);
            Ok(())
        }
        "traffic.sidecar.istio.io/excludeOutboundIPRanges" => {
            s.exclude_outbound_ip_ranges = Some(ranges(&value.value).map_err(err)?);
            Ok(())
        }
        "traffic.sidecar.istio.io/excludeOutboundPorts" => {
            s.exclude_outbound_ports = Some(ports(&value.value).map_err(err)?);
            Ok(())
        }
        _ => {
            let (line, column) = cx.find_key(key);
            let msg = format!(
                "annotation {key:?} is not modelled; known: {}",
                KNOWN.join(", ")
            );
            Err(cx.err_at(line, column, "", msg))
        }
    }
}

/// `"true"` or `"false"`, as Kubernetes annotation values are strings.
fn boolean(v: &str) -> Result<bool, String> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is not \"true\" or \"false\"")),
    }
}

/// A comma-separated CIDR list; `*` is every address.
fn ranges(v: &str) -> Result<Vec<meshsim_net::Cidr>, String> {
    let items = v.split(',').map(str::trim).filter(|i| !i.is_empty());
    items
        .map(|i| match i {
            "*" => "0.0.0.0/0".parse().map_err(|e| format!("{e}")),
            _ => i.parse().map_err(|e| format!("{i:?}: {e}")),
        })
        .collect()
}

/// A comma-separated port list.
fn ports(v: &str) -> Result<Vec<u16>, String> {
    let items = v.split(',').map(str::trim).filter(|i| !i.is_empty());
    items
        .map(|i| i.parse().map_err(|_| format!("{i:?} is not a port")))
        .collect()
}

/// `proxy.istio.io/config`: a ProxyConfig in YAML (or JSON).
fn proxy_config(text: &str, s: &mut PodSettings) -> Result<(), String> {
    let pc: ProxyConfigFile = serde_saphyr::from_str(text).map_err(|e| {
        let first = e.to_string();
        let line = first.lines().next().unwrap_or_default().to_string();
        format!("{line} (meshsim models holdApplicationUntilProxyStarts, terminationDrainDuration, proxyMetadata)")
    })?;
    s.hold_application_until_proxy_starts = pc.hold_application_until_proxy_starts;
    if let Some(d) = &pc.termination_drain_duration {
        s.termination_drain_duration = Some(parse_duration(d).map_err(|e| e.to_string())?);
    }
    for (k, v) in &pc.proxy_metadata {
        match k.as_str() {
            "EXIT_ON_ZERO_ACTIVE_CONNECTIONS" => {
                s.exit_on_zero_active_connections = Some(boolean(v)?);
            }
            "MINIMUM_DRAIN_DURATION" => {
                s.minimum_drain_duration = Some(parse_duration(v).map_err(|e| e.to_string())?);
            }
            other => {
                return Err(format!(
                    "proxyMetadata {other:?} is not modelled; known: EXIT_ON_ZERO_ACTIVE_CONNECTIONS, MINIMUM_DRAIN_DURATION"
                ));
            }
        }
    }
    Ok(())
}

/// The lifecycle keys of one `expect` entry.
pub(super) fn expectations(
    cx: &Ctx<'_>,
    e: &ExpectFile,
    pods: &[String],
) -> Result<Vec<Expectation>, EngineError> {
    let written: Vec<_> = PodFigure::KEYS
        .iter()
        .zip(e.pod_figures())
        .filter_map(|((key, figure), v)| v.map(|v| (*key, *figure, v)))
        .collect();
    let Some((first_key, _, first)) = written.first() else {
        if let Some(p) = &e.pod {
            let msg = "`pod` names the pod whose lifecycle figures the entry reads; add one (app_start, completion, startup_failures...)";
            return Err(cx.err(Some(&p.referenced), "", msg));
        }
        return Ok(Vec::new());
    };
    let pod = match (&e.pod, pods) {
        (Some(p), _) if pods.contains(&p.value) => p.value.clone(),
        (Some(p), _) => {
            let msg = format!(
                "no pod {:?} with a lifecycle; known: {}",
                p.value,
                pods.join(", ")
            );
            return Err(cx.err(Some(&p.referenced), "", msg));
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            let msg = format!(
                "{first_key} reads a pod with a lifecycle: name it with `pod` (known: {})",
                pods.join(", ")
            );
            return Err(cx.err(Some(&first.referenced), "", msg));
        }
    };
    written
        .into_iter()
        .map(|(key, figure, v)| {
            let check = PodCheck::parse(&pod, figure, &v.value)
                .map_err(|m| cx.err(Some(&v.referenced), key, m))?;
            Ok(Expectation::pod(
                &e.mitigation.value,
                check,
                key,
                &v.value,
                e.why.clone(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_config_reads_the_fields_istio_documents() {
        let mut s = PodSettings::default();
        let text = "{ holdApplicationUntilProxyStarts: true, terminationDrainDuration: 30s, \
                    proxyMetadata: { EXIT_ON_ZERO_ACTIVE_CONNECTIONS: 'true', MINIMUM_DRAIN_DURATION: 10s } }";
        proxy_config(text, &mut s).unwrap();
        assert_eq!(s.hold_application_until_proxy_starts, Some(true));
        assert_eq!(s.termination_drain_duration, Some(Duration::from_secs(30)));
        assert_eq!(s.exit_on_zero_active_connections, Some(true));
        assert_eq!(s.minimum_drain_duration, Some(Duration::from_secs(10)));
    }

    #[test]
    fn an_unmodelled_proxy_config_field_is_an_error_naming_it() {
        let mut s = PodSettings::default();
        let err = proxy_config("{ concurrency: 2 }", &mut s).unwrap_err();
        assert!(err.contains("concurrency"), "{err}");
        let err = proxy_config("{ proxyMetadata: { FOO: bar } }", &mut s).unwrap_err();
        assert!(err.contains("FOO"), "{err}");
    }

    #[test]
    fn exclusion_lists_are_comma_separated_and_star_is_everything() {
        let r = ranges("10.20.0.0/16, 192.168.1.0/24").unwrap();
        assert_eq!(r.len(), 2);
        assert!(ranges("*").unwrap()[0].contains("52.1.1.1".parse().unwrap()));
        assert!(ranges("10.0.0.0/33").is_err());
        assert_eq!(ports("5432,8080").unwrap(), vec![5432, 8080]);
        assert!(ports("http").is_err());
    }
}
