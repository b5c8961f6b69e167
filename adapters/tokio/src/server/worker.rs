//! The worker: one thread with a current-thread runtime that owns the core `Server` and
//! runs every connection of the server (docs/architecture.md#the-adapter-loop).
//!
//! Connections and core share the thread, so the task that read a message feeds the core
//! and writes what the core answered for it in the same poll: no channel and no lock on
//! the action path. The core sits in a `RefCell` that is borrowed only between awaits
//! ([`Worker::enter`] … [`Worker::leave`]); `leave` drains the core's outputs: frames go
//! to the connections' [`Outbox`]es (others are woken, the reading one writes its own),
//! events are acted on (an action's first poll runs right there), HTTP answers go to
//! their waiters, and the timer task is told when the core's deadline moved.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use actionhero_ws::handshake::Handshake;
use actionhero_ws::http::{files, ApiCall, ApiWaiters, HttpResponse, Router};
use actionhero_ws::metrics::{Metrics, OutboundStats};
use actionhero_ws::server::{
    ActionCall, ActionHandlers, ActionOutcome, CloseCause, CloseReason, Delivery, Event,
    FileOutcome, OpenRejected, Output, RequestId, RoomCommand, RoomError, Server,
};
use actionhero_ws::{ConnectionHandle, Frame, RoomName};
use futures_util::FutureExt as _;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::{AdapterConfig, Handler, ServerHandle};
use crate::trace;

