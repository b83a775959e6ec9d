//! Validation like Istio's webhook (`pkg/config/validation`): each test names
//! the Istio rule it checks and asserts the error's line and key path.

use meshsim_istio::{IstioError, Problem, parse_resources, validate, validate_all};

fn err_of(yaml: &str) -> IstioError {
    let res = parse_resources(yaml).unwrap();
    validate(&res).unwrap_err()
}

fn vs_with_retries(retries: &str) -> String {
    format!(
        "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{ name: api }}
spec:
  hosts: [api.partner.example]
  http:
  - route:
    - destination: {{ host: api.partner.example }}
    retries:
{retries}"
    )
}

fn se(spec: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: se }}\nspec:\n{spec}"
    )
}

fn dr(policy: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr }}\nspec:\n  host: api.partner.example\n  trafficPolicy:\n{policy}"
    )
}

#[test]
fn istio_rejects_an_unknown_retry_on_token_naming_it_and_the_valid_ones() {
    let err = err_of(&vs_with_retries(
        "      attempts: 3\n      retryOn: 5xx,gateway-eror\n",
    ));
    assert_eq!(
        (err.line(), err.column(), err.path()),
        (11, 16, "spec.http[0].retries.retryOn")
    );
    let Problem::InvalidRetryOn { token, valid } = err.problem() else {
        panic!("{err}")
    };
    assert_eq!(token, "gateway-eror");
    assert!(valid.contains(&"gateway-error".to_string()));
    assert!(
        err.to_string()
            .contains("\"gateway-eror\" is not a valid retryOn policy"),
        "{err}"
    );
}

#[test]
fn istio_does_not_trim_retry_on_tokens_so_a_space_after_a_comma_is_rejected() {
    let err = err_of(&vs_with_retries(
        "      attempts: 3\n      retryOn: \"5xx, reset\"\n",
    ));
    assert!(
        matches!(err.problem(), Problem::InvalidRetryOn { token, .. } if token == " reset"),
        "{err}"
    );
}

#[test]
fn istio_accepts_http_status_codes_and_every_envoy_token_in_retry_on() {
    let yaml = vs_with_retries(
        "      attempts: 3\n      retryOn: 503,retriable-status-codes,reset-before-request,unavailable,retriable-4xx\n",
    );
    validate(&parse_resources(&yaml).unwrap()).unwrap();
}

#[test]
fn istio_rejects_attempts_zero_combined_with_other_retry_fields() {
    let err = err_of(&vs_with_retries(
        "      attempts: 0\n      perTryTimeout: 2s\n",
    ));
    assert_eq!(
        (err.line(), err.path()),
        (10, "spec.http[0].retries.attempts")
    );
    assert!(
        err.to_string()
            .contains("http retry policy configured when attempts are set to 0 (disabled)")
    );
}

#[test]
fn istio_treats_missing_attempts_as_zero_so_retry_on_alone_is_rejected() {
    let err = err_of(&vs_with_retries("      retryOn: 5xx\n"));
    assert_eq!(err.path(), "spec.http[0].retries.attempts");
    assert_eq!(
        err.line(),
        9,
        "points at `retries:` since attempts is absent"
    );
}

#[test]
fn istio_accepts_attempts_zero_alone_to_disable_retries() {
    validate(&parse_resources(&vs_with_retries("      attempts: 0\n")).unwrap()).unwrap();
}

#[test]
fn istio_rejects_negative_attempts() {
    let err = err_of(&vs_with_retries("      attempts: -1\n"));
    assert_eq!(
        (err.line(), err.path()),
        (10, "spec.http[0].retries.attempts")
    );
    assert!(err.to_string().contains("attempts cannot be negative"));
}

#[test]
fn istio_requires_per_try_timeout_of_at_least_one_millisecond() {
    let err = err_of(&vs_with_retries(
        "      attempts: 1\n      perTryTimeout: 500us\n",
    ));
    assert_eq!(
        (err.line(), err.path()),
        (11, "spec.http[0].retries.perTryTimeout")
    );
    assert!(
        err.to_string()
            .contains("duration must be greater than 1ms")
    );
    let err = err_of(&vs_with_retries(
        "      attempts: 1\n      perTryTimeout: 1500us\n",
    ));
    assert!(
        err.to_string()
            .contains("only durations to ms precision are supported")
    );
}

