//! The WebSocket loop shared by server connections and client sockets
//! (docs/architecture.md#blocking-adapter).
//!
//! One thread owns one `tungstenite::WebSocket` over a socket (plain, or TLS on the
//! server) with a short read timeout, and loops:
//! 1. read; forward a complete message, or treat `WouldBlock`/`TimedOut` as "nothing yet";
//! 2. `try_recv` every frame the driver queued and write it;
//! 3. flush.
//!
//! A frame queued while the thread sits in `read` waits at most the read timeout, so
//! **the read timeout bounds outbound latency**. tungstenite keeps partial frames across
//! timeouts and answers WebSocket pings itself (`WebSocketContext::read` never blocks on
//! write; a blocked read returns `WouldBlock` and is simply called again).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use actionhero_ws::{CloseCause, Frame};
use bytes::Bytes;
use tungstenite::error::ProtocolError;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use crate::trace;
use crate::util::is_timeout;

/// A complete inbound message.
pub(crate) enum Inbound {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// A WebSocket-level ping (already answered by tungstenite).
    Ping,
}

/// How the loop ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The peer sent a close frame (`code` `None`: without status) or ended TCP.
    PeerClosed { code: Option<u16> },
    /// The peer sent a message over the size limit; we sent close 1009. Tell the
    /// driver, then [`drain`].
    TooLarge,
    /// The peer broke the WebSocket protocol ([`CloseCause::Protocol`],
    /// [`CloseCause::InvalidUtf8`]); we sent the cause's close frame. Tell the driver,
    /// then [`drain`].
    Violated(CloseCause),
    /// A read or write failed (a peer that reads nothing for the write timeout too).
    Failed(String),
    /// We ended it: a close frame from the driver was sent, the driver dropped the
    /// outbox, or the driver is gone.
    Local,
}

/// Runs the loop until the socket is done. `forward` hands a message to the driver and
/// returns false when the driver is gone. `depth`, when given, counts the frames queued
/// in `frames`: the loop subtracts each one it takes.
pub(crate) fn run<S: Read + Write>(
    ws: &mut WebSocket<S>,
    frames: &Receiver<Frame>,
    depth: Option<&AtomicUsize>,
    close_linger: Duration,
    mut forward: impl FnMut(Inbound) -> bool,
) -> End {
    loop {
        // 1. Read: returns within the socket's read timeout when nothing arrives.
        let inbound = match ws.read() {
            Ok(Message::Text(text)) => Some(Inbound::Text(text)),
            Ok(Message::Binary(data)) => Some(Inbound::Binary(data)),
            Ok(Message::Ping(_)) => Some(Inbound::Ping),
            Ok(Message::Pong(_) | Message::Frame(_)) => None,
            Ok(Message::Close(frame)) => {
                // tungstenite queued the close reply; send it and stop.
                let _ = ws.flush();
                return End::PeerClosed {
                    code: frame.map(|f| u16::from(f.code)),
                };
            }
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => None,
            Err(tungstenite::Error::Capacity(_)) => {
                let frame = CloseCause::MessageTooLarge.close_frame();
                let _ = ws.close(frame.as_ref().and_then(close_frame));
                return End::TooLarge;
            }
            Err(tungstenite::Error::Protocol(e))
                if e != ProtocolError::ResetWithoutClosingHandshake =>
            {
                trace::debug!(error = %e, "WebSocket protocol error");
                return violated(ws, CloseCause::Protocol(e.to_string()));
            }
            Err(tungstenite::Error::Utf8(_)) => {
                return violated(ws, CloseCause::InvalidUtf8);
            }
            Err(e) => {
                // A protocol error may have queued a close frame.
                let _ = ws.flush();
                return read_error(e);
            }
        };
        if let Some(msg) = inbound {
            if !forward(msg) {
                return End::Local;
            }
        }
        // 2. Write everything the driver queued.
        loop {
            let frame = frames.try_recv();
            if let (Ok(_), Some(depth)) = (&frame, depth) {
                depth.fetch_sub(1, Ordering::Relaxed);
            }
            match frame {
                Ok(Frame::Text(text)) => {
                    let Ok(text) = Utf8Bytes::try_from(text.into_bytes()) else {
                        continue;
                    };
                    if let Err(e) = ws.write(Message::Text(text)) {
                        return End::Failed(e.to_string());
                    }
                }
                Ok(close @ Frame::Close { .. }) => {
                    let _ = ws.close(close_frame(&close));
                    linger(ws, close_linger);
                    return End::Local;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return End::Local,
            }
        }
        // 3. Flush. A write that blocked for the write timeout (the peer reads nothing)
        // or failed ends the socket.
        if let Err(e) = ws.flush() {
            return End::Failed(e.to_string());
        }
    }
}

/// The peer broke the protocol: send the core's close frame for `cause`. The caller
/// tells its driver, then calls [`drain`].
fn violated<S: Read + Write>(ws: &mut WebSocket<S>, cause: CloseCause) -> End {
    let frame = cause.close_frame();
    let _ = ws.close(frame.as_ref().and_then(close_frame));
    End::Violated(cause)
}

/// A stream whose sending side can be ended on its own (for [`drain`]).
pub(crate) trait ShutdownWrite: Read + Write {
    /// Ends our sending side (a TLS stream sends `close_notify` first).
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl ShutdownWrite for TcpStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// After [`End::TooLarge`] or [`End::Violated`]: end our side and read the stream itself
/// until the peer closes (tungstenite reads nothing sensible after its error), bounded by
/// `close_linger`, so the close frame is not lost to a reset. The stream's reads are
/// bounded by its read timeout (one socket read per call on TLS too).
pub(crate) fn drain<S: ShutdownWrite>(ws: &mut WebSocket<S>, close_linger: Duration) {
    let stream = ws.get_mut();
    let _ = stream.shutdown_write();
    let start = Instant::now();
    let mut sink = [0u8; 1024];
    while start.elapsed() < close_linger {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
}

fn read_error(e: tungstenite::Error) -> End {
    match e {
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            End::PeerClosed { code: None }
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
            End::PeerClosed { code: None }
        }
        other => End::Failed(other.to_string()),
    }
}

/// After our close frame: wait up to `close_linger` for the peer's close reply, so the
/// close handshake completes before the socket is dropped.
/// tungstenite's form of a core close frame (`None`: a close without a status code).
pub(crate) fn close_frame(frame: &Frame) -> Option<CloseFrame> {
    let (code, reason) = frame.close_status()?;
    Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    })
}

pub(crate) fn linger<S: Read + Write>(ws: &mut WebSocket<S>, close_linger: Duration) {
    let start = Instant::now();
    while start.elapsed() < close_linger {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}
