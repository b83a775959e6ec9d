//! `CONNECT host:port` (RFC 9110 §9.3.6): dial as for any request, answer
//! `200` once connected, then splice bytes both ways until both directions
//! are closed. A FIN from one side is passed on as a FIN (half-close) while
//! the other direction keeps flowing; a reset or an error ends both.

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use meshsim_net::NetStream;

use crate::proxy::reply::{Body, bad_gateway, bad_request, established};
use crate::proxy::upstream::dial;
use crate::proxy::{Proxy, bump};
use crate::tasks::stopped;

/// Opens the tunnel `req` asks for; the splice runs in a task of the proxy
/// once hyper hands the client connection over (after the `200`).
pub(crate) async fn open(proxy: &Proxy, mut req: Request<Incoming>) -> Response<Body> {
    let dest = req
        .uri()
        .authority()
        .and_then(|a| Some((a.host().to_string(), a.port_u16()?)));
    let Some((host, port)) = dest else {
        bump(&proxy.counters.bad_request);
        return bad_request("CONNECT needs host:port");
    };
    let stream = match dial(proxy, &host, port).await {
        Ok((stream, _)) => stream,
        Err(failure) => {
            bump(&proxy.counters.bad_gateway);
            return bad_gateway(&failure);
        }
    };
    bump(&proxy.counters.tunnels);
    let client = hyper::upgrade::on(&mut req);
    let mut stop = proxy.stop.clone();
    proxy.tasks.spawn(async move {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => {}
            () = splice(client, stream) => {}
        }
    });
    established()
}

/// Copies bytes both ways between the client and the upstream connection.
async fn splice(client: OnUpgrade, mut upstream: NetStream) {
    let Ok(client) = client.await else {
        return;
    };
    let mut client = TokioIo::new(client);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "tunnel ended with an error");
    }
}
