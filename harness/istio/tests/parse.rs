//! Parsing: multi-document streams, unknown keys rejected with a suggestion,
//! and errors that carry document, line, column and key path.

use std::time::Duration;

use meshsim_istio::model::{Protocol, Resolution};
use meshsim_istio::{Problem, parse_resources};

const VS_WITH_TYPO: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
spec:
  hosts: [api.partner.example]
  http:
  - route:
    - destination: { host: api.partner.example }
    retries:
      attempts: 2
      retyOn: 5xx
";

#[test]
fn all_three_kinds_parse_from_one_multi_document_stream_in_order() {
    let yaml = "\
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: se, namespace: shop }
spec:
  hosts: [api.partner.example]
  ports: [{ number: 443, name: https, protocol: https }]
  resolution: DNS_ROUND_ROBIN
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: { name: dr }
spec:
  host: api.partner.example
  trafficPolicy:
    connectionPool:
      http: { idleTimeout: 50s, maxRequestsPerConnection: 10 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs }
spec:
  hosts: [api.partner.example]
  http:
  - route: [{ destination: { host: api.partner.example } }]
";
    let res = parse_resources(yaml).unwrap();
    let se = &res.service_entries[0];
    assert_eq!((se.meta.document, se.meta.name.as_str()), (1, "se"));
    assert_eq!(se.meta.namespace.as_deref(), Some("shop"));
    assert_eq!(
        se.ports[0].protocol,
        Some(Protocol::Https),
        "protocol is case-insensitive like Istio's"
    );
    assert_eq!(se.resolution, Resolution::DnsRoundRobin);
    let dr = &res.destination_rules[0];
    assert_eq!(dr.meta.document, 2);
    let http = dr
        .traffic_policy
        .as_ref()
        .unwrap()
        .connection_pool
        .as_ref()
        .unwrap()
        .http
        .as_ref()
        .unwrap();
    assert_eq!(http.idle_timeout, Some(Duration::from_secs(50)));
    assert_eq!(res.virtual_services[0].meta.document, 3);
    assert_eq!(
        res.virtual_services[0].meta.api_version,
        "networking.istio.io/v1"
    );
}

#[test]
fn unknown_key_is_rejected_with_line_path_and_the_nearest_valid_key() {
    let err = parse_resources(VS_WITH_TYPO).unwrap_err();
    assert_eq!(err.path(), "spec.http[0].retries.retyOn");
    assert_eq!((err.line(), err.column()), (12, 7));
    assert_eq!(
        (err.kind(), err.name()),
        (Some("VirtualService"), Some("api"))
    );
    let Problem::UnknownKey {
        key,
        suggestion,
        valid,
    } = err.problem()
    else {
        panic!("{err}")
    };
    assert_eq!(key, "retyOn");
    assert_eq!(suggestion.as_deref(), Some("retryOn"));
    assert!(valid.contains(&"perTryTimeout".to_string()));
    assert!(err.to_string().contains("did you mean `retryOn`?"), "{err}");
}

#[test]
fn error_lines_are_relative_to_the_start_of_the_yaml_string() {
    let shifted = format!("\n\n{VS_WITH_TYPO}");
    let err = parse_resources(&shifted).unwrap_err();
    assert_eq!(err.line(), 14);
    assert_eq!(err.path(), "spec.http[0].retries.retyOn");
}

#[test]
fn an_embedding_file_can_shift_the_error_position_to_its_own_coordinates() {
    let err = parse_resources(VS_WITH_TYPO).unwrap_err().shifted(30, 6);
    assert_eq!((err.line(), err.column()), (42, 13));
    assert_eq!(err.path(), "spec.http[0].retries.retyOn");
}

#[test]
fn error_message_names_document_resource_position_and_path() {
    let err = parse_resources(VS_WITH_TYPO).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("document 1 (VirtualService api), line 12, column 7, spec.http[0].retries.retyOn: unknown key"), "{text}");
}

#[test]
fn unknown_kind_suggests_the_nearest_supported_kind() {
    let err = parse_resources(
        "apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: x}\nspec: {}\n",
    )
    .unwrap_err();
    assert_eq!((err.line(), err.path()), (2, "kind"));
    assert!(
        matches!(err.problem(), Problem::UnsupportedKind { suggestion: Some(s), .. } if s == "VirtualService")
    );
}

#[test]
fn api_versions_outside_networking_istio_io_are_rejected() {
    let err =
        parse_resources("apiVersion: v1\nkind: ServiceEntry\nmetadata: {name: x}\nspec: {}\n")
            .unwrap_err();
    assert_eq!((err.line(), err.path()), (1, "apiVersion"));
    assert!(matches!(
        err.problem(),
        Problem::UnsupportedApiVersion { .. }
    ));
}

