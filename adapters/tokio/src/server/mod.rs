//! The tokio server: a builder, the running server's handle, and the action context.
//!
//! ```text
//!  worker thread (current-thread runtime; docs/architecture.md#the-adapter-loop)
//!  ┌──────────────────────────────────────────────────────────────────────────────┐
//!  │ accept loop ──► connection task (one per socket): HTTP → core Router,          │
//!  │                  then tokio-tungstenite; reads feed the core directly ──┐      │
//!  │ action tasks (handlers that wait) ── answer the core directly ──────────┤      │
//!  │ timer task ── the core's deadline ──────────────────────────────────────┤ core │
//!  │ command task ◄── Command::* ── ServerHandle, embedding servers ─────────┘ Server│
//!  │   frames: per-connection Outbox (over outbound_queue → slow consumer)         │
//!  └──────────────────────────────────────────────────────────────────────────────┘
//! ```

pub(crate) mod conn;
#[cfg(feature = "hyper")]
mod embed;
mod stream;
mod worker;

#[cfg(feature = "hyper")]
pub use embed::{BoxError, HttpFuture, HttpService};

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actionhero_ws::handshake::HandshakeConfig;
use actionhero_ws::http::WebConfig;
use actionhero_ws::metrics::Metrics;
use actionhero_ws::server::{
    ActionHandlers, ActionOutcome, ActionSpec, ChatHooks, Delivery, Event, RoomError, Server,
    ServerConfig, SharedRoomsConfig,
};
use actionhero_ws::{ConnectionHandle, RoomName};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::trace;

pub(crate) use worker::Command;

/// The boxed future an action handler returns.
pub type ActionFuture = Pin<Box<dyn Future<Output = ActionOutcome> + Send + 'static>>;

type Handler = Arc<dyn Fn(ActionContext) -> ActionFuture + Send + Sync>;

/// Adapter-level settings: the queues and timeouts the tokio adapter itself owns.
/// Protocol limits are in the core's [`ServerConfig`] and [`HandshakeConfig`].
#[derive(Clone, Debug)]
pub struct AdapterConfig {
    /// How long a client may take to send its complete HTTP upgrade head, from accept
    /// (with TLS: from the end of the TLS handshake). Slower clients are dropped without
    /// an answer. Default: 10 s. In an embedding HTTP server (`HttpService`, feature
    /// `hyper`) it bounds the wait for an `/api` request's body instead.
    pub handshake_timeout: Duration,
    /// How long a client may take to complete the TLS handshake, from accept, on a
    /// server with [`ServerBuilder::tls`]. Failed or slower handshakes drop the socket.
    /// Default: 10 s.
    pub tls_handshake_timeout: Duration,
    /// Frames queued for one connection and not yet written to its socket. When one
    /// more does not fit, the connection is closed as a slow consumer (the others carry
    /// on). Default: 1024.
    pub outbound_queue: usize,
    /// Events queued for the application's [`ServerBuilder::events`] channel beyond what
    /// the channel holds; while it is full, connections stop reading (backpressure
    /// instead of a growing queue). Default: 1024.
    pub inbound_queue: usize,
    /// Commands (application calls, embedding servers' requests) waiting for the
    /// worker. Default: 1024.
    pub command_queue: usize,
    /// How long a connection waits for the peer's close reply after sending a close
    /// frame (or how long it tries to send one). Default: 1 s.
    pub close_timeout: Duration,
    /// How long [`ServerHandle::shutdown`] waits for connection tasks to write their last
    /// frames after the core has closed every connection. Default: 5 s.
    pub shutdown_flush_timeout: Duration,
    /// Bytes read from a socket per read call (tungstenite's `read_buffer_size`). Every
    /// connection holds a buffer of this size, which tungstenite zero-fills before each
    /// read, so it is kept small; longer messages still arrive whole (the buffer grows
    /// for them). Default: 4 KiB (tungstenite's own default is 128 KiB).
    pub read_buffer_size: usize,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            outbound_queue: 1024,
            inbound_queue: 1024,
            command_queue: 1024,
            close_timeout: Duration::from_secs(1),
            shutdown_flush_timeout: Duration::from_secs(5),
            read_buffer_size: 4 * 1024,
        }
    }
}

