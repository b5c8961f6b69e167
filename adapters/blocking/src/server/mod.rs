//! The blocking server: plain threads around one core [`Server`](CoreServer).
//!
//! ```text
//!   accept thread ──TcpStream──► connection thread (one per socket)
//!                                  │ HTTP: read each request head, ask the core's Router,
//!                                  │ carry out its Route (write, serve a file, run /api
//!                                  │ through the driver), keep-alive until an upgrade;
//!                                  │ then the core's 101 and tungstenite
//!                                  ▼
//!                      ┌──── DriverMsg (one bounded std::sync::mpsc channel) ◄── ServerHandle
//!                      ▼                                                          (app commands)
//!                driver thread: owns the core Server; recv_timeout(deadline - now)
//!                      │ Transmit ──try_send──► bounded outbox ──► connection thread ──► socket
//!                      │ ActionRequested / WebActionRequested / FileRequested ──► worker pool
//!                      │      ──► ActionDone / FileDone
//!                      │ Http (an /api answer) ──► the waiting connection thread
//!                      └ other events ──► the application's event channel (optional)
//! ```
//!
//! * **Driver.** One thread owns the core machine and runs the adapter loop
//!   (docs/architecture.md#the-adapter-loop): drain `poll_output`, wait on the channel
//!   with `recv_timeout(poll_timeout - now)`, feed exactly one input with a fresh
//!   `Instant::now()`.
//! * **Actions** are plain functions `Fn(ActionContext) -> ActionOutcome`, run on a small
//!   worker pool ([`Config::workers`]) so a slow action never stalls other connections.
//! * **HTTP** before an upgrade is the tokio adapter's loop on threads: every request
//!   head goes to the core's [`Router`]; static files are looked up by the core's
//!   `FileLookup` on the connection thread; `/api` requests go to the driver
//!   (`Server::handle_api`), whose answer comes back as `Output::Http`.
//! * **Connection threads** loop: read with a short socket timeout
//!   ([`Config::read_timeout`]), forward what arrived, write every frame waiting in the
//!   outbox, flush. **The read timeout bounds outbound latency**: a frame the driver
//!   queues while the thread is blocked in `read` waits at most that long.
//! * **Slow consumers.** Outboxes are bounded ([`Config::outbound_queue`]); when one is
//!   full the driver calls `server.close(conn, CloseReason::SlowConsumer, now)` and drops
//!   the outbox, as the tokio adapter does.
//! * **Shutdown** ([`ServerHandle::shutdown`]): stop accepting, `server.shutdown`, keep
//!   driving until `is_idle()` or `shutdown_grace` + [`Config::shutdown_drain`] passed.
//!
//! All protocol behaviour (heartbeats, verbs, rooms, limits, the handshake decision) is
//! the core's (docs/architecture.md#thin-adapters).

mod connection;
mod driver;
mod files;
mod pool;
mod stream;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use actionhero_ws::handshake::HandshakeConfig;
use actionhero_ws::http::{Router, WebConfig};
use actionhero_ws::metrics::Metrics;
use actionhero_ws::server::{
    ActionHandlers, ActionOutcome, ActionSpec, ChatHooks, CloseReason, Delivery, Event, RoomError,
    Server as CoreServer, ServerConfig as CoreConfig,
};
use actionhero_ws::{ConnectionHandle, RoomName};
use serde_json::{Map, Value};

use crate::util::{epoch_ms, lock, os_seed};
use driver::{Driver, DriverMsg};

/// An action implementation: runs on a worker thread, returns the response.
pub type ActionHandler = Arc<dyn Fn(ActionContext) -> ActionOutcome + Send + Sync>;