/// What the application (through [`ServerHandle`]) and embedding HTTP servers on other
/// threads ask of the worker.
pub(crate) enum Command {
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
    RemoveMemberById {
        connection_id: String,
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
    /// An action request over HTTP from an embedding server; the answer goes to its
    /// `reply`.
    #[cfg(feature = "hyper")]
    Api(ApiCall<oneshot::Sender<HttpResponse>>),
    /// A connection an embedding HTTP server upgraded: the worker runs it.
    #[cfg(feature = "hyper")]
    Upgraded(super::embed::Handoff),
}

/// Rooms shared with the other workers of this process: one bus (a channel into every
/// worker, this one included) and one store.
pub(crate) struct InProcess {
    /// This worker's place in `bus`.
    pub(crate) me: usize,
    pub(crate) bus: Vec<mpsc::Sender<actionhero_ws::cluster::ChannelMessage>>,
    pub(crate) store: Arc<std::sync::Mutex<actionhero_ws::cluster::MemoryStore>>,
}

impl InProcess {
    /// Carries out what `server` (the core of worker `me`) asks of the shared rooms:
    /// publishes go to every other worker's bus (a full one drops the message, as a slow
    /// Redis subscriber would miss it) and to `server` itself at once; store operations
    /// are applied at once and their answers fed back. True when something was fed (the
    /// core may have more output).
    pub(crate) fn carry(&self, server: &mut Server) -> bool {
        use actionhero_ws::server::SharedOutput;
        let mut fed = false;
        while let Some(out) = server.poll_shared() {
            match out {
                SharedOutput::Publish(message) => {
                    for (i, bus) in self.bus.iter().enumerate() {
                        if i != self.me && bus.try_send(message.clone()).is_err() {
                            trace::debug!("a worker's bus is full: chat message dropped");
                        }
                    }
                    // This worker's own members get it in this pass, right after the
                    // say's answer, as with one worker.
                    server.handle_channel(message, Instant::now());
                    fed = true;
                }
                SharedOutput::Store(op) => {
                    let answer = match self.store.lock() {
                        Ok(mut store) => store.apply(op),
                        Err(poisoned) => poisoned.into_inner().apply(op),
                    };
                    if let Some((id, answer)) = answer {
                        server.handle_store(id, answer, Instant::now());
                        fed = true;
                    }
                }
                _ => {}
            }
        }
        fed
    }
}

/// One connection's outbound frames, shared by the worker (which queues) and the
/// connection task (which writes).
#[derive(Default)]
pub(crate) struct Outbox {
    frames: RefCell<VecDeque<Frame>>,
    /// The connection task waiting for frames (or for `closed`).
    waker: Cell<Option<Waker>>,
    /// The worker let go of the connection: write what is queued, then end.
    closed: Cell<bool>,
    /// A slow consumer: drop the socket at once, even in the middle of a write.
    killed: Cell<bool>,
    kill_waker: Cell<Option<Waker>>,
}

impl Outbox {
    fn wake(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn kill(&self) {
        self.killed.set(true);
        if let Some(w) = self.kill_waker.take() {
            w.wake();
        }
        self.wake();
    }

    fn let_go(&self) {
        self.closed.set(true);
        self.wake();
    }

    /// Moves the queued frames into `out` (kept by the caller, so no allocation per pass).
    pub(crate) fn take_into(&self, out: &mut Vec<Frame>) {
        out.extend(self.frames.borrow_mut().drain(..));
    }

    /// True when the worker let go and nothing is queued any more.
    pub(crate) fn is_done(&self) -> bool {
        self.closed.get() && self.frames.borrow().is_empty()
    }

    /// Completes when frames are queued or the worker let go.
    pub(crate) async fn ready(&self) {
        poll_fn(|cx| {
            if self.closed.get() || !self.frames.borrow().is_empty() {
                Poll::Ready(())
            } else {
                register(&self.waker, cx);
                Poll::Pending
            }
        })
        .await;
    }

    /// Completes when the worker killed the connection (slow consumer).
    pub(crate) async fn killed(&self) {
        poll_fn(|cx| {
            if self.killed.get() {
                Poll::Ready(())
            } else {
                register(&self.kill_waker, cx);
                Poll::Pending
            }
        })
        .await;
    }
}

/// Keeps `cx`'s waker in `slot`, cloning it only when it is not the one already there
/// (a connection task polls with the same waker every time).
fn register(slot: &Cell<Option<Waker>>, cx: &Context<'_>) {
    let waker = match slot.take() {
        Some(w) if w.will_wake(cx.waker()) => w,
        _ => cx.waker().clone(),
    };
    slot.set(Some(waker));
}

/// What the `RefCell` guards: the core and the tables that go with it.
pub(crate) struct Core {
    pub(crate) server: Server,
    handlers: ActionHandlers<Handler>,
    web_waiters: ApiWaiters<oneshot::Sender<HttpResponse>>,
    outboxes: HashMap<ConnectionHandle, Rc<Outbox>>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    /// Room commands of the application whose outcome the core reports later (shared
    /// rooms: `Event::RoomCommandDone`), in the order they were given.
    room_waiters: Vec<RoomWaiter>,
}

/// A room command waiting for its `Event::RoomCommandDone`.
type RoomWaiter = (
    RoomCommand,
    RoomName,
    oneshot::Sender<Result<(), RoomError>>,
);

pub(crate) struct Worker {
    core: RefCell<Core>,
    /// Rooms shared with the other workers of this process.
    in_process: Option<InProcess>,
    /// The cluster's Redis link, when rooms are shared through Redis.
    #[cfg(feature = "redis")]
    cluster: Option<Cluster>,
    /// Closes reported while the core was borrowed (a connection task dropped during a
    /// drain); fed to the core on the next [`Worker::enter`].
    deferred: RefCell<Vec<(ConnectionHandle, CloseCause)>>,
    handle: ServerHandle,
    router: Arc<Router>,
    adapter: AdapterConfig,
    /// The core's deadline as last seen; the timer task sleeps until it.
    deadline: Cell<Option<Instant>>,
    deadline_moved: Notify,
    shutdown_complete: Cell<bool>,
    shutdown_done: Notify,
    stop_accept: watch::Sender<bool>,
    /// Events waiting for the application's channel (none without one).
    events: Option<EventQueue>,
}

/// Events on their way to the application's channel: queued by the worker, sent by a
/// task of their own; readers wait while more than a channel's worth are queued, so a
/// slow reader slows the server down instead of growing the queue.
struct EventQueue {
    queue: RefCell<VecDeque<Event>>,
    limit: usize,
    queued: Notify,
    room: Notify,
}

/// Rooms shared through Redis: the link and the channel's codec.
#[cfg(feature = "redis")]
pub(crate) struct Cluster {
    pub(crate) link: crate::redis::RedisLink,
    pub(crate) codec: actionhero_ws::cluster::ChannelCodec,
}

/// What [`Worker::new`] takes.
pub(crate) struct WorkerParts {
    pub(crate) server: Server,
    pub(crate) handlers: ActionHandlers<Handler>,
    pub(crate) handle: ServerHandle,
    pub(crate) router: Arc<Router>,
    pub(crate) adapter: AdapterConfig,
    pub(crate) stop_accept: watch::Sender<bool>,
    pub(crate) events: bool,
    #[cfg(feature = "redis")]
    pub(crate) cluster: Option<Cluster>,
    pub(crate) in_process: Option<InProcess>,
}

impl Worker {
    pub(crate) fn new(parts: WorkerParts) -> Rc<Self> {
        let events = parts.events.then(|| EventQueue {
            queue: RefCell::new(VecDeque::new()),
            limit: parts.adapter.inbound_queue.max(1),
            queued: Notify::new(),
            room: Notify::new(),
        });
        let deadline = parts.server.poll_timeout();
        Rc::new(Self {
            #[cfg(feature = "redis")]
            cluster: parts.cluster,
            in_process: parts.in_process,
            core: RefCell::new(Core {
                server: parts.server,
                handlers: parts.handlers,
                web_waiters: ApiWaiters::default(),
                outboxes: HashMap::new(),
                shutdown_waiters: Vec::new(),
                room_waiters: Vec::new(),
            }),
            deferred: RefCell::new(Vec::new()),
            handle: parts.handle,
            router: parts.router,
            adapter: parts.adapter,
            deadline: Cell::new(deadline),
            deadline_moved: Notify::new(),
            shutdown_complete: Cell::new(false),
            shutdown_done: Notify::new(),
            stop_accept: parts.stop_accept,
            events,
        })
    }

