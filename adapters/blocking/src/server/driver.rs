//! The driver thread: owns the core server and runs the adapter loop
//! (docs/architecture.md#the-adapter-loop) over one `std::sync::mpsc` channel.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actionhero_ws::handshake::Handshake;
use actionhero_ws::http::{files as core_files, ApiCall, ApiWaiters, HttpResponse};
use actionhero_ws::metrics::{Metrics, OutboundStats};
use actionhero_ws::server::{
    ActionCall, ActionHandlers, ActionOutcome, CloseCause, CloseReason, Event, FileOutcome,
    OpenRejected, Output, RequestId, Server, Transmit,
};
use actionhero_ws::{ConnectionHandle, Frame};
use bytes::Bytes;
use tungstenite::Utf8Bytes;

use super::pool::{Job, Pool};
use super::{files, ActionHandler, ServerHandle};
use crate::trace;
use crate::util::recv_until;

/// How long a stopping driver waits for the accept thread to close the listener.
const ACCEPT_EXIT_WAIT: Duration = Duration::from_secs(2);

/// An application command run on the driver thread.
pub(crate) type CoreCall = Box<dyn FnOnce(&mut Server, Instant) + Send>;

/// Everything the driver reacts to: socket events, results from the worker pool, and
/// application commands. One channel, because `std::sync::mpsc` cannot `select!`.
pub(crate) enum DriverMsg {
    /// A connection thread finished the upgrade; the driver answers with the handle, or
    /// the core's refusal.
    Opened {
        handshake: Handshake,
        outbox: SyncSender<Frame>,
        /// Frames in `outbox` (the connection thread subtracts what it takes).
        depth: Arc<AtomicUsize>,
        reply: std::sync::mpsc::Sender<Result<ConnectionHandle, OpenRejected>>,
    },
    /// One complete text message.
    Text {
        conn: ConnectionHandle,
        text: Utf8Bytes,
    },
    /// One complete binary message.
    Binary { conn: ConnectionHandle, data: Bytes },
    /// A WebSocket ping frame (tungstenite answers it; the core counts it as liveness).
    Ping { conn: ConnectionHandle },
    /// The socket is gone; sent exactly once per opened connection.
    Closed {
        conn: ConnectionHandle,
        cause: CloseCause,
    },
    /// A worker finished an action.
    ActionDone {
        request: RequestId,
        outcome: ActionOutcome,
    },
    /// A worker finished a file read.
    FileDone {
        request: RequestId,
        outcome: FileOutcome,
    },
    /// An action request over HTTP with its body; the answer goes to its `reply`.
    Api(ApiCall<Sender<HttpResponse>>),
    /// An application command (`ServerHandle::with_core` and the helpers built on it).
    Call(CoreCall),
    /// Start a graceful shutdown.
    Shutdown { reconnect: bool },
    /// A metrics snapshot, for `ServerHandle::metrics`.
    Metrics { reply: Sender<Metrics> },
}

/// One connection's outbound side, as the driver sees it.
struct Outbox {
    tx: SyncSender<Frame>,
    /// Frames queued in `tx` and not taken by the connection thread yet.
    depth: Arc<AtomicUsize>,
}

pub(crate) struct Driver {
    server: Server,
    inbox: Receiver<DriverMsg>,
    outboxes: HashMap<ConnectionHandle, Outbox>,
    handlers: ActionHandlers<ActionHandler>,
    pool: Option<Pool<DriverMsg>>,
    /// HTTP requests waiting for their answer.
    web_waiters: ApiWaiters<Sender<HttpResponse>>,
    events: Option<SyncSender<Event>>,
    handle: ServerHandle,
    accept: Option<JoinHandle<()>>,
    /// Set by `Shutdown`: the driver stops at `is_idle()` or at this instant.
    stop_at: Option<Instant>,
}