/// Configuration of the blocking server: the core's configuration plus the adapter's own
/// limits and timeouts. `Default` gives the values documented on each field.
#[derive(Clone, Debug)]
pub struct Config {
    /// The core server's configuration (limits, heartbeat, welcome, shutdown grace).
    pub core: CoreConfig,
    /// The core's handshake configuration (header limits, path, cookie key…). Its
    /// `ping_interval_ms` is replaced by the server's heartbeat interval when that is on.
    pub handshake: HandshakeConfig,
    /// The core's web configuration: static files (`public_dir`, `max_file_len`, also
    /// used by the `file` verb), `/api`, the fingerprint cookie, CORS, keep-alive.
    pub web: WebConfig,
    /// How long a new socket may take to send its first complete HTTP request head
    /// (and the body of an `/api` request), from accept or, with TLS, from the end of
    /// the TLS handshake; after that, a kept-alive connection waits for its next
    /// request as long as the core's answer said. Default: 10 s.
    pub handshake_timeout: Duration,
    /// How long a new socket may take to complete the TLS handshake on a server with
    /// [`ServerBuilder::tls`]; failed or slower handshakes drop the socket. Default:
    /// 10 s.
    pub tls_handshake_timeout: Duration,
    /// Socket read timeout of an upgraded connection's loop. It is also the longest a
    /// frame queued for that connection waits before it is written, so it bounds
    /// outbound latency (smaller = lower latency, more wake-ups). Must be non-zero.
    /// Default: 20 ms.
    pub read_timeout: Duration,
    /// Socket write timeout: a peer that accepts no bytes for this long is dropped.
    /// Default: 10 s.
    pub write_timeout: Duration,
    /// After sending a close frame, how long a connection thread waits for the peer's
    /// close reply before dropping the socket. Default: 1 s.
    pub close_linger: Duration,
    /// Capacity of each connection's outbound frame queue (driver → connection thread).
    /// When it is full the connection is closed as a slow consumer. Default: 1024.
    pub outbound_queue: usize,
    /// Capacity of the driver's inbound channel (socket events, action results, app
    /// commands); senders block when it is full, which pushes back on reading peers.
    /// Default: 4096.
    pub driver_queue: usize,
    /// Worker threads running actions and file reads. Default: 8.
    pub workers: usize,
    /// Most connection threads (handshaking or upgraded) at once; sockets accepted
    /// beyond it are dropped at once. Default: 1024.
    pub max_connection_threads: usize,
    /// tungstenite's read buffer per connection (allocated eagerly). Default: 16 KiB.
    pub read_buffer_size: usize,
    /// Extra time after the core's `shutdown_grace` before the driver stops even if
    /// connections remain (lets close frames get out). Default: 1 s.
    pub shutdown_drain: Duration,
    /// Seed for the core's RNG; `None` draws one from the OS.
    pub seed: Option<[u8; 32]>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            core: CoreConfig::default(),
            handshake: HandshakeConfig::default(),
            web: WebConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_millis(20),
            write_timeout: Duration::from_secs(10),
            close_linger: Duration::from_secs(1),
            outbound_queue: 1024,
            driver_queue: 4096,
            workers: 8,
            max_connection_threads: 1024,
            read_buffer_size: 16 * 1024,
            shutdown_drain: Duration::from_secs(1),
            seed: None,
        }
    }
}

impl Config {
    fn validate(&self) -> io::Result<()> {
        let bad = |what: &str| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                what.to_string(),
            ))
        };
        if self.read_timeout.is_zero()
            || self.handshake_timeout.is_zero()
            || self.tls_handshake_timeout.is_zero()
        {
            return bad(
                "read_timeout, handshake_timeout and tls_handshake_timeout must be non-zero",
            );
        }
        if self.write_timeout.is_zero() {
            return bad("write_timeout must be non-zero");
        }
        if self.outbound_queue == 0 || self.driver_queue == 0 {
            return bad("outbound_queue and driver_queue must be at least 1");
        }
        if self.workers == 0 || self.max_connection_threads == 0 {
            return bad("workers and max_connection_threads must be at least 1");
        }
        Ok(())
    }
}

/// What an action handler gets: the validated params and a handle to the server (the
/// core's context type, the same in every adapter).
pub type ActionContext = actionhero_ws::server::ActionContext<ServerHandle>;