    /// Borrows the core (never held across an await), after feeding it the closes that
    /// were reported while it was borrowed.
    pub(crate) fn enter(&self) -> RefMut<'_, Core> {
        let mut core = self.core.borrow_mut();
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        if !deferred.is_empty() {
            let now = Instant::now();
            for (conn, cause) in deferred {
                core.outboxes.remove(&conn);
                core.server.handle_closed(conn, cause, now);
            }
        }
        core
    }

    /// Drains the core's outputs and releases it. Frames for `current` (the connection
    /// whose task is feeding the core) are queued without waking it: it writes them
    /// itself right after.
    pub(crate) fn leave(
        self: &Rc<Self>,
        mut core: RefMut<'_, Core>,
        current: Option<ConnectionHandle>,
    ) {
        let core = &mut *core;
        loop {
            self.drain_outputs(core, current);
            // Rooms shared in this process: the store answers at once, which may give
            // the core more to drain.
            if !self.in_process_shared(core) {
                break;
            }
        }
        #[cfg(feature = "redis")]
        if let Some(cluster) = &self.cluster {
            while let Some(out) = core.server.poll_shared() {
                self.shared(cluster, out);
            }
        }
        let deadline = core.server.poll_timeout();
        if deadline != self.deadline.get() {
            self.deadline.set(deadline);
            self.deadline_moved.notify_one();
        }
    }

