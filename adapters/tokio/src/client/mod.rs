//! The tokio client: [`connect`] spawns a driver task that owns the core
//! [`Client`](actionhero_ws::client::Client) and carries out its outputs (open a socket,
//! write frames, close, sleep until its deadline). Reconnects, room rejoins, heartbeat
//! answers, request ids and timeouts all come from the core.
//!
//! ```no_run
//! use actionhero_ws::client::ClientConfig;
//! use actionhero_ws_tokio::client;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut events) = client::connect("http://127.0.0.1:8080", ClientConfig::default())?;
//! tokio::spawn(async move {
//!     while let Some(event) = events.recv().await {
//!         println!("{event:?}");
//!     }
//! });
//! let answer = client.action("randomNumber", serde_json::Map::new()).await?;
//! println!("{answer}");
//! client.disconnect().await;
//! # Ok(())
//! # }
//! ```

mod driver;
mod stream;

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent, ClientState, RequestFailure};
use actionhero_ws::error::UsageError;
use actionhero_ws::wire::js;
use actionhero_ws::{MessageId, RoomName};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

pub(crate) use driver::ClientCommand;

/// Adapter-level client settings (the protocol's are in the core's [`ClientConfig`]).
#[derive(Clone)]
pub struct ClientOptions {
    /// Events waiting for the application. The driver waits when the channel is full;
    /// drop the receiver if you do not want events. Default: 1024.
    pub event_queue: usize,
    /// How long to wait for the server's close reply after sending a close frame.
    /// Default: 1 s.
    pub close_timeout: Duration,
    /// The core's random seed (default: drawn from the OS).
    pub seed: Option<[u8; 32]>,
    /// TLS settings for `wss://`/`https://` (default: the webpki root certificates, ring
    /// provider).
    #[cfg(feature = "rustls")]
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            event_queue: 1024,
            close_timeout: Duration::from_secs(1),
            seed: None,
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("event_queue", &self.event_queue)
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}

/// Starts a client for the server at `url` (`http://host:port`, `ws://host:port/primus`,
/// and with the `rustls` feature `https://`/`wss://`) with the core `config` (its `url`
/// is replaced by `url`). Connecting, reconnecting and rejoining rooms happen in the
/// background; events arrive on the returned [`ClientEvents`]. Must be called within a
/// tokio runtime.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] when the URL or the config is invalid; an error of
/// the OS random source.
pub fn connect(
    url: impl Into<String>,
    config: ClientConfig,
) -> io::Result<(ClientHandle, ClientEvents)> {
    let config = ClientConfig {
        url: url.into(),
        ..config
    };
    connect_with(config, ClientOptions::default())
}

/// [`connect`] with adapter options; the URL is `config.url`.
///
/// # Errors
/// As [`connect`].
pub fn connect_with(
    config: ClientConfig,
    options: ClientOptions,
) -> io::Result<(ClientHandle, ClientEvents)> {
    let (commands, events) = driver::spawn(config, options)?;
    Ok((ClientHandle { commands }, ClientEvents { rx: events }))
}

/// The events of one client, in order. Also a [`futures_util::Stream`].
#[derive(Debug)]
pub struct ClientEvents {
    rx: mpsc::Receiver<ClientEvent>,
}

impl ClientEvents {
    /// The next event; `None` after [`ClientEvent::Disconnected`] (the client stopped for
    /// good) or once every handle is gone.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        self.rx.recv().await
    }
}

impl futures_util::Stream for ClientEvents {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// One request to the server.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// Run an action with params.
    Action {
        /// Action name.
        name: String,
        /// Its params (`action` is filled in).
        params: Map<String, Value>,
    },
    /// Say something in a room.
    Say {
        /// The room.
        room: String,
        /// The message.
        message: Value,
    },
    /// Join a room (rejoined after every reconnect).
    RoomAdd(String),
    /// Leave a room.
    RoomLeave(String),
    /// The members of a room.
    RoomView(String),
    /// This connection's details.
    DetailsView,
    /// The action documentation.
    Documentation,
    /// A file from the server's public directory.
    File(String),
}

