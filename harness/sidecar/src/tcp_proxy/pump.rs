//! Bytes both ways between the downstream and upstream connections, under
//! the `tcp_proxy` timers.

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::CLEAN;
use crate::config::TcpProxySettings;
use crate::listener::DownstreamIo;
use crate::runtime::Sidecar;
use crate::tls::UpstreamIo;

const BUF: usize = 16 * 1024;

/// One read's outcome on one side.
enum Moved {
    /// Bytes passed on: how many.
    Bytes(u64),
    /// This side half-closed: the other side was told.
    Closed,
    /// A socket failed (reset, timed out): both connections close.
    Failed,
}

/// Moves bytes until both sides closed, or until the `idle_timeout` (no
/// byte either way) or the `max_downstream_connection_duration` closes both
/// connections. Returns the access log's flags (`DT` for the duration) and
/// the bytes received from the downstream and sent to it. `first`, the
/// downstream's bytes the protocol inspector already read, goes first.
pub(super) async fn run<D: DownstreamIo>(
    mut down: D,
    mut up: UpstreamIo,
    first: &[u8],
    sc: &Sidecar,
    settings: &TcpProxySettings,
) -> (ResponseFlags, u64, u64) {
    let (mut received, mut sent) = (first.len() as u64, 0u64);
    if !first.is_empty() && up.write_all(first).await.is_err() {
        return (CLEAN, received, sent);
    }
    let idle = settings.idle_timeout.filter(|t| !t.is_zero());
    let max_at = settings
        .max_downstream_connection_duration
        .filter(|d| !d.is_zero())
        .map(|d| Instant::now() + d);
    let (mut a, mut b) = (vec![0u8; BUF], vec![0u8; BUF]);
    let (mut down_open, mut up_open) = (true, true);
    while down_open || up_open {
        let idle_at = idle.map(|t| Instant::now() + t);
        tokio::select! {
            biased;
            _ = sleep_until(max_at) => {
                sc.env.stats.bump(|s| s.tcp_max_downstream_connection_duration += 1);
                return (ResponseFlags::DT, received, sent);
            }
            _ = sleep_until(idle_at) => {
                sc.env.stats.bump(|s| s.tcp_idle_timeout += 1);
                return (CLEAN, received, sent);
            }
            r = down.read(&mut a), if down_open => match pass(r, &a, &mut up).await {
                Moved::Bytes(n) => received += n,
                Moved::Closed => down_open = false,
                Moved::Failed => return (CLEAN, received, sent),
            },
            r = up.read(&mut b), if up_open => match pass(r, &b, &mut down).await {
                Moved::Bytes(n) => sent += n,
                Moved::Closed => up_open = false,
                Moved::Failed => return (CLEAN, received, sent),
            },
        }
    }
    (CLEAN, received, sent)
}

/// Passes what one read got to the other side: the bytes, or a half-close
/// at EOF (Envoy's `tcp_proxy` enables half-close on both connections).
async fn pass<W: AsyncWrite + Unpin>(
    read: std::io::Result<usize>,
    buf: &[u8],
    to: &mut W,
) -> Moved {
    match read {
        Ok(0) => {
            let _ = to.shutdown().await;
            Moved::Closed
        }
        Ok(n) => match to.write_all(&buf[..n]).await {
            Ok(()) => Moved::Bytes(n as u64),
            Err(_) => Moved::Failed,
        },
        Err(_) => Moved::Failed,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => meshsim_net::clock::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
