//! Issue 6: whatever the Istio decoder is given, arbitrary bytes or YAML
//! trees made of Istio's own keys, it returns resources or an error, never
//! a panic; and lint never panics on what it returns.

use meshsim_istio::lint::{HostFacts, LintContext};
use meshsim_istio::{lint, parse_resources};
use proptest::prelude::*;

const KINDS: &[(&str, &str)] = &[
    ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1beta1", "DestinationRule"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("install.istio.io/v1alpha1", "IstioOperator"),
    ("networking.istio.io/v1", "Sidecar"),
];

const KEYS: &[&str] = &[
    "hosts",
    "http",
    "route",
    "destination",
    "host",
    "subset",
    "weight",
    "retries",
    "attempts",
    "perTryTimeout",
    "retryOn",
    "timeout",
    "match",
    "uri",
    "prefix",
    "exact",
    "method",
    "port",
    "trafficPolicy",
    "connectionPool",
    "tcp",
    "idleTimeout",
    "maxConnections",
    "tcpKeepalive",
    "time",
    "outlierDetection",
    "resolution",
    "ports",
    "number",
    "name",
    "protocol",
    "targetPort",
    "endpoints",
    "address",
    "subsets",
    "labels",
    "mtls",
    "mode",
    "portLevelMtls",
    "selector",
    "matchLabels",
    "meshConfig",
    "outboundTrafficPolicy",
    "defaultHttpRetryPolicy",
    "fault",
    "abort",
    "delay",
    "percentage",
    "value",
    "httpStatus",
    "tls",
    "location",
    "addresses",
    "exportTo",
    "gateways",
    "headers",
    "backoff",
    "h2UpgradePolicy",
];

const SCALARS: &[&str] = &[
    "1",
    "0",
    "-1",
    "3.5",
    "99999999999999999999",
    "2s",
    "1ns",
    "0s",
    "-5s",
    "1h",
    "x",
    "~",
    "true",
    "\"\"",
    "HTTP",
    "TCP",
    "NONE",
    "DNS",
    "STRICT",
    "REGISTRY_ONLY",
    "5xx,reset",
    "a.example",
    "*",
    "*.example",
    "10.0.0.1",
    "10.0.0.0/8",
    "ISTIO_MUTUAL",
    "[]",
    "{}",
    "\"a: b\"",
    "'q'",
    "&a x",
    "*a",
    "!!str 1",
    "\"\\u0000\"",
];

/// A YAML value in flow style, built from Istio's keys and awkward scalars.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(SCALARS).prop_map(str::to_string);
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                let kv: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", kv.join(", "))
            }),
        ]
    })
}

/// A document of a known kind with an arbitrary `spec`.
fn document() -> impl Strategy<Value = String> {
    (prop::sample::select(KINDS), value(), prop::bool::ANY).prop_map(|((api, kind), spec, ns)| {
        let ns = if ns { ", namespace: shop" } else { "" };
        format!("apiVersion: {api}\nkind: {kind}\nmetadata: {{ name: a{ns} }}\nspec: {spec}\n")
    })
}

/// A context that knows a little about the hosts the documents name.
fn context() -> LintContext {
    let facts = HostFacts {
        via_sidecar: true,
        dns_changes: Some("dns.set".into()),
        blackhole: Some("host.stop".into()),
        keepalive_timeout: Some(std::time::Duration::from_secs(5)),
        methods: ["POST".to_string()].into(),
        schemes: ["http".to_string()].into(),
        ports: [80, 8080].into(),
        ..HostFacts::default()
    };
    LintContext {
        hosts: [("a.example".to_string(), facts)].into(),
        ..LintContext::default()
    }
}

fn decode_and_lint(text: &str) {
    if let Ok(res) = parse_resources(text) {
        let _ = lint(&res, &context());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_and_lint(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_yaml_of_istio_keys_never_panics_the_decoder_or_lint(
        docs in prop::collection::vec(document(), 1..4)
    ) {
        decode_and_lint(&docs.join("---\n"));
    }
}
