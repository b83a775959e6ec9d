//! Bad scenarios fail with file, line, column and key path; never a panic.

use std::path::Path;

use meshsim_engine::Scenario;

#[path = "support/engine.rs"]
mod support;
use support::invalid;

const GOOD: &str = "\
version: 1
name: t
duration: 1m
world:
  external:
    - { name: api, address: 10.1.0.1:80 }
  pods:
    - name: app
      sidecar: true
      app:
        client: go
        calls:
          - { url: \"http://10.1.0.1/\", rate: 10/s }
mitigations:
  - name: none
  - name: retries
    istio: |
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: { name: api }
      spec:
        hosts: [api]
        http:
          - route: [{ destination: { host: api } }]
            retries: { attempts: 2, retryOn: \"5xx,connect-failure\" }
expect:
  - { mitigation: none, error_rate: \"< 1%\" }
";

#[test]
fn the_reference_scenario_is_valid() {
    Scenario::parse(GOOD, Path::new("t.yaml")).unwrap();
}

#[test]
fn a_typo_in_a_key_names_line_key_path_and_the_nearest_key() {
    let (line, _, path, message) =
        invalid(&GOOD.replace("        client: go", "        clinet: go"));
    assert_eq!(line, 11);
    assert_eq!(path, "world.pods[0].app.clinet");
    assert!(message.contains("did you mean `client`"), "{message}");
}

#[test]
fn a_bad_duration_names_its_line_and_key() {
    let (line, _, path, message) = invalid(&GOOD.replace("duration: 1m", "duration: 1 minute"));
    assert_eq!(line, 3);
    assert_eq!(path, "duration");
    assert!(message.contains("invalid duration"), "{message}");
}

#[test]
fn an_unknown_retry_on_token_points_into_the_istio_block() {
    let (line, _, path, message) =
        invalid(&GOOD.replace("5xx,connect-failure", "5xx,connect-failures"));
    assert_eq!(line, 25, "{path}: {message}");
    assert!(path.starts_with("mitigations[1].istio"), "{path}");
    assert!(path.contains("retryOn"), "{path}");
    assert!(message.contains("connect-failures"), "{message}");
}

#[test]
fn an_expectation_for_an_unknown_mitigation_is_rejected() {
    let (line, _, _, message) = invalid(&GOOD.replace(
        "mitigation: none, error_rate",
        "mitigation: nonee, error_rate",
    ));
    assert_eq!(line, 27);
    assert!(
        message.contains("no mitigation named \"nonee\""),
        "{message}"
    );
}

#[test]
fn an_event_after_the_end_is_rejected() {
    let text = GOOD.replace(
        "mitigations:\n",
        "timeline:\n  - at: 2m\n    host.stop: { name: api }\nmitigations:\n",
    );
    let (line, _, _, message) = invalid(&text);
    assert_eq!(line, 15);
    assert!(message.contains("not before the end"), "{message}");
}

#[test]
fn an_unknown_client_profile_lists_the_known_ones() {
    let (line, _, _, message) = invalid(&GOOD.replace("client: go", "client: ruby"));
    assert_eq!(line, 11);
    assert!(message.contains("jvm"), "{message}");
}

#[test]
fn an_external_host_on_the_pods_address_is_rejected() {
    let text = GOOD.replace(
        "    - name: app\n",
        "    - name: app\n      address: 10.1.0.1\n",
    );
    let (_, _, path, message) = invalid(&text);
    assert_eq!(path, "world.pods");
    assert!(
        message.contains("pod app uses 10.1.0.1, which is already external host api's address"),
        "{message}"
    );
}

#[test]
fn a_rate_out_of_range_is_rejected_at_its_line() {
    let (line, _, path, message) = invalid(&GOOD.replace("rate: 10/s", "rate: 10000000/s"));
    assert_eq!(line, 13);
    assert!(path.ends_with("rate"), "{path}");
    assert!(message.contains("out of range"), "{message}");
}

#[test]
fn a_name_with_both_addresses_and_a_cname_is_rejected() {
    let text = GOOD.replace(
        "world:\n",
        "world:\n  dns:\n    zones:\n      api.example: { a: [10.1.0.1], cname: other.example }\n",
    );
    let (line, _, path, message) = invalid(&text);
    assert_eq!(line, 7);
    assert_eq!(path, "world.dns.zones.api.example");
    assert!(message.contains("not both"), "{message}");
}

#[test]
fn a_zero_connect_timeout_is_rejected() {
    let (line, _, _, message) = invalid(&GOOD.replace(
        "        client: go\n",
        "        client: go\n        connect_timeout: 0s\n",
    ));
    assert_eq!(line, 12);
    assert!(message.contains("out of range"), "{message}");
}

#[test]
fn a_scenario_name_must_be_a_plain_file_name() {
    let (line, _, path, message) = invalid(&GOOD.replace("name: t\n", "name: ../t\n"));
    assert_eq!((line, path.as_str()), (2, "name"));
    assert!(message.contains("plain file name"), "{message}");
}

#[test]
fn an_unknown_error_kind_in_an_expectation_is_rejected() {
    let (line, _, _, message) =
        invalid(&GOOD.replace("error_rate: \"< 1%\"", "no_error: \"503 UX\""));
    assert_eq!(line, 27);
    assert!(message.contains("unknown error kind"), "{message}");
}

#[test]
fn a_service_whose_pods_would_take_an_external_hosts_address_is_rejected() {
    // GOOD's external host sits at 10.1.0.1: the first service's pods live in 10.1.0.0/16.
    let text = GOOD.replace(
        "  pods:\n",
        "  services:\n    - { name: b, app: { routes: [{ prefix: / }] } }\n  pods:\n",
    );
    let (_, _, path, message) = invalid(&text);
    assert_eq!(path, "world.services");
    assert!(message.contains("10.1.0.1 is in 10.1.0.0/16"), "{message}");
}

#[test]
fn a_timeline_event_naming_an_unknown_service_lists_the_known_ones() {
    let text = GOOD
        .replace("10.1.0.1", "10.9.0.1")
        .replace(
            "  pods:\n",
            "  services:\n    - { name: b, app: { routes: [{ prefix: / }] } }\n  pods:\n",
        )
        .replace(
            "mitigations:\n",
            "timeline:\n  - at: 10s\n    service.scale: { name: c, replicas: 2 }\nmitigations:\n",
        );
    let (line, _, path, message) = invalid(&text);
    assert!(line > 0, "{line} {path} {message}");
    assert!(
        message.contains("no service named \"c\"; known: b"),
        "{message}"
    );
}

#[test]
fn an_expectation_on_an_unknown_hop_names_its_line_and_lists_the_calls() {
    let text = GOOD.replace(
        "{ mitigation: none, error_rate: \"< 1%\" }",
        "{ mitigation: none, hop: catalog, error_rate: \"< 1%\" }",
    );
    let (line, _, path, message) = invalid(&text);
    assert_eq!((line, path.as_str()), (27, "expect[0].hop"));
    assert!(
        message.contains("names no call") && message.contains("app -> http://10.1.0.1/"),
        "{message}"
    );
}
