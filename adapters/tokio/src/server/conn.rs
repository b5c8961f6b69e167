//! The accept loop and the per-connection task: (TLS handshake →) HTTP head → core
//! handshake decision → tokio-tungstenite → whole messages to the driver, queued frames
//! to the socket.

use std::future::pending;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
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
use super::{AdapterConfig, Inbound, Outbound};
use crate::trace;

/// Frames written per flush when several are queued.
const WRITE_BATCH: usize = 64;
/// Text messages already read that go to the driver in one hop, at most.
const READ_BATCH: usize = 64;

pub(crate) struct ConnShared {
    pub(crate) router: Arc<Router>,
    pub(crate) adapter: AdapterConfig,
    pub(crate) max_message: usize,
    pub(crate) inbound: mpsc::Sender<Inbound>,
    /// Set: every accepted socket speaks TLS first.
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts until told to stop. Every connection task holds a clone of `alive`, so the
/// driver knows when the last one has ended. Without a listener (a server whose
/// connections all come from an embedding HTTP server) it only holds `alive` until the
/// stop.
pub(crate) async fn accept_loop(
    listener: Option<TcpListener>,
    shared: Arc<ConnShared>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let Some(listener) = listener else {
        let _ = stop.wait_for(|stop| *stop).await;
        return;
    };
    loop {
        tokio::select! {
            // Only ever set to true (or dropped with the driver): either way, stop.
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let task = connection(stream, peer, shared.clone(), alive.clone());
                    tokio::spawn(trace::connection(task, peer));
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
    _alive: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let Some(stream) = secure(stream, &shared).await else {
        return;
    };
    // The upgrade's buffers live in its own future and are freed before the connection
    // settles down: idle connections are many, so their footprint matters.
    let Some((ws, handshake)) = upgrade(stream, peer, &shared).await else {
        return;
    };
    websocket(ws, handshake, &shared).await;
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
/// through the driver). `None` when the connection ended without an upgrade.
async fn upgrade(
    mut stream: ServerIo,
    peer: SocketAddr,
    shared: &ConnShared,
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
                let sent = shared
                    .inbound
                    .send(Inbound::Api(ApiCall {
                        request: api,
                        body,
                        reply,
                    }))
                    .await;
                match (sent, answer.await) {
                    (Ok(()), Ok(response)) => response,
                    // The server is stopping.
                    _ => return None,
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

/// Runs an upgraded connection: registers it with the driver, then moves messages until
/// it ends.
pub(crate) async fn websocket(mut ws: Ws, handshake: handshake::Handshake, shared: &ConnShared) {
    let (writer, frames) = mpsc::channel(shared.adapter.outbound_queue.max(1));
    let depth = Arc::new(AtomicUsize::new(0));
    let (kill, killed) = oneshot::channel();
    let (reply, handle) = oneshot::channel();
    let opened = Inbound::Opened {
        handshake,
        writer,
        depth: depth.clone(),
        kill,
        reply,
    };
    if shared.inbound.send(opened).await.is_err() {
        return;
    }
    let conn = match handle.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(rejected)) => {
            // Refused by the core (too many connections, shutting down).
            let close = close_frame(&rejected.close_frame());
            let _ = timeout(shared.adapter.close_timeout, ws.close(close)).await;
            return;
        }
        Err(_) => return,
    };
    trace::opened(conn);
    let mut guard = ClosedGuard {
        conn,
        inbound: Some(shared.inbound.clone()),
    };
    // The driver sends on `kill` for a slow consumer: drop the socket at once, even in the
    // middle of a write. A dropped `kill` sender (normal close) does not kill.
    let killed = async {
        if killed.await.is_err() {
            pending::<()>().await;
        }
    };
    let cause = tokio::select! {
        () = killed => CloseCause::Error("killed: slow consumer".into()),
        cause = pump(&mut ws, frames, &depth, conn, shared) => cause,
    };
    // A cause with a close frame is one `fail` sent that frame for: the core hears of
    // the end at once, then the peer gets time to read the frame and close.
    let linger = cause.close_frame().is_some();
    if let Some(inbound) = guard.inbound.take() {
        let _ = inbound.send(Inbound::Closed { conn, cause }).await;
    }
    if linger {
        drain(&mut ws, shared.adapter.close_timeout).await;
    }
}

/// Tells the driver about the close however the task ends (also if it is dropped).
struct ClosedGuard {
    conn: ConnectionHandle,
    inbound: Option<mpsc::Sender<Inbound>>,
}

impl Drop for ClosedGuard {
    fn drop(&mut self) {
        if let Some(inbound) = self.inbound.take() {
            let _ = inbound.try_send(Inbound::Closed {
                conn: self.conn,
                cause: CloseCause::Error("connection task ended".into()),
            });
        }
    }
}

/// Moves messages both ways until the socket ends; returns how it ended.
async fn pump(
    ws: &mut Ws,
    mut frames: mpsc::Receiver<Outbound>,
    depth: &AtomicUsize,
    conn: ConnectionHandle,
    shared: &ConnShared,
) -> CloseCause {
    let close_wait = shared.adapter.close_timeout;
    loop {
        tokio::select! {
            msg = ws.next() => {
                // This message and every other one already read: text messages go to
                // the driver together, so it answers them in one pass.
                let mut msg = msg;
                let mut texts: Vec<Utf8Bytes> = Vec::new();
                let other = loop {
                    match msg {
                        Some(Ok(Message::Text(text))) => texts.push(text),
                        Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                        other => break Some(other),
                    }
                    if texts.len() >= READ_BATCH {
                        break None;
                    }
                    match ws.next().now_or_never() {
                        Some(next) => msg = next,
                        None => break None,
                    }
                };
                let batch = match texts.len() {
                    0 => None,
                    1 => texts.pop().map(|text| Inbound::Text { conn, text }),
                    _ => Some(Inbound::Texts { conn, texts }),
                };
                if let Some(batch) = batch {
                    if shared.inbound.send(batch).await.is_err() {
                        return CloseCause::Error("server stopped".into());
                    }
                }
                let Some(msg) = other else { continue };
                let inbound = match msg {
                    Some(Ok(Message::Text(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Binary(data))) => Inbound::Binary { conn, data },
                    // tungstenite answers pings itself; Primus counts them as liveness.
                    Some(Ok(Message::Ping(_))) => Inbound::Ping { conn },
                    Some(Ok(Message::Close(frame))) => {
                        // Polling on flushes tungstenite's close reply.
                        finish_close(ws, close_wait).await;
                        return CloseCause::Remote { code: frame.map(|f| u16::from(f.code)) };
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
                };
                if shared.inbound.send(inbound).await.is_err() {
                    return CloseCause::Error("server stopped".into());
                }
            }
            frame = frames.recv() => {
                let Some(frame) = frame else {
                    // The driver let go without a close frame (it is stopping).
                    let _ = timeout(close_wait, ws.close(None)).await;
                    return CloseCause::Remote { code: None };
                };
                match write_frames(ws, frame, &mut frames, depth).await {
                    Ok(false) => {}
                    Ok(true) => {
                        finish_close(ws, close_wait).await;
                        return CloseCause::Remote { code: None };
                    }
                    Err(e) => return CloseCause::Error(e.to_string()),
                }
            }
        }
    }
}

/// Writes `first` and whatever else is queued (up to a batch), then flushes. Returns true
/// when a close frame was written (the connection is done).
async fn write_frames(
    ws: &mut Ws,
    first: Outbound,
    frames: &mut mpsc::Receiver<Outbound>,
    depth: &AtomicUsize,
) -> Result<bool, WsError> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(out) = next.take() {
        depth.fetch_sub(out.len(), Ordering::Relaxed);
        match out {
            Outbound::One(frame) => {
                written += 1;
                if write_frame(ws, frame).await? {
                    return Ok(true);
                }
            }
            Outbound::Many(batch) => {
                for frame in batch {
                    written += 1;
                    if write_frame(ws, frame).await? {
                        return Ok(true);
                    }
                }
            }
        }
        if written < WRITE_BATCH {
            next = frames.try_recv().ok();
        }
    }
    ws.flush().await?;
    Ok(false)
}

/// Buffers one frame (a close frame is written and flushed: returns true).
async fn write_frame(ws: &mut Ws, frame: Frame) -> Result<bool, WsError> {
    match frame {
        Frame::Text(text) => {
            if let Ok(text) = Utf8Bytes::try_from(text.into_bytes()) {
                ws.feed(Message::Text(text)).await?;
            }
            Ok(false)
        }
        close => {
            ws.close(close_frame(&close)).await?;
            Ok(true)
        }
    }
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
