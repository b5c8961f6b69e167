//! The client driver task (the only owner of the core `Client`) and the socket tasks.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actionhero_ws::client::{
    Client, ClientConfig, ClientEvent, ClientOutput, ClientState, CloseCause, OpenFailure,
};
use actionhero_ws::handshake::ClientUpgrade;
use actionhero_ws::{AttemptId, Frame, MessageId, RoomName};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::{timeout, timeout_at};
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::stream::{self, MaybeTls};
use super::{ClientOptions, Request, RequestError, Tls};
use crate::server::conn::close_frame;
use crate::timer::DeadlineTimer;
use actionhero_ws::client::request_result;

/// Inputs the driver feeds before it drains and checks its timer again.
const BUDGET: usize = 64;

type Waiter = oneshot::Sender<Result<Value, RequestError>>;

/// What a [`ClientHandle`](super::ClientHandle) asks of the driver.
pub(crate) enum ClientCommand {
    Submit {
        request: Request,
        reply: oneshot::Sender<Result<MessageId, RequestError>>,
        waiter: Option<Waiter>,
    },
    State {
        reply: oneshot::Sender<ClientState>,
    },
    Pending {
        reply: oneshot::Sender<usize>,
    },
    Disconnect {
        reply: oneshot::Sender<()>,
    },
}

/// What socket tasks report, tagged with their attempt.
enum SocketMsg {
    Opened(AttemptId),
    OpenFailed(AttemptId, OpenFailure),
    Text(AttemptId, Utf8Bytes),
    Binary(AttemptId, Bytes),
    Closed(AttemptId, CloseCause),
}

/// What the driver tells the current socket task.
enum SocketCmd {
    Frame(Frame),
    Close(Frame),
}

struct Socket {
    attempt: AttemptId,
    opened: bool,
    tx: mpsc::UnboundedSender<SocketCmd>,
    abort: AbortHandle,
}

struct Driver {
    client: Client,
    socket: Option<Socket>,
    waiters: BTreeMap<MessageId, Waiter>,
    events: Option<mpsc::Sender<ClientEvent>>,
    options: ClientOptions,
    tls: Arc<Tls>,
    max_message: usize,
    reports: mpsc::Sender<SocketMsg>,
}

