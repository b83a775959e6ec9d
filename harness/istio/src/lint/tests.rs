//! One block per rule, each named after the behaviour it finds and citing
//! the fact sheet section the rule rests on. The rules that need the
//! scenario's mesh are in `tests/mesh.rs`.

use std::time::Duration;

use super::*;
use crate::kube::{KubeService, KubeServicePort};
use crate::parse_resources;

const SE_NONE: &str = "\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: partner }
spec:
  hosts: [api.partner.example]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: NONE
";

fn vs(route: &str) -> String {
    format!(
        "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{ name: partner, namespace: shop }}
spec:
  hosts: [api.partner.example]
  http:
  - route: [{{ destination: {{ host: api.partner.example }} }}]
{route}"
    )
}

fn dr(pool: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: partner }}\nspec:\n  host: api.partner.example\n  trafficPolicy:\n    connectionPool: {pool}\n"
    )
}

fn findings(yaml: &str, ctx: &LintContext) -> Vec<Finding> {
    lint(&parse_resources(yaml).unwrap(), ctx)
}

fn codes(yaml: &str, ctx: &LintContext) -> Vec<&'static str> {
    findings(yaml, ctx).iter().map(|f| f.code).collect()
}

fn host(facts: HostFacts) -> LintContext {
    LintContext {
        hosts: [(
            "api.partner.example".to_string(),
            HostFacts {
                via_sidecar: true,
                ..facts
            },
        )]
        .into(),
        ..LintContext::default()
    }
}

fn empty() -> LintContext {
    LintContext::default()
}

#[test]
fn every_rule_code_is_unique_and_shaped_ms_and_four_digits() {
    let mut seen = std::collections::BTreeSet::new();
    for r in RULES {
        assert!(seen.insert(r.code), "{} twice", r.code);
        assert!(r.code.len() == 6 && r.code.starts_with("MS"), "{}", r.code);
        assert!(
            r.code[2..].bytes().all(|b| b.is_ascii_digit()),
            "{}",
            r.code
        );
        assert!(!r.fix.is_empty() && r.fact.starts_with('§'), "{}", r.code);
    }
}

#[test]
fn a_clean_service_entry_and_virtual_service_have_no_finding() {
    let yaml = format!(
        "{SE_NONE}---\n{}",
        vs(
            "    timeout: 10s\n    retries: { attempts: 2, perTryTimeout: 2s, retryOn: \"connect-failure,refused-stream,reset\" }\n"
        )
    );
    assert_eq!(findings(&yaml, &empty()), vec![]);
}

/// Fact sheet §7.1, §7.2: a port without a protocol is sniffed.
#[test]
fn ms0101_ports_without_a_protocol_prefix_or_app_protocol_are_found() {
    let yaml = SE_NONE.replace(", protocol: HTTP", "");
    let f = findings(&yaml, &empty());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].code, f[0].path.as_str(), f[0].line),
        ("MS0101", "spec.ports[0]", Some(6))
    );
    let svc = |name: &str, app: Option<&str>| KubeService {
        name: "inventory".into(),
        namespace: "shop".into(),
        cluster_ip: "10.96.0.20".parse().unwrap(),
        ports: vec![KubeServicePort {
            name: name.into(),
            port: 8080,
            target_port: 8080,
            app_protocol: app.map(str::to_string),
        }],
    };
    let ctx = |s| LintContext {
        services: vec![s],
        ..LintContext::default()
    };
    let f = lint(&Resources::default(), &ctx(svc("web", None)));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].resource, "Service shop/inventory");
    assert!(lint(&Resources::default(), &ctx(svc("web", Some("http")))).is_empty());
    assert!(lint(&Resources::default(), &ctx(svc("http-web", None))).is_empty());
}

/// Fact sheet §1.1, §2.1: Istio rejects unknown `retryOn` tokens; lint
/// reports each with its line, not only the first.
#[test]
fn ms0102_unknown_retry_on_tokens_are_found_with_file_line_and_a_suggestion() {
    let yaml = vs("    retries: { attempts: 2, retryOn: \"5xx,gateway-eror,bogus\" }\n");
    let f = findings(&yaml, &empty());
    let unknown: Vec<&Finding> = f.iter().filter(|f| f.code == "MS0102").collect();
    assert_eq!(unknown.len(), 2, "{f:?}");
    assert_eq!(unknown[0].line, Some(8));
    assert_eq!(unknown[0].path, "spec.http[0].retries.retryOn");
    assert_eq!(unknown[0].resource, "VirtualService shop/partner");
    assert!(
        unknown[0].message.contains("did you mean `gateway-error`"),
        "{}",
        unknown[0].message
    );
    assert_eq!(unknown[0].severity, Severity::Error);
    assert!(
        !f.iter().any(|f| f.code == "MS0001"),
        "not reported twice: {f:?}"
    );
    let fixed = vs("    retries: { attempts: 2, retryOn: \"5xx,gateway-error\" }\n");
    assert!(codes(&fixed, &empty()).is_empty());
}

