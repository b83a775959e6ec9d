//! The rule table: every code with its severity, title, fix, fact sheet
//! section and demo scenario. Codes are stable: a retired rule keeps its
//! code unused.

use super::{Finding, Severity};
use crate::error::Problem;
use crate::model::Resources;

/// One lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable code, `MS` + four digits.
    pub code: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// What it finds, in a few words.
    pub title: &'static str,
    /// How to fix what it finds.
    pub fix: &'static str,
    /// The fact sheet section it rests on.
    pub fact: &'static str,
    /// The catalogue scenario that demonstrates it, if one does.
    pub demo: Option<&'static str>,
}

/// Every rule, by code.
pub const RULES: &[Rule] = &[
    Rule {
        code: "MS0001",
        severity: Severity::Error,
        title: "Istio's validation webhook rejects the resource",
        fix: "correct the field as the message says; `kubectl apply` would refuse the resource",
        fact: "§2.1",
        demo: None,
    },
    Rule {
        code: "MS0101",
        severity: Severity::Warning,
        title: "port without a protocol: Istio sniffs it",
        fix: "name the port `<protocol>[-suffix]` (http, http2, grpc, tcp...) or set `appProtocol` (Service) / `protocol` (ServiceEntry)",
        fact: "§7.1, §7.2",
        demo: Some("scenarios/server-first-protocol.yaml"),
    },
    Rule {
        code: "MS0102",
        severity: Severity::Error,
        title: "unknown retryOn token",
        fix: "use Envoy's retry_on tokens (5xx, gateway-error, reset, connect-failure, refused-stream, retriable-4xx, retriable-status-codes...) or HTTP status codes, comma-separated without spaces",
        fact: "§1.1, §2.1",
        demo: None,
    },
    Rule {
        code: "MS0103",
        severity: Severity::Error,
        title: "attempts: 0 combined with other retry fields",
        fix: "either remove the other retry fields (attempts: 0 turns retries off) or set attempts >= 1",
        fact: "§2.1",
        demo: None,
    },
    Rule {
        code: "MS0104",
        severity: Severity::Warning,
        title: "route timeout at or below perTryTimeout: retries never run",
        fix: "make the route timeout larger than perTryTimeout x (attempts + 1) plus back-off, or lower perTryTimeout",
        fact: "§1.2, §1.4",
        demo: None,
    },
    Rule {
        code: "MS0105",
        severity: Severity::Warning,
        title: "perTryTimeout x (attempts + 1) exceeds the route timeout",
        fix: "raise the route timeout to cover every attempt, or lower attempts or perTryTimeout",
        fact: "§1.2, §2.3",
        demo: None,
    },
    Rule {
        code: "MS0106",
        severity: Severity::Warning,
        title: "retries without perTryTimeout toward a host that can black-hole",
        fix: "set perTryTimeout (a few times the normal latency) and retryOn with reset or 5xx, so a hung attempt is cut and retried",
        fact: "§1.2",
        demo: Some("scenarios/firewall-dns-ttl-blackhole.yaml"),
    },
    Rule {
        code: "MS0107",
        severity: Severity::Warning,
        title: "reset / 5xx retries on non-idempotent requests",
        fix: "retry non-idempotent methods only on connect-failure, refused-stream or reset-before-request (nothing was sent), or match them on a route of their own without those retries",
        fact: "§1.1",
        demo: None,
    },
    Rule {
        code: "MS0108",
        severity: Severity::Warning,
        title: "retryOn replaces Istio's default list and drops connect-failure or refused-stream",
        fix: "keep connect-failure,refused-stream in retryOn (Istio's defaults) next to the tokens you add",
        fact: "§2.1, §2.2",
        demo: Some("scenarios/http2-refused-streams.yaml"),
    },
    Rule {
        code: "MS0109",
        severity: Severity::Warning,
        title: "VirtualService http rules for a port Istio takes for TCP: they never apply",
        fix: "name the Service port `http-<suffix>` (or set `appProtocol: http`; ServiceEntry `protocol: HTTP`) so the HTTP chain, and the rules, apply; or move the rules to `tcp`",
        fact: "§7.1, §7.3",
        demo: Some("scenarios/port-naming.yaml"),
    },
    Rule {
        code: "MS0110",
        severity: Severity::Error,
        title: "port declared http2/grpc in front of an application that speaks HTTP/1.1 only",
        fix: "name the port `http-<suffix>` (or `appProtocol: http`) for an HTTP/1.1 application; keep `http2`/`grpc` for servers that accept h2c",
        fact: "§7.1",
        demo: Some("scenarios/port-naming.yaml"),
    },
    Rule {
        code: "MS0201",
        severity: Severity::Warning,
        title: "resolution NONE (ORIGINAL_DST) for a host whose DNS answers change",
        fix: "use a ServiceEntry with resolution: DNS (STRICT_DNS re-resolves and drains removed addresses), or make the app re-resolve and retire its connections",
        fact: "§3.1, §3.3, §3.4",
        demo: Some("scenarios/alb-ip-rotation.yaml"),
    },
    Rule {
        code: "MS0202",
        severity: Severity::Warning,
        title: "upstream idle timeout at or above the server's keep-alive timeout",
        fix: "set DestinationRule connectionPool.http.idleTimeout below the server's keep-alive timeout, and retry on reset",
        fact: "§4.1, §4.2",
        demo: None,
    },
    Rule {
        code: "MS0203",
        severity: Severity::Info,
        title: "Envoy's default upstream idle timeout is at or above the server's keep-alive timeout",
        fix: "set DestinationRule connectionPool.http.idleTimeout below the server's keep-alive timeout",
        fact: "§3.4, §4.1, §4.2",
        demo: None,
    },
    Rule {
        code: "MS0204",
        severity: Severity::Warning,
        title: "upstream idle timeout at or above a middlebox's idle timer",
        fix: "set DestinationRule connectionPool.http.idleTimeout (or tcp.tcpKeepalive.time) below the middlebox's idle timer",
        fact: "§4.1, §4.2",
        demo: Some("scenarios/nat-idle-timeout.yaml"),
    },
    Rule {
        code: "MS0205",
        severity: Severity::Error,
        title: "REGISTRY_ONLY while an application calls a host no ServiceEntry or Service declares",
        fix: "add a ServiceEntry for the host (resolution DNS for a name, STATIC for IPs) with the port and protocol called, or keep ALLOW_ANY until every egress host is declared",
        fact: "§3.4",
        demo: Some("scenarios/registry-only-egress.yaml"),
    },
    Rule {
        code: "MS0206",
        severity: Severity::Error,
        title: "REGISTRY_ONLY while an application calls a declared host on a port its ServiceEntry lacks",
        fix: "add the port the application calls to the ServiceEntry's ports (with its protocol)",
        fact: "§3.4",
        demo: Some("scenarios/registry-only-egress.yaml"),
    },
    Rule {
        code: "MS0301",
        severity: Severity::Error,
        title: "STRICT mTLS on a workload that callers without a sidecar reach",
        fix: "keep PERMISSIVE (or a portLevelMtls PERMISSIVE exception) until every caller has a sidecar; then STRICT, namespace by namespace",
        fact: "§8",
        demo: Some("scenarios/strict-mtls-non-mesh-client.yaml"),
    },
    Rule {
        code: "MS0302",
        severity: Severity::Error,
        title: "STRICT mTLS on the port a readiness probe reaches through the sidecar (probe rewrite off)",
        fix: "drop sidecar.istio.io/rewriteAppHTTPProbers: \"false\" (Istio rewrites probes to pilot-agent's 15020 by default), use an exec probe, or keep the probe's port PERMISSIVE (portLevelMtls)",
        fact: "§6.1, §8; incidents.md INC-14",
        demo: Some("scenarios/strict-mtls-probes.yaml"),
    },
    Rule {
        code: "MS0303",
        severity: Severity::Warning,
        title: "a tcp_socket readiness probe the sidecar answers: it passes whatever the app does",
        fix: "let Istio rewrite the probe (Istio >= 1.12, probe rewrite on), or probe with http_get (rewritten) or exec",
        fact: "§6.1; incidents.md INC-14; Istio 1.12 upgrade notes",
        demo: None,
    },
    Rule {
        code: "MS0401",
        severity: Severity::Error,
        title: "application listens on localhost only: the inbound sidecar (Istio >= 1.10) forwards to the pod IP",
        fix: "bind the application to 0.0.0.0 (or ::); if it must stay on localhost, a Sidecar resource's ingress defaultEndpoint 127.0.0.1:<port> (istioctl analyze IST0143)",
        fact: "§6.1; incidents.md INC-15",
        demo: None,
    },
    Rule {
        code: "MS0402",
        severity: Severity::Error,
        title: "application listens on the pod IP only: the inbound sidecar (Istio < 1.10) forwards to 127.0.0.1",
        fix: "bind the application to 0.0.0.0 (or ::), or upgrade to Istio 1.10 or later, whose inbound forwards to the pod IP",
        fact: "§6.1; incidents.md INC-15",
        demo: None,
    },
];

