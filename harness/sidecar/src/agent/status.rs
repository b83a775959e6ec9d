//! pilot-agent's status server (15020), bound when the agent starts, before
//! Envoy (fact sheet §6.1; INC-11): `POST /quitquitquit` answers `200 OK`
//! and the agent exits at once without draining (Istio's `handleQuit`
//! disables the drain, then shuts the agent down); `POST /drain` answers
//! `200 OK` and starts the drain (`handleDrain`: a later SIGTERM exits at
//! once). Both are refused to callers outside the pod (403) and to other
//! methods (405), with Go's `http.Error` texts. `GET /app-health/...` runs
//! the application probe the injector handed over ([`super::app_probe`]),
//! for any caller (the kubelet is outside the pod). One request per
//! connection.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use meshsim_net::{NetListener, NetStream};
use tokio::io::AsyncWriteExt;

use super::shutdown;
use super::wire::{Head, read_head};
use crate::config::AppProbers;
use crate::runtime::{Env, Sidecar};

/// What the agent does after answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Nothing,
    Drain,
    Quit,
}

/// Binds the status port (`AdminConfig::status_port`) and serves it.
pub(crate) async fn bind(sc: &Sidecar) -> io::Result<Option<SocketAddr>> {
    let Some(port) = sc.config.admin.as_ref().and_then(|a| a.status_port) else {
        return Ok(None);
    };
    let probers = sc
        .config
        .admin
        .as_ref()
        .map(|a| a.app_probers.clone())
        .unwrap_or_default();
    let listener = sc.env.stack.listen(port).await?;
    let addr = listener.local_addr();
    sc.env
        .tasks
        .spawn(run(listener, sc.env.clone(), Arc::new(probers)));
    Ok(Some(addr))
}

/// The accept loop. One connection's failure never stops it.
async fn run(listener: NetListener, env: Arc<Env>, probers: Arc<AppProbers>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let task = serve(stream, peer, env.clone(), probers.clone());
                env.tasks.spawn(task);
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
            Err(e) => {
                tracing::warn!(error = %e, "status accept failed");
                meshsim_net::clock::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    }
}

/// One request: answer, close, then act.
async fn serve(mut stream: NetStream, peer: SocketAddr, env: Arc<Env>, probers: Arc<AppProbers>) {
    let Ok(head) = read_head(&mut stream).await else {
        return;
    };
    let (status, body, then) = match app_health_path(&head) {
        Some(path) => {
            let answer = super::app_probe::answer(&env.stack, &probers, path, &head).await;
            (status_line(answer.status), answer.body, Then::Nothing)
        }
        None => {
            let local = is_local(peer.ip(), env.stack.host());
            let (status, body, then) = answer(&head.start, local);
            (status.to_string(), body.to_string(), then)
        }
    };
    let bytes = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(bytes.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    drop(stream);
    match then {
        Then::Nothing => {}
        Then::Drain => {
            tracing::info!("/drain called: draining");
            shutdown::drain_now(&env);
        }
        Then::Quit => {
            tracing::info!("/quitquitquit called: pilot-agent exits");
            env.lifecycle.skip_drain();
            shutdown::exit(&env);
        }
    }
}

/// The path of a request for an application probe (`/app-health/...`,
/// query left out).
fn app_health_path(head: &Head) -> Option<&str> {
    let path = head.start.split(' ').nth(1)?;
    let path = path.split('?').next()?;
    path.starts_with("/app-health/").then_some(path)
}

/// `200 OK`, `500 Internal Server Error`...: a code and Go's reason text.
fn status_line(code: u16) -> String {
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{code} {reason}")
}

/// The status line, body and follow-up of a request line.
fn answer(request_line: &str, local: bool) -> (&'static str, &'static str, Then) {
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let then = match path {
        "/quitquitquit" => Then::Quit,
        "/drain" => Then::Drain,
        _ => return ("404 Not Found", "404 page not found\n", Then::Nothing),
    };
    if !local {
        let body = "Only requests from localhost are allowed\n";
        return ("403 Forbidden", body, Then::Nothing);
    }
    if method != "POST" {
        let body = "Method Not Allowed\n";
        return ("405 Method Not Allowed", body, Then::Nothing);
    }
    ("200 OK", "OK", then)
}

/// Whether a caller at `ip` is inside `host`'s pod (Istio's
/// `IsRequestFromLocalhost`; meshsim's pods reach the agent at their own
/// address).
fn is_local(ip: IpAddr, host: IpAddr) -> bool {
    ip.is_loopback() || ip == host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quitquitquit_needs_post_from_the_pod() {
        assert_eq!(
            answer("POST /quitquitquit HTTP/1.1", true),
            ("200 OK", "OK", Then::Quit)
        );
        assert_eq!(
            answer("GET /quitquitquit HTTP/1.1", true).0,
            "405 Method Not Allowed"
        );
        assert_eq!(
            answer("POST /quitquitquit HTTP/1.1", false).0,
            "403 Forbidden"
        );
        assert_eq!(answer("POST /nope HTTP/1.1", true).0, "404 Not Found");
    }

    #[test]
    fn the_pod_itself_and_loopback_are_local() {
        let host: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(is_local("127.0.0.1".parse().unwrap(), host));
        assert!(is_local(host, host));
        assert!(!is_local("10.0.0.2".parse().unwrap(), host));
    }
}