pub(crate) fn spawn(
    config: ClientConfig,
    options: ClientOptions,
) -> io::Result<(mpsc::Sender<ClientCommand>, mpsc::Receiver<ClientEvent>)> {
    let seed = match options.seed {
        Some(s) => s,
        None => crate::os_seed()?,
    };
    let max_message = config.max_message_len;
    let now = Instant::now();
    let mut client = Client::new(config, seed, now, SystemTime::now())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    client.connect(now);
    let (commands_tx, commands_rx) = mpsc::channel(64);
    let (events_tx, events_rx) = mpsc::channel(options.event_queue.max(1));
    let (reports_tx, reports_rx) = mpsc::channel(1024);
    let driver = Driver {
        client,
        socket: None,
        waiters: BTreeMap::new(),
        events: Some(events_tx),
        tls: Arc::new(Tls::new(&options)),
        options,
        max_message,
        reports: reports_tx,
    };
    tokio::spawn(driver.run(commands_rx, reports_rx));
    Ok((commands_tx, events_rx))
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<ClientCommand>,
        mut reports: mpsc::Receiver<SocketMsg>,
    ) {
        let mut timer = DeadlineTimer::new();
        let mut handles_gone = false;
        loop {
            // 1. Drain.
            while let Some(out) = self.client.poll_output() {
                self.output(out).await;
            }
            let closed = matches!(self.client.state(), ClientState::Closed { .. });
            if handles_gone && closed {
                break;
            }
            // 2. Arm the timer (an elapsed deadline first, before any wait).
            if timer.arm(self.client.poll_timeout()) {
                self.client.handle_timeout(Instant::now());
                continue;
            }
            // 3. Wait; 4. feed.
            tokio::select! {
                () = timer.fired(), if timer.is_armed() => {
                    self.client.handle_timeout(Instant::now());
                }
                Some(msg) = reports.recv() => {
                    self.report(msg);
                    for _ in 1..BUDGET {
                        let Ok(msg) = reports.try_recv() else { break };
                        self.report(msg);
                    }
                }
                cmd = commands.recv(), if !handles_gone => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => {
                        // Every handle is gone: stop for good.
                        handles_gone = true;
                        self.client.disconnect(Instant::now());
                    }
                },
            }
        }
    }

    async fn output(&mut self, out: ClientOutput) {
        match out {
            ClientOutput::Open { attempt, upgrade } => {
                if let Some(old) = self.socket.take() {
                    old.abort.abort();
                }
                let (tx, rx) = mpsc::unbounded_channel();
                let task = socket_task(
                    attempt,
                    upgrade,
                    self.tls.clone(),
                    self.max_message,
                    self.options.close_timeout,
                    self.reports.clone(),
                    rx,
                );
                let abort = tokio::spawn(task).abort_handle();
                self.socket = Some(Socket {
                    attempt,
                    opened: false,
                    tx,
                    abort,
                });
            }
            ClientOutput::Transmit(frame) => {
                if let Some(s) = &self.socket {
                    let _ = s.tx.send(SocketCmd::Frame(frame));
                }
            }
            ClientOutput::Close(frame) => {
                if let Some(s) = self.socket.take() {
                    // A socket still opening is abandoned at once; an open one says goodbye.
                    if !s.opened || s.tx.send(SocketCmd::Close(frame)).is_err() {
                        s.abort.abort();
                    }
                }
            }
            ClientOutput::Event(event) => self.event(event).await,
        }
    }

    async fn event(&mut self, event: ClientEvent) {
        match &event {
            ClientEvent::Response { id, body } => {
                if let Some(w) = self.waiters.remove(id) {
                    let _ = w.send(request_result(body.clone()));
                }
            }
            ClientEvent::RequestFailed { id, reason } => {
                if let Some(w) = self.waiters.remove(id) {
                    let _ = w.send(Err(RequestError::Failed(*reason)));
                }
            }
            _ => {}
        }
        let last = matches!(event, ClientEvent::Disconnected { .. });
        if let Some(tx) = &self.events {
            if tx.send(event).await.is_err() {
                self.events = None;
            }
        }
        if last {
            // The client stopped for good: the event stream ends here. Commands are still
            // answered (refused) while handles exist.
            self.events = None;
        }
    }

    fn report(&mut self, msg: SocketMsg) {
        let now = Instant::now();
        match msg {
            SocketMsg::Opened(a) => {
                if let Some(s) = self.socket.as_mut().filter(|s| s.attempt == a) {
                    s.opened = true;
                }
                self.client.handle_opened(a, now);
            }
            SocketMsg::OpenFailed(a, cause) => self.client.handle_open_failed(a, cause, now),
            SocketMsg::Text(a, text) => self.client.handle_text(a, &text, now),
            SocketMsg::Binary(a, data) => self.client.handle_binary(a, &data, now),
            SocketMsg::Closed(a, cause) => self.client.handle_closed(a, cause, now),
        }
    }

    fn command(&mut self, cmd: ClientCommand) {
        let now = Instant::now();
        match cmd {
            ClientCommand::Submit {
                request,
                reply,
                waiter,
            } => {
                let result = self.issue(request, now);
                if let (Ok(id), Some(w)) = (&result, waiter) {
                    self.waiters.insert(id.clone(), w);
                }
                let _ = reply.send(result);
            }
            ClientCommand::State { reply } => {
                let _ = reply.send(self.client.state());
            }
            ClientCommand::Pending { reply } => {
                let _ = reply.send(self.client.pending_requests());
            }
            ClientCommand::Disconnect { reply } => {
                self.client.disconnect(now);
                let _ = reply.send(());
            }
        }
    }

    fn issue(&mut self, request: Request, now: Instant) -> Result<MessageId, RequestError> {
        let room = |r: &str| RoomName::new(r).map_err(|_| RequestError::InvalidRoomName);
        let c = &mut self.client;
        let issued = match request {
            Request::Action { name, params } => c.action(&name, params, now),
            Request::Say { room: r, message } => c.say(&room(&r)?, message, now),
            Request::RoomAdd(r) => c.room_add(room(&r)?, now),
            Request::RoomLeave(r) => c.room_leave(&room(&r)?, now),
            Request::RoomView(r) => c.room_view(&room(&r)?, now),
            Request::DetailsView => c.details_view(now),
            Request::Documentation => c.documentation(now),
            Request::File(path) => c.file(&path, now),
        };
        issued.map_err(RequestError::Refused)
    }
}

