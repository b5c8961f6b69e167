//! A WebSocket to a server under test opened with the core's client handshake, without a
//! client machine (tokio tests only; the std-only helpers are in `mod.rs`, `raw_ws.rs`).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use actionhero_ws::handshake::{self, HandshakeLimits, ResponseParsed};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// The stream [`raw_ws`] returns.
pub type RawWs = WebSocketStream<TcpStream>;

/// How long the handshake's answer may take.
const WAIT: Duration = Duration::from_secs(5);

/// Upgrades a new connection to `addr` on `/primus` and returns the WebSocket, keeping
/// any bytes the server sent right after its `101`.
pub async fn raw_ws(addr: SocketAddr) -> RawWs {
    let up = handshake::client_upgrade(
        &format!("http://{addr}"),
        "/primus",
        "sessionID",
        None,
        [7; 16],
        "test",
    )
    .expect("upgrade request");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&up.request).await.expect("write");
    let mut buf = Vec::new();
    let consumed = loop {
        let mut chunk = [0u8; 1024];
        let n = timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "server closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        match handshake::parse_response(&buf, &up.expected_accept, &HandshakeLimits::default())
            .expect("valid 101")
        {
            ResponseParsed::NeedMore => {}
            ResponseParsed::Complete { consumed } => break consumed,
        }
    };
    WebSocketStream::from_partially_read(stream, buf.split_off(consumed), Role::Client, None).await
}
