//! The rules that need the scenario's mesh: port protocols against the
//! traffic (§7), REGISTRY_ONLY against the hosts called (§3.4), the
//! application's bind address against the inbound sidecar (INC-15).

use std::collections::BTreeMap;

use super::*;
use crate::IstioVersion;
use crate::inject::PodProbeAction;

fn catalog(name: &str, app_protocol: Option<&str>) -> KubeService {
    KubeService {
        name: "catalog".into(),
        namespace: "default".into(),
        cluster_ip: "10.96.0.30".parse().unwrap(),
        ports: vec![KubeServicePort {
            name: name.into(),
            port: 8080,
            target_port: 8080,
            app_protocol: app_protocol.map(str::to_string),
        }],
    }
}

/// The codes found with no resource at all: what the context alone shows.
fn bare(ctx: &LintContext) -> Vec<&'static str> {
    lint(&Resources::default(), ctx)
        .iter()
        .map(|f| f.code)
        .collect()
}

const CATALOG: &str = "catalog.default.svc.cluster.local";

fn mesh(svc: KubeService, listen: AppListen, version: (u32, u32)) -> LintContext {
    let facts = HostFacts {
        via_sidecar: true,
        schemes: ["http".to_string()].into(),
        ports: [8080].into(),
        ..HostFacts::default()
    };
    let app = AppFacts {
        sidecar: true,
        listen: BTreeMap::from([(String::new(), listen)]),
        http2: false,
        readiness_probe: None,
        rewrite_probes: true,
    };
    LintContext {
        hosts: [(CATALOG.to_string(), facts)].into(),
        services: vec![svc],
        apps: [(CATALOG.to_string(), app)].into(),
        istio_version: Some(IstioVersion::new(version.0, version.1)),
    }
}

const RETRIES: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: catalog }
spec:
  hosts: [catalog]
  http:
  - route: [{ destination: { host: catalog } }]
    retries: { attempts: 3, retryOn: 5xx }
";

/// Fact sheet §7.1, §7.3: a `tcp-` port is proxied by tcp_proxy, so the
/// VirtualService's http rules (here its retries) never apply.
#[test]
fn ms0109_http_rules_for_a_port_named_tcp_are_found_and_not_once_it_is_http() {
    let ctx = mesh(catalog("tcp-web", None), AppListen::Any, (1, 24));
    let f = findings(RETRIES, &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].code, f[0].path.as_str(), f[0].line),
        ("MS0109", "spec.http[0]", Some(7))
    );
    assert_eq!(f[0].demo, Some("scenarios/port-naming.yaml"));
    assert!(f[0].message.contains("\"tcp-web\""), "{}", f[0].message);
    assert!(f[0].message.contains("send it HTTP"), "{}", f[0].message);
    for fixed in [
        catalog("http-web", None),
        catalog("tcp-web", Some("http")),
        catalog("web", None),
    ] {
        let ctx = mesh(fixed, AppListen::Any, (1, 24));
        assert!(codes(RETRIES, &ctx).is_empty(), "{ctx:?}");
    }
}

/// Fact sheet §7.1, §7.3: the rule needs no scenario when the resources
/// declare the port: a ServiceEntry port with `protocol: TCP`.
#[test]
fn ms0109_http_rules_for_a_tcp_service_entry_port_are_found_without_a_scenario() {
    let yaml = format!(
        "{}---\n{}",
        SE_NONE.replace("name: http, protocol: HTTP", "name: tcp, protocol: TCP"),
        vs("    timeout: 5s\n")
    );
    assert_eq!(codes(&yaml, &empty()), vec!["MS0109"]);
    assert!(
        codes(
            &format!("{SE_NONE}---\n{}", vs("    timeout: 5s\n")),
            &empty()
        )
        .is_empty()
    );
}

/// Fact sheet §7.1: an `http2`/`grpc` port makes the sidecar speak h2c to
/// the application; meshsim's serving applications speak HTTP/1.1 only.
#[test]
fn ms0110_a_port_declared_grpc_or_http2_before_an_http1_app_is_found() {
    for svc in [
        catalog("grpc", None),
        catalog("web", Some("kubernetes.io/h2c")),
    ] {
        let f = lint(&Resources::default(), &mesh(svc, AppListen::Any, (1, 24)));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].code, f[0].severity, f[0].resource.as_str()),
            ("MS0110", Severity::Error, "Service default/catalog")
        );
        assert!(f[0].message.contains("HTTP/1.1 only"), "{}", f[0].message);
    }
    let fixed = lint(
        &Resources::default(),
        &mesh(catalog("http-api", None), AppListen::Any, (1, 24)),
    );
    assert!(fixed.is_empty(), "{fixed:?}");
    let mut h2c_app = mesh(catalog("grpc", None), AppListen::Any, (1, 24));
    h2c_app.apps.get_mut(CATALOG).unwrap().http2 = true;
    assert!(lint(&Resources::default(), &h2c_app).is_empty());
}

/// Fact sheet §7.2: a sniffed port that only ever sees plain HTTP takes
/// the HTTP chain at once; MS0101 stays for ports the scenario does not
/// know to be HTTP-only.
#[test]
fn ms0101_is_not_found_on_a_port_the_scenario_calls_only_with_plain_http() {
    let ctx = mesh(catalog("web", None), AppListen::Any, (1, 24));
    assert!(lint(&Resources::default(), &ctx).is_empty());
    let mut tls = ctx.clone();
    tls.hosts.get_mut(CATALOG).unwrap().schemes = ["https".to_string()].into();
    assert_eq!(bare(&tls), vec!["MS0101"]);
}

