//! The accept loop and the per-connection task, on the worker's thread: (TLS handshake
//! →) HTTP head → core handshake decision → tokio-tungstenite → whole messages fed to
//! the core, its answers written back.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actionhero_ws::handshake::{self, Parsed};
use actionhero_ws::http::{ApiCall, RequestContext, Route, Router};
use actionhero_ws::server::CloseCause;
use actionhero_ws::{ConnectionHandle, Frame};
use futures_util::FutureExt as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::stream::ServerIo;
use super::worker::{Outbox, Worker};
use super::AdapterConfig;
use crate::trace;

/// Frames a connection keeps room for between writes (a larger burst's buffer is freed).
const WRITE_BATCH: usize = 64;
/// Text messages already read that are fed to the core in one borrow, at most.
const READ_BATCH: usize = 64;

/// What every connection task reads, on any thread (embedding servers decide routes on
/// their own threads).
pub(crate) struct ConnShared {
    pub(crate) router: Arc<Router>,
    pub(crate) adapter: AdapterConfig,
    pub(crate) max_message: usize,
    /// Set: every accepted socket speaks TLS first.
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts until told to stop. Every connection task holds a clone of `alive`, so the
/// worker knows when the last one has ended. Without a listener (a server whose
/// connections all come from an embedding HTTP server) it only holds `alive` until the
/// stop.
pub(crate) async fn accept_loop(
    listener: Option<TcpListener>,
    shared: Arc<ConnShared>,
    worker: Rc<Worker>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let Some(listener) = listener else {
        let _ = stop.wait_for(|stop| *stop).await;
        return;
    };
    loop {
        tokio::select! {
            // Only ever set to true (or dropped with the worker): either way, stop.
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let task =
                        connection(stream, peer, shared.clone(), worker.clone(), alive.clone());
                    tokio::task::spawn_local(trace::connection(task, peer));
                }
                Err(_) => {
                    // Out of file descriptors and the like: back off a little.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<ConnShared>,
    worker: Rc<Worker>,
    _alive: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let Some(stream) = secure(stream, &shared).await else {
        return;
    };
    // The upgrade's buffers live in its own future and are freed before the connection
    // settles down: idle connections are many, so their footprint matters.
    let Some((ws, handshake)) = upgrade(stream, peer, &shared, &worker).await else {
        return;
    };
    websocket(ws, handshake, &shared, &worker).await;
}

/// The TLS handshake when the server has TLS, bounded by
/// [`AdapterConfig::tls_handshake_timeout`]; `None` when it failed or took too long
/// (the socket is dropped; rustls has sent its alert, if any).
#[cfg(feature = "rustls")]
async fn secure(stream: TcpStream, shared: &ConnShared) -> Option<ServerIo> {
    let Some(acceptor) = &shared.tls else {
        return Some(ServerIo::Plain(stream));
    };
    match timeout(
        shared.adapter.tls_handshake_timeout,
        acceptor.accept(stream),
    )
    .await
    {
        Ok(Ok(tls)) => Some(ServerIo::Tls(Box::new(tls))),
        Ok(Err(_error)) => {
            trace::debug!(error = %_error, "TLS handshake failed");
            None
        }
        Err(_) => {
            trace::debug!("TLS handshake timed out");
            None
        }
    }
}

#[cfg(not(feature = "rustls"))]
async fn secure(stream: TcpStream, _shared: &ConnShared) -> Option<ServerIo> {
    Some(ServerIo::Plain(stream))
}

/// Serves HTTP requests until one is a WebSocket upgrade: reads each head, lets the
/// core's router decide, and carries the decision out (write, read a file, run an action
/// through the core). `None` when the connection ended without an upgrade.
async fn upgrade(
    mut stream: ServerIo,
    peer: SocketAddr,
    shared: &ConnShared,
    worker: &Rc<Worker>,
) -> Option<(Ws, handshake::Handshake)> {
    let mut deadline = Instant::now() + shared.adapter.handshake_timeout;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let (request, consumed) = loop {
            match handshake::parse_request(&buf, &shared.router.handshake_config().limits) {
                Ok(Parsed::NeedMore) => {}
                Ok(Parsed::Complete { request, consumed }) => break (request, consumed),
                Err(e) => {
                    trace::debug!(error = %e, "malformed request head");
                    answer_and_close(stream, &handshake::reject_malformed(&e), shared).await;
                    return None;
                }
            }
            if buf.len() == buf.capacity() {
                buf.reserve(4096);
            }
            match timeout_at(deadline, stream.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                // EOF, error, too slow, or an idle kept-alive connection: drop silently.
                Ok(Ok(_)) | Ok(Err(_)) | Err(_) => return None,
            }
        };
        buf.drain(..consumed);
        let ctx = RequestContext {
            peer,
            now_ms: crate::epoch_ms(),
            entropy: crate::random_bytes16(),
        };
        let response = match shared.router.route(&request, &ctx) {
            Route::Upgrade {
                handshake,
                response,
                ..
            } => {
                match timeout_at(deadline, stream.write_all(&response)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return None,
                }
                let config = shared.ws_config();
                let ws =
                    WebSocketStream::from_partially_read(stream, buf, Role::Server, Some(config))
                        .await;
                return Some((ws, handshake));
            }
            Route::Respond(response) => response,
            Route::File(file) => {
                let serve = move || file.serve(crate::files::stat, crate::files::read);
                match tokio::task::spawn_blocking(serve).await {
                    Ok(response) => response,
                    // The runtime is shutting down.
                    Err(_) => return None,
                }
            }
            Route::Action(api) => {
                // The body: what is already buffered, then the rest.
                while buf.len() < api.body_len {
                    buf.reserve(api.body_len - buf.len());
                    match timeout_at(deadline, stream.read_buf(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        Ok(Ok(_)) | Ok(Err(_)) | Err(_) => return None,
                    }
                }
                let body: Vec<u8> = buf.drain(..api.body_len).collect();
                let (reply, answer) = oneshot::channel();
                worker.api(ApiCall {
                    request: api,
                    body,
                    reply,
                });
                match answer.await {
                    Ok(response) => response,
                    // The server is stopping.
                    Err(_) => return None,
                }
            }
        };
        if !response.keep_alive {
            answer_and_close(stream, &response.to_bytes(), shared).await;
            return None;
        }
        // One write for head and body: with TCP_NODELAY two would be two segments.
        let bytes = response.to_bytes();
        match timeout(
            shared.adapter.close_timeout.max(deadline - Instant::now()),
            stream.write_all(&bytes),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return None,
        }
        // The next request on this connection: idle at most the advertised time.
        deadline = Instant::now() + Duration::from_secs(u64::from(response.keep_alive_secs));
    }
}

/// Writes a complete HTTP response, half-closes, and drains what the client still sends
/// (briefly), so the answer is not lost to a reset.
async fn answer_and_close(mut stream: ServerIo, response: &[u8], shared: &ConnShared) {
    let wait = shared.adapter.close_timeout;
    if !matches!(timeout(wait, stream.write_all(response)).await, Ok(Ok(()))) {
        return;
    }
    let _ = timeout(wait, stream.shutdown()).await;
    let mut sink = [0u8; 1024];
    let until = Instant::now() + wait;
    while let Ok(Ok(n)) = timeout_at(until, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

pub(crate) type Ws = WebSocketStream<ServerIo>;

impl ConnShared {
    /// tungstenite's settings for an upgraded connection: the adapter's read buffer,
    /// the core's message limit.
    pub(crate) fn ws_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.adapter.read_buffer_size.max(64))
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_message))
    }
}

/// Runs an upgraded connection: registers it with the core, then moves messages until
/// it ends.
pub(crate) async fn websocket(
    mut ws: Ws,
    handshake: handshake::Handshake,
    shared: &ConnShared,
    worker: &Rc<Worker>,
) {
    let (conn, outbox) = match worker.open(handshake) {
        Ok(opened) => opened,
        Err(rejected) => {
            // Refused by the core (too many connections, shutting down).
            let close = close_frame(&rejected.close_frame());
            let _ = timeout(shared.adapter.close_timeout, ws.close(close)).await;
            return;
        }
    };
    trace::opened(conn);
    let mut guard = ClosedGuard {
        conn,
        worker: Some(worker.clone()),
    };
    // The worker kills a slow consumer: drop the socket at once, even in the middle of
    // a write.
    let cause = tokio::select! {
        () = outbox.killed() => CloseCause::Error("killed: slow consumer".into()),
        cause = pump(&mut ws, &outbox, conn, shared, worker) => cause,
    };
    // A cause with a close frame is one `fail` sent that frame for: the core hears of
    // the end at once, then the peer gets time to read the frame and close.
    let linger = cause.close_frame().is_some();
    if let Some(worker) = guard.worker.take() {
        worker.closed(conn, cause);
    }
    if linger {
        drain(&mut ws, shared.adapter.close_timeout).await;
    }
}

/// Tells the core about the close however the task ends (also if it is dropped).
struct ClosedGuard {
    conn: ConnectionHandle,
    worker: Option<Rc<Worker>>,
}

impl Drop for ClosedGuard {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            let cause = CloseCause::Error("connection task ended".into());
            worker.closed_later(self.conn, cause);
        }
    }
}