    /// Carries out the core's outputs (one pass of the drain).
    fn drain_outputs(self: &Rc<Self>, core: &mut Core, current: Option<ConnectionHandle>) {
        while let Some(out) = core.server.poll_output() {
            match out {
                Output::Transmit(t) => {
                    let Some(outbox) = core.outboxes.get(&t.conn) else {
                        continue;
                    };
                    let len = {
                        let mut frames = outbox.frames.borrow_mut();
                        frames.push_back(t.frame);
                        frames.len()
                    };
                    if len > self.adapter.outbound_queue {
                        trace::debug!(conn = %t.conn, "outbound queue full: slow consumer");
                        if let Some(outbox) = core.outboxes.remove(&t.conn) {
                            outbox.kill();
                        }
                        core.server
                            .close(t.conn, CloseReason::SlowConsumer, Instant::now());
                    } else if current != Some(t.conn) {
                        outbox.wake();
                    }
                }
                Output::Event(e) => self.event(core, e),
                Output::Http(h) => {
                    if let Some((reply, response)) = core.web_waiters.answer(h) {
                        let _ = reply.send(response);
                    }
                }
            }
        }
    }

    /// With rooms shared in this process, lets the store answer what the last input
    /// asked (at once), so the next message of the same read sees its effect (a `say`
    /// right after a `roomAdd`), as with one worker. Nothing to do otherwise.
    pub(crate) fn settle(&self, core: &mut Core) {
        while self.in_process_shared(core) {}
    }

    /// Rooms shared with this process's other workers ([`InProcess::carry`]).
    fn in_process_shared(&self, core: &mut Core) -> bool {
        match &self.in_process {
            Some(shared) => shared.carry(&mut core.server),
            None => false,
        }
    }

    /// Feeds the core what the other workers (and this one) published.
    pub(crate) async fn in_process_bus(
        self: Rc<Self>,
        mut bus: mpsc::Receiver<actionhero_ws::cluster::ChannelMessage>,
    ) {
        while let Some(message) = bus.recv().await {
            let mut core = self.enter();
            core.server.handle_channel(message, Instant::now());
            self.leave(core, None);
        }
    }

    /// Carries out what the core asks of the cluster: publishes go to the channel, store
    /// operations become Actionhero's Redis commands; a query's replies are read by the
    /// core's rules and answered to the core when they arrive.
    #[cfg(feature = "redis")]
    fn shared(self: &Rc<Self>, cluster: &Cluster, out: actionhero_ws::server::SharedOutput) {
        use actionhero_ws::cluster::RedisStoreOp;
        use actionhero_ws::server::SharedOutput;
        match out {
            SharedOutput::Publish(message) => {
                cluster
                    .link
                    .publish(cluster.codec.encode(&message).into_bytes());
            }
            SharedOutput::Store(op) => {
                let op = RedisStoreOp::new(&op);
                let answers: Vec<_> = op
                    .commands
                    .iter()
                    .map(|c| cluster.link.command(c.clone()))
                    .collect();
                if op.query().is_none() {
                    return;
                }
                let worker = self.clone();
                let max = cluster.codec.config().max_message_len;
                tokio::task::spawn_local(async move {
                    let mut replies = Vec::with_capacity(answers.len());
                    for answer in answers {
                        let reply = answer.await.ok().and_then(Result::ok);
                        replies.push(reply.map(crate::redis::reply));
                    }
                    let mut core = worker.enter();
                    match (op.answer(&replies, max), op.query()) {
                        (Some((id, answer)), _) => {
                            core.server.handle_store(id, answer, Instant::now());
                        }
                        // Redis failed it (unreachable, …): no need to wait for the
                        // request's deadline.
                        (None, Some(id)) => core.server.handle_store_failed(id, Instant::now()),
                        (None, None) => {}
                    }
                    worker.leave(core, None);
                });
            }
            _ => {}
        }
    }

