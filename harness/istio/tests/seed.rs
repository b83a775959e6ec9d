//! The resources of seed 001 (an ALB behind a ServiceEntry with resolution
//! DNS, and a VirtualService adding retries), pasted as the article shows them.

use std::time::Duration;

use meshsim_istio::{IstioVersion, MeshConfig, Problem, parse_resources, translate, validate};
use meshsim_sidecar::config::{Discovery, RetryOn};

/// Copied verbatim from `/work/shared/seeds/001_*.txt`; the article omits the
/// `---` between the ServiceEntry and the first VirtualService.
const SEED_AS_PUBLISHED: &str = "\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  generation: 1
  name: ext-service-se
  namespace: <your-namespace>
spec:
  hosts:
    - host1.yourdomain.com
    - host2.yourdomain.com
  location: MESH_EXTERNAL
  ports:
    - name: service-http
      number: 80
      protocol: HTTP
    - name: service-https
      number: 443
      protocol: HTTPS
  resolution: DNS
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: host1
  namespace: <your-namespace>
spec:
  hosts:
    - host1.yourdomain.com
  http:
    - retries:
        attempts: 3
        perTryTimeout: 2s
        retryOn: 'gateway-error,connect-failure,refused-stream,5xx'
      route:
        - destination:
            host: host1.yourdomain.com
          weight: 100
      timeout: 30s
";

fn seed_with_separator() -> String {
    SEED_AS_PUBLISHED.replacen("  resolution: DNS\n", "  resolution: DNS\n---\n", 1)
}

#[test]
fn seed_001_service_entry_and_virtual_service_parse_and_validate() {
    let res = parse_resources(&seed_with_separator()).unwrap();
    assert_eq!(res.service_entries.len(), 1);
    assert_eq!(res.virtual_services.len(), 1);
    assert_eq!(res.virtual_services[0].meta.document, 2);
    assert_eq!(
        res.service_entries[0].meta.namespace.as_deref(),
        Some("<your-namespace>")
    );
    validate(&res).unwrap();
}

#[test]
fn seed_001_translates_to_a_strict_dns_cluster_with_the_virtual_service_retry_policy() {
    let res = parse_resources(&seed_with_separator()).unwrap();
    let v = IstioVersion::new(1, 24);
    let cfg = translate(&res, v, &MeshConfig::for_version(v), vec![]);

    let cluster = cfg
        .clusters
        .iter()
        .find(|c| c.name == "outbound|80||host1.yourdomain.com")
        .unwrap();
    assert_eq!(
        cluster.discovery,
        Discovery::StrictDns {
            hostname: "host1.yourdomain.com".into(),
            port: 80
        }
    );
    assert_eq!(cluster.connect_timeout, Duration::from_secs(10));
    assert!(cluster.dns.respect_dns_ttl);
    assert_eq!(cluster.dns.refresh_rate, Duration::from_secs(60));
    assert_eq!(cfg.clusters.len(), 4, "2 hosts x 2 ports");

    let vhost = cfg
        .virtual_hosts
        .iter()
        .find(|vh| vh.name == "host1.yourdomain.com:80")
        .unwrap();
    assert_eq!(vhost.routes.len(), 1);
    let route = &vhost.routes[0];
    assert_eq!(route.cluster, "outbound|80||host1.yourdomain.com");
    assert_eq!(route.timeout, Some(Duration::from_secs(30)));
    let retry = route.retry_policy.as_ref().unwrap();
    assert_eq!(retry.num_retries, 3);
    assert_eq!(retry.per_try_timeout, Some(Duration::from_secs(2)));
    assert_eq!(
        retry.retry_on,
        vec![
            RetryOn::GatewayError,
            RetryOn::ConnectFailure,
            RetryOn::RefusedStream,
            RetryOn::FiveXx
        ]
    );
    assert!(retry.retriable_status_codes.is_empty());
    assert!(retry.previous_hosts_predicate);
    assert_eq!(retry.host_selection_retry_max_attempts, 5);

    // host2 has no VirtualService: Istio's default route and policy.
    let other = cfg
        .virtual_hosts
        .iter()
        .find(|vh| vh.name == "host2.yourdomain.com:80")
        .unwrap();
    assert_eq!(other.routes[0].timeout, None);
    assert_eq!(
        other.routes[0].retry_policy.as_ref().unwrap().num_retries,
        2
    );
    assert_eq!(cfg.http_ports, vec![80]);
}

#[test]
fn seed_001_as_published_without_separator_is_a_duplicate_key_error_on_line_20() {
    let err = parse_resources(SEED_AS_PUBLISHED).unwrap_err();
    assert!(matches!(err.problem(), Problem::Syntax { .. }), "{err}");
    assert_eq!(err.line(), 20);
    assert_eq!(err.column(), 1);
    assert!(err.to_string().contains("duplicate"), "{err}");
}