/// Moves messages both ways until the socket ends; returns how it ended. Text messages
/// are fed to the core by this task, with every other one already read (up to
/// `READ_BATCH`), in one borrow of the core; what the core answered for this connection
/// is written right after, with one flush.
async fn pump(
    ws: &mut Ws,
    outbox: &Outbox,
    conn: ConnectionHandle,
    shared: &ConnShared,
    worker: &Rc<Worker>,
) -> CloseCause {
    let close_wait = shared.adapter.close_timeout;
    let mut batch: Vec<Frame> = Vec::new();
    loop {
        // What the core queued for this connection, from this task or from others.
        outbox.take_into(&mut batch);
        if !batch.is_empty() {
            match write_frames(ws, &mut batch).await {
                Ok(false) => {}
                Ok(true) => {
                    finish_close(ws, close_wait).await;
                    return CloseCause::Remote { code: None };
                }
                Err(e) => return CloseCause::Error(e.to_string()),
            }
            if batch.capacity() > WRITE_BATCH {
                // A burst (a busy room) should not stay with an idle connection.
                batch = Vec::new();
            }
            continue;
        }
        if outbox.is_done() {
            // The worker let go without a close frame (it is stopping).
            let _ = timeout(close_wait, ws.close(None)).await;
            return CloseCause::Remote { code: None };
        }
        worker.events_room().await;
        let msg = tokio::select! {
            msg = ws.next() => msg,
            () = outbox.ready() => continue,
        };
        let other = match msg {
            Some(Ok(Message::Text(text))) => {
                let mut core = worker.enter();
                let now = std::time::Instant::now();
                core.server.handle_text(conn, &text, now);
                worker.settle(&mut core);
                let mut n = 1;
                let other = loop {
                    if n >= READ_BATCH {
                        break None;
                    }
                    match ws.next().now_or_never() {
                        Some(Some(Ok(Message::Text(text)))) => {
                            core.server.handle_text(conn, &text, now);
                            worker.settle(&mut core);
                            n += 1;
                        }
                        Some(Some(Ok(Message::Pong(_) | Message::Frame(_)))) => {}
                        Some(other) => break Some(other),
                        None => break None,
                    }
                };
                worker.leave(core, Some(conn));
                match other {
                    Some(other) => other,
                    None => continue,
                }
            }
            other => other,
        };
        match other {
            Some(Ok(Message::Text(text))) => {
                // Only after a full batch; fed on its own.
                let mut core = worker.enter();
                core.server
                    .handle_text(conn, &text, std::time::Instant::now());
                worker.leave(core, Some(conn));
            }
            Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Binary(data))) => {
                let mut core = worker.enter();
                core.server
                    .handle_binary(conn, &data, std::time::Instant::now());
                worker.leave(core, Some(conn));
            }
            // tungstenite answers pings itself; Primus counts them as liveness.
            Some(Ok(Message::Ping(_))) => {
                let mut core = worker.enter();
                core.server.handle_ws_ping(conn, std::time::Instant::now());
                worker.leave(core, Some(conn));
            }
            Some(Ok(Message::Close(frame))) => {
                // Polling on flushes tungstenite's close reply.
                finish_close(ws, close_wait).await;
                return CloseCause::Remote {
                    code: frame.map(|f| u16::from(f.code)),
                };
            }
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                return fail(ws, CloseCause::MessageTooLarge, close_wait).await;
            }
            Some(Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            ))
            | None => {
                return CloseCause::Remote { code: None };
            }
            Some(Err(WsError::Protocol(e))) => {
                trace::debug!(error = %e, "WebSocket protocol error");
                return fail(ws, CloseCause::Protocol(e.to_string()), close_wait).await;
            }
            Some(Err(WsError::Utf8(_))) => {
                return fail(ws, CloseCause::InvalidUtf8, close_wait).await;
            }
            Some(Err(e)) => return CloseCause::Error(e.to_string()),
        }
    }
}