    /// Feeds the core what arrives on the cluster's channel.
    #[cfg(feature = "redis")]
    pub(crate) async fn cluster_events(
        self: Rc<Self>,
        mut events: mpsc::Receiver<crate::redis::LinkEvent>,
    ) {
        use crate::redis::LinkEvent;
        while let Some(event) = events.recv().await {
            let Some(cluster) = &self.cluster else { return };
            match event {
                LinkEvent::Message(payload) => match cluster.codec.decode(&payload) {
                    Ok(message) => {
                        let mut core = self.enter();
                        core.server.handle_channel(message, Instant::now());
                        self.leave(core, None);
                    }
                    Err(_why) => {
                        trace::debug!(reason = %_why, "channel message ignored");
                    }
                },
                LinkEvent::Up => {
                    trace::debug!("Redis link up");
                    let mut core = self.enter();
                    core.server.handle_shared_link(true, Instant::now());
                    self.leave(core, None);
                }
                LinkEvent::Down { error: _error } => {
                    trace::debug!(error = %_error, "Redis link down");
                    let mut core = self.enter();
                    core.server.handle_shared_link(false, Instant::now());
                    self.leave(core, None);
                }
            }
        }
    }

    /// Registers an upgraded connection with the core.
    pub(crate) fn open(
        self: &Rc<Self>,
        handshake: Handshake,
    ) -> Result<(ConnectionHandle, Rc<Outbox>), OpenRejected> {
        let mut core = self.enter();
        let opened = core.server.handle_open(handshake, Instant::now());
        let opened = opened.map(|conn| {
            let outbox = Rc::new(Outbox::default());
            core.outboxes.insert(conn, outbox.clone());
            (conn, outbox)
        });
        self.leave(core, opened.as_ref().ok().map(|(conn, _)| *conn));
        opened
    }

    /// The connection ended (its task reports it once).
    pub(crate) fn closed(self: &Rc<Self>, conn: ConnectionHandle, cause: CloseCause) {
        let mut core = self.enter();
        core.outboxes.remove(&conn);
        core.server.handle_closed(conn, cause, Instant::now());
        self.leave(core, Some(conn));
    }

    /// A close from a destructor: fed now if the core is free, else on the next `enter`.
    pub(crate) fn closed_later(self: &Rc<Self>, conn: ConnectionHandle, cause: CloseCause) {
        if self.core.try_borrow_mut().is_ok() {
            self.closed(conn, cause);
        } else {
            self.deferred.borrow_mut().push((conn, cause));
        }
    }

    /// An action request over HTTP.
    pub(crate) fn api(self: &Rc<Self>, call: ApiCall<oneshot::Sender<HttpResponse>>) {
        let mut core = self.enter();
        let core_ref = &mut *core;
        core_ref
            .web_waiters
            .submit(&mut core_ref.server, call, Instant::now());
        self.leave(core, None);
    }

    /// Waits while the application's event channel is behind (see [`EventQueue`]).
    pub(crate) async fn events_room(&self) {
        let Some(events) = &self.events else { return };
        while events.queue.borrow().len() >= events.limit {
            events.room.notified().await;
        }
    }

    /// Acts on an event and queues it for the application.
    fn event(self: &Rc<Self>, core: &mut Core, e: Event) {
        let e = match e {
            Event::ActionRequested { .. } | Event::WebActionRequested { .. } => {
                // A listener gets a copy; without one the request is handed over as is.
                let copy = self.events.is_some().then(|| e.clone());
                if let Ok(call) = core.server.action_call(e) {
                    self.run_action(core, call);
                }
                match copy {
                    Some(copy) => copy,
                    None => return,
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
            } => self.read_file(*conn, *request, file),
            Event::Disconnected { conn, .. } => {
                // The task writes what is queued (the close frame last) and ends.
                if let Some(outbox) = core.outboxes.remove(conn) {
                    outbox.let_go();
                }
            }
            Event::RoomCommandDone {
                command,
                room,
                result,
            } => {
                let waiting = core
                    .room_waiters
                    .iter()
                    .position(|(c, r, _)| c == command && r == room);
                if let Some(i) = waiting {
                    let (_, _, reply) = core.room_waiters.remove(i);
                    let _ = reply.send(result.clone());
                }
            }
            Event::ShutdownComplete => {
                self.shutdown_complete.set(true);
                self.shutdown_done.notify_one();
            }
            _ => {}
        }
        if let Some(events) = &self.events {
            events.queue.borrow_mut().push_back(e);
            events.queued.notify_one();
        }
    }

    /// Runs the handler of the action version the core resolved. Its first poll happens
    /// here: a handler that completes without waiting (most do) is answered at once. A
    /// handler that waits continues as a task of this thread and answers the core itself
    /// when done. Either way a panic is answered with [`ActionOutcome::panicked`], and
    /// the whole run is one `request` span.
    fn run_action(self: &Rc<Self>, core: &mut Core, call: ActionCall) {
        let span = trace::request("action", &call.action, call.conn, call.request);
        let (request, handler, ctx) = match core.handlers.take(call, self.handle.clone()) {
            Ok(found) => found,
            Err(request) => {
                let _ = core
                    .server
                    .respond(request, ActionOutcome::panicked(), Instant::now());
                return;
            }
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
                let _ = core.server.respond(request, outcome, Instant::now());
                return;
            }
        };
        let worker = self.clone();
        let task = async move {
            // Polled again with the task's waker, which replaces the no-op one.
            let outcome = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(_) => ActionOutcome::panicked(),
            };
            worker.respond(request, outcome);
        };
        tokio::task::spawn_local(trace::instrument(task, span));
    }