#[test]
fn istio_validates_the_route_timeout_as_a_duration() {
    let yaml = vs_with_retries("      attempts: 1\n")
        .replace("    retries:\n", "    timeout: 0s\n    retries:\n");
    let err = err_of(&yaml);
    assert_eq!((err.line(), err.path()), (9, "spec.http[0].timeout"));
}

#[test]
fn istio_requires_a_service_entry_host() {
    let err = err_of(&se("  ports: [{ number: 80, name: http }]\n"));
    assert_eq!(
        (err.line(), err.path()),
        (4, "spec.hosts"),
        "absent key: positioned at its parent key"
    );
    assert!(
        err.to_string()
            .contains("service entry must have at least one host")
    );
}

#[test]
fn meshsim_requires_service_entry_ports() {
    let err = err_of(&se("  hosts: [a.example]\n  ports: []\n"));
    assert_eq!((err.line(), err.path()), (6, "spec.ports"));
}

#[test]
fn meshsim_requires_endpoints_for_static_resolution() {
    let err = err_of(&se(
        "  hosts: [a.example]\n  ports: [{ number: 80, name: http }]\n  resolution: STATIC\n",
    ));
    assert_eq!(err.path(), "spec.endpoints");
    assert!(
        err.to_string()
            .contains("endpoints must be provided for resolution type STATIC")
    );
}

#[test]
fn istio_requires_ip_endpoints_for_static_resolution() {
    let spec = "  hosts: [a.example]\n  ports: [{ number: 80, name: http }]\n  resolution: STATIC\n  endpoints:\n  - address: lb.example\n";
    let err = err_of(&se(spec));
    assert_eq!((err.line(), err.path()), (9, "spec.endpoints[0].address"));
}

#[test]
fn istio_rejects_endpoints_with_resolution_none() {
    let spec = "  hosts: [a.example]\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 10.0.0.1 }]\n";
    let err = err_of(&se(spec));
    assert_eq!((err.line(), err.path()), (7, "spec.endpoints"));
}

#[test]
fn istio_requires_fqdn_hosts_for_dns_resolution_without_endpoints() {
    let spec =
        "  hosts: [\"*.example.com\"]\n  ports: [{ number: 80, name: http }]\n  resolution: DNS\n";
    let err = err_of(&se(spec));
    assert_eq!((err.line(), err.path()), (5, "spec.hosts[0]"));
    assert!(
        err.to_string()
            .contains("hosts must be FQDN if no endpoints are provided for resolution mode DNS")
    );
}

#[test]
fn istio_allows_at_most_one_endpoint_for_dns_round_robin() {
    let spec = "  hosts: [a.example]\n  ports: [{ number: 80, name: http }]\n  resolution: DNS_ROUND_ROBIN\n  endpoints: [{ address: b.example }, { address: c.example }]\n";
    let err = err_of(&se(spec));
    assert_eq!((err.line(), err.path()), (8, "spec.endpoints"));
}

#[test]
fn several_dns_endpoints_are_refused_because_meshsim_resolves_one_name() {
    // Envoy would resolve each endpoint of the STRICT_DNS cluster and merge
    // the answers; silently using the first would simulate another world.
    let spec = "  hosts: [a.example]\n  ports: [{ number: 80, name: http }]\n  resolution: DNS\n  endpoints: [{ address: b.example }, { address: c.example }]\n";
    let err = err_of(&se(spec));
    assert_eq!((err.line(), err.path()), (8, "spec.endpoints"));
    assert!(
        err.to_string().contains("not supported by meshsim"),
        "{err}"
    );
}

