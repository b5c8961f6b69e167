//! The driver task: the only owner of the core `Server` (docs/architecture.md#the-adapter-loop).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actionhero_ws::handshake::Handshake;
use actionhero_ws::http::{files, ApiCall, ApiWaiters, HttpResponse, Router};
use actionhero_ws::metrics::{Metrics, OutboundStats};
use actionhero_ws::server::{
    ActionCall, ActionHandlers, ActionOutcome, CloseCause, CloseReason, Delivery, Event,
    FileOutcome, OpenRejected, Output, RequestId, RoomError, Server, Transmit,
};
use actionhero_ws::{ConnectionHandle, Frame, RoomName};
use bytes::Bytes;
use futures_util::FutureExt as _;
use serde_json::{Map, Value};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{AdapterConfig, Handler, ServerHandle};
use crate::timer::DeadlineTimer;
use crate::trace;

/// How many inputs the driver feeds before it drains and checks its timer again.
const BUDGET: usize = 64;

/// What connection tasks tell the driver.
pub(crate) enum Inbound {
    /// A WebSocket upgrade succeeded; the driver answers with the handle (or `None` when
    /// the core refused the connection).
    Opened {
        handshake: Handshake,
        writer: mpsc::Sender<Outbound>,
        /// Frames in `writer`'s queue (the connection task subtracts what it takes).
        depth: Arc<AtomicUsize>,
        kill: oneshot::Sender<()>,
        reply: oneshot::Sender<Result<ConnectionHandle, OpenRejected>>,
    },
    Text {
        conn: ConnectionHandle,
        text: Utf8Bytes,
    },
    /// Several text messages that were ready at once (one hop for the lot).
    Texts {
        conn: ConnectionHandle,
        texts: Vec<Utf8Bytes>,
    },
    Binary {
        conn: ConnectionHandle,
        data: Bytes,
    },
    Ping {
        conn: ConnectionHandle,
    },
    Closed {
        conn: ConnectionHandle,
        cause: CloseCause,
    },
    /// An action request over HTTP with its body; the answer goes to its `reply`.
    Api(ApiCall<oneshot::Sender<HttpResponse>>),
}

