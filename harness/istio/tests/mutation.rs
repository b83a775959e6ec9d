//! Bad input is an error, never a panic: an unknown key injected into every
//! mapping is rejected at its own line, and arbitrary text never panics.

use meshsim_istio::{IstioVersion, MeshConfig, Problem, parse_resources, translate, validate_all};
use proptest::prelude::*;

const RESOURCES: &str = "\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: ext-service-se
  namespace: shop
spec:
  hosts:
    - host1.yourdomain.com
  location: MESH_EXTERNAL
  ports:
    - name: service-http
      number: 80
      protocol: HTTP
  resolution: DNS
  endpoints:
    - address: alb.example
      ports:
        service-http: 8080
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: host1
spec:
  hosts:
    - host1.yourdomain.com
  http:
    - name: main
      match:
        - uri:
            prefix: /api
      retries:
        attempts: 3
        perTryTimeout: 2s
        retryOn: gateway-error,connect-failure
      route:
        - destination:
            host: host1.yourdomain.com
            port:
              number: 80
          weight: 100
      timeout: 30s
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: host1
spec:
  host: host1.yourdomain.com
  trafficPolicy:
    connectionPool:
      tcp:
        connectTimeout: 1s
        tcpKeepalive:
          time: 30s
      http:
        idleTimeout: 30s
    outlierDetection:
      interval: 10s
";

#[test]
fn the_mutation_base_is_valid() {
    let res = parse_resources(RESOURCES).unwrap();
    assert!(validate_all(&res).is_empty());
}

#[test]
fn an_unknown_key_injected_into_any_mapping_is_rejected_at_its_line() {
    let lines: Vec<&str> = RESOURCES.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("- ") || !trimmed.contains(':') || *line == "---" {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        mutated.insert(i, format!("{}bogusKey: 1", " ".repeat(indent)));
        let err = match parse_resources(&(mutated.join("\n") + "\n")) {
            Err(err) => {
                let unknown =
                    matches!(err.problem(), Problem::UnknownKey { key, .. } if key == "bogusKey");
                assert!(unknown, "line {}: {err}", i + 1);
                assert_eq!(err.column(), indent + 1, "{err}");
                err
            }
            // Free-form maps (endpoint ports by name) are checked by validation.
            Ok(res) => validate_all(&res)
                .into_iter()
                .next()
                .expect("validation rejects the bogus port name"),
        };
        assert_eq!(err.line(), i + 1, "{err}");
        assert!(err.path().ends_with("bogusKey"), "{}", err.path());
        checked += 1;
    }
    assert!(checked > 30, "mutated {checked} mappings");
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = parse_resources(&text);
    }

    #[test]
    fn corrupted_resources_never_panic_and_parsed_ones_translate(at in 0usize..1500, len in 0usize..20, junk in "[ -~\n]{0,6}") {
        let at = at.min(RESOURCES.len());
        let end = (at + len).min(RESOURCES.len());
        if RESOURCES.is_char_boundary(at) && RESOURCES.is_char_boundary(end) {
            let text = format!("{}{}{}", &RESOURCES[..at], junk, &RESOURCES[end..]);
            if let Ok(res) = parse_resources(&text) {
                let _ = validate_all(&res);
                let v = IstioVersion::new(1, 24);
                let _ = translate(&res, v, &MeshConfig::for_version(v), vec![]);
            }
        }
    }
}