/// Builds and starts a blocking server.
///
/// ```no_run
/// use actionhero_ws::server::{ActionOutcome, ActionSpec};
/// use actionhero_ws_blocking::server::{Config, ServerBuilder};
///
/// let server = ServerBuilder::new(Config::default())
///     .action(ActionSpec::new("hello"), |_ctx| {
///         let mut out = serde_json::Map::new();
///         out.insert("hello".into(), "world".into());
///         ActionOutcome::Ok(out)
///     })
///     .room("defaultRoom")
///     .bind("127.0.0.1:8080")?;
/// server.join();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ServerBuilder {
    config: Config,
    actions: Vec<(ActionSpec, ActionHandler)>,
    rooms: Vec<String>,
    hooks: Vec<(i32, Box<dyn ChatHooks>)>,
    events: Option<SyncSender<Event>>,
    #[cfg(feature = "rustls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("actions", &self.actions.len())
            .field("rooms", &self.rooms)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// A builder with this configuration, no actions and no rooms.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            actions: Vec::new(),
            rooms: Vec::new(),
            hooks: Vec::new(),
            events: None,
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }

    /// Serves TLS (`https://`, `wss://`): every accepted socket does the TLS handshake
    /// first, on its connection thread and within [`Config::tls_handshake_timeout`],
    /// then everything runs as without TLS. [`crate::tls::server_config`] builds a
    /// configuration from PEM files.
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Registers an action version and the function that runs it (on a worker thread).
    pub fn action(
        mut self,
        spec: ActionSpec,
        handler: impl Fn(ActionContext) -> ActionOutcome + Send + Sync + 'static,
    ) -> Self {
        self.actions.push((spec, Arc::new(handler)));
        self
    }

    /// Adds a room that exists from the start (Actionhero's `startingChatRooms`).
    pub fn room(mut self, name: impl Into<String>) -> Self {
        self.rooms.push(name.into());
        self
    }

    /// Adds chat hooks (run by the core on the driver thread, so keep them quick).
    pub fn chat_hooks(mut self, priority: i32, hooks: Box<dyn ChatHooks>) -> Self {
        self.hooks.push((priority, hooks));
        self
    }

    /// Subscribes to the core's events (connections, rooms, violations, disconnects,
    /// shutdown; action and file requests are handled by the server itself), through a
    /// channel of `capacity` events.
    ///
    /// The driver **waits** when the channel is full (slowing the server is the
    /// backpressure, docs/architecture.md#the-adapter-loop), so read it promptly, and not
    /// from a thread that also waits on [`ServerHandle`] calls. Dropping the receiver
    /// unsubscribes.
    pub fn events(&mut self, capacity: usize) -> Receiver<Event> {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        self.events = Some(tx);
        rx
    }

    /// Binds a listener and starts serving on it.
    ///
    /// # Errors
    /// Bind errors, an invalid configuration (`InvalidInput`), or a failure to spawn
    /// threads.
    pub fn bind(self, addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
        let listener = TcpListener::bind(addr)?;
        self.serve(listener)
    }

    /// Starts serving on `listener`: spawns the accept thread, the driver and the worker
    /// pool, and returns at once.
    ///
    /// # Errors
    /// An invalid configuration (`InvalidInput`: adapter values, the core's
    /// `ConfigError`, a bad starting room, an unreadable `public_dir`), or a failure to
    /// spawn threads.
    pub fn serve(self, listener: TcpListener) -> io::Result<ServerHandle> {
        let Self {
            config,
            actions,
            rooms,
            hooks,
            events,
            #[cfg(feature = "rustls")]
            tls,
        } = self;
        let mut config = config;
        config.validate()?;
        if let Some(interval) = config.core.ping_interval {
            // `GET /primus/spec` reports the interval the core actually uses.
            config.handshake.ping_interval_ms =
                u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        }
        listener.set_nonblocking(false)?;
        let local_addr = listener.local_addr()?;
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);

        let seed = config.seed.unwrap_or_else(os_seed);
        let mut core =
            CoreServer::new(config.core.clone(), seed, Instant::now(), SystemTime::now())
                .map_err(|e| invalid(e.to_string()))?;
        // The core resolves which version runs; the table finds its handler.
        let mut handlers = ActionHandlers::new();
        for (spec, handler) in actions {
            handlers.register(&mut core, spec, handler);
        }
        for name in rooms {
            let room = RoomName::new(&name).map_err(|e| invalid(format!("room {name:?}: {e}")))?;
            match core.create_room(room) {
                Ok(()) | Err(RoomError::AlreadyExists) => {}
                Err(e) => return Err(invalid(format!("room {name:?}: {e}"))),
            }
        }
        for (priority, h) in hooks {
            core.add_chat_hooks(priority, h);
        }
        let mut web = config.web.clone();
        web.public_dir = match web.public_dir.take() {
            Some(dir) => Some(dir.canonicalize().map_err(|e| {
                io::Error::new(e.kind(), format!("public dir {}: {e}", dir.display()))
            })?),
            None => None,
        };
        let router = Router::new(config.handshake.clone(), web, epoch_ms())
            .map_err(|e| invalid(e.to_string()))?;

        let (to_driver, from_sockets) = mpsc::sync_channel(config.driver_queue);
        let shared = Arc::new(Shared {
            config,
            router,
            to_driver,
            #[cfg(feature = "rustls")]
            tls,
            local_addr,
            connection_threads: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            done: Mutex::new(false),
            done_cv: Condvar::new(),
        });
        let handle = ServerHandle {
            shared: shared.clone(),
        };
        let pool = pool::Pool::spawn(shared.config.workers, &shared.to_driver)?;
        let accept_shared = shared.clone();
        let accept = thread::Builder::new()
            .name("ahws-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))?;
        let driver = Driver::new(
            core,
            from_sockets,
            handlers,
            pool,
            events,
            handle.clone(),
            accept,
        );
        thread::Builder::new()
            .name("ahws-driver".into())
            .spawn(move || driver.run())?;
        Ok(handle)
    }
}

