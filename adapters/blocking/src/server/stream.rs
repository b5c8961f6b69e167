//! The byte stream under a server connection: a plain socket, or (feature `rustls`) a
//! TLS session over one. One type, so the HTTP and WebSocket loops exist once.
//!
//! The TLS side drives rustls's `std::io` connection API (`read_tls`,
//! `process_new_packets`, `write_tls`) itself rather than through `rustls::StreamOwned`,
//! because `StreamOwned` keeps reading until a whole record or the whole handshake has
//! arrived: a peer dripping one byte per read timeout would hold a connection thread
//! for ever. Here every call reads the socket at most once, so the deadlines of the
//! HTTP loop, the handshake and the WebSocket loop's read timeout hold as on plain TCP.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A server connection's stream.
pub(crate) enum ServerStream {
    Plain(TcpStream),
    #[cfg(feature = "rustls")]
    Tls(Box<tls::TlsStream>),
}

impl ServerStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            #[cfg(feature = "rustls")]
            Self::Tls(s) => &s.sock,
        }
    }

    /// The socket's read timeout: how long one `read` may wait for bytes.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    /// The socket's write timeout: how long one `write` may wait for the peer.
    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }

    /// Ends our sending side (for TLS: `close_notify` first).
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        #[cfg(feature = "rustls")]
        if let Self::Tls(s) = self {
            s.conn.send_close_notify();
            s.flush()?;
        }
        self.tcp().shutdown(Shutdown::Write)
    }
}

impl crate::pump::ShutdownWrite for ServerStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        ServerStream::shutdown_write(self)
    }
}

impl Read for ServerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ServerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.flush(),
        }
    }
}

#[cfg(feature = "rustls")]
pub(crate) mod tls {
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rustls::{ServerConfig, ServerConnection};

    use crate::util::is_timeout;

    /// A TLS session over a socket whose reads and writes have timeouts.
    pub(crate) struct TlsStream {
        pub(super) conn: ServerConnection,
        pub(super) sock: TcpStream,
    }

    impl TlsStream {
        /// Runs the TLS handshake on `sock`, all of it within `limit` (reads and writes
        /// alike); the socket's timeouts are left for the caller to set again.
        ///
        /// # Errors
        /// `TimedOut` past `limit`, `UnexpectedEof`, `InvalidData` for a TLS error
        /// (rustls's alert is sent first), or the socket's error.
        pub(crate) fn accept(
            config: Arc<ServerConfig>,
            sock: TcpStream,
            limit: Duration,
        ) -> io::Result<Self> {
            let conn = ServerConnection::new(config).map_err(io::Error::other)?;
            let mut tls = Self { conn, sock };
            let deadline = Instant::now() + limit;
            let left = || {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(io::Error::from(io::ErrorKind::TimedOut))
                } else {
                    Ok(left)
                }
            };
            while tls.conn.is_handshaking() {
                tls.sock.set_write_timeout(Some(left()?))?;
                tls.send()?;
                if !tls.conn.is_handshaking() {
                    break;
                }
                tls.sock.set_read_timeout(Some(left()?))?;
                match tls.conn.read_tls(&mut tls.sock) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(_) => tls.process()?,
                    Err(e) if is_timeout(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            tls.sock.set_write_timeout(Some(left()?))?;
            tls.send()?;
            Ok(tls)
        }

        /// Writes every TLS record rustls has queued.
        fn send(&mut self) -> io::Result<()> {
            while self.conn.wants_write() {
                if self.conn.write_tls(&mut self.sock)? == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
            }
            Ok(())
        }

        /// Decrypts what was read; a TLS error sends rustls's alert and ends the session.
        fn process(&mut self) -> io::Result<()> {
            match self.conn.process_new_packets() {
                Ok(_) => self.send(),
                Err(e) => {
                    let _ = self.send();
                    Err(io::Error::new(io::ErrorKind::InvalidData, e))
                }
            }
        }

        /// Plaintext already decrypted, if any (`Ok(0)`: the peer's `close_notify`).
        fn plaintext(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                done => Some(done),
            }
        }
    }

    impl Read for TlsStream {
        /// Decrypted bytes, reading the socket at most once: `WouldBlock` when what
        /// arrived was not a whole record yet (callers treat it as a read timeout).
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if let Some(done) = self.plaintext(buf) {
                return done;
            }
            let n = self.conn.read_tls(&mut self.sock)?;
            self.process()?;
            match self.plaintext(buf) {
                Some(done) => done,
                None if n == 0 => Err(io::ErrorKind::UnexpectedEof.into()),
                None => Err(io::ErrorKind::WouldBlock.into()),
            }
        }
    }

    impl Write for TlsStream {
        /// Encrypts and sends at once (bounded by the socket's write timeout).
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.conn.writer().write(buf)?;
            self.send()?;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            self.conn.writer().flush()?;
            self.send()?;
            self.sock.flush()
        }
    }
}
