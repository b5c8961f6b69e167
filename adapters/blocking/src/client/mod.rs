//! The blocking client: the core [`Client`](CoreClient) driven by a background thread,
//! behind calls that block until their response arrives.
//!
//! ```text
//!   application threads ──Call/Request──► driver thread (owns the core Client;
//!        ▲  (action, say, room_add…          recv_timeout(poll_timeout - now))
//!        │   block on their answer)               │ Open ──► socket thread per attempt:
//!        │                                        │          TCP connect, write the core's
//!        └── events (recv_timeout / iterator) ◄───┤          request bytes, read until
//!                                                 │          `parse_response` completes,
//!                                                 │          then the WebSocket loop
//!                                                 └ Transmit/Close ──► bounded outbox
//! ```
//!
//! Everything the protocol decides — when to reconnect and with what backoff, rejoining
//! rooms and `detailsView` after every open, heartbeat answers, request ids and
//! deadlines, the offline queue — is the core's; the driver carries it out while the
//! application is blocked or idle.
//!
//! Only `ws://` and `http://` URLs: TLS (`wss://`, `https://`) is the tokio adapter's job.

mod socket;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use actionhero_ws::client::request_result;
use actionhero_ws::client::{
    Client as CoreClient, ClientConfig as CoreConfig, ClientEvent, ClientOutput, ClientState,
    CloseCause, DisconnectReason, OpenFailure,
};
pub use actionhero_ws::client::{RequestError, RequestFailure};
use actionhero_ws::error::UsageError;
use actionhero_ws::handshake::ClientUpgrade;
use actionhero_ws::{AttemptId, Frame, MessageId, RoomName};
use bytes::Bytes;
use serde_json::{Map, Value};
use tungstenite::Utf8Bytes;

use crate::util::{lock, os_seed, recv_until};

/// Configuration of the blocking client: the core's configuration (reconnect backoff,
/// timeouts, offline queue, rooms…) plus the adapter's own sizes and socket timeouts.
#[derive(Clone, Debug)]
pub struct Config {
    /// The core client's configuration; its `url` is replaced by the one given to
    /// [`Client::connect`].
    pub core: CoreConfig,
    /// Socket read timeout of the connection loop. It is also the longest a frame waits
    /// before it is written, so it bounds outbound latency (smaller = lower latency,
    /// more wake-ups). Must be non-zero. Default: 20 ms.
    pub read_timeout: Duration,
    /// Socket write timeout: a server that accepts no bytes for this long is treated as
    /// a lost connection. Default: 10 s.
    pub write_timeout: Duration,
    /// After sending a close frame, how long to wait for the server's close reply.
    /// Default: 1 s.
    pub close_linger: Duration,
    /// Capacity of the outbound frame queue (driver → socket thread); when it is full
    /// the connection is treated as lost (the core reconnects). Default: 1024.
    pub outbound_queue: usize,
    /// Capacity of the driver's inbound channel (socket events and application calls).
    /// Default: 1024.
    pub driver_queue: usize,
    /// Most events held for the application; when full, the oldest is dropped (and
    /// counted by [`Client::dropped_events`]) so an application that never reads events
    /// cannot stall the client. Default: 4096.
    pub event_queue: usize,
    /// tungstenite's read buffer (allocated eagerly). Default: 16 KiB.
    pub read_buffer_size: usize,
    /// Seed for the core's RNG (WebSocket keys, backoff jitter); `None` draws one from
    /// the OS.
    pub seed: Option<[u8; 32]>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            core: CoreConfig::default(),
            read_timeout: Duration::from_millis(20),
            write_timeout: Duration::from_secs(10),
            close_linger: Duration::from_secs(1),
            outbound_queue: 1024,
            driver_queue: 1024,
            event_queue: 4096,
            read_buffer_size: 16 * 1024,
            seed: None,
        }
    }
}

