//! A WebSocket peer on a plain std `TcpStream` (or a TLS stream over one), frame by
//! frame, for tests of what a server does with frames no WebSocket library would send
//! (std only: both adapters' tests include it with `#[path]`).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use actionhero_ws::handshake::{self, HandshakeLimits, ResponseParsed};

/// A raw client stream (a `TcpStream`, or a TLS stream over one) after a successful
/// upgrade to `/primus`, with the bytes read past the `101`.
pub struct RawPeer<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
}

impl RawPeer<TcpStream> {
    /// Connects and upgrades (the core's client handshake).
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Self::upgrade(stream, addr)
    }
}

impl<S: Read + Write> RawPeer<S> {
    /// Upgrades a stream already connected to `addr` (a TLS session, say; its reads
    /// should time out).
    pub fn upgrade(mut stream: S, addr: SocketAddr) -> Self {
        let up = handshake::client_upgrade(
            &format!("http://{addr}"),
            "/primus",
            "sessionID",
            None,
            [3; 16],
            "raw",
        )
        .expect("upgrade request");
        stream.write_all(&up.request).expect("write upgrade");
        stream.flush().expect("flush upgrade");
        let mut buf = Vec::new();
        let consumed = loop {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).expect("read 101");
            assert!(n > 0, "server closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
            match handshake::parse_response(&buf, &up.expected_accept, &HandshakeLimits::default())
                .expect("valid 101")
            {
                ResponseParsed::NeedMore => {}
                ResponseParsed::Complete { consumed } => break consumed,
            }
        };
        let buf = buf.split_off(consumed);
        Self { stream, buf }
    }

    /// The socket and the bytes already read past the `101`, for a WebSocket library.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.stream, self.buf)
    }

    /// Writes a text frame without a mask, which RFC 6455 forbids from a client.
    pub fn send_unmasked_text(&mut self, text: &str) {
        assert!(text.len() < 126);
        let mut frame = vec![0x81, text.len() as u8];
        frame.extend_from_slice(text.as_bytes());
        self.stream.write_all(&frame).expect("write frame");
        self.stream.flush().expect("flush frame");
    }

    /// The next frame from the server: `(opcode, payload)`; `None` at end of stream.
    pub fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let head = self.take(2)?;
        let opcode = head[0] & 0x0f;
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7f {
            126 => u16::from_be_bytes(self.take(2)?.try_into().ok()?) as usize,
            127 => u64::from_be_bytes(self.take(8)?.try_into().ok()?) as usize,
            n => n as usize,
        };
        let payload = self.take(len)?;
        Some((opcode, payload))
    }

    /// The server's close frame, skipping text frames: `(code, reason)`.
    pub fn read_close(&mut self) -> Option<(u16, String)> {
        loop {
            let (opcode, payload) = self.read_frame()?;
            if opcode == 0x8 {
                let code = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
                let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
                return Some((code, reason));
            }
        }
    }

    /// True when the server ends the stream (EOF; over TLS after its `close_notify`)
    /// within the read timeout.
    pub fn ends(&mut self) -> bool {
        let mut chunk = [0u8; 256];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
            }
        }
        let rest = self.buf.split_off(n);
        Some(std::mem::replace(&mut self.buf, rest))
    }
}