/// Why a request did not produce a successful response.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RequestError {
    /// The server answered with an error (`error` set): its text and the whole response.
    Response {
        /// The error text.
        error: String,
        /// The whole response object.
        body: Value,
    },
    /// The request ended without a response (timed out, connection lost, dropped from
    /// the offline queue, client closed).
    Failed(RequestFailure),
    /// The core refused to issue it (client closed, queue full, too many pending).
    Refused(UsageError),
    /// The room name is empty or too long.
    InvalidRoomName,
    /// The client task has stopped.
    Stopped,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Response { error, .. } => f.write_str(error),
            Self::Failed(r) => write!(f, "request failed: {r:?}"),
            Self::Refused(e) => write!(f, "request refused: {e}"),
            Self::InvalidRoomName => f.write_str("invalid room name"),
            Self::Stopped => f.write_str("the client has stopped"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Sends commands to a running client. Cheap to clone; when every handle is dropped the
/// client disconnects and its task ends.
#[derive(Clone, Debug)]
pub struct ClientHandle {
    commands: mpsc::Sender<ClientCommand>,
}

impl ClientHandle {
    /// Issues `request` and waits for its response.
    ///
    /// # Errors
    /// [`RequestError`]: an error response, no response, refused, or client stopped.
    pub async fn request(&self, request: Request) -> Result<Value, RequestError> {
        let (waiter, response) = oneshot::channel();
        self.issue(request, Some(waiter)).await?;
        response.await.map_err(|_| RequestError::Stopped)?
    }

    /// Issues `request` without waiting: returns its messageId; the outcome arrives as a
    /// [`ClientEvent::Response`] or [`ClientEvent::RequestFailed`] with that id.
    ///
    /// # Errors
    /// [`RequestError::Refused`], [`RequestError::InvalidRoomName`],
    /// [`RequestError::Stopped`].
    pub async fn submit(&self, request: Request) -> Result<MessageId, RequestError> {
        self.issue(request, None).await
    }

    /// Runs an action and returns its response object.
    ///
    /// # Errors
    /// As [`ClientHandle::request`]; an action error is [`RequestError::Response`].
    pub async fn action(
        &self,
        name: &str,
        params: Map<String, Value>,
    ) -> Result<Value, RequestError> {
        self.request(Request::Action {
            name: name.to_owned(),
            params,
        })
        .await
    }

    /// Says `message` in `room`.
    ///
    /// # Errors
    /// As [`ClientHandle::request`].
    pub async fn say(&self, room: &str, message: impl Into<Value>) -> Result<Value, RequestError> {
        self.request(Request::Say {
            room: room.to_owned(),
            message: message.into(),
        })
        .await
    }

    /// Joins `room`; the client rejoins it after every reconnect.
    ///
    /// # Errors
    /// As [`ClientHandle::request`].
    pub async fn room_add(&self, room: &str) -> Result<Value, RequestError> {
        self.request(Request::RoomAdd(room.to_owned())).await
    }

    /// Leaves `room`.
    ///
    /// # Errors
    /// As [`ClientHandle::request`].
    pub async fn room_leave(&self, room: &str) -> Result<Value, RequestError> {
        self.request(Request::RoomLeave(room.to_owned())).await
    }

    /// The members of `room` (the client must be in it).
    ///
    /// # Errors
    /// As [`ClientHandle::request`].
    pub async fn room_view(&self, room: &str) -> Result<Value, RequestError> {
        self.request(Request::RoomView(room.to_owned())).await
    }

    /// This connection's details (`id`, `fingerprint`, `rooms`, …).
    ///
    /// # Errors
    /// As [`ClientHandle::request`].
    pub async fn details_view(&self) -> Result<Value, RequestError> {
        self.request(Request::DetailsView).await
    }

    /// A file from the server's public directory.
    ///
    /// # Errors
    /// As [`ClientHandle::request`]; a missing file is [`RequestError::Response`].
    pub async fn file(&self, path: &str) -> Result<Value, RequestError> {
        self.request(Request::File(path.to_owned())).await
    }

    /// The client's current state.
    ///
    /// # Errors
    /// [`RequestError::Stopped`].
    pub async fn state(&self) -> Result<ClientState, RequestError> {
        let (reply, rx) = oneshot::channel();
        self.send(ClientCommand::State { reply }).await?;
        rx.await.map_err(|_| RequestError::Stopped)
    }

    /// Requests issued and not yet ended (queued offline plus awaiting a response).
    ///
    /// # Errors
    /// [`RequestError::Stopped`].
    pub async fn pending_requests(&self) -> Result<usize, RequestError> {
        let (reply, rx) = oneshot::channel();
        self.send(ClientCommand::Pending { reply }).await?;
        rx.await.map_err(|_| RequestError::Stopped)
    }

    /// Disconnects for good (no reconnect): outstanding requests fail, the socket is
    /// closed, [`ClientEvent::Disconnected`] follows. Returns once the core has stopped.
    pub async fn disconnect(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(ClientCommand::Disconnect { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn issue(
        &self,
        request: Request,
        waiter: Option<oneshot::Sender<Result<Value, RequestError>>>,
    ) -> Result<MessageId, RequestError> {
        let check = |room: &str| RoomName::new(room).map_err(|_| RequestError::InvalidRoomName);
        match &request {
            Request::Say { room, .. }
            | Request::RoomAdd(room)
            | Request::RoomLeave(room)
            | Request::RoomView(room) => {
                check(room)?;
            }
            Request::Action { .. }
            | Request::DetailsView
            | Request::Documentation
            | Request::File(_) => {}
        }
        let (reply, rx) = oneshot::channel();
        self.send(ClientCommand::Submit {
            request,
            reply,
            waiter,
        })
        .await?;
        rx.await.map_err(|_| RequestError::Stopped)?
    }

    async fn send(&self, command: ClientCommand) -> Result<(), RequestError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| RequestError::Stopped)
    }
}

/// A response is a failure when its `error` is truthy (as Actionhero's client reads it).
fn classify(body: &Value) -> Result<Value, RequestError> {
    match body.get("error").filter(|e| js::truthy(e)) {
        Some(error) => Err(RequestError::Response {
            error: js::js_string(error),
            body: body.clone(),
        }),
        None => Ok(body.clone()),
    }
}

/// TLS for `wss://` connections.
pub(crate) struct Tls {
    #[cfg(feature = "rustls")]
    config: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl Tls {
    #[cfg(feature = "rustls")]
    fn new(options: &ClientOptions) -> Self {
        Self {
            config: options.tls.clone(),
        }
    }

    #[cfg(not(feature = "rustls"))]
    fn new(_options: &ClientOptions) -> Self {
        Self {}
    }

    #[cfg(feature = "rustls")]
    async fn wrap(
        &self,
        host: &str,
        tcp: tokio::net::TcpStream,
    ) -> Result<stream::MaybeTls, actionhero_ws::client::OpenFailure> {
        use actionhero_ws::client::OpenFailure;
        use std::sync::Arc;
        use tokio_rustls::rustls;

        let config = match &self.config {
            Some(c) => c.clone(),
            None => {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| OpenFailure::Io(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Arc::new(config)
            }
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| OpenFailure::Io(format!("invalid TLS server name: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| OpenFailure::Io(e.to_string()))?;
        Ok(stream::MaybeTls::Tls(Box::new(tls)))
    }

    #[cfg(not(feature = "rustls"))]
    async fn wrap(
        &self,
        _host: &str,
        _tcp: tokio::net::TcpStream,
    ) -> Result<stream::MaybeTls, actionhero_ws::client::OpenFailure> {
        Err(actionhero_ws::client::OpenFailure::Io(
            "TLS support is not compiled in (feature `rustls`)".into(),
        ))
    }
}