/// A blocking Actionhero WebSocket client. `Sync`: share it between threads (one
/// reading events, others making requests). Dropping it disconnects.
pub struct Client {
    to_driver: SyncSender<Msg>,
    events: Arc<EventQueue>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the Actionhero server at `url` (`http://host:port` or
    /// `ws://host:port`) and returns once the connection is configured (open, rooms of
    /// `config.core.rooms` joined, `detailsView` answered). The [`ClientEvent::Connected`]
    /// and [`ClientEvent::Welcome`] events are in the event queue.
    ///
    /// Whether a failed first attempt is retried is the core's
    /// [`retry_first_connect`](actionhero_ws::client::ClientConfig::retry_first_connect)
    /// (on by default: `connect` then waits through the reconnect backoff). From then
    /// on the client reconnects by itself (and rejoins its rooms) whenever the
    /// connection drops, until [`Client::disconnect`], `primus::server::close`, or the
    /// core's retries run out.
    ///
    /// # Errors
    /// `InvalidInput`: an invalid configuration or URL; `Unsupported`: a TLS URL;
    /// `NotConnected`: the client stopped before it connected (the message gives the
    /// core's [`DisconnectReason`]); a failure to spawn the client's thread.
    pub fn connect(url: &str, config: Config) -> io::Result<Self> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        if config.read_timeout.is_zero() || config.write_timeout.is_zero() {
            return Err(invalid(
                "read_timeout and write_timeout must be non-zero".into(),
            ));
        }
        let mut core_config = config.core.clone();
        core_config.url = url.to_string();
        let seed = config.seed.unwrap_or_else(os_seed);
        let core = CoreClient::new(core_config, seed, Instant::now(), SystemTime::now())
            .map_err(|e| invalid(e.to_string()))?;
        if core.uses_tls() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS (wss://, https://) is not supported by the blocking adapter",
            ));
        }

        let (to_driver, inbox) = mpsc::sync_channel(config.driver_queue.max(1));
        let events = Arc::new(EventQueue::new(config.event_queue.max(1)));
        let (first_tx, first_rx) = mpsc::channel();
        let driver = Driver {
            core,
            inbox,
            to_driver: to_driver.clone(),
            socket: None,
            waiters: BTreeMap::new(),
            events: events.clone(),
            first: Some(first_tx),
            finished: false,
            config: Arc::new(config),
        };
        let driver = thread::Builder::new()
            .name("ahws-client".into())
            .spawn(move || driver.run())?;
        let client = Self {
            to_driver,
            events,
            driver: Mutex::new(Some(driver)),
        };
        let reason = match first_rx.recv() {
            Ok(Ok(())) => return Ok(client),
            Ok(Err(reason)) => reason,
            Err(_) => DisconnectReason::Local,
        };
        client.disconnect();
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            format!("the client stopped before it connected: {reason:?}"),
        ))
    }

    /// Runs action `name` with `params` and waits for its response object.
    ///
    /// # Errors
    /// [`RequestError`]: an error response ([`RequestError::Response`]), no response by
    /// the core's `request_timeout` or the connection dropped after the request was sent
    /// (`Failed`), the core refused it (`Refused`), or the client stopped.
    pub fn action(&self, name: &str, params: Map<String, Value>) -> Result<Value, RequestError> {
        let name = name.to_string();
        self.request(move |c, now| c.action(&name, params, now))
    }

    /// Says `message` in `room` and waits for the server's answer. The message itself
    /// comes back as a [`ClientEvent::Say`] event (to every member, the sender too).
    ///
    /// # Errors
    /// As [`Client::action`], and [`RequestError::InvalidRoomName`].
    pub fn say(&self, room: &str, message: impl Into<Value>) -> Result<Value, RequestError> {
        let room = room_name(room)?;
        let message = message.into();
        self.request(move |c, now| c.say(&room, message, now))
    }

    /// Joins `room` (remembered and rejoined after every reconnect) and waits for the
    /// answer.
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn room_add(&self, room: &str) -> Result<Value, RequestError> {
        let room = room_name(room)?;
        self.request(move |c, now| c.room_add(room, now))
    }

    /// Leaves `room` and waits for the answer.
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn room_leave(&self, room: &str) -> Result<Value, RequestError> {
        let room = room_name(room)?;
        self.request(move |c, now| c.room_leave(&room, now))
    }

    /// Asks for the members of `room` and waits for the answer.
    ///
    /// # Errors
    /// As [`Client::say`].
    pub fn room_view(&self, room: &str) -> Result<Value, RequestError> {
        let room = room_name(room)?;
        self.request(move |c, now| c.room_view(&room, now))
    }

    /// Asks for this connection's details (`id`, `fingerprint`, `rooms`, …).
    ///
    /// # Errors
    /// As [`Client::action`].
    pub fn details_view(&self) -> Result<Value, RequestError> {
        self.request(|c, now| c.details_view(now))
    }

    /// Asks for a static file of the server's public directory.
    ///
    /// # Errors
    /// As [`Client::action`].
    pub fn file(&self, path: &str) -> Result<Value, RequestError> {
        let path = path.to_string();
        self.request(move |c, now| c.file(&path, now))
    }

    /// Waits up to `timeout` for the next event (welcome, chat messages, alerts,
    /// reconnects, …; responses to this client's own requests go to the blocked calls).
    ///
    /// # Errors
    /// `Timeout` when nothing arrived in time; `Disconnected` once the client has
    /// stopped and every event was read.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<ClientEvent, RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<ClientEvent> {
        self.events.recv_timeout(Duration::ZERO).ok()
    }

    /// Iterates over events, waiting up to `timeout` for each; ends at the first wait
    /// that times out or when the client has stopped.
    pub fn events(&self, timeout: Duration) -> Events<'_> {
        Events {
            client: self,
            timeout,
        }
    }

    /// Events dropped because the event queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.events.dropped.load(Ordering::Relaxed)
    }

    /// The core client's state.
    ///
    /// # Errors
    /// [`RequestError::Stopped`] when the client has stopped.
    pub fn state(&self) -> Result<ClientState, RequestError> {
        self.call(|c, _| c.state())
    }

    /// The rooms the client is in (and rejoins after a reconnect), in join order.
    ///
    /// # Errors
    /// [`RequestError::Stopped`] when the client has stopped.
    pub fn rooms(&self) -> Result<Vec<RoomName>, RequestError> {
        self.call(|c, _| c.rooms().cloned().collect())
    }

    /// Disconnects for good (no reconnect): outstanding requests fail, the socket is
    /// closed, and the background thread ends before this returns. Idempotent.
    pub fn disconnect(&self) {
        let _ = self.to_driver.send(Msg::Disconnect);
        if let Some(driver) = lock(&self.driver).take() {
            let _ = driver.join();
        }
    }

    fn request(
        &self,
        make: impl FnOnce(&mut CoreClient, Instant) -> Result<MessageId, UsageError> + Send + 'static,
    ) -> Result<Value, RequestError> {
        let (reply, answer) = mpsc::channel();
        self.to_driver
            .send(Msg::Request {
                make: Box::new(make),
                reply,
            })
            .map_err(|_| RequestError::Stopped)?;
        answer.recv().unwrap_or(Err(RequestError::Stopped))
    }

    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut CoreClient, Instant) -> R + Send + 'static,
    ) -> Result<R, RequestError> {
        let (tx, rx) = mpsc::channel();
        let call = Box::new(move |c: &mut CoreClient, now: Instant| {
            let _ = tx.send(f(c, now));
        });
        self.to_driver
            .send(Msg::Call(call))
            .map_err(|_| RequestError::Stopped)?;
        rx.recv().map_err(|_| RequestError::Stopped)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.to_driver.send(Msg::Disconnect);
    }
}

