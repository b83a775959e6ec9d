//! pilot-agent's `/app-health/` handler (Istio's `handleAppProbe`;
//! incidents.md INC-14, fact sheet §6.1 for port 15020): the kubelet's rewritten probe arrives on the status port and
//! the agent probes the application itself, from the sidecar's own stack
//! (never captured: Istio dials from `127.0.0.6`, which `ISTIO_OUTPUT`
//! returns), so neither the sidecar nor mTLS stands in the way.
//!
//! As Istio answers: an unknown path is `400` with `app prober config does
//! not exists for <path>`; an `httpGet` probe returns the application's own
//! status (a redirect becomes `200`), or `500` when the request fails or
//! outlives the probe's timeout; a `tcpSocket` probe is `200` when the
//! connect completes, else `500`. Keep-alive is off (`DisableKeepAlives`,
//! as the kubelet): one connection per probe.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use meshsim_net::Stack;
use tokio::io::AsyncWriteExt;

use super::wire::{Head, read_head};
use crate::config::{AppProbe, AppProbers, InboundForward, ProbeAction};

/// The agent's answer to the kubelet: a status code and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeAnswer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl ProbeAnswer {
    fn status(status: u16) -> ProbeAnswer {
        ProbeAnswer {
            status,
            body: String::new(),
        }
    }
}

/// Answers the kubelet's request `head` for `path` (under `/app-health/`).
pub(crate) async fn answer(
    stack: &Stack,
    probers: &AppProbers,
    path: &str,
    head: &Head,
) -> ProbeAnswer {
    let Some(probe) = probers.probes.get(path) else {
        return ProbeAnswer {
            status: 400,
            body: format!("app prober config does not exists for {path}"),
        };
    };
    let host = match probers.destination {
        InboundForward::PodIp => stack.host(),
        InboundForward::Localhost => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let outcome = meshsim_net::clock::timeout(probe.timeout, run(stack, host, probe, head)).await;
    match outcome {
        Ok(Some(status)) => ProbeAnswer::status(status),
        Ok(None) | Err(_) => ProbeAnswer::status(500),
    }
}

/// The probe's own status, `None` when the application could not be asked.
async fn run(stack: &Stack, host: IpAddr, probe: &AppProbe, head: &Head) -> Option<u16> {
    match &probe.action {
        ProbeAction::TcpSocket { port } => {
            let dst = SocketAddr::new(host, *port);
            let stream = stack.connect(dst, probe.timeout).await.ok()?;
            drop(stream);
            Some(200)
        }
        ProbeAction::HttpGet { path, port } => {
            let status = http_get(
                stack,
                SocketAddr::new(host, *port),
                path,
                head,
                probe.timeout,
            );
            let status = status.await?;
            // A redirect has no Location to pass on: Istio answers 200.
            Some(if (300..400).contains(&status) {
                200
            } else {
                status
            })
        }
    }
}

/// A GET of `path` on the application at `dst` with the kubelet's headers
/// (its `Host` pointed at the application's port); the response's status.
async fn http_get(
    stack: &Stack,
    dst: SocketAddr,
    path: &str,
    kubelet: &Head,
    timeout: Duration,
) -> Option<u16> {
    let mut stream = stack.connect(dst, timeout).await.ok()?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {dst}\r\n");
    for (name, value) in &kubelet.headers {
        if !matches!(name.as_str(), "host" | "connection" | "content-length") {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let head = read_head(&mut stream).await.ok()?;
    status_code(&head.start)
}

/// The code of a status line (`HTTP/1.1 503 Service Unavailable`).
pub(crate) fn status_code(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_gives_its_code_and_anything_else_none() {
        assert_eq!(status_code("HTTP/1.1 503 Service Unavailable"), Some(503));
        assert_eq!(status_code("HTTP/1.0 200 OK"), Some(200));
        assert_eq!(status_code("SSH-2.0-OpenSSH"), None);
        assert_eq!(status_code(""), None);
    }
}
