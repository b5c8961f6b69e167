//! One thread per socket: HTTP requests until one is a WebSocket upgrade (every decision
//! the core's `Router`), then the WebSocket loop.
//! The WebSocket loop itself is [`crate::pump`]: its read timeout (`read_timeout`) bounds
//! the connection's outbound latency.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actionhero_ws::handshake::{self, Handshake, Parsed};
use actionhero_ws::http::{ApiCall, RequestContext, Route};
use actionhero_ws::server::CloseCause;
use actionhero_ws::{ConnectionHandle, Frame};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::WebSocket;

use super::driver::DriverMsg;
use super::stream::ServerStream;
use super::{files, Config, Shared};
use crate::pump::{self, End, Inbound};
use crate::trace;
use crate::util::{epoch_ms, is_timeout, random_bytes16};

/// Serves one accepted socket until it closes.
pub(crate) fn run(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Some(mut stream) = secure(stream, shared) else {
        return;
    };
    if stream
        .set_write_timeout(Some(shared.config.write_timeout))
        .is_err()
    {
        return;
    }
    if let Some((handshake, response, leftover)) = http(&mut stream, peer, shared) {
        upgrade(stream, handshake, &response, leftover, shared);
    }
}

/// The TLS handshake when the server has TLS, bounded by
/// [`Config::tls_handshake_timeout`]; `None` when it failed or took too long (the
/// socket is dropped; rustls has sent its alert, if any).
#[cfg(feature = "rustls")]
fn secure(stream: TcpStream, shared: &Shared) -> Option<ServerStream> {
    use super::stream::tls::TlsStream;
    let Some(config) = &shared.tls else {
        return Some(ServerStream::Plain(stream));
    };
    let limit = shared.config.tls_handshake_timeout;
    TlsStream::accept(config.clone(), stream, limit)
        .ok()
        .map(|tls| ServerStream::Tls(Box::new(tls)))
}

#[cfg(not(feature = "rustls"))]
fn secure(stream: TcpStream, _shared: &Shared) -> Option<ServerStream> {
    Some(ServerStream::Plain(stream))
}

/// Serves HTTP requests until one is a WebSocket upgrade: reads each head, lets the
/// core's router decide, and carries the decision out (write, serve a file, run an
/// action through the driver). Returns the upgrade (its handshake, the `101` bytes and
/// what was read past the head), or `None` when the connection ended without one.
fn http(
    stream: &mut ServerStream,
    peer: SocketAddr,
    shared: &Shared,
) -> Option<(Handshake, Vec<u8>, Vec<u8>)> {
    let cfg = &shared.config;
    let limits = &shared.router.handshake_config().limits;
    let mut deadline = Instant::now() + cfg.handshake_timeout;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let (request, consumed) = loop {
            match handshake::parse_request(&buf, limits) {
                Ok(Parsed::NeedMore) => {}
                Ok(Parsed::Complete { request, consumed }) => break (request, consumed),
                Err(e) => {
                    respond_and_close(stream, &handshake::reject_malformed(&e), cfg);
                    return None;
                }
            }
            // EOF, error, too slow, or an idle kept-alive connection: drop silently.
            read_more(stream, &mut buf, deadline)?;
        };
        buf.drain(..consumed);
        let ctx = RequestContext {
            peer,
            now_ms: epoch_ms(),
            entropy: random_bytes16(),
        };
        let response = match shared.router.route(&request, &ctx) {
            Route::Upgrade {
                handshake,
                response,
                ..
            } => return Some((handshake, response, buf)),
            Route::Respond(response) => response,
            Route::File(file) => file.serve(files::stat, files::read),
            Route::Action(api) => {
                while buf.len() < api.body_len {
                    read_more(stream, &mut buf, deadline)?;
                }
                let body: Vec<u8> = buf.drain(..api.body_len).collect();
                let (reply, answer) = mpsc::channel();
                let msg = DriverMsg::Api(ApiCall {
                    request: api,
                    body,
                    reply,
                });
                shared.to_driver.send(msg).ok()?;
                // `Err`: the server is stopping.
                answer.recv().ok()?
            }
        };
        let bytes = response.to_bytes();
        if !response.keep_alive {
            respond_and_close(stream, &bytes, cfg);
            return None;
        }
        // One write for head and body: with TCP_NODELAY two would be two segments.
        stream
            .write_all(&bytes)
            .and_then(|()| stream.flush())
            .ok()?;
        // The next request on this connection: idle at most the advertised time.
        deadline = Instant::now() + Duration::from_secs(u64::from(response.keep_alive_secs));
    }
}

/// Reads what arrives before `deadline` into `buf`; `None` at EOF, on an error, or
/// when the deadline passed.
fn read_more(stream: &mut ServerStream, buf: &mut Vec<u8>, deadline: Instant) -> Option<()> {
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Some(());
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return None,
        }
    }
}

