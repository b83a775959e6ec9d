//! Every address of a world that is up, scenario address and the real
//! loopback address it is served on: the table `meshsim up` prints and the
//! JSON of its `--state` file and of `GET /endpoints`.

use std::fmt::Write as _;
use std::net::SocketAddr;

use meshsim_app::ProxyHandle;
use serde::{Deserialize, Serialize};

use crate::scenario::{Mitigation, Scenario};
use crate::world::World;

/// A scenario address and the loopback address that serves it (`None`
/// when nothing is bound there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    /// The address in the scenario's own address space (`10.0.0.1:3128`).
    pub scenario: SocketAddr,
    /// The kernel socket's address on 127.0.0.0/8: what a real client uses.
    pub real: Option<SocketAddr>,
}

/// What a meshed pod offers a real client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEndpoint {
    /// The pod.
    pub pod: String,
    /// Its forward HTTP proxy (`curl -x http://REAL`): requests go through
    /// the pod's sidecar as captured traffic.
    pub proxy: Option<AddressPair>,
    /// Its sidecar's Envoy admin (15000).
    pub admin: Option<AddressPair>,
    /// Its sidecar's readiness (15021, `/healthz/ready`).
    pub readiness: Option<AddressPair>,
}

/// An external host of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEndpoint {
    /// Its name (what `host.stop` takes).
    pub name: String,
    /// Where it listens.
    pub address: AddressPair,
}

/// Every address of a world that is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The scenario.
    pub scenario: String,
    /// The mitigation the world was built with.
    pub mitigation: String,
    /// The seed.
    pub seed: u64,
    /// The DNS server over UDP (`dig @IP -p PORT`).
    pub dns_udp: AddressPair,
    /// The DNS server over TCP (`dig +tcp @IP -p PORT`).
    pub dns_tcp: AddressPair,
    /// The meshed pods.
    pub pods: Vec<PodEndpoint>,
    /// The external hosts, in file order.
    pub hosts: Vec<HostEndpoint>,
    /// The control endpoint (`MESHSIM_CTL`), on 127.0.0.1.
    pub control: SocketAddr,
    /// Copy-paste command lines that use the addresses above.
    pub try_lines: Vec<String>,
}

impl Endpoints {
    /// The addresses of `world`, built from `scenario`.
    pub(crate) fn collect(
        world: &World,
        scenario: &Scenario,
        mitigation: &Mitigation,
        proxies: &[(String, ProxyHandle)],
        control: SocketAddr,
        seed: u64,
    ) -> Endpoints {
        let net = &world.net;
        let tcp = |a: SocketAddr| AddressPair {
            scenario: a,
            real: net.real_addr(a),
        };
        let dns = world.dns_addr();
        let pods = scenario
            .pods
            .iter()
            .filter(|p| p.sidecar)
            .map(|p| {
                let ports = world.sidecar_ports().iter().find(|s| s.pod == p.name);
                PodEndpoint {
                    pod: p.name.clone(),
                    proxy: proxies
                        .iter()
                        .find(|(n, _)| n == &p.name)
                        .map(|(_, h)| tcp(h.local_addr())),
                    admin: ports.and_then(|s| s.admin).map(tcp),
                    readiness: ports.and_then(|s| s.readiness).map(tcp),
                }
            })
            .collect();
        let hosts = scenario
            .external
            .iter()
            .map(|e| HostEndpoint {
                name: e.name.clone(),
                address: tcp(e.address),
            })
            .collect();
        let mut endpoints = Endpoints {
            scenario: scenario.name.clone(),
            mitigation: mitigation.name.clone(),
            seed,
            dns_udp: AddressPair {
                scenario: dns,
                real: net.real_udp_addr(dns),
            },
            dns_tcp: tcp(dns),
            pods,
            hosts,
            control: net.real_addr(control).unwrap_or(control),
            try_lines: Vec::new(),
        };
        endpoints.try_lines = try_lines(&endpoints, scenario);
        endpoints
    }

    /// The table `meshsim up` prints: one line per address, then the
    /// copy-paste lines.
    pub fn render(&self) -> String {
        let mut rows: Vec<(String, AddressPair)> = vec![
            ("dns (udp)".into(), self.dns_udp),
            ("dns (tcp)".into(), self.dns_tcp),
        ];
        for p in &self.pods {
            let named = |what: &str, a: &Option<AddressPair>| {
                a.map(|a| (format!("{what} of pod {}", p.pod), a))
            };
            rows.extend(named("proxy", &p.proxy));
            rows.extend(named("admin", &p.admin));
            rows.extend(named("readiness", &p.readiness));
        }
        for h in &self.hosts {
            rows.push((format!("host {}", h.name), h.address));
        }
        let control = AddressPair {
            scenario: self.control,
            real: Some(self.control),
        };
        rows.push(("control (meshsim ctl)".into(), control));
        let width = rows.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        let mut out = format!(
            "meshsim up: {} (mitigation {}, seed {}), real mode on loopback\n",
            self.scenario, self.mitigation, self.seed
        );
        let _ = writeln!(
            out,
            "  {:width$}  {:22}  real address",
            "what", "scenario address"
        );
        for (what, a) in rows {
            let real = a.real.map_or_else(|| "-".to_string(), |r| r.to_string());
            let _ = writeln!(
                out,
                "  {what:width$}  {:22}  {real}",
                a.scenario.to_string()
            );
        }
        out.push_str("try:\n");
        for line in &self.try_lines {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}

/// `dig`, `curl -x`, the readiness probe, `MESHSIM_CTL` and a `ctl` line,
/// with the real addresses.
fn try_lines(e: &Endpoints, scenario: &Scenario) -> Vec<String> {
    let mut lines = Vec::new();
    let name = scenario.dns.records.first().map(|r| r.name.clone());
    if let (Some(dns), Some(name)) = (e.dns_udp.real, &name) {
        lines.push(format!("dig @{} -p {} {name} +short", dns.ip(), dns.port()));
    }
    for p in &e.pods {
        let Some(proxy) = p.proxy.and_then(|a| a.real) else {
            continue;
        };
        let url = scenario
            .pods
            .iter()
            .find(|s| s.name == p.pod)
            .and_then(|s| s.calls.first())
            .map(|c| c.url.clone())
            .or_else(|| name.as_ref().map(|n| format!("http://{n}/")));
        if let Some(url) = url {
            lines.push(format!("curl -sS -i -x http://{proxy} {url}"));
        }
        if let Some(ready) = p.readiness.and_then(|a| a.real) {
            lines.push(format!("curl -sS http://{ready}/healthz/ready"));
        }
    }
    lines.push(format!("export MESHSIM_CTL={}", e.control));
    if let Some(h) = e.hosts.first() {
        lines.push(format!("meshsim ctl host stop {} --how reset", h.name));
    }
    lines.push("meshsim ctl stats".into());
    lines
}