type Ws = WebSocketStream<MaybeTls>;

/// Opens one socket for `attempt`, then moves messages both ways until it ends.
async fn socket_task(
    attempt: AttemptId,
    req: ClientUpgrade,
    tls: Arc<Tls>,
    max_message: usize,
    close_wait: Duration,
    reports: mpsc::Sender<SocketMsg>,
    mut cmds: mpsc::UnboundedReceiver<SocketCmd>,
) {
    let (stream, leftover) = match stream::open(req, &tls).await {
        Ok(s) => s,
        Err(cause) => {
            let _ = reports.send(SocketMsg::OpenFailed(attempt, cause)).await;
            return;
        }
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let mut ws =
        WebSocketStream::from_partially_read(stream, leftover, Role::Client, Some(config)).await;
    if reports.send(SocketMsg::Opened(attempt)).await.is_err() {
        return;
    }
    let cause = loop {
        tokio::select! {
            msg = ws.next() => {
                let report = match msg {
                    Some(Ok(Message::Text(text))) => SocketMsg::Text(attempt, text),
                    Some(Ok(Message::Binary(data))) => SocketMsg::Binary(attempt, data),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        finish_close(&mut ws, close_wait).await;
                        break CloseCause::Remote { code: frame.map(|f| u16::from(f.code)) };
                    }
                    Some(Err(
                        WsError::ConnectionClosed
                        | WsError::AlreadyClosed
                        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                    ))
                    | None => break CloseCause::Remote { code: None },
                    Some(Err(e)) => break CloseCause::Error(e.to_string()),
                };
                if reports.send(report).await.is_err() {
                    return;
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(SocketCmd::Frame(frame)) => match write(&mut ws, frame, &mut cmds, close_wait).await {
                    Ok(false) => {}
                    Ok(true) => return,
                    Err(e) => break CloseCause::Error(e.to_string()),
                },
                Some(SocketCmd::Close(frame)) => {
                    let _ = timeout(close_wait, ws.close(close_frame(&frame))).await;
                    finish_close(&mut ws, close_wait).await;
                    return;
                }
                // The driver dropped this socket: no more input is expected from it.
                None => {
                    let _ = timeout(close_wait, ws.close(None)).await;
                    return;
                }
            },
        }
    };
    let _ = reports.send(SocketMsg::Closed(attempt, cause)).await;
}

/// Writes `first` and every frame already queued behind it (up to a batch), then flushes.
/// A close frame among them is sent last and ends the socket: returns true.
async fn write(
    ws: &mut Ws,
    first: Frame,
    cmds: &mut mpsc::UnboundedReceiver<SocketCmd>,
    close_wait: Duration,
) -> Result<bool, WsError> {
    let mut written = 0;
    let mut next = Some(SocketCmd::Frame(first));
    while let Some(cmd) = next.take() {
        match cmd {
            SocketCmd::Frame(Frame::Text(text)) => {
                if let Ok(text) = Utf8Bytes::try_from(text.into_bytes()) {
                    ws.feed(Message::Text(text)).await?;
                }
            }
            SocketCmd::Frame(frame @ Frame::Close { .. }) | SocketCmd::Close(frame) => {
                let _ = timeout(close_wait, ws.close(close_frame(&frame))).await;
                finish_close(ws, close_wait).await;
                return Ok(true);
            }
        }
        written += 1;
        if written < BUDGET {
            next = cmds.try_recv().ok();
        }
    }
    ws.flush().await?;
    Ok(false)
}

/// Reads on (flushing tungstenite's close reply) until the close completes or `wait`.
async fn finish_close(ws: &mut Ws, wait: Duration) {
    let until = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(_))) = timeout_at(until, ws.next()).await {}
}