#[test]
fn istio_checks_port_numbers_names_and_duplicates() {
    let err = err_of(&se(
        "  hosts: [a.example]\n  ports: [{ number: 70000, name: http }]\n",
    ));
    assert_eq!((err.line(), err.path()), (6, "spec.ports[0].number"));
    assert!(
        err.to_string()
            .contains("port number 70000 must be in the range 1..65535")
    );

    let err = err_of(&se(
        "  hosts: [a.example]\n  ports:\n  - { number: 80, name: http }\n  - { number: 80, name: web }\n",
    ));
    assert_eq!((err.line(), err.path()), (8, "spec.ports[1].number"));

    let err = err_of(&se(
        "  hosts: [a.example]\n  ports: [{ number: 80, name: Web_Port }]\n",
    ));
    assert_eq!(err.path(), "spec.ports[0].name");
}

#[test]
fn istio_rejects_multiple_hosts_with_a_tcp_port_unless_resolution_is_none() {
    let spec = "  hosts: [a.example, b.example]\n  ports: [{ number: 5432, name: tcp, protocol: TCP }]\n  resolution: DNS\n";
    let err = err_of(&se(spec));
    assert_eq!((err.line(), err.path()), (6, "spec.ports[0]"));
    assert!(
        err.to_string()
            .contains("multiple hosts provided with non-HTTP, non-TLS ports")
    );
}

#[test]
fn istio_rejects_negative_connection_pool_limits() {
    let err = err_of(&dr(
        "    connectionPool:\n      http:\n        maxRequestsPerConnection: -1\n",
    ));
    assert_eq!(
        (err.line(), err.path()),
        (
            9,
            "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection"
        )
    );
    assert!(
        err.to_string()
            .contains("max requests per connection must be non-negative")
    );
}

#[test]
fn istio_allows_tcp_idle_timeout_zero_but_not_http_idle_timeout_zero() {
    validate(
        &parse_resources(&dr("    connectionPool:\n      tcp: { idleTimeout: 0s }\n")).unwrap(),
    )
    .unwrap();
    let err = err_of(&dr(
        "    connectionPool:\n      http: { idleTimeout: 0s }\n",
    ));
    assert_eq!(
        (err.line(), err.path()),
        (8, "spec.trafficPolicy.connectionPool.http.idleTimeout")
    );
}

#[test]
fn istio_requires_split_external_local_origin_errors_for_local_origin_failures() {
    let err = err_of(&dr(
        "    outlierDetection:\n      consecutiveLocalOriginFailures: 3\n",
    ));
    assert_eq!(
        (err.line(), err.path()),
        (
            8,
            "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures"
        )
    );
    let ok = dr(
        "    outlierDetection:\n      consecutiveLocalOriginFailures: 3\n      splitExternalLocalOriginErrors: true\n",
    );
    validate(&parse_resources(&ok).unwrap()).unwrap();
}

#[test]
fn istio_checks_outlier_detection_percentages_and_durations() {
    let err = err_of(&dr(
        "    outlierDetection:\n      interval: 10s\n      maxEjectionPercent: 150\n",
    ));
    assert_eq!(
        (err.line(), err.path()),
        (9, "spec.trafficPolicy.outlierDetection.maxEjectionPercent")
    );
}

#[test]
fn istio_rejects_an_empty_traffic_policy() {
    let err = parse_resources(&dr("    {}\n")).unwrap_err();
    assert_eq!((err.line(), err.path()), (7, "spec.trafficPolicy"));
    assert!(
        err.to_string()
            .contains("traffic policy must have at least one field")
    );
}

#[test]
fn istio_rejects_a_wildcard_star_host_on_a_mesh_virtual_service() {
    let yaml = vs_with_retries("      attempts: 1\n")
        .replace("hosts: [api.partner.example]", "hosts: [\"*\"]");
    let err = err_of(&yaml);
    assert_eq!((err.line(), err.path()), (5, "spec.hosts[0]"));
}

#[test]
fn validation_reports_the_first_error_in_document_order_and_all_errors_on_request() {
    let yaml = format!(
        "{}---\n{}",
        se("  hosts: [a.example]\n  ports: [{ number: 0, name: http }]\n"),
        vs_with_retries("      attempts: -2\n")
    );
    let res = parse_resources(&yaml).unwrap();
    let all = validate_all(&res);
    assert_eq!(all.len(), 2);
    assert_eq!(validate(&res).unwrap_err().document(), 1);
    assert_eq!(all[1].document(), 2);
    assert_eq!(all[1].line(), 17);
}
