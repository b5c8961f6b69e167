//! Opening a benchmark connection the way the real client does: the upgrade request and
//! the check of the `101` are the core's client handshake functions.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use actionhero_ws::handshake::{self, HandshakeLimits, ResponseParsed};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// A generator-side WebSocket.
pub(super) type Ws = WebSocketStream<TcpStream>;

/// Where to connect, resolved once: one server, or several (a cluster's nodes, given as
/// a comma-separated list of URLs), which clients take in turn.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// Each URL and its resolved address, in the order given.
    servers: Vec<(String, SocketAddr)>,
}

impl Target {
    /// Resolves the host and port of each URL of `urls` (comma-separated).
    ///
    /// # Errors
    /// A URL is not a `ws://`/`http://` URL or a host does not resolve.
    pub(super) async fn resolve(urls: &str) -> io::Result<Self> {
        let mut servers = Vec::new();
        for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let up = handshake::client_upgrade(url, "/primus", "sessionID", None, [0; 16], "x")
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            if up.tls {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "ahws bench speaks plain ws:// only",
                ));
            }
            let addr = tokio::net::lookup_host((up.host.as_str(), up.port))
                .await?
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host does not resolve"))?;
            servers.push((url.to_owned(), addr));
        }
        if servers.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no URL"));
        }
        Ok(Self { servers })
    }

    /// The server client `i` connects to (the servers in turn).
    pub(super) fn nth(&self, i: usize) -> Self {
        let server = self.servers[i % self.servers.len()].clone();
        Self {
            servers: vec![server],
        }
    }
}

/// Generator sockets read in small chunks: frames are short, and thousands of idle
/// connections must not hold tungstenite's 128 KiB default each.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A cheap non-cryptographic 16-byte key (splitmix64 over a process counter and the
/// clock): enough for `Sec-WebSocket-Key`, which only has to differ per connection.
fn ws_key() -> [u8; 16] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut s = nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&next().to_le_bytes());
    key[8..].copy_from_slice(&next().to_le_bytes());
    key
}

/// Opens one connection as the Primus client does: `GET /primus?_primuscb=<yeast>` with
/// the standard upgrade headers, the `101` checked by the core's parser.
///
/// # Errors
/// Connect, IO or handshake failure.
pub(super) async fn open(target: &Target) -> io::Result<Ws> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let n = COUNTER.load(Ordering::Relaxed);
    let cache_buster = handshake::yeast(ms, Some((n & 0xffff) as u32));
    let up = handshake::client_upgrade(
        &target.servers[0].0,
        "/primus",
        "sessionID",
        None,
        ws_key(),
        &cache_buster,
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut tcp = TcpStream::connect(target.servers[0].1).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(&up.request).await?;
    let limits = HandshakeLimits::default();
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let rest = loop {
        match handshake::parse_response(&buf, &up.expected_accept, &limits) {
            Ok(ResponseParsed::NeedMore) => {}
            Ok(ResponseParsed::Complete { consumed }) => break buf.split_off(consumed),
            Err(e) => return Err(io::Error::other(format!("handshake: {e}"))),
        }
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during the handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    Ok(WebSocketStream::from_partially_read(tcp, rest, Role::Client, Some(ws_config())).await)
}