#[test]
fn a_status_code_written_as_a_yaml_integer_is_a_type_error_as_in_kubernetes() {
    let yaml = VS_WITH_TYPO.replace("retyOn: 5xx", "retryOn: 503");
    let err = parse_resources(&yaml).unwrap_err();
    assert_eq!(
        (err.line(), err.path()),
        (12, "spec.http[0].retries.retryOn")
    );
    assert!(
        matches!(
            err.problem(),
            Problem::WrongType {
                expected: "a string",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn durations_that_go_cannot_parse_are_rejected_at_their_key() {
    for bad in ["2 s", "2sec", "2", "-1s"] {
        let yaml = VS_WITH_TYPO.replace("retyOn: 5xx", &format!("perTryTimeout: {bad:?}"));
        let err = parse_resources(&yaml).unwrap_err();
        assert_eq!(
            (err.line(), err.path()),
            (12, "spec.http[0].retries.perTryTimeout"),
            "{bad}"
        );
        assert!(
            matches!(err.problem(), Problem::InvalidDuration { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn go_syntax_durations_are_accepted() {
    let yaml = VS_WITH_TYPO.replace("retyOn: 5xx", "perTryTimeout: 0.5s");
    let res = parse_resources(&yaml).unwrap();
    let retries = res.virtual_services[0].http[0].retries.as_ref().unwrap();
    assert_eq!(retries.per_try_timeout, Some(Duration::from_millis(500)));
}

#[test]
fn yaml_syntax_errors_carry_the_document_index_and_line() {
    let yaml = "apiVersion: networking.istio.io/v1\n---\nkind: [oops\n";
    let err = parse_resources(yaml).unwrap_err();
    assert!(matches!(err.problem(), Problem::Syntax { .. }));
    assert_eq!(err.document(), 2);
    assert_eq!(err.line(), 3);
}

#[test]
fn valid_istio_fields_meshsim_does_not_model_are_accepted_and_listed_as_ignored() {
    let yaml = VS_WITH_TYPO.replace("      retyOn: 5xx\n", "").replace(
        "  - route:\n",
        "  - mirror: { host: shadow.example }\n    route:\n",
    );
    let res = parse_resources(&yaml).unwrap();
    assert_eq!(
        res.virtual_services[0].meta.ignored,
        vec!["spec.http[0].mirror".to_string()]
    );
}

#[test]
fn match_conditions_meshsim_cannot_honour_are_rejected_rather_than_widened() {
    let yaml = VS_WITH_TYPO.replace(
        "  - route:\n",
        "  - match: [{ queryParams: { x: { exact: q } } }]\n    route:\n",
    );
    let err = parse_resources(&yaml).unwrap_err();
    assert_eq!(
        (err.line(), err.path()),
        (8, "spec.http[0].match[0].queryParams")
    );
    assert!(matches!(err.problem(), Problem::Unsupported { .. }));

    let yaml = VS_WITH_TYPO.replace(
        "  - route:\n",
        "  - match: [{ scheme: { exact: https } }]\n    route:\n",
    );
    let err = parse_resources(&yaml).unwrap_err();
    assert_eq!(err.path(), "spec.http[0].match[0].scheme");
}

#[test]
fn missing_spec_is_reported_at_the_document_root() {
    let err = parse_resources(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\n",
    )
    .unwrap_err();
    assert_eq!(err.line(), 1);
    assert!(matches!(err.problem(), Problem::MissingKey { key } if key == "spec"));
}

#[test]
fn a_document_that_is_not_a_mapping_is_rejected() {
    let err = parse_resources("- a\n- b\n").unwrap_err();
    assert!(matches!(
        err.problem(),
        Problem::NotAResource {
            found: "a sequence"
        }
    ));
}

#[test]
fn pasted_kubectl_output_with_status_and_metadata_noise_parses() {
    let yaml = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: dr
  uid: 1234
  resourceVersion: \"99\"
  annotations: { a: b }
spec:
  host: api.partner.example
status: {}
";
    let res = parse_resources(yaml).unwrap();
    assert!(res.destination_rules[0].meta.ignored.is_empty());
}

/// DestinationRule `subsets` are read: name, labels and traffic policy.
#[test]
fn destination_rule_subsets_are_parsed_with_labels_and_policy() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: api }\nspec:\n  host: api\n  subsets:\n  - { name: v1, labels: { version: v1 }, trafficPolicy: { loadBalancer: { simple: RANDOM } } }\n";
    let res = meshsim_istio::parse_resources(yaml).unwrap();
    let s = &res.destination_rules[0].subsets[0];
    assert_eq!(s.name, "v1");
    assert_eq!(s.labels.get("version").map(String::as_str), Some("v1"));
    assert!(s.traffic_policy.as_ref().unwrap().load_balancer.is_some());
}
