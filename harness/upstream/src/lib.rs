//! Fake HTTP/1.1 (and opt-in HTTP/2) upstream servers ("external hosts": an AWS ALB node, a
//! partner API) over the `Net` seam, with byte-level control so that a
//! scenario can take them down the ways real incidents do.
//!
//! Requests are read with `httparse` and responses written as raw bytes (no
//! HTTP library in between), so every byte on the wire is the scenario's. A
//! server speaks HTTP/1.1 keep-alive (HTTP/1.0 closes unless asked not to),
//! answers pipelined requests in order, consumes `content-length` and chunked
//! bodies, answers each request from the first route whose prefix matches
//! (after the route's latency, in tokio time), closes idle connections after
//! its keep-alive timeout (the ALB's 60 s: the classic keep-alive race with a
//! pooled client), and answers bytes that are not HTTP with `400` and a close.
//! [`UpstreamHandle::stop`] takes it down with a FIN, a RST, or a blackhole;
//! [`UpstreamHandle::start`] brings it back on the same address.
//!
//! Module map:
//! - [`config`]: [`UpstreamConfig`] and [`RouteSpec`], with their defaults and
//!   validation;
//! - [`request`]: [`read_request`], the pure incremental request reader;
//! - `response`: the raw response bytes ([`filler`] bodies, reason phrases);
//! - `server`: [`spawn`], [`UpstreamHandle`], [`StopMode`], the accept loop
//!   and the lifecycle (one `watch` channel of commands per serving period);
//! - `connection`: one connection's request/response loop;
//! - `http2`: the opt-in HTTP/2 mode ([`Http2Mode`], h2c with prior
//!   knowledge, served with the `h2` crate): refused streams and GOAWAY;
//! - `server_first`: the server-first mode (`server_first: true`): a MySQL
//!   greeting on accept, then an echo;
//! - `stats`: [`UpstreamStats`];
//! - `error`: [`UpstreamError`] (alias [`RequestError`]).
//!
//! ```
//! use std::time::Duration;
//! use meshsim_net::{Net, SimConfig};
//! use meshsim_upstream::{spawn, StopMode, UpstreamConfig};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
//! rt.block_on(async {
//!     let net = Net::sim(SimConfig::default());
//!     let server = spawn(UpstreamConfig::default(), net.stack("52.1.1.10".parse().unwrap()), 443).await.unwrap();
//!     let client = net.stack("10.0.0.1".parse().unwrap());
//!     let mut c = client.connect(server.addr(), Duration::from_secs(1)).await.unwrap();
//!     c.write_all(b"GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n").await.unwrap();
//!     let mut reply = Vec::new();
//!     c.read_to_end(&mut reply).await.unwrap();
//!     assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
//!     assert!(reply.ends_with(b"\r\n\r\nok"));
//!     assert_eq!(server.stats().requests, 1);
//!
//!     server.stop(StopMode::Reset).await;
//!     let refused = client.connect(server.addr(), Duration::from_secs(1)).await.unwrap_err();
//!     assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
//!     server.shutdown().await;
//! });
//! ```

pub mod config;
mod connection;
mod error;
mod http2;
pub mod request;
mod response;
mod server;
mod server_first;
mod stats;

pub use config::{Http2Mode, RouteSpec, UpstreamConfig};
pub use error::{RequestError, UpstreamError};
pub use request::{RequestHead, read_request};
pub use response::{filler, reason_phrase};
pub use server::{StopMode, UpstreamHandle, spawn};
pub use server_first::MYSQL_GREETING;
pub use stats::UpstreamStats;