/// Incidents INC-15 (istioctl analyze IST0143): from Istio 1.10 the
/// inbound sidecar forwards to the pod's address.
#[test]
fn ms0401_an_app_listening_on_localhost_behind_istio_1_10_or_later_is_found() {
    let ctx = mesh(catalog("http", None), AppListen::Localhost, (1, 10));
    let f = lint(&Resources::default(), &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].code, f[0].severity), ("MS0401", Severity::Error));
    assert!(f[0].message.contains("Istio 1.10"), "{}", f[0].message);
    let before = mesh(catalog("http", None), AppListen::Localhost, (1, 9));
    assert!(lint(&Resources::default(), &before).is_empty());
    let any = mesh(catalog("http", None), AppListen::Any, (1, 24));
    assert!(lint(&Resources::default(), &any).is_empty());
    let mut no_sidecar = ctx.clone();
    no_sidecar.apps.get_mut(CATALOG).unwrap().sidecar = false;
    assert!(!bare(&no_sidecar).contains(&"MS0401"));
}

/// Incidents INC-15: before 1.10 the inbound sidecar forwarded to
/// `127.0.0.1`, so an app bound to the pod's address only was refused.
#[test]
fn ms0402_an_app_listening_on_the_pod_ip_behind_istio_before_1_10_is_found() {
    let ctx = mesh(catalog("http", None), AppListen::PodIp, (1, 9));
    assert_eq!(bare(&ctx), vec!["MS0402"]);
    let after = mesh(catalog("http", None), AppListen::PodIp, (1, 10));
    assert!(bare(&after).is_empty());
}

const REGISTRY_ONLY: &str = "\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig: { outboundTrafficPolicy: { mode: REGISTRY_ONLY } }
";

fn vendor(port: u16) -> LintContext {
    let facts = HostFacts {
        via_sidecar: true,
        schemes: ["http".to_string()].into(),
        ports: [port].into(),
        ..HostFacts::default()
    };
    LintContext {
        hosts: [("api.partner.example".to_string(), facts)].into(),
        ..LintContext::default()
    }
}

/// Fact sheet §3.4: REGISTRY_ONLY answers a host the registry does not
/// know with block_all's direct 502 (HTTP) or BlackHoleCluster.
#[test]
fn ms0205_registry_only_with_a_called_host_no_service_entry_declares_is_found() {
    let f = findings(REGISTRY_ONLY, &vendor(80));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].code, f[0].resource.as_str(), f[0].line),
        ("MS0205", "host api.partner.example", Some(4))
    );
    assert_eq!(f[0].demo, Some("scenarios/registry-only-egress.yaml"));
    let declared = format!("{REGISTRY_ONLY}---\n{}", SE_NONE.replace("NONE", "DNS"));
    assert!(codes(&declared, &vendor(80)).is_empty());
    assert!(codes(SE_NONE, &vendor(80)).is_empty(), "ALLOW_ANY");
}

/// Fact sheet §3.4: a ServiceEntry declares the host on its listed ports
/// only; a call on another port still meets the catch-all.
#[test]
fn ms0206_registry_only_with_a_called_port_the_service_entry_lacks_is_found() {
    let declared = format!("{REGISTRY_ONLY}---\n{}", SE_NONE.replace("NONE", "DNS"));
    let f = findings(&declared, &vendor(8443));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].code, f[0].document), ("MS0206", 2));
    assert!(f[0].message.contains("call port 8443"), "{}", f[0].message);
    assert!(codes(&declared, &vendor(80)).is_empty());
}

const STRICT: &str = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec:
  mtls: { mode: STRICT }
";

/// `mesh` with a readiness probe `probe` and probe rewrite `rewrite`.
fn probed(probe: PodProbeAction, rewrite: bool, version: (u32, u32)) -> LintContext {
    let mut ctx = mesh(catalog("http", None), AppListen::Any, version);
    let app = ctx.apps.get_mut(CATALOG).unwrap();
    app.readiness_probe = Some(probe);
    app.rewrite_probes = rewrite;
    ctx
}

fn http_probe() -> PodProbeAction {
    PodProbeAction::HttpGet {
        path: "/healthz".into(),
        port: 8080,
    }
}

/// INC-14, §8: with the rewrite off the kubelet's plaintext probe meets the
/// sidecar; under STRICT it is reset. Rewritten (Istio's default), or under
/// PERMISSIVE, or with an exec probe, nothing is found.
#[test]
fn ms0302_strict_with_an_http_probe_through_the_sidecar_is_found() {
    let found = codes(STRICT, &probed(http_probe(), false, (1, 24)));
    assert_eq!(found, vec!["MS0302"]);
    assert!(codes(STRICT, &probed(http_probe(), true, (1, 24))).is_empty());
    assert!(codes(STRICT, &probed(PodProbeAction::Exec, false, (1, 24))).is_empty());
    let permissive = STRICT.replace("STRICT", "PERMISSIVE");
    assert!(codes(&permissive, &probed(http_probe(), false, (1, 24))).is_empty());
}

/// Istio's docs: all TCP ports appear open behind the sidecar, so a
/// tcpSocket probe it answers passes blindly; rewritten from 1.12.
#[test]
fn ms0303_a_tcp_probe_the_sidecar_answers_is_found_until_istio_rewrites_it() {
    let tcp = PodProbeAction::TcpSocket { port: 8080 };
    assert_eq!(bare(&probed(tcp.clone(), true, (1, 11))), vec!["MS0303"]);
    assert_eq!(bare(&probed(tcp.clone(), false, (1, 24))), vec!["MS0303"]);
    assert!(bare(&probed(tcp, true, (1, 12))).is_empty());
}
