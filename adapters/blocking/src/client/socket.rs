//! One thread per connect attempt: TCP connect, the core-built upgrade request, the
//! response read until the core's `parse_response` completes, then the WebSocket loop.
//!
//! The thread never decides when to give up: the core does (connect and attempt
//! timeouts) and says so with `ClientOutput::Close`, which drops this attempt's outbox;
//! the thread notices between short reads and stops.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::Duration;

use actionhero_ws::client::{CloseCause, OpenFailure};
use actionhero_ws::handshake::{parse_response, ClientUpgrade, HandshakeLimits, ResponseParsed};
use actionhero_ws::{AttemptId, Frame};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::WebSocket;

use super::{Config, Msg};
use crate::pump::{self, End, Inbound};
use crate::util::is_timeout;

/// Opens the socket of `attempt` (where and how: the core's `ClientOutput::Open`) and
/// runs it until it ends.
pub(super) fn run(
    attempt: AttemptId,
    target: ClientUpgrade,
    frames: &Receiver<Frame>,
    to_driver: &SyncSender<Msg>,
    config: &Config,
) {
    let fail = |cause: OpenFailure| {
        let _ = to_driver.send(Msg::OpenFailed { attempt, cause });
    };
    let stream = match open(&target, frames, config) {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(cause) => return fail(cause),
    };
    let Some((stream, leftover)) = (match handshake(stream, &target, frames) {
        Ok(opened) => opened,
        Err(cause) => return fail(cause),
    }) else {
        return;
    };
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_size)
        .max_message_size(Some(config.core.max_message_len))
        .max_frame_size(Some(config.core.max_message_len));
    let mut ws = WebSocket::from_partially_read(stream, leftover, Role::Client, Some(ws_config));
    if to_driver.send(Msg::Opened { attempt }).is_err() {
        return;
    }
    let end = pump::run(&mut ws, frames, None, config.close_linger, |msg| {
        let msg = match msg {
            Inbound::Text(text) => Msg::Text { attempt, text },
            Inbound::Binary(data) => Msg::Binary { attempt, data },
            Inbound::Ping => return true,
        };
        to_driver.send(msg).is_ok()
    });
    let (cause, drain) = match end {
        End::PeerClosed { code } => (CloseCause::Remote { code }, false),
        End::TooLarge => (
            CloseCause::Error("message over max_message_len".into()),
            true,
        ),
        End::Violated(cause) => (cause, true),
        End::Failed(e) => (CloseCause::Error(e), false),
        // The core closed this socket itself; it expects no input about it.
        End::Local => return,
    };
    let _ = to_driver.send(Msg::Closed { attempt, cause });
    if drain {
        pump::drain(&mut ws, config.close_linger);
    }
}

/// True once the core has abandoned this attempt (outbox dropped or a close queued).
fn abandoned(frames: &Receiver<Frame>) -> bool {
    !matches!(frames.try_recv(), Err(TryRecvError::Empty))
}

/// TCP connect to the first address of `host:port` that answers. `Ok(None)`: abandoned.
fn open(
    target: &ClientUpgrade,
    frames: &Receiver<Frame>,
    config: &Config,
) -> Result<Option<TcpStream>, OpenFailure> {
    let io = |e: std::io::Error| OpenFailure::Io(e.to_string());
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(io)?
        .collect();
    // Bounded so an unroutable address cannot hold the thread for minutes; the core's
    // own deadline for the attempt is never longer.
    let bound = config
        .core
        .connect_timeout
        .max(config.core.reconnect.attempt_timeout)
        .max(Duration::from_millis(1));
    let mut last = OpenFailure::Io(format!("{}: no address", target.host));
    for addr in addrs {
        if abandoned(frames) {
            return Ok(None);
        }
        match TcpStream::connect_timeout(&addr, bound) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                s.set_read_timeout(Some(config.read_timeout)).map_err(io)?;
                s.set_write_timeout(Some(config.write_timeout))
                    .map_err(io)?;
                return Ok(Some(s));
            }
            Err(e) => last = io(e),
        }
    }
    Err(last)
}

/// Writes the upgrade request and reads until the core accepts the response. Returns
/// the stream and the bytes read past the response head; `Ok(None)`: abandoned.
fn handshake(
    mut stream: TcpStream,
    target: &ClientUpgrade,
    frames: &Receiver<Frame>,
) -> Result<Option<(TcpStream, Vec<u8>)>, OpenFailure> {
    let io = |e: std::io::Error| OpenFailure::Io(e.to_string());
    stream.write_all(&target.request).map_err(io)?;
    stream.flush().map_err(io)?;
    let limits = HandshakeLimits::default();
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        match parse_response(&buf, &target.expected_accept, &limits) {
            Ok(ResponseParsed::Complete { consumed }) => {
                let leftover = buf.split_off(consumed.min(buf.len()));
                return Ok(Some((stream, leftover)));
            }
            Ok(ResponseParsed::NeedMore) => {}
            Err(e) => return Err(OpenFailure::Handshake(e.to_string())),
        }
        if abandoned(frames) {
            return Ok(None);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(OpenFailure::Io(
                    "connection closed during the handshake".into(),
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(io(e)),
        }
    }
}