/// What an action handler gets: the validated params and a handle to the server (the
/// core's context type, the same in every adapter).
pub type ActionContext = actionhero_ws::server::ActionContext<ServerHandle>;

/// Why a server command failed: the core's type, the same in every adapter.
pub use actionhero_ws::error::ServerError;

/// Builds and starts a server.
pub struct ServerBuilder {
    listen: String,
    config: ServerConfig,
    handshake: HandshakeConfig,
    web: WebConfig,
    adapter: AdapterConfig,
    rooms: Vec<String>,
    public_dir: Option<PathBuf>,
    hooks: Vec<(i32, Box<dyn ChatHooks>)>,
    actions: Vec<(ActionSpec, Handler)>,
    seed: Option<[u8; 32]>,
    events: Option<mpsc::Sender<Event>>,
    workers: usize,
    #[cfg(feature = "rustls")]
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    #[cfg(feature = "redis")]
    cluster: Option<crate::redis::ClusterConfig>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("listen", &self.listen)
            .field("config", &self.config)
            .field("adapter", &self.adapter)
            .field("rooms", &self.rooms)
            .field("public_dir", &self.public_dir)
            .field("actions", &self.actions.len())
            .field("tls", &self.has_tls())
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    /// A builder with Actionhero's defaults, listening on `127.0.0.1:8080`, no rooms, no
    /// actions, no public directory.
    pub fn new() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            config: ServerConfig::default(),
            handshake: HandshakeConfig::default(),
            web: WebConfig::default(),
            adapter: AdapterConfig::default(),
            rooms: Vec::new(),
            public_dir: None,
            hooks: Vec::new(),
            actions: Vec::new(),
            seed: None,
            events: None,
            workers: 1,
            #[cfg(feature = "rustls")]
            tls: None,
            #[cfg(feature = "redis")]
            cluster: None,
        }
    }

    /// Joins a cluster that shares rooms through Redis, as an Actionhero node does
    /// (docs/architecture.md#shared-rooms): says are published on the channel and
    /// delivered by every node to its own members, membership lives in Redis, `roomView`
    /// counts members cluster-wide, and other nodes (ours or Actionhero's) may ask this
    /// one to add or remove its connections.
    #[cfg(feature = "redis")]
    pub fn cluster(mut self, config: crate::redis::ClusterConfig) -> Self {
        self.cluster = Some(config);
        self
    }

    fn has_tls(&self) -> bool {
        #[cfg(feature = "rustls")]
        return self.tls.is_some();
        #[cfg(not(feature = "rustls"))]
        false
    }

    /// Serves TLS (`https://`, `wss://`) on the listener: every accepted socket does
    /// the TLS handshake first (bounded by [`AdapterConfig::tls_handshake_timeout`]),
    /// then everything runs as without TLS. [`crate::tls::server_config`] builds a
    /// configuration from PEM files. Connections handed over by an embedding HTTP
    /// server are that server's business (it terminates TLS itself).
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, config: Arc<tokio_rustls::rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets the listen address (`host:port`; port 0 picks a free one).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// Sets the core server configuration.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the core handshake configuration (path, limits, fingerprint key, …). Its
    /// `ping_interval_ms` is replaced by the server's heartbeat interval when that is on.
    pub fn handshake_config(mut self, config: HandshakeConfig) -> Self {
        self.handshake = config;
        self
    }

    /// Sets the web side's configuration: static files, `/api`, the fingerprint cookie,
    /// CORS and the client library's options. Its `public_dir` is replaced by
    /// [`public_dir`](Self::public_dir) when that is set.
    pub fn web_config(mut self, config: WebConfig) -> Self {
        self.web = config;
        self
    }

    /// Sets the adapter's queues and timeouts.
    pub fn adapter_config(mut self, config: AdapterConfig) -> Self {
        self.adapter = config;
        self
    }

    /// Adds a room that exists from the start.
    pub fn room(mut self, name: impl Into<String>) -> Self {
        self.rooms.push(name.into());
        self
    }

    /// Serves static files over HTTP (`/public/…`, `/`) and the `file` verb from this
    /// directory (without one, every file is not found; the client library is served
    /// either way).
    pub fn public_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.public_dir = Some(dir.into());
        self
    }

    /// Adds chat hooks, run in ascending `priority`.
    pub fn chat_hooks(mut self, priority: i32, hooks: impl ChatHooks + 'static) -> Self {
        self.hooks.push((priority, Box::new(hooks)));
        self
    }

    /// Registers an action: the core validates its inputs against `spec`, then `handler`
    /// runs on the server's worker thread (polled once at once; if it waits, as a task of
    /// that thread) and its outcome becomes the response. A handler that panics answers
    /// with the core's error for a failed action. A handler that blocks the thread blocks
    /// the server, as in Node: move blocking work to `tokio::task::spawn_blocking`.
    pub fn action<F, Fut>(mut self, spec: ActionSpec, handler: F) -> Self
    where
        F: Fn(ActionContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActionOutcome> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ctx| Box::pin(handler(ctx)) as ActionFuture);
        self.actions.push((spec, handler));
        self
    }

    /// Runs `n` workers (default 1, at most 256): each a thread with its own core and
    /// its own connections, taking connections from the same listening socket. Their
    /// rooms are shared (the core's shared rooms, through an in-process bus and store,
    /// or through Redis with [`cluster`](Self::cluster)), so a client sees one server
    /// whichever worker holds its connection. One worker has no sharing cost; more use
    /// more cores (on a machine with N cores, N workers at most).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Fixes the core's random seed (default: drawn from the OS).
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sends every core [`Event`] to `events`. While the channel is full (plus
    /// [`AdapterConfig::inbound_queue`] queued events), connections stop reading, so a
    /// slow reader slows the whole server down; without a channel events are dropped.
    pub fn events(mut self, events: mpsc::Sender<Event>) -> Self {
        self.events = Some(events);
        self
    }

    /// Binds the listen address and starts serving on a worker thread of its own (a
    /// current-thread tokio runtime that owns the core and runs every connection and
    /// action of this server; the caller's runtime only needs to be able to bind).
    ///
    /// # Errors
    /// Binding fails, the configuration is invalid, a room name is invalid, the OS
    /// random source fails, or the worker thread or its runtime cannot be started.
    pub async fn serve(self) -> io::Result<ServerHandle> {
        let listener = TcpListener::bind(self.listen.as_str()).await?;
        self.serve_on(listener)
    }

    /// Starts serving on an already bound listener.
    ///
    /// # Errors
    /// The configuration or a room name is invalid, the OS random source fails, or the
    /// worker thread or its runtime cannot be started.
    pub fn serve_on(self, listener: TcpListener) -> io::Result<ServerHandle> {
        let local_addr = listener.local_addr()?;
        self.run(Some(listener), local_addr)
    }

    /// Starts the server without a listener of its own: every connection comes from an
    /// embedding HTTP server through `ServerHandle::http_service` (feature `hyper`).
    /// [`ServerHandle::local_addr`] is then the unspecified address `0.0.0.0:0`.
    ///
    /// # Errors
    /// The configuration or a room name is invalid, the OS random source fails, or the
    /// worker thread or its runtime cannot be started.
    pub fn start(self) -> io::Result<ServerHandle> {
        let unspecified = SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0));
        self.run(None, unspecified)
    }

    fn run(
        self,
        listener: Option<TcpListener>,
        local_addr: SocketAddr,
    ) -> io::Result<ServerHandle> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let seed = match self.seed {
            Some(s) => s,
            None => crate::os_seed()?,
        };
        let workers = self.workers.clamp(1, usize::from(u8::MAX) + 1);
        #[cfg(feature = "redis")]
        let cluster = match self.cluster {
            Some(c) => {
                redis::Client::open(c.redis.url.as_str())
                    .map_err(|e| invalid(format!("redis URL: {e}")))?;
                let codec = actionhero_ws::cluster::ChannelCodec::new(c.channel)
                    .map_err(|e| invalid(e.to_string()))?;
                Some((c.redis, c.rooms, codec))
            }
            None => None,
        };
        #[cfg(feature = "redis")]
        let through_redis = cluster.is_some();
        #[cfg(not(feature = "redis"))]
        let through_redis = false;
        // Several workers share their rooms: through Redis when the server is in a
        // cluster, else in this process.
        let in_process = (workers > 1 && !through_redis).then(|| {
            let store = Arc::new(std::sync::Mutex::new(
                actionhero_ws::cluster::MemoryStore::new(),
            ));
            let buses: Vec<_> = (0..workers)
                .map(|_| mpsc::channel(self.adapter.command_queue.max(1)))
                .collect();
            (store, buses)
        });
        // One worker takes the hooks as they were given; several share each hooks value
        // behind a lock.
        let (mut hooks_once, hooks_shared) = if workers == 1 {
            (Some(self.hooks), Vec::new())
        } else {
            let shared: Vec<(i32, SharedHooks)> = self
                .hooks
                .into_iter()
                .map(|(p, h)| (p, Arc::new(std::sync::Mutex::new(h))))
                .collect();
            (None, shared)
        };
        let mut cores = Vec::with_capacity(workers);
        for i in 0..workers {
            let mut seed = seed;
            seed[31] ^= i as u8;
            let id = |base: &str| {
                if workers > 1 {
                    format!("{base}-w{i}")
                } else {
                    base.to_owned()
                }
            };
            #[cfg(feature = "redis")]
            let shared = cluster.as_ref().map(|(_, rooms, _)| SharedRoomsConfig {
                server_id: id(&rooms.server_id),
                ..rooms.clone()
            });
            #[cfg(not(feature = "redis"))]
            let shared: Option<SharedRoomsConfig> = None;
            let shared = shared.or_else(|| {
                in_process.as_ref().map(|_| SharedRoomsConfig {
                    // Workers die with their process: nothing to sweep.
                    node_ttl: None,
                    ..SharedRoomsConfig::new(id(&format!("ahws-{}", std::process::id())))
                })
            });
            let config = self.config.clone();
            let (now, unix) = (Instant::now(), SystemTime::now());
            let server = match shared {
                Some(shared) => Server::with_shared_rooms(config, shared, seed, now, unix),
                None => Server::new(config, seed, now, unix),
            };
            let mut server = server.map_err(|e| invalid(e.to_string()))?;
            server.set_handle_tag(i as u8);
            // Shared rooms live in the store: one worker creates them.
            if i == 0 {
                for room in &self.rooms {
                    let name = RoomName::new(room)
                        .map_err(|_| invalid(format!("invalid room `{room}`")))?;
                    match server.create_room(name) {
                        Ok(()) | Err(RoomError::AlreadyExists) => {}
                        Err(e) => return Err(invalid(format!("room `{room}`: {e}"))),
                    }
                }
            }
            match hooks_once.take() {
                Some(hooks) => {
                    for (priority, h) in hooks {
                        server.add_chat_hooks(priority, h);
                    }
                }
                None => {
                    for (priority, h) in &hooks_shared {
                        server.add_chat_hooks(*priority, Box::new(LockedHooks(h.clone())));
                    }
                }
            }
            // The core resolves which version runs; the table finds its handler.
            let mut handlers = ActionHandlers::new();
            for (spec, handler) in &self.actions {
                handlers.register(&mut server, spec.clone(), handler.clone());
            }
            cores.push((server, handlers));
        }
        let max_message = cores[0].0.config().max_message_len;
        let mut web = self.web;
        web.public_dir = match self.public_dir.or(web.public_dir.take()) {
            Some(dir) => Some(dir.canonicalize().map_err(|e| {
                io::Error::new(e.kind(), format!("public dir {}: {e}", dir.display()))
            })?),
            None => None,
        };
        let router = cores[0]
            .0
            .router(self.handshake, web, crate::epoch_ms())
            .map_err(|e| invalid(e.to_string()))?;
        let router = Arc::new(router);
        let conn_shared = Arc::new(conn::ConnShared {
            router: router.clone(),
            adapter: self.adapter.clone(),
            max_message,
            #[cfg(feature = "rustls")]
            tls: self.tls.map(tokio_rustls::TlsAcceptor::from),
        });

        let mut commands = Vec::with_capacity(workers);
        let mut command_rxs = Vec::with_capacity(workers);
        let mut stopped = Vec::with_capacity(workers);
        let mut stopped_txs = Vec::with_capacity(workers);
        let mut alive = Vec::with_capacity(workers);
        let mut alive_pairs = Vec::with_capacity(workers);
        let mut stop_pairs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = mpsc::channel(self.adapter.command_queue.max(1));
            commands.push(tx);
            command_rxs.push(rx);
            let (tx, rx) = watch::channel(false);
            stopped.push(rx);
            stopped_txs.push(tx);
            let (tx, rx) = mpsc::channel::<()>(1);
            alive.push(tx.downgrade());
            alive_pairs.push((tx, rx));
            stop_pairs.push(watch::channel(false));
        }
        let handle = ServerHandle {
            inner: Arc::new(Shared {
                commands,
                local_addr,
                stopped,
                conns: conn_shared.clone(),
                alive,
                stopping: stop_pairs[0].1.clone(),
                next: std::sync::atomic::AtomicUsize::new(0),
            }),
        };
        // The listener moves to the workers' runtimes (each its own copy of the socket).
        let listener = listener.map(TcpListener::into_std).transpose()?;
        let (store, buses) = match in_process {
            Some((store, buses)) => (Some(store), buses),
            None => (None, Vec::new()),
        };
        let bus_senders: Vec<_> = buses.iter().map(|(tx, _)| tx.clone()).collect();
        let shares: Vec<Option<worker::InProcess>> = (0..workers)
            .map(|me| {
                store.as_ref().map(|store| worker::InProcess {
                    me,
                    bus: bus_senders.clone(),
                    store: store.clone(),
                })
            })
            .collect();
        // What the cores did while being built (the starting rooms) reaches the store
        // before any worker takes a connection.
        for ((server, _), share) in cores.iter_mut().zip(&shares) {
            if let Some(share) = share {
                while share.carry(server) {}
            }
        }
        let mut bus_receivers: Vec<_> = buses.into_iter().map(|(_, rx)| Some(rx)).collect();
        let mut events = self.events;
        let per_worker = cores
            .into_iter()
            .zip(command_rxs)
            .zip(alive_pairs.into_iter().zip(stop_pairs))
            .zip(shares)
            .enumerate();
        for (i, ((((server, handlers), command_rx), (alive, stop)), in_process)) in per_worker {
            let ((alive_tx, alive_rx), (stop_tx, stop_rx)) = (alive, stop);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let listener = match &listener {
                Some(l) => Some(l.try_clone()?),
                None => None,
            };
            let events = if i + 1 == workers {
                events.take()
            } else {
                events.clone()
            };
            let parts = worker::WorkerParts {
                server,
                handlers,
                handle: handle.clone(),
                router: router.clone(),
                adapter: self.adapter.clone(),
                stop_accept: stop_tx,
                events: events.is_some(),
                #[cfg(feature = "redis")]
                cluster: None,
                in_process,
            };
            let run = WorkerRun {
                parts,
                listener,
                conns: conn_shared.clone(),
                stop_accept: stop_rx,
                alive: (alive_tx, alive_rx),
                commands: command_rx,
                events,
                stopped: stopped_txs.remove(0),
                bus: bus_receivers.get_mut(i).and_then(Option::take),
                #[cfg(feature = "redis")]
                cluster: cluster
                    .as_ref()
                    .map(|(redis, _, codec)| (redis.clone(), codec.clone())),
            };
            std::thread::Builder::new()
                .name(format!("ahws-worker-{i}"))
                .spawn(move || {
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, run.run());
                })?;
        }
        Ok(handle)
    }
}