fn room_name(room: &str) -> Result<RoomName, RequestError> {
    RoomName::new(room).map_err(|_| RequestError::InvalidRoomName)
}

/// Iterator over a client's events; see [`Client::events`].
#[derive(Debug)]
pub struct Events<'a> {
    client: &'a Client,
    timeout: Duration,
}

impl Iterator for Events<'_> {
    type Item = ClientEvent;

    fn next(&mut self) -> Option<ClientEvent> {
        self.client.recv_timeout(self.timeout).ok()
    }
}

/// The application's event queue: bounded, dropping the oldest event when full, so the
/// driver never waits on the application.
struct EventQueue {
    state: Mutex<(VecDeque<ClientEvent>, bool)>,
    ready: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

impl EventQueue {
    fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new((VecDeque::new(), false)),
            ready: Condvar::new(),
            capacity,
            dropped: AtomicU64::new(0),
        }
    }

    fn push(&self, event: ClientEvent) {
        let mut state = lock(&self.state);
        if state.0.len() >= self.capacity {
            state.0.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        state.0.push_back(event);
        self.ready.notify_one();
    }

    fn close(&self) {
        lock(&self.state).1 = true;
        self.ready.notify_all();
    }

    fn recv_timeout(&self, timeout: Duration) -> Result<ClientEvent, RecvTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = lock(&self.state);
        loop {
            if let Some(event) = state.0.pop_front() {
                return Ok(event);
            }
            if state.1 {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            state = match self.ready.wait_timeout(state, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

type MakeRequest =
    Box<dyn FnOnce(&mut CoreClient, Instant) -> Result<MessageId, UsageError> + Send>;
type CoreCall = Box<dyn FnOnce(&mut CoreClient, Instant) + Send>;
type Waiter = Sender<Result<Value, RequestError>>;

/// Everything the client driver reacts to.
pub(crate) enum Msg {
    /// The socket of `attempt` is upgraded.
    Opened { attempt: AttemptId },
    /// The socket of `attempt` could not be opened.
    OpenFailed {
        attempt: AttemptId,
        cause: OpenFailure,
    },
    /// One text message from the socket of `attempt`.
    Text { attempt: AttemptId, text: Utf8Bytes },
    /// One binary message.
    Binary { attempt: AttemptId, data: Bytes },
    /// The socket of `attempt` ended.
    Closed {
        attempt: AttemptId,
        cause: CloseCause,
    },
    /// An application request; the driver answers `reply` when its response arrives.
    Request { make: MakeRequest, reply: Waiter },
    /// A getter or other call on the core.
    Call(CoreCall),
    /// Stop for good.
    Disconnect,
}

struct Driver {
    core: CoreClient,
    inbox: Receiver<Msg>,
    to_driver: SyncSender<Msg>,
    /// The current attempt's socket thread and its outbox.
    socket: Option<(AttemptId, SyncSender<Frame>)>,
    waiters: BTreeMap<MessageId, Waiter>,
    events: Arc<EventQueue>,
    /// Answers `Client::connect` at the first `Connected` or `Disconnected`.
    first: Option<Sender<Result<(), DisconnectReason>>>,
    finished: bool,
    config: Arc<Config>,
}

impl Driver {
    fn run(mut self) {
        self.core.connect(Instant::now());
        loop {
            self.drain();
            if self.finished {
                break;
            }
            let msg = recv_until(&self.inbox, self.core.poll_timeout());
            let now = Instant::now();
            match msg {
                Ok(m) => self.feed(m, now),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Checked after every input, so a busy channel cannot starve the timers.
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
            }
        }
        // Blocked callers get `Stopped` as their reply senders drop with `self`.
        self.events.close();
    }

    fn feed(&mut self, msg: Msg, now: Instant) {
        match msg {
            Msg::Opened { attempt } => self.core.handle_opened(attempt, now),
            Msg::OpenFailed { attempt, cause } => {
                self.core.handle_open_failed(attempt, cause, now);
            }
            Msg::Text { attempt, text } => self.core.handle_text(attempt, &text, now),
            Msg::Binary { attempt, data } => self.core.handle_binary(attempt, &data, now),
            Msg::Closed { attempt, cause } => {
                if self.socket.as_ref().is_some_and(|(a, _)| *a == attempt) {
                    self.socket = None;
                }
                self.core.handle_closed(attempt, cause, now);
            }
            Msg::Request { make, reply } => match make(&mut self.core, now) {
                Ok(id) => {
                    self.waiters.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(RequestError::Refused(e)));
                }
            },
            Msg::Call(f) => f(&mut self.core, now),
            Msg::Disconnect => self.core.disconnect(now),
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                ClientOutput::Open { attempt, upgrade } => self.open(attempt, upgrade),
                ClientOutput::Transmit(frame) => self.transmit(frame),
                ClientOutput::Close(frame) => {
                    // Dropping the outbox after the close frame ends the socket thread
                    // (or aborts its opening).
                    if let Some((_, outbox)) = self.socket.take() {
                        let _ = outbox.try_send(frame);
                    }
                }
                ClientOutput::Event(e) => self.event(e),
            }
        }
    }

    fn open(&mut self, attempt: AttemptId, target: ClientUpgrade) {
        let (outbox, frames) = mpsc::sync_channel(self.config.outbound_queue.max(1));
        // `target.tls` is never set: `Client::connect` refused TLS URLs.
        self.socket = Some((attempt, outbox));
        let to_driver = self.to_driver.clone();
        let config = self.config.clone();
        let spawned = thread::Builder::new()
            .name("ahws-client-socket".into())
            .spawn(move || socket::run(attempt, target, &frames, &to_driver, &config));
        if let Err(e) = spawned {
            let cause = OpenFailure::Io(e.to_string());
            self.core.handle_open_failed(attempt, cause, Instant::now());
        }
    }

    fn transmit(&mut self, frame: Frame) {
        let Some((attempt, outbox)) = &self.socket else {
            return;
        };
        let attempt = *attempt;
        match outbox.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.socket = None;
                let cause = CloseCause::Error("outbound queue full".into());
                self.core.handle_closed(attempt, cause, Instant::now());
            }
            // The socket thread ended; its `Closed` is on the way.
            Err(TrySendError::Disconnected(_)) => self.socket = None,
        }
    }

    fn event(&mut self, e: ClientEvent) {
        match e {
            ClientEvent::Response { id, body } => match self.waiters.remove(&id) {
                Some(w) => {
                    let _ = w.send(request_result(body));
                }
                None => self.events.push(ClientEvent::Response { id, body }),
            },
            ClientEvent::RequestFailed { id, reason } => match self.waiters.remove(&id) {
                Some(w) => {
                    let _ = w.send(Err(RequestError::Failed(reason)));
                }
                None => self.events.push(ClientEvent::RequestFailed { id, reason }),
            },
            ClientEvent::Connected { .. } => {
                if let Some(first) = self.first.take() {
                    let _ = first.send(Ok(()));
                }
                self.events.push(e);
            }
            ClientEvent::Disconnected { ref reason } => {
                if let Some(first) = self.first.take() {
                    let _ = first.send(Err(reason.clone()));
                }
                self.finished = true;
                self.events.push(e);
            }
            other => self.events.push(other),
        }
    }
}
