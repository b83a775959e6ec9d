//! `meshsim up` in-process ([`meshsim_engine::up`]): the catalogue's ALB
//! scenario brought up on loopback without its application, joined by the
//! real `dig` and `curl` programs and driven through the control endpoint.
//!
//! `dig` (Debian's dnsutils) and `curl` must be installed: `.ci/run`
//! installs them. A missing program fails the test; it never skips.

use std::path::Path;
use std::process::Command;

use meshsim_engine::up::{self, Up, client};
use meshsim_engine::{Scenario, UpOptions};

fn alb() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/alb-ip-rotation.yaml");
    Scenario::load(&path).unwrap()
}

fn up_without_app() -> Up {
    up::start(alb(), UpOptions::default()).unwrap()
}

/// Runs a real program; a missing one fails with what installs it.
fn program(name: &str, args: &[&str]) -> String {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{name}` ({e}): install dnsutils and curl (.ci/run installs them with apt-get)")
    });
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `curl -sS -i -x PROXY http://api.partner.example/charge`.
fn curl_charge(up: &Up) -> String {
    let proxy = up.endpoints().pods[0].proxy.unwrap().real.unwrap();
    program(
        "curl",
        &[
            "-sS",
            "-i",
            "--max-time",
            "20",
            "-x",
            &format!("http://{proxy}"),
            "http://api.partner.example/charge",
        ],
    )
}

fn apply(up: &Up, action: &str) -> client::ControlReply {
    client::request(up.endpoints().control, "POST", "/apply", action).unwrap()
}

/// The scenario DNS server answers a real `dig` on its printed loopback
/// address with the zone's A records.
#[test]
fn dig_against_the_printed_dns_address_gets_the_zones_addresses() {
    let up = up_without_app();
    let dns = up.endpoints().dns_udp.real.unwrap();
    let port = dns.port().to_string();
    let args = ["+short", "+time=5", "+tries=2", "-p", &port];
    let server = format!("@{}", dns.ip());
    let mut all: Vec<&str> = args.to_vec();
    all.extend([server.as_str(), "api.partner.example"]);
    let answer = program("dig", &all);
    let mut ips: Vec<&str> = answer.lines().collect();
    ips.sort_unstable();
    assert_eq!(ips, ["52.1.1.10", "52.1.1.11"]);
    up.stop();
    up.wait().unwrap();
}

/// Through the pod's proxy a real `curl -x` reaches the ALB through the
/// sidecar (fact sheet §5.2: `server: envoy` and
/// `x-envoy-upstream-service-time` on a proxied response); once DNS names
/// only node A and node A is stopped with a reset, the next request gets
/// Envoy's local reply: 503 with `upstream connect error or
/// disconnect/reset before headers. reset reason: remote connection
/// failure` (fact sheet §5.1, first row: a refused connect is UF).
#[test]
fn curl_through_the_proxy_gets_200_then_envoys_reset_reason_after_host_stop() {
    let up = up_without_app();
    let ok = curl_charge(&up);
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("\r\nserver: envoy\r\n"), "{ok}");
    assert!(ok.contains("\r\nx-envoy-upstream-service-time: "), "{ok}");
    let set = apply(&up, "dns.set: { api.partner.example: { a: [52.1.1.10] } }");
    assert_eq!(set.status, 200, "{}", set.body);
    let stop = apply(&up, "host.stop: { name: alb-node-a, how: reset }");
    assert_eq!(stop.status, 200, "{}", stop.body);
    assert!(
        stop.body.contains("host.stop alb-node-a (reset)"),
        "{}",
        stop.body
    );
    let failed = curl_charge(&up);
    assert!(
        failed.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{failed}"
    );
    assert!(failed.contains("\r\nserver: envoy\r\n"), "{failed}");
    let body = failed.split_once("\r\n\r\n").unwrap().1;
    assert!(
        body.starts_with(
            "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"
        ),
        "{body}"
    );
    up.stop();
    let stats = up.wait().unwrap();
    assert_eq!(stats.proxies[0].forwarded, 2);
    let applied: Vec<&str> = stats.applied.iter().map(|a| a.what.as_str()).collect();
    assert_eq!(
        applied,
        [
            "dns.set api.partner.example -> 52.1.1.10",
            "host.stop alb-node-a (reset)"
        ]
    );
}