    /// An action that waited is done.
    fn respond(self: &Rc<Self>, request: RequestId, outcome: ActionOutcome) {
        let mut core = self.enter();
        // `Err` means the request is unknown (answered already): a benign race.
        let _ = core.server.respond(request, outcome, Instant::now());
        self.leave(core, None);
    }

    fn read_file(self: &Rc<Self>, conn: ConnectionHandle, request: RequestId, file: &str) {
        let lookup = self.router.file_lookup(file);
        let worker = self.clone();
        let task = async move {
            let read = move || files::verb_outcome(lookup, crate::files::stat, crate::files::read);
            let outcome = tokio::task::spawn_blocking(read)
                .await
                .unwrap_or(FileOutcome::NotFound);
            let mut core = worker.enter();
            let _ = core.server.complete_file(request, outcome, Instant::now());
            worker.leave(core, None);
        };
        let span = trace::request("file", file, Some(conn), request);
        tokio::task::spawn_local(trace::instrument(task, span));
    }

    /// Carries out one command.
    pub(crate) fn command(self: &Rc<Self>, cmd: Command) {
        let mut core = self.enter();
        let now = Instant::now();
        let server = &mut core.server;
        match cmd {
            Command::Broadcast {
                room,
                message,
                reply,
            } => {
                let _ = reply.send(server.broadcast(&room, message, now));
            }
            Command::Send {
                conn,
                message,
                reply,
            } => {
                let _ = reply.send(server.send(conn, message, now));
            }
            Command::Alert {
                conn,
                message,
                reply,
            } => {
                let _ = reply.send(server.alert(conn, &message, now));
            }
            Command::CreateRoom { room, reply } => {
                let result = server.create_room(room.clone());
                room_result(&mut core, RoomCommand::Create, room, result, reply);
            }
            Command::DestroyRoom { room, reply } => {
                let result = server.destroy_room(&room, now);
                room_result(&mut core, RoomCommand::Destroy, room, result, reply);
            }
            Command::AddMember { conn, room, reply } => {
                let result = server.add_member(conn, &room, now);
                let command = RoomCommand::AddMember(conn);
                room_result(&mut core, command, room, result, reply);
            }
            Command::RemoveMember { conn, room, reply } => {
                let _ = reply.send(server.remove_member(conn, &room, now));
            }
            Command::RemoveMemberById {
                connection_id,
                room,
                reply,
            } => {
                let _ = reply.send(server.remove_member_by_id(&connection_id, &room, now));
            }
            Command::Members { room, reply } => {
                let _ = reply.send(server.members(&room));
            }
            Command::Close { conn, reply } => {
                server.close(conn, CloseReason::Destroy, now);
                let _ = reply.send(());
            }
            Command::Shutdown { reconnect, reply } => {
                let _ = self.stop_accept.send(true);
                server.shutdown(reconnect, now);
                core.shutdown_waiters.push(reply);
            }
            Command::Metrics { reply } => {
                let _ = reply.send(self.metrics(&core));
            }
            #[cfg(feature = "hyper")]
            Command::Api(call) => {
                drop(core);
                return self.api(call);
            }
            #[cfg(feature = "hyper")]
            Command::Upgraded(handoff) => {
                drop(core);
                let task = super::embed::upgraded(handoff, self.clone());
                tokio::task::spawn_local(task);
                return;
            }
        }
        self.leave(core, None);
    }