/// Writes a complete HTTP response, ends our side, and waits briefly for the peer to
/// close, so the response is not cut short by a reset.
fn respond_and_close(stream: &mut ServerStream, response: &[u8], cfg: &Config) {
    if stream
        .write_all(response)
        .and_then(|()| stream.flush())
        .is_err()
    {
        return;
    }
    let _ = stream.shutdown_write();
    let start = Instant::now();
    let mut sink = [0u8; 1024];
    while start.elapsed() < cfg.close_linger {
        let left = cfg.close_linger.saturating_sub(start.elapsed());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

/// Registers the connection with the driver, writes the core's `101`, and runs the
/// WebSocket loop.
fn upgrade(
    mut stream: ServerStream,
    handshake: Handshake,
    response: &[u8],
    leftover: Vec<u8>,
    shared: &Shared,
) {
    let cfg = &shared.config;
    let (outbox, frames) = mpsc::sync_channel(cfg.outbound_queue);
    let depth = Arc::new(AtomicUsize::new(0));
    let (reply, opened) = mpsc::channel();
    let msg = DriverMsg::Opened {
        handshake,
        outbox,
        depth: depth.clone(),
        reply,
    };
    if shared.to_driver.send(msg).is_err() {
        return;
    }
    let Ok(opened) = opened.recv() else { return };
    if let Ok(conn) = opened {
        trace::opened(conn);
    }
    // From here on the core knows the connection: report its end exactly once.
    let mut guard = opened.as_ref().ok().map(|&conn| ClosedGuard {
        conn,
        to_driver: shared.to_driver.clone(),
        cause: CloseCause::Error("connection thread ended".into()),
        reported: false,
    });
    if stream
        .write_all(response)
        .and_then(|()| stream.flush())
        .is_err()
        || stream.set_read_timeout(Some(cfg.read_timeout)).is_err()
    {
        return;
    }
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(cfg.read_buffer_size)
        .max_message_size(Some(cfg.core.max_message_len))
        .max_frame_size(Some(cfg.core.max_message_len));
    let mut ws = WebSocket::from_partially_read(stream, leftover, Role::Server, Some(ws_config));
    match &mut guard {
        Some(guard) => serve(&mut ws, &frames, &depth, guard, cfg),
        None => {
            // The core refused (shutting down, too many connections).
            if let Err(rejected) = opened {
                let _ = ws.close(pump::close_frame(&rejected.close_frame()));
            }
            pump::linger(&mut ws, cfg.close_linger);
        }
    }
}

/// Sends `Closed` to the driver when the connection thread is done, however it ends
/// (or earlier, through `report`).
struct ClosedGuard {
    conn: ConnectionHandle,
    to_driver: SyncSender<DriverMsg>,
    cause: CloseCause,
    reported: bool,
}

impl ClosedGuard {
    /// Sends `Closed` with `cause` now; dropping the guard then sends nothing.
    fn report(&mut self, cause: CloseCause) {
        if !std::mem::replace(&mut self.reported, true) {
            let _ = self.to_driver.send(DriverMsg::Closed {
                conn: self.conn,
                cause,
            });
        }
    }
}

impl Drop for ClosedGuard {
    fn drop(&mut self) {
        let cause = std::mem::replace(&mut self.cause, CloseCause::Remote { code: None });
        self.report(cause);
    }
}

/// The WebSocket loop; records why it ended in `guard.cause`.
fn serve(
    ws: &mut WebSocket<ServerStream>,
    frames: &Receiver<Frame>,
    depth: &AtomicUsize,
    guard: &mut ClosedGuard,
    cfg: &Config,
) {
    let conn = guard.conn;
    let to_driver = guard.to_driver.clone();
    let end = pump::run(ws, frames, Some(depth), cfg.close_linger, |msg| {
        let msg = match msg {
            Inbound::Text(text) => DriverMsg::Text { conn, text },
            Inbound::Binary(data) => DriverMsg::Binary { conn, data },
            Inbound::Ping => DriverMsg::Ping { conn },
        };
        to_driver.send(msg).is_ok()
    });
    // We sent a close frame for these: the peer gets time to read it.
    let drain = matches!(end, End::TooLarge | End::Violated(_));
    let cause = match end {
        End::PeerClosed { code } => CloseCause::Remote { code },
        End::TooLarge => CloseCause::MessageTooLarge,
        End::Violated(cause) => cause,
        End::Failed(e) => CloseCause::Error(e),
        // After `Local` the core has already ended the connection; the cause is unused.
        End::Local => CloseCause::Remote { code: None },
    };
    if drain {
        // The core hears of the end at once, before the drain.
        guard.report(cause);
        pump::drain(ws, cfg.close_linger);
    } else {
        guard.cause = cause;
    }
}
