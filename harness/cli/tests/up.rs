//! `meshsim up` and `meshsim ctl` as a person uses them (README, "Join a
//! running reproduction"): the built binary brought up on the catalogue's
//! ALB scenario, the real `dig` and `curl`, `ctl` subcommands and their
//! exit codes (0 done, 1 refused, 2 cannot reach), Ctrl-C.
//!
//! `dig` (Debian's dnsutils) and `curl` must be installed: `.ci/run`
//! installs them. A missing program fails the test; it never skips.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `meshsim up` and its addresses (from the `--state` file).
struct UpChild {
    child: Child,
    stdout: BufReader<ChildStdout>,
    state: serde_json::Value,
}

/// Starts `meshsim up` and reads its stdout until the ready line: the
/// state file is complete by then.
fn up(name: &str) -> UpChild {
    let dir = std::env::temp_dir().join(format!("meshsim-up-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args([
            "up",
            "scenarios/alb-ip-rotation.yaml",
            "--no-app",
            "--state",
        ])
        .arg(&state)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("meshsim runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "meshsim up ended before its ready line: {seen}");
        seen.push_str(&line);
        if line.starts_with("meshsim up: ready") {
            break;
        }
    }
    assert!(seen.contains("dns (udp)"), "{seen}");
    let text = std::fs::read_to_string(&state).unwrap();
    UpChild {
        child,
        stdout,
        state: serde_json::from_str(&text).unwrap(),
    }
}

impl UpChild {
    fn addr(&self, pointer: &str) -> String {
        self.state
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no {pointer} in {}", self.state))
            .to_string()
    }

    /// Waits for the exit; the exit code and the rest of stdout.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        for line in self.stdout.lines() {
            rest.push_str(&line.unwrap());
            rest.push('\n');
        }
        (status.code(), rest)
    }
}

/// Runs a real program; a missing one fails with what installs it.
fn program(name: &str, args: &[&str]) -> String {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{name}` ({e}): install dnsutils and curl (.ci/run installs them with apt-get)")
    });
    assert!(out.status.success(), "{name} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ctl(control: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .arg("ctl")
        .args(args)
        .env("MESHSIM_CTL", control)
        .output()
        .expect("meshsim runs")
}

fn curl_charge(proxy: &str) -> String {
    let proxy = format!("http://{proxy}");
    let args = ["-sS", "-i", "--max-time", "20", "-x", &proxy];
    let mut all = args.to_vec();
    all.push("http://api.partner.example/charge");
    program("curl", &all)
}

/// The README walk-through: `up`, `dig`, `curl -x` (200 through the
/// sidecar), `ctl dns set` + `ctl host stop --how reset`, `curl -x` again
/// shows Envoy's 503 local reply with `reset reason` (fact sheet §5.1), a
/// bad `ctl apply` exits 1 naming the key, `ctl stop` ends `up` with exit 0
/// and a last stats line.
#[test]
fn up_dig_curl_then_ctl_host_stop_reset_shows_envoys_503_reset_reason_body() {
    let up = up("walk");
    let control = up.addr("/control");
    let dns = up.addr("/dns_udp/real");
    let (ip, port) = dns.rsplit_once(':').unwrap();
    let server = format!("@{ip}");
    let answer = program(
        "dig",
        &[
            &server,
            "-p",
            port,
            "+short",
            "+time=5",
            "api.partner.example",
        ],
    );
    assert!(
        answer.contains("52.1.1.10") && answer.contains("52.1.1.11"),
        "{answer}"
    );
    let proxy = up.addr("/pods/0/proxy/real");
    let ok = curl_charge(&proxy);
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    let set = ctl(
        &control,
        &["dns", "set", "api.partner.example", "52.1.1.10"],
    );
    assert_eq!(set.status.code(), Some(0), "{set:?}");
    let stop = ctl(&control, &["host", "stop", "alb-node-a", "--how", "reset"]);
    assert_eq!(stop.status.code(), Some(0), "{stop:?}");
    let failed = curl_charge(&proxy);
    assert!(
        failed.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{failed}"
    );
    assert!(
        failed.contains("reset reason: remote connection failure"),
        "{failed}"
    );
    let bad = ctl(
        &control,
        &["apply", "host.stop: { name: alb-node-a, hwo: reset }"],
    );
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("host.stop.hwo"),
        "{bad:?}"
    );
    let stats = ctl(&control, &["stats"]);
    assert!(String::from_utf8_lossy(&stats.stdout).contains("host.stop alb-node-a (reset)"));
    let end = ctl(&control, &["stop"]);
    assert_eq!(end.status.code(), Some(0), "{end:?}");
    let (code, rest) = up.finish();
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("meshsim up: stopped after"), "{rest}");
    assert!(rest.contains("2 actions applied"), "{rest}");
}

/// Ctrl-C (SIGINT) stops `up` cleanly: exit 0 and the last stats line.
#[test]
fn sigint_stops_up_with_exit_zero() {
    let up = up("sigint");
    let pid = up.child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let (code, rest) = up.finish();
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("meshsim up: stopped after"), "{rest}");
}

/// `ctl` to an address where nothing listens exits 2 and says so.
#[test]
fn ctl_to_a_dead_address_exits_two() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let out = ctl(&addr, &["stats"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the control endpoint"),
        "{stderr}"
    );
}

/// `ctl` refuses a control address outside loopback without sending
/// anything (exit 2).
#[test]
fn ctl_refuses_a_control_address_outside_loopback() {
    let out = ctl("10.0.0.1:80", &["stats"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not on loopback"),
        "{out:?}"
    );
}