/// What the application and the action tasks ask of the driver.
pub(crate) enum Command {
    Respond {
        request: RequestId,
        outcome: ActionOutcome,
    },
    FileDone {
        request: RequestId,
        outcome: FileOutcome,
    },
    Broadcast {
        room: RoomName,
        message: Value,
        reply: oneshot::Sender<Result<usize, RoomError>>,
    },
    Send {
        conn: ConnectionHandle,
        message: Map<String, Value>,
        reply: oneshot::Sender<Delivery>,
    },
    Alert {
        conn: ConnectionHandle,
        message: Value,
        reply: oneshot::Sender<Delivery>,
    },
    CreateRoom {
        room: RoomName,
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    DestroyRoom {
        room: RoomName,
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    AddMember {
        conn: ConnectionHandle,
        room: RoomName,
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    RemoveMember {
        conn: ConnectionHandle,
        room: RoomName,
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    Members {
        room: String,
        reply: oneshot::Sender<Vec<ConnectionHandle>>,
    },
    Close {
        conn: ConnectionHandle,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reconnect: bool,
        reply: oneshot::Sender<()>,
    },
    Metrics {
        reply: oneshot::Sender<Metrics>,
    },
}

/// Frames for one connection, as queued for its task: the frames the core produced for
/// it during one pass of the driver go together, so the task writes them with one flush.
pub(crate) enum Outbound {
    One(Frame),
    Many(Vec<Frame>),
}

impl Outbound {
    /// Number of frames.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(frames) => frames.len(),
        }
    }
}

/// Most frames the driver stages for one connection before handing them over.
const STAGE_MAX: usize = 64;

/// One connection's outbound side, as the driver sees it.
pub(crate) struct Writer {
    tx: mpsc::Sender<Outbound>,
    /// Frames queued in `tx` and not taken by the connection task yet.
    depth: Arc<AtomicUsize>,
    kill: Option<oneshot::Sender<()>>,
    /// Frames of the current pass, not yet queued.
    staged: Vec<Frame>,
}

pub(crate) struct Driver {
    pub(crate) server: Server,
    pub(crate) handle: ServerHandle,
    /// Action handlers, by the version the core resolves.
    pub(crate) handlers: ActionHandlers<Handler>,
    /// The web side's decisions (here: the `file` verb's lookups).
    pub(crate) router: Arc<Router>,
    /// HTTP requests waiting for their answer.
    pub(crate) web_waiters: ApiWaiters<oneshot::Sender<HttpResponse>>,
    pub(crate) events: Option<mpsc::Sender<Event>>,
    pub(crate) adapter: AdapterConfig,
    pub(crate) writers: BTreeMap<ConnectionHandle, Writer>,
    /// Connections with staged frames.
    pub(crate) staged: Vec<ConnectionHandle>,
    pub(crate) stop_accept: watch::Sender<bool>,
    pub(crate) stopped: watch::Sender<bool>,
    pub(crate) alive: mpsc::Receiver<()>,
    pub(crate) shutdown_waiters: Vec<oneshot::Sender<()>>,
}

impl Driver {
    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let mut timer = DeadlineTimer::new();
        let mut shutdown_complete = false;
        loop {
            // 1. Drain; then hand each connection what this pass produced for it.
            while let Some(out) = self.server.poll_output() {
                match out {
                    Output::Transmit(t) => self.transmit(t),
                    Output::Event(e) => shutdown_complete |= self.event(e).await,
                    Output::Http(h) => {
                        if let Some((reply, response)) = self.web_waiters.answer(h) {
                            let _ = reply.send(response);
                        }
                    }
                }
            }
            self.flush_staged();
            if shutdown_complete {
                break;
            }
            // 2. Arm the timer; an elapsed deadline is handled before any wait, because
            // tokio's cooperative budget may hold back an elapsed `Sleep`.
            if timer.arm(self.server.poll_timeout()) {
                self.server.handle_timeout(Instant::now());
                continue;
            }
            // 3. Wait; 4. feed inputs with a fresh `now` (up to BUDGET ready ones).
            tokio::select! {
                () = timer.fired(), if timer.is_armed() => {
                    self.server.handle_timeout(Instant::now());
                }
                Some(msg) = inbound.recv() => {
                    self.inbound(msg);
                    for _ in 1..BUDGET {
                        let Ok(msg) = inbound.try_recv() else { break };
                        self.inbound(msg);
                    }
                }
                Some(cmd) = commands.recv() => {
                    self.command(cmd);
                    for _ in 1..BUDGET {
                        let Ok(cmd) = commands.try_recv() else { break };
                        self.command(cmd);
                    }
                }
                else => break,
            }
        }
        self.finish(inbound).await;
    }

    /// Stages a frame for its connection (queued at the end of the pass, or when
    /// `STAGE_MAX` are staged); a missing connection (already closing) drops it.
    fn transmit(&mut self, t: Transmit) {
        let Some(w) = self.writers.get_mut(&t.conn) else {
            return;
        };
        if w.staged.is_empty() {
            self.staged.push(t.conn);
        }
        w.staged.push(t.frame);
        if w.staged.len() >= STAGE_MAX {
            self.queue_staged(t.conn);
        }
    }

    /// Queues every connection's staged frames.
    fn flush_staged(&mut self) {
        let mut conns = std::mem::take(&mut self.staged);
        for conn in conns.drain(..) {
            self.queue_staged(conn);
        }
        if self.staged.is_empty() {
            // Keep the allocation for the next pass.
            self.staged = conns;
        }
    }

    /// Queues one connection's staged frames; a full queue closes the connection as a
    /// slow consumer.
    fn queue_staged(&mut self, conn: ConnectionHandle) {
        let Some(w) = self.writers.get_mut(&conn) else {
            return;
        };
        let out = match w.staged.len() {
            0 => return,
            1 => match w.staged.pop() {
                Some(frame) => Outbound::One(frame),
                None => return,
            },
            _ => Outbound::Many(std::mem::take(&mut w.staged)),
        };
        // Counted before the send, so the task never takes more than was counted.
        let frames = out.len();
        w.depth.fetch_add(frames, Ordering::Relaxed);
        match w.tx.try_send(out) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => {
                w.depth.fetch_sub(frames, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                trace::debug!(conn = %conn, "outbound queue full: slow consumer");
                if let Some(mut w) = self.writers.remove(&conn) {
                    if let Some(kill) = w.kill.take() {
                        let _ = kill.send(());
                    }
                }
                self.server
                    .close(conn, CloseReason::SlowConsumer, Instant::now());
            }
        }
    }

    /// Acts on an event and hands it to the application; true for `ShutdownComplete`.
    async fn event(&mut self, e: Event) -> bool {
        let mut complete = false;
        let e = match e {
            Event::ActionRequested { .. } | Event::WebActionRequested { .. } => {
                // A listener gets a copy; without one the request is handed over as is.
                let copy = self.events.is_some().then(|| e.clone());
                if let Ok(call) = self.server.action_call(e) {
                    self.spawn_action(call);
                }
                match copy {
                    Some(copy) => copy,
                    None => return false,
                }
            }
            e => e,
        };
        match &e {
            Event::FileRequested {
                conn,
                request,
                file,
                ..
            } => self.spawn_file(*conn, *request, file),
            Event::Disconnected { conn, .. } => {
                // Dropping the sender lets the connection task write what is queued
                // (the close frame last) and end.
                self.queue_staged(*conn);
                self.writers.remove(conn);
            }
            Event::ShutdownComplete => complete = true,
            _ => {}
        }
        if let Some(tx) = &self.events {
            if tx.send(e).await.is_err() {
                self.events = None;
            }
        }
        complete
    }

    /// Runs the handler of the action version the core resolved. Its first poll happens
    /// here, on the driver: a handler that completes without waiting (most do) is
    /// answered at once, with no task and no trip through the command queue. A handler
    /// that waits continues as its own task. Either way a panic is answered with
    /// [`ActionOutcome::panicked`], and the whole run is one `request` span.
    fn spawn_action(&mut self, call: ActionCall) {
        let span = trace::request("action", &call.action, call.conn, call.request);
        let (request, handler, ctx) = match self.handlers.take(call, self.handle.clone()) {
            Ok(found) => found,
            Err(request) => return self.respond_panicked(request),
        };
        let first = trace::in_span(&span, || {
            let Ok(mut fut) = catch_unwind(AssertUnwindSafe(|| handler(ctx))) else {
                return Err(ActionOutcome::panicked());
            };
            let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
            match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
                Ok(Poll::Ready(outcome)) => Err(outcome),
                Ok(Poll::Pending) => Ok(fut),
                Err(_) => Err(ActionOutcome::panicked()),
            }
        });
        let fut = match first {
            Ok(fut) => fut,
            Err(outcome) => {
                let _ = self.server.respond(request, outcome, Instant::now());
                return;
            }
        };
        let handle = self.handle.clone();
        let task = async move {
            // Polled again with the task's waker, which replaces the no-op one.
            let outcome = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(_) => ActionOutcome::panicked(),
            };
            handle.command(Command::Respond { request, outcome }).await;
        };
        tokio::spawn(trace::instrument(task, span));
    }

    /// Answers an action whose handler panicked (or is missing).
    fn respond_panicked(&mut self, request: RequestId) {
        let _ = self
            .server
            .respond(request, ActionOutcome::panicked(), Instant::now());
    }

    fn spawn_file(&mut self, conn: ConnectionHandle, request: RequestId, file: &str) {
        let handle = self.handle.clone();
        let lookup = self.router.file_lookup(file);
        let task = async move {
            let read = move || files::verb_outcome(lookup, crate::files::stat, crate::files::read);
            let outcome = tokio::task::spawn_blocking(read)
                .await
                .unwrap_or(FileOutcome::NotFound);
            handle.command(Command::FileDone { request, outcome }).await;
        };
        let span = trace::request("file", file, Some(conn), request);
        tokio::spawn(trace::instrument(task, span));
    }

    fn inbound(&mut self, msg: Inbound) {
        let now = Instant::now();
        match msg {
            Inbound::Opened {
                handshake,
                writer,
                depth,
                kill,
                reply,
            } => match self.server.handle_open(handshake, now) {
                Ok(conn) => {
                    if reply.send(Ok(conn)).is_err() {
                        // The connection task is already gone.
                        let cause = CloseCause::Error("connection task ended".into());
                        self.server.handle_closed(conn, cause, now);
                        return;
                    }
                    self.writers.insert(
                        conn,
                        Writer {
                            tx: writer,
                            depth,
                            kill: Some(kill),
                            staged: Vec::new(),
                        },
                    );
                }
                Err(rejected) => {
                    let _ = reply.send(Err(rejected));
                }
            },
            Inbound::Text { conn, text } => self.server.handle_text(conn, &text, now),
            Inbound::Texts { conn, texts } => {
                for text in texts {
                    self.server.handle_text(conn, &text, now);
                }
            }
            Inbound::Binary { conn, data } => self.server.handle_binary(conn, &data, now),
            Inbound::Ping { conn } => self.server.handle_ws_ping(conn, now),
            Inbound::Closed { conn, cause } => {
                self.writers.remove(&conn);
                self.server.handle_closed(conn, cause, now);
            }
            Inbound::Api(call) => self.web_waiters.submit(&mut self.server, call, now),
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Respond { request, outcome } => {
                // `Err` means the request is unknown (answered already): a benign race.
                let _ = self.server.respond(request, outcome, now);
            }
            Command::FileDone { request, outcome } => {
                let _ = self.server.complete_file(request, outcome, now);
            }
            Command::Broadcast {
                room,
                message,
                reply,
            } => {
                let _ = reply.send(self.server.broadcast(&room, message, now));
            }
            Command::Send {
                conn,
                message,
                reply,
            } => {
                let _ = reply.send(self.server.send(conn, message, now));
            }
            Command::Alert {
                conn,
                message,
                reply,
            } => {
                let _ = reply.send(self.server.alert(conn, &message, now));
            }
            Command::CreateRoom { room, reply } => {
                let _ = reply.send(self.server.create_room(room));
            }
            Command::DestroyRoom { room, reply } => {
                let _ = reply.send(self.server.destroy_room(&room, now));
            }
            Command::AddMember { conn, room, reply } => {
                let _ = reply.send(self.server.add_member(conn, &room, now));
            }
            Command::RemoveMember { conn, room, reply } => {
                let _ = reply.send(self.server.remove_member(conn, &room, now));
            }
            Command::Members { room, reply } => {
                let _ = reply.send(self.server.members(&room));
            }
            Command::Close { conn, reply } => {
                self.server.close(conn, CloseReason::Destroy, now);
                let _ = reply.send(());
            }
            Command::Shutdown { reconnect, reply } => {
                self.shutdown_waiters.push(reply);
                let _ = self.stop_accept.send(true);
                self.server.shutdown(reconnect, now);
            }
            Command::Metrics { reply } => {
                let _ = reply.send(self.metrics());
            }
        }
    }

    /// A snapshot of the core's counters and of the outbound queues.
    fn metrics(&self) -> Metrics {
        let mut outbound = OutboundStats::default();
        for w in self.writers.values() {
            let depth = w.depth.load(Ordering::Relaxed) as u64;
            outbound.queued_frames += depth;
            outbound.max_queued_frames = outbound.max_queued_frames.max(depth);
        }
        Metrics {
            server: self.server.stats(),
            router: self.router.stats(),
            outbound,
        }
    }

    /// After `ShutdownComplete`: let connection tasks flush their last frames (bounded),
    /// then report the server stopped.
    async fn finish(mut self, mut inbound: mpsc::Receiver<Inbound>) {
        let _ = self.stop_accept.send(true);
        self.flush_staged();
        self.writers.clear();
        let deadline = tokio::time::Instant::now() + self.adapter.shutdown_flush_timeout;
        loop {
            tokio::select! {
                r = self.alive.recv() => if r.is_none() { break },
                Some(msg) = inbound.recv() => {
                    // Late messages of closed connections (ignored by the core) and
                    // handshakes that finished during shutdown (refused).
                    self.inbound(msg);
                    while let Some(out) = self.server.poll_output() {
                        if let Output::Event(e) = out {
                            if let Some(tx) = &self.events {
                                let _ = tx.try_send(e);
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        for w in self.shutdown_waiters.drain(..) {
            let _ = w.send(());
        }
        let _ = self.stopped.send(true);
    }
}