/// A bad action is refused with 400 and the loader's message naming the
/// key, and the world is left as it was.
#[test]
fn apply_with_an_unknown_key_gets_400_naming_the_key() {
    let up = up_without_app();
    let r = apply(&up, "host.stop: { name: alb-node-a, hwo: reset }");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("host.stop.hwo"), "{}", r.body);
    assert!(r.body.contains("did you mean `how`"), "{}", r.body);
    let unknown = apply(&up, "host.stop: { name: alb-node-z }");
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.body.contains("alb-node-z"), "{}", unknown.body);
    let stats = client::request(up.endpoints().control, "GET", "/stats", "").unwrap();
    assert_eq!(stats.status, 200);
    assert!(stats.body.contains("\"applied\": []"), "{}", stats.body);
    up.stop();
    up.wait().unwrap();
}

/// A request from a web page (browsers always send `Origin`, `meshsim ctl`
/// and curl never do) is refused: a page open in a local browser cannot
/// stop the world or fire faults through the loopback control endpoint.
#[test]
fn a_request_with_an_origin_header_is_refused_and_changes_nothing() {
    let up = up_without_app();
    let addr = up.endpoints().control;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "POST /stop HTTP/1.1\r\nhost: {addr}\r\norigin: http://evil.example\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut s, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    // Still up: the control endpoint answers.
    let stats = client::request(addr, "GET", "/stats", "").unwrap();
    assert_eq!(stats.status, 200);
    up.stop();
    up.wait().unwrap();
}

/// `GET /endpoints` serves what `start` returned; `POST /stop` stops the
/// world, whose sockets are then closed (the proxy and the control
/// endpoint refuse connections).
#[test]
fn post_stop_ends_the_world_and_closes_its_sockets() {
    let up = up_without_app();
    let control = up.endpoints().control;
    let proxy = up.endpoints().pods[0].proxy.unwrap().real.unwrap();
    let listed = client::request(control, "GET", "/endpoints", "").unwrap();
    let listed: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(listed, serde_json::to_value(up.endpoints()).unwrap());
    let r = client::request(control, "POST", "/stop", "").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    up.wait().unwrap();
    for addr in [control, proxy] {
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{addr}"
        );
    }
}

/// With the built-in application on, the world still stops cleanly and
/// says the application ran.
#[test]
fn up_with_the_application_stops_cleanly_and_reports_it() {
    let opts = UpOptions {
        app: true,
        ..UpOptions::default()
    };
    let up = up::start(alb(), opts).unwrap();
    assert!(curl_charge(&up).starts_with("HTTP/1.1 200 OK\r\n"));
    up.stop();
    let stats = up.wait().unwrap();
    assert!(stats.app);
    assert_eq!(stats.mitigation, "none");
}

/// A mitigation the scenario does not have is refused before anything is
/// bound, naming the ones it has.
#[test]
fn an_unknown_mitigation_is_refused_naming_the_known_ones() {
    let opts = UpOptions {
        mitigation: Some("nope".into()),
        ..UpOptions::default()
    };
    let err = up::start(alb(), opts).unwrap_err().to_string();
    assert!(err.contains("no mitigation \"nope\""), "{err}");
    assert!(err.contains("resolution-dns"), "{err}");
}

/// A time scale out of range is refused before anything is bound, with
/// the range in the message.
#[test]
fn a_time_scale_out_of_range_is_refused() {
    let opts = UpOptions {
        time_scale: Some(0.0),
        ..UpOptions::default()
    };
    let err = up::start(alb(), opts).unwrap_err().to_string();
    assert!(err.contains("time scale 0 is out of range"), "{err}");
}

/// With a time scale the world comes up and answers as unscaled.
#[test]
fn a_scaled_world_still_serves_curl_through_the_sidecar() {
    let opts = UpOptions {
        time_scale: Some(0.5),
        ..UpOptions::default()
    };
    let up = up::start(alb(), opts).unwrap();
    assert!(curl_charge(&up).starts_with("HTTP/1.1 200 OK\r\n"));
    up.stop();
    up.wait().unwrap();
}