/// State shared by every thread of one server.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// The core's HTTP decisions (routes, static files, the `file` verb's lookups).
    pub(crate) router: Router,
    pub(crate) to_driver: SyncSender<DriverMsg>,
    /// Set: every accepted socket speaks TLS first.
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    local_addr: SocketAddr,
    connection_threads: AtomicUsize,
    stopping: AtomicBool,
    done: Mutex<bool>,
    done_cv: Condvar,
}

impl Shared {
    /// Makes the accept thread exit: set the flag, then wake its blocking `accept`.
    fn stop_accepting(&self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }

    fn mark_done(&self) {
        *lock(&self.done) = true;
        self.done_cv.notify_all();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and similar: back off briefly instead of spinning.
                if !crate::util::is_timeout(&e) && e.kind() != io::ErrorKind::ConnectionAborted {
                    thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
        };
        let max = shared.config.max_connection_threads;
        if shared.connection_threads.fetch_add(1, Ordering::AcqRel) >= max {
            shared.connection_threads.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let conn_shared = shared.clone();
        let spawned = thread::Builder::new()
            .name("ahws-conn".into())
            .spawn(move || {
                let span = crate::trace::connection(peer);
                crate::trace::in_span(&span, || connection::run(stream, peer, &conn_shared));
                conn_shared
                    .connection_threads
                    .fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            shared.connection_threads.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Why a server command failed: the core's type, the same in every adapter.
pub use actionhero_ws::error::ServerError;

/// A cheap, cloneable handle to a running server: application commands, shutdown, join.
///
/// Every command is a message to the driver thread; the calls that return a value wait
/// for the driver's answer. Dropping every handle does not stop the server: call
/// [`ServerHandle::shutdown`]. Don't call them from inside [`ServerHandle::with_core`] or a
/// chat hook (they run on the driver thread and would wait for themselves).
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Runs `f` on the driver thread with the core server and the current time, and
    /// returns its result. Outputs `f` causes are routed right after. `f` must not block.
    ///
    /// # Errors
    /// [`ServerError::Stopped`] when the server has stopped.
    pub fn with_core<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut CoreServer, Instant) -> R + Send + 'static,
    ) -> Result<R, ServerError> {
        let (tx, rx) = mpsc::channel();
        let call = Box::new(move |server: &mut CoreServer, now: Instant| {
            let _ = tx.send(f(server, now));
        });
        self.shared
            .to_driver
            .send(DriverMsg::Call(call))
            .map_err(|_| ServerError::Stopped)?;
        rx.recv().map_err(|_| ServerError::Stopped)
    }

    /// Sends a chat message to every member of `room` as the server (`from: "0"`).
    /// Returns the number of members reached.
    ///
    /// # Errors
    /// [`ServerError::Room`] for a missing room, [`ServerError::InvalidRoomName`],
    /// [`ServerError::Stopped`].
    pub fn broadcast(&self, room: &str, message: Value) -> Result<usize, ServerError> {
        let room = ServerError::room_name(room)?;
        Ok(self.with_core(move |s, now| s.broadcast(&room, message, now))??)
    }

    /// Sends a message to one connection through Actionhero's `sendMessage` envelope.
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub fn send(
        &self,
        conn: ConnectionHandle,
        message: Map<String, Value>,
    ) -> Result<Delivery, ServerError> {
        self.with_core(move |s, now| s.send(conn, message, now))
    }

    /// Sends `{"message":…,"context":"alert"}` to one connection.
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub fn alert(&self, conn: ConnectionHandle, message: Value) -> Result<Delivery, ServerError> {
        self.with_core(move |s, now| s.alert(conn, &message, now))
    }

    /// Creates a room.
    ///
    /// # Errors
    /// [`ServerError::Room`] (e.g. `AlreadyExists`), [`ServerError::InvalidRoomName`],
    /// [`ServerError::Stopped`].
    pub fn create_room(&self, room: &str) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        Ok(self.with_core(move |s, _| s.create_room(room))??)
    }

    /// Destroys a room (members are told and leave).
    ///
    /// # Errors
    /// [`ServerError::Room`], [`ServerError::InvalidRoomName`], [`ServerError::Stopped`].
    pub fn destroy_room(&self, room: &str) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        Ok(self.with_core(move |s, now| s.destroy_room(&room, now))??)
    }