/// Writes the frames of `batch` (emptied), then flushes once. Returns true when a close
/// frame was written (the connection is done).
async fn write_frames(ws: &mut Ws, batch: &mut Vec<Frame>) -> Result<bool, WsError> {
    for frame in batch.drain(..) {
        match frame {
            Frame::Text(text) => {
                if let Ok(text) = Utf8Bytes::try_from(text.into_bytes()) {
                    ws.feed(Message::Text(text)).await?;
                }
            }
            close => {
                ws.close(close_frame(&close)).await?;
                return Ok(true);
            }
        }
    }
    ws.flush().await?;
    Ok(false)
}

/// tungstenite's form of a core close frame (`None`: a close without a status code).
pub(crate) fn close_frame(frame: &Frame) -> Option<CloseFrame> {
    let (code, reason) = frame.close_status()?;
    Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    })
}

/// The peer's stream failed for `cause`: send the core's close frame for it (bounded by
/// `wait`); [`drain`] follows once the core knows.
async fn fail(ws: &mut Ws, cause: CloseCause, wait: Duration) -> CloseCause {
    let close = cause.close_frame().as_ref().and_then(close_frame);
    let _ = timeout(wait, ws.close(close)).await;
    cause
}

/// After `fail`'s close frame: end our side and read the socket itself until the peer
/// closes (the stream reads nothing after its error), bounded by `wait`, so the frame is
/// not lost to a reset.
async fn drain(ws: &mut Ws, wait: Duration) {
    let until = Instant::now() + wait;
    let stream = ws.get_mut();
    let _ = timeout_at(until, stream.shutdown()).await;
    let mut sink = [0u8; 1024];
    while let Ok(Ok(n)) = timeout_at(until, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

/// After a close frame went out or came in: keep reading (which flushes tungstenite's
/// close reply) until the peer's close or EOF, bounded by `wait`.
async fn finish_close(ws: &mut Ws, wait: Duration) {
    let until = Instant::now() + wait;
    while let Ok(Some(Ok(_))) = timeout_at(until, ws.next()).await {}
}
