//! Opening one client socket: TCP, optional TLS, the core-built upgrade request, and the
//! response read until the core's parser accepts it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actionhero_ws::client::OpenFailure;
use actionhero_ws::handshake::{self, ClientUpgrade, HandshakeLimits, ResponseParsed, SpecParsed};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;

/// A plain or TLS client stream.
pub(crate) enum MaybeTls {
    Plain(TcpStream),
    #[cfg(feature = "rustls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

fn io_err(e: io::Error) -> OpenFailure {
    OpenFailure::Io(e.to_string())
}

/// Connects to `host:port` (`TCP_NODELAY`), wraps the stream in TLS for `host` when
/// `use_tls`, and writes `request`.
async fn connect_and_write(
    host: &str,
    port: u16,
    use_tls: bool,
    request: &[u8],
    tls: &super::Tls,
) -> Result<MaybeTls, OpenFailure> {
    let tcp = TcpStream::connect((host, port)).await.map_err(io_err)?;
    let _ = tcp.set_nodelay(true);
    let mut stream = if use_tls {
        tls.wrap(host, tcp).await?
    } else {
        MaybeTls::Plain(tcp)
    };
    stream.write_all(request).await.map_err(io_err)?;
    Ok(stream)
}

/// Connects, writes the upgrade request and reads the `101`. Returns the stream and the
/// bytes read past the response head (already WebSocket frames).
pub(crate) async fn open(
    req: ClientUpgrade,
    tls: &super::Tls,
) -> Result<(MaybeTls, Vec<u8>), OpenFailure> {
    let mut stream = connect_and_write(&req.host, req.port, req.tls, &req.request, tls).await?;
    let limits = HandshakeLimits::default();
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        match handshake::parse_response(&buf, &req.expected_accept, &limits) {
            Ok(ResponseParsed::NeedMore) => {}
            Ok(ResponseParsed::Complete { consumed }) => {
                let rest = buf.split_off(consumed);
                return Ok((stream, rest));
            }
            Err(e) => return Err(OpenFailure::Handshake(e.to_string())),
        }
        let n = stream.read(&mut chunk).await.map_err(io_err)?;
        if n == 0 {
            return Err(OpenFailure::Io(
                "connection closed during the handshake".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Fetches `<pathname>/spec` and returns the server's `pingInterval` (the core builds
/// the request and parses the answer).
pub(crate) async fn fetch_spec(
    url: &str,
    pathname: &str,
    tls: &super::Tls,
) -> Result<Option<std::time::Duration>, OpenFailure> {
    let req = handshake::spec_request(url, pathname).map_err(|e| OpenFailure::Io(e.to_string()))?;
    let mut stream = connect_and_write(&req.host, req.port, req.tls, &req.request, tls).await?;
    let limits = HandshakeLimits::default();
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    let mut eof = false;
    loop {
        match handshake::parse_spec_response(&buf, eof, &limits) {
            Ok(SpecParsed::NeedMore) if !eof => {}
            Ok(SpecParsed::NeedMore) => return Err(OpenFailure::Io("truncated spec".into())),
            Ok(SpecParsed::Complete { ping_interval }) => return Ok(ping_interval),
            Err(e) => return Err(OpenFailure::Handshake(e.to_string())),
        }
        let n = stream.read(&mut chunk).await.map_err(io_err)?;
        eof = n == 0;
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