/// The rule with `code`.
///
/// # Panics
/// When `code` is not in [`RULES`]: every rule function uses a code of the
/// table (a broken invariant, caught by the unit tests).
pub(crate) fn rule(code: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.code == code)
        .unwrap_or_else(|| panic!("lint code {code} is not in RULES"))
}

/// Whether a VirtualService validation error has its own rule: unknown
/// `retryOn` tokens are MS0102, `attempts: 0` with other fields MS0103.
fn dedicated(problem: &Problem) -> bool {
    matches!(problem, Problem::InvalidRetryOn { .. })
        || problem.to_string().contains("attempts are set to 0")
}

/// MS0001: every error of Istio's validation that no dedicated rule reports
/// (the mesh's `defaultHttpRetryPolicy` has no dedicated rule).
pub(crate) fn validation(res: &Resources) -> Vec<Finding> {
    crate::validate::validate_all(res)
        .into_iter()
        .filter(|e| e.kind() != Some("VirtualService") || !dedicated(e.problem()))
        .map(|e| {
            let resource = match (e.kind(), e.name()) {
                (Some(k), Some(n)) => format!("{k} {n}"),
                (Some(k), None) => k.to_string(),
                _ => "resource".to_string(),
            };
            Finding {
                document: e.document(),
                path: e.path().to_string(),
                line: (e.line() > 0).then_some(e.line()),
                column: (e.line() > 0).then_some(e.column()),
                ..Finding::about("MS0001", resource, e.problem().to_string())
            }
        })
        .collect()
}
