//! One thread per socket: the HTTP upgrade on raw bytes (decided by the core), then the
//! WebSocket loop.
//! The WebSocket loop itself is [`crate::pump`]: its read timeout (`read_timeout`) bounds
//! the connection's outbound latency.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Instant;

use actionhero_ws::handshake::{self, Decision, Handshake, Parsed};
use actionhero_ws::server::CloseCause;
use actionhero_ws::{ConnectionHandle, Frame};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::WebSocket;

use super::driver::DriverMsg;
use super::{Config, Shared};
use crate::pump::{self, End, Inbound};
use crate::util::is_timeout;

/// Serves one accepted socket until it closes.
pub(crate) fn run(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let cfg = &shared.config;
    let _ = stream.set_nodelay(true);
    if stream.set_write_timeout(Some(cfg.write_timeout)).is_err() {
        return;
    }
    let Some((decision, leftover)) = read_request(&mut stream, peer, cfg) else {
        return;
    };
    match decision {
        Decision::Respond { response, .. } => respond_and_close(&mut stream, &response, cfg),
        Decision::Upgrade {
            handshake,
            response,
        } => upgrade(stream, handshake, &response, leftover, shared),
    }
}

/// Reads until the core's parser has a complete request head (within
/// `handshake_timeout`) and returns the core's decision on it with the bytes read past
/// the head. A head the parser refuses is answered here.
fn read_request(
    stream: &mut TcpStream,
    peer: SocketAddr,
    cfg: &Config,
) -> Option<(Decision, Vec<u8>)> {
    let start = Instant::now();
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        match handshake::parse_request(&buf, &cfg.handshake.limits) {
            Ok(Parsed::Complete { request, consumed }) => {
                let leftover = buf.split_off(consumed.min(buf.len()));
                return Some((
                    handshake::evaluate(&request, peer, &cfg.handshake),
                    leftover,
                ));
            }
            Ok(Parsed::NeedMore) => {}
            Err(e) => {
                let response = handshake::reject_malformed(&e);
                respond_and_close(stream, &response, cfg);
                return None;
            }
        }
        let left = cfg.handshake_timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(_) => return None,
        }
    }
}

/// Writes a complete HTTP response, ends our side, and waits briefly for the peer to
/// close, so the response is not cut short by a reset.
fn respond_and_close(stream: &mut TcpStream, response: &[u8], cfg: &Config) {
    if stream
        .write_all(response)
        .and_then(|()| stream.flush())
        .is_err()
    {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
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
    mut stream: TcpStream,
    handshake: Handshake,
    response: &[u8],
    leftover: Vec<u8>,
    shared: &Shared,
) {
    let cfg = &shared.config;
    let (outbox, frames) = mpsc::sync_channel(cfg.outbound_queue);
    let (reply, opened) = mpsc::channel();
    let msg = DriverMsg::Opened {
        handshake,
        outbox,
        reply,
    };
    if shared.to_driver.send(msg).is_err() {
        return;
    }
    let Ok(opened) = opened.recv() else { return };
    // From here on the core knows the connection: report its end exactly once.
    let mut guard = opened.as_ref().ok().map(|&conn| ClosedGuard {
        conn,
        to_driver: shared.to_driver.clone(),
        cause: CloseCause::Error("connection thread ended".into()),
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
        Some(guard) => serve(&mut ws, &frames, guard, cfg),
        None => {
            // The core refused (shutting down, too many connections).
            if let Err(rejected) = opened {
                let _ = ws.close(pump::close_frame(&rejected.close_frame()));
            }
            pump::linger(&mut ws, cfg.close_linger);
        }
    }
}

/// Sends `Closed` to the driver when the connection thread is done, however it ends.
struct ClosedGuard {
    conn: ConnectionHandle,
    to_driver: SyncSender<DriverMsg>,
    cause: CloseCause,
}

impl Drop for ClosedGuard {
    fn drop(&mut self) {
        let _ = self.to_driver.send(DriverMsg::Closed {
            conn: self.conn,
            cause: std::mem::replace(&mut self.cause, CloseCause::Remote { code: None }),
        });
    }
}

/// The WebSocket loop; records why it ended in `guard.cause`.
fn serve(
    ws: &mut WebSocket<TcpStream>,
    frames: &Receiver<Frame>,
    guard: &mut ClosedGuard,
    cfg: &Config,
) {
    let conn = guard.conn;
    let to_driver = guard.to_driver.clone();
    let end = pump::run(ws, frames, cfg.close_linger, |msg| {
        let msg = match msg {
            Inbound::Text(text) => DriverMsg::Text { conn, text },
            Inbound::Binary(data) => DriverMsg::Binary { conn, data },
            Inbound::Ping => DriverMsg::Ping { conn },
        };
        to_driver.send(msg).is_ok()
    });
    guard.cause = match end {
        End::PeerClosed { code } => CloseCause::Remote { code },
        End::TooLarge => CloseCause::MessageTooLarge,
        End::Failed(e) => CloseCause::Error(e),
        // After `Local` the core has already ended the connection; the cause is unused.
        End::Local => CloseCause::Remote { code: None },
    };
}
