//! One thread per socket: the HTTP upgrade on raw bytes (decided by the core), then the
//! WebSocket loop.
//!
//! The loop (STYLE.md §3.3): read with a short socket timeout and forward what arrived
//! (`WouldBlock`/`TimedOut` mean "nothing yet"), write every frame waiting in the outbox,
//! flush, repeat. A frame queued while the thread sits in `read` waits at most
//! `read_timeout`: that timeout is the connection's outbound latency bound.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::time::Instant;

use actionhero_ws::handshake::{self, Decision, Handshake, Parsed};
use actionhero_ws::server::CloseCause;
use actionhero_ws::{ConnectionHandle, Frame};
use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes, WebSocket};

use super::driver::DriverMsg;
use super::{Config, Shared};
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
    let mut guard = opened.ok().map(|conn| ClosedGuard {
        conn,
        to_driver: shared.to_driver.clone(),
        cause: CloseCause::Transport,
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
        Some(guard) => pump(&mut ws, &frames, guard, cfg),
        None => {
            // The core refused (shutting down, too many connections): "try again later".
            let frame = CloseFrame {
                code: CloseCode::Again,
                reason: Utf8Bytes::from_static("try again later"),
            };
            let _ = ws.close(Some(frame));
            linger(&mut ws, cfg);
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
            cause: self.cause,
        });
    }
}

/// The WebSocket loop. Returns when the socket is done; `guard.cause` says why.
fn pump(
    ws: &mut WebSocket<TcpStream>,
    frames: &Receiver<Frame>,
    guard: &mut ClosedGuard,
    cfg: &Config,
) {
    let conn = guard.conn;
    loop {
        // 1. Read: at most `read_timeout` when nothing arrives.
        let inbound = match ws.read() {
            Ok(Message::Text(text)) => Some(DriverMsg::Text { conn, text }),
            Ok(Message::Binary(data)) => Some(DriverMsg::Binary { conn, data }),
            Ok(Message::Ping(_)) => Some(DriverMsg::Ping { conn }),
            Ok(Message::Pong(_) | Message::Frame(_)) => None,
            Ok(Message::Close(frame)) => {
                // tungstenite queued the close reply; send it and stop.
                guard.cause = CloseCause::PeerClosed {
                    code: frame.map(|f| u16::from(f.code)),
                };
                let _ = ws.flush();
                return;
            }
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => None,
            Err(tungstenite::Error::Capacity(_)) => {
                guard.cause = CloseCause::MessageTooLarge;
                let frame = CloseFrame {
                    code: CloseCode::Size,
                    reason: Utf8Bytes::from_static("message too big"),
                };
                let _ = ws.close(Some(frame));
                linger(ws, cfg);
                return;
            }
            Err(e) => {
                guard.cause = read_error_cause(&e);
                // A protocol error may have queued a close frame.
                let _ = ws.flush();
                return;
            }
        };
        if let Some(msg) = inbound {
            if guard.to_driver.send(msg).is_err() {
                return;
            }
        }
        // 2. Write everything the driver queued.
        loop {
            match frames.try_recv() {
                Ok(Frame::Text(text)) => {
                    let Ok(text) = Utf8Bytes::try_from(text.into_bytes()) else {
                        continue;
                    };
                    if ws.write(Message::Text(text)).is_err() {
                        return;
                    }
                }
                Ok(Frame::Close { code, reason }) => {
                    let frame = code.map(|code| CloseFrame {
                        code: CloseCode::from(code),
                        reason: Utf8Bytes::from_static(reason),
                    });
                    let _ = ws.close(frame);
                    linger(ws, cfg);
                    return;
                }
                Err(TryRecvError::Empty) => break,
                // The driver dropped the outbox: slow consumer, or the server stopped.
                Err(TryRecvError::Disconnected) => return,
            }
        }
        // 3. Flush. A write that blocked for `write_timeout` (peer not reading) or failed
        // ends the connection.
        if ws.flush().is_err() {
            return;
        }
    }
}

fn read_error_cause(e: &tungstenite::Error) -> CloseCause {
    match e {
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            CloseCause::PeerClosed { code: None }
        }
        tungstenite::Error::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ) =>
        {
            CloseCause::PeerClosed { code: None }
        }
        _ => CloseCause::Transport,
    }
}

/// After our close frame: wait up to `close_linger` for the peer's close reply, so the
/// close handshake completes before the socket is dropped.
fn linger(ws: &mut WebSocket<TcpStream>, cfg: &Config) {
    let start = Instant::now();
    while start.elapsed() < cfg.close_linger {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}