    /// A snapshot of the core's counters and of the outbound queues.
    fn metrics(&self, core: &Core) -> Metrics {
        let mut outbound = OutboundStats::default();
        for outbox in core.outboxes.values() {
            let depth = outbox.frames.borrow().len() as u64;
            outbound.queued_frames += depth;
            outbound.max_queued_frames = outbound.max_queued_frames.max(depth);
        }
        Metrics {
            server: core.server.stats(),
            router: self.router.stats(),
            outbound,
        }
    }

    /// Sleeps until the core's deadline and tells the core when it passes; woken when
    /// the deadline moves.
    pub(crate) async fn timer(self: Rc<Self>) {
        loop {
            let moved = self.deadline_moved.notified();
            match self.deadline.get() {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline.into()) => {
                            let mut core = self.enter();
                            core.server.handle_timeout(Instant::now());
                            // A deadline that did not move is re-armed all the same.
                            self.deadline.set(None);
                            self.leave(core, None);
                        }
                        () = moved => {}
                    }
                }
                None => moved.await,
            }
        }
    }

    /// Runs the commands of the application and of embedding servers.
    pub(crate) async fn commands(self: Rc<Self>, mut commands: mpsc::Receiver<Command>) {
        while let Some(cmd) = commands.recv().await {
            self.command(cmd);
        }
    }

    /// Sends queued events to the application's channel.
    pub(crate) async fn forward_events(self: Rc<Self>, tx: mpsc::Sender<Event>) {
        let Some(events) = &self.events else { return };
        loop {
            let next = events.queue.borrow_mut().pop_front();
            let Some(e) = next else {
                events.room.notify_waiters();
                events.queued.notified().await;
                continue;
            };
            if tx.send(e).await.is_err() {
                // Nobody listens any more: drop what comes.
                events.queue.borrow_mut().clear();
                events.room.notify_waiters();
                events.queued.notified().await;
                continue;
            }
            if events.queue.borrow().len() < events.limit {
                events.room.notify_waiters();
            }
        }
    }

    /// Completes once the core has finished its shutdown.
    pub(crate) async fn shutdown_complete(&self) {
        while !self.shutdown_complete.get() {
            self.shutdown_done.notified().await;
        }
    }

    /// After the shutdown: every connection is let go (they write their last frames);
    /// returns who waits for the stop.
    pub(crate) fn let_go_all(&self) -> Vec<oneshot::Sender<()>> {
        let _ = self.stop_accept.send(true);
        let mut core = self.enter();
        for (_, outbox) in core.outboxes.drain() {
            outbox.let_go();
        }
        std::mem::take(&mut core.shutdown_waiters)
    }

    /// The adapter's settings.
    pub(crate) fn adapter(&self) -> &AdapterConfig {
        &self.adapter
    }

    /// The server's handle.
    #[cfg(feature = "hyper")]
    pub(crate) fn handle(&self) -> &ServerHandle {
        &self.handle
    }
}

/// Answers a room command of the application: at once, or (shared rooms, accepted) when
/// the core reports its outcome (`Event::RoomCommandDone`).
fn room_result(
    core: &mut Core,
    command: RoomCommand,
    room: RoomName,
    result: Result<(), RoomError>,
    reply: oneshot::Sender<Result<(), RoomError>>,
) {
    if result.is_ok() && core.server.shared_rooms().is_some() {
        core.room_waiters.push((command, room, reply));
    } else {
        let _ = reply.send(result);
    }
}