/// One chat hooks value for several workers.
type SharedHooks = Arc<std::sync::Mutex<Box<dyn ChatHooks>>>;

/// Chat hooks shared by several workers: each call takes the lock.
struct LockedHooks(SharedHooks);

impl LockedHooks {
    fn with<R>(&self, f: impl FnOnce(&mut dyn ChatHooks) -> R) -> R {
        let mut hooks = match self.0.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(hooks.as_mut())
    }
}

impl ChatHooks for LockedHooks {
    fn join(
        &mut self,
        conn: actionhero_ws::server::ConnectionInfo<'_>,
        room: &RoomName,
    ) -> Result<(), String> {
        self.with(|h| h.join(conn, room))
    }

    fn leave(
        &mut self,
        conn: actionhero_ws::server::ConnectionInfo<'_>,
        room: &RoomName,
    ) -> Result<(), String> {
        self.with(|h| h.leave(conn, room))
    }

    fn on_say_receive(
        &mut self,
        sender: Option<actionhero_ws::server::ConnectionInfo<'_>>,
        payload: Option<Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, String> {
        self.with(|h| h.on_say_receive(sender, payload))
    }

    fn say(
        &mut self,
        receiver: actionhero_ws::server::ConnectionInfo<'_>,
        room: &RoomName,
        payload: Map<String, Value>,
    ) -> Option<Map<String, Value>> {
        self.with(|h| h.say(receiver, room, payload))
    }
}

/// Everything the worker thread starts with.
struct WorkerRun {
    parts: worker::WorkerParts,
    listener: Option<std::net::TcpListener>,
    conns: Arc<conn::ConnShared>,
    stop_accept: watch::Receiver<bool>,
    alive: (mpsc::Sender<()>, mpsc::Receiver<()>),
    commands: mpsc::Receiver<Command>,
    events: Option<mpsc::Sender<Event>>,
    stopped: watch::Sender<bool>,
    /// This worker's end of the in-process bus (rooms shared with the other workers).
    bus: Option<mpsc::Receiver<actionhero_ws::cluster::ChannelMessage>>,
    #[cfg(feature = "redis")]
    cluster: Option<(
        crate::redis::RedisConfig,
        actionhero_ws::cluster::ChannelCodec,
    )>,
}

impl WorkerRun {
    /// The worker thread's main task: starts the accept loop and the worker's tasks,
    /// waits for the core's shutdown, lets the connections write their last frames
    /// (bounded by [`AdapterConfig::shutdown_flush_timeout`]), then reports the stop.
    async fn run(self) {
        #[allow(unused_mut)]
        let mut parts = self.parts;
        #[cfg(feature = "redis")]
        let mut link_events = None;
        #[cfg(feature = "redis")]
        if let Some((config, codec)) = self.cluster {
            // The URL was checked when the server was built.
            if let Ok((link, events)) = crate::redis::RedisLink::start(config) {
                parts.cluster = Some(worker::Cluster { link, codec });
                link_events = Some(events);
            }
        }
        let worker = worker::Worker::new(parts);
        if let Some(bus) = self.bus {
            tokio::task::spawn_local(worker.clone().in_process_bus(bus));
        }
        #[cfg(feature = "redis")]
        if let Some(events) = link_events {
            tokio::task::spawn_local(worker.clone().cluster_events(events));
        }
        if let Some(tx) = self.events {
            tokio::task::spawn_local(worker.clone().forward_events(tx));
        }
        tokio::task::spawn_local(worker.clone().timer());
        tokio::task::spawn_local(worker.clone().commands(self.commands));
        let listener = match self.listener.map(TcpListener::from_std).transpose() {
            Ok(listener) => listener,
            Err(_error) => {
                trace::debug!(error = %_error, "the listener cannot move to the worker");
                None
            }
        };
        let (alive, mut alive_rx) = self.alive;
        tokio::task::spawn_local(conn::accept_loop(
            listener,
            self.conns,
            worker.clone(),
            self.stop_accept,
            alive,
        ));
        worker.shutdown_complete().await;
        let waiters = worker.let_go_all();
        let flush = worker.adapter().shutdown_flush_timeout;
        let _ =
            tokio::time::timeout(flush, async { while alive_rx.recv().await.is_some() {} }).await;
        for w in waiters {
            let _ = w.send(());
        }
        let _ = self.stopped.send(true);
    }
}

struct Shared {
    /// One command channel per worker (index = the worker's handle tag).
    commands: Vec<mpsc::Sender<Command>>,
    local_addr: SocketAddr,
    /// One per worker.
    stopped: Vec<watch::Receiver<bool>>,
    /// What connection tasks share (the router, the adapter settings): connections
    /// from an embedding HTTP server run with it too.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    conns: Arc<conn::ConnShared>,
    /// Weak, so the handle does not keep a worker waiting for connections at shutdown;
    /// a connection task upgrades its worker's while the server still accepts.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    alive: Vec<mpsc::WeakSender<()>>,
    /// True from the start of a shutdown: no new connections or requests.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    stopping: watch::Receiver<bool>,
    /// The worker the next connection from an embedding server goes to.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    next: std::sync::atomic::AtomicUsize,
}

/// A handle on a running server: its address, application commands, shutdown.
///
/// Cheap to clone. Dropping every handle does not stop the server; call
/// [`ServerHandle::shutdown`].
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<Shared>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on (`0.0.0.0:0` for a server started with
    /// [`ServerBuilder::start`], which has no listener).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Sends a chat message to every member of `room` as the server (`from: "0"`).
    /// Returns the number of members reached.
    ///
    /// # Errors
    /// [`ServerError::Room`] for a missing room, [`ServerError::Stopped`].
    pub async fn broadcast(&self, room: &str, message: Value) -> Result<usize, ServerError> {
        let room = ServerError::room_name(room)?;
        self.call(|reply| Command::Broadcast {
            room,
            message,
            reply,
        })
        .await?
        .map_err(ServerError::Room)
    }

    /// Sends a message to one connection through Actionhero's `sendMessage` envelope.
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub async fn send(
        &self,
        conn: ConnectionHandle,
        message: Map<String, Value>,
    ) -> Result<Delivery, ServerError> {
        self.call_for(conn, |reply| Command::Send {
            conn,
            message,
            reply,
        })
        .await
    }

    /// Sends `{"message":…,"context":"alert"}` to one connection.
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub async fn alert(
        &self,
        conn: ConnectionHandle,
        message: Value,
    ) -> Result<Delivery, ServerError> {
        self.call_for(conn, |reply| Command::Alert {
            conn,
            message,
            reply,
        })
        .await
    }

    /// Creates a room.
    ///
    /// # Errors
    /// [`ServerError::Room`] (e.g. [`RoomError::AlreadyExists`]), [`ServerError::Stopped`].
    pub async fn create_room(&self, room: &str) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        self.call(|reply| Command::CreateRoom { room, reply })
            .await?
            .map_err(ServerError::Room)
    }

