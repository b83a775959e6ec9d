//! The server-first mode: the server speaks before the client, as MySQL,
//! SMTP or an SSH server does. On accept it writes [`MYSQL_GREETING`], then
//! echoes every byte it receives until the client closes or the server is
//! stopped. A client that waits for the greeting behaves like a MySQL
//! client; behind a sidecar that waits for the client's first bytes to
//! detect the protocol, the two wait for each other (fact sheet §7.2).

use std::sync::Arc;

use meshsim_net::NetStream;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

use crate::server::{Command, Shared, stopped};

/// A MySQL protocol v10 initial handshake packet, as a MySQL 8 server sends
/// it first on every connection: a 3-byte little-endian payload length, the
/// sequence id 0, then protocol version 10, the server version
/// (`8.0.36`, NUL-terminated), a connection id, the first 8 bytes of the
/// auth scramble, a filler byte and the capability / charset / status
/// fields, the rest of the scramble and the auth plugin name. Fixed bytes:
/// the same on every connection and every run.
pub const MYSQL_GREETING: &[u8] = &[
    // header: payload length 74 (0x4a), sequence id 0
    0x4a, 0x00, 0x00, 0x00, //
    // protocol version 10, server version "8.0.36\0"
    0x0a, b'8', b'.', b'0', b'.', b'3', b'6', 0x00, //
    // connection id 1
    0x01, 0x00, 0x00, 0x00, //
    // auth-plugin-data part 1 (8 bytes), filler
    b'm', b'e', b's', b'h', b's', b'i', b'm', b'!', 0x00, //
    // capability flags (lower), charset utf8mb4, status, capability (upper)
    0xff, 0xff, 0xff, 0x02, 0x00, 0xff, 0xdf, //
    // auth-plugin-data length 21, 10 reserved bytes
    0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    // auth-plugin-data part 2 (12 bytes + NUL)
    b's', b'c', b'r', b'a', b'm', b'b', b'l', b'e', b'-', b'1', b'2', b'3', 0x00, //
    // auth plugin name "caching_sha2_password\0"
    b'c', b'a', b'c', b'h', b'i', b'n', b'g', b'_', b's', b'h', b'a', b'2', b'_', b'p', b'a', b's',
    b's', b'w', b'o', b'r', b'd', 0x00,
];

/// Serves one connection: the greeting, then an echo, until the client
/// closes (FIN back), the connection fails, or the server is stopped.
pub(crate) async fn serve(
    mut stream: NetStream,
    shared: Arc<Shared>,
    mut cmd: watch::Receiver<Command>,
) {
    let _open = shared.stats.connection_opened();
    if stream.write_all(MYSQL_GREETING).await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let end = loop {
        tokio::select! {
            biased;
            how = stopped(&mut cmd) => break how,
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break Command::Close,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break Command::Close;
                    }
                }
            },
        }
    };
    if end == Command::Reset {
        stream.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_greeting_is_one_mysql_packet_whose_header_gives_its_length() {
        let len = u32::from_le_bytes([MYSQL_GREETING[0], MYSQL_GREETING[1], MYSQL_GREETING[2], 0]);
        assert_eq!(len as usize, MYSQL_GREETING.len() - 4);
        assert_eq!(
            (MYSQL_GREETING[3], MYSQL_GREETING[4]),
            (0, 10),
            "seq 0, protocol v10"
        );
    }
}
