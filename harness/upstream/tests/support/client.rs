//! A tiny raw HTTP/1.1 client for the tests: writes request bytes, reads one
//! response at a time (head, then `content-length` body).

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::{Net, NetStream, SimConfig, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const SERVER_IP: &str = "52.1.1.10";
pub const CLIENT_IP: &str = "10.0.0.1";
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip literal")
}

/// A simulated network with a server stack and a client stack.
pub fn sim() -> (Net, Stack, Stack) {
    let net = Net::sim(SimConfig::default());
    let server = net.stack(ip(SERVER_IP));
    let client = net.stack(ip(CLIENT_IP));
    (net, server, client)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client connection with a read buffer.
pub struct Client {
    pub stream: NetStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(stack: &Stack, addr: SocketAddr) -> io::Result<Client> {
        Ok(Client {
            stream: stack.connect(addr, CONNECT_TIMEOUT).await?,
            buf: Vec::new(),
        })
    }

    pub async fn send(&mut self, raw: &[u8]) -> io::Result<()> {
        self.stream.write_all(raw).await
    }

    pub async fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send(format!("GET {path} HTTP/1.1\r\nhost: upstream\r\n\r\n").as_bytes())
            .await?;
        self.read_response().await
    }

    /// Reads one response; `UnexpectedEof` if the server closed first.
    pub async fn read_response(&mut self) -> io::Result<Response> {
        loop {
            if let Some((resp, used)) = parse_response(&self.buf)? {
                self.buf.drain(..used);
                return Ok(resp);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a response",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until the server closes; returns what arrived meanwhile.
    pub async fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = std::mem::take(&mut self.buf);
        self.stream.read_to_end(&mut rest).await?;
        Ok(rest)
    }
}

fn parse_response(buf: &[u8]) -> io::Result<Option<(Response, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let Some(body) = buf.get(head..head + len) else {
        return Ok(None);
    };
    let status = resp.code.unwrap_or(0);
    Ok(Some((
        Response {
            status,
            headers,
            body: body.to_vec(),
        },
        head + len,
    )))
}