    /// Destroys a room (members are told and leave).
    ///
    /// # Errors
    /// [`ServerError::Room`], [`ServerError::Stopped`].
    pub async fn destroy_room(&self, room: &str) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        self.call(|reply| Command::DestroyRoom { room, reply })
            .await?
            .map_err(ServerError::Room)
    }

    /// Adds a connection to a room.
    ///
    /// # Errors
    /// [`ServerError::Room`], [`ServerError::Stopped`].
    pub async fn add_member(&self, conn: ConnectionHandle, room: &str) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        self.call_for(conn, |reply| Command::AddMember { conn, room, reply })
            .await?
            .map_err(ServerError::Room)
    }

    /// Removes a connection from a room.
    ///
    /// # Errors
    /// [`ServerError::Room`], [`ServerError::Stopped`].
    pub async fn remove_member(
        &self,
        conn: ConnectionHandle,
        room: &str,
    ) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        self.call_for(conn, |reply| Command::RemoveMember { conn, room, reply })
            .await?
            .map_err(ServerError::Room)
    }

    /// Removes the connection with the id `connection_id` from `room` wherever it is:
    /// on this server at once, as [`ServerHandle::remove_member`]; with shared rooms
    /// ([`ServerBuilder::cluster`]), a connection of another node through Actionhero's
    /// `api.chatRoom.removeMember` RPC, whose outcome comes later as
    /// [`Event::RoomCommandDone`].
    ///
    /// # Errors
    /// [`ServerError::Room`] (without shared rooms, `ConnectionGone` for an unknown id),
    /// [`ServerError::Stopped`].
    pub async fn remove_member_by_id(
        &self,
        connection_id: &str,
        room: &str,
    ) -> Result<(), ServerError> {
        let room = ServerError::room_name(room)?;
        let connection_id = connection_id.to_owned();
        self.call(|reply| Command::RemoveMemberById {
            connection_id,
            room,
            reply,
        })
        .await?
        .map_err(ServerError::Room)
    }

    /// The members of a room on this server (every worker's, worker after worker), in
    /// join order (empty for a missing room). In a cluster, other nodes' members are not
    /// listed (`roomView` counts them).
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub async fn members(&self, room: &str) -> Result<Vec<ConnectionHandle>, ServerError> {
        let room = room.to_owned();
        let mut all = Vec::new();
        for worker in 0..self.inner.commands.len() {
            let room = room.clone();
            all.extend(
                self.call_on(worker, |reply| Command::Members { room, reply })
                    .await?,
            );
        }
        Ok(all)
    }

    /// Closes a connection the way Actionhero's `connection.destroy()` does
    /// (`primus::server::close`, then close: the client does not reconnect).
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub async fn close(&self, conn: ConnectionHandle) -> Result<(), ServerError> {
        self.call_for(conn, |reply| Command::Close { conn, reply })
            .await
    }

    /// Shuts the server down gracefully and waits until it has stopped: no new
    /// connections, running actions get the core's grace period, then every connection is
    /// closed (with `primus::server::close` first when `reconnect` is false, so clients
    /// stay away) and the last frames are flushed. Returns at once if already stopped.
    pub async fn shutdown(&self, reconnect: bool) {
        let mut waits = Vec::with_capacity(self.inner.commands.len());
        for commands in &self.inner.commands {
            let (reply, done) = oneshot::channel();
            if commands
                .send(Command::Shutdown { reconnect, reply })
                .await
                .is_ok()
            {
                waits.push(done);
            }
        }
        for done in waits {
            let _ = done.await;
        }
        self.stopped().await;
    }

    /// A snapshot of what the server counted (connections, messages, actions and their
    /// latency, chat, HTTP routes) and of its outbound queues.
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub async fn metrics(&self) -> Result<Metrics, ServerError> {
        let mut all: Option<Metrics> = None;
        for worker in 0..self.inner.commands.len() {
            let m = self
                .call_on(worker, |reply| Command::Metrics { reply })
                .await?;
            match &mut all {
                None => all = Some(m),
                Some(all) => {
                    all.server.merge(&m.server);
                    all.outbound.queued_frames += m.outbound.queued_frames;
                    all.outbound.max_queued_frames = all
                        .outbound
                        .max_queued_frames
                        .max(m.outbound.max_queued_frames);
                }
            }
        }
        all.ok_or(ServerError::Stopped)
    }

    /// [`ServerHandle::metrics`] in Prometheus's text exposition format, for an
    /// application that serves it itself (see [`crate::metrics::serve`] for a
    /// listener of its own).
    ///
    /// # Errors
    /// [`ServerError::Stopped`].
    pub async fn metrics_text(&self) -> Result<String, ServerError> {
        Ok(self.metrics().await?.to_prometheus())
    }

    /// Waits until the server has stopped (after a shutdown).
    pub async fn stopped(&self) {
        for stopped in &self.inner.stopped {
            let mut rx = stopped.clone();
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }

    /// True once the server has stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.iter().all(|s| *s.borrow())
    }

    /// Sends `command` to worker `worker` (index modulo the number of workers).
    pub(crate) async fn command_to(&self, worker: usize, command: Command) -> bool {
        let commands = &self.inner.commands;
        match commands.get(worker % commands.len().max(1)) {
            Some(tx) => tx.send(command).await.is_ok(),
            None => false,
        }
    }

    /// The worker the next connection of an embedding server goes to (in turn).
    #[cfg(feature = "hyper")]
    pub(crate) fn next_worker(&self) -> usize {
        self.inner
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.inner.commands.len().max(1)
    }

    /// Runs a command on worker 0 (rooms and broadcasts: shared by every worker).
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ServerError> {
        self.call_on(0, make).await
    }

    /// Runs a command on the worker that owns `conn`.
    async fn call_for<T>(
        &self,
        conn: ConnectionHandle,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ServerError> {
        self.call_on(usize::from(conn.tag()), make).await
    }

    async fn call_on<T>(
        &self,
        worker: usize,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ServerError> {
        let (reply, rx) = oneshot::channel();
        if !self.command_to(worker, make(reply)).await {
            return Err(ServerError::Stopped);
        }
        rx.await.map_err(|_| ServerError::Stopped)
    }
}