impl Driver {
    pub(crate) fn new(
        server: Server,
        inbox: Receiver<DriverMsg>,
        handlers: ActionHandlers<ActionHandler>,
        pool: Pool<DriverMsg>,
        events: Option<SyncSender<Event>>,
        handle: ServerHandle,
        accept: JoinHandle<()>,
    ) -> Self {
        Self {
            server,
            inbox,
            outboxes: HashMap::new(),
            handlers,
            pool: Some(pool),
            web_waiters: ApiWaiters::default(),
            events,
            handle,
            accept: Some(accept),
            stop_at: None,
        }
    }

    /// The loop: drain, arm the timer, wait for one message or the deadline, feed it.
    pub(crate) fn run(mut self) {
        loop {
            self.drain();
            if let Some(stop_at) = self.stop_at {
                if self.server.is_idle() || Instant::now() >= stop_at {
                    break;
                }
            }
            let deadline = match (self.server.poll_timeout(), self.stop_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let msg = recv_until(&self.inbox, deadline);
            let now = Instant::now();
            match msg {
                Ok(m) => self.feed(m, now),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Checked after every input, so a busy channel cannot starve the timers.
            if self.server.poll_timeout().is_some_and(|t| t <= now) {
                self.server.handle_timeout(now);
            }
        }
        self.finish();
    }

    /// Drops the writers (connection threads end after their queued frames), stops the
    /// worker pool and the accept thread, and tells `join` waiters.
    fn finish(mut self) {
        self.outboxes.clear();
        self.pool = None;
        let shared = self.handle.shared.clone();
        shared.stop_accepting();
        if let Some(accept) = self.accept.take() {
            // Wait for the listener to close (so `join` returning means the port is
            // free), but never hang on it: if the wake-up connection could not reach the
            // listener, the thread exits at its next accept.
            let until = Instant::now() + ACCEPT_EXIT_WAIT;
            while !accept.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
            if accept.is_finished() {
                let _ = accept.join();
            }
        }
        // Pending messages (and their reply senders) go away with the receiver.
        drop(self);
        shared.mark_done();
    }

    fn feed(&mut self, msg: DriverMsg, now: Instant) {
        match msg {
            DriverMsg::Opened {
                handshake,
                outbox,
                depth,
                reply,
            } => {
                let opened = self.server.handle_open(handshake, now);
                if let Ok(conn) = opened {
                    let outbox = Outbox { tx: outbox, depth };
                    self.outboxes.insert(conn, outbox);
                }
                if reply.send(opened).is_err() {
                    if let Ok(conn) = opened {
                        self.outboxes.remove(&conn);
                        let cause = CloseCause::Error("connection thread ended".into());
                        self.server.handle_closed(conn, cause, now);
                    }
                }
            }
            DriverMsg::Text { conn, text } => self.server.handle_text(conn, &text, now),
            DriverMsg::Binary { conn, data } => self.server.handle_binary(conn, &data, now),
            DriverMsg::Ping { conn } => self.server.handle_ws_ping(conn, now),
            DriverMsg::Closed { conn, cause } => {
                self.outboxes.remove(&conn);
                self.server.handle_closed(conn, cause, now);
            }
            DriverMsg::ActionDone { request, outcome } => {
                // Err only for a request the core no longer knows: nothing to do.
                let _ = self.server.respond(request, outcome, now);
            }
            DriverMsg::FileDone { request, outcome } => {
                let _ = self.server.complete_file(request, outcome, now);
            }
            DriverMsg::Api(call) => self.web_waiters.submit(&mut self.server, call, now),
            DriverMsg::Call(f) => f(&mut self.server, now),
            DriverMsg::Shutdown { reconnect } => {
                if self.stop_at.is_none() {
                    let cfg = &self.handle.shared.config;
                    let wait = cfg.core.shutdown_grace.saturating_add(cfg.shutdown_drain);
                    self.stop_at = Some(now.checked_add(wait).unwrap_or(now));
                    self.server.shutdown(reconnect, now);
                }
            }
            DriverMsg::Metrics { reply } => {
                let _ = reply.send(self.metrics());
            }
        }
    }

    /// A snapshot of the core's counters and of the outbound queues.
    fn metrics(&self) -> Metrics {
        let mut outbound = OutboundStats::default();
        for outbox in self.outboxes.values() {
            let depth = outbox.depth.load(Ordering::Relaxed) as u64;
            outbound.queued_frames += depth;
            outbound.max_queued_frames = outbound.max_queued_frames.max(depth);
        }
        Metrics {
            server: self.server.stats(),
            router: self.handle.shared.router.stats(),
            outbound,
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.server.poll_output() {
            match out {
                Output::Transmit(t) => self.transmit(t),
                Output::Event(e) => self.event(e),
                Output::Http(h) => {
                    if let Some((reply, response)) = self.web_waiters.answer(h) {
                        let _ = reply.send(response);
                    }
                }
            }
        }
    }

    /// Hands a frame to its connection thread without ever blocking.
    fn transmit(&mut self, t: Transmit) {
        let Some(outbox) = self.outboxes.get(&t.conn) else {
            // Already closed or dropped; the core hears `Closed` soon (or already did).
            return;
        };
        let last = matches!(t.frame, Frame::Close { .. });
        // Counted before the send, so the thread never takes more than was counted.
        outbox.depth.fetch_add(1, Ordering::Relaxed);
        match outbox.tx.try_send(t.frame) {
            Ok(()) if last => {
                self.outboxes.remove(&t.conn);
            }
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                trace::debug!(conn = %t.conn, "outbound queue full: slow consumer");
                self.outboxes.remove(&t.conn);
                self.server
                    .close(t.conn, CloseReason::SlowConsumer, Instant::now());
            }
            Err(TrySendError::Disconnected(_)) => {
                self.outboxes.remove(&t.conn);
            }
        }
    }

    fn event(&mut self, e: Event) {
        let e = match self.server.action_call(e) {
            Ok(call) => return self.run_action(call),
            Err(e) => e,
        };
        match e {
            Event::FileRequested {
                conn,
                request,
                file,
                ..
            } => {
                let span = trace::request("file", &file, Some(conn), request);
                let lookup = self.handle.shared.router.file_lookup(&file);
                self.submit(Box::new(move || DriverMsg::FileDone {
                    request,
                    outcome: trace::in_span(&span, || {
                        core_files::verb_outcome(lookup, files::stat, files::read)
                    }),
                }));
            }
            other => {
                if let Some(tx) = &self.events {
                    if tx.send(other).is_err() {
                        self.events = None;
                    }
                }
            }
        }
    }

    /// Hands an action request, from a WebSocket connection or the web, to the handler
    /// of the version the core resolved, on the worker pool, inside a `request` span. A
    /// panic is answered with [`ActionOutcome::panicked`].
    fn run_action(&mut self, call: ActionCall) {
        let span = trace::request("action", &call.action, call.conn, call.request);
        // No handler only for an action registered on the core directly (`with_core`).
        let (request, handler, ctx) = match self.handlers.take(call, self.handle.clone()) {
            Ok(found) => found,
            Err(request) => {
                let _ = self
                    .server
                    .respond(request, ActionOutcome::panicked(), Instant::now());
                return;
            }
        };
        self.submit(Box::new(move || {
            // A panicking action must not take the worker (or the response) with it.
            let run = || catch_unwind(AssertUnwindSafe(|| handler(ctx)));
            let outcome = trace::in_span(&span, run).unwrap_or_else(|_| ActionOutcome::panicked());
            DriverMsg::ActionDone { request, outcome }
        }));
    }

    fn submit(&mut self, job: Job<DriverMsg>) {
        let Some(pool) = &self.pool else { return };
        // Fails only if every worker died, which `catch_unwind` prevents; run the job
        // here then, so the request does not hang.
        if let Err(job) = pool.submit(job) {
            let done = job();
            self.feed(done, Instant::now());
        }
    }
}