/// Fact sheet §2.1: `attempts: 0` may not be combined with other fields.
#[test]
fn ms0103_attempts_zero_with_other_retry_fields_is_found() {
    let yaml = vs("    retries: { attempts: 0, perTryTimeout: 2s }\n");
    assert_eq!(codes(&yaml, &empty()), vec!["MS0103"]);
    assert!(codes(&vs("    retries: { attempts: 0 }\n"), &empty()).is_empty());
}

/// Fact sheet §1.2, §1.4: the route timeout covers every attempt and is
/// never retried.
#[test]
fn ms0104_a_route_timeout_at_or_below_per_try_timeout_means_retries_never_run() {
    let yaml =
        vs("    timeout: 1s\n    retries: { attempts: 3, perTryTimeout: 2s, retryOn: \"5xx\" }\n");
    let f = findings(&yaml, &empty());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].code, f[0].path.as_str()),
        ("MS0104", "spec.http[0].timeout")
    );
    assert!(
        f[0].message
            .starts_with("route timeout 1s <= perTryTimeout 2s"),
        "{}",
        f[0].message
    );
    let fixed =
        vs("    timeout: 7s\n    retries: { attempts: 2, perTryTimeout: 2s, retryOn: \"5xx\" }\n");
    assert!(codes(&fixed, &empty()).is_empty());
}

/// Fact sheet §1.2: the route timeout cuts the later attempts.
#[test]
fn ms0105_per_try_timeout_times_attempts_above_the_route_timeout_is_found() {
    let yaml =
        vs("    timeout: 5s\n    retries: { attempts: 3, perTryTimeout: 2s, retryOn: \"5xx\" }\n");
    let f = findings(&yaml, &empty());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, "MS0105");
    assert!(
        f[0].message.contains("= 8s > route timeout 5s"),
        "{}",
        f[0].message
    );
    assert!(f[0].message.contains("at most 3 tries"), "{}", f[0].message);
    let fits =
        vs("    timeout: 8s\n    retries: { attempts: 3, perTryTimeout: 2s, retryOn: \"5xx\" }\n");
    assert!(codes(&fits, &empty()).is_empty());
}

/// Fact sheet §1.2: without `perTryTimeout` a hung attempt eats the whole
/// route timeout and is not retried.
#[test]
fn ms0106_retries_without_per_try_timeout_toward_a_black_holing_host_are_found() {
    let yaml =
        vs("    timeout: 30s\n    retries: { attempts: 3, retryOn: \"reset,connect-failure\" }\n");
    let ctx = host(HostFacts {
        blackhole: Some("firewall egress-fw".into()),
        ..HostFacts::default()
    });
    let f = findings(&yaml, &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].code, f[0].demo),
        ("MS0106", Some("scenarios/firewall-dns-ttl-blackhole.yaml"))
    );
    assert!(
        f[0].message.contains("waits for the route timeout 30s"),
        "{}",
        f[0].message
    );
    assert!(
        codes(&yaml, &empty()).is_empty(),
        "needs the scenario to know"
    );
    let with_per_try = yaml.replace("attempts: 3,", "attempts: 3, perTryTimeout: 2s,");
    assert!(codes(&with_per_try, &ctx).is_empty());
}

/// Fact sheet §1.1: `reset` (and `5xx`, `gateway-error`) retries resets
/// after the request was sent: unsafe for non-idempotent requests.
#[test]
fn ms0107_reset_or_5xx_retries_on_routes_taking_non_idempotent_methods_are_found() {
    let matched = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: orders }
spec:
  hosts: [orders]
  http:
  - match: [{ method: { exact: POST } }]
    route: [{ destination: { host: orders } }]
    retries: { attempts: 2, retryOn: \"5xx\" }
";
    assert_eq!(codes(matched, &empty()), vec!["MS0107"]);
    let safe = matched.replace(
        "retryOn: \"5xx\"",
        "retryOn: \"connect-failure,refused-stream\"",
    );
    assert!(codes(&safe, &empty()).is_empty(), "nothing was sent");
    let catch_all =
        vs("    retries: { attempts: 2, retryOn: \"reset,connect-failure,refused-stream\" }\n");
    assert!(codes(&catch_all, &empty()).is_empty());
    let posts = host(HostFacts {
        methods: ["POST".to_string()].into(),
        ..HostFacts::default()
    });
    assert_eq!(codes(&catch_all, &posts), vec!["MS0107"]);
    let gets = host(HostFacts {
        methods: ["GET".to_string()].into(),
        ..HostFacts::default()
    });
    assert!(codes(&catch_all, &gets).is_empty());
}

/// Fact sheet §2.1, §2.2: a `retryOn` list replaces Istio's default one.
#[test]
fn ms0108_a_retry_on_list_without_connect_failure_or_refused_stream_is_found() {
    let yaml = vs("    retries: { attempts: 3, retryOn: \"unavailable,cancelled\" }\n");
    let f = findings(&yaml, &empty());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, "MS0108");
    assert!(
        f[0].message
            .contains("connect-failure and refused-stream no longer retried"),
        "{}",
        f[0].message
    );
    assert!(
        codes(
            &vs("    retries: { attempts: 3, retryOn: \"5xx\" }\n"),
            &empty()
        )
        .is_empty()
    );
}