    /// Adds a connection to a room.
    ///
    /// # Errors
    /// [`ServerError::Room`], [`ServerError::InvalidRoomName`], [`ServerError::Stopped`].
    pub fn add_member(&self, conn: ConnectionHandle, room: &str) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        Ok(self.with_core(move |s, now| s.add_member(conn, &room, now))??)
    }

    /// Removes a connection from a room.
    ///
    /// # Errors
    /// [`ServerError::Room`], [`ServerError::InvalidRoomName`], [`ServerError::Stopped`].
    pub fn remove_member(&self, conn: ConnectionHandle, room: &str) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        Ok(self.with_core(move |s, now| s.remove_member(conn, &room, now))??)
    }

    /// The members of a room, in join order (empty for a missing room).
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub fn members(&self, room: &str) -> Result<Vec<ConnectionHandle>, ServerError> {
        let room = room.to_owned();
        self.with_core(move |s, _| s.members(&room))
    }

    /// Closes a connection the way Actionhero's `connection.destroy()` does
    /// (`primus::server::close`, then close: the client does not reconnect). Stale
    /// handles are ignored.
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub fn close(&self, conn: ConnectionHandle) -> Result<(), ServerError> {
        self.with_core(move |s, now| s.close(conn, CloseReason::Destroy, now))
    }

    /// Starts a graceful shutdown and returns at once: the listener closes, the core
    /// refuses new work, idle connections close now and busy ones when their actions are
    /// answered or `shutdown_grace` has passed. With `reconnect = false` clients are told
    /// not to come back. Use [`ServerHandle::join`] to wait for the end. Idempotent.
    pub fn shutdown(&self, reconnect: bool) {
        self.shared.stop_accepting();
        let _ = self
            .shared
            .to_driver
            .send(DriverMsg::Shutdown { reconnect });
    }

    /// Waits until the server has stopped (after [`ServerHandle::shutdown`]).
    pub fn join(&self) {
        let mut done = lock(&self.shared.done);
        while !*done {
            done = self
                .shared
                .done_cv
                .wait(done)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Waits up to `timeout` for the server to stop; true if it has.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut done = lock(&self.shared.done);
        while !*done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = match self.shared.done_cv.wait_timeout(done, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    /// True once the server has stopped.
    pub fn is_stopped(&self) -> bool {
        *lock(&self.shared.done)
    }

    /// A snapshot of what the server counted (connections, messages, actions and their
    /// latency, chat, HTTP routes) and of its outbound queues.
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub fn metrics(&self) -> Result<Metrics, ServerError> {
        let (reply, rx) = mpsc::channel();
        self.shared
            .to_driver
            .send(DriverMsg::Metrics { reply })
            .map_err(|_| ServerError::Stopped)?;
        rx.recv().map_err(|_| ServerError::Stopped)
    }

    /// [`ServerHandle::metrics`] in Prometheus's text exposition format, for an
    /// application that serves it itself (see [`crate::metrics::serve`] for a
    /// listener of its own).
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub fn metrics_text(&self) -> Result<String, ServerError> {
        Ok(self.metrics()?.to_prometheus())
    }
}