/// Fact sheet §3.1, §3.3, §3.4: ORIGINAL_DST pins connections to the
/// address the app dialled.
#[test]
fn ms0201_resolution_none_or_no_service_entry_for_a_host_whose_dns_changes_is_found() {
    let ctx = host(HostFacts {
        dns_changes: Some("dns.set at 5m17s".into()),
        ..HostFacts::default()
    });
    let f = findings(SE_NONE, &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].code, f[0].path.as_str(), f[0].line),
        ("MS0201", "spec.resolution", Some(7))
    );
    let f = lint(&Resources::default(), &ctx);
    assert_eq!(
        (f.len(), f[0].resource.as_str()),
        (1, "host api.partner.example")
    );
    assert!(
        f[0].message.contains("PassthroughCluster"),
        "{}",
        f[0].message
    );
    assert!(codes(&SE_NONE.replace("NONE", "DNS"), &ctx).is_empty());
}

/// Fact sheet §4.1, §4.2: an upstream idle timeout at or above the server's
/// keep-alive timeout races the server's close (503 UC).
#[test]
fn ms0202_and_ms0203_idle_timeouts_at_or_above_the_servers_keepalive_are_found() {
    let ctx = host(HostFacts {
        keepalive_timeout: Some(Duration::from_secs(60)),
        ..HostFacts::default()
    });
    let yaml = format!("{SE_NONE}---\n{}", dr("{ http: { idleTimeout: 60s } }"));
    let f = findings(&yaml, &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].code, f[0].document), ("MS0202", 2));
    assert_eq!(
        f[0].path,
        "spec.trafficPolicy.connectionPool.http.idleTimeout"
    );
    assert!(codes(&yaml.replace("60s", "50s"), &ctx).is_empty());
    let f = findings(SE_NONE, &ctx);
    assert_eq!((f[0].code, f[0].severity), ("MS0203", Severity::Info));
    assert_eq!(
        (f[0].resource.as_str(), f[0].line),
        ("ServiceEntry default/partner", Some(5)),
        "at the ServiceEntry's hosts"
    );
    assert!(
        f[0].message
            .starts_with("Envoy's default upstream idle timeout 1h"),
        "{}",
        f[0].message
    );
    let f = lint(&Resources::default(), &ctx);
    assert!(
        f[0].message
            .starts_with("PassthroughCluster's upstream idle timeout 5m"),
        "{}",
        f[0].message
    );
}

/// Fact sheet §4.1, §4.2: a pooled connection idle past a middlebox's timer
/// meets a forgotten flow; a shorter idle timeout or keepalive probe avoids it.
#[test]
fn ms0204_idle_timeouts_at_or_above_a_middleboxs_idle_timer_are_found() {
    let limit = IdleLimit {
        middlebox: "nat-gateway".into(),
        idle: Duration::from_secs(350),
    };
    let ctx = host(HostFacts {
        idle_limit: Some(limit),
        ..HostFacts::default()
    });
    let f = findings(SE_NONE, &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].code, f[0].demo),
        ("MS0204", Some("scenarios/nat-idle-timeout.yaml"))
    );
    let idle = format!("{SE_NONE}---\n{}", dr("{ http: { idleTimeout: 300s } }"));
    assert!(codes(&idle, &ctx).is_empty());
    let probes = format!(
        "{SE_NONE}---\n{}",
        dr("{ tcp: { tcpKeepalive: { time: 300s } } }")
    );
    assert!(codes(&probes, &ctx).is_empty());
}

/// Fact sheet §2.1: other validation errors are findings too, all of them.
#[test]
fn ms0001_every_other_validation_error_is_a_finding() {
    let yaml = vs("    timeout: 1ns\n").replace("destination: {", "weight: -1, destination: {");
    let f = findings(&yaml, &empty());
    assert!(f.len() >= 2, "{f:?}");
    assert!(
        f.iter().all(|f| f.code == "MS0001" && f.line.is_some()),
        "{f:?}"
    );
}

#[test]
fn findings_are_ordered_by_document_then_line() {
    let yaml = format!(
        "{}---\n{}",
        vs("    retries: { attempts: 0, retryOn: bogus }\n"),
        vs("    timeout: 1s\n    retries: { attempts: 1, perTryTimeout: 2s }\n")
    );
    let f = findings(&yaml, &empty());
    let order: Vec<(usize, Option<usize>)> = f.iter().map(|f| (f.document, f.line)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(f.last().unwrap().code, "MS0104");
}

/// Fact sheet §2.1: the mesh default retry policy is validated like a
/// route's; its unknown tokens are validation findings (MS0001).
#[test]
fn ms0001_an_unknown_token_in_the_mesh_default_retry_policy_is_a_finding() {
    let yaml = "\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    defaultHttpRetryPolicy: { attempts: 2, retryOn: \"5xx,bogus\" }
";
    let f = findings(yaml, &empty());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].code, f[0].line), ("MS0001", Some(5)));
    assert!(f[0].message.contains("bogus"), "{}", f[0].message);
}

mod mesh;
